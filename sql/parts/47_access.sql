/*
 * Client-portal isolation (src/access.c).  Callers whose role is a member
 * of a registered portal role act for the account in the setting
 * credits.portal_account: they may read and spend that account only.
 */
-- The role is kept by OID (regrole), so renaming it keeps it a portal role;
-- pg_dump writes it by name.
CREATE TABLE credits.portal_role (
	role		regrole PRIMARY KEY,
	created_at	timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON credits.portal_role FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('credits.portal_role', '');

-- Backends cache the portal roles (src/access.c); the argument names the
-- table, as for credits.config_changed().
CREATE FUNCTION credits.portal_changed() RETURNS trigger
AS 'MODULE_PATHNAME', 'credits_portal_changed' LANGUAGE C;
CREATE TRIGGER portal_role_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON credits.portal_role
	FOR EACH STATEMENT EXECUTE FUNCTION credits.portal_changed('portal_role');

CREATE FUNCTION credits.check_access(account text, level text) RETURNS void
AS 'MODULE_PATHNAME', 'credits_check_access_sql'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, credits, pg_temp;
REVOKE ALL ON FUNCTION credits.check_access(text, text) FROM PUBLIC;

-- The account a caller's reports are limited to: NULL for a caller that
-- may see every account, credits.portal_account for a client portal (42501
-- for a portal role without it).  Functions with an optional account filter
-- use it for a NULL filter, and the view credits_balances filters its rows
-- with it.  A view's functions run with the privileges of the view's
-- reader, so this one is SECURITY DEFINER (the portal-role list is the
-- owner's) and stays executable by them: it tells a caller nothing but its
-- own scope.  credits_reader and registered portal roles may execute it
-- (90_privileges.sql, credits.portal_grant).
CREATE FUNCTION credits.portal_scope() RETURNS text
AS 'MODULE_PATHNAME', 'credits_portal_scope_sql'
LANGUAGE C STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;

-- The functions a client portal may call; registering a portal role grants
-- it EXECUTE on exactly these (by OID: never an overload planted beside them).
CREATE FUNCTION credits.portal_functions() RETURNS text[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT ARRAY['credits_balance', 'credits_history', 'credits_history_page',
		'credits_statement', 'credits_lots', 'credits_summary', 'credits_expiring', 'credits_usage',
		'credits_events_since', 'credits_requests', 'credits_spend', 'credits_pay',
		'credits_purchase', 'credits_purchase_quantity', 'credits_subscribe_service',
		'credits_cancel_subscription']
$$;

CREATE FUNCTION credits.portal_grant(r regrole, allow boolean) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, credits, pg_temp
AS $$
DECLARE
	fn regprocedure;
BEGIN
	FOR fn IN
		SELECT p.oid::regprocedure
		FROM pg_proc p
		JOIN pg_depend d ON d.classid = 'pg_proc'::regclass::oid AND d.objid = p.oid
			AND d.refclassid = 'pg_extension'::regclass::oid AND d.deptype = 'e'
		JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'credits'::name
		WHERE p.pronamespace = '@extschema@'::regnamespace::oid
		  AND p.proname::text = ANY (credits.portal_functions())
	LOOP
		EXECUTE format(CASE WHEN allow THEN 'GRANT EXECUTE ON FUNCTION %s TO %s'
							ELSE 'REVOKE EXECUTE ON FUNCTION %s FROM %s' END, fn, r);
	END LOOP;
	-- the row filter of credits_balances, should the agency grant the view,
	-- and its rows on a distributed ledger
	EXECUTE format(CASE WHEN allow THEN 'GRANT EXECUTE ON FUNCTION %s TO %s'
						ELSE 'REVOKE EXECUTE ON FUNCTION %s FROM %s' END,
				   'credits.portal_scope()'::regprocedure, r);
	IF to_regprocedure('credits.balances_distributed()') IS NOT NULL THEN
		EXECUTE format(CASE WHEN allow THEN 'GRANT EXECUTE ON FUNCTION %s TO %s'
							ELSE 'REVOKE EXECUTE ON FUNCTION %s FROM %s' END,
					   'credits.balances_distributed()'::regprocedure, r);
	END IF;
END
$$;

CREATE FUNCTION credits_portal_add_role(role_name name) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
DECLARE
	r regrole;
BEGIN
	IF role_name IS NULL THEN
		RAISE EXCEPTION 'role_name must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM credits.check_access(NULL, 'agency');
	-- By exact name: a cast of the text to regrole would fold its case.
	SELECT a.oid::regrole INTO r FROM pg_roles a WHERE a.rolname = credits_portal_add_role.role_name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'role "%" does not exist', role_name USING ERRCODE = 'undefined_object';
	END IF;
	INSERT INTO credits.portal_role (role) VALUES (r) ON CONFLICT DO NOTHING;
	PERFORM credits.portal_grant(r, true);
END
$$;
COMMENT ON FUNCTION credits_portal_add_role(name) IS
	'makes members of a role portal clients: they can only read and spend the account in credits.portal_account';

CREATE FUNCTION credits_portal_remove_role(role_name name) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
DECLARE
	r regrole;
	target regrole;
BEGIN
	IF role_name IS NULL THEN
		RAISE EXCEPTION 'role_name must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM credits.check_access(NULL, 'agency');
	-- The role first (exact name, NULL if none), then the row: no join of
	-- portal_role with pg_roles, which Citus cannot run on a reference table.
	target := pg_catalog.to_regrole(pg_catalog.quote_ident(role_name));
	FOR r IN
		DELETE FROM credits.portal_role p WHERE p.role = target
		RETURNING p.role
	LOOP
		PERFORM credits.portal_grant(r, false);
	END LOOP;
END
$$;
COMMENT ON FUNCTION credits_portal_remove_role(name) IS
	'stops treating a role as a portal client (and revokes what registering it granted)';

-- Registering portal roles is the agency's business, not an application's.
REVOKE ALL ON FUNCTION credits_portal_add_role(name) FROM PUBLIC;
REVOKE ALL ON FUNCTION credits_portal_remove_role(name) FROM PUBLIC;

