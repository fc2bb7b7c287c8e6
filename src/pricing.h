/*
 * pricing.h
 *	  Money and credits: currency codes and their minor units, the rate in
 *	  force, and exact conversions between prices and credit amounts.  Shared
 *	  by convert.c (rates, credits_convert), pay.c and purchase.c.
 */
#ifndef CREDITS_PRICING_H
#define CREDITS_PRICING_H

#include "postgres.h"

#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "credits.h"

/*
 * Check a currency code (three upper-case letters, 22023) and return the
 * number of decimal places of its minor unit (2 unless ISO 4217 says
 * otherwise).
 */
extern int	credits_currency_minor_unit(Datum currency);

/* A money amount must be a finite number, not negative (22023). */
extern void credits_check_money(Numeric value, const char *what,
								bool allow_zero);

/*
 * A money amount must be in whole minor units of its currency (22023, also
 * for a bad currency code).
 */
extern void credits_check_minor_unit(Numeric value, Datum currency,
									 const char *what);

/*
 * Credits one unit of currency buys at at: 1 for a monetary credit type in
 * its own currency, else the rate in force (CR004 if none).
 */
extern Numeric credits_rate_at(Datum currency, Datum credit_type,
							   const CreditTypeInfo *info, TimestampTz at);

/* price x rate, rounded up to scale decimals (22003 beyond the range). */
extern CreditAmount credits_money_to_credits(Numeric price, Numeric rate,
											 int scale);

/* What credits are worth at rate, rounded down to minor_unit decimals. */
extern Numeric credits_credits_to_money(CreditAmount credits, Numeric rate,
										int minor_unit);

/* Numeric helpers */
extern Numeric credits_pow10(int exponent);
extern int	credits_numeric_cmp(Numeric a, Numeric b);

#endif							/* CREDITS_PRICING_H */
