/*
 * normalize.c
 *     SQL entry points (SPEC §11): durable_sink.normalize and
 *     durable_sink.normalize_many, and the argument rules of SPEC §9.
 *
 * Both read the binary jsonb directly; the payload of a mapped draft is the
 * event datum as passed (never re-serialised).  normalize_many returns its
 * rows in materialize mode, so a LATERAL scan hands the executor one small
 * tuplestore per event and nothing else.
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/tuplestore.h"

#include "draft.h"
#include "durable_sink.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(durable_sink_normalize);
PG_FUNCTION_INFO_V1(durable_sink_normalize_many);

/* Argument positions shared by normalize and normalize_many. */
enum
{
	ARG_EVENT, ARG_THREAD_ID, ARG_RUN_ID, ARG_ORIGIN, ARG_CORRELATION_ID, ARG_RESUMED
};

pg_attribute_noreturn()
static void
null_argument(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
			 errmsg("%s must not be null", name)));
}

static text *
required_text_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		null_argument(name);
	return PG_GETARG_TEXT_PP(argno);
}

/*
 * SPEC §9 argument rules, SPEC §3 context validation and SPEC §2 event
 * validation, in that order.  Nothing has been changed when this raises.
 */
static void
read_arguments(FunctionCallInfo fcinfo, NormalizeContext *ctx, AgentEvent *event)
{
	Datum		raw;
	Jsonb	   *jb;

	if (PG_ARGISNULL(ARG_EVENT))
		null_argument("event");
	ctx->thread_id = required_text_arg(fcinfo, ARG_THREAD_ID, "thread_id");
	ctx->run_id = required_text_arg(fcinfo, ARG_RUN_ID, "run_id");
	ctx->origin = required_text_arg(fcinfo, ARG_ORIGIN, "origin");
	ctx->correlation_id = PG_ARGISNULL(ARG_CORRELATION_ID) ? NULL :
		PG_GETARG_TEXT_PP(ARG_CORRELATION_ID);
	if (PG_ARGISNULL(ARG_RESUMED))
		null_argument("resumed");
	ctx->resumed = PG_GETARG_BOOL(ARG_RESUMED);
	context_validate(ctx);

	raw = PG_GETARG_DATUM(ARG_EVENT);
	jb = DatumGetJsonbP(raw);
	event_validate(jb, event);
	/*
	 * The payload is the datum as passed.  An out-of-line (TOASTed) datum
	 * cannot live inside a composite value, so use its fetched copy.
	 */
	event->datum = VARATT_IS_EXTERNAL(DatumGetPointer(raw)) ? PointerGetDatum(jb) : raw;
}

/*
 * All drafts of one event, in output order: the mapped row, then (for
 * normalize_many) the permission companion and the compaction facts.
 */
static void
normalize_event(FunctionCallInfo fcinfo, bool derived_facts,
				NormalizeContext *ctx, DraftList *out)
{
	AgentEvent	event;
	CanonicalDraft draft;

	read_arguments(fcinfo, ctx, &event);
	draft_list_init(out);

	if (event_map(&event, ctx, &draft))
		*draft_list_push(out) = draft;
	if (!derived_facts)
		return;
	if (event_permission_companion(&event, ctx, &draft))
		*draft_list_push(out) = draft;
	compaction_observe(&event, ctx, out);
}

/* durable_sink.normalize(...) → canonical_event_draft, or NULL */
Datum
durable_sink_normalize(PG_FUNCTION_ARGS)
{
	DraftTupleBuilder *builder = draft_builder_get(fcinfo);
	NormalizeContext ctx;
	DraftList	drafts;
	Datum		values[DRAFT_NATTS];
	bool		nulls[DRAFT_NATTS];

	normalize_event(fcinfo, false, &ctx, &drafts);
	if (drafts.count == 0)
		PG_RETURN_NULL();
	draft_to_values(builder, &ctx, &drafts.items[0], values, nulls);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(builder->tupdesc, values, nulls)));
}

/* durable_sink.normalize_many(...) → SETOF canonical_event_draft */
Datum
durable_sink_normalize_many(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	DraftTupleBuilder *builder;
	NormalizeContext ctx;
	DraftList	drafts;
	Tuplestorestate *rows;
	MemoryContext old;
	Datum		values[DRAFT_NATTS];
	bool		nulls[DRAFT_NATTS];
	int			i;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		(rsinfo->allowedModes & SFRM_Materialize) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));

	builder = draft_builder_get(fcinfo);
	normalize_event(fcinfo, true, &ctx, &drafts);

	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	rows = tuplestore_begin_heap((rsinfo->allowedModes & SFRM_Materialize_Random) != 0,
								 false, work_mem);
	MemoryContextSwitchTo(old);
	for (i = 0; i < drafts.count; i++)
	{
		draft_to_values(builder, &ctx, &drafts.items[i], values, nulls);
		tuplestore_putvalues(rows, builder->tupdesc, values, nulls);
	}

	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = rows;
	/*
	 * No setDesc: the result type is known to the executor, which frees a
	 * non-refcounted setDesc after each call -- it must not be our cache.
	 */
	rsinfo->setDesc = NULL;
	return (Datum) 0;
}
