/*
 * announce.h
 *     Live forwarding: NOTIFY on channel "durable_sink".
 */
#ifndef DURABLE_SINK_ANNOUNCE_H
#define DURABLE_SINK_ANNOUNCE_H

#include "postgres.h"

#include "lib/stringinfo.h"

#define ANNOUNCE_CHANNEL "durable_sink"

/* GUC durable_sink.announce_events */
extern bool announce_events;

extern void announce_frame(StringInfo frame);
extern void announce_send(const char *frame);
extern void frame_close(StringInfo frame);
extern void frame_begin(StringInfo frame, const char *source);
extern void frame_add_text(StringInfo frame, const char *key, const text *value);
extern void frame_add_cstring(StringInfo frame, const char *key, const char *value);
extern void frame_add_int64(StringInfo frame, const char *key, int64 value);
extern void frame_add_raw(StringInfo frame, const char *key, const char *json);

#endif							/* DURABLE_SINK_ANNOUNCE_H */
