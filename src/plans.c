/*
 * plans.c
 *	  The SQL the ledger runs, prepared once per backend and kept.  All reads
 *	  and writes of ledger tables go through these statements (never direct
 *	  heap access), so a distributed deployment can route every one of them
 *	  by its account key.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "nodes/makefuncs.h"
#include "parser/parse_type.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "credits.h"

/*
 * Argument types are spelled as one letter each: t text, a credit_amount,
 * T timestamptz, i int8, I int4, b bool, n numeric.
 */
typedef struct PlanDef
{
	const char *argtypes;
	const char *sql;
} PlanDef;

static const PlanDef plan_defs[PLAN_COUNT] = {
	[PLAN_TYPE_INFO] = {"t",
		"SELECT scale, currency FROM credits.credit_type WHERE code = $1"},
	[PLAN_ENABLED] = {"",
		"SELECT value FROM credits.setting WHERE name = 'enabled'"},
	[PLAN_ACCOUNT_CREATE] = {"tt",
		"INSERT INTO credits.account (account, credit_type) VALUES ($1, $2) "
		"ON CONFLICT DO NOTHING"},
	[PLAN_ACCOUNT_LOCK] = {"tt",
		"SELECT balance, held, last_seq, next_expiry FROM credits.account "
		"WHERE account = $1 AND credit_type = $2 FOR UPDATE"},
	[PLAN_ACCOUNT_UPDATE] = {"ttaaiT",
		"UPDATE credits.account SET balance = $3, held = $4, last_seq = $5, "
		"next_expiry = $6 WHERE account = $1 AND credit_type = $2"},
	[PLAN_ENTRY_INSERT] = {"ttitaaiitt",
		"INSERT INTO credits.entry (account, credit_type, seq, kind, amount, "
		"running_balance, lot_id, related_id, reference, reason) "
		"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING entry_id"},
	[PLAN_ALLOC_INSERT] = {"tiia",
		"INSERT INTO credits.allocation (account, entry_id, lot_id, amount) "
		"VALUES ($1, $2, $3, $4)"},
	[PLAN_LOT_INSERT] = {"ttaTttt",
		"INSERT INTO credits.lot (account, credit_type, amount, remaining, "
		"is_open, expires_at, reason, reference, source) "
		"VALUES ($1, $2, $3, $3, true, $4, $5, $6, $7) RETURNING lot_id"},
	[PLAN_LOT_TAKE] = {"tia",
		"UPDATE credits.lot SET remaining = remaining - $3, "
		"is_open = remaining > $3 WHERE account = $1 AND lot_id = $2"},
	[PLAN_LOT_CLOSE] = {"ti",
		"UPDATE credits.lot SET remaining = 0, is_open = false "
		"WHERE account = $1 AND lot_id = $2"},
	[PLAN_LOTS_DUE] = {"ttT",
		"SELECT lot_id, remaining FROM credits.lot "
		"WHERE account = $1 AND credit_type = $2 AND is_open "
		"AND expires_at <= $3 "
		"ORDER BY expires_at, granted_at, lot_id"},
	[PLAN_LOTS_SPEND_ORDER] = {"tt",
		"SELECT lot_id, remaining FROM credits.lot "
		"WHERE account = $1 AND credit_type = $2 AND is_open "
		"ORDER BY expires_at, granted_at, lot_id LIMIT 16"},
	[PLAN_NEXT_EXPIRY] = {"tt",
		"SELECT expires_at FROM credits.lot "
		"WHERE account = $1 AND credit_type = $2 AND is_open "
		"AND expires_at IS NOT NULL ORDER BY expires_at LIMIT 1"},
	[PLAN_IDEM_GET] = {"tt",
		"SELECT request, result FROM credits.idempotency "
		"WHERE account = $1 AND idempotency_key = $2"},
	[PLAN_IDEM_PUT] = {"tttti",
		"INSERT INTO credits.idempotency (account, idempotency_key, operation, "
		"request, result) VALUES ($1, $2, $3, $4, $5) "
		"ON CONFLICT DO NOTHING"},
	[PLAN_ACCOUNTS_DUE] = {"T",
		"SELECT DISTINCT account COLLATE \"C\", credit_type COLLATE \"C\" "
		"FROM credits.lot WHERE is_open AND expires_at <= $1 ORDER BY 1, 2"},
	[PLAN_BALANCE_NOW] = {"ttT",
		"SELECT CASE WHEN a.next_expiry IS NULL OR a.next_expiry > $3 "
		"THEN a.balance ELSE a.balance - coalesce((SELECT sum(l.remaining) "
		"FROM credits.lot l WHERE l.account = $1 AND l.credit_type = $2 "
		"AND l.is_open AND l.expires_at <= $3), 0) END "
		"FROM credits.account a WHERE a.account = $1 AND a.credit_type = $2"},
	[PLAN_BALANCE_PAST] = {"ttT",
		"WITH last AS (SELECT seq, running_balance FROM credits.entry "
		"  WHERE account = $1 AND credit_type = $2 AND at <= $3 "
		"  ORDER BY seq DESC LIMIT 1) "
		"SELECT last.running_balance "
		" - coalesce((SELECT sum(e.amount) FROM credits.entry e "
		"    JOIN credits.lot l ON l.account = e.account AND l.lot_id = e.lot_id "
		"    WHERE e.account = $1 AND e.credit_type = $2 AND e.seq > last.seq "
		"    AND e.kind = 'expire' AND l.expires_at <= $3), 0) "
		" - coalesce((SELECT sum(l.remaining) FROM credits.lot l "
		"    WHERE l.account = $1 AND l.credit_type = $2 AND l.is_open "
		"    AND l.expires_at <= $3), 0) "
		"FROM last"},
};

static SPIPlanPtr plans[PLAN_COUNT];
static Oid	amount_typid = InvalidOid;
static uint32 amount_hash = 0;
static bool plans_stale = false;

/*
 * When the credit_amount type goes away (DROP EXTENSION) every kept plan is
 * tied to a dead type OID: forget them at the next call.
 */
static void
credits_type_inval(Datum arg, int cacheid, uint32 hashvalue)
{
	if (!OidIsValid(amount_typid))
		return;
	if (hashvalue == 0 || hashvalue == amount_hash)
		plans_stale = true;
}

void
credits_plans_init(void)
{
	CacheRegisterSyscacheCallback(TYPEOID, credits_type_inval, (Datum) 0);
}

static void
credits_plans_reset(void)
{
	int			i;

	for (i = 0; i < PLAN_COUNT; i++)
	{
		if (plans[i] != NULL)
			SPI_freeplan(plans[i]);
		plans[i] = NULL;
	}
	amount_typid = InvalidOid;
	plans_stale = false;
}

/*
 * The OID of credit_amount, found through the (pinned) search_path of the
 * calling API function, which always includes the extension's schema.
 */
Oid
credits_amount_typid(void)
{
	if (plans_stale)
		credits_plans_reset();
	if (!OidIsValid(amount_typid))
	{
		TypeName   *tn = makeTypeName("credit_amount");

		amount_typid = LookupTypeNameOid(NULL, tn, false);
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
	}
	elog(ERROR, "unknown plan argument type code '%c'", code);
	return InvalidOid;			/* keep compiler quiet */
}

static SPIPlanPtr
credits_plan(PlanId id)
{
	if (plans_stale)
		credits_plans_reset();
	if (plans[id] == NULL)
	{
		const PlanDef *def = &plan_defs[id];
		int			nargs = strlen(def->argtypes);
		Oid			argtypes[16];
		SPIPlanPtr	plan;
		int			i;

		Assert(nargs <= 16);
		for (i = 0; i < nargs; i++)
			argtypes[i] = argtype_oid(def->argtypes[i]);
		plan = SPI_prepare(def->sql, nargs, argtypes);
		if (plan == NULL)
			elog(ERROR, "credits: could not prepare statement %d: %s",
				 (int) id, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "credits: could not keep statement %d", (int) id);
		plans[id] = plan;
	}
	return plans[id];
}

/*
 * Run a kept statement.  nulls follows SPI's convention (' ' not null,
 * 'n' null) and may be NULL when no argument is null.
 */
int
credits_exec(PlanId id, Datum *values, const char *nulls, bool read_only,
			 long tcount)
{
	SPIPlanPtr	plan = credits_plan(id);
	int			rc;

	rc = SPI_execute_plan(plan, values, nulls, read_only, tcount);
	if (rc < 0)
		elog(ERROR, "credits: statement %d failed: %s",
			 (int) id, SPI_result_code_string(rc));
	return rc;
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
