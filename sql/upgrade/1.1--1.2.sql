/* credits: upgrade from version 1.1 to 1.2 (hand-written part). */

\echo Use "ALTER EXTENSION credits UPDATE TO '1.2'" to load this file. \quit

/*
 * 1.2: distribution with Citus and the features beyond the peers.  Changes
 * to tables come here, one block per topic; scripts/gen_upgrade.py appends
 * the parts new in 1.2 and every function, view, comment and grant.
 */

-- The spend's fast path writes its lots, entry, event and allocation in a
-- statement of its own since 1.2, no longer from inside its account update
-- through this function (src/spend.c).
DROP FUNCTION credits.spend_lots(text, text, @extschema@.credit_amount, bigint,
								 @extschema@.credit_amount, text, timestamptz);

-- The unused credits of lots are summed per lot and joined, so that the
-- whole statement runs on the shards of a distributed ledger; it also
-- serves the accounts that hold credits (credits_liability) at once.
DROP FUNCTION credits.lot_unused(timestamptz, text, text);

-- The functions given an id (a hold, an entry, a lot, a subscription, a
-- credit request) also take the account it belongs to, optionally: a call
-- that names it is delegated to the account's worker on a distributed
-- ledger.  Made anew with the parameter (85_distribute.sql gives them back
-- to credits_owner, 90_privileges.sql to the roles, 95_portal_grants.sql
-- to registered client portals).
DROP FUNCTION credits_capture(bigint, @extschema@.credit_amount);
DROP FUNCTION credits_release(bigint);
DROP FUNCTION credits_reverse(bigint, text);
DROP FUNCTION credits_void(bigint, text);
DROP FUNCTION credits_cancel_subscription(bigint);
DROP FUNCTION credits_accept_request(bigint, text);
DROP FUNCTION credits_reject_request(bigint, text, text);
DROP FUNCTION credits.lock_pending_request(bigint);

-- Transfers (88_transfer.sql): the two sides of a transfer are entries of
-- kinds of their own.  (The new check admits every kind the old one did, so
-- the scan of the history that validates it cannot fail.)
ALTER DOMAIN credits.entry_kind DROP CONSTRAINT entry_kind_check;
ALTER DOMAIN credits.entry_kind ADD CONSTRAINT entry_kind_check CHECK (VALUE IN ('grant',
	'spend', 'expire', 'void', 'reset', 'reversal', 'clawback', 'hold', 'capture', 'release',
	'transfer_out', 'transfer_in'));

-- Priorities and service-scoped credits (84_scope.sql): a lot's priority
-- (lower is spent first) and the services it may pay for (NULL: any); an
-- account flags that it has restricted lots.  Spend order leads with the
-- priority, and lots restricted to services have an index of their own;
-- an account's open lots by expiry keep one too.  The functions whose
-- parameters grow are made anew (84_scope.sql gives them back to
-- credits_owner and to the portal roles), and credits_lots shows the new
-- terms.
ALTER TABLE credits.account ADD COLUMN scoped boolean NOT NULL DEFAULT false;
ALTER TABLE credits.lot ADD COLUMN priority int NOT NULL DEFAULT 0,
	ADD COLUMN applies_to text[];
DROP INDEX credits.lot_spend_order;
CREATE INDEX lot_spend_order ON credits.lot
	(account, credit_type, priority, expires_at, granted_at, lot_id)
	WHERE is_open AND applies_to IS NULL;
CREATE INDEX lot_scoped_order ON credits.lot
	(account, credit_type, priority, expires_at, granted_at, lot_id)
	WHERE is_open AND applies_to IS NOT NULL;
CREATE INDEX lot_expiry ON credits.lot (account, credit_type, expires_at)
	WHERE is_open AND expires_at IS NOT NULL;
DROP FUNCTION credits_grant(text, @extschema@.credit_amount, text, timestamptz, text, text,
							text, numeric, text);
DROP FUNCTION credits_spend(text, @extschema@.credit_amount, text, text, text);
DROP FUNCTION credits_balance(text, text, timestamptz);
DROP FUNCTION credits_lots(text, text, boolean);

-- Resets that keep something (83_rollover.sql): a reset rule or
-- subscription keeps up to rollover of the credits of its reset_scope
-- (the type's, or only its own); the marks of the lots resets closed are
-- kept per scope and list the lots a reset left credits in.  (A mark of
-- 1.1 is one of scope 'type' that kept nothing: what it always meant.)
-- The functions whose parameters or columns grow are made anew
-- (83_rollover.sql gives them back to credits_owner).
ALTER TABLE credits.rule
	ADD COLUMN rollover @extschema@.credit_amount CHECK (rollover >= 0),
	ADD COLUMN reset_scope text NOT NULL DEFAULT 'type' CHECK (reset_scope IN ('type', 'own'));
ALTER TABLE credits.subscription
	ADD COLUMN rollover @extschema@.credit_amount CHECK (rollover >= 0),
	ADD COLUMN reset_scope text NOT NULL DEFAULT 'type' CHECK (reset_scope IN ('type', 'own'));
ALTER TABLE credits.account_reset
	ADD COLUMN scope text NOT NULL DEFAULT 'type'
		CHECK (scope = 'type' OR scope ~ '^(rule|subscription):[0-9]+$'),
	ADD COLUMN kept_lots bigint[] NOT NULL DEFAULT '{}',
	-- a bound per node group (60_lifecycle.sql); 1.1 ran on one node, group 0
	ALTER COLUMN lots_upto TYPE bigint[] USING ARRAY[lots_upto],
	DROP CONSTRAINT account_reset_pkey,
	ADD PRIMARY KEY (account, credit_type, scope);
DROP FUNCTION credits_define_rule(text, @extschema@.credit_amount, text, text, text, interval);
DROP FUNCTION credits_rules(text);
DROP FUNCTION credits_subscribe(text, @extschema@.credit_amount, interval, text, text, timestamptz,
								interval);
DROP FUNCTION credits_subscriptions(text);

-- Auto top-up (89_topup.sql): an account's threshold, package, method and
-- pending top-up; a credit request marked as an auto top-up, which may name
-- a card method (it is charged by the application, then accepted), at most
-- one pending per account and type.
ALTER TABLE credits.account ADD COLUMN topup_below @extschema@.credit_amount,
	ADD COLUMN topup_package text, ADD COLUMN topup_method text,
	ADD COLUMN topup_request bigint;
ALTER TABLE credits.request ADD COLUMN auto_topup boolean NOT NULL DEFAULT false,
	DROP CONSTRAINT request_method_check,
	ADD CONSTRAINT request_method_check
		CHECK (method IN ('stripe', 'paypal', 'bank_transfer', 'crypto')),
	ADD CONSTRAINT request_card_is_topup
		CHECK (auto_topup OR method IN ('bank_transfer', 'crypto'));
CREATE UNIQUE INDEX request_topup_pending ON credits.request (account, credit_type)
	WHERE status = 'pending' AND auto_topup;
