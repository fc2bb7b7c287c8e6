/*
 * (Every operator below is written OPERATOR(pg_catalog.x) with exact types:
 * this runs as the superuser who installs the extension, so nothing that
 * the database owner may have created in public can be picked up.)
 *
 * Who may call what.  Three NOLOGIN roles, cluster-wide and shared by every
 * database that installs the extension: credits_reader (reads),
 * credits_operator (moves credits; a member of credits_reader) and
 * credits_admin (configuration; a member of credits_operator).  PUBLIC keeps
 * only the credit_amount type with its operators, casts and aggregates.
 *
 * The tables, and every function but those of the credit_amount type (so
 * every one that runs as its owner, SECURITY DEFINER), belong to
 * credits_owner: a NOLOGIN role with no members and no privileges beyond
 * those objects, so definer code never runs as a superuser.  Portal roles get EXECUTE on the portal functions when they
 * are registered (credits_portal_add_role).
 */
DO $$
DECLARE
	r text;
	bad text;
BEGIN
	FOREACH r IN ARRAY ARRAY['credits_reader', 'credits_operator', 'credits_admin'] LOOP
		IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) r) THEN
			EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
		END IF;
	END LOOP;
	IF NOT pg_catalog.pg_has_role('credits_operator', 'credits_reader', 'MEMBER') THEN
		GRANT credits_reader TO credits_operator;
	END IF;
	IF NOT pg_catalog.pg_has_role('credits_admin', 'credits_operator', 'MEMBER') THEN
		GRANT credits_operator TO credits_admin;
	END IF;

	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'credits_owner'::pg_catalog.name) THEN
		CREATE ROLE credits_owner NOLOGIN NOINHERIT;
	END IF;
	-- A role of that name made by someone else must not become the owner
	-- of the ledger: it must be a bare NOLOGIN role that nobody else uses.
	SELECT pg_catalog.string_agg(why, '; ') INTO bad FROM (
		-- (on a Citus cluster credits_distribute() lets it log in between nodes)
		SELECT 'it can log in' AS why FROM pg_catalog.pg_roles
		WHERE rolname OPERATOR(pg_catalog.=) 'credits_owner'::pg_catalog.name AND rolcanlogin
		  AND NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'citus'::pg_catalog.name)
		UNION ALL
		SELECT 'it is a superuser or can create roles or databases' FROM pg_catalog.pg_roles
		WHERE rolname OPERATOR(pg_catalog.=) 'credits_owner'::pg_catalog.name AND (rolsuper OR rolcreaterole OR rolcreatedb
											 OR rolreplication OR rolbypassrls)
		UNION ALL
		SELECT 'other roles are members of it' FROM pg_catalog.pg_auth_members m
		WHERE m.roleid OPERATOR(pg_catalog.=) 'credits_owner'::pg_catalog.regrole::pg_catalog.oid
		UNION ALL
		SELECT 'it is a member of other roles' FROM pg_catalog.pg_auth_members m
		WHERE m.member OPERATOR(pg_catalog.=) 'credits_owner'::pg_catalog.regrole::pg_catalog.oid) w;
	IF bad IS NOT NULL THEN
		RAISE EXCEPTION 'role "credits_owner" exists and is not safe to own the credits ledger: %', bad
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'credits_owner must be NOLOGIN, without attributes and without members; fix or drop it, then retry.';
	END IF;
END
$$;

-- credits_owner owns the tables and every function but the type's own;
-- PUBLIC may execute none of those functions.
GRANT USAGE ON SCHEMA credits TO credits_owner;
GRANT USAGE ON SCHEMA @extschema@ TO credits_owner;
DO $$
DECLARE
	o record;
BEGIN
	FOR o IN
		SELECT c.oid::regclass AS rel, c.relkind
		FROM pg_catalog.pg_class c
		WHERE c.relnamespace OPERATOR(pg_catalog.=) 'credits'::pg_catalog.regnamespace::pg_catalog.oid
		  AND c.relkind OPERATOR(pg_catalog.=) ANY ('{r,v,S,p}'::pg_catalog."char"[])
		ORDER BY c.relkind DESC		-- sequences that tables own follow their table
	LOOP
		EXECUTE pg_catalog.format('ALTER %s %s OWNER TO credits_owner',
			CASE WHEN o.relkind OPERATOR(pg_catalog.=) 'v'::pg_catalog."char" THEN 'VIEW'
				 WHEN o.relkind OPERATOR(pg_catalog.=) 'S'::pg_catalog."char" THEN 'SEQUENCE' ELSE 'TABLE' END, o.rel);
	END LOOP;
	ALTER VIEW credits_balances OWNER TO credits_owner;
	FOR o IN
		SELECT p.oid::regprocedure AS fn, p.prokind
		FROM pg_catalog.pg_proc p
		JOIN pg_catalog.pg_depend d
			ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass::pg_catalog.oid
			AND d.objid OPERATOR(pg_catalog.=) p.oid
			AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass::pg_catalog.oid
			AND d.deptype OPERATOR(pg_catalog.=) 'e'::pg_catalog."char"
		JOIN pg_catalog.pg_extension e ON e.oid OPERATOR(pg_catalog.=) d.refobjid
			AND e.extname OPERATOR(pg_catalog.=) 'credits'::pg_catalog.name
		WHERE p.pronamespace OPERATOR(pg_catalog.=) 'credits'::pg_catalog.regnamespace::pg_catalog.oid
		   OR p.proname OPERATOR(pg_catalog.~~) 'credits\_%'::pg_catalog.text
	LOOP
		EXECUTE pg_catalog.format('ALTER %s %s OWNER TO credits_owner',
			CASE WHEN o.prokind OPERATOR(pg_catalog.=) 'a'::pg_catalog."char" THEN 'AGGREGATE' ELSE 'ROUTINE' END, o.fn);
		EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', o.fn);
	END LOOP;
END
$$;

-- Nor read or write a table.
REVOKE ALL ON ALL TABLES IN SCHEMA credits FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA credits FROM PUBLIC;
REVOKE ALL ON credits_balances FROM PUBLIC;

-- Reading: balances, histories, reports, configuration, checks.
GRANT EXECUTE ON FUNCTION
	credits_balance, credits_history, credits_history_page, credits_statement,
	credits_enabled, credits_rate, credits_rates, credits_convert,
	credits_packages, credits_price, credits_price_tiers,
	credits_requests, credits_holds, credits_subscriptions, credits_rules, credits_invoices,
	credits_events_since, credits_usage, credits_expiring, credits_liability,
	credits_revenue, credits_journal,
	credits_verify, credits_fingerprint, credits_lots, credits_types, credits_summary
TO credits_reader;
GRANT SELECT ON credits_balances TO credits_reader;
-- The view's row filter (a portal caller sees its own rows) runs as its reader.
GRANT EXECUTE ON FUNCTION credits.portal_scope() TO credits_reader;
-- (the rows of credits_balances on a distributed ledger, read as the owner)
GRANT EXECUTE ON FUNCTION credits.balances_distributed() TO credits_reader;

-- Moving credits for an account.
GRANT EXECUTE ON FUNCTION
	credits_grant, credits_grant_many, credits_spend,
	credits_hold, credits_capture, credits_release,
	credits_pay, credits_purchase, credits_purchase_quantity,
	credits_accept_request, credits_reject_request,
	credits_issue, credits_issue_trigger, credits_clawback, credits_reverse, credits_void,
	credits_subscribe, credits_subscribe_service, credits_cancel_subscription,
	credits_run_due, credits_expire, credits_set_low_balance, credits_set_auto_topup,
	credits_transfer
TO credits_operator;

-- Configuration.
GRANT EXECUTE ON FUNCTION
	credits_define_type, credits_set_enabled, credits_set_rate,
	credits_define_package, credits_define_price_tier, credits_define_rule,
	credits_portal_add_role, credits_portal_remove_role, credits_prune_events
TO credits_admin;
-- Distribution with Citus (SECURITY INVOKER: it also needs a superuser).
GRANT EXECUTE ON FUNCTION credits_distribute() TO credits_admin;
-- Tamper evidence: sealing is a maintenance job like credits_expire();
-- the heads are reads.
GRANT EXECUTE ON FUNCTION credits_seal() TO credits_operator;
GRANT EXECUTE ON FUNCTION credits_seal_heads(), credits_seal_hash(text, bigint) TO credits_reader;

-- Portal roles registered before an upgrade get the portal functions (none
-- at CREATE EXTENSION; pg_restore brings the grants with the dump).
SELECT credits.portal_grant(p.role, true) FROM credits.portal_role p;
