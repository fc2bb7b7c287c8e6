-- credits_transfer: credits move from one account to another, taken in
-- spend order and received as new lots with the same expiries and their
-- share of the cost basis; all or nothing.
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never

\i test/sql/include/error_of.psql

-- The lots of an account as a transfer leaves them: amount, remaining,
-- expiry (relative to the marks below), source, reference and cost basis.
CREATE FUNCTION pg_temp.lots(acct text, typ text DEFAULT 'CRD')
RETURNS TABLE(lot text, amount credit_amount, remaining credit_amount, expires text,
			  source text, reference text, cost numeric, cost_currency text)
LANGUAGE sql AS $$
	SELECT coalesce(l.reason, '-'), l.amount, l.remaining,
		   CASE WHEN l.expires_at IS NULL THEN 'never'
				WHEN l.expires_at = current_setting('tr.d10')::timestamptz THEN 'd10'
				WHEN l.expires_at = current_setting('tr.d30')::timestamptz THEN 'd30'
				ELSE 'other' END,
		   l.source, l.reference, l.cost, l.cost_currency
	FROM credits.lot l WHERE l.account = acct AND l.credit_type = typ
	ORDER BY l.expires_at, l.granted_at, l.lot_id
$$;
-- Every lot's unused cost as credits_liability() adds it up, unrounded,
-- per purchase currency: a transfer must not move it by a single digit.
CREATE FUNCTION pg_temp.cost_basis(at timestamptz DEFAULT now())
RETURNS TABLE(currency text, outstanding numeric, cost numeric)
LANGUAGE sql AS $$
	SELECT x.currency, sum(x.unused), sum(x.cost)
	FROM credits.liability_lots(at) x
	GROUP BY x.currency ORDER BY x.currency NULLS FIRST
$$;

SELECT now() + interval '10 days' AS d10, now() + interval '30 days' AS d30 \gset
SELECT set_config('tr.d10', :'d10', false) IS NOT NULL AS d10_set,
	   set_config('tr.d30', :'d30', false) IS NOT NULL AS d30_set;

-- 1. Spend order, expiries, cost basis.
-- t-a's lots (labelled by reason): A never expires, 10 credits bought for
-- 30.00 USD; B expires in 30 days, 10 for 10.00 EUR; C expires in 10 days,
-- 6 free credits; D expires in 10 days too (granted after C), 3 credits
-- for 10.00 USD (a third of a cent has no finite decimal).
SELECT credits_grant('t-a', 10, reason => 'A', cost => 30.00, cost_currency => 'USD') > 0 AS a;
SELECT credits_grant('t-a', 10, expires_at => :'d30', reason => 'B', cost => 10.00, cost_currency => 'EUR') > 0 AS b;
SELECT credits_grant('t-a', 6, expires_at => :'d10', reason => 'C') > 0 AS c;
SELECT credits_grant('t-a', 3, expires_at => :'d10', reason => 'D', cost => 10.00, cost_currency => 'USD') > 0 AS d;
SELECT credits_spend('t-a', 1, 'order-1') > 0 AS spent;
SELECT * FROM credits_liability();
SELECT * FROM pg_temp.cost_basis();
SELECT clock_timestamp() AS t0 \gset

-- 6 to t-b, an account that does not exist yet: C's 5 left, then 1 of D.
SELECT credits_transfer('t-a', 't-b', 6, 'gift-1') AS x1 \gset
SELECT * FROM pg_temp.lots('t-a');
SELECT * FROM pg_temp.lots('t-b');
SELECT credits_balance('t-a') AS a_balance, credits_balance('t-b') AS b_balance;
-- The liability has not moved, to the last digit.
SELECT * FROM credits_liability();
SELECT * FROM pg_temp.cost_basis();
SELECT clock_timestamp() AS t1 \gset

-- 10 more: the rest of D, then 8 of B.  A (never expiring) is untouched.
SELECT credits_transfer('t-a', 't-b', 10, 'gift-2') AS x2 \gset
SELECT * FROM pg_temp.lots('t-a');
SELECT * FROM pg_temp.lots('t-b');
SELECT * FROM pg_temp.cost_basis();
SELECT clock_timestamp() AS t2 \gset

-- Received lots move on like any other, in t-b's spend order: all of the
-- free 5, the 1-credit USD lot, and 1 of the 2-credit USD lot.
SELECT credits_transfer('t-b', 't-c', 7, 'pass-on') AS x3 \gset
SELECT * FROM pg_temp.lots('t-b');
SELECT * FROM pg_temp.lots('t-c');
SELECT * FROM pg_temp.cost_basis();
-- ... and at every instant in between, read from history.
SELECT t, (SELECT string_agg(format('%s %s %s', c.currency, c.outstanding, c.cost), ', ')
		   FROM pg_temp.cost_basis(v.at) c) AS cost_basis
FROM (VALUES ('t0', :'t0'::timestamptz), ('t1', :'t1'), ('t2', :'t2')) v(t, at) ORDER BY t;
SELECT * FROM credits_liability(:'t1');

-- An account holding credits: the share counts what its open holds took
-- from the lot too, as the liability does (9 credits for 10.00 USD, 2
-- held, 4 transferred: 4/9 of 10.00 USD moves).
SELECT credits_grant('t-h', 9, cost => 10.00, cost_currency => 'USD') > 0 AS granted;
SELECT credits_hold('t-h', 2, 'invoice-h') AS hold_h \gset
SELECT * FROM pg_temp.cost_basis();
SELECT credits_transfer('t-h', 't-c', 4) > 0 AS transferred;
SELECT * FROM pg_temp.lots('t-h');
SELECT * FROM pg_temp.lots('t-c');
SELECT * FROM pg_temp.cost_basis();
SELECT credits_release(:hold_h);
SELECT * FROM pg_temp.cost_basis();

-- 2. History, statement and usage on both sides.
SELECT kind, direction, amount, running_balance, reference, reason FROM credits_history('t-a');
SELECT kind, direction, amount, running_balance, reference, reason FROM credits_history('t-b');
SELECT h.entry_id = :x1 AS is_x1, h.entry_id = :x2 AS is_x2
FROM credits_history('t-a') h WHERE h.kind = 'transfer';
-- The receiving entry names the sending one.
SELECT i.account, i.related_id = o.entry_id AS names_its_out_entry, i.amount = o.amount AS same_amount
FROM credits.entry i JOIN credits.entry o ON o.entry_id = i.related_id
WHERE i.kind = 'transfer_in' ORDER BY i.entry_id;
SELECT line, kind, direction, amount, balance, reference FROM credits_statement('t-b', :'t0');
SELECT line, kind, direction, amount, balance, reference FROM credits_statement('t-a', :'t0', :'t1');
-- Usage: a transfer is in net only (it is neither granted nor spent), and
-- net is each account's change of balance.
SELECT u.*, credits_balance(u.account) - credits_balance(u.account, at => :'t0') AS balance_change
FROM credits_usage(:'t0', now()) u ORDER BY u.account;
SELECT * FROM credits_usage(:'t0', :'t1', 't-b');
SELECT credits_balance('t-b', at => :'t0') AS b_at_t0, credits_balance('t-b', at => :'t1') AS b_at_t1,
	   credits_balance('t-b', at => :'t2') AS b_at_t2;
-- The summary of an account created by a transfer.
SELECT * FROM credits_summary('t-c');

-- 3. Events: transferred_out and transferred_in (kind "transfer" with its
-- direction), and balance_depleted when a transfer empties the account.
SELECT credits_grant('t-d', 4) > 0 AS granted;
SELECT credits_transfer('t-d', 't-e', 4, 'all-of-it') AS x4 \gset
SELECT type, account, payload - 'entry_id' - 'lot_id' AS payload
FROM credits.event WHERE account IN ('t-d', 't-e') ORDER BY id;
SELECT e.type, (e.payload->>'entry_id')::bigint = h.entry_id AS names_its_entry
FROM credits.event e JOIN credits.entry h ON h.account = e.account AND h.entry_id = e.entry_id
WHERE e.account IN ('t-d', 't-e') AND h.kind LIKE 'transfer%' ORDER BY e.id;

-- 4. Expiry: due expirations are recorded first on both sides, received
-- lots keep their expiry, and history answers the balance at any instant.
SELECT credits_grant('t-f', 5, expires_at => clock_timestamp() + interval '1 s', reason => 'short') > 0 AS short;
SELECT credits_grant('t-f', 7, expires_at => clock_timestamp() + interval '3 s', reason => 'longer') > 0 AS longer;
SELECT credits_grant('t-g', 3, expires_at => clock_timestamp() + interval '1 s', reason => 'g-short') > 0 AS g_short;
SELECT pg_sleep(1.2);
SELECT credits_fingerprint() AS before \gset
-- 5 of t-f's 12 expired: 8 is more than is left.  Nothing is recorded.
SELECT pg_temp.error_of($$SELECT credits_transfer('t-f', 't-g', 8)$$) AS short;
SELECT credits_fingerprint() = :'before' AS unchanged;
SELECT credits_transfer('t-f', 't-g', 7, 'before-it-expires') > 0 AS transferred;
SELECT kind, direction, amount, running_balance, reference FROM credits_history('t-f');
SELECT kind, direction, amount, running_balance, reference FROM credits_history('t-g');
SELECT l.reason, l.source, l.amount, l.remaining, l.expires_at = s.expires_at AS same_expiry
FROM credits.lot l, credits.lot s
WHERE l.account = 't-g' AND l.source = 'transfer' AND s.account = 't-f' AND s.reason = 'longer';
SELECT expires_at AS g_expiry FROM credits.lot WHERE account = 't-g' AND source = 'transfer' \gset
SELECT clock_timestamp() AS before_expiry \gset
SELECT pg_sleep(greatest(0, extract(epoch FROM :'g_expiry'::timestamptz - clock_timestamp()) + 0.2)::float8);
SELECT credits_grant('t-g', 1, reason => 'later') > 0 AS granted;
SELECT kind, direction, amount, running_balance FROM credits_history('t-g');
SELECT credits_balance('t-g', at => :'before_expiry') AS before_expiry,
	   credits_balance('t-g', at => :'g_expiry') AS at_expiry,
	   credits_balance('t-g') AS now;
SELECT line, kind, direction, amount, balance, reason FROM credits_statement('t-g', :'before_expiry');
SELECT granted, expired, net FROM credits_usage(:'before_expiry', now(), 't-g');

-- 5. Bad input: SQLSTATE and message, and the ledger unchanged.
SELECT credits_define_type('HRS', 'Hours', 2);
SELECT credits_grant('t-k', 30) > 0 AS granted, credits_grant('t-k', '2.5', 'HRS') > 0 AS hours;
SELECT credits_fingerprint() AS before \gset
SELECT pg_temp.error_of($$SELECT credits_transfer('t-k', 't-l', 31, 'too-much')$$) AS short;
SELECT pg_temp.error_of($$SELECT credits_transfer('nobody', 't-l', 1)$$) AS unknown_source;
SELECT pg_temp.error_of($$SELECT credits_transfer('t-k', 't-l', '2.75', credit_type => 'HRS')$$) AS short_hours;
SELECT pg_temp.error_of($$SELECT credits_transfer('t-k', 't-l', 0)$$) AS zero;
SELECT pg_temp.error_of($$SELECT credits_transfer('t-k', 't-l', -1)$$) AS negative;
SELECT pg_temp.error_of($$SELECT credits_transfer('t-k', 't-l', '1.5')$$) AS finer_than_scale;
SELECT pg_temp.error_of($$SELECT credits_transfer('t-k', 't-l', '0.125', credit_type => 'HRS')$$) AS finer_than_hours;
SELECT pg_temp.error_of($$SELECT credits_transfer('t-k', 't-l', 1, credit_type => 'NOPE')$$) AS unknown_type;
SELECT pg_temp.error_of($$SELECT credits_transfer('t-k', 't-k', 1)$$) AS same_account;
SELECT pg_temp.error_of($$SELECT credits_transfer('', 't-l', 1)$$) AS empty_source;
SELECT pg_temp.error_of($$SELECT credits_transfer('t-k', '', 1)$$) AS empty_destination;
SELECT pg_temp.error_of($$SELECT credits_transfer(NULL, 't-l', 1)$$) AS null_source;
SELECT pg_temp.error_of($$SELECT credits_transfer('t-k', NULL, 1)$$) AS null_destination;
SELECT pg_temp.error_of($$SELECT credits_transfer('t-k', 't-l', NULL)$$) AS null_amount;
SELECT pg_temp.error_of($$SELECT credits_transfer('t-k', 't-l', 1, credit_type => NULL)$$) AS null_type;
SELECT pg_temp.error_of($$SELECT credits_transfer('t-k', 't-l', '1.0000001')$$) AS bad_amount_text;
SELECT pg_temp.error_of(format('SELECT credits_reverse(%s)', :x1), :x1) AS reverse_a_transfer;
SELECT credits_fingerprint() = :'before' AS unchanged;
SELECT count(*) AS no_account_row_for_t_l FROM credits.account WHERE account = 't-l';
-- The switch: off, a transfer is CR002 (balances, grants keep working).
SELECT credits_set_enabled(false);
SELECT credits_fingerprint() AS before \gset
SELECT pg_temp.error_of($$SELECT credits_transfer('t-k', 't-l', 1)$$) AS disabled;
SELECT credits_fingerprint() = :'before' AS unchanged;
SELECT credits_set_enabled(true);
SELECT credits_fingerprint() AS before \gset
-- A failed transfer inside a transaction that goes on leaves nothing.
BEGIN;
SAVEPOINT s;
SELECT pg_temp.error_of($$SELECT credits_transfer('t-k', 't-l', 1000)$$) AS short;
ROLLBACK TO SAVEPOINT s;
SELECT credits_transfer('t-k', 't-l', 1) > 0 AS transferred;
ROLLBACK;
SELECT credits_fingerprint() = :'before' AS unchanged;

-- 6. Idempotency: the source account's key; the same call returns the
-- first one's entry and changes nothing, other arguments are CR003.
SELECT credits_transfer('t-k', 't-l', 3, 'ref-k', idempotency_key => 'k-1') AS k1 \gset
SELECT credits_fingerprint() AS before \gset
SELECT credits_transfer('t-k', 't-l', 3, 'ref-k', idempotency_key => 'k-1') = :k1 AS same_entry;
SELECT credits_transfer(from_account => 't-k', to_account => 't-l', amount => '3.0',
						reference => 'ref-k', credit_type => 'CRD', idempotency_key => 'k-1') = :k1 AS same_entry;
SELECT credits_fingerprint() = :'before' AS unchanged;
SELECT pg_temp.error_of($$SELECT credits_transfer('t-k', 't-l', 4, 'ref-k', idempotency_key => 'k-1')$$) AS other_amount;
SELECT pg_temp.error_of($$SELECT credits_transfer('t-k', 't-m', 3, 'ref-k', idempotency_key => 'k-1')$$) AS other_destination;
SELECT pg_temp.error_of($$SELECT credits_transfer('t-k', 't-l', 3, 'ref-other', idempotency_key => 'k-1')$$) AS other_reference;
SELECT pg_temp.error_of($$SELECT credits_transfer('t-k', 't-l', 3, idempotency_key => 'k-1')$$) AS no_reference;
SELECT pg_temp.error_of($$SELECT credits_transfer('t-k', 't-l', 2, 'ref-k', 'HRS', idempotency_key => 'k-1')$$) AS other_type;
SELECT pg_temp.error_of($$SELECT credits_spend('t-k', 3, 'ref-k', idempotency_key => 'k-1')$$) AS a_spend;
-- Keys are per account: t-l's own k-1 is another key.
SELECT credits_transfer('t-l', 't-k', 1, idempotency_key => 'k-1') <> :k1 AS other_account_other_key;
-- The first call's answer stands while credits are switched off.
SELECT credits_set_enabled(false);
SELECT credits_fingerprint() AS before \gset
SELECT credits_transfer('t-k', 't-l', 3, 'ref-k', idempotency_key => 'k-1') = :k1 AS same_entry_while_off;
SELECT credits_fingerprint() = :'before' AS unchanged;
SELECT credits_set_enabled(true);
SELECT credits_balance('t-k') AS k, credits_balance('t-l') AS l;

-- 7. Roles and portals.  credits_operator may transfer, credits_reader may
-- not; a client portal may not, whichever side is its own (a transfer
-- changes another account).
CREATE ROLE regress_transfer_reader IN ROLE credits_reader;
CREATE ROLE regress_transfer_operator IN ROLE credits_operator;
CREATE ROLE regress_transfer_portal NOLOGIN IN ROLE credits_admin;
SELECT credits_portal_add_role('regress_transfer_portal');
SELECT credits_fingerprint() AS before \gset
SET ROLE regress_transfer_reader;
SELECT pg_temp.error_of($$SELECT credits_transfer('t-k', 't-l', 1)$$) AS reader;
RESET ROLE;
SET ROLE regress_transfer_operator;
SELECT credits_transfer('t-k', 't-l', 1, 'by-operator') > 0 AS operator;
RESET ROLE;
SELECT credits_fingerprint() AS before \gset
SET ROLE regress_transfer_portal;
SELECT set_config('credits.portal_account', 't-k', false) IS NOT NULL AS portal_account_set;
SELECT pg_temp.error_of($$SELECT credits_transfer('t-k', 't-l', 1)$$) AS from_own_account;
SELECT pg_temp.error_of($$SELECT credits_transfer('t-l', 't-k', 1)$$) AS to_own_account;
SELECT pg_temp.error_of($$SELECT credits_transfer('t-l', 't-m', 1)$$) AS others;
SELECT credits_balance('t-k') AS own_balance;
RESET credits.portal_account;
RESET ROLE;
SELECT credits_fingerprint() = :'before' AS unchanged;
SELECT credits_portal_remove_role('regress_transfer_portal');
DROP ROLE regress_transfer_reader, regress_transfer_operator, regress_transfer_portal;

-- 8. credits_verify() checks both sides of every transfer, and can fail.
SELECT * FROM credits_verify();
BEGIN;
-- a received lot that no longer expires when its credits did
UPDATE credits.lot SET expires_at = NULL WHERE account = 't-b' AND source = 'transfer'
  AND expires_at = :'d30';
SELECT check_name, account,
	   regexp_replace(regexp_replace(detail, 'expiring (?!never)[^(]+\(', 'expiring <d30> ('),
					  'entry \d+', 'entry <id>', 'g') AS detail
FROM credits_verify() ORDER BY 1, 3;
ROLLBACK;
BEGIN;
-- a transfer's receiving side lost (history is append-only: switched off here)
ALTER TABLE credits.entry DISABLE TRIGGER entry_append_only;
UPDATE credits.entry SET related_id = NULL WHERE entry_id = (
	SELECT entry_id FROM credits.entry WHERE kind = 'transfer_in' AND related_id = :x4);
SELECT check_name, account, regexp_replace(detail, 'entry \d+', 'entry <id>', 'g') AS detail
FROM credits_verify() ORDER BY 1, 3;
ROLLBACK;
SELECT * FROM credits_verify();
DROP FUNCTION pg_temp.lots(text, text), pg_temp.cost_basis(timestamptz);
DROP EXTENSION credits;
