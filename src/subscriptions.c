/*
 * subscriptions.c
 *	  Subscriptions and due work: credits_subscribe() grants credits every
 *	  period, credits_subscribe_service() pays a service from the balance
 *	  every period, credits_cancel_subscription() stops them, and
 *	  credits_run_due() performs every renewal whose period has started and
 *	  records due expirations.
 *
 *	  Period n of a subscription starts at starts_at + n x every (counted in
 *	  the time zone of the session that subscribed).  Each period is
 *	  processed exactly once: credits.subscription_period has one row per
 *	  processed period, keyed by (account, subscription_id, period).
 *
 *	  Lock order: the account row of (account, credit type) first, then the
 *	  account's subscription rows (FOR UPDATE, by subscription id).
 *	  credits_run_due() visits accounts in (account, credit_type) order under
 *	  COLLATE "C", one lock at a time, so concurrent runs queue on the first
 *	  account they share and never deadlock; the second finds the work done.
 */
#include "postgres.h"

#include "access/xact.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "credits.h"
#include "lifecycle.h"

static CreditsStmt stmt_sub_insert = {"ttatatttT",
		"INSERT INTO credits.subscription (account, credit_type, credits, "
		"service, price, every, mode, expires_after, starts_at, time_zone, "
		"next_period_at) VALUES ($1, $2, $3, $4, $5, $6::interval, $7, "
		"$8::interval, $9, current_setting('TimeZone'), $9) "
		"RETURNING subscription_id"};

static CreditsStmt stmt_sub_find = {"i",
		"SELECT account, credit_type, service IS NOT NULL "
		"FROM credits.subscription WHERE subscription_id = $1"};

static CreditsStmt stmt_sub_read = {"ti",
		"SELECT credits, service, price, mode, now() + expires_after, "
		"next_period, next_period_at, status FROM credits.subscription "
		"WHERE account = $1 AND subscription_id = $2 FOR UPDATE"};

static CreditsStmt stmt_sub_advance = {"tit",
		"UPDATE credits.subscription SET next_period = next_period + 1, "
		"next_period_at = ((starts_at AT TIME ZONE time_zone) "
		"  + every * (next_period + 1)) AT TIME ZONE time_zone, "
		"status = $3 WHERE account = $1 AND subscription_id = $2 "
		"RETURNING next_period_at"};

static CreditsStmt stmt_period_insert = {"tiiTtii",
		"INSERT INTO credits.subscription_period (account, subscription_id, "
		"period, starts_at, outcome, lot_id, entry_id) "
		"VALUES ($1, $2, $3, $4, $5, $6, $7)"};

/* subscription.renewed / subscription.past_due, in the outbox. */
static CreditsStmt stmt_sub_event = {"ittitiTtii",
	"INSERT INTO credits.event (id, account, type, aggregatetype, aggregateid, "
	"payload, entry_id) VALUES ($1, $2, $3, 'subscription', $4::text, "
	"jsonb_build_object('subscription_id', $4, 'account', $2, "
	"'credit_type', $5, 'period', $6, 'period_starts_at', $7, "
	"'outcome', $8, 'lot_id', $9, 'entry_id', $10), $10)"};

static CreditsStmt stmt_sub_cancel = {"ti",
		"UPDATE credits.subscription SET status = 'cancelled', "
		"cancelled_at = now() WHERE account = $1 AND subscription_id = $2"};

/* Accounts with due work, in lock order. */
static CreditsStmt stmt_due_accounts = {"T",
		"SELECT account COLLATE \"C\", credit_type COLLATE \"C\" "
		"FROM credits.lot WHERE is_open AND expires_at <= now() "
		"UNION "
		"SELECT account COLLATE \"C\", credit_type COLLATE \"C\" "
		"FROM credits.subscription "
		"WHERE status <> 'cancelled' AND next_period_at <= $1 "
		"ORDER BY 1, 2"};

static CreditsStmt stmt_due_subs = {"ttT",
		"SELECT subscription_id FROM credits.subscription "
		"WHERE account = $1 AND credit_type = $2 AND status <> 'cancelled' "
		"AND next_period_at <= $3 ORDER BY subscription_id FOR UPDATE"};

PG_FUNCTION_INFO_V1(credits_subscribe);
PG_FUNCTION_INFO_V1(credits_subscribe_service);
PG_FUNCTION_INFO_V1(credits_cancel_subscription);
PG_FUNCTION_INFO_V1(credits_run_due);

/*
 * The outbox event of a processed renewal (period 1 on; period 0 is the
 * purchase itself): subscription.renewed, or subscription.past_due when it
 * could not be paid.
 */
static void
credits_subscription_event(AccountState *acct, int64 sub_id, int64 period,
						   TimestampTz period_at, const char *outcome,
						   int64 lot_id, int64 entry_id)
{
	Datum		values[10];
	char		nulls[10];
	const char *type = strcmp(outcome, "failed") == 0
		? "subscription.past_due" : "subscription.renewed";
	int64		event_id = credits_next_event_id();

	memset(nulls, ' ', sizeof(nulls));
	values[0] = Int64GetDatum(event_id);
	values[1] = acct->account;
	values[2] = CStringGetTextDatum(type);
	values[3] = Int64GetDatum(sub_id);
	values[4] = acct->credit_type;
	values[5] = Int64GetDatum(period);
	values[6] = TimestampTzGetDatum(period_at);
	values[7] = CStringGetTextDatum(outcome);
	values[8] = Int64GetDatum(lot_id);
	if (lot_id == 0)
		nulls[8] = 'n';
	values[9] = Int64GetDatum(entry_id);
	if (entry_id == 0)
		nulls[9] = 'n';
	credits_run(&stmt_sub_event, values, nulls, false, 0);
	credits_notify_event(event_id, type);
}

typedef struct DueCounts
{
	int64		renewed;
	int64		failed;
} DueCounts;

/*
 * Process every period of a subscription that starts by upto and has not
 * been processed, in order; the caller holds the account lock.  checkout:
 * period 0 of a service subscription is being bought now, whenever it
 * starts, and must be paid (CR001).  A service renewal the balance cannot
 * pay is recorded as failed and marks the subscription past_due; while
 * credits are disabled service renewals wait (they stay due).
 */
static void
credits_subscription_catch_up(AccountState *acct, int64 sub_id,
							  TimestampTz upto, bool enabled, bool checkout,
							  DueCounts *counts)
{
	Datum		values[7];
	char		nulls[7];
	bool		isnull;
	bool		is_service;
	CreditAmount credits;
	Datum		service;
	CreditAmount price;
	GrantMode	mode;
	bool		has_expiry;
	TimestampTz expires_at;
	int64		period;
	TimestampTz period_at;
	char	   *status;

	values[0] = acct->account;
	values[1] = Int64GetDatum(sub_id);
	credits_run(&stmt_sub_read, values, NULL, false, 1);
	if (SPI_processed != 1)
		elog(ERROR, "credits: subscription " INT64_FORMAT " vanished", sub_id);
	credits = credits_col_amount(0, 1);
	service = credits_col(0, 2, &isnull);
	is_service = !isnull;
	price = credits_col_amount(0, 3);
	mode = credits_parse_mode(credits_col(0, 4, &isnull));
	expires_at = DatumGetTimestampTz(credits_col(0, 5, &isnull));
	has_expiry = !isnull;
	period = credits_col_int64(0, 6);
	period_at = DatumGetTimestampTz(credits_col(0, 7, &isnull));
	status = TextDatumGetCString(credits_col(0, 8, &isnull));

	while (strcmp(status, "cancelled") != 0 &&
		   (period_at <= upto || (checkout && period == 0)))
	{
		Datum		reason;
		const char *outcome;
		int64		lot_id = 0;
		int64		entry_id = 0;

		CHECK_FOR_INTERRUPTS();
		reason = CStringGetTextDatum(psprintf("subscription period " INT64_FORMAT,
											  period));
		if (is_service)
		{
			if (checkout && period == 0)
			{
				if (acct->balance < price)
					credits_insufficient(acct, acct->balance, price);
			}
			else if (!enabled)
				break;
			if (acct->balance >= price)
			{
				entry_id = credits_take_from_lots(acct, "spend", price, 0,
												  service, false,
												  reason, false);
				outcome = "paid";
				status = "active";
			}
			else
			{
				outcome = "failed";
				status = "past_due";
			}
		}
		else
		{
			lot_id = credits_grant_by_mode(acct, mode, credits,
										   has_expiry, expires_at,
										   reason, false, (Datum) 0, true,
										   "subscription", sub_id, NULL);
			outcome = "granted";
		}

		memset(nulls, ' ', sizeof(nulls));
		values[0] = acct->account;
		values[1] = Int64GetDatum(sub_id);
		values[2] = Int64GetDatum(period);
		values[3] = TimestampTzGetDatum(period_at);
		values[4] = CStringGetTextDatum(outcome);
		values[5] = Int64GetDatum(lot_id);
		if (lot_id == 0)
			nulls[5] = 'n';
		values[6] = Int64GetDatum(entry_id);
		if (entry_id == 0)
			nulls[6] = 'n';
		credits_run(&stmt_period_insert, values, nulls, false, 0);
		if (period > 0)
			credits_subscription_event(acct, sub_id, period, period_at,
									   outcome, lot_id, entry_id);

		values[2] = CStringGetTextDatum(status);
		credits_run(&stmt_sub_advance, values, NULL, false, 1);
		period_at = DatumGetTimestampTz(credits_col(0, 1, &isnull));
		period++;

		if (strcmp(outcome, "failed") == 0)
			counts->failed++;
		else
			counts->renewed++;
	}
}

static int64
credits_subscription_insert(AccountState *acct, Datum credits, Datum service,
							Datum price, Datum every, Datum mode,
							Datum expires_after, Datum starts_at)
{
	Datum		values[9];
	char		nulls[9];

	memset(nulls, ' ', sizeof(nulls));
	values[0] = acct->account;
	values[1] = acct->credit_type;
	values[2] = credits;
	values[3] = service;
	values[4] = price;
	if (service == (Datum) 0)
		nulls[3] = nulls[4] = 'n';
	else
		nulls[2] = 'n';
	values[5] = credits_interval_text(every);
	values[6] = mode;
	values[7] = expires_after == (Datum) 0 ? (Datum) 0
		: credits_interval_text(expires_after);
	if (expires_after == (Datum) 0)
		nulls[7] = 'n';
	values[8] = starts_at;
	credits_run(&stmt_sub_insert, values, nulls, false, 1);
	return credits_col_int64(0, 1);
}

/*
 * credits_subscribe(account, credits, every, mode, credit_type, starts_at,
 * expires_after) returns the subscription id.  Every period that has
 * started by now is granted at once (so a subscription starting now grants
 * now); the others are granted by credits_run_due().  Lots granted expire
 * expires_after after they are granted.
 */
Datum
credits_subscribe(PG_FUNCTION_ARGS)
{
	Datum		account;
	CreditAmount credits;
	Datum		credit_type;
	Datum		expires_after = PG_ARGISNULL(6) ? (Datum) 0 : PG_GETARG_DATUM(6);
	CreditTypeInfo info;
	AccountState acct;
	DueCounts	counts = {0, 0};
	int64		sub_id;

	credits_require_arg(fcinfo, 0, "account");
	credits_require_arg(fcinfo, 1, "credits");
	credits_require_arg(fcinfo, 2, "every");
	credits_require_arg(fcinfo, 3, "mode");
	credits_require_arg(fcinfo, 4, "credit_type");
	credits_require_arg(fcinfo, 5, "starts_at");
	account = PG_GETARG_DATUM(0);
	credits = PG_GETARG_CREDIT_AMOUNT(1);
	credit_type = PG_GETARG_DATUM(4);
	credits_require_account(DatumGetTextPP(account));
	credits_check_positive(credits, "credits");
	credits_check_interval(PG_GETARG_DATUM(2), "every");
	credits_parse_mode(PG_GETARG_DATUM(3));
	if (expires_after != (Datum) 0)
		credits_check_interval(expires_after, "expires_after");

	SPI_connect();
	/* Credits granted every period are minted: the agency's. */
	credits_check_access(account, CREDITS_ACCESS_AGENCY);
	credits_type_info(credit_type, &info);
	credits_lock_account(&acct, account, credit_type, true);
	/* the scale as it stands once the type's lock is held (credit_types.c) */
	credits_type_info(credit_type, &info);
	credits_check_scale(credits, &info, credit_type, "credits");
	credits_record_due_now(&acct);
	sub_id = credits_subscription_insert(&acct, PG_GETARG_DATUM(1), (Datum) 0,
										 (Datum) 0, PG_GETARG_DATUM(2),
										 PG_GETARG_DATUM(3), expires_after,
										 PG_GETARG_DATUM(5));
	credits_subscription_catch_up(&acct, sub_id,
								  GetCurrentTransactionStartTimestamp(),
								  true, false, &counts);
	credits_save_account(&acct);
	SPI_finish();
	PG_RETURN_INT64(sub_id);
}

/*
 * credits_subscribe_service(account, service, price, every, credit_type,
 * starts_at) returns the subscription id.  The first period is bought at
 * checkout, whenever it starts: paid from the balance at once, or CR001 and
 * nothing is created.  Later periods renew from the balance.
 */
Datum
credits_subscribe_service(PG_FUNCTION_ARGS)
{
	Datum		account;
	Datum		service;
	CreditAmount price;
	Datum		credit_type;
	CreditTypeInfo info;
	AccountState acct;
	DueCounts	counts = {0, 0};
	int64		sub_id;

	credits_require_arg(fcinfo, 0, "account");
	credits_require_arg(fcinfo, 1, "service");
	credits_require_arg(fcinfo, 2, "price");
	credits_require_arg(fcinfo, 3, "every");
	credits_require_arg(fcinfo, 4, "credit_type");
	credits_require_arg(fcinfo, 5, "starts_at");
	account = PG_GETARG_DATUM(0);
	service = PG_GETARG_DATUM(1);
	price = PG_GETARG_CREDIT_AMOUNT(2);
	credit_type = PG_GETARG_DATUM(4);
	credits_require_account(DatumGetTextPP(account));
	if (VARSIZE_ANY_EXHDR(DatumGetTextPP(service)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("service must not be empty")));
	credits_check_positive(price, "price");
	credits_check_interval(PG_GETARG_DATUM(3), "every");

	SPI_connect();
	/* Buying a service is spending: a portal may, for its own account. */
	credits_check_access(account, CREDITS_ACCESS_CLIENT);
	credits_type_info(credit_type, &info);
	credits_lock_account(&acct, account, credit_type, true);
	/* the scale as it stands once the type's lock is held (credit_types.c) */
	credits_type_info(credit_type, &info);
	credits_check_scale(price, &info, credit_type, "price");
	credits_require_enabled("buying a subscription");
	credits_record_due_now(&acct);
	if (acct.balance < price)
		credits_insufficient(&acct, acct.balance, price);
	sub_id = credits_subscription_insert(&acct, (Datum) 0, service,
										 PG_GETARG_DATUM(2),
										 PG_GETARG_DATUM(3),
										 CStringGetTextDatum("add"), (Datum) 0,
										 PG_GETARG_DATUM(5));
	credits_subscription_catch_up(&acct, sub_id,
								  GetCurrentTransactionStartTimestamp(),
								  true, true, &counts);
	credits_save_account(&acct);
	SPI_finish();
	PG_RETURN_INT64(sub_id);
}

/*
 * credits_cancel_subscription(subscription_id): no further renewals, not
 * even of periods that have started but were not yet renewed.  Cancelling
 * twice is CR005.  Credits already granted or paid stay.
 */
Datum
credits_cancel_subscription(PG_FUNCTION_ARGS)
{
	int64		sub_id;
	Datum		values[2];
	Datum		account;
	Datum		credit_type;
	bool		isnull;
	bool		is_service;
	AccountState acct;
	char	   *status;

	credits_require_arg(fcinfo, 0, "subscription_id");
	sub_id = PG_GETARG_INT64(0);

	SPI_connect();
	/* a portal role without its account learns nothing, not even 42704 */
	(void) credits_portal_scope();
	values[0] = Int64GetDatum(sub_id);
	credits_run(&stmt_sub_find, values, NULL, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("subscription " INT64_FORMAT " does not exist", sub_id)));
	account = credits_col(0, 1, &isnull);
	credit_type = credits_col(0, 2, &isnull);
	is_service = DatumGetBool(credits_col(0, 3, &isnull));

	/*
	 * A portal may cancel the services it bought, not the credits the agency
	 * grants it: another account's subscription first (without saying what
	 * it is), then the kind, all before the account is locked.
	 */
	credits_check_access_id(account, "subscription", sub_id);
	if (!is_service)
		credits_check_access(account, CREDITS_ACCESS_AGENCY);

	credits_lock_account(&acct, account, credit_type, false);
	values[0] = account;
	values[1] = Int64GetDatum(sub_id);
	credits_run(&stmt_sub_read, values, NULL, false, 1);
	if (SPI_processed != 1)
		elog(ERROR, "credits: subscription " INT64_FORMAT " vanished", sub_id);
	status = TextDatumGetCString(credits_col(0, 8, &isnull));
	if (strcmp(status, "cancelled") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_CREDITS_INVALID_STATE),
				 errmsg("subscription " INT64_FORMAT " is already cancelled",
						sub_id)));
	credits_run(&stmt_sub_cancel, values, NULL, false, 0);
	SPI_finish();
	PG_RETURN_VOID();
}

typedef struct DueKey
{
	Datum		account;
	Datum		credit_type;
} DueKey;

/*
 * credits_run_due(as_of) returns (renewed, failed, expired): the periods
 * renewed (granted or paid) and failed (could not be paid) among those
 * starting by as_of, and the lots expired by now.  as_of only selects what
 * is due; every effect is recorded now.  A subscription that fell behind
 * catches up every missed period, each once.
 */
Datum
credits_run_due(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz as_of;
	DueCounts	counts = {0, 0};
	int64		expired = 0;
	bool		enabled;
	DueKey	   *keys;
	uint64		nkeys;
	uint64		i;

	credits_require_arg(fcinfo, 0, "as_of");
	as_of = PG_GETARG_TIMESTAMPTZ(0);
	InitMaterializedSRF(fcinfo, 0);

	SPI_connect();
	credits_check_access((Datum) 0, CREDITS_ACCESS_AGENCY);
	enabled = credits_enabled_now();
	{
		Datum		values[1];

		values[0] = TimestampTzGetDatum(as_of);
		credits_run(&stmt_due_accounts, values, NULL, false, 0);
	}
	nkeys = SPI_processed;
	keys = palloc(sizeof(DueKey) * (nkeys + 1));
	for (i = 0; i < nkeys; i++)
	{
		bool		isnull;

		keys[i].account = credits_col(i, 1, &isnull);
		keys[i].credit_type = credits_col(i, 2, &isnull);
	}

	for (i = 0; i < nkeys; i++)
	{
		AccountState acct;
		Datum		values[3];
		int64	   *subs;
		uint64		nsubs;
		uint64		j;

		CHECK_FOR_INTERRUPTS();
		credits_lock_account(&acct, keys[i].account, keys[i].credit_type, false);
		if (!acct.exists)
			continue;
		expired += credits_record_due(&acct, acct.now);

		values[0] = keys[i].account;
		values[1] = keys[i].credit_type;
		values[2] = TimestampTzGetDatum(as_of);
		credits_run(&stmt_due_subs, values, NULL, false, 0);
		nsubs = SPI_processed;
		subs = palloc(sizeof(int64) * (nsubs + 1));
		for (j = 0; j < nsubs; j++)
			subs[j] = credits_col_int64(j, 1);
		SPI_freetuptable(SPI_tuptable);
		for (j = 0; j < nsubs; j++)
			credits_subscription_catch_up(&acct, subs[j], as_of, enabled,
										  false, &counts);
		pfree(subs);
		credits_save_account(&acct);
	}
	SPI_finish();

	{
		Datum		out[3];
		bool		outnulls[3] = {false, false, false};

		out[0] = Int64GetDatum(counts.renewed);
		out[1] = Int64GetDatum(counts.failed);
		out[2] = Int64GetDatum(expired);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, outnulls);
	}
	return (Datum) 0;
}
