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
