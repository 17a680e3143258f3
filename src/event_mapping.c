/*
 * event_mapping.c
 *     contract §5: the canonical draft of one validated agent event, and contract §7:
 *     the ToolPermissionRequested companion of a suspended tool call.
 *
 * Only run_start and run_finish reach the state tables (run_state.c); every
 * other type is mapped from the event alone.
 */
#include "postgres.h"

#include "durable_sink.h"
#include "text_util.h"

/* Kind and fidelity of the event types whose mapping never varies. */
typedef struct FixedMapping
{
	CanonicalKind kind;
	FidelityClass fidelity;
} FixedMapping;

static const FixedMapping fixed_mappings[AET_COUNT] = {
	[AET_TEXT_DELTA] = {CK_TEXT_DELTA_OBSERVED, FIDELITY_OBSERVED},
	[AET_REASONING_DELTA] = {CK_REASONING_DELTA_OBSERVED, FIDELITY_OBSERVED},
	[AET_REASONING_ENCRYPTED_VALUE] = {CK_REASONING_ENCRYPTED_VALUE_OBSERVED, FIDELITY_OBSERVED},
	[AET_TOOL_CALL_START] = {CK_TOOL_CALL_STARTED, FIDELITY_OBSERVED},
	[AET_TOOL_CALL_DELTA] = {CK_TOOL_CALL_DELTA_OBSERVED, FIDELITY_OBSERVED},
	[AET_TOOL_CALL_READY] = {CK_TOOL_CALL_READY, FIDELITY_COMMITTED},
	[AET_TOOL_CALL_STREAM_DELTA] = {CK_TOOL_CALL_STREAM_DELTA_OBSERVED, FIDELITY_OBSERVED},
	[AET_TOOL_CALL_RESUMED] = {CK_TOOL_CALL_RESUMED, FIDELITY_CONTROL},
	[AET_TOOL_CALL_CANCEL] = {CK_TOOL_CALL_CANCELLED, FIDELITY_DOMAIN},
	[AET_STREAM_RESET] = {CK_STREAM_RESET, FIDELITY_COMMITTED},
	[AET_STEP_START] = {CK_STEP_STARTED, FIDELITY_OBSERVED},
	[AET_STEP_END] = {CK_STEP_ENDED, FIDELITY_OBSERVED},
	[AET_INFERENCE_COMPLETE] = {CK_INFERENCE_COMPLETE, FIDELITY_COMMITTED},
	[AET_MESSAGES_SNAPSHOT] = {CK_MESSAGES_SNAPSHOT_OBSERVED, FIDELITY_OBSERVED},
	[AET_ACTIVITY_SNAPSHOT] = {CK_ACTIVITY_SNAPSHOT_OBSERVED, FIDELITY_OBSERVED},
	[AET_ACTIVITY_DELTA] = {CK_ACTIVITY_DELTA_OBSERVED, FIDELITY_OBSERVED},
	[AET_STATE_SNAPSHOT] = {CK_STATE_SNAPSHOT_OBSERVED, FIDELITY_OBSERVED},
	[AET_STATE_DELTA] = {CK_STATE_DELTA_OBSERVED, FIDELITY_OBSERVED},
	[AET_ERROR] = {CK_ERROR_RECORDED, FIDELITY_COMMITTED},
};

/* The JsonbValue of an object member, or NULL when absent or null. */
static JsonbContainer *
object_member(JsonbContainer *object, const char *key, JsonbValue *buf)
{
	if (object == NULL || !jsonb_member(object, key, buf) || !jbv_is_object(buf))
		return NULL;
	return buf->val.binary.data;
}

static void
fill_public_draft(CanonicalDraft *draft, const AgentEvent *event,
				  const NormalizeContext *ctx, CanonicalKind kind,
				  FidelityClass fidelity)
{
	draft->kind = kind;
	draft->fidelity = fidelity;
	draft->thread_id = ctx->thread_id;
	draft->run_id = ctx->run_id;
	draft->payload = event->datum;
	draft->correlation_id = ctx->correlation_id;
	draft->visibility = VISIBILITY_PUBLIC;
}

/* run_finish: kind by termination.type (contract §5). */
static CanonicalKind
run_finish_kind(JsonbContainer *root)
{
	JsonbValue	buf;
	JsonbValue	type;
	JsonbContainer *termination = object_member(root, "termination", &buf);

	if (termination == NULL || !jsonb_member(termination, "type", &type))
		elog(ERROR, "durable_sink: termination should have been validated");
	if (jbv_string_equals(&type, "suspended"))
		return CK_RUN_SUSPENDED;
	if (jbv_string_equals(&type, "cancelled"))
		return CK_RUN_CANCELLED;
	if (jbv_string_equals(&type, "error"))
		return CK_RUN_ERRORED;
	if (jbv_string_equals(&type, "stopped") || jbv_string_equals(&type, "blocked"))
		return CK_RUN_TERMINATED;
	return CK_RUN_FINISHED;		/* natural_end, behavior_requested, plugin_requested */
}

/*
 * run_start / run_finish: scopes come from the event's own ids, and the
 * answer depends on the run's persistent state.  Returns false when the
 * event yields no row (the activation already finished).
 */
static bool
map_run_lifecycle(const AgentEvent *event, const NormalizeContext *ctx,
				  CanonicalDraft *draft)
{
	CanonicalKind kind;

	fill_public_draft(draft, event, ctx, CK_RUN_STARTED, FIDELITY_DOMAIN);
	draft->thread_id = event->own_thread_id;
	draft->run_id = event->own_run_id;

	if (event->type == AET_RUN_START)
	{
		bool		first_start = run_state_record_start(draft->run_id);

		kind = (first_start && !ctx->resumed) ? CK_RUN_STARTED : CK_RUN_RESUMED;
	}
	else
	{
		kind = run_finish_kind(event->root);
		if (!run_state_record_finish(draft->run_id))
			return false;
	}
	draft->kind = kind;
	return true;
}

/* tool_call_done: contract §5 outcome/metadata rules. */
static void
tool_call_done_kind(JsonbContainer *root, CanonicalKind *kind, FidelityClass *fidelity)
{
	JsonbValue	outcome;
	JsonbValue	result_buf;
	JsonbValue	metadata_buf;
	JsonbValue	flag;
	JsonbContainer *metadata;

	jsonb_member(root, "outcome", &outcome);
	metadata = object_member(object_member(root, "result", &result_buf),
							 "metadata", &metadata_buf);
	*fidelity = FIDELITY_DOMAIN;
	if (jbv_string_equals(&outcome, "suspended"))
		*kind = CK_TOOL_CALL_SUSPENDED;
	else if (jbv_string_equals(&outcome, "failed") && metadata != NULL &&
			 jsonb_member(metadata, "rejected", &flag))
		*kind = CK_TOOL_CALL_REJECTED;
	else if (jbv_string_equals(&outcome, "failed") && metadata != NULL &&
			 jsonb_member(metadata, "timed_out", &flag) &&
			 flag.type == jbvBool && flag.val.boolean)
		*kind = CK_TOOL_CALL_TIMED_OUT;
	else
	{
		*kind = CK_TOOL_CALL_DONE;
		*fidelity = FIDELITY_COMMITTED;
	}
}

/*
 * contract §5: fill draft for event.  Returns false when the event is
 * intentionally not represented (a repeated run_finish).
 */
bool
event_map(const AgentEvent *event, const NormalizeContext *ctx, CanonicalDraft *draft)
{
	CanonicalKind kind;
	FidelityClass fidelity;

	switch (event->type)
	{
		case AET_RUN_START:
		case AET_RUN_FINISH:
			return map_run_lifecycle(event, ctx, draft);
		case AET_TOOL_CALL_DONE:
			tool_call_done_kind(event->root, &kind, &fidelity);
			fill_public_draft(draft, event, ctx, kind, fidelity);
			return true;
		default:
			fill_public_draft(draft, event, ctx,
							  fixed_mappings[event->type].kind,
							  fixed_mappings[event->type].fidelity);
			return true;
	}
}

/*
 * contract §7: a suspended tool call waiting for a permission decision that will
 * replay the call gets a ToolPermissionRequested fact after its own row.
 */
bool
event_permission_companion(const AgentEvent *event, const NormalizeContext *ctx,
						   CanonicalDraft *draft)
{
	JsonbValue	v;
	JsonbValue	result_buf;
	JsonbValue	ticket_buf;
	JsonbValue	suspension_buf;
	JsonbContainer *result;
	JsonbContainer *ticket;
	JsonbContainer *suspension;

	if (event->type != AET_TOOL_CALL_DONE)
		return false;
	if (!jsonb_member(event->root, "outcome", &v) || !jbv_string_equals(&v, "suspended"))
		return false;
	result = object_member(event->root, "result", &result_buf);
	if (result == NULL || !jsonb_member(result, "status", &v) ||
		!jbv_string_equals(&v, "pending"))
		return false;
	ticket = object_member(result, "suspension", &ticket_buf);
	if (ticket == NULL)
		return false;
	if (jsonb_member(ticket, "resume_mode", &v) && !jbv_is_null(&v) &&
		!jbv_string_equals(&v, "replay_tool_call"))
		return false;
	/* suspension.id defaults to "" when the ticket's suspension is absent */
	suspension = object_member(ticket, "suspension", &suspension_buf);
	if (suspension == NULL || !jsonb_member(suspension, "id", &v) ||
		jbv_is_null(&v) || text_is_blank(v.val.string.val, v.val.string.len))
		return false;

	fill_public_draft(draft, event, ctx, CK_TOOL_PERMISSION_REQUESTED, FIDELITY_DOMAIN);
	return true;
}
