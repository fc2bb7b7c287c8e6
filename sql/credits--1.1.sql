/* credits: a prepaid-credits ledger.  Install script, version 1.1. */

\echo Use "CREATE EXTENSION credits" to load this file. \quit

/*
 * 10_amount.sql
 *	  The credit_amount type: an exact count of millionths in an int8, with its
 *	  I/O, casts, operators, btree and hash opclasses and aggregates.
 */

-- ---------- the type ----------

CREATE TYPE credit_amount;

CREATE FUNCTION credit_amount_in(cstring) RETURNS credit_amount
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION credit_amount_out(credit_amount) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION credit_amount_recv(internal) RETURNS credit_amount
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION credit_amount_send(credit_amount) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- LIKE int8: 8 bytes, passed by value, double alignment, plain storage.
-- CATEGORY 'N' puts it with the numbers, so that COALESCE(amount, 0), CASE
-- and UNION resolve to credit_amount through the implicit integer casts.
CREATE TYPE credit_amount (
	INPUT = credit_amount_in,
	OUTPUT = credit_amount_out,
	RECEIVE = credit_amount_recv,
	SEND = credit_amount_send,
	LIKE = pg_catalog.int8,
	CATEGORY = 'N'
);

COMMENT ON TYPE credit_amount IS
	'exact amount of credits with 6 decimal places, stored as an int8 count of millionths';
COMMENT ON FUNCTION credit_amount_in(cstring) IS 'credit_amount text input';
COMMENT ON FUNCTION credit_amount_out(credit_amount) IS 'credit_amount text output';
COMMENT ON FUNCTION credit_amount_recv(internal) IS 'credit_amount binary input (int8 millionths)';
COMMENT ON FUNCTION credit_amount_send(credit_amount) IS 'credit_amount binary output (int8 millionths)';

-- ---------- casts ----------
-- Whole numbers convert implicitly (exactly); numeric only on assignment or
-- explicitly, and never rounds.  There is deliberately no cast to integers.
-- Text casts are PostgreSQL's automatic I/O conversion casts.

CREATE FUNCTION credit_amount_from_int4(int4) RETURNS credit_amount
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION credit_amount_from_int8(int8) RETURNS credit_amount
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION credit_amount_from_numeric(numeric) RETURNS credit_amount
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION credit_amount_to_numeric(credit_amount) RETURNS numeric
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION credit_amount_from_int4(int4) IS 'convert a whole number of credits to credit_amount';
COMMENT ON FUNCTION credit_amount_from_int8(int8) IS 'convert a whole number of credits to credit_amount';
COMMENT ON FUNCTION credit_amount_from_numeric(numeric) IS 'convert numeric to credit_amount, failing rather than rounding';
COMMENT ON FUNCTION credit_amount_to_numeric(credit_amount) IS 'convert credit_amount to numeric exactly';

CREATE CAST (int4 AS credit_amount)
	WITH FUNCTION credit_amount_from_int4(int4) AS IMPLICIT;
CREATE CAST (int8 AS credit_amount)
	WITH FUNCTION credit_amount_from_int8(int8) AS IMPLICIT;
CREATE CAST (numeric AS credit_amount)
	WITH FUNCTION credit_amount_from_numeric(numeric) AS ASSIGNMENT;
CREATE CAST (credit_amount AS numeric)
	WITH FUNCTION credit_amount_to_numeric(credit_amount) AS ASSIGNMENT;

-- ---------- arithmetic ----------
-- Every overflow is an error (22003).  Division truncates toward zero.

CREATE FUNCTION credit_amount_pl(credit_amount, credit_amount) RETURNS credit_amount
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION credit_amount_mi(credit_amount, credit_amount) RETURNS credit_amount
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION credit_amount_um(credit_amount) RETURNS credit_amount
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION credit_amount_mul_int4(credit_amount, int4) RETURNS credit_amount
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION credit_amount_mul_int8(credit_amount, int8) RETURNS credit_amount
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION int4_mul_credit_amount(int4, credit_amount) RETURNS credit_amount
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION int8_mul_credit_amount(int8, credit_amount) RETURNS credit_amount
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION credit_amount_div_int4(credit_amount, int4) RETURNS credit_amount
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION credit_amount_div_int8(credit_amount, int8) RETURNS credit_amount
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION credit_amount_pl(credit_amount, credit_amount) IS 'add';
COMMENT ON FUNCTION credit_amount_mi(credit_amount, credit_amount) IS 'subtract';
COMMENT ON FUNCTION credit_amount_um(credit_amount) IS 'negate';
COMMENT ON FUNCTION credit_amount_mul_int4(credit_amount, int4) IS 'multiply by an integer';
COMMENT ON FUNCTION credit_amount_mul_int8(credit_amount, int8) IS 'multiply by an integer';
COMMENT ON FUNCTION int4_mul_credit_amount(int4, credit_amount) IS 'multiply by an integer';
COMMENT ON FUNCTION int8_mul_credit_amount(int8, credit_amount) IS 'multiply by an integer';
COMMENT ON FUNCTION credit_amount_div_int4(credit_amount, int4) IS 'divide by an integer, truncating toward zero';
COMMENT ON FUNCTION credit_amount_div_int8(credit_amount, int8) IS 'divide by an integer, truncating toward zero';

CREATE OPERATOR + (
	LEFTARG = credit_amount, RIGHTARG = credit_amount,
	FUNCTION = credit_amount_pl, COMMUTATOR = +
);
CREATE OPERATOR - (
	LEFTARG = credit_amount, RIGHTARG = credit_amount,
	FUNCTION = credit_amount_mi
);
CREATE OPERATOR - (
	RIGHTARG = credit_amount, FUNCTION = credit_amount_um
);
CREATE OPERATOR * (
	LEFTARG = credit_amount, RIGHTARG = int4,
	FUNCTION = credit_amount_mul_int4, COMMUTATOR = *
);
CREATE OPERATOR * (
	LEFTARG = credit_amount, RIGHTARG = int8,
	FUNCTION = credit_amount_mul_int8, COMMUTATOR = *
);
CREATE OPERATOR * (
	LEFTARG = int4, RIGHTARG = credit_amount,
	FUNCTION = int4_mul_credit_amount, COMMUTATOR = *
);
CREATE OPERATOR * (
	LEFTARG = int8, RIGHTARG = credit_amount,
	FUNCTION = int8_mul_credit_amount, COMMUTATOR = *
);
CREATE OPERATOR / (
	LEFTARG = credit_amount, RIGHTARG = int4,
	FUNCTION = credit_amount_div_int4
);
CREATE OPERATOR / (
	LEFTARG = credit_amount, RIGHTARG = int8,
	FUNCTION = credit_amount_div_int8
);

COMMENT ON OPERATOR + (credit_amount, credit_amount) IS 'add';
COMMENT ON OPERATOR - (credit_amount, credit_amount) IS 'subtract';
COMMENT ON OPERATOR - (NONE, credit_amount) IS 'negate';
COMMENT ON OPERATOR * (credit_amount, int4) IS 'multiply by an integer';
COMMENT ON OPERATOR * (credit_amount, int8) IS 'multiply by an integer';
COMMENT ON OPERATOR * (int4, credit_amount) IS 'multiply by an integer';
COMMENT ON OPERATOR * (int8, credit_amount) IS 'multiply by an integer';
COMMENT ON OPERATOR / (credit_amount, int4) IS 'divide by an integer, truncating toward zero';
COMMENT ON OPERATOR / (credit_amount, int8) IS 'divide by an integer, truncating toward zero';

-- ---------- comparison ----------

CREATE FUNCTION credit_amount_eq(credit_amount, credit_amount) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION credit_amount_ne(credit_amount, credit_amount) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION credit_amount_lt(credit_amount, credit_amount) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION credit_amount_le(credit_amount, credit_amount) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION credit_amount_gt(credit_amount, credit_amount) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION credit_amount_ge(credit_amount, credit_amount) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION credit_amount_cmp(credit_amount, credit_amount) RETURNS int4
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION credit_amount_sortsupport(internal) RETURNS void
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION credit_amount_hash(credit_amount) RETURNS int4
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION credit_amount_hash_extended(credit_amount, int8) RETURNS int8
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

COMMENT ON FUNCTION credit_amount_eq(credit_amount, credit_amount) IS 'equal';
COMMENT ON FUNCTION credit_amount_ne(credit_amount, credit_amount) IS 'not equal';
COMMENT ON FUNCTION credit_amount_lt(credit_amount, credit_amount) IS 'less than';
COMMENT ON FUNCTION credit_amount_le(credit_amount, credit_amount) IS 'less than or equal';
COMMENT ON FUNCTION credit_amount_gt(credit_amount, credit_amount) IS 'greater than';
COMMENT ON FUNCTION credit_amount_ge(credit_amount, credit_amount) IS 'greater than or equal';
COMMENT ON FUNCTION credit_amount_cmp(credit_amount, credit_amount) IS 'btree comparison: -1, 0 or 1';
COMMENT ON FUNCTION credit_amount_sortsupport(internal) IS 'btree sort support';
COMMENT ON FUNCTION credit_amount_hash(credit_amount) IS 'hash';
COMMENT ON FUNCTION credit_amount_hash_extended(credit_amount, int8) IS 'hash with seed';

CREATE OPERATOR = (
	LEFTARG = credit_amount, RIGHTARG = credit_amount,
	FUNCTION = credit_amount_eq,
	COMMUTATOR = =, NEGATOR = <>,
	RESTRICT = eqsel, JOIN = eqjoinsel,
	HASHES, MERGES
);
CREATE OPERATOR <> (
	LEFTARG = credit_amount, RIGHTARG = credit_amount,
	FUNCTION = credit_amount_ne,
	COMMUTATOR = <>, NEGATOR = =,
	RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR < (
	LEFTARG = credit_amount, RIGHTARG = credit_amount,
	FUNCTION = credit_amount_lt,
	COMMUTATOR = >, NEGATOR = >=,
	RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
CREATE OPERATOR <= (
	LEFTARG = credit_amount, RIGHTARG = credit_amount,
	FUNCTION = credit_amount_le,
	COMMUTATOR = >=, NEGATOR = >,
	RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
CREATE OPERATOR > (
	LEFTARG = credit_amount, RIGHTARG = credit_amount,
	FUNCTION = credit_amount_gt,
	COMMUTATOR = <, NEGATOR = <=,
	RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);
CREATE OPERATOR >= (
	LEFTARG = credit_amount, RIGHTARG = credit_amount,
	FUNCTION = credit_amount_ge,
	COMMUTATOR = <=, NEGATOR = <,
	RESTRICT = scalargesel, JOIN = scalargejoinsel
);

COMMENT ON OPERATOR = (credit_amount, credit_amount) IS 'equal';
COMMENT ON OPERATOR <> (credit_amount, credit_amount) IS 'not equal';
COMMENT ON OPERATOR < (credit_amount, credit_amount) IS 'less than';
COMMENT ON OPERATOR <= (credit_amount, credit_amount) IS 'less than or equal';
COMMENT ON OPERATOR > (credit_amount, credit_amount) IS 'greater than';
COMMENT ON OPERATOR >= (credit_amount, credit_amount) IS 'greater than or equal';

CREATE OPERATOR CLASS credit_amount_ops
	DEFAULT FOR TYPE credit_amount USING btree AS
		OPERATOR 1 <,
		OPERATOR 2 <=,
		OPERATOR 3 =,
		OPERATOR 4 >=,
		OPERATOR 5 >,
		FUNCTION 1 credit_amount_cmp(credit_amount, credit_amount),
		FUNCTION 2 credit_amount_sortsupport(internal);

CREATE OPERATOR CLASS credit_amount_ops
	DEFAULT FOR TYPE credit_amount USING hash AS
		OPERATOR 1 =,
		FUNCTION 1 credit_amount_hash(credit_amount),
		FUNCTION 2 credit_amount_hash_extended(credit_amount, int8);

COMMENT ON OPERATOR CLASS credit_amount_ops USING btree IS 'default btree operator class for credit_amount';
COMMENT ON OPERATOR CLASS credit_amount_ops USING hash IS 'default hash operator class for credit_amount';

-- ---------- aggregates ----------
-- sum keeps an exact 128-bit total, so only a final total outside the type's
-- range is an error; the sum of no rows is NULL, like SQL's sum.

CREATE FUNCTION credit_amount_smaller(credit_amount, credit_amount) RETURNS credit_amount
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION credit_amount_larger(credit_amount, credit_amount) RETURNS credit_amount
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION credit_amount_sum_accum(internal, credit_amount) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION credit_amount_sum_combine(internal, internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION credit_amount_sum_serialize(internal) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION credit_amount_sum_deserialize(bytea, internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION credit_amount_sum_final(internal) RETURNS credit_amount
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION credit_amount_smaller(credit_amount, credit_amount) IS 'smaller of two amounts';
COMMENT ON FUNCTION credit_amount_larger(credit_amount, credit_amount) IS 'larger of two amounts';
COMMENT ON FUNCTION credit_amount_sum_accum(internal, credit_amount) IS 'sum(credit_amount) transition function';
COMMENT ON FUNCTION credit_amount_sum_combine(internal, internal) IS 'sum(credit_amount) combine function';
COMMENT ON FUNCTION credit_amount_sum_serialize(internal) IS 'sum(credit_amount) serialization function';
COMMENT ON FUNCTION credit_amount_sum_deserialize(bytea, internal) IS 'sum(credit_amount) deserialization function';
COMMENT ON FUNCTION credit_amount_sum_final(internal) IS 'sum(credit_amount) final function';

CREATE AGGREGATE sum(credit_amount) (
	SFUNC = credit_amount_sum_accum,
	STYPE = internal,
	SSPACE = 16,
	FINALFUNC = credit_amount_sum_final,
	COMBINEFUNC = credit_amount_sum_combine,
	SERIALFUNC = credit_amount_sum_serialize,
	DESERIALFUNC = credit_amount_sum_deserialize,
	PARALLEL = SAFE
);
CREATE AGGREGATE min(credit_amount) (
	SFUNC = credit_amount_smaller,
	STYPE = credit_amount,
	COMBINEFUNC = credit_amount_smaller,
	SORTOP = <,
	PARALLEL = SAFE
);
CREATE AGGREGATE max(credit_amount) (
	SFUNC = credit_amount_larger,
	STYPE = credit_amount,
	COMBINEFUNC = credit_amount_larger,
	SORTOP = >,
	PARALLEL = SAFE
);

COMMENT ON AGGREGATE sum(credit_amount) IS 'exact sum of credit_amount values; fails only if the total is out of range';
COMMENT ON AGGREGATE min(credit_amount) IS 'smallest credit_amount';
COMMENT ON AGGREGATE max(credit_amount) IS 'largest credit_amount';
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
CREATE DOMAIN credits.entry_kind AS text CHECK (VALUE IN ('grant', 'spend',
	'expire', 'void', 'reset', 'reversal', 'clawback', 'hold', 'capture', 'release'));

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
	created_at	timestamptz NOT NULL DEFAULT now(),
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
	-- lot_id first: the key also finds a lot by its id alone (void).
	PRIMARY KEY (lot_id, account)
) WITH (fillfactor = 80);
ALTER SEQUENCE credits.lot_id_seq OWNED BY credits.lot.lot_id;

-- Spend order: soonest expiry first, never-expiring last, then oldest
-- grant, then lot id.
CREATE INDEX lot_spend_order ON credits.lot
	(account, credit_type, expires_at, granted_at, lot_id) WHERE is_open;
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
AS $$ SELECT CASE WHEN kind IN ('grant', 'reversal', 'release') THEN 'in' ELSE 'out' END $$;

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

/*
 * Private copies of the credit_amount operators and aggregates, in the
 * schema "credits".  Every SECURITY DEFINER function pins its search_path
 * to pg_catalog, credits, pg_temp: no schema that anyone but the superuser
 * can write to.  The extension's own schema (normally public) is not on
 * that path, because the database owner can create objects there, and an
 * operator or function planted there with a better-matching signature
 * (credit_amount <= integer, say) would be chosen over ours inside definer
 * code.  These copies call the very same C functions; the type itself is
 * always named with its schema in definer code.
 */
CREATE OPERATOR credits.+ (LEFTARG = credit_amount, RIGHTARG = credit_amount,
	FUNCTION = credit_amount_pl, COMMUTATOR = OPERATOR(credits.+));
CREATE OPERATOR credits.- (LEFTARG = credit_amount, RIGHTARG = credit_amount,
	FUNCTION = credit_amount_mi);
CREATE OPERATOR credits.- (RIGHTARG = credit_amount, FUNCTION = credit_amount_um);
CREATE OPERATOR credits.* (LEFTARG = credit_amount, RIGHTARG = int4,
	FUNCTION = credit_amount_mul_int4, COMMUTATOR = OPERATOR(credits.*));
CREATE OPERATOR credits.* (LEFTARG = credit_amount, RIGHTARG = int8,
	FUNCTION = credit_amount_mul_int8, COMMUTATOR = OPERATOR(credits.*));
CREATE OPERATOR credits.* (LEFTARG = int4, RIGHTARG = credit_amount,
	FUNCTION = int4_mul_credit_amount, COMMUTATOR = OPERATOR(credits.*));
CREATE OPERATOR credits.* (LEFTARG = int8, RIGHTARG = credit_amount,
	FUNCTION = int8_mul_credit_amount, COMMUTATOR = OPERATOR(credits.*));
CREATE OPERATOR credits./ (LEFTARG = credit_amount, RIGHTARG = int4,
	FUNCTION = credit_amount_div_int4);
CREATE OPERATOR credits./ (LEFTARG = credit_amount, RIGHTARG = int8,
	FUNCTION = credit_amount_div_int8);
CREATE OPERATOR credits.= (LEFTARG = credit_amount, RIGHTARG = credit_amount,
	FUNCTION = credit_amount_eq, COMMUTATOR = OPERATOR(credits.=),
	NEGATOR = OPERATOR(credits.<>), RESTRICT = eqsel, JOIN = eqjoinsel);
CREATE OPERATOR credits.<> (LEFTARG = credit_amount, RIGHTARG = credit_amount,
	FUNCTION = credit_amount_ne, COMMUTATOR = OPERATOR(credits.<>),
	NEGATOR = OPERATOR(credits.=), RESTRICT = neqsel, JOIN = neqjoinsel);
CREATE OPERATOR credits.< (LEFTARG = credit_amount, RIGHTARG = credit_amount,
	FUNCTION = credit_amount_lt, COMMUTATOR = OPERATOR(credits.>),
	NEGATOR = OPERATOR(credits.>=), RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR credits.<= (LEFTARG = credit_amount, RIGHTARG = credit_amount,
	FUNCTION = credit_amount_le, COMMUTATOR = OPERATOR(credits.>=),
	NEGATOR = OPERATOR(credits.>), RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR credits.> (LEFTARG = credit_amount, RIGHTARG = credit_amount,
	FUNCTION = credit_amount_gt, COMMUTATOR = OPERATOR(credits.<),
	NEGATOR = OPERATOR(credits.<=), RESTRICT = scalargtsel, JOIN = scalargtjoinsel);
CREATE OPERATOR credits.>= (LEFTARG = credit_amount, RIGHTARG = credit_amount,
	FUNCTION = credit_amount_ge, COMMUTATOR = OPERATOR(credits.<=),
	NEGATOR = OPERATOR(credits.<), RESTRICT = scalargesel, JOIN = scalargejoinsel);

CREATE AGGREGATE credits.sum(credit_amount) (
	SFUNC = credit_amount_sum_accum, STYPE = internal,
	FINALFUNC = credit_amount_sum_final, COMBINEFUNC = credit_amount_sum_combine,
	SERIALFUNC = credit_amount_sum_serialize,
	DESERIALFUNC = credit_amount_sum_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE credits.min(credit_amount) (
	SFUNC = credit_amount_smaller, STYPE = credit_amount,
	COMBINEFUNC = credit_amount_smaller, PARALLEL = SAFE);
CREATE AGGREGATE credits.max(credit_amount) (
	SFUNC = credit_amount_larger, STYPE = credit_amount,
	COMBINEFUNC = credit_amount_larger, PARALLEL = SAFE);
/*
 * The ledger API: credit types, the switch, grants, spends, balances,
 * history, expiry and verification.  Every function runs as the extension
 * owner (SECURITY DEFINER) with a pinned search_path.
 */

-- Scale of a credit type, or 42704.  CRD exists implicitly.
CREATE FUNCTION credits.type_scale(code text) RETURNS int
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
DECLARE
	s int;
BEGIN
	SELECT t.scale INTO s FROM credits.credit_type t WHERE t.code = type_scale.code;
	IF FOUND THEN
		RETURN s;
	ELSIF code = 'CRD' THEN
		RETURN 0;
	END IF;
	RAISE EXCEPTION 'credit type "%" does not exist', code
		USING ERRCODE = 'undefined_object',
			  HINT = 'Define it with credits_define_type().';
END
$$;

-- The type's lock, taken shared by what creates amounts of the type (rules,
-- packages; grants take it in C): its scale cannot change until the caller
-- commits.  Returns the scale, read after the lock; 42704 for an unknown
-- type.  See src/credit_types.c.
CREATE FUNCTION credits.lock_type(code text) RETURNS int
AS 'MODULE_PATHNAME', 'credits_lock_type_sql'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, credits, pg_temp;

-- What of a type exists (lots, rules, packages, subscriptions, holds,
-- pending credit requests), seen under a fresh snapshot, or NULL.
CREATE FUNCTION credits.type_in_use(code text) RETURNS text
AS 'MODULE_PATHNAME', 'credits_type_in_use'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, credits, pg_temp;

-- All credit types, the implicit CRD included.
CREATE VIEW credits.credit_types AS
	SELECT code, name, scale, currency FROM credits.credit_type
	UNION ALL
	SELECT 'CRD', 'Credits', 0, NULL
	WHERE NOT EXISTS (SELECT 1 FROM credits.credit_type WHERE code = 'CRD');

CREATE FUNCTION credits_define_type(code text, name text, scale int DEFAULT 0,
									currency text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
DECLARE
	old credits.credit_types%ROWTYPE;
	in_use text;
BEGIN
	IF code IS NULL OR name IS NULL OR scale IS NULL THEN
		RAISE EXCEPTION '% must not be null',
			CASE WHEN code IS NULL THEN 'code' WHEN name IS NULL THEN 'name' ELSE 'scale' END
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF code !~ '^[A-Za-z0-9_]{1,32}$' THEN
		RAISE EXCEPTION 'invalid credit type code "%"', code
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A code is 1 to 32 letters, digits or underscores, such as CRD, WRD or HRS.';
	END IF;
	IF btrim(name) = '' THEN
		RAISE EXCEPTION 'credit type name must not be empty'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF scale NOT BETWEEN 0 AND 6 THEN
		RAISE EXCEPTION 'scale must be between 0 and 6'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('The value given was %s.', scale);
	END IF;
	IF currency IS NOT NULL AND currency !~ '^[A-Z]{3}$' THEN
		RAISE EXCEPTION 'invalid currency code "%"', currency
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A currency is a three-letter ISO 4217 code such as USD.';
	END IF;

	PERFORM credits.check_access(NULL, 'agency');
	-- Serialize definitions of one code, and a change of scale or currency
	-- against everything that creates amounts of the type: grants, issues,
	-- purchases, subscriptions, rules and packages hold this lock shared
	-- until they commit (src/credit_types.c).  So the check below sees them
	-- all, committed or not, and those that come later see the new scale.
	PERFORM pg_advisory_xact_lock(hashtext('credits.credit_type'), hashtext(code));
	SELECT * INTO old FROM credits.credit_types t WHERE t.code = credits_define_type.code;
	IF FOUND AND (old.scale IS DISTINCT FROM credits_define_type.scale
				  OR old.currency IS DISTINCT FROM credits_define_type.currency) THEN
		in_use := credits.type_in_use(code);
		IF in_use IS NOT NULL THEN
			RAISE EXCEPTION 'cannot change the scale or currency of credit type "%"', code
				USING ERRCODE = 'invalid_parameter_value',
					  DETAIL = format('%s of this type exist; only its name can change.', in_use),
					  HINT = 'Amounts of a type are kept at its scale: a new scale or currency is a new credit type.';
		END IF;
	END IF;
	INSERT INTO credits.credit_type AS t (code, name, scale, currency)
	VALUES (code, name, scale, currency)
	ON CONFLICT ON CONSTRAINT credit_type_pkey DO UPDATE
		SET name = excluded.name, scale = excluded.scale,
			currency = excluded.currency, updated_at = now();
END
$$;
COMMENT ON FUNCTION credits_define_type(text, text, int, text) IS
	'defines a credit type (or renames it); scale is its number of decimal places, currency makes it monetary; neither changes while anything of the type exists';

CREATE FUNCTION credits_set_enabled(enabled boolean) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
BEGIN
	IF enabled IS NULL THEN
		RAISE EXCEPTION 'enabled must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM credits.check_access(NULL, 'agency');
	INSERT INTO credits.setting (name, value)
	VALUES ('enabled', CASE WHEN enabled THEN 'on' ELSE 'off' END)
	ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = now();
END
$$;
COMMENT ON FUNCTION credits_set_enabled(boolean) IS
	'the agency switch: while off, spending, paying, holding and purchasing raise CR002';

-- The agency's settings are not a portal's to read (42501).
CREATE FUNCTION credits_enabled() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT credits.check_access(NULL, 'agency');
	SELECT coalesce((SELECT value <> 'off' FROM credits.setting WHERE name = 'enabled'), true)
$$;
COMMENT ON FUNCTION credits_enabled() IS 'whether credit payments are enabled';

CREATE FUNCTION credits_grant(account text, amount @extschema@.credit_amount,
							  credit_type text DEFAULT 'CRD',
							  expires_at timestamptz DEFAULT NULL,
							  reason text DEFAULT NULL,
							  reference text DEFAULT NULL,
							  idempotency_key text DEFAULT NULL,
							  cost numeric DEFAULT NULL,
							  cost_currency text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_grant'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_grant(text, @extschema@.credit_amount, text, timestamptz, text, text, text, numeric, text) IS
	'adds a lot of credits to an account, optionally with what the client paid for it (cost, cost_currency: its cost basis); returns the lot id';

CREATE FUNCTION credits_spend(account text, amount @extschema@.credit_amount,
							  reference text DEFAULT NULL,
							  credit_type text DEFAULT 'CRD',
							  idempotency_key text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_spend'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_spend(text, @extschema@.credit_amount, text, text, text) IS
	'spends credits soonest-expiring first, all or nothing (CR001); returns the entry id';

CREATE FUNCTION credits_balance(account text, credit_type text DEFAULT 'CRD',
								at timestamptz DEFAULT now())
RETURNS @extschema@.credit_amount
AS 'MODULE_PATHNAME', 'credits_balance'
LANGUAGE C STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_balance(text, text, timestamptz) IS
	'available credits at a time: expired and held credits excluded; the past answers from history';

CREATE FUNCTION credits_expire(as_of timestamptz DEFAULT now())
RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_expire'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_expire(timestamptz) IS
	'records an expire entry for every lot with credits left whose expiry is due; returns how many lots';

CREATE FUNCTION credits_history(account text, credit_type text DEFAULT 'CRD')
RETURNS TABLE(entry_id bigint, at timestamptz, kind text, direction text,
			  amount @extschema@.credit_amount, running_balance @extschema@.credit_amount,
			  reference text, reason text)
AS 'MODULE_PATHNAME', 'credits_history'
LANGUAGE C STABLE SECURITY DEFINER ROWS 100
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_history(text, text) IS
	'every movement of an account, oldest first, with the running balance after each';

CREATE FUNCTION credits_history_page(account text, credit_type text DEFAULT 'CRD',
									 after_entry_id bigint DEFAULT NULL,
									 max_rows int DEFAULT 50,
									 newest_first boolean DEFAULT false)
RETURNS TABLE(entry_id bigint, at timestamptz, kind text, direction text,
			  amount @extschema@.credit_amount, running_balance @extschema@.credit_amount,
			  reference text, reason text)
AS 'MODULE_PATHNAME', 'credits_history_page'
LANGUAGE C STABLE SECURITY DEFINER ROWS 50
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_history_page(text, text, bigint, int, boolean) IS
	'one page of an account''s history (keyset pagination): the entries after (or, newest first, before) after_entry_id';

-- The second half of a spend's fast path (src/spend.c): writes the lots,
-- entry, event and allocation under the account lock, with a new snapshot.
CREATE FUNCTION credits.spend_lots(account text, credit_type text, amount @extschema@.credit_amount,
								   seq bigint, balance @extschema@.credit_amount, reference text,
								   at timestamptz)
RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_spend_lots'
LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION credits.spend_lots(text, text, @extschema@.credit_amount, bigint, @extschema@.credit_amount, text, timestamptz) FROM PUBLIC;

-- Idempotency keys for the keyed functions written in SQL (purchases), with
-- the encoding and the claim of the C ones (src/idempotency.c): the
-- canonical request text of a call's fields; the claim of a key, which
-- returns NULL when the caller now holds it or the first call's result row
-- (CR003 when the key was used with other arguments); the first call's
-- result, recorded by the caller that claimed the key.
CREATE FUNCTION credits.idempotency_request(fields text[]) RETURNS text
AS 'MODULE_PATHNAME', 'credits_idem_request_sql'
LANGUAGE C IMMUTABLE;
CREATE FUNCTION credits.idempotency_claim(account text, idempotency_key text,
										  operation text, request text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'credits_idem_claim_sql'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, credits, pg_temp;
CREATE FUNCTION credits.idempotency_finish(account text, idempotency_key text,
										   result bigint, result_row jsonb)
RETURNS void
AS 'MODULE_PATHNAME', 'credits_idem_finish_sql'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, credits, pg_temp;
REVOKE ALL ON FUNCTION credits.idempotency_request(text[]),
	credits.idempotency_claim(text, text, text, text),
	credits.idempotency_finish(text, text, bigint, jsonb) FROM PUBLIC;

/*
 * credits_verify(): every invariant the ledger relies on, checked from the
 * tables themselves.  No rows means the ledger is consistent.
 */
CREATE FUNCTION credits_verify()
RETURNS TABLE(check_name text, account text, detail text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
DECLARE
	f record;
BEGIN
	PERFORM credits.check_access(NULL, 'agency');
	-- The account's balance is the sum of its lots' remainders.
	RETURN QUERY
	SELECT 'account_balance_matches_lots', a.account,
		   format('type %s: account balance %s, lots hold %s', a.credit_type,
				  a.balance, coalesce(l.total, 0))
	FROM credits.account a
	LEFT JOIN (SELECT x.account, x.credit_type, sum(x.remaining) AS total
			   FROM credits.lot x GROUP BY 1, 2) l
		ON l.account = a.account AND l.credit_type = a.credit_type
	WHERE a.balance <> coalesce(l.total, 0);

	-- Lots belong to an account row.
	RETURN QUERY
	SELECT 'lot_has_account', l.account,
		   format('lot %s of type %s has no account row', l.lot_id, l.credit_type)
	FROM credits.lot l
	WHERE NOT EXISTS (SELECT 1 FROM credits.account a
					  WHERE a.account = l.account AND a.credit_type = l.credit_type);

	-- No balance below zero.
	RETURN QUERY
	SELECT 'balance_not_negative', a.account,
		   format('type %s: balance %s, held %s', a.credit_type, a.balance, a.held)
	FROM credits.account a
	WHERE a.balance < 0 OR a.held < 0;

	-- Entries are numbered 1..last_seq without gaps.
	RETURN QUERY
	SELECT 'entries_numbered', a.account,
		   format('type %s: last_seq %s, %s entries, highest seq %s', a.credit_type,
				  a.last_seq, coalesce(e.n, 0), coalesce(e.hi, 0))
	FROM credits.account a
	LEFT JOIN (SELECT x.account, x.credit_type, count(*) AS n, max(x.seq) AS hi
			   FROM credits.entry x GROUP BY 1, 2) e
		ON e.account = a.account AND e.credit_type = a.credit_type
	WHERE coalesce(e.n, 0) <> a.last_seq OR coalesce(e.hi, 0) <> a.last_seq;

	-- Each running balance is the previous one plus "in" or minus "out", and
	-- no entry is dated before the one numbered ahead of it (one pass).
	RETURN QUERY
	SELECT v.check_name, c.account, v.detail
	FROM (SELECT e.account, e.credit_type, e.entry_id, e.kind, e.amount,
				 e.running_balance, e.at,
				 coalesce(lag(e.running_balance) OVER w, 0) AS prev,
				 lag(e.at) OVER w AS prev_at
		  FROM credits.entry e
		  WINDOW w AS (PARTITION BY e.account, e.credit_type ORDER BY e.seq)) c,
		 LATERAL (VALUES
			('running_balance_chain',
			 CASE WHEN c.running_balance <> CASE credits.direction(c.kind)
												WHEN 'in' THEN c.prev + c.amount
												ELSE c.prev - c.amount END
			 THEN format('type %s: entry %s (%s %s) has running balance %s after %s',
						 c.credit_type, c.entry_id, c.kind, c.amount,
						 c.running_balance, c.prev) END),
			('entry_time_order',
			 CASE WHEN c.at < c.prev_at
			 THEN format('type %s: entry %s (%s) is dated %s, before the entry ahead of it (%s)',
						 c.credit_type, c.entry_id, c.kind, c.at, c.prev_at) END)
		 ) v(check_name, detail)
	WHERE v.detail IS NOT NULL;

	-- The latest running balance is the account's balance, and the latest
	-- entry is no later than the account's last_at (later entries are dated
	-- from it).
	RETURN QUERY
	SELECT v.check_name, a.account, v.detail
	FROM credits.account a
	JOIN credits.entry e
		ON e.account = a.account AND e.credit_type = a.credit_type
	   AND e.seq = a.last_seq,
		 LATERAL (VALUES
			('latest_running_balance',
			 CASE WHEN e.running_balance <> a.balance
			 THEN format('type %s: latest running balance %s, balance %s',
						 a.credit_type, e.running_balance, a.balance) END),
			('last_at_bound',
			 CASE WHEN a.last_at IS NULL OR a.last_at < e.at
			 THEN format('type %s: last_at %s, but the latest entry is dated %s',
						 a.credit_type, coalesce(a.last_at::text, 'NULL'), e.at) END)
		 ) v(check_name, detail)
	WHERE v.detail IS NOT NULL;

	-- A lot's remainder stays within 0..amount and is_open mirrors it.
	RETURN QUERY
	SELECT 'lot_remaining_in_bounds', l.account,
		   format('lot %s: amount %s, remaining %s, open %s', l.lot_id, l.amount,
				  l.remaining, l.is_open)
	FROM credits.lot l
	WHERE l.remaining < 0 OR l.remaining > l.amount
	   OR l.is_open <> (l.remaining > 0);

	-- Each lot has exactly one grant entry, of its amount.
	RETURN QUERY
	SELECT 'lot_granted_once', l.account,
		   format('lot %s of %s: %s grant entries totalling %s', l.lot_id,
				  l.amount, count(e.entry_id), sum(e.amount))
	FROM credits.lot l
	LEFT JOIN credits.entry e
		ON e.account = l.account AND e.lot_id = l.lot_id AND e.kind = 'grant'
	GROUP BY l.account, l.lot_id, l.amount
	HAVING count(e.entry_id) <> 1 OR sum(e.amount) <> l.amount;

	-- A lot's remainder is its grant plus every movement into it, minus every
	-- movement out of it, as history records them.
	RETURN QUERY
	SELECT 'lot_matches_history', l.account,
		   format('lot %s: remaining %s, history gives %s', l.lot_id, l.remaining,
				  l.amount + coalesce(m.net, 0))
	FROM credits.lot l
	LEFT JOIN (
		SELECT x.account, x.lot_id, sum(x.signed) AS net FROM (
			SELECT e.account, e.lot_id,
				   CASE credits.direction(e.kind) WHEN 'in' THEN e.amount ELSE -e.amount END AS signed
			FROM credits.entry e
			WHERE e.lot_id IS NOT NULL AND e.kind <> 'grant'
			UNION ALL
			SELECT al.account, al.lot_id,
				   CASE credits.direction(e.kind) WHEN 'in' THEN al.amount ELSE -al.amount END
			FROM credits.allocation al
			JOIN credits.entry e ON e.account = al.account AND e.entry_id = al.entry_id
		) x GROUP BY 1, 2) m
		ON m.account = l.account AND m.lot_id = l.lot_id
	WHERE l.remaining <> l.amount + coalesce(m.net, 0);

	-- A multi-lot entry's allocations add up to its amount.
	RETURN QUERY
	SELECT 'allocations_sum_to_entry', e.account,
		   format('entry %s (%s %s): allocations total %s', e.entry_id, e.kind,
				  e.amount, coalesce(sum(al.amount), 0))
	FROM credits.entry e
	LEFT JOIN credits.allocation al
		ON al.account = e.account AND al.entry_id = e.entry_id
	WHERE e.lot_id IS NULL
	GROUP BY e.account, e.entry_id, e.kind, e.amount
	HAVING coalesce(sum(al.amount), 0) <> e.amount;

	-- Allocations belong to an entry and a lot of the same account and type.
	RETURN QUERY
	SELECT 'allocation_links', al.account,
		   format('allocation of entry %s to lot %s has no matching entry or lot',
				  al.entry_id, al.lot_id)
	FROM credits.allocation al
	LEFT JOIN credits.entry e ON e.account = al.account AND e.entry_id = al.entry_id
	LEFT JOIN credits.lot l ON l.account = al.account AND l.lot_id = al.lot_id
	WHERE e.entry_id IS NULL OR l.lot_id IS NULL OR e.credit_type <> l.credit_type;

	-- next_expiry never lies after an open lot's expiry (it is a lower bound).
	RETURN QUERY
	SELECT 'next_expiry_bound', a.account,
		   format('type %s: next_expiry %s, but lot %s expires %s', a.credit_type,
				  a.next_expiry, l.lot_id, l.expires_at)
	FROM credits.account a
	JOIN credits.lot l ON l.account = a.account AND l.credit_type = a.credit_type
	WHERE l.is_open AND l.expires_at IS NOT NULL
	  AND (a.next_expiry IS NULL OR a.next_expiry > l.expires_at);

	-- Checks of later features live beside them, as functions
	-- credits.verify_<area>() returning the same columns.
	FOR f IN
		SELECT p.oid::regprocedure AS fn
		FROM pg_proc p
		WHERE p.pronamespace = 'credits'::regnamespace
		  AND p.proname LIKE 'verify\_%' AND p.pronargs = 0
		ORDER BY p.proname
	LOOP
		RETURN QUERY EXECUTE format('SELECT * FROM %s', f.fn);
	END LOOP;
END
$$;
COMMENT ON FUNCTION credits_verify() IS
	'checks every ledger invariant; no rows means the ledger is consistent';

-- No amount is finer than its credit type's scale: lots, entries, accounts,
-- allocations, holds, rules, packages, subscriptions, credit requests and
-- issued invoices (a scale never changes while any of them exists).
CREATE FUNCTION credits.verify_scale()
RETURNS TABLE(check_name text, account text, detail text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
BEGIN
	RETURN QUERY
	WITH amounts(account, credit_type, what, amount) AS (
		SELECT l.account, l.credit_type, format('lot %s: amount', l.lot_id), l.amount
		FROM credits.lot l
		UNION ALL
		SELECT l.account, l.credit_type, format('lot %s: remaining', l.lot_id), l.remaining
		FROM credits.lot l
		UNION ALL
		SELECT e.account, e.credit_type, format('entry %s (%s): amount', e.entry_id, e.kind), e.amount
		FROM credits.entry e
		UNION ALL
		SELECT e.account, e.credit_type, format('entry %s (%s): running balance', e.entry_id, e.kind),
			   e.running_balance
		FROM credits.entry e
		UNION ALL
		SELECT e.account, e.credit_type, format('entry %s (%s): shortfall', e.entry_id, e.kind),
			   e.shortfall
		FROM credits.entry e WHERE e.shortfall IS NOT NULL
		UNION ALL
		SELECT al.account, l.credit_type, format('allocation of entry %s to lot %s', al.entry_id, al.lot_id),
			   al.amount
		FROM credits.allocation al
		JOIN credits.lot l ON l.account = al.account AND l.lot_id = al.lot_id
		UNION ALL
		SELECT a.account, a.credit_type, 'account balance', a.balance FROM credits.account a
		UNION ALL
		SELECT a.account, a.credit_type, 'account held', a.held FROM credits.account a
		UNION ALL
		SELECT h.account, h.credit_type, format('hold %s: amount', h.hold_id), h.amount
		FROM credits.hold h
		UNION ALL
		SELECT h.account, h.credit_type, format('hold %s: captured', h.hold_id), h.captured
		FROM credits.hold h
		UNION ALL
		SELECT NULL, r.credit_type, format('rule %s: credits', r.rule_id), r.credits
		FROM credits.rule r
		UNION ALL
		SELECT NULL, p.credit_type, format('package %s: credits', p.name), p.credits
		FROM credits.package p
		UNION ALL
		SELECT s.account, s.credit_type, format('subscription %s: %s', s.subscription_id,
			   CASE WHEN s.service IS NULL THEN 'credits' ELSE 'price' END),
			   coalesce(s.credits, s.price)
		FROM credits.subscription s
		UNION ALL
		SELECT q.account, q.credit_type, format('credit request %s: credits', q.request_id), q.credits
		FROM credits.request q
		UNION ALL
		SELECT i.account, i.credit_type, format('invoice %s: %s', i.reference, x.what), x.amount
		FROM credits.issue i
		CROSS JOIN LATERAL (VALUES ('credits', i.credits), ('deducted', i.deducted),
								   ('shortfall', i.shortfall)) x(what, amount)
		WHERE x.amount IS NOT NULL
	)
	SELECT 'amount_within_scale', a.account,
		   format('type %s (scale %s): %s is %s', a.credit_type, t.scale, a.what, a.amount)
	FROM amounts a
	JOIN credits.credit_types t ON t.code = a.credit_type
	WHERE a.amount::numeric <> trunc(a.amount::numeric, t.scale);
END
$$;
REVOKE ALL ON FUNCTION credits.verify_scale() FROM PUBLIC;

-- A digest of everything the ledger holds: every row of every table of the
-- extension, in a fixed order.  Equal digests mean identical ledgers:
-- compare a restored database with its source, or the ledger before and
-- after a call that failed.
CREATE FUNCTION credits_fingerprint()
RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
DECLARE
	t regclass;
	part text;
	parts text := '';
BEGIN
	PERFORM credits.check_access(NULL, 'agency');
	FOR t IN
		SELECT c.oid FROM pg_class c
		WHERE c.relnamespace = 'credits'::regnamespace AND c.relkind = 'r'
		ORDER BY c.relname
	LOOP
		EXECUTE format('SELECT md5(coalesce(string_agg(x::text, %L ORDER BY x::text), %L)) FROM %s x',
					   E'\n', '', t)
			INTO part;
		parts := parts || t::text || ':' || part || E'\n';
	END LOOP;
	RETURN md5(parts);
END
$$;
COMMENT ON FUNCTION credits_fingerprint() IS
	'a digest of the whole ledger: equal digests mean identical ledgers';

/*
 * Events: the outbox reader, pruning, low-balance thresholds, and the
 * event writer for the extension's own SQL code.
 */
CREATE FUNCTION credits.emit_event(account text, type text, aggregatetype text,
								   aggregateid text, payload jsonb)
RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_emit_event_sql'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, credits, pg_temp;
REVOKE ALL ON FUNCTION credits.emit_event(text, text, text, text, jsonb) FROM PUBLIC;

-- Events below this id belong to transactions that have all ended: no
-- transaction that could still commit can write an id under it.
CREATE FUNCTION credits.event_horizon() RETURNS bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$ SELECT (pg_snapshot_xmin(pg_current_snapshot())::text::bigint) << 22 $$;

CREATE FUNCTION credits_events_since(after_id bigint DEFAULT 0, max_rows int DEFAULT 1000)
RETURNS TABLE(event_id bigint, at timestamptz, type text, account text, payload jsonb)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
DECLARE
	-- NULL: every account; a client portal sees its own account's events.
	scope text;
BEGIN
	IF after_id IS NULL OR max_rows IS NULL THEN
		RAISE EXCEPTION '% must not be null', CASE WHEN after_id IS NULL THEN 'after_id' ELSE 'max_rows' END
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	scope := credits.portal_scope();
	IF max_rows < 1 THEN
		RAISE EXCEPTION 'max_rows must be at least 1'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	RETURN QUERY
		SELECT e.id, e.at, e.type, e.account, e.payload
		FROM credits.event e
		WHERE e.id > after_id AND e.id < credits.event_horizon()
		  AND (scope IS NULL OR e.account = scope)
		ORDER BY e.id
		LIMIT max_rows;
END
$$;
COMMENT ON FUNCTION credits_events_since(bigint, int) IS
	'the transactional outbox in id order: page with the last id seen, no event is ever skipped; a client portal sees its own account''s events';

CREATE FUNCTION credits_prune_events(older_than interval DEFAULT '30 days')
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
DECLARE
	n bigint;
BEGIN
	IF older_than IS NULL THEN
		RAISE EXCEPTION 'older_than must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM credits.check_access(NULL, 'agency');
	IF older_than < interval '0' THEN
		RAISE EXCEPTION 'older_than must not be negative' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	DELETE FROM credits.event WHERE at < now() - older_than;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
COMMENT ON FUNCTION credits_prune_events(interval) IS
	'deletes outbox events older than the retention interval; returns how many';

CREATE FUNCTION credits_set_low_balance(account text, threshold @extschema@.credit_amount,
										credit_type text DEFAULT 'CRD')
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
BEGIN
	IF account IS NULL OR credit_type IS NULL THEN
		RAISE EXCEPTION '% must not be null', CASE WHEN account IS NULL THEN 'account' ELSE 'credit_type' END
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF account = '' THEN
		RAISE EXCEPTION 'account must not be empty' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF threshold IS NOT NULL AND threshold <= 0 THEN
		RAISE EXCEPTION 'threshold must be greater than zero'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	PERFORM credits.check_access(NULL, 'agency');
	PERFORM credits.type_scale(credit_type);
	INSERT INTO credits.account AS a (account, credit_type, low_threshold)
	VALUES (account, credit_type, threshold)
	ON CONFLICT ON CONSTRAINT account_pkey DO UPDATE SET low_threshold = excluded.low_threshold;
END
$$;
COMMENT ON FUNCTION credits_set_low_balance(text, @extschema@.credit_amount, text) IS
	'sets (or with NULL removes) the threshold below which an account.credits.low_balance event is emitted';

/*
 * Client-portal isolation (src/access.c).  Callers whose role is a member
 * of a registered portal role act for the account in the setting
 * credits.portal_account: they may read and spend that account only.
 */
-- The role is kept by OID (regrole), so renaming it keeps it a portal role;
-- pg_dump writes it by name.
CREATE TABLE credits.portal_role (
	role		regrole PRIMARY KEY,
	created_at	timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON credits.portal_role FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('credits.portal_role', '');

-- Backends cache the portal roles (src/access.c); the argument names the
-- table, as for credits.config_changed().
CREATE FUNCTION credits.portal_changed() RETURNS trigger
AS 'MODULE_PATHNAME', 'credits_portal_changed' LANGUAGE C;
CREATE TRIGGER portal_role_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON credits.portal_role
	FOR EACH STATEMENT EXECUTE FUNCTION credits.portal_changed('portal_role');

CREATE FUNCTION credits.check_access(account text, level text) RETURNS void
AS 'MODULE_PATHNAME', 'credits_check_access_sql'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, credits, pg_temp;
REVOKE ALL ON FUNCTION credits.check_access(text, text) FROM PUBLIC;

-- The account a caller's reports are limited to: NULL for a caller that
-- may see every account, credits.portal_account for a client portal (42501
-- for a portal role without it).  Functions with an optional account filter
-- use it for a NULL filter, and the view credits_balances filters its rows
-- with it.  A view's functions run with the privileges of the view's
-- reader, so this one is SECURITY DEFINER (the portal-role list is the
-- owner's) and stays executable by them: it tells a caller nothing but its
-- own scope.  credits_reader and registered portal roles may execute it
-- (90_privileges.sql, credits.portal_grant).
CREATE FUNCTION credits.portal_scope() RETURNS text
AS 'MODULE_PATHNAME', 'credits_portal_scope_sql'
LANGUAGE C STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;

-- The functions a client portal may call; registering a portal role grants
-- it EXECUTE on exactly these (by OID: never an overload planted beside them).
CREATE FUNCTION credits.portal_functions() RETURNS text[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT ARRAY['credits_balance', 'credits_history', 'credits_history_page',
		'credits_statement', 'credits_lots', 'credits_summary', 'credits_expiring', 'credits_usage',
		'credits_events_since', 'credits_requests', 'credits_spend', 'credits_pay',
		'credits_purchase', 'credits_purchase_quantity', 'credits_subscribe_service',
		'credits_cancel_subscription']
$$;

CREATE FUNCTION credits.portal_grant(r regrole, allow boolean) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, credits, pg_temp
AS $$
DECLARE
	fn regprocedure;
BEGIN
	FOR fn IN
		SELECT p.oid::regprocedure
		FROM pg_proc p
		JOIN pg_depend d ON d.classid = 'pg_proc'::regclass::oid AND d.objid = p.oid
			AND d.refclassid = 'pg_extension'::regclass::oid AND d.deptype = 'e'
		JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'credits'::name
		WHERE p.pronamespace = '@extschema@'::regnamespace::oid
		  AND p.proname::text = ANY (credits.portal_functions())
	LOOP
		EXECUTE format(CASE WHEN allow THEN 'GRANT EXECUTE ON FUNCTION %s TO %s'
							ELSE 'REVOKE EXECUTE ON FUNCTION %s FROM %s' END, fn, r);
	END LOOP;
	-- the row filter of credits_balances, should the agency grant the view
	EXECUTE format(CASE WHEN allow THEN 'GRANT EXECUTE ON FUNCTION %s TO %s'
						ELSE 'REVOKE EXECUTE ON FUNCTION %s FROM %s' END,
				   'credits.portal_scope()'::regprocedure, r);
END
$$;

CREATE FUNCTION credits_portal_add_role(role_name name) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
DECLARE
	r regrole;
BEGIN
	IF role_name IS NULL THEN
		RAISE EXCEPTION 'role_name must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM credits.check_access(NULL, 'agency');
	-- By exact name: a cast of the text to regrole would fold its case.
	SELECT a.oid::regrole INTO r FROM pg_roles a WHERE a.rolname = credits_portal_add_role.role_name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'role "%" does not exist', role_name USING ERRCODE = 'undefined_object';
	END IF;
	INSERT INTO credits.portal_role (role) VALUES (r) ON CONFLICT DO NOTHING;
	PERFORM credits.portal_grant(r, true);
END
$$;
COMMENT ON FUNCTION credits_portal_add_role(name) IS
	'makes members of a role portal clients: they can only read and spend the account in credits.portal_account';

CREATE FUNCTION credits_portal_remove_role(role_name name) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
DECLARE
	r regrole;
BEGIN
	IF role_name IS NULL THEN
		RAISE EXCEPTION 'role_name must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM credits.check_access(NULL, 'agency');
	FOR r IN
		DELETE FROM credits.portal_role p USING pg_roles a
		WHERE a.rolname = credits_portal_remove_role.role_name AND p.role = a.oid::regrole
		RETURNING p.role
	LOOP
		PERFORM credits.portal_grant(r, false);
	END LOOP;
END
$$;
COMMENT ON FUNCTION credits_portal_remove_role(name) IS
	'stops treating a role as a portal client (and revokes what registering it granted)';

-- Registering portal roles is the agency's business, not an application's.
REVOKE ALL ON FUNCTION credits_portal_add_role(name) FROM PUBLIC;
REVOKE ALL ON FUNCTION credits_portal_remove_role(name) FROM PUBLIC;

/*
 * Pricing and purchasing: conversion rates, packages, volume price tiers,
 * purchases and credit requests, and paying invoices with credits.
 * Configuration tables (rate, package, product, price_tier) are small and
 * shared; credit requests are per account.
 */

-- Conversion rates.  Each (currency, credit type) has one chain of rates
-- keyed by effective_from; the rate in force at t is the one with the latest
-- effective_from <= t, so a new rate ends the previous one where it starts
-- and two rates can never be in force at the same instant.  Rates are kept
-- for audit: never updated, and deleted only while still in the future.
CREATE SEQUENCE credits.rate_id_seq;
CREATE TABLE credits.rate (
	rate_id		bigint NOT NULL DEFAULT nextval('credits.rate_id_seq') PRIMARY KEY,
	currency	text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
	credit_type	text NOT NULL,
	-- NaN sorts above Infinity, so this also refuses NaN.
	credits_per_unit numeric NOT NULL
		CHECK (credits_per_unit > 0 AND credits_per_unit < 'Infinity'),
	effective_from timestamptz NOT NULL CHECK (isfinite(effective_from)),
	created_at	timestamptz NOT NULL DEFAULT now(),
	created_by	text NOT NULL DEFAULT session_user,
	UNIQUE (currency, credit_type, effective_from)
);
ALTER SEQUENCE credits.rate_id_seq OWNED BY credits.rate.rate_id;

CREATE FUNCTION credits.refuse_rate_change() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, credits, pg_temp
AS $$
BEGIN
	IF TG_OP = 'DELETE' AND OLD.effective_from > now() THEN
		RETURN OLD;		-- a scheduled rate that never took effect
	END IF;
	RAISE EXCEPTION '% on "rate" is not allowed: conversion rates are kept for audit', TG_OP
		USING ERRCODE = 'insufficient_privilege',
			  HINT = 'A new rate ends the previous one: call credits_set_rate() with a later effective_from.';
END
$$;
CREATE TRIGGER rate_append_only BEFORE UPDATE OR DELETE ON credits.rate
	FOR EACH ROW EXECUTE FUNCTION credits.refuse_rate_change();
CREATE TRIGGER rate_no_truncate BEFORE TRUNCATE ON credits.rate
	FOR EACH STATEMENT EXECUTE FUNCTION credits.refuse_rate_change();
ALTER TABLE credits.rate ENABLE ALWAYS TRIGGER rate_append_only;
ALTER TABLE credits.rate ENABLE ALWAYS TRIGGER rate_no_truncate;
-- Backends cache the rate chains (src/config.c); a change makes every
-- backend drop its copy.
CREATE TRIGGER rate_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON credits.rate
	FOR EACH STATEMENT EXECUTE FUNCTION credits.config_changed('rate');

-- Packages clients buy.  Redefining a name updates it in place; purchases
-- and requests keep the figures they were made with.
CREATE SEQUENCE credits.package_id_seq;
CREATE TABLE credits.package (
	package_id	bigint NOT NULL DEFAULT nextval('credits.package_id_seq') PRIMARY KEY,
	name		text NOT NULL UNIQUE CHECK (btrim(name) <> ''),
	credit_type	text NOT NULL,
	credits		@extschema@.credit_amount NOT NULL CHECK (credits > 0),
	currency	text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
	price		numeric NOT NULL CHECK (price > 0 AND price < 'Infinity'),
	expires_after interval CHECK (expires_after > interval '0'),
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now()
);
ALTER SEQUENCE credits.package_id_seq OWNED BY credits.package.package_id;

-- Volume pricing: a product is priced in one currency; its tiers start at
-- min_quantity and run up to the next tier's.
CREATE TABLE credits.product (
	product		text NOT NULL PRIMARY KEY CHECK (btrim(product) <> ''),
	currency	text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
	created_at	timestamptz NOT NULL DEFAULT now(),
	UNIQUE (product, currency)
);
CREATE TABLE credits.price_tier (
	product		text NOT NULL,
	min_quantity int NOT NULL CHECK (min_quantity >= 1),
	unit_price	numeric NOT NULL CHECK (unit_price > 0 AND unit_price < 'Infinity'),
	currency	text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (product, min_quantity),
	FOREIGN KEY (product, currency) REFERENCES credits.product (product, currency)
);

-- Credit requests: purchases paid outside the card processors (bank
-- transfer, crypto) that the agency accepts once the money has arrived.
-- A request records the figures of what was bought when it was made: a
-- package (package_id, package), or credits of a product by quantity at its
-- volume price (product; credits is the quantity, amount the price).
CREATE SEQUENCE credits.request_id_seq;
CREATE TABLE credits.request (
	account		text NOT NULL,
	request_id	bigint NOT NULL DEFAULT nextval('credits.request_id_seq'),
	package_id	bigint REFERENCES credits.package,
	package		text,				-- the package's name when requested
	credit_type	text NOT NULL,
	credits		@extschema@.credit_amount NOT NULL CHECK (credits > 0),
	amount		numeric NOT NULL CHECK (amount > 0 AND amount < 'Infinity'),
	currency	text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
	expires_after interval,			-- counted from acceptance
	method		text NOT NULL CHECK (method IN ('bank_transfer', 'crypto')),
	reference	text,
	status		text NOT NULL DEFAULT 'pending'
				CHECK (status IN ('pending', 'accepted', 'rejected')),
	created_at	timestamptz NOT NULL DEFAULT now(),
	created_by	text NOT NULL DEFAULT session_user,
	decided_at	timestamptz,
	decided_by	text,
	reason		text,				-- why it was rejected
	lot_id		bigint,				-- the lot an accepted request granted
	product		text REFERENCES credits.product,	-- bought by quantity
	PRIMARY KEY (account, request_id),
	FOREIGN KEY (account, lot_id) REFERENCES credits.lot (account, lot_id),
	CONSTRAINT request_decided_at CHECK ((status = 'pending') = (decided_at IS NULL)),
	CONSTRAINT request_decided_by CHECK ((status = 'pending') = (decided_by IS NULL)),
	CONSTRAINT request_accepted_lot CHECK ((status = 'accepted') = (lot_id IS NOT NULL)),
	CONSTRAINT request_rejected_reason CHECK (status = 'rejected' OR reason IS NULL),
	CONSTRAINT request_package_or_product CHECK ((package_id IS NULL) <> (product IS NULL)),
	CONSTRAINT request_package_named CHECK ((package_id IS NULL) = (package IS NULL))
);
ALTER SEQUENCE credits.request_id_seq OWNED BY credits.request.request_id;
CREATE INDEX request_by_id ON credits.request (request_id);
CREATE INDEX request_pending ON credits.request (request_id) WHERE status = 'pending';

SELECT pg_catalog.pg_extension_config_dump('credits.rate', '');
SELECT pg_catalog.pg_extension_config_dump('credits.rate_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('credits.package', '');
SELECT pg_catalog.pg_extension_config_dump('credits.package_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('credits.product', '');
SELECT pg_catalog.pg_extension_config_dump('credits.price_tier', '');
SELECT pg_catalog.pg_extension_config_dump('credits.request', '');
SELECT pg_catalog.pg_extension_config_dump('credits.request_id_seq', '');

REVOKE ALL ON credits.rate, credits.package, credits.product,
	credits.price_tier, credits.request FROM PUBLIC;
REVOKE ALL ON SEQUENCE credits.rate_id_seq, credits.package_id_seq,
	credits.request_id_seq FROM PUBLIC;

/*
 * Internal helpers in C (src/convert.c, src/purchase.c), so that SQL and C
 * share one list of currencies and one wording of every check.
 */
CREATE FUNCTION credits.currency_minor_unit(currency text) RETURNS int
AS 'MODULE_PATHNAME', 'credits_pricing_minor_unit'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION credits.check_money(value numeric, what text,
									allow_zero boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'credits_pricing_check_money'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION credits.check_credits(amount @extschema@.credit_amount, credit_type text,
									  what text)
RETURNS void
AS 'MODULE_PATHNAME', 'credits_pricing_check_credits'
LANGUAGE C STABLE
SET search_path = pg_catalog, credits, pg_temp;

CREATE FUNCTION credits.pricing_require_enabled(action text) RETURNS void
AS 'MODULE_PATHNAME', 'credits_pricing_require_enabled'
LANGUAGE C STABLE;

CREATE FUNCTION credits.grant_purchased_lot(account text, amount @extschema@.credit_amount,
											credit_type text,
											expires_at timestamptz,
											reason text, reference text,
											cost numeric, cost_currency text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_pricing_grant_lot'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, credits, pg_temp;

REVOKE ALL ON FUNCTION credits.currency_minor_unit(text),
	credits.check_money(numeric, text, boolean),
	credits.check_credits(@extschema@.credit_amount, text, text),
	credits.pricing_require_enabled(text),
	credits.grant_purchased_lot(text, @extschema@.credit_amount, text, timestamptz, text,
								text, numeric, text),
	credits.refuse_rate_change() FROM PUBLIC;

/*
 * Rates
 */
CREATE FUNCTION credits_set_rate(currency text, credits_per_unit numeric,
								 credit_type text DEFAULT 'CRD',
								 effective_from timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	id bigint;
	old_rate numeric;
BEGIN
	IF currency IS NULL OR credits_per_unit IS NULL OR credit_type IS NULL
	   OR effective_from IS NULL THEN
		RAISE EXCEPTION '% must not be null',
			CASE WHEN currency IS NULL THEN 'currency'
				 WHEN credits_per_unit IS NULL THEN 'credits_per_unit'
				 WHEN credit_type IS NULL THEN 'credit_type'
				 ELSE 'effective_from' END
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM credits.check_access(NULL, 'agency');
	PERFORM credits.currency_minor_unit(currency);
	PERFORM credits.check_money(credits_per_unit, 'credits_per_unit');
	IF NOT isfinite(effective_from) THEN
		RAISE EXCEPTION 'effective_from must be finite'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	PERFORM credits.type_scale(credit_type);
	IF EXISTS (SELECT 1 FROM credits.credit_types t
			   WHERE t.code = credits_set_rate.credit_type
				 AND t.currency = credits_set_rate.currency) THEN
		RAISE EXCEPTION 'credit type "%" is monetary in %', credit_type, currency
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('One credit of type %s is one %s: it converts 1:1 without a rate.',
								  credit_type, currency);
	END IF;

	INSERT INTO credits.rate (currency, credit_type, credits_per_unit, effective_from)
	VALUES (credits_set_rate.currency, credits_set_rate.credit_type,
			credits_set_rate.credits_per_unit, credits_set_rate.effective_from)
	ON CONFLICT (currency, credit_type, effective_from) DO NOTHING
	RETURNING rate_id INTO id;
	IF id IS NOT NULL THEN
		RETURN id;
	END IF;

	-- A rate already starts at that instant.  Setting the same rate again
	-- is a harmless retry; a different one would rewrite what was in force.
	SELECT r.rate_id, r.credits_per_unit INTO id, old_rate
	FROM credits.rate r
	WHERE r.currency = credits_set_rate.currency
	  AND r.credit_type = credits_set_rate.credit_type
	  AND r.effective_from = credits_set_rate.effective_from;
	IF old_rate = credits_per_unit THEN
		RETURN id;
	END IF;
	RAISE EXCEPTION 'a rate from % to credit type "%" already takes effect at that time',
		currency, credit_type
		USING ERRCODE = 'invalid_parameter_value',
			  DETAIL = format('Rate %s (%s credits per %s) takes effect at %s.',
							  id, old_rate, currency, effective_from),
			  HINT = 'Rates are kept for audit: set the new rate with a later effective_from.';
END
$$;
COMMENT ON FUNCTION credits_set_rate(text, numeric, text, timestamptz) IS
	'sets how many credits one unit of a currency buys from effective_from on, ending the previous rate there; returns the rate id';

CREATE FUNCTION credits_rate(currency text, credit_type text DEFAULT 'CRD',
							 at timestamptz DEFAULT now())
RETURNS numeric
AS 'MODULE_PATHNAME', 'credits_rate'
LANGUAGE C STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_rate(text, text, timestamptz) IS
	'credits one unit of currency buys at a time (1 for a monetary type in its own currency); CR004 if no rate is in force';

CREATE FUNCTION credits_rates(currency text DEFAULT NULL,
							  credit_type text DEFAULT NULL)
RETURNS TABLE(rate_id bigint, currency text, credit_type text,
			  credits_per_unit numeric, effective_from timestamptz,
			  effective_to timestamptz, created_at timestamptz,
			  created_by text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT credits.check_access(NULL, 'agency');
	SELECT r.rate_id, r.currency, r.credit_type, r.credits_per_unit,
		   r.effective_from,
		   lead(r.effective_from) OVER (PARTITION BY r.currency, r.credit_type
										ORDER BY r.effective_from),
		   r.created_at, r.created_by
	FROM credits.rate r
	WHERE ($1 IS NULL OR r.currency = $1) AND ($2 IS NULL OR r.credit_type = $2)
	ORDER BY r.currency, r.credit_type, r.effective_from
$$;
COMMENT ON FUNCTION credits_rates(text, text) IS
	'the rate schedule: each rate with the instant it took effect and the instant the next one ended it (NULL: still in force)';

CREATE FUNCTION credits_convert(price numeric, currency text,
								credit_type text DEFAULT 'CRD',
								at timestamptz DEFAULT now())
RETURNS @extschema@.credit_amount
AS 'MODULE_PATHNAME', 'credits_convert'
LANGUAGE C STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_convert(numeric, text, text, timestamptz) IS
	'credits a price buys: price times the rate in force, computed exactly and rounded up to the credit type''s scale';

/*
 * Packages and volume tiers
 */
CREATE FUNCTION credits_define_package(name text, credits @extschema@.credit_amount,
									   currency text, price numeric,
									   credit_type text DEFAULT 'CRD',
									   expires_after interval DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	id bigint;
BEGIN
	IF name IS NULL OR credits IS NULL OR currency IS NULL OR price IS NULL
	   OR credit_type IS NULL THEN
		RAISE EXCEPTION '% must not be null',
			CASE WHEN name IS NULL THEN 'name'
				 WHEN credits IS NULL THEN 'credits'
				 WHEN currency IS NULL THEN 'currency'
				 WHEN price IS NULL THEN 'price'
				 ELSE 'credit_type' END
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM credits.check_access(NULL, 'agency');
	IF btrim(name) = '' THEN
		RAISE EXCEPTION 'package name must not be empty'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- Lock the type first: its scale holds until this transaction ends.
	PERFORM credits.lock_type(credit_type);
	PERFORM credits.check_credits(credits, credit_type, 'credits');
	PERFORM credits.check_money(price, 'price');
	IF trunc(price, credits.currency_minor_unit(currency)) <> price THEN
		RAISE EXCEPTION 'price % is finer than the minor unit of %', price, currency
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('%s counts in units of %s.', currency,
								  1::numeric / 10 ^ credits.currency_minor_unit(currency));
	END IF;
	-- No negative part: '1 month -29 days' would expire purchases made on
	-- January 31 before they are made.
	PERFORM credits.check_interval(expires_after, 'expires_after');

	INSERT INTO credits.package AS p (name, credit_type, credits, currency, price,
									  expires_after)
	VALUES (credits_define_package.name, credits_define_package.credit_type,
			credits_define_package.credits, credits_define_package.currency,
			credits_define_package.price, credits_define_package.expires_after)
	ON CONFLICT (name) DO UPDATE
		SET credit_type = excluded.credit_type, credits = excluded.credits,
			currency = excluded.currency, price = excluded.price,
			expires_after = excluded.expires_after, updated_at = now()
	RETURNING p.package_id INTO id;
	RETURN id;
END
$$;
COMMENT ON FUNCTION credits_define_package(text, @extschema@.credit_amount, text, numeric, text, interval) IS
	'defines a package clients buy (or updates the package of that name); returns the package id';

CREATE FUNCTION credits_packages()
RETURNS TABLE(package_id bigint, name text, credits @extschema@.credit_amount,
			  credit_type text, currency text, price numeric,
			  expires_after interval)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT credits.check_access(NULL, 'agency');
	SELECT p.package_id, p.name, p.credits, p.credit_type, p.currency, p.price,
		   p.expires_after
	FROM credits.package p ORDER BY p.name
$$;
COMMENT ON FUNCTION credits_packages() IS 'the packages clients can buy';

CREATE FUNCTION credits_define_price_tier(product text, min_quantity int,
										  unit_price numeric, currency text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	product_currency text;
BEGIN
	IF product IS NULL OR min_quantity IS NULL OR unit_price IS NULL
	   OR currency IS NULL THEN
		RAISE EXCEPTION '% must not be null',
			CASE WHEN product IS NULL THEN 'product'
				 WHEN min_quantity IS NULL THEN 'min_quantity'
				 WHEN unit_price IS NULL THEN 'unit_price'
				 ELSE 'currency' END
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM credits.check_access(NULL, 'agency');
	IF btrim(product) = '' THEN
		RAISE EXCEPTION 'product must not be empty'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF min_quantity < 1 THEN
		RAISE EXCEPTION 'min_quantity must be at least 1'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('The value given was %s.', min_quantity);
	END IF;
	PERFORM credits.check_money(unit_price, 'unit_price');
	PERFORM credits.currency_minor_unit(currency);

	INSERT INTO credits.product (product, currency)
	VALUES (credits_define_price_tier.product, credits_define_price_tier.currency)
	ON CONFLICT (product) DO NOTHING;
	-- Serializes definitions of one product's tiers.
	SELECT p.currency INTO product_currency FROM credits.product p
	WHERE p.product = credits_define_price_tier.product FOR UPDATE;
	IF product_currency <> currency THEN
		RAISE EXCEPTION 'product "%" is priced in %, not %', product,
			product_currency, currency
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'All tiers of a product share one currency.';
	END IF;

	INSERT INTO credits.price_tier AS t (product, min_quantity, unit_price, currency)
	VALUES (credits_define_price_tier.product, credits_define_price_tier.min_quantity,
			credits_define_price_tier.unit_price, credits_define_price_tier.currency)
	ON CONFLICT (product, min_quantity) DO UPDATE
		SET unit_price = excluded.unit_price, updated_at = now();
END
$$;
COMMENT ON FUNCTION credits_define_price_tier(text, int, numeric, text) IS
	'sets the unit price of a product from min_quantity up to the next tier (or changes that tier''s price)';

-- quantity (> 0) times the unit price of the highest tier whose
-- min_quantity <= quantity, and the product's currency; 42704 for an
-- unknown product or a quantity below its lowest tier.  Shared by
-- credits_price and credits_purchase_quantity (which a portal may call, so
-- this checks no access).
CREATE FUNCTION credits.tier_price(product text, quantity int,
								   OUT price numeric, OUT currency text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	lowest int;
BEGIN
	SELECT tier_price.quantity * t.unit_price, t.currency INTO price, currency
	FROM credits.price_tier t
	WHERE t.product = tier_price.product AND t.min_quantity <= tier_price.quantity
	ORDER BY t.min_quantity DESC LIMIT 1;
	IF FOUND THEN
		RETURN;
	END IF;
	SELECT min(t.min_quantity) INTO lowest FROM credits.price_tier t
	WHERE t.product = tier_price.product;
	IF lowest IS NULL THEN
		RAISE EXCEPTION 'product "%" does not exist', product
			USING ERRCODE = 'undefined_object',
				  HINT = 'Define its prices with credits_define_price_tier().';
	END IF;
	RAISE EXCEPTION 'no price tier of product "%" covers quantity %', product, quantity
		USING ERRCODE = 'undefined_object',
			  DETAIL = format('The lowest tier starts at %s.', lowest);
END
$$;
REVOKE ALL ON FUNCTION credits.tier_price(text, int) FROM PUBLIC;

CREATE FUNCTION credits_price(product text, quantity int)
RETURNS numeric
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
BEGIN
	IF product IS NULL OR quantity IS NULL THEN
		RAISE EXCEPTION '% must not be null',
			CASE WHEN product IS NULL THEN 'product' ELSE 'quantity' END
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF quantity <= 0 THEN
		RAISE EXCEPTION 'quantity must be greater than zero'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('The value given was %s.', quantity);
	END IF;
	PERFORM credits.check_access(NULL, 'agency');
	RETURN (credits.tier_price(product, quantity)).price;
END
$$;
COMMENT ON FUNCTION credits_price(text, int) IS
	'quantity times the unit price of the highest tier whose min_quantity is at most quantity';

CREATE FUNCTION credits_price_tiers(product text DEFAULT NULL)
RETURNS TABLE(product text, min_quantity int, max_quantity int,
			  unit_price numeric, currency text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT credits.check_access(NULL, 'agency');
	SELECT t.product, t.min_quantity,
		   lead(t.min_quantity) OVER (PARTITION BY t.product ORDER BY t.min_quantity) - 1,
		   t.unit_price, t.currency
	FROM credits.price_tier t
	WHERE $1 IS NULL OR t.product = $1
	ORDER BY t.product, t.min_quantity
$$;
COMMENT ON FUNCTION credits_price_tiers(text) IS
	'the volume price list: each tier with the quantities it covers (max_quantity NULL: no upper bound)';

/*
 * Purchases and credit requests.
 *
 * Lock order: a function that locks a credit request row and an account row
 * locks the request first, then the account (inside
 * credits.grant_purchased_lot), everywhere.
 */
-- The outbox event of a credit request's creation or decision.
CREATE FUNCTION credits.request_event(r credits.request, type text)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT credits.emit_event(r.account, type, 'credit_request', r.request_id::text,
		jsonb_build_object('request_id', r.request_id, 'account', r.account,
						   'package', r.package, 'credit_type', r.credit_type,
						   'credits', r.credits::numeric, 'amount', r.amount,
						   'currency', r.currency, 'method', r.method,
						   'reference', r.reference, 'status', r.status,
						   'lot_id', r.lot_id, 'decided_by', r.decided_by,
						   'reason', r.reason, 'product', r.product))
$$;
REVOKE ALL ON FUNCTION credits.request_event(credits.request, text) FROM PUBLIC;

-- What both purchase functions check first: the caller's access (a client
-- portal may ask for credits, a request the agency decides, but only the
-- agency's backend, once the processor has taken the payment, may record a
-- card or PayPal purchase), the account, the method.
CREATE FUNCTION credits.check_purchase(account text, method text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, credits, pg_temp
AS $$
BEGIN
	PERFORM credits.check_access(account,
		CASE WHEN method IN ('bank_transfer', 'crypto') THEN 'client' ELSE 'agency' END);
	IF account = '' THEN
		RAISE EXCEPTION 'account must not be empty'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF method NOT IN ('stripe', 'paypal', 'bank_transfer', 'crypto') THEN
		RAISE EXCEPTION 'invalid payment method "%"', method
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A method is stripe or paypal (credits granted at once), or bank_transfer or crypto (a credit request the agency accepts).';
	END IF;
END
$$;

-- A purchase's result row: the lot granted at once ('accepted') or the
-- pending request; recorded under the idempotency key when there is one.
CREATE FUNCTION credits.purchase_result(account text, key text,
										new_request_id bigint, new_lot_id bigint)
RETURNS TABLE(request_id bigint, lot_id bigint, status text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, credits, pg_temp
AS $$
DECLARE
	st text := CASE WHEN $4 IS NOT NULL THEN 'accepted' ELSE 'pending' END;
BEGIN
	IF $2 IS NOT NULL THEN
		PERFORM credits.idempotency_finish($1, $2, coalesce($3, $4),
			jsonb_build_object('request_id', $3, 'lot_id', $4, 'status', st));
	END IF;
	RETURN QUERY SELECT $3, $4, st;
END
$$;
REVOKE ALL ON FUNCTION credits.check_purchase(text, text),
	credits.purchase_result(text, text, bigint, bigint) FROM PUBLIC;

CREATE FUNCTION credits_purchase(account text, package text, method text,
								 reference text DEFAULT NULL,
								 idempotency_key text DEFAULT NULL)
RETURNS TABLE(request_id bigint, lot_id bigint, status text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	p credits.package%ROWTYPE;
	r credits.request%ROWTYPE;
	id bigint;
	earlier jsonb;
BEGIN
	IF account IS NULL OR package IS NULL OR method IS NULL THEN
		RAISE EXCEPTION '% must not be null',
			CASE WHEN account IS NULL THEN 'account'
				 WHEN package IS NULL THEN 'package' ELSE 'method' END
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM credits.check_purchase(account, method);
	-- A key is claimed before anything is bought: a second call with it
	-- waits for the first and returns the first's result row (see
	-- credits.idempotency_claim).
	IF idempotency_key IS NOT NULL THEN
		earlier := credits.idempotency_claim(account, idempotency_key, 'purchase',
			credits.idempotency_request(ARRAY['purchase', package, method, reference]));
		IF earlier IS NOT NULL THEN
			RETURN QUERY SELECT (earlier->>'request_id')::bigint, (earlier->>'lot_id')::bigint,
								earlier->>'status';
			RETURN;
		END IF;
	END IF;
	SELECT * INTO p FROM credits.package x WHERE x.name = credits_purchase.package;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'package "%" does not exist', package
			USING ERRCODE = 'undefined_object',
				  HINT = 'Define it with credits_define_package().';
	END IF;
	PERFORM credits.pricing_require_enabled('purchasing');

	IF method IN ('stripe', 'paypal') THEN
		id := credits.grant_purchased_lot(account, p.credits, p.credit_type,
										  now() + p.expires_after,
										  format('package "%s" bought with %s', p.name, method),
										  reference, p.price, p.currency);
		RETURN QUERY SELECT * FROM credits.purchase_result(account, idempotency_key, NULL, id);
		RETURN;
	END IF;

	INSERT INTO credits.request (account, package_id, package, credit_type, credits,
								 amount, currency, expires_after, method, reference)
	VALUES (credits_purchase.account, p.package_id, p.name, p.credit_type, p.credits,
			p.price, p.currency, p.expires_after, credits_purchase.method,
			credits_purchase.reference)
	RETURNING * INTO r;
	PERFORM credits.request_event(r, 'credit_request.created');
	RETURN QUERY SELECT * FROM credits.purchase_result(account, idempotency_key, r.request_id, NULL);
END
$$;
COMMENT ON FUNCTION credits_purchase(text, text, text, text, text) IS
	'buys a package: stripe/paypal grant the credits at once; bank_transfer/crypto create a pending credit request';

CREATE FUNCTION credits_purchase_quantity(account text, product text, quantity int,
										  method text, reference text DEFAULT NULL,
										  idempotency_key text DEFAULT NULL,
										  credit_type text DEFAULT 'CRD')
RETURNS TABLE(request_id bigint, lot_id bigint, status text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	cost numeric;			-- what the client pays: the volume price
	cost_currency text;
	r credits.request%ROWTYPE;
	id bigint;
	earlier jsonb;
BEGIN
	IF account IS NULL OR product IS NULL OR quantity IS NULL OR method IS NULL
	   OR credit_type IS NULL THEN
		RAISE EXCEPTION '% must not be null',
			CASE WHEN account IS NULL THEN 'account'
				 WHEN product IS NULL THEN 'product'
				 WHEN quantity IS NULL THEN 'quantity'
				 WHEN method IS NULL THEN 'method' ELSE 'credit_type' END
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM credits.check_purchase(account, method);
	IF quantity <= 0 THEN
		RAISE EXCEPTION 'quantity must be greater than zero'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('The value given was %s.', quantity);
	END IF;
	IF idempotency_key IS NOT NULL THEN
		earlier := credits.idempotency_claim(account, idempotency_key, 'purchase_quantity',
			credits.idempotency_request(ARRAY['purchase_quantity', product, quantity::text,
											  method, reference, credit_type]));
		IF earlier IS NOT NULL THEN
			RETURN QUERY SELECT (earlier->>'request_id')::bigint, (earlier->>'lot_id')::bigint,
								earlier->>'status';
			RETURN;
		END IF;
	END IF;
	SELECT t.price, t.currency INTO cost, cost_currency
	FROM credits.tier_price(product, quantity) t;
	-- What the client is charged: whole minor units of the currency.
	IF trunc(cost, credits.currency_minor_unit(cost_currency)) <> cost THEN
		RAISE EXCEPTION 'price % of % credits of product "%" is finer than the minor unit of %',
			cost, quantity, product, cost_currency
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('%s counts in units of %s.', cost_currency,
								  1::numeric / 10 ^ credits.currency_minor_unit(cost_currency)),
				  HINT = 'Buy another quantity, or give the product''s tiers unit prices that make whole amounts.';
	END IF;
	-- 42704 for an unknown type; the type's lock holds its scale until
	-- this transaction ends (a pending request of the type keeps it fixed).
	PERFORM credits.lock_type(credit_type);
	PERFORM credits.pricing_require_enabled('purchasing');

	IF method IN ('stripe', 'paypal') THEN
		id := credits.grant_purchased_lot(account, quantity::@extschema@.credit_amount,
										  credit_type, NULL,
										  format('product "%s" x %s bought with %s',
												 product, quantity, method),
										  reference, cost, cost_currency);
		RETURN QUERY SELECT * FROM credits.purchase_result(account, idempotency_key, NULL, id);
		RETURN;
	END IF;

	INSERT INTO credits.request (account, product, credit_type, credits, amount,
								 currency, method, reference)
	VALUES (credits_purchase_quantity.account, credits_purchase_quantity.product,
			credits_purchase_quantity.credit_type,
			credits_purchase_quantity.quantity::@extschema@.credit_amount, cost,
			cost_currency, credits_purchase_quantity.method,
			credits_purchase_quantity.reference)
	RETURNING * INTO r;
	PERFORM credits.request_event(r, 'credit_request.created');
	RETURN QUERY SELECT * FROM credits.purchase_result(account, idempotency_key, r.request_id, NULL);
END
$$;
COMMENT ON FUNCTION credits_purchase_quantity(text, text, int, text, text, text, text) IS
	'buys quantity credits of a product at its volume price (credits_price): stripe/paypal grant them at once with that price as cost basis; bank_transfer/crypto create a pending credit request';

-- The request row, locked (the first lock of the request-then-account
-- order), or 42704; CR005 unless it is pending.
CREATE FUNCTION credits.lock_pending_request(request_id bigint)
RETURNS credits.request
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, credits, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	r credits.request%ROWTYPE;
BEGIN
	IF request_id IS NULL THEN
		RAISE EXCEPTION 'request_id must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT * INTO r FROM credits.request x
	WHERE x.request_id = lock_pending_request.request_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'credit request % does not exist', request_id
			USING ERRCODE = 'undefined_object';
	END IF;
	IF r.status <> 'pending' THEN
		RAISE EXCEPTION 'credit request % is not pending', request_id
			USING ERRCODE = 'CR005',
				  DETAIL = format('It was already %s.', r.status);
	END IF;
	RETURN r;
END
$$;
REVOKE ALL ON FUNCTION credits.lock_pending_request(bigint) FROM PUBLIC;

CREATE FUNCTION credits_accept_request(request_id bigint,
									   decided_by text DEFAULT current_user)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	r credits.request%ROWTYPE;
	lot bigint;
BEGIN
	IF decided_by IS NULL THEN
		RAISE EXCEPTION 'decided_by must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM credits.check_access(NULL, 'agency');
	r := credits.lock_pending_request(request_id);
	lot := credits.grant_purchased_lot(r.account, r.credits, r.credit_type,
									   now() + r.expires_after,
									   CASE WHEN r.product IS NULL
											THEN format('credit request %s: package "%s" paid by %s',
														r.request_id, r.package, r.method)
											ELSE format('credit request %s: product "%s" x %s paid by %s',
														r.request_id, r.product, r.credits, r.method) END,
									   r.reference, r.amount, r.currency);
	UPDATE credits.request x
	SET status = 'accepted', decided_at = now(),
		decided_by = credits_accept_request.decided_by, lot_id = lot
	WHERE x.account = r.account AND x.request_id = r.request_id
	RETURNING * INTO r;
	PERFORM credits.request_event(r, 'credit_request.accepted');
	RETURN lot;
END
$$;
COMMENT ON FUNCTION credits_accept_request(bigint, text) IS
	'accepts a pending credit request: grants its credits with their cost basis; returns the lot id';

CREATE FUNCTION credits_reject_request(request_id bigint, reason text DEFAULT NULL,
									   decided_by text DEFAULT current_user)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	r credits.request%ROWTYPE;
BEGIN
	IF decided_by IS NULL THEN
		RAISE EXCEPTION 'decided_by must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM credits.check_access(NULL, 'agency');
	r := credits.lock_pending_request(request_id);
	UPDATE credits.request x
	SET status = 'rejected', decided_at = now(),
		decided_by = credits_reject_request.decided_by,
		reason = credits_reject_request.reason
	WHERE x.account = r.account AND x.request_id = r.request_id
	RETURNING * INTO r;
	PERFORM credits.request_event(r, 'credit_request.rejected');
END
$$;
COMMENT ON FUNCTION credits_reject_request(bigint, text, text) IS
	'declines a pending credit request, recording why; no credits';

-- PL/pgSQL cannot name a parameter and a result column alike, as
-- credits_requests() does; it wraps this.
CREATE FUNCTION credits.list_requests(for_account text, for_status text)
RETURNS TABLE(request_id bigint, account text, package text, credits @extschema@.credit_amount,
			  amount numeric, currency text, method text, status text,
			  created_at timestamptz, decided_at timestamptz,
			  reference text, decided_by text, reason text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
BEGIN
	-- A portal caller may list its own account's requests, and without an
	-- account sees only those.
	for_account := coalesce(for_account, credits.portal_scope());
	PERFORM credits.check_access(for_account, 'client');
	IF for_status NOT IN ('pending', 'accepted', 'rejected') THEN
		RAISE EXCEPTION 'invalid request status "%"', for_status
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A status is pending, accepted or rejected.';
	END IF;
	RETURN QUERY
		SELECT r.request_id, r.account, coalesce(r.package, r.product), r.credits,
			   r.amount, r.currency,
			   r.method, r.status, r.created_at, r.decided_at,
			   r.reference, r.decided_by, r.reason
		FROM credits.request r
		WHERE (for_account IS NULL OR r.account = for_account)
		  AND (for_status IS NULL OR r.status = for_status)
		ORDER BY r.request_id;
END
$$;
REVOKE ALL ON FUNCTION credits.list_requests(text, text) FROM PUBLIC;

CREATE FUNCTION credits_requests(account text DEFAULT NULL, status text DEFAULT NULL)
RETURNS TABLE(request_id bigint, account text, package text, credits @extschema@.credit_amount,
			  amount numeric, currency text, method text, status text,
			  created_at timestamptz, decided_at timestamptz,
			  reference text, decided_by text, reason text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$ SELECT * FROM credits.list_requests($1, $2) $$;
COMMENT ON FUNCTION credits_requests(text, text) IS
	'credit requests to review, oldest first (package: the package bought, or the product of a purchase by quantity), with the payment reference, who decided and why a request was rejected; NULL filters match every account (a client portal''s own) or status';

/*
 * Paying invoices
 */
CREATE FUNCTION credits_pay(account text, amount numeric, currency text,
							reference text, partial boolean DEFAULT false,
							credit_type text DEFAULT 'CRD',
							idempotency_key text DEFAULT NULL)
RETURNS TABLE(credits_applied @extschema@.credit_amount, amount_covered numeric,
			  amount_due numeric, entry_id bigint)
AS 'MODULE_PATHNAME', 'credits_pay'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_pay(text, numeric, text, text, boolean, text, text) IS
	'pays an invoice with credits, all or nothing (CR001) or partially; returns the credits applied, the money they cover, what is still due and the spend entry (NULL when nothing was applied)';

/*
 * Invariants of purchases, run by credits_verify().
 */
CREATE FUNCTION credits.verify_pricing()
RETURNS TABLE(check_name text, account text, detail text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
	-- An accepted request granted exactly one lot: its own credits, of its
	-- type, with its price as cost basis.
	SELECT 'request_lot_matches', r.account,
		   format('request %s (%s %s for %s %s): lot %s is %s',
				  r.request_id, r.credits, r.credit_type, r.amount, r.currency,
				  r.lot_id,
				  CASE WHEN l.lot_id IS NULL THEN 'missing'
					   ELSE format('%s %s for %s %s, source %s', l.amount,
								   l.credit_type, l.cost, l.cost_currency, l.source) END)
	FROM credits.request r
	LEFT JOIN credits.lot l ON l.account = r.account AND l.lot_id = r.lot_id
	WHERE r.status = 'accepted'
	  AND (l.lot_id IS NULL OR l.amount <> r.credits OR l.credit_type <> r.credit_type
		   OR l.cost IS DISTINCT FROM r.amount
		   OR l.cost_currency IS DISTINCT FROM r.currency
		   OR l.source <> 'purchase')
	UNION ALL
	-- Pending and rejected requests granted nothing.
	SELECT 'request_undecided_has_no_lot', r.account,
		   format('request %s is %s but has lot %s', r.request_id, r.status, r.lot_id)
	FROM credits.request r
	WHERE r.status <> 'accepted' AND r.lot_id IS NOT NULL
	UNION ALL
	-- No lot was granted for two requests.
	SELECT 'request_lot_unique', r.account,
		   format('lot %s was granted for %s requests', r.lot_id, count(*))
	FROM credits.request r
	WHERE r.lot_id IS NOT NULL
	GROUP BY r.account, r.lot_id
	HAVING count(*) > 1
	UNION ALL
	-- A purchased lot records what it cost.
	SELECT 'purchase_has_cost', l.account,
		   format('lot %s (source purchase) has cost %s %s', l.lot_id, l.cost,
				  l.cost_currency)
	FROM credits.lot l
	WHERE l.source = 'purchase'
	  AND (l.cost IS NULL OR l.cost_currency IS NULL OR l.cost < 0)
$$;
REVOKE ALL ON FUNCTION credits.verify_pricing() FROM PUBLIC;
/*
 * Lifecycle: rules and issuing for paid invoices, clawbacks, reversals,
 * voids, holds, subscriptions and the due-work runner.
 *
 * Lock order (everywhere): the account row of (account, credit type) first;
 * then, under it, the invoice reference (advisory lock, credits_issue) or
 * the account's subscription rows (FOR UPDATE, by id).  Holds, issues and
 * subscriptions are found by id without a lock, their account is locked,
 * and they are read again: they only change under their account's lock.
 */

-- Rules: how many credits a paid invoice of a service (and variant) issues.
CREATE SEQUENCE credits.rule_id_seq;
CREATE TABLE credits.rule (
	rule_id		bigint NOT NULL DEFAULT nextval('credits.rule_id_seq') PRIMARY KEY,
	service		text NOT NULL,
	variant		text,
	credits		@extschema@.credit_amount NOT NULL CHECK (credits > 0),
	mode		text NOT NULL CHECK (mode IN ('add', 'reset')),
	credit_type	text NOT NULL,
	expires_after interval,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT rule_service_variant_key UNIQUE NULLS NOT DISTINCT (service, variant)
);
ALTER SEQUENCE credits.rule_id_seq OWNED BY credits.rule.rule_id;

-- Invoices that issued credits: one row per invoice reference.
CREATE TABLE credits.issue (
	account		text NOT NULL,
	reference	text NOT NULL,
	credit_type	text NOT NULL,
	service		text NOT NULL,
	variant		text,
	quantity	int NOT NULL CHECK (quantity > 0),
	rule_id		bigint NOT NULL,
	credits		@extschema@.credit_amount NOT NULL CHECK (credits > 0),
	lot_id		bigint NOT NULL,
	reset_entry_id bigint,			-- the forfeited balance (mode reset)
	issued_at	timestamptz NOT NULL DEFAULT now(),
	clawback_entry_id bigint,		-- set once, by credits_clawback()
	deducted	@extschema@.credit_amount,
	shortfall	@extschema@.credit_amount,
	clawed_back_at timestamptz,
	-- The part of the shortfall not yet settled by credits that came back
	-- to the account since (NULL: none): each settlement is a clawback
	-- entry related to clawback_entry_id.
	shortfall_due @extschema@.credit_amount,
	PRIMARY KEY (account, reference),
	CHECK ((clawback_entry_id IS NULL) = (clawed_back_at IS NULL)),
	CHECK (clawback_entry_id IS NULL OR deducted + shortfall = credits),
	CONSTRAINT issue_shortfall_due_check
		CHECK (shortfall_due IS NULL OR (shortfall_due > 0 AND shortfall_due <= shortfall))
);
CREATE INDEX issue_by_reference ON credits.issue (reference);
-- The account's outstanding shortfalls: looked up whenever credits come
-- back (a release, a reversal), and nearly always empty.
CREATE INDEX issue_shortfall_due ON credits.issue (account, credit_type)
	WHERE shortfall_due IS NOT NULL;

-- The latest reset of an (account, credit type): it forfeited every lot up
-- to lots_upto, so credits that come back to those lots later (a released
-- hold, a reversed spend) are forfeited at once too.
CREATE TABLE credits.account_reset (
	account		text NOT NULL,
	credit_type	text NOT NULL,
	lots_upto	bigint NOT NULL,
	reset_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (account, credit_type)
);

-- Holds: credits reserved from lots until captured or released.
CREATE SEQUENCE credits.hold_id_seq;
CREATE TABLE credits.hold (
	account		text NOT NULL,
	hold_id		bigint NOT NULL,
	credit_type	text NOT NULL,
	amount		@extschema@.credit_amount NOT NULL CHECK (amount > 0),
	reference	text NOT NULL,
	status		text NOT NULL DEFAULT 'open'
				CHECK (status IN ('open', 'captured', 'released')),
	captured	@extschema@.credit_amount NOT NULL DEFAULT 0,
	hold_entry_id bigint NOT NULL,
	release_entry_id bigint,
	capture_entry_id bigint,
	created_at	timestamptz NOT NULL DEFAULT now(),
	closed_at	timestamptz,
	PRIMARY KEY (account, hold_id),
	CHECK (captured >= 0 AND captured <= amount),
	CHECK ((status = 'open') = (closed_at IS NULL)),
	CHECK ((status = 'captured') = (capture_entry_id IS NOT NULL))
);
ALTER SEQUENCE credits.hold_id_seq OWNED BY credits.hold.hold_id;
CREATE INDEX hold_by_id ON credits.hold (hold_id);

-- Subscriptions: credits granted (credits) or a service paid (service,
-- price) every period.  Period n starts at starts_at + n * every, counted
-- on the wall clock of the zone time_zone (credits.period_start);
-- next_period is the first period not yet processed.  failure: why the
-- last renewal failed with an error (period, period_starts_at, sqlstate,
-- message, at), NULL once a renewal succeeds.
CREATE SEQUENCE credits.subscription_id_seq;
CREATE TABLE credits.subscription (
	account		text NOT NULL,
	subscription_id bigint NOT NULL DEFAULT nextval('credits.subscription_id_seq'),
	credit_type	text NOT NULL,
	credits		@extschema@.credit_amount CHECK (credits > 0),
	service		text,
	price		@extschema@.credit_amount CHECK (price > 0),
	every		interval NOT NULL,
	mode		text NOT NULL CHECK (mode IN ('add', 'reset')),
	expires_after interval,
	starts_at	timestamptz NOT NULL,
	time_zone	text NOT NULL,
	next_period	bigint NOT NULL DEFAULT 0 CHECK (next_period >= 0),
	next_period_at timestamptz NOT NULL,
	status		text NOT NULL DEFAULT 'active'
				CHECK (status IN ('active', 'past_due', 'cancelled')),
	created_at	timestamptz NOT NULL DEFAULT now(),
	cancelled_at timestamptz,
	failure		jsonb,
	PRIMARY KEY (account, subscription_id),
	CHECK ((credits IS NULL) <> (service IS NULL)),
	CHECK ((service IS NULL) = (price IS NULL)),
	CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL))
);
ALTER SEQUENCE credits.subscription_id_seq OWNED BY credits.subscription.subscription_id;
CREATE INDEX subscription_by_id ON credits.subscription (subscription_id);
CREATE INDEX subscription_due ON credits.subscription (next_period_at)
	WHERE status <> 'cancelled';

-- One row per processed period: the primary key makes "each period
-- exactly once" a property of the schema.  Append-only.
CREATE TABLE credits.subscription_period (
	account		text NOT NULL,
	subscription_id bigint NOT NULL,
	period		bigint NOT NULL CHECK (period >= 0),
	starts_at	timestamptz NOT NULL,
	outcome		text NOT NULL CHECK (outcome IN ('granted', 'paid', 'failed')),
	lot_id		bigint,			-- the lot granted
	entry_id	bigint,			-- the spend that paid it
	processed_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (account, subscription_id, period),
	CHECK ((outcome = 'granted') = (lot_id IS NOT NULL)),
	CHECK ((outcome = 'paid') = (entry_id IS NOT NULL))
);
CREATE TRIGGER subscription_period_append_only BEFORE UPDATE OR DELETE ON credits.subscription_period
	FOR EACH ROW EXECUTE FUNCTION credits.refuse_change();
CREATE TRIGGER subscription_period_no_truncate BEFORE TRUNCATE ON credits.subscription_period
	FOR EACH STATEMENT EXECUTE FUNCTION credits.refuse_change();
ALTER TABLE credits.subscription_period ENABLE ALWAYS TRIGGER subscription_period_append_only;
ALTER TABLE credits.subscription_period ENABLE ALWAYS TRIGGER subscription_period_no_truncate;

-- A spend (or capture) is reversed at most once, enforced by the schema.
CREATE UNIQUE INDEX entry_reversed_once ON credits.entry (account, related_id)
	WHERE kind = 'reversal';

SELECT pg_catalog.pg_extension_config_dump('credits.rule', '');
SELECT pg_catalog.pg_extension_config_dump('credits.issue', '');
SELECT pg_catalog.pg_extension_config_dump('credits.account_reset', '');
SELECT pg_catalog.pg_extension_config_dump('credits.hold', '');
SELECT pg_catalog.pg_extension_config_dump('credits.subscription', '');
SELECT pg_catalog.pg_extension_config_dump('credits.subscription_period', '');
SELECT pg_catalog.pg_extension_config_dump('credits.rule_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('credits.hold_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('credits.subscription_id_seq', '');

REVOKE ALL ON credits.rule, credits.issue, credits.account_reset, credits.hold, credits.subscription,
	credits.subscription_period FROM PUBLIC;
REVOKE ALL ON SEQUENCE credits.rule_id_seq, credits.hold_id_seq,
	credits.subscription_id_seq FROM PUBLIC;

-- 22023 unless the interval moves time forward (no negative field, not 0).
CREATE FUNCTION credits.check_interval(value interval, what text) RETURNS void
AS 'MODULE_PATHNAME', 'credits_check_interval_sql'
LANGUAGE C IMMUTABLE;
REVOKE ALL ON FUNCTION credits.check_interval(interval, text) FROM PUBLIC;

-- The start of period n of a subscription: starts_at's wall-clock time in
-- the zone time_zone plus n * every, read back in that zone (a zone name,
-- never an abbreviation: 'CET' follows the zone's summer time).
CREATE FUNCTION credits.period_start(starts_at timestamptz, every interval, period bigint,
									 time_zone text)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'credits_period_start_sql'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
REVOKE ALL ON FUNCTION credits.period_start(timestamptz, interval, bigint, text) FROM PUBLIC;

/*
 * Corrections
 */
CREATE FUNCTION credits_void(lot_id bigint, reason text)
RETURNS @extschema@.credit_amount
AS 'MODULE_PATHNAME', 'credits_void'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_void(bigint, text) IS
	'removes what is left of a lot now (spent credits stay spent); returns the amount; twice is CR005';

CREATE FUNCTION credits_reverse(entry_id bigint, reason text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_reverse'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_reverse(bigint, text) IS
	'gives a spend''s or capture''s credits back to the lots they came from, once (CR005); returns the reversal entry id';

/*
 * Rules and issuing
 */
CREATE FUNCTION credits_define_rule(service text, credits @extschema@.credit_amount, mode text,
									variant text DEFAULT NULL,
									credit_type text DEFAULT 'CRD',
									expires_after interval DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
DECLARE
	s int;
	id bigint;
BEGIN
	IF service IS NULL OR credits IS NULL OR mode IS NULL OR credit_type IS NULL THEN
		RAISE EXCEPTION '% must not be null',
			CASE WHEN service IS NULL THEN 'service' WHEN credits IS NULL THEN 'credits'
				 WHEN mode IS NULL THEN 'mode' ELSE 'credit_type' END
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF btrim(service) = '' OR btrim(variant) = '' THEN
		RAISE EXCEPTION '% must not be empty', CASE WHEN btrim(service) = '' THEN 'service' ELSE 'variant' END
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	PERFORM credits.check_access(NULL, 'agency');
	IF credits <= 0 THEN
		RAISE EXCEPTION 'credits must be greater than zero'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('The value given was %s.', credits);
	END IF;
	IF mode NOT IN ('add', 'reset') THEN
		RAISE EXCEPTION 'invalid mode "%"', mode
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'The mode is "add" (credits accumulate) or "reset" (the unused balance is replaced).';
	END IF;
	-- Locks the type: its scale holds until this transaction ends.
	s := credits.lock_type(credit_type);
	IF credits::numeric * 10 ^ s <> trunc(credits::numeric * 10 ^ s) THEN
		RAISE EXCEPTION 'credits % is finer than the scale of credit type "%"', credits, credit_type
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	PERFORM credits.check_interval(expires_after, 'expires_after');

	INSERT INTO credits.rule AS r (service, variant, credits, mode, credit_type, expires_after)
	VALUES (credits_define_rule.service, credits_define_rule.variant, credits_define_rule.credits,
			credits_define_rule.mode, credits_define_rule.credit_type, credits_define_rule.expires_after)
	ON CONFLICT ON CONSTRAINT rule_service_variant_key DO UPDATE
		SET credits = excluded.credits, mode = excluded.mode,
			credit_type = excluded.credit_type, expires_after = excluded.expires_after,
			updated_at = now()
	RETURNING r.rule_id INTO id;
	RETURN id;
END
$$;
COMMENT ON FUNCTION credits_define_rule(text, @extschema@.credit_amount, text, text, text, interval) IS
	'how many credits a paid invoice of a service (and variant) issues, add or reset; defining it again replaces it; returns the rule id';

CREATE FUNCTION credits_issue(account text, service text, reference text,
							  variant text DEFAULT NULL, quantity int DEFAULT 1)
RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_issue'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_issue(text, text, text, text, int) IS
	'applies the rule of a service for the paid invoice reference, once per reference; returns the lot id';

CREATE FUNCTION credits_clawback(reference text)
RETURNS TABLE(deducted @extschema@.credit_amount, shortfall @extschema@.credit_amount)
AS 'MODULE_PATHNAME', 'credits_clawback'
LANGUAGE C VOLATILE SECURITY DEFINER ROWS 1
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_clawback(text) IS
	'deducts what a refunded invoice issued, never below zero; returns what was deducted and the shortfall (settled later by credits that come back to the account); once';

CREATE FUNCTION credits_rules(service text DEFAULT NULL)
RETURNS TABLE(rule_id bigint, service text, variant text, credits @extschema@.credit_amount,
			  mode text, credit_type text, expires_after interval)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT credits.check_access(NULL, 'agency');
	SELECT r.rule_id, r.service, r.variant, r.credits, r.mode, r.credit_type, r.expires_after
	FROM credits.rule r
	WHERE credits_rules.service IS NULL OR r.service = credits_rules.service
	ORDER BY r.service, r.variant NULLS FIRST
$$;
COMMENT ON FUNCTION credits_rules(text) IS
	'the rules, optionally of one service: what a paid invoice of each service (and variant) issues';

CREATE FUNCTION credits_invoices(account text DEFAULT NULL, reference text DEFAULT NULL)
RETURNS TABLE(reference text, account text, service text, variant text, quantity int,
			  credit_type text, credits @extschema@.credit_amount, lot_id bigint,
			  issued_at timestamptz, deducted @extschema@.credit_amount,
			  shortfall @extschema@.credit_amount, clawed_back_at timestamptz,
			  shortfall_due @extschema@.credit_amount)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT credits.check_access(NULL, 'agency');
	SELECT i.reference, i.account, i.service, i.variant, i.quantity, i.credit_type,
		   i.credits, i.lot_id, i.issued_at, i.deducted, i.shortfall, i.clawed_back_at,
		   coalesce(i.shortfall_due, CASE WHEN i.clawback_entry_id IS NOT NULL
										  THEN '0'::@extschema@.credit_amount END)
	FROM credits.issue i
	WHERE (credits_invoices.account IS NULL OR i.account = credits_invoices.account)
	  AND (credits_invoices.reference IS NULL OR i.reference = credits_invoices.reference)
	ORDER BY i.issued_at, i.reference
$$;
COMMENT ON FUNCTION credits_invoices(text, text) IS
	'invoices that issued credits, optionally of one account or reference: what each issued, what its clawback deducted and how much of the shortfall is still due';

/*
 * Trigger function for the application's own invoices table: when a row
 * becomes paid, credits_issue() runs in the same transaction.  Arguments are
 * name=value pairs naming the table's columns:
 *   account=<col> (default account), service=<col> (default service),
 *   reference=<col> (default reference), variant=<col> (default none),
 *   quantity=<col> (default none: 1), paid_column=<col> (default status),
 *   paid_value=<text> (default paid), refunded_value=<text> (default none).
 *   missing_rule=skip|error (default skip).
 * A row is paid when paid_column's text equals paid_value; an empty
 * paid_column issues on every firing (let the trigger's WHEN clause
 * decide).  A paid row whose paid_column becomes refunded_value is clawed
 * back.  An invoice of a service without a rule is an ordinary invoice:
 * it issues nothing and its refund claws nothing back, without error;
 * missing_rule=error makes both 42704 (credits_issue's and
 * credits_clawback's own errors), failing the invoice's change.
 */
CREATE FUNCTION credits_issue_trigger() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, credits, pg_temp
AS $$
DECLARE
	opt jsonb := '{"account": "account", "service": "service", "reference": "reference",
				   "paid_column": "status", "paid_value": "paid", "missing_rule": "skip"}';
	arg text;
	col text;
	new_row jsonb;
	paid_now boolean;
	paid_before boolean := false;
BEGIN
	IF TG_LEVEL <> 'ROW' OR TG_WHEN <> 'AFTER' OR TG_OP NOT IN ('INSERT', 'UPDATE') THEN
		RAISE EXCEPTION 'credits_issue_trigger() must be fired AFTER INSERT OR UPDATE FOR EACH ROW'
			USING ERRCODE = 'triggered_action_exception';
	END IF;
	-- Issuing is the agency's: a client portal may not fire this trigger at
	-- all, even for a row that issues nothing (the functions it calls check
	-- again).  It runs as the role that writes the invoice, which cannot
	-- reach credits.check_access(); credits_enabled() is SECURITY DEFINER,
	-- agency-only and has no effect, so it makes the same check (42501).
	PERFORM @extschema@.credits_enabled();
	IF TG_NARGS > 0 THEN
		FOREACH arg IN ARRAY TG_ARGV LOOP
			col := split_part(arg, '=', 1);
			IF strpos(arg, '=') = 0 OR col NOT IN ('account', 'service', 'reference', 'variant',
					'quantity', 'paid_column', 'paid_value', 'refunded_value', 'missing_rule') THEN
				RAISE EXCEPTION 'invalid credits_issue_trigger() argument "%"', arg
					USING ERRCODE = 'invalid_parameter_value',
						  HINT = 'Arguments are name=value pairs; the names are account, service, reference, variant, quantity, paid_column, paid_value, refunded_value and missing_rule.';
			END IF;
			opt := opt || jsonb_build_object(col, substr(arg, strpos(arg, '=') + 1));
		END LOOP;
		IF opt->>'missing_rule' NOT IN ('skip', 'error') THEN
			RAISE EXCEPTION 'invalid credits_issue_trigger() argument "missing_rule=%"', opt->>'missing_rule'
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'missing_rule is skip (an invoice of a service without a rule issues nothing) or error (42704).';
		END IF;
	END IF;

	new_row := to_jsonb(NEW);
	FOREACH col IN ARRAY ARRAY['account', 'service', 'reference', 'variant', 'quantity', 'paid_column'] LOOP
		IF opt->>col <> '' AND NOT new_row ? (opt->>col) THEN
			RAISE EXCEPTION 'column "%" of relation "%" does not exist', opt->>col, TG_TABLE_NAME
				USING ERRCODE = 'undefined_column',
					  HINT = format('Name the column that holds the %s with the trigger argument ''%s=<column>''.', col, col);
		END IF;
	END LOOP;

	IF opt->>'paid_column' = '' THEN
		paid_now := true;
	ELSE
		paid_now := coalesce(new_row->>(opt->>'paid_column') = opt->>'paid_value', false);
		IF TG_OP = 'UPDATE' THEN
			paid_before := coalesce(to_jsonb(OLD)->>(opt->>'paid_column') = opt->>'paid_value', false);
		END IF;
	END IF;

	IF paid_now AND NOT paid_before THEN
		-- An ordinary invoice (no rule for its service, or no service at
		-- all) issues nothing.  Rules are never deleted, so one seen here
		-- is still there for credits_issue().
		IF opt->>'missing_rule' = 'skip' AND NOT EXISTS (
				SELECT FROM @extschema@.credits_rules(new_row->>(opt->>'service')) r
				WHERE new_row->>(opt->>'service') IS NOT NULL
				  AND (r.variant IS NULL
					   OR r.variant = CASE WHEN opt ? 'variant' THEN new_row->>(opt->>'variant') END)) THEN
			RETURN NULL;
		END IF;
		PERFORM @extschema@.credits_issue(
			account => new_row->>(opt->>'account'),
			service => new_row->>(opt->>'service'),
			reference => new_row->>(opt->>'reference'),
			variant => CASE WHEN opt ? 'variant' THEN new_row->>(opt->>'variant') END,
			quantity => CASE WHEN opt ? 'quantity' THEN (new_row->>(opt->>'quantity'))::int ELSE 1 END);
	ELSIF paid_before AND opt ? 'refunded_value'
		  AND new_row->>(opt->>'paid_column') = opt->>'refunded_value' THEN
		-- Only an invoice that issued credits has something to claw back.
		IF opt->>'missing_rule' = 'error' OR EXISTS (
				SELECT FROM @extschema@.credits_invoices(NULL::text, new_row->>(opt->>'reference'))
				WHERE new_row->>(opt->>'reference') IS NOT NULL) THEN
			PERFORM @extschema@.credits_clawback(reference => new_row->>(opt->>'reference'));
		END IF;
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION credits_issue_trigger() IS
	'AFTER INSERT OR UPDATE row trigger for an invoices table: issues credits when a row becomes paid (and claws back when it becomes refunded), in the same transaction; an invoice of a service without a rule issues nothing';

/*
 * Holds
 */
CREATE FUNCTION credits_hold(account text, amount @extschema@.credit_amount, reference text,
							 credit_type text DEFAULT 'CRD',
							 idempotency_key text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_hold'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_hold(text, @extschema@.credit_amount, text, text, text) IS
	'reserves credits soonest-expiring first: they leave the available balance at once (CR001 if not enough); returns the hold id';

CREATE FUNCTION credits_capture(hold_id bigint, amount @extschema@.credit_amount DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_capture'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_capture(bigint, @extschema@.credit_amount) IS
	'spends all (or amount) of a hold, releasing the rest; once (CR005); returns the capture entry id';

CREATE FUNCTION credits_release(hold_id bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'credits_release'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_release(bigint) IS
	'gives held credits back to their lots (those of expired or voided lots leave again at once); once (CR005)';

CREATE FUNCTION credits_holds(account text DEFAULT NULL, status text DEFAULT NULL)
RETURNS TABLE(hold_id bigint, account text, credit_type text, amount @extschema@.credit_amount,
			  captured @extschema@.credit_amount, reference text, status text,
			  created_at timestamptz, closed_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT credits.check_access(NULL, 'agency');
	SELECT h.hold_id, h.account, h.credit_type, h.amount, h.captured, h.reference,
		   h.status, h.created_at, h.closed_at
	FROM credits.hold h
	WHERE (credits_holds.account IS NULL OR h.account = credits_holds.account)
	  AND (credits_holds.status IS NULL OR h.status = credits_holds.status)
	ORDER BY h.hold_id
$$;
COMMENT ON FUNCTION credits_holds(text, text) IS
	'holds, optionally of one account and/or status (open, captured, released)';

/*
 * Subscriptions and due work
 */
CREATE FUNCTION credits_subscribe(account text, credits @extschema@.credit_amount, every interval,
								  mode text DEFAULT 'add',
								  credit_type text DEFAULT 'CRD',
								  starts_at timestamptz DEFAULT now(),
								  expires_after interval DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_subscribe'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_subscribe(text, @extschema@.credit_amount, interval, text, text, timestamptz, interval) IS
	'grants credits every period (add or reset), the first at once when it has started; returns the subscription id';

CREATE FUNCTION credits_subscribe_service(account text, service text, price @extschema@.credit_amount,
										  every interval,
										  credit_type text DEFAULT 'CRD',
										  starts_at timestamptz DEFAULT now())
RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_subscribe_service'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_subscribe_service(text, text, @extschema@.credit_amount, interval, text, timestamptz) IS
	'buys a service priced in credits: the first period is paid at once (CR001), later ones renew from the balance or go past_due; returns the subscription id';

CREATE FUNCTION credits_cancel_subscription(subscription_id bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'credits_cancel_subscription'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_cancel_subscription(bigint) IS
	'no further renewals; cancelling twice is CR005';

-- mode is that of a credit subscription (add or reset); a service
-- subscription has none (NULL), as it has no credits.
CREATE FUNCTION credits_subscriptions(account text DEFAULT NULL)
RETURNS TABLE(subscription_id bigint, account text, credit_type text,
			  credits @extschema@.credit_amount, service text, price @extschema@.credit_amount,
			  every interval, mode text, status text, starts_at timestamptz,
			  periods bigint, next_renewal_at timestamptz, cancelled_at timestamptz,
			  failure jsonb)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT credits.check_access(NULL, 'agency');
	SELECT s.subscription_id, s.account, s.credit_type, s.credits, s.service, s.price,
		   s.every, CASE WHEN s.service IS NULL THEN s.mode END, s.status, s.starts_at,
		   s.next_period, CASE WHEN s.status <> 'cancelled' THEN s.next_period_at END,
		   s.cancelled_at, s.failure
	FROM credits.subscription s
	WHERE credits_subscriptions.account IS NULL OR s.account = credits_subscriptions.account
	ORDER BY s.subscription_id
$$;
COMMENT ON FUNCTION credits_subscriptions(text) IS
	'subscriptions, optionally of one account: status (active, past_due, cancelled), periods processed, next renewal, the error of a failed renewal';

CREATE FUNCTION credits_run_due(as_of timestamptz DEFAULT now())
RETURNS TABLE(renewed bigint, failed bigint, expired bigint)
AS 'MODULE_PATHNAME', 'credits_run_due'
LANGUAGE C VOLATILE SECURITY DEFINER ROWS 1
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_run_due(timestamptz) IS
	'performs every renewal whose period starts by as_of (at most now; each period once) and expires lots due by now, passing over locked accounts and isolating failed renewals; safe to run every minute';

/*
 * Lifecycle invariants, run by credits_verify().
 */
CREATE FUNCTION credits.verify_lifecycle()
RETURNS TABLE(check_name text, account text, detail text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
BEGIN
	-- account.held is the sum of the account's open holds.
	RETURN QUERY
	SELECT 'held_matches_open_holds', a.account,
		   format('type %s: held %s, open holds total %s', a.credit_type, a.held,
				  coalesce(h.total, 0))
	FROM credits.account a
	LEFT JOIN (SELECT x.account, x.credit_type, sum(x.amount) AS total
			   FROM credits.hold x WHERE x.status = 'open' GROUP BY 1, 2) h
		ON h.account = a.account AND h.credit_type = a.credit_type
	WHERE a.held <> coalesce(h.total, 0);

	-- Every hold has its hold entry; a released hold one release of the whole
	-- hold; a captured hold that release and one capture of what it captured;
	-- an open hold neither.
	RETURN QUERY
	SELECT 'hold_entries', h.account,
		   format('hold %s (%s, %s of %s captured): hold %s/%s, release %s/%s, capture %s/%s',
				  h.hold_id, h.status, h.captured, h.amount,
				  coalesce(e.n_hold, 0), e.a_hold, coalesce(e.n_release, 0), e.a_release,
				  coalesce(e.n_capture, 0), e.a_capture)
	FROM credits.hold h
	LEFT JOIN (SELECT x.account, x.related_id,
					  count(*) FILTER (WHERE x.kind = 'hold') AS n_hold,
					  sum(x.amount) FILTER (WHERE x.kind = 'hold') AS a_hold,
					  count(*) FILTER (WHERE x.kind = 'release') AS n_release,
					  sum(x.amount) FILTER (WHERE x.kind = 'release') AS a_release,
					  count(*) FILTER (WHERE x.kind = 'capture') AS n_capture,
					  sum(x.amount) FILTER (WHERE x.kind = 'capture') AS a_capture
			   FROM credits.entry x WHERE x.kind IN ('hold', 'release', 'capture')
			   GROUP BY 1, 2) e
		ON e.account = h.account AND e.related_id = h.hold_id
	WHERE NOT coalesce(e.n_hold = 1 AND e.a_hold = h.amount AND CASE h.status
			WHEN 'open' THEN e.n_release = 0 AND e.n_capture = 0
			WHEN 'released' THEN e.n_release = 1 AND e.a_release = h.amount AND e.n_capture = 0
			ELSE e.n_release = 1 AND e.a_release = h.amount AND e.n_capture = 1
				 AND e.a_capture = h.captured END, false);

	-- A release gives back exactly what its hold took, lot by lot; a capture
	-- takes only from what its hold took.
	RETURN QUERY
	SELECT 'hold_lots', h.account,
		   format('hold %s: lot %s held %s, released %s', h.hold_id, x.lot_id,
				  x.held, x.released)
	FROM credits.hold h
	CROSS JOIN LATERAL (
		SELECT lot_id, a.amount AS held, b.amount AS released
		FROM (SELECT y.lot_id, y.amount FROM credits.allocation y
			  WHERE y.account = h.account AND y.entry_id = h.hold_entry_id) a
		FULL JOIN (SELECT y.lot_id, y.amount FROM credits.allocation y
				   WHERE y.account = h.account AND y.entry_id = h.release_entry_id) b
			USING (lot_id)) x
	WHERE h.status <> 'open' AND x.held IS DISTINCT FROM x.released;
	RETURN QUERY
	SELECT 'capture_within_hold', h.account,
		   format('hold %s: lot %s held %s, captured %s', h.hold_id, c.lot_id,
				  a.amount, c.amount)
	FROM credits.hold h
	JOIN credits.allocation c ON c.account = h.account AND c.entry_id = h.capture_entry_id
	LEFT JOIN credits.allocation a ON a.account = h.account AND a.entry_id = h.hold_entry_id
		AND a.lot_id = c.lot_id
	WHERE a.amount IS NULL OR c.amount > a.amount;

	-- A reversal reverses a spend or capture of its account and type, gives
	-- back exactly what that entry took, lot by lot, and is its only one.
	RETURN QUERY
	SELECT 'reversal_matches_entry', r.account,
		   format('reversal %s of entry %s (%s): %s given back, %s taken',
				  r.entry_id, r.related_id, coalesce(s.kind, 'missing'), r.amount, s.amount)
	FROM credits.entry r
	LEFT JOIN credits.entry s ON s.account = r.account AND s.entry_id = r.related_id
	WHERE r.kind = 'reversal'
	  AND (s.entry_id IS NULL OR s.kind NOT IN ('spend', 'capture') OR s.amount <> r.amount
		   OR s.credit_type <> r.credit_type
		   OR EXISTS (SELECT 1
					  FROM (SELECT y.lot_id, y.amount FROM credits.allocation y
							WHERE y.account = r.account AND y.entry_id = r.entry_id) ra
					  FULL JOIN (SELECT y.lot_id, y.amount FROM credits.allocation y
								 WHERE y.account = s.account AND y.entry_id = s.entry_id) sa
						USING (lot_id)
					  WHERE ra.amount IS DISTINCT FROM sa.amount));
	RETURN QUERY
	SELECT 'reversed_once', r.account,
		   format('entry %s has %s reversals', r.related_id, count(*))
	FROM credits.entry r
	WHERE r.kind = 'reversal'
	GROUP BY r.account, r.related_id
	HAVING count(*) > 1;

	-- An invoice reference issues credits to one account, once: its lot is
	-- a grant of the issued credits with that reference.
	RETURN QUERY
	SELECT 'issued_once', i.account,
		   format('invoice %s: issued to %s accounts', i.reference,
				  count(*) OVER (PARTITION BY i.reference))
	FROM credits.issue i
	WHERE EXISTS (SELECT 1 FROM credits.issue j
				  WHERE j.reference = i.reference AND j.account <> i.account);
	RETURN QUERY
	SELECT 'issue_lot', i.account,
		   format('invoice %s: lot %s of %s (source %s, reference %s), issued %s',
				  i.reference, i.lot_id, l.amount, l.source, l.reference, i.credits)
	FROM credits.issue i
	LEFT JOIN credits.lot l ON l.account = i.account AND l.lot_id = i.lot_id
	WHERE l.lot_id IS NULL OR l.amount <> i.credits OR l.source <> 'issue'
	   OR l.reference IS DISTINCT FROM i.reference OR l.credit_type <> i.credit_type;

	-- A clawed-back invoice has one clawback entry of what was deducted,
	-- recording the shortfall; deducted + shortfall = issued.
	RETURN QUERY
	SELECT 'clawback_entry', i.account,
		   format('invoice %s: issued %s, deducted %s, shortfall %s; entry %s (%s %s, shortfall %s)',
				  i.reference, i.credits, i.deducted, i.shortfall, i.clawback_entry_id,
				  e.kind, e.amount, e.shortfall)
	FROM credits.issue i
	LEFT JOIN credits.entry e ON e.account = i.account AND e.entry_id = i.clawback_entry_id
	WHERE i.clawback_entry_id IS NOT NULL
	  AND (e.entry_id IS NULL OR e.kind <> 'clawback' OR e.amount <> i.deducted
		   OR e.shortfall IS DISTINCT FROM i.shortfall OR e.reference IS DISTINCT FROM i.reference);
	RETURN QUERY
	SELECT 'clawback_once', e.account,
		   format('invoice %s: %s clawback entries, issue records entry %s',
				  e.reference, count(*), max(i.clawback_entry_id))
	FROM credits.entry e
	LEFT JOIN credits.issue i ON i.account = e.account AND i.reference = e.reference
	WHERE e.kind = 'clawback' AND e.related_id IS NULL
	GROUP BY e.account, e.reference
	HAVING count(*) <> 1 OR max(i.clawback_entry_id) IS NULL;

	-- A shortfall is settled by later clawback entries related to the first
	-- one (same invoice, account and type), each recording what is still due
	-- after it; the shortfall minus what settled it is never negative and is
	-- what the invoice still has due.
	RETURN QUERY
	SELECT 'clawback_settlement', s.account,
		   format('entry %s settles %s of clawback entry %s (invoice %s, shortfall %s), records %s still due, history gives %s',
				  s.entry_id, s.amount, s.related_id, s.reference, i.shortfall, s.shortfall,
				  i.shortfall - s.settled)
	FROM (SELECT e.account, e.credit_type, e.entry_id, e.amount, e.related_id, e.reference,
				 e.shortfall,
				 sum(e.amount) OVER (PARTITION BY e.account, e.related_id ORDER BY e.seq) AS settled
		  FROM credits.entry e
		  WHERE e.kind = 'clawback' AND e.related_id IS NOT NULL) s
	LEFT JOIN credits.issue i ON i.account = s.account AND i.clawback_entry_id = s.related_id
	WHERE i.reference IS NULL OR i.reference IS DISTINCT FROM s.reference
	   OR i.credit_type <> s.credit_type
	   OR s.shortfall IS DISTINCT FROM i.shortfall - s.settled
	   OR i.shortfall - s.settled < 0;
	RETURN QUERY
	SELECT 'clawback_shortfall_due', i.account,
		   format('invoice %s: shortfall %s, settled %s, due %s', i.reference, i.shortfall,
				  coalesce(s.settled, 0), i.shortfall_due)
	FROM credits.issue i
	LEFT JOIN (SELECT e.account, e.related_id, sum(e.amount) AS settled
			   FROM credits.entry e
			   WHERE e.kind = 'clawback' AND e.related_id IS NOT NULL
			   GROUP BY 1, 2) s
		ON s.account = i.account AND s.related_id = i.clawback_entry_id
	WHERE (i.clawback_entry_id IS NULL AND (i.shortfall_due IS NOT NULL OR s.settled IS NOT NULL))
	   OR (i.clawback_entry_id IS NOT NULL
		   AND (i.shortfall - coalesce(s.settled, 0) < 0
				OR i.shortfall - coalesce(s.settled, 0) <> coalesce(i.shortfall_due, 0)));

	-- A voided lot is empty and has its void entry; only voided lots have
	-- void entries.
	RETURN QUERY
	SELECT 'voided_lot', l.account,
		   format('lot %s: voided at %s, remaining %s, %s void entries', l.lot_id,
				  l.voided_at, l.remaining,
				  (SELECT count(*) FROM credits.entry e
				   WHERE e.account = l.account AND e.lot_id = l.lot_id AND e.kind = 'void'))
	FROM credits.lot l
	WHERE (l.voided_at IS NOT NULL AND (l.remaining <> 0 OR NOT EXISTS (
			  SELECT 1 FROM credits.entry e
			  WHERE e.account = l.account AND e.lot_id = l.lot_id AND e.kind = 'void')))
	   OR (l.voided_at IS NULL AND EXISTS (
			  SELECT 1 FROM credits.entry e
			  WHERE e.account = l.account AND e.lot_id = l.lot_id AND e.kind = 'void'));

	-- Lots forfeited by a reset stay empty.
	RETURN QUERY
	SELECT 'reset_lots_empty', l.account,
		   format('lot %s was forfeited by a reset but holds %s', l.lot_id, l.remaining)
	FROM credits.lot l
	JOIN credits.account_reset r ON r.account = l.account AND r.credit_type = l.credit_type
	WHERE l.lot_id <= r.lots_upto AND l.remaining > 0;

	-- Each subscription has processed periods 0 .. next_period - 1, each
	-- once, and its next period starts at starts_at + next_period * every.
	RETURN QUERY
	SELECT 'subscription_periods', s.account,
		   format('subscription %s: next period %s, %s periods recorded (highest %s)',
				  s.subscription_id, s.next_period, coalesce(p.n, 0), p.hi)
	FROM credits.subscription s
	LEFT JOIN (SELECT x.account, x.subscription_id, count(*) AS n, max(x.period) AS hi
			   FROM credits.subscription_period x GROUP BY 1, 2) p
		ON p.account = s.account AND p.subscription_id = s.subscription_id
	WHERE coalesce(p.n, 0) <> s.next_period OR coalesce(p.hi, -1) <> s.next_period - 1
	   OR s.next_period_at <> credits.period_start(s.starts_at, s.every, s.next_period,
												  s.time_zone);

	-- A granted period has its lot of the subscription's credits; a paid
	-- period its spend of the price.
	RETURN QUERY
	SELECT 'subscription_period_effect', p.account,
		   format('subscription %s period %s (%s): lot %s of %s, entry %s %s of %s',
				  p.subscription_id, p.period, p.outcome, p.lot_id, l.amount,
				  p.entry_id, e.kind, e.amount)
	FROM credits.subscription_period p
	JOIN credits.subscription s ON s.account = p.account AND s.subscription_id = p.subscription_id
	LEFT JOIN credits.lot l ON l.account = p.account AND l.lot_id = p.lot_id
	LEFT JOIN credits.entry e ON e.account = p.account AND e.entry_id = p.entry_id
	WHERE (p.outcome = 'granted' AND (l.lot_id IS NULL OR l.amount <> s.credits
									  OR l.source <> 'subscription'))
	   OR (p.outcome = 'paid' AND (e.entry_id IS NULL OR e.kind <> 'spend'
								   OR e.amount <> s.price));
END
$$;
REVOKE ALL ON FUNCTION credits.verify_lifecycle() FROM PUBLIC;
/*
 * Reports for DBAs and client portals: usage across customers, credits
 * expiring soon, outstanding liability with its cost basis, a client's
 * statement, and a balances view.
 *
 * Indexes they use: usage scans credits.entry by time through the BRIN
 * index entry_at_brin (entries are appended in time order), or by account
 * through the primary key; expiring uses lot_due (open lots by expiry) or
 * lot_spend_order for one account; the statement reads one account's
 * entries through the primary key; liability reads the open lots and, for a
 * past instant, the movements of each lot.
 */
CREATE INDEX entry_at_brin ON credits.entry USING brin (at);

-- Result rows of the PL/pgSQL bodies of functions whose parameters share
-- names with their result columns (which PL/pgSQL cannot declare; the public
-- functions are SQL wrappers with the contract's RETURNS TABLE).
CREATE TYPE credits.usage_row AS (account text, credit_type text, granted @extschema@.credit_amount,
	spent @extschema@.credit_amount, expired @extschema@.credit_amount, voided @extschema@.credit_amount, net @extschema@.credit_amount,
	reset @extschema@.credit_amount, clawed_back @extschema@.credit_amount);
CREATE TYPE credits.expiring_row AS (account text, credit_type text, lot_id bigint,
	remaining @extschema@.credit_amount, expires_at timestamptz);

-- Report totals are summed as numeric, so no sum fails.  A total beyond the
-- credit_amount range is returned over several rows of the same key: parts
-- says how many (1 while every total fits), part(total, i, n) is the i-th
-- share, whole chunks of 9 x 10^12 first.  The shares add up to the total.
CREATE FUNCTION credits.amount_parts(totals numeric[]) RETURNS int
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT CASE WHEN max(abs(t)) <= 9223372036854.775807 THEN 1
				ELSE ceil(max(abs(t)) / 9000000000000)::int END
	FROM unnest($1) t
$$;
REVOKE ALL ON FUNCTION credits.amount_parts(numeric[]) FROM PUBLIC;

CREATE FUNCTION credits.amount_part(total numeric, i int, n int) RETURNS @extschema@.credit_amount
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT (CASE WHEN $3 = 1 THEN $1
				 ELSE sign($1) * least(greatest(abs($1) - ($2 - 1) * 9000000000000, 0),
									   9000000000000) END)::@extschema@.credit_amount
$$;
REVOKE ALL ON FUNCTION credits.amount_part(numeric, int, int) FROM PUBLIC;

-- The credits of lots expired by an instant that the balance then leaves
-- out although no expire entry at or before it has removed them yet: per
-- lot, what it held at the account's last entry at or before the instant
-- (credits_balance subtracts the same).  Any change to an account records
-- its due expirations first, so such a lot is still open, or its first
-- expire entry after the instant took what it held then, less what came
-- and went in between (a release into it, say).
CREATE FUNCTION credits.expired_unrecorded(at timestamptz, only_account text, only_type text)
RETURNS TABLE(account text, credit_type text, lot_id bigint, expires_at timestamptz, amount numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
BEGIN
	RETURN QUERY
	WITH cand AS (
		SELECT DISTINCT ON (c.account, c.lot_id) c.*
		FROM (SELECT l.account, l.credit_type, l.lot_id, l.expires_at,
					 l.remaining::numeric AS held, 9223372036854775807::bigint AS upto
			  FROM credits.lot l
			  WHERE l.is_open AND l.expires_at <= expired_unrecorded.at
				AND (only_account IS NULL OR l.account = only_account)
				AND (only_type IS NULL OR l.credit_type = only_type)
			  UNION ALL
			  SELECT x.account, x.credit_type, x.lot_id, l.expires_at, x.amount::numeric, x.seq
			  FROM credits.entry x
			  JOIN credits.lot l ON l.account = x.account AND l.lot_id = x.lot_id
			  WHERE x.kind = 'expire' AND x.at > expired_unrecorded.at
				AND expired_unrecorded.at < now()
				AND l.expires_at <= expired_unrecorded.at
				AND (only_account IS NULL OR x.account = only_account)
				AND (only_type IS NULL OR x.credit_type = only_type)) c
		ORDER BY c.account, c.lot_id, c.upto)
	SELECT c.account, c.credit_type, c.lot_id, c.expires_at, c.held - coalesce(m.moved, 0)
	FROM cand c
	LEFT JOIN LATERAL (
		SELECT e.seq FROM credits.entry e
		WHERE e.account = c.account AND e.credit_type = c.credit_type
		  AND (e.at <= expired_unrecorded.at OR expired_unrecorded.at >= now())
		ORDER BY e.seq DESC LIMIT 1) k ON true
	LEFT JOIN LATERAL (
		SELECT sum(CASE credits.direction(e.kind) WHEN 'in' THEN 1 ELSE -1 END
				   * coalesce(al.amount, e.amount)::numeric) AS moved
		FROM credits.entry e
		LEFT JOIN credits.allocation al
			ON al.account = e.account AND al.entry_id = e.entry_id AND al.lot_id = c.lot_id
		WHERE e.account = c.account AND e.credit_type = c.credit_type
		  AND e.seq > coalesce(k.seq, 0) AND e.seq < c.upto
		  AND (e.lot_id = c.lot_id OR al.lot_id IS NOT NULL)) m ON true
	WHERE c.held - coalesce(m.moved, 0) > 0;
END
$$;
REVOKE ALL ON FUNCTION credits.expired_unrecorded(timestamptz, text, text) FROM PUBLIC;

-- Usage over (from_at, to_at]: the entries dated in it, by kind, plus the
-- expirations it contains that no entry in it records (a lot that expired
-- in the range, its expiry recorded later or not yet), less those that
-- entries in it record but that happened before it.  So an expiry counts
-- when the lot expired, and net is the change of credits_balance across the
-- range.
CREATE FUNCTION credits.usage(from_at timestamptz, to_at timestamptz,
							  account text, credit_type text)
RETURNS SETOF credits.usage_row
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
BEGIN
	IF from_at IS NULL OR to_at IS NULL THEN
		RAISE EXCEPTION '% must not be null', CASE WHEN from_at IS NULL THEN 'from_at' ELSE 'to_at' END
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	-- A client portal sees its own account's usage, by default and only.
	usage.account := coalesce(usage.account, credits.portal_scope());
	PERFORM credits.check_access(usage.account, 'client');
	IF to_at < from_at THEN
		RAISE EXCEPTION 'to_at must not be earlier than from_at'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- An open range ends now: an infinite bound is no bound, not a projection.
	IF to_at = 'infinity' THEN
		to_at := now();
	END IF;
	IF from_at = 'infinity' THEN
		from_at := now();
	END IF;
	IF usage.credit_type IS NOT NULL THEN
		PERFORM credits.type_scale(usage.credit_type);
	END IF;
	RETURN QUERY
		WITH moved AS (
			SELECT e.account, e.credit_type, true AS has_entries,
				   coalesce(sum(e.amount::numeric) FILTER (WHERE e.kind = 'grant'), 0) AS granted,
				   coalesce(sum(CASE WHEN e.kind IN ('spend', 'capture') THEN e.amount::numeric
									 WHEN e.kind = 'reversal' THEN -e.amount::numeric END), 0) AS spent,
				   coalesce(sum(e.amount::numeric) FILTER (WHERE e.kind = 'expire'), 0) AS expired,
				   coalesce(sum(e.amount::numeric) FILTER (WHERE e.kind = 'void'), 0) AS voided,
				   sum(CASE credits.direction(e.kind) WHEN 'in' THEN e.amount::numeric
						   ELSE -e.amount::numeric END) AS net,
				   coalesce(sum(e.amount::numeric) FILTER (WHERE e.kind = 'reset'), 0) AS reset,
				   coalesce(sum(e.amount::numeric) FILTER (WHERE e.kind = 'clawback'), 0) AS clawed_back
			FROM credits.entry e
			WHERE e.at > from_at AND from_at < now() AND (e.at <= to_at OR to_at >= now())
			  AND (usage.account IS NULL OR e.account = usage.account)
			  AND (usage.credit_type IS NULL OR e.credit_type = usage.credit_type)
			GROUP BY e.account, e.credit_type
			UNION ALL
			SELECT x.account, x.credit_type, false, 0, 0, x.amount, 0, -x.amount, 0, 0
			FROM credits.expired_unrecorded(to_at, usage.account, usage.credit_type) x
			UNION ALL
			SELECT x.account, x.credit_type, false, 0, 0, -x.amount, 0, x.amount, 0, 0
			FROM credits.expired_unrecorded(from_at, usage.account, usage.credit_type) x),
		total AS (
			SELECT m.account, m.credit_type, sum(m.granted) AS granted, sum(m.spent) AS spent,
				   sum(m.expired) AS expired, sum(m.voided) AS voided, sum(m.net) AS net,
				   sum(m.reset) AS reset, sum(m.clawed_back) AS clawed_back
			FROM moved m
			GROUP BY m.account, m.credit_type
			HAVING bool_or(m.has_entries) OR sum(m.expired) <> 0)
		SELECT t.account, t.credit_type,
			   credits.amount_part(t.granted, p.i, p.n), credits.amount_part(t.spent, p.i, p.n),
			   credits.amount_part(t.expired, p.i, p.n), credits.amount_part(t.voided, p.i, p.n),
			   credits.amount_part(t.net, p.i, p.n), credits.amount_part(t.reset, p.i, p.n),
			   credits.amount_part(t.clawed_back, p.i, p.n)
		FROM total t,
			 LATERAL (SELECT q.n, generate_series(1, q.n) AS i
					  FROM (SELECT credits.amount_parts(ARRAY[t.granted, t.spent, t.expired,
								t.voided, t.net, t.reset, t.clawed_back]) AS n) q) p
		ORDER BY t.account, t.credit_type, p.i;
END
$$;
REVOKE ALL ON FUNCTION credits.usage(timestamptz, timestamptz, text, text) FROM PUBLIC;

CREATE FUNCTION credits_usage(from_at timestamptz, to_at timestamptz,
							  account text DEFAULT NULL, credit_type text DEFAULT NULL)
RETURNS TABLE(account text, credit_type text, granted @extschema@.credit_amount, spent @extschema@.credit_amount,
			  expired @extschema@.credit_amount, voided @extschema@.credit_amount, net @extschema@.credit_amount,
			  reset @extschema@.credit_amount, clawed_back @extschema@.credit_amount)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$ SELECT * FROM credits.usage($1, $2, $3, $4) $$;
COMMENT ON FUNCTION credits_usage(timestamptz, timestamptz, text, text) IS
	'credits granted, spent (net of reversals), expired (when the lot expired), voided, forfeited by resets, clawed back, and the net change of the balance per account and type, over (from_at, to_at]';

CREATE FUNCTION credits.expiring(within interval, account text)
RETURNS SETOF credits.expiring_row
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
BEGIN
	IF within IS NULL THEN
		RAISE EXCEPTION 'within must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	-- A client portal sees its own account's lots, by default and only.
	expiring.account := coalesce(expiring.account, credits.portal_scope());
	PERFORM credits.check_access(expiring.account, 'client');
	IF within < interval '0' THEN
		RAISE EXCEPTION 'within must not be negative' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	RETURN QUERY
		SELECT l.account, l.credit_type, l.lot_id, l.remaining::@extschema@.credit_amount, l.expires_at
		FROM credits.lot l
		WHERE l.is_open AND l.expires_at > now() AND l.expires_at <= now() + within
		  AND (expiring.account IS NULL OR l.account = expiring.account)
		ORDER BY l.expires_at, l.account, l.lot_id;
END
$$;
REVOKE ALL ON FUNCTION credits.expiring(interval, text) FROM PUBLIC;

CREATE FUNCTION credits_expiring(within interval DEFAULT '30 days', account text DEFAULT NULL)
RETURNS TABLE(account text, credit_type text, lot_id bigint, remaining @extschema@.credit_amount,
			  expires_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$ SELECT * FROM credits.expiring($1, $2) $$;
COMMENT ON FUNCTION credits_expiring(interval, text) IS
	'open lots whose credits expire within the interval, soonest first';

-- The unused part of every lot at an instant: its grant plus every later
-- movement in or out of it up to then, holds and releases excepted (held
-- credits are still unused).  Lots expired by then count nothing.  As for
-- credits_balance, an instant now or later counts every entry.
CREATE FUNCTION credits.lot_unused(at timestamptz, only_account text, only_type text)
RETURNS TABLE(account text, credit_type text, lot_id bigint, unused @extschema@.credit_amount,
			  amount @extschema@.credit_amount, cost numeric, cost_currency text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT l.account, l.credit_type, l.lot_id,
		   (l.amount + coalesce(sum(m.signed), 0))::@extschema@.credit_amount, l.amount::@extschema@.credit_amount, l.cost, l.cost_currency
	FROM credits.lot l
	LEFT JOIN LATERAL (
		SELECT CASE credits.direction(e.kind) WHEN 'in' THEN e.amount ELSE -e.amount END AS signed
		FROM credits.entry e
		WHERE e.account = l.account AND e.lot_id = l.lot_id
		  AND e.kind NOT IN ('grant', 'hold', 'release') AND (e.at <= $1 OR $1 >= now())
		UNION ALL
		SELECT CASE credits.direction(e.kind) WHEN 'in' THEN al.amount ELSE -al.amount END
		FROM credits.allocation al
		JOIN credits.entry e ON e.account = al.account AND e.entry_id = al.entry_id
		WHERE al.account = l.account AND al.lot_id = l.lot_id
		  AND e.kind NOT IN ('hold', 'release') AND (e.at <= $1 OR $1 >= now())
	) m ON true
	WHERE (l.granted_at <= $1 OR $1 >= now()) AND (l.expires_at IS NULL OR l.expires_at > $1)
	  AND ($2 IS NULL OR (l.account = $2 AND l.credit_type = $3))
	GROUP BY l.account, l.credit_type, l.lot_id, l.amount, l.cost, l.cost_currency
$$;
REVOKE ALL ON FUNCTION credits.lot_unused(timestamptz, text, text) FROM PUBLIC;

-- Every lot's unused credits at an instant and their share of its price.
-- Now and later: accounts that hold nothing and whose latest entry is no
-- later than the instant answer from their open lots as they stand, the
-- others from their lots' movements (held credits are still unused); an
-- earlier instant answers from the movements of every lot.
CREATE FUNCTION credits.liability_lots(at timestamptz)
RETURNS TABLE(account text, credit_type text, currency text, unused numeric, cost numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
BEGIN
	IF liability_lots.at >= now() THEN
		RETURN QUERY
			SELECT l.account, l.credit_type, l.cost_currency, l.remaining::numeric,
				   coalesce(l.cost * l.remaining::numeric / l.amount::numeric, 0)
			FROM credits.lot l
			JOIN credits.account a ON a.account = l.account AND a.credit_type = l.credit_type
			WHERE l.is_open AND a.held = 0
			  AND (l.expires_at IS NULL OR l.expires_at > liability_lots.at)
			UNION ALL
			SELECT u.account, u.credit_type, u.cost_currency, u.unused::numeric,
				   coalesce(u.cost * u.unused::numeric / u.amount::numeric, 0)
			FROM credits.account a,
				 LATERAL credits.lot_unused(liability_lots.at, a.account, a.credit_type) u
			WHERE a.held > 0 AND u.unused > 0;
	ELSE
		RETURN QUERY
			SELECT u.account, u.credit_type, u.cost_currency, u.unused::numeric,
				   coalesce(u.cost * u.unused::numeric / u.amount::numeric, 0)
			FROM credits.lot_unused(liability_lots.at, NULL, NULL) u
			WHERE u.unused > 0;
	END IF;
END
$$;
REVOKE ALL ON FUNCTION credits.liability_lots(timestamptz) FROM PUBLIC;

-- One row per credit type and purchase currency, totals summed as numeric.
-- A total beyond the credit_amount range comes over several rows of that
-- type and currency, each for its own accounts (in account order) and each
-- within the range; an account holding more than the range alone is split
-- too, and counted in its first row only.  The rows add up to the totals.
CREATE FUNCTION credits_liability(at timestamptz DEFAULT now())
RETURNS TABLE(credit_type text, currency text, accounts bigint, outstanding @extschema@.credit_amount,
			  cost_basis numeric)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
DECLARE
	g record;
	r record;
	n bigint;
	sum_unused numeric;
	sum_cost numeric;
	part numeric;
	share numeric;
	first boolean;
BEGIN
	IF at IS NULL THEN
		RAISE EXCEPTION 'at must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT isfinite(at) THEN
		RAISE EXCEPTION 'at must be finite' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = format('The value given was %s.', at);
	END IF;
	PERFORM credits.check_access(NULL, 'agency');
	FOR g IN
		SELECT x.credit_type, x.currency, count(DISTINCT x.account) AS accounts,
			   sum(x.unused) AS outstanding, sum(x.cost) AS cost
		FROM credits.liability_lots(credits_liability.at) x
		GROUP BY x.credit_type, x.currency
		ORDER BY x.credit_type, x.currency NULLS FIRST
	LOOP
		credit_type := g.credit_type;
		currency := g.currency;
		IF g.outstanding <= 9223372036854.775807 THEN
			accounts := g.accounts;
			outstanding := g.outstanding::@extschema@.credit_amount;
			cost_basis := round(g.cost, 2);
			RETURN NEXT;
			CONTINUE;
		END IF;
		n := 0; sum_unused := 0; sum_cost := 0;
		FOR r IN
			SELECT x.account, sum(x.unused) AS unused, sum(x.cost) AS cost
			FROM credits.liability_lots(credits_liability.at) x
			WHERE x.credit_type = g.credit_type AND x.currency IS NOT DISTINCT FROM g.currency
			GROUP BY x.account
			ORDER BY x.account
		LOOP
			first := true;
			WHILE first OR r.unused > 0 LOOP
				IF sum_unused > 0 AND sum_unused + r.unused > 9000000000000 THEN
					accounts := n; outstanding := sum_unused::@extschema@.credit_amount;
					cost_basis := round(sum_cost, 2);
					RETURN NEXT;
					n := 0; sum_unused := 0; sum_cost := 0;
				END IF;
				part := least(r.unused, 9000000000000 - sum_unused);
				share := r.cost * part / r.unused;
				n := n + CASE WHEN first THEN 1 ELSE 0 END;
				sum_unused := sum_unused + part;
				sum_cost := sum_cost + share;
				r.unused := r.unused - part;
				r.cost := r.cost - share;
				first := false;
			END LOOP;
		END LOOP;
		accounts := n; outstanding := sum_unused::@extschema@.credit_amount;
		cost_basis := round(sum_cost, 2);
		RETURN NEXT;
	END LOOP;
END
$$;
COMMENT ON FUNCTION credits_liability(timestamptz) IS
	'unused credits outstanding at an instant and what clients paid for them (each lot''s unused share of its price), per credit type and purchase currency';

-- A statement over (from_at, to_at]: the opening balance is the balance at
-- from_at, the lines are the entries dated after from_at up to to_at and
-- the expirations of that period that no entry of it records, and the
-- closing balance is the balance at to_at, which the lines add up to.  An
-- expiry counts when the lot expired: one recorded later than that shows
-- in the period the lot expired in.
CREATE FUNCTION credits_statement(account text, from_at timestamptz, to_at timestamptz DEFAULT now(),
								  credit_type text DEFAULT 'CRD')
RETURNS TABLE(line int, at timestamptz, kind text, direction text, amount @extschema@.credit_amount,
			  balance @extschema@.credit_amount, reference text, reason text, entry_id bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
DECLARE
	running numeric;
	n int := 1;
	e record;
	lo timestamptz;			-- the range, an infinite bound read as now
	hi timestamptz;
BEGIN
	IF account IS NULL OR from_at IS NULL OR to_at IS NULL OR credit_type IS NULL THEN
		RAISE EXCEPTION 'arguments of credits_statement must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM credits.check_access(account, 'client');
	PERFORM credits.type_scale(credit_type);
	IF to_at < from_at THEN
		RAISE EXCEPTION 'to_at must not be earlier than from_at'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- The range may be open, credits_balance's instant may not: nothing was
	-- available at -infinity, and a range from infinity is empty.
	lo := CASE WHEN from_at = 'infinity' THEN now() ELSE from_at END;
	hi := CASE WHEN to_at = 'infinity' THEN now() ELSE to_at END;
	running := CASE WHEN lo = '-infinity' THEN 0
					ELSE @extschema@.credits_balance(account, credit_type, lo) END;
	line := n; at := from_at; kind := 'opening'; direction := NULL; amount := NULL;
	balance := running; reference := NULL; reason := 'opening balance'; entry_id := NULL;
	RETURN NEXT;
	FOR e IN
		WITH before AS (
			-- expired by from_at, already left out of the opening balance
			SELECT u.lot_id, u.amount
			FROM credits.expired_unrecorded(lo, credits_statement.account,
											credits_statement.credit_type) u),
		entries AS (
			SELECT x.seq, x.entry_id, x.at, x.kind, x.amount::numeric AS amount,
				   x.reference, x.reason, x.lot_id,
				   sum(x.amount::numeric) FILTER (WHERE x.kind = 'expire')
					   OVER (PARTITION BY x.lot_id ORDER BY x.seq) AS expired_so_far
			FROM credits.entry x
			WHERE x.account = credits_statement.account
			  AND x.credit_type = credits_statement.credit_type
			  AND x.at > lo AND lo < now() AND (x.at <= hi OR hi >= now())),
		lines AS (
			-- an expire entry shows only what had not expired by from_at
			SELECT x.at, x.seq, x.entry_id, x.kind, x.reference, x.reason, x.lot_id,
				   CASE WHEN b.lot_id IS NULL THEN x.amount
						ELSE greatest(0, least(x.amount, x.expired_so_far - b.amount)) END AS amount,
				   x.kind <> 'expire' OR b.lot_id IS NULL
					   OR x.expired_so_far - b.amount > 0 AS shown
			FROM entries x
			LEFT JOIN before b ON b.lot_id = x.lot_id AND x.kind = 'expire'
			UNION ALL
			-- expired in the period, recorded later or not yet
			SELECT u.expires_at, NULL, NULL, 'expire', NULL,
				   CASE WHEN u.expires_at <= now() THEN 'expired, not yet recorded'
						ELSE 'expiring' END, u.lot_id,
				   u.amount - greatest(0, coalesce(b.amount, 0) - coalesce(r.recorded, 0)), true
			FROM credits.expired_unrecorded(hi, credits_statement.account,
											credits_statement.credit_type) u
			LEFT JOIN before b ON b.lot_id = u.lot_id
			LEFT JOIN (SELECT x.lot_id, sum(x.amount) AS recorded FROM entries x
					   WHERE x.kind = 'expire' GROUP BY x.lot_id) r ON r.lot_id = u.lot_id)
		SELECT l.* FROM lines l
		WHERE l.shown AND (l.entry_id IS NOT NULL OR l.amount > 0)
		ORDER BY l.at, l.seq NULLS LAST, l.lot_id
	LOOP
		n := n + 1;
		line := n; at := e.at; kind := e.kind; direction := credits.direction(e.kind);
		amount := e.amount::@extschema@.credit_amount; reference := e.reference;
		reason := e.reason; entry_id := e.entry_id;
		running := CASE direction WHEN 'in' THEN running + e.amount ELSE running - e.amount END;
		balance := running::@extschema@.credit_amount;
		RETURN NEXT;
	END LOOP;
	n := n + 1;
	line := n; at := to_at; kind := 'closing'; direction := NULL; amount := NULL;
	balance := CASE WHEN hi = '-infinity' THEN 0
					ELSE @extschema@.credits_balance(account, credit_type, hi) END;
	reference := NULL;
	reason := 'closing balance'; entry_id := NULL;
	RETURN NEXT;
END
$$;
COMMENT ON FUNCTION credits_statement(text, timestamptz, timestamptz, text) IS
	'a client''s statement for a period: opening balance at from_at, every entry after it up to to_at with its running balance, expirations of the period by when the lot expired, closing balance at to_at';

-- A client portal sees its own account's rows only.  The filter is part of
-- a security barrier, so no function of the reader's query sees another
-- account's row before it; credits.portal_scope() runs once per query (an
-- InitPlan), with the reader's privileges.
CREATE VIEW credits_balances WITH (security_barrier) AS
	SELECT a.account, a.credit_type,
		   (a.balance - coalesce(x.expired, 0))::@extschema@.credit_amount AS available,
		   a.held,
		   coalesce(x.expiring, 0)::@extschema@.credit_amount AS expiring_30_days
	FROM credits.account a
	LEFT JOIN LATERAL (
		SELECT sum(l.remaining) FILTER (WHERE l.expires_at <= now()) AS expired,
			   sum(l.remaining) FILTER (WHERE l.expires_at > now()
										AND l.expires_at <= now() + interval '30 days') AS expiring
		FROM credits.lot l
		WHERE l.account = a.account AND l.credit_type = a.credit_type AND l.is_open
		  AND l.expires_at <= now() + interval '30 days'
	) x ON true
	WHERE a.account = coalesce((SELECT credits.portal_scope()), a.account);
COMMENT ON VIEW credits_balances IS
	'per account and credit type: available, held, and expiring within 30 days (a client portal: its own account only)';
REVOKE ALL ON credits_balances FROM PUBLIC;

/*
 * Lookups an application's screens need (1.1): an account's lots, the
 * credit types, and one summary row per credit type of an account.  They
 * only read; client portals may call credits_lots and credits_summary for
 * their own account.  NULL arguments answer no rows, like the other reads.
 */

-- An account's lots in spend order (soonest expiry first, never-expiring
-- last, then oldest grant, then lot id).  Without include_closed only the
-- lots a spend could take from now; with it every lot, closed ones in the
-- same order, with remaining 0 (voided, emptied, or past their expiry
-- whether or not the expiry was recorded yet).
CREATE FUNCTION credits_lots(account text, credit_type text DEFAULT 'CRD',
							 include_closed boolean DEFAULT false)
RETURNS TABLE(lot_id bigint, credit_type text, amount @extschema@.credit_amount,
			  remaining @extschema@.credit_amount, granted_at timestamptz,
			  expires_at timestamptz, source text, reason text, reference text,
			  voided_at timestamptz)
LANGUAGE sql STABLE STRICT SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT credits.check_access($1, 'client');
	SELECT credits.type_scale($2);
	SELECT l.lot_id, l.credit_type, l.amount::@extschema@.credit_amount,
		   CASE WHEN l.is_open AND (l.expires_at IS NULL OR l.expires_at > now())
				THEN l.remaining ELSE 0 END::@extschema@.credit_amount,
		   l.granted_at, l.expires_at, l.source, l.reason, l.reference, l.voided_at
	FROM credits.lot l
	WHERE l.account = $1 AND l.credit_type = $2
	  AND ($3 OR (l.is_open AND (l.expires_at IS NULL OR l.expires_at > now())))
	ORDER BY l.expires_at, l.granted_at, l.lot_id
$$;
COMMENT ON FUNCTION credits_lots(text, text, boolean) IS
	'an account''s lots in spend order; closed ones too (remaining 0) with include_closed';

-- The credit types, the implicit CRD included (not for client portals).
CREATE FUNCTION credits_types()
RETURNS TABLE(code text, name text, scale int, currency text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT credits.check_access(NULL, 'agency');
	SELECT t.code, t.name, t.scale, t.currency FROM credits.credit_types t ORDER BY t.code
$$;
COMMENT ON FUNCTION credits_types() IS 'the credit types (code, name, scale, currency), CRD included';

-- One row per credit type the account has ever had, even at 0: what is
-- available now (expired credits never count, recorded or not), what is
-- held, and the available part of lots expiring within 30 days.
CREATE FUNCTION credits_summary(account text)
RETURNS TABLE(credit_type text, name text, available @extschema@.credit_amount,
			  held @extschema@.credit_amount, expiring_30_days @extschema@.credit_amount)
LANGUAGE sql STABLE STRICT SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT credits.check_access($1, 'client');
	SELECT a.credit_type, coalesce(t.name, a.credit_type),
		   (a.balance - coalesce(x.expired, 0))::@extschema@.credit_amount,
		   a.held::@extschema@.credit_amount,
		   coalesce(x.expiring, 0)::@extschema@.credit_amount
	FROM credits.account a
	LEFT JOIN credits.credit_types t ON t.code = a.credit_type
	LEFT JOIN LATERAL (
		SELECT sum(l.remaining) FILTER (WHERE l.expires_at <= now()) AS expired,
			   sum(l.remaining) FILTER (WHERE l.expires_at > now()) AS expiring
		FROM credits.lot l
		WHERE l.account = a.account AND l.credit_type = a.credit_type AND l.is_open
		  AND l.expires_at <= now() + interval '30 days'
	) x ON true
	WHERE a.account = $1
	ORDER BY a.credit_type
$$;
COMMENT ON FUNCTION credits_summary(text) IS
	'per credit type of an account: available, held, and available credits expiring within 30 days';
/*
 * Set-based movements over many accounts (src/bulk.c).
 */
CREATE FUNCTION credits.new_event_id(type text) RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_new_event_id'
LANGUAGE C VOLATILE STRICT;
REVOKE ALL ON FUNCTION credits.new_event_id(text) FROM PUBLIC;

CREATE FUNCTION credits_grant_many(accounts text[], amount @extschema@.credit_amount,
								   credit_type text DEFAULT 'CRD',
								   expires_at timestamptz DEFAULT NULL,
								   reason text DEFAULT NULL,
								   reference text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_grant_many'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_grant_many(text[], @extschema@.credit_amount, text, timestamptz, text, text) IS
	'grants the same lot to every listed account (set-based; an account listed twice gets two lots); returns how many lots';

/*
 * (Every operator below is written OPERATOR(pg_catalog.x) with exact types:
 * this runs as the superuser who installs the extension, so nothing that
 * the database owner may have created in public can be picked up.)
 *
 * Who may call what.  Three NOLOGIN roles, cluster-wide and shared by every
 * database that installs the extension: credits_reader (reads),
 * credits_operator (moves credits; a member of credits_reader) and
 * credits_admin (configuration; a member of credits_operator).  PUBLIC keeps
 * only the credit_amount type with its operators, casts and aggregates.
 *
 * The tables, and every function but those of the credit_amount type (so
 * every one that runs as its owner, SECURITY DEFINER), belong to
 * credits_owner: a NOLOGIN role with no members and no privileges beyond
 * those objects, so definer code never runs as a superuser.  Portal roles get EXECUTE on the portal functions when they
 * are registered (credits_portal_add_role).
 */
DO $$
DECLARE
	r text;
	bad text;
BEGIN
	FOREACH r IN ARRAY ARRAY['credits_reader', 'credits_operator', 'credits_admin'] LOOP
		IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) r) THEN
			EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
		END IF;
	END LOOP;
	IF NOT pg_catalog.pg_has_role('credits_operator', 'credits_reader', 'MEMBER') THEN
		GRANT credits_reader TO credits_operator;
	END IF;
	IF NOT pg_catalog.pg_has_role('credits_admin', 'credits_operator', 'MEMBER') THEN
		GRANT credits_operator TO credits_admin;
	END IF;

	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'credits_owner'::pg_catalog.name) THEN
		CREATE ROLE credits_owner NOLOGIN NOINHERIT;
	END IF;
	-- A role of that name made by someone else must not become the owner
	-- of the ledger: it must be a bare NOLOGIN role that nobody else uses.
	SELECT pg_catalog.string_agg(why, '; ') INTO bad FROM (
		SELECT 'it can log in' AS why FROM pg_catalog.pg_roles
		WHERE rolname OPERATOR(pg_catalog.=) 'credits_owner'::pg_catalog.name AND rolcanlogin
		UNION ALL
		SELECT 'it is a superuser or can create roles or databases' FROM pg_catalog.pg_roles
		WHERE rolname OPERATOR(pg_catalog.=) 'credits_owner'::pg_catalog.name AND (rolsuper OR rolcreaterole OR rolcreatedb
											 OR rolreplication OR rolbypassrls)
		UNION ALL
		SELECT 'other roles are members of it' FROM pg_catalog.pg_auth_members m
		WHERE m.roleid OPERATOR(pg_catalog.=) 'credits_owner'::pg_catalog.regrole::pg_catalog.oid
		UNION ALL
		SELECT 'it is a member of other roles' FROM pg_catalog.pg_auth_members m
		WHERE m.member OPERATOR(pg_catalog.=) 'credits_owner'::pg_catalog.regrole::pg_catalog.oid) w;
	IF bad IS NOT NULL THEN
		RAISE EXCEPTION 'role "credits_owner" exists and is not safe to own the credits ledger: %', bad
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'credits_owner must be NOLOGIN, without attributes and without members; fix or drop it, then retry.';
	END IF;
END
$$;

-- credits_owner owns the tables and every function but the type's own;
-- PUBLIC may execute none of those functions.
GRANT USAGE ON SCHEMA credits TO credits_owner;
GRANT USAGE ON SCHEMA @extschema@ TO credits_owner;
DO $$
DECLARE
	o record;
BEGIN
	FOR o IN
		SELECT c.oid::regclass AS rel, c.relkind
		FROM pg_catalog.pg_class c
		WHERE c.relnamespace OPERATOR(pg_catalog.=) 'credits'::pg_catalog.regnamespace::pg_catalog.oid
		  AND c.relkind OPERATOR(pg_catalog.=) ANY ('{r,v,S,p}'::pg_catalog."char"[])
		ORDER BY c.relkind DESC		-- sequences that tables own follow their table
	LOOP
		EXECUTE pg_catalog.format('ALTER %s %s OWNER TO credits_owner',
			CASE WHEN o.relkind OPERATOR(pg_catalog.=) 'v'::pg_catalog."char" THEN 'VIEW'
				 WHEN o.relkind OPERATOR(pg_catalog.=) 'S'::pg_catalog."char" THEN 'SEQUENCE' ELSE 'TABLE' END, o.rel);
	END LOOP;
	ALTER VIEW credits_balances OWNER TO credits_owner;
	FOR o IN
		SELECT p.oid::regprocedure AS fn, p.prokind
		FROM pg_catalog.pg_proc p
		JOIN pg_catalog.pg_depend d
			ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass::pg_catalog.oid
			AND d.objid OPERATOR(pg_catalog.=) p.oid
			AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass::pg_catalog.oid
			AND d.deptype OPERATOR(pg_catalog.=) 'e'::pg_catalog."char"
		JOIN pg_catalog.pg_extension e ON e.oid OPERATOR(pg_catalog.=) d.refobjid
			AND e.extname OPERATOR(pg_catalog.=) 'credits'::pg_catalog.name
		WHERE p.pronamespace OPERATOR(pg_catalog.=) 'credits'::pg_catalog.regnamespace::pg_catalog.oid
		   OR p.proname OPERATOR(pg_catalog.~~) 'credits\_%'::pg_catalog.text
	LOOP
		EXECUTE pg_catalog.format('ALTER %s %s OWNER TO credits_owner',
			CASE WHEN o.prokind OPERATOR(pg_catalog.=) 'a'::pg_catalog."char" THEN 'AGGREGATE' ELSE 'ROUTINE' END, o.fn);
		EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', o.fn);
	END LOOP;
END
$$;

-- Nor read or write a table.
REVOKE ALL ON ALL TABLES IN SCHEMA credits FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA credits FROM PUBLIC;
REVOKE ALL ON credits_balances FROM PUBLIC;

-- Reading: balances, histories, reports, configuration, checks.
GRANT EXECUTE ON FUNCTION
	credits_balance, credits_history, credits_history_page, credits_statement,
	credits_enabled, credits_rate, credits_rates, credits_convert,
	credits_packages, credits_price, credits_price_tiers,
	credits_requests, credits_holds, credits_subscriptions, credits_rules, credits_invoices,
	credits_events_since, credits_usage, credits_expiring, credits_liability,
	credits_verify, credits_fingerprint, credits_lots, credits_types, credits_summary
TO credits_reader;
GRANT SELECT ON credits_balances TO credits_reader;
-- The view's row filter (a portal caller sees its own rows) runs as its reader.
GRANT EXECUTE ON FUNCTION credits.portal_scope() TO credits_reader;

-- Moving credits for an account.
GRANT EXECUTE ON FUNCTION
	credits_grant, credits_grant_many, credits_spend,
	credits_hold, credits_capture, credits_release,
	credits_pay, credits_purchase, credits_purchase_quantity,
	credits_accept_request, credits_reject_request,
	credits_issue, credits_issue_trigger, credits_clawback, credits_reverse, credits_void,
	credits_subscribe, credits_subscribe_service, credits_cancel_subscription,
	credits_run_due, credits_expire, credits_set_low_balance
TO credits_operator;

-- Configuration.
GRANT EXECUTE ON FUNCTION
	credits_define_type, credits_set_enabled, credits_set_rate,
	credits_define_package, credits_define_price_tier, credits_define_rule,
	credits_portal_add_role, credits_portal_remove_role, credits_prune_events
TO credits_admin;

-- Portal roles registered before an upgrade get the portal functions (none
-- at CREATE EXTENSION; pg_restore brings the grants with the dump).
SELECT credits.portal_grant(p.role, true) FROM credits.portal_role p;
