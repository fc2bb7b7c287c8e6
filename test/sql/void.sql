-- credits_void: removes what is left of a lot now; spent credits stay spent
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never

\i test/sql/include/error_of.psql

-- A lot partly spent: the void removes the rest, and returns it.
SELECT credits_grant('v-1', 100, reason => 'promo') AS promo \gset
SELECT credits_grant('v-1', 50, reason => 'paid') > 0;
SELECT credits_spend('v-1', 30, 'order-1') > 0;
SELECT credits_void(:promo, 'granted by mistake');
SELECT credits_balance('v-1');
SELECT remaining, is_open, voided_at IS NOT NULL AS voided FROM credits.lot WHERE lot_id = :promo;
SELECT kind, direction, amount, running_balance, reference, reason FROM credits_history('v-1');
-- The 30 spent from the promo lot stay spent; later spends use the other lot.
SELECT credits_spend('v-1', 50, 'order-2') > 0;
SELECT credits_balance('v-1');
SELECT l.reason, al.amount FROM credits.entry e
JOIN credits.allocation al ON al.account = e.account AND al.entry_id = e.entry_id
JOIN credits.lot l ON l.account = al.account AND l.lot_id = al.lot_id
WHERE e.account = 'v-1' AND e.kind = 'spend' ORDER BY e.seq;

-- Voiding twice is CR005; an unknown lot is 42704; NULLs are 22004.
-- Nothing changes.
SELECT credits_fingerprint() AS before \gset
SELECT credits_void(-1, 'no such lot');
SELECT credits_void(:promo, NULL);
SELECT pg_temp.error_of(format('SELECT credits_void(%s, %L)', :promo, 'again'), :promo);
\set VERBOSITY sqlstate
SELECT credits_void(:promo, 'again');
SELECT credits_void(-1, 'no such lot');
SELECT credits_void(NULL, 'no lot');
SELECT credits_void(:promo, NULL);
\set VERBOSITY default
SELECT credits_fingerprint() = :'before' AS unchanged;

-- A lot already spent in full: the void removes 0 and is still recorded.
SELECT credits_grant('v-2', 10) AS l2 \gset
SELECT credits_spend('v-2', 10) > 0;
SELECT credits_void(:l2, 'closing the block');
SELECT kind, direction, amount, running_balance, reason FROM credits_history('v-2');

-- An expired lot: its expiry is recorded first, so the void removes 0.
SELECT credits_grant('v-3', 5, expires_at => clock_timestamp() + interval '1 s', reason => 'short') AS l3 \gset
SELECT credits_grant('v-3', 7, reason => 'long') > 0;
SELECT pg_sleep(1.2);
SELECT credits_void(:l3, 'too late');
SELECT kind, direction, amount, running_balance, reason FROM credits_history('v-3');
SELECT credits_balance('v-3');

-- Voids keep working while credits are disabled.
SELECT credits_grant('v-4', 9) AS l4 \gset
SELECT credits_set_enabled(false);
SELECT credits_void(:l4, 'while switched off');
SELECT credits_set_enabled(true);
SELECT credits_balance('v-4');

-- Fractional credit types: exact amounts.
SELECT credits_define_type('USD', 'Account credit', 2, 'USD');
SELECT credits_grant('v-5', '12.34', credit_type => 'USD') AS l5 \gset
SELECT credits_spend('v-5', '0.35', credit_type => 'USD') > 0;
SELECT credits_void(:l5, 'refund to card');
SELECT credits_balance('v-5', 'USD');
SELECT kind, amount, running_balance FROM credits_history('v-5', 'USD');

-- History is append-only: a void is a new entry, never an edit.
\set VERBOSITY sqlstate
UPDATE credits.entry SET amount = 0 WHERE kind = 'void';
\set VERBOSITY default

SELECT * FROM credits_verify();
DROP EXTENSION credits;
