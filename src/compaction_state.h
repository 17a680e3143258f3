/*
 * compaction_state.h
 *     The per-thread context-compaction observation (contract §8) as it is
 *     kept in durable_sink.compaction_state and
 *     durable_sink.compaction_fingerprints.
 */
#ifndef DURABLE_SINK_COMPACTION_STATE_H
#define DURABLE_SINK_COMPACTION_STATE_H

#include "postgres.h"

#include "common/sha2.h"
#include "storage/itemptr.h"
#include "utils/hsearch.h"

/*
 * One thread's observation while a snapshot is applied to it: T, the
 * in-flight compaction, and the fingerprints recorded so far.  Opened by
 * observation_open, changed by the §8 steps, written by observation_close.
 */
typedef struct ThreadObservation
{
	const text *thread_id;
	bytea	   *thread_key;		/* sha256(thread_id) */
	uint64		total;			/* T */
	char	   *task_id;		/* in-flight compaction, NULL: none */
	char	   *boundary_message_id;	/* NULL: absent */
	bool		state_changed;	/* T or the in-flight compaction changed */
	bool		row_exists;		/* this transaction holds the state row */
	ItemPointerData row_tid;	/* its latest version (1.1 layout) */
	bool		stored_void;	/* no stored fingerprint needs a lookup */
	bool		reset;			/* every fingerprint was forgotten (step 1) */
	bool		v10_layout;		/* 1.0 objects: fingerprints in the state row */
	HTAB	   *known;			/* digests known to be recorded (or NULL) */
	int			npending;		/* digests to insert */
	int			pending_capacity;
	Datum	   *pending;		/* bytea digests */
} ThreadObservation;

extern void observation_open(ThreadObservation *obs, const text *thread_id);
extern bool observation_record(ThreadObservation *obs,
							   const uint8 digest[PG_SHA256_DIGEST_LENGTH]);
extern void observation_forget_all(ThreadObservation *obs);
extern bool observation_close(ThreadObservation *obs);

#endif							/* DURABLE_SINK_COMPACTION_STATE_H */
