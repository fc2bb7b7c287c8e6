/*
 * Resets that keep something (1.2).  A reset rule (credits_define_rule) or
 * subscription (credits_subscribe) may keep part of what it would forfeit:
 * rollover is the most it keeps of the available credits of its scope
 * (NULL or 0: nothing, as a reset always did), reset_scope which credits
 * it counts: 'type', the whole available balance of the credit type, or
 * 'own', only the credits that the same rule (invoices it issued) or
 * subscription (periods it granted) gave the account, so that purchased
 * packages and other grants survive it.  What exceeds rollover is
 * forfeited in spend order, as a spend would take it (lowest priority,
 * then soonest expiry first), as one reset entry with an allocation per
 * lot; what is kept stays in its lots, with their expiries.
 *
 * The columns are in 60_lifecycle.sql (credits.rule, credits.subscription:
 * rollover, reset_scope; credits.account_reset: a mark per scope, with the
 * lots the reset left credits in), the functions there too, the code in
 * src/ledger_lots.c (credits_reset_balance and the statements that judge
 * credits coming back to a lot), src/rules.c and src/subscriptions.c.
 * Here: the argument check of credits_define_rule (credits_subscribe
 * calls the same C function), and what an update from 1.1 needs once
 * those functions are made anew.
 */

-- 22023 unless rollover and reset_scope fit the mode: rollover not
-- negative, reset_scope 'type' or 'own', and neither given for mode add
-- (which forfeits nothing).  Mode itself is checked by the caller.
CREATE FUNCTION credits.check_reset_terms(mode text, rollover @extschema@.credit_amount,
										  reset_scope text)
RETURNS void
AS 'MODULE_PATHNAME', 'credits_check_reset_terms_sql'
LANGUAGE C IMMUTABLE;
REVOKE ALL ON FUNCTION credits.check_reset_terms(text, @extschema@.credit_amount, text) FROM PUBLIC;

-- Owned by credits_owner and not for PUBLIC, like every object of the
-- extension (90_privileges.sql does it at CREATE EXTENSION; this serves
-- ALTER EXTENSION UPDATE, as in 85_distribute.sql): the check above, and
-- the functions that the update from 1.1 dropped and made anew with their
-- new parameters and columns.
DO $$
BEGIN
	IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'credits_owner'::pg_catalog.name) THEN
		ALTER FUNCTION credits.check_reset_terms(text, @extschema@.credit_amount, text)
			OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits.check_reset_terms(text, @extschema@.credit_amount, text)
			FROM PUBLIC;
		ALTER FUNCTION credits_define_rule(text, @extschema@.credit_amount, text, text, text, interval,
										   @extschema@.credit_amount, text) OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits_define_rule(text, @extschema@.credit_amount, text, text, text,
												   interval, @extschema@.credit_amount, text) FROM PUBLIC;
		ALTER FUNCTION credits_rules(text) OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits_rules(text) FROM PUBLIC;
		ALTER FUNCTION credits_subscribe(text, @extschema@.credit_amount, interval, text, text,
										 timestamptz, interval, @extschema@.credit_amount, text)
			OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits_subscribe(text, @extschema@.credit_amount, interval, text, text,
												 timestamptz, interval, @extschema@.credit_amount, text)
			FROM PUBLIC;
		ALTER FUNCTION credits_subscriptions(text) OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits_subscriptions(text) FROM PUBLIC;
		ALTER FUNCTION credits.subscriptions_rows(text) OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits.subscriptions_rows(text) FROM PUBLIC;
	END IF;
END
$$;
