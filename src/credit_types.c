/*
 * credit_types.c
 *	  A credit type's scale (and currency) cannot change while anything of
 *	  that type exists — lots, rules, packages, subscriptions, holds, pending
 *	  credit requests — not even something a transaction is still creating.
 *
 *	  credits_define_type() takes the type's advisory lock exclusively before
 *	  it checks (credits.type_in_use); everything that creates amounts of a
 *	  type takes the same lock shared before it reads the scale: grants,
 *	  issues, purchases and subscriptions in the statement that creates the
 *	  account row (ledger.c), grant_many, rules and packages here.  A shared
 *	  lock is released at commit, after the change is visible, so the check
 *	  sees every creator that came first; a creator that comes after waits
 *	  for the change, then reads the new scale (the type cache reads pending
 *	  invalidations at every look-up, and define_type's is sent before its
 *	  lock is released).  Spends, holds and payments take no lock: they move
 *	  credits of lots that exist, which already keep the scale fixed.
 */
#include "postgres.h"

#include "utils/builtins.h"

#include "credits.h"

/* The key is the one credits_define_type() and ledger.c use. */
static CreditsStmt stmt_type_lock_shared = {"t",
		"SELECT pg_advisory_xact_lock_shared(hashtext('credits.credit_type'), hashtext($1))"};

/*
 * What of the type exists, first kind found, or no row.  Run under a
 * snapshot taken now (a REPEATABLE READ define_type must still see what
 * committed while it waited for the lock) that also sees the caller's own
 * changes.  (SELECT 1, not SELECT: distributed, Citus plans each EXISTS
 * as an intermediate result, which it cannot read without a column.)
 */
static CreditsStmt stmt_type_in_use = {"t",
		"SELECT 'Lots' WHERE EXISTS (SELECT 1 FROM credits.lot WHERE credit_type = $1) "
		"UNION ALL SELECT 'Rules' WHERE EXISTS "
		"  (SELECT 1 FROM credits.rule WHERE credit_type = $1) "
		"UNION ALL SELECT 'Packages' WHERE EXISTS "
		"  (SELECT 1 FROM credits.package WHERE credit_type = $1) "
		"UNION ALL SELECT 'Subscriptions' WHERE EXISTS "
		"  (SELECT 1 FROM credits.subscription WHERE credit_type = $1) "
		"UNION ALL SELECT 'Holds' WHERE EXISTS "
		"  (SELECT 1 FROM credits.hold WHERE credit_type = $1) "
		"UNION ALL SELECT 'Pending credit requests' WHERE EXISTS "
		"  (SELECT 1 FROM credits.request WHERE credit_type = $1 AND status = 'pending') "
		"LIMIT 1"};

PG_FUNCTION_INFO_V1(credits_lock_type_sql);
PG_FUNCTION_INFO_V1(credits_type_in_use);

/*
 * Take the type's lock shared, then read its scale and currency (42704 for
 * an unknown type): a scale read after the lock is the one in force until
 * the caller's transaction ends.
 */
void
credits_lock_type(Datum credit_type, CreditTypeInfo *info)
{
	credits_run(&stmt_type_lock_shared, &credit_type, NULL, false, 0);
	credits_type_info(credit_type, info);
}

/* credits.lock_type(code): credits_lock_type() for SQL; returns the scale. */
Datum
credits_lock_type_sql(PG_FUNCTION_ARGS)
{
	CreditTypeInfo info;

	credits_require_arg(fcinfo, 0, "credit_type");
	SPI_connect();
	credits_lock_type(PG_GETARG_DATUM(0), &info);
	SPI_finish();
	PG_RETURN_INT32(info.scale);
}

/*
 * credits.type_in_use(code): what of the type exists ('Lots', 'Rules',
 * ...), or NULL when nothing does.  The caller holds the type's lock
 * exclusively.
 */
Datum
credits_type_in_use(PG_FUNCTION_ARGS)
{
	Datum		code;
	text	   *what = NULL;

	credits_require_arg(fcinfo, 0, "code");
	code = PG_GETARG_DATUM(0);
	SPI_connect();
	credits_run_latest(&stmt_type_in_use, &code, NULL, 1);
	if (SPI_processed > 0)
	{
		bool		isnull;

		what = (text *) SPI_datumTransfer(credits_col(0, 1, &isnull), false, -1);
	}
	SPI_finish();
	if (what == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(what);
}
