/*
 * capture.h
 *     The capture triggers (capture.c) as seen by the capture of partitioned
 *     tables and inheritance trees (capture_partitions.c) and by the
 *     backfill (backfill.c), which captures rows the way the statement
 *     trigger does.
 */
#ifndef DURABLE_SINK_CAPTURE_H
#define DURABLE_SINK_CAPTURE_H

#include "postgres.h"

#include "stats.h"

#include "commands/trigger.h"
#include "executor/tuptable.h"
#include "utils/relcache.h"

#include "draft.h"
#include "durable_sink.h"
#include "sink.h"
#include "store.h"

/* The two capture trigger functions, by the name of their C symbol. */
typedef enum CaptureKind
{
	CAPTURE_NONE,
	CAPTURE_ROW,				/* durable_sink.capture() */
	CAPTURE_STATEMENT			/* durable_sink.capture_statement() */
} CaptureKind;

extern CaptureKind capture_kind_of(Oid function);
extern const char *capture_function_name(CaptureKind kind);
extern Trigger *capturing_trigger(Relation rel);
extern void capture_trigger_validate(Relation rel, const Trigger *trigger, CaptureKind kind);

/* A capture trigger's arguments, resolved against its table (contract §15). */
typedef struct CaptureConfig
{
	Oid			trigger_oid;	/* InvalidOid: not a trigger (backfill) */
	AttrNumber	event_att;
	AttrNumber	thread_att;
	AttrNumber	run_att;
	AttrNumber	correlation_att;	/* 0: none */
	Datum		origin;			/* text */
	Durability	mode;
	bool		announce;
	bool		inactive;		/* another capture trigger captures the table */
	CaptureSource source;
	DraftTupleBuilder *builder;
} CaptureConfig;

extern void capture_config_resolve(Relation rel, const char *function, int nargs,
								   char **args, CaptureConfig *config);

/*
 * Rows captured in order, appended in batches of 1000 raw rows, each stream
 * announced once at the end: the statement trigger's work, shared with the
 * backfill (backfill.c).
 */
struct StreamTable;
struct StreamAnnouncement;

typedef struct PendingBatch
{
	StoreBatch	batch;
	struct StreamAnnouncement **stream_of_row;	/* per StoreRow */
	int			capacity;
} PendingBatch;

typedef struct CaptureRun
{
	CaptureConfig *config;
	MemoryContext context;		/* the run's memory */
	MemoryContext batch_context;	/* reset after each append */
	PendingBatch pending;
	struct StreamTable *streams;
	int64		rows;			/* raw rows seen */
	int64		rejected;		/* of which rejected */
	int64		appended;		/* rows appended to the store */
	int			unflushed;		/* raw rows since the last append */
} CaptureRun;

extern void capture_run_begin(CaptureRun *run, CaptureConfig *config);
extern void capture_run_row(CaptureRun *run, TupleTableSlot *slot);
extern void capture_run_end(CaptureRun *run, const char *what, StatsEntryPoint entry_point);

/* capture_partitions.c */
extern void capture_warn_uncaptured_descendants(Relation rel, CaptureKind kind);

#endif							/* DURABLE_SINK_CAPTURE_H */
