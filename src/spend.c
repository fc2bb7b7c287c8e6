/*
 * spend.c
 *	  credits_spend(): take credits from an account's lots in spend order
 *	  (lowest priority, then soonest expiry, first), all or nothing; for a
 *	  service, also from the lots restricted to it.
 */
#include "postgres.h"

#include "access/xact.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "credits.h"

PG_FUNCTION_INFO_V1(credits_spend);

/*
 * The common spend, for when the account row exists, credits are enabled,
 * the amount fits the type's scale and no expiry is due (the caller has
 * checked what it can from the configuration caches), and no lot of the
 * account is restricted to services (not scoped): then every lot may pay
 * for anything, the balance is what the spend may take, with or without a
 * service, and its lots are the first in spend order.
 *
 * Its first statement updates the account row, which locks it; if another
 * spend holds the lock, the statement waits there, and EvalPlanQual then
 * gives it the row as the other spend committed it (balance, entry number,
 * ledger instant and next expiry re-checked on that row).  The ledger
 * instant is the transaction's start or the account's last_at, whichever is
 * later (see credits_ledger_instant); no lot may be due by it.  When the
 * account row does not qualify, nothing is written and the caller takes the
 * general path, which reports why.
 *
 * Its second statement -- the lot, the entry, its event and allocation --
 * runs after the first, not inside it: a statement of its own takes a new
 * snapshot (in READ COMMITTED), so a spend that waited sees the lots as the
 * spend it waited for left them, and never has to start over.  Keeping the
 * two apart also means that no SQL ever runs from inside a statement on a
 * ledger table, which a distributed ledger (Citus: a statement routed to a
 * shard) could not run.
 */
static CreditsStmt stmt_spend_fast = {"ttaT",
	"UPDATE credits.account a SET balance = a.balance - $3, "
	"  last_seq = a.last_seq + 1{{, last_at = greatest(a.last_at, $4)|}} "
	"  WHERE a.account = $1 AND a.credit_type = $2 AND a.balance >= $3{{12: "
	"  AND NOT a.scoped|}} "
	"  AND (a.next_expiry IS NULL "
	"    OR a.next_expiry > {{greatest(a.last_at, $4)|$4}}) "
	"  RETURNING a.balance, a.last_seq, a.low_threshold, "
	"  {{a.last_at|$4}} AS last_at, " CREDITS_TOPUP_COLUMN};

/*
 * The rest of a spend whose account row stmt_spend_fast has just updated: the
 * first open lot in spend order if it covers the amount, the entry, its
 * event and the allocation.  When the first lot does not cover it, nothing is written
 * and credits_take_spend_order() spreads the amount over the lots.  On a
 * distributed ledger credits_spend_rest_dist() writes the same rows in
 * statements that Citus runs on the account's shard (ledger.c).
 */
static CreditsStmt stmt_spend_lots = {"ttaiatijiT",
	"WITH lot AS MATERIALIZED (SELECT lot_id FROM credits.lot "
	"  WHERE account = $1 AND credit_type = $2 AND is_open{{12: "
	"  AND applies_to IS NULL|}} "
	"  ORDER BY {{12:priority, |}}expires_at, granted_at, lot_id LIMIT 1), "
	"upd AS (UPDATE credits.lot l SET remaining = l.remaining - $3, "
	"  is_open = l.remaining > $3 FROM lot "
	"  WHERE l.account = $1 AND l.lot_id = lot.lot_id AND l.remaining >= $3 "
	"  RETURNING l.lot_id), "
	"ent AS (INSERT INTO credits.entry (entry_id, account, credit_type, seq, "
	"  kind, amount, running_balance, reference, at) "
	"  VALUES ($9, $1, $2, $4, 'spend', $3, $5, $6, $10) RETURNING at), "
	"ev AS (INSERT INTO credits.event (id, account, at, type, aggregatetype, "
	"  aggregateid, payload, entry_id) "
	"  SELECT $7, $1, ent.at, 'account.credits.spent', 'account', $1, $8, $9 "
	"  FROM ent) "
	"INSERT INTO credits.allocation (account, entry_id, lot_id, amount) "
	"SELECT $1, $9, upd.lot_id, $3 FROM upd"};

/*
 * Write the spend of amount whose account row is already updated (seq,
 * balance and at are the entry's number, running balance and instant);
 * returns the entry id.  Under the account lock, inside SPI.
 */
static int64
credits_spend_write(Datum account, Datum credit_type, CreditAmount amount,
					Datum seq, CreditAmount balance, Datum reference,
					bool reference_null, Datum at)
{
	Datum		values[10];
	char		nulls[10] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	int64		entry_id;
	int64		event_id;
	EntryPayload p;

	entry_id = credits_next_entry_id();
	event_id = credits_next_event_id();
	p.account = account;
	p.credit_type = credit_type;
	p.entry_id = entry_id;
	p.kind = "spend";
	p.amount = amount;
	p.balance = balance;
	p.reference = reference;
	p.reference_null = reference_null;
	p.reason = (Datum) 0;
	p.reason_null = true;
	p.lot_id = 0;
	p.has_shortfall = false;
	p.shortfall = 0;

	values[0] = account;
	values[1] = credit_type;
	values[2] = CreditAmountGetDatum(amount);
	values[3] = seq;
	values[4] = CreditAmountGetDatum(balance);
	values[5] = reference;
	if (reference_null)
		nulls[5] = 'n';
	values[6] = Int64GetDatum(event_id);
	values[7] = credits_entry_payload(&p);
	values[8] = Int64GetDatum(entry_id);
	values[9] = at;
	credits_run(&stmt_spend_lots, values, nulls, false, 0);
	if (SPI_processed == 0)
	{
		AccountState acct;

		memset(&acct, 0, sizeof(acct));
		acct.account = account;
		acct.credit_type = credit_type;
		acct.exists = true;
		credits_take_spend_order(&acct, entry_id, amount);
	}
	credits_notify_event(event_id, "account.credits.spent");
	return entry_id;
}

PG_FUNCTION_INFO_V1(credits_spend_lots);

/*
 * credits.spend_lots(account, credit_type, amount, seq, balance, reference,
 * at): credits_spend_write() as a function, which the fast path of 1.0 and
 * 1.1 called from inside its account update; kept for their install
 * scripts, which declare it.  Returns the entry id.
 */
Datum
credits_spend_lots(PG_FUNCTION_ARGS)
{
	int64		entry_id;

	SPI_connect();
	/* 1.0's SQL passes no instant: its entries were dated now() */
	entry_id = credits_spend_write(PG_GETARG_DATUM(0), PG_GETARG_DATUM(1),
								   PG_GETARG_CREDIT_AMOUNT(2),
								   PG_GETARG_DATUM(3),
								   PG_GETARG_CREDIT_AMOUNT(4),
								   PG_GETARG_DATUM(5), PG_ARGISNULL(5),
								   PG_NARGS() > 6 ? PG_GETARG_DATUM(6)
								   : TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()));
	SPI_finish();
	PG_RETURN_INT64(entry_id);
}

/* How many decimals an amount needs: 0 for 36, 1 for 35.1, 6 for 0.000001. */
static int
credits_decimals(CreditAmount amount)
{
	int			decimals = CREDIT_AMOUNT_DECIMALS;

	while (decimals > 0 && amount % 10 == 0)
	{
		amount /= 10;
		decimals--;
	}
	return decimals;
}

/* Returns the entry id, or 0 when the general path must run. */
static int64
credits_spend_fast(Datum account, Datum credit_type, CreditAmount amount,
				   Datum reference, bool reference_null)
{
	Datum		values[4];
	CreditTypeInfo info;
	int64		entry_id;
	bool		isnull;
	CreditAmount after;
	Datum		seq;
	Datum		at;
	Datum		d;
	AccountState acct;

	if (!credits_enabled_now() ||
		!credits_lookup_type(TextDatumGetCString(credit_type), &info) ||
		credits_decimals(amount) > info.scale)
		return 0;
	values[0] = account;
	values[1] = credit_type;
	values[2] = CreditAmountGetDatum(amount);
	values[3] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	credits_run(&stmt_spend_fast, values, NULL, false, 1);
	if (SPI_processed == 0)
		return 0;
	after = DatumGetCreditAmount(credits_col(0, 1, &isnull));
	seq = credits_col(0, 2, &isnull);
	d = credits_col(0, 3, &isnull);
	/* balance_depleted and low_balance need the account's figures */
	memset(&acct, 0, sizeof(acct));
	acct.account = account;
	acct.credit_type = credit_type;
	acct.exists = true;
	acct.balance = after;
	acct.has_low_threshold = !isnull;
	acct.low_threshold = isnull ? 0 : DatumGetCreditAmount(d);
	at = credits_col(0, 4, &isnull);
	acct.now = DatumGetTimestampTz(at);
	credits_topup_read(&acct);

	if (credits_distributed())
	{
		/* the row as it was before this update */
		acct.balance = credit_amount_add(after, amount);
		acct.last_seq = DatumGetInt64(seq) - 1;
		return credits_spend_rest_dist(&acct, amount, reference,
									   reference_null);
	}
	entry_id = credits_spend_write(account, credit_type, amount, seq, after,
								   reference, reference_null, at);
	credits_balance_events(&acct, credit_amount_add(after, amount), entry_id);
	credits_topup_flush(&acct);
	return entry_id;
}

/*
 * credits_spend(account, amount, reference, credit_type, idempotency_key,
 * service) returns the spend entry's id.  Without a service it takes only
 * lots that any service may use; for a service, also the lots restricted to
 * it.  (Databases still on the scripts of 1.0 and 1.1 call with 5
 * arguments.)
 */
Datum
credits_spend(PG_FUNCTION_ARGS)
{
	Datum		account;
	Datum		credit_type;
	CreditAmount amount;
	bool		reference_null = PG_ARGISNULL(2);
	bool		has_key = !PG_ARGISNULL(4);
	bool		has_service = PG_NARGS() > 5 && !PG_ARGISNULL(5);
	Datum		service = has_service ? PG_GETARG_DATUM(5) : (Datum) 0;
	LotScope	scope = has_service ? LOTS_FOR_SERVICE : LOTS_UNRESTRICTED;
	CreditAmount available;
	CreditTypeInfo info;
	AccountState acct;
	StringInfoData request;
	int64		entry_id;

	credits_require_arg(fcinfo, 0, "account");
	credits_require_arg(fcinfo, 1, "amount");
	credits_require_arg(fcinfo, 3, "credit_type");
	account = PG_GETARG_DATUM(0);
	amount = PG_GETARG_CREDIT_AMOUNT(1);
	credit_type = PG_GETARG_DATUM(3);
	credits_require_account(DatumGetTextPP(account));
	credits_check_positive(amount, "amount");
	if (has_service)
		credits_check_service(service);

	SPI_connect();
	credits_check_access(account, CREDITS_ACCESS_CLIENT);
	if (!has_key)
	{
		entry_id = credits_spend_fast(account, credit_type, amount,
									  PG_GETARG_DATUM(2), reference_null);
		if (entry_id != 0)
		{
			SPI_finish();
			PG_RETURN_INT64(entry_id);
		}
	}
	credits_lock_account(&acct, account, credit_type, false);
	credits_type_info(credit_type, &info);
	credits_check_scale(amount, &info, credit_type, "amount");

	if (has_key)
	{
		initStringInfo(&request);
		credits_idem_field(&request, "spend");
		credits_idem_field(&request, TextDatumGetCString(credit_type));
		credits_idem_field(&request, credit_amount_format(amount));
		credits_idem_field(&request, reference_null ? NULL : TextDatumGetCString(PG_GETARG_DATUM(2)));
		/* without a service, the request of 1.0 (whose keys stay valid) */
		if (has_service)
			credits_idem_field(&request, TextDatumGetCString(service));
		if (credits_idem_lookup(account, PG_GETARG_DATUM(4), request.data, &entry_id))
		{
			SPI_finish();
			PG_RETURN_INT64(entry_id);
		}
	}

	credits_require_enabled("spending");
	credits_record_due_now(&acct);
	available = credits_available(&acct, scope, service);
	if (available < amount)
		credits_insufficient_in(&acct, scope, service, available, amount);

	entry_id = credits_take_from_lots_in(&acct, scope, service, "spend",
										 amount, 0,
										 PG_GETARG_DATUM(2), reference_null,
										 (Datum) 0, true);
	credits_save_account(&acct);
	if (has_key)
		credits_idem_store(account, PG_GETARG_DATUM(4), "spend", request.data,
						   entry_id);
	SPI_finish();
	PG_RETURN_INT64(entry_id);
}
