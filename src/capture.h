/*
 * capture.h
 *     The capture triggers (capture.c) as seen by the capture of partitioned
 *     tables and inheritance trees (capture_partitions.c).
 */
#ifndef DURABLE_SINK_CAPTURE_H
#define DURABLE_SINK_CAPTURE_H

#include "postgres.h"

#include "commands/trigger.h"
#include "utils/relcache.h"

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

/* capture_partitions.c */
extern void capture_warn_uncaptured_descendants(Relation rel, CaptureKind kind);

#endif							/* DURABLE_SINK_CAPTURE_H */
