/*
 * spend.c
 *	  credits_spend(): take credits from an account's lots, soonest-expiring
 *	  first, all or nothing.
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "credits.h"

PG_FUNCTION_INFO_V1(credits_spend);

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
