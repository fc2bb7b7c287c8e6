-- Reports: usage, expiring, liability with cost basis, statements, the
-- balances view.
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never
SET credits.notify = off;

SELECT now() AS t0 \gset
SELECT credits_grant('acme', 25, reason => 'Welcome credit') AS welcome \gset
SELECT credits_grant('acme', 500, expires_at => now() + interval '1 year',
					 reason => 'Package: 500 credits', reference => 'INV-1001') AS pkg \gset
-- What the client paid for the package (as a purchase records it).
UPDATE credits.lot SET cost = 50.00, cost_currency = 'USD', source = 'purchase' WHERE lot_id = :pkg;
SELECT credits_grant('beta', 100, expires_at => now() + interval '10 days', reason => 'Package') AS beta_pkg \gset
UPDATE credits.lot SET cost = 90.00, cost_currency = 'EUR', source = 'purchase' WHERE lot_id = :beta_pkg;
SELECT credits_define_type('HRS', 'Hours', 2);
SELECT credits_grant('beta', '2.5', 'HRS', expires_at => now() + interval '20 days') > 0;
SELECT credits_grant('gamma', 4, expires_at => clock_timestamp() + interval '1 s') > 0;
SELECT now() AS t1 \gset
SELECT credits_spend('acme', 36, 'ORD-2001') > 0;
SELECT credits_spend('acme', 120, 'ORD-2002') > 0;
SELECT credits_spend('beta', 40, 'ORD-3001') > 0;
SELECT pg_sleep(1.1);
SELECT credits_expire() AS expired;
SELECT now() AS t2 \gset

-- Usage across customers, and filtered.
SELECT * FROM credits_usage(:'t0', now() + interval '1 s');
SELECT * FROM credits_usage(:'t0', now() + interval '1 s', account => 'acme');
SELECT * FROM credits_usage(:'t0', now() + interval '1 s', credit_type => 'HRS');
SELECT * FROM credits_usage(:'t1', now() + interval '1 s', account => 'acme');
SELECT count(*) FROM credits_usage('2000-01-01', '2000-02-01');
-- A range may be open: infinite bounds are no bounds.
SELECT * FROM credits_usage('-infinity', 'infinity', account => 'acme');
SELECT count(*) FROM credits_usage('-infinity', :'t0');
\set VERBOSITY sqlstate
SELECT * FROM credits_usage(NULL, now());
SELECT * FROM credits_usage(now(), now() - interval '1 day');
SELECT * FROM credits_usage(:'t0', now(), credit_type => 'NOPE');
\set VERBOSITY default

-- Expiring soon.
SELECT account, credit_type, remaining, expires_at - now() < interval '11 days' AS within_11_days
FROM credits_expiring();
SELECT account, credit_type, remaining FROM credits_expiring(interval '15 days');
SELECT account, credit_type, remaining FROM credits_expiring(interval '400 days', account => 'acme');
\set VERBOSITY sqlstate
SELECT * FROM credits_expiring(NULL);
SELECT * FROM credits_expiring(interval '-1 day');
\set VERBOSITY default

-- Liability: the package's unused 344 of 500 credits carry 344/500 of its
-- 50.00 USD; the welcome credit was free (no currency, no cost basis).
SELECT * FROM credits_liability();
-- Before the spends, the whole package was unused; before anything, nothing.
SELECT * FROM credits_liability(:'t1');
SELECT count(*) FROM credits_liability(:'t0'::timestamptz - interval '1 s');
-- The same figures from the general (movement-based) computation.
SELECT * FROM credits_liability(now() - interval '1 microsecond');
\set VERBOSITY sqlstate
SELECT * FROM credits_liability(NULL);
SELECT * FROM credits_liability('infinity');
SELECT * FROM credits_liability('-infinity');
\set VERBOSITY default
-- The liability is at an instant: not at infinity.
SELECT * FROM credits_liability('infinity');

-- A client's statement: opening balance, entries, closing balance.
SELECT line, kind, direction, amount, balance, reference, reason
FROM credits_statement('acme', :'t0', now() + interval '1 s');
SELECT line, kind, direction, amount, balance, reference, reason
FROM credits_statement('acme', :'t1', now() + interval '1 s');
-- An open range: from the beginning (nothing was available then) to the
-- end (closing at now); a range from infinity is empty.
SELECT line, at, kind, direction, amount, balance, reason
FROM credits_statement('acme', '-infinity', 'infinity') WHERE kind IN ('opening', 'closing');
SELECT (SELECT count(*) FROM credits_statement('acme', '-infinity', 'infinity'))
	 = (SELECT count(*) FROM credits_history('acme')) + 2 AS every_entry;
SELECT line, at, kind, balance FROM credits_statement('acme', 'infinity', 'infinity');
-- An expiry nobody has recorded yet still closes the statement right.
SELECT credits_grant('delta', 6, expires_at => clock_timestamp() + interval '1 s') > 0;
SELECT credits_grant('delta', 4) > 0;
SELECT pg_sleep(1.1);
SELECT line, kind, direction, amount, balance, reason
FROM credits_statement('delta', :'t0', now());
\set VERBOSITY sqlstate
SELECT * FROM credits_statement('acme', NULL, now());
SELECT * FROM credits_statement('acme', now(), now() - interval '1 day');
SELECT * FROM credits_statement('acme', :'t0', now(), 'NOPE');
\set VERBOSITY default

-- The balances view.
SELECT * FROM credits_balances ORDER BY account, credit_type;
CREATE ROLE reports_reader_test IN ROLE credits_reader;
SET ROLE reports_reader_test;
SELECT count(*) FROM credits_balances;
-- Ordinary roles call the report functions (their result types live in the
-- private schema).
SELECT count(*) > 0 AS usage_callable FROM credits_usage(:'t0', now() + interval '1 s');
SELECT count(*) > 0 AS expiring_callable FROM credits_expiring();
RESET ROLE;
DROP ROLE reports_reader_test;

SELECT * FROM credits_verify();
DROP EXTENSION credits;
