-- bench/bulk_floor_grant.sql: the floor of a bulk grant.  The rows a grant
-- of :amount credits expiring at :'exp' to :n new accounts :'prefix'1 ...
-- writes (account row, lot, grant entry, outbox event), by one hand-written
-- set-based statement on the plain copies.
\set ON_ERROR_STOP 1
WITH a AS (
	INSERT INTO floor.account (account, credit_type, balance, last_seq, next_expiry)
	SELECT :'prefix' || i, 'CRD', :amount, 1, :'exp' FROM generate_series(1, :n) i
	RETURNING account),
l AS (
	INSERT INTO floor.lot (account, credit_type, amount, remaining, is_open, expires_at, source)
	SELECT account, 'CRD', :amount, :amount, true, :'exp', 'grant' FROM a
	RETURNING account, lot_id),
e AS (
	INSERT INTO floor.entry (account, credit_type, seq, kind, amount, running_balance, lot_id)
	SELECT account, 'CRD', 1, 'grant', :amount, :amount, lot_id FROM l
	RETURNING account, entry_id, at, lot_id)
INSERT INTO floor.event (id, account, at, type, aggregatetype, aggregateid, payload, entry_id)
SELECT nextval('floor.event_id_seq'), e.account, e.at, 'account.credits.granted', 'account', e.account,
	   jsonb_build_object('account', e.account, 'credit_type', 'CRD', 'entry_id', e.entry_id,
						  'kind', 'grant', 'amount', (:amount)::numeric, 'balance', (:amount)::numeric,
						  'reference', NULL, 'reason', NULL, 'lot_id', e.lot_id),
	   e.entry_id
FROM e;
