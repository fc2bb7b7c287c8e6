-- Conversion rates: one chain per (currency, credit type), exactly one rate
-- in force at any instant, scheduled ahead, kept for audit.
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never

-- A rate from now on; credits_rate answers it.
SELECT credits_set_rate('USD', 10) AS usd_rate \gset
SELECT :usd_rate > 0 AS has_id, credits_rate('USD') AS rate,
	   credits_rate(currency => 'USD', credit_type => 'CRD', at => now()) AS named;
-- Setting it is not a ledger movement.
SELECT count(*) AS entries FROM credits.entry;

-- A schedule for EUR: rates at three instants (pg_regress runs in PST8PDT).
SELECT credits_set_rate('EUR', 9, effective_from => '2030-01-01 00:00 UTC') AS eur_1 \gset
SELECT credits_set_rate('EUR', 9.5, effective_from => '2030-06-01 00:00 UTC') AS eur_2 \gset
SELECT credits_set_rate('EUR', 11, effective_from => '2031-01-01 00:00 UTC') AS eur_3 \gset
-- Set out of order: a rate between two existing ones ends the earlier one
-- and is ended by the later one.
SELECT credits_set_rate('EUR', 10, effective_from => '2030-09-01 00:00 UTC') AS eur_between \gset
SELECT rate_id = :eur_1 AS first, credits_per_unit, effective_from, effective_to
FROM credits_rates('EUR');
-- At each boundary the new rate is in force from its first instant on.
SELECT at, credits_rate('EUR', at => at)
FROM unnest(ARRAY['2030-01-01 00:00 UTC', '2030-05-31 23:59:59.999999 UTC',
				  '2030-06-01 00:00 UTC', '2030-08-31 23:59:59.999999 UTC',
				  '2030-09-01 00:00 UTC', '2030-12-31 23:59:59 UTC',
				  '2031-01-01 00:00 UTC', '2099-01-01 00:00 UTC']::timestamptz[]) at;
-- Before the first: none in force (CR004).
SELECT credits_rate('EUR', at => '2029-12-31 23:59:59.999999 UTC');
\set VERBOSITY sqlstate
SELECT credits_rate('EUR', at => '2029-12-31 23:59:59.999999 UTC');
\set VERBOSITY default
-- Conversion follows the schedule.
SELECT credits_convert(1.01, 'EUR', at => '2030-03-01 UTC') AS "at 9",
	   credits_convert(1.01, 'EUR', at => '2030-07-01 UTC') AS "at 9.5",
	   credits_convert(1.01, 'EUR', at => '2030-10-01 UTC') AS "at 10",
	   credits_convert(1.01, 'EUR', at => '2031-02-01 UTC') AS "at 11";

-- Exactly one rate in force at every instant: over a fine grid of instants
-- across the schedule, the rates whose [effective_from, effective_to) holds
-- the instant number exactly one, and it is the one credits_rate answers.
SELECT count(*) AS instants,
	   count(*) FILTER (WHERE n <> 1) AS not_exactly_one,
	   count(*) FILTER (WHERE rate <> credits_rate('EUR', at => t)) AS disagree
FROM (SELECT t, count(r.*) AS n, min(r.credits_per_unit) AS rate
	  FROM generate_series('2030-01-01 00:00 UTC'::timestamptz, '2031-06-01 UTC', '1 day') t
	  LEFT JOIN credits_rates('EUR') r
		ON r.effective_from <= t AND (r.effective_to IS NULL OR t < r.effective_to)
	  GROUP BY t) x;

-- The same rate at the same instant again is a retry: same id, no new row.
SELECT credits_set_rate('EUR', 9.50, effective_from => '2030-06-01 00:00 UTC') = :eur_2 AS same_id;
SELECT count(*) AS eur_rates FROM credits.rate WHERE currency = 'EUR';
-- A different rate at an instant already taken: 22023 (rates are never
-- replaced; what was in force stays provable).
SELECT credits_set_rate('EUR', 12, effective_from => '2030-06-01 00:00 UTC');
\set VERBOSITY sqlstate
SELECT credits_set_rate('EUR', 12, effective_from => '2030-06-01 00:00 UTC');
\set VERBOSITY default
SELECT credits_rate('EUR', at => '2030-06-01 00:00 UTC') AS unchanged;
-- Within one transaction now() does not move: a second, different rate
-- "from now" collides with the first.
BEGIN;
SELECT credits_set_rate('GBP', 12) > 0;
SAVEPOINT s;
\set VERBOSITY terse
SELECT credits_set_rate('GBP', 13);
\set VERBOSITY sqlstate
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT credits_set_rate('GBP', 13);
\set VERBOSITY default
ROLLBACK TO SAVEPOINT s;
SELECT credits_rate('GBP');
COMMIT;

-- The schema itself refuses two rates at one instant, and changes to
-- history; only a rate still in the future may be deleted.
\set VERBOSITY terse
INSERT INTO credits.rate (currency, credit_type, credits_per_unit, effective_from)
VALUES ('EUR', 'CRD', 12, '2030-06-01 00:00 UTC');
INSERT INTO credits.rate (currency, credit_type, credits_per_unit, effective_from)
VALUES ('EUR', 'CRD', 'NaN', '2040-01-01 UTC');
INSERT INTO credits.rate (currency, credit_type, credits_per_unit, effective_from)
VALUES ('EUR', 'CRD', 0, '2040-01-01 UTC');
INSERT INTO credits.rate (currency, credit_type, credits_per_unit, effective_from)
VALUES ('eur', 'CRD', 1, '2040-01-01 UTC');
\set VERBOSITY default
UPDATE credits.rate SET credits_per_unit = 20 WHERE rate_id = :usd_rate;
DELETE FROM credits.rate WHERE rate_id = :usd_rate;
TRUNCATE credits.rate;
SELECT credits_rate('USD') AS still_10;
-- A scheduled rate that has not taken effect can be withdrawn.
SELECT credits_set_rate('USD', 11, effective_from => now() + interval '7 days') AS planned \gset
DELETE FROM credits.rate WHERE rate_id = :planned;
SELECT credits_rate('USD', at => now() + interval '8 days') AS back_to_10;

-- Rates are per credit type; a monetary type needs no rate for its own
-- currency (credits_rate says 1) and refuses one.
SELECT credits_define_type('WRD', 'Words', 0);
SELECT credits_define_type('USDC', 'Account credit', 2, 'USD');
SELECT credits_set_rate('USD', 250, 'WRD') > 0;
SELECT credits_rate('USD', 'WRD') AS words, credits_rate('USD') AS credits,
	   credits_rate('USD', 'USDC') AS monetary;
SELECT credits_rate('EUR', 'WRD');
SELECT credits_set_rate('USD', 1, 'USDC');
SELECT credits_set_rate('EUR', 1.08, 'USDC') > 0 AS other_currency_ok;

-- Bad input: nothing changes.
SELECT credits_fingerprint() AS before \gset
SELECT credits_set_rate('USD', 0);
SELECT credits_set_rate('USD', -10);
SELECT credits_set_rate('USD', 'NaN');
SELECT credits_set_rate('USD', 'Infinity');
SELECT credits_set_rate('usd', 10);
SELECT credits_set_rate('USD', 10, 'NOPE');
SELECT credits_set_rate('USD', 10, effective_from => 'infinity');
SELECT credits_set_rate(NULL, 10);
\set VERBOSITY sqlstate
SELECT credits_set_rate('USD', 0);
SELECT credits_set_rate('USD', -10);
SELECT credits_set_rate('USD', 'NaN');
SELECT credits_set_rate('USD', 'Infinity');
SELECT credits_set_rate('usd', 10);
SELECT credits_set_rate('US', 10);
SELECT credits_set_rate('USD', 10, 'NOPE');
SELECT credits_set_rate('USD', 10, effective_from => 'infinity');
SELECT credits_set_rate('USD', 10, effective_from => '-infinity');
SELECT credits_set_rate('USD', 1, 'USDC');
SELECT credits_set_rate(NULL, 10);
SELECT credits_set_rate('USD', NULL);
SELECT credits_set_rate('USD', 10, NULL);
SELECT credits_set_rate('USD', 10, effective_from => NULL);
SELECT credits_rate('usd');
SELECT credits_rate('USD', 'NOPE');
SELECT credits_rate('JPY');
SELECT credits_rate(NULL);
SELECT credits_rate('USD', NULL);
SELECT credits_rate('USD', at => NULL);
\set VERBOSITY default
SELECT credits_fingerprint() = :'before' AS unchanged;

-- An application role sets and reads rates through the API only.
CREATE ROLE credits_rates_test IN ROLE credits_admin;
SET ROLE credits_rates_test;
SELECT credits_set_rate('SEK', 1) > 0 AS app_can_set;
SELECT credits_rate('SEK') AS app_can_read;
SELECT * FROM credits.rate;
RESET ROLE;
-- created_by is the session user, like the ledger's entry.actor (SET ROLE
-- does not change it).
SELECT created_by = session_user AS created_by_session_user FROM credits_rates('SEK');
DROP ROLE credits_rates_test;

SELECT * FROM credits_verify();
DROP EXTENSION credits;
