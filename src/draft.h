/*
 * draft.h
 *     Building canonical_event_draft tuples (contract §4).
 */
#ifndef DURABLE_SINK_DRAFT_H
#define DURABLE_SINK_DRAFT_H

#include "fmgr.h"
#include "access/htup.h"
#include "access/tupdesc.h"

#include "durable_sink.h"

#define DRAFT_NATTS 11

/* Column numbers of canonical_event_draft (contract §4 order). */
enum
{
	COL_FIDELITY, COL_EVENT_KIND, COL_SCOPES, COL_THREAD_ID, COL_RUN_ID,
	COL_PAYLOAD, COL_CAUSATION_ID, COL_CORRELATION_ID, COL_ORIGIN,
	COL_VISIBILITY, COL_SCHEMA_VERSION
};

/*
 * One cached scopes array (contract §4) and the stream it belongs to.
 */
typedef struct ScopesCacheEntry
{
	text	   *thread_id;		/* NULL: entry unused */
	text	   *run_id;			/* NULL: thread-only scopes */
	Datum		scopes;
} ScopesCacheEntry;

/*
 * Streams whose scopes arrays a builder keeps: a scan of raw events sees
 * a handful of conversations interleaved in bursts.  Direct-mapped by a
 * hash of the stream.
 */
#define SCOPES_CACHE_SIZE 32

/*
 * Per-FmgrInfo cache (fn_extra) of everything that is the same for every
 * draft of one query: the blessed row type, enum label OIDs, event_kind
 * texts, and the scopes arrays of the streams seen last.
 */
typedef struct DraftTupleBuilder
{
	MemoryContext mcxt;
	TupleDesc	tupdesc;
	Oid			fidelity_oids[FIDELITY_COUNT];
	Oid			visibility_oids[VISIBILITY_COUNT];
	Oid			durability_oids[DURABILITY_COUNT];
	Datum		kind_texts[CK_COUNT];
	ScopesCacheEntry scopes_cache[SCOPES_CACHE_SIZE];
	int			scopes_last;	/* the entry hit or filled last */
} DraftTupleBuilder;

extern DraftTupleBuilder *draft_builder_create(MemoryContext mcxt);
extern DraftTupleBuilder *draft_builder_get(FunctionCallInfo fcinfo);
extern FidelityClass draft_fidelity_of(const DraftTupleBuilder *builder, Datum fidelity);
extern Durability draft_durability_of(const DraftTupleBuilder *builder, Datum mode);
extern void draft_validate_values(Datum *values, bool *nulls);
extern void draft_values_from_record(HeapTupleHeader rec, Datum *values, bool *nulls);
extern void draft_to_values(DraftTupleBuilder *builder,
							const NormalizeContext *ctx,
							const CanonicalDraft *draft,
							Datum *values, bool *nulls);

#endif							/* DURABLE_SINK_DRAFT_H */
