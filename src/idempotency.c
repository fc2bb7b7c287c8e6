/*
 * idempotency.c
 *	  Idempotency keys: a call repeated with the same key (per account) and
 *	  the same arguments returns the first call's result and changes nothing;
 *	  the same key with other arguments is refused (CR003).
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/builtins.h"

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
 */
void
credits_idem_field(StringInfo buf, const char *value)
{
	if (value == NULL)
		appendStringInfoString(buf, "-;");
	else
		appendStringInfo(buf, "%zu:%s;", strlen(value), value);
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
 * this key has either committed (and is seen here) or is not running.
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
	if (strcmp(stored, request) != 0)
		credits_idem_conflict(key);
	*result = credits_col_int64(0, 2);
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
