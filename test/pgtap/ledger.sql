-- pgTAP: the core ledger's rules as assertions.
BEGIN;
CREATE EXTENSION pgtap;
CREATE EXTENSION credits;
SELECT plan(32);

-- The contract's surface exists with its exact parameter names.
SELECT has_function('credits_grant', ARRAY['text', 'credit_amount', 'text', 'timestamp with time zone', 'text', 'text', 'text', 'numeric', 'text', 'integer', 'text[]']);
SELECT has_function('credits_spend', ARRAY['text', 'credit_amount', 'text', 'text', 'text', 'text']);
SELECT has_function('credits_balance', ARRAY['text', 'text', 'timestamp with time zone', 'text']);
SELECT has_function('credits_history', ARRAY['text', 'text']);
SELECT has_function('credits_expire', ARRAY['timestamp with time zone']);
SELECT has_function('credits_verify', ARRAY[]::text[]);
SELECT has_function('credits_define_type', ARRAY['text', 'text', 'integer', 'text']);
SELECT is(
	(SELECT proargnames FROM pg_proc WHERE oid = 'credits_spend(text, credit_amount, text, text, text, text)'::regprocedure),
	ARRAY['account', 'amount', 'reference', 'credit_type', 'idempotency_key', 'service'],
	'credits_spend parameter names (1.2 adds service)');
SELECT is(
	(SELECT proargnames FROM pg_proc WHERE oid = 'credits_grant(text, credit_amount, text, timestamptz, text, text, text, numeric, text, int, text[])'::regprocedure),
	ARRAY['account', 'amount', 'credit_type', 'expires_at', 'reason', 'reference', 'idempotency_key', 'cost', 'cost_currency', 'priority', 'applies_to'],
	'credits_grant parameter names (1.1 adds cost, cost_currency; 1.2 priority, applies_to)');
SELECT is(
	(SELECT proargnames FROM pg_proc WHERE oid = 'credits_history(text, text)'::regprocedure),
	ARRAY['account', 'credit_type', 'entry_id', 'at', 'kind', 'direction', 'amount', 'running_balance', 'reference', 'reason'],
	'credits_history parameter and column names');

-- Soonest-expiring first; never-expiring last; then oldest grant; then id.
SELECT lives_ok($$
	SELECT credits_grant('o-1', 10, reason => 'never');
	SELECT credits_grant('o-1', 10, expires_at => now() + interval '20 days', reason => 'late');
	SELECT credits_grant('o-1', 10, expires_at => now() + interval '5 days', reason => 'soon');
	SELECT credits_grant('o-1', 10, expires_at => now() + interval '5 days', reason => 'soon-2');
$$, 'four lots granted');
SELECT credits_spend('o-1', 15, 'first');
SELECT results_eq(
	$$SELECT l.reason, al.amount::credit_amount FROM credits.allocation al
	  JOIN credits.lot l USING (account, lot_id)
	  JOIN credits.entry e ON e.account = al.account AND e.entry_id = al.entry_id
	  WHERE e.reference = 'first' ORDER BY al.lot_id$$,
	$$VALUES ('soon', '10'::credit_amount), ('soon-2', '5'::credit_amount)$$,
	'equal expiry: lot id decides (same transaction, same grant time)');
SELECT credits_spend('o-1', 10, 'second');
SELECT results_eq(
	$$SELECT l.reason, al.amount::credit_amount FROM credits.allocation al
	  JOIN credits.lot l USING (account, lot_id)
	  JOIN credits.entry e ON e.account = al.account AND e.entry_id = al.entry_id
	  WHERE e.reference = 'second' ORDER BY l.expires_at NULLS LAST$$,
	$$VALUES ('soon-2', '5'::credit_amount), ('late', '5'::credit_amount)$$,
	'later expiry after sooner, before never-expiring');
SELECT credits_spend('o-1', 10, 'third');
SELECT results_eq(
	$$SELECT l.reason, al.amount::credit_amount FROM credits.allocation al
	  JOIN credits.lot l USING (account, lot_id)
	  JOIN credits.entry e ON e.account = al.account AND e.entry_id = al.entry_id
	  WHERE e.reference = 'third' ORDER BY l.expires_at NULLS LAST$$,
	$$VALUES ('late', '5'::credit_amount), ('never', '5'::credit_amount)$$,
	'never-expiring lots last');
SELECT is(credits_balance('o-1'), '5'::credit_amount, 'balance after three spends');

-- All or nothing.
SELECT throws_ok($$SELECT credits_spend('o-1', 6)$$, 'CR001',
	'insufficient credits: 5 available, 6 required', 'CR001 names available and required');
SELECT is(credits_balance('o-1'), '5'::credit_amount, 'refused spend changed nothing');
SELECT throws_ok($$SELECT credits_spend('unknown-account', 1)$$, 'CR001', NULL, 'unknown account has 0');
SELECT throws_ok($$SELECT credits_spend(NULL, 1)$$, '22004', NULL, 'NULL account is 22004, not a no-op');
SELECT throws_ok($$SELECT credits_spend('o-1', 0)$$, '22023', NULL, 'zero amount');
SELECT throws_ok($$SELECT credits_spend('o-1', 1, credit_type => 'XYZ')$$, '42704', NULL, 'unknown type');
SELECT throws_ok($$SELECT credits_grant('o-1', 1, expires_at => now() - interval '1 s')$$, '22023', NULL, 'past expiry');

-- History: oldest first, directions, running balances add up.
SELECT results_eq(
	$$SELECT kind, direction, amount, running_balance FROM credits_history('o-1')$$,
	$$VALUES ('grant', 'in', '10'::credit_amount, '10'::credit_amount),
	         ('grant', 'in', '10', '20'), ('grant', 'in', '10', '30'), ('grant', 'in', '10', '40'),
	         ('spend', 'out', '15', '25'), ('spend', 'out', '10', '15'), ('spend', 'out', '10', '5')$$,
	'history with running balance');
SELECT is(
	(SELECT sum(CASE direction WHEN 'in' THEN amount ELSE -amount END) FROM credits_history('o-1')),
	credits_balance('o-1'), 'sum of in minus out equals the balance');

-- Idempotency.
SELECT is(credits_spend('o-1', 1, 'r', idempotency_key => 'k'),
		  credits_spend('o-1', 1, 'r', idempotency_key => 'k'), 'same key, same result');
SELECT is(credits_balance('o-1'), '4'::credit_amount, 'spent once');
SELECT throws_ok($$SELECT credits_spend('o-1', 2, 'r', idempotency_key => 'k')$$, 'CR003', NULL,
	'same key, other arguments');

-- The switch.
SELECT credits_set_enabled(false);
SELECT throws_ok($$SELECT credits_spend('o-1', 1)$$, 'CR002', NULL, 'spending disabled');
SELECT lives_ok($$SELECT credits_grant('o-1', 1)$$, 'granting still works while disabled');
SELECT credits_set_enabled(true);
SELECT ok(credits_enabled(), 'enabled again');

-- Append-only.
SELECT throws_ok($$DELETE FROM credits.entry$$, '42501', NULL, 'history cannot be deleted');

SELECT is_empty('SELECT * FROM credits_verify()', 'credits_verify() is clean');
SELECT * FROM finish();
ROLLBACK;
