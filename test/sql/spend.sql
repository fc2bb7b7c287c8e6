-- credits_spend: soonest-expiring first, all or nothing
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never

-- Lots granted in this order, labelled by reason:
--   A never expires; B expires in 30 days; C never expires (granted after A);
--   D expires in 10 days; E expires in 30 days (same instant as B, granted
--   later); F expires in 10 days, granted in the same transaction as G, which
--   also expires in 10 days (same grant time: lot id decides).
SELECT now() + interval '30 days' AS d30, now() + interval '10 days' AS d10 \gset
SELECT credits_grant('c-1', 10, reason => 'A') > 0;
SELECT credits_grant('c-1', 10, expires_at => :'d30', reason => 'B') > 0;
SELECT credits_grant('c-1', 10, reason => 'C') > 0;
SELECT credits_grant('c-1', 10, expires_at => :'d10', reason => 'D') > 0;
SELECT credits_grant('c-1', 10, expires_at => :'d30', reason => 'E') > 0;
BEGIN;
SELECT credits_grant('c-1', 10, expires_at => :'d10', reason => 'F') > 0;
SELECT credits_grant('c-1', 10, expires_at => :'d10', reason => 'G') > 0;
COMMIT;
SELECT credits_balance('c-1');

-- Spend 5 at a time and watch which lot each spend drew from:
-- D, F, G (10 days; D granted first, F before G by id), then B, E (30 days),
-- then A, C (never expiring, oldest first).
SELECT s, credits_spend('c-1', 5, 'order-' || s) > 0 AS spent FROM generate_series(1, 13) s;
SELECT e.reference, string_agg(l.reason || ':' || al.amount, ' ' ORDER BY al.lot_id) AS drawn_from
FROM credits.entry e
JOIN credits.allocation al ON al.account = e.account AND al.entry_id = e.entry_id
JOIN credits.lot l ON l.account = al.account AND l.lot_id = al.lot_id
WHERE e.account = 'c-1' AND e.kind = 'spend'
GROUP BY e.seq, e.reference ORDER BY e.seq;
SELECT credits_balance('c-1');

-- One spend across several lots takes each in order; the last one partly.
SELECT credits_grant('c-2', 3, expires_at => :'d10', reason => 'first') > 0;
SELECT credits_grant('c-2', 4, expires_at => :'d30', reason => 'second') > 0;
SELECT credits_grant('c-2', 100, reason => 'third') > 0;
SELECT credits_spend('c-2', 36, 'order-1001') AS spend_id \gset
SELECT l.reason, al.amount, l.remaining
FROM credits.allocation al JOIN credits.lot l ON l.account = al.account AND l.lot_id = al.lot_id
WHERE al.account = 'c-2' AND al.entry_id = :spend_id ORDER BY al.lot_id;
SELECT kind, direction, amount, running_balance, reference FROM credits_history('c-2');

-- Spending exactly the balance empties the account.
SELECT credits_spend('c-2', 71) > 0;
SELECT credits_balance('c-2');

-- More than the balance: CR001 naming available and required; nothing changes.
SELECT credits_grant('c-3', 30) > 0;
SELECT credits_fingerprint() AS before \gset
SELECT credits_spend('c-3', 36, 'order-1001');
SELECT credits_spend('nobody', 1);
\set VERBOSITY sqlstate
SELECT credits_spend('c-3', 36, 'order-1001');
SELECT credits_spend('nobody', 1);
SELECT credits_spend(NULL, 1);
SELECT credits_spend('c-3', NULL);
SELECT credits_spend('c-3', 1, credit_type => NULL);
SELECT credits_spend('c-3', 0);
SELECT credits_spend('c-3', -1);
SELECT credits_spend('c-3', '0.5');
SELECT credits_spend('c-3', 1, credit_type => 'NOPE');
SELECT credits_spend('', 1);
\set VERBOSITY default
SELECT credits_spend('c-3', 0);
SELECT credits_spend('c-3', '0.5');
SELECT credits_fingerprint() = :'before' AS unchanged;
SELECT credits_balance('c-3');

-- A failed spend inside the application's transaction, caught by a
-- savepoint, leaves nothing behind; the transaction goes on.
BEGIN;
SAVEPOINT s;
SELECT credits_spend('c-3', 31);
ROLLBACK TO SAVEPOINT s;
SELECT credits_spend('c-3', 30) > 0 AS spent;
COMMIT;
SELECT credits_balance('c-3');

-- Fractional types: scale is enforced; amounts stay exact.
SELECT credits_define_type('USD', 'Account credit', 2, 'USD');
SELECT credits_grant('c-4', '50.00', credit_type => 'USD') > 0;
SELECT credits_spend('c-4', '0.10', credit_type => 'USD') > 0;
SELECT credits_spend('c-4', '0.20', credit_type => 'USD') > 0;
SELECT credits_balance('c-4', 'USD');
\set VERBOSITY sqlstate
SELECT credits_spend('c-4', '0.001', credit_type => 'USD');
\set VERBOSITY default
-- A type's balance is separate from the others.
SELECT credits_balance('c-4'), credits_balance('c-4', 'USD');

-- Idempotency: a retried spend returns the first entry and spends once.
SELECT credits_grant('c-5', 100) > 0;
SELECT credits_spend('c-5', 36, 'order-7', idempotency_key => 'pay-7') AS first_entry \gset
SELECT credits_spend('c-5', 36, 'order-7', idempotency_key => 'pay-7') = :first_entry AS same_entry;
SELECT credits_balance('c-5');
\set VERBOSITY sqlstate
SELECT credits_spend('c-5', 37, 'order-7', idempotency_key => 'pay-7');
SELECT credits_spend('c-5', 36, 'order-8', idempotency_key => 'pay-7');
\set VERBOSITY default
-- The replay is answered even when the balance could no longer pay it.
SELECT credits_spend('c-5', 64) > 0;
SELECT credits_spend('c-5', 36, 'order-7', idempotency_key => 'pay-7') = :first_entry AS same_entry;
-- A key whose first call failed was not used.
SELECT credits_spend('c-5', 1, idempotency_key => 'pay-9');
SELECT count(*) FROM credits.idempotency WHERE account = 'c-5' AND idempotency_key = 'pay-9';

-- The agency switch: off refuses spending (CR002) but not grants or reads.
SELECT credits_grant('c-6', 10) > 0;
SELECT credits_set_enabled(false);
SELECT credits_enabled();
SELECT credits_spend('c-6', 1);
\set VERBOSITY sqlstate
SELECT credits_spend('c-6', 1);
\set VERBOSITY default
SELECT credits_grant('c-6', 5) > 0 AS grant_still_works;
SELECT credits_balance('c-6');
SELECT credits_set_enabled(true);
SELECT credits_spend('c-6', 15) > 0 AS spent;
SELECT credits_balance('c-6');

SELECT * FROM credits_verify();
DROP EXTENSION credits;
