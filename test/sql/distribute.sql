-- credits_distribute() away from a Citus coordinator: a clear error, the
-- ledger unchanged; a credits_admin that is no superuser is refused first.
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT credits_grant('alice', 100) > 0 AS granted;
SELECT credits_fingerprint() AS before \gset

-- No citus extension in this database: 55000.
SELECT credits_distribute();
\set VERBOSITY sqlstate
SELECT credits_distribute();
\set VERBOSITY default
SELECT credits_fingerprint() = :'before' AS unchanged;
SELECT count(*) AS distributed_nothing FROM pg_class c
WHERE c.relnamespace = 'credits'::regnamespace AND c.relkind = 'S'
  AND EXISTS (SELECT FROM pg_sequences s WHERE s.schemaname = 'credits' AND s.sequencename = c.relname
			  AND s.max_value <> 9223372036854775807);

-- The library was loaded on first use here, not at server start after
-- Citus: its planner guard (NULL accounts never delegated) does not count
-- as in place, which credits_distribute() requires on a coordinator.
SELECT credits.delegation_guarded() AS guarded;
-- The guard changes no answer: a NULL account is still NULL or 22004.
SELECT credits_balance(NULL) IS NULL AS balance_of_null;
\set VERBOSITY sqlstate
SELECT credits_spend(NULL, 1);
PREPARE spend_null(text) AS SELECT credits_spend($1, 1);
EXECUTE spend_null(NULL);
DEALLOCATE spend_null;
\set VERBOSITY default

-- SECURITY INVOKER (it needs a superuser), its search_path pinned.
SELECT prosecdef, proconfig FROM pg_proc WHERE oid = 'credits_distribute()'::regprocedure;

-- A credits_admin that is no superuser: 42501, before anything else.
CREATE ROLE regress_distribute_admin NOLOGIN IN ROLE credits_admin;
SET ROLE regress_distribute_admin;
SELECT credits_distribute();
\set VERBOSITY sqlstate
SELECT credits_distribute();
\set VERBOSITY default
RESET ROLE;
-- A credits_operator may not call it at all.
CREATE ROLE regress_distribute_operator NOLOGIN IN ROLE credits_operator;
SET ROLE regress_distribute_operator;
\set VERBOSITY sqlstate
SELECT credits_distribute();
\set VERBOSITY default
RESET ROLE;
SELECT credits_fingerprint() = :'before' AS unchanged;

SELECT * FROM credits_verify();
DROP ROLE regress_distribute_admin;
DROP ROLE regress_distribute_operator;
DROP EXTENSION credits;
