/*
 * Lifecycle: rules and issuing for paid invoices, clawbacks, reversals,
 * voids, holds, subscriptions and the due-work runner.
 *
 * Lock order (everywhere): the account row of (account, credit type) first;
 * then, under it, the invoice reference (advisory lock, credits_issue) or
 * the account's subscription rows (FOR UPDATE, by id).  Holds, issues and
 * subscriptions are found by id without a lock, their account is locked,
 * and they are read again: they only change under their account's lock.
 */

-- Rules: how many credits a paid invoice of a service (and variant) issues.
CREATE SEQUENCE credits.rule_id_seq;
CREATE TABLE credits.rule (
	rule_id		bigint NOT NULL DEFAULT nextval('credits.rule_id_seq') PRIMARY KEY,
	service		text NOT NULL,
	variant		text,
	credits		@extschema@.credit_amount NOT NULL CHECK (credits > 0),
	mode		text NOT NULL CHECK (mode IN ('add', 'reset')),
	credit_type	text NOT NULL,
	expires_after interval,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	-- What a reset keeps (1.2): at most rollover of the credits in its
	-- scope, the whole type's or only those the rule issued (own); NULL
	-- keeps nothing.  Mode add has neither (rollover NULL, scope type).
	rollover	@extschema@.credit_amount CHECK (rollover >= 0),
	reset_scope	text NOT NULL DEFAULT 'type' CHECK (reset_scope IN ('type', 'own')),
	CONSTRAINT rule_service_variant_key UNIQUE NULLS NOT DISTINCT (service, variant)
);
ALTER SEQUENCE credits.rule_id_seq OWNED BY credits.rule.rule_id;

-- Invoices that issued credits: one row per invoice reference.
CREATE TABLE credits.issue (
	account		text NOT NULL,
	reference	text NOT NULL,
	credit_type	text NOT NULL,
	service		text NOT NULL,
	variant		text,
	quantity	int NOT NULL CHECK (quantity > 0),
	rule_id		bigint NOT NULL,
	credits		@extschema@.credit_amount NOT NULL CHECK (credits > 0),
	lot_id		bigint NOT NULL,
	reset_entry_id bigint,			-- the forfeited balance (mode reset)
	issued_at	timestamptz NOT NULL DEFAULT now(),
	clawback_entry_id bigint,		-- set once, by credits_clawback()
	deducted	@extschema@.credit_amount,
	shortfall	@extschema@.credit_amount,
	clawed_back_at timestamptz,
	-- The part of the shortfall not yet settled by credits that came back
	-- to the account since (NULL: none): each settlement is a clawback
	-- entry related to clawback_entry_id.
	shortfall_due @extschema@.credit_amount,
	PRIMARY KEY (account, reference),
	CHECK ((clawback_entry_id IS NULL) = (clawed_back_at IS NULL)),
	CHECK (clawback_entry_id IS NULL OR deducted + shortfall = credits),
	CONSTRAINT issue_shortfall_due_check
		CHECK (shortfall_due IS NULL OR (shortfall_due > 0 AND shortfall_due <= shortfall))
);
CREATE INDEX issue_by_reference ON credits.issue (reference);
-- The account's outstanding shortfalls: looked up whenever credits come
-- back (a release, a reversal), and nearly always empty.
CREATE INDEX issue_shortfall_due ON credits.issue (account, credit_type)
	WHERE shortfall_due IS NOT NULL;

-- The lots resets closed: the latest reset of each scope of an (account,
-- credit type) -- scope 'type' (every lot of the type), or 'rule:<id>' /
-- 'subscription:<id>' (the lots that rule or subscription issued, reset
-- with reset_scope 'own') -- closed every lot of that scope made before
-- it but those it left credits in (kept_lots, when it had a rollover), so
-- credits that come back to a closed lot later (a released hold, a
-- reversed spend) are forfeited at once too.  A lot closed by any row is
-- closed; a later reset of a scope closes everything the earlier one of
-- that scope (or any earlier 'own' one, for a 'type' reset) did, and takes
-- its row.  "Made before": lot ids grow on each node but are not ordered
-- across the nodes of a distributed ledger (each numbers from its node
-- group's range, group << 48 onwards), so lots_upto holds at position
-- g + 1 the highest lot id of node group g that the reset saw (NULL where
-- it saw none), and a lot was made before when its id is at most the
-- bound of its group: lot_id <= lots_upto[(lot_id >> 48) + 1].  On one
-- node that is a single bound.  (Before 1.2: one row per account and type,
-- scope 'type', nothing kept, lots_upto a single bigint.)
CREATE TABLE credits.account_reset (
	account		text NOT NULL,
	credit_type	text NOT NULL,
	lots_upto	bigint[] NOT NULL,
	reset_at	timestamptz NOT NULL DEFAULT now(),
	scope		text NOT NULL DEFAULT 'type'
				CHECK (scope = 'type' OR scope ~ '^(rule|subscription):[0-9]+$'),
	kept_lots	bigint[] NOT NULL DEFAULT '{}',
	PRIMARY KEY (account, credit_type, scope)
);

-- Holds: credits reserved from lots until captured or released.
CREATE SEQUENCE credits.hold_id_seq;
CREATE TABLE credits.hold (
	account		text NOT NULL,
	hold_id		bigint NOT NULL,
	credit_type	text NOT NULL,
	amount		@extschema@.credit_amount NOT NULL CHECK (amount > 0),
	reference	text NOT NULL,
	status		text NOT NULL DEFAULT 'open'
				CHECK (status IN ('open', 'captured', 'released')),
	captured	@extschema@.credit_amount NOT NULL DEFAULT 0,
	hold_entry_id bigint NOT NULL,
	release_entry_id bigint,
	capture_entry_id bigint,
	created_at	timestamptz NOT NULL DEFAULT now(),
	closed_at	timestamptz,
	PRIMARY KEY (account, hold_id),
	CHECK (captured >= 0 AND captured <= amount),
	CHECK ((status = 'open') = (closed_at IS NULL)),
	CHECK ((status = 'captured') = (capture_entry_id IS NOT NULL))
);
ALTER SEQUENCE credits.hold_id_seq OWNED BY credits.hold.hold_id;
CREATE INDEX hold_by_id ON credits.hold (hold_id);

-- Subscriptions: credits granted (credits) or a service paid (service,
-- price) every period.  Period n starts at starts_at + n * every, counted
-- on the wall clock of the zone time_zone (credits.period_start);
-- next_period is the first period not yet processed.  failure: why the
-- last renewal failed with an error (period, period_starts_at, sqlstate,
-- message, at), NULL once a renewal succeeds.
CREATE SEQUENCE credits.subscription_id_seq;
CREATE TABLE credits.subscription (
	account		text NOT NULL,
	subscription_id bigint NOT NULL DEFAULT nextval('credits.subscription_id_seq'),
	credit_type	text NOT NULL,
	credits		@extschema@.credit_amount CHECK (credits > 0),
	service		text,
	price		@extschema@.credit_amount CHECK (price > 0),
	every		interval NOT NULL,
	mode		text NOT NULL CHECK (mode IN ('add', 'reset')),
	expires_after interval,
	starts_at	timestamptz NOT NULL,
	time_zone	text NOT NULL,
	next_period	bigint NOT NULL DEFAULT 0 CHECK (next_period >= 0),
	next_period_at timestamptz NOT NULL,
	status		text NOT NULL DEFAULT 'active'
				CHECK (status IN ('active', 'past_due', 'cancelled')),
	created_at	timestamptz NOT NULL DEFAULT now(),
	cancelled_at timestamptz,
	failure		jsonb,
	-- What a reset keeps (1.2), as for rules: reset_scope own is the
	-- credits this subscription granted.
	rollover	@extschema@.credit_amount CHECK (rollover >= 0),
	reset_scope	text NOT NULL DEFAULT 'type' CHECK (reset_scope IN ('type', 'own')),
	PRIMARY KEY (account, subscription_id),
	CHECK ((credits IS NULL) <> (service IS NULL)),
	CHECK ((service IS NULL) = (price IS NULL)),
	CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL))
);
ALTER SEQUENCE credits.subscription_id_seq OWNED BY credits.subscription.subscription_id;
CREATE INDEX subscription_by_id ON credits.subscription (subscription_id);
CREATE INDEX subscription_due ON credits.subscription (next_period_at)
	WHERE status <> 'cancelled';

-- One row per processed period: the primary key makes "each period
-- exactly once" a property of the schema.  Append-only.
CREATE TABLE credits.subscription_period (
	account		text NOT NULL,
	subscription_id bigint NOT NULL,
	period		bigint NOT NULL CHECK (period >= 0),
	starts_at	timestamptz NOT NULL,
	outcome		text NOT NULL CHECK (outcome IN ('granted', 'paid', 'failed')),
	lot_id		bigint,			-- the lot granted
	entry_id	bigint,			-- the spend that paid it
	processed_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (account, subscription_id, period),
	CHECK ((outcome = 'granted') = (lot_id IS NOT NULL)),
	CHECK ((outcome = 'paid') = (entry_id IS NOT NULL))
);
CREATE TRIGGER subscription_period_append_only BEFORE UPDATE OR DELETE ON credits.subscription_period
	FOR EACH ROW EXECUTE FUNCTION credits.refuse_change();
CREATE TRIGGER subscription_period_no_truncate BEFORE TRUNCATE ON credits.subscription_period
	FOR EACH STATEMENT EXECUTE FUNCTION credits.refuse_change();
ALTER TABLE credits.subscription_period ENABLE ALWAYS TRIGGER subscription_period_append_only;
ALTER TABLE credits.subscription_period ENABLE ALWAYS TRIGGER subscription_period_no_truncate;

-- A spend (or capture) is reversed at most once, enforced by the schema.
CREATE UNIQUE INDEX entry_reversed_once ON credits.entry (account, related_id)
	WHERE kind = 'reversal';

SELECT pg_catalog.pg_extension_config_dump('credits.rule', '');
SELECT pg_catalog.pg_extension_config_dump('credits.issue', '');
SELECT pg_catalog.pg_extension_config_dump('credits.account_reset', '');
SELECT pg_catalog.pg_extension_config_dump('credits.hold', '');
SELECT pg_catalog.pg_extension_config_dump('credits.subscription', '');
SELECT pg_catalog.pg_extension_config_dump('credits.subscription_period', '');
SELECT pg_catalog.pg_extension_config_dump('credits.rule_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('credits.hold_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('credits.subscription_id_seq', '');

REVOKE ALL ON credits.rule, credits.issue, credits.account_reset, credits.hold, credits.subscription,
	credits.subscription_period FROM PUBLIC;
REVOKE ALL ON SEQUENCE credits.rule_id_seq, credits.hold_id_seq,
	credits.subscription_id_seq FROM PUBLIC;

-- 22023 unless the interval moves time forward (no negative field, not 0).
CREATE FUNCTION credits.check_interval(value interval, what text) RETURNS void
AS 'MODULE_PATHNAME', 'credits_check_interval_sql'
LANGUAGE C IMMUTABLE;
REVOKE ALL ON FUNCTION credits.check_interval(interval, text) FROM PUBLIC;

-- The start of period n of a subscription: starts_at's wall-clock time in
-- the zone time_zone plus n * every, read back in that zone (a zone name,
-- never an abbreviation: 'CET' follows the zone's summer time).
CREATE FUNCTION credits.period_start(starts_at timestamptz, every interval, period bigint,
									 time_zone text)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'credits_period_start_sql'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
REVOKE ALL ON FUNCTION credits.period_start(timestamptz, interval, bigint, text) FROM PUBLIC;

/*
 * Corrections
 */
CREATE FUNCTION credits_void(lot_id bigint, reason text, account text DEFAULT NULL)
RETURNS @extschema@.credit_amount
AS 'MODULE_PATHNAME', 'credits_void'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_void(bigint, text, text) IS
	'removes what is left of a lot (of account, when given: the call then runs where the account lives) now (spent credits stay spent); returns the amount; twice is CR005';

CREATE FUNCTION credits_reverse(entry_id bigint, reason text DEFAULT NULL,
								account text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_reverse'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_reverse(bigint, text, text) IS
	'gives a spend''s or capture''s credits (of account, when given: the call then runs where the account lives) back to the lots they came from, once (CR005); returns the reversal entry id';

/*
 * Rules and issuing
 */
CREATE FUNCTION credits_define_rule(service text, credits @extschema@.credit_amount, mode text,
									variant text DEFAULT NULL,
									credit_type text DEFAULT 'CRD',
									expires_after interval DEFAULT NULL,
									rollover @extschema@.credit_amount DEFAULT NULL,
									reset_scope text DEFAULT 'type')
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
DECLARE
	s int;
	id bigint;
BEGIN
	IF service IS NULL OR credits IS NULL OR mode IS NULL OR credit_type IS NULL
	   OR reset_scope IS NULL THEN
		RAISE EXCEPTION '% must not be null',
			CASE WHEN service IS NULL THEN 'service' WHEN credits IS NULL THEN 'credits'
				 WHEN mode IS NULL THEN 'mode' WHEN credit_type IS NULL THEN 'credit_type'
				 ELSE 'reset_scope' END
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF btrim(service) = '' OR btrim(variant) = '' THEN
		RAISE EXCEPTION '% must not be empty', CASE WHEN btrim(service) = '' THEN 'service' ELSE 'variant' END
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	PERFORM credits.check_access(NULL, 'agency');
	IF credits <= 0 THEN
		RAISE EXCEPTION 'credits must be greater than zero'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('The value given was %s.', credits);
	END IF;
	IF mode NOT IN ('add', 'reset') THEN
		RAISE EXCEPTION 'invalid mode "%"', mode
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'The mode is "add" (credits accumulate) or "reset" (the unused balance is replaced).';
	END IF;
	PERFORM credits.check_reset_terms(mode, rollover, reset_scope);
	-- Locks the type: its scale holds until this transaction ends.
	s := credits.lock_type(credit_type);
	IF credits::numeric * 10 ^ s <> trunc(credits::numeric * 10 ^ s) THEN
		RAISE EXCEPTION 'credits % is finer than the scale of credit type "%"', credits, credit_type
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF rollover::numeric * 10 ^ s <> trunc(rollover::numeric * 10 ^ s) THEN
		RAISE EXCEPTION 'rollover % is finer than the scale of credit type "%"', rollover, credit_type
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	PERFORM credits.check_interval(expires_after, 'expires_after');

	-- now() as a value, not in DO UPDATE SET: Citus accepts only immutable
	-- functions there (rule is a reference table once distributed).
	INSERT INTO credits.rule AS r (service, variant, credits, mode, credit_type, expires_after,
								   updated_at, rollover, reset_scope)
	VALUES (credits_define_rule.service, credits_define_rule.variant, credits_define_rule.credits,
			credits_define_rule.mode, credits_define_rule.credit_type, credits_define_rule.expires_after,
			now(), credits_define_rule.rollover, credits_define_rule.reset_scope)
	ON CONFLICT ON CONSTRAINT rule_service_variant_key DO UPDATE
		SET credits = excluded.credits, mode = excluded.mode,
			credit_type = excluded.credit_type, expires_after = excluded.expires_after,
			updated_at = excluded.updated_at, rollover = excluded.rollover,
			reset_scope = excluded.reset_scope
	RETURNING r.rule_id INTO id;
	RETURN id;
EXCEPTION WHEN integrity_constraint_violation THEN
	-- distributed, the error names the shard: name the table
	DECLARE
		d text;
	BEGIN
		GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
		PERFORM credits.raise_unsharded(SQLSTATE, SQLERRM, d);
	END;
END
$$;
COMMENT ON FUNCTION credits_define_rule(text, @extschema@.credit_amount, text, text, text, interval,
										 @extschema@.credit_amount, text) IS
	'how many credits a paid invoice of a service (and variant) issues, add or reset (keeping up to rollover of the credits of reset_scope: type or own); defining it again replaces it; returns the rule id';

CREATE FUNCTION credits_issue(account text, service text, reference text,
							  variant text DEFAULT NULL, quantity int DEFAULT 1)
RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_issue'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_issue(text, text, text, text, int) IS
	'applies the rule of a service for the paid invoice reference, once per reference; returns the lot id';

CREATE FUNCTION credits_clawback(reference text)
RETURNS TABLE(deducted @extschema@.credit_amount, shortfall @extschema@.credit_amount)
AS 'MODULE_PATHNAME', 'credits_clawback'
LANGUAGE C VOLATILE SECURITY DEFINER ROWS 1
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_clawback(text) IS
	'deducts what a refunded invoice issued, never below zero; returns what was deducted and the shortfall (settled later by credits that come back to the account); once';

-- rollover and reset_scope are a reset rule's (NULL for mode add).
CREATE FUNCTION credits_rules(service text DEFAULT NULL)
RETURNS TABLE(rule_id bigint, service text, variant text, credits @extschema@.credit_amount,
			  mode text, credit_type text, expires_after interval,
			  rollover @extschema@.credit_amount, reset_scope text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT credits.check_access(NULL, 'agency');
	SELECT r.rule_id, r.service, r.variant, r.credits, r.mode, r.credit_type, r.expires_after,
		   r.rollover, CASE WHEN r.mode = 'reset' THEN r.reset_scope END
	FROM credits.rule r
	WHERE credits_rules.service IS NULL OR r.service = credits_rules.service
	ORDER BY r.service, r.variant NULLS FIRST
$$;
COMMENT ON FUNCTION credits_rules(text) IS
	'the rules, optionally of one service: what a paid invoice of each service (and variant) issues, and what a reset rule keeps';

-- credits_invoices() reads through this PL/pgSQL function: on a distributed
-- ledger Citus cannot plan a SQL function's parameters in a query of
-- distributed tables (and PL/pgSQL allows no parameter named like a column
-- of the result, hence $n).
CREATE FUNCTION credits.invoices_rows(text, text)
RETURNS TABLE(reference text, account text, service text, variant text, quantity int,
			  credit_type text, credits @extschema@.credit_amount, lot_id bigint,
			  issued_at timestamptz, deducted @extschema@.credit_amount,
			  shortfall @extschema@.credit_amount, clawed_back_at timestamptz,
			  shortfall_due @extschema@.credit_amount)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
#variable_conflict use_column
BEGIN
	PERFORM credits.check_access(NULL, 'agency');
	RETURN QUERY
	SELECT i.reference, i.account, i.service, i.variant, i.quantity, i.credit_type,
		   i.credits, i.lot_id, i.issued_at, i.deducted, i.shortfall, i.clawed_back_at,
		   coalesce(i.shortfall_due, CASE WHEN i.clawback_entry_id IS NOT NULL
										  THEN '0'::@extschema@.credit_amount END)
	FROM credits.issue i
	WHERE ($1 IS NULL OR i.account = $1)
	  AND ($2 IS NULL OR i.reference = $2)
	ORDER BY i.issued_at, i.reference;
END
$$;
REVOKE ALL ON FUNCTION credits.invoices_rows(text, text) FROM PUBLIC;

CREATE FUNCTION credits_invoices(account text DEFAULT NULL, reference text DEFAULT NULL)
RETURNS TABLE(reference text, account text, service text, variant text, quantity int,
			  credit_type text, credits @extschema@.credit_amount, lot_id bigint,
			  issued_at timestamptz, deducted @extschema@.credit_amount,
			  shortfall @extschema@.credit_amount, clawed_back_at timestamptz,
			  shortfall_due @extschema@.credit_amount)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT * FROM credits.invoices_rows($1, $2)
$$;
COMMENT ON FUNCTION credits_invoices(text, text) IS
	'invoices that issued credits, optionally of one account or reference: what each issued, what its clawback deducted and how much of the shortfall is still due';

/*
 * Trigger function for the application's own invoices table: when a row
 * becomes paid, credits_issue() runs in the same transaction.  Arguments are
 * name=value pairs naming the table's columns:
 *   account=<col> (default account), service=<col> (default service),
 *   reference=<col> (default reference), variant=<col> (default none),
 *   quantity=<col> (default none: 1), paid_column=<col> (default status),
 *   paid_value=<text> (default paid), refunded_value=<text> (default none).
 *   missing_rule=skip|error (default skip).
 * A row is paid when paid_column's text equals paid_value; an empty
 * paid_column issues on every firing (let the trigger's WHEN clause
 * decide).  A paid row whose paid_column becomes refunded_value is clawed
 * back.  An invoice of a service without a rule is an ordinary invoice:
 * it issues nothing and its refund claws nothing back, without error;
 * missing_rule=error makes both 42704 (credits_issue's and
 * credits_clawback's own errors), failing the invoice's change.
 */
CREATE FUNCTION credits_issue_trigger() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, credits, pg_temp
AS $$
DECLARE
	opt jsonb := '{"account": "account", "service": "service", "reference": "reference",
				   "paid_column": "status", "paid_value": "paid", "missing_rule": "skip"}';
	arg text;
	col text;
	new_row jsonb;
	paid_now boolean;
	paid_before boolean := false;
BEGIN
	IF TG_LEVEL <> 'ROW' OR TG_WHEN <> 'AFTER' OR TG_OP NOT IN ('INSERT', 'UPDATE') THEN
		RAISE EXCEPTION 'credits_issue_trigger() must be fired AFTER INSERT OR UPDATE FOR EACH ROW'
			USING ERRCODE = 'triggered_action_exception';
	END IF;
	-- Issuing is the agency's: a client portal may not fire this trigger at
	-- all, even for a row that issues nothing (the functions it calls check
	-- again).  It runs as the role that writes the invoice, which cannot
	-- reach credits.check_access(); credits_enabled() is SECURITY DEFINER,
	-- agency-only and has no effect, so it makes the same check (42501).
	PERFORM @extschema@.credits_enabled();
	IF TG_NARGS > 0 THEN
		FOREACH arg IN ARRAY TG_ARGV LOOP
			col := split_part(arg, '=', 1);
			IF strpos(arg, '=') = 0 OR col NOT IN ('account', 'service', 'reference', 'variant',
					'quantity', 'paid_column', 'paid_value', 'refunded_value', 'missing_rule') THEN
				RAISE EXCEPTION 'invalid credits_issue_trigger() argument "%"', arg
					USING ERRCODE = 'invalid_parameter_value',
						  HINT = 'Arguments are name=value pairs; the names are account, service, reference, variant, quantity, paid_column, paid_value, refunded_value and missing_rule.';
			END IF;
			opt := opt || jsonb_build_object(col, substr(arg, strpos(arg, '=') + 1));
		END LOOP;
		IF opt->>'missing_rule' NOT IN ('skip', 'error') THEN
			RAISE EXCEPTION 'invalid credits_issue_trigger() argument "missing_rule=%"', opt->>'missing_rule'
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'missing_rule is skip (an invoice of a service without a rule issues nothing) or error (42704).';
		END IF;
	END IF;

	new_row := to_jsonb(NEW);
	FOREACH col IN ARRAY ARRAY['account', 'service', 'reference', 'variant', 'quantity', 'paid_column'] LOOP
		IF opt->>col <> '' AND NOT new_row ? (opt->>col) THEN
			RAISE EXCEPTION 'column "%" of relation "%" does not exist', opt->>col, TG_TABLE_NAME
				USING ERRCODE = 'undefined_column',
					  HINT = format('Name the column that holds the %s with the trigger argument ''%s=<column>''.', col, col);
		END IF;
	END LOOP;

	IF opt->>'paid_column' = '' THEN
		paid_now := true;
	ELSE
		paid_now := coalesce(new_row->>(opt->>'paid_column') = opt->>'paid_value', false);
		IF TG_OP = 'UPDATE' THEN
			paid_before := coalesce(to_jsonb(OLD)->>(opt->>'paid_column') = opt->>'paid_value', false);
		END IF;
	END IF;

	IF paid_now AND NOT paid_before THEN
		-- An ordinary invoice (no rule for its service, or no service at
		-- all) issues nothing.  Rules are never deleted, so one seen here
		-- is still there for credits_issue().
		IF opt->>'missing_rule' = 'skip' AND NOT EXISTS (
				SELECT FROM @extschema@.credits_rules(new_row->>(opt->>'service')) r
				WHERE new_row->>(opt->>'service') IS NOT NULL
				  AND (r.variant IS NULL
					   OR r.variant = CASE WHEN opt ? 'variant' THEN new_row->>(opt->>'variant') END)) THEN
			RETURN NULL;
		END IF;
		PERFORM @extschema@.credits_issue(
			account => new_row->>(opt->>'account'),
			service => new_row->>(opt->>'service'),
			reference => new_row->>(opt->>'reference'),
			variant => CASE WHEN opt ? 'variant' THEN new_row->>(opt->>'variant') END,
			quantity => CASE WHEN opt ? 'quantity' THEN (new_row->>(opt->>'quantity'))::int ELSE 1 END);
	ELSIF paid_before AND opt ? 'refunded_value'
		  AND new_row->>(opt->>'paid_column') = opt->>'refunded_value' THEN
		-- Only an invoice that issued credits has something to claw back.
		IF opt->>'missing_rule' = 'error' OR EXISTS (
				SELECT FROM @extschema@.credits_invoices(NULL::text, new_row->>(opt->>'reference'))
				WHERE new_row->>(opt->>'reference') IS NOT NULL) THEN
			PERFORM @extschema@.credits_clawback(reference => new_row->>(opt->>'reference'));
		END IF;
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION credits_issue_trigger() IS
	'AFTER INSERT OR UPDATE row trigger for an invoices table: issues credits when a row becomes paid (and claws back when it becomes refunded), in the same transaction; an invoice of a service without a rule issues nothing';

/*
 * Holds
 */
CREATE FUNCTION credits_hold(account text, amount @extschema@.credit_amount, reference text,
							 credit_type text DEFAULT 'CRD',
							 idempotency_key text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_hold'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_hold(text, @extschema@.credit_amount, text, text, text) IS
	'reserves credits soonest-expiring first: they leave the available balance at once (CR001 if not enough); returns the hold id';

CREATE FUNCTION credits_capture(hold_id bigint, amount @extschema@.credit_amount DEFAULT NULL,
								account text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_capture'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_capture(bigint, @extschema@.credit_amount, text) IS
	'spends all (or amount) of a hold (of account, when given: the call then runs where the account lives), releasing the rest; once (CR005); returns the capture entry id';

CREATE FUNCTION credits_release(hold_id bigint, account text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'credits_release'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_release(bigint, text) IS
	'gives a hold''s credits (of account, when given: the call then runs where the account lives) back to their lots (those of expired or voided lots leave again at once); once (CR005)';

-- credits_holds() reads through this PL/pgSQL function, as credits_invoices() does.
CREATE FUNCTION credits.holds_rows(text, text)
RETURNS TABLE(hold_id bigint, account text, credit_type text, amount @extschema@.credit_amount,
			  captured @extschema@.credit_amount, reference text, status text,
			  created_at timestamptz, closed_at timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
#variable_conflict use_column
BEGIN
	PERFORM credits.check_access(NULL, 'agency');
	RETURN QUERY
	SELECT h.hold_id, h.account, h.credit_type, h.amount, h.captured, h.reference,
		   h.status, h.created_at, h.closed_at
	FROM credits.hold h
	WHERE ($1 IS NULL OR h.account = $1)
	  AND ($2 IS NULL OR h.status = $2)
	ORDER BY h.hold_id;
END
$$;
REVOKE ALL ON FUNCTION credits.holds_rows(text, text) FROM PUBLIC;

CREATE FUNCTION credits_holds(account text DEFAULT NULL, status text DEFAULT NULL)
RETURNS TABLE(hold_id bigint, account text, credit_type text, amount @extschema@.credit_amount,
			  captured @extschema@.credit_amount, reference text, status text,
			  created_at timestamptz, closed_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT * FROM credits.holds_rows($1, $2)
$$;
COMMENT ON FUNCTION credits_holds(text, text) IS
	'holds, optionally of one account and/or status (open, captured, released)';

/*
 * Subscriptions and due work
 */
CREATE FUNCTION credits_subscribe(account text, credits @extschema@.credit_amount, every interval,
								  mode text DEFAULT 'add',
								  credit_type text DEFAULT 'CRD',
								  starts_at timestamptz DEFAULT now(),
								  expires_after interval DEFAULT NULL,
								  rollover @extschema@.credit_amount DEFAULT NULL,
								  reset_scope text DEFAULT 'type')
RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_subscribe'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_subscribe(text, @extschema@.credit_amount, interval, text, text, timestamptz,
									   interval, @extschema@.credit_amount, text) IS
	'grants credits every period (add or reset, a reset keeping up to rollover of the credits of reset_scope: type or own), the first at once when it has started; returns the subscription id';

CREATE FUNCTION credits_subscribe_service(account text, service text, price @extschema@.credit_amount,
										  every interval,
										  credit_type text DEFAULT 'CRD',
										  starts_at timestamptz DEFAULT now())
RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_subscribe_service'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_subscribe_service(text, text, @extschema@.credit_amount, interval, text, timestamptz) IS
	'buys a service priced in credits: the first period is paid at once (CR001), later ones renew from the balance or go past_due; returns the subscription id';

CREATE FUNCTION credits_cancel_subscription(subscription_id bigint, account text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'credits_cancel_subscription'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_cancel_subscription(bigint, text) IS
	'no further renewals of a subscription (of account, when given: the call then runs where the account lives); cancelling twice is CR005';

-- credits_subscriptions() reads through this PL/pgSQL function, as credits_invoices() does.
CREATE FUNCTION credits.subscriptions_rows(text)
RETURNS TABLE(subscription_id bigint, account text, credit_type text,
			  credits @extschema@.credit_amount, service text, price @extschema@.credit_amount,
			  every interval, mode text, status text, starts_at timestamptz,
			  periods bigint, next_renewal_at timestamptz, cancelled_at timestamptz,
			  failure jsonb, rollover @extschema@.credit_amount, reset_scope text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
#variable_conflict use_column
BEGIN
	PERFORM credits.check_access(NULL, 'agency');
	RETURN QUERY
	SELECT s.subscription_id, s.account, s.credit_type, s.credits, s.service, s.price,
		   s.every, CASE WHEN s.service IS NULL THEN s.mode END, s.status, s.starts_at,
		   s.next_period, CASE WHEN s.status <> 'cancelled' THEN s.next_period_at END,
		   s.cancelled_at, s.failure, s.rollover,
		   CASE WHEN s.service IS NULL AND s.mode = 'reset' THEN s.reset_scope END
	FROM credits.subscription s
	WHERE $1 IS NULL OR s.account = $1
	ORDER BY s.subscription_id;
END
$$;
REVOKE ALL ON FUNCTION credits.subscriptions_rows(text) FROM PUBLIC;

-- mode is that of a credit subscription (add or reset); a service
-- subscription has none (NULL), as it has no credits.  rollover and
-- reset_scope are a reset subscription's (NULL otherwise).
CREATE FUNCTION credits_subscriptions(account text DEFAULT NULL)
RETURNS TABLE(subscription_id bigint, account text, credit_type text,
			  credits @extschema@.credit_amount, service text, price @extschema@.credit_amount,
			  every interval, mode text, status text, starts_at timestamptz,
			  periods bigint, next_renewal_at timestamptz, cancelled_at timestamptz,
			  failure jsonb, rollover @extschema@.credit_amount, reset_scope text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT * FROM credits.subscriptions_rows($1)
$$;
COMMENT ON FUNCTION credits_subscriptions(text) IS
	'subscriptions, optionally of one account: status (active, past_due, cancelled), periods processed, next renewal, the error of a failed renewal, what a reset keeps';

CREATE FUNCTION credits_run_due(as_of timestamptz DEFAULT now())
RETURNS TABLE(renewed bigint, failed bigint, expired bigint)
AS 'MODULE_PATHNAME', 'credits_run_due'
LANGUAGE C VOLATILE SECURITY DEFINER ROWS 1
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_run_due(timestamptz) IS
	'performs every renewal whose period starts by as_of (at most now; each period once) and expires lots due by now, passing over locked accounts and isolating failed renewals; safe to run every minute';

/*
 * Lifecycle invariants, run by credits_verify().
 */
CREATE FUNCTION credits.verify_lifecycle()
RETURNS TABLE(check_name text, account text, detail text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
BEGIN
	-- account.held is the sum of the account's open holds.
	RETURN QUERY
	SELECT 'held_matches_open_holds', a.account,
		   format('type %s: held %s, open holds total %s', a.credit_type, a.held,
				  coalesce(h.total, 0))
	FROM credits.account a
	LEFT JOIN (SELECT x.account, x.credit_type, sum(x.amount) AS total
			   FROM credits.hold x WHERE x.status = 'open' GROUP BY 1, 2) h
		ON h.account = a.account AND h.credit_type = a.credit_type
	WHERE a.held <> coalesce(h.total, 0);

	-- Every hold has its hold entry; a released hold one release of the whole
	-- hold; a captured hold that release and one capture of what it captured;
	-- an open hold neither.
	RETURN QUERY
	SELECT 'hold_entries', h.account,
		   format('hold %s (%s, %s of %s captured): hold %s/%s, release %s/%s, capture %s/%s',
				  h.hold_id, h.status, h.captured, h.amount,
				  coalesce(e.n_hold, 0), e.a_hold, coalesce(e.n_release, 0), e.a_release,
				  coalesce(e.n_capture, 0), e.a_capture)
	FROM credits.hold h
	LEFT JOIN (SELECT x.account, x.related_id,
					  count(*) FILTER (WHERE x.kind = 'hold') AS n_hold,
					  sum(x.amount) FILTER (WHERE x.kind = 'hold') AS a_hold,
					  count(*) FILTER (WHERE x.kind = 'release') AS n_release,
					  sum(x.amount) FILTER (WHERE x.kind = 'release') AS a_release,
					  count(*) FILTER (WHERE x.kind = 'capture') AS n_capture,
					  sum(x.amount) FILTER (WHERE x.kind = 'capture') AS a_capture
			   FROM credits.entry x WHERE x.kind IN ('hold', 'release', 'capture')
			   GROUP BY 1, 2) e
		ON e.account = h.account AND e.related_id = h.hold_id
	WHERE NOT coalesce(e.n_hold = 1 AND e.a_hold = h.amount AND CASE h.status
			WHEN 'open' THEN e.n_release = 0 AND e.n_capture = 0
			WHEN 'released' THEN e.n_release = 1 AND e.a_release = h.amount AND e.n_capture = 0
			ELSE e.n_release = 1 AND e.a_release = h.amount AND e.n_capture = 1
				 AND e.a_capture = h.captured END, false);

	-- A release gives back exactly what its hold took, lot by lot; a capture
	-- takes only from what its hold took.
	RETURN QUERY
	SELECT 'hold_lots', h.account,
		   format('hold %s: lot %s held %s, released %s', h.hold_id, x.lot_id,
				  x.held, x.released)
	FROM credits.hold h
	CROSS JOIN LATERAL (
		SELECT lot_id, a.amount AS held, b.amount AS released
		FROM (SELECT y.lot_id, y.amount FROM credits.allocation y
			  WHERE y.account = h.account AND y.entry_id = h.hold_entry_id) a
		FULL JOIN (SELECT y.lot_id, y.amount FROM credits.allocation y
				   WHERE y.account = h.account AND y.entry_id = h.release_entry_id) b
			USING (lot_id)) x
	WHERE h.status <> 'open' AND x.held IS DISTINCT FROM x.released;
	RETURN QUERY
	SELECT 'capture_within_hold', h.account,
		   format('hold %s: lot %s held %s, captured %s', h.hold_id, c.lot_id,
				  a.amount, c.amount)
	FROM credits.hold h
	JOIN credits.allocation c ON c.account = h.account AND c.entry_id = h.capture_entry_id
	LEFT JOIN credits.allocation a ON a.account = h.account AND a.entry_id = h.hold_entry_id
		AND a.lot_id = c.lot_id
	WHERE a.amount IS NULL OR c.amount > a.amount;

	-- A reversal reverses a spend or capture of its account and type, gives
	-- back exactly what that entry took, lot by lot, and is its only one.
	RETURN QUERY
	SELECT 'reversal_matches_entry', r.account,
		   format('reversal %s of entry %s (%s): %s given back, %s taken',
				  r.entry_id, r.related_id, coalesce(s.kind, 'missing'), r.amount, s.amount)
	FROM credits.entry r
	LEFT JOIN credits.entry s ON s.account = r.account AND s.entry_id = r.related_id
	WHERE r.kind = 'reversal'
	  AND (s.entry_id IS NULL OR s.kind NOT IN ('spend', 'capture') OR s.amount <> r.amount
		   OR s.credit_type <> r.credit_type
		   OR EXISTS (SELECT 1
					  FROM (SELECT y.lot_id, y.amount FROM credits.allocation y
							WHERE y.account = r.account AND y.entry_id = r.entry_id) ra
					  FULL JOIN (SELECT y.lot_id, y.amount FROM credits.allocation y
								 WHERE y.account = s.account AND y.entry_id = s.entry_id) sa
						USING (lot_id)
					  WHERE ra.amount IS DISTINCT FROM sa.amount));
	RETURN QUERY
	SELECT 'reversed_once', r.account,
		   format('entry %s has %s reversals', r.related_id, count(*))
	FROM credits.entry r
	WHERE r.kind = 'reversal'
	GROUP BY r.account, r.related_id
	HAVING count(*) > 1;

	-- An invoice reference issues credits to one account, once: its lot is
	-- a grant of the issued credits with that reference.
	RETURN QUERY
	-- (references first: distributed, the accounts are on several shards)
	WITH dup AS MATERIALIZED (
		SELECT j.reference, count(*) AS n FROM credits.issue j
		GROUP BY j.reference HAVING count(DISTINCT j.account) > 1)
	SELECT 'issued_once', i.account,
		   format('invoice %s: issued to %s accounts', i.reference, d.n)
	FROM credits.issue i
	JOIN dup d ON d.reference = i.reference;
	RETURN QUERY
	SELECT 'issue_lot', i.account,
		   format('invoice %s: lot %s of %s (source %s, reference %s), issued %s',
				  i.reference, i.lot_id, l.amount, l.source, l.reference, i.credits)
	FROM credits.issue i
	LEFT JOIN credits.lot l ON l.account = i.account AND l.lot_id = i.lot_id
	WHERE l.lot_id IS NULL OR l.amount <> i.credits OR l.source <> 'issue'
	   OR l.reference IS DISTINCT FROM i.reference OR l.credit_type <> i.credit_type;

	-- A clawed-back invoice has one clawback entry of what was deducted,
	-- recording the shortfall; deducted + shortfall = issued.
	RETURN QUERY
	SELECT 'clawback_entry', i.account,
		   format('invoice %s: issued %s, deducted %s, shortfall %s; entry %s (%s %s, shortfall %s)',
				  i.reference, i.credits, i.deducted, i.shortfall, i.clawback_entry_id,
				  e.kind, e.amount, e.shortfall)
	FROM credits.issue i
	LEFT JOIN credits.entry e ON e.account = i.account AND e.entry_id = i.clawback_entry_id
	WHERE i.clawback_entry_id IS NOT NULL
	  AND (e.entry_id IS NULL OR e.kind <> 'clawback' OR e.amount <> i.deducted
		   OR e.shortfall IS DISTINCT FROM i.shortfall OR e.reference IS DISTINCT FROM i.reference);
	RETURN QUERY
	SELECT 'clawback_once', e.account,
		   format('invoice %s: %s clawback entries, issue records entry %s',
				  e.reference, count(*), max(i.clawback_entry_id))
	FROM credits.entry e
	LEFT JOIN credits.issue i ON i.account = e.account AND i.reference = e.reference
	WHERE e.kind = 'clawback' AND e.related_id IS NULL
	GROUP BY e.account, e.reference
	HAVING count(*) <> 1 OR max(i.clawback_entry_id) IS NULL;

	-- A shortfall is settled by later clawback entries related to the first
	-- one (same invoice, account and type), each recording what is still due
	-- after it; the shortfall minus what settled it is never negative and is
	-- what the invoice still has due.
	RETURN QUERY
	SELECT 'clawback_settlement', s.account,
		   format('entry %s settles %s of clawback entry %s (invoice %s, shortfall %s), records %s still due, history gives %s',
				  s.entry_id, s.amount, s.related_id, s.reference, i.shortfall, s.shortfall,
				  i.shortfall - s.settled)
	FROM (SELECT e.account, e.credit_type, e.entry_id, e.amount, e.related_id, e.reference,
				 e.shortfall,
				 sum(e.amount) OVER (PARTITION BY e.account, e.related_id ORDER BY e.seq) AS settled
		  FROM credits.entry e
		  WHERE e.kind = 'clawback' AND e.related_id IS NOT NULL) s
	LEFT JOIN credits.issue i ON i.account = s.account AND i.clawback_entry_id = s.related_id
	WHERE i.reference IS NULL OR i.reference IS DISTINCT FROM s.reference
	   OR i.credit_type <> s.credit_type
	   OR s.shortfall IS DISTINCT FROM i.shortfall - s.settled
	   OR i.shortfall - s.settled < 0;
	RETURN QUERY
	SELECT 'clawback_shortfall_due', i.account,
		   format('invoice %s: shortfall %s, settled %s, due %s', i.reference, i.shortfall,
				  coalesce(s.settled, 0), i.shortfall_due)
	FROM credits.issue i
	LEFT JOIN (SELECT e.account, e.related_id, sum(e.amount) AS settled
			   FROM credits.entry e
			   WHERE e.kind = 'clawback' AND e.related_id IS NOT NULL
			   GROUP BY 1, 2) s
		ON s.account = i.account AND s.related_id = i.clawback_entry_id
	WHERE (i.clawback_entry_id IS NULL AND (i.shortfall_due IS NOT NULL OR s.settled IS NOT NULL))
	   OR (i.clawback_entry_id IS NOT NULL
		   AND (i.shortfall - coalesce(s.settled, 0) < 0
				OR i.shortfall - coalesce(s.settled, 0) <> coalesce(i.shortfall_due, 0)));

	-- A voided lot is empty and has its void entry; only voided lots have
	-- void entries.
	RETURN QUERY
	SELECT 'voided_lot', l.account,
		   format('lot %s: voided at %s, remaining %s, %s void entries', l.lot_id,
				  l.voided_at, l.remaining,
				  (SELECT count(*) FROM credits.entry e
				   WHERE e.account = l.account AND e.lot_id = l.lot_id AND e.kind = 'void'))
	FROM credits.lot l
	WHERE (l.voided_at IS NOT NULL AND (l.remaining <> 0 OR NOT EXISTS (
			  SELECT 1 FROM credits.entry e
			  WHERE e.account = l.account AND e.lot_id = l.lot_id AND e.kind = 'void')))
	   OR (l.voided_at IS NULL AND EXISTS (
			  SELECT 1 FROM credits.entry e
			  WHERE e.account = l.account AND e.lot_id = l.lot_id AND e.kind = 'void'));

	-- Lots a reset closed stay empty: those of its scope made before it
	-- (up to the bound of their node group in lots_upto) that it left
	-- nothing in.  (A lot it kept credits in stays open.)  A
	-- lot's issuer, for the scopes of resets with reset_scope own: the rule
	-- of the invoice that issued it, or the subscription that granted it.
	RETURN QUERY
	WITH lots AS (
		SELECT l.account, l.credit_type, l.lot_id, l.remaining,
			   coalesce('rule:' || i.rule_id::text, 'subscription:' || p.subscription_id::text) AS issuer
		FROM credits.lot l
		LEFT JOIN credits.issue i ON i.account = l.account AND i.reference = l.reference
			AND i.lot_id = l.lot_id AND l.source = 'issue'
		LEFT JOIN credits.subscription_period p ON p.account = l.account AND p.lot_id = l.lot_id
			AND l.source = 'subscription')
	SELECT 'reset_lots_empty', l.account,
		   format('lot %s was forfeited by a reset (scope %s) but holds %s', l.lot_id, r.scope,
				  l.remaining)
	FROM lots l
	JOIN credits.account_reset r ON r.account = l.account AND r.credit_type = l.credit_type
	WHERE l.lot_id <= r.lots_upto[(l.lot_id >> 48) + 1] AND l.lot_id <> ALL (r.kept_lots)
	  AND l.remaining > 0
	  AND (r.scope = 'type' OR r.scope = l.issuer);

	-- The lots a reset kept credits in are lots of its account and type
	-- made before it, of its scope.
	RETURN QUERY
	WITH kept AS (
		SELECT r.account, r.credit_type, r.scope, r.lots_upto, k.lot_id
		FROM credits.account_reset r
		CROSS JOIN LATERAL unnest(r.kept_lots) k(lot_id))
	SELECT 'reset_kept_lots', k.account,
		   format('type %s, reset scope %s: kept lot %s is %s', k.credit_type, k.scope, k.lot_id,
				  CASE WHEN l.lot_id IS NULL THEN 'not a lot of the account'
					   WHEN l.credit_type <> k.credit_type THEN 'of credit type ' || l.credit_type
					   WHEN l.lot_id > coalesce(k.lots_upto[(l.lot_id >> 48) + 1], 0)
						   THEN 'made after the reset (lots_upto ' || k.lots_upto::text || ')'
					   ELSE 'not of the scope' END)
	FROM kept k
	LEFT JOIN credits.lot l ON l.account = k.account AND l.lot_id = k.lot_id
	LEFT JOIN credits.issue i ON i.account = l.account AND i.reference = l.reference
		AND i.lot_id = l.lot_id AND l.source = 'issue'
	LEFT JOIN credits.subscription_period p ON p.account = l.account AND p.lot_id = l.lot_id
		AND l.source = 'subscription'
	WHERE l.lot_id IS NULL OR l.credit_type <> k.credit_type
	   OR l.lot_id > coalesce(k.lots_upto[(l.lot_id >> 48) + 1], 0)
	   OR (k.scope <> 'type'
		   AND k.scope IS DISTINCT FROM coalesce('rule:' || i.rule_id::text,
												 'subscription:' || p.subscription_id::text));

	-- Each subscription has processed periods 0 .. next_period - 1, each
	-- once, and its next period starts at starts_at + next_period * every.
	RETURN QUERY
	SELECT 'subscription_periods', s.account,
		   format('subscription %s: next period %s, %s periods recorded (highest %s)',
				  s.subscription_id, s.next_period, coalesce(p.n, 0), p.hi)
	FROM credits.subscription s
	LEFT JOIN (SELECT x.account, x.subscription_id, count(*) AS n, max(x.period) AS hi
			   FROM credits.subscription_period x GROUP BY 1, 2) p
		ON p.account = s.account AND p.subscription_id = s.subscription_id
	WHERE coalesce(p.n, 0) <> s.next_period OR coalesce(p.hi, -1) <> s.next_period - 1
	   OR s.next_period_at <> credits.period_start(s.starts_at, s.every, s.next_period,
												  s.time_zone);

	-- A granted period has its lot of the subscription's credits; a paid
	-- period its spend of the price.
	RETURN QUERY
	SELECT 'subscription_period_effect', p.account,
		   format('subscription %s period %s (%s): lot %s of %s, entry %s %s of %s',
				  p.subscription_id, p.period, p.outcome, p.lot_id, l.amount,
				  p.entry_id, e.kind, e.amount)
	FROM credits.subscription_period p
	JOIN credits.subscription s ON s.account = p.account AND s.subscription_id = p.subscription_id
	LEFT JOIN credits.lot l ON l.account = p.account AND l.lot_id = p.lot_id
	LEFT JOIN credits.entry e ON e.account = p.account AND e.entry_id = p.entry_id
	WHERE (p.outcome = 'granted' AND (l.lot_id IS NULL OR l.amount <> s.credits
									  OR l.source <> 'subscription'))
	   OR (p.outcome = 'paid' AND (e.entry_id IS NULL OR e.kind <> 'spend'
								   OR e.amount <> s.price));
END
$$;
REVOKE ALL ON FUNCTION credits.verify_lifecycle() FROM PUBLIC;
