/*
 * normalize.c
 *     SQL entry points (contract §11): durable_sink.normalize and
 *     durable_sink.normalize_many, and the argument rules of contract §9.
 *
 * Both read the binary jsonb directly; the payload of a mapped draft is the
 * event datum as passed (never re-serialised).  normalize_many returns its
 * rows one per call (value-per-call mode): in a select list
 * (SELECT normalize_many(...) FROM raw) the executor then needs no
 * tuplestore at all; in FROM (LATERAL) it puts them into one itself.
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "draft.h"
#include "durable_sink.h"
#include "stats.h"

PG_FUNCTION_INFO_V1(durable_sink_normalize);
PG_FUNCTION_INFO_V1(durable_sink_normalize_many);

/* Argument positions shared by normalize and normalize_many. */
enum
{
	ARG_EVENT, ARG_THREAD_ID, ARG_RUN_ID, ARG_ORIGIN, ARG_CORRELATION_ID, ARG_RESUMED
};

/* Record a rejection of bad input in *error; returns false. */
bool
input_error(InputError *error, int sqlerrcode, const char *fmt,...)
{
	StringInfoData message;

	initStringInfo(&message);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&message, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&message, needed);
	}
	error->sqlerrcode = sqlerrcode;
	error->message = message.data;
	error->detail = NULL;
	return false;
}

/* Raise a rejection: the SQL entry points that fail on bad input. */
void
input_error_raise(const InputError *error)
{
	ereport(ERROR,
			(errcode(error->sqlerrcode),
			 errmsg_internal("%s", error->message),
			 error->detail ? errdetail_internal("%s", error->detail) : 0));
	pg_unreachable();
}

/* A required argument: 22004 naming it when it is SQL NULL. */
static bool
argument_given(bool isnull, const char *name, InputError *error)
{
	if (!isnull)
		return true;
	return input_error(error, ERRCODE_NULL_VALUE_NOT_ALLOWED, "%s must not be null", name);
}

/*
 * Everything that can reject the input, before anything is changed:
 * contract §9 argument rules, §3 context validation, §2 event validation
 * (with the §4 scope ids inside run_start/run_finish).  Returns false with
 * the 22004/22023 rejection in *error; raises only real errors.
 */
bool
normalize_prepare(const NormalizeInput *input, NormalizeContext *ctx, AgentEvent *event,
				  InputError *error)
{
	Jsonb	   *jb;

	if (!argument_given(input->event_isnull, "event", error) ||
		!argument_given(input->thread_id_isnull, "thread_id", error) ||
		!argument_given(input->run_id_isnull, "run_id", error) ||
		!argument_given(input->origin_isnull, "origin", error) ||
		!argument_given(input->resumed_isnull, "resumed", error))
		return false;
	ctx->thread_id = DatumGetTextPP(input->thread_id);
	ctx->run_id = DatumGetTextPP(input->run_id);
	ctx->origin = DatumGetTextPP(input->origin);
	ctx->correlation_id = input->correlation_id_isnull ? NULL :
		DatumGetTextPP(input->correlation_id);
	ctx->resumed = input->resumed;
	if (!context_validate(ctx, error))
		return false;

	jb = DatumGetJsonbP(input->event);
	if (!event_validate(jb, event, error))
		return false;

	/*
	 * The payload is the datum as passed.  An out-of-line (TOASTed) datum
	 * cannot live inside a composite value, so use its fetched copy.
	 */
	event->datum = VARATT_IS_EXTERNAL(DatumGetPointer(input->event)) ?
		PointerGetDatum(jb) : input->event;
	return true;
}

/*
 * normalize_prepare for callers that must not fail on bad input (the sink):
 * the rejection as an ErrorData (for capture_failures and the WARNING),
 * NULL when the input is good.
 */
ErrorData *
normalize_prepare_soft(const NormalizeInput *input, NormalizeContext *ctx, AgentEvent *event)
{
	InputError	rejection;
	ErrorData  *error;

	if (normalize_prepare(input, ctx, event, &rejection))
		return NULL;
	error = palloc0(sizeof(ErrorData));
	error->elevel = ERROR;
	error->sqlerrcode = rejection.sqlerrcode;
	error->message = rejection.message;
	error->detail = rejection.detail;
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
	InputError	error;
	StatsEntryPoint entry_point = derived_facts ? STATS_NORMALIZE_MANY : STATS_NORMALIZE;
	StatsCall	call = {0};

	normalize_input_from_arguments(fcinfo, ARG_CORRELATION_ID, ARG_RESUMED, &input);
	if (!normalize_prepare(&input, ctx, &event, &error))
	{
		/* counted before the error is raised (contract §23) */
		call.rejected = 1;
		stats_count(entry_point, &call);
		input_error_raise(&error);
	}
	normalize_apply(&event, ctx, derived_facts, out);
	call.normalized = 1;
	stats_count(entry_point, &call);
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
 * Materialize mode for a set-returning function (emit):
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
 * builder's descriptor, which has the same layout.  No MAT_SRF_BLESS: the
 * result type is a named composite, which needs no typmod.
 *
 * The store allows random access only when the executor asks for it.  emit
 * fills it and reads its rows forward once through a read pointer of its
 * own (see sink.c): the
 * executor reads from the active read pointer wherever it is left, and a
 * select-list call does not rewind it.
 */
Tuplestorestate *
materialized_rows(FunctionCallInfo fcinfo)
{
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	return ((ReturnSetInfo *) fcinfo->resultinfo)->setResult;
}

/*
 * What normalize_many keeps between the calls of one result set, in
 * fn_extra.  The drafts of one event live in set_context, which the first
 * call of the next event's set resets: the executor resets the per-tuple
 * memory between the calls of one set, the argument values it keeps.
 */
typedef struct NormalizeManySet
{
	DraftTupleBuilder *builder;
	MemoryContext set_context;
	NormalizeContext ctx;
	DraftList	drafts;
	int			next;			/* the draft the next call returns */
	bool		in_set;			/* a set of several rows is being returned */
} NormalizeManySet;

static NormalizeManySet *
normalize_many_set(FunctionCallInfo fcinfo)
{
	NormalizeManySet *set = fcinfo->flinfo->fn_extra;

	if (set == NULL)
	{
		MemoryContext mcxt = fcinfo->flinfo->fn_mcxt;

		set = MemoryContextAllocZero(mcxt, sizeof(NormalizeManySet));
		set->builder = draft_builder_create(mcxt);
		/* one event's work fits the kept first block: a reset frees nothing */
		set->set_context = AllocSetContextCreate(mcxt, "durable_sink normalize_many set",
												 ALLOCSET_DEFAULT_SIZES);
		fcinfo->flinfo->fn_extra = set;
	}
	return set;
}

/*
 * The executor abandons a set when a LIMIT above it stops early or when it
 * rescans: the next call then starts a new event.
 */
static void
normalize_many_set_abandoned(Datum arg)
{
	((NormalizeManySet *) DatumGetPointer(arg))->in_set = false;
}

/*
 * durable_sink.normalize_many(event jsonb, thread_id text, run_id text,
 *                             origin text, correlation_id text,
 *                             resumed boolean)
 *     → SETOF durable_sink.canonical_event_draft
 *
 * Contract §11: the drafts of one event (mapped row, permission companion,
 * compaction facts).  Errors: 22004 for a NULL argument, 22023 for an
 * invalid event or context (§2, §3, §9); 0A000 outside a set context.
 *
 * Value-per-call: the event is normalized on the first call of its set and
 * its drafts returned one per call, then ExprEndResult.  (ExprSingleResult
 * would save that last call, but a select list with other set-returning
 * functions would then repeat the row on every row of theirs.)
 */
Datum
durable_sink_normalize_many(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	NormalizeManySet *set;
	Datum		values[DRAFT_NATTS];
	bool		nulls[DRAFT_NATTS];
	HeapTuple	row;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		(rsinfo->allowedModes & SFRM_ValuePerCall) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	set = normalize_many_set(fcinfo);
	if (!set->in_set)
	{
		MemoryContext caller_context;

		MemoryContextReset(set->set_context);
		caller_context = MemoryContextSwitchTo(set->set_context);
		normalize_event(fcinfo, true, &set->ctx, &set->drafts);
		MemoryContextSwitchTo(caller_context);
		set->next = 0;
		if (set->drafts.count > 0)
		{
			set->in_set = true;
			RegisterExprContextCallback(rsinfo->econtext, normalize_many_set_abandoned,
										PointerGetDatum(set));
		}
	}
	if (set->next >= set->drafts.count)
	{
		/* no drafts at all, or the last one was returned */
		if (set->in_set)
		{
			set->in_set = false;
			UnregisterExprContextCallback(rsinfo->econtext, normalize_many_set_abandoned,
										  PointerGetDatum(set));
		}
		rsinfo->isDone = ExprEndResult;
		PG_RETURN_NULL();
	}
	draft_to_values(set->builder, &set->ctx, &set->drafts.items[set->next++],
					values, nulls);
	row = heap_form_tuple(set->builder->tupdesc, values, nulls);
	rsinfo->returnMode = SFRM_ValuePerCall;
	rsinfo->isDone = ExprMultipleResult;
	PG_RETURN_DATUM(HeapTupleGetDatum(row));
}
