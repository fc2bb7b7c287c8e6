/*
 * events.c
 *	  The transactional outbox.  Every movement writes its event in the same
 *	  transaction; ids are derived from the writing transaction's xid so that
 *	  a consumer paging by the last id it saw never misses an event, without
 *	  making concurrent writers wait for a shared counter.
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "commands/async.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "credits.h"

PG_FUNCTION_INFO_V1(credits_emit_event_sql);

/* credits.notify: send NOTIFY credits_events for each event at commit */
bool		credits_notify = true;

static CreditsStmt stmt_event_insert = {"ittttji",
	"INSERT INTO credits.event (id, account, type, aggregatetype, aggregateid, "
	"payload, entry_id) VALUES ($1, $2, $3, $4, $5, $6, $7)"};

/* Events of one transaction: its full xid and how many ids it has drawn. */
static FullTransactionId event_fxid;
static uint64 event_count = 0;

void
credits_events_init(void)
{
	DefineCustomBoolVariable("credits.notify",
							 "Sends NOTIFY credits_events for every event when its transaction commits.",
							 "PostgreSQL serializes the commits of notifying transactions; "
							 "deployments whose consumers poll credits_events_since() can turn it off.",
							 &credits_notify,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
}

/*
 * The next event id: the top transaction's 64-bit xid shifted left by
 * CREDITS_EVENT_SEQ_BITS, plus a counter within the transaction.  Every id
 * of a transaction that may still commit is at least its xid << bits, which
 * is at least the reader's snapshot xmin << bits: credits_events_since()
 * shows only ids below that, so an id it has shown is lower than any id that
 * can appear later.
 */
int64
credits_next_event_id(void)
{
	FullTransactionId fxid = GetTopFullTransactionId();
	uint64		xid64 = U64FromFullTransactionId(fxid);

	if (!FullTransactionIdEquals(fxid, event_fxid))
	{
		event_fxid = fxid;
		event_count = 0;
	}
	event_count++;
	if (event_count >= (UINT64CONST(1) << CREDITS_EVENT_SEQ_BITS))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many credit events in one transaction"),
				 errdetail("A transaction can write at most %llu events.",
						   (unsigned long long) ((UINT64CONST(1) << CREDITS_EVENT_SEQ_BITS) - 1)),
				 errhint("Split the bulk operation into several transactions.")));
	if (credits_distributed())
	{
		/*
		 * Distributed, each node numbers its own transactions: the node's
		 * group goes in the top bits, so ids stay unique across the cluster
		 * (also when a shard moves to another node).  The order a consumer
		 * sees is not these ids' but that of credits.event_log, where the
		 * coordinator publishes the committed events (credits_events_since).
		 */
		int32		group = credits_node_group();

		if (group < 0 || group >= CREDITS_EVENT_MAX_GROUPS)
			elog(ERROR, "credits: Citus node group %d too large for event ids", group);
		if (xid64 >= (UINT64CONST(1) << CREDITS_EVENT_XID_BITS))
			elog(ERROR, "credits: transaction id too large for event ids");
		return (int64) (((uint64) group << (CREDITS_EVENT_XID_BITS + CREDITS_EVENT_SEQ_BITS)) |
						(xid64 << CREDITS_EVENT_SEQ_BITS) | event_count);
	}
	if (xid64 >= (UINT64CONST(1) << (63 - CREDITS_EVENT_SEQ_BITS)))
		elog(ERROR, "credits: transaction id too large for event ids");
	return (int64) ((xid64 << CREDITS_EVENT_SEQ_BITS) | event_count);
}

/* Queue the NOTIFY that wakes listeners when the transaction commits. */
void
credits_notify_event(int64 event_id, const char *type)
{
	char		payload[128];

	/*
	 * Not on a distributed ledger: the event is written on a worker, where a
	 * NOTIFY would forbid the two-phase commit of a transaction that also
	 * writes on another node; consumers there poll credits_events_since().
	 */
	if (!credits_notify || credits_distributed())
		return;
	snprintf(payload, sizeof(payload), "%lld %s", (long long) event_id, type);
	Async_Notify("credits_events", payload);
}

/*
 * Write one event.  account, aggregateid are text Datums, payload a jsonb
 * Datum.  Returns the event id.
 */
int64
credits_emit_event(Datum account, const char *type, const char *aggregatetype,
				   Datum aggregateid, Datum payload, int64 entry_id)
{
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	int64		id = credits_next_event_id();

	values[0] = Int64GetDatum(id);
	values[1] = account;
	values[2] = CStringGetTextDatum(type);
	values[3] = CStringGetTextDatum(aggregatetype);
	values[4] = aggregateid;
	values[5] = payload;
	values[6] = Int64GetDatum(entry_id);
	if (entry_id == 0)
		nulls[6] = 'n';
	credits_run(&stmt_event_insert, values, nulls, false, 0);
	credits_notify_event(id, type);
	return id;
}

/*
 * credits.emit_event(account, type, aggregatetype, aggregateid, payload):
 * the same, for SQL and PL/pgSQL code of the extension.
 */
Datum
credits_emit_event_sql(PG_FUNCTION_ARGS)
{
	int64		id;
	char	   *type;
	char	   *aggtype;

	credits_require_arg(fcinfo, 0, "account");
	credits_require_arg(fcinfo, 1, "type");
	credits_require_arg(fcinfo, 2, "aggregatetype");
	credits_require_arg(fcinfo, 3, "aggregateid");
	credits_require_arg(fcinfo, 4, "payload");
	type = TextDatumGetCString(PG_GETARG_DATUM(1));
	aggtype = TextDatumGetCString(PG_GETARG_DATUM(2));
	SPI_connect();
	id = credits_emit_event(PG_GETARG_DATUM(0), type, aggtype,
							PG_GETARG_DATUM(3), PG_GETARG_DATUM(4), 0);
	SPI_finish();
	PG_RETURN_INT64(id);
}
