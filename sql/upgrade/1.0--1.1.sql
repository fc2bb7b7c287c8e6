/* credits: upgrade from version 1.0 to 1.1 (hand-written part). */

\echo Use "ALTER EXTENSION credits UPDATE TO '1.1'" to load this file. \quit

/*
 * 1.1 is the security release: roles and grants (90_privileges.sql), definer
 * functions owned by credits_owner with a search_path that no one but the
 * superuser can write to (25_private_operators.sql), portal isolation in
 * every function, caches that are never stale.  Changes to tables come
 * here; scripts/gen_upgrade.py appends the new parts and every function.
 */

-- Portal roles are kept by OID, so that renaming a role keeps it a portal
-- role (1.0 kept names; a name whose role no longer exists is dropped).
ALTER TABLE credits.portal_role ADD COLUMN role regrole;
UPDATE credits.portal_role p SET role = a.oid::regrole
FROM pg_catalog.pg_roles a WHERE a.rolname OPERATOR(pg_catalog.=) p.role_name;
DELETE FROM credits.portal_role WHERE role IS NULL;
ALTER TABLE credits.portal_role DROP CONSTRAINT portal_role_pkey;
ALTER TABLE credits.portal_role DROP COLUMN role_name;
ALTER TABLE credits.portal_role ALTER COLUMN role SET NOT NULL;
ALTER TABLE credits.portal_role ADD CONSTRAINT portal_role_pkey PRIMARY KEY (role);

-- The cache triggers name their logical table (a distributed table's
-- trigger fires on a shard, whose OID no cache knows).
DROP TRIGGER credit_type_changed ON credits.credit_type;
DROP TRIGGER setting_changed ON credits.setting;
DROP TRIGGER rate_changed ON credits.rate;
DROP TRIGGER portal_role_changed ON credits.portal_role;
CREATE TRIGGER credit_type_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON credits.credit_type
	FOR EACH STATEMENT EXECUTE FUNCTION credits.config_changed('credit_type');
CREATE TRIGGER setting_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON credits.setting
	FOR EACH STATEMENT EXECUTE FUNCTION credits.config_changed('setting');
CREATE TRIGGER rate_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON credits.rate
	FOR EACH STATEMENT EXECUTE FUNCTION credits.config_changed('rate');
CREATE TRIGGER portal_role_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON credits.portal_role
	FOR EACH STATEMENT EXECUTE FUNCTION credits.portal_changed('portal_role');

-- credits_requests() gains reference, decided_by and reason (issue: what an
-- application needs); a function's result columns change only by dropping
-- it (the generated part recreates it with its grants).
DROP FUNCTION credits_requests(text, text);
DROP FUNCTION credits.list_requests(text, text);

-- Clawbacks (rules): a shortfall is settled later by credits that come back
-- to the account.  Shortfalls recorded by 1.0 are due from now on.
ALTER TABLE credits.issue ADD COLUMN shortfall_due @extschema@.credit_amount;
UPDATE credits.issue SET shortfall_due = shortfall
WHERE clawback_entry_id IS NOT NULL
  AND shortfall::pg_catalog.numeric OPERATOR(pg_catalog.>) 0::pg_catalog.numeric;
ALTER TABLE credits.issue ADD CONSTRAINT issue_shortfall_due_check
	CHECK (shortfall_due IS NULL OR (shortfall_due > 0 AND shortfall_due <= shortfall));
CREATE INDEX issue_shortfall_due ON credits.issue (account, credit_type)
	WHERE shortfall_due IS NOT NULL;

-- Due work: a subscription records why its last renewal failed with an
-- error (credits_subscriptions() shows it, so its result changes), and
-- counts its periods in its zone by the zone's rules: 1.0 read a zone
-- named like an abbreviation (CET, EET, WET, MET) as a fixed offset, so
-- next_period_at is computed again.
ALTER TABLE credits.subscription ADD COLUMN failure jsonb;
DROP FUNCTION credits_subscriptions(text);
CREATE FUNCTION credits.period_start(starts_at timestamptz, every interval, period bigint,
									 time_zone text)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'credits_period_start_sql'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
UPDATE credits.subscription
SET next_period_at = credits.period_start(starts_at, every, next_period, time_zone)
WHERE next_period_at OPERATOR(pg_catalog.<>)
	credits.period_start(starts_at, every, next_period, time_zone);

-- Entry times follow entry order: an account's entries are dated no earlier
-- than its latest entry (account.last_at), so credits_balance(at) is the
-- running balance of the last entry at or before at.  last_at starts as the
-- latest time of the account's history; spend_lots takes the instant.
ALTER TABLE credits.account ADD COLUMN last_at timestamptz;
UPDATE credits.account a SET last_at = e.last_at
FROM (SELECT x.account, x.credit_type, max(x.at) AS last_at
	  FROM credits.entry x GROUP BY x.account, x.credit_type) e
WHERE e.account OPERATOR(pg_catalog.=) a.account
  AND e.credit_type OPERATOR(pg_catalog.=) a.credit_type;
DROP FUNCTION credits.spend_lots(text, text, credit_amount, bigint, credit_amount, text);

-- Reports: credits_usage gains the columns reset and clawed_back (its OUT
-- columns change, so it is dropped here and created again).
DROP FUNCTION credits_usage(timestamptz, timestamptz, text, text);
ALTER TYPE credits.usage_row ADD ATTRIBUTE reset credit_amount, ADD ATTRIBUTE clawed_back credit_amount;

-- What an application needs (app): a grant's cost basis (credits_grant's
-- cost, cost_currency), idempotency keys for payments, purchases and holds
-- (credits_pay also returns its entry_id), purchases by quantity
-- (credits_purchase_quantity).  A function whose arguments or result
-- columns change is dropped (CREATE OR REPLACE would add an overload beside
-- it); the generated part recreates it with its grants.
DROP FUNCTION credits_grant(text, @extschema@.credit_amount, text, timestamptz, text, text, text);
DROP FUNCTION credits_pay(text, numeric, text, text, boolean, text);
DROP FUNCTION credits_purchase(text, text, text, text);
DROP FUNCTION credits_hold(text, @extschema@.credit_amount, text, text);
-- A keyed call's whole result row (payments, purchases).
ALTER TABLE credits.idempotency ADD COLUMN result_row jsonb;
-- A credit request buys a package or credits of a product by quantity.
ALTER TABLE credits.request ALTER COLUMN package_id DROP NOT NULL;
ALTER TABLE credits.request ALTER COLUMN package DROP NOT NULL;
ALTER TABLE credits.request ADD COLUMN product text REFERENCES credits.product;
ALTER TABLE credits.request ADD CONSTRAINT request_package_or_product
	CHECK ((package_id IS NULL) <> (product IS NULL));
ALTER TABLE credits.request ADD CONSTRAINT request_package_named
	CHECK ((package_id IS NULL) = (package IS NULL));
