-- Bad input across the API: NULL for every argument of every function that
-- changes the ledger, huge account keys, and keys full of quotes,
-- backslashes and control characters.
--
-- A NULL where a value is required is 22004, never a silent no-op, and a
-- failed call leaves the ledger exactly as it was.  The list of functions is
-- cross-checked against pg_proc: a new volatile function of the extension
-- without a row in nulls_sample below shows up as a difference.
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never

-- A digest of the whole ledger: every row of every table of the schema
-- credits, plus the history (as credits_history() shows it) of every
-- account.  Sequences are left out: nextval() is not transactional.
CREATE OR REPLACE FUNCTION nulls_fingerprint() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	t regclass;
	a record;
	part text;
	parts text := '';
BEGIN
	FOR t IN SELECT c.oid FROM pg_class c
			 WHERE c.relnamespace = 'credits'::regnamespace AND c.relkind = 'r'
			 ORDER BY c.relname
	LOOP
		EXECUTE format('SELECT coalesce(string_agg(x::text, E''\n'' ORDER BY x::text), '''') FROM %s x', t)
			INTO part;
		parts := parts || t::text || E'\n' || part || E'\n';
	END LOOP;
	FOR a IN SELECT x.account, x.credit_type FROM credits.account x ORDER BY 1, 2 LOOP
		SELECT coalesce(string_agg(h::text, E'\n' ORDER BY h.entry_id), '') INTO part
		FROM credits_history(a.account, a.credit_type) h;
		parts := parts || md5(a.account) || '/' || a.credit_type || E'\n' || part || E'\n';
	END LOOP;
	RETURN md5(parts);
END
$$;

-- Run a statement.  outcome is its SQLSTATE, or 'no error' (its effects are
-- then rolled back, so that every case starts from the same ledger);
-- unchanged tells whether the ledger after the call (before that rollback)
-- is identical to the ledger before it.
CREATE OR REPLACE FUNCTION nulls_try(stmt text, OUT outcome text, OUT unchanged boolean)
LANGUAGE plpgsql AS $$
DECLARE
	before text := nulls_fingerprint();
	after text;
BEGIN
	BEGIN
		EXECUTE stmt;
		after := nulls_fingerprint();
		RAISE EXCEPTION 'undo' USING ERRCODE = 'ZZ001';
	EXCEPTION
		WHEN SQLSTATE 'ZZ001' THEN
			outcome := 'no error';
		WHEN OTHERS THEN
			outcome := SQLSTATE;
			after := nulls_fingerprint();
	END;
	unchanged := before = after;
END
$$;

-- Objects the calls below act on.
CREATE ROLE regress_nulls_portal;
SELECT credits_define_type('HRS', 'Hours', 2);
SELECT credits_set_rate('USD', 10) > 0 AS rate;
SELECT credits_define_package('nulls-pack', 100, 'USD', 10) > 0 AS package;
SELECT credits_define_price_tier('nulls-product', 1, 100, 'USD');
SELECT credits_define_rule('nulls-svc', 10, 'add') > 0 AS rule;
SELECT credits_define_rule('nulls-svc', 20, 'add', variant => 'big') > 0 AS rule;
SELECT credits_grant('n-1', 1000) > 0 AS granted;
SELECT credits_grant('n-1', 50, expires_at => now() + interval '30 days') AS lot \gset
SELECT credits_spend('n-1', 7, 'nulls-order') AS spend_entry \gset
SELECT credits_hold('n-1', 9, 'nulls-invoice') AS hold \gset
SELECT credits_issue('n-1', 'nulls-svc', 'nulls-inv-1') > 0 AS issued;
SELECT request_id AS request FROM credits_purchase('n-1', 'nulls-pack', 'bank_transfer') \gset
SELECT credits_subscribe('n-1', 5, '1 month') AS subscription \gset
SELECT credits_set_low_balance('n-1', 20);
SELECT credits_set_auto_topup('n-1', 10, 'nulls-pack', 'bank_transfer');

-- One sample value (an SQL expression) per argument: with every argument
-- set from here, each call succeeds (checked below).
CREATE TABLE nulls_sample (fn name, arg text, expr text, PRIMARY KEY (fn, arg));
INSERT INTO nulls_sample VALUES
	('credits_accept_request', 'request_id', :'request'),
	('credits_accept_request', 'decided_by', $$'nulls-agent'$$),
	('credits_cancel_subscription', 'subscription_id', :'subscription'),
	('credits_capture', 'hold_id', :'hold'),
	('credits_capture', 'amount', '4'),
	('credits_clawback', 'reference', $$'nulls-inv-1'$$),
	('credits_events_since', 'after_id', '0'),
	('credits_events_since', 'max_rows', '10'),
	('credits_define_package', 'name', $$'nulls-pack-2'$$),
	('credits_define_package', 'credits', '200'),
	('credits_define_package', 'currency', $$'USD'$$),
	('credits_define_package', 'price', '18'),
	('credits_define_package', 'credit_type', $$'CRD'$$),
	('credits_define_package', 'expires_after', $$'1 year'$$),
	('credits_define_price_tier', 'product', $$'nulls-product'$$),
	('credits_define_price_tier', 'min_quantity', '5'),
	('credits_define_price_tier', 'unit_price', '85'),
	('credits_define_price_tier', 'currency', $$'USD'$$),
	('credits_define_rule', 'service', $$'nulls-svc-2'$$),
	('credits_define_rule', 'credits', '10'),
	('credits_define_rule', 'mode', $$'reset'$$),
	('credits_define_rule', 'variant', $$'small'$$),
	('credits_define_rule', 'credit_type', $$'CRD'$$),
	('credits_define_rule', 'expires_after', $$'30 days'$$),
	('credits_define_rule', 'rollover', '5'),
	('credits_define_rule', 'reset_scope', $$'own'$$),
	('credits_define_type', 'code', $$'WRD'$$),
	('credits_define_type', 'name', $$'Words'$$),
	('credits_define_type', 'scale', '0'),
	('credits_define_type', 'currency', $$'EUR'$$),
	('credits_expire', 'as_of', 'now()'),
	('credits_grant', 'account', $$'n-1'$$),
	('credits_grant', 'amount', '5'),
	('credits_grant', 'credit_type', $$'CRD'$$),
	('credits_grant', 'expires_at', $$now() + interval '1 day'$$),
	('credits_grant', 'reason', $$'nulls-reason'$$),
	('credits_grant', 'reference', $$'nulls-ref'$$),
	('credits_grant', 'idempotency_key', $$'nulls-key-1'$$),
	('credits_grant', 'cost', '12.50'),
	('credits_grant', 'cost_currency', $$'USD'$$),
	('credits_grant', 'priority', '-1'),
	('credits_grant', 'applies_to', $$ARRAY['nulls-svc']$$),
	('credits_grant_many', 'accounts', $$ARRAY['n-1', 'n-2']$$),
	('credits_grant_many', 'amount', '5'),
	('credits_grant_many', 'credit_type', $$'CRD'$$),
	('credits_grant_many', 'expires_at', $$now() + interval '1 day'$$),
	('credits_grant_many', 'reason', $$'nulls-reason'$$),
	('credits_grant_many', 'reference', $$'nulls-ref'$$),
	('credits_hold', 'account', $$'n-1'$$),
	('credits_hold', 'amount', '5'),
	('credits_hold', 'reference', $$'nulls-invoice-2'$$),
	('credits_hold', 'credit_type', $$'CRD'$$),
	('credits_hold', 'idempotency_key', $$'nulls-key-6'$$),
	('credits_issue', 'account', $$'n-1'$$),
	('credits_issue', 'service', $$'nulls-svc'$$),
	('credits_issue', 'reference', $$'nulls-inv-2'$$),
	('credits_issue', 'variant', $$'big'$$),
	('credits_issue', 'quantity', '2'),
	('credits_pay', 'account', $$'n-1'$$),
	('credits_pay', 'amount', '1.50'),
	('credits_pay', 'currency', $$'USD'$$),
	('credits_pay', 'reference', $$'nulls-bill'$$),
	('credits_pay', 'partial', 'true'),
	('credits_pay', 'credit_type', $$'CRD'$$),
	('credits_pay', 'idempotency_key', $$'nulls-key-3'$$),
	('credits_portal_add_role', 'role_name', $$'regress_nulls_portal'$$),
	('credits_portal_remove_role', 'role_name', $$'regress_nulls_portal'$$),
	('credits_prune_events', 'older_than', $$'1 day'$$),
	('credits_purchase', 'account', $$'n-1'$$),
	('credits_purchase', 'package', $$'nulls-pack'$$),
	('credits_purchase', 'method', $$'stripe'$$),
	('credits_purchase', 'reference', $$'nulls-purchase'$$),
	('credits_purchase', 'idempotency_key', $$'nulls-key-5'$$),
	('credits_purchase_quantity', 'account', $$'n-1'$$),
	('credits_purchase_quantity', 'product', $$'nulls-product'$$),
	('credits_purchase_quantity', 'quantity', '3'),
	('credits_purchase_quantity', 'method', $$'stripe'$$),
	('credits_purchase_quantity', 'reference', $$'nulls-purchase-2'$$),
	('credits_purchase_quantity', 'idempotency_key', $$'nulls-key-4'$$),
	('credits_purchase_quantity', 'credit_type', $$'CRD'$$),
	('credits_reject_request', 'request_id', :'request'),
	('credits_reject_request', 'reason', $$'nulls-no'$$),
	('credits_reject_request', 'decided_by', $$'nulls-agent'$$),
	('credits_release', 'hold_id', :'hold'),
	('credits_reverse', 'entry_id', :'spend_entry'),
	('credits_reverse', 'reason', $$'nulls-refund'$$),
	('credits_run_due', 'as_of', 'now()'),
	('credits_set_auto_topup', 'account', $$'n-1'$$),
	('credits_set_auto_topup', 'below', '15'),
	('credits_set_auto_topup', 'package', $$'nulls-pack'$$),
	('credits_set_auto_topup', 'method', $$'stripe'$$),
	('credits_set_auto_topup', 'credit_type', $$'CRD'$$),
	('credits_set_enabled', 'enabled', 'true'),
	('credits_set_low_balance', 'account', $$'n-1'$$),
	('credits_set_low_balance', 'threshold', '10'),
	('credits_set_low_balance', 'credit_type', $$'CRD'$$),
	('credits_set_rate', 'currency', $$'EUR'$$),
	('credits_set_rate', 'credits_per_unit', '12'),
	('credits_set_rate', 'credit_type', $$'CRD'$$),
	('credits_set_rate', 'effective_from', 'now()'),
	('credits_spend', 'account', $$'n-1'$$),
	('credits_spend', 'amount', '3'),
	('credits_spend', 'reference', $$'nulls-order-2'$$),
	('credits_spend', 'credit_type', $$'CRD'$$),
	('credits_spend', 'idempotency_key', $$'nulls-key-2'$$),
	('credits_spend', 'service', $$'nulls-svc'$$),
	('credits_subscribe', 'account', $$'n-1'$$),
	('credits_subscribe', 'credits', '5'),
	('credits_subscribe', 'every', $$'1 month'$$),
	('credits_subscribe', 'mode', $$'reset'$$),
	('credits_subscribe', 'credit_type', $$'CRD'$$),
	('credits_subscribe', 'starts_at', 'now()'),
	('credits_subscribe', 'expires_after', $$'40 days'$$),
	('credits_subscribe', 'rollover', '10'),
	('credits_subscribe', 'reset_scope', $$'own'$$),
	('credits_subscribe_service', 'account', $$'n-1'$$),
	('credits_subscribe_service', 'service', $$'nulls-stream'$$),
	('credits_subscribe_service', 'price', '3'),
	('credits_subscribe_service', 'every', $$'1 month'$$),
	('credits_subscribe_service', 'credit_type', $$'CRD'$$),
	('credits_subscribe_service', 'starts_at', 'now()'),
	('credits_transfer', 'from_account', $$'n-1'$$),
	('credits_transfer', 'to_account', $$'n-2'$$),
	('credits_transfer', 'amount', '3'),
	('credits_transfer', 'reference', $$'nulls-gift'$$),
	('credits_transfer', 'credit_type', $$'CRD'$$),
	('credits_transfer', 'idempotency_key', $$'nulls-key-7'$$),
	('credits_void', 'lot_id', :'lot'),
	('credits_void', 'reason', $$'nulls-void'$$),
	('credits_void', 'account', $$'n-1'$$),
	('credits_capture', 'account', $$'n-1'$$),
	('credits_release', 'account', $$'n-1'$$),
	('credits_reverse', 'account', $$'n-1'$$),
	('credits_cancel_subscription', 'account', $$'n-1'$$),
	('credits_accept_request', 'account', $$'n-1'$$),
	('credits_reject_request', 'account', $$'n-1'$$);

-- Arguments for which NULL means something (documented), so that a call
-- with NULL there must succeed.  Every other argument must refuse NULL
-- with 22004, whether it has a default or not.
CREATE TABLE nulls_meaningful (fn name, arg text, meaning text, PRIMARY KEY (fn, arg));
INSERT INTO nulls_meaningful VALUES
	('credits_capture', 'amount', 'capture the whole hold'),
	('credits_capture', 'account', 'the hold is found by its id alone'),
	('credits_release', 'account', 'the hold is found by its id alone'),
	('credits_reverse', 'account', 'the entry is found by its id alone'),
	('credits_void', 'account', 'the lot is found by its id alone'),
	('credits_cancel_subscription', 'account', 'the subscription is found by its id alone'),
	('credits_accept_request', 'account', 'the request is found by its id alone'),
	('credits_reject_request', 'account', 'the request is found by its id alone'),
	('credits_define_package', 'expires_after', 'the credits never expire'),
	('credits_define_rule', 'variant', 'the rule of the service without variant'),
	('credits_define_rule', 'expires_after', 'the credits never expire'),
	('credits_define_rule', 'rollover', 'a reset keeps nothing'),
	('credits_define_type', 'currency', 'not a monetary credit'),
	('credits_grant', 'expires_at', 'never expires'),
	('credits_grant', 'reason', 'no reason'),
	('credits_grant', 'reference', 'no reference'),
	('credits_grant', 'idempotency_key', 'no idempotency'),
	('credits_grant', 'applies_to', 'pays for any service'),
	('credits_grant_many', 'expires_at', 'never expires'),
	('credits_grant_many', 'reason', 'no reason'),
	('credits_grant_many', 'reference', 'no reference'),
	('credits_hold', 'idempotency_key', 'no idempotency'),
	('credits_issue', 'variant', 'the rule of the service without variant'),
	('credits_pay', 'idempotency_key', 'no idempotency'),
	('credits_purchase', 'reference', 'no reference'),
	('credits_purchase', 'idempotency_key', 'no idempotency'),
	('credits_purchase_quantity', 'reference', 'no reference'),
	('credits_purchase_quantity', 'idempotency_key', 'no idempotency'),
	('credits_reject_request', 'reason', 'no reason'),
	('credits_reverse', 'reason', 'no reason'),
	('credits_set_auto_topup', 'below', 'turns auto top-up off'),
	('credits_set_low_balance', 'threshold', 'removes the threshold'),
	('credits_spend', 'reference', 'no reference'),
	('credits_spend', 'idempotency_key', 'no idempotency'),
	('credits_spend', 'service', 'no service: unrestricted lots only'),
	('credits_subscribe', 'expires_after', 'the credits never expire'),
	('credits_subscribe', 'rollover', 'a reset keeps nothing'),
	('credits_transfer', 'reference', 'no reference'),
	('credits_transfer', 'idempotency_key', 'no idempotency');

-- The functions of the extension, their arguments (in order) and whether
-- each has a default.
CREATE OR REPLACE VIEW nulls_args AS
SELECT p.proname AS fn, p.oid AS fn_oid, a.n, a.arg, format_type(a.typ, NULL) AS typ,
	   a.n > p.pronargs - p.pronargdefaults AS has_default
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'credits'
CROSS JOIN LATERAL unnest(p.proargnames[1:p.pronargs], p.proargtypes::oid[])
	WITH ORDINALITY AS a(arg, typ, n)
WHERE p.pronamespace = 'public'::regnamespace;

-- The call of fn with every argument from nulls_sample (defaults where it
-- has none), except null_arg, which is NULL.
CREATE OR REPLACE FUNCTION nulls_call(f name, null_arg text) RETURNS text LANGUAGE sql AS $$
	SELECT format('SELECT %I(%s)', f, string_agg(
		format('%I => %s', a.arg,
			   CASE WHEN a.arg = null_arg THEN 'NULL::' || a.typ
					ELSE '(' || s.expr || ')::' || a.typ END), ', ' ORDER BY a.n))
	FROM nulls_args a
	LEFT JOIN nulls_sample s ON s.fn = a.fn AND s.arg = a.arg
	WHERE a.fn = f AND (s.expr IS NOT NULL OR a.arg = null_arg)
$$;

-- Every volatile function of the extension has samples (a new function
-- without a NULL test shows up here); trigger functions are not called.
SELECT p.oid::regprocedure AS function_without_null_test
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'credits'
WHERE p.pronamespace = 'public'::regnamespace AND p.provolatile = 'v'
  AND p.prorettype <> 'trigger'::regtype
  AND NOT EXISTS (SELECT 1 FROM nulls_sample s WHERE s.fn = p.proname)
  AND p.pronargs > 0	-- credits_distribute(): no argument to make NULL
ORDER BY 1::text;
-- ... and every argument of those functions has a sample.
SELECT a.fn, a.arg AS argument_without_sample FROM nulls_args a
WHERE a.fn IN (SELECT fn FROM nulls_sample)
  AND NOT EXISTS (SELECT 1 FROM nulls_sample s WHERE s.fn = a.fn AND s.arg = a.arg)
ORDER BY 1, 2;
SELECT s.fn, s.arg AS sample_of_no_argument FROM nulls_sample s
WHERE NOT EXISTS (SELECT 1 FROM nulls_args a WHERE a.fn = s.fn AND a.arg = s.arg)
ORDER BY 1, 2;

-- With every argument given, each call succeeds: so the failures below come
-- from the NULL alone.  (Rolled back.)
SELECT f.fn, t.outcome AS all_arguments_given
FROM (SELECT DISTINCT fn FROM nulls_sample) f,
	 LATERAL nulls_try(nulls_call(f.fn, NULL)) t
ORDER BY 1;

-- NULL for each argument in turn.  verdict: 22004 expected unless NULL
-- means something (then the call must succeed); a failed call must leave
-- the ledger unchanged.
SELECT a.fn, a.arg,
	   CASE WHEN a.has_default THEN 'default' ELSE '' END AS "default",
	   t.outcome,
	   CASE WHEN t.outcome = 'no error' THEN
				CASE WHEN t.unchanged THEN 'silent no-op' ELSE 'changed' END
			WHEN t.unchanged THEN 'unchanged' ELSE 'CHANGED' END AS ledger,
	   CASE WHEN m.meaning IS NOT NULL THEN
				CASE WHEN t.outcome = 'no error' AND NOT t.unchanged THEN 'ok: ' || m.meaning
					 ELSE 'BUG: NULL should mean ' || m.meaning END
			WHEN t.outcome = '22004' AND t.unchanged THEN 'ok'
			ELSE 'BUG: expected 22004' END AS verdict
FROM nulls_args a
LEFT JOIN nulls_meaningful m ON m.fn = a.fn AND m.arg = a.arg
CROSS JOIN LATERAL nulls_try(nulls_call(a.fn, a.arg)) t
WHERE a.fn IN (SELECT fn FROM nulls_sample)
ORDER BY a.fn, a.n;

-- An empty account key is refused (22023) by every function that takes
-- an account, like NULL is, and changes nothing.
SELECT a.fn, t.outcome, t.unchanged,
	   CASE WHEN t.outcome = '22023' AND t.unchanged THEN 'ok'
			ELSE 'BUG: expected 22023' END AS verdict
FROM nulls_args a
CROSS JOIN LATERAL nulls_try(replace(nulls_call(a.fn, 'account'),
									 'account => NULL::text', $$account => ''$$)) t
WHERE a.fn IN (SELECT fn FROM nulls_sample) AND a.arg = 'account'
ORDER BY a.fn;

-- Several NULLs at once, and NULL in the middle of a transaction that then
-- goes on: still 22004, nothing half done.
SELECT nulls_fingerprint() AS before \gset
\set VERBOSITY sqlstate
SELECT credits_spend(NULL, NULL);
SELECT credits_grant(NULL, NULL, NULL, NULL, NULL, NULL, NULL);
SELECT credits_hold(NULL, NULL, NULL, NULL);
SELECT credits_capture(NULL, NULL);
SELECT credits_void(NULL, NULL);
SELECT credits_grant_many(ARRAY['n-1', NULL], 5);
SELECT credits_grant_many(ARRAY['n-1', ''], 5);
SELECT credits_grant_many(ARRAY[NULL]::text[], 5);
BEGIN;
SELECT credits_grant('n-2', 10) > 0 AS granted;
SAVEPOINT s;
SELECT credits_spend('n-2', NULL);
ROLLBACK TO SAVEPOINT s;
SELECT credits_spend('n-2', 4) > 0 AS spent;
ROLLBACK;
\set VERBOSITY default
SELECT nulls_fingerprint() = :'before' AS unchanged;

-- Huge account keys.  Account keys are part of btree keys, and a btree
-- index row is limited to about 2.7 kB after compression: a key that does
-- not compress that small is refused cleanly (54000, program_limit_exceeded)
-- and changes nothing; one that compresses well works like any other key.
CREATE OR REPLACE FUNCTION nulls_random_key(len int, seed int) RETURNS text LANGUAGE sql AS $$
	SELECT left(string_agg(md5(seed::text || ':' || i::text), '' ORDER BY i), len)
	FROM generate_series(1, len / 32 + 1) i
$$;
SELECT nulls_fingerprint() AS before \gset
SELECT length(k) AS key_length, (nulls_try(format('SELECT credits_grant(%L, 5)', k))).*
FROM (VALUES (nulls_random_key(10240, 1)), (nulls_random_key(3000, 2)),
			 (nulls_random_key(2600, 3))) v(k);
SELECT (nulls_try(format('SELECT credits_spend(%L, 5)', nulls_random_key(10240, 1)))).*;
SELECT (nulls_try(format('SELECT credits_hold(%L, 5, %L)', nulls_random_key(10240, 1), 'r'))).*;
SELECT (nulls_try(format('SELECT credits_subscribe(%L, 5, %L)', nulls_random_key(10240, 1), '1 month'))).*;
SELECT (nulls_try(format('SELECT credits_purchase(%L, %L, %L)', nulls_random_key(10240, 1), 'nulls-pack', 'stripe'))).*;
SELECT (nulls_try(format('SELECT credits_issue(%L, %L, %L)', nulls_random_key(10240, 1), 'nulls-svc', 'nulls-huge'))).*;
SELECT (nulls_try(format('SELECT credits_grant(%L, 5, reference => %L, reason => %L)',
						 'n-3', nulls_random_key(10240, 4), nulls_random_key(10240, 5)))).*;
SELECT (nulls_try(format('SELECT credits_grant(%L, 5, idempotency_key => %L)',
						 'n-3', nulls_random_key(10240, 6)))).*;
SELECT nulls_fingerprint() = :'before' AS unchanged;
-- Reading a huge key that was never stored: 0 and no history.
SELECT credits_balance(nulls_random_key(10240, 1)), count(h.*) AS entries
FROM credits_history(nulls_random_key(10240, 1)) h;
-- A 10 kB key that compresses well, used end to end.
SELECT repeat('K', 10240) AS big \gset
SELECT credits_grant(:'big', 50) > 0 AS granted;
SELECT credits_spend(:'big', 20) > 0 AS spent;
SELECT credits_hold(:'big', 5, 'big-invoice') AS big_hold \gset
SELECT credits_capture(:big_hold, 2) > 0 AS captured;
SELECT credits_balance(:'big'), credits_balance(repeat('K', 10239)) AS one_shorter;
SELECT kind, direction, amount, running_balance FROM credits_history(:'big');
SELECT count(*) AS events, bool_and(payload->>'account' = :'big') AS payload_account
FROM credits.event WHERE account = :'big';

-- Keys with quotes, backslashes, control characters, format and regex
-- metacharacters are data: each is its own account, nothing is merged or
-- mangled, and events carry the key exactly.
CREATE TABLE nulls_key (label text, k text);
INSERT INTO nulls_key VALUES
	('single quote', $$O'Brien$$),
	('double quote', '"quoted"'),
	('backslash', E'back\\slash'),
	('backslash n', E'not\\na newline'),
	('newline', E'line1\nline2'),
	('tab', E'tab\there'),
	('carriage return', E'cr\rhere'),
	('control 0x01', E'ctrl\x01char'),
	('escape 0x1b', E'esc\x1b[31mred'),
	('leading space', ' n-1'),
	('trailing space', 'n-1 '),
	('upper case', 'N-1'),
	('percent s', '%s %I %L'),
	('dollar', '$1 $$ $q$'),
	('sql', $$x'); DROP TABLE nulls_key; --$$),
	('like', 'n\_%'),
	('regex', '^.*$'),
	('json', '{"account": 1}'),
	('unicode', 'clé ünïcødé 日本 🙂'),
	('zero width', E'zero\u200bwidth');
SELECT credits_balance('n-1') AS n1_before \gset
SELECT label, credits_grant(k, 10 + row_number() OVER (ORDER BY label)) > 0 AS granted
FROM nulls_key ORDER BY label;
SELECT label, credits_spend(k, 3, reference => k) > 0 AS spent FROM nulls_key ORDER BY label;
SELECT label, credits_hold(k, 1, k) > 0 AS held FROM nulls_key ORDER BY label;
-- Each key kept its own credits: granted 10 + rank, spent 3, held 1.
SELECT label, credits_balance(k) = 10 + row_number() OVER (ORDER BY label) - 4 AS balance_ok,
	   (SELECT count(*) FROM credits_history(k)) AS entries,
	   (SELECT bool_and(reference = k) FROM credits_history(k) WHERE kind = 'spend') AS reference_kept,
	   (SELECT count(*) FROM credits.account a WHERE a.account = k) AS account_rows,
	   (SELECT bool_and(e.payload->>'account' = k) FROM credits.event e WHERE e.account = k) AS events_ok
FROM nulls_key ORDER BY label;
SELECT credits_balance('n-1') = :'n1_before' AS n1_untouched;
SELECT count(DISTINCT account) AS distinct_accounts FROM credits.account
WHERE account IN (SELECT k FROM nulls_key);

SELECT * FROM credits_verify();
DROP TABLE nulls_key, nulls_sample, nulls_meaningful;
DROP VIEW nulls_args;
DROP FUNCTION nulls_call(name, text), nulls_try(text), nulls_fingerprint(),
	nulls_random_key(int, int);
DROP EXTENSION credits;
DROP ROLE regress_nulls_portal;
