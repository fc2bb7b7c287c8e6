-- Subscriptions: credits granted (or a service paid) every period, each
-- period exactly once, by credits_run_due()
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never

\i test/sql/include/error_of.psql

-- Time passes in this test by moving a subscription's schedule back (its
-- start, and the start of its next period with it): what was due in a
-- month is due now.
CREATE FUNCTION pg_temp.backdate(sub bigint, by interval) RETURNS void LANGUAGE sql AS $$
	UPDATE credits.subscription SET starts_at = starts_at - by WHERE subscription_id = sub;
	UPDATE credits.subscription
	SET next_period_at = credits.period_start(starts_at, every, next_period, time_zone)
	WHERE subscription_id = sub;
$$;
-- The reference every movement of a period carries: subscription:<id>:<the
-- period's start in UTC, ISO 8601, microseconds only when there are any>.
CREATE FUNCTION pg_temp.period_reference(sub bigint, starts_at timestamptz) RETURNS text LANGUAGE sql AS $$
	SELECT format('subscription:%s:%s', sub,
				  to_char(starts_at AT TIME ZONE 'UTC',
						  CASE WHEN extract(microseconds FROM starts_at)::bigint % 1000000 = 0
							   THEN 'YYYY-MM-DD"T"HH24:MI:SS"Z"'
							   ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"' END))
$$;
-- Whether every movement of a subscription's periods carries its period's
-- reference (grants, resets and spends alike).
CREATE FUNCTION pg_temp.references_ok(sub bigint) RETURNS boolean LANGUAGE sql AS $$
	SELECT bool_and(e.reference = pg_temp.period_reference(sub, p.starts_at))
	FROM credits.subscription_period p
	JOIN credits.entry e ON e.account = p.account
		AND (e.entry_id = p.entry_id OR e.lot_id = p.lot_id
			 OR (e.kind = 'reset' AND e.reason = 'subscription period ' || p.period))
		AND e.kind IN ('grant', 'spend', 'reset')
	WHERE p.subscription_id = sub
$$;

-- A subscription that starts now grants at once.
BEGIN;
SELECT credits_subscribe('s-1', 100, '1 month') AS sub1 \gset
SELECT credits_balance('s-1');
SELECT account, credit_type, credits, every, mode, status, periods, next_renewal_at = now() + interval '1 month' AS next_in_a_month, failure
FROM credits_subscriptions('s-1');
COMMIT;
-- Nothing else is due yet.
SELECT * FROM credits_run_due();
-- Nothing renews early: as_of may not lie after now (22023), nor be
-- infinite.  Nothing changes.
SELECT credits_fingerprint() AS before \gset
\set VERBOSITY terse
SELECT * FROM credits_run_due(now() + interval '1 month');
SELECT * FROM credits_run_due(now() + interval '1 microsecond');
SELECT * FROM credits_run_due('infinity');
SELECT * FROM credits_run_due('-infinity');
\set VERBOSITY sqlstate
SELECT * FROM credits_run_due(now() + interval '3 months');
SELECT * FROM credits_run_due('infinity');
\set VERBOSITY default
SELECT credits_fingerprint() = :'before' AS unchanged;
-- A month later the period is due: renewed once, however often the run is
-- repeated.
SELECT pg_temp.backdate(:sub1, '1 month');
SELECT * FROM credits_run_due();
SELECT * FROM credits_run_due();
SELECT credits_balance('s-1');
-- A run that fell behind catches up every missed period, each once.
SELECT pg_temp.backdate(:sub1, '3 months');
SELECT * FROM credits_run_due();
SELECT * FROM credits_run_due();
SELECT credits_balance('s-1'), periods FROM credits_subscriptions('s-1');
SELECT kind, direction, amount, running_balance, reason FROM credits_history('s-1');
-- Every movement of a period has the reference subscription:<id>:<start>.
SELECT pg_temp.references_ok(:sub1) AS references_ok;
-- Every effect is recorded at call time, whatever the period's start.
SELECT pg_temp.backdate(:sub1, '1 month');
BEGIN;
SELECT * FROM credits_run_due();
SELECT bool_and(at >= now()) AS recorded_now FROM credits.entry WHERE account = 's-1' AND seq = 6;
SELECT bool_and(processed_at = now()) AS processed_now FROM credits.subscription_period WHERE subscription_id = :sub1 AND period = 5;
COMMIT;

-- Mode reset: each period replaces the unused balance; granted credits can
-- expire (expires_after counts from the grant).
SELECT credits_grant('s-2', 7, reason => 'bonus') > 0;
BEGIN;
SELECT credits_subscribe('s-2', 50, '1 week', mode => 'reset', expires_after => '10 days') AS sub2 \gset
SELECT expires_at = now() + interval '10 days' AS expires_in_10_days FROM credits.lot
WHERE account = 's-2' AND source = 'subscription';
COMMIT;
SELECT credits_spend('s-2', 20) > 0;
SELECT pg_temp.backdate(:sub2, '1 week');
SELECT * FROM credits_run_due();
SELECT kind, direction, amount, running_balance, reason FROM credits_history('s-2');
SELECT pg_temp.references_ok(:sub2) AS references_ok;
SELECT credits_cancel_subscription(:sub2);

-- A subscription that starts later grants nothing until its start; as_of
-- selects the periods that started by then.
SELECT now() + interval '10 days' AS later \gset
SELECT credits_subscribe('s-3', 5, '1 day', starts_at => :'later') AS sub3 \gset
SELECT credits_balance('s-3'), periods FROM credits_subscriptions('s-3');
SELECT * FROM credits_run_due();
SELECT pg_temp.backdate(:sub3, '10 days');
SELECT starts_at AS started FROM credits.subscription WHERE subscription_id = :sub3 \gset
SELECT * FROM credits_run_due(:'started'::timestamptz - interval '1 second');
SELECT * FROM credits_run_due(:'started');
SELECT credits_balance('s-3'), periods FROM credits_subscriptions('s-3');
SELECT credits_cancel_subscription(:sub3);
-- A subscription that started earlier catches up at once.
SELECT credits_subscribe('s-4', 5, '1 day', starts_at => now() - interval '2 days 1 hour') AS sub4 \gset
SELECT credits_balance('s-4'), periods FROM credits_subscriptions('s-4');
SELECT credits_cancel_subscription(:sub4);

-- Periods are calendar periods counted from the start in the subscriber's
-- time zone: a subscription that started on March 31 (two years ago: it
-- catches up at once) renewed on April 30, May 31, June 30, at the same
-- local time.
SELECT make_timestamptz(extract(year FROM now())::int - 2, 3, 31, 9, 0, 0) AS anchor \gset
SELECT credits_subscribe('s-5', 1, '1 month', starts_at => :'anchor') AS sub5 \gset
SELECT period, to_char(starts_at, 'YYYY-MM-DD HH24:MI') = to_char(:'anchor'::timestamptz, 'YYYY-') || dm AS on_schedule
FROM credits.subscription_period
JOIN (VALUES (0, '03-31 09:00'), (1, '04-30 09:00'), (2, '05-31 09:00'), (3, '06-30 09:00')) v(p, dm) ON p = period
WHERE subscription_id = :sub5 ORDER BY period;
SELECT credits_cancel_subscription(:sub5);

-- A time zone whose name is also an abbreviation (CET, EET, WET, MET) is
-- the zone, with its summer time, not the abbreviation's fixed offset: a
-- monthly subscription started on March 20 at 09:00 in CET renews on April
-- 20 at 09:00 in CEST, at the same local time.
-- (Where tzdata no longer ships the zone CET, as Debian 13 without
-- tzdata-legacy, no session can use it; Europe/Paris has its rules.)
SELECT EXISTS (SELECT FROM pg_timezone_names WHERE name = 'CET') AS has_cet,
	   EXISTS (SELECT FROM pg_timezone_names WHERE name = 'EET') AS has_eet \gset
\if :has_cet
SET TimeZone = 'CET';
\else
SET TimeZone = 'Europe/Paris';
\endif
SELECT make_timestamptz(extract(year FROM now())::int - 1, 3, 20, 9, 0, 0) AS cet_anchor \gset
SELECT credits_subscribe('s-cet', 1, '1 month', starts_at => :'cet_anchor') AS sub_cet \gset
SELECT period, to_char(starts_at, 'MM-DD HH24:MI TZ') AS local_start
FROM credits.subscription_period WHERE subscription_id = :sub_cet AND period < 8 ORDER BY period;
SELECT count(*) FILTER (WHERE to_char(starts_at, 'DD HH24:MI') <> '20 09:00') AS off_schedule
FROM credits.subscription_period WHERE subscription_id = :sub_cet;
SELECT to_char(next_renewal_at, 'DD HH24:MI') AS next_renewal FROM credits_subscriptions('s-cet');
SELECT credits_cancel_subscription(:sub_cet);
\if :has_eet
SET TimeZone = 'EET';
\else
SET TimeZone = 'Europe/Helsinki';
\endif
SELECT make_timestamptz(extract(year FROM now())::int - 1, 10, 1, 9, 0, 0) AS eet_anchor \gset
SELECT credits_subscribe('s-eet', 1, '1 month', starts_at => :'eet_anchor') AS sub_eet \gset
SELECT period, to_char(starts_at, 'MM-DD HH24:MI TZ') AS local_start
FROM credits.subscription_period WHERE subscription_id = :sub_eet AND period < 2 ORDER BY period;
SELECT credits_cancel_subscription(:sub_eet);
RESET TimeZone;

-- A service bought with credits: the first period is paid at checkout.  A
-- service subscription has no mode (it grants no credits).
SELECT credits_grant('s-6', 25) > 0;
SELECT credits_subscribe_service('s-6', 'newsletter', 10, '1 month') AS sub6 \gset
SELECT credits_balance('s-6'), service, mode, status, periods FROM credits_subscriptions('s-6');
SELECT pg_temp.backdate(:sub6, '1 month');
SELECT * FROM credits_run_due();
SELECT credits_balance('s-6'), status FROM credits_subscriptions('s-6');
-- A renewal the balance cannot pay spends nothing and marks it past_due.
SELECT pg_temp.backdate(:sub6, '1 month');
SELECT * FROM credits_run_due();
SELECT credits_balance('s-6'), status, failure FROM credits_subscriptions('s-6');
SELECT * FROM credits_run_due();
-- The next period that can be paid makes it active again.
SELECT credits_grant('s-6', 30) > 0;
SELECT pg_temp.backdate(:sub6, '1 month');
SELECT * FROM credits_run_due();
SELECT credits_balance('s-6'), status, periods FROM credits_subscriptions('s-6');
SELECT kind, direction, amount, running_balance, reference LIKE 'subscription:' || :sub6 || ':%' AS period_reference, reason
FROM credits_history('s-6');
SELECT pg_temp.references_ok(:sub6) AS references_ok;
SELECT period, outcome FROM credits.subscription_period WHERE subscription_id = :sub6 ORDER BY period;
-- Renewals and failures are in the outbox.
SELECT type, payload->>'period' AS period, payload->>'outcome' AS outcome, payload->>'account' AS account
FROM credits.event WHERE aggregatetype = 'subscription' AND aggregateid = :'sub6' ORDER BY id;
SELECT credits_cancel_subscription(:sub6);
-- Checkout that the balance cannot pay: CR001, and nothing is created.
SELECT credits_grant('s-7', 5) > 0;
SELECT credits_fingerprint() AS before \gset
SELECT credits_subscribe_service('s-7', 'newsletter', 10, '1 month');
SELECT credits_subscribe_service('s-8', 'newsletter', 10, '1 month');
SELECT credits_fingerprint() = :'before' AS unchanged;
-- A service starting later is still paid at checkout; it renews from its
-- start on.
SELECT credits_grant('s-9', 30) > 0;
BEGIN;
SELECT credits_subscribe_service('s-9', 'course', 10, '1 week', starts_at => now() + interval '3 days') AS sub9 \gset
SELECT credits_balance('s-9'), periods, next_renewal_at = now() + interval '10 days' AS renews_in_10_days
FROM credits_subscriptions('s-9');
COMMIT;
SELECT credits_cancel_subscription(:sub9);

-- Cancelling: no further renewals.  Twice: CR005.  Unknown: 42704.
SELECT credits_cancel_subscription(:sub1);
SELECT pg_temp.backdate(:sub1, '1 year');
SELECT * FROM credits_run_due();
SELECT status, periods, next_renewal_at, cancelled_at IS NOT NULL AS cancelled FROM credits_subscriptions('s-1');
SELECT count(*) AS active FROM credits_subscriptions() WHERE status <> 'cancelled';
SELECT pg_temp.error_of(format('SELECT credits_cancel_subscription(%s)', :sub1), :sub1) AS cancel_twice;
SELECT credits_cancel_subscription(-1);
\set VERBOSITY sqlstate
SELECT credits_cancel_subscription(:sub1);
SELECT credits_cancel_subscription(-1);
SELECT credits_cancel_subscription(NULL);
\set VERBOSITY default

-- While credits are disabled: buying a service is CR002; renewals of
-- services wait (they are processed, once, when credits are back on);
-- credit subscriptions keep granting.
SELECT credits_grant('s-10', 100) > 0;
SELECT credits_subscribe_service('s-10', 'hosting', 10, '1 day') AS sub10 \gset
SELECT credits_subscribe('s-11', 3, '1 day') AS sub11 \gset
SELECT credits_set_enabled(false);
SELECT credits_subscribe_service('s-10', 'hosting', 10, '1 day');
SELECT pg_temp.backdate(:sub10, '2 days'), pg_temp.backdate(:sub11, '2 days');
SELECT * FROM credits_run_due();
SELECT account, periods FROM credits_subscriptions() WHERE subscription_id IN (:sub10, :sub11) ORDER BY account;
SELECT credits_set_enabled(true);
SELECT * FROM credits_run_due();
SELECT account, periods FROM credits_subscriptions() WHERE subscription_id IN (:sub10, :sub11) ORDER BY account;
SELECT credits_balance('s-10'), credits_balance('s-11');
SELECT credits_cancel_subscription(:sub10);
SELECT credits_cancel_subscription(:sub11);

-- credits_run_due() also records due expirations (credits_expire()).
SELECT credits_grant('s-12', 4, expires_at => clock_timestamp() + interval '1 s') > 0;
SELECT credits_grant('s-13', 6, expires_at => clock_timestamp() + interval '1 s') > 0;
SELECT pg_sleep(1.2);
SELECT * FROM credits_run_due();
SELECT * FROM credits_run_due();
SELECT account, kind, amount, running_balance FROM credits.entry WHERE account IN ('s-12', 's-13') ORDER BY account, seq;

-- One subscription never stops the others.  Renewing 9,000,000,000,000
-- credits on top of as many overflows the balance (22003): that renewal is
-- rolled back, counted as failed, and marks its subscription past_due with
-- the error, once in the outbox; the subscription next to it renews.  The
-- failed period stays due: each run tries it again (and counts it), without
-- a new event, until it succeeds or is cancelled.
SELECT credits_subscribe('s-zz', 9000000000000, '1 day') AS subzz,
	   credits_subscribe('s-zn', 5, '1 day') AS subzn \gset
CREATE FUNCTION pg_temp.ledger_of(acc text) RETURNS text LANGUAGE sql AS $$
	SELECT md5(concat_ws('|',
		(SELECT string_agg(e::text, ',' ORDER BY e.entry_id) FROM credits.entry e WHERE e.account = acc),
		(SELECT string_agg(l::text, ',' ORDER BY l.lot_id) FROM credits.lot l WHERE l.account = acc),
		(SELECT string_agg(a::text, ',') FROM credits.account a WHERE a.account = acc),
		(SELECT string_agg(p::text, ',' ORDER BY p.period) FROM credits.subscription_period p WHERE p.account = acc)))
$$;
SELECT pg_temp.ledger_of('s-zz') AS zz_before \gset
SELECT pg_temp.backdate(:subzz, '1 day'), pg_temp.backdate(:subzn, '1 day');
SELECT * FROM credits_run_due();
SELECT account, status, periods, failure->>'period' AS failed_period, failure->>'sqlstate' AS sqlstate,
	   failure->>'message' AS message, (failure->>'period_starts_at')::timestamptz = next_renewal_at AS at_next_renewal
FROM credits_subscriptions() WHERE subscription_id IN (:subzz, :subzn) ORDER BY account;
SELECT credits_balance('s-zn'), pg_temp.ledger_of('s-zz') = :'zz_before' AS zz_ledger_unchanged;
SELECT * FROM credits_run_due();
SELECT type, payload->>'period' AS period, payload->>'outcome' AS outcome,
	   payload->>'sqlstate' AS sqlstate, payload->>'message' AS message
FROM credits.event WHERE aggregatetype = 'subscription' AND aggregateid IN (:'subzz', :'subzn') ORDER BY id;
SELECT pg_temp.ledger_of('s-zz') = :'zz_before' AS zz_ledger_unchanged;
SELECT credits_cancel_subscription(:subzz);
SELECT * FROM credits_run_due();
SELECT credits_cancel_subscription(:subzn);

-- A run catches up at most 1000 periods of a subscription; the next run
-- goes on (each period still once, in order).  Counted in UTC, so that a
-- change of summer time cannot move a minute.
SET TimeZone = 'UTC';
SELECT credits_subscribe('s-cu', 1, '1 minute') AS subcu \gset
SELECT starts_at AS cu_start FROM credits.subscription WHERE subscription_id = :subcu \gset
SELECT pg_temp.backdate(:subcu, '1200 minutes');
SELECT * FROM credits_run_due(:'cu_start');
SELECT * FROM credits_run_due(:'cu_start');
SELECT * FROM credits_run_due(:'cu_start');
SELECT credits_balance('s-cu'), periods FROM credits_subscriptions('s-cu');
SELECT credits_cancel_subscription(:subcu);
RESET TimeZone;

-- Bad input.  Nothing changes.
SELECT credits_fingerprint() AS before \gset
SELECT credits_subscribe('s-14', 10, '0');
SELECT credits_subscribe('s-14', 10, '1 month -1 day');
SELECT credits_subscribe('s-14', 10, '1 month', mode => 'double');
SELECT credits_subscribe('s-14', 10, '1 month', expires_after => '-1 day');
SELECT credits_subscribe('s-14', 10, '1 month', expires_after => '1 month -29 days');
SELECT credits_subscribe('s-14', 10, '1 month', starts_at => 'infinity');
SELECT credits_subscribe('s-14', 10, '1 month', starts_at => '-infinity');
SELECT credits_subscribe_service('s-6', 'x', 1, '1 month', starts_at => '-infinity');
SELECT credits_subscribe_service('s-6', 'x', 1, '1 day -1 hour');
-- A start so far back that more than 1000 periods have already started.
\set VERBOSITY terse
SELECT credits_subscribe('s-14', 10, '1 day', starts_at => now() - interval '1000 days');
SELECT credits_subscribe('s-14', 10, '1 second', starts_at => '4713-01-01 BC');
SELECT credits_subscribe_service('s-6', 'x', 1, '1 hour', starts_at => now() - interval '1 year');
\set VERBOSITY default
\set VERBOSITY sqlstate
SELECT credits_subscribe('s-14', 0, '1 month');
SELECT credits_subscribe('s-14', '0.5', '1 month');
SELECT credits_subscribe('s-14', 10, '0');
SELECT credits_subscribe('s-14', 10, '-1 day');
SELECT credits_subscribe('s-14', 10, '1 month -29 days');
SELECT credits_subscribe('s-14', 10, '-1 month 40 days');
SELECT credits_subscribe('s-14', 10, '1 day -1 second');
SELECT credits_subscribe('s-14', 10, '1 month', mode => 'double');
SELECT credits_subscribe('s-14', 10, '1 month', expires_after => '0');
SELECT credits_subscribe('s-14', 10, '1 month', expires_after => '1 month -29 days');
SELECT credits_subscribe('s-14', 10, '1 month', credit_type => 'NOPE');
SELECT credits_subscribe('s-14', 10, '1 month', starts_at => 'infinity');
SELECT credits_subscribe('s-14', 10, '1 month', starts_at => '-infinity');
SELECT credits_subscribe('s-14', 10, '1 day', starts_at => now() - interval '1000 days');
SELECT credits_subscribe('', 10, '1 month');
SELECT credits_subscribe(NULL, 10, '1 month');
SELECT credits_subscribe('s-14', NULL, '1 month');
SELECT credits_subscribe('s-14', 10, NULL);
SELECT credits_subscribe('s-14', 10, '1 month', mode => NULL);
SELECT credits_subscribe('s-14', 10, '1 month', credit_type => NULL);
SELECT credits_subscribe('s-14', 10, '1 month', starts_at => NULL);
SELECT credits_subscribe_service('s-6', 'x', 0, '1 month');
SELECT credits_subscribe_service('s-6', '', 1, '1 month');
SELECT credits_subscribe_service('s-6', 'x', 1, '0');
SELECT credits_subscribe_service('s-6', 'x', 1, '1 month -29 days');
SELECT credits_subscribe_service('s-6', 'x', 1, '1 month', credit_type => 'NOPE');
SELECT credits_subscribe_service('s-6', 'x', 1, '1 month', starts_at => 'infinity');
SELECT credits_subscribe_service('s-6', 'x', 1, '1 month', starts_at => '-infinity');
SELECT credits_subscribe_service('s-6', 'x', 1, '1 hour', starts_at => now() - interval '1 year');
SELECT credits_subscribe_service(NULL, 'x', 1, '1 month');
SELECT credits_subscribe_service('s-6', NULL, 1, '1 month');
SELECT credits_subscribe_service('s-6', 'x', NULL, '1 month');
SELECT credits_subscribe_service('s-6', 'x', 1, NULL);
SELECT credits_subscribe_service('s-6', 'x', 1, '1 month', starts_at => NULL);
SELECT * FROM credits_run_due(NULL);
SELECT * FROM credits_run_due('infinity');
SELECT * FROM credits_run_due('-infinity');
SELECT * FROM credits_run_due(now() + interval '1 second');
\set VERBOSITY default
SELECT credits_fingerprint() = :'before' AS unchanged;

-- "Each period exactly once" is a property of the schema: a period cannot
-- be recorded twice, and processed periods are never edited.
\set VERBOSITY sqlstate
INSERT INTO credits.subscription_period (account, subscription_id, period, starts_at, outcome, lot_id)
VALUES ('s-1', :sub1, 0, now(), 'granted', 1);
UPDATE credits.subscription_period SET outcome = 'failed' WHERE subscription_id = :sub6;
DELETE FROM credits.subscription_period;
\set VERBOSITY default

SELECT * FROM credits_verify();
DROP EXTENSION credits;
