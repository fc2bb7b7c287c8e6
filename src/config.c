/*
 * config.c
 *	  Backend caches of the configuration tables (credit types, rates, the
 *	  agency switch) and the invalidation machinery they share with the
 *	  portal roles (access.c), so that every session's next statement sees a
 *	  committed change.
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

/*
 * How the caches stay current
 *
 * A statement trigger on each cached table (credits.config_changed() or
 * credits.portal_changed(), with the table's name as argument) sends a
 * relcache invalidation of the table whenever a statement changes it; every
 * other backend receives it once the change has committed, this one at its
 * next command.
 *
 * - The invalidation names the logical table credits.<name>, looked up by
 *   name, never the trigger's tg_relation: under Citus the trigger fires on
 *   a shard, whose OID no backend's cache knows.
 *
 * - PostgreSQL reads pending invalidations only at the start of a
 *   transaction and when a lock is newly taken; inside a transaction that
 *   has already read the tables it would not notice them.  So every look-up
 *   reads them first (credits_cache_valid: a test of a shared flag when
 *   there are none).
 *
 * - A load reads the table under a snapshot taken at the time of the load
 *   (credits_run_latest), not the caller's, which may predate the change:
 *   a statement that started before the change, or any statement of a
 *   REPEATABLE READ transaction.  The committing backend makes its
 *   transaction visible before it sends the invalidation, so a snapshot
 *   taken after the invalidation arrived sees the change.
 *
 * - Each cache counts the invalidations it receives and is valid while the
 *   count is what it was when its last complete load began.  This marks the
 *   cache valid before the load, in effect: an invalidation that arrives
 *   during the load (taking the table's lock reads them) leaves it invalid,
 *   so the next look-up loads again instead of keeping what may be older
 *   than the change; and a load that fails half-way never counts.
 *
 * - The table OIDs the callback compares with are resolved by name at each
 *   load (loads follow changes, so they are rare), which also copes with
 *   DROP and CREATE EXTENSION; an invalidation of every relation (InvalidOid,
 *   after a lost message) invalidates every cache.
 */
#define MAX_CREDITS_CACHES 8

static CreditsCache *caches[MAX_CREDITS_CACHES];
static int	ncaches = 0;

static void
credits_cache_inval(Datum arg, Oid relid)
{
	int			i;

	for (i = 0; i < ncaches; i++)
	{
		if (relid == InvalidOid || relid == caches[i]->relid)
			caches[i]->invals++;
	}
}

/*
 * Register a cache (from _PG_init).  One relcache callback serves them all:
 * a backend can register only a few.
 */
void
credits_cache_register(CreditsCache *cache)
{
	if (ncaches == 0)
		CacheRegisterRelcacheCallback(credits_cache_inval, (Datum) 0);
	if (ncaches >= MAX_CREDITS_CACHES)
		elog(ERROR, "credits: too many configuration caches");
	cache->relid = InvalidOid;
	cache->invals = 1;
	cache->loaded = 0;
	caches[ncaches++] = cache;
}

/* May the cache be used as it is?  Reads pending invalidations first. */
bool
credits_cache_valid(CreditsCache *cache)
{
	AcceptInvalidationMessages();
	return cache->loaded == cache->invals;
}

/* The OID of credits.<name>, or InvalidOid when there is none. */
static Oid
credits_table_oid(const char *name)
{
	Oid			nsp = get_namespace_oid("credits", true);

	return OidIsValid(nsp) ? get_relname_relid(name, nsp) : InvalidOid;
}

/*
 * Start (re)loading a cache: returns the invalidation count to hand to
 * credits_cache_loaded once the load is complete.
 */
uint64
credits_cache_begin(CreditsCache *cache)
{
	cache->relid = credits_table_oid(cache->table);
	return cache->invals;
}

void
credits_cache_loaded(CreditsCache *cache, uint64 start)
{
	cache->loaded = start;
}

#define CREDIT_TYPE_CODE_LEN 64

typedef struct CreditTypeCacheEntry
{
	char		code[CREDIT_TYPE_CODE_LEN];	/* hash key */
	CreditTypeInfo info;
} CreditTypeCacheEntry;

static CreditsCache type_cache = {"credit_type"};
static CreditsCache rate_cache = {"rate"};
static CreditsCache switch_cache = {"setting"};

/* Each hash lives in its own context under CacheMemoryContext. */
static HTAB *types = NULL;
static MemoryContext type_cxt = NULL;
static HTAB *rates = NULL;
static MemoryContext rate_cxt = NULL;
static bool switch_off = false;

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

void
credits_config_init(void)
{
	credits_cache_register(&type_cache);
	credits_cache_register(&rate_cache);
	credits_cache_register(&switch_cache);
}

/*
 * A cache is built in a context of its own, created under the caller's (the
 * SPI procedure's) context, so that a load that fails is freed with the
 * transaction.  Once complete, this moves it under CacheMemoryContext and
 * frees the one it replaces.
 */
static void
credits_keep_context(MemoryContext cxt, MemoryContext *slot)
{
	MemoryContextSetParent(cxt, CacheMemoryContext);
	if (*slot != NULL)
		MemoryContextDelete(*slot);
	*slot = cxt;
}

/* (Re)load every credit type.  Connects to SPI itself. */
static void
credits_load_types(void)
{
	uint64		start = credits_cache_begin(&type_cache);
	MemoryContext cxt;
	HASHCTL		ctl;
	HTAB	   *hash;
	uint64		i;

	SPI_connect();
	cxt = AllocSetContextCreate(CurrentMemoryContext, "credits credit types",
								ALLOCSET_SMALL_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = CREDIT_TYPE_CODE_LEN;
	ctl.entrysize = sizeof(CreditTypeCacheEntry);
	ctl.hcxt = cxt;
	hash = hash_create("credits credit types", 16, &ctl,
					   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	credits_run_latest(&stmt_all_types, NULL, NULL, 0);
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		char	   *code = TextDatumGetCString(credits_col(i, 1, &isnull));
		CreditTypeCacheEntry *e;
		Datum		d;

		if (strlen(code) >= CREDIT_TYPE_CODE_LEN)
			continue;			/* cannot be: codes are at most 32 characters */
		e = hash_search(hash, code, HASH_ENTER, NULL);
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
	credits_keep_context(cxt, &type_cxt);
	types = hash;
	SPI_finish();
	credits_cache_loaded(&type_cache, start);
}

/*
 * Look a credit type up.  Returns false when it does not exist; CRD exists
 * implicitly (Credits, whole units) until it has a row.
 */
bool
credits_lookup_type(const char *code, CreditTypeInfo *info)
{
	CreditTypeCacheEntry *e = NULL;

	if (!credits_cache_valid(&type_cache))
		credits_load_types();
	if (strlen(code) < CREDIT_TYPE_CODE_LEN)
		e = hash_search(types, code, HASH_FIND, NULL);
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
	if (!credits_cache_valid(&switch_cache))
	{
		uint64		start = credits_cache_begin(&switch_cache);
		bool		off = false;

		SPI_connect();
		credits_run_latest(&stmt_switch, NULL, NULL, 1);
		if (SPI_processed > 0)
		{
			bool		isnull;
			Datum		d = credits_col(0, 1, &isnull);

			off = !isnull && strcmp(TextDatumGetCString(d), "off") == 0;
		}
		SPI_finish();
		switch_off = off;
		credits_cache_loaded(&switch_cache, start);
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
	uint64		start = credits_cache_begin(&rate_cache);
	MemoryContext cxt;
	HASHCTL		ctl;
	HTAB	   *hash;
	uint64		i;
	uint64		j;

	SPI_connect();
	cxt = AllocSetContextCreate(CurrentMemoryContext, "credits rates",
								ALLOCSET_SMALL_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(RateKey);
	ctl.entrysize = sizeof(RateSchedule);
	ctl.hcxt = cxt;
	hash = hash_create("credits rates", 16, &ctl,
					   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	credits_run_latest(&stmt_all_rates, NULL, NULL, 0);
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
		e = hash_search(hash, &key, HASH_ENTER, NULL);
		old = MemoryContextSwitchTo(cxt);
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
	credits_keep_context(cxt, &rate_cxt);
	rates = hash;
	SPI_finish();
	credits_cache_loaded(&rate_cache, start);
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

	if (!credits_cache_valid(&rate_cache))
		credits_load_rates();
	if (strlen(currency) >= sizeof(key.currency) ||
		strlen(credit_type) >= sizeof(key.credit_type))
		return false;
	credits_rate_key(&key, currency, credit_type);
	e = hash_search(rates, &key, HASH_FIND, NULL);
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
 * Send the invalidation of credits.<the trigger's argument>, the logical
 * table, for a statement trigger of a cached table.  Should the name not
 * resolve (the trigger was created by hand), the trigger's own relation.
 */
void
credits_cache_trigger(FunctionCallInfo fcinfo, const char *fname)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Oid			relid = InvalidOid;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "%s: not called by trigger manager", fname);
	if (trigdata->tg_trigger->tgnargs >= 1)
		relid = credits_table_oid(trigdata->tg_trigger->tgargs[0]);
	if (OidIsValid(relid))
		CacheInvalidateRelcacheByRelid(relid);
	else
		CacheInvalidateRelcache(trigdata->tg_relation);
}

/*
 * credits.config_changed(table name): statement trigger on the
 * configuration tables; every backend drops its cache of the table when
 * the change commits (this backend at its next command).
 */
Datum
credits_config_changed(PG_FUNCTION_ARGS)
{
	credits_cache_trigger(fcinfo, "credits_config_changed");
	return PointerGetDatum(NULL);
}
