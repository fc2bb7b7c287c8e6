-- credits_pay: paying an invoice in money with credits
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never

SELECT credits_set_rate('USD', 10) > 0;
SELECT credits_define_type('USDC', 'Account credit', 2, 'USD');

-- Paid in full: the invoice needs credits_convert(amount) credits.
SELECT credits_grant('c-1', 500) > 0;
SELECT * FROM credits_pay('c-1', 36.00, 'USD', 'inv-1');
SELECT * FROM credits_pay(account => 'c-1', amount => 3.51, currency => 'USD',
						  reference => 'inv-2');
SELECT credits_balance('c-1') AS "500 - 360 - 36";
-- The spend entries reference the invoices and say what they covered.
SELECT kind, amount, running_balance, reference, reason FROM credits_history('c-1');

-- All or nothing: not enough credits is CR001 naming available and
-- required, and nothing changes.
SELECT credits_fingerprint() AS before \gset
SELECT * FROM credits_pay('c-1', 15.00, 'USD', 'inv-3');
SELECT * FROM credits_pay('nobody', 1, 'USD', 'inv-4');
\set VERBOSITY sqlstate
SELECT * FROM credits_pay('c-1', 15.00, 'USD', 'inv-3');
SELECT * FROM credits_pay('c-1', 15.00, 'USD', 'inv-3', partial => false);
SELECT * FROM credits_pay('nobody', 1, 'USD', 'inv-4');
\set VERBOSITY default
SELECT credits_fingerprint() = :'before' AS unchanged;

-- Partial: the contract's example, 150.00 invoice and 50.00 of USD account
-- credit.
SELECT credits_grant('c-2', '50.00', 'USDC') > 0;
SELECT * FROM credits_pay('c-2', 150.00, 'USD', 'inv-10', partial => true, credit_type => 'USDC');
SELECT credits_balance('c-2', 'USDC');
-- Partial with enough credits pays in full: covered is the amount exactly.
SELECT credits_grant('c-2', '200.00', 'USDC') > 0;
SELECT * FROM credits_pay('c-2', 100.00, 'USD', 'inv-10', partial => true, credit_type => 'USDC');
SELECT credits_balance('c-2', 'USDC');
-- Nothing available: nothing applied, no entry, the whole amount due.
SELECT credits_grant('c-3', '1.00', 'USDC') > 0;
SELECT credits_spend('c-3', '1.00', credit_type => 'USDC') > 0;
SELECT credits_fingerprint() AS before \gset
SELECT * FROM credits_pay('c-3', 20.00, 'USD', 'inv-11', partial => true, credit_type => 'USDC');
SELECT * FROM credits_pay('nobody', 20.00, 'USD', 'inv-11', partial => true);
SELECT credits_fingerprint() = :'before' AS no_entry_written;

-- Covered money is rounded DOWN to the currency's minor unit, and only the
-- credits that amount costs are taken (rounded up, never more than
-- available): a remainder worth less than a cent stays on the account.
--   55 credits at 10/USD: 5.50 exactly.
SELECT credits_grant('c-4', 55) > 0;
SELECT * FROM credits_pay('c-4', 10.00, 'USD', 'inv-20', partial => true);
--   50 credits at 7/USD are worth 7.142857...: covers 7.14, which costs
--   49.98, rounded up to 50 credits.
SELECT credits_set_rate('CAD', 7) > 0;
SELECT credits_grant('c-5', 50) > 0;
SELECT * FROM credits_pay('c-5', 100.00, 'CAD', 'inv-21', partial => true);
SELECT credits_balance('c-5');
--   1005 credits at 1000/AUD are worth 1.005: covers 1.00 for 1000
--   credits; 5 credits (half a cent) stay.  3 credits cover nothing.
SELECT credits_set_rate('AUD', 1000) > 0;
SELECT credits_grant('c-6', 1005) > 0;
SELECT * FROM credits_pay('c-6', 5.00, 'AUD', 'inv-22', partial => true);
SELECT credits_balance('c-6');
SELECT credits_grant('c-7', 3) > 0;
SELECT * FROM credits_pay('c-7', 5.00, 'AUD', 'inv-23', partial => true);
SELECT credits_balance('c-7');

-- Minor units follow ISO 4217: JPY has none, KWD has three.
SELECT credits_set_rate('JPY', 0.07) > 0;
SELECT credits_grant('c-8', 25) > 0;
SELECT credits_convert(1000, 'JPY') AS needed;
SELECT * FROM credits_pay('c-8', 1000, 'JPY', 'inv-30', partial => true);
SELECT credits_set_rate('KWD', 33) > 0;
SELECT credits_grant('c-9', 10) > 0;
SELECT * FROM credits_pay('c-9', 1.000, 'KWD', 'inv-31', partial => true);
-- In full, the amount is covered exactly as given, whatever its digits.
SELECT credits_grant('c-10', 10) > 0;
SELECT * FROM credits_pay('c-10', 0.005, 'USD', 'inv-32');

-- A monetary type in another currency needs a rate.
SELECT credits_grant('c-11', '100.00', 'USDC') > 0;
SELECT * FROM credits_pay('c-11', 10.00, 'EUR', 'inv-40', credit_type => 'USDC');
SELECT credits_set_rate('EUR', 1.08, 'USDC') > 0;
SELECT * FROM credits_pay('c-11', 10.00, 'EUR', 'inv-40', credit_type => 'USDC');
SELECT * FROM credits_pay('c-11', 100.00, 'EUR', 'inv-41', true, 'USDC');

-- Soonest-expiring first, for full and partial payments alike.
SELECT credits_grant('c-12', 30, reason => 'never') > 0;
SELECT credits_grant('c-12', 30, expires_at => now() + interval '30 days', reason => '30 days') > 0;
SELECT credits_grant('c-12', 30, expires_at => now() + interval '10 days', reason => '10 days') > 0;
SELECT * FROM credits_pay('c-12', 4.00, 'USD', 'inv-50');
SELECT * FROM credits_pay('c-12', 10.00, 'USD', 'inv-51', partial => true);
SELECT e.reference, string_agg(l.reason || ':' || al.amount, ' ' ORDER BY al.lot_id) AS drawn_from
FROM credits.entry e
JOIN credits.allocation al ON al.account = e.account AND al.entry_id = e.entry_id
JOIN credits.lot l ON l.account = al.account AND l.lot_id = al.lot_id
WHERE e.account = 'c-12' AND e.kind = 'spend'
GROUP BY e.seq, e.reference ORDER BY e.seq;

-- Credits whose expiry is due are not available and are recorded as
-- expired before the payment.
SELECT credits_grant('c-13', 20, expires_at => clock_timestamp() + interval '1 second', reason => 'soon') > 0;
SELECT credits_grant('c-13', 5, reason => 'kept') > 0;
SELECT pg_sleep(1.2);
SELECT * FROM credits_pay('c-13', 1.00, 'USD', 'inv-60', partial => true);
SELECT kind, amount, running_balance, reference FROM credits_history('c-13');

-- The agency switch: off refuses paying (CR002), partial or not.
SELECT credits_grant('c-14', 100) > 0;
SELECT credits_set_enabled(false);
SELECT credits_fingerprint() AS before \gset
SELECT * FROM credits_pay('c-14', 1.00, 'USD', 'inv-70');
\set VERBOSITY sqlstate
SELECT * FROM credits_pay('c-14', 1.00, 'USD', 'inv-70');
SELECT * FROM credits_pay('c-14', 1.00, 'USD', 'inv-70', partial => true);
\set VERBOSITY default
SELECT credits_fingerprint() = :'before' AS unchanged;
SELECT credits_set_enabled(true);
SELECT * FROM credits_pay('c-14', 1.00, 'USD', 'inv-70');

-- Bad input: its SQLSTATE, and nothing changes.
SELECT credits_fingerprint() AS before \gset
SELECT * FROM credits_pay('c-14', 0, 'USD', 'inv-80');
SELECT * FROM credits_pay('c-14', -1, 'USD', 'inv-80');
SELECT * FROM credits_pay('c-14', 'NaN', 'USD', 'inv-80');
SELECT * FROM credits_pay('c-14', 1, 'GBP', 'inv-80');
SELECT * FROM credits_pay('c-14', 1, 'USD', NULL);
\set VERBOSITY sqlstate
SELECT * FROM credits_pay('c-14', 0, 'USD', 'inv-80');
SELECT * FROM credits_pay('c-14', -1, 'USD', 'inv-80');
SELECT * FROM credits_pay('c-14', 'NaN', 'USD', 'inv-80');
SELECT * FROM credits_pay('c-14', 'Infinity', 'USD', 'inv-80');
SELECT * FROM credits_pay('c-14', 1, 'usd', 'inv-80');
SELECT * FROM credits_pay('c-14', 1, 'GBP', 'inv-80');
SELECT * FROM credits_pay('c-14', 1, 'USD', 'inv-80', credit_type => 'NOPE');
SELECT * FROM credits_pay('c-14', 1e20, 'USD', 'inv-80');
SELECT * FROM credits_pay('', 1, 'USD', 'inv-80');
SELECT * FROM credits_pay(NULL, 1, 'USD', 'inv-80');
SELECT * FROM credits_pay('c-14', NULL, 'USD', 'inv-80');
SELECT * FROM credits_pay('c-14', 1, NULL, 'inv-80');
SELECT * FROM credits_pay('c-14', 1, 'USD', NULL);
SELECT * FROM credits_pay('c-14', 1, 'USD', 'inv-80', NULL);
SELECT * FROM credits_pay('c-14', 1, 'USD', 'inv-80', credit_type => NULL);
\set VERBOSITY default
SELECT credits_fingerprint() = :'before' AS unchanged;

-- A failed payment inside the application's transaction, caught by a
-- savepoint, leaves nothing behind.
BEGIN;
SAVEPOINT s;
SELECT * FROM credits_pay('c-14', 1000, 'USD', 'inv-90');
ROLLBACK TO SAVEPOINT s;
SELECT credits_applied FROM credits_pay('c-14', 1.00, 'USD', 'inv-90');
COMMIT;
SELECT credits_balance('c-14');

-- entry_id is the spend entry (NULL when nothing was applied).
SELECT credits_grant('c-15', 100) > 0;
SELECT credits_applied, entry_id AS pay_entry FROM credits_pay('c-15', 2.00, 'USD', 'inv-110') \gset
SELECT kind, amount, reference FROM credits_history('c-15') WHERE entry_id = :pay_entry;

-- Idempotency: a payment repeated with its key and the same arguments
-- returns the first call's row (credits_applied, amount_covered,
-- amount_due, entry_id) and changes nothing, even after the balance has
-- changed; amounts compare by value (12.50 is 12.5).
SELECT * FROM credits_pay('c-15', 12.50, 'USD', 'inv-111', partial => true,
						  idempotency_key => 'pay-1');
SELECT credits_fingerprint() AS before \gset
SELECT * FROM credits_pay('c-15', 12.5, 'USD', 'inv-111', partial => true,
						  idempotency_key => 'pay-1');
SET TimeZone = 'Asia/Kolkata';
SET extra_float_digits = 3;
SELECT * FROM credits_pay('c-15', '12.500', 'USD', 'inv-111', true, 'CRD', 'pay-1');
RESET TimeZone;
RESET extra_float_digits;
SELECT credits_fingerprint() = :'before' AS unchanged;
SELECT credits_grant('c-15', 1000) > 0;
SELECT * FROM credits_pay('c-15', 12.50, 'USD', 'inv-111', partial => true,
						  idempotency_key => 'pay-1') AS first_row;
SELECT credits_balance('c-15') AS "100 - 20 - 80 + 1000";
-- ... with other arguments, or by another operation: CR003, nothing changes.
SELECT credits_fingerprint() AS before \gset
\set VERBOSITY sqlstate
SELECT * FROM credits_pay('c-15', 12.51, 'USD', 'inv-111', true, idempotency_key => 'pay-1');
SELECT * FROM credits_pay('c-15', 12.50, 'CAD', 'inv-111', true, idempotency_key => 'pay-1');
SELECT * FROM credits_pay('c-15', 12.50, 'USD', 'inv-112', true, idempotency_key => 'pay-1');
SELECT * FROM credits_pay('c-15', 12.50, 'USD', 'inv-111', false, idempotency_key => 'pay-1');
SELECT * FROM credits_pay('c-15', 12.50, 'USD', 'inv-111', true, 'USDC', 'pay-1');
SELECT credits_spend('c-15', 1, idempotency_key => 'pay-1');
SELECT credits_grant('c-15', 1, idempotency_key => 'pay-1');
SELECT credits_hold('c-15', 1, 'inv-111', idempotency_key => 'pay-1');
SELECT * FROM credits_purchase('c-15', 'none', 'stripe', idempotency_key => 'pay-1');
\set VERBOSITY default
SELECT * FROM credits_pay('c-15', 12.51, 'USD', 'inv-111', true, idempotency_key => 'pay-1');
SELECT credits_fingerprint() = :'before' AS unchanged;
-- A key used by a grant is not a payment's either; the same key on
-- another account is another key.
SELECT credits_grant('c-15', 1, idempotency_key => 'g-key') > 0;
\set VERBOSITY sqlstate
SELECT * FROM credits_pay('c-15', 1.00, 'USD', 'inv-113', idempotency_key => 'g-key');
\set VERBOSITY default
SELECT credits_grant('c-16', 100) > 0;
SELECT credits_applied, amount_due FROM credits_pay('c-16', 12.50, 'USD', 'inv-111', true,
													idempotency_key => 'pay-1');
-- A payment that applied nothing is a result too: repeated, it applies
-- nothing again, whatever the balance has become; an account without any
-- row of the type included.
SELECT * FROM credits_pay('c-17', 3.00, 'USD', 'inv-120', partial => true,
						  idempotency_key => 'pay-0');
SELECT credits_grant('c-17', 100) > 0;
SELECT * FROM credits_pay('c-17', 3.00, 'USD', 'inv-120', partial => true,
						  idempotency_key => 'pay-0');
SELECT credits_balance('c-17');
-- A failed payment (CR001, CR002) uses no key: the same call succeeds once
-- it can.
\set VERBOSITY sqlstate
SELECT * FROM credits_pay('c-17', 50.00, 'USD', 'inv-121', idempotency_key => 'pay-2');
SELECT credits_set_enabled(false);
SELECT * FROM credits_pay('c-17', 5.00, 'USD', 'inv-121', idempotency_key => 'pay-2');
SELECT credits_set_enabled(true);
\set VERBOSITY default
SELECT count(*) AS keys FROM credits.idempotency WHERE account = 'c-17' AND idempotency_key = 'pay-2';
SELECT credits_applied, amount_due, entry_id IS NOT NULL AS has_entry
FROM credits_pay('c-17', 5.00, 'USD', 'inv-121', idempotency_key => 'pay-2');
-- A payment repeated while credits are switched off still answers with its
-- first result (it changes nothing).
SELECT credits_set_enabled(false);
SELECT credits_applied, amount_due FROM credits_pay('c-17', 5.00, 'USD', 'inv-121',
													idempotency_key => 'pay-2');
SELECT credits_set_enabled(true);
-- Bad keyed calls fail as unkeyed ones do.
\set VERBOSITY sqlstate
SELECT * FROM credits_pay('c-17', 0, 'USD', 'inv-122', idempotency_key => 'pay-3');
SELECT * FROM credits_pay('c-17', 1, 'usd', 'inv-122', idempotency_key => 'pay-3');
\set VERBOSITY default
SELECT count(*) AS keys FROM credits.idempotency WHERE account = 'c-17' AND idempotency_key = 'pay-3';

-- A role without grants may not pay (42501).
CREATE ROLE pay_nobody_test;
SET ROLE pay_nobody_test;
\set VERBOSITY sqlstate
SELECT * FROM credits_pay('c-17', 1.00, 'USD', 'inv-130');
SELECT * FROM credits_pay('c-17', 1.00, 'USD', 'inv-130', idempotency_key => 'pay-4');
\set VERBOSITY default
RESET ROLE;
DROP ROLE pay_nobody_test;

-- A client portal pays its own account's invoices only; rates and
-- conversions are the agency's price list, not a portal's to read.
CREATE ROLE pay_portal_test NOLOGIN;
SELECT credits_portal_add_role('pay_portal_test');
SET ROLE pay_portal_test;
SELECT set_config('credits.portal_account', 'c-14', false) IS NOT NULL;
SELECT * FROM credits_pay('c-14', 1.00, 'USD', 'inv-100');
\set VERBOSITY sqlstate
SELECT credits_rate('USD');
SELECT credits_convert(3.51, 'USD');
SELECT * FROM credits_pay('c-1', 1.00, 'USD', 'inv-101');
SELECT credits_set_rate('USD', 1);
\set VERBOSITY default
RESET ROLE;
RESET credits.portal_account;
SELECT credits_portal_remove_role('pay_portal_test');
DROP ROLE pay_portal_test;
SELECT credits_balance('c-14') AS "80 - 10", credits_balance('c-1') AS unchanged;

-- A partial payment that finds nothing left once due expirations are
-- recorded applies nothing, and keeps the expirations it recorded (the
-- account row included).
SELECT credits_grant('c-18', 10, expires_at => clock_timestamp() + interval '1 s') > 0 AS short;
SELECT pg_sleep(1.2);
SELECT credits_applied, amount_covered, amount_due, entry_id FROM credits_pay('c-18', 1.00, 'USD', 'inv-130', partial => true);
SELECT kind, amount, running_balance FROM credits_history('c-18');
SELECT balance, last_seq FROM credits.account WHERE account = 'c-18';

SELECT * FROM credits_verify();
DROP EXTENSION credits;
