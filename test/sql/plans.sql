-- The indexes the hot paths and the reports rely on, shown by the plans of
-- the statements they run (sequential scans disabled so that the plan does
-- not depend on how small the test tables are).
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never
SET enable_seqscan = off;
SET enable_bitmapscan = off;

-- A spend: the first open lot in spend order, one index range, no sort.
EXPLAIN (COSTS OFF)
SELECT lot_id FROM credits.lot
WHERE account = 'c-42' AND credit_type = 'CRD' AND is_open
ORDER BY expires_at, granted_at, lot_id LIMIT 1;

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

SELECT * FROM credits_verify();
DROP EXTENSION credits;
