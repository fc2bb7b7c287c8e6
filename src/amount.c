/*
 * amount.c
 *	  The credit_amount base type: exact fixed-point millionths in an int64,
 *	  with text and binary I/O, casts, checked arithmetic, comparison and
 *	  hash support, and the sum/min/max aggregate support functions.
 */
#include "postgres.h"

#include "amount.h"
#include "common/int.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "utils/fmgrprotos.h"
#include "utils/numeric.h"
#include "utils/sortsupport.h"

/*
 * The sum aggregate keeps a 128-bit running total, so that only a final total
 * outside the type's range is an error, not an intermediate one.  Every
 * platform PostgreSQL 15 is normally built on with gcc or clang has int128.
 */
#ifndef HAVE_INT128
#error "the credits extension needs a compiler with a 128-bit integer type"
#endif

/* the largest whole part an amount can have: 9223372036854 has 13 digits */
#define CREDIT_AMOUNT_MAX_WHOLE_DIGITS	13

PG_FUNCTION_INFO_V1(credit_amount_in);
PG_FUNCTION_INFO_V1(credit_amount_out);
PG_FUNCTION_INFO_V1(credit_amount_recv);
PG_FUNCTION_INFO_V1(credit_amount_send);
PG_FUNCTION_INFO_V1(credit_amount_from_int4);
PG_FUNCTION_INFO_V1(credit_amount_from_int8);
PG_FUNCTION_INFO_V1(credit_amount_from_numeric);
PG_FUNCTION_INFO_V1(credit_amount_to_numeric);
PG_FUNCTION_INFO_V1(credit_amount_pl);
PG_FUNCTION_INFO_V1(credit_amount_mi);
PG_FUNCTION_INFO_V1(credit_amount_um);
PG_FUNCTION_INFO_V1(credit_amount_mul_int4);
PG_FUNCTION_INFO_V1(credit_amount_mul_int8);
PG_FUNCTION_INFO_V1(int4_mul_credit_amount);
PG_FUNCTION_INFO_V1(int8_mul_credit_amount);
PG_FUNCTION_INFO_V1(credit_amount_div_int4);
PG_FUNCTION_INFO_V1(credit_amount_div_int8);
PG_FUNCTION_INFO_V1(credit_amount_eq);
PG_FUNCTION_INFO_V1(credit_amount_ne);
PG_FUNCTION_INFO_V1(credit_amount_lt);
PG_FUNCTION_INFO_V1(credit_amount_le);
PG_FUNCTION_INFO_V1(credit_amount_gt);
PG_FUNCTION_INFO_V1(credit_amount_ge);
PG_FUNCTION_INFO_V1(credit_amount_cmp);
PG_FUNCTION_INFO_V1(credit_amount_sortsupport);
PG_FUNCTION_INFO_V1(credit_amount_hash);
PG_FUNCTION_INFO_V1(credit_amount_hash_extended);
PG_FUNCTION_INFO_V1(credit_amount_smaller);
PG_FUNCTION_INFO_V1(credit_amount_larger);
PG_FUNCTION_INFO_V1(credit_amount_sum_accum);
PG_FUNCTION_INFO_V1(credit_amount_sum_combine);
PG_FUNCTION_INFO_V1(credit_amount_sum_serialize);
PG_FUNCTION_INFO_V1(credit_amount_sum_deserialize);
PG_FUNCTION_INFO_V1(credit_amount_sum_final);

/* Transition state of sum(credit_amount); NULL until a non-null input. */
typedef struct CreditAmountSumState
{
	int128		total;			/* exact sum of the inputs, in millionths */
} CreditAmountSumState;

pg_noreturn static void report_out_of_range(void);

static void
report_out_of_range(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("credit_amount out of range")));
}

/*
 * Hand-written character classes: isdigit()/isspace() depend on the locale,
 * and the type's text form must not.
 */
static inline bool
is_ascii_digit(char c)
{
	return c >= '0' && c <= '9';
}

static inline bool
is_ascii_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
		c == '\v' || c == '\f';
}

/*
 * The grammar is checked in full before any value is computed, so garbage
 * always reports as a syntax error, whatever its digits would amount to.
 */
bool
credit_amount_parse(const char *str, CreditAmount *result, bool raise_error)
{
	const char *p = str;
	const char *whole_start;
	const char *whole_end;
	const char *frac_start = NULL;
	const char *frac_end = NULL;
	const char *q;
	bool		negative = false;
	uint64		whole = 0;
	uint64		frac = 0;
	uint64		limit;
	int			ndigits = 0;

	while (is_ascii_space(*p))
		p++;
	if (*p == '+' || *p == '-')
	{
		negative = (*p == '-');
		p++;
	}
	whole_start = p;
	while (is_ascii_digit(*p))
		p++;
	whole_end = p;
	if (whole_end == whole_start)
		goto syntax_error;
	if (*p == '.')
	{
		p++;
		frac_start = p;
		while (is_ascii_digit(*p))
			p++;
		frac_end = p;
		if (frac_end == frac_start)
			goto syntax_error;
	}
	while (is_ascii_space(*p))
		p++;
	if (*p != '\0')
		goto syntax_error;

	/* Digits past the sixth decimal may be zeros, which lose nothing. */
	for (q = frac_start; q < frac_end; q++)
	{
		if (ndigits < CREDIT_AMOUNT_DECIMALS)
		{
			frac = frac * 10 + (uint64) (*q - '0');
			ndigits++;
		}
		else if (*q != '0')
			goto too_many_decimals;
	}
	for (; ndigits < CREDIT_AMOUNT_DECIMALS; ndigits++)
		frac *= 10;

	/* Leading zeros are harmless; skipping them bounds the digit count. */
	while (whole_start < whole_end && *whole_start == '0')
		whole_start++;
	if (whole_end - whole_start > CREDIT_AMOUNT_MAX_WHOLE_DIGITS)
		goto out_of_range;
	for (q = whole_start; q < whole_end; q++)
		whole = whole * 10 + (uint64) (*q - '0');

	/* The magnitude of a negative amount may be one more than INT64_MAX. */
	limit = negative ? (uint64) PG_INT64_MAX + 1 : (uint64) PG_INT64_MAX;
	if (whole > (limit - frac) / (uint64) CREDIT_AMOUNT_SCALE)
		goto out_of_range;
	whole = whole * (uint64) CREDIT_AMOUNT_SCALE + frac;

	if (!negative)
		*result = (CreditAmount) whole;
	else if (whole == (uint64) PG_INT64_MAX + 1)
		*result = PG_INT64_MIN;
	else
		*result = -(CreditAmount) whole;
	return true;

syntax_error:
	if (raise_error)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type %s: \"%s\"",
						"credit_amount", str)));
	return false;

too_many_decimals:
	if (raise_error)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("value \"%s\" has too many decimal places for type %s",
						str, "credit_amount"),
				 errdetail("A credit_amount has at most %d decimal places.",
						   CREDIT_AMOUNT_DECIMALS)));
	return false;

out_of_range:
	if (raise_error)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("value \"%s\" is out of range for type %s",
						str, "credit_amount"),
				 errdetail("A credit_amount lies between -9223372036854.775808 and 9223372036854.775807.")));
	return false;
}

/*
 * Digits are produced by hand (no printf) so that the text form is the same
 * under every locale; the magnitude is taken as unsigned so that INT64_MIN
 * needs no special case.
 */
char *
credit_amount_format(CreditAmount value)
{
	char		buf[32];
	char	   *p = buf + sizeof(buf);
	uint64		magnitude;
	uint64		whole;
	uint64		frac;
	int			ndigits = CREDIT_AMOUNT_DECIMALS;

	magnitude = (value < 0) ? (uint64) 0 - (uint64) value : (uint64) value;
	whole = magnitude / (uint64) CREDIT_AMOUNT_SCALE;
	frac = magnitude % (uint64) CREDIT_AMOUNT_SCALE;

	*--p = '\0';
	if (frac != 0)
	{
		/* trailing zeros are never shown */
		while (frac % 10 == 0)
		{
			frac /= 10;
			ndigits--;
		}
		while (ndigits-- > 0)
		{
			*--p = (char) ('0' + frac % 10);
			frac /= 10;
		}
		*--p = '.';
	}
	do
	{
		*--p = (char) ('0' + whole % 10);
		whole /= 10;
	} while (whole != 0);
	if (value < 0)
		*--p = '-';

	return pstrdup(p);
}

CreditAmount
credit_amount_add(CreditAmount a, CreditAmount b)
{
	CreditAmount result;

	if (unlikely(pg_add_s64_overflow(a, b, &result)))
		report_out_of_range();
	return result;
}

CreditAmount
credit_amount_sub(CreditAmount a, CreditAmount b)
{
	CreditAmount result;

	if (unlikely(pg_sub_s64_overflow(a, b, &result)))
		report_out_of_range();
	return result;
}

CreditAmount
credit_amount_mul_int(CreditAmount a, int64 factor)
{
	CreditAmount result;

	if (unlikely(pg_mul_s64_overflow(a, factor, &result)))
		report_out_of_range();
	return result;
}

/*
 * Division truncates toward zero, like integer division: the part of the
 * quotient below one millionth is dropped, never rounded.
 */
static CreditAmount
credit_amount_div_int(CreditAmount a, int64 divisor)
{
	if (unlikely(divisor == 0))
		ereport(ERROR,
				(errcode(ERRCODE_DIVISION_BY_ZERO),
				 errmsg("division by zero")));
	/* INT64_MIN / -1 traps on some CPUs instead of overflowing quietly */
	if (divisor == -1)
	{
		if (unlikely(a == PG_INT64_MIN))
			report_out_of_range();
		return -a;
	}
	return a / divisor;
}

/* ---------- I/O ---------- */

Datum
credit_amount_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	CreditAmount result;

	(void) credit_amount_parse(str, &result, true);
	PG_RETURN_CREDIT_AMOUNT(result);
}

Datum
credit_amount_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(credit_amount_format(PG_GETARG_CREDIT_AMOUNT(0)));
}

/*
 * The wire form is an int8 count of millionths.  Every int64 is a valid
 * amount, so there is nothing left to check once eight bytes were read.
 */
Datum
credit_amount_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);

	PG_RETURN_CREDIT_AMOUNT((CreditAmount) pq_getmsgint64(buf));
}

Datum
credit_amount_send(PG_FUNCTION_ARGS)
{
	CreditAmount value = PG_GETARG_CREDIT_AMOUNT(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint64(&buf, value);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* ---------- casts ---------- */

/* Any int4 times 10^6 fits in an int64, so this cast cannot fail. */
Datum
credit_amount_from_int4(PG_FUNCTION_ARGS)
{
	PG_RETURN_CREDIT_AMOUNT((CreditAmount) PG_GETARG_INT32(0) *
							CREDIT_AMOUNT_SCALE);
}

Datum
credit_amount_from_int8(PG_FUNCTION_ARGS)
{
	int64		value = PG_GETARG_INT64(0);
	CreditAmount result;

	if (unlikely(pg_mul_s64_overflow(value, CREDIT_AMOUNT_SCALE, &result)))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("integer value %lld is out of range for type %s",
						(long long) value, "credit_amount")));
	PG_RETURN_CREDIT_AMOUNT(result);
}

static int
compare_numeric(Numeric a, Numeric b)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp,
											 NumericGetDatum(a),
											 NumericGetDatum(b)));
}

static char *
numeric_text(Numeric num)
{
	return DatumGetCString(DirectFunctionCall1(numeric_out,
											   NumericGetDatum(num)));
}

/*
 * The conversion is exact or fails: the value is scaled to millionths in
 * numeric arithmetic, which is exact, and anything left after the point
 * would have been lost, so it is an error rather than a rounding.
 */
Datum
credit_amount_from_numeric(PG_FUNCTION_ARGS)
{
	Numeric		num = PG_GETARG_NUMERIC(0);
	Numeric		scaled;
	Numeric		truncated;
	bool		out_of_range = false;

	if (numeric_is_nan(num))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot convert NaN to %s", "credit_amount")));
	if (numeric_is_inf(num))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot convert infinity to %s", "credit_amount")));

	scaled = numeric_mul_opt_error(num, int64_to_numeric(CREDIT_AMOUNT_SCALE),
								   &out_of_range);
	if (!out_of_range)
	{
		truncated = DatumGetNumeric(DirectFunctionCall2(numeric_trunc,
														NumericGetDatum(scaled),
														Int32GetDatum(0)));
		if (compare_numeric(scaled, truncated) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("numeric value %s has too many decimal places for type %s",
							numeric_text(num), "credit_amount"),
					 errdetail("A credit_amount has at most %d decimal places.",
							   CREDIT_AMOUNT_DECIMALS)));

		/* checked here so that numeric_int8's "bigint" error never shows */
		out_of_range =
			compare_numeric(scaled, int64_to_numeric(PG_INT64_MIN)) < 0 ||
			compare_numeric(scaled, int64_to_numeric(PG_INT64_MAX)) > 0;
	}
	if (out_of_range)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("numeric value %s is out of range for type %s",
						numeric_text(num), "credit_amount")));

	PG_RETURN_DATUM(DirectFunctionCall1(numeric_int8, NumericGetDatum(scaled)));
}

/*
 * Going through the text form gives the numeric its natural scale: 35.1
 * becomes 35.1, not 35.100000.
 */
Datum
credit_amount_to_numeric(PG_FUNCTION_ARGS)
{
	char	   *str = credit_amount_format(PG_GETARG_CREDIT_AMOUNT(0));

	PG_RETURN_DATUM(DirectFunctionCall3(numeric_in,
										CStringGetDatum(str),
										ObjectIdGetDatum(InvalidOid),
										Int32GetDatum(-1)));
}

/* ---------- arithmetic ---------- */

Datum
credit_amount_pl(PG_FUNCTION_ARGS)
{
	PG_RETURN_CREDIT_AMOUNT(credit_amount_add(PG_GETARG_CREDIT_AMOUNT(0),
											  PG_GETARG_CREDIT_AMOUNT(1)));
}

Datum
credit_amount_mi(PG_FUNCTION_ARGS)
{
	PG_RETURN_CREDIT_AMOUNT(credit_amount_sub(PG_GETARG_CREDIT_AMOUNT(0),
											  PG_GETARG_CREDIT_AMOUNT(1)));
}

Datum
credit_amount_um(PG_FUNCTION_ARGS)
{
	PG_RETURN_CREDIT_AMOUNT(credit_amount_sub(0, PG_GETARG_CREDIT_AMOUNT(0)));
}

Datum
credit_amount_mul_int4(PG_FUNCTION_ARGS)
{
	PG_RETURN_CREDIT_AMOUNT(credit_amount_mul_int(PG_GETARG_CREDIT_AMOUNT(0),
												  (int64) PG_GETARG_INT32(1)));
}

Datum
credit_amount_mul_int8(PG_FUNCTION_ARGS)
{
	PG_RETURN_CREDIT_AMOUNT(credit_amount_mul_int(PG_GETARG_CREDIT_AMOUNT(0),
												  PG_GETARG_INT64(1)));
}

Datum
int4_mul_credit_amount(PG_FUNCTION_ARGS)
{
	PG_RETURN_CREDIT_AMOUNT(credit_amount_mul_int(PG_GETARG_CREDIT_AMOUNT(1),
												  (int64) PG_GETARG_INT32(0)));
}

Datum
int8_mul_credit_amount(PG_FUNCTION_ARGS)
{
	PG_RETURN_CREDIT_AMOUNT(credit_amount_mul_int(PG_GETARG_CREDIT_AMOUNT(1),
												  PG_GETARG_INT64(0)));
}

Datum
credit_amount_div_int4(PG_FUNCTION_ARGS)
{
	PG_RETURN_CREDIT_AMOUNT(credit_amount_div_int(PG_GETARG_CREDIT_AMOUNT(0),
												  (int64) PG_GETARG_INT32(1)));
}

Datum
credit_amount_div_int8(PG_FUNCTION_ARGS)
{
	PG_RETURN_CREDIT_AMOUNT(credit_amount_div_int(PG_GETARG_CREDIT_AMOUNT(0),
												  PG_GETARG_INT64(1)));
}

/* ---------- comparison, sorting, hashing ---------- */

Datum
credit_amount_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(PG_GETARG_CREDIT_AMOUNT(0) == PG_GETARG_CREDIT_AMOUNT(1));
}

Datum
credit_amount_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(PG_GETARG_CREDIT_AMOUNT(0) != PG_GETARG_CREDIT_AMOUNT(1));
}

Datum
credit_amount_lt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(PG_GETARG_CREDIT_AMOUNT(0) < PG_GETARG_CREDIT_AMOUNT(1));
}

Datum
credit_amount_le(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(PG_GETARG_CREDIT_AMOUNT(0) <= PG_GETARG_CREDIT_AMOUNT(1));
}

Datum
credit_amount_gt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(PG_GETARG_CREDIT_AMOUNT(0) > PG_GETARG_CREDIT_AMOUNT(1));
}

Datum
credit_amount_ge(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(PG_GETARG_CREDIT_AMOUNT(0) >= PG_GETARG_CREDIT_AMOUNT(1));
}

Datum
credit_amount_cmp(PG_FUNCTION_ARGS)
{
	CreditAmount a = PG_GETARG_CREDIT_AMOUNT(0);
	CreditAmount b = PG_GETARG_CREDIT_AMOUNT(1);

	PG_RETURN_INT32((a > b) - (a < b));
}

/*
 * The Datum of an amount is exactly that of an int8 with the same ordering,
 * so int8's sort support (with its specialised comparators) applies as is.
 */
Datum
credit_amount_sortsupport(PG_FUNCTION_ARGS)
{
	return btint8sortsupport(fcinfo);
}

/* int8's hashes, for the same reason; they also match int4's for small values */
Datum
credit_amount_hash(PG_FUNCTION_ARGS)
{
	return hashint8(fcinfo);
}

Datum
credit_amount_hash_extended(PG_FUNCTION_ARGS)
{
	return hashint8extended(fcinfo);
}

/* ---------- aggregates ---------- */

Datum
credit_amount_smaller(PG_FUNCTION_ARGS)
{
	CreditAmount a = PG_GETARG_CREDIT_AMOUNT(0);
	CreditAmount b = PG_GETARG_CREDIT_AMOUNT(1);

	PG_RETURN_CREDIT_AMOUNT(a < b ? a : b);
}

Datum
credit_amount_larger(PG_FUNCTION_ARGS)
{
	CreditAmount a = PG_GETARG_CREDIT_AMOUNT(0);
	CreditAmount b = PG_GETARG_CREDIT_AMOUNT(1);

	PG_RETURN_CREDIT_AMOUNT(a > b ? a : b);
}

/*
 * The 128-bit total cannot overflow before 2^64 maximal inputs have been
 * added, so the transition functions need no checks; the final function
 * does the only range check.  The state is created on the first non-null
 * input, which makes the sum of no (non-null) rows NULL.
 */
Datum
credit_amount_sum_accum(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	CreditAmountSumState *state;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "credit_amount_sum_accum called in non-aggregate context");

	state = PG_ARGISNULL(0) ? NULL : (CreditAmountSumState *) PG_GETARG_POINTER(0);
	if (!PG_ARGISNULL(1))
	{
		if (state == NULL)
			state = (CreditAmountSumState *)
				MemoryContextAllocZero(aggcontext, sizeof(CreditAmountSumState));
		state->total += PG_GETARG_CREDIT_AMOUNT(1);
	}

	if (state == NULL)
		PG_RETURN_NULL();
	PG_RETURN_POINTER(state);
}

Datum
credit_amount_sum_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	CreditAmountSumState *state1;
	CreditAmountSumState *state2;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "credit_amount_sum_combine called in non-aggregate context");

	state1 = PG_ARGISNULL(0) ? NULL : (CreditAmountSumState *) PG_GETARG_POINTER(0);
	state2 = PG_ARGISNULL(1) ? NULL : (CreditAmountSumState *) PG_GETARG_POINTER(1);

	if (state2 == NULL)
	{
		if (state1 == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(state1);
	}
	if (state1 == NULL)
	{
		/* the state must live in the aggregate's context, not state2's */
		state1 = (CreditAmountSumState *)
			MemoryContextAlloc(aggcontext, sizeof(CreditAmountSumState));
		*state1 = *state2;
		PG_RETURN_POINTER(state1);
	}
	state1->total += state2->total;
	PG_RETURN_POINTER(state1);
}

/* Serialised as two int8s, high half first, for parallel aggregation. */
Datum
credit_amount_sum_serialize(PG_FUNCTION_ARGS)
{
	CreditAmountSumState *state;
	StringInfoData buf;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "credit_amount_sum_serialize called in non-aggregate context");

	state = (CreditAmountSumState *) PG_GETARG_POINTER(0);
	pq_begintypsend(&buf);
	pq_sendint64(&buf, (int64) (state->total >> 64));
	pq_sendint64(&buf, (int64) (uint64) state->total);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

Datum
credit_amount_sum_deserialize(PG_FUNCTION_ARGS)
{
	bytea	   *serialized;
	CreditAmountSumState *state;
	StringInfoData buf;
	int64		high;
	uint64		low;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "credit_amount_sum_deserialize called in non-aggregate context");

	serialized = PG_GETARG_BYTEA_PP(0);
	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, VARDATA_ANY(serialized),
						   VARSIZE_ANY_EXHDR(serialized));
	high = pq_getmsgint64(&buf);
	low = (uint64) pq_getmsgint64(&buf);
	pq_getmsgend(&buf);
	pfree(buf.data);

	state = (CreditAmountSumState *) palloc(sizeof(CreditAmountSumState));
	state->total = (int128) (((uint128) high << 64) | (uint128) low);
	PG_RETURN_POINTER(state);
}

Datum
credit_amount_sum_final(PG_FUNCTION_ARGS)
{
	CreditAmountSumState *state;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = (CreditAmountSumState *) PG_GETARG_POINTER(0);
	if (state->total < (int128) PG_INT64_MIN ||
		state->total > (int128) PG_INT64_MAX)
		report_out_of_range();
	PG_RETURN_CREDIT_AMOUNT((CreditAmount) state->total);
}
