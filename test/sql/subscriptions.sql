-- Subscriptions: credits granted (or a service paid) every period, each
-- period exactly once, by credits_run_due()
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never

\i test/sql/include/error_of.psql

-- A subscription that starts now grants at once.
BEGIN;
SELECT credits_subscribe('s-1', 100, '1 month') AS sub1 \gset
SELECT credits_balance('s-1');
SELECT account, credit_type, credits, every, mode, status, periods, next_renewal_at = now() + interval '1 month' AS next_in_a_month
FROM credits_subscriptions('s-1');
COMMIT;
-- Nothing else is due yet.
SELECT * FROM credits_run_due();
-- as_of selects what is due: the period starting in a month is renewed now,
-- once, however often the run is repeated.
SELECT * FROM credits_run_due(now() + interval '1 month');
SELECT * FROM credits_run_due(now() + interval '1 month');
SELECT credits_balance('s-1');
-- A run that fell behind catches up every missed period, each once.
SELECT * FROM credits_run_due(now() + interval '3 months');
SELECT * FROM credits_run_due(now() + interval '3 months');
SELECT credits_balance('s-1'), periods FROM credits_subscriptions('s-1');
SELECT kind, direction, amount, running_balance, reason FROM credits_history('s-1');
SELECT period, outcome, starts_at = (SELECT starts_at FROM credits.subscription WHERE subscription_id = :sub1)
									 + interval '1 month' * period AS on_schedule
FROM credits.subscription_period WHERE subscription_id = :sub1 ORDER BY period;
-- Every effect is recorded at call time, whatever as_of says.
BEGIN;
SELECT * FROM credits_run_due(now() + interval '4 months');
SELECT bool_and(at = now()) AS recorded_now FROM credits.entry WHERE account = 's-1' AND seq = 5;
SELECT bool_and(processed_at = now()) AS processed_now FROM credits.subscription_period WHERE period = 4;
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
SELECT * FROM credits_run_due(now() + interval '1 week');
SELECT kind, direction, amount, running_balance, reason FROM credits_history('s-2');
SELECT credits_cancel_subscription(:sub2);

-- A subscription that starts later grants nothing until its start.
SELECT now() + interval '10 days' AS later \gset
SELECT credits_subscribe('s-3', 5, '1 day', starts_at => :'later') AS sub3 \gset
SELECT credits_balance('s-3'), periods FROM credits_subscriptions('s-3');
SELECT * FROM credits_run_due(:'later'::timestamptz - interval '1 second');
SELECT * FROM credits_run_due(:'later');
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

-- A service bought with credits: the first period is paid at checkout.
SELECT credits_grant('s-6', 25) > 0;
SELECT credits_subscribe_service('s-6', 'newsletter', 10, '1 month') AS sub6 \gset
SELECT credits_balance('s-6'), status, periods FROM credits_subscriptions('s-6');
SELECT * FROM credits_run_due(now() + interval '1 month');
SELECT credits_balance('s-6'), status FROM credits_subscriptions('s-6');
-- A renewal the balance cannot pay spends nothing and marks it past_due.
SELECT * FROM credits_run_due(now() + interval '2 months');
SELECT credits_balance('s-6'), status FROM credits_subscriptions('s-6');
SELECT * FROM credits_run_due(now() + interval '2 months');
-- The next period that can be paid makes it active again.
SELECT credits_grant('s-6', 30) > 0;
SELECT * FROM credits_run_due(now() + interval '3 months');
SELECT credits_balance('s-6'), status, periods FROM credits_subscriptions('s-6');
SELECT kind, direction, amount, running_balance, reference, reason FROM credits_history('s-6');
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
SELECT * FROM credits_run_due(now() + interval '1 year');
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
SELECT * FROM credits_run_due(now() + interval '2 days');
SELECT account, periods FROM credits_subscriptions() WHERE subscription_id IN (:sub10, :sub11) ORDER BY account;
SELECT credits_set_enabled(true);
SELECT * FROM credits_run_due(now() + interval '2 days');
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

-- Bad input.  Nothing changes.
SELECT credits_fingerprint() AS before \gset
SELECT credits_subscribe('s-14', 10, '0');
SELECT credits_subscribe('s-14', 10, '1 month -1 day');
SELECT credits_subscribe('s-14', 10, '1 month', mode => 'double');
SELECT credits_subscribe('s-14', 10, '1 month', expires_after => '-1 day');
\set VERBOSITY sqlstate
SELECT credits_subscribe('s-14', 0, '1 month');
SELECT credits_subscribe('s-14', '0.5', '1 month');
SELECT credits_subscribe('s-14', 10, '0');
SELECT credits_subscribe('s-14', 10, '-1 day');
SELECT credits_subscribe('s-14', 10, '1 month', mode => 'double');
SELECT credits_subscribe('s-14', 10, '1 month', expires_after => '0');
SELECT credits_subscribe('s-14', 10, '1 month', credit_type => 'NOPE');
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
SELECT credits_subscribe_service('s-6', 'x', 1, '1 month', credit_type => 'NOPE');
SELECT credits_subscribe_service(NULL, 'x', 1, '1 month');
SELECT credits_subscribe_service('s-6', NULL, 1, '1 month');
SELECT credits_subscribe_service('s-6', 'x', NULL, '1 month');
SELECT credits_subscribe_service('s-6', 'x', 1, NULL);
SELECT credits_subscribe_service('s-6', 'x', 1, '1 month', starts_at => NULL);
SELECT * FROM credits_run_due(NULL);
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
