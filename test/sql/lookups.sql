-- credits_lots, credits_types, credits_summary (1.1): what an application's
-- screens list, without reading the tables.
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never

SELECT credits_define_type('HRS', 'Hours', 2);
SELECT credits_grant('ann', 10, expires_at => now() + interval '10 days', reason => 'welcome') AS soon \gset
SELECT credits_grant('ann', 20, reference => 'INV-1') AS never \gset
SELECT credits_grant('ann', 30, expires_at => now() + interval '90 days') AS later \gset
SELECT credits_grant('ann', 5, expires_at => now() + interval '20 days') AS voided \gset
SELECT credits_grant('ann', '1.5', 'HRS') > 0 AS hours;
SELECT credits_void(:voided, 'mistake');
SELECT credits_spend('ann', 12) > 0 AS spent;          -- empties "soon", takes 2 from the 90-day lot
SELECT credits_hold('ann', 4, 'INV-H') > 0 AS held;     -- 4 more from the 90-day lot

-- Open lots in spend order: soonest expiry first, never-expiring last.
SELECT lot_id = :later AS is_later, lot_id = :never AS is_never, credit_type, amount, remaining,
	   expires_at IS NOT NULL AS expires, source, reason, reference, voided_at IS NOT NULL AS voided
FROM credits_lots('ann');
-- With closed lots, in the same order; closed ones show remaining 0.
SELECT lot_id IN (:soon) AS is_soon, lot_id = :voided AS is_voided, amount, remaining, voided_at IS NOT NULL AS voided
FROM credits_lots('ann', include_closed => true);
SELECT count(*) FROM credits_lots('ann', 'HRS');
-- Unknown account: no lots; unknown type: 42704; NULLs: no rows.
SELECT count(*) FROM credits_lots('nobody');
\set VERBOSITY sqlstate
SELECT * FROM credits_lots('ann', 'XXX');
\set VERBOSITY default
SELECT count(*) FROM credits_lots(NULL);
SELECT count(*) FROM credits_lots('ann', include_closed => NULL);

-- A lot past its expiry is not spendable: hidden, or remaining 0 with
-- include_closed, even before the expiry is recorded.
SELECT credits_grant('eve', 7, expires_at => clock_timestamp() + interval '200 milliseconds') AS short \gset
SELECT credits_grant('eve', 3) > 0;
SELECT pg_sleep(0.3);
SELECT amount, remaining FROM credits_lots('eve');
SELECT amount, remaining FROM credits_lots('eve', include_closed => true);

SELECT * FROM credits_types();
SELECT credits_define_type('EUR', 'Euro credit', 2, 'EUR');
SELECT * FROM credits_types();

-- Summary: one row per credit type ever used by the account, even at 0.
SELECT credits_spend('ann', '1.5', credit_type => 'HRS') > 0;
SELECT credits_grant('ann', 6, expires_at => now() + interval '25 days') > 0;
SELECT * FROM credits_summary('ann');
SELECT * FROM credits_summary('eve');
SELECT count(*) FROM credits_summary('nobody');
SELECT count(*) FROM credits_summary(NULL);

-- Roles: readers may call them; PUBLIC may not.
CREATE ROLE lookups_nobody;
SET ROLE lookups_nobody;
\set VERBOSITY sqlstate
SELECT * FROM credits_lots('ann');
SELECT * FROM credits_types();
SELECT credits_grant('ann', 6, expires_at => now() + interval '25 days') > 0;
SELECT * FROM credits_summary('ann');
\set VERBOSITY default
RESET ROLE;
GRANT credits_reader TO lookups_nobody;
SET ROLE lookups_nobody;
SELECT count(*) FROM credits_lots('ann');
SELECT count(*) FROM credits_types();
SELECT count(*) FROM credits_summary('ann');
RESET ROLE;
DROP ROLE lookups_nobody;

SELECT * FROM credits_verify();
DROP EXTENSION credits;
