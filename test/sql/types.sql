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

SELECT * FROM credits_verify();
DROP EXTENSION credits;
