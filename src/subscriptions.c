/*
 * subscriptions.c
 *	  Subscriptions and due work: credits_subscribe() grants credits every
 *	  period, credits_subscribe_service() pays a service from the balance
 *	  every period, credits_cancel_subscription() stops them, and
 *	  credits_run_due() performs every renewal whose period has started and
 *	  records due expirations.
 *
 *	  Period n of a subscription starts at starts_at + n x every, counted on
 *	  the wall clock of the time zone of the session that subscribed (by the
 *	  zone's rules, even when its name is also an abbreviation, as CET is).
 *	  Each period is processed exactly once: credits.subscription_period has
 *	  one row per processed period, keyed by (account, subscription_id,
 *	  period).
 *
 *	  Lock order: the account row of (account, credit type) first, then the
 *	  account's subscription rows (FOR UPDATE, by subscription id).
 *	  credits_run_due() visits accounts in (account, credit_type) order under
 *	  COLLATE "C" and never waits for one: an account another transaction
 *	  holds is passed over and left for the next run, so a slow transaction
 *	  delays nobody else's renewals.  Each period it renews runs in a
 *	  subtransaction: a renewal that fails (other than for an unpaid
 *	  balance) is rolled back, counted as failed, and marks its subscription
 *	  past_due with the error; the others go on.
 */
#include "postgres.h"

#include "access/xact.h"
#include "common/int.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "credits.h"
#include "lifecycle.h"

/*
 * How many periods one subscription processes in one call.  A run that fell
 * further behind leaves the rest due for the next run (each period still
 * once, in order); a subscription may not start so far in the past that
 * more periods than this have already started.
 */
#define CREDITS_CATCH_UP_LIMIT 1000

static CreditsStmt stmt_sub_insert = {"ttatatttTt",
		"INSERT INTO credits.subscription (account, credit_type, credits, "
		"service, price, every, mode, expires_after, starts_at, time_zone, "
		"next_period_at) VALUES ($1, $2, $3, $4, $5, $6::interval, $7, "
		"$8::interval, $9, $10, $9) "
		"RETURNING subscription_id"};

/* The same with what a reset keeps (only on the tables of 1.2). */
static CreditsStmt stmt_sub_insert_12 = {"ttatatttTtat",
		"INSERT INTO credits.subscription (account, credit_type, credits, "
		"service, price, every, mode, expires_after, starts_at, time_zone, "
		"next_period_at, rollover, reset_scope) VALUES ($1, $2, $3, $4, $5, "
		"$6::interval, $7, $8::interval, $9, $10, $9, $11, $12) "
		"RETURNING subscription_id"};

static CreditsStmt stmt_sub_find = {"i",
		"SELECT account, credit_type, service IS NOT NULL "
		"FROM credits.subscription WHERE subscription_id = $1"};

static CreditsStmt stmt_sub_find_in = {"it",
		"SELECT account, credit_type, service IS NOT NULL "
		"FROM credits.subscription WHERE account = $2 AND subscription_id = $1"};

static CreditsStmt stmt_sub_read = {"ti",
		"SELECT credits, service, price, mode, now() + expires_after, "
		"next_period, next_period_at, status, every, time_zone, starts_at "
		"FROM credits.subscription "
		"WHERE account = $1 AND subscription_id = $2 FOR UPDATE"};

/* The same with what a reset keeps, on the tables of 1.2. */
static CreditsStmt stmt_sub_read_12 = {"ti",
		"SELECT credits, service, price, mode, now() + expires_after, "
		"next_period, next_period_at, status, every, time_zone, starts_at, "
		"rollover, reset_scope "
		"FROM credits.subscription "
		"WHERE account = $1 AND subscription_id = $2 FOR UPDATE"};

/* A processed period: the next one, and what the subscription's status is. */
static CreditsStmt stmt_sub_advance = {"titT",
		"UPDATE credits.subscription SET next_period = next_period + 1, "
		"next_period_at = $4, status = $3, failure = NULL "
		"WHERE account = $1 AND subscription_id = $2"};

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

/*
 * A renewal that failed with an error: the subscription is past_due and
 * records the error (period, SQLSTATE, message); a subscription.past_due
 * event says so, unless the same period already failed with the same
 * SQLSTATE (a run every minute must not repeat it every minute).  Returns
 * a row when it wrote the event.
 */
static CreditsStmt stmt_sub_failed = {"titti",
	"WITH old AS (SELECT status, failure FROM credits.subscription "
	"  WHERE account = $1 AND subscription_id = $2), "
	"upd AS (UPDATE credits.subscription s SET status = 'past_due', "
	"  failure = jsonb_build_object('period', s.next_period, "
	"    'period_starts_at', s.next_period_at, 'sqlstate', $3, 'message', $4, "
	"    'at', now()) "
	"  WHERE s.account = $1 AND s.subscription_id = $2 "
	"  AND s.status <> 'cancelled' "
	"  RETURNING s.credit_type, s.next_period, s.next_period_at) "
	"INSERT INTO credits.event (id, account, type, aggregatetype, aggregateid, "
	"payload) SELECT $5, $1, 'subscription.past_due', 'subscription', $2::text, "
	"jsonb_build_object('subscription_id', $2, 'account', $1, "
	"'credit_type', upd.credit_type, 'period', upd.next_period, "
	"'period_starts_at', upd.next_period_at, 'outcome', 'error', "
	"'lot_id', NULL, 'entry_id', NULL, 'sqlstate', $3, 'message', $4) "
	"FROM upd, old WHERE old.status <> 'past_due' OR old.failure IS NULL "
	"OR (old.failure->>'period')::bigint <> upd.next_period "
	"OR old.failure->>'sqlstate' <> $3 "
	"RETURNING 1"};

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

/* The account's lock, unless another transaction holds it. */
static CreditsStmt stmt_account_try_lock = {"tt",
		"SELECT 1 FROM credits.account "
		"WHERE account = $1 AND credit_type = $2 FOR UPDATE SKIP LOCKED"};

static CreditsStmt stmt_due_subs = {"ttT",
		"SELECT subscription_id FROM credits.subscription "
		"WHERE account = $1 AND credit_type = $2 AND status <> 'cancelled' "
		"AND next_period_at <= $3 ORDER BY subscription_id FOR UPDATE"};

PG_FUNCTION_INFO_V1(credits_subscribe);
PG_FUNCTION_INFO_V1(credits_subscribe_service);
PG_FUNCTION_INFO_V1(credits_cancel_subscription);
PG_FUNCTION_INFO_V1(credits_run_due);
PG_FUNCTION_INFO_V1(credits_period_start_sql);

/*
 * The time zone a subscription counts its periods in, by name.  A zone
 * name, never an abbreviation: AT TIME ZONE 'CET' would mean a fixed
 * UTC+1, while a session whose TimeZone is CET follows the zone's rules,
 * summer time included; pg_tzset() reads the name as the session did.
 */
static pg_tz *
credits_zone(const char *name)
{
	pg_tz	   *tz = pg_tzset(name);

	if (tz == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%s\" not recognized", name)));
	return tz;
}

/*
 * The start of period n of a subscription starting at starts_at, every
 * every: starts_at's wall-clock time in tz, plus n x every (months first,
 * a day past the end of the month becoming its last day, then days, then
 * time), read back in tz; as ((starts_at AT TIME ZONE tz) + every * n)
 * AT TIME ZONE tz computes it for a zone name.  False, without an error,
 * when it lies beyond the timestamp range.
 */
static bool
credits_period_start(TimestampTz starts_at, const Interval *every, int64 n,
					 pg_tz *tz, TimestampTz *result)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tzoff;
	int64		months;
	int64		days;
	int64		julian;
	int64		usecs;
	Timestamp	local;

	if (n == 0)
	{
		*result = starts_at;
		return true;
	}
	if (TIMESTAMP_NOT_FINITE(starts_at) ||
		timestamp2tm(starts_at, &tzoff, &tm, &fsec, NULL, tz) != 0)
		return false;

	if (pg_mul_s64_overflow(every->month, n, &months) ||
		pg_add_s64_overflow(months,
							(int64) tm.tm_year * MONTHS_PER_YEAR + tm.tm_mon - 1,
							&months) ||
		months >= (int64) 300000 * MONTHS_PER_YEAR)
		return false;
	tm.tm_year = (int) (months >= 0 ? months / MONTHS_PER_YEAR
						: -((-months + MONTHS_PER_YEAR - 1) / MONTHS_PER_YEAR));
	tm.tm_mon = (int) (months - (int64) tm.tm_year * MONTHS_PER_YEAR) + 1;
	if (tm.tm_mday > day_tab[isleap(tm.tm_year)][tm.tm_mon - 1])
		tm.tm_mday = day_tab[isleap(tm.tm_year)][tm.tm_mon - 1];
	if (!IS_VALID_JULIAN(tm.tm_year, tm.tm_mon, tm.tm_mday))
		return false;

	if (pg_mul_s64_overflow(every->day, n, &days) ||
		pg_add_s64_overflow(days, date2j(tm.tm_year, tm.tm_mon, tm.tm_mday),
							&julian) ||
		julian < 0 || julian >= TIMESTAMP_END_JULIAN)
		return false;
	j2date((int) julian, &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
	if (tm2timestamp(&tm, fsec, NULL, &local) != 0)
		return false;

	if (pg_mul_s64_overflow(every->time, n, &usecs) ||
		pg_add_s64_overflow(local, usecs, &local) ||
		!IS_VALID_TIMESTAMP(local))
		return false;

	if (timestamp2tm(local, NULL, &tm, &fsec, NULL, NULL) != 0)
		return false;
	tzoff = DetermineTimeZoneOffset(&tm, tz);
	if (tm2timestamp(&tm, fsec, &tzoff, result) != 0 ||
		!IS_VALID_TIMESTAMP(*result))
		return false;
	return true;
}

static void
credits_period_out_of_range(int64 n, const Interval *every,
							TimestampTz starts_at)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
			 errmsg("period " INT64_FORMAT " of a subscription every %s from %s lies beyond the timestamp range",
					n, DatumGetCString(DirectFunctionCall1(interval_out,
														   IntervalPGetDatum(every))),
					timestamptz_to_str(starts_at))));
}

/*
 * credits.period_start(starts_at, every, period, time_zone): the start of
 * a period, for SQL (credits_verify(), the upgrade from 1.0).
 */
Datum
credits_period_start_sql(PG_FUNCTION_ARGS)
{
	TimestampTz starts_at = PG_GETARG_TIMESTAMPTZ(0);
	Interval   *every = PG_GETARG_INTERVAL_P(1);
	int64		n = PG_GETARG_INT64(2);
	pg_tz	   *tz = credits_zone(text_to_cstring(PG_GETARG_TEXT_PP(3)));
	TimestampTz result;

	if (n < 0 || !credits_period_start(starts_at, every, n, tz, &result))
		credits_period_out_of_range(n, every, starts_at);
	PG_RETURN_TIMESTAMPTZ(result);
}

/*
 * The reference of every movement of a period: subscription:<id>:<start>,
 * the start in UTC as ISO 8601 (microseconds only when there are any), so
 * it names the subscription and the period, whatever the time zone.
 */
static Datum
credits_period_reference(int64 sub_id, TimestampTz period_at)
{
	struct pg_tm tm;
	fsec_t		fsec;
	char		frac[16] = "";

	if (timestamp2tm(period_at, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	if (fsec != 0)
		snprintf(frac, sizeof(frac), ".%06d", (int) fsec);
	return CStringGetTextDatum(psprintf("subscription:" INT64_FORMAT ":%s%04d-%02d-%02dT%02d:%02d:%02d%sZ",
										sub_id, tm.tm_year < 0 ? "-" : "",
										abs(tm.tm_year), tm.tm_mon, tm.tm_mday,
										tm.tm_hour, tm.tm_min, tm.tm_sec,
										frac));
}

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

/* A subscription as its periods are processed, under its account's lock. */
typedef struct SubState
{
	int64		sub_id;
	CreditAmount credits;
	bool		is_service;
	Datum		service;
	CreditAmount price;
	GrantMode	mode;
	ResetTerms	terms;			/* what a reset keeps */
	bool		has_expiry;
	TimestampTz expires_at;
	Interval	every;
	pg_tz	   *tz;
	TimestampTz starts_at;
	int64		period;			/* the next period to process */
	TimestampTz period_at;		/* its start */
	const char *status;
} SubState;

/* Read (and lock) a subscription of the locked account. */
static void
credits_subscription_read(AccountState *acct, int64 sub_id, SubState *sub)
{
	Datum		values[2];
	bool		isnull;
	char	   *status;
	bool		resets_12 = credits_resets_12();

	values[0] = acct->account;
	values[1] = Int64GetDatum(sub_id);
	credits_run(resets_12 ? &stmt_sub_read_12 : &stmt_sub_read, values, NULL,
				false, 1);
	if (SPI_processed != 1)
		elog(ERROR, "credits: subscription " INT64_FORMAT " vanished", sub_id);
	sub->sub_id = sub_id;
	memset(&sub->terms, 0, sizeof(sub->terms));
	if (resets_12)
	{
		Datum		rollover = credits_col(0, 12, &isnull);

		sub->terms.has_rollover = !isnull;
		sub->terms.rollover = isnull ? 0 : DatumGetCreditAmount(rollover);
		sub->terms.scope = strcmp(TextDatumGetCString(credits_col(0, 13, &isnull)),
								  "own") == 0 ? RESET_SCOPE_OWN : RESET_SCOPE_TYPE;
		snprintf(sub->terms.issuer, sizeof(sub->terms.issuer),
				 "subscription:" INT64_FORMAT, sub_id);
	}
	sub->credits = credits_col_amount(0, 1);
	sub->service = credits_col(0, 2, &isnull);
	sub->is_service = !isnull;
	if (sub->is_service)
		sub->service = datumCopy(sub->service, false, -1);
	sub->price = credits_col_amount(0, 3);
	sub->mode = credits_parse_mode(credits_col(0, 4, &isnull));
	sub->expires_at = DatumGetTimestampTz(credits_col(0, 5, &isnull));
	sub->has_expiry = !isnull;
	sub->period = credits_col_int64(0, 6);
	sub->period_at = DatumGetTimestampTz(credits_col(0, 7, &isnull));
	status = TextDatumGetCString(credits_col(0, 8, &isnull));
	sub->status = strcmp(status, "active") == 0 ? "active"
		: strcmp(status, "past_due") == 0 ? "past_due" : "cancelled";
	sub->every = *DatumGetIntervalP(credits_col(0, 9, &isnull));
	sub->tz = credits_zone(TextDatumGetCString(credits_col(0, 10, &isnull)));
	sub->starts_at = DatumGetTimestampTz(credits_col(0, 11, &isnull));
	SPI_freetuptable(SPI_tuptable);
}

/* Whether the subscription's next period is to be processed by upto. */
static bool
credits_subscription_due(const SubState *sub, TimestampTz upto)
{
	return strcmp(sub->status, "cancelled") != 0 && sub->period_at <= upto;
}

/*
 * Process the subscription's next period (sub->period); the caller holds
 * the account lock and has recorded due expirations.  checkout: period 0
 * of a service subscription is being bought now, whenever it starts, and
 * must be paid (CR001).  A service renewal the balance cannot pay is
 * recorded as failed and marks the subscription past_due.  Returns the
 * outcome ("granted", "paid" or "failed"), or NULL when the period must
 * wait: a service renewal while credits are disabled.  sub moves on to the
 * next period only once every statement has succeeded, so after an error
 * it still describes the period that failed.
 */
static const char *
credits_subscription_period(AccountState *acct, SubState *sub, bool enabled,
							bool checkout)
{
	Datum		values[7];
	char		nulls[7];
	Datum		reason;
	Datum		reference;
	const char *outcome;
	const char *status = "active";
	int64		lot_id = 0;
	int64		entry_id = 0;
	TimestampTz next_at;

	CHECK_FOR_INTERRUPTS();
	reason = CStringGetTextDatum(psprintf("subscription period " INT64_FORMAT,
										  sub->period));
	reference = credits_period_reference(sub->sub_id, sub->period_at);
	if (sub->is_service)
	{
		/* a spend for the service: its own restricted lots count too */
		CreditAmount available = 0;

		if (checkout && sub->period == 0)
		{
			available = credits_available(acct, LOTS_FOR_SERVICE, sub->service);
			if (available < sub->price)
				credits_insufficient_in(acct, LOTS_FOR_SERVICE, sub->service,
										available, sub->price);
		}
		else if (!enabled)
			return NULL;
		else
			available = credits_available(acct, LOTS_FOR_SERVICE, sub->service);
		if (available >= sub->price)
		{
			entry_id = credits_take_from_lots_in(acct, LOTS_FOR_SERVICE,
												 sub->service, "spend",
												 sub->price, 0,
												 reference, false,
												 reason, false);
			outcome = "paid";
		}
		else
		{
			outcome = "failed";
			status = "past_due";
		}
	}
	else
	{
		lot_id = credits_grant_by_mode(acct, sub->mode, sub->credits,
									   sub->has_expiry, sub->expires_at,
									   reason, false, reference, false,
									   "subscription", sub->sub_id,
									   &sub->terms, NULL);
		outcome = "granted";
	}

	memset(nulls, ' ', sizeof(nulls));
	values[0] = acct->account;
	values[1] = Int64GetDatum(sub->sub_id);
	values[2] = Int64GetDatum(sub->period);
	values[3] = TimestampTzGetDatum(sub->period_at);
	values[4] = CStringGetTextDatum(outcome);
	values[5] = Int64GetDatum(lot_id);
	if (lot_id == 0)
		nulls[5] = 'n';
	values[6] = Int64GetDatum(entry_id);
	if (entry_id == 0)
		nulls[6] = 'n';
	credits_run(&stmt_period_insert, values, nulls, false, 0);
	if (sub->period > 0)
		credits_subscription_event(acct, sub->sub_id, sub->period,
								   sub->period_at, outcome, lot_id, entry_id);

	if (!credits_period_start(sub->starts_at, &sub->every, sub->period + 1,
							  sub->tz, &next_at))
		credits_period_out_of_range(sub->period + 1, &sub->every,
									sub->starts_at);
	values[2] = CStringGetTextDatum(status);
	values[3] = TimestampTzGetDatum(next_at);
	credits_run(&stmt_sub_advance, values, NULL, false, 0);

	sub->period++;
	sub->period_at = next_at;
	sub->status = status;
	return outcome;
}

/*
 * At checkout: process every period of a new subscription that has started
 * by upto (and period 0 of a service, whenever it starts).  Errors are the
 * caller's: nothing is created.
 */
static void
credits_subscription_catch_up(AccountState *acct, int64 sub_id,
							  TimestampTz upto, bool checkout)
{
	SubState	sub;
	int			done;

	credits_subscription_read(acct, sub_id, &sub);
	for (done = 0; done < CREDITS_CATCH_UP_LIMIT; done++)
	{
		if (!credits_subscription_due(&sub, upto) &&
			!(checkout && sub.period == 0))
			break;
		if (credits_subscription_period(acct, &sub, true, checkout) == NULL)
			break;
	}
}

/*
 * A subscription may start in the past, but not so far that it would
 * catch up more than CREDITS_CATCH_UP_LIMIT periods at once (a start in
 * 1900 every second would renew for hours, and '-infinity' forever).
 */
static void
credits_check_start(TimestampTz starts_at, Datum every, pg_tz *tz)
{
	TimestampTz limit_at;

	credits_check_finite(starts_at, "starts_at");
	if (credits_period_start(starts_at, DatumGetIntervalP(every),
							 CREDITS_CATCH_UP_LIMIT, tz, &limit_at) &&
		limit_at <= GetCurrentTransactionStartTimestamp())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("starts_at lies too far in the past"),
				 errdetail("Every %s from %s, more than %d periods would already have started.",
						   DatumGetCString(DirectFunctionCall1(interval_out, every)),
						   timestamptz_to_str(starts_at),
						   CREDITS_CATCH_UP_LIMIT),
				 errhint("A subscription catches up at most %d periods at once; start it later.",
						 CREDITS_CATCH_UP_LIMIT)));
}

/*
 * A new subscription row; terms NULL leaves rollover and reset_scope to
 * the table (none: the tables of 1.0 and 1.1 have neither).
 */
static int64
credits_subscription_insert(AccountState *acct, Datum credits, Datum service,
							Datum price, Datum every, Datum mode,
							Datum expires_after, Datum starts_at,
							const char *time_zone, const ResetTerms *terms)
{
	Datum		values[12];
	char		nulls[12];

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
	values[9] = CStringGetTextDatum(time_zone);
	if (terms == NULL)
		credits_run(&stmt_sub_insert, values, nulls, false, 1);
	else
	{
		values[10] = CreditAmountGetDatum(terms->rollover);
		if (!terms->has_rollover)
			nulls[10] = 'n';
		values[11] = CStringGetTextDatum(terms->scope == RESET_SCOPE_OWN
										 ? "own" : "type");
		credits_run(&stmt_sub_insert_12, values, nulls, false, 1);
	}
	return credits_col_int64(0, 1);
}

/*
 * The session's time zone, by the name its TimeZone setting shows: what a
 * subscription counts its periods in.
 */
static const char *
credits_session_zone(void)
{
	const char *name = pg_get_timezone_name(session_timezone);

	if (name == NULL)
		elog(ERROR, "credits: the session has no time zone");
	return name;
}

/*
 * credits_subscribe(account, credits, every, mode, credit_type, starts_at,
 * expires_after, rollover, reset_scope) returns the subscription id.
 * Every period that has started by now is granted at once (so a
 * subscription starting now grants now); the others are granted by
 * credits_run_due().  Lots granted expire expires_after after they are
 * granted.  A reset keeps up to rollover of the credits of reset_scope
 * (see credits_reset_balance).  (A database still on the script of 1.0 or
 * 1.1 calls with 7 arguments.)
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
	const char *zone = credits_session_zone();
	int64		sub_id;
	GrantMode	mode;
	bool		has_terms = PG_NARGS() > 7;
	ResetTerms	terms;

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
	mode = credits_parse_mode(PG_GETARG_DATUM(3));
	memset(&terms, 0, sizeof(terms));
	if (has_terms)
	{
		credits_require_arg(fcinfo, 8, "reset_scope");
		terms.has_rollover = !PG_ARGISNULL(7);
		terms.rollover = terms.has_rollover ? PG_GETARG_CREDIT_AMOUNT(7) : 0;
		terms.scope = credits_check_reset_terms(mode, terms.has_rollover,
												terms.rollover,
												text_to_cstring(PG_GETARG_TEXT_PP(8)));
	}
	if (expires_after != (Datum) 0)
		credits_check_interval(expires_after, "expires_after");
	credits_check_start(PG_GETARG_TIMESTAMPTZ(5), PG_GETARG_DATUM(2),
						credits_zone(zone));

	SPI_connect();
	/* Credits granted every period are minted: the agency's. */
	credits_check_access(account, CREDITS_ACCESS_AGENCY);
	credits_type_info(credit_type, &info);
	credits_lock_account(&acct, account, credit_type, true);
	/* the scale as it stands once the type's lock is held (credit_types.c) */
	credits_type_info(credit_type, &info);
	credits_check_scale(credits, &info, credit_type, "credits");
	if (terms.has_rollover)
		credits_check_scale(terms.rollover, &info, credit_type, "rollover");
	credits_record_due_now(&acct);
	sub_id = credits_subscription_insert(&acct, PG_GETARG_DATUM(1), (Datum) 0,
										 (Datum) 0, PG_GETARG_DATUM(2),
										 PG_GETARG_DATUM(3), expires_after,
										 PG_GETARG_DATUM(5), zone,
										 has_terms ? &terms : NULL);
	credits_subscription_catch_up(&acct, sub_id,
								  GetCurrentTransactionStartTimestamp(),
								  false);
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
	const char *zone = credits_session_zone();
	int64		sub_id;
	CreditAmount available;

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
	credits_check_start(PG_GETARG_TIMESTAMPTZ(5), PG_GETARG_DATUM(3),
						credits_zone(zone));

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
	available = credits_available(&acct, LOTS_FOR_SERVICE, service);
	if (available < price)
		credits_insufficient_in(&acct, LOTS_FOR_SERVICE, service, available,
								price);
	sub_id = credits_subscription_insert(&acct, (Datum) 0, service,
										 PG_GETARG_DATUM(2),
										 PG_GETARG_DATUM(3),
										 CStringGetTextDatum("add"), (Datum) 0,
										 PG_GETARG_DATUM(5), zone, NULL);
	credits_subscription_catch_up(&acct, sub_id,
								  GetCurrentTransactionStartTimestamp(),
								  true);
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
	credits_run_find(&stmt_sub_find, &stmt_sub_find_in, sub_id, fcinfo, 1);
	if (SPI_processed == 0)
		credits_not_found("subscription", sub_id, fcinfo, 1);
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

/* One unit of due work of a locked account, run by credits_try(). */
typedef struct DueStep
{
	AccountState *acct;
	TimestampTz now;
	bool		expiry_due;		/* in: the account's expiries are pending */
	int64		expired;		/* out: lots expired */
	SubState	sub;			/* the subscription and its next period */
	bool		enabled;
	const char *outcome;		/* out: of the period, NULL if it waits */
} DueStep;

/* Read a due subscription (its row is locked already). */
static void
credits_due_read_step(void *arg)
{
	DueStep    *step = (DueStep *) arg;

	credits_subscription_read(step->acct, step->sub.sub_id, &step->sub);
}

/* Record the account's due expirations. */
static void
credits_due_expire_step(void *arg)
{
	DueStep    *step = (DueStep *) arg;

	step->expired = credits_record_due(step->acct, step->now);
	credits_save_account(step->acct);
}

/*
 * Process one period of a subscription (recording the account's due
 * expirations first if that failed before: no renewal may count credits
 * that are already gone).
 */
static void
credits_due_period_step(void *arg)
{
	DueStep    *step = (DueStep *) arg;

	step->expired = 0;
	if (step->expiry_due)
		step->expired = credits_record_due(step->acct, step->now);
	step->outcome = credits_subscription_period(step->acct, &step->sub,
												step->enabled, false);
	credits_save_account(step->acct);
}

/*
 * A renewal failed with an error (its subtransaction is rolled back): mark
 * the subscription past_due with the error, and say so in the outbox the
 * first time that period fails that way.
 */
static void
credits_subscription_failed(AccountState *acct, int64 sub_id, ErrorData *err)
{
	Datum		values[5];
	int64		event_id = credits_next_event_id();

	values[0] = acct->account;
	values[1] = Int64GetDatum(sub_id);
	values[2] = CStringGetTextDatum(unpack_sql_state(err->sqlerrcode));
	values[3] = CStringGetTextDatum(err->message ? err->message : "");
	values[4] = Int64GetDatum(event_id);
	credits_run(&stmt_sub_failed, values, NULL, false, 0);
	if (SPI_processed > 0)
		credits_notify_event(event_id, "subscription.past_due");
}

/*
 * The due work of one account, locked: its due expirations, then each due
 * subscription's periods up to as_of, each period in a subtransaction of
 * its own.  A failed renewal leaves its subscription at the period that
 * failed (retried by the next run) and the others going.  Returns false
 * when the account's expirations could not be recorded.
 */
static bool
credits_run_due_account(AccountState *acct, TimestampTz as_of,
						TimestampTz now, bool enabled, DueCounts *counts,
						int64 *expired)
{
	Datum		values[3];
	int64	   *subs;
	uint64		nsubs;
	uint64		j;
	DueStep		step;
	AccountState saved;
	ErrorData  *err;

	memset(&step, 0, sizeof(step));
	step.acct = acct;
	step.now = now;
	step.enabled = enabled;

	saved = *acct;
	err = credits_try(credits_due_expire_step, &step);
	if (err == NULL)
		*expired += step.expired;
	else
	{
		*acct = saved;
		step.expiry_due = true;
		ereport(WARNING,
				(errcode(err->sqlerrcode),
				 errmsg("could not record the due expirations of account \"%s\" (credit type %s): %s",
						TextDatumGetCString(acct->account),
						TextDatumGetCString(acct->credit_type), err->message),
				 errhint("Its renewals wait for them; the next run tries again.")));
		FreeErrorData(err);
	}

	values[0] = acct->account;
	values[1] = acct->credit_type;
	values[2] = TimestampTzGetDatum(as_of);
	credits_run(&stmt_due_subs, values, NULL, false, 0);
	nsubs = SPI_processed;
	subs = palloc(sizeof(int64) * (nsubs + 1));
	for (j = 0; j < nsubs; j++)
		subs[j] = credits_col_int64(j, 1);
	SPI_freetuptable(SPI_tuptable);

	for (j = 0; j < nsubs; j++)
	{
		int			done;

		step.sub.sub_id = subs[j];
		err = credits_try(credits_due_read_step, &step);
		if (err != NULL)
		{
			counts->failed++;
			credits_subscription_failed(acct, subs[j], err);
			FreeErrorData(err);
			continue;
		}
		for (done = 0; done < CREDITS_CATCH_UP_LIMIT &&
			 credits_subscription_due(&step.sub, as_of); done++)
		{
			SubState	before = step.sub;

			saved = *acct;
			err = credits_try(credits_due_period_step, &step);
			if (err != NULL)
			{
				*acct = saved;
				step.sub = before;
				counts->failed++;
				credits_subscription_failed(acct, subs[j], err);
				FreeErrorData(err);
				break;
			}
			if (step.expiry_due)
			{
				*expired += step.expired;
				step.expiry_due = false;
			}
			if (step.outcome == NULL)
				break;
			if (strcmp(step.outcome, "failed") == 0)
				counts->failed++;
			else
				counts->renewed++;
		}
	}
	pfree(subs);
	return !step.expiry_due;
}

/*
 * credits_run_due(as_of) returns (renewed, failed, expired): the periods
 * renewed (granted or paid) and failed (could not be paid, or an error)
 * among those starting by as_of, and the lots expired by now.  as_of only
 * selects what is due and may not lie after now: every effect is recorded
 * now.  A subscription that fell behind catches up every missed period,
 * each once, at most CREDITS_CATCH_UP_LIMIT per run.  Accounts that other
 * transactions hold are left for the next run.
 */
Datum
credits_run_due(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz as_of;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	DueCounts	counts = {0, 0};
	int64		expired = 0;
	uint64		busy = 0;
	uint64		failed_accounts = 0;
	bool		enabled;
	DueKey	   *keys;
	uint64		nkeys;
	uint64		i;

	credits_require_arg(fcinfo, 0, "as_of");
	as_of = PG_GETARG_TIMESTAMPTZ(0);
	credits_check_finite(as_of, "as_of");
	if (as_of > now)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must not be later than now"),
				 errdetail("Nothing renews early; the value given was %s.",
						   timestamptz_to_str(as_of))));
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

		keys[i].account = datumCopy(credits_col(i, 1, &isnull), false, -1);
		keys[i].credit_type = datumCopy(credits_col(i, 2, &isnull), false, -1);
	}
	SPI_freetuptable(SPI_tuptable);

	for (i = 0; i < nkeys; i++)
	{
		AccountState acct;
		Datum		values[2];

		CHECK_FOR_INTERRUPTS();
		values[0] = keys[i].account;
		values[1] = keys[i].credit_type;
		credits_run(&stmt_account_try_lock, values, NULL, false, 1);
		if (SPI_processed == 0)
		{
			busy++;
			continue;
		}
		credits_lock_account(&acct, keys[i].account, keys[i].credit_type, false);
		if (!acct.exists)
			continue;
		if (!credits_run_due_account(&acct, as_of, acct.now, enabled, &counts,
									 &expired))
			failed_accounts++;
	}
	SPI_finish();
	credits_report_left("credits_run_due", busy, failed_accounts);

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
