/*
 * reversal.c
 *	  Corrections: credits_reverse() gives a spend's (or capture's) credits
 *	  back to the very lots they came from, once; credits_void() removes what
 *	  is left of a lot.  Both write new entries; history is never edited.
 *
 *	  Lock order: the entry or lot is found by id without a lock, then its
 *	  account row is locked, then its state is read again under that lock.
 */
#include "postgres.h"

#include "utils/builtins.h"

#include "credits.h"
#include "lifecycle.h"

static CreditsStmt stmt_entry_find = {"i",
		"SELECT account, credit_type, kind, reference FROM credits.entry "
		"WHERE entry_id = $1"};

static CreditsStmt stmt_entry_find_in = {"it",
		"SELECT account, credit_type, kind, reference FROM credits.entry "
		"WHERE account = $2 AND entry_id = $1"};

/* Served by the unique index entry_reversed_once. */
static CreditsStmt stmt_entry_reversal = {"ti",
		"SELECT entry_id FROM credits.entry "
		"WHERE account = $1 AND related_id = $2 AND kind = 'reversal'"};

static CreditsStmt stmt_lot_find = {"i",
		"SELECT account, credit_type FROM credits.lot WHERE lot_id = $1"};

static CreditsStmt stmt_lot_find_in = {"it",
		"SELECT account, credit_type FROM credits.lot "
		"WHERE account = $2 AND lot_id = $1"};

static CreditsStmt stmt_lot_read = {"ti",
		"SELECT remaining, voided_at IS NOT NULL FROM credits.lot "
		"WHERE account = $1 AND lot_id = $2"};

static CreditsStmt stmt_lot_void = {"ti",
		"UPDATE credits.lot SET remaining = 0, is_open = false, "
		"voided_at = now() WHERE account = $1 AND lot_id = $2"};

PG_FUNCTION_INFO_V1(credits_reverse);
PG_FUNCTION_INFO_V1(credits_void);

/*
 * credits_reverse(entry_id, reason) returns the reversal entry's id.  The
 * reversal (in) has the same allocations as the reversed entry; credits of
 * lots that expired or were voided meanwhile leave again at once, and the
 * rest settle the account's outstanding clawback shortfalls first.  Refunds
 * keep working while credits are disabled.
 */
Datum
credits_reverse(PG_FUNCTION_ARGS)
{
	int64		entry_id;
	bool		reason_null = PG_ARGISNULL(1);
	Datum		reason = reason_null ? (Datum) 0 : PG_GETARG_DATUM(1);
	Datum		values[2];
	Datum		account;
	Datum		credit_type;
	Datum		reference;
	bool		reference_null;
	bool		isnull;
	char	   *kind;
	AccountState acct;
	LotPart    *parts;
	int			n;
	int64		reversal_id;

	credits_require_arg(fcinfo, 0, "entry_id");
	entry_id = PG_GETARG_INT64(0);

	SPI_connect();
	/* A reversal is a refund: the agency's, never a portal's. */
	credits_check_access((Datum) 0, CREDITS_ACCESS_AGENCY);
	credits_run_find(&stmt_entry_find, &stmt_entry_find_in, entry_id, fcinfo, 2);
	if (SPI_processed == 0)
		credits_not_found("entry", entry_id, fcinfo, 2);
	account = credits_col(0, 1, &isnull);
	credit_type = credits_col(0, 2, &isnull);
	kind = TextDatumGetCString(credits_col(0, 3, &isnull));
	reference = credits_col(0, 4, &reference_null);
	if (strcmp(kind, "spend") != 0 && strcmp(kind, "capture") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("entry " INT64_FORMAT " cannot be reversed: it is a %s entry",
						entry_id, credits_kind_label(kind)),
				 errhint("Only spend and capture entries can be reversed; a grant is corrected with credits_void().")));

	credits_lock_account(&acct, account, credit_type, false);
	if (!acct.exists)
		elog(ERROR, "credits: the account of entry " INT64_FORMAT " has no account row",
			 entry_id);
	values[0] = account;
	values[1] = Int64GetDatum(entry_id);
	credits_run(&stmt_entry_reversal, values, NULL, false, 1);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_CREDITS_INVALID_STATE),
				 errmsg("entry " INT64_FORMAT " is already reversed", entry_id),
				 errdetail("Reversal entry " INT64_FORMAT " gave its credits back.",
						   credits_col_int64(0, 1))));

	credits_record_due_now(&acct);
	parts = credits_entry_parts(&acct, entry_id, &n);
	reversal_id = credits_return_to_lots(&acct, "reversal", entry_id, parts, n,
										 reference, reference_null,
										 reason, reason_null);
	credits_settle_lots(&acct, parts, n);
	credits_settle_shortfalls(&acct, parts, n);
	credits_save_account(&acct);
	SPI_finish();
	PG_RETURN_INT64(reversal_id);
}

/*
 * credits_void(lot_id, reason) removes what is left of the lot now, as a
 * void entry, marks the lot voided and returns the amount removed (0 when
 * nothing was left: the void is still recorded).  Credits already spent
 * stay spent; held credits of the lot are voided when they are released.
 */
Datum
credits_void(PG_FUNCTION_ARGS)
{
	int64		lot_id;
	Datum		values[2];
	Datum		account;
	Datum		credit_type;
	bool		isnull;
	AccountState acct;
	CreditAmount amount;

	credits_require_arg(fcinfo, 0, "lot_id");
	credits_require_arg(fcinfo, 1, "reason");
	lot_id = PG_GETARG_INT64(0);

	SPI_connect();
	credits_check_access((Datum) 0, CREDITS_ACCESS_AGENCY);
	credits_run_find(&stmt_lot_find, &stmt_lot_find_in, lot_id, fcinfo, 2);
	if (SPI_processed == 0)
		credits_not_found("lot", lot_id, fcinfo, 2);
	account = credits_col(0, 1, &isnull);
	credit_type = credits_col(0, 2, &isnull);

	credits_lock_account(&acct, account, credit_type, false);
	if (!acct.exists)
		elog(ERROR, "credits: the account of lot " INT64_FORMAT " has no account row",
			 lot_id);
	credits_record_due_now(&acct);

	values[0] = account;
	values[1] = Int64GetDatum(lot_id);
	credits_run(&stmt_lot_read, values, NULL, false, 1);
	if (SPI_processed != 1)
		elog(ERROR, "credits: lot " INT64_FORMAT " vanished", lot_id);
	amount = credits_col_amount(0, 1);
	if (DatumGetBool(credits_col(0, 2, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_CREDITS_INVALID_STATE),
				 errmsg("lot " INT64_FORMAT " is already voided", lot_id)));

	credits_run(&stmt_lot_void, values, NULL, false, 0);
	credits_append_entry(&acct, "void", amount, true, lot_id, 0,
						 (Datum) 0, true, PG_GETARG_DATUM(1), false);
	credits_save_account(&acct);
	SPI_finish();
	PG_RETURN_CREDIT_AMOUNT(amount);
}
