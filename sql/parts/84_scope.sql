/*
 * Priorities and service-scoped credits (1.2).  A lot has a priority
 * (credits_grant(..., priority): lower is spent first, any int, 0 by
 * default) and may be restricted to services (applies_to: the services it
 * may pay for; NULL: any).  Spend order is priority, then soonest expiry
 * (never-expiring last), then oldest grant, then lot id: with the defaults
 * the order of 1.0.  A spend for a service takes the lots that apply to it
 * or to any service; a spend without one, a hold, a payment and a transfer
 * take only lots that any service may use; resets and clawbacks take from
 * every lot, as the balance counts every lot.  credits_balance(account,
 * service => s) counts what a spend for s could take.
 *
 * The columns are in 20_schema.sql (credits.lot.priority, applies_to;
 * credits.account.scoped, set by the first restricted grant so that the
 * fast path of a spend, which trusts the account's balance, serves only
 * accounts without restricted lots), the functions in 30_ledger_api.sql
 * and 72_lookups.sql, the code in src/scope.c, src/ledger.c and
 * src/spend.c.  Here: the invariants credits_verify() checks, and what an
 * update from 1.1 needs once those functions are made anew.
 */

-- Restricted lots are well formed (what credits_grant checks) and their
-- account is flagged: a restricted lot on an account that is not scoped
-- would let a spend without a service take it through the fast path.
CREATE FUNCTION credits.verify_scope()
RETURNS TABLE(check_name text, account text, detail text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT 'scoped_account', l.account,
		   format('type %s: lot %s is restricted to %s, but the account is not marked scoped',
				  l.credit_type, l.lot_id, l.applies_to)
	FROM credits.lot l
	LEFT JOIN credits.account a
		ON a.account OPERATOR(pg_catalog.=) l.account
	   AND a.credit_type OPERATOR(pg_catalog.=) l.credit_type
	WHERE l.applies_to IS NOT NULL AND a.scoped IS NOT TRUE
	UNION ALL
	SELECT 'applies_to_valid', l.account,
		   format('lot %s: applies_to %s is not a list of distinct, non-empty services',
				  l.lot_id, l.applies_to)
	FROM credits.lot l
	WHERE l.applies_to IS NOT NULL
	  AND (pg_catalog.array_ndims(l.applies_to) IS DISTINCT FROM 1
		   OR pg_catalog.array_position(l.applies_to, NULL) IS NOT NULL
		   OR pg_catalog.array_position(l.applies_to, '') IS NOT NULL
		   OR (SELECT pg_catalog.count(DISTINCT s) FROM pg_catalog.unnest(l.applies_to) s)
			  OPERATOR(pg_catalog.<>) pg_catalog.cardinality(l.applies_to))
$$;
REVOKE ALL ON FUNCTION credits.verify_scope() FROM PUBLIC;

-- Owned by credits_owner and not for PUBLIC, like every object of the
-- extension (90_privileges.sql does it at CREATE EXTENSION; this serves
-- ALTER EXTENSION UPDATE, as in 85_distribute.sql): the verify function,
-- and the functions that the update from 1.1 dropped and made anew with
-- their new parameters and columns.  (Registered client portals get theirs
-- back in 95_portal_grants.sql.)
DO $$
BEGIN
	IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'credits_owner'::pg_catalog.name) THEN
		ALTER FUNCTION credits.verify_scope() OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits.verify_scope() FROM PUBLIC;
		ALTER FUNCTION credits_grant(text, @extschema@.credit_amount, text, timestamptz, text, text,
									 text, numeric, text, int, text[]) OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits_grant(text, @extschema@.credit_amount, text, timestamptz, text,
											 text, text, numeric, text, int, text[]) FROM PUBLIC;
		ALTER FUNCTION credits_spend(text, @extschema@.credit_amount, text, text, text, text)
			OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits_spend(text, @extschema@.credit_amount, text, text, text, text)
			FROM PUBLIC;
		ALTER FUNCTION credits_balance(text, text, timestamptz, text) OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits_balance(text, text, timestamptz, text) FROM PUBLIC;
		ALTER FUNCTION credits_lots(text, text, boolean) OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits_lots(text, text, boolean) FROM PUBLIC;
	END IF;
END
$$;
