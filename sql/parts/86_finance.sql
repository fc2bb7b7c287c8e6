/*
 * Finance: revenue recognition and a double-entry journal, both derived
 * from the cost basis that credits_liability() reports (70_reports.sql).
 *
 * Each lot sold with a cost carries, at any instant, the share of its price
 * that its unused credits stand for: cost x unused / amount, nothing before
 * it was granted, nothing from the instant it expires.  Every change of
 * that share is a line: the sale (the lot appears), a spend, capture or
 * reversal (revenue), an expiry, void or reset (breakage), a clawback
 * (refunds); a transfer moves a share from one client's lot to another's,
 * and no money.  A movement's share is the difference of the lot's share
 * after it and before it, so the lines of a lot add up to exactly its
 * share at any instant, and the lines of all lots to the liability's
 * unrounded cost basis.  The liability rounds that total to cents; each
 * line's amount is the difference of the rounded running total of its
 * credit type and currency after it and before it, so the rounded lines up
 * to an instant add up to the liability's cost basis at that instant, to
 * the cent, and credits_revenue() sums the very lines credits_journal()
 * shows.
 */

-- The ledger account that a line moves cost basis to or from, the other
-- side being deferred_revenue: a sale's money is cash, a lot's expiry
-- (kind 'expire') breakage.  Holds and releases move none (held credits are
-- still unused), nor do transfers between clients (transfer_out,
-- transfer_in: deferred revenue stays deferred revenue).  A new entry kind
-- needs its place here: the finance test lists every kind the ledger
-- allows.  (SQL, immutable, no SET: inlined.)
CREATE FUNCTION credits.finance_account(kind text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT CASE kind
		WHEN 'grant' THEN 'cash'
		WHEN 'spend' THEN 'revenue'
		WHEN 'capture' THEN 'revenue'
		WHEN 'reversal' THEN 'revenue'
		WHEN 'expire' THEN 'breakage'
		WHEN 'void' THEN 'breakage'
		WHEN 'reset' THEN 'breakage'
		WHEN 'clawback' THEN 'refunds'
	END
$$;

-- Every line of the finance reports dated in (from_at, to_at]: raw is the
-- change of deferred revenue it makes in currency (positive for a sale,
-- negative for a spend), delta the same in cents, such that the lines of a
-- credit type and currency up to any instant add up to the liability's cost
-- basis then (0 for a line too small to change that by a cent); account is
-- the client's; entry_id the entry (a sale: the lot's grant; an expiry: its
-- first expire entry, NULL while none is recorded), lot_id the lot of a
-- sale or expiry.  A line counts from eff: its instant (the entry's, the
-- lot's grant or expiry), or now for an entry dated later than now (one
-- that had to move past a later entry, seen by its own transaction),
-- exactly as credits_liability() counts entries at an instant.  The lines
-- are in order by (eff, phase, ord, sub, lot_id).  A transfer's two sides
-- are lines too, with no ledger account (it moves deferred revenue from one
-- client to another): its out side and the lots it brings, which cancel.
--
-- Two passes.  The first, on each account's own rows (co-located on a
-- distributed ledger, where it runs on the workers), follows every lot with
-- a cost up to to_at: its sale, the movements that credits_liability()
-- counts (holds and releases not), its expiry, in time order; the lot's
-- share after each and the difference to the one before.  The second
-- (on the coordinator) makes one line of a movement's lots of one currency
-- and rounds the running totals of each credit type and currency from the
-- first sale on.
CREATE FUNCTION credits.finance_lines(timestamptz, timestamptz)
RETURNS TABLE(entry_id bigint, at timestamptz, eff timestamptz, phase int, ord bigint, sub int,
			  lot_id bigint, account text, credit_type text, currency text, ledger_account text,
			  delta numeric, raw numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	from_at timestamptz := $1;
	to_at timestamptz := $2;
BEGIN
	IF from_at IS NULL OR to_at IS NULL THEN
		RAISE EXCEPTION '% must not be null', CASE WHEN from_at IS NULL THEN 'from_at' ELSE 'to_at' END
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	-- The range runs between two instants of credits_liability(), which
	-- takes no infinite instant.
	IF NOT isfinite(from_at) OR NOT isfinite(to_at) THEN
		RAISE EXCEPTION '% must be finite', CASE WHEN NOT isfinite(from_at) THEN 'from_at' ELSE 'to_at' END
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('The value given was %s.',
								  CASE WHEN NOT isfinite(from_at) THEN from_at ELSE to_at END);
	END IF;
	PERFORM credits.check_access(NULL, 'agency');
	IF to_at < from_at THEN
		RAISE EXCEPTION 'to_at must not be earlier than from_at'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('The range given was %s to %s.', from_at, to_at);
	END IF;
	RETURN QUERY
	WITH moves AS MATERIALIZED (
		-- Per lot, in time order (phase 0: the lot expires, first at its
		-- instant, for a lot counts nothing from its expiry on; 1: its
		-- origin; 2: a movement), the lot's share of its price after each
		-- event, as credits_liability() computes it, and the change.
		SELECT s.account, s.credit_type, s.currency, s.lot_id, s.kind, s.entry_id, s.at, s.eff,
			   s.gphase, s.gkey, s.gsub,
			   s.share - coalesce(lag(s.share) OVER (PARTITION BY s.account, s.lot_id
													 ORDER BY s.eff, s.phase, s.seq, s.entry_id), 0) AS delta
		FROM (
			SELECT x.*,
				   CASE WHEN bool_or(x.phase = 1) OVER w AND NOT bool_or(x.phase = 0) OVER w
						THEN coalesce(x.cost * (x.amount + sum(x.moved) OVER w)::@extschema@.credit_amount::numeric
									  / x.amount, 0)
						ELSE 0 END AS share
			FROM (
				-- the origin: a grant (a sale), or a transfer that brought the
				-- lot (ordered with the transfer's out side, see below)
				SELECT l.account, l.credit_type, l.cost_currency AS currency, l.lot_id, l.cost,
					   l.amount::numeric AS amount, 1 AS phase,
					   coalesce(t.kind, 'grant')::text AS kind, coalesce(g.entry_id, t.entry_id) AS entry_id,
					   coalesce(g.seq, t.seq) AS seq, l.granted_at AS at,
					   least(l.granted_at, now()) AS eff, 0::numeric AS moved,
					   CASE WHEN t.entry_id IS NULL THEN 1 ELSE 2 END AS gphase,
					   coalesce(t.related_id, g.entry_id) AS gkey,
					   CASE WHEN t.entry_id IS NULL THEN 0 ELSE 1 END AS gsub
				FROM credits.lot l
				LEFT JOIN credits.entry g
					ON g.account = l.account AND g.lot_id = l.lot_id AND g.kind = 'grant'
				LEFT JOIN (SELECT ta.account, ta.lot_id, te.kind, te.entry_id, te.seq, te.related_id
						   FROM credits.allocation ta
						   JOIN credits.entry te ON te.account = ta.account AND te.entry_id = ta.entry_id
						   WHERE te.kind = 'transfer_in') t
					ON t.account = l.account AND t.lot_id = l.lot_id
				WHERE l.cost_currency IS NOT NULL
				UNION ALL
				SELECT l.account, l.credit_type, l.cost_currency, l.lot_id, l.cost, l.amount::numeric,
					   0, 'expire', x.entry_id, NULL, l.expires_at, l.expires_at, 0, 0, x.entry_id, 0
				FROM credits.lot l
				LEFT JOIN (SELECT e.account, e.lot_id, (array_agg(e.entry_id ORDER BY e.seq))[1] AS entry_id
						   FROM credits.entry e WHERE e.kind = 'expire'
						   GROUP BY e.account, e.lot_id) x
					ON x.account = l.account AND x.lot_id = l.lot_id
				WHERE l.cost_currency IS NOT NULL AND l.expires_at IS NOT NULL
				UNION ALL
				-- the movements that credits.lot_unused() counts
				SELECT l.account, l.credit_type, l.cost_currency, l.lot_id, l.cost, l.amount::numeric,
					   2, e.kind, e.entry_id, e.seq, e.at, least(e.at, now()),
					   CASE credits.direction(e.kind) WHEN 'in' THEN e.amount::numeric
						   ELSE -e.amount::numeric END, 2, e.entry_id, 0
				FROM credits.lot l
				JOIN credits.entry e ON e.account = l.account AND e.lot_id = l.lot_id
				WHERE l.cost_currency IS NOT NULL AND e.kind NOT IN ('grant', 'hold', 'release')
				UNION ALL
				SELECT l.account, l.credit_type, l.cost_currency, l.lot_id, l.cost, l.amount::numeric,
					   2, e.kind, e.entry_id, e.seq, e.at, least(e.at, now()),
					   CASE credits.direction(e.kind) WHEN 'in' THEN al.amount::numeric
						   ELSE -al.amount::numeric END, 2, e.entry_id, 0
				FROM credits.lot l
				JOIN credits.allocation al ON al.account = l.account AND al.lot_id = l.lot_id
				JOIN credits.entry e ON e.account = al.account AND e.entry_id = al.entry_id
				WHERE l.cost_currency IS NOT NULL
				  AND e.kind NOT IN ('hold', 'release', 'transfer_in')) x
			WHERE x.eff <= to_at
			WINDOW w AS (PARTITION BY x.account, x.lot_id ORDER BY x.eff, x.phase, x.seq, x.entry_id
						 ROWS UNBOUNDED PRECEDING)) s),
	-- One line per entry and currency (a sale, an expiry: per lot), in the
	-- order of the running totals: by instant, expiries first, then sales,
	-- then movements by entry.  The lots a transfer brings come right after
	-- its out side: the two cancel to the last digit (the transfer gives
	-- the new lots exactly the share that left), so their amounts in cents
	-- cancel too.
	lines AS (
		SELECT m.entry_id, m.at, m.eff, m.gphase, m.gkey, m.gsub,
			   CASE WHEN m.gphase = 2 THEN NULL ELSE m.lot_id END AS lot_id,
			   m.account, m.credit_type, m.currency, m.kind, sum(m.delta) AS delta
		FROM moves m
		WHERE m.delta <> 0
		GROUP BY m.credit_type, m.currency, m.eff, m.gphase, m.gkey, m.gsub,
				 CASE WHEN m.gphase = 2 THEN NULL ELSE m.lot_id END, m.entry_id, m.at, m.account,
				 m.kind)
	SELECT r.entry_id, r.at, r.eff, r.gphase, r.gkey, r.gsub, r.lot_id, r.account, r.credit_type,
		   r.currency, credits.finance_account(r.kind), round(r.total, 2) - round(r.total - r.delta, 2),
		   r.delta
	FROM (
		SELECT l.*, sum(l.delta) OVER (PARTITION BY l.credit_type, l.currency
									   ORDER BY l.eff, l.gphase, l.gkey, l.gsub, l.lot_id
									   ROWS UNBOUNDED PRECEDING) AS total
		FROM lines l) r
	WHERE r.eff > from_at;
END
$$;
REVOKE ALL ON FUNCTION credits.finance_lines(timestamptz, timestamptz) FROM PUBLIC;

-- credits_revenue() reads through this PL/pgSQL function, as credits_invoices() does.
CREATE FUNCTION credits.revenue_rows(timestamptz, timestamptz)
RETURNS TABLE(credit_type text, currency text, sold numeric, recognized numeric,
			  breakage numeric, refunded numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY
	SELECT t.credit_type, t.currency, round(t.sold, 2), round(t.recognized, 2),
		   round(t.breakage, 2), round(t.refunded, 2)
	FROM (
		SELECT f.credit_type, f.currency,
			   coalesce(sum(f.delta) FILTER (WHERE f.ledger_account = 'cash'), 0) AS sold,
			   -coalesce(sum(f.delta) FILTER (WHERE f.ledger_account = 'revenue'), 0) AS recognized,
			   -coalesce(sum(f.delta) FILTER (WHERE f.ledger_account = 'breakage'), 0) AS breakage,
			   -coalesce(sum(f.delta) FILTER (WHERE f.ledger_account = 'refunds'), 0) AS refunded
		FROM credits.finance_lines($1, $2) f
		GROUP BY f.credit_type, f.currency) t
	WHERE t.sold <> 0 OR t.recognized <> 0 OR t.breakage <> 0 OR t.refunded <> 0
	ORDER BY t.credit_type, t.currency;
END
$$;
REVOKE ALL ON FUNCTION credits.revenue_rows(timestamptz, timestamptz) FROM PUBLIC;

CREATE FUNCTION credits_revenue(from_at timestamptz, to_at timestamptz)
RETURNS TABLE(credit_type text, currency text, sold numeric, recognized numeric,
			  breakage numeric, refunded numeric)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT * FROM credits.revenue_rows($1, $2)
$$;
COMMENT ON FUNCTION credits_revenue(timestamptz, timestamptz) IS
	'per credit type and currency over (from_at, to_at]: the cost basis of credits sold, recognized as revenue (spent or captured, less reversals), lost to breakage (expired, voided, forfeited by resets) and refunded (clawed back); sold - recognized - breakage - refunded is the change of credits_liability''s cost basis';

-- credits_journal() reads through this PL/pgSQL function, as credits_invoices() does.
CREATE FUNCTION credits.journal_rows(timestamptz, timestamptz)
RETURNS TABLE(entry_id bigint, at timestamptz, account text, debit text, credit text,
			  amount numeric, currency text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
#variable_conflict use_column
BEGIN
	-- Deferred revenue grows: debit the other account (cash for a sale, revenue
	-- for a reversal), credit deferred_revenue; it shrinks: the opposite.
	RETURN QUERY
	SELECT f.entry_id, f.at, f.account,
		   CASE WHEN f.delta > 0 THEN f.ledger_account ELSE 'deferred_revenue' END,
		   CASE WHEN f.delta > 0 THEN 'deferred_revenue' ELSE f.ledger_account END,
		   abs(f.delta), f.currency
	FROM credits.finance_lines($1, $2) f
	WHERE f.delta <> 0 AND f.ledger_account IS NOT NULL
	ORDER BY f.eff, f.phase, f.ord, f.sub, f.lot_id, f.currency, f.credit_type;
END
$$;
REVOKE ALL ON FUNCTION credits.journal_rows(timestamptz, timestamptz) FROM PUBLIC;

CREATE FUNCTION credits_journal(from_at timestamptz, to_at timestamptz)
RETURNS TABLE(entry_id bigint, at timestamptz, account text, debit text, credit text,
			  amount numeric, currency text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT * FROM credits.journal_rows($1, $2)
$$;
COMMENT ON FUNCTION credits_journal(timestamptz, timestamptz) IS
	'double-entry lines over (from_at, to_at] between the ledger accounts cash, deferred_revenue, revenue, breakage and refunds, in time order: sales, spends and captures (reversals the opposite), expiries, voids and resets, clawbacks; the balance of deferred_revenue up to an instant is credits_liability''s cost basis then';

-- Owned by credits_owner and not for PUBLIC, like every function of the
-- extension (as in 85_distribute.sql: this serves ALTER EXTENSION UPDATE,
-- which replays no part of 90_privileges.sql but its grants).
DO $$
BEGIN
	IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'credits_owner'::pg_catalog.name) THEN
		ALTER FUNCTION credits.finance_account(text) OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits.finance_account(text) FROM PUBLIC;
		ALTER FUNCTION credits.finance_lines(timestamptz, timestamptz) OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits.finance_lines(timestamptz, timestamptz) FROM PUBLIC;
		ALTER FUNCTION credits.revenue_rows(timestamptz, timestamptz) OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits.revenue_rows(timestamptz, timestamptz) FROM PUBLIC;
		ALTER FUNCTION credits.journal_rows(timestamptz, timestamptz) OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits.journal_rows(timestamptz, timestamptz) FROM PUBLIC;
		ALTER FUNCTION credits_revenue(timestamptz, timestamptz) OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits_revenue(timestamptz, timestamptz) FROM PUBLIC;
		ALTER FUNCTION credits_journal(timestamptz, timestamptz) OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits_journal(timestamptz, timestamptz) FROM PUBLIC;
	END IF;
END
$$;
