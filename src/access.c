/*
 * access.c
 *	  Client-portal isolation.  A portal (PostgREST, Supabase, a web backend)
 *	  runs each end user's requests under a role registered as a portal role
 *	  and sets credits.portal_account to that user's account.  Such callers
 *	  may only read and spend their own account; everything else is the
 *	  agency's and is refused (42501).  The SECURITY DEFINER API functions
 *	  call credits_check_access() before they touch the ledger.
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "credits.h"

PG_FUNCTION_INFO_V1(credits_check_access_sql);
PG_FUNCTION_INFO_V1(credits_portal_changed);

/* credits.portal_account: the account a portal caller acts for */
static char *portal_account = NULL;

/*
 * Cached OIDs of the registered portal roles.  The table keeps them as
 * regrole, so a role stays a portal role when it is renamed (and a dump
 * restores it by name).  Kept current like the other configuration caches
 * (config.c).
 */
static List *portal_roles = NIL;
static CreditsCache portal_cache = {"portal_role"};

/*
 * Roles are kept by OID (regrole) since 1.1; version 1.0 kept their names.
 * Reading the row as JSON serves both, so that a 1.0 catalog still works
 * with this library between its installation and ALTER EXTENSION UPDATE.
 * A 1.0 name is resolved by to_regrole() of the quoted name (exact name, NULL
 * when no such role), not by a join to pg_roles: on Citus, where portal_role
 * is a reference table, the query is deparsed for its shard and pg_roles
 * becomes pg_authid, which the table owner may not read.
 */
static CreditsStmt stmt_portal_roles = {"",
	"SELECT coalesce((to_jsonb(p) ->> 'role')::pg_catalog.regrole::pg_catalog.oid, "
	"pg_catalog.to_regrole(pg_catalog.quote_ident(to_jsonb(p) ->> 'role_name'))::pg_catalog.oid) "
	"FROM credits.portal_role p"};

void
credits_access_init(void)
{
	DefineCustomStringVariable("credits.portal_account",
							   "The account a client-portal caller acts for.",
							   "Set by the portal for each request (for example in a PostgREST "
							   "pre-request function, from the JWT); callers in a portal role "
							   "can then only read and spend this account.",
							   &portal_account,
							   "",
							   PGC_USERSET,
							   0,
							   NULL, NULL, NULL);
	credits_cache_register(&portal_cache);
}

/* The registered portal roles.  Connects to SPI itself to reload them. */
static List *
credits_portal_roles(void)
{
	uint64		start;
	uint64		i;
	List	   *roles = NIL;
	MemoryContext old;

	if (credits_cache_valid(&portal_cache))
		return portal_roles;
	start = credits_cache_begin(&portal_cache);
	SPI_connect();
	credits_run_latest(&stmt_portal_roles, NULL, NULL, 0);
	old = MemoryContextSwitchTo(TopMemoryContext);
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		roles = lappend_oid(roles, DatumGetObjectId(credits_col(i, 1, &isnull)));
	}
	MemoryContextSwitchTo(old);
	SPI_finish();
	list_free(portal_roles);
	portal_roles = roles;
	credits_cache_loaded(&portal_cache, start);
	return portal_roles;
}

/* Is the caller (outside any SECURITY DEFINER context) a portal client? */
static bool
credits_caller_is_portal(void)
{
	List	   *roles = credits_portal_roles();
	Oid			caller = GetOuterUserId();
	ListCell   *lc;

	foreach(lc, roles)
	{
		if (is_member_of_role_nosuper(caller, lfirst_oid(lc)))
			return true;
	}
	return false;
}

/*
 * The account a restricted caller acts for, or NULL when the caller is not
 * restricted (it may see every account).  A caller is restricted when it
 * has set credits.portal_account, or is a member of a registered portal
 * role; a portal role without the setting is refused here (42501).
 * Functions that take an optional account filter use this for a NULL
 * filter, so that a portal sees its own rows and nothing else.  The result
 * points at the setting itself: copy it before the setting can change.
 * Must run inside SPI.
 */
const char *
credits_portal_scope(void)
{
	if (portal_account != NULL && portal_account[0] != '\0')
		return portal_account;
	if (!credits_caller_is_portal())
		return NULL;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("portal callers must set credits.portal_account"),
			 errhint("The portal sets it for each request, for example with set_config('credits.portal_account', <account from the JWT>, true).")));
	return NULL;				/* keep compiler quiet */
}

/*
 * Refuse what a portal caller may not do.  account is a text Datum (or 0
 * for functions that are not about one account); level says what the call
 * does.  Callers outside portal roles, without credits.portal_account set,
 * may do everything.  Must run inside SPI.
 */
void
credits_check_access(Datum account, CreditsAccess level)
{
	const char *scope = credits_portal_scope();
	char	   *acc;

	if (scope == NULL)
		return;
	if (level == CREDITS_ACCESS_AGENCY || account == (Datum) 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied: only the agency can do this"),
				 errdetail("The caller acts for account \"%s\" through a client portal.",
						   scope)));
	acc = TextDatumGetCString(account);
	if (strcmp(acc, scope) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for account \"%s\"", acc),
				 errdetail("The caller acts for account \"%s\" through a client portal.",
						   scope)));
}

/* credits.check_access(account text, level text): the same, for SQL code. */
Datum
credits_check_access_sql(PG_FUNCTION_ARGS)
{
	char	   *level = TextDatumGetCString(PG_GETARG_DATUM(1));
	CreditsAccess lv;

	if (strcmp(level, "client") == 0)
		lv = CREDITS_ACCESS_CLIENT;
	else if (strcmp(level, "agency") == 0)
		lv = CREDITS_ACCESS_AGENCY;
	else
		elog(ERROR, "credits: unknown access level \"%s\"", level);
	SPI_connect();
	credits_check_access(PG_ARGISNULL(0) ? (Datum) 0 : PG_GETARG_DATUM(0), lv);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * credits.portal_changed(table name): statement trigger on
 * credits.portal_role; every backend re-reads it.
 */
Datum
credits_portal_changed(PG_FUNCTION_ARGS)
{
	credits_cache_trigger(fcinfo, "credits_portal_changed");
	return PointerGetDatum(NULL);
}

/*
 * Refuse a restricted caller an object (a lot, entry, hold, subscription or
 * request) of another account.  account is the object's account, as read
 * by its id; the caller looks the id up first and keeps its own 42704 for
 * an unknown id.  Unlike credits_check_access(), the message names the
 * object and never the other account: a portal must not learn whose an id
 * is.  Must run inside SPI, before anything is locked or changed.
 */
void
credits_check_access_id(Datum account, const char *object, int64 id)
{
	const char *scope = credits_portal_scope();
	char	   *acc;

	if (scope == NULL)
		return;
	acc = TextDatumGetCString(account);
	if (strcmp(acc, scope) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for %s " INT64_FORMAT, object, id),
				 errdetail("The %s belongs to another account; the caller acts for account \"%s\" through a client portal.",
						   object, scope)));
}

PG_FUNCTION_INFO_V1(credits_portal_scope_sql);

/*
 * credits.portal_scope(): credits_portal_scope() for SQL code, NULL for a
 * caller that may see every account.  The view credits_balances calls it
 * with its reader's privileges, so it is SECURITY DEFINER (the portal-role
 * list is not readable by them) and harmless to anyone: it tells a caller
 * only its own scope.
 */
Datum
credits_portal_scope_sql(PG_FUNCTION_ARGS)
{
	const char *scope;

	SPI_connect();
	scope = credits_portal_scope();
	SPI_finish();
	if (scope == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(scope));
}
