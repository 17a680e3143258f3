/*
 * draft.h
 *     Building canonical_event_draft tuples (SPEC §4).
 */
#ifndef DURABLE_SINK_DRAFT_H
#define DURABLE_SINK_DRAFT_H

#include "fmgr.h"
#include "access/tupdesc.h"

#include "durable_sink.h"

#define DRAFT_NATTS 11

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
	Datum		kind_texts[CK_COUNT];
	text	   *scopes_thread;
	text	   *scopes_run;		/* NULL: thread-only scopes cached */
	Datum		scopes;
	bool		scopes_valid;
} DraftTupleBuilder;

extern DraftTupleBuilder *draft_builder_get(FunctionCallInfo fcinfo);
extern void draft_to_values(DraftTupleBuilder *builder,
							const NormalizeContext *ctx,
							const CanonicalDraft *draft,
							Datum *values, bool *nulls);

#endif							/* DURABLE_SINK_DRAFT_H */
