-- Expiry: balances never count expired credits, recorded or not; spends
-- record due expirations first; credits_expire() records the rest once.
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never

-- Lots that expire in a moment (expiry must be in the future when granted).
SELECT credits_grant('e-1', 10, expires_at => clock_timestamp() + interval '1500 ms', reason => 'short') > 0;
SELECT credits_grant('e-1', 20, expires_at => now() + interval '1 day', reason => 'day') > 0;
SELECT credits_grant('e-1', 5, reason => 'forever') > 0;
SELECT credits_grant('e-2', 7, expires_at => clock_timestamp() + interval '1500 ms') > 0;
SELECT credits_grant('e-3', 8, expires_at => clock_timestamp() + interval '1500 ms') > 0;
SELECT now() AS before_expiry \gset
SELECT credits_balance('e-1') AS e1, credits_balance('e-2') AS e2, credits_balance('e-3') AS e3;
-- Projected balances: at a future instant, lots expired by then are gone.
SELECT credits_balance('e-1', at => now() + interval '2 days') AS e1_in_2_days;
SELECT pg_sleep(1.6);
SELECT now() AS after_expiry \gset

-- Nothing recorded yet, but the balance already leaves the expired lot out.
SELECT count(*) AS expire_entries FROM credits.entry WHERE kind = 'expire';
SELECT credits_balance('e-1') AS e1, credits_balance('e-2') AS e2, credits_balance('e-3') AS e3;
-- ... and so does the balance as it was a moment ago, from history.
SELECT credits_balance('e-1', at => :'before_expiry') AS e1_before,
	   credits_balance('e-1', at => :'after_expiry') AS e1_after;

-- A spend records the due expiration first, then spends from what is left:
-- so 25 of the 25 remaining credits can be spent, not 35.
\set VERBOSITY sqlstate
SELECT credits_spend('e-1', 26);
\set VERBOSITY default
SELECT credits_spend('e-1', 26);
SELECT credits_spend('e-1', 21, 'order-1') > 0 AS spent;
SELECT kind, direction, amount, running_balance, reference, reason FROM credits_history('e-1');

-- credits_expire() records the other due lots, once.  as_of is an instant,
-- not later than now: neither infinity (22023).
\set VERBOSITY sqlstate
SELECT credits_expire(now() + interval '1 hour');
SELECT credits_expire('infinity');
SELECT credits_expire('-infinity');
SELECT credits_expire(NULL);
\set VERBOSITY default
SELECT credits_expire('-infinity');
SELECT credits_expire() AS expired_lots;
SELECT credits_expire() AS expired_again;
SELECT account, kind, amount, running_balance FROM credits.entry
WHERE kind = 'expire' ORDER BY account;
SELECT credits_balance('e-2') AS e2, credits_balance('e-3') AS e3;
SELECT lot_id IS NOT NULL AS has_lot, remaining, is_open FROM credits.lot
WHERE account IN ('e-2', 'e-3');
-- The balance in the past still answers from history, before and after.
SELECT credits_balance('e-2', at => :'before_expiry') AS e2_before,
	   credits_balance('e-2', at => :'after_expiry') AS e2_after;

-- as_of in the past expires only lots due by then.
SELECT clock_timestamp() + interval '1 s' AS first_due, clock_timestamp() + interval '2 s' AS between_them,
	   clock_timestamp() + interval '3 s' AS second_due \gset
SELECT credits_grant('e-4', 4, expires_at => :'first_due') > 0;
SELECT credits_grant('e-4', 6, expires_at => :'second_due') > 0;
SELECT pg_sleep(3.1);
SELECT credits_expire(:'between_them') AS expired_by_then;
SELECT credits_balance('e-4');
SELECT credits_expire() AS expired_now;
SELECT kind, amount, running_balance FROM credits_history('e-4');

-- Balances before the account existed are 0; unknown accounts have 0.
SELECT credits_balance('e-4', at => '2000-01-01');
SELECT credits_balance('nobody');
\set VERBOSITY sqlstate
SELECT credits_balance('e-4', 'NOPE');
-- The balance is at an instant: not at infinity (22023).
SELECT credits_balance('e-4', at => 'infinity');
SELECT credits_balance('e-4', at => '-infinity');
\set VERBOSITY default
SELECT credits_balance('e-4', at => 'infinity');

-- One account whose expiry fails does not stop the others: it is reported
-- (WARNING) and left for the next run.  (Here a trigger makes every write
-- of the account fail.)
CREATE FUNCTION pg_temp.refuse_x2() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.account = 'x-2' THEN
		RAISE EXCEPTION 'account x-2 is broken';
	END IF;
	RETURN NEW;
END
$$;
SELECT credits_grant(a, 5, expires_at => clock_timestamp() + interval '1 s') > 0
FROM (VALUES ('x-1'), ('x-2'), ('x-3')) v(a);
SELECT pg_sleep(1.1);
CREATE TRIGGER refuse_x2 BEFORE INSERT ON credits.entry
	FOR EACH ROW EXECUTE FUNCTION pg_temp.refuse_x2();
SELECT credits_expire() AS expired_but_x2;
SELECT account, kind, amount FROM credits.entry WHERE account LIKE 'x-%' ORDER BY account, seq;
SELECT * FROM credits_run_due();
DROP TRIGGER refuse_x2 ON credits.entry;
SELECT credits_expire() AS expired_x2;
SELECT credits_expire() AS expired_again;

-- Historical balances follow the history step by step.
SELECT credits_grant('h-1', 100) > 0;
SELECT now() AS t1 \gset
SELECT credits_spend('h-1', 30) > 0;
SELECT now() AS t2 \gset
SELECT credits_grant('h-1', 5) > 0;
SELECT now() AS t3 \gset
SELECT credits_balance('h-1', at => :'t1') AS at_t1, credits_balance('h-1', at => :'t2') AS at_t2,
	   credits_balance('h-1', at => :'t3') AS at_t3, credits_balance('h-1') AS now;

-- A historical balance stays exact when the grants of the lots expired by
-- then add up to more than a credit_amount holds: four lots of 3e12, each
-- granted once the one before expired (the balance never passes 3e12 + 1).
SELECT credits_grant('h-big', 1) > 0;
SELECT credits_grant('h-big', 3000000000000, expires_at => clock_timestamp() + interval '30 ms') > 0 AS g1, pg_sleep(0.06);
SELECT credits_grant('h-big', 3000000000000, expires_at => clock_timestamp() + interval '30 ms') > 0 AS g2, pg_sleep(0.06);
SELECT credits_grant('h-big', 3000000000000, expires_at => clock_timestamp() + interval '30 ms') > 0 AS g3, pg_sleep(0.06);
SELECT credits_grant('h-big', 3000000000000, expires_at => clock_timestamp() + interval '30 ms') > 0 AS g4, pg_sleep(0.06);
SELECT credits_grant('h-big', 1) > 0;
SELECT count(*) AS big_grants, count(*) FILTER (WHERE credits_balance('h-big', at => at) = 3000000000001) AS each_held,
	   count(*) FILTER (WHERE credits_balance('h-big', at => at + interval '40 ms') = 1) AS each_expired
FROM credits_history('h-big') WHERE kind = 'grant' AND amount = 3000000000000;
SELECT credits_balance('h-big') AS h_big_now;

-- Keyset pages of a history, oldest or newest first.
SELECT credits_grant('p-1', 1000) > 0;
SELECT count(credits_spend('p-1', 1, 'page-' || i)) FROM generate_series(1, 12) i;
SELECT string_agg(reference, ',') AS first_page FROM credits_history_page('p-1', max_rows => 5);
SELECT entry_id AS fifth FROM credits_history_page('p-1', max_rows => 5) OFFSET 4 \gset
SELECT string_agg(reference, ',') AS second_page FROM credits_history_page('p-1', after_entry_id => :fifth, max_rows => 5);
SELECT string_agg(reference, ',') AS newest FROM credits_history_page('p-1', max_rows => 3, newest_first => true);
SELECT string_agg(reference, ',') AS before_fifth FROM credits_history_page('p-1', after_entry_id => :fifth, newest_first => true);
\set VERBOSITY sqlstate
SELECT * FROM credits_history_page('p-1', after_entry_id => -1);
SELECT * FROM credits_history_page('p-1', max_rows => 0);
\set VERBOSITY default

SELECT * FROM credits_verify();
DROP EXTENSION credits;
