/*
 * announcer.h
 *     Live frames sent after commit by a background worker (contract §17).
 */
#ifndef DURABLE_SINK_ANNOUNCER_H
#define DURABLE_SINK_ANNOUNCER_H

#include "postgres.h"

/* GUC durable_sink.announce_after_commit */
extern bool announce_after_commit;

extern void announcer_init(void);
extern Oid	announcer_outbox(void);
extern void announcer_queue_frame(const char *frame, Oid outbox);
extern void announcer_wake(int64 first_position);
extern void announcer_forget_transaction(void);

#endif							/* DURABLE_SINK_ANNOUNCER_H */
