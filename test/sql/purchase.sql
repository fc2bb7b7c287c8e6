-- Purchases and credit requests
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never

SELECT credits_define_package('Starter', 500, 'USD', 50.00, expires_after => '1 year') > 0;
SELECT credits_define_package('Forever', 100, 'USD', 12.00) > 0;
SELECT credits_define_type('HRS', 'Hours', 2);
SELECT credits_define_package('Half day', '3.5', 'EUR', 280, 'HRS', '90 days') > 0;

-- Card and PayPal purchases grant at once: no request, a lot whose cost
-- basis is the package price, source 'purchase', expiring after the
-- package's period.
SELECT request_id IS NULL AS stripe_no_request, lot_id AS stripe_lot_id, status AS stripe_status
FROM credits_purchase('c-1', 'Starter', 'stripe', 'ch_1') \gset
SELECT :'stripe_no_request' AS no_request, :stripe_lot_id > 0 AS has_lot, :'stripe_status' AS status;
SELECT request_id, lot_id > 0 AS has_lot, status
FROM credits_purchase(account => 'c-1', package => 'Forever', method => 'paypal');
SELECT l.amount, l.credit_type, l.source, l.cost, l.cost_currency, l.reference, l.reason,
	   l.expires_at = l.granted_at + interval '1 year' AS expires_in_a_year,
	   l.expires_at IS NULL AS never_expires
FROM credits.lot l WHERE l.account = 'c-1' ORDER BY l.lot_id;
SELECT credits_balance('c-1');
SELECT * FROM credits_purchase('c-1', 'Half day', 'stripe') \gset hrs_
SELECT amount, credit_type, cost, cost_currency, expires_at = granted_at + interval '90 days' AS expires_in_90_days
FROM credits.lot WHERE account = 'c-1' AND lot_id = :hrs_lot_id;
SELECT credits_balance('c-1', 'HRS');

-- Bank transfer and crypto create a pending request and grant nothing.
SELECT credits_fingerprint() AS before \gset
SELECT credits_balance('c-2') AS before_balance;
SELECT request_id AS bank_request_id, lot_id IS NULL AS bank_no_lot, status AS bank_status
FROM credits_purchase('c-2', 'Starter', 'bank_transfer', 'wire-77') \gset
SELECT :bank_request_id > 0 AS has_request, :'bank_no_lot' AS no_lot, :'bank_status' AS status;
SELECT request_id AS crypto_request_id, lot_id IS NULL AS crypto_no_lot, status AS crypto_status
FROM credits_purchase('c-2', 'Forever', 'crypto', '0xabc') \gset
SELECT :crypto_request_id > :bank_request_id AS later_request, :'crypto_no_lot' AS no_lot, :'crypto_status' AS status;
SELECT credits_balance('c-2') AS balance \gset
SELECT count(*) AS lots, :'balance' AS balance FROM credits.lot WHERE account = 'c-2';
-- What the agency reviews.
SELECT request_id = :bank_request_id AS is_bank, account, package, credits, amount, currency,
	   method, status, created_at IS NOT NULL AS created, decided_at
FROM credits_requests() ORDER BY request_id;
SELECT count(*) FROM credits_requests(account => 'c-2', status => 'pending');
SELECT count(*) FROM credits_requests(account => 'c-1');
SELECT count(*) FROM credits_requests(status => 'accepted');

-- A request keeps the package's figures: editing the package after the
-- request changes neither what the request grants nor what it costs.
-- Lots keep their cost basis too.
SELECT credits_define_package('Starter', 600, 'USD', 55.00, expires_after => '2 years') > 0;
SELECT credits, amount FROM credits_requests() WHERE request_id = :bank_request_id;
SELECT cost, amount FROM credits.lot WHERE account = 'c-1' AND lot_id = :stripe_lot_id;

-- Accepting grants the request's credits with their cost basis, once.  The
-- expiry counts from acceptance.
SELECT credits_accept_request(:bank_request_id) AS bank_lot \gset
SELECT l.amount, l.source, l.cost, l.cost_currency, l.reference, l.reason,
	   l.expires_at = l.granted_at + interval '1 year' AS expires_in_a_year
FROM credits.lot l WHERE l.account = 'c-2' AND l.lot_id = :bank_lot;
SELECT status, decided_at IS NOT NULL AS decided, lot_id = :bank_lot AS same_lot, decided_by = current_user AS by_caller
FROM credits.request WHERE request_id = :bank_request_id;
SELECT credits_balance('c-2');
SELECT kind, amount, running_balance, reference FROM credits_history('c-2');
-- Deciding it again: CR005, and nothing changes.
SELECT credits_fingerprint() AS before \gset
SELECT credits_accept_request(:bank_request_id);
SELECT credits_reject_request(:bank_request_id, 'too late');
\set VERBOSITY sqlstate
SELECT credits_accept_request(:bank_request_id);
SELECT credits_reject_request(:bank_request_id, 'too late');
\set VERBOSITY default
SELECT credits_fingerprint() = :'before' AS unchanged;

-- Rejecting records the reason and grants nothing; a rejected request
-- cannot be accepted.
SELECT credits_reject_request(:crypto_request_id, 'payment never arrived');
SELECT status, reason, lot_id, decided_at IS NOT NULL AS decided FROM credits.request
WHERE request_id = :crypto_request_id;
SELECT credits_balance('c-2') AS balance_unchanged;
SELECT credits_fingerprint() AS before \gset
SELECT credits_accept_request(:crypto_request_id);
\set VERBOSITY sqlstate
SELECT credits_accept_request(:crypto_request_id);
SELECT credits_reject_request(:crypto_request_id);
\set VERBOSITY default
SELECT credits_fingerprint() = :'before' AS unchanged;
SELECT request_id = :bank_request_id AS is_bank, status, decided_at IS NOT NULL AS decided
FROM credits_requests(account => 'c-2') ORDER BY request_id;
SELECT count(*) FROM credits_requests(status => 'rejected');
-- The review list shows the payment reference, who decided and why.
SELECT request_id = :bank_request_id AS is_bank, method, status, reference, decided_by, reason
FROM credits_requests(account => 'c-2') ORDER BY request_id;
-- A reason is optional.
SELECT request_id AS r3 FROM credits_purchase('c-3', 'Forever', 'crypto') \gset
SELECT credits_reject_request(request_id => :r3);
SELECT status, reason FROM credits.request WHERE request_id = :r3;

-- decided_by defaults to the caller (current_user is evaluated where the
-- call is made, not inside the SECURITY DEFINER function).
CREATE ROLE credits_clerk_test IN ROLE credits_operator;
SELECT request_id AS r4 FROM credits_purchase('c-4', 'Forever', 'bank_transfer', 'wire-4') \gset
SELECT request_id AS r5 FROM credits_purchase('c-4', 'Forever', 'bank_transfer', 'wire-5') \gset
SET ROLE credits_clerk_test;
SELECT credits_accept_request(:r4) > 0 AS clerk_accepts;
SELECT credits_reject_request(:r5, 'duplicate');
SELECT credits_accept_request(:r5);
SELECT * FROM credits.request;
RESET ROLE;
SELECT request_id = :r4 AS is_r4, status, decided_by FROM credits.request
WHERE request_id IN (:r4, :r5) ORDER BY request_id;
SELECT request_id AS r6 FROM credits_purchase('c-4', 'Forever', 'bank_transfer') \gset
SELECT credits_accept_request(:r6, decided_by => 'finance-bot') > 0;
SELECT decided_by FROM credits.request WHERE request_id = :r6;
DROP ROLE credits_clerk_test;

-- Outbox events for requests.
SELECT e.type, e.payload->>'request_id' = :bank_request_id::text AS bank,
	   e.payload->>'status' AS status, e.payload->>'credits' AS credits,
	   e.payload->>'reason' AS reason
FROM credits_events_since() e
WHERE e.type LIKE 'credit_request.%' AND e.account = 'c-2' ORDER BY e.event_id;

-- The agency switch: off refuses purchasing by every method (CR002);
-- accepting a request whose money has arrived is a grant and still works.
SELECT request_id AS r7 FROM credits_purchase('c-5', 'Starter', 'bank_transfer') \gset
SELECT credits_set_enabled(false);
SELECT credits_fingerprint() AS before \gset
SELECT * FROM credits_purchase('c-5', 'Starter', 'stripe');
\set VERBOSITY sqlstate
SELECT * FROM credits_purchase('c-5', 'Starter', 'stripe');
SELECT * FROM credits_purchase('c-5', 'Starter', 'paypal');
SELECT * FROM credits_purchase('c-5', 'Starter', 'bank_transfer');
SELECT * FROM credits_purchase('c-5', 'Starter', 'crypto');
\set VERBOSITY default
SELECT credits_fingerprint() = :'before' AS unchanged;
SELECT credits_accept_request(:r7) > 0 AS accepted_while_disabled;
SELECT credits_balance('c-5');
SELECT credits_set_enabled(true);

-- Bad input: its SQLSTATE, and nothing changes.
SELECT credits_fingerprint() AS before \gset
SELECT * FROM credits_purchase('c-6', 'Nope', 'stripe');
SELECT * FROM credits_purchase('c-6', 'Starter', 'cash');
SELECT credits_accept_request(999999);
SELECT * FROM credits_requests(status => 'approved');
\set VERBOSITY sqlstate
SELECT * FROM credits_purchase('c-6', 'Nope', 'stripe');
SELECT * FROM credits_purchase('c-6', 'Starter', 'cash');
SELECT * FROM credits_purchase('c-6', 'Starter', 'Stripe');
SELECT * FROM credits_purchase('c-6', 'Starter', '');
SELECT * FROM credits_purchase('', 'Starter', 'stripe');
SELECT * FROM credits_purchase(NULL, 'Starter', 'stripe');
SELECT * FROM credits_purchase('c-6', NULL, 'stripe');
SELECT * FROM credits_purchase('c-6', 'Starter', NULL);
SELECT credits_accept_request(999999);
SELECT credits_accept_request(NULL);
SELECT credits_accept_request(:r3, decided_by => NULL);
SELECT credits_reject_request(999999);
SELECT credits_reject_request(NULL);
SELECT * FROM credits_requests(status => 'approved');
\set VERBOSITY default
SELECT credits_fingerprint() = :'before' AS unchanged;

-- A client portal (see credits_portal_add_role) may ask for credits by bank
-- transfer or crypto for its own account and list its own requests (all it
-- sees without an account); card and PayPal purchases (which grant at once)
-- and decisions are the agency's.
CREATE ROLE pricing_portal_test NOLOGIN;
SELECT credits_portal_add_role('pricing_portal_test');
SET ROLE pricing_portal_test;
SELECT set_config('credits.portal_account', 'c-8', false) IS NOT NULL;
SELECT request_id > 0 AS asked, lot_id, status FROM credits_purchase('c-8', 'Forever', 'bank_transfer');
SELECT package, status FROM credits_requests(account => 'c-8');
SELECT account, package, status FROM credits_requests();
\set VERBOSITY sqlstate
SELECT * FROM credits_purchase('c-8', 'Forever', 'stripe');
SELECT * FROM credits_purchase('c-9', 'Forever', 'bank_transfer');
SELECT * FROM credits_requests(account => 'c-2');
SELECT credits_accept_request(:r3);
SELECT credits_reject_request(:r3);
\set VERBOSITY default
RESET ROLE;
RESET credits.portal_account;
SELECT credits_portal_remove_role('pricing_portal_test');
DROP ROLE pricing_portal_test;
SELECT count(*) AS c8_requests, count(*) FILTER (WHERE status = 'pending') AS pending
FROM credits_requests(account => 'c-8');

-- Idempotency: a purchase repeated with its key and the same arguments
-- returns the first call's row and buys nothing more.  A pending request's
-- row stays the first result (status 'pending', its request id) even once
-- the request has been decided: credits_requests() tells its state now.
SELECT request_id IS NULL AS no_request, lot_id AS key_lot, status
FROM credits_purchase('c-10', 'Forever', 'stripe', 'ch_10', idempotency_key => 'buy-1') \gset
SELECT :'no_request' AS no_request, :'status' AS status;
SELECT credits_fingerprint() AS before \gset
SELECT request_id, lot_id = :key_lot AS same_lot, status
FROM credits_purchase('c-10', 'Forever', 'stripe', 'ch_10', idempotency_key => 'buy-1');
SELECT credits_fingerprint() = :'before' AS unchanged;
SELECT request_id AS key_request, lot_id, status
FROM credits_purchase('c-10', 'Starter', 'bank_transfer', 'wire-10', 'buy-2') \gset
SELECT credits_accept_request(:key_request) > 0 AS accepted;
SELECT credits_fingerprint() AS before \gset
SELECT request_id = :key_request AS same_request, lot_id, status
FROM credits_purchase('c-10', 'Starter', 'bank_transfer', 'wire-10', 'buy-2');
SELECT credits_fingerprint() = :'before' AS unchanged;
SELECT count(*) AS requests, count(*) FILTER (WHERE status = 'accepted') AS accepted
FROM credits_requests('c-10');
-- ... other arguments or another operation: CR003; a failed purchase uses
-- no key; a repeat still answers while purchasing is switched off.
\set VERBOSITY sqlstate
SELECT * FROM credits_purchase('c-10', 'Forever', 'paypal', 'ch_10', idempotency_key => 'buy-1');
SELECT * FROM credits_purchase('c-10', 'Starter', 'stripe', 'ch_10', idempotency_key => 'buy-1');
SELECT * FROM credits_purchase('c-10', 'Forever', 'stripe', 'ch_11', idempotency_key => 'buy-1');
SELECT * FROM credits_purchase('c-10', 'Forever', 'stripe', idempotency_key => 'buy-1');
SELECT credits_grant('c-10', 100, idempotency_key => 'buy-1');
SELECT * FROM credits_purchase_quantity('c-10', 'Forever', 1, 'stripe', 'ch_10', 'buy-1');
SELECT * FROM credits_purchase('c-10', 'Nope', 'stripe', idempotency_key => 'buy-3');
SELECT credits_set_enabled(false);
SELECT * FROM credits_purchase('c-10', 'Forever', 'crypto', idempotency_key => 'buy-3');
\set VERBOSITY default
SELECT lot_id = :key_lot AS same_lot, status
FROM credits_purchase('c-10', 'Forever', 'stripe', 'ch_10', idempotency_key => 'buy-1');
SELECT credits_set_enabled(true);
SELECT * FROM credits_purchase('c-10', 'Forever', 'paypal', 'ch_10', idempotency_key => 'buy-1');
SELECT count(*) AS keys FROM credits.idempotency WHERE account = 'c-10' AND idempotency_key = 'buy-3';
SELECT request_id > :key_request AS new_request, status
FROM credits_purchase('c-10', 'Forever', 'crypto', idempotency_key => 'buy-3');

-- Buying credits by quantity at the product's volume price: stripe and
-- paypal grant them at once with that price as the lot's cost basis;
-- bank_transfer and crypto create a pending request that grants them when
-- accepted.  credits_requests() shows the product in its package column.
SELECT credits_define_price_tier('credit', 1, 100, 'USD');
SELECT credits_define_price_tier('credit', 5, 85, 'USD');
SELECT credits_price('credit', 5) AS "5 at 85";
SELECT request_id, lot_id AS q_lot, status
FROM credits_purchase_quantity('q-1', 'credit', 5, 'stripe', 'ch_q1') \gset
SELECT :'status' AS status;
SELECT amount, credit_type, source, cost, cost_currency, expires_at, reference, reason
FROM credits.lot WHERE lot_id = :q_lot;
SELECT credit_type, currency, outstanding, cost_basis FROM credits_liability()
WHERE currency = 'USD' AND credit_type = 'CRD';
SELECT request_id AS q_request, lot_id, status
FROM credits_purchase_quantity(account => 'q-1', product => 'credit', quantity => 3,
							   method => 'bank_transfer', reference => 'wire-q') \gset
SELECT :'status' AS status, credits_balance('q-1') AS "5 (3 pending)";
SELECT account, package, credits, amount, currency, method, status, reference
FROM credits_requests('q-1');
SELECT credits_accept_request(:q_request) AS q_request_lot \gset
SELECT amount, source, cost, cost_currency, reason FROM credits.lot WHERE lot_id = :q_request_lot;
SELECT credits_balance('q-1') AS "5 + 3";
SELECT e.payload->>'product' AS product, e.payload->>'package' AS package, e.payload->>'status' AS status
FROM credits_events_since() e
WHERE e.type LIKE 'credit_request.%' AND e.account = 'q-1' ORDER BY e.event_id;
-- Another credit type: quantity credits of it (scale 2: 4 is 4.00).
SELECT request_id, lot_id AS hrs_q_lot, status
FROM credits_purchase_quantity('q-1', 'credit', 4, 'paypal', credit_type => 'HRS') \gset
SELECT amount, credit_type, cost FROM credits.lot WHERE lot_id = :hrs_q_lot;
SELECT request_id AS hrs_q_request FROM credits_purchase_quantity('q-1', 'credit', 2, 'crypto',
																  credit_type => 'HRS') \gset
SELECT credits_reject_request(:hrs_q_request, 'no payment');
SELECT package, credits, amount, status, reason FROM credits_requests('q-1') WHERE request_id = :hrs_q_request;
-- Its idempotency key: the same call returns the first row; another
-- quantity, method, product, reference or type is CR003.
SELECT request_id AS key_q_request, status
FROM credits_purchase_quantity('q-2', 'credit', 7, 'bank_transfer', 'wire-q2', 'bq-1') \gset
SELECT credits_fingerprint() AS before \gset
SELECT request_id = :key_q_request AS same_request, lot_id, status
FROM credits_purchase_quantity('q-2', 'credit', 7, 'bank_transfer', 'wire-q2', 'bq-1');
SELECT credits_fingerprint() = :'before' AS unchanged;
\set VERBOSITY sqlstate
SELECT * FROM credits_purchase_quantity('q-2', 'credit', 8, 'bank_transfer', 'wire-q2', 'bq-1');
SELECT * FROM credits_purchase_quantity('q-2', 'credit', 7, 'crypto', 'wire-q2', 'bq-1');
SELECT * FROM credits_purchase_quantity('q-2', 'credit', 7, 'bank_transfer', NULL, 'bq-1');
SELECT * FROM credits_purchase_quantity('q-2', 'credit', 7, 'bank_transfer', 'wire-q2', 'bq-1', 'HRS');
SELECT * FROM credits_purchase('q-2', 'credit', 'bank_transfer', 'wire-q2', 'bq-1');
\set VERBOSITY default
SELECT credits_fingerprint() = :'before' AS unchanged;
-- Bad input: its SQLSTATE, nothing changes.  A price finer than the
-- currency's minor unit cannot be charged (22023).
SELECT credits_define_price_tier('word', 1, 0.005, 'USD');
SELECT credits_fingerprint() AS before \gset
SELECT * FROM credits_purchase_quantity('q-3', 'nope', 5, 'stripe');
SELECT * FROM credits_purchase_quantity('q-3', 'credit', 0, 'stripe');
SELECT * FROM credits_purchase_quantity('q-3', 'credit', 5, 'cash');
SELECT * FROM credits_purchase_quantity('q-3', 'credit', 5, 'stripe', credit_type => 'NOPE');
SELECT * FROM credits_purchase_quantity('q-3', 'word', 3, 'stripe');
\set VERBOSITY sqlstate
SELECT * FROM credits_purchase_quantity('q-3', 'nope', 5, 'stripe');
SELECT * FROM credits_purchase_quantity('q-3', 'nope', 5, 'bank_transfer', idempotency_key => 'bq-9');
SELECT * FROM credits_purchase_quantity('q-3', 'credit', 0, 'stripe');
SELECT * FROM credits_purchase_quantity('q-3', 'credit', -5, 'bank_transfer');
SELECT * FROM credits_purchase_quantity('q-3', 'credit', 5, 'cash');
SELECT * FROM credits_purchase_quantity('q-3', 'credit', 5, 'Stripe');
SELECT * FROM credits_purchase_quantity('q-3', 'credit', 5, 'stripe', credit_type => 'NOPE');
SELECT * FROM credits_purchase_quantity('q-3', 'credit', 5, 'crypto', credit_type => 'NOPE');
SELECT * FROM credits_purchase_quantity('q-3', 'word', 3, 'stripe');
SELECT * FROM credits_purchase_quantity('', 'credit', 5, 'stripe');
SELECT * FROM credits_purchase_quantity(NULL, 'credit', 5, 'stripe');
SELECT * FROM credits_purchase_quantity('q-3', NULL, 5, 'stripe');
SELECT * FROM credits_purchase_quantity('q-3', 'credit', NULL, 'stripe');
SELECT * FROM credits_purchase_quantity('q-3', 'credit', 5, NULL);
SELECT * FROM credits_purchase_quantity('q-3', 'credit', 5, 'stripe', credit_type => NULL);
\set VERBOSITY default
SELECT credits_fingerprint() = :'before' AS unchanged;
-- While purchasing is switched off: CR002, by every method.
SELECT credits_set_enabled(false);
\set VERBOSITY sqlstate
SELECT * FROM credits_purchase_quantity('q-3', 'credit', 5, 'stripe');
SELECT * FROM credits_purchase_quantity('q-3', 'credit', 5, 'crypto', idempotency_key => 'bq-9');
\set VERBOSITY default
SELECT credits_set_enabled(true);
SELECT count(*) AS lots FROM credits.lot WHERE account = 'q-3';
SELECT count(*) AS requests FROM credits.request WHERE account = 'q-3';
SELECT count(*) AS keys FROM credits.idempotency WHERE account = 'q-3';
-- 200 words at 0.005 is 1.00: a whole amount can be bought.
SELECT lot_id AS word_lot FROM credits_purchase_quantity('q-3', 'word', 200, 'stripe') \gset
SELECT amount, cost FROM credits.lot WHERE lot_id = :word_lot;

-- Roles: an operator may buy; a role without grants may not (42501).
CREATE ROLE purchase_nobody_test;
SET ROLE purchase_nobody_test;
\set VERBOSITY sqlstate
SELECT * FROM credits_purchase('q-4', 'Forever', 'stripe', idempotency_key => 'r-1');
SELECT * FROM credits_purchase_quantity('q-4', 'credit', 1, 'stripe');
SELECT * FROM credits_purchase_quantity('q-4', 'credit', 1, 'bank_transfer');
\set VERBOSITY default
RESET ROLE;
GRANT credits_operator TO purchase_nobody_test;
SET ROLE purchase_nobody_test;
SELECT status FROM credits_purchase_quantity('q-4', 'credit', 1, 'stripe');
RESET ROLE;
DROP ROLE purchase_nobody_test;

-- credits_verify() checks purchases: damage an accepted request, see it,
-- repair it.
SELECT * FROM credits_verify();
UPDATE credits.request SET credits = 501 WHERE request_id = :bank_request_id;
SELECT check_name, account FROM credits_verify();
UPDATE credits.request SET credits = 500 WHERE request_id = :bank_request_id;
UPDATE credits.lot SET cost = NULL WHERE lot_id = :stripe_lot_id;
SELECT check_name, account FROM credits_verify();
UPDATE credits.lot SET cost = 50.00 WHERE lot_id = :stripe_lot_id;
-- The schema refuses an accepted request without a lot, or a pending one
-- with a decision.
SELECT request_id AS r8 FROM credits_purchase('c-7', 'Forever', 'crypto') \gset
\set VERBOSITY terse
UPDATE credits.request SET status = 'accepted', lot_id = NULL WHERE request_id = :bank_request_id;
UPDATE credits.request SET decided_at = now() WHERE request_id = :r8;
UPDATE credits.request SET status = 'pending' WHERE request_id = :crypto_request_id;
\set VERBOSITY default

SELECT * FROM credits_verify();
DROP EXTENSION credits;
