/*
 * Reports for DBAs and client portals: usage across customers, credits
 * expiring soon, outstanding liability with its cost basis, a client's
 * statement, and a balances view.
 *
 * Indexes they use: usage scans credits.entry by time through the BRIN
 * index entry_at_brin (entries are appended in time order), or by account
 * through the primary key; expiring uses lot_due (open lots by expiry) or
 * lot_expiry for one account; the statement reads one account's
 * entries through the primary key; liability reads the open lots and, for a
 * past instant, the movements of each lot.
 */
CREATE INDEX entry_at_brin ON credits.entry USING brin (at);

-- Result rows of the PL/pgSQL bodies of functions whose parameters share
-- names with their result columns (which PL/pgSQL cannot declare; the public
-- functions are SQL wrappers with the contract's RETURNS TABLE).
CREATE TYPE credits.usage_row AS (account text, credit_type text, granted @extschema@.credit_amount,
	spent @extschema@.credit_amount, expired @extschema@.credit_amount, voided @extschema@.credit_amount, net @extschema@.credit_amount,
	reset @extschema@.credit_amount, clawed_back @extschema@.credit_amount);
CREATE TYPE credits.expiring_row AS (account text, credit_type text, lot_id bigint,
	remaining @extschema@.credit_amount, expires_at timestamptz);

-- Report totals are summed as numeric, so no sum fails.  A total beyond the
-- credit_amount range is returned over several rows of the same key: parts
-- says how many (1 while every total fits), part(total, i, n) is the i-th
-- share, whole chunks of 9 x 10^12 first.  The shares add up to the total.
CREATE FUNCTION credits.amount_parts(totals numeric[]) RETURNS int
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT CASE WHEN max(abs(t)) <= 9223372036854.775807 THEN 1
				ELSE ceil(max(abs(t)) / 9000000000000)::int END
	FROM unnest($1) t
$$;
REVOKE ALL ON FUNCTION credits.amount_parts(numeric[]) FROM PUBLIC;

CREATE FUNCTION credits.amount_part(total numeric, i int, n int) RETURNS @extschema@.credit_amount
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT (CASE WHEN $3 = 1 THEN $1
				 ELSE sign($1) * least(greatest(abs($1) - ($2 - 1) * 9000000000000, 0),
									   9000000000000) END)::@extschema@.credit_amount
$$;
REVOKE ALL ON FUNCTION credits.amount_part(numeric, int, int) FROM PUBLIC;

-- The credits of lots expired by an instant that the balance then leaves
-- out although no expire entry at or before it has removed them yet: per
-- lot, what it held at the account's last entry at or before the instant
-- (credits_balance subtracts the same).  Any change to an account records
-- its due expirations first, so such a lot is still open, or its first
-- expire entry after the instant took what it held then, less what came
-- and went in between (a release into it, say).
CREATE FUNCTION credits.expired_unrecorded(at timestamptz, only_account text, only_type text)
RETURNS TABLE(account text, credit_type text, lot_id bigint, expires_at timestamptz, amount numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
BEGIN
	-- One account's lots or every account's.  The values are written into
	-- the statement, and the account into each table's condition: on a
	-- distributed ledger Citus sends such a statement to the account's
	-- shard alone (a call for one account, delegated to its worker inside
	-- a transaction block, may read nothing else), which it cannot with
	-- parameters, nor with the account carried only through the UNION into
	-- the lateral subqueries.  Whether the instant is past is a constant
	-- too: Citus cannot plan a comparison with now() that reads no column
	-- alongside an outer join.
	RETURN QUERY EXECUTE pg_catalog.format($q$
	WITH cand AS (
		SELECT DISTINCT ON (c.account, c.lot_id) c.*
		FROM (SELECT l.account, l.credit_type, l.lot_id, l.expires_at,
					 l.remaining::numeric AS held, 9223372036854775807::bigint AS upto
			  FROM credits.lot l
			  WHERE l.is_open AND l.expires_at <= %1$L::timestamptz
				AND %2$s AND (%4$L IS NULL OR l.credit_type = %4$L)
			  UNION ALL
			  SELECT x.account, x.credit_type, x.lot_id, l.expires_at, x.amount::numeric, x.seq
			  FROM credits.entry x
			  JOIN credits.lot l ON l.account = x.account AND l.lot_id = x.lot_id
			  WHERE x.kind = 'expire' AND x.at > %1$L::timestamptz AND %5$L::boolean AND l.expires_at <= %1$L::timestamptz
				AND %3$s AND (%4$L IS NULL OR x.credit_type = %4$L)) c
		ORDER BY c.account, c.lot_id, c.upto)
	SELECT c.account, c.credit_type, c.lot_id, c.expires_at, c.held - coalesce(m.moved, 0) AS amount
	FROM cand c
	LEFT JOIN LATERAL (
		SELECT e.seq FROM credits.entry e
		WHERE e.account = c.account AND %6$s AND e.credit_type = c.credit_type
		  AND (e.at <= %1$L::timestamptz OR NOT %5$L::boolean)
		ORDER BY e.seq DESC LIMIT 1) k ON true
	LEFT JOIN LATERAL (
		SELECT sum(CASE credits.direction(e.kind) WHEN 'in' THEN 1 ELSE -1 END
				   * coalesce(al.amount, e.amount)::numeric) AS moved
		FROM credits.entry e
		LEFT JOIN credits.allocation al
			ON al.account = e.account AND al.entry_id = e.entry_id AND al.lot_id = c.lot_id
		WHERE e.account = c.account AND %6$s AND e.credit_type = c.credit_type
		  AND e.seq > coalesce(k.seq, 0) AND e.seq < c.upto
		  AND (e.lot_id = c.lot_id OR al.lot_id IS NOT NULL)) m ON true
	WHERE c.held - coalesce(m.moved, 0) > 0
	$q$, expired_unrecorded.at,
		CASE WHEN only_account IS NULL THEN 'true' ELSE pg_catalog.format('l.account = %L', only_account) END,
		CASE WHEN only_account IS NULL THEN 'true' ELSE pg_catalog.format('x.account = %L', only_account) END,
		only_type, expired_unrecorded.at < now(),
		CASE WHEN only_account IS NULL THEN 'true' ELSE pg_catalog.format('e.account = %L', only_account) END);
END
$$;
REVOKE ALL ON FUNCTION credits.expired_unrecorded(timestamptz, text, text) FROM PUBLIC;

-- Usage over (from_at, to_at]: the entries dated in it, by kind, plus the
-- expirations it contains that no entry in it records (a lot that expired
-- in the range, its expiry recorded later or not yet), less those that
-- entries in it record but that happened before it.  So an expiry counts
-- when the lot expired, and net is the change of credits_balance across the
-- range.
CREATE FUNCTION credits.usage(from_at timestamptz, to_at timestamptz,
							  account text, credit_type text)
RETURNS SETOF credits.usage_row
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
DECLARE
	by_entries jsonb;		-- sums of the entries dated in the range
	expired_by_to jsonb;	-- expired by to_at, not recorded by then
	expired_by_from jsonb;	-- the same at from_at
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
	-- An open range ends now: an infinite bound is no bound, not a projection.
	IF to_at = 'infinity' THEN
		to_at := now();
	END IF;
	IF from_at = 'infinity' THEN
		from_at := now();
	END IF;
	IF usage.credit_type IS NOT NULL THEN
		PERFORM credits.type_scale(usage.credit_type);
	END IF;
	-- Each source is read by a statement of its own and the sums are
	-- combined here: on a distributed ledger each statement runs on the
	-- shards whole, and none calls a function that reads the tables from
	-- inside a statement over them.
	SELECT jsonb_agg(jsonb_build_object(
			   'account', m.account, 'credit_type', m.credit_type, 'granted', m.granted,
			   'spent', m.spent, 'expired', m.expired, 'voided', m.voided, 'net', m.net,
			   'reset', m.reset, 'clawed_back', m.clawed_back))
	INTO by_entries
	FROM (SELECT e.account, e.credit_type,
				 coalesce(sum(e.amount::numeric) FILTER (WHERE e.kind = 'grant'), 0) AS granted,
				 coalesce(sum(CASE WHEN e.kind IN ('spend', 'capture') THEN e.amount::numeric
								   WHEN e.kind = 'reversal' THEN -e.amount::numeric END), 0) AS spent,
				 coalesce(sum(e.amount::numeric) FILTER (WHERE e.kind = 'expire'), 0) AS expired,
				 coalesce(sum(e.amount::numeric) FILTER (WHERE e.kind = 'void'), 0) AS voided,
				 sum(CASE credits.direction(e.kind) WHEN 'in' THEN e.amount::numeric
						 ELSE -e.amount::numeric END) AS net,
				 coalesce(sum(e.amount::numeric) FILTER (WHERE e.kind = 'reset'), 0) AS reset,
				 coalesce(sum(e.amount::numeric) FILTER (WHERE e.kind = 'clawback'), 0) AS clawed_back
		  FROM credits.entry e
		  WHERE e.at > from_at AND from_at < now() AND (e.at <= to_at OR to_at >= now())
			AND (usage.account IS NULL OR e.account = usage.account)
			AND (usage.credit_type IS NULL OR e.credit_type = usage.credit_type)
		  GROUP BY e.account, e.credit_type) m;
	SELECT jsonb_agg(jsonb_build_object('account', x.account, 'credit_type', x.credit_type,
										'amount', x.amount))
	INTO expired_by_to
	FROM credits.expired_unrecorded(to_at, usage.account, usage.credit_type) x;
	SELECT jsonb_agg(jsonb_build_object('account', x.account, 'credit_type', x.credit_type,
										'amount', x.amount))
	INTO expired_by_from
	FROM credits.expired_unrecorded(from_at, usage.account, usage.credit_type) x;
	RETURN QUERY
		WITH moved AS (
			SELECT m.account, m.credit_type, true AS has_entries, m.granted, m.spent, m.expired,
				   m.voided, m.net, m.reset, m.clawed_back
			FROM jsonb_to_recordset(by_entries)
				AS m(account text, credit_type text, granted numeric, spent numeric,
					 expired numeric, voided numeric, net numeric, reset numeric,
					 clawed_back numeric)
			UNION ALL
			SELECT x.account, x.credit_type, false, 0, 0, x.amount, 0, -x.amount, 0, 0
			FROM jsonb_to_recordset(expired_by_to) AS x(account text, credit_type text, amount numeric)
			UNION ALL
			SELECT x.account, x.credit_type, false, 0, 0, -x.amount, 0, x.amount, 0, 0
			FROM jsonb_to_recordset(expired_by_from) AS x(account text, credit_type text, amount numeric)),
		total AS (
			SELECT m.account, m.credit_type, sum(m.granted) AS granted, sum(m.spent) AS spent,
				   sum(m.expired) AS expired, sum(m.voided) AS voided, sum(m.net) AS net,
				   sum(m.reset) AS reset, sum(m.clawed_back) AS clawed_back
			FROM moved m
			GROUP BY m.account, m.credit_type
			HAVING bool_or(m.has_entries) OR sum(m.expired) <> 0)
		SELECT t.account, t.credit_type,
			   credits.amount_part(t.granted, p.i, p.n), credits.amount_part(t.spent, p.i, p.n),
			   credits.amount_part(t.expired, p.i, p.n), credits.amount_part(t.voided, p.i, p.n),
			   credits.amount_part(t.net, p.i, p.n), credits.amount_part(t.reset, p.i, p.n),
			   credits.amount_part(t.clawed_back, p.i, p.n)
		FROM total t,
			 LATERAL (SELECT q.n, generate_series(1, q.n) AS i
					  FROM (SELECT credits.amount_parts(ARRAY[t.granted, t.spent, t.expired,
								t.voided, t.net, t.reset, t.clawed_back]) AS n) q) p
		ORDER BY t.account, t.credit_type, p.i;
END
$$;
REVOKE ALL ON FUNCTION credits.usage(timestamptz, timestamptz, text, text) FROM PUBLIC;

-- credits_usage() reads through this PL/pgSQL function, as credits_invoices() does.
CREATE FUNCTION credits.usage_rows(timestamptz, timestamptz, text, text)
RETURNS TABLE(account text, credit_type text, granted @extschema@.credit_amount, spent @extschema@.credit_amount,
			  expired @extschema@.credit_amount, voided @extschema@.credit_amount, net @extschema@.credit_amount,
			  reset @extschema@.credit_amount, clawed_back @extschema@.credit_amount)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY
	SELECT * FROM credits.usage($1, $2, $3, $4);
END
$$;
REVOKE ALL ON FUNCTION credits.usage_rows(timestamptz, timestamptz, text, text) FROM PUBLIC;

CREATE FUNCTION credits_usage(from_at timestamptz, to_at timestamptz,
							  account text DEFAULT NULL, credit_type text DEFAULT NULL)
RETURNS TABLE(account text, credit_type text, granted @extschema@.credit_amount, spent @extschema@.credit_amount,
			  expired @extschema@.credit_amount, voided @extschema@.credit_amount, net @extschema@.credit_amount,
			  reset @extschema@.credit_amount, clawed_back @extschema@.credit_amount)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT * FROM credits.usage_rows($1, $2, $3, $4)
$$;
COMMENT ON FUNCTION credits_usage(timestamptz, timestamptz, text, text) IS
	'credits granted, spent (net of reversals), expired (when the lot expired), voided, forfeited by resets, clawed back, and the net change of the balance per account and type, over (from_at, to_at]';

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

-- credits_expiring() reads through this PL/pgSQL function, as credits_invoices() does.
CREATE FUNCTION credits.expiring_rows(interval, text)
RETURNS TABLE(account text, credit_type text, lot_id bigint, remaining @extschema@.credit_amount,
			  expires_at timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY
	SELECT * FROM credits.expiring($1, $2);
END
$$;
REVOKE ALL ON FUNCTION credits.expiring_rows(interval, text) FROM PUBLIC;

CREATE FUNCTION credits_expiring(within interval DEFAULT '30 days', account text DEFAULT NULL)
RETURNS TABLE(account text, credit_type text, lot_id bigint, remaining @extschema@.credit_amount,
			  expires_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT * FROM credits.expiring_rows($1, $2)
$$;
COMMENT ON FUNCTION credits_expiring(interval, text) IS
	'open lots whose credits expire within the interval, soonest first';

-- The unused part of every lot at an instant: its grant (or the transfer
-- that brought it) plus every later movement in or out of it up to then,
-- holds and releases excepted (held credits are still unused).  Lots
-- expired by then count nothing.  As for credits_balance, an instant now or
-- later counts every entry.  One account and type, every account, or
-- (only_held) the accounts that hold credits.  The movements are summed per
-- lot and joined to the lots, every join on the account: on a distributed
-- ledger the whole statement runs on the shards.
CREATE FUNCTION credits.lot_unused(at timestamptz, only_account text, only_type text,
								   only_held boolean)
RETURNS TABLE(account text, credit_type text, lot_id bigint, unused @extschema@.credit_amount,
			  amount @extschema@.credit_amount, cost numeric, cost_currency text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	-- Now or later: every entry counts (a parameter, not a test of now() in
	-- the statement, which Citus cannot plan across shards on PostgreSQL 15).
	every boolean := lot_unused.at >= now();
BEGIN
	RETURN QUERY
	WITH moved AS (
		SELECT e.account, e.lot_id,
			   sum(CASE credits.direction(e.kind) WHEN 'in' THEN e.amount::numeric
					   ELSE -e.amount::numeric END) AS signed
		FROM credits.entry e
		WHERE e.lot_id IS NOT NULL AND e.kind NOT IN ('grant', 'hold', 'release')
		  AND (e.at <= lot_unused.at OR every)
		  AND (only_account IS NULL OR (e.account = only_account AND e.credit_type = only_type))
		  AND (NOT only_held OR EXISTS (SELECT FROM credits.account a
										WHERE a.account = e.account AND a.held > 0))
		GROUP BY e.account, e.lot_id
		UNION ALL
		SELECT al.account, al.lot_id,
			   sum(CASE credits.direction(e.kind) WHEN 'in' THEN al.amount::numeric
					   ELSE -al.amount::numeric END)
		FROM credits.allocation al
		JOIN credits.entry e ON e.account = al.account AND e.entry_id = al.entry_id
		WHERE e.kind NOT IN ('hold', 'release', 'transfer_in') AND (e.at <= lot_unused.at OR every)
		  AND (only_account IS NULL OR (e.account = only_account AND e.credit_type = only_type))
		  AND (NOT only_held OR EXISTS (SELECT FROM credits.account a
										WHERE a.account = e.account AND a.held > 0))
		GROUP BY al.account, al.lot_id)
	SELECT l.account, l.credit_type, l.lot_id,
		   (l.amount::numeric + coalesce(sum(m.signed), 0))::@extschema@.credit_amount,
		   l.amount::@extschema@.credit_amount, l.cost, l.cost_currency
	FROM credits.lot l
	LEFT JOIN moved m ON m.account = l.account AND m.lot_id = l.lot_id
	WHERE (l.granted_at <= lot_unused.at OR every)
	  AND (l.expires_at IS NULL OR l.expires_at > lot_unused.at)
	  AND (only_account IS NULL OR (l.account = only_account AND l.credit_type = only_type))
	  AND (NOT only_held OR EXISTS (SELECT FROM credits.account a
									WHERE a.account = l.account AND a.credit_type = l.credit_type
									  AND a.held > 0))
	GROUP BY l.account, l.credit_type, l.lot_id, l.amount, l.cost, l.cost_currency;
END
$$;
REVOKE ALL ON FUNCTION credits.lot_unused(timestamptz, text, text, boolean) FROM PUBLIC;

-- Every lot's unused credits at an instant and their share of its price.
-- Now and later: accounts that hold nothing and whose latest entry is no
-- later than the instant answer from their open lots as they stand, the
-- others from their lots' movements (held credits are still unused); an
-- earlier instant answers from the movements of every lot.
CREATE FUNCTION credits.liability_lots(at timestamptz)
RETURNS TABLE(account text, credit_type text, currency text, unused numeric, cost numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
BEGIN
	IF liability_lots.at >= now() THEN
		RETURN QUERY
			SELECT l.account, l.credit_type, l.cost_currency, l.remaining::numeric,
				   coalesce(l.cost * l.remaining::numeric / l.amount::numeric, 0)
			FROM credits.lot l
			JOIN credits.account a ON a.account = l.account AND a.credit_type = l.credit_type
			WHERE l.is_open AND a.held = 0
			  AND (l.expires_at IS NULL OR l.expires_at > liability_lots.at);
	END IF;
	RETURN QUERY
		SELECT u.account, u.credit_type, u.cost_currency, u.unused::numeric,
			   coalesce(u.cost * u.unused::numeric / u.amount::numeric, 0)
		FROM credits.lot_unused(liability_lots.at, NULL, NULL, liability_lots.at >= now()) u
		WHERE u.unused > 0;
END
$$;
REVOKE ALL ON FUNCTION credits.liability_lots(timestamptz) FROM PUBLIC;

-- One row per credit type and purchase currency, totals summed as numeric.
-- A total beyond the credit_amount range comes over several rows of that
-- type and currency, each for its own accounts (in account order) and each
-- within the range; an account holding more than the range alone is split
-- too, and counted in its first row only.  The rows add up to the totals:
-- the cost basis of a row is the total rounded to cents up to its end, less
-- that up to its start, so the rows' cost bases add up to the rounded total
-- (which the finance reports, 86_finance.sql, rely on).
CREATE FUNCTION credits_liability(at timestamptz DEFAULT now())
RETURNS TABLE(credit_type text, currency text, accounts bigint, outstanding @extschema@.credit_amount,
			  cost_basis numeric)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
DECLARE
	g record;
	r record;
	n bigint;
	sum_unused numeric;
	sum_cost numeric;
	part numeric;
	share numeric;
	first boolean;
	done numeric;			-- cost of the rows returned so far, unrounded
BEGIN
	IF at IS NULL THEN
		RAISE EXCEPTION 'at must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT isfinite(at) THEN
		RAISE EXCEPTION 'at must be finite' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = format('The value given was %s.', at);
	END IF;
	PERFORM credits.check_access(NULL, 'agency');
	FOR g IN
		SELECT x.credit_type, x.currency, count(DISTINCT x.account) AS accounts,
			   sum(x.unused) AS outstanding, sum(x.cost) AS cost
		FROM credits.liability_lots(credits_liability.at) x
		GROUP BY x.credit_type, x.currency
		ORDER BY x.credit_type, x.currency NULLS FIRST
	LOOP
		credit_type := g.credit_type;
		currency := g.currency;
		IF g.outstanding <= 9223372036854.775807 THEN
			accounts := g.accounts;
			outstanding := g.outstanding::@extschema@.credit_amount;
			cost_basis := round(g.cost, 2);
			RETURN NEXT;
			CONTINUE;
		END IF;
		n := 0; sum_unused := 0; sum_cost := 0; done := 0;
		FOR r IN
			SELECT x.account, sum(x.unused) AS unused, sum(x.cost) AS cost
			FROM credits.liability_lots(credits_liability.at) x
			WHERE x.credit_type = g.credit_type AND x.currency IS NOT DISTINCT FROM g.currency
			GROUP BY x.account
			ORDER BY x.account
		LOOP
			first := true;
			WHILE first OR r.unused > 0 LOOP
				IF sum_unused > 0 AND sum_unused + r.unused > 9000000000000 THEN
					accounts := n; outstanding := sum_unused::@extschema@.credit_amount;
					cost_basis := round(done + sum_cost, 2) - round(done, 2);
					RETURN NEXT;
					done := done + sum_cost;
					n := 0; sum_unused := 0; sum_cost := 0;
				END IF;
				part := least(r.unused, 9000000000000 - sum_unused);
				share := r.cost * part / r.unused;
				n := n + CASE WHEN first THEN 1 ELSE 0 END;
				sum_unused := sum_unused + part;
				sum_cost := sum_cost + share;
				r.unused := r.unused - part;
				r.cost := r.cost - share;
				first := false;
			END LOOP;
		END LOOP;
		accounts := n; outstanding := sum_unused::@extschema@.credit_amount;
		cost_basis := round(done + sum_cost, 2) - round(done, 2);
		RETURN NEXT;
	END LOOP;
END
$$;
COMMENT ON FUNCTION credits_liability(timestamptz) IS
	'unused credits outstanding at an instant and what clients paid for them (each lot''s unused share of its price), per credit type and purchase currency';

-- A statement over (from_at, to_at]: the opening balance is the balance at
-- from_at, the lines are the entries dated after from_at up to to_at and
-- the expirations of that period that no entry of it records, and the
-- closing balance is the balance at to_at, which the lines add up to.  An
-- expiry counts when the lot expired: one recorded later than that shows
-- in the period the lot expired in.
CREATE FUNCTION credits_statement(account text, from_at timestamptz, to_at timestamptz DEFAULT now(),
								  credit_type text DEFAULT 'CRD')
RETURNS TABLE(line int, at timestamptz, kind text, direction text, amount @extschema@.credit_amount,
			  balance @extschema@.credit_amount, reference text, reason text, entry_id bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
DECLARE
	running numeric;
	n int := 1;
	e record;
	lo timestamptz;			-- the range, an infinite bound read as now
	hi timestamptz;
	before_j jsonb;			-- the sources of the lines (below)
	after_j jsonb;
	entries_j jsonb;
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
	lo := CASE WHEN from_at = 'infinity' THEN now() ELSE from_at END;
	hi := CASE WHEN to_at = 'infinity' THEN now() ELSE to_at END;
	running := CASE WHEN lo = '-infinity' THEN 0
					ELSE @extschema@.credits_balance(account, credit_type, lo) END;
	line := n; at := from_at; kind := 'opening'; direction := NULL; amount := NULL;
	balance := running; reference := NULL; reason := 'opening balance'; entry_id := NULL;
	RETURN NEXT;
	-- Each source is read by a statement of its own and the lines are made
	-- here: on a distributed ledger each statement runs on the shard whole,
	-- and none calls a function that reads the tables from inside a
	-- statement over them.
	-- Expired by from_at, already left out of the opening balance.
	SELECT jsonb_agg(jsonb_build_object('lot_id', u.lot_id, 'amount', u.amount))
	INTO before_j
	FROM credits.expired_unrecorded(lo, credits_statement.account, credits_statement.credit_type) u;
	-- Expired by to_at, not recorded by then.
	SELECT jsonb_agg(jsonb_build_object('lot_id', u.lot_id, 'expires_at', u.expires_at,
										'amount', u.amount))
	INTO after_j
	FROM credits.expired_unrecorded(hi, credits_statement.account, credits_statement.credit_type) u;
	SELECT jsonb_agg(jsonb_build_object(
			   'seq', x.seq, 'entry_id', x.entry_id, 'at', x.at, 'kind', x.kind, 'amount', x.amount,
			   'reference', x.reference, 'reason', x.reason, 'lot_id', x.lot_id,
			   'expired_so_far', x.expired_so_far))
	INTO entries_j
	FROM (SELECT x.seq, x.entry_id, x.at, x.kind, x.amount::numeric AS amount,
				 x.reference, x.reason, x.lot_id,
				 sum(x.amount::numeric) FILTER (WHERE x.kind = 'expire')
					 OVER (PARTITION BY x.lot_id ORDER BY x.seq) AS expired_so_far
		  FROM credits.entry x
		  WHERE x.account = credits_statement.account
			AND x.credit_type = credits_statement.credit_type
			AND x.at > lo AND lo < now() AND (x.at <= hi OR hi >= now())) x;
	FOR e IN
		WITH before AS (
			SELECT b.lot_id, b.amount
			FROM jsonb_to_recordset(before_j) AS b(lot_id bigint, amount numeric)),
		entries AS (
			SELECT x.*
			FROM jsonb_to_recordset(entries_j)
				AS x(seq bigint, entry_id bigint, at timestamptz, kind text, amount numeric,
					 reference text, reason text, lot_id bigint, expired_so_far numeric)),
		lines AS (
			-- an expire entry shows only what had not expired by from_at
			SELECT x.at, x.seq, x.entry_id, x.kind, x.reference, x.reason, x.lot_id,
				   CASE WHEN b.lot_id IS NULL THEN x.amount
						ELSE greatest(0, least(x.amount, x.expired_so_far - b.amount)) END AS amount,
				   x.kind <> 'expire' OR b.lot_id IS NULL
					   OR x.expired_so_far - b.amount > 0 AS shown
			FROM entries x
			LEFT JOIN before b ON b.lot_id = x.lot_id AND x.kind = 'expire'
			UNION ALL
			-- expired in the period, recorded later or not yet
			SELECT u.expires_at, NULL, NULL, 'expire', NULL,
				   CASE WHEN u.expires_at <= now() THEN 'expired, not yet recorded'
						ELSE 'expiring' END, u.lot_id,
				   u.amount - greatest(0, coalesce(b.amount, 0) - coalesce(r.recorded, 0)), true
			FROM jsonb_to_recordset(after_j) AS u(lot_id bigint, expires_at timestamptz, amount numeric)
			LEFT JOIN before b ON b.lot_id = u.lot_id
			LEFT JOIN (SELECT x.lot_id, sum(x.amount) AS recorded FROM entries x
					   WHERE x.kind = 'expire' GROUP BY x.lot_id) r ON r.lot_id = u.lot_id)
		SELECT l.* FROM lines l
		WHERE l.shown AND (l.entry_id IS NOT NULL OR l.amount > 0)
		ORDER BY l.at, l.seq NULLS LAST, l.lot_id
	LOOP
		n := n + 1;
		line := n; at := e.at; direction := credits.direction(e.kind);
		-- the two sides of a transfer show as "transfer", with their direction
		kind := CASE WHEN e.kind IN ('transfer_out', 'transfer_in') THEN 'transfer' ELSE e.kind END;
		amount := e.amount::@extschema@.credit_amount; reference := e.reference;
		reason := e.reason; entry_id := e.entry_id;
		running := CASE direction WHEN 'in' THEN running + e.amount ELSE running - e.amount END;
		balance := running::@extschema@.credit_amount;
		RETURN NEXT;
	END LOOP;
	n := n + 1;
	line := n; at := to_at; kind := 'closing'; direction := NULL; amount := NULL;
	balance := CASE WHEN hi = '-infinity' THEN 0
					ELSE @extschema@.credits_balance(account, credit_type, hi) END;
	reference := NULL;
	reason := 'closing balance'; entry_id := NULL;
	RETURN NEXT;
END
$$;
COMMENT ON FUNCTION credits_statement(text, timestamptz, timestamptz, text) IS
	'a client''s statement for a period: opening balance at from_at, every entry after it up to to_at with its running balance, expirations of the period by when the lot expired, closing balance at to_at';

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
