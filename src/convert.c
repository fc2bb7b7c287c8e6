/*
 * convert.c
 *	  Money to credits: currency codes and their minor units, the conversion
 *	  rate in force, and credits_convert(), which prices exactly in numeric
 *	  and rounds up to the credit type's smallest unit.  Never float.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/numeric.h"

#include "credits.h"
#include "pricing.h"

PG_FUNCTION_INFO_V1(credits_convert);
PG_FUNCTION_INFO_V1(credits_rate);
PG_FUNCTION_INFO_V1(credits_pricing_minor_unit);
PG_FUNCTION_INFO_V1(credits_pricing_check_money);

/*
 * Rates form one chain per (currency, credit type), unique on
 * effective_from: the rate in force at t is the latest that took effect at
 * or before t, so two rates can never be in force at once.  Backends cache
 * the chains (config.c).
 */

/*
 * ISO 4217 currencies whose minor unit is not the cent.  Every other code
 * counts in hundredths.
 */
typedef struct MinorUnit
{
	const char *code;
	int			decimals;
} MinorUnit;

static const MinorUnit minor_unit_exceptions[] = {
	{"BHD", 3}, {"BIF", 0}, {"CLF", 4}, {"CLP", 0}, {"DJF", 0}, {"GNF", 0},
	{"IQD", 3}, {"ISK", 0}, {"JOD", 3}, {"JPY", 0}, {"KMF", 0}, {"KRW", 0},
	{"KWD", 3}, {"LYD", 3}, {"OMR", 3}, {"PYG", 0}, {"RWF", 0}, {"TND", 3},
	{"UGX", 0}, {"UYI", 0}, {"UYW", 4}, {"VND", 0}, {"VUV", 0}, {"XAF", 0},
	{"XOF", 0}, {"XPF", 0}
};

int
credits_currency_minor_unit(Datum currency)
{
	text	   *t = DatumGetTextPP(currency);
	const char *s = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);
	int			i;

	if (len != 3 ||
		s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' ||
		s[2] < 'A' || s[2] > 'Z')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid currency code \"%s\"", text_to_cstring(t)),
				 errdetail("A currency is a three-letter ISO 4217 code such as USD.")));
	for (i = 0; i < lengthof(minor_unit_exceptions); i++)
		if (memcmp(minor_unit_exceptions[i].code, s, 3) == 0)
			return minor_unit_exceptions[i].decimals;
	return 2;
}

Numeric
credits_pow10(int exponent)
{
	char		buf[16];

	snprintf(buf, sizeof(buf), "1e%d", exponent);
	return DatumGetNumeric(DirectFunctionCall3(numeric_in,
											   CStringGetDatum(buf),
											   ObjectIdGetDatum(InvalidOid),
											   Int32GetDatum(-1)));
}

int
credits_numeric_cmp(Numeric a, Numeric b)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(a),
											 NumericGetDatum(b)));
}

static char *
numeric_cstring(Numeric n)
{
	return DatumGetCString(DirectFunctionCall1(numeric_out,
											   NumericGetDatum(n)));
}

void
credits_check_money(Numeric value, const char *what, bool allow_zero)
{
	int			sign;

	if (numeric_is_nan(value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a number", what),
				 errdetail("The value given was NaN.")));
	if (numeric_is_inf(value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be finite", what),
				 errdetail("The value given was %s.", numeric_cstring(value))));
	sign = credits_numeric_cmp(value, int64_to_numeric(0));
	if (sign < 0 || (sign == 0 && !allow_zero))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg(allow_zero ? "%s must not be negative"
						: "%s must be greater than zero", what),
				 errdetail("The value given was %s.", numeric_cstring(value))));
}

/*
 * A money amount a client pays must be in whole minor units of its currency
 * (49.999 USD cannot be charged): 22023 otherwise, and for a bad currency.
 */
void
credits_check_minor_unit(Numeric value, Datum currency, const char *what)
{
	int			minor_unit = credits_currency_minor_unit(currency);
	Numeric		whole;

	whole = DatumGetNumeric(DirectFunctionCall2(numeric_trunc,
												NumericGetDatum(value),
												Int32GetDatum(minor_unit)));
	if (credits_numeric_cmp(whole, value) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s %s is finer than the minor unit of %s", what,
						numeric_cstring(value), TextDatumGetCString(currency)),
				 errdetail("%s counts in units of %s.", TextDatumGetCString(currency),
						   numeric_cstring(credits_pow10(-minor_unit)))));
}

/*
 * The returned numeric lives in the current memory context.
 */
Numeric
credits_rate_at(Datum currency, Datum credit_type, const CreditTypeInfo *info,
				TimestampTz at)
{
	Numeric		rate;

	if (info->has_currency &&
		strcmp(info->currency, TextDatumGetCString(currency)) == 0)
		return int64_to_numeric(1);

	if (!credits_lookup_rate(TextDatumGetCString(currency),
							 TextDatumGetCString(credit_type), at, &rate))
		ereport(ERROR,
				(errcode(ERRCODE_CREDITS_NO_RATE),
				 errmsg("no conversion rate in force from %s to credit type \"%s\"",
						TextDatumGetCString(currency),
						TextDatumGetCString(credit_type)),
				 errhint("Set one with credits_set_rate().")));
	return rate;
}

/*
 * price x rate in exact numeric arithmetic, rounded up to the type's
 * smallest unit: a client never gets a fraction of a unit for free.
 */
CreditAmount
credits_money_to_credits(Numeric price, Numeric rate, int scale)
{
	Numeric		product;
	Numeric		units;
	int64		unit = 1;
	int			i;

	for (i = scale; i < CREDIT_AMOUNT_DECIMALS; i++)
		unit *= 10;
	product = DatumGetNumeric(DirectFunctionCall2(numeric_mul,
												  NumericGetDatum(price),
												  NumericGetDatum(rate)));
	units = DatumGetNumeric(DirectFunctionCall2(numeric_mul,
												NumericGetDatum(product),
												NumericGetDatum(credits_pow10(scale))));
	units = DatumGetNumeric(DirectFunctionCall1(numeric_ceil,
												NumericGetDatum(units)));
	if (credits_numeric_cmp(units, int64_to_numeric(PG_INT64_MAX / unit)) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("converted amount is out of range for type credit_amount"),
				 errdetail("%s at %s credits per unit exceeds the largest credit_amount, %s.",
						   numeric_cstring(price), numeric_cstring(rate),
						   credit_amount_format(PG_INT64_MAX))));
	return DatumGetInt64(DirectFunctionCall1(numeric_int8,
											 NumericGetDatum(units))) * unit;
}

/*
 * credits / rate, rounded down to the currency's minor unit with an exact
 * integer division: credits never cover more money than they are worth.
 */
Numeric
credits_credits_to_money(CreditAmount credits, Numeric rate, int minor_unit)
{
	Numeric		value;
	Numeric		minor_units;

	/* credits in minor units of money times rate: millionths x 10^(minor-6) */
	value = DatumGetNumeric(DirectFunctionCall2(numeric_mul,
												NumericGetDatum(int64_to_numeric(credits)),
												NumericGetDatum(credits_pow10(minor_unit - CREDIT_AMOUNT_DECIMALS))));
	minor_units = DatumGetNumeric(DirectFunctionCall2(numeric_div_trunc,
													  NumericGetDatum(value),
													  NumericGetDatum(rate)));
	return DatumGetNumeric(DirectFunctionCall2(numeric_mul,
											   NumericGetDatum(minor_units),
											   NumericGetDatum(credits_pow10(-minor_unit))));
}

/*
 * credits_convert(price, currency, credit_type, at) returns credit_amount:
 * what a price buys, rounded up to the type's scale.
 */
Datum
credits_convert(PG_FUNCTION_ARGS)
{
	Numeric		price;
	Datum		currency;
	Datum		credit_type;
	TimestampTz at;
	CreditTypeInfo info;
	Numeric		rate;
	CreditAmount result;

	credits_require_arg(fcinfo, 0, "price");
	credits_require_arg(fcinfo, 1, "currency");
	credits_require_arg(fcinfo, 2, "credit_type");
	credits_require_arg(fcinfo, 3, "at");
	price = PG_GETARG_NUMERIC(0);
	currency = PG_GETARG_DATUM(1);
	credit_type = PG_GETARG_DATUM(2);
	at = PG_GETARG_TIMESTAMPTZ(3);
	credits_check_finite(at, "at");
	credits_check_money(price, "price", true);
	credits_currency_minor_unit(currency);
	/* The price list is the agency's: a portal pays with credits_pay. */
	SPI_connect();
	credits_check_access((Datum) 0, CREDITS_ACCESS_AGENCY);
	SPI_finish();

	credits_type_info(credit_type, &info);
	rate = credits_rate_at(currency, credit_type, &info, at);
	result = credits_money_to_credits(price, rate, info.scale);
	PG_RETURN_CREDIT_AMOUNT(result);
}

/*
 * credits_rate(currency, credit_type, at) returns numeric: credits per unit
 * of currency in force at at (1 for a monetary type in its own currency).
 */
Datum
credits_rate(PG_FUNCTION_ARGS)
{
	Datum		currency;
	Datum		credit_type;
	CreditTypeInfo info;
	Datum		rate;

	credits_require_arg(fcinfo, 0, "currency");
	credits_require_arg(fcinfo, 1, "credit_type");
	credits_require_arg(fcinfo, 2, "at");
	currency = PG_GETARG_DATUM(0);
	credit_type = PG_GETARG_DATUM(1);
	credits_check_finite(PG_GETARG_TIMESTAMPTZ(2), "at");
	credits_currency_minor_unit(currency);

	SPI_connect();
	credits_check_access((Datum) 0, CREDITS_ACCESS_AGENCY);
	credits_type_info(credit_type, &info);
	rate = NumericGetDatum(credits_rate_at(currency, credit_type, &info,
										   PG_GETARG_TIMESTAMPTZ(2)));
	rate = SPI_datumTransfer(rate, false, -1);
	SPI_finish();
	PG_RETURN_DATUM(rate);
}

/*
 * credits.currency_minor_unit(currency): decimal places of the currency's
 * minor unit; 22023 for a malformed code.  Lets SQL share the list above.
 */
Datum
credits_pricing_minor_unit(PG_FUNCTION_ARGS)
{
	credits_require_arg(fcinfo, 0, "currency");
	PG_RETURN_INT32(credits_currency_minor_unit(PG_GETARG_DATUM(0)));
}

/*
 * credits.check_money(value, what, allow_zero): the money checks above, for
 * the SQL that defines rates, packages and tiers.
 */
Datum
credits_pricing_check_money(PG_FUNCTION_ARGS)
{
	char	   *what;

	credits_require_arg(fcinfo, 1, "what");
	what = text_to_cstring(PG_GETARG_TEXT_PP(1));
	credits_require_arg(fcinfo, 0, what);
	credits_check_money(PG_GETARG_NUMERIC(0), what,
						!PG_ARGISNULL(2) && PG_GETARG_BOOL(2));
	PG_RETURN_VOID();
}
