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

#include "lib/stringinfo.h"
#include "utils/builtins.h"
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
	if (strcmp(stored, request) != 0)
	{
		char	   *converted = credits_idem_from_1_0(stored);

		if (converted == NULL || strcmp(converted, request) != 0)
			credits_idem_conflict(key);
	}
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
