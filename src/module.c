/*
 * module.c
 *     Module entry point: the extension's settings.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "announce.h"
#include "state_access.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomBoolVariable("durable_sink.announce_events",
							 "Include the event itself in live frames on channel durable_sink.",
							 "Any role that can connect to the database can LISTEN on the "
							 "channel; turn this off to announce only kinds, ids and sequence "
							 "numbers, and let consumers fetch events through read().",
							 &announce_events,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
	MarkGUCPrefixReserved("durable_sink");
	state_access_init();
}
