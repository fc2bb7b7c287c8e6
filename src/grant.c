/*
 * grant.c
 *	  credits_grant(): add a lot of credits to an account.
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/timestamp.h"

#include "credits.h"
#include "pricing.h"

PG_FUNCTION_INFO_V1(credits_grant);

/*
 * credits_grant(account, amount, credit_type, expires_at, reason, reference,
 *				 idempotency_key, cost, cost_currency, priority, applies_to)
 * returns the new lot's id.  cost and cost_currency (both or neither) are
 * what the client paid for the lot, its cost basis: not negative, in whole
 * minor units of the currency.  priority places the lot in spend order
 * (lower first, any int; 0 is the order of 1.0); applies_to lists the
 * services it may pay for (NULL: any).  (A database still on the 1.0
 * script calls with 7 arguments, on the 1.1 script with 9.)
 */
Datum
credits_grant(PG_FUNCTION_ARGS)
{
	Datum		account;
	Datum		credit_type;
	CreditAmount amount;
	bool		has_expiry = !PG_ARGISNULL(3);
	TimestampTz expires_at = has_expiry ? PG_GETARG_TIMESTAMPTZ(3) : 0;
	bool		reason_null = PG_ARGISNULL(4);
	bool		reference_null = PG_ARGISNULL(5);
	bool		has_key = !PG_ARGISNULL(6);
	bool		has_cost = PG_NARGS() > 7 && !PG_ARGISNULL(7);
	bool		has_cost_currency = PG_NARGS() > 8 && !PG_ARGISNULL(8);
	Datum		cost = (Datum) 0;
	Datum		cost_currency = (Datum) 0;
	int32		priority = 0;
	Datum		applies_to = (Datum) 0;
	CreditTypeInfo info;
	AccountState acct;
	StringInfoData request;
	int64		lot_id;

	credits_require_arg(fcinfo, 0, "account");
	credits_require_arg(fcinfo, 1, "amount");
	credits_require_arg(fcinfo, 2, "credit_type");
	account = PG_GETARG_DATUM(0);
	amount = PG_GETARG_CREDIT_AMOUNT(1);
	credit_type = PG_GETARG_DATUM(2);
	credits_require_account(DatumGetTextPP(account));
	credits_check_positive(amount, "amount");
	if (has_expiry)
		credits_check_finite(expires_at, "expires_at");
	if (PG_NARGS() > 9)
	{
		credits_require_arg(fcinfo, 9, "priority");
		priority = PG_GETARG_INT32(9);
		if (!PG_ARGISNULL(10))
			applies_to = credits_check_applies_to(PG_GETARG_DATUM(10));
	}
	if (has_cost != has_cost_currency)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null when %s is given",
						has_cost ? "cost_currency" : "cost",
						has_cost ? "cost" : "cost_currency"),
				 errdetail("A lot's cost basis is an amount and its currency.")));
	if (has_cost)
	{
		cost = PG_GETARG_DATUM(7);
		cost_currency = PG_GETARG_DATUM(8);
		credits_check_money(DatumGetNumeric(cost), "cost", true);
		credits_check_minor_unit(DatumGetNumeric(cost), cost_currency, "cost");
	}

	SPI_connect();
	credits_check_access(account, CREDITS_ACCESS_AGENCY);
	credits_type_info(credit_type, &info);
	credits_lock_account(&acct, account, credit_type, true);
	/* the scale as it stands once the type's lock is held (credit_types.c) */
	credits_type_info(credit_type, &info);
	credits_check_scale(amount, &info, credit_type, "amount");

	if (has_key)
	{
		initStringInfo(&request);
		credits_idem_field(&request, "grant");
		credits_idem_field(&request, TextDatumGetCString(credit_type));
		credits_idem_field(&request, credit_amount_format(amount));
		credits_idem_timestamptz(&request, !has_expiry, expires_at);
		credits_idem_field(&request, reason_null ? NULL : TextDatumGetCString(PG_GETARG_DATUM(4)));
		credits_idem_field(&request, reference_null ? NULL : TextDatumGetCString(PG_GETARG_DATUM(5)));
		/* without a cost, the request of 1.0 (whose keys stay valid) */
		if (has_cost)
		{
			credits_idem_numeric(&request, false, DatumGetNumeric(cost));
			credits_idem_field(&request, TextDatumGetCString(cost_currency));
		}
		/* likewise without a priority or services: the request of 1.1 */
		if (priority != 0 || applies_to != (Datum) 0)
		{
			if (!has_cost)
			{
				credits_idem_field(&request, NULL);
				credits_idem_field(&request, NULL);
			}
			credits_idem_field(&request, psprintf("%d", priority));
			credits_idem_field(&request, applies_to == (Datum) 0 ? NULL
							   : OidOutputFunctionCall(F_ARRAY_OUT, applies_to));
		}
		if (credits_idem_lookup(account, PG_GETARG_DATUM(6), request.data, &lot_id))
		{
			SPI_finish();
			PG_RETURN_INT64(lot_id);
		}
	}

	if (has_expiry)
		credits_check_future_expiry(expires_at);

	credits_record_due_now(&acct);
	lot_id = credits_add_lot(&acct, amount, has_expiry, expires_at,
							 PG_GETARG_DATUM(4), reason_null,
							 PG_GETARG_DATUM(5), reference_null, "grant",
							 cost, cost_currency, priority, applies_to);
	credits_save_account(&acct);
	if (has_key)
		credits_idem_store(account, PG_GETARG_DATUM(6), "grant", request.data,
						   lot_id);
	SPI_finish();
	PG_RETURN_INT64(lot_id);
}
