/*
 * Tamper evidence (1.2).  credits_seal() chains a SHA-256 hash over the
 * ledger entries of each account, in the order it seals them; the chain
 * lives in credits.seal and credits_verify() checks it (check "chain"), so
 * an entry changed or removed after it was sealed -- by anyone, a superuser
 * with the triggers off included -- is reported.  Sealing only reads the
 * ledger and writes credits.seal: it runs apart from the movements (from
 * pg_cron) and takes no lock they take.
 *
 * What a seal covers, as JSON (jsonb's text form, UTF-8): the entry's every
 * column; for an entry of a lot (grant, expire, void) the lot's terms, which
 * never change (type, amount, granted_at, expires_at, source, reason,
 * reference, cost, cost_currency, and priority and applies_to when they
 * are not 0 and NULL: not its remainder); and the entry's
 * allocations to lots.  Instants are seconds since 1970 with their
 * microseconds, so the session's time zone never matters; amounts are
 * their text.  Each seal's hash covers the hash before it in the account's
 * chain and its own position:
 *
 *   hash(n) = sha256(["credits seal 1", n, hex of hash(n-1) or null, content])
 *
 * Chain order is the order of sealing, not of entry ids: an entry whose
 * transaction drew its id before a seal ran and committed after it is
 * sealed by the next run, at the next position.  The entries of one
 * account and credit type commit in seq order (each takes the account row's
 * lock to number itself), so the committed entries are always seq 1..n and
 * what a run has to seal are those above the highest seq sealed.
 */
CREATE TABLE credits.seal (
	account		text NOT NULL,
	position	bigint NOT NULL,	-- 1, 2, ... in the account's chain
	credit_type	text NOT NULL,		-- the entry: (account, credit_type, seq)
	seq			bigint NOT NULL,
	entry_id	bigint NOT NULL,
	hash		bytea NOT NULL,
	PRIMARY KEY (account, position),
	-- an entry is sealed once; also the highest seq sealed, per type
	UNIQUE (account, credit_type, seq)
);
SELECT pg_catalog.pg_extension_config_dump('credits.seal', '');

-- Seals are history too: nobody changes them (credits.refuse_change).
CREATE TRIGGER seal_append_only BEFORE UPDATE OR DELETE ON credits.seal
	FOR EACH ROW EXECUTE FUNCTION credits.refuse_change();
CREATE TRIGGER seal_no_truncate BEFORE TRUNCATE ON credits.seal
	FOR EACH STATEMENT EXECUTE FUNCTION credits.refuse_change();
ALTER TABLE credits.seal ENABLE ALWAYS TRIGGER seal_append_only;
ALTER TABLE credits.seal ENABLE ALWAYS TRIGGER seal_no_truncate;

-- What a seal covers, per entry (see above): the one definition that
-- credits_seal() hashes and credits_verify() checks.
CREATE VIEW credits.seal_content AS
SELECT e.account, e.credit_type, e.seq, e.entry_id, e.at,
	   pg_catalog.jsonb_build_array(
		e.account, e.credit_type, e.seq, e.entry_id,
		EXTRACT(epoch FROM e.at)::text, e.kind::text,
		e.amount::text, e.running_balance::text, e.lot_id, e.related_id,
		e.reference, e.reason, e.shortfall::text, e.actor,
		CASE WHEN l.lot_id IS NOT NULL THEN pg_catalog.jsonb_build_array(
			l.credit_type, l.amount::text, EXTRACT(epoch FROM l.granted_at)::text,
			EXTRACT(epoch FROM l.expires_at)::text, l.source, l.reason,
			l.reference, l.cost::text, l.cost_currency)
			-- a priority or services of its own (84_scope.sql), when it has them
			OPERATOR(pg_catalog.||) CASE WHEN l.priority OPERATOR(pg_catalog.<>) 0
				OR l.applies_to IS NOT NULL
				THEN pg_catalog.jsonb_build_array(l.priority, l.applies_to)
				ELSE '[]'::jsonb END END,
		COALESCE(al.list, '[]'::jsonb)) AS content
FROM credits.entry e
LEFT JOIN credits.lot l ON l.account OPERATOR(pg_catalog.=) e.account
	AND l.lot_id OPERATOR(pg_catalog.=) e.lot_id
CROSS JOIN LATERAL (
	SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(a.lot_id, a.amount::text)
								ORDER BY a.lot_id) AS list
	FROM credits.allocation a
	WHERE a.account OPERATOR(pg_catalog.=) e.account
	  AND a.entry_id OPERATOR(pg_catalog.=) e.entry_id) al;

-- One link of the chain: the hash of a seal at position pos over content,
-- after the seal whose hash is prev (NULL at position 1).  Plain SQL that
-- the planner inlines into the queries of the callers (whose search_path
-- is pinned), like credits.direction().
CREATE FUNCTION credits.seal_link(prev bytea, pos bigint, content jsonb) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT pg_catalog.sha256(pg_catalog.convert_to(pg_catalog.jsonb_build_array(
		'credits seal 1', pos, pg_catalog.encode(prev, 'hex'), content)::text, 'UTF8'))
$$;
REVOKE ALL ON FUNCTION credits.seal_link(bytea, bigint, jsonb) FROM PUBLIC;

/*
 * credits_seal(): seals every entry not sealed yet, account by account,
 * each after the last seal of its account; returns how many.  One run at a
 * time: a second one waits for the first to commit and then seals what is
 * left (a REPEATABLE READ or SERIALIZABLE caller whose snapshot predates
 * that commit cannot see what it sealed: 40001, retry).
 */
CREATE FUNCTION credits_seal()
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
DECLARE
	r record;
	acc text;
	pos bigint;
	h bytea;
	n bigint := 0;
	-- the seals to write, inserted 10000 at a time
	accounts text[] := '{}';
	positions bigint[] := '{}';
	types text[] := '{}';
	seqs bigint[] := '{}';
	ids bigint[] := '{}';
	hashes bytea[] := '{}';
BEGIN
	PERFORM credits.check_access(NULL, 'agency');
	PERFORM pg_advisory_xact_lock(hashtext('credits.seal'), 0);
	BEGIN
		-- (one snapshot: per account and type, the committed entries above
		-- the highest seq sealed; in chain order within each account)
		FOR r IN
			SELECT c.account, c.credit_type, c.seq, c.entry_id, c.content
			FROM credits.account a
			CROSS JOIN LATERAL (SELECT coalesce(max(s.seq), 0) AS seq FROM credits.seal s
								WHERE s.account = a.account AND s.credit_type = a.credit_type) w
			JOIN credits.seal_content c
				ON c.account = a.account AND c.credit_type = a.credit_type AND c.seq > w.seq
			WHERE a.last_seq > w.seq
			ORDER BY c.account COLLATE "C", c.at, c.credit_type COLLATE "C", c.seq
		LOOP
			IF acc IS DISTINCT FROM r.account THEN
				acc := r.account;
				SELECT s.position, s.hash INTO pos, h
				FROM credits.seal s WHERE s.account = acc
				ORDER BY s.position DESC LIMIT 1;
				IF NOT FOUND THEN
					pos := 0;
					h := NULL;
				END IF;
			END IF;
			pos := pos + 1;
			h := credits.seal_link(h, pos, r.content);
			accounts := accounts || acc;
			positions := positions || pos;
			types := types || r.credit_type;
			seqs := seqs || r.seq;
			ids := ids || r.entry_id;
			hashes := hashes || h;
			IF cardinality(positions) >= 10000 THEN
				INSERT INTO credits.seal (account, position, credit_type, seq, entry_id, hash)
				SELECT * FROM unnest(accounts, positions, types, seqs, ids, hashes);
				n := n + cardinality(positions);
				accounts := '{}'; positions := '{}'; types := '{}';
				seqs := '{}'; ids := '{}'; hashes := '{}';
			END IF;
		END LOOP;
		INSERT INTO credits.seal (account, position, credit_type, seq, entry_id, hash)
		SELECT * FROM unnest(accounts, positions, types, seqs, ids, hashes);
		n := n + cardinality(positions);
	EXCEPTION WHEN unique_violation THEN
		RAISE EXCEPTION 'credits_seal() could not seal: another run sealed the same entries first'
			USING ERRCODE = 'serialization_failure',
				  DETAIL = 'This transaction''s snapshot predates the commit of that run (REPEATABLE READ or SERIALIZABLE).',
				  HINT = 'Retry, or call credits_seal() in a READ COMMITTED transaction, where a run waits for the other and seals what is left.';
	END;
	RETURN n;
END
$$;
COMMENT ON FUNCTION credits_seal() IS
	'seals every ledger entry not sealed yet into its account''s hash chain (credits_verify() checks it: check chain); returns how many; one run at a time, never in the way of movements';

-- The latest seal of every account: publish these (or a digest of them)
-- where the database's administrators cannot write.
CREATE FUNCTION credits_seal_heads()
RETURNS TABLE(account text, "position" bigint, entry_id bigint, hash text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
BEGIN
	PERFORM credits.check_access(NULL, 'agency');
	RETURN QUERY
	SELECT DISTINCT ON (s.account) s.account, s.position, s.entry_id, encode(s.hash, 'hex')
	FROM credits.seal s
	ORDER BY s.account, s.position DESC;
END
$$;
COMMENT ON FUNCTION credits_seal_heads() IS
	'the latest seal of every account: its position, entry and hash (hex), to publish elsewhere';

-- The hash of an account's seal at a position (a head published earlier):
-- NULL when there is none.
CREATE FUNCTION credits_seal_hash(account text, seal_position bigint)
RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
BEGIN
	PERFORM credits.check_access(NULL, 'agency');
	RETURN (SELECT encode(s.hash, 'hex') FROM credits.seal s
			WHERE s.account = $1 AND s.position = $2);
END
$$;
COMMENT ON FUNCTION credits_seal_hash(text, bigint) IS
	'the hash (hex) of an account''s seal at a position, to compare with a head published earlier; NULL if none';

/*
 * The chain, run by credits_verify() (check "chain"): every seal's entry
 * still hashes, after the seal before it, to the hash stored; positions
 * run 1, 2, ... without gaps; and no entry is left unsealed below a sealed
 * entry of its account and type.  (The seals at fault first, then their
 * details: distributed, the first part runs on the shards.)
 */
CREATE FUNCTION credits.verify_chain()
RETURNS TABLE(check_name text, account text, detail text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
BEGIN
	RETURN QUERY
	WITH c AS MATERIALIZED (
		SELECT w.* FROM (
			SELECT s.account, s.position, s.credit_type, s.seq, s.entry_id, s.hash,
				   lag(s.position) OVER w AS prev_position, x.entry_id AS found,
				   credits.seal_link(lag(s.hash) OVER w, s.position, x.content) AS expected
			FROM credits.seal s
			LEFT JOIN credits.seal_content x
				ON x.account = s.account AND x.credit_type = s.credit_type AND x.seq = s.seq
			WINDOW w AS (PARTITION BY s.account ORDER BY s.position)) w
		WHERE w.found IS NULL OR w.found <> w.entry_id OR w.expected <> w.hash
		   OR w.position <> coalesce(w.prev_position, 0) + 1)
	SELECT 'chain', c.account,
		   CASE WHEN c.found IS NULL
				THEN format('position %s: entry %s (type %s, seq %s) is sealed but gone',
							c.position, c.entry_id, c.credit_type, c.seq)
				WHEN c.position = coalesce(c.prev_position, 0) + 2
				THEN format('position %s: the seal of position %s is gone',
							c.position, c.position - 1)
				WHEN c.position <> coalesce(c.prev_position, 0) + 1
				THEN format('position %s: the seals of positions %s to %s are gone',
							c.position, coalesce(c.prev_position, 0) + 1, c.position - 1)
				ELSE format('position %s: entry %s (type %s, seq %s) does not match its seal',
							c.position, c.found, c.credit_type, c.seq) END
	FROM c;

	RETURN QUERY
	WITH u AS MATERIALIZED (
		SELECT e.account, e.credit_type, e.seq, e.entry_id
		FROM credits.entry e
		JOIN (SELECT s.account, s.credit_type, max(s.seq) AS hi
			  FROM credits.seal s GROUP BY 1, 2) m
			ON m.account = e.account AND m.credit_type = e.credit_type AND e.seq < m.hi
		WHERE NOT EXISTS (SELECT FROM credits.seal s
						  WHERE s.account = e.account AND s.credit_type = e.credit_type
							AND s.seq = e.seq))
	SELECT 'chain', u.account,
		   format('entry %s (type %s, seq %s) is not sealed, but a later entry of its type is',
				  u.entry_id, u.credit_type, u.seq)
	FROM u;
END
$$;
REVOKE ALL ON FUNCTION credits.verify_chain() FROM PUBLIC;

-- Owned by credits_owner and not for PUBLIC, like every object of the
-- extension (90_privileges.sql does it at CREATE EXTENSION; this serves
-- ALTER EXTENSION UPDATE, as in 85_distribute.sql).
DO $$
BEGIN
	IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'credits_owner'::pg_catalog.name) THEN
		ALTER TABLE credits.seal OWNER TO credits_owner;
		ALTER VIEW credits.seal_content OWNER TO credits_owner;
		REVOKE ALL ON TABLE credits.seal FROM PUBLIC;
		REVOKE ALL ON TABLE credits.seal_content FROM PUBLIC;
		ALTER FUNCTION credits.seal_link(bytea, bigint, jsonb) OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits.seal_link(bytea, bigint, jsonb) FROM PUBLIC;
		ALTER FUNCTION credits.verify_chain() OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits.verify_chain() FROM PUBLIC;
		ALTER FUNCTION credits_seal() OWNER TO credits_owner;
		ALTER FUNCTION credits_seal_heads() OWNER TO credits_owner;
		ALTER FUNCTION credits_seal_hash(text, bigint) OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits_seal() FROM PUBLIC;
		REVOKE ALL ON FUNCTION credits_seal_heads() FROM PUBLIC;
		REVOKE ALL ON FUNCTION credits_seal_hash(text, bigint) FROM PUBLIC;
	END IF;
END
$$;
