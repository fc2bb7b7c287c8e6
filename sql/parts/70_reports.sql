/*
 * Reports for DBAs and client portals: usage across customers, credits
 * expiring soon, outstanding liability with its cost basis, a client's
 * statement, and a balances view.
 *
 * Indexes they use: usage scans credits.entry by time through the BRIN
 * index entry_at_brin (entries are appended in time order), or by account
 * through the primary key; expiring uses lot_due (open lots by expiry) or
 * lot_spend_order for one account; the statement reads one account's
 * entries through the primary key; liability reads the open lots and, for a
 * past instant, the movements of each lot.
 */
CREATE INDEX entry_at_brin ON credits.entry USING brin (at);

-- Result rows of the PL/pgSQL bodies of functions whose parameters share
-- names with their result columns (which PL/pgSQL cannot declare; the public
-- functions are SQL wrappers with the contract's RETURNS TABLE).
CREATE TYPE credits.usage_row AS (account text, credit_type text, granted @extschema@.credit_amount,
	spent @extschema@.credit_amount, expired @extschema@.credit_amount, voided @extschema@.credit_amount, net @extschema@.credit_amount);
CREATE TYPE credits.expiring_row AS (account text, credit_type text, lot_id bigint,
	remaining @extschema@.credit_amount, expires_at timestamptz);

CREATE FUNCTION credits.usage(from_at timestamptz, to_at timestamptz,
							  account text, credit_type text)
RETURNS SETOF credits.usage_row
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
BEGIN
	IF from_at IS NULL OR to_at IS NULL THEN
		RAISE EXCEPTION '% must not be null', CASE WHEN from_at IS NULL THEN 'from_at' ELSE 'to_at' END
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	-- A client portal sees its own account's usage, by default and only.
	usage.account := coalesce(usage.account, credits.portal_scope());
	PERFORM credits.check_access(usage.account, 'client');
	IF to_at < from_at THEN
		RAISE EXCEPTION 'to_at must not be earlier than from_at'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF usage.credit_type IS NOT NULL THEN
		PERFORM credits.type_scale(usage.credit_type);
	END IF;
	RETURN QUERY
		SELECT e.account, e.credit_type,
			   coalesce(sum(e.amount) FILTER (WHERE e.kind = 'grant'), 0)::@extschema@.credit_amount,
			   (coalesce(sum(e.amount) FILTER (WHERE e.kind IN ('spend', 'capture')), 0)
				- coalesce(sum(e.amount) FILTER (WHERE e.kind = 'reversal'), 0))::@extschema@.credit_amount,
			   coalesce(sum(e.amount) FILTER (WHERE e.kind = 'expire'), 0)::@extschema@.credit_amount,
			   coalesce(sum(e.amount) FILTER (WHERE e.kind = 'void'), 0)::@extschema@.credit_amount,
			   (coalesce(sum(e.amount) FILTER (WHERE credits.direction(e.kind) = 'in'), 0)
				- coalesce(sum(e.amount) FILTER (WHERE credits.direction(e.kind) = 'out'), 0))::@extschema@.credit_amount
		FROM credits.entry e
		WHERE e.at >= from_at AND e.at < to_at
		  AND (usage.account IS NULL OR e.account = usage.account)
		  AND (usage.credit_type IS NULL OR e.credit_type = usage.credit_type)
		GROUP BY e.account, e.credit_type
		ORDER BY e.account, e.credit_type;
END
$$;
REVOKE ALL ON FUNCTION credits.usage(timestamptz, timestamptz, text, text) FROM PUBLIC;

CREATE FUNCTION credits_usage(from_at timestamptz, to_at timestamptz,
							  account text DEFAULT NULL, credit_type text DEFAULT NULL)
RETURNS TABLE(account text, credit_type text, granted @extschema@.credit_amount, spent @extschema@.credit_amount,
			  expired @extschema@.credit_amount, voided @extschema@.credit_amount, net @extschema@.credit_amount)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$ SELECT * FROM credits.usage($1, $2, $3, $4) $$;
COMMENT ON FUNCTION credits_usage(timestamptz, timestamptz, text, text) IS
	'credits granted, spent (net of reversals), expired, voided and the net change per account and type, for entries in [from_at, to_at)';

CREATE FUNCTION credits.expiring(within interval, account text)
RETURNS SETOF credits.expiring_row
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
BEGIN
	IF within IS NULL THEN
		RAISE EXCEPTION 'within must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	-- A client portal sees its own account's lots, by default and only.
	expiring.account := coalesce(expiring.account, credits.portal_scope());
	PERFORM credits.check_access(expiring.account, 'client');
	IF within < interval '0' THEN
		RAISE EXCEPTION 'within must not be negative' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	RETURN QUERY
		SELECT l.account, l.credit_type, l.lot_id, l.remaining::@extschema@.credit_amount, l.expires_at
		FROM credits.lot l
		WHERE l.is_open AND l.expires_at > now() AND l.expires_at <= now() + within
		  AND (expiring.account IS NULL OR l.account = expiring.account)
		ORDER BY l.expires_at, l.account, l.lot_id;
END
$$;
REVOKE ALL ON FUNCTION credits.expiring(interval, text) FROM PUBLIC;

CREATE FUNCTION credits_expiring(within interval DEFAULT '30 days', account text DEFAULT NULL)
RETURNS TABLE(account text, credit_type text, lot_id bigint, remaining @extschema@.credit_amount,
			  expires_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$ SELECT * FROM credits.expiring($1, $2) $$;
COMMENT ON FUNCTION credits_expiring(interval, text) IS
	'open lots whose credits expire within the interval, soonest first';

-- The unused part of every lot at an instant: its grant plus every later
-- movement in or out of it up to then, holds and releases excepted (held
-- credits are still unused).  Lots expired by then count nothing.
CREATE FUNCTION credits.lot_unused(at timestamptz, only_account text, only_type text)
RETURNS TABLE(account text, credit_type text, lot_id bigint, unused @extschema@.credit_amount,
			  amount @extschema@.credit_amount, cost numeric, cost_currency text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT l.account, l.credit_type, l.lot_id,
		   (l.amount + coalesce(sum(m.signed), 0))::@extschema@.credit_amount, l.amount::@extschema@.credit_amount, l.cost, l.cost_currency
	FROM credits.lot l
	LEFT JOIN LATERAL (
		SELECT CASE credits.direction(e.kind) WHEN 'in' THEN e.amount ELSE -e.amount END AS signed
		FROM credits.entry e
		WHERE e.account = l.account AND e.lot_id = l.lot_id
		  AND e.kind NOT IN ('grant', 'hold', 'release') AND e.at <= $1
		UNION ALL
		SELECT CASE credits.direction(e.kind) WHEN 'in' THEN al.amount ELSE -al.amount END
		FROM credits.allocation al
		JOIN credits.entry e ON e.account = al.account AND e.entry_id = al.entry_id
		WHERE al.account = l.account AND al.lot_id = l.lot_id
		  AND e.kind NOT IN ('hold', 'release') AND e.at <= $1
	) m ON true
	WHERE l.granted_at <= $1 AND (l.expires_at IS NULL OR l.expires_at > $1)
	  AND ($2 IS NULL OR (l.account = $2 AND l.credit_type = $3))
	GROUP BY l.account, l.credit_type, l.lot_id, l.amount, l.cost, l.cost_currency
$$;
REVOKE ALL ON FUNCTION credits.lot_unused(timestamptz, text, text) FROM PUBLIC;

CREATE FUNCTION credits_liability(at timestamptz DEFAULT now())
RETURNS TABLE(credit_type text, currency text, accounts bigint, outstanding @extschema@.credit_amount,
			  cost_basis numeric)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
BEGIN
	IF at IS NULL THEN
		RAISE EXCEPTION 'at must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT isfinite(at) THEN
		RAISE EXCEPTION 'at must be finite' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = format('The value given was %s.', at);
	END IF;
	PERFORM credits.check_access(NULL, 'agency');
	IF at >= now() THEN
		-- Now: the open lots as they stand; only accounts with open holds
		-- need the movements to put their held credits back.
		RETURN QUERY
			WITH unused AS (
				SELECT l.account, l.credit_type, l.remaining::@extschema@.credit_amount AS unused, l.amount::@extschema@.credit_amount, l.cost, l.cost_currency
				FROM credits.lot l
				JOIN credits.account a ON a.account = l.account AND a.credit_type = l.credit_type
				WHERE l.is_open AND a.held = 0
				  AND (l.expires_at IS NULL OR l.expires_at > credits_liability.at)
				UNION ALL
				SELECT u.account, u.credit_type, u.unused, u.amount, u.cost, u.cost_currency
				FROM credits.account a,
					 LATERAL credits.lot_unused(credits_liability.at, a.account, a.credit_type) u
				WHERE a.held > 0)
			SELECT u.credit_type, u.cost_currency, count(DISTINCT u.account),
				   sum(u.unused)::@extschema@.credit_amount,
				   round(coalesce(sum(u.cost * u.unused::numeric / u.amount::numeric), 0), 2)
			FROM unused u
			WHERE u.unused > 0
			GROUP BY u.credit_type, u.cost_currency
			ORDER BY u.credit_type, u.cost_currency NULLS FIRST;
	ELSE
		RETURN QUERY
			SELECT u.credit_type, u.cost_currency, count(DISTINCT u.account),
				   sum(u.unused)::@extschema@.credit_amount,
				   round(coalesce(sum(u.cost * u.unused::numeric / u.amount::numeric), 0), 2)
			FROM credits.lot_unused(credits_liability.at, NULL, NULL) u
			WHERE u.unused > 0
			GROUP BY u.credit_type, u.cost_currency
			ORDER BY u.credit_type, u.cost_currency NULLS FIRST;
	END IF;
END
$$;
COMMENT ON FUNCTION credits_liability(timestamptz) IS
	'unused credits outstanding at an instant and what clients paid for them (each lot''s unused share of its price), per credit type and purchase currency';

CREATE FUNCTION credits_statement(account text, from_at timestamptz, to_at timestamptz DEFAULT now(),
								  credit_type text DEFAULT 'CRD')
RETURNS TABLE(line int, at timestamptz, kind text, direction text, amount @extschema@.credit_amount,
			  balance @extschema@.credit_amount, reference text, reason text, entry_id bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
DECLARE
	opening @extschema@.credit_amount;
	closing @extschema@.credit_amount;
	running @extschema@.credit_amount;
	n int := 1;
	e record;
BEGIN
	IF account IS NULL OR from_at IS NULL OR to_at IS NULL OR credit_type IS NULL THEN
		RAISE EXCEPTION 'arguments of credits_statement must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM credits.check_access(account, 'client');
	PERFORM credits.type_scale(credit_type);
	IF to_at < from_at THEN
		RAISE EXCEPTION 'to_at must not be earlier than from_at'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- The range may be open, credits_balance's instant may not: nothing was
	-- available at -infinity, and a range from infinity is empty.
	opening := CASE WHEN from_at = '-infinity' THEN 0
					ELSE @extschema@.credits_balance(account, credit_type,
						CASE WHEN from_at = 'infinity' THEN now() ELSE from_at END) END;
	line := n; at := from_at; kind := 'opening'; direction := NULL; amount := NULL;
	balance := opening; reference := NULL; reason := 'opening balance'; entry_id := NULL;
	RETURN NEXT;
	running := opening;
	FOR e IN
		SELECT x.entry_id, x.at, x.kind, x.amount, x.running_balance, x.reference, x.reason
		FROM credits.entry x
		WHERE x.account = credits_statement.account AND x.credit_type = credits_statement.credit_type
		  AND x.at >= from_at AND x.at < to_at
		ORDER BY x.seq
	LOOP
		n := n + 1;
		line := n; at := e.at; kind := e.kind; direction := credits.direction(e.kind);
		amount := e.amount; reference := e.reference; reason := e.reason; entry_id := e.entry_id;
		running := CASE direction WHEN 'in' THEN running + e.amount ELSE running - e.amount END;
		balance := running;
		RETURN NEXT;
	END LOOP;
	-- Credits that expired in the period but whose expiry no change has
	-- recorded yet: one line, so that the lines add up to the closing balance.
	closing := @extschema@.credits_balance(account, credit_type, least(to_at, now()));
	IF closing < running THEN
		n := n + 1;
		line := n; at := least(to_at, now()); kind := 'expire'; direction := 'out';
		amount := running - closing; balance := closing; reference := NULL;
		reason := 'expired, not yet recorded'; entry_id := NULL;
		RETURN NEXT;
	END IF;
	n := n + 1;
	line := n; at := to_at; kind := 'closing'; direction := NULL; amount := NULL;
	balance := closing; reference := NULL; reason := 'closing balance'; entry_id := NULL;
	RETURN NEXT;
END
$$;
COMMENT ON FUNCTION credits_statement(text, timestamptz, timestamptz, text) IS
	'a client''s statement for a period: opening balance, every entry with its running balance, closing balance';

-- A client portal sees its own account's rows only.  The filter is part of
-- a security barrier, so no function of the reader's query sees another
-- account's row before it; credits.portal_scope() runs once per query (an
-- InitPlan), with the reader's privileges.
CREATE VIEW credits_balances WITH (security_barrier) AS
	SELECT a.account, a.credit_type,
		   (a.balance - coalesce(x.expired, 0))::@extschema@.credit_amount AS available,
		   a.held,
		   coalesce(x.expiring, 0)::@extschema@.credit_amount AS expiring_30_days
	FROM credits.account a
	LEFT JOIN LATERAL (
		SELECT sum(l.remaining) FILTER (WHERE l.expires_at <= now()) AS expired,
			   sum(l.remaining) FILTER (WHERE l.expires_at > now()
										AND l.expires_at <= now() + interval '30 days') AS expiring
		FROM credits.lot l
		WHERE l.account = a.account AND l.credit_type = a.credit_type AND l.is_open
		  AND l.expires_at <= now() + interval '30 days'
	) x ON true
	WHERE a.account = coalesce((SELECT credits.portal_scope()), a.account);
COMMENT ON VIEW credits_balances IS
	'per account and credit type: available, held, and expiring within 30 days (a client portal: its own account only)';
REVOKE ALL ON credits_balances FROM PUBLIC;

