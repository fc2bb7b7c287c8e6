/*
 * ledger_lots.c
 *	  Lot-level movements the lifecycle features share: giving credits back
 *	  to the very lots they came from (and letting those of expired or voided
 *	  lots leave again at once), taking from a given set of lots, forfeiting
 *	  a whole balance, and granting in "add" or "reset" mode.  Every helper
 *	  runs inside SPI with the account locked and its due expirations
 *	  recorded, like the writers in ledger.c.
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "credits.h"
#include "lifecycle.h"

/* An entry's allocations, in spend order of their lots. */
static CreditsStmt stmt_entry_parts = {"ti",
		"SELECT a.lot_id, a.amount FROM credits.allocation a "
		"JOIN credits.lot l ON l.account = a.account AND l.lot_id = a.lot_id "
		"WHERE a.account = $1 AND a.entry_id = $2 "
		"ORDER BY {{12:l.priority, |}}l.expires_at, l.granted_at, l.lot_id"};

/*
 * Credits coming back into a lot; reports whether the lot still counts
 * (not voided, not forfeited by a later reset, not expired at $4) and its
 * expiry.
 */
static CreditsStmt stmt_lot_give_back = {"tiaT",
		"UPDATE credits.lot l SET remaining = remaining + $3, is_open = true "
		"WHERE account = $1 AND lot_id = $2 "
		"RETURNING expires_at, voided_at IS NULL "
		"AND (expires_at IS NULL OR expires_at > $4) "
		"AND lot_id > coalesce((SELECT r.lots_upto FROM credits.account_reset r "
		"  WHERE r.account = $1 AND r.credit_type = l.credit_type), 0)"};

/*
 * Empty a lot that no longer counts but holds credits (given back to it
 * just now): voided, expired at $3, or forfeited by a reset since it was
 * granted (whichever of expiry and reset came first names the entry).
 * Returns what it held and the kind of entry that removes it.
 */
static CreditsStmt stmt_lot_settle = {"tiT",
		"WITH l AS (SELECT x.lot_id, x.remaining, CASE "
		"    WHEN x.voided_at IS NOT NULL THEN 'void' "
		"    WHEN x.expires_at <= $3 AND (r.lots_upto IS NULL "
		"      OR x.lot_id > r.lots_upto OR x.expires_at <= r.reset_at) THEN 'expire' "
		"    WHEN x.lot_id <= r.lots_upto THEN 'reset' END AS kind "
		"  FROM credits.lot x LEFT JOIN credits.account_reset r "
		"    ON r.account = x.account AND r.credit_type = x.credit_type "
		"  WHERE x.account = $1 AND x.lot_id = $2 AND x.remaining > 0) "
		"UPDATE credits.lot t SET remaining = 0, is_open = false FROM l "
		"WHERE t.account = $1 AND t.lot_id = l.lot_id AND l.kind IS NOT NULL "
		"RETURNING l.remaining, l.kind"};

/*
 * A reset forfeits every lot granted before it: lots of the account up to
 * the highest lot id it has now.  Lots are only created under the account
 * lock, so every later lot has a higher id.
 */
static CreditsStmt stmt_reset_mark = {"ttT",
		"INSERT INTO credits.account_reset (account, credit_type, lots_upto, "
		"reset_at) SELECT $1, $2, coalesce(max(lot_id), 0), $3 FROM credits.lot "
		"WHERE account = $1 AND credit_type = $2 "
		"ON CONFLICT (account, credit_type) DO UPDATE "
		"SET lots_upto = excluded.lots_upto, reset_at = excluded.reset_at"};

/*
 * The same in two statements, for a distributed ledger: Citus runs an
 * INSERT ... SELECT through an intermediate result, even on one shard.
 */
static CreditsStmt stmt_reset_upto = {"tt",
		"SELECT coalesce(max(lot_id), 0) FROM credits.lot "
		"WHERE account = $1 AND credit_type = $2"};

static CreditsStmt stmt_reset_mark_values = {"ttTi",
		"INSERT INTO credits.account_reset (account, credit_type, lots_upto, "
		"reset_at) VALUES ($1, $2, $4, $3) "
		"ON CONFLICT (account, credit_type) DO UPDATE "
		"SET lots_upto = excluded.lots_upto, reset_at = excluded.reset_at"};

/* "add" or "reset"; anything else is 22023. */
GrantMode
credits_parse_mode(Datum mode)
{
	char	   *m = TextDatumGetCString(mode);

	if (strcmp(m, "add") == 0)
		return GRANT_MODE_ADD;
	if (strcmp(m, "reset") == 0)
		return GRANT_MODE_RESET;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid mode \"%s\"", m),
			 errhint("The mode is \"add\" (credits accumulate) or \"reset\" (the unused balance is replaced).")));
	return GRANT_MODE_ADD;		/* keep compiler quiet */
}

const char *
credits_mode_name(GrantMode mode)
{
	return mode == GRANT_MODE_RESET ? "reset" : "add";
}

/* The allocations of an entry, in spend order of their lots (palloc'd). */
LotPart *
credits_entry_parts(AccountState *acct, int64 entry_id, int *n)
{
	Datum		values[2];
	LotPart    *parts;
	uint64		i;

	values[0] = acct->account;
	values[1] = Int64GetDatum(entry_id);
	credits_run(&stmt_entry_parts, values, NULL, false, 0);
	*n = (int) SPI_processed;
	parts = palloc(sizeof(LotPart) * (*n + 1));
	for (i = 0; i < SPI_processed; i++)
	{
		parts[i].lot_id = credits_col_int64(i, 1);
		parts[i].amount = credits_col_amount(i, 2);
	}
	SPI_freetuptable(SPI_tuptable);
	return parts;
}

/*
 * Give credits back to the lots they came from: one "in" entry of kind
 * (reversal, release) with an allocation per lot.  Lots that are voided or
 * expired take the credits too, so that history shows them coming back;
 * credits_settle_lots() then lets them leave again.  Returns the entry id.
 */
int64
credits_return_to_lots(AccountState *acct, const char *kind, int64 related_id,
					   const LotPart *parts, int n,
					   Datum reference, bool reference_null,
					   Datum reason, bool reason_null)
{
	TimestampTz now = acct->now;
	CreditAmount total = 0;
	int64		entry_id;
	int			i;

	for (i = 0; i < n; i++)
		total = credit_amount_add(total, parts[i].amount);
	entry_id = credits_append_entry(acct, kind, total, false, 0, related_id,
									reference, reference_null,
									reason, reason_null);
	for (i = 0; i < n; i++)
	{
		Datum		values[4];
		bool		isnull;
		bool		exp_null;
		Datum		expires_at;
		bool		live;

		values[0] = acct->account;
		values[1] = Int64GetDatum(parts[i].lot_id);
		values[2] = CreditAmountGetDatum(parts[i].amount);
		values[3] = TimestampTzGetDatum(now);
		credits_run(&stmt_lot_give_back, values, NULL, false, 0);
		if (SPI_processed != 1)
			elog(ERROR, "credits: lot " INT64_FORMAT " not found", parts[i].lot_id);
		expires_at = credits_col(0, 1, &exp_null);
		live = DatumGetBool(credits_col(0, 2, &isnull));
		/* A live lot open again may now be the next to expire. */
		if (live && !exp_null &&
			(!acct->has_next_expiry ||
			 DatumGetTimestampTz(expires_at) < acct->next_expiry))
		{
			acct->has_next_expiry = true;
			acct->next_expiry = DatumGetTimestampTz(expires_at);
		}
		credits_append_allocation(acct, entry_id, parts[i].lot_id,
								  parts[i].amount);
	}
	return entry_id;
}

/*
 * Credits given back to a lot that was voided, forfeited by a reset or has
 * expired leave again at once, so that they never count as available: as a
 * void or expire entry of the lot, or a reset entry with one allocation.
 * Lots that still count are left alone.  The parts of the lots that were
 * emptied get amount 0: what is left in parts is what really came back.
 */
void
credits_settle_lots(AccountState *acct, LotPart *parts, int n)
{
	TimestampTz now = acct->now;
	int			i;

	for (i = 0; i < n; i++)
	{
		Datum		values[3];
		CreditAmount amount;
		char	   *kind;
		bool		isnull;

		values[0] = acct->account;
		values[1] = Int64GetDatum(parts[i].lot_id);
		values[2] = TimestampTzGetDatum(now);
		credits_run(&stmt_lot_settle, values, NULL, false, 0);
		if (SPI_processed == 0)
			continue;
		parts[i].amount = 0;
		amount = credits_col_amount(0, 1);
		kind = TextDatumGetCString(credits_col(0, 2, &isnull));
		if (strcmp(kind, "reset") == 0)
		{
			int64		entry_id;

			/* the lot is already emptied: only the allocation is left */
			entry_id = credits_append_entry(acct, "reset", amount, true, 0, 0,
											(Datum) 0, true, (Datum) 0, true);
			credits_append_allocation(acct, entry_id, parts[i].lot_id, amount);
		}
		else
			credits_append_entry(acct, kind, amount, true, parts[i].lot_id, 0,
								 (Datum) 0, true, (Datum) 0, true);
	}
}

/*
 * Forfeit the account's whole available balance: ONE "reset" entry of the
 * total, with an allocation per lot.  Every lot granted so far is marked
 * forfeited, so that credits given back to it later (a released hold, a
 * reversed spend) are forfeited too; held credits stay held until then.
 * A zero balance writes no entry; returns the entry id or 0.
 */
int64
credits_reset_balance(AccountState *acct, int64 related_id,
					  Datum reference, bool reference_null,
					  Datum reason, bool reason_null)
{
	CreditAmount amount = acct->balance;
	int64		entry_id;
	Datum		values[4];

	if (!acct->exists)
		return 0;
	values[0] = acct->account;
	values[1] = acct->credit_type;
	values[2] = TimestampTzGetDatum(acct->now);
	if (credits_distributed())
	{
		credits_run(&stmt_reset_upto, values, NULL, false, 1);
		values[3] = Int64GetDatum(credits_col_int64(0, 1));
		credits_run(&stmt_reset_mark_values, values, NULL, false, 0);
	}
	else
		credits_run(&stmt_reset_mark, values, NULL, false, 0);
	if (amount <= 0)
		return 0;
	entry_id = credits_append_entry(acct, "reset", amount, true, 0, related_id,
									reference, reference_null,
									reason, reason_null);
	/* every lot, those restricted to services too: the whole balance */
	credits_take_spend_order_in(acct, LOTS_ALL, (Datum) 0, entry_id, amount);
	/* Every lot is empty now: nothing is left to expire. */
	acct->has_next_expiry = false;
	acct->next_expiry = 0;
	return entry_id;
}

/*
 * The add-or-reset rule: "add" puts a new lot on top of the balance;
 * "reset" first forfeits the unused balance (one reset entry), then adds
 * the lot, in the same transaction.  Returns the lot id; *reset_entry_id
 * receives the reset entry's id, or 0.
 */
int64
credits_grant_by_mode(AccountState *acct, GrantMode mode, CreditAmount amount,
					  bool has_expiry, TimestampTz expires_at,
					  Datum reason, bool reason_null,
					  Datum reference, bool reference_null,
					  const char *source, int64 related_id,
					  int64 *reset_entry_id)
{
	int64		reset_id = 0;

	if (mode == GRANT_MODE_RESET)
		reset_id = credits_reset_balance(acct, related_id,
										 reference, reference_null,
										 reason, reason_null);
	if (reset_entry_id)
		*reset_entry_id = reset_id;
	return credits_add_lot(acct, amount, has_expiry, expires_at,
						   reason, reason_null, reference, reference_null,
						   source, (Datum) 0, (Datum) 0);
}

/*
 * An interval that moves time forward: no negative field and not zero.
 * ('1 month -1 day' is refused: whether it is positive depends on the date.)
 */
void
credits_check_interval(Datum interval, const char *what)
{
	Interval   *iv = DatumGetIntervalP(interval);

#ifdef INTERVAL_NOT_FINITE
	/* 17 on: 'infinity' moves time nowhere a period or an expiry can use */
	if (INTERVAL_NOT_FINITE(iv))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be finite", what)));
#endif
	if (iv->month < 0 || iv->day < 0 || iv->time < 0 ||
		(iv->month == 0 && iv->day == 0 && iv->time == 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a positive interval", what),
				 errdetail("The value given was %s.",
						   DatumGetCString(DirectFunctionCall1(interval_out,
															   interval)))));
}

/*
 * A timestamp that names an instant: 'infinity' and '-infinity' are no
 * starts, no expiries and no instants to look at a balance or a rate.
 */
void
credits_check_finite(TimestampTz value, const char *what)
{
	if (TIMESTAMP_NOT_FINITE(value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be finite", what),
				 errdetail("The value given was %s.", timestamptz_to_str(value))));
}

/*
 * An interval as text that reads back exactly whatever IntervalStyle is in
 * force (each field signed, so that sql_standard's "leading sign applies to
 * all fields" never kicks in).  The kept statements take it as $n::interval.
 */
Datum
credits_interval_text(Datum interval)
{
	Interval   *iv = DatumGetIntervalP(interval);

	return CStringGetTextDatum(psprintf("%+d mons %+d days %+lld microseconds",
										iv->month, iv->day, CREDITS_INT64_ARG(iv->time)));
}
