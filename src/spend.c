/*
 * spend.c
 *	  credits_spend(): take credits from an account's lots, soonest-expiring
 *	  first, all or nothing.
 */
#include "postgres.h"

#include "access/xact.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "credits.h"

PG_FUNCTION_INFO_V1(credits_spend);

/*
 * The whole common spend in one statement, for when the account row exists,
 * credits are enabled, the amount fits the type's scale and no expiry is
 * due (the caller has checked what it can from the configuration caches):
 * take the amount from the first lot in spend order if that lot covers it,
 * and write the account row, lot, entry, event and allocation.
 *
 * The account row is updated first, which locks it.  If the statement had
 * to wait for that lock, its snapshot is older than the row and the lots it
 * read may be stale; so the update only applies when the row's xmin is the
 * one the snapshot saw (every change to an account's lots also updates its
 * row), and re-checks the balance and expiry on the current row.  When it
 * does not apply, nothing is written.  Its result tells whether it would
 * have applied on the row its snapshot saw: then it only had to wait for the
 * lock (which it now holds), and running it again, with a newer snapshot,
 * applies; otherwise the caller takes the general path, which reports why.
 */
static CreditsStmt stmt_spend_fast = {"ttaTttiji",
	"WITH lot AS (SELECT l.lot_id, l.remaining FROM credits.lot l "
	"  WHERE l.account = $1 AND l.credit_type = $2 AND l.is_open "
	"  ORDER BY l.expires_at, l.granted_at, l.lot_id LIMIT 1), "
	"snap AS (SELECT s.xmin AS x, s.balance, s.next_expiry FROM credits.account s "
	"  WHERE s.account = $1 AND s.credit_type = $2), "
	"acc AS (UPDATE credits.account a SET balance = a.balance - $3, "
	"  last_seq = a.last_seq + 1 FROM lot "
	"  WHERE a.account = $1 AND a.credit_type = $2 AND a.balance >= $3 "
	"  AND lot.remaining >= $3 AND (a.next_expiry IS NULL OR a.next_expiry > $4) "
	"  AND a.xmin = (SELECT x FROM snap) "
	"  RETURNING a.balance, a.last_seq, a.low_threshold, lot.lot_id), "
	"upd AS (UPDATE credits.lot l SET remaining = l.remaining - $3, "
	"  is_open = l.remaining > $3 FROM acc "
	"  WHERE l.account = $1 AND l.lot_id = acc.lot_id), "
	"ent AS (INSERT INTO credits.entry (entry_id, account, credit_type, seq, "
	"  kind, amount, running_balance, reference) "
	"  SELECT $9, $1, $2, acc.last_seq, 'spend', $3, acc.balance, $5 FROM acc "
	"  RETURNING at), "
	"ev AS (INSERT INTO credits.event (id, account, at, type, aggregatetype, "
	"  aggregateid, payload, entry_id) "
	"  SELECT $7, $1, ent.at, $6, 'account', $1, "
	"  $8 || jsonb_build_object('balance', acc.balance::numeric), $9 "
	"  FROM ent, acc), "
	"al AS (INSERT INTO credits.allocation (account, entry_id, lot_id, amount) "
	"  SELECT $1, $9, acc.lot_id, $3 FROM ent, acc) "
	"SELECT (SELECT balance FROM acc), (SELECT low_threshold FROM acc), "
	"  EXISTS (SELECT 1 FROM snap, lot WHERE snap.balance >= $3 "
	"    AND lot.remaining >= $3 "
	"    AND (snap.next_expiry IS NULL OR snap.next_expiry > $4))"};

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
	Datum		values[9];
	char		nulls[9] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	CreditTypeInfo info;
	int64		event_id;
	int64		entry_id;
	bool		isnull;
	CreditAmount after;
	Datum		d;
	AccountState acct;
	EntryPayload p;
	int			attempt;

	if (!credits_enabled_now() ||
		!credits_lookup_type(TextDatumGetCString(credit_type), &info) ||
		credits_decimals(amount) > info.scale)
		return 0;
	event_id = credits_next_event_id();
	entry_id = credits_next_entry_id();

	/* the statement adds the balance after, which only it knows */
	p.account = account;
	p.credit_type = credit_type;
	p.entry_id = entry_id;
	p.kind = "spend";
	p.amount = amount;
	p.balance = 0;
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
	values[3] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	values[4] = reference;
	if (reference_null)
		nulls[4] = 'n';
	values[5] = CStringGetTextDatum("account.credits.spent");
	values[6] = Int64GetDatum(event_id);
	values[7] = credits_entry_payload(&p);
	values[8] = Int64GetDatum(entry_id);
	for (attempt = 0;; attempt++)
	{
		credits_run(&stmt_spend_fast, values, nulls, false, 1);
		d = credits_col(0, 1, &isnull);
		if (!isnull)
			break;
		/* not applied: retry once if only the lock wait stood in the way */
		if (attempt > 0 || !DatumGetBool(credits_col(0, 3, &isnull)))
			return 0;
	}
	after = DatumGetCreditAmount(d);
	credits_notify_event(event_id, "account.credits.spent");

	/* balance_depleted and low_balance need the account's figures */
	memset(&acct, 0, sizeof(acct));
	acct.account = account;
	acct.credit_type = credit_type;
	acct.exists = true;
	acct.balance = after;
	d = credits_col(0, 2, &isnull);
	acct.has_low_threshold = !isnull;
	acct.low_threshold = isnull ? 0 : DatumGetCreditAmount(d);
	credits_balance_events(&acct, credit_amount_add(after, amount), entry_id);
	return entry_id;
}

/*
 * credits_spend(account, amount, reference, credit_type, idempotency_key)
 * returns the spend entry's id.
 */
Datum
credits_spend(PG_FUNCTION_ARGS)
{
	Datum		account;
	Datum		credit_type;
	CreditAmount amount;
	bool		reference_null = PG_ARGISNULL(2);
	bool		has_key = !PG_ARGISNULL(4);
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
	if (acct.exists)
		info.scale = acct.type_scale;
	else
		credits_type_info(credit_type, &info);
	credits_check_scale(amount, &info, credit_type, "amount");

	if (has_key)
	{
		initStringInfo(&request);
		credits_idem_field(&request, "spend");
		credits_idem_field(&request, TextDatumGetCString(credit_type));
		credits_idem_field(&request, credit_amount_format(amount));
		credits_idem_field(&request, reference_null ? NULL : TextDatumGetCString(PG_GETARG_DATUM(2)));
		if (credits_idem_lookup(account, PG_GETARG_DATUM(4), request.data, &entry_id))
		{
			SPI_finish();
			PG_RETURN_INT64(entry_id);
		}
	}

	if (acct.exists ? acct.disabled : credits_enabled_now() == false)
		credits_disabled_error("spending");
	credits_record_due_now(&acct);
	if (!acct.exists || acct.balance < amount)
		credits_insufficient(&acct, acct.exists ? acct.balance : 0, amount);

	entry_id = credits_take_from_lots(&acct, "spend", amount, 0,
									  PG_GETARG_DATUM(2), reference_null,
									  (Datum) 0, true);
	credits_save_account(&acct);
	if (has_key)
		credits_idem_store(account, PG_GETARG_DATUM(4), "spend", request.data,
						   entry_id);
	SPI_finish();
	PG_RETURN_INT64(entry_id);
}
