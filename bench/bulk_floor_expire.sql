-- bench/bulk_floor_expire.sql: the floor of credits_expire().  The rows that
-- recording every due lot's expiry writes (lot closed, expire entry with its
-- running balance, outbox event, balance_depleted event when the balance
-- reaches zero, account balance, entry count and next expiry), by one
-- hand-written set-based statement on the plain copies.
\set ON_ERROR_STOP 1
WITH due AS (
	SELECT l.account, l.credit_type, l.lot_id, l.remaining,
		   row_number() OVER w AS n, sum(l.remaining) OVER w AS cum
	FROM floor.lot l
	WHERE l.is_open AND l.expires_at <= now()
	WINDOW w AS (PARTITION BY l.account, l.credit_type ORDER BY l.expires_at, l.granted_at, l.lot_id)),
d AS (
	SELECT due.*, a.balance, a.last_seq
	FROM due JOIN floor.account a ON a.account = due.account AND a.credit_type = due.credit_type),
upd AS (
	UPDATE floor.lot l SET remaining = 0, is_open = false
	FROM d WHERE l.account = d.account AND l.lot_id = d.lot_id),
ent AS (
	INSERT INTO floor.entry (account, credit_type, seq, kind, amount, running_balance, lot_id)
	SELECT account, credit_type, last_seq + n, 'expire', remaining, balance - cum, lot_id FROM d
	RETURNING account, credit_type, entry_id, at, amount, running_balance, lot_id),
ev AS (
	INSERT INTO floor.event (id, account, at, type, aggregatetype, aggregateid, payload, entry_id)
	SELECT nextval('floor.event_id_seq'), account, at, 'account.credits.expired', 'account', account,
		   jsonb_build_object('account', account, 'credit_type', credit_type, 'entry_id', entry_id,
							  'kind', 'expire', 'amount', amount::numeric,
							  'balance', running_balance::numeric, 'reference', NULL,
							  'reason', NULL, 'lot_id', lot_id),
		   entry_id
	FROM ent),
dep AS (
	INSERT INTO floor.event (id, account, type, aggregatetype, aggregateid, payload, entry_id)
	SELECT nextval('floor.event_id_seq'), account, 'account.credits.balance_depleted', 'account', account,
		   jsonb_build_object('account', account, 'credit_type', credit_type,
							  'balance', 0::numeric, 'threshold', NULL, 'entry_id', entry_id),
		   entry_id
	FROM ent WHERE running_balance = 0 AND amount > 0),
tot AS (
	SELECT account, credit_type, sum(remaining) AS total, count(*) AS cnt FROM d GROUP BY 1, 2)
UPDATE floor.account a
SET balance = a.balance - tot.total, last_seq = a.last_seq + tot.cnt,
	next_expiry = (SELECT min(l.expires_at) FROM floor.lot l
				   WHERE l.account = a.account AND l.credit_type = a.credit_type
					 AND l.is_open AND l.expires_at > now())
FROM tot
WHERE a.account = tot.account AND a.credit_type = tot.credit_type;
