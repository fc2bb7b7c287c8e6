-- bench/setup.sql: the data of the spend, hot-account and memory parts.
-- 10,000 accounts with two lots each (one expiring, one not) and the hot
-- account "hot" (one lot of 1,000,000,000 credits) in the extension, and the
-- same rows in two plain copies of the tables: "floor" (written by one
-- hand-written SQL statement per spend) and "pl" (written by a
-- straightforward PL/pgSQL implementation of the same rules).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS credits;

SELECT count(credits_grant('acct-' || i, 1000000, expires_at => now() + interval '1 year'))
	 + count(credits_grant('acct-' || i, 1000000))
FROM generate_series(1, :accounts) i;
SELECT credits_grant('hot', 1000000000);

-- Plain copies of the ledger tables: same columns, keys and indexes, no
-- triggers, no functions in between.
DO $$
DECLARE
	s text;
BEGIN
	FOREACH s IN ARRAY ARRAY['floor', 'pl'] LOOP
		EXECUTE format('DROP SCHEMA IF EXISTS %I CASCADE', s);
		EXECUTE format('CREATE SCHEMA %I', s);
		EXECUTE format('CREATE TABLE %I.account (LIKE credits.account INCLUDING ALL) WITH (fillfactor = 50)', s);
		EXECUTE format('CREATE SEQUENCE %I.lot_id_seq', s);
		EXECUTE format('CREATE SEQUENCE %I.entry_id_seq', s);
		EXECUTE format('CREATE TABLE %I.lot (LIKE credits.lot INCLUDING ALL) WITH (fillfactor = 80)', s);
		EXECUTE format('ALTER TABLE %I.lot ALTER lot_id SET DEFAULT nextval(%L)', s, s || '.lot_id_seq');
		EXECUTE format('CREATE TABLE %I.entry (LIKE credits.entry INCLUDING ALL)', s);
		EXECUTE format('ALTER TABLE %I.entry ALTER entry_id SET DEFAULT nextval(%L)', s, s || '.entry_id_seq');
		EXECUTE format('CREATE TABLE %I.allocation (LIKE credits.allocation INCLUDING ALL)', s);
		EXECUTE format('CREATE TABLE %I.event (LIKE credits.event INCLUDING ALL)', s);
		EXECUTE format('CREATE SEQUENCE %I.event_id_seq', s);
		EXECUTE format('INSERT INTO %I.account SELECT * FROM credits.account', s);
		EXECUTE format('INSERT INTO %I.lot SELECT * FROM credits.lot', s);
		EXECUTE format('INSERT INTO %I.entry SELECT * FROM credits.entry', s);
		EXECUTE format('SELECT setval(%L, (SELECT max(entry_id) FROM credits.entry))', s || '.entry_id_seq');
	END LOOP;
END
$$;

-- The same rules in PL/pgSQL, written the obvious way.
CREATE OR REPLACE FUNCTION pl.spend(p_account text, p_amount credit_amount, p_reference text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	acc pl.account%ROWTYPE;
	l record;
	left_ credit_amount := p_amount;
	take credit_amount;
	eid bigint;
BEGIN
	SELECT * INTO acc FROM pl.account WHERE account = p_account AND credit_type = 'CRD' FOR UPDATE;
	IF NOT FOUND OR acc.balance < p_amount THEN
		RAISE EXCEPTION 'insufficient credits' USING ERRCODE = 'CR001';
	END IF;
	-- A spend without a service cannot take lots restricted to services.
	IF acc.scoped AND acc.balance - coalesce((SELECT sum(remaining) FROM pl.lot
											  WHERE account = p_account AND credit_type = 'CRD'
												AND is_open AND applies_to IS NOT NULL), 0) < p_amount THEN
		RAISE EXCEPTION 'insufficient credits' USING ERRCODE = 'CR001';
	END IF;
	INSERT INTO pl.entry (account, credit_type, seq, kind, amount, running_balance, reference)
	VALUES (p_account, 'CRD', acc.last_seq + 1, 'spend', p_amount, acc.balance - p_amount, p_reference)
	RETURNING entry_id INTO eid;
	INSERT INTO pl.event (id, account, type, aggregatetype, aggregateid, payload, entry_id)
	VALUES (nextval('pl.event_id_seq'), p_account, 'account.credits.spent', 'account', p_account,
			jsonb_build_object('account', p_account, 'credit_type', 'CRD', 'entry_id', eid, 'kind', 'spend',
							   'amount', p_amount::numeric, 'balance', (acc.balance - p_amount)::numeric,
							   'reference', p_reference, 'reason', NULL, 'lot_id', NULL),
			eid);
	FOR l IN SELECT lot_id, remaining FROM pl.lot
			   WHERE account = p_account AND credit_type = 'CRD' AND is_open AND applies_to IS NULL
			   ORDER BY priority, expires_at, granted_at, lot_id LOOP
		take := least(left_, l.remaining);
		UPDATE pl.lot SET remaining = remaining - take, is_open = remaining > take
		WHERE account = p_account AND lot_id = l.lot_id;
		INSERT INTO pl.allocation (account, entry_id, lot_id, amount) VALUES (p_account, eid, l.lot_id, take);
		left_ := left_ - take;
		EXIT WHEN left_ = 0;
	END LOOP;
	UPDATE pl.account SET balance = balance - p_amount, last_seq = last_seq + 1
	WHERE account = p_account AND credit_type = 'CRD';
	RETURN eid;
END
$$;

VACUUM ANALYZE;
CHECKPOINT;
