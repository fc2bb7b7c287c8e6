/*
 * ledger.c
 *	  The machinery every movement shares: argument checks, credit-type
 *	  lookups, the account lock, due-expiry recording, and the writers of
 *	  entries, allocations and lots.  Lots and entries of one (account,
 *	  credit type) are only ever changed while its account row is locked.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"

#include "credits.h"

/*
 * Creating (or finding) the account row is what every grant-like call does
 * first; it also takes the credit type's lock shared, so that the type's
 * scale cannot change until the caller commits (see credit_types.c).
 */
static CreditsStmt stmt_account_create = {"tt",
		"INSERT INTO credits.account (account, credit_type) SELECT $1, $2 "
		"FROM pg_advisory_xact_lock_shared(hashtext('credits.credit_type'), hashtext($2)) "
		"ON CONFLICT DO NOTHING"};

/*
 * The lock.  The credit type's scale and the agency switch come from the
 * configuration caches (config.c), never from this statement's snapshot,
 * which in a REPEATABLE READ transaction can predate a change.
 */
static CreditsStmt stmt_account_lock = {"tt",
		"SELECT a.balance, a.held, a.last_seq, a.next_expiry, a.low_threshold, "
		"{{a.last_at|NULL::timestamptz}}, {{12:a.scoped|false}}, " CREDITS_TOPUP_COLUMN " "
		"FROM credits.account a "
		"WHERE a.account = $1 AND a.credit_type = $2 FOR UPDATE OF a"};

static CreditsStmt stmt_account_update = {"ttaaiTT",
		"UPDATE credits.account SET balance = $3, held = $4, last_seq = $5, "
		"next_expiry = $6{{, last_at = $7|}} "
		"WHERE account = $1 AND credit_type = $2"};

/*
 * An entry and its outbox event, in one statement; the entry id, its
 * instant and the event's payload come from C (payload.c).
 */
static CreditsStmt stmt_entry_insert = {"ttitaaiittitajiT",
	"WITH e AS (INSERT INTO credits.entry (entry_id, account, credit_type, seq, "
	"kind, amount, running_balance, lot_id, related_id, reference, reason, "
	"shortfall, at) VALUES ($15, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $13, "
	"$16) RETURNING at) "
	"INSERT INTO credits.event (id, account, at, type, aggregatetype, "
	"aggregateid, payload, entry_id) "
	"SELECT $11, $1, e.at, $12, 'account', $1, $14, $15 FROM e"};

/*
 * Spend order: lowest priority first, then soonest expiry (never-expiring
 * last), then oldest grant, then lot id (index lot_spend_order).  The
 * tables of 1.0 and 1.1 have no priority and no restricted lots.
 */
#define SPEND_ORDER "{{12:priority, |}}expires_at, granted_at, lot_id"
#define UNRESTRICTED "{{12: AND applies_to IS NULL|}}"

/*
 * The first n open lots in spend order of $1 (account), $2 (credit type)
 * that a take in a scope may use: the first n that any service may use
 * (index lot_spend_order) and the first n of those restricted to the
 * service svc, or of every restricted one when svc is NULL (index
 * lot_scoped_order, its filter on the account's restricted lots only), in
 * spend order.  Each part is read in index order and stops after n rows, so
 * no plan sorts or reads more of the account's lots.  Only for scoped
 * accounts (so only on the tables of 1.2).
 */
#define SCOPED_ORDER "priority, expires_at, granted_at, lot_id"
#define LOTS_IN_SCOPE(svc, n) \
	"SELECT lot_id, remaining FROM (" \
	"(SELECT lot_id, remaining, priority, expires_at, granted_at " \
	"  FROM credits.lot WHERE account = $1 AND credit_type = $2 " \
	"  AND is_open AND applies_to IS NULL " \
	"  ORDER BY " SCOPED_ORDER " LIMIT " n ") " \
	"UNION ALL " \
	"(SELECT lot_id, remaining, priority, expires_at, granted_at " \
	"  FROM credits.lot WHERE account = $1 AND credit_type = $2 " \
	"  AND is_open AND applies_to IS NOT NULL " \
	"  AND (" svc "::text IS NULL OR " svc " = ANY (applies_to)) " \
	"  ORDER BY " SCOPED_ORDER " LIMIT " n ")) s " \
	"ORDER BY " SCOPED_ORDER " LIMIT " n

/*
 * The common case of a take, in one statement: the first open lot in spend
 * order covers the whole amount.  It updates that lot, writes the entry, its
 * event and its allocation, and the account row; when the first lot does
 * not cover the amount it changes nothing and returns no row.  The caller
 * holds the account lock, so the lots it reads are current.  The lot is one
 * that any service may use; stmt_take_one_lot_in takes it from the lots of
 * a scope ($17: the service, or NULL for every lot).
 */
#define TAKE_ONE_LOT(lot) \
	"WITH lot AS MATERIALIZED (" lot "), " \
	"upd AS (UPDATE credits.lot l SET remaining = l.remaining - $3, " \
	"  is_open = l.remaining > $3 FROM lot " \
	"  WHERE l.account = $1 AND l.lot_id = lot.lot_id AND lot.remaining >= $3 " \
	"  RETURNING l.lot_id), " \
	"ent AS (INSERT INTO credits.entry (entry_id, account, credit_type, seq, " \
	"  kind, amount, running_balance, related_id, reference, reason, at) " \
	"  SELECT $15, $1, $2, $4, $5, $3, $12, $6, $7, $8, $16 FROM upd " \
	"  RETURNING at), " \
	"ev AS (INSERT INTO credits.event (id, account, at, type, aggregatetype, " \
	"  aggregateid, payload, entry_id) " \
	"  SELECT $10, $1, ent.at, $9, 'account', $1, $14, $15 FROM ent), " \
	"al AS (INSERT INTO credits.allocation (account, entry_id, lot_id, amount) " \
	"  SELECT $1, $15, upd.lot_id, $3 FROM ent, upd), " \
	"acc AS (UPDATE credits.account a SET balance = $12, held = $11, " \
	"  last_seq = $4, next_expiry = $13{{, last_at = $16|}} FROM ent " \
	"  WHERE a.account = $1 AND a.credit_type = $2) " \
	"SELECT 1 FROM ent"

static CreditsStmt stmt_take_one_lot = {"ttaititttiaaTjiT",
	TAKE_ONE_LOT("SELECT lot_id, remaining FROM credits.lot "
				 "  WHERE account = $1 AND credit_type = $2 AND is_open" UNRESTRICTED
				 "  ORDER BY " SPEND_ORDER " LIMIT 1")};

static CreditsStmt stmt_take_one_lot_in = {"ttaititttiaaTjiTt",
	TAKE_ONE_LOT(LOTS_IN_SCOPE("$17", "1"))};

/*
 * The distributed forms (credits_distributed(): the ledger is spread over
 * Citus nodes).  Citus runs a statement on the shard of its account, on the
 * node that holds it, only when every table it writes and reads is filtered
 * by that account and no INSERT hides in a CTE or takes its rows from a
 * SELECT; other statements go through intermediate results that Citus ships
 * between nodes (even to this one), at a hundred times the cost of a call.
 * So here the statements above that combine writes are split into single
 * INSERT ... VALUES and UPDATEs filtered by the account, with the values
 * computed in C; one node keeps the combined forms.
 */
static CreditsStmt stmt_type_lock_shared_dist = {"tt",
		"SELECT pg_advisory_xact_lock_shared(hashtext('credits.credit_type'), "
		"hashtext($2))"};

static CreditsStmt stmt_account_create_dist = {"tt",
		"INSERT INTO credits.account (account, credit_type) VALUES ($1, $2) "
		"ON CONFLICT DO NOTHING"};

/* stmt_entry_insert as two statements, with the same parameters */
static CreditsStmt stmt_entry_insert_dist = {"ttitaaiittitajiT",
	"INSERT INTO credits.entry (entry_id, account, credit_type, seq, "
	"kind, amount, running_balance, lot_id, related_id, reference, reason, "
	"shortfall, at) VALUES ($15, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $13, "
	"$16)"};

static CreditsStmt stmt_event_insert_dist = {"ttitaaiittitajiT",
	"INSERT INTO credits.event (id, account, at, type, aggregatetype, "
	"aggregateid, payload, entry_id) "
	"VALUES ($11, $1, $16, $12, 'account', $1, $14, $15)"};

/*
 * The first open lot in spend order gives amount if it covers it (the lot
 * of stmt_take_one_lot), as a subquery of the account's instead of a CTE;
 * stmt_take_first_lot_dist_in: of the lots of a scope ($4, as $17 above).
 */
#define TAKE_FIRST_LOT_DIST(lot) \
	"UPDATE credits.lot l SET remaining = l.remaining - $3, " \
	"  is_open = l.remaining > $3 " \
	"  WHERE l.account = $1 AND l.remaining >= $3 " \
	"  AND l.lot_id = (" lot ") " \
	"  RETURNING l.lot_id"

static CreditsStmt stmt_take_first_lot_dist = {"tta",
	TAKE_FIRST_LOT_DIST("SELECT lot_id FROM credits.lot "
						"  WHERE account = $1 AND credit_type = $2 AND is_open" UNRESTRICTED
						"  ORDER BY " SPEND_ORDER " LIMIT 1")};

static CreditsStmt stmt_take_first_lot_dist_in = {"ttat",
	TAKE_FIRST_LOT_DIST("SELECT lot_id FROM (" LOTS_IN_SCOPE("$4", "1") ") f")};

/* Balance events: balance_depleted and low_balance. */
static CreditsStmt stmt_balance_event = {"itttaaiT",
	"INSERT INTO credits.event (id, account, type, aggregatetype, aggregateid, "
	"payload, entry_id, at) VALUES ($1, $2, $3, 'account', $2, jsonb_build_object("
	"'account', $2, 'credit_type', $4, 'balance', $5::numeric, "
	"'threshold', $6::numeric, 'entry_id', $7), $7, $8)"};

static CreditsStmt stmt_alloc_insert = {"tiia",
		"INSERT INTO credits.allocation (account, entry_id, lot_id, amount) "
		"VALUES ($1, $2, $3, $4)"};

static CreditsStmt stmt_lot_insert = {"ttaTtttntT",
		"INSERT INTO credits.lot (account, credit_type, amount, remaining, "
		"is_open, expires_at, reason, reference, source, cost, cost_currency, "
		"granted_at) VALUES ($1, $2, $3, $3, true, $4, $5, $6, $7, $8, $9, $10) "
		"RETURNING lot_id"};

/* A lot with a priority or services of its own (only on the tables of 1.2). */
static CreditsStmt stmt_lot_insert_scoped = {"ttaTtttntTIS",
		"INSERT INTO credits.lot (account, credit_type, amount, remaining, "
		"is_open, expires_at, reason, reference, source, cost, cost_currency, "
		"granted_at, priority, applies_to) VALUES ($1, $2, $3, $3, true, $4, "
		"$5, $6, $7, $8, $9, $10, $11, $12) RETURNING lot_id"};

static CreditsStmt stmt_lot_take = {"tia",
		"UPDATE credits.lot SET remaining = remaining - $3, "
		"is_open = remaining > $3 WHERE account = $1 AND lot_id = $2"};

static CreditsStmt stmt_lot_close = {"ti",
		"UPDATE credits.lot SET remaining = 0, is_open = false "
		"WHERE account = $1 AND lot_id = $2"};

static CreditsStmt stmt_lots_due = {"ttT",
		"SELECT lot_id, remaining FROM credits.lot "
		"WHERE account = $1 AND credit_type = $2 AND is_open "
		"AND expires_at <= $3 "
		"ORDER BY expires_at, granted_at, lot_id"};

static CreditsStmt stmt_lots_spend_order = {"tt",
		"SELECT lot_id, remaining FROM credits.lot "
		"WHERE account = $1 AND credit_type = $2 AND is_open" UNRESTRICTED " "
		"ORDER BY " SPEND_ORDER " LIMIT 16"};

/* The same of the lots of a scope ($3: the service, or NULL for every lot). */
static CreditsStmt stmt_lots_spend_order_in = {"ttt",
		LOTS_IN_SCOPE("$3", "16")};

static CreditsStmt stmt_next_expiry = {"tt",
		"SELECT expires_at FROM credits.lot "
		"WHERE account = $1 AND credit_type = $2 AND is_open "
		"AND expires_at IS NOT NULL ORDER BY expires_at LIMIT 1"};

/*
 * Functions that change the ledger are not STRICT: a NULL where a value is
 * required must be an error, never a silent no-op.
 */
void
credits_require_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name)));
}

void
credits_require_account(text *account)
{
	if (VARSIZE_ANY_EXHDR(account) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("account must not be empty")));
}

/*
 * Scale and currency of a credit type.  CRD exists implicitly (Credits,
 * whole units) until credits_define_type() gives it a row.
 */
void
credits_type_info(Datum credit_type, CreditTypeInfo *info)
{
	char	   *code = TextDatumGetCString(credit_type);

	if (!credits_lookup_type(code, info))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("credit type \"%s\" does not exist", code),
				 errhint("Define it with credits_define_type().")));
}

/*
 * A lot's expiry must lie after the start of the transaction that grants it:
 * a lot that is born expired would never be spendable.  This is the early
 * check, before any lock; credits_add_lot checks again against the ledger
 * instant of the grant, which is never earlier.
 */
void
credits_check_future_expiry(TimestampTz expires_at)
{
	if (expires_at <= GetCurrentTransactionStartTimestamp())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("expires_at must be in the future"),
				 errdetail("The value given was %s.",
						   timestamptz_to_str(expires_at))));
}

/*
 * The ledger instant of a call that locked an account whose latest entry is
 * dated last_at: the transaction's start (now()), or last_at when an entry
 * of a transaction that started later was recorded first.  So an account's
 * entries never go back in time along their seq, and a transaction sees its
 * own entries at now() unless it had to move past a later one.
 */
TimestampTz
credits_ledger_instant(bool has_last_at, TimestampTz last_at)
{
	TimestampTz now = GetCurrentTransactionStartTimestamp();

	return has_last_at && last_at > now ? last_at : now;
}

void
credits_check_positive(CreditAmount amount, const char *what)
{
	if (amount <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be greater than zero", what),
				 errdetail("The value given was %s.",
						   credit_amount_format(amount))));
}

/* An amount finer than its credit type's smallest unit is refused. */
void
credits_check_scale(CreditAmount amount, const CreditTypeInfo *info,
					Datum credit_type, const char *what)
{
	int64		unit = 1;
	int			i;

	for (i = info->scale; i < CREDIT_AMOUNT_DECIMALS; i++)
		unit *= 10;
	if (amount % unit != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s %s is finer than the scale of credit type \"%s\"",
						what, credit_amount_format(amount),
						TextDatumGetCString(credit_type)),
				 errdetail("Credit type \"%s\" counts in units of %s.",
						   TextDatumGetCString(credit_type),
						   credit_amount_format(unit))));
}

void
credits_disabled_error(const char *action)
{
	ereport(ERROR,
			(errcode(ERRCODE_CREDITS_DISABLED),
			 errmsg("credit payments are disabled"),
			 errdetail("The agency has switched credits off, so %s is refused.",
					   action),
			 errhint("Balances are kept; credits_set_enabled(true) switches credits back on.")));
}

void
credits_require_enabled(const char *action)
{
	if (!credits_enabled_now())
		credits_disabled_error(action);
}

/*
 * Lock the row of (account, credit type), creating it first if asked.  Every
 * change to an account's lots and entries happens under this lock, taken
 * before anything else is read, so concurrent callers queue here and never
 * deadlock on lots.  Callers that lock several accounts lock them in
 * (account, credit_type) order under the "C" collation.
 */
static void credits_mark_saved(AccountState *acct);

void
credits_lock_account(AccountState *acct, Datum account, Datum credit_type,
					 bool create)
{
	Datum		values[2];

	values[0] = account;
	values[1] = credit_type;
	memset(acct, 0, sizeof(*acct));
	acct->account = account;
	acct->credit_type = credit_type;
	acct->now = credits_ledger_instant(false, 0);
	if (create && credits_distributed())
	{
		credits_run(&stmt_type_lock_shared_dist, values, NULL, false, 0);
		credits_run(&stmt_account_create_dist, values, NULL, false, 0);
	}
	else if (create)
		credits_run(&stmt_account_create, values, NULL, false, 0);
	credits_run(&stmt_account_lock, values, NULL, false, 1);
	if (SPI_processed == 0)
		return;
	acct->exists = true;
	acct->balance = credits_col_amount(0, 1);
	acct->held = credits_col_amount(0, 2);
	acct->last_seq = credits_col_int64(0, 3);
	{
		bool		isnull;
		Datum		d = credits_col(0, 4, &isnull);

		acct->has_next_expiry = !isnull;
		acct->next_expiry = isnull ? 0 : DatumGetTimestampTz(d);
		d = credits_col(0, 5, &isnull);
		acct->has_low_threshold = !isnull;
		acct->low_threshold = isnull ? 0 : DatumGetCreditAmount(d);
		d = credits_col(0, 6, &isnull);
		acct->has_last_at = !isnull;
		acct->last_at = isnull ? 0 : DatumGetTimestampTz(d);
		acct->scoped = DatumGetBool(credits_col(0, 7, &isnull));
	}
	credits_topup_read(acct);
	acct->now = credits_ledger_instant(acct->has_last_at, acct->last_at);
	credits_mark_saved(acct);
}

/* Remember the row's figures as they are now stored. */
static void
credits_mark_saved(AccountState *acct)
{
	acct->saved_balance = acct->balance;
	acct->saved_held = acct->held;
	acct->saved_last_seq = acct->last_seq;
	acct->saved_has_last_at = acct->has_last_at;
	acct->saved_last_at = acct->last_at;
	acct->saved_has_next_expiry = acct->has_next_expiry;
	acct->saved_next_expiry = acct->next_expiry;
}

/*
 * Write the account row's figures back, unless nothing changed; first, the
 * auto top-up that the call's movements call for.
 */
void
credits_save_account(AccountState *acct)
{
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};

	Assert(acct->exists);
	credits_topup_flush(acct);
	if (acct->balance == acct->saved_balance &&
		acct->held == acct->saved_held &&
		acct->last_seq == acct->saved_last_seq &&
		acct->has_last_at == acct->saved_has_last_at &&
		(!acct->has_last_at || acct->last_at == acct->saved_last_at) &&
		acct->has_next_expiry == acct->saved_has_next_expiry &&
		(!acct->has_next_expiry || acct->next_expiry == acct->saved_next_expiry))
		return;
	values[0] = acct->account;
	values[1] = acct->credit_type;
	values[2] = CreditAmountGetDatum(acct->balance);
	values[3] = CreditAmountGetDatum(acct->held);
	values[4] = Int64GetDatum(acct->last_seq);
	values[5] = TimestampTzGetDatum(acct->next_expiry);
	if (!acct->has_next_expiry)
		nulls[5] = 'n';
	values[6] = TimestampTzGetDatum(acct->last_at);
	if (!acct->has_last_at)
		nulls[6] = 'n';
	credits_run(&stmt_account_update, values, nulls, false, 0);
	credits_mark_saved(acct);
}


/* The outbox event type of an entry kind. */
static const char *
credits_event_type(const char *kind)
{
	static const char *const map[][2] = {
		{"grant", "account.credits.granted"},
		{"spend", "account.credits.spent"},
		{"expire", "account.credits.expired"},
		{"void", "account.credits.voided"},
		{"reset", "account.credits.reset"},
		{"reversal", "account.credits.reversed"},
		{"clawback", "account.credits.clawed_back"},
		{"hold", "account.credits.held"},
		{"capture", "account.credits.captured"},
		{"release", "account.credits.released"},
		{"transfer_out", "account.credits.transferred_out"},
		{"transfer_in", "account.credits.transferred_in"},
	};
	int			i;

	for (i = 0; i < lengthof(map); i++)
		if (strcmp(map[i][0], kind) == 0)
			return map[i][1];
	elog(ERROR, "credits: unknown entry kind \"%s\"", kind);
	return NULL;				/* keep compiler quiet */
}

static void
credits_balance_event(AccountState *acct, const char *type, int64 entry_id)
{
	Datum		values[8];
	char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	int64		id = credits_next_event_id();

	values[0] = Int64GetDatum(id);
	values[1] = acct->account;
	values[2] = CStringGetTextDatum(type);
	values[3] = acct->credit_type;
	values[4] = CreditAmountGetDatum(acct->balance);
	values[5] = CreditAmountGetDatum(acct->low_threshold);
	if (!acct->has_low_threshold)
		nulls[5] = 'n';
	values[6] = Int64GetDatum(entry_id);
	values[7] = TimestampTzGetDatum(acct->now);
	credits_run(&stmt_balance_event, values, nulls, false, 0);
	credits_notify_event(id, type);
}

/*
 * After an out entry: low_balance when the balance crossed the account's
 * threshold, balance_depleted when it reached zero; below the account's
 * auto top-up threshold, the top-up for the call to decide.
 */
void
credits_balance_events(AccountState *acct, CreditAmount before, int64 entry_id)
{
	if (acct->balance >= before)
		return;
	if (acct->has_low_threshold && before >= acct->low_threshold &&
		acct->balance < acct->low_threshold)
		credits_balance_event(acct, "account.credits.low_balance", entry_id);
	if (acct->balance == 0)
		credits_balance_event(acct, "account.credits.balance_depleted",
							  entry_id);
	credits_topup_after(acct, entry_id);
}

/*
 * Append one entry to the account's history, with its outbox event, and
 * move the balance: the running balance of an entry is the available
 * balance after it.  An out entry that empties the account also emits
 * balance_depleted; one that crosses the account's low-balance threshold
 * emits low_balance.  A clawback records what it could not deduct as its
 * shortfall.
 */
static int64
credits_append_entry_full(AccountState *acct, const char *kind,
						  CreditAmount amount, bool out,
						  int64 lot_id, int64 related_id,
						  Datum reference, bool reference_null,
						  Datum reason, bool reason_null,
						  bool has_shortfall, CreditAmount shortfall,
						  Datum extra)
{
	Datum		values[16];
	char		nulls[16];
	const char *event_type = credits_event_type(kind);
	CreditAmount before = acct->balance;
	EntryPayload p;
	int64		event_id;
	int64		entry_id;

	Assert(acct->exists);
	acct->balance = out ? credit_amount_sub(acct->balance, amount)
		: credit_amount_add(acct->balance, amount);
	acct->last_seq++;
	acct->has_last_at = true;
	acct->last_at = acct->now;
	event_id = credits_next_event_id();
	entry_id = credits_next_entry_id();

	p.account = acct->account;
	p.credit_type = acct->credit_type;
	p.entry_id = entry_id;
	p.kind = kind;
	p.amount = amount;
	p.balance = acct->balance;
	p.reference = reference;
	p.reference_null = reference_null;
	p.reason = reason;
	p.reason_null = reason_null;
	p.lot_id = lot_id;
	p.has_shortfall = has_shortfall;
	p.shortfall = shortfall;

	memset(nulls, ' ', sizeof(nulls));
	values[0] = acct->account;
	values[1] = acct->credit_type;
	values[2] = Int64GetDatum(acct->last_seq);
	values[3] = CStringGetTextDatum(kind);
	values[4] = CreditAmountGetDatum(amount);
	values[5] = CreditAmountGetDatum(acct->balance);
	values[6] = Int64GetDatum(lot_id);
	if (lot_id == 0)
		nulls[6] = 'n';
	values[7] = Int64GetDatum(related_id);
	if (related_id == 0)
		nulls[7] = 'n';
	values[8] = reference;
	if (reference_null)
		nulls[8] = 'n';
	values[9] = reason;
	if (reason_null)
		nulls[9] = 'n';
	values[10] = Int64GetDatum(event_id);
	values[11] = CStringGetTextDatum(event_type);
	values[12] = CreditAmountGetDatum(shortfall);
	if (!has_shortfall)
		nulls[12] = 'n';
	values[13] = credits_entry_payload(&p);
	if (extra != (Datum) 0)
		values[13] = DirectFunctionCall2(jsonb_concat, values[13], extra);
	values[14] = Int64GetDatum(entry_id);
	values[15] = TimestampTzGetDatum(acct->now);
	if (credits_distributed())
	{
		credits_run(&stmt_entry_insert_dist, values, nulls, false, 0);
		if (SPI_processed == 1)
			credits_run(&stmt_event_insert_dist, values, nulls, false, 0);
	}
	else
		credits_run(&stmt_entry_insert, values, nulls, false, 0);
	if (SPI_processed != 1)
		elog(ERROR, "credits: entry was not written");
	credits_notify_event(event_id, event_type);
	if (out)
		credits_balance_events(acct, before, entry_id);
	return entry_id;
}

int64
credits_append_entry_ex(AccountState *acct, const char *kind,
						CreditAmount amount, bool out,
						int64 lot_id, int64 related_id,
						Datum reference, bool reference_null,
						Datum reason, bool reason_null,
						bool has_shortfall, CreditAmount shortfall)
{
	return credits_append_entry_full(acct, kind, amount, out, lot_id,
									 related_id, reference, reference_null,
									 reason, reason_null,
									 has_shortfall, shortfall, (Datum) 0);
}

/*
 * credits_append_entry() with more to say in the event's payload: extra
 * (jsonb, an object) is merged into it (a reset's rollover, scope and what
 * it kept).
 */
int64
credits_append_entry_extra(AccountState *acct, const char *kind,
						   CreditAmount amount, bool out,
						   int64 lot_id, int64 related_id,
						   Datum reference, bool reference_null,
						   Datum reason, bool reason_null, Datum extra)
{
	return credits_append_entry_full(acct, kind, amount, out, lot_id,
									 related_id, reference, reference_null,
									 reason, reason_null, false, 0, extra);
}

int64
credits_append_entry(AccountState *acct, const char *kind,
					 CreditAmount amount, bool out,
					 int64 lot_id, int64 related_id,
					 Datum reference, bool reference_null,
					 Datum reason, bool reason_null)
{
	return credits_append_entry_ex(acct, kind, amount, out, lot_id, related_id,
								   reference, reference_null,
								   reason, reason_null, false, 0);
}

void
credits_append_allocation(AccountState *acct, int64 entry_id, int64 lot_id,
						  CreditAmount amount)
{
	Datum		values[4];

	values[0] = acct->account;
	values[1] = Int64GetDatum(entry_id);
	values[2] = Int64GetDatum(lot_id);
	values[3] = CreditAmountGetDatum(amount);
	credits_run(&stmt_alloc_insert, values, NULL, false, 0);
}

/* Recompute the earliest expiry among the account's open lots. */
static void
credits_refresh_next_expiry(AccountState *acct)
{
	Datum		values[2];

	values[0] = acct->account;
	values[1] = acct->credit_type;
	credits_run(&stmt_next_expiry, values, NULL, false, 1);
	if (SPI_processed == 0)
	{
		acct->has_next_expiry = false;
		acct->next_expiry = 0;
	}
	else
	{
		bool		isnull;

		acct->has_next_expiry = true;
		acct->next_expiry = DatumGetTimestampTz(credits_col(0, 1, &isnull));
	}
}

/* Copy (lot_id, amount) pairs out of the last result before reusing SPI. */
static LotPart *
credits_fetch_parts(int *n)
{
	LotPart   *shares;
	uint64		i;

	*n = (int) SPI_processed;
	shares = palloc(sizeof(LotPart) * (*n + 1));
	for (i = 0; i < SPI_processed; i++)
	{
		shares[i].lot_id = credits_col_int64(i, 1);
		shares[i].amount = credits_col_amount(i, 2);
	}
	SPI_freetuptable(SPI_tuptable);
	return shares;
}

/*
 * Record an expire entry for every open lot of the account whose expiry is
 * at or before as_of.  Returns how many lots expired.
 */
int64
credits_record_due(AccountState *acct, TimestampTz as_of)
{
	Datum		values[3];
	LotPart   *due;
	int			n;
	int			i;

	if (!acct->exists)
		return 0;
	values[0] = acct->account;
	values[1] = acct->credit_type;
	values[2] = TimestampTzGetDatum(as_of);
	credits_run(&stmt_lots_due, values, NULL, false, 0);
	due = credits_fetch_parts(&n);
	for (i = 0; i < n; i++)
	{
		Datum		cv[2];

		cv[0] = acct->account;
		cv[1] = Int64GetDatum(due[i].lot_id);
		credits_run(&stmt_lot_close, cv, NULL, false, 0);
		credits_append_entry(acct, "expire", due[i].amount, true,
							 due[i].lot_id, 0,
							 (Datum) 0, true, (Datum) 0, true);
	}
	pfree(due);
	if (n > 0 || !acct->has_next_expiry || acct->next_expiry <= as_of)
		credits_refresh_next_expiry(acct);
	return n;
}

/*
 * Every call that changes an account first records the account's due
 * expirations, so that no running balance counts credits already gone:
 * those due by the call's ledger instant, the instant of its entries.
 */
void
credits_record_due_now(AccountState *acct)
{
	if (acct->exists && acct->has_next_expiry && acct->next_expiry <= acct->now)
		credits_record_due(acct, acct->now);
}

/*
 * Add a lot to the account, without an entry: the caller records where its
 * credits came from (a grant entry, or a transfer's allocation).  The
 * caller holds the account lock and has recorded due expirations; a lot
 * that is born expired at the call's instant would never be spendable
 * (22023).  cost (numeric) and cost_currency (text) record what the client
 * paid for the lot, its cost basis; (Datum) 0 for free credits.  priority
 * is its place in spend order (0 by default) and applies_to (text[],
 * checked by credits_check_applies_to) the services it may pay for, or
 * (Datum) 0 for any; a restricted lot marks the account scoped.  Returns
 * the lot id.
 */
int64
credits_insert_lot(AccountState *acct, CreditAmount amount,
				   bool has_expiry, TimestampTz expires_at,
				   Datum reason, bool reason_null,
				   Datum reference, bool reference_null,
				   const char *source, Datum cost, Datum cost_currency,
				   int32 priority, Datum applies_to)
{
	Datum		values[12];
	char		nulls[12];
	bool		isnull;
	int64		lot_id;

	if (has_expiry && expires_at <= acct->now)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("expires_at must be in the future"),
				 errdetail("The value given was %s; the grant is recorded at %s.",
						   timestamptz_to_str(expires_at),
						   timestamptz_to_str(acct->now))));
	memset(nulls, ' ', sizeof(nulls));
	values[0] = acct->account;
	values[1] = acct->credit_type;
	values[2] = CreditAmountGetDatum(amount);
	values[3] = TimestampTzGetDatum(expires_at);
	if (!has_expiry)
		nulls[3] = 'n';
	values[4] = reason;
	if (reason_null)
		nulls[4] = 'n';
	values[5] = reference;
	if (reference_null)
		nulls[5] = 'n';
	values[6] = CStringGetTextDatum(source);
	values[7] = cost;
	if (cost == (Datum) 0)
		nulls[7] = 'n';
	values[8] = cost_currency;
	if (cost_currency == (Datum) 0)
		nulls[8] = 'n';
	values[9] = TimestampTzGetDatum(acct->now);
	if (priority == 0 && applies_to == (Datum) 0)
		credits_run(&stmt_lot_insert, values, nulls, false, 0);
	else
	{
		values[10] = Int32GetDatum(priority);
		values[11] = applies_to;
		if (applies_to == (Datum) 0)
			nulls[11] = 'n';
		else
			credits_mark_scoped(acct);
		credits_run(&stmt_lot_insert_scoped, values, nulls, false, 0);
	}
	if (SPI_processed != 1)
		elog(ERROR, "credits: lot was not written");
	lot_id = DatumGetInt64(credits_col(0, 1, &isnull));

	if (has_expiry &&
		(!acct->has_next_expiry || expires_at < acct->next_expiry))
	{
		acct->has_next_expiry = true;
		acct->next_expiry = expires_at;
	}
	return lot_id;
}

/*
 * Add a lot and its grant entry.  The caller holds the account lock and has
 * recorded due expirations; expires_at, when given, is in the future.  cost,
 * cost_currency, priority and applies_to as for credits_insert_lot().
 */
int64
credits_add_lot(AccountState *acct, CreditAmount amount,
				bool has_expiry, TimestampTz expires_at,
				Datum reason, bool reason_null,
				Datum reference, bool reference_null,
				const char *source, Datum cost, Datum cost_currency,
				int32 priority, Datum applies_to)
{
	int64		lot_id;

	lot_id = credits_insert_lot(acct, amount, has_expiry, expires_at,
								   reason, reason_null, reference,
								   reference_null, source, cost, cost_currency,
								   priority, applies_to);
	credits_append_entry(acct, "grant", amount, false, lot_id, 0,
						 reference, reference_null, reason, reason_null);
	return lot_id;
}

/* Take from one lot as an allocation of entry_id (already written). */
void
credits_take_lot(AccountState *acct, int64 entry_id, int64 lot_id,
				 CreditAmount take)
{
	Datum		values[3];

	values[0] = acct->account;
	values[1] = Int64GetDatum(lot_id);
	values[2] = CreditAmountGetDatum(take);
	credits_run(&stmt_lot_take, values, NULL, false, 0);
	if (SPI_processed != 1)
		elog(ERROR, "credits: lot " INT64_FORMAT " not found", lot_id);
	credits_append_allocation(acct, entry_id, lot_id, take);
}

/*
 * Take up to amount from the given lots in the given order, at most each
 * part's amount from its lot, as allocations of entry_id (already written).
 * Returns what was taken.
 */
CreditAmount
credits_take_parts(AccountState *acct, int64 entry_id,
				   const LotPart *parts, int n, CreditAmount amount)
{
	CreditAmount left = amount;
	int			i;

	for (i = 0; i < n && left > 0; i++)
	{
		CreditAmount take = Min(left, parts[i].amount);

		if (take <= 0)
			continue;
		credits_take_lot(acct, entry_id, parts[i].lot_id, take);
		left -= take;
	}
	return amount - left;
}

/*
 * Take amount from the account's open lots that any service may use, in
 * spend order (lowest priority first, then soonest expiry, never-expiring
 * last, then oldest grant, then lot id) as allocations of entry_id (already
 * written).  The caller has recorded due expirations, so every open lot is
 * unexpired, and has checked that those lots cover the amount.
 */
void
credits_take_spend_order(AccountState *acct, int64 entry_id,
						 CreditAmount amount)
{
	credits_take_spend_order_in(acct, LOTS_UNRESTRICTED, (Datum) 0, entry_id,
								amount);
}

/*
 * Run the statement that reads or takes lots in spend order: stmt, or,
 * when the account has lots restricted to services and the movement may
 * take some (a scope other than LOTS_UNRESTRICTED), stmt_in, given the
 * service as its parameter number argno + 1 (NULL for LOTS_ALL: every
 * restricted lot).  values and nulls have room for it.
 */
static void
credits_run_in_scope(AccountState *acct, LotScope scope, Datum service,
					 CreditsStmt *stmt, CreditsStmt *stmt_in,
					 Datum *values, char *nulls, int argno, long tcount)
{
	if (acct->scoped && scope != LOTS_UNRESTRICTED)
	{
		values[argno] = service;
		nulls[argno] = scope == LOTS_ALL ? 'n' : ' ';
		credits_run(stmt_in, values, nulls, false, tcount);
	}
	else
		credits_run(stmt, values, nulls, false, tcount);
}

/*
 * credits_take_spend_order() from the lots of a scope: those any service
 * may use, and for LOTS_FOR_SERVICE those restricted to service (text), for
 * LOTS_ALL every restricted one.  The caller has checked that they cover
 * the amount (credits_available).
 */
void
credits_take_spend_order_in(AccountState *acct, LotScope scope,
							Datum service, int64 entry_id,
							CreditAmount amount)
{
	CreditAmount left = amount;

	while (left > 0)
	{
		Datum		values[3];
		char		nulls[3] = {' ', ' ', ' '};
		LotPart    *lots;
		int			n;

		values[0] = acct->account;
		values[1] = acct->credit_type;
		credits_run_in_scope(acct, scope, service, &stmt_lots_spend_order,
							 &stmt_lots_spend_order_in, values, nulls, 2, 0);
		lots = credits_fetch_parts(&n);
		if (n == 0)
			elog(ERROR, "credits: account balance is not covered by its lots");
		left -= credits_take_parts(acct, entry_id, lots, n, left);
		pfree(lots);
	}
}

/*
 * The one-statement take (stmt_take_one_lot).  Returns the entry id, or 0
 * when the first lot does not cover the amount; then nothing has changed.
 */
static int64
credits_take_one_lot(AccountState *acct, LotScope scope, Datum service,
					 const char *kind, CreditAmount amount, int64 related_id,
					 Datum reference, bool reference_null,
					 Datum reason, bool reason_null)
{
	Datum		values[17];
	char		nulls[17];
	const char *event_type = credits_event_type(kind);
	CreditAmount before = acct->balance;
	CreditAmount after = credit_amount_sub(acct->balance, amount);
	int64		event_id = credits_next_event_id();
	int64		entry_id = credits_next_entry_id();
	EntryPayload p;

	p.account = acct->account;
	p.credit_type = acct->credit_type;
	p.entry_id = entry_id;
	p.kind = kind;
	p.amount = amount;
	p.balance = after;
	p.reference = reference;
	p.reference_null = reference_null;
	p.reason = reason;
	p.reason_null = reason_null;
	p.lot_id = 0;
	p.has_shortfall = false;
	p.shortfall = 0;

	memset(nulls, ' ', sizeof(nulls));
	values[0] = acct->account;
	values[1] = acct->credit_type;
	values[2] = CreditAmountGetDatum(amount);
	values[3] = Int64GetDatum(acct->last_seq + 1);
	values[4] = CStringGetTextDatum(kind);
	values[5] = Int64GetDatum(related_id);
	if (related_id == 0)
		nulls[5] = 'n';
	values[6] = reference;
	if (reference_null)
		nulls[6] = 'n';
	values[7] = reason;
	if (reason_null)
		nulls[7] = 'n';
	values[8] = CStringGetTextDatum(event_type);
	values[9] = Int64GetDatum(event_id);
	values[10] = CreditAmountGetDatum(acct->held);
	values[11] = CreditAmountGetDatum(after);
	values[12] = TimestampTzGetDatum(acct->next_expiry);
	if (!acct->has_next_expiry)
		nulls[12] = 'n';
	values[13] = credits_entry_payload(&p);
	values[14] = Int64GetDatum(entry_id);
	values[15] = TimestampTzGetDatum(acct->now);
	credits_run_in_scope(acct, scope, service, &stmt_take_one_lot,
						 &stmt_take_one_lot_in, values, nulls, 16, 0);
	if (SPI_processed == 0)
		return 0;
	acct->balance = after;
	acct->last_seq++;
	acct->has_last_at = true;
	acct->last_at = acct->now;
	credits_mark_saved(acct);
	credits_notify_event(event_id, event_type);
	credits_balance_events(acct, before, entry_id);
	return entry_id;
}

/*
 * credits_take_from_lots() in the distributed forms: the first lot's update
 * (if it covers the amount), then the entry and its event, then the
 * allocation or allocations.  The caller saves the account row.
 */
static int64
credits_take_from_lots_dist(AccountState *acct, LotScope scope, Datum service,
							const char *kind, CreditAmount amount,
							int64 related_id,
							Datum reference, bool reference_null,
							Datum reason, bool reason_null)
{
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	int64		lot_id = 0;
	int64		entry_id;

	values[0] = acct->account;
	values[1] = acct->credit_type;
	values[2] = CreditAmountGetDatum(amount);
	credits_run_in_scope(acct, scope, service, &stmt_take_first_lot_dist,
						 &stmt_take_first_lot_dist_in, values, nulls, 3, 1);
	if (SPI_processed == 1)
		lot_id = credits_col_int64(0, 1);
	entry_id = credits_append_entry(acct, kind, amount, true, 0, related_id,
									reference, reference_null,
									reason, reason_null);
	if (lot_id != 0)
		credits_append_allocation(acct, entry_id, lot_id, amount);
	else
		credits_take_spend_order_in(acct, scope, service, entry_id, amount);
	return entry_id;
}

/*
 * The spend of credits_spend()'s fast path once it has updated the account
 * row, in the distributed forms: acct holds the row as it was before (its
 * balance, last entry number, and now the instant of the entry).  Writes
 * the lot, the entry, its event and balance events, and the allocations,
 * not the account row.  Returns the entry id.
 */
int64
credits_spend_rest_dist(AccountState *acct, CreditAmount amount,
						Datum reference, bool reference_null)
{
	int64		entry_id;

	entry_id = credits_take_from_lots_dist(acct, LOTS_UNRESTRICTED, (Datum) 0,
										   "spend", amount, 0,
										   reference, reference_null,
										   (Datum) 0, true);
	credits_topup_flush(acct);
	return entry_id;
}

/*
 * Take amount from the account's open lots that any service may use, in
 * spend order (lowest priority first, then soonest expiry, never-expiring
 * last, then oldest grant, then lot id), writing one entry of kind with an
 * allocation per lot.  The caller holds the lock, has recorded due
 * expirations (so every open lot is unexpired) and has checked that those
 * lots cover amount (credits_available).  Returns the entry id.
 */
int64
credits_take_from_lots(AccountState *acct, const char *kind,
					   CreditAmount amount, int64 related_id,
					   Datum reference, bool reference_null,
					   Datum reason, bool reason_null)
{
	return credits_take_from_lots_in(acct, LOTS_UNRESTRICTED, (Datum) 0, kind,
									 amount, related_id,
									 reference, reference_null,
									 reason, reason_null);
}

/* credits_take_from_lots() from the lots of a scope (see LotScope). */
int64
credits_take_from_lots_in(AccountState *acct, LotScope scope, Datum service,
						  const char *kind, CreditAmount amount,
						  int64 related_id,
						  Datum reference, bool reference_null,
						  Datum reason, bool reason_null)
{
	int64		entry_id;

	if (credits_distributed())
		return credits_take_from_lots_dist(acct, scope, service, kind, amount,
										   related_id,
										   reference, reference_null,
										   reason, reason_null);
	entry_id = credits_take_one_lot(acct, scope, service, kind, amount,
									related_id, reference, reference_null,
									reason, reason_null);
	if (entry_id != 0)
		return entry_id;

	entry_id = credits_append_entry(acct, kind, amount, true, 0, related_id,
									reference, reference_null,
									reason, reason_null);
	credits_take_spend_order_in(acct, scope, service, entry_id, amount);
	return entry_id;
}

/*
 * The CR001 error, naming available and required amounts: available is
 * what the movement could take (credits_available), not the balance.
 */
void
credits_insufficient(AccountState *acct, CreditAmount available,
					 CreditAmount required)
{
	credits_insufficient_in(acct, LOTS_UNRESTRICTED, (Datum) 0, available,
							required);
}

/*
 * credits_insufficient() of a movement in a scope: when lots restricted to
 * other services hold more, a hint says how much and why it is out of reach.
 */
void
credits_insufficient_in(AccountState *acct, LotScope scope, Datum service,
						CreditAmount available, CreditAmount required)
{
	char	   *acc = TextDatumGetCString(acct->account);
	char	   *typ = TextDatumGetCString(acct->credit_type);
	CreditAmount elsewhere = 0;

	if (acct->exists && acct->scoped && scope != LOTS_ALL &&
		acct->balance > available)
		elsewhere = credit_amount_sub(acct->balance, available);
	if (elsewhere == 0)
		ereport(ERROR,
				(errcode(ERRCODE_CREDITS_INSUFFICIENT),
				 errmsg("insufficient credits: %s available, %s required",
						credit_amount_format(available),
						credit_amount_format(required)),
				 errdetail("Account \"%s\" is %s %s short.", acc,
						   credit_amount_format(credit_amount_sub(required, available)),
						   typ)));
	ereport(ERROR,
			(errcode(ERRCODE_CREDITS_INSUFFICIENT),
			 errmsg("insufficient credits: %s available, %s required",
					credit_amount_format(available),
					credit_amount_format(required)),
			 errdetail("Account \"%s\" is %s %s short.", acc,
					   credit_amount_format(credit_amount_sub(required, available)),
					   typ),
			 scope == LOTS_FOR_SERVICE ?
			 errhint("Another %s %s of the account can only be spent for services other than \"%s\".",
					 credit_amount_format(elsewhere), typ,
					 TextDatumGetCString(service)) :
			 errhint("Another %s %s of the account can only be spent for specific services (credits_spend(..., service => ...)).",
					 credit_amount_format(elsewhere), typ)));
}
