/*
 * pay.c
 *	  credits_pay(): pay an invoice in money with an account's credits, all
 *	  or nothing, or partially with whatever the account has.
 */
#include "postgres.h"

#include "access/xact.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/numeric.h"

#include "credits.h"
#include "pricing.h"

PG_FUNCTION_INFO_V1(credits_pay);

/* The jsonb of a payment's result row, kept with its idempotency key. */
static Datum
credits_pay_result_row(CreditAmount applied, Numeric covered, Numeric due)
{
	char	   *json;

	json = psprintf("{\"credits_applied\": %s, \"amount_covered\": %s, \"amount_due\": %s}",
					credit_amount_format(applied),
					DatumGetCString(DirectFunctionCall1(numeric_out,
														NumericGetDatum(covered))),
					DatumGetCString(DirectFunctionCall1(numeric_out,
														NumericGetDatum(due))));
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
}

/*
 * credits_pay(account, amount, currency, reference, partial, credit_type,
 * idempotency_key) returns one row (credits_applied, amount_covered,
 * amount_due, entry_id); entry_id is the spend entry, NULL when nothing was
 * applied.  (A database still on the 1.0 script calls with 6 arguments and
 * expects the first three columns.)
 *
 * The invoice needs credits_convert(amount) credits at the rate in force
 * now.  A partial payment covers the money the available credits are worth,
 * rounded down to the currency's minor unit, and takes only the credits
 * that covered amount costs (rounded up to the type's scale, so never more
 * than available): a remainder worth less than one minor unit stays on the
 * account instead of being taken for nothing.  Nothing available applies
 * nothing and writes no entry.
 *
 * With an idempotency key, the key is claimed under the account lock
 * (credits_idem_claim): a payment that applies nothing may find no account
 * row to lock, so the key's own row serializes calls with that key.  A
 * repeated call returns the first call's row, kept as jsonb with the key.
 */
Datum
credits_pay(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		account;
	Numeric		amount;
	Datum		currency;
	Datum		reference;
	bool		partial;
	Datum		credit_type;
	int			minor_unit;
	CreditTypeInfo info;
	AccountState acct;
	Numeric		rate;
	CreditAmount required;
	CreditAmount available;
	CreditAmount applied;
	Numeric		covered;
	Numeric		due;
	bool		has_key = PG_NARGS() > 6 && !PG_ARGISNULL(6);
	StringInfoData request;
	int64		entry_id = 0;
	Datum		result[4];
	bool		result_null[4] = {false, false, false, false};

	credits_require_arg(fcinfo, 0, "account");
	credits_require_arg(fcinfo, 1, "amount");
	credits_require_arg(fcinfo, 2, "currency");
	credits_require_arg(fcinfo, 3, "reference");
	credits_require_arg(fcinfo, 4, "partial");
	credits_require_arg(fcinfo, 5, "credit_type");
	account = PG_GETARG_DATUM(0);
	amount = PG_GETARG_NUMERIC(1);
	currency = PG_GETARG_DATUM(2);
	reference = PG_GETARG_DATUM(3);
	partial = PG_GETARG_BOOL(4);
	credit_type = PG_GETARG_DATUM(5);
	credits_require_account(DatumGetTextPP(account));
	credits_check_money(amount, "amount", false);
	minor_unit = credits_currency_minor_unit(currency);

	InitMaterializedSRF(fcinfo, 0);

	SPI_connect();
	credits_check_access(account, CREDITS_ACCESS_CLIENT);
	credits_type_info(credit_type, &info);
	rate = credits_rate_at(currency, credit_type, &info,
						   GetCurrentTransactionStartTimestamp());
	required = credits_money_to_credits(amount, rate, info.scale);

	credits_lock_account(&acct, account, credit_type, false);
	if (has_key)
	{
		int64		first_entry;
		bool		first_entry_null;
		Datum		row;
		bool		row_null;
		CreditAmount first_applied;

		initStringInfo(&request);
		credits_idem_field(&request, "pay");
		credits_idem_field(&request, TextDatumGetCString(credit_type));
		credits_idem_numeric(&request, false, amount);
		credits_idem_field(&request, TextDatumGetCString(currency));
		credits_idem_field(&request, TextDatumGetCString(reference));
		credits_idem_field(&request, partial ? "t" : "f");
		if (credits_idem_claim(account, PG_GETARG_DATUM(6), "pay", request.data,
							   &first_entry, &first_entry_null, &row, &row_null))
		{
			if (row_null)
				elog(ERROR, "credits: idempotency key of a payment has no result row");
			credit_amount_parse(credits_idem_row_field(row, "credits_applied"),
								&first_applied, true);
			result[0] = CreditAmountGetDatum(first_applied);
			result[1] = DirectFunctionCall3(numeric_in,
											CStringGetDatum(credits_idem_row_field(row, "amount_covered")),
											ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
			result[2] = DirectFunctionCall3(numeric_in,
											CStringGetDatum(credits_idem_row_field(row, "amount_due")),
											ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
			result[3] = Int64GetDatum(first_entry);
			result_null[3] = first_entry_null;
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, result,
								 result_null);
			SPI_finish();
			return (Datum) 0;
		}
	}
	credits_require_enabled("paying");
	credits_record_due_now(&acct);
	/* an invoice names no service: only lots that any service may use */
	available = credits_available(&acct, LOTS_UNRESTRICTED, (Datum) 0);

	if (available >= required)
	{
		applied = required;
		covered = amount;
	}
	else if (!partial)
		credits_insufficient(&acct, available, required);
	else
	{
		covered = credits_credits_to_money(available, rate, minor_unit);
		applied = credits_money_to_credits(covered, rate, info.scale);
		/*
		 * Rounding up to the scale never passes what is available while
		 * the balance is at the scale, which a scale that cannot change
		 * under existing lots guarantees.  A balance finer than its scale
		 * (a ledger edited by hand) would take more than the lots hold.
		 */
		if (applied > available)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("balance of account \"%s\" is finer than the scale of credit type \"%s\"",
							TextDatumGetCString(account),
							TextDatumGetCString(credit_type)),
					 errdetail("%s credits are available; covering %s %s takes %s.",
							   credit_amount_format(available),
							   DatumGetCString(DirectFunctionCall1(numeric_out,
																   NumericGetDatum(covered))),
							   TextDatumGetCString(currency),
							   credit_amount_format(applied)),
					 errhint("credits_verify() lists the amounts finer than their scale.")));
	}
	due = DatumGetNumeric(DirectFunctionCall2(numeric_sub,
											  NumericGetDatum(amount),
											  NumericGetDatum(covered)));

	if (applied > 0)
	{
		char	   *reason;

		reason = psprintf("invoice payment: %s of %s %s",
						  DatumGetCString(DirectFunctionCall1(numeric_out,
															  NumericGetDatum(covered))),
						  DatumGetCString(DirectFunctionCall1(numeric_out,
															  NumericGetDatum(amount))),
						  TextDatumGetCString(currency));
		entry_id = credits_take_from_lots(&acct, "spend", applied, 0, reference,
										  false, CStringGetTextDatum(reason),
										  false);
	}
	/* (also when nothing was applied: due expirations may be recorded) */
	if (acct.exists)
		credits_save_account(&acct);
	if (has_key)
		credits_idem_finish(account, PG_GETARG_DATUM(6), entry_id, applied == 0,
							credits_pay_result_row(applied, covered, due));

	/* The tuplestore copies the values out of SPI's memory. */
	result[0] = CreditAmountGetDatum(applied);
	result[1] = NumericGetDatum(covered);
	result[2] = NumericGetDatum(due);
	result[3] = Int64GetDatum(entry_id);
	result_null[3] = applied == 0;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, result,
						 result_null);
	SPI_finish();
	return (Datum) 0;
}
