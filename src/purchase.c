/*
 * purchase.c
 *	  The ledger side of purchases, for the SQL that handles packages and
 *	  credit requests: a grant that records its cost basis, and the agency
 *	  switch check.  Both are internal (schema credits, no PUBLIC execute).
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "credits.h"
#include "pricing.h"

PG_FUNCTION_INFO_V1(credits_pricing_grant_lot);
PG_FUNCTION_INFO_V1(credits_pricing_require_enabled);
PG_FUNCTION_INFO_V1(credits_pricing_check_credits);

/*
 * credits.grant_purchased_lot(account, amount, credit_type, expires_at,
 *							   reason, reference, cost, cost_currency)
 * returns the new lot's id.  The lot's source is 'purchase' and cost /
 * cost_currency are what the client paid, its cost basis.  A caller that
 * also locks a credit request row locks it before calling this (request
 * first, then account).
 */
Datum
credits_pricing_grant_lot(PG_FUNCTION_ARGS)
{
	Datum		account;
	Datum		credit_type;
	CreditAmount amount;
	bool		has_expiry = !PG_ARGISNULL(3);
	TimestampTz expires_at = has_expiry ? PG_GETARG_TIMESTAMPTZ(3) : 0;
	CreditTypeInfo info;
	AccountState acct;
	int64		lot_id;

	credits_require_arg(fcinfo, 0, "account");
	credits_require_arg(fcinfo, 1, "amount");
	credits_require_arg(fcinfo, 2, "credit_type");
	credits_require_arg(fcinfo, 6, "cost");
	credits_require_arg(fcinfo, 7, "cost_currency");
	account = PG_GETARG_DATUM(0);
	amount = PG_GETARG_CREDIT_AMOUNT(1);
	credit_type = PG_GETARG_DATUM(2);
	credits_require_account(DatumGetTextPP(account));
	credits_check_positive(amount, "credits");
	credits_check_money(PG_GETARG_NUMERIC(6), "cost", true);
	credits_currency_minor_unit(PG_GETARG_DATUM(7));
	if (has_expiry)
		credits_check_future_expiry(expires_at);

	SPI_connect();
	credits_type_info(credit_type, &info);
	credits_check_scale(amount, &info, credit_type, "credits");
	credits_lock_account(&acct, account, credit_type, true);
	credits_record_due_now(&acct);
	lot_id = credits_add_lot(&acct, amount, has_expiry, expires_at,
							 PG_GETARG_DATUM(4), PG_ARGISNULL(4),
							 PG_GETARG_DATUM(5), PG_ARGISNULL(5),
							 "purchase", PG_GETARG_DATUM(6),
							 PG_GETARG_DATUM(7), 0, (Datum) 0);
	credits_save_account(&acct);
	SPI_finish();
	PG_RETURN_INT64(lot_id);
}

/*
 * credits.pricing_require_enabled(action): CR002 while the agency switch is
 * off, with the ledger's own message.
 */
Datum
credits_pricing_require_enabled(PG_FUNCTION_ARGS)
{
	credits_require_arg(fcinfo, 0, "action");
	SPI_connect();
	credits_require_enabled(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * credits.check_credits(amount, credit_type, what): an amount of credits a
 * package or request carries must be positive and at the type's scale, with
 * the ledger's own messages (42704 for an unknown type, else 22023).
 */
Datum
credits_pricing_check_credits(PG_FUNCTION_ARGS)
{
	char	   *what;
	CreditTypeInfo info;

	credits_require_arg(fcinfo, 2, "what");
	what = text_to_cstring(PG_GETARG_TEXT_PP(2));
	credits_require_arg(fcinfo, 0, what);
	credits_require_arg(fcinfo, 1, "credit_type");
	SPI_connect();
	credits_type_info(PG_GETARG_DATUM(1), &info);
	credits_check_positive(PG_GETARG_CREDIT_AMOUNT(0), what);
	credits_check_scale(PG_GETARG_CREDIT_AMOUNT(0), &info, PG_GETARG_DATUM(1),
						what);
	SPI_finish();
	PG_RETURN_VOID();
}
