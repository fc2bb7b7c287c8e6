/*
 * idempotency.c
 *	  Idempotency keys: a call repeated with the same key (per account) and
 *	  the same arguments returns the first call's result and changes nothing;
 *	  the same key with other arguments is refused (CR003).
 *
 *	  Arguments are compared by value: the request text stores each one in a
 *	  form that no session setting (TimeZone, DateStyle, IntervalStyle,
 *	  extra_float_digits, lc_numeric) changes.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "credits.h"

static CreditsStmt stmt_idem_get = {"tt",
		"SELECT request, result FROM credits.idempotency "
		"WHERE account = $1 AND idempotency_key = $2"};

static CreditsStmt stmt_idem_put = {"tttti",
		"INSERT INTO credits.idempotency (account, idempotency_key, operation, "
		"request, result) VALUES ($1, $2, $3, $4, $5) "
		"ON CONFLICT DO NOTHING"};

static CreditsStmt stmt_idem_claim = {"tttt",
		"INSERT INTO credits.idempotency (account, idempotency_key, operation, "
		"request) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"};

static CreditsStmt stmt_idem_get_row = {"tt",
		"SELECT request, result, result_row FROM credits.idempotency "
		"WHERE account = $1 AND idempotency_key = $2"};

static CreditsStmt stmt_idem_finish = {"ttij",
		"UPDATE credits.idempotency SET result = $3, result_row = $4 "
		"WHERE account = $1 AND idempotency_key = $2"};

PG_FUNCTION_INFO_V1(credits_idem_request_sql);
PG_FUNCTION_INFO_V1(credits_idem_claim_sql);
PG_FUNCTION_INFO_V1(credits_idem_finish_sql);

/*
 * Append one argument to a canonical request text.  Fields are length-
 * prefixed so that no two different argument lists give the same text.
 * Text, credit types and credit_amount (whose output is canonical and never
 * depends on a setting) go in as they print.
 */
void
credits_idem_field(StringInfo buf, const char *value)
{
	if (value == NULL)
		appendStringInfoString(buf, "-;");
	else
		appendStringInfo(buf, "%zu:%s;", strlen(value), value);
}

/*
 * An instant: "t" and its microseconds since 2000-01-01 UTC, so that the
 * same instant written in any time zone or date style is the same argument.
 * (1.0 stored the text of timestamptz_to_str, which follows the session's
 * TimeZone; credits_idem_lookup still recognizes it.)
 */
void
credits_idem_timestamptz(StringInfo buf, bool isnull, TimestampTz value)
{
	credits_idem_field(buf, isnull ? NULL
					   : psprintf("t" INT64_FORMAT, (int64) value));
}

/*
 * A numeric by value: 1.50 and 1.5 are the same amount of money, so the
 * text has no trailing zeros (numeric_normalize, as jsonb hashing uses).
 * For keyed functions that take money.
 */
void
credits_idem_numeric(StringInfo buf, bool isnull, Numeric value)
{
	credits_idem_field(buf, isnull ? NULL : numeric_normalize(value));
}

/*
 * An interval by its three fields, whatever IntervalStyle says: '1 month'
 * and '30 days' are different arguments (they move dates differently),
 * '1 day' and '24 hours' too.  For keyed functions that take an interval.
 */
void
credits_idem_interval(StringInfo buf, bool isnull, Datum value)
{
	Interval   *iv;

	if (isnull)
	{
		credits_idem_field(buf, NULL);
		return;
	}
	iv = DatumGetIntervalP(value);
	credits_idem_field(buf, psprintf("i%d,%d," INT64_FORMAT,
									 iv->month, iv->day, (int64) iv->time));
}

/*
 * The request text of version 1.0, in today's encoding, or NULL when there
 * is nothing to convert.  1.0 wrote a grant's expires_at as
 * timestamptz_to_str() prints it: ISO, in the writing session's time zone,
 * with its UTC offset — so it reads back as the same instant anywhere.
 * Every other field was already written by value.
 */
static char *
credits_idem_from_1_0(const char *stored)
{
	const char *p = stored;
	const char *fields[6];
	int			lengths[6];
	int			n = 0;
	StringInfoData out;
	int			i;

	while (*p != '\0')
	{
		char	   *end;
		long		len;

		if (n == lengthof(fields))
			return NULL;
		if (p[0] == '-' && p[1] == ';')
		{
			fields[n] = NULL;
			lengths[n++] = 0;
			p += 2;
			continue;
		}
		len = strtol(p, &end, 10);
		if (end == p || *end != ':' || len < 0 || (size_t) len > strlen(end + 1) ||
			end[1 + len] != ';')
			return NULL;
		fields[n] = end + 1;
		lengths[n++] = (int) len;
		p = end + 2 + len;
	}
	/* grant: operation, type, amount, expires_at, reason, reference */
	if (n != 6 || fields[0] == NULL || lengths[0] != 5 ||
		strncmp(fields[0], "grant", 5) != 0 ||
		fields[3] == NULL || lengths[3] == 0 || fields[3][0] == 't')
		return NULL;

	initStringInfo(&out);
	for (i = 0; i < n; i++)
	{
		if (i == 3)
		{
			Datum		t = DirectFunctionCall3(timestamptz_in,
												CStringGetDatum(pnstrdup(fields[3], lengths[3])),
												ObjectIdGetDatum(InvalidOid),
												Int32GetDatum(-1));

			credits_idem_timestamptz(&out, false, DatumGetTimestampTz(t));
		}
		else
			credits_idem_field(&out, fields[i] == NULL ? NULL
							   : pnstrdup(fields[i], lengths[i]));
	}
	return out.data;
}

static void
credits_idem_conflict(Datum key)
{
	ereport(ERROR,
			(errcode(ERRCODE_CREDITS_IDEMPOTENCY),
			 errmsg("idempotency key \"%s\" was already used with different arguments",
					TextDatumGetCString(key)),
			 errhint("Use a new key for a new request.")));
}

/* CR003 unless the stored request is this one (read in today's encoding). */
static void
credits_idem_compare(Datum key, const char *stored, const char *request)
{
	if (strcmp(stored, request) != 0)
	{
		char	   *converted = credits_idem_from_1_0(stored);

		if (converted == NULL || strcmp(converted, request) != 0)
			credits_idem_conflict(key);
	}
}

/*
 * Look the key up.  The caller holds the account lock, so a first call with
 * this key has either committed (and is seen here) or is not running.  A
 * request stored by 1.0 is compared in today's encoding.
 */
bool
credits_idem_lookup(Datum account, Datum key, const char *request,
					int64 *result)
{
	Datum		values[2];
	bool		isnull;
	char	   *stored;

	values[0] = account;
	values[1] = key;
	credits_run(&stmt_idem_get, values, NULL, false, 1);
	if (SPI_processed == 0)
		return false;
	stored = TextDatumGetCString(credits_col(0, 1, &isnull));
	*result = credits_col_int64(0, 2);
	credits_idem_compare(key, stored, request);
	return true;
}

/*
 * Remember the result.  A concurrent first use of the key on another credit
 * type of the same account (not serialized by our lock) makes the insert
 * wait for it and then find the key taken: that is a reuse with different
 * arguments.
 */
void
credits_idem_store(Datum account, Datum key, const char *operation,
				   const char *request, int64 result)
{
	Datum		values[5];

	values[0] = account;
	values[1] = key;
	values[2] = CStringGetTextDatum(operation);
	values[3] = CStringGetTextDatum(request);
	values[4] = Int64GetDatum(result);
	credits_run(&stmt_idem_put, values, NULL, false, 0);
	if (SPI_processed != 1)
		credits_idem_conflict(key);
}

/*
 * Claim the key for a call whose own lock does not serialize every call
 * with that key: a payment that applies nothing takes no row lock (the
 * account may have no row), a purchase that creates a credit request locks
 * no account at all.  The key's row is inserted first, without a result; a
 * concurrent call with the same key waits on that insert until the first
 * commits (then finds its result) or rolls back (then claims the key
 * itself).  Returns true with the first call's result when the key was
 * used before with this request (CR003 when with another); false when the
 * caller now holds the key and must record its result with
 * credits_idem_finish() before it returns.  A call that fails afterwards
 * rolls the claim back with everything else: a failed call uses no key.
 * result_row is the jsonb of the first call's result row, copied to the
 * caller's memory context; NULL (isnull) when the operation keeps none.
 */
bool
credits_idem_claim(Datum account, Datum key, const char *operation,
				   const char *request, int64 *result, bool *result_null,
				   Datum *result_row, bool *result_row_null)
{
	Datum		values[4];
	bool		isnull;
	char	   *stored;
	Datum		d;

	values[0] = account;
	values[1] = key;
	values[2] = CStringGetTextDatum(operation);
	values[3] = CStringGetTextDatum(request);
	credits_run(&stmt_idem_claim, values, NULL, false, 0);
	if (SPI_processed == 1)
		return false;

	/* Taken: by a committed call (this statement's snapshot sees it) or by
	 * this transaction. */
	credits_run(&stmt_idem_get_row, values, NULL, false, 1);
	if (SPI_processed == 0)
		elog(ERROR, "credits: idempotency key \"%s\" is taken but cannot be read",
			 TextDatumGetCString(key));
	stored = TextDatumGetCString(credits_col(0, 1, &isnull));
	credits_idem_compare(key, stored, request);
	d = credits_col(0, 2, result_null);
	*result = *result_null ? 0 : DatumGetInt64(d);
	d = credits_col(0, 3, result_row_null);
	*result_row = *result_row_null ? (Datum) 0
		: SPI_datumTransfer(d, false, -1);
	return true;
}

/* Record the result of a call that claimed its key (credits_idem_claim). */
void
credits_idem_finish(Datum account, Datum key, int64 result, bool result_null,
					Datum result_row)
{
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};

	values[0] = account;
	values[1] = key;
	values[2] = Int64GetDatum(result);
	if (result_null)
		nulls[2] = 'n';
	values[3] = result_row;
	if (result_row == (Datum) 0)
		nulls[3] = 'n';
	credits_run(&stmt_idem_finish, values, nulls, false, 0);
	if (SPI_processed != 1)
		elog(ERROR, "credits: idempotency key \"%s\" was not claimed",
			 TextDatumGetCString(key));
}

/* A member of a jsonb object as text, for reading a stored result row. */
char *
credits_idem_row_field(Datum result_row, const char *name)
{
	Datum		value;

	value = DirectFunctionCall2(jsonb_object_field_text, result_row,
								CStringGetTextDatum(name));
	return TextDatumGetCString(value);
}

/*
 * credits.idempotency_request(fields text[]): the canonical request text of
 * the given fields (NULL elements allowed), as the C functions build it;
 * for the keyed functions written in SQL.  Their arguments are text and
 * integers, whose text is already their value.
 */
Datum
credits_idem_request_sql(PG_FUNCTION_ARGS)
{
	ArrayType  *fields;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;
	StringInfoData buf;

	credits_require_arg(fcinfo, 0, "fields");
	fields = PG_GETARG_ARRAYTYPE_P(0);
	deconstruct_array(fields, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	initStringInfo(&buf);
	for (i = 0; i < n; i++)
		credits_idem_field(&buf, nulls[i] ? NULL : TextDatumGetCString(elems[i]));
	PG_RETURN_TEXT_P(cstring_to_text(buf.data));
}

/*
 * credits.idempotency_claim(account, idempotency_key, operation, request)
 * returns NULL when the caller now holds the key (it records its result
 * with credits.idempotency_finish), or the first call's result row (jsonb)
 * when the key was used before with the same request; CR003 when with
 * another.  See credits_idem_claim().
 */
Datum
credits_idem_claim_sql(PG_FUNCTION_ARGS)
{
	int64		result;
	bool		result_null;
	Datum		row;
	bool		row_null;
	bool		used;

	credits_require_arg(fcinfo, 0, "account");
	credits_require_arg(fcinfo, 1, "idempotency_key");
	credits_require_arg(fcinfo, 2, "operation");
	credits_require_arg(fcinfo, 3, "request");
	SPI_connect();
	used = credits_idem_claim(PG_GETARG_DATUM(0), PG_GETARG_DATUM(1),
							  text_to_cstring(PG_GETARG_TEXT_PP(2)),
							  text_to_cstring(PG_GETARG_TEXT_PP(3)),
							  &result, &result_null, &row, &row_null);
	SPI_finish();
	if (!used)
		PG_RETURN_NULL();
	if (row_null)
		elog(ERROR, "credits: idempotency key \"%s\" has no result row",
			 TextDatumGetCString(PG_GETARG_DATUM(1)));
	PG_RETURN_DATUM(row);
}

/*
 * credits.idempotency_finish(account, idempotency_key, result, result_row)
 * records the result of a call that claimed its key.
 */
Datum
credits_idem_finish_sql(PG_FUNCTION_ARGS)
{
	credits_require_arg(fcinfo, 0, "account");
	credits_require_arg(fcinfo, 1, "idempotency_key");
	credits_require_arg(fcinfo, 3, "result_row");
	SPI_connect();
	credits_idem_finish(PG_GETARG_DATUM(0), PG_GETARG_DATUM(1),
						PG_ARGISNULL(2) ? 0 : PG_GETARG_INT64(2),
						PG_ARGISNULL(2), PG_GETARG_DATUM(3));
	SPI_finish();
	PG_RETURN_VOID();
}
