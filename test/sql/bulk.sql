-- Set-based movements: credits_grant_many and the batched credits_expire
-- write exactly what the per-account functions write.
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never
SET credits.notify = off;

-- Two twins of every account: "bulk-" ones moved by the set-based functions,
-- "one-" ones by the per-account functions; their histories must match.
CREATE FUNCTION pg_temp.history_of(acc text) RETURNS text LANGUAGE sql AS $$
	SELECT string_agg(format('%s %s %s %s', kind, amount, running_balance, coalesce(reason, '-')), '; ')
	FROM credits_history(acc)
$$;

-- Accounts with a lot about to expire, and a low-balance threshold.
SELECT count(credits_grant(p || i, 5, expires_at => clock_timestamp() + interval '1 s', reason => 'short'))
FROM unnest(ARRAY['bulk-', 'one-']) p, generate_series(1, 3) i;
SELECT count(credits_set_low_balance(p || '2', 8)) FROM unnest(ARRAY['bulk-', 'one-']) p;
SELECT pg_sleep(1.1);

-- The same grant to a list (bulk-1 twice; bulk-4 is new) and one by one.
SELECT credits_grant_many(ARRAY['bulk-3', 'bulk-1', 'bulk-2', 'bulk-1', 'bulk-4'], 10,
						  expires_at => now() + interval '1 day', reason => 'promo') AS lots;
SELECT count(credits_grant(a, 10, expires_at => now() + interval '1 day', reason => 'promo'))
FROM unnest(ARRAY['one-1', 'one-1', 'one-2', 'one-3', 'one-4']) a;
SELECT i, pg_temp.history_of('bulk-' || i) = pg_temp.history_of('one-' || i) AS same_history,
	   pg_temp.history_of('bulk-' || i) AS history
FROM generate_series(1, 4) i;

-- Spends bring bulk-2 and one-2 below their threshold, then to nothing.
SELECT credits_spend(p || '2', 3) > 0 FROM unnest(ARRAY['bulk-', 'one-']) p;
SELECT credits_spend(p || '2', 7) > 0 FROM unnest(ARRAY['bulk-', 'one-']) p;

-- Due lots in several accounts, several per account, expired in one go
-- (batched, set-based) against account by account (a spend records them).
SELECT count(credits_grant(p || i, j, expires_at => clock_timestamp() + interval '1 s', reason => 'batch'))
FROM unnest(ARRAY['bulk-', 'one-']) p, generate_series(1, 4) i, generate_series(1, 3) j;
SELECT count(credits_set_low_balance(p || '3', 12)) FROM unnest(ARRAY['bulk-', 'one-']) p;
SELECT pg_sleep(1.1);
-- The one- twins record their due expirations one account at a time (a
-- grant records them first), then credits_expire() takes the bulk- ones.
SELECT count(credits_grant('one-' || i, 1, reason => 'after')) FROM generate_series(1, 4) i;
SELECT count(*) AS lots_still_due FROM credits.lot WHERE is_open AND expires_at <= now();
SELECT credits_expire() AS expired_in_bulk;
SELECT count(credits_grant('bulk-' || i, 1, reason => 'after')) FROM generate_series(1, 4) i;
SELECT i, pg_temp.history_of('bulk-' || i) = pg_temp.history_of('one-' || i) AS same_history
FROM generate_series(1, 4) i;
SELECT pg_temp.history_of('bulk-3') AS bulk_3;

-- The same events, in the same order per account.
SELECT p, string_agg(type, ', ' ORDER BY id) AS events
FROM (SELECT substr(account, 1, strpos(account, '-')) AS p, type, id FROM credits.event
	  WHERE account IN ('bulk-3', 'one-3')) e
GROUP BY p ORDER BY p;
SELECT count(*) AS expire_events_with_lot FROM credits.event
WHERE type = 'account.credits.expired' AND payload->>'lot_id' IS NOT NULL;

-- Nothing left to expire; a second run changes nothing.
SELECT credits_fingerprint() AS before \gset
SELECT credits_expire() AS again;
SELECT credits_fingerprint() = :'before' AS unchanged;

-- Bad arguments of credits_grant_many change nothing.
\set VERBOSITY sqlstate
SELECT credits_grant_many(NULL, 1);
SELECT credits_grant_many(ARRAY['x'], NULL);
SELECT credits_grant_many(ARRAY['x'], 1, NULL);
SELECT credits_grant_many(ARRAY['x', NULL], 1);
SELECT credits_grant_many(ARRAY['x', ''], 1);
SELECT credits_grant_many(ARRAY['x'], 0);
SELECT credits_grant_many(ARRAY['x'], '1.5');
SELECT credits_grant_many(ARRAY['x'], 1, 'NOPE');
SELECT credits_grant_many(ARRAY['x'], 1, expires_at => now());
SELECT credits_grant_many(ARRAY['x'], 1, expires_at => 'infinity');
SELECT credits_grant_many(ARRAY['x'], 1, expires_at => '-infinity');
\set VERBOSITY default
SELECT credits_grant_many(ARRAY['x', NULL], 1);
SELECT credits_fingerprint() = :'before' AS unchanged;
SELECT credits_grant_many(ARRAY[]::text[], 1) AS no_accounts;

-- Long runs report progress (every 100,000 by default).
SET credits.progress_every = 1000;
SELECT credits_grant_many(array_agg('many-' || i), 1, expires_at => clock_timestamp() + interval '1 s')
	AS lots FROM generate_series(1, 2500) i;
SELECT count(*) AS accounts, sum(balance) AS credits FROM credits.account WHERE account LIKE 'many-%';
SELECT pg_sleep(1.1);
SELECT credits_expire() AS expired;
RESET credits.progress_every;

SELECT * FROM credits_verify();
DROP EXTENSION credits;
