-- Tamper evidence: credits_seal() chains a SHA-256 hash over every entry,
-- per account, in the order it seals them; credits_verify() reports (check
-- "chain") every sealed entry changed or removed afterwards, even by a
-- superuser with the triggers off.  Every tampering below happens in a
-- transaction that is rolled back.
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never
\i test/sql/include/error_of.psql

SELECT credits_define_type('WRD', 'Words');
SELECT credits_grant('s-1', 100, expires_at => now() + interval '30 days',
					 cost => 10, cost_currency => 'USD') AS lot1 \gset
SELECT credits_grant('s-1', 40, 'WRD') > 0 AS granted;
SELECT credits_spend('s-1', 30, 'order-1') AS spend1 \gset
SELECT credits_grant('s-2', 5) > 0 AS granted;
SELECT credits_hold('s-2', 2, 'inv-1') > 0 AS held;

-- Entries not sealed yet are no fault.
SELECT * FROM credits_verify();

-- The first run seals every entry; a second one finds nothing left.
SELECT credits_seal() AS sealed;
SELECT credits_seal() AS sealed_again;
-- One chain per account from position 1, every entry once, 32-byte hashes.
SELECT account, position, credit_type, seq, entry_id, octet_length(hash) AS bytes
FROM credits.seal ORDER BY account, position;

-- New entries are sealed by the next run, after the last seal of their
-- account; a new account starts its own chain.
SELECT credits_spend('s-1', 5, credit_type => 'WRD') > 0 AS spent;
SELECT credits_spend('s-1', 1, 'order-2') > 0 AS spent;
SELECT credits_grant('s-3', 7) > 0 AS granted;
SELECT * FROM credits_verify();
SELECT credits_seal() AS sealed;
SELECT credits_seal() AS sealed_again;
SELECT account, position, credit_type, seq, entry_id
FROM credits.seal WHERE entry_id > 5 ORDER BY account, position;
SELECT (SELECT count(*) FROM credits.entry) AS entries,
	   (SELECT count(*) FROM credits.seal) AS seals,
	   (SELECT count(*) FROM credits.entry e
		WHERE NOT EXISTS (SELECT FROM credits.seal s WHERE s.account = e.account
						  AND s.credit_type = e.credit_type AND s.seq = e.seq)) AS unsealed;

-- A seal is the documented hash, recomputed here from the columns: the
-- spend (with its allocation to lot1) after the seal before it, and the
-- grant of lot1 (with the lot's terms) at position 1.
SELECT s.hash = sha256(convert_to(jsonb_build_array('credits seal 1', s.position,
		   encode(p.hash, 'hex'),
		   jsonb_build_array(e.account, e.credit_type, e.seq, e.entry_id,
				extract(epoch FROM e.at)::text, e.kind::text, e.amount::text,
				e.running_balance::text, e.lot_id, e.related_id, e.reference, e.reason,
				e.shortfall::text, e.actor, NULL::jsonb,
				jsonb_build_array(jsonb_build_array(:lot1, '30'))))::text, 'UTF8'))
	   AS spend_seal_as_documented
FROM credits.seal s
JOIN credits.seal p ON p.account = s.account AND p.position = s.position - 1
JOIN credits.entry e ON e.account = s.account AND e.credit_type = s.credit_type AND e.seq = s.seq
WHERE s.entry_id = :spend1;
SELECT s.hash = sha256(convert_to(jsonb_build_array('credits seal 1', 1, NULL::text,
		   jsonb_build_array(e.account, e.credit_type, e.seq, e.entry_id,
				extract(epoch FROM e.at)::text, e.kind::text, e.amount::text,
				e.running_balance::text, e.lot_id, e.related_id, e.reference, e.reason,
				e.shortfall::text, e.actor,
				jsonb_build_array(l.credit_type, l.amount::text,
					extract(epoch FROM l.granted_at)::text, extract(epoch FROM l.expires_at)::text,
					l.source, l.reason, l.reference, l.cost::text, l.cost_currency),
				'[]'::jsonb))::text, 'UTF8'))
	   AS grant_seal_as_documented
FROM credits.seal s
JOIN credits.entry e ON e.account = s.account AND e.credit_type = s.credit_type AND e.seq = s.seq
JOIN credits.lot l ON l.account = e.account AND l.lot_id = e.lot_id
WHERE s.account = 's-1' AND s.position = 1;
-- The session's time zone is no part of it.
SET TimeZone = 'Pacific/Chatham';
SELECT * FROM credits_verify();
RESET TimeZone;

-- Tampering, by a superuser with the append-only triggers off.
-- An entry's amount: its seal no longer matches (and other checks see the
-- running balances and allocations disagree).
BEGIN;
ALTER TABLE credits.entry DISABLE TRIGGER ALL;
UPDATE credits.entry SET amount = amount + 1 WHERE entry_id = :spend1;
SELECT * FROM credits_verify() ORDER BY 1, 2, 3;
ROLLBACK;
-- Changes that no other check can see: only the seal tells.
BEGIN;
ALTER TABLE credits.entry DISABLE TRIGGER ALL;
UPDATE credits.entry SET reference = 'order-9' WHERE entry_id = :spend1;
SELECT * FROM credits_verify() ORDER BY 1, 2, 3;
ROLLBACK;
BEGIN;
ALTER TABLE credits.entry DISABLE TRIGGER ALL;
UPDATE credits.entry SET at = at - interval '1 microsecond', actor = 'someone'
WHERE account = 's-2' AND seq = 2;
SELECT * FROM credits_verify() ORDER BY 1, 2, 3;
ROLLBACK;
-- A lot's terms (its remainder changes, its terms never): credits that
-- would no longer expire, a cost basis rewritten.
BEGIN;
UPDATE credits.lot SET expires_at = NULL WHERE lot_id = :lot1;
SELECT * FROM credits_verify() ORDER BY 1, 2, 3;
UPDATE credits.lot SET expires_at = now() + interval '30 days', cost = 1 WHERE lot_id = :lot1;
SELECT * FROM credits_verify() ORDER BY 1, 2, 3;
ROLLBACK;
-- An allocation moved to another lot.
BEGIN;
ALTER TABLE credits.allocation DISABLE TRIGGER ALL;
UPDATE credits.allocation SET lot_id = lot_id + 1 WHERE entry_id = :spend1;
SELECT * FROM credits_verify() ORDER BY 1, 2, 3;
ROLLBACK;
-- A sealed entry deleted (the hold of s-2: other checks see what it left
-- behind; the chain names the entry).
BEGIN;
ALTER TABLE credits.entry DISABLE TRIGGER ALL;
DELETE FROM credits.entry WHERE account = 's-2' AND seq = 2;
SELECT * FROM credits_verify() ORDER BY 1, 2, 3;
ROLLBACK;
-- A seal's hash changed: that seal and the next one no longer link.
BEGIN;
ALTER TABLE credits.seal DISABLE TRIGGER ALL;
UPDATE credits.seal SET hash = sha256('forged') WHERE account = 's-1' AND position = 2;
SELECT * FROM credits_verify() ORDER BY 1, 2, 3;
ROLLBACK;
-- A seal removed: a gap in the chain, and an entry unsealed below sealed
-- ones.
BEGIN;
ALTER TABLE credits.seal DISABLE TRIGGER ALL;
DELETE FROM credits.seal WHERE account = 's-1' AND position = 3;
SELECT * FROM credits_verify() ORDER BY 1, 2, 3;
ROLLBACK;
BEGIN;
ALTER TABLE credits.seal DISABLE TRIGGER ALL;
DELETE FROM credits.seal WHERE account = 's-1' AND position <= 2;
SELECT * FROM credits_verify() ORDER BY 1, 2, 3;
ROLLBACK;
-- Seals moved to another entry: the content is not theirs.
BEGIN;
ALTER TABLE credits.seal DISABLE TRIGGER ALL;
UPDATE credits.seal SET entry_id = entry_id + 100 WHERE account = 's-3';
SELECT * FROM credits_verify() ORDER BY 1, 2, 3;
ROLLBACK;
-- Without DISABLE TRIGGER nobody changes a seal, not even a replication
-- session (the guards are ALWAYS triggers).
SET session_replication_role = replica;
SELECT pg_temp.error_of($$UPDATE credits.seal SET hash = sha256('x')$$);
SELECT pg_temp.error_of($$DELETE FROM credits.seal$$);
SELECT pg_temp.error_of($$TRUNCATE credits.seal$$);
RESET session_replication_role;

-- What the chain cannot prove alone: whoever can rewrite the seals too can
-- change an entry, drop the seals from there on and seal again; the chain
-- is whole again.  A head published before (credits_seal_heads()) tells.
SELECT position AS head_position, hash AS head_hash FROM credits_seal_heads()
WHERE account = 's-1' \gset
SELECT credits_seal_hash('s-1', :head_position) = :'head_hash' AS published_head_holds;
BEGIN;
ALTER TABLE credits.entry DISABLE TRIGGER ALL;
ALTER TABLE credits.seal DISABLE TRIGGER ALL;
UPDATE credits.entry SET reference = 'order-9' WHERE entry_id = :spend1;
DELETE FROM credits.seal s USING credits.seal x
WHERE x.entry_id = :spend1 AND s.account = x.account AND s.position >= x.position;
SELECT credits_seal() AS resealed;
SELECT * FROM credits_verify();
SELECT credits_seal_hash('s-1', :head_position) = :'head_hash' AS published_head_holds;
ROLLBACK;

-- The heads: the latest seal of each account, its hash in hex.
SELECT account, position, entry_id, length(hash) AS hex_digits,
	   hash = credits_seal_hash(account, position) AS same_as_lookup
FROM credits_seal_heads() ORDER BY account;
-- No seal there: NULL.
SELECT credits_seal_hash('s-1', 0) IS NULL AS none_at_0,
	   credits_seal_hash('s-1', 99) IS NULL AS none_at_99,
	   credits_seal_hash('nobody', 1) IS NULL AS none_for_nobody,
	   credits_seal_hash(NULL, 1) IS NULL AS null_account,
	   credits_seal_hash('s-1', NULL) IS NULL AS null_position;

-- A seal run that rolls back leaves nothing; the next one seals it all.
SELECT credits_grant('s-4', 3) > 0 AS granted;
BEGIN;
SELECT credits_seal() AS sealed;
ROLLBACK;
SELECT credits_seal() AS sealed;

-- Who may seal: credits_operator (a maintenance job, like credits_expire);
-- the heads are for credits_reader.  Refusals change nothing.
CREATE ROLE regress_seal_reader NOLOGIN IN ROLE credits_reader;
CREATE ROLE regress_seal_operator NOLOGIN IN ROLE credits_operator;
CREATE ROLE regress_seal_nobody NOLOGIN;
CREATE ROLE regress_seal_portal NOLOGIN;
SELECT credits_portal_add_role('regress_seal_portal');
SELECT credits_spend('s-1', 1) > 0 AS spent;
SELECT credits_fingerprint() AS before \gset
SET ROLE regress_seal_reader;
SELECT pg_temp.error_of('SELECT credits_seal()');
SELECT count(*) AS heads FROM credits_seal_heads();
RESET ROLE;
SET ROLE regress_seal_nobody;
SELECT pg_temp.error_of('SELECT credits_seal()');
SELECT pg_temp.error_of('SELECT * FROM credits_seal_heads()');
SELECT pg_temp.error_of($$SELECT credits_seal_hash('s-1', 1)$$);
RESET ROLE;
-- A client portal may call none of them, not even for its own account.
SET ROLE regress_seal_portal;
SELECT set_config('credits.portal_account', 's-1', false) IS NOT NULL;
SELECT pg_temp.error_of('SELECT credits_seal()');
SELECT pg_temp.error_of('SELECT * FROM credits_seal_heads()');
SELECT pg_temp.error_of($$SELECT credits_seal_hash('s-1', 1)$$);
RESET ROLE;
-- Nor an operator acting for an account through a portal.
SET ROLE regress_seal_operator;
SELECT pg_temp.error_of('SELECT credits_seal()');
SELECT pg_temp.error_of('SELECT * FROM credits_seal_heads()');
SELECT pg_temp.error_of($$SELECT credits_seal_hash('s-1', 1)$$);
RESET credits.portal_account;
SELECT credits_fingerprint() = :'before' AS unchanged;
SELECT credits_seal() AS sealed_by_operator;
RESET ROLE;

SELECT * FROM credits_verify();
SELECT credits_portal_remove_role('regress_seal_portal');
DROP ROLE regress_seal_reader;
DROP ROLE regress_seal_operator;
DROP ROLE regress_seal_nobody;
DROP ROLE regress_seal_portal;
DROP EXTENSION credits;
