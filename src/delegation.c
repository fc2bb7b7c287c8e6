/*
 * delegation.c
 *	  A planner hook that keeps the statements Citus mishandles away from
 *	  its function call delegation.
 *
 *	  On a distributed ledger, credits_distribute() delegates every function
 *	  that has an account parameter (create_distributed_function): the
 *	  first of the per-account functions, the last, optional one of the
 *	  functions given an id.
 *	  Citus's planner sends a call SELECT credits_spend('alice', ...) to the
 *	  worker that holds 'alice' by hashing the constant it finds there once
 *	  planning is done.  Citus 13.2 crashes the backend (which restarts
 *	  every session of the server) in two cases:
 *	  - the account is NULL -- a literal, a default, a named argument, an
 *	    expression that folds to NULL, a prepared statement's parameter:
 *	    it hashes the NULL;
 *	  - the account is read from a row source that planning folds into a
 *	    constant, as in SELECT credits_balance(a) FROM (VALUES ('alice'))
 *	    v(a): it delegates with the VALUES still in the statement.
 *
 *	  This hook runs before Citus's (the library comes after citus in
 *	  shared_preload_libraries, which credits_distribute() requires).  In
 *	  such a call, anywhere in the statement, it wraps the account in
 *	  CASE WHEN now() IS NULL THEN NULL ELSE account END: the same value,
 *	  which planning cannot fold into a constant.  Citus then does not
 *	  delegate the call; the function runs where it was called, as on one
 *	  node (an error 22004, or NULL where NULL has a meaning, or the
 *	  account's answer).  A call given its account as a constant or a
 *	  parameter -- the way applications call -- is left as it is.
 *
 *	  The same keeps a call that the caller may not make on the node it
 *	  was made on, where it is refused as on one node (42501): delegated,
 *	  it would reach the worker under the caller's name, and a role that
 *	  may not log in there would get a connection failure (08006) instead.
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
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "credits.h"

static planner_hook_type prev_planner_hook = NULL;
/* loaded at server start, after a library with a planner hook (Citus) */
static bool guard_preloaded = false;

/*
 * Is this account argument (once named arguments are in place and
 * defaults added) NULL: a constant, an expression the planner
 * folds into one, or a bound parameter it may fold?
 */
static bool
account_is_null(Node *arg, ParamListInfo params)
{
	arg = strip_implicit_coercions(arg);
	if (IsA(arg, Param) && ((Param *) arg)->paramkind == PARAM_EXTERN)
	{
		int			id = ((Param *) arg)->paramid;
		ParamExternData workspace;
		ParamExternData *prm;

		if (params == NULL || id <= 0 || id > params->numParams)
			return false;
		if (params->paramFetch != NULL)
			prm = params->paramFetch(params, id, false, &workspace);
		else
			prm = &params->params[id - 1];
		/* only a value the planner may fold into a constant matters */
		return prm != NULL && (prm->pflags & PARAM_FLAG_CONST) && prm->isnull;
	}
	if (!IsA(arg, Const))
		arg = eval_const_expressions(NULL, (Node *) copyObject(arg));
	return IsA(arg, Const) && ((Const *) arg)->constisnull;
}

/*
 * Is this one of the functions credits_distribute() delegates: named
 * credits_..., with an input parameter "account" of type text (the first
 * of the per-account functions, the last of those given an id)?  Returns
 * that parameter's position, or -1.  The answers for the last few
 * functions asked about are kept (a function's oid never names another
 * function while it exists).
 */
#define DELEGATED_CACHE 8
static Oid	cached_oid[DELEGATED_CACHE];
static int	cached_answer[DELEGATED_CACHE];
static int	cached_next = 0;

static int
delegated_function(Oid funcid)
{
	HeapTuple	tp;
	Form_pg_proc proc;
	int			result = -1;
	int			i;

	for (i = 0; i < DELEGATED_CACHE; i++)
		if (cached_oid[i] == funcid)
			return cached_answer[i];
	tp = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	if (!HeapTupleIsValid(tp))
		return -1;
	proc = (Form_pg_proc) GETSTRUCT(tp);
	if (proc->pronargs >= 1 && strncmp(NameStr(proc->proname), "credits_", 8) == 0)
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
			/* the input parameters come first */
			for (i = 0; i < n && i < proc->pronargs; i++)
				if (proc->proargtypes.values[i] == TEXTOID &&
					strcmp(TextDatumGetCString(elems[i]), "account") == 0)
				{
					result = i;
					break;
				}
		}
	}
	ReleaseSysCache(tp);
	cached_oid[cached_next] = funcid;
	cached_answer[cached_next] = result;
	cached_next = (cached_next + 1) % DELEGATED_CACHE;
	return result;
}

/*
 * CASE WHEN now() IS NULL THEN NULL ELSE value END, of value's type: value
 * (NULL when value is NULL), which planning cannot fold into a constant.
 */
static Node *
not_constant(Node *arg, bool null)
{
	Oid			type = exprType(arg);
	Oid			collation = exprCollation(arg);
	int32		typmod = exprTypmod(arg);
	NullTest   *test = makeNode(NullTest);
	CaseWhen   *when = makeNode(CaseWhen);
	CaseExpr   *expr = makeNode(CaseExpr);

	test->arg = (Expr *) makeFuncExpr(F_NOW, TIMESTAMPTZOID, NIL, InvalidOid,
									  InvalidOid, COERCE_EXPLICIT_CALL);
	test->nulltesttype = IS_NULL;
	test->argisrow = false;
	test->location = -1;
	when->expr = (Expr *) test;
	when->result = (Expr *) makeNullConst(type, typmod, collation);
	when->location = -1;
	expr->casetype = type;
	expr->casecollid = collation;
	expr->arg = NULL;
	expr->args = list_make1(when);
	expr->defresult = null ? (Expr *) makeNullConst(type, typmod, collation) : (Expr *) arg;
	expr->location = -1;
	return (Node *) expr;
}

/* May the current user not call this function (EXECUTE)? */
static bool
credits_may_not_execute(Oid funcid)
{
#if PG_VERSION_NUM >= 160000
	return object_aclcheck(ProcedureRelationId, funcid, GetUserId(), ACL_EXECUTE) != ACLCHECK_OK;
#else
	return pg_proc_aclcheck(funcid, GetUserId(), ACL_EXECUTE) != ACLCHECK_OK;
#endif
}

/* Does the expression read a column (of this query or an outer one)? */
static bool
has_var_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
		return true;
	return expression_tree_walker(node, has_var_walker, context);
}

/*
 * Does the expression name the current user (CURRENT_USER, CURRENT_ROLE,
 * USER, SESSION_USER), as the default decided_by of the functions that
 * decide a credit request does?
 */
static bool
has_user_value_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, SQLValueFunction))
	{
		SQLValueFunctionOp op = ((SQLValueFunction *) node)->op;

		if (op == SVFOP_CURRENT_ROLE || op == SVFOP_CURRENT_USER ||
			op == SVFOP_USER || op == SVFOP_SESSION_USER)
			return true;
	}
	return expression_tree_walker(node, has_user_value_walker, context);
}

/* Does the expression read a column, a parameter or a subquery? */
static bool
has_input_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var) || IsA(node, Param) || IsA(node, SubLink))
		return true;
	return expression_tree_walker(node, has_input_walker, context);
}

/* A call of a delegated function: its NULL account made non-constant. */
static void
guard_call(FuncExpr *call, ParamListInfo params)
{
	HeapTuple	tp;
	List	   *args;
	int			at = delegated_function(call->funcid);
	ListCell   *account;

	if (at < 0)
		return;
	tp = SearchSysCache1(PROCOID, ObjectIdGetDatum(call->funcid));
	if (!HeapTupleIsValid(tp))
		return;
	/* as the planner will: named arguments in place, defaults added */
	args = expand_function_arguments(list_copy(call->args), false,
									 call->funcresulttype, tp);
	ReleaseSysCache(tp);
	if (list_length(args) <= at)
		return;
	account = list_nth_cell(args, at);
	if (credits_may_not_execute(call->funcid))
	{
		lfirst(account) = not_constant((Node *) lfirst(account), false);
		call->args = args;
	}
	else if (account_is_null((Node *) lfirst(account), params))
	{
		lfirst(account) = not_constant((Node *) lfirst(account), true);
		call->args = args;
	}
	else if (has_var_walker((Node *) lfirst(account), NULL))
	{
		/*
		 * An account read from a row source: SELECT credits_balance(a)
		 * FROM (VALUES ('alice')) v(a) crashed too, once planning had
		 * folded the one row into a constant and Citus tried to delegate
		 * the call with the VALUES still in the statement.
		 */
		lfirst(account) = not_constant((Node *) lfirst(account), false);
		call->args = args;
	}
	else
	{
		/*
		 * The call is delegated.  An argument that names the current user
		 * (decided_by DEFAULT current_user) would reach the worker as
		 * (CURRENT_USER)::text, not a constant, and with such an argument
		 * Citus 13.2 fails every statement of the call on its
		 * forced-delegation check ("queries must filter by the
		 * distribution argument").  It is evaluated here, to the same
		 * name (the worker runs the call as the same user), as a constant
		 * of the parameter's type and collation.
		 */
		ListCell   *lc;
		bool		changed = false;

		foreach(lc, args)
		{
			Node	   *arg = (Node *) lfirst(lc);

			if (lc == account || IsA(arg, Const) || !has_user_value_walker(arg, NULL) ||
				has_input_walker(arg, NULL) || contain_volatile_functions(arg))
				continue;
			/* (of its type's collation: a name's "C" would come along) */
			lfirst(lc) = (Node *) evaluate_expr((Expr *) arg, exprType(arg),
												exprTypmod(arg),
												get_typcollation(exprType(arg)));
			changed = true;
		}
		if (changed)
			call->args = args;
	}
}

/*
 * Every call in the statement, subqueries included: Citus looks for the
 * call to delegate in the statement as planning leaves it, where a
 * subquery may have been pulled up or a SQL function inlined.
 */
static bool
guard_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, guard_walker, context, 0);
	if (IsA(node, FuncExpr))
		guard_call((FuncExpr *) node, (ParamListInfo) context);
	return expression_tree_walker(node, guard_walker, context);
}

static PlannedStmt *
credits_planner(Query *parse, const char *query_string, int cursor_options,
				ParamListInfo bound_params)
{
	/* nothing to guard without a planner hook before ours (Citus's) */
	if (prev_planner_hook)
	{
		(void) query_tree_walker(parse, guard_walker, bound_params, 0);
		return prev_planner_hook(parse, query_string, cursor_options, bound_params);
	}
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
