-- Rules and issuing: a paid invoice issues the credits of its service's
-- rule, adding to the balance or resetting it, once per invoice reference
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never

\i test/sql/include/error_of.psql

-- Defining rules; defining the same (service, variant) again replaces it.
SELECT credits_define_rule('starter', 100, 'add') AS starter \gset
SELECT credits_define_rule('pro', 500, 'reset', expires_after => '30 days') AS pro \gset
SELECT credits_define_rule('pro', 5000, 'reset', variant => 'yearly', expires_after => '1 year') > 0;
SELECT credits_define_rule('topup', 10, 'add', variant => 'small') > 0;
SELECT credits_define_rule('starter', 120, 'add') = :starter AS same_rule;
SELECT service, variant, credits, mode, credit_type, expires_after FROM credits.rule ORDER BY rule_id;

-- Mode add: the credits accumulate.  quantity multiplies them.
SELECT credits_grant('c-1', 7) > 0;
SELECT credits_issue('c-1', 'starter', 'inv-1') AS lot1 \gset
SELECT credits_issue('c-1', 'starter', 'inv-2', quantity => 3) > 0;
SELECT credits_balance('c-1');
SELECT kind, direction, amount, running_balance, reference, reason FROM credits_history('c-1');

-- The same invoice issues once: a repeat returns the first lot id and
-- changes nothing.
SELECT credits_fingerprint() AS before \gset
SELECT credits_issue('c-1', 'starter', 'inv-1') = :lot1 AS same_lot;
SELECT credits_issue(account => 'c-1', service => 'starter', reference => 'inv-1') = :lot1 AS same_lot;
SELECT credits_fingerprint() = :'before' AS unchanged;
-- The same reference for another account or with other arguments is a
-- mistake: CR003, nothing changes.
SELECT pg_temp.error_of($$SELECT credits_issue('c-2', 'starter', 'inv-1')$$, :lot1);
\set VERBOSITY sqlstate
SELECT credits_issue('c-2', 'starter', 'inv-1');
SELECT credits_issue('c-1', 'starter', 'inv-1', quantity => 2);
SELECT credits_issue('c-1', 'pro', 'inv-1');
\set VERBOSITY default
SELECT credits_fingerprint() = :'before' AS unchanged;

-- Mode reset: the unused balance is forfeited as ONE reset entry (with an
-- allocation per lot) and replaced by the new credits, which expire after
-- the rule's interval.
SELECT credits_grant('c-3', 30, expires_at => now() + interval '10 days', reason => 'old-a') > 0;
SELECT credits_grant('c-3', 12, reason => 'old-b') > 0;
SELECT credits_spend('c-3', 5) > 0;
BEGIN;
SELECT credits_issue('c-3', 'pro', 'inv-3') AS lot3 \gset
SELECT expires_at = now() + interval '30 days' AS expires_in_30_days, amount, remaining, source, reference
FROM credits.lot WHERE lot_id = :lot3;
COMMIT;
SELECT credits_balance('c-3');
SELECT kind, direction, amount, running_balance, reference, reason FROM credits_history('c-3');
SELECT l.reason, al.amount, l.remaining
FROM credits.entry e
JOIN credits.allocation al ON al.account = e.account AND al.entry_id = e.entry_id
JOIN credits.lot l ON l.account = al.account AND l.lot_id = al.lot_id
WHERE e.account = 'c-3' AND e.kind = 'reset' ORDER BY al.lot_id;
-- A variant has its own rule; an unknown variant falls back to the
-- service's rule without variant.
SELECT credits_issue('c-3', 'pro', 'inv-4', variant => 'yearly') > 0;
SELECT credits_issue('c-3', 'pro', 'inv-5', variant => 'weekly') > 0;
SELECT kind, amount, running_balance, reference FROM credits_history('c-3') WHERE reference IN ('inv-4', 'inv-5');

-- Reset of a zero balance: nothing to forfeit, so no reset entry.
SELECT credits_issue('c-4', 'pro', 'inv-6') > 0;
SELECT credits_grant('c-5', 3) > 0;
SELECT credits_spend('c-5', 3) > 0;
SELECT credits_issue('c-5', 'pro', 'inv-7') > 0;
SELECT kind, amount, running_balance FROM credits_history('c-4');
SELECT kind, amount, running_balance FROM credits_history('c-5');

-- Reset records due expirations first: an expired lot expires, only the
-- rest is forfeited.  Held credits are not available and stay held.
SELECT credits_grant('c-6', 4, expires_at => clock_timestamp() + interval '1 s', reason => 'short') > 0;
SELECT credits_grant('c-6', 20, reason => 'long') > 0;
SELECT credits_hold('c-6', 6, 'order-9') AS hold6 \gset
SELECT pg_sleep(1.2);
SELECT credits_issue('c-6', 'pro', 'inv-8') > 0;
SELECT kind, direction, amount, running_balance, reference FROM credits_history('c-6');
SELECT credits_balance('c-6') \gset
SELECT :'credits_balance' AS credits_balance, held FROM credits.account WHERE account = 'c-6';
-- Released, the held credits go back to their lots and leave again at
-- once: those of the lot that expired (before the reset) expire, those of
-- the lot the reset forfeited are forfeited too.
SELECT credits_release(:hold6);
SELECT credits_balance('c-6');
SELECT kind, direction, amount, running_balance, reference FROM credits_history('c-6') OFFSET 5;
-- Likewise a spend made before a reset and reversed after it: its credits
-- belonged to the forfeited period.
SELECT credits_grant('c-9', 40, reason => 'period-1') > 0;
SELECT credits_spend('c-9', 15, 'order-10') AS spend9 \gset
SELECT credits_issue('c-9', 'pro', 'inv-9') > 0;
SELECT credits_reverse(:spend9, 'order cancelled') > 0;
SELECT credits_balance('c-9');
SELECT kind, direction, amount, running_balance, reference FROM credits_history('c-9');

-- Issuing is granting: it works while credits are disabled.
SELECT credits_set_enabled(false);
SELECT credits_issue('c-7', 'starter', 'inv-10') > 0;
SELECT credits_set_enabled(true);
SELECT credits_balance('c-7');

-- Bad input: no rule 42704, bad mode, quantity, amounts 22023, NULL 22004,
-- unknown credit type 42704.  Nothing changes.
SELECT credits_fingerprint() AS before \gset
SELECT credits_issue('c-1', 'enterprise', 'inv-11');
SELECT credits_issue('c-1', 'topup', 'inv-11', variant => 'large');
SELECT credits_issue('c-1', 'topup', 'inv-11');
SELECT credits_issue('c-1', 'starter', 'inv-11', quantity => 0);
SELECT credits_define_rule('gold', 10, 'replace');
SELECT credits_define_rule('gold', 0, 'add');
SELECT credits_define_rule('gold', '0.5', 'add');
SELECT credits_define_rule('gold', 10, 'add', expires_after => '-1 day');
SELECT credits_define_rule('gold', 10, 'add', credit_type => 'NOPE');
\set VERBOSITY sqlstate
SELECT credits_issue('c-1', 'enterprise', 'inv-11');
SELECT credits_issue('c-1', 'starter', 'inv-11', quantity => 0);
SELECT credits_issue('c-1', 'starter', 'inv-11', quantity => -2);
SELECT credits_issue('c-1', 'starter', 'inv-11', quantity => NULL);
SELECT credits_issue(NULL, 'starter', 'inv-11');
SELECT credits_issue('c-1', NULL, 'inv-11');
SELECT credits_issue('c-1', 'starter', NULL);
SELECT credits_issue('', 'starter', 'inv-11');
SELECT credits_issue('c-1', 'starter', '');
SELECT credits_issue('c-1', 'pro', 'inv-11', variant => 'yearly', quantity => 2147483647);
SELECT credits_define_rule('gold', 10, 'replace');
SELECT credits_define_rule('gold', 0, 'add');
SELECT credits_define_rule('gold', '0.5', 'add');
SELECT credits_define_rule('gold', 10, 'add', expires_after => '0');
SELECT credits_define_rule('gold', 10, 'add', credit_type => 'NOPE');
SELECT credits_define_rule(NULL, 10, 'add');
SELECT credits_define_rule('gold', NULL, 'add');
SELECT credits_define_rule('gold', 10, NULL);
SELECT credits_define_rule('gold', 10, 'add', credit_type => NULL);
SELECT credits_define_rule('', 10, 'add');
\set VERBOSITY default
SELECT credits_fingerprint() = :'before' AS unchanged;

-- Rules in a fractional credit type.
SELECT credits_define_type('HRS', 'Hours', 2);
SELECT credits_define_rule('support', '1.5', 'add', credit_type => 'HRS') > 0;
SELECT credits_issue('c-8', 'support', 'inv-12', quantity => 3) > 0;
SELECT credits_balance('c-8', 'HRS'), credits_balance('c-8');
SELECT kind, amount, running_balance, reference FROM credits_history('c-8', 'HRS');

-- The invoice trigger: an application's own invoices table issues credits
-- in the same transaction as the invoice becomes paid, and claws them back
-- when it is refunded.
CREATE TABLE invoices (
	number		text PRIMARY KEY,
	customer	text NOT NULL,
	product		text NOT NULL,
	plan		text,
	seats		int NOT NULL DEFAULT 1,
	status		text NOT NULL DEFAULT 'open'
);
CREATE TRIGGER invoices_issue_credits
	AFTER INSERT OR UPDATE OF status ON invoices
	FOR EACH ROW EXECUTE FUNCTION credits_issue_trigger(
		'account=customer', 'service=product', 'reference=number',
		'variant=plan', 'quantity=seats', 'refunded_value=refunded');
INSERT INTO invoices (number, customer, product, seats) VALUES ('INV-100', 't-1', 'starter', 2);
SELECT count(*) AS issued FROM credits.issue WHERE reference = 'INV-100';
UPDATE invoices SET status = 'paid' WHERE number = 'INV-100';
SELECT credits_balance('t-1');
-- Touching a paid invoice again issues nothing more.
UPDATE invoices SET status = 'paid' WHERE number = 'INV-100';
UPDATE invoices SET seats = 5 WHERE number = 'INV-100';
SELECT credits_balance('t-1');
-- An invoice inserted as paid issues at once.
INSERT INTO invoices VALUES ('INV-101', 't-1', 'pro', 'yearly', 1, 'paid');
SELECT credits_balance('t-1');
SELECT kind, amount, running_balance, reference FROM credits_history('t-1');
-- An ordinary invoice (its service has no rule) issues nothing, without
-- error: the application's payment goes through, and so does its refund.
SELECT credits_fingerprint() AS before \gset
INSERT INTO invoices (number, customer, product) VALUES ('INV-102', 't-2', 'unknown-product');
UPDATE invoices SET status = 'paid' WHERE number = 'INV-102';
INSERT INTO invoices VALUES ('INV-104', 't-2', 'consulting', NULL, 1, 'paid');
SELECT number, status FROM invoices WHERE customer = 't-2' ORDER BY number;
UPDATE invoices SET status = 'refunded' WHERE number = 'INV-104';
SELECT status FROM invoices WHERE number = 'INV-104';
SELECT credits_fingerprint() = :'before' AS nothing_issued;
-- A variant without a rule of its own falls back to the service's rule, as
-- credits_issue() does; a service with only variant rules issues nothing
-- for another variant.
SELECT credits_define_rule('seo', 7, 'add', variant => 'gold') > 0;
INSERT INTO invoices VALUES ('INV-105', 't-2', 'seo', 'silver', 1, 'paid');
INSERT INTO invoices VALUES ('INV-106', 't-2', 'seo', 'gold', 1, 'paid');
INSERT INTO invoices VALUES ('INV-107', 't-2', 'starter', 'any', 1, 'paid');
SELECT reference, service, variant, credits FROM credits_invoices('t-2');
SELECT service, variant, credits, mode FROM credits_rules('seo');
SELECT count(*) AS rules FROM credits_rules();
-- credits_issue() called directly still refuses a service without a rule.
\set VERBOSITY sqlstate
SELECT credits_issue('t-2', 'consulting', 'INV-104');
\set VERBOSITY default
-- missing_rule=error: such an invoice fails, and marking it paid fails
-- with it (same transaction, nothing half done).
CREATE TABLE credit_invoices (number text PRIMARY KEY, account text, service text,
							  status text NOT NULL DEFAULT 'open');
CREATE TRIGGER credit_invoices_issue AFTER INSERT OR UPDATE ON credit_invoices FOR EACH ROW
	EXECUTE FUNCTION credits_issue_trigger('reference=number', 'missing_rule=error');
INSERT INTO credit_invoices VALUES ('CI-1', 't-2', 'unknown-product');
UPDATE credit_invoices SET status = 'paid' WHERE number = 'CI-1';
SELECT status FROM credit_invoices WHERE number = 'CI-1';
INSERT INTO credit_invoices VALUES ('CI-2', 't-2', 'starter', 'paid');
SELECT reference, credits FROM credits_invoices(reference => 'CI-2');
CREATE TABLE bad0 (account text, service text, reference text, status text);
CREATE TRIGGER bad0_issue AFTER INSERT ON bad0 FOR EACH ROW
	EXECUTE FUNCTION credits_issue_trigger('missing_rule=ignore');
INSERT INTO bad0 VALUES ('t-5', 'starter', 'x-0', 'paid');
-- ... and a rolled-back payment issues nothing.
BEGIN;
UPDATE invoices SET status = 'paid' WHERE number = 'INV-100';
INSERT INTO invoices VALUES ('INV-103', 't-3', 'starter', NULL, 1, 'paid');
SELECT credits_balance('t-3');
ROLLBACK;
SELECT credits_balance('t-3') \gset
SELECT :'credits_balance' AS credits_balance, count(*) AS issues FROM credits.issue WHERE reference = 'INV-103';
-- Refunding a paid invoice claws its credits back.
UPDATE invoices SET status = 'refunded' WHERE number = 'INV-100';
SELECT credits_balance('t-1');
SELECT kind, amount, running_balance, reference FROM credits_history('t-1') WHERE kind = 'clawback';

-- Other schemas: a boolean paid flag; or a paid_at timestamp with the
-- trigger's WHEN clause deciding (empty paid_column).
CREATE TABLE orders (id text PRIMARY KEY, client text, sku text, is_paid boolean DEFAULT false);
CREATE TRIGGER orders_issue AFTER INSERT OR UPDATE ON orders FOR EACH ROW
	EXECUTE FUNCTION credits_issue_trigger('account=client', 'service=sku', 'reference=id',
										   'paid_column=is_paid', 'paid_value=true');
INSERT INTO orders VALUES ('o-1', 't-4', 'starter');
UPDATE orders SET is_paid = true WHERE id = 'o-1';
CREATE TABLE bills (ref text PRIMARY KEY, account text, service text, paid_at timestamptz);
CREATE TRIGGER bills_issue AFTER UPDATE OF paid_at ON bills FOR EACH ROW
	WHEN (OLD.paid_at IS NULL AND NEW.paid_at IS NOT NULL)
	EXECUTE FUNCTION credits_issue_trigger('reference=ref', 'paid_column=');
INSERT INTO bills VALUES ('b-1', 't-4', 'starter', NULL);
UPDATE bills SET paid_at = now() WHERE ref = 'b-1';
SELECT credits_balance('t-4');
SELECT reference, credits FROM credits.issue WHERE account = 't-4' ORDER BY reference;
-- Misconfigured triggers fail loudly.
CREATE TABLE bad1 (account text, service text, reference text, status text);
CREATE TRIGGER bad1_issue AFTER INSERT ON bad1 FOR EACH ROW
	EXECUTE FUNCTION credits_issue_trigger('customer');
INSERT INTO bad1 VALUES ('t-5', 'starter', 'x-1', 'paid');
CREATE TABLE bad2 (client text, service text, reference text, status text);
CREATE TRIGGER bad2_issue AFTER INSERT ON bad2 FOR EACH ROW
	EXECUTE FUNCTION credits_issue_trigger();
INSERT INTO bad2 VALUES ('t-5', 'starter', 'x-2', 'paid');
CREATE TABLE bad3 (account text, service text, reference text, status text);
CREATE TRIGGER bad3_before BEFORE INSERT ON bad3 FOR EACH ROW
	EXECUTE FUNCTION credits_issue_trigger();
INSERT INTO bad3 VALUES ('t-5', 'starter', 'x-3', 'paid');
SELECT credits_balance('t-5');
DROP TABLE invoices, credit_invoices, orders, bills, bad0, bad1, bad2, bad3;

SELECT * FROM credits_verify();
DROP EXTENSION credits;
