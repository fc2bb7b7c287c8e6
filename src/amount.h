/*
 * amount.h
 *	  The credit_amount type: an exact, fixed-point count of millionths held
 *	  in an int64.  Shared by the type's own file and the ledger code.
 */
#ifndef CREDITS_AMOUNT_H
#define CREDITS_AMOUNT_H

#include "postgres.h"
#include "fmgr.h"

#include "compat.h"

typedef int64 CreditAmount;

/* millionths per whole credit */
#define CREDIT_AMOUNT_SCALE			INT64CONST(1000000)
#define CREDIT_AMOUNT_DECIMALS		6

#define DatumGetCreditAmount(X)		((CreditAmount) DatumGetInt64(X))
#define CreditAmountGetDatum(X)		Int64GetDatum(X)
#define PG_GETARG_CREDIT_AMOUNT(n)	DatumGetCreditAmount(PG_GETARG_DATUM(n))
#define PG_RETURN_CREDIT_AMOUNT(x)	return CreditAmountGetDatum(x)

/*
 * Format an amount the way the type's output function does ("35.1", "36",
 * "-0.000001"), into a palloc'd string.  Used by error messages.
 */
extern char *credit_amount_format(CreditAmount value);

/* Checked arithmetic: ereport 22003 on overflow. */
extern CreditAmount credit_amount_add(CreditAmount a, CreditAmount b);
extern CreditAmount credit_amount_sub(CreditAmount a, CreditAmount b);
extern CreditAmount credit_amount_mul_int(CreditAmount a, int64 factor);

/*
 * Parse the type's text form ("12", "-0.5", " +12.50 ") into *result.  With
 * raise_error, a bad input is reported exactly as the input function reports
 * it (22P02 or 22003) and the function only returns true; without it, any bad
 * input makes it return false and leave *result untouched.
 */
extern bool credit_amount_parse(const char *str, CreditAmount *result,
								bool raise_error);

#endif							/* CREDITS_AMOUNT_H */
