-- credits_grant: lots, grant entries, bad inputs, idempotency
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never

-- Normal grants return the new lot id and add a grant entry.
SELECT credits_grant('acme', 25, reason => 'Welcome credit') > 0 AS granted;
SELECT credits_grant(account => 'acme', amount => 500, expires_at => now() + interval '1 year',
					 reason => 'Package: 500 credits', reference => 'INV-1001') > 0 AS granted;
SELECT credits_balance('acme');
SELECT kind, direction, amount, running_balance, reference, reason
FROM credits_history('acme');
SELECT amount, remaining, is_open, expires_at IS NOT NULL AS expires, source, reason, reference
FROM credits.lot WHERE account = 'acme' ORDER BY lot_id;

-- Lot ids are distinct and increasing.
SELECT credits_grant('acme', 1) < credits_grant('acme', 1) AS increasing;

-- Account keys are data: quotes, spaces, unicode, long keys.
SELECT credits_grant($$o'brien "quoted"; DROP TABLE x;--$$, 7) > 0 AS granted;
SELECT credits_balance($$o'brien "quoted"; DROP TABLE x;--$$);
SELECT credits_grant('klient-ŽŪ ☃', 3) > 0 AS granted;
SELECT credits_balance('klient-ŽŪ ☃');
SELECT credits_grant(repeat('k', 5000), 2) > 0 AS granted;
SELECT credits_balance(repeat('k', 5000));

-- Fractional credit types.
SELECT credits_define_type('HRS', 'Hours', 2);
SELECT credits_grant('acme', '1.25', credit_type => 'HRS') > 0 AS granted;
SELECT credits_balance('acme', 'HRS');

-- Bad inputs: each fails with its SQLSTATE and leaves the ledger unchanged.
SELECT credits_fingerprint() AS before \gset
\set VERBOSITY sqlstate
SELECT credits_grant(NULL, 5);
SELECT credits_grant('acme', NULL);
SELECT credits_grant('acme', 5, credit_type => NULL);
SELECT credits_grant('acme', 0);
SELECT credits_grant('acme', -5);
SELECT credits_grant('', 5);
SELECT credits_grant('acme', '1.5');
SELECT credits_grant('acme', '1.255', credit_type => 'HRS');
SELECT credits_grant('acme', 5, credit_type => 'NOPE');
SELECT credits_grant('acme', 5, expires_at => now() - interval '1 day');
SELECT credits_grant('acme', 5, expires_at => now());
SELECT credits_grant('acme', 5, expires_at => 'infinity');
SELECT credits_grant('acme', 5, expires_at => '-infinity');
SELECT credits_grant('acme', 'abc');
SELECT credits_grant('acme', 9223372036854);
SELECT credits_grant('acme', '9223372036855');
\set VERBOSITY default
SELECT credits_grant('acme', 0);
SELECT credits_grant('acme', '1.5');
SELECT credits_grant('acme', 5, credit_type => 'NOPE');
SELECT credits_grant('acme', 5, expires_at => '2001-01-01');
-- An expiry is an instant: 'infinity' is no expiry (NULL never expires).
SELECT credits_grant('acme', 5, expires_at => 'infinity');
SELECT credits_grant(NULL, 5);
SELECT credits_fingerprint() = :'before' AS unchanged;

-- Overflow of an account's balance is refused, not wrapped.
SELECT credits_grant('whale', 9000000000000) > 0 AS granted;
\set VERBOSITY sqlstate
SELECT credits_grant('whale', 300000000000);
\set VERBOSITY default
SELECT credits_balance('whale');

-- Idempotency: same key and arguments returns the first lot; nothing new.
SELECT credits_grant('idem', 10, idempotency_key => 'g-1') AS first_lot \gset
SELECT credits_grant('idem', 10, idempotency_key => 'g-1') = :first_lot AS same_lot;
SELECT count(*) AS lots, sum(amount) AS total FROM credits.lot WHERE account = 'idem';
-- ... different arguments: CR003.
\set VERBOSITY sqlstate
SELECT credits_grant('idem', 11, idempotency_key => 'g-1');
SELECT credits_grant('idem', 10, reason => 'other', idempotency_key => 'g-1');
SELECT credits_spend('idem', 10, idempotency_key => 'g-1');
\set VERBOSITY default
SELECT credits_grant('idem', 11, idempotency_key => 'g-1');
-- ... the same key on another account is another key.
SELECT credits_grant('idem-2', 11, idempotency_key => 'g-1') <> :first_lot AS other_account;
SELECT credits_balance('idem'), credits_balance('idem-2');

-- Arguments are compared by value: the same expiry instant sent by a
-- session in another time zone and date style is the same call (same lot,
-- no CR003); another instant, even a microsecond later, is CR003.
SET TimeZone = 'UTC';
SELECT credits_grant('idem-tz', 5, expires_at => '2031-03-01 12:00:00+00',
					 idempotency_key => 'tz-1') AS tz_lot \gset
SET TimeZone = 'Asia/Kolkata';
SET DateStyle = 'SQL, DMY';
SET IntervalStyle = 'sql_standard';
SET extra_float_digits = 3;
SELECT credits_grant('idem-tz', 5, expires_at => '2031-03-01 17:30:00',
					 idempotency_key => 'tz-1') = :tz_lot AS same_lot_in_kolkata;
SET TimeZone = 'America/New_York';
SELECT credits_grant('idem-tz', '5.0', expires_at => '01/03/2031 07:00:00',
					 idempotency_key => 'tz-1') = :tz_lot AS same_lot_in_new_york;
\set VERBOSITY sqlstate
SELECT credits_grant('idem-tz', 5, expires_at => '01/03/2031 07:00:00.000001',
					 idempotency_key => 'tz-1');
SELECT credits_grant('idem-tz', 5, expires_at => '01/03/2031 08:00:00',
					 idempotency_key => 'tz-1');
SELECT credits_grant('idem-tz', 5, idempotency_key => 'tz-1');
\set VERBOSITY default
RESET TimeZone;
RESET DateStyle;
RESET IntervalStyle;
RESET extra_float_digits;
SELECT count(*) AS lots FROM credits.lot WHERE account = 'idem-tz';
-- A key stored by version 1.0 holds the expiry as text in the time zone of
-- the session that wrote it (with its UTC offset); replayed now, from any
-- time zone, it is still recognized as the same call.
SELECT credits_grant('idem-10', 7, expires_at => '2031-03-01 12:00:00+00', reason => 'r;1',
					 idempotency_key => 'v10') AS v10_lot \gset
UPDATE credits.idempotency SET request = '5:grant;3:CRD;1:7;22:2031-03-01 13:00:00+01;3:r;1;-;'
WHERE account = 'idem-10' AND idempotency_key = 'v10';
SET TimeZone = 'Pacific/Auckland';
SELECT credits_grant('idem-10', 7, expires_at => '2031-03-01 12:00:00+00', reason => 'r;1',
					 idempotency_key => 'v10') = :v10_lot AS same_lot_as_1_0;
\set VERBOSITY sqlstate
SELECT credits_grant('idem-10', 7, expires_at => '2031-03-01 12:00:01+00', reason => 'r;1',
					 idempotency_key => 'v10');
SELECT credits_grant('idem-10', 7, expires_at => '2031-03-01 12:00:00+00', reason => 'r;2',
					 idempotency_key => 'v10');
\set VERBOSITY default
RESET TimeZone;
SELECT count(*) AS lots FROM credits.lot WHERE account = 'idem-10';

-- A cost basis: what the client paid for the lot (cost, cost_currency),
-- counted by credits_liability like a purchase's.  The lot stays a grant.
SELECT credits_grant('cost-1', 100, cost => 12.50, cost_currency => 'USD',
					 reason => 'sold by hand') AS cost_lot \gset
SELECT source, cost, cost_currency, reason FROM credits.lot WHERE lot_id = :cost_lot;
SELECT credits_grant('cost-1', 10, cost => 0, cost_currency => 'JPY') > 0 AS free_but_priced;
SELECT credits_spend('cost-1', 40) > 0 AS spent;
SELECT credit_type, currency, accounts, outstanding, cost_basis FROM credits_liability()
WHERE currency IS NOT NULL ORDER BY currency;
-- Bad costs: 22023 (not a finite amount >= 0, a bad currency, finer than
-- the currency's minor unit); one without the other is 22004.  Nothing
-- changes.
SELECT credits_fingerprint() AS before \gset
\set VERBOSITY sqlstate
SELECT credits_grant('cost-2', 5, cost => -1, cost_currency => 'USD');
SELECT credits_grant('cost-2', 5, cost => 'NaN', cost_currency => 'USD');
SELECT credits_grant('cost-2', 5, cost => 'Infinity', cost_currency => 'USD');
SELECT credits_grant('cost-2', 5, cost => '-Infinity', cost_currency => 'USD');
SELECT credits_grant('cost-2', 5, cost => 1.005, cost_currency => 'USD');
SELECT credits_grant('cost-2', 5, cost => 1.5, cost_currency => 'JPY');
SELECT credits_grant('cost-2', 5, cost => 1, cost_currency => 'usd');
SELECT credits_grant('cost-2', 5, cost => 1, cost_currency => 'DOLLAR');
SELECT credits_grant('cost-2', 5, cost => 1);
SELECT credits_grant('cost-2', 5, cost_currency => 'USD');
SELECT credits_grant('cost-2', 5, cost => 1, cost_currency => NULL);
\set VERBOSITY default
SELECT credits_grant('cost-2', 5, cost => -1, cost_currency => 'USD');
SELECT credits_grant('cost-2', 5, cost => 'NaN', cost_currency => 'USD');
SELECT credits_grant('cost-2', 5, cost => 'Infinity', cost_currency => 'USD');
SELECT credits_grant('cost-2', 5, cost => 1.005, cost_currency => 'USD');
SELECT credits_grant('cost-2', 5, cost => 1.5, cost_currency => 'JPY');
SELECT credits_grant('cost-2', 5, cost => 1, cost_currency => 'usd');
SELECT credits_grant('cost-2', 5, cost => 1);
SELECT credits_grant('cost-2', 5, cost_currency => 'USD');
SELECT credits_fingerprint() = :'before' AS unchanged;
-- The cost is part of a keyed grant's arguments, compared by value (1.50 is
-- 1.5); another cost, another currency or no cost is another call (CR003).
SELECT credits_grant('cost-3', 10, cost => 1.50, cost_currency => 'USD',
					 idempotency_key => 'c-1') AS cost_key_lot \gset
SELECT credits_grant('cost-3', 10, cost => 1.5, cost_currency => 'USD',
					 idempotency_key => 'c-1') = :cost_key_lot AS same_lot;
SELECT credits_grant('cost-3', '10.0', cost => '1.500000', cost_currency => 'USD',
					 idempotency_key => 'c-1') = :cost_key_lot AS same_lot;
SELECT credits_fingerprint() AS before \gset
\set VERBOSITY sqlstate
SELECT credits_grant('cost-3', 10, cost => 1.51, cost_currency => 'USD', idempotency_key => 'c-1');
SELECT credits_grant('cost-3', 10, cost => 1.50, cost_currency => 'EUR', idempotency_key => 'c-1');
SELECT credits_grant('cost-3', 10, idempotency_key => 'c-1');
SELECT credits_grant('cost-3', 10, cost => 0, cost_currency => 'USD', idempotency_key => 'c-1');
\set VERBOSITY default
SELECT credits_grant('cost-3', 10, cost => 1.51, cost_currency => 'USD', idempotency_key => 'c-1');
SELECT credits_fingerprint() = :'before' AS unchanged;
-- ... and a key first used without a cost is not the same call with one.
SELECT credits_grant('cost-3', 10, idempotency_key => 'c-2') > 0 AS granted;
\set VERBOSITY sqlstate
SELECT credits_grant('cost-3', 10, cost => 1, cost_currency => 'USD', idempotency_key => 'c-2');
\set VERBOSITY default
SELECT count(*) AS lots, sum(amount) AS total FROM credits.lot WHERE account = 'cost-3';

-- A role without grants may not grant, with or without a cost (42501).
CREATE ROLE grant_nobody_test;
SET ROLE grant_nobody_test;
\set VERBOSITY sqlstate
SELECT credits_grant('cost-4', 5);
SELECT credits_grant('cost-4', 5, cost => 1, cost_currency => 'USD');
\set VERBOSITY default
RESET ROLE;
DROP ROLE grant_nobody_test;

-- A grant rolled back with the application's transaction leaves nothing.
SELECT credits_fingerprint() AS before \gset
BEGIN;
SELECT credits_grant('rollback', 10) > 0 AS granted;
ROLLBACK;
SELECT credits_fingerprint() = :'before' AS unchanged;

SELECT * FROM credits_verify();
DROP EXTENSION credits;
