-- bench/scaling_setup.sql: the scaling part's database (psql variables
-- accounts, big_lots, big_entries, history_n, history_real).
--   acct-1 .. acct-N  fresh accounts, two lots each (as in setup.sql);
--   big    :big_lots lots of 1,000 credits granted through credits_grant,
--          whose expiries are spread so that lot id order is not spend
--          order, then a history of :big_entries spends of 1, which empty
--          the first lots in spend order;
--   hist   one lot and a history of :history_n spends of 1;
--   small  one lot and 99 spends through credits_spend: 100 entries.
-- The histories of big and hist are the rows credits_spend writes (entry,
-- allocation, lot, account; the outbox events are left out), inserted
-- set-based, so that building them does not depend on the speed of the
-- spends being measured; with history_real they go through credits_spend
-- (20 per transaction), which takes minutes.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET credits.notify = off;
SET synchronous_commit = off;
CREATE EXTENSION IF NOT EXISTS credits;
SELECT set_config('bench.big_lots', :'big_lots', false),
	   set_config('bench.big_entries', :'big_entries', false),
	   set_config('bench.history_n', :'history_n', false);

SELECT count(credits_grant('acct-' || i, 1000000, expires_at => now() + interval '1 year'))
	 + count(credits_grant('acct-' || i, 1000000))
FROM generate_series(1, :accounts) i;

DO $$
DECLARE
	n int := current_setting('bench.big_lots')::int;
BEGIN
	FOR i IN 1..n LOOP
		PERFORM credits_grant('big', 1000, expires_at => now() + interval '30 days'
							  + ((i::bigint * 7919) % n) * interval '1 minute');
		IF i % 100 = 0 THEN COMMIT; END IF;
	END LOOP;
END
$$;

\if :history_real
DO $$
DECLARE
	n int := current_setting('bench.big_entries')::int;
BEGIN
	FOR i IN 1..n LOOP
		PERFORM credits_spend('big', 1, 'history');
		IF i % 20 = 0 THEN COMMIT; END IF;
	END LOOP;
END
$$;
\else
BEGIN;
CREATE TEMP TABLE big_order ON COMMIT DROP AS
SELECT lot_id, row_number() OVER (ORDER BY expires_at, granted_at, lot_id) AS k
FROM credits.lot WHERE account = 'big' AND credit_type = 'CRD';
SELECT last_seq AS big_seq, balance AS big_balance FROM credits.account
WHERE account = 'big' AND credit_type = 'CRD' \gset
WITH e AS (
	INSERT INTO credits.entry (account, credit_type, seq, kind, amount, running_balance, reference)
	SELECT 'big', 'CRD', :big_seq + i, 'spend', 1, :big_balance - i, 'history'
	FROM generate_series(1, :big_entries) i ORDER BY i
	RETURNING entry_id, seq)
INSERT INTO credits.allocation (account, entry_id, lot_id, amount)
SELECT 'big', e.entry_id, o.lot_id, 1
FROM e JOIN big_order o ON o.k = (e.seq - :big_seq - 1) / 1000 + 1;
UPDATE credits.lot l SET remaining = l.remaining - t.taken, is_open = l.remaining > t.taken
FROM (SELECT lot_id, count(*) AS taken FROM credits.allocation WHERE account = 'big' GROUP BY lot_id) t
WHERE l.account = 'big' AND l.lot_id = t.lot_id;
UPDATE credits.account SET balance = balance - :big_entries, last_seq = last_seq + :big_entries,
	last_at = greatest(last_at, now())
WHERE account = 'big' AND credit_type = 'CRD';
COMMIT;
\endif

SELECT credits_grant('hist', 1000000000);
\if :history_real
DO $$
DECLARE
	n int := current_setting('bench.history_n')::int;
BEGIN
	FOR i IN 1..n LOOP
		PERFORM credits_spend('hist', 1, 'history');
		IF i % 20 = 0 THEN COMMIT; END IF;
	END LOOP;
END
$$;
\else
BEGIN;
WITH l AS (SELECT lot_id FROM credits.lot WHERE account = 'hist'),
e AS (
	INSERT INTO credits.entry (account, credit_type, seq, kind, amount, running_balance, reference)
	SELECT 'hist', 'CRD', 1 + i, 'spend', 1, 1000000000 - i, 'history'
	FROM generate_series(1, :history_n) i ORDER BY i
	RETURNING entry_id)
INSERT INTO credits.allocation (account, entry_id, lot_id, amount)
SELECT 'hist', e.entry_id, l.lot_id, 1 FROM e, l;
UPDATE credits.lot SET remaining = remaining - :history_n, is_open = remaining > :history_n
WHERE account = 'hist';
UPDATE credits.account SET balance = balance - :history_n, last_seq = last_seq + :history_n,
	last_at = greatest(last_at, now())
WHERE account = 'hist' AND credit_type = 'CRD';
COMMIT;
\endif

SELECT credits_grant('small', 1000000);
DO $$
BEGIN
	FOR i IN 1..99 LOOP
		PERFORM credits_spend('small', 1, 'history');
		COMMIT;
	END LOOP;
END
$$;

VACUUM ANALYZE;
CHECKPOINT;
