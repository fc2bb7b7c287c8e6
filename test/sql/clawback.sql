-- credits_clawback: a refunded invoice's credits are deducted, first from
-- the lot it created, then soonest-expiring first, never below zero
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never

\i test/sql/include/error_of.psql

\i test/sql/include/lots_of.psql

SELECT credits_define_rule('pack', 100, 'add') > 0;
SELECT credits_define_rule('bundle', 50, 'add') > 0;

-- Part of the issued lot was spent: what is left of it goes first, the rest
-- comes from the other lots soonest-expiring first.
SELECT credits_grant('k-1', 40, reason => 'forever') > 0;
SELECT credits_issue('k-1', 'pack', 'inv-1') > 0;
SELECT credits_grant('k-1', 40, expires_at => now() + interval '10 days', reason => 'ten-days') > 0;
SELECT credits_spend('k-1', 110) AS spend \gset
SELECT pg_temp.lots_of(:spend) AS spent_from;
SELECT credits_grant('k-1', 20, reason => 'later-forever') > 0;
SELECT credits_grant('k-1', 20, expires_at => now() + interval '30 days', reason => 'thirty-days') > 0;
SELECT * FROM credits_clawback('inv-1');
SELECT entry_id AS claw FROM credits.entry WHERE account = 'k-1' AND kind = 'clawback' \gset
SELECT pg_temp.lots_of(:claw) AS deducted_from;
SELECT credits_balance('k-1');
SELECT kind, direction, amount, running_balance, reference FROM credits_history('k-1');

-- A second clawback of the same invoice deducts nothing: (0, 0).
SELECT credits_fingerprint() AS before \gset
SELECT * FROM credits_clawback('inv-1');
SELECT * FROM credits_clawback(reference => 'inv-1');
SELECT credits_fingerprint() = :'before' AS unchanged;

-- Clawback of an already-spent grant: the balance cannot cover it, so it
-- goes to zero and the rest is a shortfall, returned and recorded on the
-- entry.
SELECT credits_issue('k-2', 'pack', 'inv-2') > 0;
SELECT credits_grant('k-2', 5, reason => 'bonus') > 0;
SELECT credits_spend('k-2', 90) > 0;
SELECT * FROM credits_clawback('inv-2');
SELECT credits_balance('k-2');
SELECT kind, amount, running_balance, shortfall FROM credits.entry WHERE account = 'k-2' ORDER BY seq;
SELECT kind, direction, amount, running_balance, reference FROM credits_history('k-2');
-- Nothing left at all: the clawback deducts 0 and records the whole
-- shortfall.
SELECT credits_issue('k-3', 'bundle', 'inv-3') > 0;
SELECT credits_spend('k-3', 50) > 0;
SELECT * FROM credits_clawback('inv-3');
SELECT kind, amount, running_balance, shortfall FROM credits.entry WHERE account = 'k-3' ORDER BY seq;

-- The issued lot expired meanwhile: its expiry is recorded first, and the
-- clawback takes from the other lots.
SELECT credits_define_rule('trial', 10, 'add', expires_after => '1 second') > 0;
SELECT credits_grant('k-4', 25, reason => 'paid') > 0;
SELECT credits_issue('k-4', 'trial', 'inv-4') > 0;
SELECT pg_sleep(1.2);
SELECT * FROM credits_clawback('inv-4');
SELECT kind, direction, amount, running_balance, reference FROM credits_history('k-4');

-- Held credits are not available: the clawback leaves them held.
SELECT credits_issue('k-5', 'pack', 'inv-5') > 0;
SELECT credits_hold('k-5', 60, 'order-5') AS hold5 \gset
SELECT * FROM credits_clawback('inv-5');
SELECT credits_balance('k-5'), (SELECT held FROM credits.account WHERE account = 'k-5');
SELECT credits_capture(:hold5) > 0 AS captured;
SELECT credits_balance('k-5');

-- A reset issue clawed back: the forfeited balance stays forfeited.
SELECT credits_define_rule('plan', 30, 'reset') > 0;
SELECT credits_grant('k-6', 12) > 0;
SELECT credits_issue('k-6', 'plan', 'inv-6') > 0;
SELECT * FROM credits_clawback('inv-6');
SELECT kind, amount, running_balance, reference FROM credits_history('k-6');

-- Clawbacks (refunds) work while credits are disabled.
SELECT credits_issue('k-7', 'bundle', 'inv-7') > 0;
SELECT credits_set_enabled(false);
SELECT * FROM credits_clawback('inv-7');
SELECT credits_set_enabled(true);

-- An invoice that never issued credits: 42704; NULL: 22004.  Nothing
-- changes.
SELECT credits_fingerprint() AS before \gset
SELECT * FROM credits_clawback('inv-404');
\set VERBOSITY sqlstate
SELECT * FROM credits_clawback('inv-404');
SELECT * FROM credits_clawback(NULL);
\set VERBOSITY default
SELECT credits_fingerprint() = :'before' AS unchanged;

-- What each invoice issued and what its clawback deducted.
SELECT reference, account, credits, deducted, shortfall, clawed_back_at IS NOT NULL AS clawed_back
FROM credits.issue ORDER BY reference;

SELECT * FROM credits_verify();
DROP EXTENSION credits;
