/*
 * expiry.c
 *	  Expiry and balances: credits_expire() records due expirations across
 *	  accounts; credits_balance() answers the available balance at any time,
 *	  never counting credits whose expiry has passed, recorded or not.
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "credits.h"

static CreditsStmt stmt_accounts_due = {"T",
		"SELECT DISTINCT account COLLATE \"C\", credit_type COLLATE \"C\" "
		"FROM credits.lot WHERE is_open AND expires_at <= $1 ORDER BY 1, 2"};

static CreditsStmt stmt_balance_now = {"ttT",
		"SELECT CASE WHEN a.next_expiry IS NULL OR a.next_expiry > $3 "
		"THEN a.balance ELSE a.balance - coalesce((SELECT sum(l.remaining) "
		"FROM credits.lot l WHERE l.account = $1 AND l.credit_type = $2 "
		"AND l.is_open AND l.expires_at <= $3), 0) END "
		"FROM credits.account a WHERE a.account = $1 AND a.credit_type = $2"};

static CreditsStmt stmt_balance_past = {"ttT",
		"WITH last AS (SELECT seq, running_balance FROM credits.entry "
		"  WHERE account = $1 AND credit_type = $2 AND at <= $3 "
		"  ORDER BY seq DESC LIMIT 1) "
		"SELECT last.running_balance "
		" - coalesce((SELECT sum(e.amount) FROM credits.entry e "
		"    JOIN credits.lot l ON l.account = e.account AND l.lot_id = e.lot_id "
		"    WHERE e.account = $1 AND e.credit_type = $2 AND e.seq > last.seq "
		"    AND e.kind = 'expire' AND l.expires_at <= $3), 0) "
		" - coalesce((SELECT sum(l.remaining) FROM credits.lot l "
		"    WHERE l.account = $1 AND l.credit_type = $2 AND l.is_open "
		"    AND l.expires_at <= $3), 0) "
		"FROM last"};

PG_FUNCTION_INFO_V1(credits_expire);
PG_FUNCTION_INFO_V1(credits_balance);

typedef struct DueAccount
{
	Datum		account;
	Datum		credit_type;
} DueAccount;

/*
 * credits_expire(as_of) records an expire entry for every lot with credits
 * left whose expires_at <= as_of, and returns how many lots.  Accounts are
 * locked one after another in a fixed order, so concurrent runs and spends
 * cannot deadlock; a second run finds nothing left to do.
 */
Datum
credits_expire(PG_FUNCTION_ARGS)
{
	TimestampTz as_of;
	DueAccount *due;
	uint64		n;
	uint64		i;
	int64		count = 0;

	credits_require_arg(fcinfo, 0, "as_of");
	as_of = PG_GETARG_TIMESTAMPTZ(0);
	if (as_of > GetCurrentTransactionStartTimestamp())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must not be later than now"),
				 errdetail("Credits never expire early; the value given was %s.",
						   timestamptz_to_str(as_of))));

	SPI_connect();
	credits_check_access((Datum) 0, CREDITS_ACCESS_AGENCY);
	{
		Datum		values[1];

		values[0] = TimestampTzGetDatum(as_of);
		credits_run(&stmt_accounts_due, values, NULL, false, 0);
	}
	n = SPI_processed;
	due = palloc(sizeof(DueAccount) * (n + 1));
	for (i = 0; i < n; i++)
	{
		bool		isnull;

		due[i].account = SPI_datumTransfer(credits_col(i, 1, &isnull), false, -1);
		due[i].credit_type = SPI_datumTransfer(credits_col(i, 2, &isnull), false, -1);
	}
	SPI_freetuptable(SPI_tuptable);

	for (i = 0; i < n; i++)
	{
		AccountState acct;
		int64		expired;

		CHECK_FOR_INTERRUPTS();
		credits_lock_account(&acct, due[i].account, due[i].credit_type, false);
		expired = credits_record_due(&acct, as_of);
		if (expired > 0)
			credits_save_account(&acct);
		count += expired;
	}
	SPI_finish();
	PG_RETURN_INT64(count);
}

/*
 * credits_balance(account, credit_type, at): at now or later, the account's
 * lots as they are, minus those expired by at; before now, from history.
 */
Datum
credits_balance(PG_FUNCTION_ARGS)
{
	Datum		values[3];
	CreditTypeInfo info;
	TimestampTz at;
	CreditAmount balance = 0;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	at = PG_GETARG_TIMESTAMPTZ(2);
	values[0] = PG_GETARG_DATUM(0);
	values[1] = PG_GETARG_DATUM(1);
	values[2] = TimestampTzGetDatum(at);

	SPI_connect();
	credits_check_access(values[0], CREDITS_ACCESS_CLIENT);
	credits_type_info(values[1], &info);
	if (at >= GetCurrentTransactionStartTimestamp())
		credits_run(&stmt_balance_now, values, NULL, true, 1);
	else
		credits_run(&stmt_balance_past, values, NULL, true, 1);
	if (SPI_processed > 0)
		balance = credits_col_amount(0, 1);
	SPI_finish();
	PG_RETURN_CREDIT_AMOUNT(balance);
}
