/*
 * holds.c
 *	  Holds: credits_hold() reserves credits from specific lots at once (they
 *	  leave the available balance), credits_capture() spends all or part of
 *	  them, credits_release() gives them back.  A hold is closed once.
 *
 *	  Lock order: a hold is found by id without a lock, then its account row
 *	  is locked (credits_lock_account), then the hold is read again.  Every
 *	  change to a hold happens under its account's lock, so that re-read is
 *	  authoritative; no function locks a hold row itself.
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "credits.h"
#include "lifecycle.h"

static CreditsStmt stmt_hold_next_id = {"",
		"SELECT nextval('credits.hold_id_seq')"};

static CreditsStmt stmt_hold_insert = {"titati",
		"INSERT INTO credits.hold (account, hold_id, credit_type, amount, "
		"reference, hold_entry_id) VALUES ($1, $2, $3, $4, $5, $6)"};

static CreditsStmt stmt_hold_find = {"i",
		"SELECT account, credit_type FROM credits.hold WHERE hold_id = $1"};

static CreditsStmt stmt_hold_find_in = {"it",
		"SELECT account, credit_type FROM credits.hold "
		"WHERE account = $2 AND hold_id = $1"};

static CreditsStmt stmt_hold_read = {"ti",
		"SELECT status, amount, reference, hold_entry_id FROM credits.hold "
		"WHERE account = $1 AND hold_id = $2"};

static CreditsStmt stmt_hold_close = {"titaii",
		"UPDATE credits.hold SET status = $3, captured = $4, "
		"release_entry_id = $5, capture_entry_id = $6, closed_at = now() "
		"WHERE account = $1 AND hold_id = $2"};

PG_FUNCTION_INFO_V1(credits_hold);
PG_FUNCTION_INFO_V1(credits_capture);
PG_FUNCTION_INFO_V1(credits_release);

/*
 * credits_hold(account, amount, reference, credit_type, idempotency_key)
 * returns the hold id.  The held credits are taken from the lots in spend
 * order, as one "hold" entry (out) with an allocation per lot; like a spend
 * without a service, only from lots that any service may use.  A key is looked up under the account lock, as a spend's is: a hold
 * needs the account row, so that lock serializes every call with the key.
 * (A database still on the 1.0 script calls with 4 arguments.)
 */
Datum
credits_hold(PG_FUNCTION_ARGS)
{
	Datum		account;
	Datum		credit_type;
	Datum		reference;
	CreditAmount amount;
	CreditTypeInfo info;
	AccountState acct;
	int64		hold_id;
	int64		entry_id;
	bool		has_key = PG_NARGS() > 4 && !PG_ARGISNULL(4);
	StringInfoData request;
	CreditAmount available;

	credits_require_arg(fcinfo, 0, "account");
	credits_require_arg(fcinfo, 1, "amount");
	credits_require_arg(fcinfo, 2, "reference");
	credits_require_arg(fcinfo, 3, "credit_type");
	account = PG_GETARG_DATUM(0);
	amount = PG_GETARG_CREDIT_AMOUNT(1);
	reference = PG_GETARG_DATUM(2);
	credit_type = PG_GETARG_DATUM(3);
	credits_require_account(DatumGetTextPP(account));
	credits_check_positive(amount, "amount");

	SPI_connect();
	/* Holds are the agency's (a portal spends with credits_spend). */
	credits_check_access(account, CREDITS_ACCESS_AGENCY);
	credits_type_info(credit_type, &info);
	credits_check_scale(amount, &info, credit_type, "amount");
	credits_lock_account(&acct, account, credit_type, false);
	if (has_key)
	{
		initStringInfo(&request);
		credits_idem_field(&request, "hold");
		credits_idem_field(&request, TextDatumGetCString(credit_type));
		credits_idem_field(&request, credit_amount_format(amount));
		credits_idem_field(&request, TextDatumGetCString(reference));
		if (credits_idem_lookup(account, PG_GETARG_DATUM(4), request.data, &hold_id))
		{
			SPI_finish();
			PG_RETURN_INT64(hold_id);
		}
	}
	credits_require_enabled("holding");
	credits_record_due_now(&acct);
	/* a hold names no service: only lots that any service may use */
	available = credits_available(&acct, LOTS_UNRESTRICTED, (Datum) 0);
	if (available < amount)
		credits_insufficient(&acct, available, amount);

	credits_run(&stmt_hold_next_id, NULL, NULL, false, 1);
	hold_id = credits_col_int64(0, 1);
	entry_id = credits_take_from_lots(&acct, "hold", amount, hold_id,
									  reference, false, (Datum) 0, true);
	{
		Datum		values[6];

		values[0] = account;
		values[1] = Int64GetDatum(hold_id);
		values[2] = credit_type;
		values[3] = CreditAmountGetDatum(amount);
		values[4] = reference;
		values[5] = Int64GetDatum(entry_id);
		credits_run(&stmt_hold_insert, values, NULL, false, 0);
	}
	acct.held = credit_amount_add(acct.held, amount);
	credits_save_account(&acct);
	if (has_key)
		credits_idem_store(account, PG_GETARG_DATUM(4), "hold", request.data,
						   hold_id);
	SPI_finish();
	PG_RETURN_INT64(hold_id);
}

/* An open hold, read under its account's lock. */
typedef struct HoldState
{
	int64		hold_id;
	CreditAmount amount;
	Datum		reference;
	int64		hold_entry_id;
} HoldState;

/*
 * Find the hold (42704), lock its account, and check under the lock that
 * it is still open (CR005).  The caller is inside SPI.
 */
static void
credits_lock_open_hold(int64 hold_id, FunctionCallInfo fcinfo, int account_argno,
					   AccountState *acct, HoldState *hold, CreditTypeInfo *info)
{
	Datum		values[2];
	Datum		account;
	Datum		credit_type;
	bool		isnull;
	char	   *status;

	credits_run_find(&stmt_hold_find, &stmt_hold_find_in, hold_id, fcinfo,
					 account_argno);
	if (SPI_processed == 0)
		credits_not_found("hold", hold_id, fcinfo, account_argno);
	account = credits_col(0, 1, &isnull);
	credit_type = credits_col(0, 2, &isnull);

	credits_type_info(credit_type, info);
	credits_lock_account(acct, account, credit_type, false);
	if (!acct->exists)
		elog(ERROR, "credits: the account of hold " INT64_FORMAT " has no account row",
			 hold_id);

	values[0] = account;
	values[1] = Int64GetDatum(hold_id);
	credits_run(&stmt_hold_read, values, NULL, false, 1);
	if (SPI_processed != 1)
		elog(ERROR, "credits: hold " INT64_FORMAT " vanished", hold_id);
	status = TextDatumGetCString(credits_col(0, 1, &isnull));
	if (strcmp(status, "open") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_CREDITS_INVALID_STATE),
				 errmsg("hold " INT64_FORMAT " is not open", hold_id),
				 errdetail("The hold was already %s; a hold is captured or released once.",
						   status)));
	hold->hold_id = hold_id;
	hold->amount = credits_col_amount(0, 2);
	hold->reference = credits_col(0, 3, &isnull);
	hold->hold_entry_id = credits_col_int64(0, 4);
}

static void
credits_close_hold(AccountState *acct, HoldState *hold, const char *status,
				   CreditAmount captured, int64 release_id, int64 capture_id)
{
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};

	values[0] = acct->account;
	values[1] = Int64GetDatum(hold->hold_id);
	values[2] = CStringGetTextDatum(status);
	values[3] = CreditAmountGetDatum(captured);
	values[4] = Int64GetDatum(release_id);
	values[5] = Int64GetDatum(capture_id);
	if (capture_id == 0)
		nulls[5] = 'n';
	credits_run(&stmt_hold_close, values, nulls, false, 0);
	acct->held = credit_amount_sub(acct->held, hold->amount);
	credits_save_account(acct);
}

/*
 * credits_capture(hold_id, amount) spends amount (all when NULL) of the
 * held credits and returns the capture entry's id.  History records the
 * release of the whole hold (in, back to its lots) and then the capture
 * (out) of amount, taken from the hold's lots in spend order, so
 * every running balance stays "previous plus in, minus out".  Held credits
 * are honoured even if their lot expired or was voided meanwhile; what is
 * not captured of such a lot leaves again at once (expire/void).
 * What is released and not captured settles the account's outstanding
 * clawback shortfalls first (credits_settle_shortfalls).  Capturing is
 * paying: while credits are disabled it raises CR002.
 */
Datum
credits_capture(PG_FUNCTION_ARGS)
{
	int64		hold_id;
	bool		has_amount = !PG_ARGISNULL(1);
	CreditAmount amount = has_amount ? PG_GETARG_CREDIT_AMOUNT(1) : 0;
	CreditTypeInfo info;
	AccountState acct;
	HoldState	hold;
	LotPart    *parts;
	int			n;
	int64		release_id;
	int64		capture_id;

	credits_require_arg(fcinfo, 0, "hold_id");
	hold_id = PG_GETARG_INT64(0);
	if (has_amount)
		credits_check_positive(amount, "amount");

	SPI_connect();
	/* before the hold is even looked up: nothing about it is a portal's */
	credits_check_access((Datum) 0, CREDITS_ACCESS_AGENCY);
	credits_lock_open_hold(hold_id, fcinfo, 2, &acct, &hold, &info);
	if (has_amount)
	{
		credits_check_scale(amount, &info, acct.credit_type, "amount");
		if (amount > hold.amount)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cannot capture %s: hold " INT64_FORMAT " holds %s",
							credit_amount_format(amount), hold_id,
							credit_amount_format(hold.amount)),
					 errhint("Capture at most the held amount; hold more first if more is due.")));
	}
	else
		amount = hold.amount;
	credits_require_enabled("capturing a hold");
	credits_record_due_now(&acct);

	parts = credits_entry_parts(&acct, hold.hold_entry_id, &n);
	release_id = credits_return_to_lots(&acct, "release", hold_id, parts, n,
										hold.reference, false, (Datum) 0, true);
	capture_id = credits_append_entry(&acct, "capture", amount, true, 0,
									  hold_id, hold.reference, false,
									  (Datum) 0, true);
	if (credits_take_parts(&acct, capture_id, parts, n, amount) != amount)
		elog(ERROR, "credits: hold " INT64_FORMAT " does not cover its amount",
			 hold_id);
	/* What the capture left in each lot (it took in the parts' order) ... */
	{
		CreditAmount left = amount;
		int			i;

		for (i = 0; i < n; i++)
		{
			CreditAmount take = Min(left, parts[i].amount);

			parts[i].amount -= take;
			left -= take;
		}
	}
	/* ... is what came back: it settles outstanding clawback shortfalls. */
	credits_settle_lots(&acct, parts, n);
	credits_settle_shortfalls(&acct, parts, n);
	credits_close_hold(&acct, &hold, "captured", amount, release_id,
					   capture_id);
	SPI_finish();
	PG_RETURN_INT64(capture_id);
}

/*
 * credits_release(hold_id) gives the held credits back to their lots; those
 * of lots that expired or were voided meanwhile expire or are voided again
 * at once, and the rest settle the account's outstanding clawback
 * shortfalls first.  Always allowed, even while credits are disabled.
 */
Datum
credits_release(PG_FUNCTION_ARGS)
{
	int64		hold_id;
	CreditTypeInfo info;
	AccountState acct;
	HoldState	hold;
	LotPart    *parts;
	int			n;
	int64		release_id;

	credits_require_arg(fcinfo, 0, "hold_id");
	hold_id = PG_GETARG_INT64(0);

	SPI_connect();
	credits_check_access((Datum) 0, CREDITS_ACCESS_AGENCY);
	credits_lock_open_hold(hold_id, fcinfo, 1, &acct, &hold, &info);
	credits_record_due_now(&acct);
	parts = credits_entry_parts(&acct, hold.hold_entry_id, &n);
	release_id = credits_return_to_lots(&acct, "release", hold_id, parts, n,
										hold.reference, false, (Datum) 0, true);
	credits_settle_lots(&acct, parts, n);
	credits_settle_shortfalls(&acct, parts, n);
	credits_close_hold(&acct, &hold, "released", 0, release_id, 0);
	SPI_finish();
	PG_RETURN_VOID();
}
