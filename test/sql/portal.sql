-- Client-portal isolation: a portal caller reads and spends its own
-- account only; the agency's functions are refused.
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE ROLE portal_web NOLOGIN;
CREATE ROLE portal_alice_session NOLOGIN IN ROLE portal_web;
SELECT credits_grant('alice', 100) > 0, credits_grant('bob', 100) > 0;
SELECT credits_portal_add_role('portal_web');
SELECT credits_portal_add_role('portal_web');   -- twice is fine
\set VERBOSITY sqlstate
SELECT credits_portal_add_role('no_such_role');
SELECT credits_portal_add_role(NULL);
\set VERBOSITY default

-- A portal role without credits.portal_account set can do nothing.
SET ROLE portal_alice_session;
SELECT credits_balance('alice');

-- With its account set (as the portal does per request), it can read and
-- spend that account only.
SELECT set_config('credits.portal_account', 'alice', false);
SELECT credits_balance('alice');
SELECT credits_spend('alice', 30, 'ORD-A') > 0 AS spent;
SELECT kind, amount, running_balance FROM credits_history('alice');
-- The outbox shows it its own account's events only.
SELECT type, account FROM credits_events_since() ORDER BY event_id;
SELECT credits_balance('bob');
SELECT * FROM credits_history('bob');
SELECT credits_spend('bob', 1);
\set VERBOSITY sqlstate
SELECT credits_balance('bob');
SELECT * FROM credits_history('bob');
SELECT credits_spend('bob', 1);
SELECT credits_spend('bob', 1, idempotency_key => 'x');
-- The agency's functions are refused, even on the caller's own account.
SELECT credits_grant('alice', 1000);
SELECT credits_expire();
SELECT credits_define_type('X', 'x');
SELECT credits_set_enabled(false);
SELECT credits_set_low_balance('alice', 5);
SELECT credits_set_auto_topup('alice', 5, 'Starter', 'stripe');
SELECT credits_enabled();
SELECT credits_prune_events();
SELECT * FROM credits_verify();
SELECT credits_portal_remove_role('portal_web');
\set VERBOSITY default
SELECT credits_grant('alice', 1000);
-- Even the switch is the agency's to read.
SELECT credits_enabled();
RESET ROLE;

-- A portal that logs in with one role and no SET ROLE restricts itself just
-- by setting the account.
SELECT set_config('credits.portal_account', 'bob', false);
SELECT credits_balance('bob');
\set VERBOSITY sqlstate
SELECT credits_balance('alice');
SELECT credits_grant('bob', 1);
\set VERBOSITY default
RESET credits.portal_account;

-- The agency sees everything; nothing leaked between the accounts.
SELECT credits_balance('alice') AS alice, credits_balance('bob') AS bob;
SELECT credits_portal_remove_role('portal_web');
SET ROLE portal_alice_session;
SELECT credits_balance('bob') AS bob_after_removal;
RESET ROLE;

SELECT * FROM credits_verify();
DROP EXTENSION credits;
DROP ROLE portal_alice_session;
DROP ROLE portal_web;
