/*
 * draft.c
 *     contract §3 (context validation) and §4 (the canonical event draft): the
 *     rules a draft must satisfy, and turning drafts into
 *     durable_sink.canonical_event_draft tuples.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "common/hashfn.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/typcache.h"

#include "draft.h"
#include "state_access.h"
#include "text_util.h"

PG_FUNCTION_INFO_V1(durable_sink_validate_draft);

const char *const canonical_kind_names[CK_COUNT] = {
	[CK_RUN_STARTED] = "RunStarted",
	[CK_RUN_RESUMED] = "RunResumed",
	[CK_RUN_FINISHED] = "RunFinished",
	[CK_RUN_SUSPENDED] = "RunSuspended",
	[CK_RUN_CANCELLED] = "RunCancelled",
	[CK_RUN_ERRORED] = "RunErrored",
	[CK_RUN_TERMINATED] = "RunTerminated",
	[CK_TEXT_DELTA_OBSERVED] = "TextDeltaObserved",
	[CK_REASONING_DELTA_OBSERVED] = "ReasoningDeltaObserved",
	[CK_REASONING_ENCRYPTED_VALUE_OBSERVED] = "ReasoningEncryptedValueObserved",
	[CK_TOOL_CALL_STARTED] = "ToolCallStarted",
	[CK_TOOL_CALL_DELTA_OBSERVED] = "ToolCallDeltaObserved",
	[CK_TOOL_CALL_READY] = "ToolCallReady",
	[CK_TOOL_CALL_DONE] = "ToolCallDone",
	[CK_TOOL_CALL_SUSPENDED] = "ToolCallSuspended",
	[CK_TOOL_CALL_REJECTED] = "ToolCallRejected",
	[CK_TOOL_CALL_TIMED_OUT] = "ToolCallTimedOut",
	[CK_TOOL_CALL_STREAM_DELTA_OBSERVED] = "ToolCallStreamDeltaObserved",
	[CK_TOOL_CALL_RESUMED] = "ToolCallResumed",
	[CK_TOOL_CALL_CANCELLED] = "ToolCallCancelled",
	[CK_STREAM_RESET] = "StreamReset",
	[CK_STEP_STARTED] = "StepStarted",
	[CK_STEP_ENDED] = "StepEnded",
	[CK_INFERENCE_COMPLETE] = "InferenceComplete",
	[CK_MESSAGES_SNAPSHOT_OBSERVED] = "MessagesSnapshotObserved",
	[CK_ACTIVITY_SNAPSHOT_OBSERVED] = "ActivitySnapshotObserved",
	[CK_ACTIVITY_DELTA_OBSERVED] = "ActivityDeltaObserved",
	[CK_STATE_SNAPSHOT_OBSERVED] = "StateSnapshotObserved",
	[CK_STATE_DELTA_OBSERVED] = "StateDeltaObserved",
	[CK_ERROR_RECORDED] = "ErrorRecorded",
	[CK_TOOL_PERMISSION_REQUESTED] = "ToolPermissionRequested",
	[CK_CONTEXT_COMPACTION_STARTED] = "ContextCompactionStarted",
	[CK_CONTEXT_COMPACTION_COMPLETED] = "ContextCompactionCompleted",
	[CK_CONTEXT_COMPACTION_FAILED] = "ContextCompactionFailed",
	[CK_CONTEXT_COMPACTION_SKIPPED] = "ContextCompactionSkipped",
	[CK_CONTEXT_COMPACTION_CANCELLED] = "ContextCompactionCancelled",
};

static const char *const fidelity_labels[FIDELITY_COUNT] = {
	"observed_runtime_event", "committed_runtime_event", "domain_event", "control_event"
};
static const char *const visibility_labels[VISIBILITY_COUNT] = {
	"public", "internal", "audit", "sensitive"
};

void
draft_list_init(DraftList *list)
{
	list->count = 0;
	list->capacity = 4;
	list->items = palloc(sizeof(CanonicalDraft) * list->capacity);
}

CanonicalDraft *
draft_list_push(DraftList *list)
{
	if (list->count == list->capacity)
	{
		list->capacity *= 2;
		list->items = repalloc(list->items, sizeof(CanonicalDraft) * list->capacity);
	}
	return &list->items[list->count++];
}

static bool
text_datum_is_blank(const text *t)
{
	return text_is_blank(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

/* contract §3: thread_id, run_id and origin must not be blank. */
static bool
context_value_given(const text *value, const char *name, InputError *error)
{
	if (!text_datum_is_blank(value))
		return true;
	input_error(error, ERRCODE_INVALID_PARAMETER_VALUE, "%s is required", name);
	error->detail = psprintf("The normalization context's %s must not be blank.", name);
	return false;
}

/* Contract §3; returns false with *error when a context value is blank. */
bool
context_validate(const NormalizeContext *ctx, InputError *error)
{
	return context_value_given(ctx->thread_id, "thread_id", error) &&
		context_value_given(ctx->run_id, "run_id", error) &&
		context_value_given(ctx->origin, "origin", error);
}

pg_attribute_noreturn()
static void
invalid_draft(const char *message, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid canonical event draft: %s", message),
			 detail ? errdetail("%s", detail) : 0));
}

static Oid
enum_label_oid(Oid enum_type, const char *label)
{
	return DatumGetObjectId(DirectFunctionCall2(enum_in, CStringGetDatum(label),
												ObjectIdGetDatum(enum_type)));
}

/*
 * A builder for canonical_event_draft values, in mcxt.  The row type and
 * enum OIDs are looked up in the extension's schema, so any function (not
 * only those returning the draft type) can build drafts.
 */
DraftTupleBuilder *
draft_builder_create(MemoryContext mcxt)
{
	MemoryContext old = MemoryContextSwitchTo(mcxt);
	DraftTupleBuilder *b = palloc0(sizeof(DraftTupleBuilder));
	Oid			durability = extension_type_oid("durability");
	int			i;

	b->mcxt = mcxt;
	b->tupdesc = BlessTupleDesc(lookup_rowtype_tupdesc_copy(
									extension_type_oid("canonical_event_draft"), -1));
	if (b->tupdesc->natts != DRAFT_NATTS)
		elog(ERROR, "durable_sink: canonical_event_draft has %d columns, expected %d",
			 b->tupdesc->natts, DRAFT_NATTS);
	for (i = 0; i < FIDELITY_COUNT; i++)
		b->fidelity_oids[i] =
			enum_label_oid(TupleDescAttr(b->tupdesc, COL_FIDELITY)->atttypid,
						   fidelity_labels[i]);
	for (i = 0; i < VISIBILITY_COUNT; i++)
		b->visibility_oids[i] =
			enum_label_oid(TupleDescAttr(b->tupdesc, COL_VISIBILITY)->atttypid,
						   visibility_labels[i]);
	for (i = 0; i < DURABILITY_COUNT; i++)
		b->durability_oids[i] = enum_label_oid(durability, durability_labels[i]);
	for (i = 0; i < CK_COUNT; i++)
		b->kind_texts[i] = CStringGetTextDatum(canonical_kind_names[i]);
	MemoryContextSwitchTo(old);
	return b;
}

/* The per-query builder of normalize/normalize_many, kept in fn_extra. */
DraftTupleBuilder *
draft_builder_get(FunctionCallInfo fcinfo)
{
	if (fcinfo->flinfo->fn_extra == NULL)
		fcinfo->flinfo->fn_extra = draft_builder_create(fcinfo->flinfo->fn_mcxt);
	return fcinfo->flinfo->fn_extra;
}

static int
enum_index(const Oid *oids, int count, Datum value, const char *type_name)
{
	int			i;

	for (i = 0; i < count; i++)
		if (oids[i] == DatumGetObjectId(value))
			return i;
	elog(ERROR, "durable_sink: unknown %s value %u", type_name, DatumGetObjectId(value));
}

FidelityClass
draft_fidelity_of(const DraftTupleBuilder *b, Datum fidelity)
{
	return (FidelityClass) enum_index(b->fidelity_oids, FIDELITY_COUNT, fidelity,
									  "fidelity_class");
}

Durability
draft_durability_of(const DraftTupleBuilder *b, Datum mode)
{
	return (Durability) enum_index(b->durability_oids, DURABILITY_COUNT, mode, "durability");
}

static void
push_scope(JsonbParseState **state, const char *scope_type, const char *id_key,
		   const text *id)
{
	pushJsonbValue(state, WJB_BEGIN_OBJECT, NULL);
	jsonb_build_string(state, "scope_type", scope_type, strlen(scope_type));
	jsonb_build_string(state, id_key, VARDATA_ANY(id), VARSIZE_ANY_EXHDR(id));
	pushJsonbValue(state, WJB_END_OBJECT, NULL);
}

/* contract §4 scopes: thread scope first, then the run scope if any. */
static Datum
build_scopes(const text *thread_id, const text *run_id)
{
	JsonbParseState *state = NULL;
	JsonbValue *result;

	pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
	push_scope(&state, "thread", "thread_id", thread_id);
	if (run_id != NULL)
		push_scope(&state, "run", "run_id", run_id);
	result = pushJsonbValue(&state, WJB_END_ARRAY, NULL);
	return jsonb_build_finish(result);
}

static text *
copy_text_in(MemoryContext context, const text *t)
{
	text	   *copy;
	size_t		len;

	if (t == NULL)
		return NULL;
	len = VARSIZE_ANY_EXHDR(t);
	copy = MemoryContextAlloc(context, VARHDRSZ + len);
	SET_VARSIZE(copy, VARHDRSZ + len);
	memcpy(VARDATA(copy), VARDATA_ANY(t), len);
	return copy;
}

static bool
scopes_entry_matches(const ScopesCacheEntry *e, const text *thread_id, const text *run_id)
{
	return e->thread_id != NULL && texts_equal(e->thread_id, thread_id) &&
		texts_equal(e->run_id, run_id);
}

/*
 * Scopes of a draft, from the builder's cache when the stream was seen
 * lately: the entry hit last (consecutive events of one stream), then the
 * stream's own slot.
 */
static Datum
builder_scopes(DraftTupleBuilder *b, const text *thread_id, const text *run_id)
{
	ScopesCacheEntry *e = &b->scopes_cache[b->scopes_last];
	Datum		scopes;
	uint32		hash;
	MemoryContext old;

	if (scopes_entry_matches(e, thread_id, run_id))
		return e->scopes;
	hash = hash_bytes((const unsigned char *) VARDATA_ANY(thread_id),
					  VARSIZE_ANY_EXHDR(thread_id));
	if (run_id != NULL)
		hash = hash_combine(hash, hash_bytes((const unsigned char *) VARDATA_ANY(run_id),
											 VARSIZE_ANY_EXHDR(run_id)));
	b->scopes_last = hash % SCOPES_CACHE_SIZE;
	e = &b->scopes_cache[b->scopes_last];
	if (scopes_entry_matches(e, thread_id, run_id))
		return e->scopes;

	if (e->thread_id != NULL)
	{
		pfree(e->thread_id);
		if (e->run_id)
			pfree(e->run_id);
		pfree(DatumGetPointer(e->scopes));
		e->thread_id = NULL;
	}
	/*
	 * Build in the short-lived context (pushJsonbValue leaves its working
	 * state behind) and keep only copies in the per-query cache.
	 */
	scopes = build_scopes(thread_id, run_id);
	old = MemoryContextSwitchTo(b->mcxt);
	e->scopes = datumCopy(scopes, false, -1);
	MemoryContextSwitchTo(old);
	e->run_id = copy_text_in(b->mcxt, run_id);
	e->thread_id = copy_text_in(b->mcxt, thread_id);
	return scopes;
}

static void
set_text(Datum *values, bool *nulls, int col, const text *t)
{
	nulls[col] = (t == NULL);
	values[col] = PointerGetDatum(t);
}

/* Column values of one draft, ready for heap_form_tuple/tuplestore. */
void
draft_to_values(DraftTupleBuilder *b, const NormalizeContext *ctx,
				const CanonicalDraft *draft, Datum *values, bool *nulls)
{
	memset(nulls, 0, sizeof(bool) * DRAFT_NATTS);
	values[COL_FIDELITY] = ObjectIdGetDatum(b->fidelity_oids[draft->fidelity]);
	values[COL_EVENT_KIND] = b->kind_texts[draft->kind];
	values[COL_SCOPES] = builder_scopes(b, draft->thread_id, draft->run_id);
	set_text(values, nulls, COL_THREAD_ID, draft->thread_id);
	set_text(values, nulls, COL_RUN_ID, draft->run_id);
	values[COL_PAYLOAD] = draft->payload;
	set_text(values, nulls, COL_CAUSATION_ID, NULL);
	set_text(values, nulls, COL_CORRELATION_ID, draft->correlation_id);
	set_text(values, nulls, COL_ORIGIN, ctx->origin);
	values[COL_VISIBILITY] = ObjectIdGetDatum(b->visibility_oids[draft->visibility]);
	values[COL_SCHEMA_VERSION] = Int32GetDatum(1);
}

/* ------------------------------------------------------------------------
 * durable_sink.validate_draft(draft): contract §4 rules on a draft built by a
 * writer other than the normalizer.
 * ------------------------------------------------------------------------
 */

typedef struct ScopeSeen
{
	bool		seen;
	const char *id;
	int			len;
} ScopeSeen;

static const char *
scope_family_id_key(const JsonbValue *scope_type, int index)
{
	if (jbv_string_equals(scope_type, "thread"))
		return "thread_id";
	if (jbv_string_equals(scope_type, "run"))
		return "run_id";
	invalid_draft(psprintf("member \"scope_type\" of scope %d must be \"thread\" or \"run\"",
						   index), NULL);
}

/*
 * Check one scope object and record it; a second scope of a family is a
 * repeat (same id) or a second family member (different id).
 */
static void
check_scope(JsonbValue *scope, int index, ScopeSeen *thread, ScopeSeen *run)
{
	JsonbValue	scope_type;
	JsonbValue	id;
	const char *id_key;
	ScopeSeen  *seen;

	if (!jbv_is_object(scope))
		invalid_draft(psprintf("scope %d must be an object", index), NULL);
	if (!jsonb_member(scope->val.binary.data, "scope_type", &scope_type) ||
		scope_type.type != jbvString)
		invalid_draft(psprintf("member \"scope_type\" of scope %d must be a string",
							   index), NULL);
	id_key = scope_family_id_key(&scope_type, index);
	if (!jsonb_member(scope->val.binary.data, id_key, &id) || id.type != jbvString)
		invalid_draft(psprintf("member \"%s\" of scope %d must be a string",
							   id_key, index), NULL);
	if (text_is_blank(id.val.string.val, id.val.string.len))
		invalid_draft(psprintf("member \"%s\" of scope %d must not be blank",
							   id_key, index), NULL);

	if (id_key[0] == 't' && run->seen && !thread->seen)
		invalid_draft(psprintf("scope %d: the thread scope must come first", index),
					  "Contract §4: scopes are an array of scope objects, the thread scope first.");
	seen = (id_key[0] == 't') ? thread : run;
	if (seen->seen)
	{
		if (seen->len == id.val.string.len &&
			memcmp(seen->id, id.val.string.val, seen->len) == 0)
			invalid_draft(psprintf("scope %d repeats an earlier scope", index), NULL);
		invalid_draft(psprintf("scope %d is a second \"%s\" scope", index,
							   id_key[0] == 't' ? "thread" : "run"), NULL);
	}
	seen->seen = true;
	seen->id = id.val.string.val;
	seen->len = id.val.string.len;
}

/* Derived id column: must be NULL or equal to the scope's id. */
static void
derive_id_column(Datum *values, bool *nulls, int col, const char *name,
				 const ScopeSeen *scope)
{
	text	   *given = nulls[col] ? NULL : DatumGetTextPP(values[col]);

	if (given != NULL &&
		(!scope->seen || (int) VARSIZE_ANY_EXHDR(given) != scope->len ||
		 memcmp(VARDATA_ANY(given), scope->id, scope->len) != 0))
		invalid_draft(psprintf("member \"%s\" does not match the scopes", name),
					  "thread_id and run_id are derived from scopes; pass NULL or the scope's id.");
	nulls[col] = !scope->seen;
	if (scope->seen)
		values[col] = PointerGetDatum(cstring_to_text_with_len(scope->id, scope->len));
}

static void
require_not_null(const bool *nulls, int col, const char *name)
{
	if (nulls[col])
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("invalid canonical event draft: member \"%s\" must not be null", name)));
}

static void
require_not_blank(Datum *values, int col, const char *name)
{
	if (text_datum_is_blank(DatumGetTextPP(values[col])))
		invalid_draft(psprintf("member \"%s\" must not be blank", name), NULL);
}

/*
 * contract §4 rules on the column values of a draft; fills thread_id and run_id
 * from the scopes.  Raises 22004 for a missing value, 22023 otherwise.
 */
void
draft_validate_values(Datum *values, bool *nulls)
{
	Jsonb	   *scopes;
	ScopeSeen	thread = {0};
	ScopeSeen	run = {0};
	int			nscopes;
	int			i;

	require_not_null(nulls, COL_FIDELITY, "fidelity");
	require_not_null(nulls, COL_EVENT_KIND, "event_kind");
	require_not_null(nulls, COL_SCOPES, "scopes");
	require_not_null(nulls, COL_PAYLOAD, "payload");
	require_not_null(nulls, COL_ORIGIN, "origin");
	require_not_null(nulls, COL_VISIBILITY, "visibility");
	require_not_null(nulls, COL_SCHEMA_VERSION, "schema_version");

	require_not_blank(values, COL_EVENT_KIND, "event_kind");
	require_not_blank(values, COL_ORIGIN, "origin");
	if (DatumGetInt32(values[COL_SCHEMA_VERSION]) <= 0)
		invalid_draft("member \"schema_version\" must be greater than 0", NULL);

	scopes = DatumGetJsonbP(values[COL_SCOPES]);
	if (!JB_ROOT_IS_ARRAY(scopes) || JB_ROOT_IS_SCALAR(scopes) ||
		JB_ROOT_COUNT(scopes) == 0)
		invalid_draft("member \"scopes\" must be a non-empty array", NULL);
	nscopes = JB_ROOT_COUNT(scopes);
	for (i = 0; i < nscopes; i++)
		check_scope(getIthJsonbValueFromContainer(&scopes->root, i), i, &thread, &run);

	derive_id_column(values, nulls, COL_THREAD_ID, "thread_id", &thread);
	derive_id_column(values, nulls, COL_RUN_ID, "run_id", &run);
}

/* Column values of a canonical_event_draft composite argument. */
void
draft_values_from_record(HeapTupleHeader rec, Datum *values, bool *nulls)
{
	TupleDesc	tupdesc;
	HeapTupleData tuple;

	tupdesc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(rec),
									 HeapTupleHeaderGetTypMod(rec));
	if (tupdesc->natts != DRAFT_NATTS)
		elog(ERROR, "durable_sink: a draft has %d columns", DRAFT_NATTS);
	tuple.t_len = HeapTupleHeaderGetDatumLength(rec);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = rec;
	heap_deform_tuple(&tuple, tupdesc, values, nulls);
	ReleaseTupleDesc(tupdesc);
}

Datum
durable_sink_validate_draft(PG_FUNCTION_ARGS)
{
	HeapTupleHeader rec;
	TupleDesc	tupdesc;
	Datum		values[DRAFT_NATTS];
	bool		nulls[DRAFT_NATTS];

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("draft must not be null")));
	rec = PG_GETARG_HEAPTUPLEHEADER(0);
	draft_values_from_record(rec, values, nulls);
	draft_validate_values(values, nulls);
	tupdesc = BlessTupleDesc(lookup_rowtype_tupdesc_copy(HeapTupleHeaderGetTypeId(rec),
														 HeapTupleHeaderGetTypMod(rec)));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
