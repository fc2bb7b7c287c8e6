/*
 * plans.c
 *	  The SQL the ledger runs, prepared once per backend and kept.  All reads
 *	  and writes of ledger tables go through these statements (never direct
 *	  heap access), so a distributed deployment can route every one of them
 *	  by its account key.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "nodes/makefuncs.h"
#include "parser/parse_type.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "credits.h"

/* Bumped whenever kept plans must be dropped; statements compare. */
static uint32 plan_generation = 1;
static Oid	amount_typid = InvalidOid;
static uint32 amount_hash = 0;
static bool plans_stale = false;

/*
 * The version of the ledger's tables, as between installing this library
 * and ALTER EXTENSION credits UPDATE a database still has those of an older
 * version: 10 (no credits.account.last_at), 11 (no credits.account.scoped)
 * or 12; -1 unknown, found again after any change to credits.account.
 */
static int	catalog_level = -1;
static Oid	account_relid = InvalidOid;

/*
 * Whether credits.account is a Citus distributed table here (on the
 * coordinator or on a worker): -1 unknown, else 0 or 1, found again after
 * any change to credits.account (distributing it is one).
 */
static int	distributed = -1;
/* This node's Citus group (0 on the coordinator), once distributed is 1. */
static int32 node_group = 0;

/*
 * When the credit_amount type goes away (DROP EXTENSION) every kept plan is
 * tied to a dead type OID: forget them at the next call.  Plans are only
 * freed when next used, never from inside this callback, which can run while
 * a plan executes.
 */
static void
credits_type_inval(Datum arg, int cacheid, uint32 hashvalue)
{
	if (!OidIsValid(amount_typid))
		return;
	if (hashvalue == 0 || hashvalue == amount_hash)
		plans_stale = true;
}

static void
credits_account_inval(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == account_relid)
	{
		catalog_level = -1;
		distributed = -1;
	}
}

void
credits_plans_init(void)
{
	CacheRegisterSyscacheCallback(TYPEOID, credits_type_inval, (Datum) 0);
	CacheRegisterRelcacheCallback(credits_account_inval, (Datum) 0);
}

/*
 * The version of the tables (10, 11 or 12).  The library serves a database
 * that still runs an older version's SQL, so statements that use columns
 * added since spell both forms: {{1.1 text|1.0 text}} for columns of 1.1,
 * {{12:1.2 text|older text}} for columns of 1.2.
 */
int
credits_catalog_level(void)
{
	if (catalog_level < 0)
	{
		Oid			nsp = get_namespace_oid("credits", true);

		account_relid = OidIsValid(nsp) ? get_relname_relid("account", nsp)
			: InvalidOid;
		if (!OidIsValid(account_relid))
			catalog_level = 12;
		else if (get_attnum(account_relid, "last_at") == InvalidAttrNumber)
			catalog_level = 10;
		else if (get_attnum(account_relid, "scoped") == InvalidAttrNumber)
			catalog_level = 11;
		else
			catalog_level = 12;
	}
	return catalog_level;
}

/* True while the tables are those of version 1.0. */
bool
credits_catalog_10(void)
{
	return credits_catalog_level() == 10;
}

/*
 * True when the ledger is distributed with Citus (credits_distribute()):
 * some statements then take forms that Citus routes to one shard.  Asked
 * inside SPI; costs a query once per backend (and after a change to
 * credits.account), and nothing where Citus is not installed.
 */
bool
credits_distributed(void)
{
	if (distributed < 0)
	{
		bool		found = false;

		(void) credits_catalog_level();	/* learns account_relid */
		if (OidIsValid(account_relid) &&
			OidIsValid(get_extension_oid("citus", true)))
		{
			Datum		arg = ObjectIdGetDatum(account_relid);
			Oid			argtype = OIDOID;

			/*
			 * A level of SPI of its own: the caller may be inside SPI with
			 * rows it still reads (SPI_finish gives them back), or inside a
			 * statement (a function called by one).
			 */
			SPI_connect();
			if (SPI_execute_with_args("SELECT 1 FROM pg_catalog.pg_dist_partition "
									  "WHERE logicalrelid = $1",
									  1, &argtype, &arg, NULL, true, 1) != SPI_OK_SELECT)
				elog(ERROR, "credits: could not read pg_dist_partition");
			found = SPI_processed > 0;
			if (found)
			{
				bool		isnull;

				if (SPI_execute("SELECT groupid FROM pg_catalog.pg_dist_local_group",
								true, 1) != SPI_OK_SELECT || SPI_processed != 1)
					elog(ERROR, "credits: could not read pg_dist_local_group");
				node_group = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
														 SPI_tuptable->tupdesc, 1,
														 &isnull));
			}
			SPI_finish();
		}
		distributed = found ? 1 : 0;
	}
	return distributed == 1;
}

/* This node's Citus group id (pg_dist_local_group); 0 when not distributed. */
int32
credits_node_group(void)
{
	return credits_distributed() ? node_group : 0;
}

/*
 * The statement's text for the tables of version level (10, 11, 12): each
 * {{new|old}} resolved, new from 1.1 on, and each {{12:new|old}}, new from
 * 1.2 on.
 */
static char *
credits_stmt_text(const char *sql, int level)
{
	StringInfoData buf;
	const char *p = sql;

	initStringInfo(&buf);
	for (;;)
	{
		const char *open = strstr(p, "{{");
		const char *from;
		const char *bar;
		const char *close;
		int			since = 11;

		if (open == NULL)
			break;
		from = open + 2;
		if (strncmp(from, "12:", 3) == 0)
		{
			since = 12;
			from += 3;
		}
		bar = strchr(from, '|');
		close = bar ? strstr(bar, "}}") : NULL;
		if (close == NULL)
			elog(ERROR, "credits: unterminated {{...|...}} in \"%s\"", sql);
		appendBinaryStringInfo(&buf, p, open - p);
		if (level < since)
			appendBinaryStringInfo(&buf, bar + 1, close - bar - 1);
		else
			appendBinaryStringInfo(&buf, from, bar - from);
		p = close + 2;
	}
	appendStringInfoString(&buf, p);
	return buf.data;
}

static void
credits_plans_reset(void)
{
	plan_generation++;
	amount_typid = InvalidOid;
	plans_stale = false;
}

/*
 * The OID of credit_amount, found without the search_path: the pinned
 * search_path of the API functions deliberately leaves the extension's
 * schema out (sql/parts/25_private_operators.sql says why).
 */
Oid
credits_amount_typid(void)
{
	if (plans_stale)
		credits_plans_reset();
	if (!OidIsValid(amount_typid))
	{
		/* the domain credits.positive_amount is over our credit_amount */
		Oid			domain = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
											 CStringGetDatum("positive_amount"),
											 ObjectIdGetDatum(get_namespace_oid("credits", false)));

		if (!OidIsValid(domain))
			elog(ERROR, "type credits.positive_amount not found");
		amount_typid = getBaseType(domain);
		amount_hash = GetSysCacheHashValue1(TYPEOID,
											ObjectIdGetDatum(amount_typid));
	}
	return amount_typid;
}

static Oid
argtype_oid(char code)
{
	switch (code)
	{
		case 't':
			return TEXTOID;
		case 'a':
			return credits_amount_typid();
		case 'T':
			return TIMESTAMPTZOID;
		case 'i':
			return INT8OID;
		case 'I':
			return INT4OID;
		case 'b':
			return BOOLOID;
		case 'n':
			return NUMERICOID;
		case 'j':
			return JSONBOID;
		case 'A':
			return INT8ARRAYOID;
		case 'S':
			return TEXTARRAYOID;
		case 'M':
			return get_array_type(credits_amount_typid());
	}
	elog(ERROR, "unknown plan argument type code '%c'", code);
	return InvalidOid;			/* keep compiler quiet */
}

/*
 * Prepare the statement on first use (or after an invalidation) and keep
 * the plan for the life of the backend.
 */
static SPIPlanPtr
credits_stmt_plan(CreditsStmt *stmt)
{
	int			level;

	if (plans_stale)
		credits_plans_reset();
	level = stmt->has_variants ? credits_catalog_level() : 0;
	if (stmt->plan != NULL &&
		(stmt->generation != plan_generation || stmt->planned_level != level))
	{
		SPI_freeplan(stmt->plan);
		stmt->plan = NULL;
	}
	if (stmt->plan == NULL)
	{
		int			nargs = strlen(stmt->argtypes);
		Oid			argtypes[32];
		SPIPlanPtr	plan;
		char	   *sql;
		int			i;

		Assert(nargs <= 32);
		for (i = 0; i < nargs; i++)
			argtypes[i] = argtype_oid(stmt->argtypes[i]);
		stmt->has_variants = strstr(stmt->sql, "{{") != NULL;
		level = stmt->has_variants ? credits_catalog_level() : 0;
		sql = stmt->has_variants ? credits_stmt_text(stmt->sql, level)
			: (char *) stmt->sql;
		plan = SPI_prepare(sql, nargs, argtypes);
		if (plan == NULL)
			elog(ERROR, "credits: could not prepare \"%s\": %s",
				 stmt->sql, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "credits: could not keep \"%s\"", stmt->sql);
		stmt->plan = plan;
		stmt->generation = plan_generation;
		stmt->planned_level = level;
	}
	return stmt->plan;
}

/*
 * Run a kept statement.  nulls follows SPI's convention (' ' not null,
 * 'n' null) and may be NULL when no argument is null.
 */
int
credits_run(CreditsStmt *stmt, Datum *values, const char *nulls,
			bool read_only, long tcount)
{
	SPIPlanPtr	plan = credits_stmt_plan(stmt);
	int			rc;

	rc = SPI_execute_plan(plan, values, nulls, read_only, tcount);
	if (rc < 0)
		elog(ERROR, "credits: \"%s\" failed: %s",
			 stmt->sql, SPI_result_code_string(rc));
	return rc;
}

/*
 * Look an object up by its id: the functions given an id (a hold, an
 * entry, a lot, a subscription) also take the account it belongs to, as an
 * optional argument (number argno).  Given, the object is looked up within
 * that account (in_account: $1 the id, $2 the account), and one of another
 * account is not found; the call names its account, so a distributed
 * ledger delegates it to the worker that holds the account, which reads
 * only that account's shard.  Not given, by the id alone (by_id: $1).
 */
int
credits_run_find(CreditsStmt *by_id, CreditsStmt *in_account, int64 id,
				 FunctionCallInfo fcinfo, int argno)
{
	Datum		values[2];

	values[0] = Int64GetDatum(id);
	if (PG_NARGS() > argno && !PG_ARGISNULL(argno))
	{
		credits_require_account(PG_GETARG_TEXT_PP(argno));
		values[1] = PG_GETARG_DATUM(argno);
		return credits_run(in_account, values, NULL, false, 1);
	}
	return credits_run(by_id, values, NULL, false, 1);
}

/* 42704 for what credits_run_find did not find. */
void
credits_not_found(const char *what, int64 id, FunctionCallInfo fcinfo, int argno)
{
	if (PG_NARGS() > argno && !PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("%s " INT64_FORMAT " of account \"%s\" does not exist", what, id,
						TextDatumGetCString(PG_GETARG_DATUM(argno)))));
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("%s " INT64_FORMAT " does not exist", what, id)));
}

/*
 * Run a kept read-only statement under a snapshot taken now instead of the
 * caller's, which may be older than a change the caller must see (the
 * configuration caches, config.c).  It still sees the caller's own earlier
 * changes.  A parallel worker cannot take a snapshot; there (never so far:
 * the API functions are parallel-unsafe) the caller's is the only one.
 */
int
credits_run_latest(CreditsStmt *stmt, Datum *values, const char *nulls,
				   long tcount)
{
	SPIPlanPtr	plan = credits_stmt_plan(stmt);
	Snapshot	snapshot = IsInParallelMode() ? InvalidSnapshot : GetLatestSnapshot();
	int			rc;

	rc = SPI_execute_snapshot(plan, values, nulls, snapshot, InvalidSnapshot,
							  true, false, tcount);
	if (rc < 0)
		elog(ERROR, "credits: \"%s\" failed: %s",
			 stmt->sql, SPI_result_code_string(rc));
	return rc;
}

/* Open a cursor on a kept statement, for results too large to hold. */
Portal
credits_cursor_open(CreditsStmt *stmt, Datum *values, const char *nulls)
{
	SPIPlanPtr	plan = credits_stmt_plan(stmt);
	Portal		portal;

	portal = SPI_cursor_open(NULL, plan, values, nulls, false);
	if (portal == NULL)
		elog(ERROR, "credits: could not open a cursor on \"%s\"", stmt->sql);
	return portal;
}

Datum
credits_col(int row, int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
						 col, isnull);
}

int64
credits_col_int64(int row, int col)
{
	bool		isnull;
	Datum		d = credits_col(row, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

CreditAmount
credits_col_amount(int row, int col)
{
	bool		isnull;
	Datum		d = credits_col(row, col, &isnull);

	return isnull ? 0 : DatumGetCreditAmount(d);
}

/*
 * Run fn(arg) in a subtransaction, so that one failing unit of due work
 * (a subscription, an account's expiries) leaves the others alone.  Returns
 * NULL when it succeeded; otherwise the error, copied into the caller's
 * memory context, with everything fn did rolled back.  A cancelled query
 * (statement timeout, pg_cancel_backend) is raised again: it stops the
 * whole call.  Inside SPI: fn may run kept statements.
 */
ErrorData *
credits_try(void (*fn) (void *arg), void *arg)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
			ReThrowError(edata);
	}
	PG_END_TRY();
	return edata;
}

PG_FUNCTION_INFO_V1(credits_node_group_sql);

/*
 * credits.node_group(): this node's Citus group once the ledger is
 * distributed (0 on the coordinator), NULL when it is not.
 */
Datum
credits_node_group_sql(PG_FUNCTION_ARGS)
{
	if (!credits_distributed())
		PG_RETURN_NULL();
	PG_RETURN_INT32(credits_node_group());
}
