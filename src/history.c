/*
 * history.c
 *	  Reading an account's history: credits_history() (every movement, oldest
 *	  first) and credits_history_page() (keyset pages of it, as a client
 *	  portal shows them).  The common read path of a portal, so it is C: one
 *	  index range scan per call.
 */
#include "postgres.h"

#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "credits.h"

PG_FUNCTION_INFO_V1(credits_history);
PG_FUNCTION_INFO_V1(credits_history_page);

/* Exactly the result columns, so that rows go to the result as they are. */
/* (The two sides of a transfer show as kind "transfer": credits_kind_label.) */
#define HISTORY_COLUMNS "e.entry_id, e.at, " \
	"CASE WHEN e.kind IN ('transfer_out', 'transfer_in') THEN 'transfer' " \
	"ELSE e.kind::text END, " \
	"CASE WHEN e.kind IN ('grant', 'reversal', 'release', 'transfer_in') " \
	"THEN 'in' ELSE 'out' END, " \
	"e.amount, e.running_balance, e.reference, e.reason " \
	"FROM credits.entry e WHERE e.account = $1 AND e.credit_type = $2 "

static CreditsStmt stmt_history_all = {"tt",
	"SELECT " HISTORY_COLUMNS "ORDER BY e.seq"};

static CreditsStmt stmt_history_after = {"ttii",
	"SELECT " HISTORY_COLUMNS "AND e.seq > $3 ORDER BY e.seq LIMIT $4"};

static CreditsStmt stmt_history_before = {"ttii",
	"SELECT " HISTORY_COLUMNS "AND e.seq < $3 ORDER BY e.seq DESC LIMIT $4"};

static CreditsStmt stmt_entry_seq = {"tti",
	"SELECT seq FROM credits.entry "
	"WHERE entry_id = $3 AND account = $1 AND credit_type = $2"};

static CreditsStmt stmt_entry_account = {"i",
	"SELECT account FROM credits.entry WHERE entry_id = $1"};

/* Copy the rows of the last statement into the function's result. */
static void
credits_history_rows(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	uint64		i;

	for (i = 0; i < SPI_processed; i++)
		tuplestore_puttuple(rsinfo->setResult, SPI_tuptable->vals[i]);
}

/* The checks both readers make; false when there is nothing to show. */
static bool
credits_history_start(FunctionCallInfo fcinfo)
{
	CreditTypeInfo info;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		return false;
	credits_check_access(PG_GETARG_DATUM(0), CREDITS_ACCESS_CLIENT);
	credits_type_info(PG_GETARG_DATUM(1), &info);
	return true;
}

/* credits_history(account, credit_type): every movement, oldest first. */
Datum
credits_history(PG_FUNCTION_ARGS)
{
	SPI_connect();
	if (credits_history_start(fcinfo))
	{
		Datum		values[2];

		values[0] = PG_GETARG_DATUM(0);
		values[1] = PG_GETARG_DATUM(1);
		credits_run(&stmt_history_all, values, NULL, true, 0);
		credits_history_rows(fcinfo);
	}
	SPI_finish();
	return (Datum) 0;
}

/*
 * credits_history_page(account, credit_type, after_entry_id, max_rows,
 * newest_first): the entries after after_entry_id (or, newest first, before
 * it), at most max_rows.
 */
Datum
credits_history_page(PG_FUNCTION_ARGS)
{
	SPI_connect();
	if (credits_history_start(fcinfo) && !PG_ARGISNULL(3) && !PG_ARGISNULL(4))
	{
		int32		max_rows = PG_GETARG_INT32(3);
		bool		newest_first = PG_GETARG_BOOL(4);
		int64		seq = newest_first ? PG_INT64_MAX : 0;
		Datum		values[4];

		if (max_rows < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("max_rows must be at least 1")));
		values[0] = PG_GETARG_DATUM(0);
		values[1] = PG_GETARG_DATUM(1);
		if (!PG_ARGISNULL(2))
		{
			values[2] = PG_GETARG_DATUM(2);
			credits_run(&stmt_entry_seq, values, NULL, true, 1);
			if (SPI_processed == 0)
			{
				bool		isnull;

				/*
				 * An entry of another account is a portal's 42501, as
				 * everywhere an id reaches another account.
				 */
				credits_run(&stmt_entry_account, &values[2], NULL, true, 1);
				if (SPI_processed > 0)
					credits_check_access_id(credits_col(0, 1, &isnull), "entry",
											PG_GETARG_INT64(2));
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_OBJECT),
						 errmsg("entry " INT64_FORMAT " does not exist in this history",
								PG_GETARG_INT64(2))));
			}
			seq = credits_col_int64(0, 1);
		}
		values[2] = Int64GetDatum(seq);
		values[3] = Int64GetDatum((int64) max_rows);
		credits_run(newest_first ? &stmt_history_before : &stmt_history_after,
					values, NULL, true, 0);
		credits_history_rows(fcinfo);
	}
	SPI_finish();
	return (Datum) 0;
}
