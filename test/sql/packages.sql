-- Packages and volume price tiers
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never

-- Packages: 500 credits for 50 USD, and others.
SELECT credits_define_package('Starter', 500, 'USD', 50.00) AS starter \gset
SELECT credits_define_package(name => 'Pro', credits => 1200, currency => 'USD',
							  price => 100, expires_after => '1 year') AS pro \gset
SELECT credits_define_type('HRS', 'Hours', 2);
SELECT credits_define_package('Half day', '3.5', 'EUR', 280, 'HRS', '90 days') > 0;
SELECT credits_define_package('Yen pack', 100, 'JPY', 1000) > 0;
SELECT credits_define_package('Dinar pack', 100, 'KWD', 3.125) > 0;
SELECT :starter > 0 AS has_id, :pro <> :starter AS distinct_ids;
SELECT name, credits, credit_type, currency, price, expires_after FROM credits_packages();

-- Defining an existing name updates that package in place: same id, new
-- figures (purchases keep the figures they were made with: see purchase).
SELECT credits_define_package('Starter', 550, 'USD', 49.99, expires_after => '6 months') = :starter AS same_id;
SELECT name, credits, currency, price, expires_after FROM credits_packages() WHERE name = 'Starter';
SELECT count(*) AS packages FROM credits.package;

-- Bad packages: nothing changes.
SELECT credits_fingerprint() AS before \gset
SELECT credits_define_package('Bad', 0, 'USD', 10);
SELECT credits_define_package('Bad', '0.5', 'USD', 10);
SELECT credits_define_package('Bad', 10, 'USD', 0);
SELECT credits_define_package('Bad', 10, 'USD', 9.999);
SELECT credits_define_package('Bad', 10, 'JPY', 100.5);
SELECT credits_define_package('Bad', 10, 'USD', 10, expires_after => '-1 day');
-- A negative part is refused, whatever the total: bought on January 31,
-- '1 month -29 days' would expire on January 30.
SELECT credits_define_package('Bad', 10, 'USD', 10, expires_after => '1 month -29 days');
SELECT credits_define_package('Bad', 10, 'USD', 10, 'NOPE');
SELECT credits_define_package('', 10, 'USD', 10);
SELECT credits_define_package('Bad', 10, 'USD', NULL);
\set VERBOSITY sqlstate
SELECT credits_define_package('Bad', 0, 'USD', 10);
SELECT credits_define_package('Bad', -5, 'USD', 10);
SELECT credits_define_package('Bad', '0.5', 'USD', 10);
SELECT credits_define_package('Bad', '3.555', 'EUR', 10, 'HRS');
SELECT credits_define_package('Bad', 10, 'USD', 0);
SELECT credits_define_package('Bad', 10, 'USD', -10);
SELECT credits_define_package('Bad', 10, 'USD', 'NaN');
SELECT credits_define_package('Bad', 10, 'USD', 'Infinity');
SELECT credits_define_package('Bad', 10, 'USD', 9.999);
SELECT credits_define_package('Bad', 10, 'JPY', 100.5);
SELECT credits_define_package('Bad', 10, 'KWD', 1.0005);
SELECT credits_define_package('Bad', 10, 'usd', 10);
SELECT credits_define_package('Bad', 10, 'USD', 10, expires_after => '0');
SELECT credits_define_package('Bad', 10, 'USD', 10, expires_after => '-1 day');
SELECT credits_define_package('Bad', 10, 'USD', 10, expires_after => '1 month -29 days');
SELECT credits_define_package('Bad', 10, 'USD', 10, expires_after => '-1 month 40 days');
SELECT credits_define_package('Bad', 10, 'USD', 10, expires_after => '1 day -1 second');
SELECT credits_define_package('Bad', 10, 'USD', 10, 'NOPE');
SELECT credits_define_package('', 10, 'USD', 10);
SELECT credits_define_package('  ', 10, 'USD', 10);
SELECT credits_define_package(NULL, 10, 'USD', 10);
SELECT credits_define_package('Bad', NULL, 'USD', 10);
SELECT credits_define_package('Bad', 10, NULL, 10);
SELECT credits_define_package('Bad', 10, 'USD', NULL);
SELECT credits_define_package('Bad', 10, 'USD', 10, NULL);
-- A failed redefinition leaves the package as it was.
SELECT credits_define_package('Starter', 0, 'USD', 10);
\set VERBOSITY default
SELECT credits_fingerprint() = :'before' AS unchanged;

-- Volume tiers: 1-4 at 100, 5+ at 85.
SELECT credits_define_price_tier('credit', 1, 100, 'USD');
SELECT credits_define_price_tier(product => 'credit', min_quantity => 5,
								 unit_price => 85, currency => 'USD');
SELECT q, credits_price('credit', q) FROM generate_series(1, 6) q;
SELECT credits_price(product => 'credit', quantity => 1000);
-- A third tier, defined out of order, starts at 10 and ends the second.
SELECT credits_define_price_tier('credit', 10, 80, 'USD');
SELECT q, credits_price('credit', q) FROM unnest(ARRAY[4, 5, 9, 10, 11]) q;
SELECT * FROM credits_price_tiers('credit');
-- Redefining a tier changes its price.
SELECT credits_define_price_tier('credit', 5, 90, 'USD');
SELECT credits_price('credit', 5) AS "5 at 90", credits_price('credit', 10) AS "10 at 80";
-- Fractional unit prices stay exact.
SELECT credits_define_price_tier('word', 1, 0.085, 'EUR');
SELECT credits_define_price_tier('word', 1000, 0.07, 'EUR');
SELECT credits_price('word', 999) AS "999 words", credits_price('word', 1000) AS "1000 words",
	   credits_price('word', 3) AS "3 words";
SELECT * FROM credits_price_tiers();

-- A product whose lowest tier starts at 5 has no price for 2 (42704).
SELECT credits_define_price_tier('bulk', 5, 70, 'USD');
SELECT credits_price('bulk', 2);
SELECT credits_price('bulk', 5);

-- Bad tiers and lookups: nothing changes.
SELECT credits_fingerprint() AS before \gset
SELECT credits_price('nothing', 1);
SELECT credits_price('credit', 0);
SELECT credits_define_price_tier('credit', 20, 75, 'EUR');
SELECT credits_define_price_tier('credit', 0, 75, 'USD');
\set VERBOSITY sqlstate
SELECT credits_price('nothing', 1);
SELECT credits_price('bulk', 4);
SELECT credits_price('credit', 0);
SELECT credits_price('credit', -1);
SELECT credits_price(NULL, 1);
SELECT credits_price('credit', NULL);
SELECT credits_define_price_tier('credit', 20, 75, 'EUR');
SELECT credits_define_price_tier('credit', 0, 75, 'USD');
SELECT credits_define_price_tier('credit', -3, 75, 'USD');
SELECT credits_define_price_tier('credit', 20, 0, 'USD');
SELECT credits_define_price_tier('credit', 20, -1, 'USD');
SELECT credits_define_price_tier('credit', 20, 'NaN', 'USD');
SELECT credits_define_price_tier('credit', 20, 'Infinity', 'USD');
SELECT credits_define_price_tier('credit', 20, 75, 'usd');
SELECT credits_define_price_tier('', 20, 75, 'USD');
SELECT credits_define_price_tier(NULL, 20, 75, 'USD');
SELECT credits_define_price_tier('credit', NULL, 75, 'USD');
SELECT credits_define_price_tier('credit', 20, NULL, 'USD');
SELECT credits_define_price_tier('credit', 20, 75, NULL);
\set VERBOSITY default
SELECT credits_fingerprint() = :'before' AS unchanged;

-- The schema holds one currency per product, whatever writes the table.
\set VERBOSITY terse
INSERT INTO credits.price_tier (product, min_quantity, unit_price, currency)
VALUES ('credit', 50, 70, 'EUR');
INSERT INTO credits.price_tier (product, min_quantity, unit_price, currency)
VALUES ('credit', 50, 'NaN', 'USD');
\set VERBOSITY default

SELECT * FROM credits_verify();
DROP EXTENSION credits;
