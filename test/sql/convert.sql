-- credits_convert: money to credits, exact, rounded up to the type's scale
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never

SELECT credits_set_rate('USD', 10) > 0 AS usd,
	   credits_set_rate('EUR', 9) > 0 AS eur,
	   credits_set_rate('GBP', 12) > 0 AS gbp;

-- The cases of the contract.
SELECT credits_convert(3.51, 'USD') AS "3.51 USD",
	   credits_convert(0.70, 'USD') AS "0.70 USD",
	   credits_convert(3.50, 'USD') AS "3.50 USD",
	   credits_convert(1.01, 'EUR') AS "1.01 EUR",
	   credits_convert(0.01, 'GBP') AS "0.01 GBP",
	   credits_convert(0, 'USD') AS "0 USD";
-- Every price of cents from 0.01 to 20.00 at 10 credits per dollar: always
-- exactly ten times the dollars, rounded up; never one credit too many.
SELECT count(*) AS cents_checked,
	   count(*) FILTER (WHERE credits_convert(c / 100.0, 'USD')::numeric <> ceil(c / 10.0)) AS wrong
FROM generate_series(1, 2000) c;
-- Where float arithmetic goes wrong, numeric does not: at 100 credits per
-- unit, 0.07 in float times 100 is 7.000000000000001 and would round up to
-- 8 credits.  Across all cents up to 20.00, float rounds up wrongly dozens
-- of times; credits_convert never.
SELECT credits_set_rate('AUD', 100) > 0;
SELECT credits_convert(0.07, 'AUD') AS "0.07 AUD",
	   (0.07::float8 * 100)::text AS "0.07 * 100 in float",
	   ceil(0.07::float8 * 100) AS "rounded up in float";
SELECT count(*) FILTER (WHERE credits_convert(c / 100.0, 'AUD')::numeric <> c) AS wrong,
	   count(*) FILTER (WHERE ceil((c / 100.0)::float8 * 100) <> c) > 10 AS float_often_wrong
FROM generate_series(1, 2000) c;
-- Named notation, as callers use it.
SELECT credits_convert(price => 3.51, currency => 'USD', credit_type => 'CRD');

-- Rounding is up to the type's scale, not to whole credits.
SELECT credits_define_type('HRS', 'Hours', 2);
SELECT credits_set_rate('USD', 1.5, 'HRS') > 0;
SELECT credits_convert(0.01, 'USD', 'HRS') AS "0.015 -> 0.02",
	   credits_convert(2, 'USD', 'HRS') AS "3.00 exactly",
	   credits_convert(3.333, 'USD', 'HRS') AS "4.9995 -> 5";
SELECT credits_define_type('MIC', 'Micro credits', 6);
SELECT credits_set_rate('USD', 0.333333333333, 'MIC') > 0;
SELECT credits_convert(1, 'USD', 'MIC') AS "0.333333333333 -> 0.333334",
	   credits_convert(0.000001, 'USD', 'MIC') AS "tiny price -> one unit";
-- A rate with many digits stays exact: 3 x 0.333...3 (24 digits) is just
-- below 1 and rounds up to 1; a price larger by 4e-24 gives just above 1,
-- which rounds up to 2.
SELECT credits_set_rate('CHF', 0.333333333333333333333333) > 0;
SELECT credits_convert(0.1, 'CHF') AS "0.0333...",
	   credits_convert(3, 'CHF') AS "0.999...",
	   credits_convert(3.000000000000000000000004, 'CHF') AS "1.000...0003";

-- A monetary credit type converts 1:1 from its own currency without a rate,
-- rounded up to its scale; another currency needs a rate.
SELECT credits_define_type('USDC', 'Account credit', 2, 'USD');
SELECT credits_convert(12.50, 'USD', 'USDC') AS "12.50",
	   credits_convert(3.333, 'USD', 'USDC') AS "3.333 -> 3.34",
	   credits_rate('USD', 'USDC') AS rate;
SELECT credits_convert(10, 'EUR', 'USDC');
SELECT credits_set_rate('EUR', 1.08, 'USDC') > 0;
SELECT credits_convert(10, 'EUR', 'USDC') AS "10 EUR", credits_convert(0.01, 'EUR', 'USDC') AS "0.0108 -> 0.02";

-- The rate in force at "at" decides: a rate scheduled for tomorrow applies
-- from then on; before the first rate there is none.
SELECT credits_set_rate('USD', 12, effective_from => now() + interval '1 day') > 0;
SELECT credits_convert(3.51, 'USD') AS today,
	   credits_convert(3.51, 'USD', at => now() + interval '2 days') AS "day after tomorrow";
\set VERBOSITY sqlstate
SELECT credits_convert(3.51, 'USD', at => now() - interval '1 day');
\set VERBOSITY default
SELECT credits_convert(3.51, 'USD', at => now() - interval '1 day');

-- The largest price that fits, and the smallest that does not (22003).
SELECT credits_convert(922337203685, 'USD');
SELECT credits_convert(922337203685.4775807, 'USD', 'MIC') IS NOT NULL AS fits;
SELECT credits_convert(922337203686, 'USD');

-- Bad input; converting never changes the ledger.
SELECT credits_grant('c-1', 100) > 0;
SELECT credits_fingerprint() AS before \gset
SELECT credits_convert(-0.01, 'USD');
SELECT credits_convert('NaN', 'USD');
SELECT credits_convert('Infinity', 'USD');
SELECT credits_convert(1, 'usd');
SELECT credits_convert(1, 'JPY');
SELECT credits_convert(1, 'USD', 'NOPE');
SELECT credits_convert(NULL, 'USD');
-- The rate in force at an instant: not at infinity.
SELECT credits_convert(1, 'USD', at => 'infinity');
SELECT credits_rate('USD', at => '-infinity');
\set VERBOSITY sqlstate
SELECT credits_convert(1, 'USD', at => 'infinity');
SELECT credits_convert(1, 'USD', at => '-infinity');
SELECT credits_rate('USD', at => 'infinity');
SELECT credits_rate('USD', at => '-infinity');
SELECT credits_convert(-0.01, 'USD');
SELECT credits_convert('NaN', 'USD');
SELECT credits_convert('Infinity', 'USD');
SELECT credits_convert('-Infinity', 'USD');
SELECT credits_convert(1, 'usd');
SELECT credits_convert(1, 'US');
SELECT credits_convert(1, 'USDX');
SELECT credits_convert(1, '');
SELECT credits_convert(1e20, 'USD');
SELECT credits_convert(1, 'JPY');
SELECT credits_convert(1, 'USD', 'NOPE');
SELECT credits_convert(NULL, 'USD');
SELECT credits_convert(1, NULL);
SELECT credits_convert(1, 'USD', NULL);
SELECT credits_convert(1, 'USD', at => NULL);
\set VERBOSITY default
SELECT credits_fingerprint() = :'before' AS unchanged;

SELECT * FROM credits_verify();
DROP EXTENSION credits;
