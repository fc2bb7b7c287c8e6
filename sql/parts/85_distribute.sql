/*
 * Distribution with Citus.  credits_distribute() turns the ledger of a Citus
 * coordinator into distributed tables: every per-account table (its primary
 * key includes the account column) is distributed by account, co-located
 * with credits.account, so that everything about one account lives on one
 * worker; every other table (configuration) becomes a reference table,
 * copied to every node, but credits.event_log, the coordinator's own
 * (below).  The API functions that take an account first are
 * delegated to the worker that holds the account.  Each node's sequences
 * get a range of their own, so ids stay unique across the cluster.
 *
 * SECURITY INVOKER, unlike the rest of the API: distributing a table needs
 * its owner or a superuser, and Citus opens its connections to the workers
 * as the current user, which credits_owner (NOLOGIN) cannot be.  So the
 * caller must be a superuser, and the function checks that first.
 */
CREATE FUNCTION credits_distribute() RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = pg_catalog, credits, pg_temp
AS $$
DECLARE
	grp int;
	t regclass;
	fn regprocedure;
	filled regclass[] := '{}';
	nonempty boolean;
	restore text[] := '{}';
	cmd text;
	w record;
	left_over text;
	-- Run on each node: give every sequence of schema credits the range of
	-- this node's group (g << 48 + 1 .. (g + 1) << 48 - 1), restarting it at
	-- the start of the range when it is below, never moving it back.
	ranges constant text := $ranges$
DO $do$
DECLARE
	g bigint;
	lo bigint;
	hi bigint;
	s record;
	cur bigint;
BEGIN
	PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'off', true);
	SELECT groupid INTO g FROM pg_catalog.pg_dist_local_group;
	lo := (g OPERATOR(pg_catalog.<<) 48) OPERATOR(pg_catalog.+) 1;
	hi := ((g OPERATOR(pg_catalog.+) 1) OPERATOR(pg_catalog.<<) 48) OPERATOR(pg_catalog.-) 1;
	FOR s IN
		SELECT c.oid::pg_catalog.regclass AS seq FROM pg_catalog.pg_class c
		WHERE c.relnamespace OPERATOR(pg_catalog.=) 'credits'::pg_catalog.regnamespace::pg_catalog.oid
		  AND c.relkind OPERATOR(pg_catalog.=) 'S'::pg_catalog."char"
		  AND c.relname OPERATOR(pg_catalog.<>) 'event_log_seq'::pg_catalog.name	-- the coordinator's own
		ORDER BY c.relname
	LOOP
		EXECUTE pg_catalog.format('SELECT CASE WHEN is_called THEN last_value ELSE last_value OPERATOR(pg_catalog.-) 1 END FROM %s', s.seq)
			INTO cur;
		IF cur OPERATOR(pg_catalog.>) hi THEN
			RAISE EXCEPTION 'sequence % is at %, beyond the range of node group % (% to %)', s.seq, cur, g, lo, hi
				USING ERRCODE = 'object_not_in_prerequisite_state';
		END IF;
		EXECUTE pg_catalog.format('ALTER SEQUENCE %s MINVALUE %s MAXVALUE %s START WITH %s%s', s.seq, lo, hi, lo,
			CASE WHEN cur OPERATOR(pg_catalog.<) lo THEN pg_catalog.format(' RESTART WITH %s', lo) ELSE '' END);
	END LOOP;
END
$do$
$ranges$;
BEGIN
	-- A superuser first: a client portal, or any other caller, learns
	-- nothing more (the checks below read the schema, which only the
	-- ledger's owner may).
	IF pg_catalog.current_setting('is_superuser') OPERATOR(pg_catalog.<>) 'on' THEN
		RAISE EXCEPTION 'permission denied: credits_distribute() must be run by a superuser'
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'Distributing the tables needs their owner or a superuser, and Citus connects to the workers as the caller.';
	END IF;
	PERFORM credits.check_access(NULL, 'agency');
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'citus'::pg_catalog.name) THEN
		RAISE EXCEPTION 'credits_distribute() needs a Citus coordinator: the citus extension is not installed in this database'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Run it on the coordinator of a Citus cluster, after CREATE EXTENSION citus.';
	END IF;
	EXECUTE 'SELECT groupid FROM pg_catalog.pg_dist_local_group' INTO grp;
	IF grp IS DISTINCT FROM 0 THEN
		RAISE EXCEPTION 'credits_distribute() needs a Citus coordinator: this node is a Citus worker'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Run it on the coordinator.';
	END IF;

	-- Citus 13.2 crashes a session that calls a delegated function with a
	-- NULL account (it hashes the NULL); the library's planner hook keeps
	-- such calls from being delegated (src/delegation.c), if it is loaded
	-- at server start after Citus, on every node.
	IF NOT credits.delegation_guarded() THEN
		RAISE EXCEPTION 'credits_distribute() needs the credits library loaded at server start, after citus'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'Citus delegates the per-account functions to the workers; a call with a NULL account would crash the session unless credits guards the planner first.',
				  HINT = 'Set shared_preload_libraries = ''citus,credits'' on every node of the cluster and restart them.';
	END IF;
	FOR w IN SELECT * FROM pg_catalog.run_command_on_workers('SELECT credits.delegation_guarded()') LOOP
		IF NOT w.success OR w.result OPERATOR(pg_catalog.<>) 't' THEN
			RAISE EXCEPTION 'credits_distribute() needs the credits library loaded at server start, after citus, on worker %:%', w.nodename, w.nodeport
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  DETAIL = pg_catalog.format('The worker answered: %s', w.result),
					  HINT = 'Set shared_preload_libraries = ''citus,credits'' on every node of the cluster and restart them.';
		END IF;
	END LOOP;

	-- Triggers (append-only, cache invalidation) are kept on the shards;
	-- a foreign key from a local table to a reference table must not turn
	-- the local tables into Citus local tables (they are all distributed
	-- here, in an order where the referenced table comes first).
	PERFORM pg_catalog.set_config('citus.enable_unsafe_triggers', 'on', true);
	PERFORM pg_catalog.set_config('citus.enable_local_reference_table_foreign_keys', 'off', true);
	-- Distributing a table whose referenced tables were created in this
	-- transaction must use one connection per node.
	PERFORM pg_catalog.set_config('citus.multi_shard_modify_mode', 'sequential', true);
	-- Citus's notices tell to truncate the local data, which is done below.
	PERFORM pg_catalog.set_config('client_min_messages', 'warning', true);

	-- The events written so far are published as they are, each keeping
	-- its id: a consumer's cursor (the last id it saw) stays valid, and
	-- the events published later are numbered after them.
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_dist_partition d
				   WHERE d.logicalrelid OPERATOR(pg_catalog.=) 'credits.event'::regclass) THEN
		INSERT INTO credits.event_log (seq, account, source_id, at, type, aggregatetype, aggregateid, payload, entry_id)
		SELECT e.id, e.account, e.id, e.at, e.type, e.aggregatetype, e.aggregateid, e.payload, e.entry_id
		FROM credits.event e;
		TRUNCATE credits.event;
		PERFORM pg_catalog.setval('credits.event_log_seq', m)
		FROM (SELECT pg_catalog.max(l.seq) AS m FROM credits.event_log l) x WHERE m IS NOT NULL;
	END IF;

	-- Reference tables first, then credits.account, then the other
	-- per-account tables; each one after the tables it references.
	FOR pass IN 1..2 LOOP
		LOOP
			SELECT c.oid::regclass INTO t
			FROM pg_catalog.pg_class c
			WHERE c.relnamespace OPERATOR(pg_catalog.=) 'credits'::pg_catalog.regnamespace::pg_catalog.oid
			  AND c.relkind OPERATOR(pg_catalog.=) 'r'::pg_catalog."char" AND NOT c.relispartition
			  AND c.oid OPERATOR(pg_catalog.<>) 'credits.event_log'::regclass::pg_catalog.oid
			  AND NOT EXISTS (SELECT FROM pg_catalog.pg_dist_partition d WHERE d.logicalrelid OPERATOR(pg_catalog.=) c.oid::regclass)
			  AND (credits.per_account_table(c.oid) OPERATOR(pg_catalog.=) (pass OPERATOR(pg_catalog.=) 2))
			  AND NOT EXISTS (
				SELECT FROM pg_catalog.pg_constraint k
				WHERE k.contype OPERATOR(pg_catalog.=) 'f'::pg_catalog."char" AND k.conrelid OPERATOR(pg_catalog.=) c.oid
				  AND k.confrelid OPERATOR(pg_catalog.<>) c.oid
				  AND NOT EXISTS (SELECT FROM pg_catalog.pg_dist_partition d
								  WHERE d.logicalrelid OPERATOR(pg_catalog.=) k.confrelid::regclass))
			ORDER BY c.relname OPERATOR(pg_catalog.<>) 'account'::pg_catalog.name, c.relname
			LIMIT 1;
			EXIT WHEN NOT FOUND;
			EXECUTE pg_catalog.format('SELECT EXISTS (SELECT FROM ONLY %s)', t) INTO nonempty;
			IF nonempty THEN
				filled := filled OPERATOR(pg_catalog.||) t;
			END IF;
			IF pass OPERATOR(pg_catalog.=) 1 THEN
				PERFORM pg_catalog.create_reference_table(t);
			ELSIF t OPERATOR(pg_catalog.=) 'credits.account'::regclass THEN
				PERFORM pg_catalog.create_distributed_table(t, 'account');
			ELSE
				PERFORM pg_catalog.create_distributed_table(t, 'account', colocate_with => 'credits.account');
			END IF;
		END LOOP;
	END LOOP;
	SELECT pg_catalog.string_agg(c.oid::regclass::text, ', ') INTO left_over
	FROM pg_catalog.pg_class c
	WHERE c.relnamespace OPERATOR(pg_catalog.=) 'credits'::pg_catalog.regnamespace::pg_catalog.oid
	  AND c.relkind OPERATOR(pg_catalog.=) 'r'::pg_catalog."char" AND NOT c.relispartition
	  AND c.oid OPERATOR(pg_catalog.<>) 'credits.event_log'::regclass::pg_catalog.oid
	  AND NOT EXISTS (SELECT FROM pg_catalog.pg_dist_partition d WHERE d.logicalrelid OPERATOR(pg_catalog.=) c.oid::regclass);
	IF left_over IS NOT NULL THEN
		RAISE EXCEPTION 'credits_distribute() could not distribute %', left_over
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'Their foreign keys reference tables that are neither distributed nor reference tables.';
	END IF;

	-- The coordinator keeps the rows it had before in its own (shell)
	-- tables, out of sight once distributed: clear them.  The append-only
	-- tables refuse TRUNCATE: their triggers are disabled for this, on the
	-- coordinator's table only (no DDL propagation), and enabled again.
	PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'off', true);
	FOREACH t IN ARRAY filled LOOP
		FOR w IN
			SELECT g.tgname, g.tgenabled FROM pg_catalog.pg_trigger g
			WHERE g.tgrelid OPERATOR(pg_catalog.=) t::pg_catalog.oid AND NOT g.tgisinternal
			  AND g.tgtype::int OPERATOR(pg_catalog.&) 32 OPERATOR(pg_catalog.<>) 0	-- TRUNCATE
			  AND g.tgenabled OPERATOR(pg_catalog.<>) 'D'::pg_catalog."char"
		LOOP
			EXECUTE pg_catalog.format('ALTER TABLE %s DISABLE TRIGGER %I', t, w.tgname);
			restore := restore OPERATOR(pg_catalog.||) pg_catalog.format('ALTER TABLE %s ENABLE %s TRIGGER %I', t,
				CASE w.tgenabled WHEN 'A' THEN 'ALWAYS' WHEN 'R' THEN 'REPLICA' ELSE '' END, w.tgname);
		END LOOP;
	END LOOP;
	FOREACH t IN ARRAY filled LOOP
		PERFORM pg_catalog.truncate_local_data_after_distributing_table(t);
	END LOOP;
	FOREACH cmd IN ARRAY restore LOOP
		EXECUTE cmd;
	END LOOP;
	PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'on', true);

	-- The ledger's definer code on the coordinator (a report, a function
	-- given only an id, configuration) runs as credits_owner, and Citus
	-- reaches the workers as the current user: credits_owner must be able to
	-- log in to the other nodes (no password; pg_hba.conf lets it in from
	-- the cluster's nodes only).  Citus applies this on every node.
	ALTER ROLE credits_owner LOGIN;

	-- The view credits_balances reads the tables with its owner's rights,
	-- but Citus reads the shards of a view's tables as the caller, who may
	-- not read them: distributed, the view reads through a function that
	-- runs as the owner (every account's rows: to read one account, call
	-- credits_summary()).  Same columns, same portal filter.
	CREATE OR REPLACE VIEW public.credits_balances WITH (security_barrier) AS
		SELECT b.account, b.credit_type, b.available, b.held, b.expiring_30_days
		FROM credits.balances_distributed() b;

	-- Delegation: a call of a function that has an account parameter (the
	-- first one of the per-account functions, the last, optional one of the
	-- functions given an id) runs on the worker that holds the account, in
	-- one round trip, also inside an application's transaction block
	-- (force_delegation; without it such a call would run on the
	-- coordinator, whose definer code then connects to the workers as
	-- credits_owner).  A call whose account is NULL or left out is not
	-- delegated (src/delegation.c) and runs on the coordinator.
	FOR fn IN
		SELECT p.oid::regprocedure
		FROM pg_catalog.pg_proc p
		JOIN pg_catalog.pg_depend d
			ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass::pg_catalog.oid
			AND d.objid OPERATOR(pg_catalog.=) p.oid
			AND d.deptype OPERATOR(pg_catalog.=) 'e'::pg_catalog."char"
		JOIN pg_catalog.pg_extension e ON e.oid OPERATOR(pg_catalog.=) d.refobjid
			AND e.extname OPERATOR(pg_catalog.=) 'credits'::pg_catalog.name
		WHERE p.proname OPERATOR(pg_catalog.~~) 'credits\_%'::pg_catalog.text
		  AND p.pronamespace OPERATOR(pg_catalog.<>) 'credits'::pg_catalog.regnamespace::pg_catalog.oid
		  AND EXISTS (
			SELECT FROM pg_catalog.generate_series(1, p.pronargs::pg_catalog.int4) i
			WHERE p.proargnames[i] OPERATOR(pg_catalog.=) 'account'::pg_catalog.text
			  AND p.proargtypes[i OPERATOR(pg_catalog.-) 1] OPERATOR(pg_catalog.=)
				  'pg_catalog.text'::pg_catalog.regtype::pg_catalog.oid)
		ORDER BY 1::text
	LOOP
		PERFORM pg_catalog.create_distributed_function(fn, 'account', colocate_with => 'credits.account',
													  force_delegation => true);
	END LOOP;

	-- Ids unique across nodes: each node's sequences in its group's range.
	EXECUTE ranges;
	FOR w IN SELECT * FROM pg_catalog.run_command_on_workers(ranges) LOOP
		IF NOT w.success THEN
			RAISE EXCEPTION 'credits_distribute() could not set the id ranges on worker %:%', w.nodename, w.nodeport
				USING ERRCODE = 'object_not_in_prerequisite_state', DETAIL = w.result;
		END IF;
	END LOOP;
END
$$;
COMMENT ON FUNCTION credits_distribute() IS
	'on a Citus coordinator (as a superuser): distributes the per-account tables by account and makes the configuration tables reference tables, delegates the per-account functions and gives each node its own id range; again after adding a worker';

/*
 * The outbox of a distributed ledger.  Each worker writes the events of the
 * accounts it holds into its shards of credits.event, with ids that only
 * its own transactions order (src/events.c), and a consumer pages by one id
 * through the coordinator.  So the coordinator publishes: it moves the
 * committed events from the shards into credits.event_log, a table of its
 * own (never distributed), numbering them in the order it publishes them.
 * An event is moved once, in one transaction, once its own transaction has
 * committed on its worker, whatever order the workers commit in; and the
 * numbers are drawn under a lock held until the publishing transaction
 * ends, so no number becomes visible before a smaller one: a consumer
 * paging with the last number it saw never skips an event nor sees one
 * twice.  One node: the table stays empty (the outbox is credits.event).
 */
CREATE SEQUENCE credits.event_log_seq;
CREATE TABLE credits.event_log (
	seq			bigint PRIMARY KEY,		-- credits_events_since()'s event_id
	account		text NOT NULL,
	source_id	bigint NOT NULL,		-- its id in credits.event
	at			timestamptz NOT NULL,
	type		text NOT NULL,
	aggregatetype text NOT NULL,
	aggregateid	text NOT NULL,
	payload		jsonb NOT NULL,
	entry_id	bigint
);
CREATE INDEX event_log_by_at ON credits.event_log USING brin (at);
SELECT pg_catalog.pg_extension_config_dump('credits.event_log', '');
SELECT pg_catalog.pg_extension_config_dump('credits.event_log_seq', '');

-- This node's Citus group once the ledger is distributed (0: the
-- coordinator); NULL on a ledger that is not.
CREATE FUNCTION credits.node_group() RETURNS int
AS 'MODULE_PATHNAME', 'credits_node_group_sql'
LANGUAGE C STABLE
SET search_path = pg_catalog, credits, pg_temp;

-- Is the library's planner guard in place for every session: loaded at
-- server start, after a library with a planner hook (Citus)?
CREATE FUNCTION credits.delegation_guarded() RETURNS boolean
AS 'MODULE_PATHNAME', 'credits_delegation_guarded'
LANGUAGE C STABLE
SET search_path = pg_catalog, credits, pg_temp;

-- Publish up to max_rows committed events, oldest ids first; returns how
-- many.  Only one transaction publishes at a time: another one returns 0
-- at once (what the first publishes shows when it commits).
CREATE FUNCTION credits.publish_events(max_rows int DEFAULT 10000) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
DECLARE
	ids bigint[];
	accounts text[];
	ats timestamptz[];
	types text[];
	aggtypes text[];
	aggids text[];
	payloads jsonb[];
	entries bigint[];
	n bigint;
BEGIN
	IF NOT pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('credits.event_log'), 0) THEN
		RETURN 0;
	END IF;
	SELECT pg_catalog.array_agg(e.id ORDER BY e.id), pg_catalog.array_agg(e.account ORDER BY e.id),
		   pg_catalog.array_agg(e.at ORDER BY e.id), pg_catalog.array_agg(e.type ORDER BY e.id),
		   pg_catalog.array_agg(e.aggregatetype ORDER BY e.id), pg_catalog.array_agg(e.aggregateid ORDER BY e.id),
		   pg_catalog.array_agg(e.payload ORDER BY e.id), pg_catalog.array_agg(e.entry_id ORDER BY e.id)
	INTO ids, accounts, ats, types, aggtypes, aggids, payloads, entries
	FROM (SELECT * FROM credits.event ORDER BY id LIMIT max_rows) e;
	IF ids IS NULL THEN
		RETURN 0;
	END IF;
	-- (nextval is evaluated after the sort, in the events' order)
	INSERT INTO credits.event_log (seq, account, source_id, at, type, aggregatetype, aggregateid, payload, entry_id)
	SELECT pg_catalog.nextval('credits.event_log_seq'), u.account, u.id, u.at, u.type, u.aggtype, u.aggid,
		   u.payload, u.entry_id
	FROM ROWS FROM (pg_catalog.unnest(ids), pg_catalog.unnest(accounts), pg_catalog.unnest(ats),
					pg_catalog.unnest(types), pg_catalog.unnest(aggtypes), pg_catalog.unnest(aggids),
					pg_catalog.unnest(payloads), pg_catalog.unnest(entries))
		 WITH ORDINALITY AS u(id, account, at, type, aggtype, aggid, payload, entry_id, ord)
	ORDER BY u.ord;
	DELETE FROM credits.event WHERE id OPERATOR(pg_catalog.=) ANY (ids);
	GET DIAGNOSTICS n = ROW_COUNT;
	IF n OPERATOR(pg_catalog.<>) pg_catalog.cardinality(ids) THEN
		RAISE EXCEPTION 'credits: published % events but removed % from credits.event', pg_catalog.cardinality(ids), n
			USING ERRCODE = 'internal_error';
	END IF;
	RETURN n;
END
$$;

-- A message of a distributed table's shard, naming the table instead: the
-- suffix _<shard id> goes from every quoted name ("rate_102008" -> "rate").
CREATE FUNCTION credits.unsharded(message text) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$ SELECT pg_catalog.regexp_replace(message, '_[0-9]{4,}"', '"', 'g') $$;

-- Raise an error again, its shard names made table names: the handler of
-- integrity errors in the define functions (reference tables).
CREATE FUNCTION credits.raise_unsharded(state text, message text, detail text) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, credits, pg_temp
AS $$
BEGIN
	IF detail IS NULL OR detail OPERATOR(pg_catalog.=) '' THEN
		RAISE EXCEPTION USING ERRCODE = state, MESSAGE = credits.unsharded(message);
	END IF;
	RAISE EXCEPTION USING ERRCODE = state, MESSAGE = credits.unsharded(message),
		DETAIL = credits.unsharded(detail);
END
$$;

-- Is this table of schema credits per account (the account column is part
-- of its primary key)?
CREATE FUNCTION credits.per_account_table(rel oid) RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT EXISTS (
		SELECT FROM pg_catalog.pg_constraint k
		JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) k.conrelid
			AND a.attnum OPERATOR(pg_catalog.=) ANY (k.conkey)
		WHERE k.conrelid OPERATOR(pg_catalog.=) rel AND k.contype OPERATOR(pg_catalog.=) 'p'::pg_catalog."char"
		  AND a.attname OPERATOR(pg_catalog.=) 'account'::pg_catalog.name)
$$;

-- credits_balances on a distributed ledger (credits_distribute() points
-- the view here): the rows of the view's single-node form, read as the
-- owner; a client portal gets its own account's rows only.
CREATE FUNCTION credits.balances_distributed()
RETURNS TABLE(account text, credit_type text, available @extschema@.credit_amount,
			  held @extschema@.credit_amount, expiring_30_days @extschema@.credit_amount)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	own text := credits.portal_scope();
BEGIN
	RETURN QUERY
	SELECT a.account, a.credit_type,
		   (a.balance::numeric - coalesce(sum(l.remaining::numeric) FILTER (WHERE l.expires_at <= now()), 0))::@extschema@.credit_amount,
		   a.held,
		   coalesce(sum(l.remaining::numeric) FILTER (WHERE l.expires_at > now()), 0)::@extschema@.credit_amount
	FROM credits.account a
	LEFT JOIN credits.lot l
		ON l.account = a.account AND l.credit_type = a.credit_type AND l.is_open
	   AND l.expires_at <= now() + interval '30 days'
	WHERE own IS NULL OR a.account = own
	GROUP BY a.account, a.credit_type, a.balance, a.held;
END
$$;
REVOKE ALL ON FUNCTION credits.balances_distributed() FROM PUBLIC;

-- Owned by credits_owner and not for PUBLIC, like every function of the
-- extension (90_privileges.sql does it at CREATE EXTENSION, before which
-- credits_owner may not exist yet; this serves ALTER EXTENSION UPDATE,
-- which replays no part of 90_privileges.sql but its grants).
DO $$
BEGIN
	IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'credits_owner'::pg_catalog.name) THEN
		ALTER FUNCTION credits_distribute() OWNER TO credits_owner;
		ALTER FUNCTION credits.per_account_table(oid) OWNER TO credits_owner;
		ALTER FUNCTION credits.node_group() OWNER TO credits_owner;
		ALTER FUNCTION credits.unsharded(text) OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits.unsharded(text) FROM PUBLIC;
		ALTER FUNCTION credits.raise_unsharded(text, text, text) OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits.raise_unsharded(text, text, text) FROM PUBLIC;
		-- the readers behind the SQL reports (1.2, see credits_invoices())
		ALTER FUNCTION credits.requests_rows(text, text) OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits.requests_rows(text, text) FROM PUBLIC;
		ALTER FUNCTION credits.invoices_rows(text, text) OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits.invoices_rows(text, text) FROM PUBLIC;
		ALTER FUNCTION credits.holds_rows(text, text) OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits.holds_rows(text, text) FROM PUBLIC;
		ALTER FUNCTION credits.subscriptions_rows(text) OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits.subscriptions_rows(text) FROM PUBLIC;
		ALTER FUNCTION credits.usage_rows(timestamptz, timestamptz, text, text) OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits.usage_rows(timestamptz, timestamptz, text, text) FROM PUBLIC;
		ALTER FUNCTION credits.expiring_rows(interval, text) OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits.expiring_rows(interval, text) FROM PUBLIC;
		ALTER FUNCTION credits.lots_rows(text, text, boolean) OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits.lots_rows(text, text, boolean) FROM PUBLIC;
		ALTER FUNCTION credits.summary_rows(text) OWNER TO credits_owner;
		ALTER FUNCTION credits.lot_unused(timestamptz, text, text, boolean) OWNER TO credits_owner;
		ALTER FUNCTION credits.balances_distributed() OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits.balances_distributed() FROM PUBLIC;
		REVOKE ALL ON FUNCTION credits.lot_unused(timestamptz, text, text, boolean) FROM PUBLIC;
		REVOKE ALL ON FUNCTION credits.summary_rows(text) FROM PUBLIC;
		ALTER FUNCTION credits.delegation_guarded() OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits.delegation_guarded() FROM PUBLIC;
		-- made anew with their optional account (the update's prelude)
		ALTER FUNCTION credits_capture(bigint, @extschema@.credit_amount, text) OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits_capture(bigint, @extschema@.credit_amount, text) FROM PUBLIC;
		ALTER FUNCTION credits_release(bigint, text) OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits_release(bigint, text) FROM PUBLIC;
		ALTER FUNCTION credits_reverse(bigint, text, text) OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits_reverse(bigint, text, text) FROM PUBLIC;
		ALTER FUNCTION credits_void(bigint, text, text) OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits_void(bigint, text, text) FROM PUBLIC;
		ALTER FUNCTION credits_cancel_subscription(bigint, text) OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits_cancel_subscription(bigint, text) FROM PUBLIC;
		ALTER FUNCTION credits_accept_request(bigint, text, text) OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits_accept_request(bigint, text, text) FROM PUBLIC;
		ALTER FUNCTION credits_reject_request(bigint, text, text, text) OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits_reject_request(bigint, text, text, text) FROM PUBLIC;
		ALTER FUNCTION credits.lock_pending_request(bigint, text) OWNER TO credits_owner;
		ALTER FUNCTION credits.package_named(text) OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits.package_named(text) FROM PUBLIC;
		ALTER FUNCTION credits.check_method(text, text) OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits.check_method(text, text) FROM PUBLIC;
		REVOKE ALL ON FUNCTION credits.lock_pending_request(bigint, text) FROM PUBLIC;
		ALTER FUNCTION credits.publish_events(int) OWNER TO credits_owner;
		ALTER TABLE credits.event_log OWNER TO credits_owner;
		ALTER SEQUENCE credits.event_log_seq OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits_distribute() FROM PUBLIC;
		REVOKE ALL ON FUNCTION credits.per_account_table(oid) FROM PUBLIC;
		REVOKE ALL ON FUNCTION credits.node_group() FROM PUBLIC;
		REVOKE ALL ON FUNCTION credits.publish_events(int) FROM PUBLIC;
		REVOKE ALL ON TABLE credits.event_log FROM PUBLIC;
		REVOKE ALL ON SEQUENCE credits.event_log_seq FROM PUBLIC;
	END IF;
END
$$;
