/*
 * feed.h
 *     The feed (contract §19): commit-ordered positions for every stored
 *     event, readable without skipping.
 */
#ifndef DURABLE_SINK_FEED_H
#define DURABLE_SINK_FEED_H

#include "postgres.h"

extern void feed_init(void);
extern void feed_note_appended(int64 event_id, Oid feed_seq);
extern int64 feed_horizon(void);
extern void feed_note_announced(void);
extern void announce_feed_frame(int64 first, int64 last, int count);

#endif							/* DURABLE_SINK_FEED_H */
