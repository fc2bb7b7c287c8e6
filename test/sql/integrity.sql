-- History is append-only; applications cannot write the tables; and
-- credits_verify() notices when the ledger is damaged.
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never

SELECT credits_grant('i-1', 50) > 0;
SELECT credits_spend('i-1', 20, 'order-1') > 0;

-- Even a superuser cannot edit or erase history ...
UPDATE credits.entry SET amount = 1;
DELETE FROM credits.entry;
TRUNCATE credits.entry;
UPDATE credits.allocation SET amount = 1;
DELETE FROM credits.allocation;
TRUNCATE credits.allocation;
-- ... not even as a replication session, where ordinary triggers sleep.
SET session_replication_role = replica;
DELETE FROM credits.entry;
RESET session_replication_role;
SELECT count(*) FROM credits.entry;

-- An application role can call the API but touch no table.
CREATE ROLE credits_app_test IN ROLE credits_operator;
SET ROLE credits_app_test;
SELECT credits_grant('i-2', 10) > 0 AS app_can_grant;
SELECT credits_spend('i-2', 4) > 0 AS app_can_spend;
SELECT credits_balance('i-2') AS app_can_read;
SELECT count(*) FROM credits_history('i-2');
SELECT * FROM credits.entry;
INSERT INTO credits.lot (account, credit_type, amount, remaining, is_open) VALUES ('i-2', 'CRD', 1000, 1000, true);
UPDATE credits.account SET balance = 1000;
SELECT nextval('credits.entry_id_seq');
RESET ROLE;
-- Every table and sequence of the extension: no privilege for anyone but
-- the owner (the one relation counted below is the view credits_balances,
-- which credits_reader, and so credits_operator, may read).
SELECT count(*) > 10 AS relations_checked,
	   count(*) FILTER (WHERE has_table_privilege('credits_app_test', c.oid,
			'SELECT,INSERT,UPDATE,DELETE,TRUNCATE,REFERENCES,TRIGGER')) AS app_role_can_touch,
	   count(*) FILTER (WHERE c.relkind = 'S' AND has_sequence_privilege('credits_app_test', c.oid,
			'USAGE,SELECT,UPDATE')) AS app_role_can_use_sequence
FROM pg_class c JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
JOIN pg_extension x ON x.oid = d.refobjid AND x.extname = 'credits'
WHERE c.relkind IN ('r', 'S', 'v', 'm', 'p') AND d.deptype = 'e';
SELECT count(*) AS api_functions_without_pinned_search_path
FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
JOIN pg_extension x ON x.oid = d.refobjid AND x.extname = 'credits'
WHERE p.prosecdef AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%');
SELECT count(*) > 0 AS has_definer_functions
FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
JOIN pg_extension x ON x.oid = d.refobjid AND x.extname = 'credits'
WHERE p.prosecdef;

-- credits_verify() can fail: damage the lots and the account, see it, repair.
SELECT * FROM credits_verify();
UPDATE credits.account SET balance = balance + 1 WHERE account = 'i-1';
SELECT check_name, account FROM credits_verify() ORDER BY 1, 2;
UPDATE credits.account SET balance = balance - 1 WHERE account = 'i-1';
UPDATE credits.lot SET remaining = remaining - 1, amount = amount WHERE account = 'i-1';
SELECT check_name, account FROM credits_verify() ORDER BY 1, 2;
UPDATE credits.lot SET remaining = remaining + 1 WHERE account = 'i-1';
UPDATE credits.account SET next_expiry = now() + interval '1 year' WHERE account = 'i-1';
UPDATE credits.lot SET expires_at = now() + interval '1 day' WHERE account = 'i-1';
SELECT check_name, account FROM credits_verify() ORDER BY 1, 2;
UPDATE credits.lot SET expires_at = NULL WHERE account = 'i-1';
UPDATE credits.account SET next_expiry = NULL WHERE account = 'i-1';
-- An entry dated before the one numbered ahead of it (history rewritten by
-- a superuser with the guard off), and an account whose last_at lies before
-- its latest entry.
ALTER TABLE credits.entry DISABLE TRIGGER entry_append_only;
UPDATE credits.entry SET at = at - interval '1 hour' WHERE account = 'i-1' AND seq = 2;
SELECT check_name, account FROM credits_verify() ORDER BY 1, 2;
UPDATE credits.entry SET at = at + interval '1 hour' WHERE account = 'i-1' AND seq = 2;
ALTER TABLE credits.entry ENABLE ALWAYS TRIGGER entry_append_only;
UPDATE credits.account SET last_at = last_at - interval '1 hour' WHERE account = 'i-1';
SELECT check_name, account FROM credits_verify() ORDER BY 1, 2;
UPDATE credits.account SET last_at = last_at + interval '1 hour' WHERE account = 'i-1';

SELECT * FROM credits_verify();
DROP EXTENSION credits;
DROP ROLE credits_app_test;
