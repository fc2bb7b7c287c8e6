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

-- Transfers (88_transfer.sql): the two sides of a transfer are entries of
-- kinds of their own.  (The new check admits every kind the old one did, so
-- the scan of the history that validates it cannot fail.)
ALTER DOMAIN credits.entry_kind DROP CONSTRAINT entry_kind_check;
ALTER DOMAIN credits.entry_kind ADD CONSTRAINT entry_kind_check CHECK (VALUE IN ('grant',
	'spend', 'expire', 'void', 'reset', 'reversal', 'clawback', 'hold', 'capture', 'release',
	'transfer_out', 'transfer_in'));

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
