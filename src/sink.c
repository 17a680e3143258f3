/*
 * sink.c
 *     The seed's DurableEventSink::emit inside PostgreSQL: forward the event
 *     live, normalize it, append every draft the durability mode keeps, in
 *     the caller's transaction.  A bad event never aborts the caller: it is
 *     recorded in durable_sink.capture_failures with a WARNING, still
 *     forwarded live, and nothing is staged for it.
 *
 * sink_capture is shared with the capture triggers (capture.c).
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"

#include "announce.h"
#include "sink.h"
#include "state_access.h"
#include "stats.h"
#include "text_util.h"

PG_FUNCTION_INFO_V1(durable_sink_emit);

static StatePlan record_failure_plan = {
	.sql = "INSERT INTO durable_sink.capture_failures "
		"  (source, source_table, thread_id, run_id, origin, event, sqlstate, message) "
		"VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
	.nargs = 8,
	.argtypes = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID, TEXTOID, TEXTOID}
};

/*
 * Copy the pass-by-reference values of row into the current context; with
 * all_values false, only the scopes, which point into the builder's
 * one-entry cache that the next draft may replace.
 */
static void
copy_row_values(DraftTupleBuilder *builder, StoreRow *row, bool all_values)
{
	int			c;

	for (c = 0; c < DRAFT_NATTS; c++)
	{
		Form_pg_attribute att = TupleDescAttr(builder->tupdesc, c);

		if (!row->nulls[c] && !att->attbyval && (all_values || c == COL_SCOPES))
			row->values[c] = datumCopy(row->values[c], false, att->attlen);
	}
}

/*
 * Normalize one event (contract §5–§8) and add the drafts mode keeps to batch.
 * Returns false, with the 22004/22023 error in *rejection, when the
 * normalizer rejects the event; the caller records it.  The rows never point
 * into the builder's cache; copy_values also copies what points into the
 * input (for batches that outlive it).
 */
bool
sink_capture(const NormalizeInput *input, Durability mode, DraftTupleBuilder *builder,
			 bool copy_values, StoreBatch *batch, ErrorData **rejection)
{
	NormalizeContext ctx;
	AgentEvent	event;
	DraftList	drafts;
	int			i;

	*rejection = normalize_prepare_soft(input, &ctx, &event);
	if (*rejection != NULL)
		return false;
	normalize_apply(&event, &ctx, true, &drafts);
	for (i = 0; i < drafts.count; i++)
	{
		StoreRow   *row;

		if (!durability_keeps(mode, drafts.items[i].fidelity))
			continue;
		row = store_batch_push(batch);
		draft_to_values(builder, &ctx, &drafts.items[i], row->values, row->nulls);
		copy_row_values(builder, row, copy_values);
	}
	return true;
}

static Datum
nullable_text(Datum value, bool isnull, char *null_flag)
{
	*null_flag = isnull ? 'n' : ' ';
	return isnull ? (Datum) 0 : value;
}

/*
 * One row in durable_sink.capture_failures for a rejected event, and a
 * WARNING unless the caller summarizes.
 */
void
sink_record_failure(const NormalizeInput *input, const CaptureSource *source,
					const ErrorData *error, bool warn)
{
	Datum		args[8];
	char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	StateAccess access;

	args[0] = CStringGetTextDatum(source->source);
	args[1] = source->table ? CStringGetTextDatum(source->table) : (Datum) 0;
	nulls[1] = source->table ? ' ' : 'n';
	args[2] = nullable_text(input->thread_id, input->thread_id_isnull, &nulls[2]);
	args[3] = nullable_text(input->run_id, input->run_id_isnull, &nulls[3]);
	args[4] = nullable_text(input->origin, input->origin_isnull, &nulls[4]);
	args[5] = nullable_text(input->event, input->event_isnull, &nulls[5]);
	args[6] = CStringGetTextDatum(unpack_sql_state(error->sqlerrcode));
	args[7] = CStringGetTextDatum(error->message);

	state_access_begin(&access);
	state_exec(&record_failure_plan, args, nulls);
	state_access_end(&access);

	if (warn)
		ereport(WARNING,
			(errcode(error->sqlerrcode),
			 errmsg("durable_sink: event not captured: %s", error->message),
			 errdetail("The event is recorded in durable_sink.capture_failures%s%s.",
					   source->table ? " for table " : "", source->table ? source->table : "")));
}

/* The event as JSON text, "null" for SQL NULL. */
char *
sink_event_json(const NormalizeInput *input)
{
	Jsonb	   *jb;

	if (input->event_isnull)
		return NULL;
	jb = DatumGetJsonbP(input->event);
	return JsonbToCString(NULL, &jb->root, VARSIZE(jb));
}

/* The event's event_type string, or NULL (for frames without the event). */
static const char *
event_type_of(const NormalizeInput *input)
{
	Jsonb	   *jb = DatumGetJsonbP(input->event);
	JsonbValue	v;

	if (!JB_ROOT_IS_OBJECT(jb) || !jsonb_member(&jb->root, "event_type", &v) ||
		v.type != jbvString)
		return NULL;
	return pnstrdup(v.val.string.val, v.val.string.len);
}

/* ---------------------------------------------------- durable_sink.emit */

enum
{
	EMIT_EVENT, EMIT_THREAD_ID, EMIT_RUN_ID, EMIT_ORIGIN, EMIT_MODE,
	EMIT_CORRELATION_ID, EMIT_RESUMED, EMIT_ANNOUNCE
};

static bool
required_flag(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name)));
	return PG_GETARG_BOOL(argno);
}

/*
 * The event_id of each row store_append put into rows, in order.  Read
 * through a read pointer of our own: the executor reads the result from the
 * store's active read pointer wherever it is left, and only a call in FROM
 * rewinds it first, so that pointer must stay at the start.
 */
static int64 *
stored_event_ids(Tuplestorestate *rows, TupleDesc desc, int count)
{
	int64	   *ids = palloc(sizeof(int64) * count);
	TupleTableSlot *slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	int			own_pointer = tuplestore_alloc_read_pointer(rows, 0);
	int			i;

	tuplestore_select_read_pointer(rows, own_pointer);
	for (i = 0; i < count; i++)
	{
		bool		isnull;

		if (!tuplestore_gettupleslot(rows, true, false, slot))
			elog(ERROR, "durable_sink: appended event %d of %d not returned", i + 1, count);
		/* event_id is the first column of durable_sink.events */
		ids[i] = DatumGetInt64(slot_getattr(slot, 1, &isnull));
	}
	tuplestore_select_read_pointer(rows, 0);
	ExecDropSingleTupleTableSlot(slot);
	return ids;
}

/*
 * The live frame of one emitted event; the stored list from the appended
 * batch (kinds, seqs) and the event ids.
 */
static void
announce_emitted(const NormalizeInput *input, const StoreBatch *stored,
				 const int64 *event_ids, const ErrorData *rejection)
{
	StringInfoData frame;
	StringInfoData list;
	int			i;

	frame_begin(&frame, "emit");
	frame_add_text(&frame, "thread_id", input->thread_id_isnull ? NULL : DatumGetTextPP(input->thread_id));
	frame_add_text(&frame, "run_id", input->run_id_isnull ? NULL : DatumGetTextPP(input->run_id));
	frame_add_text(&frame, "origin", input->origin_isnull ? NULL : DatumGetTextPP(input->origin));
	if (announce_events)
		frame_add_raw(&frame, "event", sink_event_json(input));
	else if (!input->event_isnull)
		frame_add_cstring(&frame, "event_type", event_type_of(input));
	if (rejection != NULL)
	{
		StringInfoData error;

		initStringInfo(&error);
		frame_add_cstring(&error, "sqlstate", unpack_sql_state(rejection->sqlerrcode));
		frame_add_cstring(&error, "message", rejection->message);
		frame_close(&error);
		frame_add_raw(&frame, "rejected", error.data);
	}
	else
	{
		/* what was appended: event ids, kinds and per-scope seqs */
		initStringInfo(&list);
		appendStringInfoChar(&list, '[');
		for (i = 0; i < stored->count; i++)
		{
			const StoreRow *row = &stored->rows[i];
			StringInfoData item;

			initStringInfo(&item);
			frame_add_int64(&item, "event_id", event_ids[i]);
			frame_add_text(&item, "event_kind", DatumGetTextPP(row->values[COL_EVENT_KIND]));
			if (row->thread_seq > 0)
				frame_add_int64(&item, "thread_seq", row->thread_seq);
			if (row->run_seq > 0)
				frame_add_int64(&item, "run_seq", row->run_seq);
			frame_close(&item);
			appendStringInfo(&list, "%s%s", i ? "," : "", item.data);
		}
		appendStringInfoChar(&list, ']');
		frame_add_raw(&frame, "stored", list.data);
	}
	announce_frame(&frame);
}

/*
 * durable_sink.emit(event, thread_id, run_id, origin, mode, correlation_id,
 * resumed, announce) -> SETOF durable_sink.events
 */
Datum
durable_sink_emit(PG_FUNCTION_ARGS)
{
	DraftTupleBuilder *builder;
	NormalizeInput input;
	Durability	mode;
	bool		announce;
	StoreBatch	batch;
	ErrorData  *rejection;
	CaptureSource source = {"emit", NULL};
	Tuplestorestate *rows;
	int64	   *event_ids = NULL;
	StatsCall	call = {0};

	rows = materialized_rows(fcinfo);
	builder = draft_builder_get(fcinfo);
	if (PG_ARGISNULL(EMIT_MODE))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("mode must not be null")));
	mode = draft_durability_of(builder, PG_GETARG_DATUM(EMIT_MODE));
	announce = required_flag(fcinfo, EMIT_ANNOUNCE, "announce");
	normalize_input_from_arguments(fcinfo, EMIT_CORRELATION_ID, EMIT_RESUMED, &input);

	store_batch_init(&batch);
	if (sink_capture(&input, mode, builder, false, &batch, &rejection))
	{
		store_append(batch.rows, batch.count, NULL, rows);
		if (announce)
			event_ids = stored_event_ids(rows, ((ReturnSetInfo *) fcinfo->resultinfo)->setDesc,
										 batch.count);
		call.normalized = 1;
		call.appended = batch.count;
	}
	else
	{
		sink_record_failure(&input, &source, rejection, true);
		call.rejected = 1;
	}
	if (announce)
	{
		announce_emitted(&input, &batch, event_ids, rejection);
		call.announced = 1;
	}
	stats_count(STATS_EMIT, &call);
	return (Datum) 0;
}
