/*
 * ledger_lots.c
 *	  Lot-level movements the lifecycle features share: giving credits back
 *	  to the very lots they came from (and letting those of expired or voided
 *	  lots leave again at once), taking from a given set of lots, forfeiting
 *	  a balance (all of it, or what exceeds a reset's rollover), and
 *	  granting in "add" or "reset" mode.  Every helper runs inside SPI with
 *	  the account locked and its due expirations recorded, like the writers
 *	  in ledger.c.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
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
 * The tables of 1.2 (credits_resets_12) keep a mark per reset scope, which
 * closes the lots of its scope up to lots_upto but those the reset left
 * credits in (kept_lots).  A lot's scope, for the marks of resets with
 * reset_scope own: the rule of the invoice that issued it, or the
 * subscription whose period granted it ($1 is the account).
 */
#define LOT_ISSUER(x) \
	"coalesce((SELECT 'rule:' || i.rule_id::text FROM credits.issue i " \
	"  WHERE i.account = $1 AND i.reference = " x ".reference " \
	"  AND i.lot_id = " x ".lot_id AND " x ".source = 'issue'), " \
	" (SELECT 'subscription:' || p.subscription_id::text " \
	"  FROM credits.subscription_period p WHERE p.account = $1 " \
	"  AND p.lot_id = " x ".lot_id AND " x ".source = 'subscription'))"

/*
 * Lot ids are not ordered across the nodes of a distributed ledger: each
 * node numbers from its node group's range (group << 48 onwards, see
 * credits_distribute()), and the lots of one account may be made on
 * several (a worker, the coordinator, another worker after a shard move).
 * Within one node they grow, and lots are made only under the account
 * lock.  So a reset's mark keeps, per node group g, the highest lot id of
 * that group it closed, at position g + 1 of lots_upto (NULL where the
 * group had none), and lot x was made before the reset when x is at most
 * the bound of its own group.  On one node that is one bound, group 0.
 */
#define LOT_MADE_BY(x, upto) \
	x " <= " upto "[(" x " >> 48) + 1]"

/* The marks (rows m) of the resets that closed lot x. */
#define RESETS_CLOSING(x) \
	"SELECT m.reset_at FROM credits.account_reset m " \
	"WHERE m.account = $1 AND m.credit_type = " x ".credit_type " \
	"AND " LOT_MADE_BY(x ".lot_id", "m.lots_upto") " " \
	"AND " x ".lot_id <> ALL (m.kept_lots) " \
	"AND (m.scope = 'type' OR m.scope = " LOT_ISSUER(x) ")"

/*
 * Credits coming back into a lot; reports whether the lot still counts
 * (not voided, not forfeited by a later reset, not expired at $4) and its
 * expiry.  (stmt_lot_give_back_12: on the tables of 1.2.)
 */
static CreditsStmt stmt_lot_give_back_12 = {"tiaT",
		"UPDATE credits.lot l SET remaining = remaining + $3, is_open = true "
		"WHERE account = $1 AND lot_id = $2 "
		"RETURNING expires_at, voided_at IS NULL "
		"AND (expires_at IS NULL OR expires_at > $4) "
		"AND NOT EXISTS (" RESETS_CLOSING("l") ")"};

static CreditsStmt stmt_lot_give_back = {"tiaT",
		"UPDATE credits.lot l SET remaining = remaining + $3, is_open = true "
		"WHERE account = $1 AND lot_id = $2 "
		"RETURNING expires_at, voided_at IS NULL "
		"AND (expires_at IS NULL OR expires_at > $4) "
		"AND lot_id > coalesce((SELECT r.lots_upto FROM credits.account_reset r "
		"  WHERE r.account = $1 AND r.credit_type = l.credit_type), 0)"};

/*
 * Empty a lot that no longer counts but holds credits (given back to it
 * just now): voided, expired at $3, or closed by a reset since it was
 * granted (whichever of expiry and the first reset that closed it came
 * first names the entry).  Returns what it held and the kind of entry that
 * removes it.  (stmt_lot_settle_12: on the tables of 1.2.)
 */
static CreditsStmt stmt_lot_settle_12 = {"tiT",
		"WITH l AS (SELECT x.lot_id, x.remaining, CASE "
		"    WHEN x.voided_at IS NOT NULL THEN 'void' "
		"    WHEN x.expires_at <= $3 AND (r.reset_at IS NULL "
		"      OR x.expires_at <= r.reset_at) THEN 'expire' "
		"    WHEN r.reset_at IS NOT NULL THEN 'reset' END AS kind "
		"  FROM credits.lot x CROSS JOIN LATERAL (SELECT min(c.reset_at) AS reset_at "
		"    FROM (" RESETS_CLOSING("x") ") c) r "
		"  WHERE x.account = $1 AND x.lot_id = $2 AND x.remaining > 0) "
		"UPDATE credits.lot t SET remaining = 0, is_open = false FROM l "
		"WHERE t.account = $1 AND t.lot_id = l.lot_id AND l.kind IS NOT NULL "
		"RETURNING l.remaining, l.kind"};

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

/*
 * On the tables of 1.2: the mark of a reset of scope $5 (its lots up to
 * $4, but those listed in $6), which takes the place of that scope's
 * earlier mark; a reset of the whole type closes every lot the marks of
 * its 'own' resets did (they are empty), and takes their place too.
 */
static CreditsStmt stmt_reset_mark_12 = {"ttTAtA",
		"INSERT INTO credits.account_reset (account, credit_type, lots_upto, "
		"reset_at, scope, kept_lots) VALUES ($1, $2, $4, $3, $5, $6) "
		"ON CONFLICT (account, credit_type, scope) DO UPDATE "
		"SET lots_upto = excluded.lots_upto, reset_at = excluded.reset_at, "
		"kept_lots = excluded.kept_lots"};

static CreditsStmt stmt_reset_unmark_own = {"tt",
		"DELETE FROM credits.account_reset "
		"WHERE account = $1 AND credit_type = $2 AND scope <> 'type'"};

/*
 * On the tables of 1.2: the highest lot id of each node group among the
 * lots of the account and type, at position group + 1 (see LOT_MADE_BY).
 */
static CreditsStmt stmt_reset_upto_12 = {"tt",
		"SELECT coalesce(array_agg(u.lot_id ORDER BY g.g), '{}') "
		"FROM generate_series(0, (SELECT max(lot_id) >> 48 FROM credits.lot "
		"  WHERE account = $1 AND credit_type = $2)) g(g) "
		"CROSS JOIN LATERAL (SELECT max(l.lot_id) AS lot_id FROM credits.lot l "
		"  WHERE l.account = $1 AND l.credit_type = $2 "
		"  AND l.lot_id >= g.g << 48 AND l.lot_id < (g.g + 1) << 48) u"};

/* The open lots of scope $4 up to $3: those a reset left credits in. */
static CreditsStmt stmt_reset_kept = {"ttAt",
		"SELECT coalesce(array_agg(l.lot_id ORDER BY l.lot_id), '{}') "
		"FROM credits.lot l WHERE l.account = $1 AND l.credit_type = $2 "
		"AND l.is_open AND " LOT_MADE_BY("l.lot_id", "$3") " "
		"AND ($4 = 'type' OR $4 = " LOT_ISSUER("l") ")"};

/*
 * The open lots that the rule or subscription $3 issued, in spend order
 * (lowest priority first, then soonest expiry, never-expiring last, then
 * oldest grant, then lot id): what a reset with reset_scope own counts and
 * forfeits from.
 */
static CreditsStmt stmt_own_lots = {"ttt",
		"SELECT l.lot_id, l.remaining FROM credits.lot l "
		"WHERE l.account = $1 AND l.credit_type = $2 AND l.is_open "
		"AND l.source IN ('issue', 'subscription') AND $3 = " LOT_ISSUER("l") " "
		"ORDER BY l.priority, l.expires_at, l.granted_at, l.lot_id"};

/*
 * Do the tables have the reset marks of 1.2 (a scope per mark)?  Not while
 * the database still runs the SQL of 1.0 or 1.1 with this library (the
 * update may follow the installation): resets then forfeit the whole
 * balance, as they did, and rules and subscriptions have no rollover.
 */
bool
credits_resets_12(void)
{
	return credits_catalog_level() >= 12;
}

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

/*
 * What a reset of mode keeps: reset_scope "type" or "own", rollover not
 * negative (NULL, like 0, keeps nothing), and neither for mode "add",
 * which forfeits nothing; anything else is 22023.  The scale of rollover
 * is the caller's to check, under the type's lock.
 */
ResetScope
credits_check_reset_terms(GrantMode mode, bool has_rollover,
						  CreditAmount rollover, const char *reset_scope)
{
	ResetScope	scope;

	if (strcmp(reset_scope, "type") == 0)
		scope = RESET_SCOPE_TYPE;
	else if (strcmp(reset_scope, "own") == 0)
		scope = RESET_SCOPE_OWN;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid reset_scope \"%s\"", reset_scope),
				 errhint("The reset_scope is \"type\" (a reset forfeits the whole available balance of the credit type) or \"own\" (only the credits that the same rule or subscription issued).")));
	if (has_rollover && rollover < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rollover must not be negative"),
				 errdetail("The value given was %s.", credit_amount_format(rollover))));
	if (mode == GRANT_MODE_ADD && (has_rollover || scope != RESET_SCOPE_TYPE))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s applies to mode \"reset\" only",
						has_rollover ? "rollover" : "reset_scope"),
				 errhint("Mode \"add\" forfeits nothing; rollover and reset_scope say what a reset keeps.")));
	return scope;
}

/*
 * credits.check_reset_terms(mode, rollover, reset_scope):
 * credits_check_reset_terms() for SQL (credits_define_rule).
 */
PG_FUNCTION_INFO_V1(credits_check_reset_terms_sql);

Datum
credits_check_reset_terms_sql(PG_FUNCTION_ARGS)
{
	if (!PG_ARGISNULL(0) && !PG_ARGISNULL(2))
		(void) credits_check_reset_terms(credits_parse_mode(PG_GETARG_DATUM(0)),
										 !PG_ARGISNULL(1),
										 PG_ARGISNULL(1) ? 0 : PG_GETARG_CREDIT_AMOUNT(1),
										 text_to_cstring(PG_GETARG_TEXT_PP(2)));
	PG_RETURN_VOID();
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
	bool		resets_12 = credits_resets_12();
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
		credits_run(resets_12 ? &stmt_lot_give_back_12 : &stmt_lot_give_back,
					values, NULL, false, 0);
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
 * Credits given back to a lot that was voided, closed by a reset (one that
 * left nothing in it) or has expired leave again at once, so that they
 * never count as available: as a void or expire entry of the lot, or a
 * reset entry with one allocation.
 * Lots that still count are left alone.  The parts of the lots that were
 * emptied get amount 0: what is left in parts is what really came back.
 */
void
credits_settle_lots(AccountState *acct, LotPart *parts, int n)
{
	TimestampTz now = acct->now;
	bool		resets_12 = credits_resets_12();
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
		credits_run(resets_12 ? &stmt_lot_settle_12 : &stmt_lot_settle,
					values, NULL, false, 0);
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
 * The open lots that the rule or subscription issuer issued to the
 * account, in spend order, with what each has left (palloc'd); *total
 * receives their sum.
 */
static LotPart *
credits_own_lots(AccountState *acct, const char *issuer, int *n,
				 CreditAmount *total)
{
	Datum		values[3];
	LotPart    *lots;
	uint64		i;

	values[0] = acct->account;
	values[1] = acct->credit_type;
	values[2] = CStringGetTextDatum(issuer);
	credits_run(&stmt_own_lots, values, NULL, false, 0);
	*n = (int) SPI_processed;
	*total = 0;
	lots = palloc(sizeof(LotPart) * (*n + 1));
	for (i = 0; i < SPI_processed; i++)
	{
		lots[i].lot_id = credits_col_int64(i, 1);
		lots[i].amount = credits_col_amount(i, 2);
		*total = credit_amount_add(*total, lots[i].amount);
	}
	SPI_freetuptable(SPI_tuptable);
	return lots;
}

/*
 * The mark of a reset of scope ("type", or the issuer of an "own" reset):
 * it closes the lots of that scope granted so far (up to the highest lot
 * id of each node group among the account's lots of the type: lots are
 * only created under the account lock, so every later lot made on a node
 * has a higher id than that node's earlier ones) but those it left credits
 * in when it kept some, so that credits given back to a closed lot later
 * are forfeited too.
 */
static void
credits_reset_mark(AccountState *acct, const char *scope, bool kept_some)
{
	Datum		values[6];
	Datum		scope_text = CStringGetTextDatum(scope);

	bool		upto_null;

	values[0] = acct->account;
	values[1] = acct->credit_type;
	credits_run(&stmt_reset_upto_12, values, NULL, false, 1);
	values[3] = datumCopy(credits_col(0, 1, &upto_null), false, -1);
	SPI_freetuptable(SPI_tuptable);
	if (kept_some)
	{
		Datum		kv[4];
		bool		isnull;

		kv[0] = acct->account;
		kv[1] = acct->credit_type;
		kv[2] = values[3];
		kv[3] = scope_text;
		credits_run(&stmt_reset_kept, kv, NULL, false, 1);
		values[5] = datumCopy(credits_col(0, 1, &isnull), false, -1);
		SPI_freetuptable(SPI_tuptable);
	}
	else
		values[5] = PointerGetDatum(construct_empty_array(INT8OID));
	values[2] = TimestampTzGetDatum(acct->now);
	values[4] = scope_text;
	credits_run(&stmt_reset_mark_12, values, NULL, false, 0);
	if (strcmp(scope, "type") == 0)
		credits_run(&stmt_reset_unmark_own, values, NULL, false, 0);
}

/*
 * A reset: forfeits the available credits of its scope -- the whole
 * balance of the type, or (reset_scope own) those that its rule or
 * subscription issued -- beyond what it keeps (terms->rollover; terms
 * NULL or without a rollover keeps nothing), as ONE "reset" entry of the
 * forfeited amount with an allocation per lot, taken in spend order as a
 * spend would take it: what is kept is what would be spent last, the
 * longest-lived credits, and stays in its lots.  Its payload says the
 * rollover, the scope and what was kept.  The lots of the scope granted so
 * far are marked closed, but those it left credits in, so that credits
 * given back to a closed lot later (a released hold, a reversed spend) are
 * forfeited too; held credits stay held until then.  A reset that keeps
 * something and forfeits nothing closes nothing.  Forfeiting nothing
 * writes no entry; returns the entry id or 0.
 */
int64
credits_reset_balance(AccountState *acct, int64 related_id,
					  Datum reference, bool reference_null,
					  Datum reason, bool reason_null,
					  const ResetTerms *terms)
{
	bool		own = terms != NULL && terms->scope == RESET_SCOPE_OWN;
	CreditAmount keep = terms != NULL && terms->has_rollover ? terms->rollover : 0;
	CreditAmount available;
	CreditAmount forfeit;
	LotPart    *lots = NULL;
	int			n = 0;
	int64		entry_id = 0;
	Datum		values[4];

	if (!acct->exists)
		return 0;
	if (!credits_resets_12())
	{
		/* The tables of 1.0 or 1.1: the whole balance, as it was. */
		CreditAmount amount = acct->balance;

		if (own || keep > 0)
			elog(ERROR, "credits: a reset that keeps credits needs the tables of 1.2");
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
		credits_take_spend_order_in(acct, LOTS_ALL, (Datum) 0, entry_id, amount);
		acct->has_next_expiry = false;
		acct->next_expiry = 0;
		return entry_id;
	}

	if (own)
		lots = credits_own_lots(acct, terms->issuer, &n, &available);
	else
		available = acct->balance;
	forfeit = available > keep ? credit_amount_sub(available, keep) : 0;
	if (forfeit > 0)
	{
		entry_id = credits_append_entry_extra(acct, "reset", forfeit, true, 0,
											  related_id,
											  reference, reference_null,
											  reason, reason_null,
											  credits_reset_payload(terms != NULL && terms->has_rollover,
																	keep, own ? "own" : "type",
																	credit_amount_sub(available, forfeit)));
		if (own)
		{
			if (credits_take_parts(acct, entry_id, lots, n, forfeit) != forfeit)
				elog(ERROR, "credits: the lots of %s do not cover their total",
					 terms->issuer);
		}
		else
		{
			/* every lot, those restricted to services too: the balance */
			credits_take_spend_order_in(acct, LOTS_ALL, (Datum) 0, entry_id,
										forfeit);
		}
	}
	if (keep == 0 || forfeit > 0)
		credits_reset_mark(acct, own ? terms->issuer : "type", keep > 0);
	/* The whole balance forfeited: nothing is left to expire. */
	if (!own && keep == 0)
	{
		acct->has_next_expiry = false;
		acct->next_expiry = 0;
	}
	if (lots)
		pfree(lots);
	return entry_id;
}

/*
 * The add-or-reset rule: "add" puts a new lot on top of the balance;
 * "reset" first forfeits the unused balance of its scope beyond what it
 * keeps (terms, see credits_reset_balance; one reset entry), then adds the
 * lot, in the same transaction.  Returns the lot id; *reset_entry_id
 * receives the reset entry's id, or 0.
 */
int64
credits_grant_by_mode(AccountState *acct, GrantMode mode, CreditAmount amount,
					  bool has_expiry, TimestampTz expires_at,
					  Datum reason, bool reason_null,
					  Datum reference, bool reference_null,
					  const char *source, int64 related_id,
					  const ResetTerms *terms,
					  int64 *reset_entry_id)
{
	int64		reset_id = 0;

	if (mode == GRANT_MODE_RESET)
		reset_id = credits_reset_balance(acct, related_id,
										 reference, reference_null,
										 reason, reason_null, terms);
	if (reset_entry_id)
		*reset_entry_id = reset_id;
	return credits_add_lot(acct, amount, has_expiry, expires_at,
						   reason, reason_null, reference, reference_null,
						   source, (Datum) 0, (Datum) 0, 0, (Datum) 0);
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
