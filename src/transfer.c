/*
 * transfer.c
 *	  credits_transfer(): move credits from one account to another.  They
 *	  leave the source as a spend without a service takes them, in spend
 *	  order and by the same code (credits_take_from_lots): only lots that
 *	  any service may use, so credits restricted to services never move.
 *	  They leave in a transfer_out entry and arrive as new lots of the
 *	  destination, one per source lot drawn from, with its expiry, its
 *	  priority and its share of its cost basis, in a transfer_in entry whose
 *	  related entry is the transfer_out.
 *
 *	  Lock order: the two account rows in (account, credit type) order under
 *	  the "C" collation, as every caller that locks several accounts takes
 *	  them (ledger.c): transfers in opposite directions queue, and never
 *	  deadlock.  Every statement reads or writes one account, so that on a
 *	  distributed ledger each one runs on that account's shard.
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/datum.h"

#include "credits.h"

PG_FUNCTION_INFO_V1(credits_transfer);

/*
 * The lots a transfer_out entry drew from, in spend order, with what the
 * receiving lots take over: the amount, the expiry, the purchase currency,
 * the share of the cost basis and the priority.  That share is the lot's unused cost
 * before the transfer less its unused cost after it, each computed exactly
 * as credits_liability() computes it: cost * unused / amount, where unused
 * is the remainder, plus what open holds took from the lot when the account
 * holds credits ($3; what their hold entries took, since a release or a
 * capture gives back exactly that).  So the source lot's unused cost and
 * the new lot's cost add up, to the last digit, to the source lot's unused
 * cost before, and the liability's cost basis does not move.  (Trailing
 * zeros are dropped: the new lot's cost * unused / amount is still exact
 * while all of it is unused, and later shares stay short.)
 */
static CreditsStmt stmt_transfer_parts = {"tib",
	"SELECT al.amount, l.expires_at, l.cost_currency, trim_scale("
	"  l.cost * (l.remaining + al.amount + h.held)::numeric / l.amount::numeric "
	"  - l.cost * (l.remaining + h.held)::numeric / l.amount::numeric), "
	"  l.priority "
	"FROM credits.allocation al "
	"JOIN credits.lot l ON l.account = al.account AND l.lot_id = al.lot_id "
	"CROSS JOIN LATERAL (SELECT CASE WHEN $3 THEN coalesce(("
	"    SELECT sum(x.amount) FROM credits.hold o JOIN credits.allocation x "
	"      ON x.account = o.account AND x.entry_id = o.hold_entry_id "
	"    WHERE o.account = $1 AND o.status = 'open' AND x.lot_id = l.lot_id), '0') "
	"  ELSE '0' END AS held) h "
	"WHERE al.account = $1 AND al.entry_id = $2 "
	"ORDER BY l.priority, l.expires_at, l.granted_at, l.lot_id"};

/* What one source lot gave, as the lot that receives it needs it. */
typedef struct TransferPart
{
	CreditAmount amount;
	bool		has_expiry;
	TimestampTz expires_at;
	Datum		cost_currency;	/* text, or (Datum) 0 */
	Datum		cost;			/* numeric, or (Datum) 0 */
	int32		priority;
} TransferPart;

/* An account key must be given and not be empty. */
static void
credits_transfer_account(FunctionCallInfo fcinfo, int argno, const char *name)
{
	credits_require_arg(fcinfo, argno, name);
	if (VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(argno)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", name)));
}

/* Account keys in lock order: byte by byte, as the "C" collation sorts. */
static int
credits_account_cmp(Datum a, Datum b)
{
	text	   *ta = DatumGetTextPP(a);
	text	   *tb = DatumGetTextPP(b);
	int			la = VARSIZE_ANY_EXHDR(ta);
	int			lb = VARSIZE_ANY_EXHDR(tb);
	int			r = memcmp(VARDATA_ANY(ta), VARDATA_ANY(tb), Min(la, lb));

	if (r != 0)
		return r;
	return (la > lb) - (la < lb);
}

/* The lots of the transfer_out entry out_id (palloc'd, n of them). */
static TransferPart *
credits_transfer_parts(AccountState *src, int64 out_id, int *n)
{
	Datum		values[3];
	TransferPart *parts;
	uint64		i;

	values[0] = src->account;
	values[1] = Int64GetDatum(out_id);
	values[2] = BoolGetDatum(src->held > 0);
	credits_run(&stmt_transfer_parts, values, NULL, false, 0);
	*n = (int) SPI_processed;
	parts = palloc(sizeof(TransferPart) * (*n + 1));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		d;

		parts[i].amount = credits_col_amount(i, 1);
		d = credits_col(i, 2, &isnull);
		parts[i].has_expiry = !isnull;
		parts[i].expires_at = isnull ? 0 : DatumGetTimestampTz(d);
		d = credits_col(i, 3, &isnull);
		parts[i].cost_currency = isnull ? (Datum) 0 : datumCopy(d, false, -1);
		d = credits_col(i, 4, &isnull);
		parts[i].cost = isnull ? (Datum) 0 : datumCopy(d, false, -1);
		parts[i].priority = DatumGetInt32(credits_col(i, 5, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);
	return parts;
}

/*
 * credits_transfer(from_account, to_account, amount, reference, credit_type,
 * idempotency_key) returns the transfer_out entry's id.
 *
 * The destination needs no account row beforehand (a grant would create it
 * too).  The idempotency key is the source account's, like a spend's.  Both
 * sides are dated at one instant: the later of the two accounts' ledger
 * instants, so that neither history goes back in time, and the lots that
 * arrive are never due at it (due expirations are recorded on both sides
 * first, so every lot drawn from expires later).
 */
Datum
credits_transfer(PG_FUNCTION_ARGS)
{
	Datum		from;
	Datum		to;
	Datum		credit_type;
	Datum		reference = PG_GETARG_DATUM(3);
	bool		reference_null = PG_ARGISNULL(3);
	bool		has_key = !PG_ARGISNULL(5);
	CreditAmount amount;
	CreditAmount available;
	CreditAmount moved = 0;
	CreditTypeInfo info;
	AccountState src;
	AccountState dst;
	StringInfoData request;
	TransferPart *parts;
	int			n;
	int			i;
	int64		out_id;
	int64		in_id;

	credits_transfer_account(fcinfo, 0, "from_account");
	credits_transfer_account(fcinfo, 1, "to_account");
	credits_require_arg(fcinfo, 2, "amount");
	credits_require_arg(fcinfo, 4, "credit_type");
	from = PG_GETARG_DATUM(0);
	to = PG_GETARG_DATUM(1);
	amount = PG_GETARG_CREDIT_AMOUNT(2);
	credit_type = PG_GETARG_DATUM(4);
	credits_check_positive(amount, "amount");
	if (credits_account_cmp(from, to) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot transfer credits to the same account"),
				 errdetail("from_account and to_account are both \"%s\".",
						   TextDatumGetCString(from))));

	SPI_connect();
	/* It reaches an account other than the caller's: never a portal's. */
	credits_check_access((Datum) 0, CREDITS_ACCESS_AGENCY);
	credits_type_info(credit_type, &info);
	credits_check_scale(amount, &info, credit_type, "amount");

	if (credits_account_cmp(from, to) < 0)
	{
		credits_lock_account(&src, from, credit_type, false);
		credits_lock_account(&dst, to, credit_type, true);
	}
	else
	{
		credits_lock_account(&dst, to, credit_type, true);
		credits_lock_account(&src, from, credit_type, false);
	}
	src.now = dst.now = Max(src.now, dst.now);

	if (has_key)
	{
		initStringInfo(&request);
		credits_idem_field(&request, "transfer");
		credits_idem_field(&request, TextDatumGetCString(credit_type));
		credits_idem_field(&request, TextDatumGetCString(to));
		credits_idem_field(&request, credit_amount_format(amount));
		credits_idem_field(&request, reference_null ? NULL : TextDatumGetCString(reference));
		if (credits_idem_lookup(from, PG_GETARG_DATUM(5), request.data, &out_id))
		{
			SPI_finish();
			PG_RETURN_INT64(out_id);
		}
	}

	credits_require_enabled("transferring");
	credits_record_due_now(&src);
	credits_record_due_now(&dst);
	/* a transfer names no service: only lots that any service may use */
	available = credits_available(&src, LOTS_UNRESTRICTED, (Datum) 0);
	if (available < amount)
		credits_insufficient(&src, available, amount);

	/* Out of the source in spend order, as a spend takes them ... */
	out_id = credits_take_from_lots(&src, "transfer_out", amount, 0,
									reference, reference_null, (Datum) 0, true);
	parts = credits_transfer_parts(&src, out_id, &n);

	/* ... into new lots of the destination, one per lot drawn from. */
	in_id = credits_append_entry(&dst, "transfer_in", amount, false, 0, out_id,
								 reference, reference_null, (Datum) 0, true);
	for (i = 0; i < n; i++)
	{
		int64		lot_id;

		lot_id = credits_insert_lot(&dst, parts[i].amount,
									parts[i].has_expiry, parts[i].expires_at,
									(Datum) 0, true, reference, reference_null,
									"transfer", parts[i].cost,
									parts[i].cost_currency, parts[i].priority,
									(Datum) 0);
		credits_append_allocation(&dst, in_id, lot_id, parts[i].amount);
		moved = credit_amount_add(moved, parts[i].amount);
	}
	if (moved != amount)
		elog(ERROR, "credits: transfer entry " INT64_FORMAT " took %s from its lots, not %s",
			 out_id, credit_amount_format(moved), credit_amount_format(amount));

	credits_save_account(&src);
	credits_save_account(&dst);
	if (has_key)
		credits_idem_store(from, PG_GETARG_DATUM(5), "transfer", request.data,
						   out_id);
	SPI_finish();
	PG_RETURN_INT64(out_id);
}
