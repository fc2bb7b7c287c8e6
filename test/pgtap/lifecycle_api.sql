-- pgTAP: the lifecycle functions' contract (names, parameter names and
-- order, defaults, return shapes) and a few behaviours as assertions.
BEGIN;
CREATE EXTENSION pgtap;
CREATE EXTENSION credits;
SELECT plan(47);

CREATE FUNCTION pg_temp.args(f regprocedure) RETURNS text LANGUAGE sql AS $$
	SELECT pg_get_function_arguments(f)
$$;
CREATE FUNCTION pg_temp.result(f regprocedure) RETURNS text LANGUAGE sql AS $$
	SELECT pg_get_function_result(f)
$$;

SELECT is(pg_temp.args('credits_void(bigint, text, text)'), 'lot_id bigint, reason text, account text DEFAULT NULL::text', 'credits_void arguments');
SELECT is(pg_temp.result('credits_void(bigint, text, text)'), 'credit_amount', 'credits_void returns credit_amount');
SELECT is(pg_temp.args('credits_reverse(bigint, text, text)'), 'entry_id bigint, reason text DEFAULT NULL::text, account text DEFAULT NULL::text', 'credits_reverse arguments');
SELECT is(pg_temp.result('credits_reverse(bigint, text, text)'), 'bigint', 'credits_reverse returns bigint');
SELECT is(pg_temp.args('credits_define_rule(text, credit_amount, text, text, text, interval, credit_amount, text)'),
	'service text, credits credit_amount, mode text, variant text DEFAULT NULL::text, credit_type text DEFAULT ''CRD''::text, expires_after interval DEFAULT NULL::interval, rollover credit_amount DEFAULT NULL::credit_amount, reset_scope text DEFAULT ''type''::text',
	'credits_define_rule arguments');
SELECT is(pg_temp.result('credits_define_rule(text, credit_amount, text, text, text, interval, credit_amount, text)'), 'bigint', 'credits_define_rule returns bigint');
SELECT is(pg_temp.args('credits_issue(text, text, text, text, int)'),
	'account text, service text, reference text, variant text DEFAULT NULL::text, quantity integer DEFAULT 1',
	'credits_issue arguments');
SELECT is(pg_temp.result('credits_issue(text, text, text, text, int)'), 'bigint', 'credits_issue returns bigint');
SELECT is(pg_temp.args('credits_clawback(text)'), 'reference text', 'credits_clawback arguments');
SELECT is(pg_temp.result('credits_clawback(text)'), 'TABLE(deducted credit_amount, shortfall credit_amount)', 'credits_clawback returns (deducted, shortfall)');
SELECT is(pg_temp.args('credits_hold(text, credit_amount, text, text, text)'),
	'account text, amount credit_amount, reference text, credit_type text DEFAULT ''CRD''::text, idempotency_key text DEFAULT NULL::text', 'credits_hold arguments');
SELECT is(pg_temp.result('credits_hold(text, credit_amount, text, text, text)'), 'bigint', 'credits_hold returns bigint');
SELECT is(pg_temp.args('credits_capture(bigint, credit_amount, text)'),
	'hold_id bigint, amount credit_amount DEFAULT NULL::credit_amount, account text DEFAULT NULL::text', 'credits_capture arguments');
SELECT is(pg_temp.result('credits_capture(bigint, credit_amount, text)'), 'bigint', 'credits_capture returns bigint');
SELECT is(pg_temp.args('credits_release(bigint, text)'), 'hold_id bigint, account text DEFAULT NULL::text', 'credits_release arguments');
SELECT is(pg_temp.result('credits_release(bigint, text)'), 'void', 'credits_release returns void');
SELECT is(pg_temp.args('credits_subscribe(text, credit_amount, interval, text, text, timestamptz, interval, credit_amount, text)'),
	'account text, credits credit_amount, every interval, mode text DEFAULT ''add''::text, credit_type text DEFAULT ''CRD''::text, starts_at timestamp with time zone DEFAULT now(), expires_after interval DEFAULT NULL::interval, rollover credit_amount DEFAULT NULL::credit_amount, reset_scope text DEFAULT ''type''::text',
	'credits_subscribe arguments');
SELECT is(pg_temp.result('credits_subscribe(text, credit_amount, interval, text, text, timestamptz, interval, credit_amount, text)'), 'bigint', 'credits_subscribe returns bigint');
SELECT is(pg_temp.args('credits_subscribe_service(text, text, credit_amount, interval, text, timestamptz)'),
	'account text, service text, price credit_amount, every interval, credit_type text DEFAULT ''CRD''::text, starts_at timestamp with time zone DEFAULT now()',
	'credits_subscribe_service arguments');
SELECT is(pg_temp.result('credits_subscribe_service(text, text, credit_amount, interval, text, timestamptz)'), 'bigint', 'credits_subscribe_service returns bigint');
SELECT is(pg_temp.args('credits_cancel_subscription(bigint, text)'), 'subscription_id bigint, account text DEFAULT NULL::text', 'credits_cancel_subscription arguments');
SELECT is(pg_temp.result('credits_cancel_subscription(bigint, text)'), 'void', 'credits_cancel_subscription returns void');
SELECT is(pg_temp.args('credits_run_due(timestamptz)'), 'as_of timestamp with time zone DEFAULT now()', 'credits_run_due arguments');
SELECT is(pg_temp.result('credits_run_due(timestamptz)'), 'TABLE(renewed bigint, failed bigint, expired bigint)', 'credits_run_due returns (renewed, failed, expired)');

-- Every lifecycle API function runs as the owner with a pinned search_path,
-- is documented, and is not STRICT.
SELECT is(
	(SELECT count(*)::int FROM pg_proc p
	 WHERE p.proname IN ('credits_void', 'credits_reverse', 'credits_define_rule', 'credits_issue',
						 'credits_clawback', 'credits_hold', 'credits_capture', 'credits_release',
						 'credits_subscribe', 'credits_subscribe_service', 'credits_cancel_subscription',
						 'credits_run_due')
	   AND p.prosecdef AND NOT p.proisstrict
	   AND p.proconfig @> ARRAY['search_path=pg_catalog, credits, pg_temp']
	   AND obj_description(p.oid, 'pg_proc') IS NOT NULL),
	12, 'lifecycle API: SECURITY DEFINER, pinned search_path, commented, not STRICT');
SELECT ok(NOT has_function_privilege('public', 'credits.verify_lifecycle()', 'EXECUTE'),
	'credits.verify_lifecycle() is not executable by PUBLIC');

-- Behaviour.
SELECT lives_ok($$ SELECT credits_grant(account => 'p-1', amount => 50) $$, 'grant');
SELECT lives_ok($$ SELECT credits_hold(account => 'p-1', amount => 20, reference => 'inv-1') $$, 'hold with named arguments');
SELECT is(credits_balance('p-1')::text, '30', 'held credits leave the available balance');
SELECT throws_ok($$ SELECT credits_hold(account => 'p-1', amount => 31, reference => 'inv-2') $$, 'CR001', NULL, 'hold beyond the available balance: CR001');
SELECT throws_ok($$ SELECT credits_capture(hold_id => (SELECT max(hold_id) FROM credits.hold), amount => 21) $$, '22023', NULL, 'capture beyond the hold: 22023');
SELECT lives_ok($$ SELECT credits_capture(hold_id => (SELECT max(hold_id) FROM credits.hold), amount => 5) $$, 'partial capture');
SELECT is(credits_balance('p-1')::text, '45', 'the rest of the hold is released');
SELECT throws_ok($$ SELECT credits_release(hold_id => (SELECT max(hold_id) FROM credits.hold)) $$, 'CR005', NULL, 'a captured hold cannot be released: CR005');
SELECT is((SELECT string_agg(kind || ':' || amount || ':' || running_balance, ' ' ORDER BY entry_id) FROM credits_history('p-1')),
	'grant:50:50 hold:20:30 release:20:50 capture:5:45', 'history: hold, release of the whole hold, capture');
SELECT lives_ok($$ SELECT credits_define_rule(service => 'pro', credits => 100, mode => 'reset', expires_after => '30 days') $$, 'define a reset rule');
SELECT lives_ok($$ SELECT credits_issue(account => 'p-1', service => 'pro', reference => 'inv-3') $$, 'issue');
SELECT is(credits_balance('p-1')::text, '100', 'reset replaced the balance');
SELECT is((SELECT deducted::text || '/' || shortfall::text FROM credits_clawback(reference => 'inv-3')), '100/0', 'clawback deducts what was issued');
SELECT is((SELECT deducted::text || '/' || shortfall::text FROM credits_clawback(reference => 'inv-3')), '0/0', 'a second clawback deducts nothing');
SELECT throws_ok($$ SELECT credits_define_rule(service => 'x', credits => 1, mode => 'sometimes') $$, '22023', NULL, 'unknown mode: 22023');
SELECT lives_ok($$ SELECT credits_define_rule(service => 'seats', credits => 100, mode => 'reset', rollover => 30, reset_scope => 'own') $$, 'define a reset rule that keeps up to 30 of its own credits');
SELECT lives_ok($$ SELECT credits_issue('p-3', 'seats', 'inv-4'), credits_grant('p-3', 40), credits_issue('p-3', 'seats', 'inv-5') $$, 'issue twice around a grant');
SELECT is(credits_balance('p-3')::text, '170', 'the second reset kept 30 of the rule''s 100 and the whole grant');
SELECT throws_ok($$ SELECT credits_define_rule(service => 'x', credits => 1, mode => 'reset', reset_scope => 'all') $$, '22023', NULL, 'unknown reset_scope: 22023');
SELECT throws_ok($$ SELECT credits_subscribe(account => 'p-3', credits => 1, every => '1 month', rollover => 5) $$, '22023', NULL, 'a rollover for mode add: 22023');
SELECT is_empty($$ SELECT * FROM credits_verify() $$, 'credits_verify() finds nothing wrong');

SELECT * FROM finish();
ROLLBACK;
