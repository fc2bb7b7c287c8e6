/*
 * triggers.c
 *	  The append-only guard on the history tables: corrections are new
 *	  entries, never edits.
 */
#include "postgres.h"

#include "commands/trigger.h"
#include "utils/rel.h"

#include "credits.h"

PG_FUNCTION_INFO_V1(credits_refuse_change);

Datum
credits_refuse_change(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	const char *op;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "credits_refuse_change: not called by trigger manager");
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		op = "UPDATE";
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		op = "DELETE";
	else if (TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		op = "TRUNCATE";
	else
		op = "change";
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("%s on \"%s\" is not allowed: credits history is append-only",
					op, RelationGetRelationName(trigdata->tg_relation)),
			 errhint("Record a correction as a new entry, for example with credits_reverse() or credits_void().")));
	PG_RETURN_NULL();
}
