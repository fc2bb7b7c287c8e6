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
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "credits.h"

PG_FUNCTION_INFO_V1(credits_config_changed);

#define CREDIT_TYPE_CODE_LEN 64

typedef struct TypeCacheEntry
{
	char		code[CREDIT_TYPE_CODE_LEN];	/* hash key */
	CreditTypeInfo info;
} TypeCacheEntry;

static HTAB *type_cache = NULL;
static HTAB *rate_cache = NULL;
static MemoryContext rate_cxt = NULL;
static bool rates_valid = false;
static Oid	rate_rel = InvalidOid;
static bool types_valid = false;
static bool switch_valid = false;
static bool switch_off = false;
static Oid	type_rel = InvalidOid;
static Oid	setting_rel = InvalidOid;

static CreditsStmt stmt_all_types = {"",
	"SELECT code, scale, currency FROM credits.credit_type"};

static CreditsStmt stmt_all_rates = {"",
	"SELECT currency, credit_type, effective_from, credits_per_unit "
	"FROM credits.rate ORDER BY currency, credit_type, effective_from"};

/* The rate schedule of one (currency, credit type), oldest first. */
typedef struct RateKey
{
	char		currency[8];
	char		credit_type[CREDIT_TYPE_CODE_LEN];
} RateKey;

typedef struct RateSchedule
{
	RateKey		key;
	int			n;
	TimestampTz *from;
	Numeric    *rate;
} RateSchedule;

static CreditsStmt stmt_switch = {"",
	"SELECT value FROM credits.setting WHERE name = 'enabled'"};

static void
credits_config_inval(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == type_rel)
		types_valid = false;
	if (relid == InvalidOid || relid == setting_rel)
		switch_valid = false;
	if (relid == InvalidOid || relid == rate_rel)
		rates_valid = false;
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

/* (Re)load every credit type.  Connects to SPI itself. */
static void
credits_load_types(void)
{
	HASHCTL		ctl;
	uint64		i;

	SPI_connect();
	type_rel = credits_table_oid("credit_type");
	if (type_cache != NULL)
		hash_destroy(type_cache);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = CREDIT_TYPE_CODE_LEN;
	ctl.entrysize = sizeof(TypeCacheEntry);
	ctl.hcxt = CacheMemoryContext;
	type_cache = hash_create("credits credit types", 16, &ctl,
							 HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
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
	SPI_finish();
	types_valid = true;
}

/*
 * Look a credit type up.  Returns false when it does not exist; CRD exists
 * implicitly (Credits, whole units) until it has a row.
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

/* The agency switch; no row means on. */
bool
credits_enabled_now(void)
{
	if (!switch_valid)
	{
		SPI_connect();
		setting_rel = credits_table_oid("setting");
		credits_run(&stmt_switch, NULL, NULL, true, 1);
		switch_off = false;
		if (SPI_processed > 0)
		{
			bool		isnull;
			Datum		d = credits_col(0, 1, &isnull);

			switch_off = !isnull && strcmp(TextDatumGetCString(d), "off") == 0;
		}
		SPI_finish();
		switch_valid = true;
	}
	return !switch_off;
}

static void
credits_rate_key(RateKey *key, const char *currency, const char *credit_type)
{
	memset(key, 0, sizeof(*key));
	strlcpy(key->currency, currency, sizeof(key->currency));
	strlcpy(key->credit_type, credit_type, sizeof(key->credit_type));
}

/* (Re)load every rate.  Connects to SPI itself. */
static void
credits_load_rates(void)
{
	HASHCTL		ctl;
	uint64		i;
	uint64		j;

	if (rate_cxt == NULL)
		rate_cxt = AllocSetContextCreate(CacheMemoryContext, "credits rates",
										 ALLOCSET_SMALL_SIZES);
	if (rate_cache != NULL)
		hash_destroy(rate_cache);
	rate_cache = NULL;
	MemoryContextReset(rate_cxt);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(RateKey);
	ctl.entrysize = sizeof(RateSchedule);
	ctl.hcxt = rate_cxt;
	rate_cache = hash_create("credits rates", 16, &ctl,
							 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	SPI_connect();
	rate_rel = credits_table_oid("rate");
	credits_run(&stmt_all_rates, NULL, NULL, true, 0);
	for (i = 0; i < SPI_processed; i = j)
	{
		bool		isnull;
		char	   *currency = TextDatumGetCString(credits_col(i, 1, &isnull));
		char	   *credit_type = TextDatumGetCString(credits_col(i, 2, &isnull));
		RateKey		key;
		RateSchedule *e;
		MemoryContext old;
		int			k;

		/* the rows of one schedule are consecutive */
		for (j = i + 1; j < SPI_processed; j++)
		{
			if (strcmp(TextDatumGetCString(credits_col(j, 1, &isnull)), currency) != 0 ||
				strcmp(TextDatumGetCString(credits_col(j, 2, &isnull)), credit_type) != 0)
				break;
		}
		if (strlen(currency) >= sizeof(key.currency) ||
			strlen(credit_type) >= sizeof(key.credit_type))
			continue;			/* cannot be: checked on the way in */
		credits_rate_key(&key, currency, credit_type);
		e = hash_search(rate_cache, &key, HASH_ENTER, NULL);
		old = MemoryContextSwitchTo(rate_cxt);
		e->n = (int) (j - i);
		e->from = palloc(sizeof(TimestampTz) * e->n);
		e->rate = palloc(sizeof(Numeric) * e->n);
		for (k = 0; k < e->n; k++)
		{
			e->from[k] = DatumGetTimestampTz(credits_col(i + k, 3, &isnull));
			e->rate[k] = DatumGetNumericCopy(credits_col(i + k, 4, &isnull));
		}
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	rates_valid = true;
}

/*
 * The rate of (currency, credit type) in force at "at": the latest that
 * took effect at or before it.  Returns false when there is none.  The
 * numeric is a copy in the caller's memory context.
 */
bool
credits_lookup_rate(const char *currency, const char *credit_type,
					TimestampTz at, Numeric *rate)
{
	RateKey		key;
	RateSchedule *e;
	int			k;

	if (!rates_valid)
		credits_load_rates();
	if (strlen(currency) >= sizeof(key.currency) ||
		strlen(credit_type) >= sizeof(key.credit_type))
		return false;
	credits_rate_key(&key, currency, credit_type);
	e = hash_search(rate_cache, &key, HASH_FIND, NULL);
	if (e == NULL)
		return false;
	for (k = e->n - 1; k >= 0; k--)
	{
		if (e->from[k] <= at)
		{
			*rate = DatumGetNumericCopy(NumericGetDatum(e->rate[k]));
			return true;
		}
	}
	return false;
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
