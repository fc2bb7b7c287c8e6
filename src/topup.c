/*
 * topup.c
 *	  Auto top-up: a call whose movements take credits and leave the
 *	  available balance below the account's top-up threshold, while no
 *	  top-up of the account and credit type is pending, asks for one (a
 *	  pending credit request, credits.request_topup in
 *	  sql/parts/89_topup.sql) when it saves the account.
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/builtins.h"

#include "credits.h"

/*
 * The request, under the account lock the call holds.  The function never
 * raises for a top-up it cannot request (it records why in an event and a
 * WARNING): the movement stands.  It answers what it did: requested,
 * pending (one is already), off, above (the balance is not below), failed,
 * or waiting (a renewal of a credit subscription of the account is due,
 * which refills it first: credits_run_due records the expirations, then
 * renews, and the save after the renewal decides).
 */
static CreditsStmt stmt_request_topup = {"ttaiT",
	"SELECT credits.request_topup($1, $2, $3, $4, $5)"};

/*
 * The same for the accounts of a set-based expiry batch (locked, their
 * expirations just recorded): those whose latest entry is an expiry of this
 * transaction (dated at or after its start, $3) that left them below their
 * threshold with no top-up pending.
 */
static CreditsStmt stmt_request_topups = {"SST",
	"SELECT count(credits.request_topup(a.account, a.credit_type, a.balance, "
	"  e.entry_id, e.at)) "
	"FROM credits.account a "
	"JOIN (SELECT DISTINCT * FROM unnest($1::text[], $2::text[])) "
	"  u(account, credit_type) "
	"  ON a.account = u.account AND a.credit_type = u.credit_type "
	"JOIN credits.entry e ON e.account = a.account "
	"  AND e.credit_type = a.credit_type AND e.seq = a.last_seq "
	"WHERE a.topup_request IS NULL AND a.balance < a.topup_below "
	"  AND e.kind = 'expire' AND e.at >= $3"};

/*
 * Read the column topup_due (CREDITS_TOPUP_COLUMN) of the first row of the
 * last result: the threshold of an account with auto top-up and no top-up
 * pending, else NULL.  By name, so that the statements may list it anywhere.
 */
void
credits_topup_read(AccountState *acct)
{
	int			col = SPI_fnumber(SPI_tuptable->tupdesc, "topup_due");
	bool		isnull = true;
	Datum		d = (Datum) 0;

	if (col > 0)
		d = credits_col(0, col, &isnull);
	/* (the tables of 1.0 and 1.1 answer NULL) */
	acct->has_topup = !isnull;
	acct->topup_below = acct->has_topup ? DatumGetCreditAmount(d) : 0;
	acct->topup_entry = 0;
}

/*
 * The call is saving the account, one of whose entries (acct->topup_entry)
 * left the balance below the threshold: if it is still below, request the
 * top-up.  Decided once per call, whatever the outcome, unless a renewal
 * due first makes it wait for the next save.
 */
void
credits_topup_decide(AccountState *acct)
{
	Datum		values[5];
	bool		isnull;
	char	   *outcome;

	if (!acct->has_topup || acct->balance >= acct->topup_below)
	{
		acct->topup_entry = 0;
		return;
	}
	values[0] = acct->account;
	values[1] = acct->credit_type;
	values[2] = CreditAmountGetDatum(acct->balance);
	values[3] = Int64GetDatum(acct->topup_entry);
	values[4] = TimestampTzGetDatum(acct->now);
	credits_run(&stmt_request_topup, values, NULL, false, 1);
	outcome = TextDatumGetCString(credits_col(0, 1, &isnull));
	if (strcmp(outcome, "waiting") == 0)
		return;
	acct->topup_entry = 0;
	acct->has_topup = false;
}

/*
 * After a set-based expiry of the (locked) accounts, text[] accounts and
 * credit_types: the top-ups the expirations call for.  Nothing on the
 * tables of 1.0 and 1.1, which have no auto top-up.
 */
void
credits_topup_accounts(Datum accounts, Datum credit_types)
{
	Datum		values[3];

	if (credits_catalog_level() < 12)
		return;
	values[0] = accounts;
	values[1] = credit_types;
	values[2] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	credits_run(&stmt_request_topups, values, NULL, false, 0);
}
