-- Holds: credits reserved at once from specific lots, then captured (all or
-- part) or released, once
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never

\i test/sql/include/error_of.psql

\i test/sql/include/lots_of.psql
CREATE FUNCTION pg_temp.held(acc text) RETURNS text LANGUAGE sql AS $$
	SELECT held::text FROM credits.account WHERE account = acc AND credit_type = 'CRD'
$$;

-- A hold takes credits from lots soonest-expiring first: they leave the
-- available balance at once.
SELECT now() + interval '10 days' AS d10, now() + interval '30 days' AS d30 \gset
SELECT credits_grant('h-1', 10, reason => 'forever') > 0;
SELECT credits_grant('h-1', 10, expires_at => :'d30', reason => 'thirty-days') > 0;
SELECT credits_grant('h-1', 10, expires_at => :'d10', reason => 'ten-days') > 0;
SELECT credits_hold('h-1', 15, 'invoice-1') AS hold1 \gset
SELECT credits_balance('h-1'), pg_temp.held('h-1');
SELECT entry_id AS hold1_entry FROM credits.entry WHERE kind = 'hold' AND related_id = :hold1 \gset
SELECT pg_temp.lots_of(:hold1_entry) AS held_from;
SELECT account, credit_type, amount, captured, reference, status FROM credits_holds('h-1');
-- Spends cannot touch held credits.
\set VERBOSITY sqlstate
SELECT credits_spend('h-1', 16);
\set VERBOSITY default
-- Capture part: history records the release of the whole hold, then the
-- capture of the captured amount, from the hold's lots soonest-expiring
-- first; the rest is available again.
SELECT credits_capture(:hold1, 12) AS capture1 \gset
SELECT pg_temp.lots_of(:capture1) AS captured_from;
SELECT credits_balance('h-1'), pg_temp.held('h-1');
SELECT kind, direction, amount, running_balance, reference FROM credits_history('h-1');
SELECT reason, remaining FROM credits.lot WHERE account = 'h-1' ORDER BY lot_id;
SELECT amount, captured, status, closed_at IS NOT NULL AS closed FROM credits_holds('h-1');

-- Capture all (amount omitted), and release.
SELECT credits_grant('h-2', 50, reason => 'a') > 0;
SELECT credits_hold('h-2', 20, 'invoice-2') AS hold2 \gset
SELECT credits_hold('h-2', 25, 'invoice-3') AS hold3 \gset
SELECT credits_balance('h-2'), pg_temp.held('h-2');
SELECT credits_capture(:hold2) > 0 AS captured;
SELECT credits_release(:hold3);
SELECT credits_balance('h-2'), pg_temp.held('h-2');
SELECT kind, direction, amount, running_balance, reference FROM credits_history('h-2');
SELECT reference, amount, captured, status FROM credits_holds('h-2');
SELECT reference, status FROM credits_holds(status => 'released');

-- A hold is captured or released once: CR005.  Capturing more than held is
-- 22023.  Not enough available for a hold is CR001.  Unknown holds 42704.
-- Nothing changes.
SELECT credits_hold('h-2', 10, 'invoice-4') AS hold4 \gset
SELECT credits_fingerprint() AS before \gset
SELECT pg_temp.error_of(format('SELECT credits_capture(%s)', :hold2), :hold2) AS capture_twice;
SELECT pg_temp.error_of(format('SELECT credits_release(%s)', :hold3), :hold3) AS release_twice;
SELECT pg_temp.error_of(format('SELECT credits_capture(%s, 11)', :hold4), :hold4) AS too_much;
SELECT credits_hold('h-2', 21, 'invoice-5');
SELECT credits_hold('nobody', 1, 'invoice-6');
SELECT credits_capture(-1);
SELECT credits_release(-1);
SELECT credits_capture(:hold4, 0);
\set VERBOSITY sqlstate
SELECT credits_capture(:hold2);
SELECT credits_capture(:hold2, 1);
SELECT credits_release(:hold2);
SELECT credits_capture(:hold3);
SELECT credits_release(:hold3);
SELECT credits_capture(:hold4, 11);
SELECT credits_capture(:hold4, 0);
SELECT credits_capture(:hold4, -1);
SELECT credits_capture(:hold4, '0.5');
SELECT credits_hold('h-2', 21, 'invoice-5');
SELECT credits_hold('nobody', 1, 'invoice-6');
SELECT credits_hold('h-2', 0, 'invoice-7');
SELECT credits_hold('h-2', '1.5', 'invoice-7');
SELECT credits_hold('h-2', 1, 'invoice-7', credit_type => 'NOPE');
SELECT credits_hold(NULL, 1, 'invoice-7');
SELECT credits_hold('h-2', NULL, 'invoice-7');
SELECT credits_hold('h-2', 1, NULL);
SELECT credits_hold('h-2', 1, 'invoice-7', credit_type => NULL);
SELECT credits_hold('', 1, 'invoice-7');
SELECT credits_capture(NULL);
SELECT credits_release(NULL);
SELECT credits_capture(-1);
SELECT credits_release(-1);
\set VERBOSITY default
SELECT credits_fingerprint() = :'before' AS unchanged;
SELECT credits_capture(:hold4, 10) > 0 AS exactly_the_hold;

-- A hold on a lot that expires before capture: the hold keeps its credits
-- (they were reserved while valid), the capture takes them from the hold's
-- lots soonest-expiring first, and what is released into the expired lot
-- expires at once.
SELECT credits_grant('h-3', 6, expires_at => clock_timestamp() + interval '1 s', reason => 'short') > 0;
SELECT credits_grant('h-3', 20, reason => 'long') > 0;
SELECT credits_hold('h-3', 10, 'invoice-8') AS hold8 \gset
SELECT credits_hold('h-3', 4, 'invoice-9') AS hold9 \gset
SELECT entry_id AS hold8_entry FROM credits.entry WHERE kind = 'hold' AND related_id = :hold8 \gset
SELECT pg_temp.lots_of(:hold8_entry) AS held_from;
SELECT pg_sleep(1.2);
SELECT credits_capture(:hold8, 3) AS capture8 \gset
SELECT pg_temp.lots_of(:capture8) AS captured_from;
SELECT credits_balance('h-3'), pg_temp.held('h-3');
SELECT kind, direction, amount, running_balance, reference FROM credits_history('h-3');
-- Released, the credits of a lot that expired meanwhile expire at once.
SELECT credits_grant('h-4', 5, expires_at => clock_timestamp() + interval '1 s', reason => 'short') > 0;
SELECT credits_grant('h-4', 5, reason => 'long') > 0;
SELECT credits_hold('h-4', 8, 'invoice-10') AS hold10 \gset
SELECT pg_sleep(1.2);
SELECT credits_release(:hold10);
SELECT credits_balance('h-4'), pg_temp.held('h-4');
SELECT kind, direction, amount, running_balance, reference FROM credits_history('h-4');
-- Released, the credits of a lot voided meanwhile are voided at once.
SELECT credits_grant('h-5', 5, reason => 'promo') AS promo \gset
SELECT credits_grant('h-5', 5, reason => 'paid') > 0;
SELECT credits_hold('h-5', 7, 'invoice-11') AS hold11 \gset
SELECT credits_void(:promo, 'promo withdrawn');
SELECT credits_release(:hold11);
SELECT credits_balance('h-5');
SELECT kind, direction, amount, running_balance, reference, reason FROM credits_history('h-5');

-- While credits are disabled: holding and capturing (paying) raise CR002;
-- releasing always works.
SELECT credits_grant('h-6', 30, reason => 'a') > 0;
SELECT credits_hold('h-6', 10, 'invoice-12') AS hold12 \gset
SELECT credits_hold('h-6', 10, 'invoice-13') AS hold13 \gset
SELECT credits_set_enabled(false);
SELECT credits_hold('h-6', 5, 'invoice-14');
\set VERBOSITY sqlstate
SELECT credits_hold('h-6', 5, 'invoice-14');
SELECT credits_capture(:hold12);
\set VERBOSITY default
SELECT credits_release(:hold13);
SELECT credits_set_enabled(true);
SELECT credits_capture(:hold12) > 0 AS captured_after_switching_on;
SELECT credits_balance('h-6'), pg_temp.held('h-6');

-- Holds in a fractional credit type.
SELECT credits_define_type('USD', 'Account credit', 2, 'USD');
SELECT credits_grant('h-7', '10.00', credit_type => 'USD', reason => 'usd') > 0;
SELECT credits_hold('h-7', '7.25', 'invoice-15', credit_type => 'USD') AS hold15 \gset
SELECT credits_balance('h-7', 'USD'), credits_balance('h-7');
SELECT credits_capture(:hold15, '7.20') > 0;
SELECT credits_balance('h-7', 'USD');
\set VERBOSITY sqlstate
SELECT credits_hold('h-7', '0.001', 'invoice-16', credit_type => 'USD');
\set VERBOSITY default
SELECT kind, direction, amount, running_balance FROM credits_history('h-7', 'USD');

-- Idempotency: a hold repeated with its key and the same arguments returns
-- the first hold and holds nothing more, even once that hold is closed;
-- amounts compare by value ('7.50' is 7.5).
SELECT credits_grant('h-8', '20.00', credit_type => 'USD') > 0;
SELECT credits_hold('h-8', '7.50', 'invoice-17', 'USD', 'hold-1') AS hold17 \gset
SELECT credits_fingerprint() AS before \gset
SELECT credits_hold('h-8', '7.5', 'invoice-17', 'USD', idempotency_key => 'hold-1') = :hold17 AS same_hold;
SET TimeZone = 'Pacific/Auckland';
SELECT credits_hold(account => 'h-8', amount => '7.5', reference => 'invoice-17',
					credit_type => 'USD', idempotency_key => 'hold-1') = :hold17 AS same_hold;
RESET TimeZone;
SELECT credits_fingerprint() = :'before' AS unchanged;
SELECT credits_capture(:hold17) > 0 AS captured;
SELECT credits_hold('h-8', '7.50', 'invoice-17', 'USD', 'hold-1') = :hold17 AS same_hold_after_capture;
SELECT balance AS "20 - 7.50", held FROM credits.account WHERE account = 'h-8' AND credit_type = 'USD';
-- ... other arguments or another operation with the key: CR003; a failed
-- hold (CR001) uses no key.
SELECT credits_fingerprint() AS before \gset
\set VERBOSITY sqlstate
SELECT credits_hold('h-8', '7.51', 'invoice-17', 'USD', 'hold-1');
SELECT credits_hold('h-8', '7.50', 'invoice-18', 'USD', 'hold-1');
SELECT credits_hold('h-8', 7, 'invoice-17', idempotency_key => 'hold-1');
SELECT credits_spend('h-8', '7.50', 'invoice-17', 'USD', 'hold-1');
SELECT * FROM credits_pay('h-8', 7.50, 'USD', 'invoice-17', credit_type => 'USD', idempotency_key => 'hold-1');
SELECT credits_hold('h-8', 100, 'invoice-19', 'USD', 'hold-2');
SELECT credits_hold('nobody', 1, 'invoice-19', idempotency_key => 'hold-3');
\set VERBOSITY default
SELECT credits_hold('h-8', '7.51', 'invoice-17', 'USD', 'hold-1');
SELECT credits_fingerprint() = :'before' AS unchanged;
SELECT credits_hold('h-8', 10, 'invoice-19', 'USD', 'hold-2') > :hold17 AS new_hold;

-- A role without grants may not hold (42501).
CREATE ROLE holds_nobody_test;
SET ROLE holds_nobody_test;
\set VERBOSITY sqlstate
SELECT credits_hold('h-8', 1, 'invoice-20', 'USD', 'hold-4');
\set VERBOSITY default
RESET ROLE;
DROP ROLE holds_nobody_test;

SELECT * FROM credits_verify();
DROP EXTENSION credits;
