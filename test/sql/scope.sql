-- Priorities and service-scoped credits (1.2): credits_grant(..., priority,
-- applies_to), credits_spend(..., service), credits_balance(..., service).
-- Spend order is priority, then soonest expiry (never-expiring last), then
-- oldest grant, then lot id; a spend for a service also takes the lots
-- restricted to it, a spend without one only lots that any service may use.
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never

\i test/sql/include/error_of.psql

\i test/sql/include/lots_of.psql
-- What an entry took, with the lots' reasons, and the account's figures.
CREATE FUNCTION pg_temp.scoped(acc text) RETURNS boolean LANGUAGE sql AS $$
	SELECT scoped FROM credits.account WHERE account = acc AND credit_type = 'CRD'
$$;
SELECT now() + interval '1 day' AS d1, now() + interval '10 days' AS d10,
	   now() + interval '30 days' AS d30 \gset

-- 1. Spend order with priorities.  Lots of 10, labelled by reason:
--   A priority 0, never expires      B priority 0, expires in 10 days
--   C priority -1, never expires     D priority 5, expires in 1 day
--   E priority -1, expires in 30 days
--   F and G priority 2, expire in 10 days, granted in one transaction (same
--   grant time: lot id decides)
-- Order: E, C (priority -1: expiring first), B, A (0), F, G (2), D (5): a
-- lower priority goes first whatever the expiry, a negative one before the
-- default.
SELECT credits_grant('p-1', 10, reason => 'A') > 0;
SELECT credits_grant('p-1', 10, expires_at => :'d10', reason => 'B') > 0;
SELECT credits_grant('p-1', 10, reason => 'C', priority => -1) > 0;
SELECT credits_grant('p-1', 10, expires_at => :'d1', reason => 'D', priority => 5) > 0;
SELECT credits_grant('p-1', 10, expires_at => :'d30', reason => 'E', priority => -1) > 0;
BEGIN;
SELECT credits_grant('p-1', 10, expires_at => :'d10', reason => 'F', priority => 2) > 0;
SELECT credits_grant('p-1', 10, expires_at => :'d10', reason => 'G', priority => 2) > 0;
COMMIT;
-- credits_lots lists them in spend order, with their priority and services.
SELECT reason, remaining, expires_at IS NOT NULL AS expires, priority, applies_to
FROM credits_lots('p-1');
-- Priorities and the default order leave the fast path as it was: no lot is
-- restricted, the account is not scoped.
SELECT pg_temp.scoped('p-1') AS scoped;
-- Spend 5 at a time, 14 times: each lot in turn, two spends each.
SELECT s, credits_spend('p-1', 5, 'p-order-' || s) > 0 AS spent FROM generate_series(1, 14) s;
SELECT e.reference, pg_temp.lots_of(e.entry_id) AS drawn_from
FROM credits.entry e WHERE e.account = 'p-1' AND e.kind = 'spend' ORDER BY e.seq;
-- One spend across lots of several priorities takes each in order.
SELECT credits_grant('p-2', 3, reason => 'late', priority => 1) > 0;
SELECT credits_grant('p-2', 4, reason => 'early', priority => -2147483648) > 0;
SELECT credits_grant('p-2', 5, reason => 'last', priority => 2147483647) > 0;
SELECT credits_grant('p-2', 6, expires_at => :'d1', reason => 'soon') > 0;
SELECT pg_temp.lots_of(credits_spend('p-2', 15)) AS drawn_from;
SELECT reason, remaining, priority FROM credits_lots('p-2', include_closed => true);

-- 2. Lots restricted to services.  s-1 has 10 credits any service may use,
-- 20 only for "ai" (priority -10: first in spend order for "ai") and 5 for
-- "ai" or "search" (expiring in 10 days).
SELECT credits_grant('s-1', 10, reason => 'any') > 0;
SELECT credits_grant('s-1', 20, reason => 'ai-only', applies_to => ARRAY['ai'], priority => -10) > 0;
SELECT credits_grant('s-1', 5, expires_at => :'d10', reason => 'ai-search',
					 applies_to => ARRAY['ai', 'search']) > 0;
SELECT pg_temp.scoped('s-1') AS scoped;
SELECT reason, remaining, priority, applies_to FROM credits_lots('s-1');
-- The balance counts every lot, as history does; for a service, what a
-- spend for it could take.
SELECT credits_balance('s-1') AS all_lots, credits_balance('s-1', service => 'ai') AS ai,
	   credits_balance('s-1', service => 'search') AS search,
	   credits_balance('s-1', service => 'video') AS video;
SELECT running_balance FROM credits_history('s-1') ORDER BY entry_id DESC LIMIT 1;

-- A spend without a service never touches restricted lots, even those
-- first in spend order.
SELECT pg_temp.lots_of(credits_spend('s-1', 4, 'plain-1')) AS drawn_from;
-- It may take only the 6 credits left that any service may use: CR001
-- names those 6 as available, and the hint what is out of its reach.
SELECT credits_fingerprint() AS before \gset
SELECT credits_spend('s-1', 7, 'plain-2');
SELECT credits_fingerprint() = :'before' AS ledger_unchanged;
-- For a service that no lot names, the same.
SELECT credits_spend('s-1', 7, 'video-1', service => 'video');
SELECT credits_fingerprint() = :'before' AS ledger_unchanged;

-- A spend for "search" takes the lots for "search" and those for any
-- service, in spend order: ai-search (expiring) before any (never).
SELECT pg_temp.lots_of(credits_spend('s-1', 8, 'search-1', service => 'search')) AS drawn_from;
SELECT credits_balance('s-1') AS all_lots, credits_balance('s-1', service => 'ai') AS ai,
	   credits_balance('s-1', service => 'search') AS search;
-- A spend for "ai" merges the restricted lots and the others in spend
-- order: ai-only (priority -10) first, then any.
SELECT pg_temp.lots_of(credits_spend('s-1', 21, 'ai-1', service => 'ai')) AS drawn_from;
SELECT reason, remaining FROM credits_lots('s-1', include_closed => true);
-- Short for "ai": 2 available (the lot for any service); nothing changes.
SELECT credits_fingerprint() AS before \gset
SELECT credits_spend('s-1', 3, 'ai-2', service => 'ai');
SELECT credits_fingerprint() = :'before' AS ledger_unchanged;
-- An unknown account has 0, for every service.
SELECT credits_spend('nobody', 1, service => 'ai');
SELECT credits_balance('nobody', service => 'ai');
-- Every spend wrote one entry; the running balances count every lot.
SELECT kind, amount, running_balance, reference FROM credits_history('s-1');

-- A spend for a service on an account without restricted lots takes the
-- same lots as a spend without one (the fast path serves both).
SELECT credits_grant('s-2', 5, expires_at => :'d10', reason => 'first') > 0;
SELECT credits_grant('s-2', 5, reason => 'second') > 0;
SELECT pg_temp.lots_of(credits_spend('s-2', 7, service => 'ai')) AS drawn_from;
SELECT pg_temp.scoped('s-2') AS scoped, credits_balance('s-2', service => 'ai') AS ai;

-- 3. Balances of a service at other instants.  s-3: 10 for any service,
-- 6 for "ai" expiring in a moment, 4 for "ai" for good (priority -1).
SELECT credits_grant('s-3', 10, reason => 'any') > 0;
SELECT credits_grant('s-3', 6, expires_at => clock_timestamp() + interval '1500 ms',
					 reason => 'ai-short', applies_to => ARRAY['ai']) > 0;
SELECT credits_grant('s-3', 4, reason => 'ai-long', applies_to => ARRAY['ai'], priority => -1) > 0;
SELECT now() AS t_granted \gset
SELECT credits_balance('s-3') AS all_lots, credits_balance('s-3', service => 'ai') AS ai,
	   credits_balance('s-3', service => 'search') AS search;
-- Projected: the short lot is gone by tomorrow.
SELECT credits_balance('s-3', at => now() + interval '1 day', service => 'ai') AS ai_tomorrow,
	   credits_balance('s-3', at => now() + interval '1 day', service => 'search') AS search_tomorrow;
SELECT pg_sleep(1.6);
-- The short lot expired (not recorded yet): no balance counts it.
SELECT credits_balance('s-3') AS all_lots, credits_balance('s-3', service => 'ai') AS ai,
	   credits_balance('s-3', service => 'search') AS search;
-- A spend for "ai" records that expiry first, then takes ai-long (priority
-- -1) and any.
SELECT pg_temp.lots_of(credits_spend('s-3', 7, 'ai-1', service => 'ai')) AS drawn_from;
SELECT kind, amount, running_balance, reason, reference FROM credits_history('s-3');
SELECT now() AS t_spent \gset
SELECT pg_sleep(0.01);
SELECT credits_spend('s-3', 1, 'plain-1') > 0;
-- From history: at the grant, and after the spend for "ai".
SELECT credits_balance('s-3', at => :'t_granted') AS all_lots_then,
	   credits_balance('s-3', at => :'t_granted', service => 'ai') AS ai_then,
	   credits_balance('s-3', at => :'t_granted', service => 'search') AS search_then;
SELECT credits_balance('s-3', at => :'t_spent') AS all_lots_later,
	   credits_balance('s-3', at => :'t_spent', service => 'ai') AS ai_later,
	   credits_balance('s-3', at => :'t_spent', service => 'search') AS search_later;
SELECT credits_balance('s-3') AS all_lots, credits_balance('s-3', service => 'ai') AS ai,
	   credits_balance('s-3', service => 'search') AS search;

-- 4. The other movements.  Holds and payments name no service: like a
-- spend without one, they take only lots that any service may use (CR001
-- names those as available).
SELECT credits_grant('m-1', 10, reason => 'any') > 0;
SELECT credits_grant('m-1', 30, reason => 'ai-only', applies_to => ARRAY['ai'], priority => -1) > 0;
SELECT credits_fingerprint() AS before \gset
SELECT credits_hold('m-1', 11, 'inv-1');
SELECT credits_fingerprint() = :'before' AS ledger_unchanged;
SELECT credits_hold('m-1', 4, 'inv-1') AS hold \gset
SELECT pg_temp.lots_of(entry_id) AS held_from FROM credits.entry
WHERE account = 'm-1' AND kind = 'hold';
SELECT credits_balance('m-1') AS all_lots, credits_balance('m-1', service => 'ai') AS ai;
-- A capture takes from the hold's lots; what it leaves goes back to them.
SELECT pg_temp.lots_of(credits_capture(:hold, 3)) AS captured_from;
SELECT credits_balance('m-1') AS all_lots, credits_balance('m-1', service => 'ai') AS ai;
SELECT credits_set_rate('USD', 10) > 0;
SELECT credits_fingerprint() AS before \gset
SELECT * FROM credits_pay('m-1', 1.00, 'USD', 'bill-1');
SELECT credits_fingerprint() = :'before' AS ledger_unchanged;
-- A partial payment applies what any service may use: 7 credits, 0.70.
SELECT credits_applied, amount_covered, amount_due, pg_temp.lots_of(entry_id) AS paid_from
FROM credits_pay('m-1', 1.00, 'USD', 'bill-1', partial => true);
SELECT credits_balance('m-1') AS all_lots, credits_balance('m-1', service => 'ai') AS ai;

-- A reversal gives a spend for a service back to the very lots it took,
-- restricted ones included; they stay restricted.
SELECT credits_spend('m-1', 12, 'ai-1', service => 'ai') AS ai_spend \gset
SELECT pg_temp.lots_of(:ai_spend) AS drawn_from;
SELECT pg_temp.lots_of(credits_reverse(:ai_spend)) AS given_back_to;
SELECT reason, remaining FROM credits_lots('m-1', include_closed => true);
SELECT credits_spend('m-1', 1, 'plain-1');

-- A transfer names no service either: it moves only lots that any service
-- may use (the restricted ones stay with the account they were granted
-- to), each with its expiry and its priority.
SELECT credits_grant('t-1', 6, reason => 'any', priority => 2) > 0;
SELECT credits_grant('t-1', 9, reason => 'ai-only', applies_to => ARRAY['ai'], priority => -1) > 0;
SELECT credits_fingerprint() AS before \gset
SELECT credits_transfer('t-1', 't-2', 7);
SELECT credits_fingerprint() = :'before' AS ledger_unchanged;
SELECT pg_temp.lots_of(credits_transfer('t-1', 't-2', 4, 'move-1')) AS moved_from;
SELECT account, reason, reference, remaining, priority, applies_to
FROM credits.lot WHERE account IN ('t-1', 't-2') ORDER BY account, lot_id;
SELECT pg_temp.scoped('t-2') AS receiver_scoped;

-- A service subscription is a spend for its service: its first period and
-- each renewal may take the lots restricted to that service.
SELECT credits_grant('m-2', 5, reason => 'any') > 0;
SELECT credits_grant('m-2', 20, reason => 'stream-only', applies_to => ARRAY['stream']) > 0;
SELECT credits_fingerprint() AS before \gset
SELECT credits_subscribe_service('m-2', 'news', 8, '1 month');
SELECT credits_fingerprint() = :'before' AS ledger_unchanged;
SELECT credits_subscribe_service('m-2', 'stream', 8, '1 month') > 0 AS subscribed;
SELECT reason, pg_temp.lots_of(e.entry_id) AS paid_from
FROM credits.entry e WHERE e.account = 'm-2' AND e.kind = 'spend';

-- Resets and clawbacks remove credits rather than use them: they take from
-- every lot, restricted ones included, as the balance counts every lot.
SELECT credits_define_rule('plan', 50, 'reset') > 0;
SELECT credits_define_rule('topup', 20, 'add') > 0;
SELECT credits_grant('m-3', 10, reason => 'ai-only', applies_to => ARRAY['ai']) > 0;
SELECT credits_issue('m-3', 'topup', 'INV-1') > 0;
SELECT credits_spend('m-3', 15, 'plain-1') > 0;
-- The refund of INV-1 claws back its 20: the 5 left of its lot, then the
-- restricted lot's 10; 5 short.
SELECT * FROM credits_clawback('INV-1');
SELECT coalesce(reason, reference) AS lot, remaining FROM credits_lots('m-3', include_closed => true);
SELECT credits_grant('m-3', 8, reason => 'ai-again', applies_to => ARRAY['ai']) > 0;
SELECT credits_grant('m-3', 2, reason => 'any') > 0;
-- A reset forfeits the whole balance, restricted lots included.
SELECT credits_issue('m-3', 'plan', 'INV-2') > 0;
SELECT kind, amount, running_balance, reference FROM credits_history('m-3')
WHERE kind IN ('reset', 'clawback') ORDER BY entry_id;
SELECT credits_balance('m-3') AS all_lots, credits_balance('m-3', service => 'ai') AS ai;

-- A voided or expired restricted lot leaves every balance.
SELECT credits_grant('m-4', 3, reason => 'any') > 0;
SELECT credits_grant('m-4', 9, reason => 'ai-only', applies_to => ARRAY['ai']) AS ai_lot \gset
SELECT credits_grant('m-4', 4, expires_at => clock_timestamp() + interval '500 ms', reason => 'ai-short',
					 applies_to => ARRAY['ai']) > 0;
SELECT credits_void(:ai_lot, 'promotion withdrawn');
SELECT pg_sleep(0.6);
SELECT credits_expire() > 0 AS expired;
SELECT credits_balance('m-4') AS all_lots, credits_balance('m-4', service => 'ai') AS ai;
SELECT kind, amount, running_balance FROM credits_history('m-4');
-- The account stays scoped once it had a restricted lot (a spend without a
-- service then counts what it may take: nothing restricted is left).
SELECT pg_temp.scoped('m-4') AS scoped;
SELECT pg_temp.lots_of(credits_spend('m-4', 3)) AS drawn_from;

-- 5. Named notation with the new parameters, in any order.
SELECT credits_grant(applies_to => ARRAY['ai'], priority => 3, amount => 2, account => 'n-1',
					 reason => 'named') > 0;
SELECT credits_grant(account => 'n-1', amount => 1, priority => -3, reason => 'named-first') > 0;
SELECT pg_temp.lots_of(credits_spend(service => 'ai', amount => 3, account => 'n-1')) AS drawn_from;
SELECT credits_balance(service => 'ai', account => 'n-1', credit_type => 'CRD');

-- 6. Bad input: SQLSTATE and message; the ledger never changes.
SELECT credits_fingerprint() AS before \gset
SELECT pg_temp.error_of($$SELECT credits_grant('b-1', 5, applies_to => '{}')$$) AS empty_list;
SELECT pg_temp.error_of($$SELECT credits_grant('b-1', 5, applies_to => ARRAY[NULL]::text[])$$) AS null_service;
SELECT pg_temp.error_of($$SELECT credits_grant('b-1', 5, applies_to => ARRAY['ai', NULL])$$) AS null_service;
SELECT pg_temp.error_of($$SELECT credits_grant('b-1', 5, applies_to => ARRAY['ai', ''])$$) AS empty_service;
SELECT pg_temp.error_of($$SELECT credits_grant('b-1', 5, applies_to => ARRAY['ai', 'search', 'ai'])$$) AS duplicate;
SELECT pg_temp.error_of($$SELECT credits_grant('b-1', 5, applies_to => '{{ai,search},{video,news}}')$$) AS two_dimensions;
SELECT pg_temp.error_of($$SELECT credits_grant('b-1', 5, priority => NULL)$$) AS null_priority;
SELECT pg_temp.error_of($$SELECT credits_spend('s-1', 1, service => '')$$) AS empty_spend_service;
SELECT pg_temp.error_of($$SELECT credits_balance('s-1', service => '')$$) AS empty_balance_service;
SELECT credits_fingerprint() = :'before' AS ledger_unchanged;
-- The full messages.
SELECT credits_grant('b-1', 5, applies_to => '{}');
SELECT credits_grant('b-1', 5, applies_to => ARRAY['ai', 'search', 'ai']);
SELECT credits_spend('s-1', 1, service => '');
-- A NULL service is no service; NULL applies_to is any service.
SELECT credits_balance('s-1', service => NULL) = credits_balance('s-1') AS same_balance;
SELECT credits_grant('b-2', 5, reason => 'any', applies_to => NULL) > 0;
SELECT pg_temp.lots_of(credits_spend('b-2', 5, service => NULL)) AS drawn_from;
-- A lower bound other than 1 is kept as a plain list.
SELECT credits_grant('b-3', 5, applies_to => '[3:4]={ai,search}') > 0;
SELECT applies_to FROM credits_lots('b-3');

-- 7. Idempotency keys cover the new arguments: the same call returns the
-- first result, another priority, list or service is CR003.
SELECT credits_grant('k-1', 5, idempotency_key => 'g-1', priority => 2, applies_to => ARRAY['ai']) AS lot \gset
SELECT credits_grant('k-1', 5, idempotency_key => 'g-1', priority => 2, applies_to => ARRAY['ai']) = :lot AS same_lot;
SELECT credits_fingerprint() AS before \gset
SELECT pg_temp.error_of($$SELECT credits_grant('k-1', 5, idempotency_key => 'g-1', priority => 3, applies_to => ARRAY['ai'])$$) AS other_priority;
SELECT pg_temp.error_of($$SELECT credits_grant('k-1', 5, idempotency_key => 'g-1', priority => 2)$$) AS other_services;
SELECT pg_temp.error_of($$SELECT credits_grant('k-1', 5, idempotency_key => 'g-1')$$) AS defaults;
SELECT credits_fingerprint() = :'before' AS ledger_unchanged;
-- Without a priority or services, a key's request is that of 1.1.
SELECT credits_grant('k-1', 5, idempotency_key => 'g-2') AS lot2 \gset
SELECT request FROM credits.idempotency WHERE account = 'k-1' ORDER BY idempotency_key;
SELECT credits_grant('k-1', 50, reason => 'any') > 0;
SELECT credits_spend('k-1', 2, idempotency_key => 's-1', service => 'ai') AS spend \gset
SELECT credits_spend('k-1', 2, idempotency_key => 's-1', service => 'ai') = :spend AS same_spend;
SELECT credits_fingerprint() AS before \gset
SELECT pg_temp.error_of($$SELECT credits_spend('k-1', 2, idempotency_key => 's-1')$$) AS without_service;
SELECT pg_temp.error_of($$SELECT credits_spend('k-1', 2, idempotency_key => 's-1', service => 'search')$$) AS other_service;
SELECT credits_fingerprint() = :'before' AS ledger_unchanged;

-- 8. Client portals spend and read their own account for a service.
CREATE ROLE regress_scope_portal;
SELECT credits_portal_add_role('regress_scope_portal');
SET credits.portal_account = 's-1';
SET ROLE regress_scope_portal;
SELECT credits_balance('s-1', service => 'ai') AS own_ai;
SELECT credits_spend('s-1', 1, 'portal-1', service => 'search') > 0 AS spent;
SELECT pg_temp.error_of($$SELECT credits_balance('m-1', service => 'ai')$$) AS other_account;
SELECT pg_temp.error_of($$SELECT credits_grant('s-1', 5, applies_to => ARRAY['ai'])$$) AS grant_refused;
RESET ROLE;
RESET credits.portal_account;
SELECT credits_portal_remove_role('regress_scope_portal');
DROP ROLE regress_scope_portal;

-- 9. Tamper evidence covers a lot's priority and services: a restricted lot
-- made unrestricted, or moved later in spend order, after its grant was
-- sealed is reported.
SELECT credits_seal() > 0 AS sealed;
BEGIN;
UPDATE credits.lot SET applies_to = NULL WHERE account = 'm-1' AND reason = 'ai-only';
UPDATE credits.lot SET priority = 0 WHERE account = 'p-1' AND reason = 'E';
SELECT check_name, account FROM credits_verify() WHERE check_name = 'chain' ORDER BY 2;
ROLLBACK;

SELECT * FROM credits_verify();
-- credits_verify() sees a restricted lot whose account is not flagged (the
-- fast path would let a plain spend take it) and a malformed list (and the
-- chain of the sealed lot's grant, as above).
BEGIN;
UPDATE credits.account SET scoped = false WHERE account = 's-1';
UPDATE credits.lot SET applies_to = ARRAY['ai', 'ai'] WHERE account = 'm-1' AND reason = 'ai-only';
SELECT check_name, account, regexp_replace(detail, 'lot \d+', 'lot <id>') AS detail
FROM credits_verify() WHERE check_name <> 'chain' ORDER BY 1, 2, 3;
ROLLBACK;
DROP EXTENSION credits;
