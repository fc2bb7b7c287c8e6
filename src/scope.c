/*
 * scope.c
 *	  Priorities and service-scoped credits (1.2): checking the services a
 *	  lot may pay for (applies_to) and the service of a spend, and what a
 *	  movement may take when some of an account's lots are restricted to
 *	  services.  Spend order itself (priority first) is in the statements of
 *	  ledger.c and spend.c.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "credits.h"

/*
 * The remainders of the open restricted lots of $1 (account), $2 (credit
 * type) that a movement for the service $3 may not take: those that do not
 * apply to it, or every one for a movement without a service ($3 NULL).
 * Index lot_scoped_order: the account's restricted lots only.
 */
static CreditsStmt stmt_out_of_scope = {"ttt",
		"SELECT coalesce(sum(remaining), 0) FROM credits.lot "
		"WHERE account = $1 AND credit_type = $2 AND is_open "
		"AND applies_to IS NOT NULL "
		"AND ($3::text IS NULL OR NOT $3 = ANY (applies_to))"};

static CreditsStmt stmt_mark_scoped = {"tt",
		"UPDATE credits.account SET scoped = true "
		"WHERE account = $1 AND credit_type = $2"};

/*
 * The services a lot may pay for: a one-dimensional, non-empty array of
 * distinct, non-empty names (NULL, checked by the caller, means any
 * service).  Returns it as a plain array (lower bound 1) to store.
 */
Datum
credits_check_applies_to(Datum applies_to)
{
	ArrayType  *arr = DatumGetArrayTypeP(applies_to);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;
	int			j;

	if (ARR_NDIM(arr) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("applies_to must not be empty"),
				 errhint("List the services the lot may pay for, or pass NULL for any service.")));
	if (ARR_NDIM(arr) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("applies_to must be a one-dimensional array"),
				 errdetail("The value given has %d dimensions.", ARR_NDIM(arr))));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	for (i = 0; i < n; i++)
	{
		text	   *t;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("applies_to must not contain NULL"),
					 errdetail("Element %d is NULL.", i + 1)));
		t = DatumGetTextPP(elems[i]);
		if (VARSIZE_ANY_EXHDR(t) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("applies_to must not contain an empty service"),
					 errdetail("Element %d is the empty string.", i + 1)));
		for (j = 0; j < i; j++)
		{
			text	   *u = DatumGetTextPP(elems[j]);

			if (VARSIZE_ANY_EXHDR(u) == VARSIZE_ANY_EXHDR(t) &&
				memcmp(VARDATA_ANY(u), VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("service \"%s\" appears more than once in applies_to",
								text_to_cstring(t)),
						 errdetail("Elements %d and %d are equal.", j + 1, i + 1)));
		}
	}
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false,
										   TYPALIGN_INT));
}

/* The service of a spend or a balance: NULL (checked by the caller) or a name. */
void
credits_check_service(Datum service)
{
	if (VARSIZE_ANY_EXHDR(DatumGetTextPP(service)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("service must not be empty"),
				 errhint("Name the service the credits pay for, or pass NULL for none.")));
}

/*
 * What a movement in scope may take from the account (locked, its due
 * expirations recorded): its balance, less what lots restricted to other
 * services hold.  Without restricted lots (not scoped), the balance, read
 * from the account row alone, as before services existed.
 */
CreditAmount
credits_available(AccountState *acct, LotScope scope, Datum service)
{
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};

	if (!acct->exists)
		return 0;
	if (!acct->scoped || scope == LOTS_ALL)
		return acct->balance;
	values[0] = acct->account;
	values[1] = acct->credit_type;
	values[2] = service;
	if (scope == LOTS_UNRESTRICTED)
		nulls[2] = 'n';
	credits_run(&stmt_out_of_scope, values, nulls, false, 1);
	return credit_amount_sub(acct->balance, credits_col_amount(0, 1));
}

/*
 * The account (locked) gets a lot restricted to services: from now on its
 * spends count what they may take (the fast path of credits_spend() only
 * serves accounts that are not scoped).
 */
void
credits_mark_scoped(AccountState *acct)
{
	Datum		values[2];

	if (acct->scoped)
		return;
	values[0] = acct->account;
	values[1] = acct->credit_type;
	credits_run(&stmt_mark_scoped, values, NULL, false, 0);
	if (SPI_processed != 1)
		elog(ERROR, "credits: account row of a restricted lot not found");
	acct->scoped = true;
}
