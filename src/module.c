/*
 * module.c
 *     Module entry point: the extension's settings.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "announce.h"
#include "announcer.h"
#include "feed.h"
#include "stats.h"
#include "state_access.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomBoolVariable("durable_sink.announce_events",
							 "Include the event itself in live frames on channel durable_sink.",
							 "Off by default: any role that can connect to the database can "
							 "LISTEN on the channel, so frames carry only event types, ids and "
							 "sequence numbers, and consumers fetch events through read().  "
							 "Superuser only.",
							 &announce_events,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
	DefineCustomBoolVariable("durable_sink.announce_after_commit",
							 "Send live frames from a background worker after commit.",
							 "Takes effect with the library in shared_preload_libraries: writers "
							 "then take no notify lock and can PREPARE TRANSACTION.  Off: frames "
							 "are sent by NOTIFY in the writing transaction.",
							 &announce_after_commit,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
	MarkGUCPrefixReserved("durable_sink");
	state_access_init();
	feed_init();
	announcer_init();
	stats_init();
}
