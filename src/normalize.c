/*
 * normalize.c
 *     SQL entry points (contract §11): durable_sink.normalize and
 *     durable_sink.normalize_many, and the argument rules of contract §9.
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
required_text(Datum value, bool isnull, const char *name)
{
	if (isnull)
		null_argument(name);
	return DatumGetTextPP(value);
}

/*
 * Everything that can reject the input, before anything is changed: contract
 * §9 argument rules, §3 context validation, §2 event validation (with the
 * §4 scope ids inside run_start/run_finish).  Raises 22004 or 22023.
 */
void
normalize_prepare(const NormalizeInput *input, NormalizeContext *ctx, AgentEvent *event)
{
	Jsonb	   *jb;

	if (input->event_isnull)
		null_argument("event");
	ctx->thread_id = required_text(input->thread_id, input->thread_id_isnull, "thread_id");
	ctx->run_id = required_text(input->run_id, input->run_id_isnull, "run_id");
	ctx->origin = required_text(input->origin, input->origin_isnull, "origin");
	ctx->correlation_id = input->correlation_id_isnull ? NULL :
		DatumGetTextPP(input->correlation_id);
	if (input->resumed_isnull)
		null_argument("resumed");
	ctx->resumed = input->resumed;
	context_validate(ctx);

	jb = DatumGetJsonbP(input->event);
	event_validate(jb, event);

	/*
	 * The payload is the datum as passed.  An out-of-line (TOASTed) datum
	 * cannot live inside a composite value, so use its fetched copy.
	 */
	event->datum = VARATT_IS_EXTERNAL(DatumGetPointer(input->event)) ?
		PointerGetDatum(jb) : input->event;
}

/*
 * normalize_prepare for callers that must not fail on bad input (the sink):
 * returns the 22004/22023 error instead of raising it, NULL on success.
 * Catching is safe here because those errors are only raised by the
 * validation code above, which holds no locks, pins or other resources;
 * every other error is re-thrown.
 */
ErrorData *
normalize_prepare_soft(const NormalizeInput *input, NormalizeContext *ctx, AgentEvent *event)
{
	MemoryContext caller_context = CurrentMemoryContext;
	ErrorData  *volatile error = NULL;

	PG_TRY();
	{
		normalize_prepare(input, ctx, event);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(caller_context);
		error = CopyErrorData();
		if (error->sqlerrcode != ERRCODE_INVALID_PARAMETER_VALUE &&
			error->sqlerrcode != ERRCODE_NULL_VALUE_NOT_ALLOWED)
			PG_RE_THROW();
		FlushErrorState();
	}
	PG_END_TRY();
	return error;
}

/*
 * All drafts of one prepared event, in output order: the mapped row, then
 * (derived_facts) the permission companion and the compaction facts.
 * Touches run state or compaction state where contract §6/§8 say so; cannot
 * fail on input that normalize_prepare accepted.
 */
void
normalize_apply(const AgentEvent *event, const NormalizeContext *ctx,
				bool derived_facts, DraftList *out)
{
	CanonicalDraft draft;

	draft_list_init(out);
	if (event_map(event, ctx, &draft))
		*draft_list_push(out) = draft;
	if (!derived_facts)
		return;
	if (event_permission_companion(event, ctx, &draft))
		*draft_list_push(out) = draft;
	compaction_observe(event, ctx, out);
}

/*
 * The NormalizeInput of a SQL call whose first arguments are (event,
 * thread_id, run_id, origin), with correlation_id and resumed at the given
 * positions (normalize, normalize_many and emit).
 */
void
normalize_input_from_arguments(FunctionCallInfo fcinfo, int correlation_arg,
							   int resumed_arg, NormalizeInput *input)
{
	input->event = PG_GETARG_DATUM(ARG_EVENT);
	input->event_isnull = PG_ARGISNULL(ARG_EVENT);
	input->thread_id = PG_GETARG_DATUM(ARG_THREAD_ID);
	input->thread_id_isnull = PG_ARGISNULL(ARG_THREAD_ID);
	input->run_id = PG_GETARG_DATUM(ARG_RUN_ID);
	input->run_id_isnull = PG_ARGISNULL(ARG_RUN_ID);
	input->origin = PG_GETARG_DATUM(ARG_ORIGIN);
	input->origin_isnull = PG_ARGISNULL(ARG_ORIGIN);
	input->correlation_id = PG_GETARG_DATUM(correlation_arg);
	input->correlation_id_isnull = PG_ARGISNULL(correlation_arg);
	input->resumed_isnull = PG_ARGISNULL(resumed_arg);
	input->resumed = input->resumed_isnull ? false : PG_GETARG_BOOL(resumed_arg);
}

static void
normalize_event(FunctionCallInfo fcinfo, bool derived_facts,
				NormalizeContext *ctx, DraftList *out)
{
	NormalizeInput input;
	AgentEvent	event;

	normalize_input_from_arguments(fcinfo, ARG_CORRELATION_ID, ARG_RESUMED, &input);
	normalize_prepare(&input, ctx, &event);
	normalize_apply(&event, ctx, derived_facts, out);
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

/*
 * Materialize mode for a set-returning function (normalize_many, emit):
 * InitMaterializedSRF puts a fresh tuplestore and row descriptor, both in
 * per-query memory, into the ReturnSetInfo; returns the tuplestore to fill.
 *
 * MAT_SRF_USE_EXPECTED_DESC copies the row type the executor expects
 * instead of looking the function's result type up on every call (a LATERAL
 * scan calls once per outer row).  The executor frees that non-refcounted
 * setDesc after each call, and the tuplestore once read (select list) or at
 * the next rescan (FROM, LATERAL): nothing accumulates per call.  setDesc
 * must therefore never be a cached descriptor such as the draft builder's,
 * which lives in fn_extra for the whole query; the rows are formed with the
 * builder's descriptor, which has the same layout.  No MAT_SRF_BLESS: both
 * result types are named composites, which need no typmod.
 *
 * The store allows random access only when the executor asks for it.  The
 * functions fill it and never read it back, except emit, which reads its
 * rows forward once through a read pointer of its own (see sink.c): the
 * executor reads from the active read pointer wherever it is left, and a
 * select-list call does not rewind it.
 */
Tuplestorestate *
materialized_rows(FunctionCallInfo fcinfo)
{
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	return ((ReturnSetInfo *) fcinfo->resultinfo)->setResult;
}

/* durable_sink.normalize_many(...) → SETOF canonical_event_draft */
Datum
durable_sink_normalize_many(PG_FUNCTION_ARGS)
{
	DraftTupleBuilder *builder;
	NormalizeContext ctx;
	DraftList	drafts;
	Tuplestorestate *rows;
	Datum		values[DRAFT_NATTS];
	bool		nulls[DRAFT_NATTS];
	int			i;

	rows = materialized_rows(fcinfo);
	builder = draft_builder_get(fcinfo);
	normalize_event(fcinfo, true, &ctx, &drafts);
	for (i = 0; i < drafts.count; i++)
	{
		draft_to_values(builder, &ctx, &drafts.items[i], values, nulls);
		tuplestore_putvalues(rows, builder->tupdesc, values, nulls);
	}
	return (Datum) 0;
}
