-- The functions given an id (a hold, an entry, a lot, a subscription, a
-- credit request) also take the account it belongs to (1.2), optionally.
-- Given, the id is looked up within that account only: one of another
-- account is not found (42704, the message names the account) and nothing
-- changes; on a distributed ledger such a call runs on the worker that
-- holds the account (test/citus/by_account.sh).  Left out, as before.
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never

\i test/sql/include/error_of.psql

SELECT credits_define_package('by-pack', 100, 'USD', 10.00) > 0 AS pack;
SELECT credits_grant('ann', 50) AS lot \gset
SELECT credits_grant('bob', 50) AS lot2 \gset
SELECT credits_spend('ann', 5, 'order-1') AS spend \gset
SELECT credits_hold('ann', 7, 'invoice-1') AS hold1 \gset
SELECT credits_hold('ann', 3, 'invoice-2') AS hold2 \gset
SELECT request_id AS req1 FROM credits_purchase('ann', 'by-pack', 'bank_transfer', 'wire-1') \gset
SELECT request_id AS req2 FROM credits_purchase('ann', 'by-pack', 'bank_transfer', 'wire-2') \gset
SELECT credits_subscribe('ann', 5, '1 month') AS sub \gset

-- 1. Named with another account (one that exists, one that does not),
-- every id is unknown, and nothing changes.
SELECT credits_fingerprint() AS before \gset
SELECT a AS account, pg_temp.error_of(format(stmt, id, a), id) AS error
FROM (VALUES
	(1, 'SELECT credits_capture(%s, account => %L)', :hold1),
	(2, 'SELECT credits_release(%s, account => %L)', :hold2),
	(3, 'SELECT credits_reverse(%s, account => %L)', :spend),
	(4, 'SELECT credits_void(%s, ''wrong'', account => %L)', :lot),
	(5, 'SELECT credits_cancel_subscription(%s, account => %L)', :sub),
	(6, 'SELECT credits_accept_request(%s, account => %L)', :req1),
	(7, 'SELECT credits_reject_request(%s, account => %L)', :req2)) c(n, stmt, id)
CROSS JOIN (VALUES ('bob'), ('nobody')) x(a)
ORDER BY c.n, x.a;
-- An empty account is refused, as everywhere (22023).
SELECT pg_temp.error_of(format('SELECT credits_release(%s, account => %L)', :hold2, ''));
SELECT pg_temp.error_of(format('SELECT credits_accept_request(%s, account => %L)', :req1, ''));
SELECT credits_fingerprint() = :'before' AS unchanged;

-- 2. Named with their own account, each works as without it.
SELECT credits_capture(:hold1, 4, account => 'ann') > 0 AS captured;
SELECT credits_release(:hold2, account => 'ann');
SELECT credits_reverse(:spend, 'refund', account => 'ann') > 0 AS reversed;
SELECT credits_void(:lot2, 'mistake', account => 'bob') AS voided;
SELECT credits_cancel_subscription(:sub, account => 'ann');
SELECT credits_accept_request(:req1, account => 'ann') > 0 AS accepted;
SELECT credits_reject_request(:req2, 'no wire', account => 'ann');
SELECT package, status, reason FROM credits_requests('ann') ORDER BY request_id;
SELECT status FROM credits_subscriptions('ann');
SELECT kind, direction, amount, running_balance FROM credits_history('ann') ORDER BY entry_id;
SELECT credits_balance('ann') AS a1, credits_balance('bob') AS a2;
-- ... and a second decision is still CR005, named or not.
SELECT pg_temp.error_of(format('SELECT credits_release(%s, account => %L)', :hold2, 'ann'), :hold2);
SELECT pg_temp.error_of(format('SELECT credits_accept_request(%s, account => %L)', :req2, 'ann'), :req2);

-- 3. Who may: the same roles as without the account.  A client portal may
-- cancel the service it bought, naming its own account; naming it with
-- another account's subscription finds nothing; naming another account is
-- refused (42501) as without it.  The agency's decisions stay refused.
SELECT credits_subscribe_service('ann', 'stream', 2, '1 month') AS own_service \gset
SELECT credits_grant('bob', 10) > 0 AS granted;
SELECT credits_subscribe_service('bob', 'stream', 2, '1 month') AS other_service \gset
CREATE ROLE regress_by_account_portal NOLOGIN;
SELECT credits_portal_add_role('regress_by_account_portal');
SELECT set_config('credits.portal_account', 'ann', false);
SET ROLE regress_by_account_portal;
SELECT pg_temp.error_of(format('SELECT credits_cancel_subscription(%s, account => %L)', :other_service, 'ann'), :other_service);
SELECT pg_temp.error_of(format('SELECT credits_cancel_subscription(%s, account => %L)', :other_service, 'bob'), :other_service);
SELECT pg_temp.error_of(format('SELECT credits_release(%s, account => %L)', :hold1, 'ann'), :hold1);
SELECT credits_cancel_subscription(:own_service, account => 'ann');
RESET ROLE;
RESET credits.portal_account;
SELECT credits_portal_remove_role('regress_by_account_portal');
DROP ROLE regress_by_account_portal;
SELECT account, service, status FROM credits_subscriptions() WHERE service = 'stream' ORDER BY account;

SELECT * FROM credits_verify();
DROP EXTENSION credits;
