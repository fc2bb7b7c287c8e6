/*
 * Ledger tables.  They live in the schema "credits"; the API functions live
 * in the extension's schema.  Per-account tables lead with the account key
 * and include it in every primary key and unique constraint, so they can be
 * distributed by account (Citus).  Configuration tables are small.
 */
CREATE SCHEMA credits;
COMMENT ON SCHEMA credits IS 'internal tables of the credits extension: use the credits_* functions';

-- Credit types.  The default type CRD (Credits, whole units) is implicit:
-- it has no row until credits_define_type('CRD', ...) renames it, so that
-- pg_dump/pg_restore never restores an install-time row twice.
CREATE TABLE credits.credit_type (
	code		text PRIMARY KEY,
	name		text NOT NULL,
	scale		int NOT NULL CHECK (scale BETWEEN 0 AND 6),
	currency	text CHECK (currency ~ '^[A-Z]{3}$'),
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now()
);

-- Agency-wide settings ("enabled" is the on/off switch; absent means on).
CREATE TABLE credits.setting (
	name		text PRIMARY KEY,
	value		text NOT NULL,
	updated_at	timestamptz NOT NULL DEFAULT now()
);

-- The hot tables check their columns through domains, not table CHECK
-- constraints: PostgreSQL re-reads and re-plans a table's CHECK constraints
-- from their stored text on every INSERT or UPDATE (a fifth of a spend's
-- cost), while a domain's check is compiled once per backend.  Invariants
-- across columns of a lot (remaining <= amount, is_open = remaining > 0)
-- are maintained by the C code and checked by credits_verify().
CREATE DOMAIN credits.positive_amount AS credit_amount CHECK (VALUE > 0);
CREATE DOMAIN credits.nonnegative_amount AS credit_amount CHECK (VALUE >= 0);
-- The two sides of a transfer are kinds of their own, transfer_out and
-- transfer_in, so that an entry's direction follows from its kind; reports
-- show both as "transfer" (88_transfer.sql).
CREATE DOMAIN credits.entry_kind AS text CHECK (VALUE IN ('grant', 'spend',
	'expire', 'void', 'reset', 'reversal', 'clawback', 'hold', 'capture', 'release',
	'transfer_out', 'transfer_in'));

CREATE SEQUENCE credits.lot_id_seq;
CREATE SEQUENCE credits.entry_id_seq;

-- One row per (account, credit type): the lock every change takes first,
-- and the running figures.  Updates touch no indexed column (HOT).
CREATE TABLE credits.account (
	account		text NOT NULL,
	credit_type	text NOT NULL,
	balance		credit_amount NOT NULL DEFAULT 0,	-- sum of lot remainders
	held		credit_amount NOT NULL DEFAULT 0,	-- sum of open holds
	last_seq	bigint NOT NULL DEFAULT 0,			-- seq of the latest entry
	last_at		timestamptz,	-- at of the latest entry: later entries are never earlier
	next_expiry	timestamptz,	-- no open lot expires before this
	low_threshold credit_amount,	-- low_balance event below this
	-- Auto top-up (89_topup.sql): below topup_below a movement that takes
	-- credits requests topup_package by topup_method, unless the top-up
	-- topup_request is still pending.
	topup_below	credit_amount,
	topup_package text,
	topup_method text,
	topup_request bigint,
	created_at	timestamptz NOT NULL DEFAULT now(),
	-- Some lot is (or was) restricted to services (lot.applies_to), so
	-- part of balance may be out of a spend's reach: spends then take the
	-- general path, which counts what they may take (src/spend.c).  Set by
	-- the first restricted grant, never cleared.
	scoped		boolean NOT NULL DEFAULT false,
	PRIMARY KEY (account, credit_type)
) WITH (fillfactor = 50);

-- Lots (grants, credit blocks).  is_open mirrors remaining > 0 and is the
-- only indexed column that changes, and only when a lot empties or refills.
CREATE TABLE credits.lot (
	account		text NOT NULL,
	lot_id		bigint NOT NULL DEFAULT nextval('credits.lot_id_seq'),
	credit_type	text NOT NULL,
	amount		credits.positive_amount NOT NULL,
	remaining	credits.nonnegative_amount NOT NULL,
	is_open		boolean NOT NULL,
	granted_at	timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz,
	source		text NOT NULL DEFAULT 'grant',
	reason		text,
	reference	text,
	cost		numeric,		-- price paid for the lot (cost basis)
	cost_currency text,
	voided_at	timestamptz,
	priority	int NOT NULL DEFAULT 0,	-- lower is spent first (1.2)
	applies_to	text[],			-- the services it may pay for; NULL: any (1.2)
	-- lot_id first: the key also finds a lot by its id alone (void).
	PRIMARY KEY (lot_id, account)
) WITH (fillfactor = 80);
ALTER SEQUENCE credits.lot_id_seq OWNED BY credits.lot.lot_id;

-- Spend order: lowest priority first, then soonest expiry (never-expiring
-- last), then oldest grant, then lot id.  Lots that any service may take
-- and lots restricted to some services are indexed apart: a spend without
-- a service reads only the first index, exactly as before priorities and
-- services existed; a spend for a service merges the two in spend order
-- (the restricted ones filtered by service: an account's few).
CREATE INDEX lot_spend_order ON credits.lot
	(account, credit_type, priority, expires_at, granted_at, lot_id)
	WHERE is_open AND applies_to IS NULL;
CREATE INDEX lot_scoped_order ON credits.lot
	(account, credit_type, priority, expires_at, granted_at, lot_id)
	WHERE is_open AND applies_to IS NOT NULL;
-- An account's open lots by expiry (its due expirations, next_expiry),
-- and every account's (credits_expire).
CREATE INDEX lot_expiry ON credits.lot (account, credit_type, expires_at)
	WHERE is_open AND expires_at IS NOT NULL;
CREATE INDEX lot_due ON credits.lot (expires_at)
	WHERE is_open AND expires_at IS NOT NULL;

-- The history: one row per movement, append-only.  seq numbers the
-- entries of one (account, credit type) from 1 without gaps.
CREATE TABLE credits.entry (
	account		text NOT NULL,
	credit_type	text NOT NULL,
	seq			bigint NOT NULL,
	entry_id	bigint NOT NULL DEFAULT nextval('credits.entry_id_seq'),
	at			timestamptz NOT NULL DEFAULT now(),
	kind		credits.entry_kind NOT NULL,
	amount		credits.nonnegative_amount NOT NULL,
	running_balance credit_amount NOT NULL,
	lot_id		bigint,			-- the lot of a grant, expire or void
	related_id	bigint,			-- reversed entry, hold, ...
	reference	text,
	reason		text,
	shortfall	credit_amount,
	actor		text NOT NULL DEFAULT session_user,
	PRIMARY KEY (account, credit_type, seq)
);
ALTER SEQUENCE credits.entry_id_seq OWNED BY credits.entry.entry_id;
CREATE INDEX entry_by_id ON credits.entry (entry_id);

-- Which lots a multi-lot entry (spend, hold, release, capture, reversal,
-- clawback, reset) took credits from or gave them back to.  Append-only.
CREATE TABLE credits.allocation (
	account		text NOT NULL,
	entry_id	bigint NOT NULL,
	lot_id		bigint NOT NULL,
	amount		credits.positive_amount NOT NULL,
	PRIMARY KEY (account, entry_id, lot_id)
);

-- Idempotency keys, per account and shared by every keyed function:
-- request is the canonical text of the first call's operation and
-- arguments (src/idempotency.c), result its id (lot, entry, hold, request;
-- NULL for a payment that applied nothing), result_row its whole result
-- row where it returns one (payments, purchases).
CREATE TABLE credits.idempotency (
	account		text NOT NULL,
	idempotency_key text NOT NULL,
	operation	text NOT NULL,
	request		text NOT NULL,
	result		bigint,
	created_at	timestamptz NOT NULL DEFAULT now(),
	result_row	jsonb,
	PRIMARY KEY (account, idempotency_key)
);

-- The transactional outbox.  Column names follow Debezium's outbox event
-- router (id, aggregatetype, aggregateid, type, payload), so it can stream
-- this table unchanged.  Ids are derived from the writing transaction's xid
-- (see src/events.c); the table is pruned, not append-only.
CREATE TABLE credits.event (
	account		text NOT NULL,
	id			bigint NOT NULL,
	at			timestamptz NOT NULL DEFAULT now(),
	type		text NOT NULL,
	aggregatetype text NOT NULL,
	aggregateid	text NOT NULL,
	payload		jsonb NOT NULL,
	entry_id	bigint,
	-- id first: the key also serves credits_events_since(), which pages by id.
	PRIMARY KEY (id, account)
);
CREATE INDEX event_by_at ON credits.event USING brin (at);

-- Direction of an entry kind.
CREATE FUNCTION credits.direction(kind text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE WHEN kind IN ('grant', 'reversal', 'release', 'transfer_in') THEN 'in' ELSE 'out' END $$;

-- History is append-only, even for superusers and replication sessions.
CREATE FUNCTION credits.refuse_change() RETURNS trigger
AS 'MODULE_PATHNAME', 'credits_refuse_change' LANGUAGE C;

CREATE TRIGGER entry_append_only BEFORE UPDATE OR DELETE ON credits.entry
	FOR EACH ROW EXECUTE FUNCTION credits.refuse_change();
CREATE TRIGGER entry_no_truncate BEFORE TRUNCATE ON credits.entry
	FOR EACH STATEMENT EXECUTE FUNCTION credits.refuse_change();
CREATE TRIGGER allocation_append_only BEFORE UPDATE OR DELETE ON credits.allocation
	FOR EACH ROW EXECUTE FUNCTION credits.refuse_change();
CREATE TRIGGER allocation_no_truncate BEFORE TRUNCATE ON credits.allocation
	FOR EACH STATEMENT EXECUTE FUNCTION credits.refuse_change();
ALTER TABLE credits.entry ENABLE ALWAYS TRIGGER entry_append_only;
ALTER TABLE credits.entry ENABLE ALWAYS TRIGGER entry_no_truncate;
ALTER TABLE credits.allocation ENABLE ALWAYS TRIGGER allocation_append_only;
ALTER TABLE credits.allocation ENABLE ALWAYS TRIGGER allocation_no_truncate;

-- Backends cache the configuration tables (src/config.c); a change makes
-- every backend drop its copy.  The argument names the table: the trigger
-- may fire on a shard of it (Citus), whose OID no cache knows.
CREATE FUNCTION credits.config_changed() RETURNS trigger
AS 'MODULE_PATHNAME', 'credits_config_changed' LANGUAGE C;
CREATE TRIGGER credit_type_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON credits.credit_type
	FOR EACH STATEMENT EXECUTE FUNCTION credits.config_changed('credit_type');
CREATE TRIGGER setting_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON credits.setting
	FOR EACH STATEMENT EXECUTE FUNCTION credits.config_changed('setting');

-- pg_dump keeps the rows and sequence positions.
SELECT pg_catalog.pg_extension_config_dump('credits.credit_type', '');
SELECT pg_catalog.pg_extension_config_dump('credits.setting', '');
SELECT pg_catalog.pg_extension_config_dump('credits.account', '');
SELECT pg_catalog.pg_extension_config_dump('credits.lot', '');
SELECT pg_catalog.pg_extension_config_dump('credits.entry', '');
SELECT pg_catalog.pg_extension_config_dump('credits.allocation', '');
SELECT pg_catalog.pg_extension_config_dump('credits.idempotency', '');
SELECT pg_catalog.pg_extension_config_dump('credits.event', '');
SELECT pg_catalog.pg_extension_config_dump('credits.lot_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('credits.entry_id_seq', '');

-- Nobody but the owner reads or writes the tables directly.
REVOKE ALL ON ALL TABLES IN SCHEMA credits FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA credits FROM PUBLIC;

