/*
 * bulk.c
 *	  Set-based movements over many accounts: recording due expirations
 *	  (credits_expire) and granting to a list of accounts
 *	  (credits_grant_many).  Each batch of accounts is locked in the fixed
 *	  (account, credit_type) order under the "C" collation, then moved by
 *	  one statement writing the same rows, events included, as the
 *	  per-account code would.  Long runs report their progress as NOTICEs.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "credits.h"

PG_FUNCTION_INFO_V1(credits_new_event_id);
PG_FUNCTION_INFO_V1(credits_expire);
PG_FUNCTION_INFO_V1(credits_grant_many);

/* Accounts per batch: one lock statement and one movement statement each. */
#define BULK_BATCH 10000
/* credits.progress_every: a NOTICE every so many accounts or lots */
static int	credits_progress_every = 100000;

static CreditsStmt stmt_accounts_due = {"T",
	"SELECT DISTINCT account COLLATE \"C\", credit_type COLLATE \"C\" "
	"FROM credits.lot WHERE is_open AND expires_at <= $1 ORDER BY 1, 2"};

static CreditsStmt stmt_lock_many = {"SS",
	"SELECT {{a.last_at|NULL::timestamptz}} FROM credits.account a "
	"JOIN unnest($1::text[], $2::text[]) u(account, credit_type) "
	"ON a.account = u.account AND a.credit_type = u.credit_type "
	"ORDER BY a.account COLLATE \"C\", a.credit_type COLLATE \"C\" "
	"FOR UPDATE OF a"};

/*
 * The same without waiting: credits_expire() passes over an account that a
 * transaction holds (the next run expires its lots) and returns the
 * accounts it locked.
 */
static CreditsStmt stmt_lock_many_free = {"SS",
	"SELECT a.account, a.credit_type FROM credits.account a "
	"JOIN unnest($1::text[], $2::text[]) u(account, credit_type) "
	"ON a.account = u.account AND a.credit_type = u.credit_type "
	"ORDER BY a.account COLLATE \"C\", a.credit_type COLLATE \"C\" "
	"FOR UPDATE OF a SKIP LOCKED"};

/*
 * Every open lot of the (locked) accounts due by $3 -- and by the account's
 * ledger instant: $4 is the transaction's start, see credits_ledger_instant
 * -- expires: its remainder leaves in an expire entry, in spend order, with
 * the running balance each step, dated the ledger instant; then the
 * accounts' balances, entry numbers, last_at and next expiry, and the
 * low_balance / balance_depleted events where a balance crossed its
 * threshold or reached zero.  Mirrors credits_record_due().
 */
static CreditsStmt stmt_expire_batch = {"SSTT",
	"WITH acc AS (SELECT a.account, a.credit_type, a.balance, a.last_seq, "
	"  a.low_threshold, greatest({{a.last_at|NULL}}, $4) AS at, "
	"  least(greatest({{a.last_at|NULL}}, $4), $3) AS due_by "
	"  FROM credits.account a "
	"  JOIN (SELECT DISTINCT * FROM unnest($1::text[], $2::text[])) "
	"    u(account, credit_type) "
	"  ON a.account = u.account AND a.credit_type = u.credit_type), "
	/* every due lot with all its entry will say: no further joins */
	"due AS MATERIALIZED (SELECT l.account, l.credit_type, l.lot_id, l.remaining, "
	"  acc.last_seq + row_number() OVER w AS seq, "
	"  acc.balance - sum(l.remaining) OVER w AS running_balance, "
	"  acc.low_threshold, nextval('credits.entry_id_seq') AS entry_id, "
	"  acc.at, acc.due_by "
	"  FROM credits.lot l JOIN acc "
	"  ON l.account = acc.account AND l.credit_type = acc.credit_type "
	"  WHERE l.is_open AND l.expires_at <= acc.due_by "
	"  WINDOW w AS (PARTITION BY l.account, l.credit_type "
	"    ORDER BY l.expires_at, l.granted_at, l.lot_id)), "
	"upd AS (UPDATE credits.lot l SET remaining = 0, is_open = false FROM due "
	"  WHERE l.lot_id = due.lot_id AND l.account = due.account), "
	"ent AS (INSERT INTO credits.entry (entry_id, account, credit_type, seq, kind, "
	"  amount, running_balance, lot_id, at) "
	"  SELECT entry_id, account, credit_type, seq, 'expire', remaining, "
	"  running_balance, lot_id, at FROM due ORDER BY account, credit_type, seq), "
	"ev AS (INSERT INTO credits.event (id, account, at, type, aggregatetype, "
	"  aggregateid, payload, entry_id) "
	"  SELECT credits.new_event_id('account.credits.expired'), d.account, d.at, "
	"  'account.credits.expired', 'account', d.account, jsonb_build_object("
	"  'account', d.account, 'credit_type', d.credit_type, 'entry_id', d.entry_id, "
	"  'kind', 'expire', 'amount', d.remaining::numeric, "
	"  'balance', d.running_balance::numeric, 'reference', NULL, 'reason', NULL, "
	"  'lot_id', d.lot_id), d.entry_id "
	"  FROM (SELECT * FROM due ORDER BY account, credit_type, seq) d RETURNING 1), "
	"tot AS (SELECT account, credit_type, sum(remaining) AS total, count(*) AS cnt, "
	"  min(at) AS at, min(due_by) AS due_by FROM due GROUP BY account, credit_type), "
	"au AS (UPDATE credits.account a SET balance = a.balance - tot.total, "
	"  last_seq = a.last_seq + tot.cnt, {{last_at = tot.at,|}} "
	"  next_expiry = (SELECT min(l.expires_at) "
	"    FROM credits.lot l WHERE l.account = a.account "
	"    AND l.credit_type = a.credit_type AND l.is_open "
	"    AND l.expires_at > tot.due_by) "
	"  FROM tot WHERE a.account = tot.account AND a.credit_type = tot.credit_type), "
	"bev AS (INSERT INTO credits.event (id, account, at, type, aggregatetype, "
	"  aggregateid, payload, entry_id) "
	"  SELECT credits.new_event_id(x.type), x.account, x.at, x.type, 'account', x.account, "
	"  jsonb_build_object('account', x.account, 'credit_type', x.credit_type, "
	"  'balance', x.running_balance::numeric, 'threshold', x.low_threshold::numeric, "
	"  'entry_id', x.entry_id), x.entry_id "
	"  FROM (SELECT 'account.credits.low_balance' AS type, 1 AS o, d.* FROM due d "
	"    WHERE d.low_threshold IS NOT NULL "
	"    AND d.running_balance + d.remaining >= d.low_threshold "
	"    AND d.running_balance < d.low_threshold "
	"    UNION ALL SELECT 'account.credits.balance_depleted', 2, d.* FROM due d "
	"    WHERE d.running_balance = 0 AND d.running_balance + d.remaining > 0) x "
	"  WHERE (SELECT count(*) FROM ev) >= 0 "
	"  ORDER BY x.account, x.credit_type, x.seq, x.o) "
	"SELECT count(*) FROM due"};

static CreditsStmt stmt_create_accounts = {"St",
	"INSERT INTO credits.account (account, credit_type) "
	"SELECT DISTINCT u.account, $2 FROM unnest($1::text[]) u(account) "
	"ON CONFLICT DO NOTHING"};

/*
 * A grant to each account of the (locked) list, duplicates included: one
 * lot, grant entry and event each, in list order, dated the account's
 * ledger instant ($7 is the transaction's start); then the accounts.
 * Mirrors credits_add_lot().
 */
static CreditsStmt stmt_grant_batch = {"StaTttT",
	"WITH g AS (SELECT u.account, u.ord FROM unnest($1::text[]) "
	"  WITH ORDINALITY u(account, ord)), "
	"acc AS (SELECT a.account, a.balance, a.last_seq, "
	"  greatest({{a.last_at|NULL}}, $7) AS at FROM credits.account a "
	"  WHERE a.credit_type = $2 AND a.account IN (SELECT account FROM g)), "
	"lots AS (INSERT INTO credits.lot (account, credit_type, amount, remaining, "
	"  is_open, expires_at, reason, reference, source, granted_at) "
	"  SELECT g.account, $2, $3, $3, true, $4, $5, $6, 'grant', a.at "
	"  FROM g JOIN acc a ON a.account = g.account "
	"  ORDER BY g.ord RETURNING account, lot_id), "
	"num AS (SELECT l.account, l.lot_id, "
	"  row_number() OVER (PARTITION BY l.account ORDER BY l.lot_id) AS n "
	"  FROM lots l), "
	"ent AS (INSERT INTO credits.entry (account, credit_type, seq, kind, amount, "
	"  running_balance, lot_id, reference, reason, at) "
	"  SELECT n.account, $2, a.last_seq + n.n, 'grant', $3, a.balance + $3 * n.n, "
	"  n.lot_id, $6, $5, a.at FROM num n JOIN acc a ON a.account = n.account "
	"  ORDER BY n.account, n.n "
	"  RETURNING account, entry_id, at, seq, running_balance, lot_id), "
	"ev AS (INSERT INTO credits.event (id, account, at, type, aggregatetype, "
	"  aggregateid, payload, entry_id) "
	"  SELECT credits.new_event_id('account.credits.granted'), e.account, e.at, "
	"  'account.credits.granted', 'account', e.account, jsonb_build_object("
	"  'account', e.account, 'credit_type', $2, 'entry_id', e.entry_id, "
	"  'kind', 'grant', 'amount', $3::numeric, "
	"  'balance', e.running_balance::numeric, 'reference', $6, 'reason', $5, "
	"  'lot_id', e.lot_id), e.entry_id "
	"  FROM (SELECT * FROM ent ORDER BY account, seq) e), "
	"tot AS (SELECT account, count(*) AS cnt FROM g GROUP BY account), "
	"au AS (UPDATE credits.account a SET balance = a.balance + $3 * tot.cnt, "
	"  last_seq = a.last_seq + tot.cnt, "
	"  {{last_at = greatest(a.last_at, $7),|}} "
	"  next_expiry = CASE "
	"    WHEN $4::timestamptz IS NULL THEN a.next_expiry "
	"    WHEN a.next_expiry IS NULL OR $4 < a.next_expiry THEN $4 "
	"    ELSE a.next_expiry END "
	"  FROM tot WHERE a.account = tot.account AND a.credit_type = $2) "
	"SELECT count(*) FROM lots"};

static CreditsStmt stmt_sorted_accounts = {"S",
	"SELECT u.account FROM unnest($1::text[]) u(account) "
	"ORDER BY u.account COLLATE \"C\""};

static CreditsStmt stmt_check_accounts = {"S",
	"SELECT count(*) FILTER (WHERE a IS NULL), count(*) FILTER (WHERE a = '') "
	"FROM unnest($1::text[]) a"};

/*
 * credits.new_event_id(type): an outbox id for a row written by a set-based
 * statement, with its NOTIFY queued for commit (see credits_next_event_id).
 */
Datum
credits_new_event_id(PG_FUNCTION_ARGS)
{
	int64		id = credits_next_event_id();

	credits_notify_event(id, TextDatumGetCString(PG_GETARG_DATUM(0)));
	PG_RETURN_INT64(id);
}

/* A text[] Datum of n C strings or text Datums. */
static Datum
credits_text_array(Datum *elems, int n)
{
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false,
										   TYPALIGN_INT));
}

/*
 * Record the due expirations (expires_at <= as_of, and no later than each
 * account's ledger instant: DT_NOEND for "due by the ledger instant") of
 * the listed accounts (text[] accounts and credit_types, the same length):
 * locks them in the fixed order, then expires their due lots in one
 * statement.  Returns how many lots expired; *latest (if not NULL)
 * receives the latest ledger instant among the accounts.  Inside SPI.
 */
int64
credits_expire_accounts(Datum accounts, Datum credit_types, TimestampTz as_of,
						TimestampTz *latest)
{
	Datum		values[4];
	bool		isnull;
	TimestampTz start = GetCurrentTransactionStartTimestamp();
	uint64		i;

	values[0] = accounts;
	values[1] = credit_types;
	credits_run(&stmt_lock_many, values, NULL, false, 0);
	if (latest)
	{
		*latest = start;
		for (i = 0; i < SPI_processed; i++)
		{
			Datum		d = credits_col(i, 1, &isnull);

			if (!isnull && DatumGetTimestampTz(d) > *latest)
				*latest = DatumGetTimestampTz(d);
		}
	}
	SPI_freetuptable(SPI_tuptable);
	values[2] = TimestampTzGetDatum(as_of);
	values[3] = TimestampTzGetDatum(start);
	credits_run(&stmt_expire_batch, values, NULL, false, 0);
	return DatumGetInt64(credits_col(0, 1, &isnull));
}

/* One batch of credits_expire(), for credits_try(). */
typedef struct ExpireBatch
{
	Datum		accounts;		/* text[], locked */
	Datum		credit_types;	/* text[] */
	TimestampTz as_of;
	int64		expired;		/* out: lots expired */
} ExpireBatch;

static void
credits_expire_batch_step(void *arg)
{
	ExpireBatch *b = (ExpireBatch *) arg;
	Datum		values[4];
	bool		isnull;

	values[0] = b->accounts;
	values[1] = b->credit_types;
	values[2] = TimestampTzGetDatum(b->as_of);
	values[3] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	credits_run(&stmt_expire_batch, values, NULL, false, 0);
	b->expired = DatumGetInt64(credits_col(0, 1, &isnull));
	credits_topup_accounts(b->accounts, b->credit_types);
}

/*
 * credits_expire()'s share of a batch of accounts (text[] accounts and
 * credit_types): locks those no other transaction holds (*busy counts the
 * others) and expires their due lots in one statement.  Should that fail,
 * the accounts are taken one by one, each on its own, so that one account
 * whose expiry fails (reported as a WARNING, counted in *failed) leaves the
 * others expired.  Returns how many lots expired.  Inside SPI.
 */
/* Report an account whose due expirations failed (left for the next run). */
static void
credits_expire_failed(ErrorData *err, Datum account, Datum credit_type)
{
	ereport(WARNING,
			(errcode(err->sqlerrcode),
			 errmsg("could not record the due expirations of account \"%s\" (credit type %s): %s",
					TextDatumGetCString(account),
					TextDatumGetCString(credit_type), err->message),
			 errhint("The other accounts were expired; the next run tries this one again.")));
	FreeErrorData(err);
}

/*
 * Distributed: one account at a time, each with its own statements, which
 * Citus routes to the account's shard (it refuses to lock rows of several
 * shards in one statement).  A held account is waited for, not passed over.
 */
typedef struct ExpireOne
{
	Datum		account;
	Datum		credit_type;
	TimestampTz as_of;
	int64		expired;		/* out */
} ExpireOne;

static void
credits_expire_one_step(void *arg)
{
	ExpireOne  *e = (ExpireOne *) arg;
	AccountState acct;

	credits_lock_account(&acct, e->account, e->credit_type, false);
	e->expired = credits_record_due(&acct, e->as_of);
	credits_save_account(&acct);
}

static int64
credits_expire_each(Datum accounts, Datum credit_types, TimestampTz as_of,
					uint64 *failed)
{
	Datum	   *accs;
	Datum	   *types;
	int			n;
	int			i;
	int64		count = 0;

	deconstruct_array(DatumGetArrayTypeP(accounts), TEXTOID, -1, false,
					  TYPALIGN_INT, &accs, NULL, &n);
	deconstruct_array(DatumGetArrayTypeP(credit_types), TEXTOID, -1, false,
					  TYPALIGN_INT, &types, NULL, &n);
	for (i = 0; i < n; i++)
	{
		ExpireOne	one;
		ErrorData  *err;

		one.account = accs[i];
		one.credit_type = types[i];
		one.as_of = as_of;
		one.expired = 0;
		err = credits_try(credits_expire_one_step, &one);
		if (err == NULL)
		{
			count += one.expired;
			continue;
		}
		(*failed)++;
		credits_expire_failed(err, accs[i], types[i]);
	}
	return count;
}

static int64
credits_expire_free_accounts(Datum accounts, Datum credit_types,
							 TimestampTz as_of, uint64 n,
							 uint64 *busy, uint64 *failed)
{
	Datum		values[2];
	SPITupleTable *locked_rows;
	Datum	   *accs;
	Datum	   *types;
	uint64		locked;
	uint64		i;
	ExpireBatch batch;
	ErrorData  *err;
	int64		count = 0;
	MemoryContext batch_cxt;
	MemoryContext old_cxt;

	if (credits_distributed())
		return credits_expire_each(accounts, credit_types, as_of, failed);
	values[0] = accounts;
	values[1] = credit_types;
	credits_run(&stmt_lock_many_free, values, NULL, false, 0);
	locked = SPI_processed;
	locked_rows = SPI_tuptable;
	*busy += n - locked;
	if (locked == 0)
	{
		SPI_freetuptable(locked_rows);
		return 0;
	}
	/* the rows stay until the end: subtransactions free only their own */
	batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "credits_expire batch",
									  ALLOCSET_DEFAULT_SIZES);
	old_cxt = MemoryContextSwitchTo(batch_cxt);
	accs = palloc(sizeof(Datum) * locked);
	types = palloc(sizeof(Datum) * locked);
	for (i = 0; i < locked; i++)
	{
		bool		isnull;

		accs[i] = SPI_getbinval(locked_rows->vals[i], locked_rows->tupdesc, 1, &isnull);
		types[i] = SPI_getbinval(locked_rows->vals[i], locked_rows->tupdesc, 2, &isnull);
	}

	batch.accounts = credits_text_array(accs, locked);
	batch.credit_types = credits_text_array(types, locked);
	batch.as_of = as_of;
	err = credits_try(credits_expire_batch_step, &batch);
	if (err == NULL)
		count = batch.expired;
	else
	{
		FreeErrorData(err);
		for (i = 0; i < locked; i++)
		{
			batch.accounts = credits_text_array(&accs[i], 1);
			batch.credit_types = credits_text_array(&types[i], 1);
			err = credits_try(credits_expire_batch_step, &batch);
			if (err == NULL)
			{
				count += batch.expired;
				continue;
			}
			(*failed)++;
			credits_expire_failed(err, accs[i], types[i]);
		}
	}
	MemoryContextSwitchTo(old_cxt);
	MemoryContextDelete(batch_cxt);
	SPI_freetuptable(locked_rows);
	return count;
}

void
credits_bulk_init(void)
{
	DefineCustomIntVariable("credits.progress_every",
							"Bulk operations report their progress every so many accounts or lots.",
							"credits_expire() and credits_grant_many() send a NOTICE each time.",
							&credits_progress_every,
							100000, 1, INT_MAX,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
}

/*
 * Fetch the next batch of (account[, credit_type]) rows from the cursor as
 * two text[] Datums; a NULL column 2 uses fixed_type for every row.
 * Returns how many rows (0 at the end).
 */
static uint64
credits_fetch_batch(Portal portal, Datum fixed_type, Datum *accounts,
					Datum *credit_types)
{
	SPITupleTable *batch;
	uint64		n;
	uint64		i;
	Datum	   *accs;
	Datum	   *types;

	SPI_cursor_fetch(portal, true, BULK_BATCH);
	n = SPI_processed;
	if (n == 0)
		return 0;
	batch = SPI_tuptable;
	accs = palloc(sizeof(Datum) * n);
	types = palloc(sizeof(Datum) * n);
	for (i = 0; i < n; i++)
	{
		bool		isnull;

		accs[i] = SPI_getbinval(batch->vals[i], batch->tupdesc, 1, &isnull);
		types[i] = fixed_type != (Datum) 0 ? fixed_type :
			SPI_getbinval(batch->vals[i], batch->tupdesc, 2, &isnull);
	}
	*accounts = credits_text_array(accs, n);
	*credit_types = credits_text_array(types, n);
	SPI_freetuptable(batch);
	pfree(accs);
	pfree(types);
	return n;
}

/*
 * A NOTICE of the accounts a run of due work left for the next one: held
 * by other transactions, or failed (each failure has had its WARNING).
 */
void
credits_report_left(const char *what, uint64 busy, uint64 failed)
{
	if (busy > 0)
		ereport(NOTICE,
				(errmsg_plural("%s: " UINT64_FORMAT " account was locked by another transaction and is left for the next run",
							   "%s: " UINT64_FORMAT " accounts were locked by other transactions and are left for the next run",
							   busy, what, busy)));
	if (failed > 0)
		ereport(NOTICE,
				(errmsg_plural("%s: the due expirations of " UINT64_FORMAT " account failed and are left for the next run",
							   "%s: the due expirations of " UINT64_FORMAT " accounts failed and are left for the next run",
							   failed, what, failed)));
}

static void
credits_progress(const char *what, uint64 done, const char *unit)
{
	ereport(NOTICE,
			(errmsg("%s: " UINT64_FORMAT " %s done", what, done, unit)));
}

/*
 * credits_expire(as_of) records an expire entry for every lot with credits
 * left whose expires_at <= as_of, and returns how many lots.  Accounts are
 * taken in batches, in the fixed lock order; an account another
 * transaction holds is passed over, not waited for, and an account whose
 * expiry fails is reported and left: both are expired by a later run.  A
 * second run finds nothing left to do.
 */
Datum
credits_expire(PG_FUNCTION_ARGS)
{
	TimestampTz as_of;
	Datum		values[1];
	Portal		portal;
	int64		count = 0;
	uint64		accounts_done = 0;
	uint64		busy = 0;
	uint64		failed = 0;
	uint64		next_report = credits_progress_every;

	credits_require_arg(fcinfo, 0, "as_of");
	as_of = PG_GETARG_TIMESTAMPTZ(0);
	credits_check_finite(as_of, "as_of");
	if (as_of > GetCurrentTransactionStartTimestamp())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must not be later than now"),
				 errdetail("Credits never expire early; the value given was %s.",
						   timestamptz_to_str(as_of))));

	SPI_connect();
	credits_check_access((Datum) 0, CREDITS_ACCESS_AGENCY);
	values[0] = TimestampTzGetDatum(as_of);
	portal = credits_cursor_open(&stmt_accounts_due, values, NULL);
	for (;;)
	{
		Datum		accounts;
		Datum		types;
		uint64		n;

		CHECK_FOR_INTERRUPTS();
		n = credits_fetch_batch(portal, (Datum) 0, &accounts, &types);
		if (n == 0)
			break;
		count += credits_expire_free_accounts(accounts, types, as_of, n,
											  &busy, &failed);
		accounts_done += n;
		if (accounts_done >= next_report)
		{
			credits_progress("credits_expire", accounts_done, "accounts");
			next_report += credits_progress_every;
		}
	}
	SPI_cursor_close(portal);
	SPI_finish();
	credits_report_left("credits_expire", busy, failed);
	PG_RETURN_INT64(count);
}

/*
 * credits_grant_many(accounts, amount, credit_type, expires_at, reason,
 * reference): the same grant to every account of the list (an account
 * listed twice gets two lots), set-based.  Returns how many lots.
 */
Datum
credits_grant_many(PG_FUNCTION_ARGS)
{
	Datum		credit_type;
	CreditAmount amount;
	bool		has_expiry = !PG_ARGISNULL(3);
	TimestampTz expires_at = has_expiry ? PG_GETARG_TIMESTAMPTZ(3) : 0;
	TimestampTz latest;
	CreditTypeInfo info;
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	Portal		portal;
	int64		count = 0;
	uint64		next_report = credits_progress_every;
	bool		isnull;

	credits_require_arg(fcinfo, 0, "accounts");
	credits_require_arg(fcinfo, 1, "amount");
	credits_require_arg(fcinfo, 2, "credit_type");
	amount = PG_GETARG_CREDIT_AMOUNT(1);
	credit_type = PG_GETARG_DATUM(2);
	credits_check_positive(amount, "amount");
	if (has_expiry)
	{
		credits_check_finite(expires_at, "expires_at");
		credits_check_future_expiry(expires_at);
	}

	SPI_connect();
	credits_check_access((Datum) 0, CREDITS_ACCESS_AGENCY);
	/* the scale cannot change until this transaction ends (credit_types.c) */
	credits_lock_type(credit_type, &info);
	credits_check_scale(amount, &info, credit_type, "amount");

	values[0] = PG_GETARG_DATUM(0);
	credits_run(&stmt_check_accounts, values, NULL, false, 1);
	if (DatumGetInt64(credits_col(0, 1, &isnull)) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("accounts must not contain null")));
	if (DatumGetInt64(credits_col(0, 2, &isnull)) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("account must not be empty")));

	/* In lock order over the whole list, so batches lock in order too. */
	portal = credits_cursor_open(&stmt_sorted_accounts, values, NULL);
	for (;;)
	{
		Datum		accounts;
		Datum		types;

		CHECK_FOR_INTERRUPTS();
		if (credits_fetch_batch(portal, credit_type, &accounts, &types) == 0)
			break;

		if (credits_distributed())
		{
			/* one account at a time, routed (see credits_expire_each) */
			Datum	   *accs;
			int			n;
			int			i;

			deconstruct_array(DatumGetArrayTypeP(accounts), TEXTOID, -1, false,
							  TYPALIGN_INT, &accs, NULL, &n);
			for (i = 0; i < n; i++)
			{
				AccountState acct;

				credits_lock_account(&acct, accs[i], credit_type, true);
				acct.has_topup = false; /* no top-up, as on one node */
				credits_record_due_now(&acct);
				credits_add_lot(&acct, amount, has_expiry, expires_at,
								PG_GETARG_DATUM(4), PG_ARGISNULL(4),
								PG_GETARG_DATUM(5), PG_ARGISNULL(5), "grant",
								(Datum) 0, (Datum) 0, 0, (Datum) 0);
				credits_save_account(&acct);
				count++;
			}
			/* a notice per batch, as below */
			if ((uint64) count >= next_report)
			{
				credits_progress("credits_grant_many", count, "lots");
				next_report += credits_progress_every;
			}
			continue;
		}

		/* accounts, lock, due expirations first: as credits_grant does */
		values[0] = accounts;
		values[1] = credit_type;
		credits_run(&stmt_create_accounts, values, NULL, false, 0);
		credits_expire_accounts(accounts, types, DT_NOEND, &latest);
		/* as credits_add_lot: no lot born expired at its grant's instant */
		if (has_expiry && expires_at <= latest)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("expires_at must be in the future"),
					 errdetail("The value given was %s; the grant is recorded at %s.",
							   timestamptz_to_str(expires_at),
							   timestamptz_to_str(latest))));

		values[0] = accounts;
		values[1] = credit_type;
		values[2] = CreditAmountGetDatum(amount);
		values[3] = TimestampTzGetDatum(expires_at);
		nulls[3] = has_expiry ? ' ' : 'n';
		values[4] = PG_GETARG_DATUM(4);
		nulls[4] = PG_ARGISNULL(4) ? 'n' : ' ';
		values[5] = PG_GETARG_DATUM(5);
		nulls[5] = PG_ARGISNULL(5) ? 'n' : ' ';
		values[6] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
		credits_run(&stmt_grant_batch, values, nulls, false, 0);
		count += DatumGetInt64(credits_col(0, 1, &isnull));
		if ((uint64) count >= next_report)
		{
			credits_progress("credits_grant_many", count, "lots");
			next_report += credits_progress_every;
		}
	}
	SPI_cursor_close(portal);
	SPI_finish();
	PG_RETURN_INT64(count);
}
