/*
 * rules.c
 *	  Issuing credits for paid invoices: credits_issue() applies the rule of
 *	  a service (add or reset) once per invoice reference, and
 *	  credits_clawback() deducts what a refunded invoice issued; what it
 *	  could not deduct (the shortfall) is settled later by credits that come
 *	  back to the account (credits_settle_shortfalls).  Rules themselves are
 *	  defined in SQL (credits_define_rule).
 *
 *	  Lock order: the account row first (credits_lock_account), then the
 *	  invoice reference (a transaction-level advisory lock, which makes "one
 *	  account per reference" hold across accounts).  A clawback finds the
 *	  issue by reference without a lock, locks its account, and reads the
 *	  issue again: issues only change under their account's lock.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"

#include "credits.h"
#include "lifecycle.h"

/* An exact (service, variant) rule first, else the service's plain rule. */
static CreditsStmt stmt_rule_find = {"tt",
		"SELECT rule_id, credits, mode, credit_type, now() + expires_after "
		"FROM credits.rule WHERE service = $1 "
		"AND (variant = $2 OR variant IS NULL) "
		"ORDER BY variant IS NULL LIMIT 1"};

static CreditsStmt stmt_reference_lock = {"t",
		"SELECT pg_advisory_xact_lock(hashtext('credits.issue'), hashtext($1))"};

static CreditsStmt stmt_issue_find = {"t",
		"SELECT account, credit_type, lot_id, service, variant, quantity "
		"FROM credits.issue WHERE reference = $1"};

/*
 * The same within one account: on a distributed ledger a call for one
 * account runs on the worker that holds it and sees no other account's
 * issues, so a reference is unique per account there (README, "Scaling out
 * with Citus").
 */
static CreditsStmt stmt_issue_find_in_account = {"tt",
		"SELECT account, credit_type, lot_id, service, variant, quantity "
		"FROM credits.issue WHERE account = $1 AND reference = $2"};

static CreditsStmt stmt_issue_insert = {"tttttIiaii",
		"INSERT INTO credits.issue (account, reference, credit_type, service, "
		"variant, quantity, rule_id, credits, lot_id, reset_entry_id) "
		"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"};

static CreditsStmt stmt_issue_read = {"tt",
		"SELECT credits, lot_id, clawback_entry_id IS NOT NULL "
		"FROM credits.issue WHERE account = $1 AND reference = $2"};

static CreditsStmt stmt_issue_clawed = {"ttiaa",
		"UPDATE credits.issue SET clawback_entry_id = $3, deducted = $4, "
		"shortfall = $5, shortfall_due = nullif($5, 0), clawed_back_at = now() "
		"WHERE account = $1 AND reference = $2"};

/* The same in a database still on 1.0's tables (no shortfall_due). */
static CreditsStmt stmt_issue_clawed_1_0 = {"ttiaa",
		"UPDATE credits.issue SET clawback_entry_id = $3, deducted = $4, "
		"shortfall = $5, clawed_back_at = now() "
		"WHERE account = $1 AND reference = $2"};

/* Outstanding shortfalls, oldest clawback first (index issue_shortfall_due). */
static CreditsStmt stmt_shortfalls_due = {"tt",
		"SELECT reference, shortfall_due, clawback_entry_id FROM credits.issue "
		"WHERE account = $1 AND credit_type = $2 AND shortfall_due IS NOT NULL "
		"ORDER BY clawback_entry_id"};

static CreditsStmt stmt_shortfall_settled = {"tta",
		"UPDATE credits.issue SET shortfall_due = nullif($3, 0) "
		"WHERE account = $1 AND reference = $2"};

static CreditsStmt stmt_lot_remaining = {"ti",
		"SELECT remaining FROM credits.lot WHERE account = $1 AND lot_id = $2"};

PG_FUNCTION_INFO_V1(credits_issue);
PG_FUNCTION_INFO_V1(credits_clawback);
PG_FUNCTION_INFO_V1(credits_check_interval_sql);

/*
 * Does credits.issue keep what is still due of a shortfall?  Not while the
 * database still runs 1.0's SQL with this library (the update may follow the
 * installation): clawbacks then work as in 1.0, and nothing settles their
 * shortfalls until ALTER EXTENSION credits UPDATE adds the column.  A few
 * catalog cache look-ups, no statement.
 */
static bool
credits_shortfalls_kept(void)
{
	Oid			nsp = get_namespace_oid("credits", true);
	Oid			rel = OidIsValid(nsp) ? get_relname_relid("issue", nsp) : InvalidOid;

	return OidIsValid(rel) && get_attnum(rel, "shortfall_due") != InvalidAttrNumber;
}

static bool
text_datums_equal(Datum a, bool a_null, Datum b, bool b_null)
{
	if (a_null || b_null)
		return a_null && b_null;
	return strcmp(TextDatumGetCString(a), TextDatumGetCString(b)) == 0;
}

/*
 * credits_issue(account, service, reference, variant, quantity) returns the
 * lot id of the credits a paid invoice issues: rule credits x quantity, in
 * the rule's credit type, expiring after the rule's interval, added to the
 * balance or replacing it (mode reset: one reset entry of the forfeited
 * balance, then the grant).  The same reference issues once: a repeat
 * returns the first lot id and changes nothing; the same reference with
 * another account, service, variant or quantity is CR003.
 */
Datum
credits_issue(PG_FUNCTION_ARGS)
{
	Datum		account;
	Datum		service;
	Datum		reference;
	bool		variant_null = PG_ARGISNULL(3);
	Datum		variant = variant_null ? (Datum) 0 : PG_GETARG_DATUM(3);
	int32		quantity;
	Datum		values[10];
	char		nulls[10];
	bool		isnull;
	int64		rule_id;
	CreditAmount amount;
	GrantMode	mode;
	Datum		credit_type;
	bool		has_expiry;
	TimestampTz expires_at;
	CreditTypeInfo info;
	AccountState acct;
	int64		lot_id;
	int64		reset_id;

	credits_require_arg(fcinfo, 0, "account");
	credits_require_arg(fcinfo, 1, "service");
	credits_require_arg(fcinfo, 2, "reference");
	credits_require_arg(fcinfo, 4, "quantity");
	account = PG_GETARG_DATUM(0);
	service = PG_GETARG_DATUM(1);
	reference = PG_GETARG_DATUM(2);
	quantity = PG_GETARG_INT32(4);
	credits_require_account(DatumGetTextPP(account));
	if (VARSIZE_ANY_EXHDR(DatumGetTextPP(reference)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("reference must not be empty")));
	if (quantity <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("quantity must be greater than zero"),
				 errdetail("The value given was %d.", quantity)));

	SPI_connect();
	/* Issuing mints credits: the agency's (its invoices), never a portal's. */
	credits_check_access(account, CREDITS_ACCESS_AGENCY);
	memset(nulls, ' ', sizeof(nulls));
	values[0] = service;
	values[1] = variant;
	if (variant_null)
		nulls[1] = 'n';
	credits_run(&stmt_rule_find, values, nulls, false, 1);
	if (SPI_processed == 0)
	{
		if (variant_null)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("no rule for service \"%s\"",
							TextDatumGetCString(service)),
					 errhint("Define one with credits_define_rule().")));
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("no rule for service \"%s\", variant \"%s\"",
						TextDatumGetCString(service),
						TextDatumGetCString(variant)),
				 errhint("Define one with credits_define_rule().")));
	}
	rule_id = credits_col_int64(0, 1);
	amount = credit_amount_mul_int(credits_col_amount(0, 2), quantity);
	mode = credits_parse_mode(credits_col(0, 3, &isnull));
	credit_type = credits_col(0, 4, &isnull);
	expires_at = DatumGetTimestampTz(credits_col(0, 5, &isnull));
	has_expiry = !isnull;

	credits_type_info(credit_type, &info);
	credits_lock_account(&acct, account, credit_type, true);
	credits_run(&stmt_reference_lock, &reference, NULL, false, 0);

	if (credits_distributed())
	{
		values[0] = account;
		values[1] = reference;
		credits_run(&stmt_issue_find_in_account, values, NULL, false, 1);
	}
	else
		credits_run(&stmt_issue_find, &reference, NULL, false, 1);
	if (SPI_processed > 0)
	{
		Datum		first_account = credits_col(0, 1, &isnull);
		Datum		first_service = credits_col(0, 4, &isnull);
		bool		first_variant_null;
		Datum		first_variant = credits_col(0, 5, &first_variant_null);
		int32		first_quantity = DatumGetInt32(credits_col(0, 6, &isnull));

		lot_id = credits_col_int64(0, 3);
		if (!text_datums_equal(first_account, false, account, false) ||
			!text_datums_equal(first_service, false, service, false) ||
			!text_datums_equal(first_variant, first_variant_null,
							   variant, variant_null) ||
			first_quantity != quantity)
			ereport(ERROR,
					(errcode(ERRCODE_CREDITS_IDEMPOTENCY),
					 errmsg("invoice \"%s\" already issued credits with different arguments",
							TextDatumGetCString(reference)),
					 errdetail("It issued lot " INT64_FORMAT " to account \"%s\" for service \"%s\".",
							   lot_id, TextDatumGetCString(first_account),
							   TextDatumGetCString(first_service)),
					 errhint("An invoice reference issues credits once.")));
		SPI_finish();
		PG_RETURN_INT64(lot_id);
	}

	credits_record_due_now(&acct);
	lot_id = credits_grant_by_mode(&acct, mode, amount, has_expiry, expires_at,
								   service, false, reference, false,
								   "issue", 0, &reset_id);

	values[0] = account;
	values[1] = reference;
	values[2] = credit_type;
	values[3] = service;
	values[4] = variant;
	values[5] = Int32GetDatum(quantity);
	values[6] = Int64GetDatum(rule_id);
	values[7] = CreditAmountGetDatum(amount);
	values[8] = Int64GetDatum(lot_id);
	values[9] = Int64GetDatum(reset_id);
	memset(nulls, ' ', sizeof(nulls));
	if (variant_null)
		nulls[4] = 'n';
	if (reset_id == 0)
		nulls[9] = 'n';
	credits_run(&stmt_issue_insert, values, nulls, false, 0);
	credits_save_account(&acct);
	SPI_finish();
	PG_RETURN_INT64(lot_id);
}

/*
 * credits_clawback(reference) returns (deducted, shortfall): what the
 * refunded invoice issued is deducted, first from what is left of the lot
 * it created, then from the other lots in spend order (those restricted to
 * services too: a deduction from the balance, not a use of credits), never
 * below zero (held credits are not available and are not touched).  One clawback
 * entry records the deducted amount and the shortfall.  A second clawback
 * of the reference returns (0, 0) and changes nothing; a reference that
 * never issued credits is 42704.  Allowed while credits are disabled.
 */
Datum
credits_clawback(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		reference;
	Datum		values[5];
	bool		isnull;
	Datum		account;
	Datum		credit_type;
	AccountState acct;
	CreditAmount issued;
	int64		lot_id;
	CreditAmount deducted = 0;
	CreditAmount shortfall = 0;

	credits_require_arg(fcinfo, 0, "reference");
	reference = PG_GETARG_DATUM(0);
	InitMaterializedSRF(fcinfo, 0);

	SPI_connect();
	credits_check_access((Datum) 0, CREDITS_ACCESS_AGENCY);
	credits_run(&stmt_issue_find, &reference, NULL, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("invoice \"%s\" has not issued credits",
						TextDatumGetCString(reference))));
	account = credits_col(0, 1, &isnull);
	credit_type = credits_col(0, 2, &isnull);

	credits_lock_account(&acct, account, credit_type, false);
	if (!acct.exists)
		elog(ERROR, "credits: the account of invoice \"%s\" has no account row",
			 TextDatumGetCString(reference));
	values[0] = account;
	values[1] = reference;
	credits_run(&stmt_issue_read, values, NULL, false, 1);
	if (SPI_processed != 1)
		elog(ERROR, "credits: issue of invoice \"%s\" vanished",
			 TextDatumGetCString(reference));
	issued = credits_col_amount(0, 1);
	lot_id = credits_col_int64(0, 2);
	if (!DatumGetBool(credits_col(0, 3, &isnull)))
	{
		LotPart		own;
		int64		entry_id;
		CreditAmount taken;

		credits_record_due_now(&acct);
		deducted = Min(issued, Max(acct.balance, 0));
		shortfall = issued - deducted;
		entry_id = credits_append_entry_ex(&acct, "clawback", deducted, true,
										   0, 0, reference, false,
										   (Datum) 0, true, true, shortfall);

		values[0] = account;
		values[1] = Int64GetDatum(lot_id);
		credits_run(&stmt_lot_remaining, values, NULL, false, 1);
		own.lot_id = lot_id;
		own.amount = SPI_processed > 0 ? credits_col_amount(0, 1) : 0;
		taken = credits_take_parts(&acct, entry_id, &own, 1, deducted);
		/* a deduction, not a use: from every lot, as the balance counts */
		if (taken < deducted)
			credits_take_spend_order_in(&acct, LOTS_ALL, (Datum) 0, entry_id,
										deducted - taken);

		values[0] = account;
		values[1] = reference;
		values[2] = Int64GetDatum(entry_id);
		values[3] = CreditAmountGetDatum(deducted);
		values[4] = CreditAmountGetDatum(shortfall);
		credits_run(credits_shortfalls_kept() ? &stmt_issue_clawed
					: &stmt_issue_clawed_1_0, values, NULL, false, 0);
		credits_save_account(&acct);
	}
	SPI_finish();

	{
		Datum		out[2];
		bool		outnulls[2] = {false, false};

		out[0] = CreditAmountGetDatum(deducted);
		out[1] = CreditAmountGetDatum(shortfall);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, outnulls);
	}
	return (Datum) 0;
}

/* An outstanding shortfall, copied out of SPI's result. */
typedef struct ShortfallDue
{
	Datum		reference;
	CreditAmount due;
	int64		clawback_entry_id;
} ShortfallDue;

/*
 * Credits came back to the account (a released hold, the uncaptured rest of
 * a hold, a reversed spend): back lists the lots they came back to and how
 * much each still holds of them, in spend order (lots that no longer count
 * have 0, see credits_settle_lots).  They settle the account's outstanding
 * clawback shortfalls first, oldest clawback first: one clawback entry (out)
 * per invoice, referencing it and related to its first clawback entry,
 * recording the shortfall still due after it, and taking from those lots
 * in spend order.  Only credits that come back settle: credits
 * granted later (a new purchase, the next invoice) do not.  The caller holds
 * the account lock, as credits_clawback does to record a shortfall.
 */
void
credits_settle_shortfalls(AccountState *acct, LotPart *back, int n)
{
	CreditAmount total = 0;
	Datum		values[3];
	ShortfallDue *dues;
	int			ndues;
	int			i;
	int			j;

	for (i = 0; i < n; i++)
		total = credit_amount_add(total, back[i].amount);
	if (total <= 0 || !credits_shortfalls_kept())
		return;

	values[0] = acct->account;
	values[1] = acct->credit_type;
	credits_run(&stmt_shortfalls_due, values, NULL, false, 0);
	ndues = (int) SPI_processed;
	if (ndues == 0)
		return;
	dues = palloc(sizeof(ShortfallDue) * ndues);
	for (j = 0; j < ndues; j++)
	{
		bool		isnull;

		dues[j].reference = datumCopy(credits_col(j, 1, &isnull), false, -1);
		dues[j].due = credits_col_amount(j, 2);
		dues[j].clawback_entry_id = credits_col_int64(j, 3);
	}
	SPI_freetuptable(SPI_tuptable);

	for (j = 0; j < ndues && total > 0; j++)
	{
		CreditAmount settle = Min(dues[j].due, total);
		CreditAmount left = settle;
		int64		entry_id;

		entry_id = credits_append_entry_ex(acct, "clawback", settle, true, 0,
										   dues[j].clawback_entry_id,
										   dues[j].reference, false,
										   CStringGetTextDatum("shortfall settled"),
										   false, true, dues[j].due - settle);
		for (i = 0; i < n && left > 0; i++)
		{
			CreditAmount take = Min(left, back[i].amount);

			if (take <= 0)
				continue;
			credits_take_lot(acct, entry_id, back[i].lot_id, take);
			back[i].amount -= take;
			left -= take;
		}
		values[0] = acct->account;
		values[1] = dues[j].reference;
		values[2] = CreditAmountGetDatum(dues[j].due - settle);
		credits_run(&stmt_shortfall_settled, values, NULL, false, 0);
		total -= settle;
	}
}

/* credits.check_interval(value, what): credits_check_interval() for SQL. */
Datum
credits_check_interval_sql(PG_FUNCTION_ARGS)
{
	if (!PG_ARGISNULL(0))
		credits_check_interval(PG_GETARG_DATUM(0),
							   PG_ARGISNULL(1) ? "interval"
							   : text_to_cstring(PG_GETARG_TEXT_PP(1)));
	PG_RETURN_VOID();
}
