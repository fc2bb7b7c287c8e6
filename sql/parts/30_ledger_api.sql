/*
 * The ledger API: credit types, the switch, grants, spends, balances,
 * history, expiry and verification.  Every function runs as the extension
 * owner (SECURITY DEFINER) with a pinned search_path.
 */

-- Scale of a credit type, or 42704.  CRD exists implicitly.
CREATE FUNCTION credits.type_scale(code text) RETURNS int
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
DECLARE
	s int;
BEGIN
	SELECT t.scale INTO s FROM credits.credit_type t WHERE t.code = type_scale.code;
	IF FOUND THEN
		RETURN s;
	ELSIF code = 'CRD' THEN
		RETURN 0;
	END IF;
	RAISE EXCEPTION 'credit type "%" does not exist', code
		USING ERRCODE = 'undefined_object',
			  HINT = 'Define it with credits_define_type().';
END
$$;

-- The type's lock, taken shared by what creates amounts of the type (rules,
-- packages; grants take it in C): its scale cannot change until the caller
-- commits.  Returns the scale, read after the lock; 42704 for an unknown
-- type.  See src/credit_types.c.
CREATE FUNCTION credits.lock_type(code text) RETURNS int
AS 'MODULE_PATHNAME', 'credits_lock_type_sql'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, credits, pg_temp;

-- What of a type exists (lots, rules, packages, subscriptions, holds,
-- pending credit requests), seen under a fresh snapshot, or NULL.
CREATE FUNCTION credits.type_in_use(code text) RETURNS text
AS 'MODULE_PATHNAME', 'credits_type_in_use'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, credits, pg_temp;

-- All credit types, the implicit CRD included.
CREATE VIEW credits.credit_types AS
	SELECT code, name, scale, currency FROM credits.credit_type
	UNION ALL
	SELECT 'CRD', 'Credits', 0, NULL
	WHERE NOT EXISTS (SELECT 1 FROM credits.credit_type WHERE code = 'CRD');

CREATE FUNCTION credits_define_type(code text, name text, scale int DEFAULT 0,
									currency text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
DECLARE
	old credits.credit_types%ROWTYPE;
	in_use text;
BEGIN
	IF code IS NULL OR name IS NULL OR scale IS NULL THEN
		RAISE EXCEPTION '% must not be null',
			CASE WHEN code IS NULL THEN 'code' WHEN name IS NULL THEN 'name' ELSE 'scale' END
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF code !~ '^[A-Za-z0-9_]{1,32}$' THEN
		RAISE EXCEPTION 'invalid credit type code "%"', code
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A code is 1 to 32 letters, digits or underscores, such as CRD, WRD or HRS.';
	END IF;
	IF btrim(name) = '' THEN
		RAISE EXCEPTION 'credit type name must not be empty'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF scale NOT BETWEEN 0 AND 6 THEN
		RAISE EXCEPTION 'scale must be between 0 and 6'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('The value given was %s.', scale);
	END IF;
	IF currency IS NOT NULL AND currency !~ '^[A-Z]{3}$' THEN
		RAISE EXCEPTION 'invalid currency code "%"', currency
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A currency is a three-letter ISO 4217 code such as USD.';
	END IF;

	PERFORM credits.check_access(NULL, 'agency');
	-- Serialize definitions of one code, and a change of scale or currency
	-- against everything that creates amounts of the type: grants, issues,
	-- purchases, subscriptions, rules and packages hold this lock shared
	-- until they commit (src/credit_types.c).  So the check below sees them
	-- all, committed or not, and those that come later see the new scale.
	PERFORM pg_advisory_xact_lock(hashtext('credits.credit_type'), hashtext(code));
	SELECT * INTO old FROM credits.credit_types t WHERE t.code = credits_define_type.code;
	IF FOUND AND (old.scale IS DISTINCT FROM credits_define_type.scale
				  OR old.currency IS DISTINCT FROM credits_define_type.currency) THEN
		in_use := credits.type_in_use(code);
		IF in_use IS NOT NULL THEN
			RAISE EXCEPTION 'cannot change the scale or currency of credit type "%"', code
				USING ERRCODE = 'invalid_parameter_value',
					  DETAIL = format('%s of this type exist; only its name can change.', in_use),
					  HINT = 'Amounts of a type are kept at its scale: a new scale or currency is a new credit type.';
		END IF;
	END IF;
	-- The instant is a value, not now() in DO UPDATE SET: Citus accepts
	-- only immutable functions there (credit_type is a reference table
	-- once distributed).
	INSERT INTO credits.credit_type AS t (code, name, scale, currency, updated_at)
	VALUES (code, name, scale, currency, now())
	ON CONFLICT ON CONSTRAINT credit_type_pkey DO UPDATE
		SET name = excluded.name, scale = excluded.scale,
			currency = excluded.currency, updated_at = excluded.updated_at;
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
COMMENT ON FUNCTION credits_define_type(text, text, int, text) IS
	'defines a credit type (or renames it); scale is its number of decimal places, currency makes it monetary; neither changes while anything of the type exists';

CREATE FUNCTION credits_set_enabled(enabled boolean) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
BEGIN
	IF enabled IS NULL THEN
		RAISE EXCEPTION 'enabled must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM credits.check_access(NULL, 'agency');
	-- now() as a value, not in DO UPDATE SET (see credits_define_type).
	INSERT INTO credits.setting (name, value, updated_at)
	VALUES ('enabled', CASE WHEN enabled THEN 'on' ELSE 'off' END, now())
	ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at;
END
$$;
COMMENT ON FUNCTION credits_set_enabled(boolean) IS
	'the agency switch: while off, spending, paying, holding and purchasing raise CR002';

-- The agency's settings are not a portal's to read (42501).
CREATE FUNCTION credits_enabled() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT credits.check_access(NULL, 'agency');
	SELECT coalesce((SELECT value <> 'off' FROM credits.setting WHERE name = 'enabled'), true)
$$;
COMMENT ON FUNCTION credits_enabled() IS 'whether credit payments are enabled';

CREATE FUNCTION credits_grant(account text, amount @extschema@.credit_amount,
							  credit_type text DEFAULT 'CRD',
							  expires_at timestamptz DEFAULT NULL,
							  reason text DEFAULT NULL,
							  reference text DEFAULT NULL,
							  idempotency_key text DEFAULT NULL,
							  cost numeric DEFAULT NULL,
							  cost_currency text DEFAULT NULL,
							  priority int DEFAULT 0,
							  applies_to text[] DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_grant'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_grant(text, @extschema@.credit_amount, text, timestamptz, text, text, text, numeric, text, int, text[]) IS
	'adds a lot of credits to an account, optionally with what the client paid for it (cost, cost_currency: its cost basis), its priority in spend order (lower first) and the services it may pay for (applies_to; NULL: any); returns the lot id';

CREATE FUNCTION credits_spend(account text, amount @extschema@.credit_amount,
							  reference text DEFAULT NULL,
							  credit_type text DEFAULT 'CRD',
							  idempotency_key text DEFAULT NULL,
							  service text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_spend'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_spend(text, @extschema@.credit_amount, text, text, text, text) IS
	'spends credits in spend order (priority, then soonest expiry), all or nothing (CR001), from the lots any service may use and, for a service, those restricted to it; returns the entry id';

CREATE FUNCTION credits_balance(account text, credit_type text DEFAULT 'CRD',
								at timestamptz DEFAULT now(),
								service text DEFAULT NULL)
RETURNS @extschema@.credit_amount
AS 'MODULE_PATHNAME', 'credits_balance'
LANGUAGE C STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_balance(text, text, timestamptz, text) IS
	'available credits at a time: expired and held credits excluded; the past answers from history; with a service, only what a spend for it could take';

CREATE FUNCTION credits_expire(as_of timestamptz DEFAULT now())
RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_expire'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_expire(timestamptz) IS
	'records an expire entry for every lot with credits left whose expiry is due; returns how many lots';

CREATE FUNCTION credits_history(account text, credit_type text DEFAULT 'CRD')
RETURNS TABLE(entry_id bigint, at timestamptz, kind text, direction text,
			  amount @extschema@.credit_amount, running_balance @extschema@.credit_amount,
			  reference text, reason text)
AS 'MODULE_PATHNAME', 'credits_history'
LANGUAGE C STABLE SECURITY DEFINER ROWS 100
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_history(text, text) IS
	'every movement of an account, oldest first, with the running balance after each';

CREATE FUNCTION credits_history_page(account text, credit_type text DEFAULT 'CRD',
									 after_entry_id bigint DEFAULT NULL,
									 max_rows int DEFAULT 50,
									 newest_first boolean DEFAULT false)
RETURNS TABLE(entry_id bigint, at timestamptz, kind text, direction text,
			  amount @extschema@.credit_amount, running_balance @extschema@.credit_amount,
			  reference text, reason text)
AS 'MODULE_PATHNAME', 'credits_history_page'
LANGUAGE C STABLE SECURITY DEFINER ROWS 50
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_history_page(text, text, bigint, int, boolean) IS
	'one page of an account''s history (keyset pagination): the entries after (or, newest first, before) after_entry_id';

-- Idempotency keys for the keyed functions written in SQL (purchases), with
-- the encoding and the claim of the C ones (src/idempotency.c): the
-- canonical request text of a call's fields; the claim of a key, which
-- returns NULL when the caller now holds it or the first call's result row
-- (CR003 when the key was used with other arguments); the first call's
-- result, recorded by the caller that claimed the key.
CREATE FUNCTION credits.idempotency_request(fields text[]) RETURNS text
AS 'MODULE_PATHNAME', 'credits_idem_request_sql'
LANGUAGE C IMMUTABLE;
CREATE FUNCTION credits.idempotency_claim(account text, idempotency_key text,
										  operation text, request text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'credits_idem_claim_sql'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, credits, pg_temp;
CREATE FUNCTION credits.idempotency_finish(account text, idempotency_key text,
										   result bigint, result_row jsonb)
RETURNS void
AS 'MODULE_PATHNAME', 'credits_idem_finish_sql'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, credits, pg_temp;
REVOKE ALL ON FUNCTION credits.idempotency_request(text[]),
	credits.idempotency_claim(text, text, text, text),
	credits.idempotency_finish(text, text, bigint, jsonb) FROM PUBLIC;
