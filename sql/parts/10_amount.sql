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
