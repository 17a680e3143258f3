/*
 * store.h
 *     The event store: appending canonical events with per-scope gapless
 *     sequences, idempotent retries and compare-and-append.
 */
#ifndef DURABLE_SINK_STORE_H
#define DURABLE_SINK_STORE_H

#include "postgres.h"

#include "access/tupdesc.h"
#include "utils/tuplestore.h"

#include "draft.h"

/* One draft to append, as canonical_event_draft column values. */
typedef struct StoreRow
{
	Datum		values[DRAFT_NATTS];
	bool		nulls[DRAFT_NATTS];
	int64		event_id;		/* 0: assign from durable_sink.event_id_seq */
	text	   *writer_id;		/* NULL when none */
	text	   *idempotency_key;	/* NULL when none */
	/* set by store_append: */
	int64		thread_seq;		/* 0 when the draft has no thread scope */
	int64		run_seq;		/* 0 when the draft has no run scope */
} StoreRow;

/* Compare-and-append: the seq the caller expects to be a scope's latest. */
typedef struct AppendExpectation
{
	bool		check_thread;
	int64		thread_seq;
	bool		check_run;
	int64		run_seq;
} AppendExpectation;

/* A growing list of rows, for the batch paths. */
typedef struct StoreBatch
{
	StoreRow   *rows;
	int			count;
	int			capacity;
} StoreBatch;

extern void store_append(StoreRow *rows, int count, const AppendExpectation *expect,
						 Tuplestorestate *result);
extern HeapTuple store_find_idempotent(StoreRow *row, bool *claimed);
extern void store_batch_init(StoreBatch *batch);
extern StoreRow *store_batch_push(StoreBatch *batch);

#endif							/* DURABLE_SINK_STORE_H */
