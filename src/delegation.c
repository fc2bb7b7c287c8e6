/*
 * delegation.c
 *	  A planner hook that keeps a NULL account away from Citus's function
 *	  call delegation.
 *
 *	  On a distributed ledger, credits_distribute() delegates every function
 *	  whose first parameter is the account (create_distributed_function):
 *	  Citus's planner sends a call SELECT credits_spend('alice', ...) to the
 *	  worker that holds 'alice' by hashing the constant.  Citus 13.2 hashes
 *	  it without checking for NULL, and a call with a NULL account --
 *	  SELECT credits_balance(NULL), or a prepared statement given NULL --
 *	  crashes the backend, which restarts every session of the server.
 *
 *	  This hook runs before Citus's (the library is loaded after Citus: it
 *	  comes after citus in shared_preload_libraries, which
 *	  credits_distribute() requires).  When the one call of such a
 *	  statement has a NULL account, it replaces that constant by an
 *	  expression that is NULL too but not a constant
 *	  (CASE WHEN now() IS NULL THEN NULL END, which planning cannot fold).
 *	  Citus then does not delegate the call, and the function runs on the
 *	  node where it was called, with its NULL account, exactly as on one
 *	  node: an error 22004, or NULL where NULL has a meaning.  Nothing else
 *	  changes: a statement whose first argument is not NULL is left as it
 *	  is.
 */
#include "postgres.h"

#include "catalog/pg_proc.h"
#include "miscadmin.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/params.h"
#include "optimizer/optimizer.h"
#include "optimizer/planner.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "credits.h"

static planner_hook_type prev_planner_hook = NULL;
/* loaded at server start, after a library with a planner hook (Citus) */
static bool guard_preloaded = false;

/* Is the first argument of this call NULL, as a constant or a bound parameter? */
static bool
first_argument_is_null(FuncExpr *call, ParamListInfo params)
{
	Node	   *arg;

	if (call->args == NIL)
		return false;
	arg = strip_implicit_coercions((Node *) linitial(call->args));
	if (IsA(arg, Const))
		return ((Const *) arg)->constisnull;
	if (IsA(arg, Param) && ((Param *) arg)->paramkind == PARAM_EXTERN &&
		params != NULL)
	{
		int			id = ((Param *) arg)->paramid;
		ParamExternData workspace;
		ParamExternData *prm;

		if (id <= 0 || id > params->numParams)
			return false;
		if (params->paramFetch != NULL)
			prm = params->paramFetch(params, id, false, &workspace);
		else
			prm = &params->params[id - 1];
		/* only a value the planner may fold into a constant matters */
		return prm != NULL && (prm->pflags & PARAM_FLAG_CONST) && prm->isnull;
	}
	return false;
}

/*
 * Is this one of the functions credits_distribute() delegates: named
 * credits_..., first parameter "account" of type text?
 */
static bool
delegated_function(Oid funcid)
{
	HeapTuple	tp;
	Form_pg_proc proc;
	bool		result = false;

	tp = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	if (!HeapTupleIsValid(tp))
		return false;
	proc = (Form_pg_proc) GETSTRUCT(tp);
	if (proc->pronargs >= 1 && proc->proargtypes.values[0] == TEXTOID &&
		strncmp(NameStr(proc->proname), "credits_", 8) == 0)
	{
		bool		isnull;
		Datum		names = SysCacheGetAttr(PROCOID, tp, Anum_pg_proc_proargnames,
											&isnull);

		if (!isnull)
		{
			Datum	   *elems;
			int			n;

			deconstruct_array(DatumGetArrayTypeP(names), TEXTOID, -1, false,
							  TYPALIGN_INT, &elems, NULL, &n);
			result = n >= 1 && strcmp(TextDatumGetCString(elems[0]), "account") == 0;
		}
	}
	ReleaseSysCache(tp);
	return result;
}

/* CASE WHEN now() IS NULL THEN NULL END, of the argument's type */
static Node *
null_but_not_constant(Node *arg)
{
	Oid			type = exprType(arg);
	Oid			collation = exprCollation(arg);
	NullTest   *test = makeNode(NullTest);
	CaseWhen   *when = makeNode(CaseWhen);
	CaseExpr   *expr = makeNode(CaseExpr);

	test->arg = (Expr *) makeFuncExpr(F_NOW, TIMESTAMPTZOID, NIL, InvalidOid,
									  InvalidOid, COERCE_EXPLICIT_CALL);
	test->nulltesttype = IS_NULL;
	test->argisrow = false;
	test->location = -1;
	when->expr = (Expr *) test;
	when->result = (Expr *) makeNullConst(type, exprTypmod(arg), collation);
	when->location = -1;
	expr->casetype = type;
	expr->casecollid = collation;
	expr->arg = NULL;
	expr->args = list_make1(when);
	expr->defresult = (Expr *) makeNullConst(type, exprTypmod(arg), collation);
	expr->location = -1;
	return (Node *) expr;
}

/* The call Citus would delegate: SELECT f(...), or SELECT ... FROM f(...). */
static FuncExpr *
single_call(Query *query)
{
	if (query->commandType != CMD_SELECT)
		return NULL;
	if (query->rtable == NIL)
	{
		TargetEntry *te;

		if (list_length(query->targetList) != 1)
			return NULL;
		te = (TargetEntry *) linitial(query->targetList);
		return IsA(te->expr, FuncExpr) ? (FuncExpr *) te->expr : NULL;
	}
	if (list_length(query->rtable) == 1)
	{
		RangeTblEntry *rte = (RangeTblEntry *) linitial(query->rtable);
		RangeTblFunction *rtfunc;

		if (rte->rtekind != RTE_FUNCTION || list_length(rte->functions) != 1)
			return NULL;
		rtfunc = (RangeTblFunction *) linitial(rte->functions);
		return IsA(rtfunc->funcexpr, FuncExpr) ? (FuncExpr *) rtfunc->funcexpr : NULL;
	}
	return NULL;
}

static PlannedStmt *
credits_planner(Query *parse, const char *query_string, int cursor_options,
				ParamListInfo bound_params)
{
	FuncExpr   *call = single_call(parse);

	if (call != NULL && first_argument_is_null(call, bound_params) &&
		delegated_function(call->funcid))
		linitial(call->args) = null_but_not_constant((Node *) linitial(call->args));
	if (prev_planner_hook)
		return prev_planner_hook(parse, query_string, cursor_options, bound_params);
	return standard_planner(parse, query_string, cursor_options, bound_params);
}

void
credits_delegation_init(void)
{
	prev_planner_hook = planner_hook;
	planner_hook = credits_planner;
	guard_preloaded = process_shared_preload_libraries_in_progress &&
		prev_planner_hook != NULL;
}

/*
 * credits.delegation_guarded(): is the guard in place for every statement
 * of every session -- the library loaded at server start
 * (shared_preload_libraries), after Citus?  Loaded on first use only, it
 * would come too late for a session's first statement.
 */
PG_FUNCTION_INFO_V1(credits_delegation_guarded);

Datum
credits_delegation_guarded(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(guard_preloaded);
}
