/*
 * credits.c
 *	  Module entry point of the credits extension: registers the cache
 *	  callbacks that keep the prepared statements valid.
 */
#include "postgres.h"

#include "fmgr.h"

#include "credits.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	credits_plans_init();
	credits_events_init();
	credits_access_init();
	credits_config_init();
	credits_bulk_init();
	credits_payload_init();
	credits_delegation_init();
}
