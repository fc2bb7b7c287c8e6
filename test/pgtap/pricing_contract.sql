-- pgTAP: pricing and purchasing, the contract's exact surface (callers use
-- named notation, so parameter names are part of it) and its main rules.
BEGIN;
CREATE EXTENSION pgtap;
CREATE EXTENSION credits;
SELECT plan(45);

CREATE FUNCTION pg_temp.names(f regprocedure) RETURNS text[] LANGUAGE sql AS
	$$ SELECT proargnames FROM pg_proc WHERE oid = f $$;
CREATE FUNCTION pg_temp.defaults(f regprocedure) RETURNS smallint LANGUAGE sql AS
	$$ SELECT pronargdefaults FROM pg_proc WHERE oid = f $$;

SELECT is(pg_temp.names('credits_set_rate(text, numeric, text, timestamptz)'),
		  ARRAY['currency', 'credits_per_unit', 'credit_type', 'effective_from'], 'credits_set_rate parameters');
SELECT is(pg_temp.names('credits_rate(text, text, timestamptz)'),
		  ARRAY['currency', 'credit_type', 'at'], 'credits_rate parameters');
SELECT is(pg_temp.names('credits_convert(numeric, text, text, timestamptz)'),
		  ARRAY['price', 'currency', 'credit_type', 'at'], 'credits_convert parameters');
SELECT is(pg_temp.names('credits_define_package(text, credit_amount, text, numeric, text, interval)'),
		  ARRAY['name', 'credits', 'currency', 'price', 'credit_type', 'expires_after'], 'credits_define_package parameters');
SELECT is(pg_temp.names('credits_define_price_tier(text, int, numeric, text)'),
		  ARRAY['product', 'min_quantity', 'unit_price', 'currency'], 'credits_define_price_tier parameters');
SELECT is(pg_temp.names('credits_price(text, int)'), ARRAY['product', 'quantity'], 'credits_price parameters');
SELECT is(pg_temp.names('credits_purchase(text, text, text, text, text)'),
		  ARRAY['account', 'package', 'method', 'reference', 'idempotency_key', 'request_id', 'lot_id', 'status'],
		  'credits_purchase parameters and result columns (1.1 adds idempotency_key)');
SELECT is(pg_temp.names('credits_purchase_quantity(text, text, int, text, text, text, text)'),
		  ARRAY['account', 'product', 'quantity', 'method', 'reference', 'idempotency_key', 'credit_type',
				'request_id', 'lot_id', 'status'],
		  'credits_purchase_quantity parameters and result columns');
SELECT is(pg_temp.defaults('credits_purchase_quantity(text, text, int, text, text, text, text)'), 3::smallint, 'credits_purchase_quantity defaults');
SELECT is(pg_temp.names('credits_accept_request(bigint, text, text)'),
		  ARRAY['request_id', 'decided_by', 'account'], 'credits_accept_request parameters (account added at the end)');
SELECT is((pg_temp.names('credits_reject_request(bigint, text, text, text)')),
		  ARRAY['request_id', 'reason', 'decided_by', 'account'], 'credits_reject_request parameters (decided_by, then account added at the end)');
SELECT is(pg_temp.names('credits_requests(text, text)'),
		  ARRAY['account', 'status', 'request_id', 'account', 'package', 'credits', 'amount',
				'currency', 'method', 'status', 'created_at', 'decided_at',
				'reference', 'decided_by', 'reason'],
		  'credits_requests parameters and result columns (1.1 adds reference, decided_by, reason)');
SELECT is(pg_temp.names('credits_pay(text, numeric, text, text, boolean, text, text)'),
		  ARRAY['account', 'amount', 'currency', 'reference', 'partial', 'credit_type', 'idempotency_key',
				'credits_applied', 'amount_covered', 'amount_due', 'entry_id'],
		  'credits_pay parameters and result columns (1.1 adds idempotency_key and entry_id)');
SELECT is(pg_temp.defaults('credits_set_rate(text, numeric, text, timestamptz)'), 2::smallint, 'credits_set_rate defaults');
SELECT is(pg_temp.defaults('credits_pay(text, numeric, text, text, boolean, text, text)'), 3::smallint, 'credits_pay defaults');
SELECT is(pg_temp.defaults('credits_define_package(text, credit_amount, text, numeric, text, interval)'), 2::smallint, 'credits_define_package defaults');
SELECT is(
	(SELECT count(*) FROM pg_proc p
	 WHERE p.proname IN ('credits_set_rate', 'credits_rate', 'credits_convert', 'credits_define_package',
						 'credits_define_price_tier', 'credits_price', 'credits_purchase',
						 'credits_accept_request', 'credits_reject_request', 'credits_requests', 'credits_pay',
						 'credits_purchase_quantity')
	   AND p.prosecdef AND NOT p.proisstrict
	   AND obj_description(p.oid, 'pg_proc') IS NOT NULL
	   AND EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%')),
	12::bigint, 'every pricing function is SECURITY DEFINER, not STRICT, commented, with a pinned search_path');

-- The rules, as assertions.
SELECT lives_ok($$SELECT credits_set_rate('USD', 10)$$, 'a rate');
SELECT is(credits_convert(price => 3.51, currency => 'USD'), 36::credit_amount, '3.51 USD -> 36');
SELECT is(credits_convert(price => 0.70, currency => 'USD'), 7::credit_amount, '0.70 USD -> 7, not 8');
SELECT throws_ok($$SELECT credits_convert(-1, 'USD')$$, '22023', NULL, 'negative price');
SELECT throws_ok($$SELECT credits_convert(1, 'JPY')$$, 'CR004', NULL, 'no rate');
SELECT throws_ok($$SELECT credits_set_rate('USD', 11, effective_from => now())$$, '22023', NULL,
				 'a second, different rate at the same instant');

SELECT lives_ok($$SELECT credits_define_price_tier('credit', 1, 100, 'USD'), credits_define_price_tier('credit', 5, 85, 'USD')$$, 'tiers');
SELECT is(credits_price('credit', 5), 425::numeric, '5 at 85');
SELECT is(credits_price('credit', 4), 400::numeric, '4 at 100');

SELECT lives_ok($$SELECT credits_define_package('Starter', 500, 'USD', 50.00)$$, 'a package');
SELECT results_eq($$SELECT request_id IS NULL, lot_id > 0, status FROM credits_purchase('c-1', 'Starter', 'stripe')$$,
				  $$VALUES (true, true, 'accepted'::text)$$, 'stripe grants at once');
SELECT results_eq($$SELECT request_id > 0, lot_id IS NULL, status FROM credits_purchase('c-2', 'Starter', 'bank_transfer')$$,
				  $$VALUES (true, true, 'pending'::text)$$, 'bank transfer asks');
SELECT throws_ok($$SELECT * FROM credits_purchase('c-1', 'Starter', 'cash')$$, '22023', NULL, 'unknown method');
SELECT lives_ok($$SELECT credits_accept_request(r.request_id) FROM credits_requests('c-2') r$$, 'accept');
SELECT throws_ok($$SELECT credits_accept_request(r.request_id) FROM credits_requests('c-2') r$$, 'CR005', NULL, 'accept twice');

SELECT results_eq($$SELECT credits_applied, amount_covered, amount_due FROM credits_pay('c-1', 150.00, 'USD', 'INV-1', partial => true)$$,
				  $$VALUES (500::credit_amount, 50.00::numeric, 100.00::numeric)$$, 'partial payment');
SELECT throws_ok($$SELECT * FROM credits_pay('c-2', 150.00, 'USD', 'INV-2')$$, 'CR001', NULL, 'all or nothing');
SELECT results_eq($$SELECT credits_applied, amount_covered, amount_due, entry_id IS NULL FROM credits_pay('c-1', 1.00, 'USD', 'INV-3', partial => true, idempotency_key => 'k-1')$$,
				  $$VALUES (0::credit_amount, 0.00::numeric, 1.00::numeric, true)$$, 'nothing applied: entry_id NULL');
SELECT lives_ok($$SELECT credits_grant('c-1', 100)$$, 'more credits');
SELECT results_eq($$SELECT credits_applied, amount_due FROM credits_pay('c-1', 1.0, 'USD', 'INV-3', partial => true, idempotency_key => 'k-1')$$,
				  $$VALUES (0::credit_amount, 1.00::numeric)$$, 'a keyed payment repeated returns its first row');
SELECT throws_ok($$SELECT * FROM credits_pay('c-1', 2.00, 'USD', 'INV-3', partial => true, idempotency_key => 'k-1')$$, 'CR003', NULL, 'the key with other arguments');
SELECT results_eq($$SELECT request_id IS NULL, lot_id > 0, status FROM credits_purchase_quantity('c-3', 'credit', 5, 'stripe')$$,
				  $$VALUES (true, true, 'accepted'::text)$$, 'quantity by card grants at once');
SELECT results_eq($$SELECT cost, cost_currency FROM credits.lot WHERE account = 'c-3'$$,
				  $$VALUES (425::numeric, 'USD'::text)$$, 'at the volume price, its cost basis');
SELECT results_eq($$SELECT request_id > 0, lot_id IS NULL, status FROM credits_purchase_quantity('c-3', 'credit', 2, 'crypto', idempotency_key => 'k-2')$$,
				  $$VALUES (true, true, 'pending'::text)$$, 'quantity by crypto asks');
SELECT is((SELECT count(*) FROM credits_purchase_quantity('c-3', 'credit', 2, 'crypto', idempotency_key => 'k-2') q
		   JOIN credits_requests('c-3') r USING (request_id)), 1::bigint, 'a keyed purchase repeated returns its request, once');
SELECT throws_ok($$SELECT * FROM credits_purchase_quantity('c-3', 'nope', 2, 'stripe')$$, '42704', NULL, 'unknown product');
SELECT throws_ok($$SELECT * FROM credits_purchase_quantity('c-3', 'credit', 0, 'stripe')$$, '22023', NULL, 'quantity 0');
SELECT is_empty($$SELECT * FROM credits_verify()$$, 'credits_verify() is clean');

SELECT * FROM finish();
ROLLBACK;
