/*
 * expiry.c
 *	  Balances: credits_balance() answers the available balance at any time,
 *	  never counting credits whose expiry has passed, recorded or not.
 *	  (credits_expire() records due expirations across accounts: bulk.c.)
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "credits.h"

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

PG_FUNCTION_INFO_V1(credits_balance);

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
