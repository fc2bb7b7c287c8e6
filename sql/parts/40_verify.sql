/*
 * credits_verify(): every invariant the ledger relies on, checked from the
 * tables themselves.  No rows means the ledger is consistent.
 */
CREATE FUNCTION credits_verify()
RETURNS TABLE(check_name text, account text, detail text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
DECLARE
	f record;
BEGIN
	PERFORM credits.check_access(NULL, 'agency');
	-- The account's balance is the sum of its lots' remainders.
	RETURN QUERY
	SELECT 'account_balance_matches_lots', a.account,
		   format('type %s: account balance %s, lots hold %s', a.credit_type,
				  a.balance, coalesce(l.total, 0))
	FROM credits.account a
	LEFT JOIN (SELECT x.account, x.credit_type, sum(x.remaining) AS total
			   FROM credits.lot x GROUP BY 1, 2) l
		ON l.account = a.account AND l.credit_type = a.credit_type
	WHERE a.balance <> coalesce(l.total, 0);

	-- Lots belong to an account row.
	RETURN QUERY
	SELECT 'lot_has_account', l.account,
		   format('lot %s of type %s has no account row', l.lot_id, l.credit_type)
	FROM credits.lot l
	WHERE NOT EXISTS (SELECT 1 FROM credits.account a
					  WHERE a.account = l.account AND a.credit_type = l.credit_type);

	-- No balance below zero.
	RETURN QUERY
	SELECT 'balance_not_negative', a.account,
		   format('type %s: balance %s, held %s', a.credit_type, a.balance, a.held)
	FROM credits.account a
	WHERE a.balance < 0 OR a.held < 0;

	-- Entries are numbered 1..last_seq without gaps.
	RETURN QUERY
	SELECT 'entries_numbered', a.account,
		   format('type %s: last_seq %s, %s entries, highest seq %s', a.credit_type,
				  a.last_seq, coalesce(e.n, 0), coalesce(e.hi, 0))
	FROM credits.account a
	LEFT JOIN (SELECT x.account, x.credit_type, count(*) AS n, max(x.seq) AS hi
			   FROM credits.entry x GROUP BY 1, 2) e
		ON e.account = a.account AND e.credit_type = a.credit_type
	WHERE coalesce(e.n, 0) <> a.last_seq OR coalesce(e.hi, 0) <> a.last_seq;

	-- Each running balance is the previous one plus "in" or minus "out", and
	-- no entry is dated before the one numbered ahead of it (one pass).
	-- (The entries at fault first, then their details: distributed, the
	-- first part runs on the shards and only what it finds comes back.)
	RETURN QUERY
	WITH c AS MATERIALIZED (
		SELECT w.* FROM (
			SELECT e.account, e.credit_type, e.entry_id, e.kind, e.amount,
				   e.running_balance, e.at,
				   coalesce(lag(e.running_balance) OVER w, 0) AS prev,
				   lag(e.at) OVER w AS prev_at
			FROM credits.entry e
			WINDOW w AS (PARTITION BY e.account, e.credit_type ORDER BY e.seq)) w
		WHERE w.running_balance <> CASE credits.direction(w.kind) WHEN 'in' THEN w.prev + w.amount
									ELSE w.prev - w.amount END
		   OR w.at < w.prev_at)
	SELECT v.check_name, c.account, v.detail
	FROM c,
		 LATERAL (VALUES
			('running_balance_chain',
			 CASE WHEN c.running_balance <> CASE credits.direction(c.kind)
												WHEN 'in' THEN c.prev + c.amount
												ELSE c.prev - c.amount END
			 THEN format('type %s: entry %s (%s %s) has running balance %s after %s',
						 c.credit_type, c.entry_id, c.kind, c.amount,
						 c.running_balance, c.prev) END),
			('entry_time_order',
			 CASE WHEN c.at < c.prev_at
			 THEN format('type %s: entry %s (%s) is dated %s, before the entry ahead of it (%s)',
						 c.credit_type, c.entry_id, c.kind, c.at, c.prev_at) END)
		 ) v(check_name, detail)
	WHERE v.detail IS NOT NULL;

	-- The latest running balance is the account's balance, and the latest
	-- entry is no later than the account's last_at (later entries are dated
	-- from it).
	RETURN QUERY
	WITH x AS MATERIALIZED (
		SELECT a.account, a.credit_type, a.balance, a.last_at, e.running_balance, e.at
		FROM credits.account a
		JOIN credits.entry e
			ON e.account = a.account AND e.credit_type = a.credit_type
		   AND e.seq = a.last_seq
		WHERE e.running_balance <> a.balance OR a.last_at IS NULL OR a.last_at < e.at)
	SELECT v.check_name, x.account, v.detail
	FROM x,
		 LATERAL (VALUES
			('latest_running_balance',
			 CASE WHEN x.running_balance <> x.balance
			 THEN format('type %s: latest running balance %s, balance %s',
						 x.credit_type, x.running_balance, x.balance) END),
			('last_at_bound',
			 CASE WHEN x.last_at IS NULL OR x.last_at < x.at
			 THEN format('type %s: last_at %s, but the latest entry is dated %s',
						 x.credit_type, coalesce(x.last_at::text, 'NULL'), x.at) END)
		 ) v(check_name, detail)
	WHERE v.detail IS NOT NULL;

	-- A lot's remainder stays within 0..amount and is_open mirrors it.
	RETURN QUERY
	SELECT 'lot_remaining_in_bounds', l.account,
		   format('lot %s: amount %s, remaining %s, open %s', l.lot_id, l.amount,
				  l.remaining, l.is_open)
	FROM credits.lot l
	WHERE l.remaining < 0 OR l.remaining > l.amount
	   OR l.is_open <> (l.remaining > 0);

	-- Each lot has exactly one origin, of its amount: its grant entry, or
	-- the allocation of the transfer_in entry that brought its credits.
	RETURN QUERY
	SELECT 'lot_granted_once', l.account,
		   format('lot %s of %s: %s grant or transfer entries totalling %s', l.lot_id,
				  l.amount, count(o.entry_id), sum(o.amount))
	FROM credits.lot l
	LEFT JOIN (
		SELECT e.account, e.lot_id, e.entry_id, e.amount
		FROM credits.entry e
		WHERE e.kind = 'grant'
		UNION ALL
		SELECT al.account, al.lot_id, al.entry_id, al.amount
		FROM credits.allocation al
		JOIN credits.entry e ON e.account = al.account AND e.entry_id = al.entry_id
		WHERE e.kind = 'transfer_in') o
		ON o.account = l.account AND o.lot_id = l.lot_id
	GROUP BY l.account, l.lot_id, l.amount
	HAVING count(o.entry_id) <> 1 OR sum(o.amount) <> l.amount;

	-- A lot's remainder is its origin plus every movement into it, minus
	-- every movement out of it, as history records them.
	RETURN QUERY
	SELECT 'lot_matches_history', l.account,
		   format('lot %s: remaining %s, history gives %s', l.lot_id, l.remaining,
				  l.amount + coalesce(m.net, 0))
	FROM credits.lot l
	LEFT JOIN (
		SELECT x.account, x.lot_id, sum(x.signed) AS net FROM (
			SELECT e.account, e.lot_id,
				   CASE credits.direction(e.kind) WHEN 'in' THEN e.amount ELSE -e.amount END AS signed
			FROM credits.entry e
			WHERE e.lot_id IS NOT NULL AND e.kind <> 'grant'
			UNION ALL
			SELECT al.account, al.lot_id,
				   CASE credits.direction(e.kind) WHEN 'in' THEN al.amount ELSE -al.amount END
			FROM credits.allocation al
			JOIN credits.entry e ON e.account = al.account AND e.entry_id = al.entry_id
			WHERE e.kind <> 'transfer_in'
		) x GROUP BY 1, 2) m
		ON m.account = l.account AND m.lot_id = l.lot_id
	WHERE l.remaining <> l.amount + coalesce(m.net, 0);

	-- A multi-lot entry's allocations add up to its amount.
	RETURN QUERY
	SELECT 'allocations_sum_to_entry', e.account,
		   format('entry %s (%s %s): allocations total %s', e.entry_id, e.kind,
				  e.amount, coalesce(sum(al.amount), 0))
	FROM credits.entry e
	LEFT JOIN credits.allocation al
		ON al.account = e.account AND al.entry_id = e.entry_id
	WHERE e.lot_id IS NULL
	GROUP BY e.account, e.entry_id, e.kind, e.amount
	HAVING coalesce(sum(al.amount), 0) <> e.amount;

	-- Allocations belong to an entry and a lot of the same account and type.
	RETURN QUERY
	SELECT 'allocation_links', al.account,
		   format('allocation of entry %s to lot %s has no matching entry or lot',
				  al.entry_id, al.lot_id)
	FROM credits.allocation al
	LEFT JOIN credits.entry e ON e.account = al.account AND e.entry_id = al.entry_id
	LEFT JOIN credits.lot l ON l.account = al.account AND l.lot_id = al.lot_id
	WHERE e.entry_id IS NULL OR l.lot_id IS NULL OR e.credit_type <> l.credit_type;

	-- next_expiry never lies after an open lot's expiry (it is a lower bound).
	RETURN QUERY
	SELECT 'next_expiry_bound', a.account,
		   format('type %s: next_expiry %s, but lot %s expires %s', a.credit_type,
				  a.next_expiry, l.lot_id, l.expires_at)
	FROM credits.account a
	JOIN credits.lot l ON l.account = a.account AND l.credit_type = a.credit_type
	WHERE l.is_open AND l.expires_at IS NOT NULL
	  AND (a.next_expiry IS NULL OR a.next_expiry > l.expires_at);

	-- Checks of later features live beside them, as functions
	-- credits.verify_<area>() returning the same columns.
	FOR f IN
		SELECT p.oid::regprocedure AS fn
		FROM pg_proc p
		WHERE p.pronamespace = 'credits'::regnamespace
		  AND p.proname LIKE 'verify\_%' AND p.pronargs = 0
		ORDER BY p.proname
	LOOP
		RETURN QUERY EXECUTE format('SELECT * FROM %s', f.fn);
	END LOOP;
END
$$;
COMMENT ON FUNCTION credits_verify() IS
	'checks every ledger invariant; no rows means the ledger is consistent';

-- No amount is finer than its credit type's scale: lots, entries, accounts,
-- allocations, holds, rules, packages, subscriptions, credit requests and
-- issued invoices (a scale never changes while any of them exists).
CREATE FUNCTION credits.verify_scale()
RETURNS TABLE(check_name text, account text, detail text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
BEGIN
	RETURN QUERY
	WITH amounts(account, credit_type, what, amount) AS (
		SELECT l.account, l.credit_type, format('lot %s: amount', l.lot_id), l.amount
		FROM credits.lot l
		UNION ALL
		SELECT l.account, l.credit_type, format('lot %s: remaining', l.lot_id), l.remaining
		FROM credits.lot l
		UNION ALL
		SELECT e.account, e.credit_type, format('entry %s (%s): amount', e.entry_id, e.kind), e.amount
		FROM credits.entry e
		UNION ALL
		SELECT e.account, e.credit_type, format('entry %s (%s): running balance', e.entry_id, e.kind),
			   e.running_balance
		FROM credits.entry e
		UNION ALL
		SELECT e.account, e.credit_type, format('entry %s (%s): shortfall', e.entry_id, e.kind),
			   e.shortfall
		FROM credits.entry e WHERE e.shortfall IS NOT NULL
		UNION ALL
		SELECT al.account, l.credit_type, format('allocation of entry %s to lot %s', al.entry_id, al.lot_id),
			   al.amount
		FROM credits.allocation al
		JOIN credits.lot l ON l.account = al.account AND l.lot_id = al.lot_id
		UNION ALL
		SELECT a.account, a.credit_type, 'account balance', a.balance FROM credits.account a
		UNION ALL
		SELECT a.account, a.credit_type, 'account held', a.held FROM credits.account a
		UNION ALL
		SELECT h.account, h.credit_type, format('hold %s: amount', h.hold_id), h.amount
		FROM credits.hold h
		UNION ALL
		SELECT h.account, h.credit_type, format('hold %s: captured', h.hold_id), h.captured
		FROM credits.hold h
		UNION ALL
		SELECT NULL, r.credit_type, format('rule %s: credits', r.rule_id), r.credits
		FROM credits.rule r
		UNION ALL
		SELECT NULL, p.credit_type, format('package %s: credits', p.name), p.credits
		FROM credits.package p
		UNION ALL
		SELECT s.account, s.credit_type, format('subscription %s: %s', s.subscription_id,
			   CASE WHEN s.service IS NULL THEN 'credits' ELSE 'price' END),
			   coalesce(s.credits, s.price)
		FROM credits.subscription s
		UNION ALL
		SELECT q.account, q.credit_type, format('credit request %s: credits', q.request_id), q.credits
		FROM credits.request q
		UNION ALL
		SELECT i.account, i.credit_type, format('invoice %s: %s', i.reference, x.what), x.amount
		FROM credits.issue i
		CROSS JOIN LATERAL (VALUES ('credits', i.credits), ('deducted', i.deducted),
								   ('shortfall', i.shortfall)) x(what, amount)
		WHERE x.amount IS NOT NULL
	)
	SELECT 'amount_within_scale', a.account,
		   format('type %s (scale %s): %s is %s', a.credit_type, t.scale, a.what, a.amount)
	FROM amounts a
	JOIN credits.credit_types t ON t.code = a.credit_type
	WHERE a.amount::numeric <> trunc(a.amount::numeric, t.scale);
END
$$;
REVOKE ALL ON FUNCTION credits.verify_scale() FROM PUBLIC;

-- A digest of everything the ledger holds: every row of every table of the
-- extension, in a fixed order.  Equal digests mean identical ledgers:
-- compare a restored database with its source, or the ledger before and
-- after a call that failed.
CREATE FUNCTION credits_fingerprint()
RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
DECLARE
	t regclass;
	part text;
	parts text := '';
BEGIN
	PERFORM credits.check_access(NULL, 'agency');
	FOR t IN
		SELECT c.oid FROM pg_class c
		WHERE c.relnamespace = 'credits'::regnamespace AND c.relkind = 'r'
		ORDER BY c.relname
	LOOP
		EXECUTE format('SELECT md5(coalesce(string_agg(x::text, %L ORDER BY x::text), %L)) FROM %s x',
					   E'\n', '', t)
			INTO part;
		parts := parts || t::text || ':' || part || E'\n';
	END LOOP;
	RETURN md5(parts);
END
$$;
COMMENT ON FUNCTION credits_fingerprint() IS
	'a digest of the whole ledger: equal digests mean identical ledgers';

