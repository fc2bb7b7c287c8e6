-- credits_set_auto_topup: a movement that takes credits and leaves the
-- available balance below the account's threshold, while no top-up of the
-- account and type is pending, creates a pending credit request for the
-- package (event account.credits.topup_requested); the application charges
-- the client and accepts or rejects it.  At most one pending per account
-- and type; a top-up that cannot be requested never fails the movement.
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never

\i test/sql/include/error_of.psql

-- The outbox of an account from an event id on, without the ids that
-- differ between runs (checked apart below).
CREATE FUNCTION pg_temp.events(acct text, after bigint DEFAULT 0)
RETURNS TABLE(type text, payload jsonb) LANGUAGE sql AS $$
	SELECT e.type, e.payload - 'entry_id' - 'request_id' - 'lot_id'
	FROM credits.event e WHERE e.account = acct AND e.id > after ORDER BY e.id
$$;
-- An account's auto top-up requests and the account row's pending one.
CREATE FUNCTION pg_temp.topups(acct text, typ text DEFAULT 'CRD')
RETURNS TABLE(package text, credits credit_amount, amount numeric, method text,
			  status text, reference text, named_pending boolean)
LANGUAGE sql AS $$
	SELECT r.package, r.credits, r.amount, r.method, r.status, r.reference,
		   a.topup_request IS NOT DISTINCT FROM r.request_id
	FROM credits.request r
	JOIN credits.account a ON a.account = r.account AND a.credit_type = r.credit_type
	WHERE r.account = acct AND r.credit_type = typ AND r.auto_topup
	ORDER BY r.request_id
$$;
SELECT coalesce(max(id), 0) AS ev0 FROM credits.event \gset

SELECT credits_define_type('HRS', 'Hours', 2);
SELECT credits_define_package('Refill', 100, 'USD', 10.00) > 0 AS refill;
SELECT credits_define_package('Big', 500, 'USD', 45.00, expires_after => '1 year') > 0 AS big;
SELECT credits_define_package('Hours', '10.5', 'USD', 99.00, 'HRS') > 0 AS hours;

-- 1. The first spend that leaves the balance below 20 requests a top-up:
-- one pending request for the package (marked: reference auto-topup),
-- whatever the method, and its event after the spend's.
SELECT credits_grant('t-1', 50) > 0 AS granted;
SELECT credits_set_auto_topup('t-1', 20, 'Refill', 'stripe');
SELECT account, topup_below, topup_package, topup_method, topup_request
FROM credits.account WHERE account = 't-1';
SELECT credits_spend('t-1', 25, 'order-1') > 0 AS spent;	-- 25 left: above
SELECT count(*) AS requests FROM credits.request WHERE account = 't-1';
-- 15 left: below
SELECT credits_spend('t-1', 10, 'order-2') AS crossing \gset
SELECT * FROM pg_temp.topups('t-1');
SELECT request_id AS r1 FROM credits.request WHERE account = 't-1' \gset
SELECT package, credits, amount, currency, method, status, reference, decided_at
FROM credits_requests('t-1');
SELECT * FROM pg_temp.events('t-1', :ev0);
-- The event names the request and the spend that left the balance below.
SELECT (e.payload->>'request_id')::bigint = :r1 AS names_request,
	   (e.payload->>'entry_id')::bigint = :crossing AS names_entry, e.entry_id = :crossing AS entry_column
FROM credits.event e WHERE e.type = 'account.credits.topup_requested' AND e.account = 't-1';
-- The spends themselves are untouched.
SELECT kind, amount, running_balance, reference FROM credits_history('t-1');

-- While it is pending, spends below the threshold request nothing more:
-- by the fast path, the general path (an idempotency key), and down to 0.
SELECT coalesce(max(id), 0) AS ev1 FROM credits.event \gset
SELECT credits_spend('t-1', 1) > 0 AS spent;
SELECT credits_spend('t-1', 2, idempotency_key => 'k-1') > 0 AS spent_keyed;
SELECT credits_spend('t-1', 12) > 0 AS spent_all;
SELECT * FROM pg_temp.topups('t-1');
SELECT * FROM pg_temp.events('t-1', :ev1);

-- 2. Accepting it grants the package as a purchase (cost basis, source
-- purchase, the package's expiry); the account has no pending top-up any
-- more, and the next movement that leaves the balance below asks again.
SELECT credits_accept_request(:r1) AS r1_lot \gset
SELECT amount, remaining, source, cost, cost_currency, reference, reason
FROM credits.lot WHERE account = 't-1' AND lot_id = :r1_lot;
SELECT * FROM pg_temp.topups('t-1');
SELECT credits_balance('t-1') AS balance;
SELECT credits_spend('t-1', 80) > 0 AS spent;	-- 20 left: not below
SELECT count(*) AS requests FROM credits.request WHERE account = 't-1';
SELECT credits_spend('t-1', '1') > 0 AS spent;	-- 19: below again
SELECT * FROM pg_temp.topups('t-1');
SELECT request_id AS r2 FROM credits.request WHERE account = 't-1' AND status = 'pending' \gset

-- 3. Rejected (the card was declined): no credits; the account is still
-- below, and its next movement that takes credits asks again (one at a
-- time, never more).
SELECT coalesce(max(id), 0) AS ev2 FROM credits.event \gset
SELECT credits_reject_request(:r2, 'card declined');
SELECT credits_balance('t-1') AS balance;
SELECT * FROM pg_temp.topups('t-1');
SELECT credits_spend('t-1', 1) > 0 AS spent;
SELECT credits_spend('t-1', 1) > 0 AS spent;
SELECT * FROM pg_temp.topups('t-1');
SELECT * FROM pg_temp.events('t-1', :ev2);
-- A grant never asks, even below the threshold.
SELECT request_id AS r3 FROM credits.request WHERE account = 't-1' AND status = 'pending' \gset
SELECT credits_reject_request(:r3, 'card declined again');
SELECT credits_grant('t-1', 1) > 0 AS granted;
SELECT count(*) AS pending FROM credits.request WHERE account = 't-1' AND status = 'pending';

-- 4. Every movement that takes credits asks: a hold, a payment, a
-- transfer out (not in), a void, a capture; an expiry, recorded by a call
-- or by credits_expire(); a call that writes several entries asks once.
SELECT credits_set_rate('USD', 10) > 0 AS rate;
SELECT credits_grant(a, 30) > 0 AS granted, credits_set_auto_topup(a, 25, 'Refill', 'bank_transfer')
FROM unnest(ARRAY['m-hold', 'm-pay', 'm-out', 'm-in', 'm-void', 'm-capture']) a;
SELECT credits_hold('m-hold', 10, 'inv-hold') > 0 AS held;
SELECT credits_applied, amount_due FROM credits_pay('m-pay', 1.00, 'USD', 'inv-pay');
SELECT credits_transfer('m-out', 'm-in', 10) > 0 AS transferred;
SELECT credits_void(lot_id, 'mistake') FROM credits.lot WHERE account = 'm-void';
-- (m-capture's hold asks first; once that is rejected, the capture, which
-- leaves the balance where the hold did, asks again)
SELECT credits_hold('m-capture', 10, 'inv-capture') AS capture_hold \gset
SELECT credits_reject_request(request_id, 'declined') FROM credits.request WHERE account = 'm-capture';
SELECT credits_capture(:capture_hold) > 0 AS captured;
SELECT r.account, e.type AS requested_by, r.method, r.status
FROM credits.request r
JOIN credits.event t ON t.account = r.account AND t.type = 'account.credits.topup_requested'
	AND (t.payload->>'request_id')::bigint = r.request_id
JOIN credits.event e ON e.account = r.account AND e.entry_id = t.entry_id
	AND e.type LIKE 'account.credits.%' AND e.type NOT IN ('account.credits.topup_requested',
		'account.credits.low_balance', 'account.credits.balance_depleted')
WHERE r.account LIKE 'm-%' ORDER BY r.account, r.request_id;
SELECT count(*) AS m_in_requests FROM credits.request WHERE account = 'm-in';
-- Expiry: e-call's lot expires, and its next spend records the expiry,
-- then spends: one request; e-bulk-1 and e-bulk-2 expire by
-- credits_expire() (set-based): one each; e-above stays above.
SELECT credits_grant(a, 10, expires_at => clock_timestamp() + interval '1 s') > 0 AS short,
	   credits_grant(a, 25) > 0 AS long, credits_set_auto_topup(a, 30, 'Refill', 'crypto')
FROM unnest(ARRAY['e-call', 'e-bulk-1', 'e-bulk-2']) a;
SELECT credits_grant('e-above', 10, expires_at => clock_timestamp() + interval '1 s') > 0 AS short,
	   credits_grant('e-above', 45) > 0 AS long, credits_set_auto_topup('e-above', 30, 'Refill', 'crypto');
-- A call decides by the balance it leaves: e-grant's due expiry takes it
-- below, the grant that follows in the same call above: nothing.
SELECT credits_grant('e-grant', 10, expires_at => clock_timestamp() + interval '1 s') > 0 AS short,
	   credits_grant('e-grant', 30) > 0 AS long, credits_set_auto_topup('e-grant', 35, 'Refill', 'crypto');
-- credits_grant_many never asks, even when the expiry it records first
-- leaves e-many below (and its grant too small to lift it).
SELECT credits_grant('e-many', 10, expires_at => clock_timestamp() + interval '1 s') > 0 AS short,
	   credits_grant('e-many', 30) > 0 AS long, credits_set_auto_topup('e-many', 35, 'Refill', 'crypto');
SELECT pg_sleep(1.2);
SELECT credits_spend('e-call', 1) > 0 AS spent;
SELECT kind, amount, running_balance FROM credits_history('e-call');
SELECT credits_grant('e-grant', 20) > 0 AS granted;
SELECT kind, amount, running_balance FROM credits_history('e-grant');
SELECT credits_grant_many(ARRAY['e-many'], 1) AS granted_many;
SELECT kind, amount, running_balance FROM credits_history('e-many');
SELECT credits_expire() AS expired_lots;
SELECT a.account, count(r.request_id) AS requests, min(e.kind) AS left_below_by
FROM (VALUES ('e-call'), ('e-bulk-1'), ('e-bulk-2'), ('e-above'), ('e-grant'), ('e-many')) a(account)
LEFT JOIN credits.request r ON r.account = a.account
LEFT JOIN credits.event t ON t.account = r.account AND t.type = 'account.credits.topup_requested'
	AND (t.payload->>'request_id')::bigint = r.request_id
LEFT JOIN credits.entry e ON e.account = t.account AND e.entry_id = t.entry_id
GROUP BY a.account ORDER BY a.account;
SELECT payload - 'entry_id' - 'request_id' AS e_bulk_1_event FROM credits.event
WHERE account = 'e-bulk-1' AND type = 'account.credits.topup_requested';
-- A renewal due refills first.  s-1's subscription renews with 100 credits
-- just as its lot of 40 expires: credits_run_due() records the expiry
-- (below 130), then renews (above): nothing.  s-2 spends meanwhile, before
-- credits_run_due(): the top-up waits for the renewal, which lifts it
-- above.  s-3's renewal of 10 leaves it below: requested after the renewal.
SELECT credits_grant(a, 40, expires_at => clock_timestamp() + interval '1 s') > 0 AS short,
	   credits_grant(a, 10) > 0 AS long,
	   credits_subscribe(a, c, '1 month', starts_at => clock_timestamp() + interval '1 s' - interval '1 month') > 0 AS sub,
	   credits_set_auto_topup(a, 130, 'Refill', 'stripe')
FROM (VALUES ('s-1', 100), ('s-2', 100), ('s-3', 10)) v(a, c);
SELECT pg_sleep(1.2);
SELECT credits_spend('s-2', 40) > 0 AS spent;
SELECT count(*) AS s_2_requests_before_renewal FROM credits.request WHERE account = 's-2';
SELECT renewed, failed FROM credits_run_due();
SELECT account, string_agg(format('%s %s -> %s', kind, amount, running_balance), ', ' ORDER BY entry_id) AS history
FROM credits.entry WHERE account LIKE 's-%' GROUP BY account ORDER BY account;
SELECT a.account, count(r.request_id) AS requests, min(e.kind) AS left_below_by
FROM (VALUES ('s-1'), ('s-2'), ('s-3')) a(account)
LEFT JOIN credits.request r ON r.account = a.account
LEFT JOIN credits.event t ON t.account = r.account AND t.type = 'account.credits.topup_requested'
LEFT JOIN credits.entry e ON e.account = t.account AND e.entry_id = t.entry_id
GROUP BY a.account ORDER BY a.account;
-- A reset forfeits the balance and grants the rule's credits in one call:
-- r-1 ends above its threshold (nothing), r-2 below (requested).
SELECT credits_define_rule('plan', 100, 'reset') > 0 AS plan, credits_define_rule('mini', 5, 'reset') > 0 AS mini;
SELECT credits_grant(a, 50) > 0 AS granted, credits_set_auto_topup(a, 20, 'Refill', 'stripe')
FROM unnest(ARRAY['r-1', 'r-2']) a;
SELECT credits_issue('r-1', 'plan', 'INV-R1') > 0 AS issued, credits_issue('r-2', 'mini', 'INV-R2') > 0 AS issued;
SELECT r.account, e.kind AS left_below_by, r.status, t.payload->'balance' AS balance
FROM credits.request r
JOIN credits.event t ON t.account = r.account AND t.type = 'account.credits.topup_requested'
JOIN credits.entry e ON e.account = t.account AND e.entry_id = t.entry_id
WHERE r.account LIKE 'r-%' ORDER BY r.account;

-- 5. Off with a NULL below (package and method may then be NULL): no
-- further requests; a pending one stays pending, and setting auto top-up
-- again does not make a second.
SELECT credits_grant('t-2', 40) > 0 AS granted;
SELECT credits_set_auto_topup('t-2', 20, 'Refill', 'paypal');
SELECT credits_set_auto_topup('t-2', NULL, NULL, NULL);
SELECT topup_below, topup_package, topup_method, topup_request FROM credits.account WHERE account = 't-2';
SELECT credits_spend('t-2', 30) > 0 AS spent;
SELECT count(*) AS requests FROM credits.request WHERE account = 't-2';
SELECT credits_set_auto_topup('t-2', 20, 'Refill', 'paypal');
SELECT credits_spend('t-2', 1) > 0 AS spent;
SELECT credits_set_auto_topup(account => 't-2', below => NULL, package => 'Refill', method => 'paypal');
SELECT credits_spend('t-2', 1) > 0 AS spent;
SELECT * FROM pg_temp.topups('t-2');
SELECT credits_set_auto_topup('t-2', 15, 'Big', 'stripe');
SELECT credits_spend('t-2', 1) > 0 AS spent;
SELECT * FROM pg_temp.topups('t-2');
-- Turning it off for an account that has no row creates none.
SELECT credits_set_auto_topup('nobody', NULL, NULL, NULL);
SELECT count(*) AS rows_of_nobody FROM credits.account WHERE account = 'nobody';
-- Another credit type is another top-up.
SELECT credits_grant('t-2', 20, 'HRS') > 0 AS granted;
SELECT credits_set_auto_topup('t-2', 15, 'Hours', 'stripe', 'HRS');
SELECT credits_spend('t-2', '5.25', credit_type => 'HRS') > 0 AS spent;
SELECT * FROM pg_temp.topups('t-2', 'HRS');
SELECT count(*) FILTER (WHERE status = 'pending') AS pending_of_t_2 FROM credits.request WHERE account = 't-2';

-- 6. A top-up that cannot be requested never fails the movement: the
-- spend is recorded; a WARNING and the event account.credits.topup_failed
-- say why, credits_verify() names the setting, and the next movement
-- tries again.  The package was redefined for another credit type:
SELECT credits_grant('t-3', 50) > 0 AS granted;
SELECT credits_define_package('Refill-3', 100, 'USD', 10.00) > 0 AS refill_3;
SELECT credits_set_auto_topup('t-3', 20, 'Refill-3', 'stripe');
SELECT credits_define_package('Refill-3', 100, 'USD', 10.00, 'HRS') > 0 AS redefined;
SELECT * FROM credits_verify();
SELECT coalesce(max(id), 0) AS ev3 FROM credits.event \gset
SELECT credits_spend('t-3', 40) AS failing_spend \gset
SELECT kind, amount, running_balance FROM credits_history('t-3');
SELECT count(*) AS requests FROM credits.request WHERE account = 't-3';
SELECT * FROM pg_temp.events('t-3', :ev3);
SELECT e.entry_id = :failing_spend AS names_entry FROM credits.event e
WHERE e.account = 't-3' AND e.type = 'account.credits.topup_failed';
SELECT credits_spend('t-3', 1) > 0 AS spent;
SELECT count(*) AS failures FROM credits.event WHERE account = 't-3' AND type = 'account.credits.topup_failed';
-- Fixed: the next movement requests it.
SELECT credits_define_package('Refill-3', 100, 'USD', 10.00) > 0 AS fixed;
SELECT credits_spend('t-3', 1) > 0 AS spent;
SELECT * FROM pg_temp.topups('t-3');
-- While credits are switched off, a movement that still works (a void)
-- requests nothing, and says so; afterwards a spend requests it.
SELECT credits_grant('t-4', 10) > 0 AS granted, credits_grant('t-4', 20) AS t4_lot \gset
SELECT credits_set_auto_topup('t-4', 15, 'Refill', 'stripe');
SELECT credits_set_enabled(false);
SELECT credits_void(:t4_lot, 'wrong amount');
SELECT credits_set_enabled(true);
SELECT type, payload->>'sqlstate' AS sqlstate, payload->>'message' AS message
FROM credits.event WHERE account = 't-4' AND type LIKE 'account.credits.topup%';
SELECT credits_spend('t-4', 1) > 0 AS spent;
SELECT * FROM pg_temp.topups('t-4');

-- 7. Bad input: SQLSTATE and message, and the ledger unchanged.
SELECT credits_grant('t-5', 30) > 0 AS granted;
SELECT credits_set_auto_topup('t-5', 10, 'Refill', 'stripe');
SELECT credits_fingerprint() AS before \gset
SELECT pg_temp.error_of($$SELECT credits_set_auto_topup('t-5', 20, 'Nope', 'stripe')$$) AS unknown_package;
SELECT pg_temp.error_of($$SELECT credits_set_auto_topup('t-5', 20, 'Hours', 'stripe')$$) AS package_of_another_type;
SELECT pg_temp.error_of($$SELECT credits_set_auto_topup('t-5', 20, 'Refill', 'stripe', 'HRS')$$) AS type_of_another_package;
SELECT pg_temp.error_of($$SELECT credits_set_auto_topup('t-5', 0, 'Refill', 'stripe')$$) AS zero;
SELECT pg_temp.error_of($$SELECT credits_set_auto_topup('t-5', -5, 'Refill', 'stripe')$$) AS negative;
SELECT pg_temp.error_of($$SELECT credits_set_auto_topup('t-5', '2.5', 'Refill', 'stripe')$$) AS finer_than_scale;
SELECT pg_temp.error_of($$SELECT credits_set_auto_topup('t-5', '2.125', 'Hours', 'stripe', 'HRS')$$) AS finer_than_hours;
SELECT pg_temp.error_of($$SELECT credits_set_auto_topup('t-5', 20, 'Refill', 'cash')$$) AS unknown_method;
SELECT pg_temp.error_of($$SELECT credits_set_auto_topup('t-5', 20, 'Refill', 'Stripe')$$) AS method_case;
SELECT pg_temp.error_of($$SELECT credits_set_auto_topup('t-5', 20, 'Refill', 'stripe', 'NOPE')$$) AS unknown_type;
SELECT pg_temp.error_of($$SELECT credits_set_auto_topup('', 20, 'Refill', 'stripe')$$) AS empty_account;
SELECT pg_temp.error_of($$SELECT credits_set_auto_topup(NULL, 20, 'Refill', 'stripe')$$) AS null_account;
SELECT pg_temp.error_of($$SELECT credits_set_auto_topup('t-5', 20, NULL, 'stripe')$$) AS null_package;
SELECT pg_temp.error_of($$SELECT credits_set_auto_topup('t-5', 20, 'Refill', NULL)$$) AS null_method;
SELECT pg_temp.error_of($$SELECT credits_set_auto_topup('t-5', 20, 'Refill', 'stripe', NULL)$$) AS null_type;
SELECT pg_temp.error_of($$SELECT credits_set_auto_topup(NULL, NULL, NULL, NULL)$$) AS null_account_off;
SELECT pg_temp.error_of($$SELECT credits_set_auto_topup('t-5', NULL, NULL, NULL, NULL)$$) AS null_type_off;
SELECT pg_temp.error_of($$SELECT credits_set_auto_topup('t-5', '1.0000001', 'Refill', 'stripe')$$) AS bad_amount_text;
SELECT credits_fingerprint() = :'before' AS unchanged;
-- A card purchase is still granted at once, never a pending request (only
-- a top-up is a request by card), and a request by card is refused.
SELECT status FROM credits_purchase('t-5', 'Refill', 'stripe');
SELECT credits_fingerprint() AS before \gset
SELECT split_part(pg_temp.error_of($$INSERT INTO credits.request (account, credit_type, credits, amount,
	currency, method, package_id, package)
	SELECT 't-5', 'CRD', 1, 1, 'USD', 'stripe', package_id, name FROM credits.package
	WHERE name = 'Refill'$$), ' / ', 1) AS card_request;
SELECT credits_fingerprint() = :'before' AS unchanged;

-- 8. One pending top-up per account and type, whatever happens: a second
-- pending top-up cannot be stored; should the account row stop naming
-- its pending one, credits_verify() reports it, and the next movement
-- names it again instead of requesting another.
SELECT credits_grant('t-6', 30) > 0 AS granted;
SELECT credits_set_auto_topup('t-6', 20, 'Refill', 'stripe');
SELECT credits_spend('t-6', 15) > 0 AS spent;
SELECT * FROM pg_temp.topups('t-6');
SELECT pg_temp.error_of($$INSERT INTO credits.request (account, credit_type, credits, amount, currency, method,
	package_id, package, reference, auto_topup)
	SELECT 't-6', 'CRD', 100, 10, 'USD', 'stripe', package_id, name, 'auto-topup', true
	FROM credits.package WHERE name = 'Refill'$$) AS second_pending;
UPDATE credits.account SET topup_request = NULL WHERE account = 't-6';
SELECT check_name, account, regexp_replace(detail, 'request \d+', 'request <id>') AS detail
FROM credits_verify();
SELECT coalesce(max(id), 0) AS ev6 FROM credits.event \gset
SELECT credits_spend('t-6', 1) > 0 AS spent;
SELECT * FROM pg_temp.topups('t-6');
SELECT * FROM pg_temp.events('t-6', :ev6);
SELECT * FROM credits_verify();

-- 9. Roles and portals: credits_operator sets auto top-ups (as it sets
-- low-balance thresholds), credits_reader may not; a client portal may not,
-- even for its own account -- but its own spends request top-ups, and it
-- sees them in its requests and events.
CREATE ROLE regress_topup_reader IN ROLE credits_reader;
CREATE ROLE regress_topup_operator IN ROLE credits_operator;
CREATE ROLE regress_topup_portal NOLOGIN;
SELECT credits_portal_add_role('regress_topup_portal');
SELECT credits_grant('t-7', 30) > 0 AS granted;
SELECT credits_fingerprint() AS before \gset
SET ROLE regress_topup_reader;
SELECT pg_temp.error_of($$SELECT credits_set_auto_topup('t-7', 20, 'Refill', 'stripe')$$) AS reader;
RESET ROLE;
SELECT credits_fingerprint() = :'before' AS unchanged;
SET ROLE regress_topup_operator;
SELECT credits_set_auto_topup('t-7', 20, 'Refill', 'stripe') AS operator;
RESET ROLE;
SELECT topup_below FROM credits.account WHERE account = 't-7';
SELECT credits_fingerprint() AS before \gset
SET ROLE regress_topup_portal;
SELECT set_config('credits.portal_account', 't-7', false) IS NOT NULL AS portal_account_set;
SELECT pg_temp.error_of($$SELECT credits_set_auto_topup('t-7', 25, 'Refill', 'stripe')$$) AS own_account;
SELECT pg_temp.error_of($$SELECT credits_set_auto_topup('t-7', NULL, NULL, NULL)$$) AS own_account_off;
SELECT pg_temp.error_of($$SELECT credits_set_auto_topup('t-1', 25, 'Refill', 'stripe')$$) AS other_account;
RESET credits.portal_account;
RESET ROLE;
SELECT credits_fingerprint() = :'before' AS unchanged;
SET ROLE regress_topup_portal;
SELECT set_config('credits.portal_account', 't-7', false) IS NOT NULL AS portal_account_set;
SELECT credits_spend('t-7', 15) > 0 AS portal_spent;
SELECT account, package, method, status, reference FROM credits_requests();
SELECT type FROM credits_events_since() WHERE type LIKE 'account.credits.topup%';
RESET credits.portal_account;
RESET ROLE;
SELECT * FROM pg_temp.topups('t-7');
SELECT credits_portal_remove_role('regress_topup_portal');
DROP ROLE regress_topup_reader, regress_topup_operator, regress_topup_portal;

-- 10. credits_verify() checks top-ups, and can fail.
SELECT * FROM credits_verify();
BEGIN;
-- the account names a request that is not its pending top-up
UPDATE credits.account SET topup_request = :r1 WHERE account = 't-1';
-- an incomplete setting
UPDATE credits.account SET topup_method = NULL WHERE account = 't-5';
-- a top-up request without its mark
UPDATE credits.request SET reference = 'x' WHERE request_id = :r2;
SELECT check_name, account, regexp_replace(detail, 'request \d+', 'request <id>', 'g') AS detail
FROM credits_verify() ORDER BY 1, 2;
ROLLBACK;
SELECT * FROM credits_verify();
DROP FUNCTION pg_temp.events(text, bigint), pg_temp.topups(text, text);
DROP EXTENSION credits;
