-- The transactional outbox: an event for every movement, none for refused
-- or rolled-back work, paging in id order, pruning.
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never
SET credits.notify = off;

-- Events show once every older transaction has ended; an autovacuum's
-- ANALYZE can hold that back for a moment, so wait for it where it matters.
CREATE OR REPLACE FUNCTION settled() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..400 LOOP
		IF credits.event_horizon() > coalesce((SELECT max(id) FROM credits.event), 0) THEN
			RETURN true;
		END IF;
		PERFORM pg_sleep(0.05);
	END LOOP;
	RETURN false;
END
$$;

SELECT credits_grant('ev-1', 50, reference => 'INV-1', reason => 'package') > 0;
SELECT credits_set_low_balance('ev-1', 20);
SELECT credits_spend('ev-1', 20, 'ORD-1') > 0;   -- 30 left: above the threshold
SELECT credits_spend('ev-1', 15, 'ORD-2') > 0;   -- 15 left: crosses 20
SELECT credits_spend('ev-1', 15, 'ORD-3') > 0;   -- 0 left: depleted
SELECT credits_grant('ev-1', 5, expires_at => clock_timestamp() + interval '1 s') > 0;
SELECT pg_sleep(1.2);
SELECT credits_expire();

-- Types and payloads, in id order.
SELECT settled();
SELECT type, account, payload - 'entry_id' - 'lot_id' AS payload
FROM credits_events_since(0) ORDER BY event_id;

-- Ids increase in the order they are listed, and carry the entry ids.
SELECT bool_and(event_id > 0) AS positive_ids,
	   count(*) = count(DISTINCT event_id) AS distinct_ids
FROM credits_events_since(0);
SELECT count(*) AS spent_events_with_entry
FROM credits_events_since(0) e
JOIN credits_history('ev-1') h ON h.entry_id = (e.payload->>'entry_id')::bigint
WHERE e.type = 'account.credits.spent' AND h.kind = 'spend';

-- Paging with the last id seen returns the rest, nothing twice.
SELECT max(event_id) AS third FROM (SELECT event_id FROM credits_events_since(0, 3)) s \gset
SELECT count(*) AS rest FROM credits_events_since(:third);
SELECT count(*) AS first_three FROM credits_events_since(0, 3);
SELECT count(*) AS all_events FROM credits_events_since();

-- A refused or rolled-back operation emits nothing.
SELECT count(*) AS before FROM credits_events_since() \gset
SELECT credits_spend('ev-1', 1000);
BEGIN;
SELECT credits_grant('ev-1', 10) > 0;
ROLLBACK;
SELECT settled();
SELECT count(*) = :before AS no_new_events FROM credits_events_since();

-- An event is not shown while its own transaction is open (no transaction
-- that could still commit may hold an id below what a consumer has seen).
BEGIN;
SELECT credits_grant('ev-2', 10) > 0;
SELECT count(*) AS own_uncommitted_event_shown FROM credits_events_since() WHERE account = 'ev-2';
COMMIT;
SELECT settled();
SELECT count(*) AS shown_after_commit FROM credits_events_since() WHERE account = 'ev-2';

-- Thresholds: removing one stops low_balance events.
SELECT credits_set_low_balance('ev-2', NULL);
SELECT credits_spend('ev-2', 9) > 0;
SELECT settled();
SELECT type FROM credits_events_since() WHERE account = 'ev-2' ORDER BY event_id;

-- Bad arguments.
\set VERBOSITY sqlstate
SELECT * FROM credits_events_since(0, 0);
SELECT * FROM credits_events_since(NULL);
SELECT credits_set_low_balance('ev-2', 0);
SELECT credits_set_low_balance(NULL, 5);
SELECT credits_set_low_balance('ev-2', 5, 'NOPE');
SELECT credits_prune_events(NULL);
SELECT credits_prune_events(interval '-1 day');
\set VERBOSITY default

-- Pruning removes old events only.
SELECT credits_prune_events(interval '1 day') AS pruned_recent;
SELECT settled();
SELECT credits_prune_events(interval '0') > 0 AS pruned_all;
SELECT count(*) FROM credits_events_since();

-- The outbox has the columns Debezium's outbox event router reads.
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = 'credits.event'::regclass AND attnum > 0 AND NOT attisdropped
ORDER BY attnum;

SELECT * FROM credits_verify();
DROP EXTENSION credits;
DROP FUNCTION settled();
