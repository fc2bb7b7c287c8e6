/*
 * config.c
 *	  Backend caches of the small configuration tables every movement reads:
 *	  credit types (scale, currency) and the agency switch.  A statement
 *	  trigger on each table sends a relcache invalidation of it on every
 *	  change, which every backend processes at its next transaction (or
 *	  command), so the caches are never older than the caller's snapshot
 *	  could be.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "credits.h"

PG_FUNCTION_INFO_V1(credits_config_changed);

#define CREDIT_TYPE_CODE_LEN 64

typedef struct TypeCacheEntry
{
	char		code[CREDIT_TYPE_CODE_LEN];	/* hash key */
	CreditTypeInfo info;
} TypeCacheEntry;

static HTAB *type_cache = NULL;
static bool types_valid = false;
static bool switch_valid = false;
static bool switch_off = false;
static Oid	type_rel = InvalidOid;
static Oid	setting_rel = InvalidOid;

static CreditsStmt stmt_all_types = {"",
	"SELECT code, scale, currency FROM credits.credit_type"};

static CreditsStmt stmt_switch = {"",
	"SELECT value FROM credits.setting WHERE name = 'enabled'"};

static void
credits_config_inval(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == type_rel)
		types_valid = false;
	if (relid == InvalidOid || relid == setting_rel)
		switch_valid = false;
}

void
credits_config_init(void)
{
	CacheRegisterRelcacheCallback(credits_config_inval, (Datum) 0);
}

static Oid
credits_table_oid(const char *name)
{
	return get_relname_relid(name, get_namespace_oid("credits", false));
}

/* (Re)load every credit type.  Inside SPI. */
static void
credits_load_types(void)
{
	HASHCTL		ctl;
	uint64		i;

	type_rel = credits_table_oid("credit_type");
	if (type_cache != NULL)
		hash_destroy(type_cache);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = CREDIT_TYPE_CODE_LEN;
	ctl.entrysize = sizeof(TypeCacheEntry);
	type_cache = hash_create("credits credit types", 16, &ctl,
							 HASH_ELEM | HASH_STRINGS);
	credits_run(&stmt_all_types, NULL, NULL, true, 0);
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		char	   *code = TextDatumGetCString(credits_col(i, 1, &isnull));
		TypeCacheEntry *e;
		Datum		d;

		if (strlen(code) >= CREDIT_TYPE_CODE_LEN)
			continue;			/* cannot be: codes are at most 32 characters */
		e = hash_search(type_cache, code, HASH_ENTER, NULL);
		memset(&e->info, 0, sizeof(e->info));
		e->info.scale = DatumGetInt32(credits_col(i, 2, &isnull));
		d = credits_col(i, 3, &isnull);
		if (!isnull)
		{
			e->info.has_currency = true;
			text_to_cstring_buffer(DatumGetTextPP(d), e->info.currency,
								   sizeof(e->info.currency));
		}
	}
	SPI_freetuptable(SPI_tuptable);
	types_valid = true;
}

/*
 * Look a credit type up.  Returns false when it does not exist; CRD exists
 * implicitly (Credits, whole units) until it has a row.  Inside SPI.
 */
bool
credits_lookup_type(const char *code, CreditTypeInfo *info)
{
	TypeCacheEntry *e = NULL;

	if (!types_valid)
		credits_load_types();
	if (strlen(code) < CREDIT_TYPE_CODE_LEN)
		e = hash_search(type_cache, code, HASH_FIND, NULL);
	if (e != NULL)
	{
		*info = e->info;
		return true;
	}
	memset(info, 0, sizeof(*info));
	return strcmp(code, "CRD") == 0;
}

/* The agency switch; no row means on.  Inside SPI. */
bool
credits_enabled_now(void)
{
	if (!switch_valid)
	{
		setting_rel = credits_table_oid("setting");
		credits_run(&stmt_switch, NULL, NULL, true, 1);
		switch_off = false;
		if (SPI_processed > 0)
		{
			bool		isnull;
			Datum		d = credits_col(0, 1, &isnull);

			switch_off = !isnull && strcmp(TextDatumGetCString(d), "off") == 0;
		}
		SPI_freetuptable(SPI_tuptable);
		switch_valid = true;
	}
	return !switch_off;
}

/*
 * Statement trigger on the configuration tables: every backend drops its
 * cache of the table when the change commits (this backend at once).
 */
Datum
credits_config_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "credits_config_changed: not called by trigger manager");
	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}
