/*
 * stats.h
 *     Counters since server start, per database and entry point (contract
 *     §23), kept in shared memory when the library is preloaded.
 */
#ifndef DURABLE_SINK_STATS_H
#define DURABLE_SINK_STATS_H

#include "postgres.h"

/* The entry points counted, in the order durable_sink.stats() lists them. */
typedef enum StatsEntryPoint
{
	STATS_NORMALIZE,
	STATS_NORMALIZE_MANY,
	STATS_EMIT,
	STATS_APPEND,
	STATS_CAPTURE,
	STATS_CAPTURE_STATEMENT,
	STATS_BACKFILL,
	STATS_ANNOUNCER,
	STATS_ENTRY_POINT_COUNT
} StatsEntryPoint;

/* What one call of an entry point did; the call itself counts one. */
typedef struct StatsCall
{
	uint64		normalized;		/* events the normalizer accepted */
	uint64		rejected;		/* events it rejected */
	uint64		appended;		/* rows inserted into durable_sink.events */
	uint64		announced;		/* live frames sent or queued for sending */
} StatsCall;

extern void stats_init(void);
extern void stats_count(StatsEntryPoint entry_point, const StatsCall *call);

#endif							/* DURABLE_SINK_STATS_H */
