-- Credit types: the implicit CRD, definitions, renames, scale rules
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never

SELECT * FROM credits.credit_types ORDER BY code;
SELECT credits_define_type('WRD', 'Words');
SELECT credits_define_type('HRS', 'Hours', 2);
SELECT credits_define_type(code => 'USD', name => 'Account credit', scale => 2, currency => 'USD');
SELECT * FROM credits.credit_types ORDER BY code;

-- Renaming, also of CRD; the scale may change while no credits exist.
SELECT credits_define_type('CRD', 'Points');
SELECT credits_define_type('WRD', 'Words', 1);
SELECT * FROM credits.credit_types ORDER BY code;

-- Once credits exist the scale and currency are fixed; the name is not.
SELECT credits_grant('t-1', '1.5', credit_type => 'WRD') > 0;
SELECT credits_define_type('WRD', 'Written words', 1);
SELECT credits_define_type('WRD', 'Words', 0);
SELECT credits_grant('t-1', 3) > 0;
SELECT credits_define_type('CRD', 'Credits', 2);
\set VERBOSITY sqlstate
SELECT credits_define_type('WRD', 'Words', 0);
SELECT credits_define_type('WRD', 'Words', 1, 'EUR');
SELECT credits_define_type(NULL, 'x');
SELECT credits_define_type('X', NULL);
SELECT credits_define_type('X', 'x', NULL);
SELECT credits_define_type('X', 'x', 7);
SELECT credits_define_type('X', 'x', -1);
SELECT credits_define_type('', 'x');
SELECT credits_define_type('bad code', 'x');
SELECT credits_define_type('X', ' ');
SELECT credits_define_type('X', 'x', 2, 'usd');
SELECT credits_define_type('X', 'x', 2, 'DOLLARS');
\set VERBOSITY default
SELECT * FROM credits.credit_types ORDER BY code;

-- Scale is enforced on every amount.
\set VERBOSITY sqlstate
SELECT credits_grant('t-1', '0.01', credit_type => 'WRD');
SELECT credits_grant('t-1', '0.000001', credit_type => 'HRS');
\set VERBOSITY default
SELECT credits_grant('t-1', '0.01', credit_type => 'HRS') > 0;
SELECT credits_define_type('MIC', 'Micro', 6);
SELECT credits_grant('t-1', '0.000001', credit_type => 'MIC') > 0;
SELECT credits_balance('t-1', 'MIC'), credits_balance('t-1', 'HRS'),
	   credits_balance('t-1', 'WRD'), credits_balance('t-1');

-- The scale (and currency) cannot change while anything of the type
-- exists, lots or not: a rule, a package, a subscription, a hold, a pending
-- credit request would otherwise keep 1.5 of a type that counts in units.
SELECT credits_define_type('R1', 'Rule type', 1);
SELECT credits_define_rule('tutoring', '1.5', 'add', credit_type => 'R1') > 0;
SELECT credits_define_type('P1', 'Package type', 1);
SELECT credits_define_package('Half', '1.5', 'USD', 5, credit_type => 'P1') > 0;
SELECT credits_define_type('S1', 'Subscription type', 1);
SELECT credits_subscribe('t-2', '1.5', '1 month', credit_type => 'S1',
						 starts_at => now() + interval '1 day') > 0;
SELECT credits_define_type('H1', 'Hold type', 1);
SELECT credits_grant('t-2', '2.5', 'H1') > 0;
SELECT credits_hold('t-2', '1.5', 'order-h', 'H1') > 0;
SELECT credits_define_type('Q1', 'Request type', 1);
SELECT credits_define_package('Quarter', '1.5', 'USD', 5, credit_type => 'Q1') > 0;
SELECT status FROM credits_purchase('t-2', 'Quarter', 'bank_transfer');
SELECT credits_define_package('Quarter', 2, 'USD', 5) > 0;
SELECT count(*) AS lots FROM credits.lot WHERE credit_type IN ('R1', 'P1', 'S1', 'Q1');
SELECT credits_define_type('R1', 'Rule type', 0);
SELECT credits_define_type('P1', 'Package type', 2);
SELECT credits_define_type('S1', 'Subscription type', 0);
SELECT credits_define_type('H1', 'Hold type', 0);
SELECT credits_define_type('Q1', 'Request type', 0);
SELECT credits_define_type('R1', 'Rule type', 1, 'EUR');
\set VERBOSITY sqlstate
SELECT credits_define_type('P1', 'Package type', 0);
\set VERBOSITY default
-- Renaming is always allowed; once the rule moves to another type, R1's
-- scale is free again.
SELECT credits_define_type('R1', 'Tutoring hours', 1);
SELECT credits_define_rule('tutoring', 2, 'add') > 0;
SELECT credits_define_type('R1', 'Tutoring hours', 0);
SELECT code, name, scale, currency FROM credits.credit_types ORDER BY code;

-- A ledger edited by hand (here: a scale lowered behind credits_define_type's
-- back) is reported by credits_verify(), and a partial payment that would
-- take more than the lots hold is refused with a clear error (XX001), not
-- an internal one.
SELECT credits_define_type('EURC', 'Euro credit', 2, 'EUR');
SELECT credits_grant('t-3', '1.55', 'EURC') > 0;
UPDATE credits.credit_type SET scale = 1 WHERE code = 'EURC';
SELECT * FROM credits_verify() ORDER BY detail;
SELECT * FROM credits_pay('t-3', 10, 'EUR', 'inv-x', partial => true, credit_type => 'EURC');
\set VERBOSITY sqlstate
SELECT * FROM credits_pay('t-3', 10, 'EUR', 'inv-x', partial => true, credit_type => 'EURC');
\set VERBOSITY default
UPDATE credits.credit_type SET scale = 2 WHERE code = 'EURC';
SELECT credits_applied, amount_covered, amount_due
FROM credits_pay('t-3', 10, 'EUR', 'inv-x', partial => true, credit_type => 'EURC');

SELECT * FROM credits_verify();
DROP EXTENSION credits;
