/*
 * sink.h
 *     The durable sink: normalize an event, keep what the durability mode
 *     says, record what the normalizer rejects.
 */
#ifndef DURABLE_SINK_SINK_H
#define DURABLE_SINK_SINK_H

#include "postgres.h"

#include "draft.h"
#include "durable_sink.h"
#include "store.h"

/* Where a captured event came from, for capture_failures. */
typedef struct CaptureSource
{
	const char *source;			/* 'emit' or 'trigger' */
	const char *table;			/* qualified raw table name, or NULL */
} CaptureSource;

extern bool sink_capture(const NormalizeInput *input, Durability mode,
						 DraftTupleBuilder *builder, bool copy_values,
						 StoreBatch *batch, struct ErrorData **rejection);
extern void sink_record_failure(const NormalizeInput *input, const CaptureSource *source,
								const struct ErrorData *error, bool warn);
extern char *sink_event_json(const NormalizeInput *input);

#endif							/* DURABLE_SINK_SINK_H */
