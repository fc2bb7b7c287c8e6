-- The indexes the hot paths and the reports rely on, shown by the plans of
-- the statements they run (sequential scans disabled so that the plan does
-- not depend on how small the test tables are).
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never
SET enable_seqscan = off;
SET enable_bitmapscan = off;

-- A spend: the first open lot in spend order that any service may use,
-- one index range, no sort.
EXPLAIN (COSTS OFF)
SELECT lot_id FROM credits.lot
WHERE account = 'c-42' AND credit_type = 'CRD' AND is_open AND applies_to IS NULL
ORDER BY priority, expires_at, granted_at, lot_id LIMIT 1;

-- The account row (lock, balance).
EXPLAIN (COSTS OFF)
SELECT balance FROM credits.account WHERE account = 'c-42' AND credit_type = 'CRD';

-- A lot or an entry by its id alone (void, reverse, history pages).
EXPLAIN (COSTS OFF) SELECT * FROM credits.lot WHERE lot_id = 7;
EXPLAIN (COSTS OFF) SELECT * FROM credits.entry WHERE entry_id = 7;

-- A keyset page of a history.
EXPLAIN (COSTS OFF)
SELECT * FROM credits.entry
WHERE account = 'c-42' AND credit_type = 'CRD' AND seq > 1000
ORDER BY seq LIMIT 50;

-- The outbox, paged by id.
EXPLAIN (COSTS OFF)
SELECT * FROM credits.event WHERE id > 12345 ORDER BY id LIMIT 1000;

-- Due expirations of one account (a spend records them first) and the
-- next one to come.  (The index gives the lots by expiry; PostgreSQL 17
-- and later finish the order with an incremental sort, 15 with a sort:
-- the same plan for this test.)
SET enable_incremental_sort = off;
EXPLAIN (COSTS OFF)
SELECT lot_id, remaining FROM credits.lot
WHERE account = 'c-42' AND credit_type = 'CRD' AND is_open AND expires_at <= now()
ORDER BY expires_at, granted_at, lot_id;
RESET enable_incremental_sort;
EXPLAIN (COSTS OFF)
SELECT expires_at FROM credits.lot
WHERE account = 'c-42' AND credit_type = 'CRD' AND is_open AND expires_at IS NOT NULL
ORDER BY expires_at LIMIT 1;

-- Due expirations across accounts, and credits expiring soon.
EXPLAIN (COSTS OFF)
SELECT DISTINCT account, credit_type FROM credits.lot WHERE is_open AND expires_at <= now();
EXPLAIN (COSTS OFF)
SELECT * FROM credits.lot
WHERE is_open AND expires_at > now() AND expires_at <= now() + interval '30 days';

-- Usage over a period: the BRIN index on the entry time.
RESET enable_bitmapscan;
EXPLAIN (COSTS OFF)
SELECT account, credit_type, kind, amount FROM credits.entry
WHERE at >= '2026-01-01' AND at < '2026-02-01';

-- A spend for a service on an account with restricted lots: the first lots
-- in spend order that any service may use, merged with the first of those
-- restricted to the service (their filter runs on the account's restricted
-- lots only), each read in index order and stopped at the limit.  These
-- are the statements of src/ledger.c (LOTS_IN_SCOPE) and src/scope.c as
-- kept plans run them (generic), and the rows they read.  sv-1 has 300
-- open lots any service may use, 3 restricted to "ai" (one also to
-- "search"), 2 to "video".
SET enable_bitmapscan = off;
SELECT count(credits_grant('sv-1', 1, expires_at => now() + i * interval '1 day'))
FROM generate_series(1, 300) i;
SELECT credits_grant('sv-1', 5, applies_to => ARRAY['ai'], priority => -1) > 0,
	   credits_grant('sv-1', 5, applies_to => ARRAY['ai', 'search']) > 0,
	   credits_grant('sv-1', 5, applies_to => ARRAY['ai'], expires_at => now() + interval '2 days') > 0,
	   credits_grant('sv-1', 5, applies_to => ARRAY['video']) > 0,
	   credits_grant('sv-1', 5, applies_to => ARRAY['video'], priority => -2) > 0;
ANALYZE credits.lot;
SET plan_cache_mode = force_generic_plan;
PREPARE lots_in_scope(text, text, text, int) AS
SELECT lot_id, remaining FROM (
	(SELECT lot_id, remaining, priority, expires_at, granted_at
	 FROM credits.lot WHERE account = $1 AND credit_type = $2
	   AND is_open AND applies_to IS NULL
	 ORDER BY priority, expires_at, granted_at, lot_id LIMIT $4)
	UNION ALL
	(SELECT lot_id, remaining, priority, expires_at, granted_at
	 FROM credits.lot WHERE account = $1 AND credit_type = $2
	   AND is_open AND applies_to IS NOT NULL
	   AND ($3::text IS NULL OR $3 = ANY (applies_to))
	 ORDER BY priority, expires_at, granted_at, lot_id LIMIT $4)) s
ORDER BY priority, expires_at, granted_at, lot_id LIMIT $4;
-- A plan's nodes with their indexes and the rows they read, from EXPLAIN
-- ANALYZE in JSON (the text form differs between PostgreSQL versions).
CREATE FUNCTION pg_temp.plan_rows(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	j json;
BEGIN
	EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, FORMAT JSON) ' || q INTO j;
	RETURN QUERY
	WITH RECURSIVE n(node, path) AS (
		SELECT j->0->'Plan', ARRAY[0::bigint]
		UNION ALL
		SELECT c.value, n.path || c.ordinality
		FROM n, json_array_elements(n.node->'Plans') WITH ORDINALITY c)
	SELECT repeat('  ', cardinality(path) - 1) || (node->>'Node Type')
		   || coalesce(' using ' || (node->>'Index Name'), '')
		   || format(' (rows %s', round((node->>'Actual Rows')::numeric))
		   || coalesce(', ' || round((node->>'Rows Removed by Filter')::numeric) || ' removed by filter', '')
		   || ')'
	FROM n ORDER BY path;
END
$$;
-- The first lot (the one-statement take), then a batch of 16 (a spend
-- over several lots): 1 row, then 14 + 3, read of 305.
SELECT * FROM pg_temp.plan_rows($$EXECUTE lots_in_scope('sv-1', 'CRD', 'ai', 1)$$);
SELECT * FROM pg_temp.plan_rows($$EXECUTE lots_in_scope('sv-1', 'CRD', 'ai', 16)$$);
-- What the lots restricted to other services hold (what a spend without
-- a service, or for another service, may not take): the account's
-- restricted lots only.
PREPARE out_of_scope(text, text, text) AS
SELECT coalesce(sum(remaining), 0) FROM credits.lot
WHERE account = $1 AND credit_type = $2 AND is_open
AND applies_to IS NOT NULL AND ($3::text IS NULL OR NOT $3 = ANY (applies_to));
SELECT * FROM pg_temp.plan_rows($$EXECUTE out_of_scope('sv-1', 'CRD', 'ai')$$);
EXECUTE out_of_scope('sv-1', 'CRD', 'ai');
EXECUTE out_of_scope('sv-1', 'CRD', NULL);
RESET plan_cache_mode;
-- The spends themselves: 6 for "ai" takes the lot of priority -1, then the
-- first of the 300, which expires in 1 day, before the "ai" lot that
-- expires in 2; without a service, the next of the 300, never an "ai" lot.
SELECT credits_spend('sv-1', 6, service => 'ai') AS ai_spend,
	   credits_spend('sv-1', 1) AS plain_spend \gset
SELECT al.entry_id = :ai_spend AS for_ai, l.priority, l.applies_to,
	   l.expires_at - l.granted_at AS lasts, al.amount
FROM credits.allocation al JOIN credits.lot l USING (account, lot_id)
WHERE al.account = 'sv-1' ORDER BY al.entry_id, l.priority, l.expires_at, l.lot_id;

SELECT * FROM credits_verify();
DROP EXTENSION credits;
