-- Client-portal isolation in every function of the extension.  A portal
-- caller (a member of a registered portal role, or any caller that has set
-- credits.portal_account) sees its own account only, and may only call the
-- client functions: credits_balance, credits_history, credits_history_page,
-- credits_statement, credits_expiring, credits_usage, credits_events_since,
-- credits_requests (without an account: its own rows), credits_spend,
-- credits_pay, credits_purchase and credits_purchase_quantity (bank_transfer
-- and crypto), credits_subscribe_service and credits_cancel_subscription (its own
-- services).  Everything else, and every call that names another account or
-- reaches one through an id, is 42501 and changes nothing.
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never
\i test/sql/include/error_of.psql

-- A digest of everything one account has, in every table of the ledger
-- that has an account column: equal digests, untouched account.
CREATE FUNCTION pg_temp.account_digest(acct text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	t regclass;
	part text;
	parts text := '';
BEGIN
	FOR t IN
		SELECT c.oid FROM pg_class c
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'account'
		WHERE c.relnamespace = 'credits'::regnamespace AND c.relkind = 'r'
		ORDER BY c.relname
	LOOP
		EXECUTE format('SELECT md5(coalesce(string_agg(x::text, %L ORDER BY x::text), %L)) '
					   'FROM %s x WHERE x.account = $1', E'\n', '', t)
			INTO part USING acct;
		parts := parts || t::text || ':' || part || E'\n';
	END LOOP;
	RETURN md5(parts);
END
$$;

-- Calls every function of the private schema credits with NULL arguments
-- and returns those that did not fail with 42501.  Run as the portal role.
CREATE FUNCTION pg_temp.private_not_refused() RETURNS TABLE(fn text, outcome text)
LANGUAGE plpgsql AS $$
DECLARE
	f record;
BEGIN
	FOR f IN
		SELECT p.oid::regprocedure::text AS name,
			   format('SELECT credits.%I(%s)', p.proname,
					  (SELECT string_agg('NULL::' || format_type(a.t, NULL), ', ' ORDER BY a.i)
					   FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS a(t, i))) AS call
		FROM pg_proc p
		WHERE p.pronamespace = 'credits'::regnamespace
		ORDER BY 1
	LOOP
		BEGIN
			EXECUTE f.call;
			fn := f.name;
			outcome := 'no error';
			RETURN NEXT;
		EXCEPTION WHEN OTHERS THEN
			IF SQLSTATE <> '42501' THEN
				fn := f.name;
				outcome := SQLSTATE;
				RETURN NEXT;
			END IF;
		END;
	END LOOP;
END
$$;

-- Two accounts with one of everything: a paid invoice issued through a
-- rule, a grant, a spend, a hold, a credit subscription, a service
-- subscription and a purchase request.
SELECT credits_set_rate('USD', 10) > 0 AS rate_set;
SELECT credits_define_package('Starter', 100, 'USD', 10.00) > 0 AS package_defined;
SELECT credits_define_price_tier('seats', 1, 5.00, 'USD');
SELECT credits_define_rule('pro', 50, 'add') > 0 AS rule_defined;
CREATE TABLE invoices (account text, service text, reference text, status text);
CREATE TRIGGER invoices_issue AFTER INSERT OR UPDATE ON invoices
	FOR EACH ROW EXECUTE FUNCTION credits_issue_trigger('refunded_value=refunded');
INSERT INTO invoices VALUES ('alice', 'pro', 'INV-A', 'paid'), ('bob', 'pro', 'INV-B', 'paid');
SELECT credits_grant('alice', 1000, expires_at => now() + interval '10 days') AS alice_lot,
	   credits_grant('bob', 1000, expires_at => now() + interval '10 days') AS bob_lot \gset
SELECT credits_spend('alice', 10, 'A-1') AS alice_spend,
	   credits_spend('bob', 10, 'B-1') AS bob_spend \gset
SELECT credits_hold('alice', 20, 'A-H') AS alice_hold,
	   credits_hold('bob', 20, 'B-H') AS bob_hold \gset
SELECT credits_subscribe('alice', 5, '1 month') AS alice_credit_sub,
	   credits_subscribe('bob', 5, '1 month') AS bob_credit_sub \gset
SELECT credits_subscribe_service('alice', 'hosting', 7, '1 month') AS alice_service_sub,
	   credits_subscribe_service('bob', 'hosting', 7, '1 month') AS bob_service_sub \gset
SELECT request_id AS alice_request FROM credits_purchase('alice', 'Starter', 'bank_transfer') \gset
SELECT request_id AS bob_request FROM credits_purchase('bob', 'Starter', 'bank_transfer') \gset
SELECT credits_set_low_balance('bob', 5);
SELECT a AS account, credits_balance(a) AS "50 + 1000 - 10 - 20 + 5 - 7"
FROM (VALUES ('alice'), ('bob')) v(a);

-- The portal: a role registered as a portal role, and a member of it.  The
-- agency lets it read the balances view and write its invoices.  It is also
-- (carelessly) a member of credits_admin, so that every call below reaches
-- the functions' own checks instead of stopping at EXECUTE: a portal role
-- stays restricted whatever other roles it is a member of.
CREATE ROLE portal_iso_web NOLOGIN IN ROLE credits_admin;
CREATE ROLE portal_iso_alice NOLOGIN IN ROLE portal_iso_web;
SELECT credits_portal_add_role('portal_iso_web');
GRANT SELECT ON credits_balances TO portal_iso_web;
GRANT SELECT, INSERT, UPDATE ON invoices TO portal_iso_web;
SELECT credits_fingerprint() AS before \gset

-- 1. Refused: every function on bob or bob's ids, every agency function
-- even on alice's own account or ids.  42501 each time, nothing changes.
SET ROLE portal_iso_alice;
SELECT set_config('credits.portal_account', 'alice', false) IS NOT NULL AS portal_account_set;
\set VERBOSITY sqlstate
-- The client functions, on bob ...
SELECT credits_balance('bob');
SELECT * FROM credits_history('bob');
SELECT * FROM credits_history_page('bob');
SELECT * FROM credits_statement('bob', now() - interval '1 day');
SELECT * FROM credits_expiring(account => 'bob');
SELECT * FROM credits_lots('bob');
SELECT * FROM credits_lots('bob', include_closed => true);
SELECT * FROM credits_summary('bob');
SELECT * FROM credits_usage(now() - interval '1 day', now() + interval '1 day', 'bob');
SELECT * FROM credits_requests('bob');
SELECT * FROM credits_requests('bob', 'pending');
SELECT credits_spend('bob', 1);
SELECT credits_spend('bob', 1, idempotency_key => 'portal-1');
SELECT * FROM credits_pay('bob', 1.00, 'USD', 'INV-P');
SELECT * FROM credits_purchase('bob', 'Starter', 'bank_transfer');
SELECT * FROM credits_purchase('bob', 'Starter', 'crypto');
SELECT * FROM credits_purchase('bob', 'Starter', 'crypto', idempotency_key => 'portal-2');
SELECT * FROM credits_purchase_quantity('bob', 'seats', 2, 'bank_transfer');
SELECT * FROM credits_purchase_quantity('bob', 'seats', 2, 'crypto', idempotency_key => 'portal-3');
SELECT * FROM credits_pay('bob', 1.00, 'USD', 'INV-P', idempotency_key => 'portal-4');
SELECT credits_subscribe_service('bob', 'hosting', 7, '1 month');
-- ... and through bob's ids.
SELECT * FROM credits_history_page('alice', after_entry_id => :bob_spend);
SELECT credits_cancel_subscription(:bob_service_sub);
SELECT credits_cancel_subscription(:bob_credit_sub);
-- The agency's functions, on bob or bob's ids ...
SELECT * FROM credits_purchase('bob', 'Starter', 'stripe');
SELECT * FROM credits_purchase_quantity('bob', 'seats', 2, 'stripe');
SELECT credits_hold('bob', 1, 'B-H2');
SELECT credits_hold('bob', 1, 'B-H2', idempotency_key => 'portal-5');
SELECT credits_capture(:bob_hold);
SELECT credits_capture(:bob_hold, 1);
SELECT credits_release(:bob_hold);
SELECT credits_void(:bob_lot, 'portal');
SELECT credits_reverse(:bob_spend);
SELECT credits_issue('bob', 'pro', 'INV-B2');
SELECT * FROM credits_clawback('INV-B');
SELECT credits_subscribe('bob', 5, '1 day', starts_at => now() - interval '1 month');
SELECT credits_grant('bob', 1);
SELECT credits_grant('bob', 1, cost => 1, cost_currency => 'USD');
SELECT credits_grant_many(ARRAY['bob'], 1);
SELECT credits_transfer('bob', 'carol', 1);
SELECT credits_transfer('bob', 'alice', 1);
SELECT credits_set_low_balance('bob', NULL);
SELECT credits_set_auto_topup('bob', 5, 'Starter', 'stripe');
SELECT credits_set_auto_topup('bob', NULL, NULL, NULL);
SELECT * FROM credits_holds('bob');
SELECT * FROM credits_subscriptions('bob');
SELECT * FROM credits_invoices('bob');
SELECT credits_accept_request(:bob_request);
SELECT credits_reject_request(:bob_request);
INSERT INTO invoices VALUES ('bob', 'pro', 'INV-B3', 'paid');
UPDATE invoices SET status = 'refunded' WHERE reference = 'INV-B';
-- ... on alice's own account or ids (card purchases, holds, refunds, voids,
-- issuing, credit subscriptions: the agency's) ...
SELECT * FROM credits_purchase('alice', 'Starter', 'stripe');
SELECT * FROM credits_purchase('alice', 'Starter', 'paypal');
SELECT * FROM credits_purchase('alice', 'Starter', 'stripe', idempotency_key => 'portal-6');
SELECT * FROM credits_purchase_quantity('alice', 'seats', 2, 'stripe');
SELECT * FROM credits_purchase_quantity('alice', 'seats', 2, 'paypal', idempotency_key => 'portal-7');
SELECT credits_cancel_subscription(:alice_credit_sub);
SELECT credits_hold('alice', 1, 'A-H2');
SELECT credits_hold('alice', 1, 'A-H2', idempotency_key => 'portal-8');
SELECT credits_capture(:alice_hold);
SELECT credits_release(:alice_hold);
SELECT credits_void(:alice_lot, 'portal');
SELECT credits_reverse(:alice_spend);
SELECT credits_issue('alice', 'pro', 'INV-A2');
SELECT * FROM credits_clawback('INV-A');
SELECT credits_subscribe('alice', 5, '1 day', starts_at => now() - interval '1 month');
SELECT credits_grant('alice', 1);
SELECT credits_grant('alice', 1, cost => 1, cost_currency => 'USD', idempotency_key => 'portal-9');
SELECT credits_grant_many(ARRAY['alice'], 1);
SELECT credits_transfer('alice', 'bob', 1);
SELECT credits_transfer('alice', 'bob', 1, idempotency_key => 'portal-10');
SELECT credits_set_low_balance('alice', 5);
SELECT credits_set_auto_topup('alice', 5, 'Starter', 'stripe');
SELECT credits_set_auto_topup('alice', NULL, NULL, NULL);
SELECT * FROM credits_holds('alice');
SELECT * FROM credits_subscriptions('alice');
SELECT * FROM credits_invoices('alice');
SELECT credits_accept_request(:alice_request);
SELECT credits_reject_request(:alice_request);
INSERT INTO invoices VALUES ('alice', 'pro', 'INV-A2', 'paid');
INSERT INTO invoices VALUES ('alice', 'pro', 'INV-A3', 'draft');
UPDATE invoices SET status = 'refunded' WHERE reference = 'INV-A';
-- ... and those about no account or every account.
SELECT * FROM credits_holds();
SELECT * FROM credits_subscriptions();
SELECT * FROM credits_invoices();
SELECT * FROM credits_rules();
SELECT credits_enabled();
SELECT credits_set_enabled(false);
SELECT credits_define_type('FREE', 'free');
SELECT credits_set_rate('USD', 1000);
SELECT credits_rate('USD');
SELECT * FROM credits_rates();
SELECT * FROM credits_types();
SELECT credits_convert(1.00, 'USD');
SELECT credits_define_package('Starter', 1000000, 'USD', 0.01);
SELECT * FROM credits_packages();
SELECT credits_define_price_tier('seats', 1, 0.01, 'USD');
SELECT credits_price('seats', 1);
SELECT * FROM credits_price_tiers();
SELECT credits_define_rule('pro', 1000000, 'add');
SELECT credits_expire();
SELECT * FROM credits_run_due();
SELECT * FROM credits_liability();
SELECT * FROM credits_revenue(now() - interval '1 day', now());
SELECT * FROM credits_journal(now() - interval '1 day', now());
SELECT * FROM credits_verify();
SELECT credits_fingerprint();
SELECT credits_prune_events('0 s');
SELECT credits_portal_add_role('portal_iso_alice');
SELECT credits_portal_remove_role('portal_iso_web');
SELECT credits_distribute();
SELECT credits_seal();
SELECT * FROM credits_seal_heads();
SELECT credits_seal_hash('alice', 1);
-- The private schema is out of reach.
SELECT credits.check_access('bob', 'client');
SELECT credits.grant_purchased_lot('bob', 1, 'CRD', NULL, NULL, NULL, 0, 'USD');
SELECT credits.idempotency_claim('bob', 'portal-10', 'purchase', '8:purchase;');
SELECT credits.idempotency_finish('bob', 'portal-10', 1, '{}');
SELECT credits.tier_price('seats', 1);
-- Unknown ids stay 42704.
SELECT credits_cancel_subscription(-1);
SELECT * FROM credits_history_page('alice', after_entry_id => -1);
\set VERBOSITY default
-- What the refusals say: an id of another account is refused without
-- naming that account.
SELECT pg_temp.error_of(format('SELECT credits_cancel_subscription(%s)', :bob_service_sub),
						:bob_service_sub);
SELECT pg_temp.error_of(format('SELECT * FROM credits_history_page(%L, after_entry_id => %s)',
							   'alice', :bob_spend), :bob_spend);
SELECT pg_temp.error_of('SELECT credits_spend(''bob'', 1)');
SELECT pg_temp.error_of(format('SELECT credits_cancel_subscription(%s)', :alice_credit_sub));
SELECT pg_temp.error_of('INSERT INTO invoices VALUES (''alice'', ''pro'', ''INV-A3'', ''draft'')');
-- Every function of the private schema, with NULL arguments: those not
-- refused (none).
SELECT * FROM pg_temp.private_not_refused();
RESET ROLE;
RESET credits.portal_account;
SELECT credits_fingerprint() = :'before' AS nothing_changed;

-- 2. Allowed: the client functions on alice's own account and ids.
SELECT pg_temp.account_digest('bob') AS bob_before \gset
SET ROLE portal_iso_alice;
SELECT set_config('credits.portal_account', 'alice', false) IS NOT NULL AS portal_account_set;
-- Reports: its own account, and without an account its own rows only.
SELECT credits_balance('alice');
SELECT kind, amount, running_balance,
	   regexp_replace(reference, '^(subscription:\d+:).*Z$', '\1<period start>') AS reference
FROM credits_history('alice');
SELECT kind, amount FROM credits_history_page('alice', max_rows => 2, newest_first => true);
SELECT kind, amount FROM credits_history_page('alice', after_entry_id => :alice_spend);
SELECT line, kind, amount, balance
FROM credits_statement('alice', now() - interval '1 day', now() + interval '1 second');
SELECT account, remaining FROM credits_expiring();
SELECT account, remaining FROM credits_expiring(account => 'alice');
SELECT amount, remaining, source FROM credits_lots('alice', include_closed => true);
SELECT credit_type, available, held FROM credits_summary('alice');
SELECT account, granted, spent, net
FROM credits_usage(now() - interval '1 day', now() + interval '1 day');
SELECT account, granted, spent, net
FROM credits_usage(now() - interval '1 day', now() + interval '1 day', 'alice');
SELECT account, type, count(*) FROM credits_events_since() GROUP BY 1, 2 ORDER BY 1, 2;
SELECT account, package, method, status FROM credits_requests();
SELECT account, package, status FROM credits_requests('alice', 'pending');
SELECT account, credit_type, available, held FROM credits_balances;
SELECT account FROM credits_balances WHERE account = 'bob';
-- Spending, paying, asking for credits, buying and cancelling a service.
SELECT credits_spend('alice', 1, 'A-2') > 0 AS spent;
SELECT credits_spend('alice', 1, 'A-3', idempotency_key => 'portal-a') > 0 AS spent_once;
SELECT * FROM credits_pay('alice', 0.50, 'USD', 'INV-A-PAY');
SELECT credits_applied, amount_due, entry_id > 0 AS has_entry
FROM credits_pay('alice', 0.20, 'USD', 'INV-A-PAY2', idempotency_key => 'portal-a2');
SELECT credits_applied, amount_due, entry_id > 0 AS has_entry
FROM credits_pay('alice', 0.20, 'USD', 'INV-A-PAY2', idempotency_key => 'portal-a2');
SELECT request_id > 0 AS asked, lot_id, status FROM credits_purchase('alice', 'Starter', 'crypto');
SELECT request_id AS alice_key_request, lot_id, status
FROM credits_purchase('alice', 'Starter', 'bank_transfer', 'A-W', 'portal-a3') \gset
SELECT request_id = :alice_key_request AS same_request, lot_id, status
FROM credits_purchase('alice', 'Starter', 'bank_transfer', 'A-W', 'portal-a3');
SELECT request_id > 0 AS asked, lot_id, status
FROM credits_purchase_quantity('alice', 'seats', 3, 'bank_transfer', 'A-Q', 'portal-a4');
SELECT request_id > 0 AS asked, lot_id, status
FROM credits_purchase_quantity('alice', 'seats', 3, 'bank_transfer', 'A-Q', 'portal-a4');
SELECT package, credits, amount, method, status FROM credits_requests('alice', 'pending')
WHERE package = 'seats';
SELECT credits_subscribe_service('alice', 'backup', 3, '1 month') AS alice_backup \gset
SELECT credits_cancel_subscription(:alice_backup);
SELECT credits_cancel_subscription(:alice_service_sub);
SELECT credits_balance('alice') AS "1018 - 1 - 1 - 5 - 2 - 3";
RESET ROLE;
RESET credits.portal_account;
SELECT pg_temp.account_digest('bob') = :'bob_before' AS bob_unchanged;
SELECT subscription_id = :alice_service_sub AS hosting, service, status
FROM credits_subscriptions('alice') WHERE service IS NOT NULL ORDER BY subscription_id;
SELECT account, method, status FROM credits_requests() ORDER BY request_id;

-- 3. A portal role without credits.portal_account is refused everything,
-- its own account's reports and unknown ids included.
SET ROLE portal_iso_alice;
\set VERBOSITY sqlstate
SELECT credits_balance('alice');
SELECT * FROM credits_history('alice');
SELECT * FROM credits_expiring();
SELECT * FROM credits_usage(now() - interval '1 day', now());
SELECT * FROM credits_events_since();
SELECT * FROM credits_requests();
SELECT * FROM credits_balances;
SELECT credits_spend('alice', 1);
SELECT credits_cancel_subscription(:alice_credit_sub);
SELECT credits_cancel_subscription(-1);
\set VERBOSITY default
RESET ROLE;

-- 4. A caller in no portal role that sets credits.portal_account is a
-- portal caller too.
SELECT set_config('credits.portal_account', 'alice', false) IS NOT NULL AS portal_account_set;
SELECT account, credit_type FROM credits_balances;
SELECT DISTINCT account FROM credits_events_since();
\set VERBOSITY sqlstate
SELECT * FROM credits_holds();
SELECT credits_balance('bob');
SELECT credits_cancel_subscription(:bob_service_sub);
\set VERBOSITY default
RESET credits.portal_account;
SELECT account, count(*) FROM credits_balances GROUP BY 1 ORDER BY 1;

-- Every function of the extension's API has its portal rule tested above:
-- a new function shows up here until it is added.
SELECT p.oid::regprocedure AS function_without_portal_test
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'credits'
WHERE p.pronamespace = e.extnamespace AND p.proname LIKE 'credits\_%'
  AND p.proname NOT IN ('credits_balance', 'credits_history', 'credits_history_page',
		'credits_statement', 'credits_expiring', 'credits_usage', 'credits_events_since',
		'credits_requests', 'credits_spend', 'credits_pay', 'credits_purchase',
		'credits_purchase_quantity', 'credits_subscribe_service', 'credits_cancel_subscription', 'credits_hold',
		'credits_capture', 'credits_release', 'credits_void', 'credits_reverse',
		'credits_issue', 'credits_clawback', 'credits_issue_trigger', 'credits_subscribe',
		'credits_grant', 'credits_grant_many', 'credits_set_low_balance', 'credits_set_auto_topup', 'credits_holds',
		'credits_subscriptions', 'credits_accept_request', 'credits_reject_request',
		'credits_enabled', 'credits_set_enabled', 'credits_define_type', 'credits_set_rate',
		'credits_rate', 'credits_rates', 'credits_convert', 'credits_define_package',
		'credits_packages', 'credits_define_price_tier', 'credits_price',
		'credits_price_tiers', 'credits_define_rule', 'credits_rules', 'credits_invoices',
		'credits_expire', 'credits_run_due',
		'credits_liability', 'credits_revenue', 'credits_journal', 'credits_verify', 'credits_fingerprint',
		'credits_prune_events', 'credits_portal_add_role', 'credits_portal_remove_role',
		'credits_distribute', 'credits_lots', 'credits_summary', 'credits_types',
		'credits_seal', 'credits_seal_heads', 'credits_seal_hash',
		'credits_transfer')
ORDER BY 1::text;

SELECT * FROM credits_verify();
DROP TABLE invoices;
DROP EXTENSION credits;
DROP ROLE portal_iso_alice;
DROP ROLE portal_iso_web;
