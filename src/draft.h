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
 * Per-FmgrInfo cache (fn_extra) of everything that is the same for every
 * draft of one query: the blessed row type, enum label OIDs, event_kind
 * texts, and the last scopes array built (consecutive events of a scan
 * usually share their stream).
 */
typedef struct DraftTupleBuilder
{
	MemoryContext mcxt;
	TupleDesc	tupdesc;
	Oid			fidelity_oids[FIDELITY_COUNT];
	Oid			visibility_oids[VISIBILITY_COUNT];
	Oid			durability_oids[DURABILITY_COUNT];
	Datum		kind_texts[CK_COUNT];
	text	   *scopes_thread;
	text	   *scopes_run;		/* NULL: thread-only scopes cached */
	Datum		scopes;
	bool		scopes_valid;
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
