/*
 * event_validate.c
 *     contract §2: wire-format validation of agent events, straight on the binary
 *     jsonb.  Every event type is described by a table of member rules; the
 *     nested termination, tool result and suspend ticket have their own
 *     tables.  Errors name the member by its dotted path.
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "durable_sink.h"
#include "text_util.h"

typedef enum MemberKind
{
	MK_STRING,					/* string */
	MK_STRING_OR_NULL,			/* string? */
	MK_ANY,						/* any JSON value, null included */
	MK_OBJECT,					/* object */
	MK_OBJECT_OR_NULL,			/* object? */
	MK_ARRAY,					/* array */
	MK_BOOLEAN_OR_NULL,			/* boolean? */
	MK_COUNT,					/* non-negative integer (contract §2) */
	MK_ENUM,					/* string out of allowed[] */
	MK_TERMINATION,				/* termination object */
	MK_TOOL_RESULT,				/* tool result object */
	MK_SUSPEND_TICKET_OR_NULL,	/* suspend ticket object or null */
	MK_SUSPENSION_OR_NULL,		/* ticket.suspension object or null */
	MK_PENDING_OR_NULL			/* ticket.pending object or null */
} MemberKind;

typedef struct MemberRule
{
	const char *name;
	MemberKind	kind;
	bool		required;
	const char *const *allowed; /* MK_ENUM only, NULL-terminated */
} MemberRule;

#define REQ(n, k) {n, k, true, NULL}
#define OPT(n, k) {n, k, false, NULL}
#define REQ_ENUM(n, a) {n, MK_ENUM, true, a}
#define OPT_ENUM(n, a) {n, MK_ENUM, false, a}
#define END_RULES {NULL, MK_ANY, false, NULL}

static const char *const outcome_values[] = {"succeeded", "failed", "suspended", NULL};
static const char *const status_values[] = {"success", "pending", "error", NULL};
static const char *const resume_mode_values[] =
{"replay_tool_call", "use_decision_as_tool_result", "pass_decision_to_tool", NULL};

static const MemberRule run_start_rules[] = {
	REQ("thread_id", MK_STRING), REQ("run_id", MK_STRING),
	OPT("parent_run_id", MK_STRING_OR_NULL), OPT("identity", MK_OBJECT_OR_NULL),
	END_RULES
};
static const MemberRule run_finish_rules[] = {
	REQ("thread_id", MK_STRING), REQ("run_id", MK_STRING),
	OPT("identity", MK_OBJECT_OR_NULL), OPT("result", MK_ANY),
	REQ("termination", MK_TERMINATION), END_RULES
};
static const MemberRule delta_rules[] = {REQ("delta", MK_STRING), END_RULES};
static const MemberRule encrypted_rules[] = {REQ("encrypted_value", MK_STRING), END_RULES};
static const MemberRule tool_call_start_rules[] = {
	REQ("id", MK_STRING), REQ("name", MK_STRING), END_RULES
};
static const MemberRule tool_call_delta_rules[] = {
	REQ("id", MK_STRING), REQ("args_delta", MK_STRING), END_RULES
};
static const MemberRule tool_call_ready_rules[] = {
	REQ("id", MK_STRING), REQ("name", MK_STRING), REQ("arguments", MK_ANY), END_RULES
};
static const MemberRule tool_call_done_rules[] = {
	REQ("id", MK_STRING), REQ("message_id", MK_STRING),
	REQ("result", MK_TOOL_RESULT), REQ_ENUM("outcome", outcome_values), END_RULES
};
static const MemberRule tool_call_stream_delta_rules[] = {
	REQ("id", MK_STRING), REQ("name", MK_STRING), REQ("delta", MK_STRING), END_RULES
};
static const MemberRule tool_call_resumed_rules[] = {
	REQ("target_id", MK_STRING), REQ("result", MK_ANY), END_RULES
};
static const MemberRule tool_call_cancel_rules[] = {
	REQ("id", MK_STRING), REQ("name", MK_STRING), REQ("reason", MK_STRING), END_RULES
};
static const MemberRule stream_reset_rules[] = {REQ("reason", MK_STRING), END_RULES};
static const MemberRule step_start_rules[] = {OPT("message_id", MK_STRING), END_RULES};
static const MemberRule no_rules[] = {END_RULES};
static const MemberRule inference_complete_rules[] = {
	REQ("model", MK_STRING), OPT("usage", MK_OBJECT_OR_NULL),
	REQ("duration_ms", MK_COUNT), END_RULES
};
static const MemberRule messages_snapshot_rules[] = {REQ("messages", MK_ARRAY), END_RULES};
static const MemberRule activity_snapshot_rules[] = {
	REQ("message_id", MK_STRING), REQ("activity_type", MK_STRING),
	REQ("content", MK_ANY), OPT("replace", MK_BOOLEAN_OR_NULL), END_RULES
};
static const MemberRule activity_delta_rules[] = {
	REQ("message_id", MK_STRING), REQ("activity_type", MK_STRING),
	REQ("patch", MK_ARRAY), END_RULES
};
static const MemberRule state_snapshot_rules[] = {REQ("snapshot", MK_ANY), END_RULES};
static const MemberRule state_delta_rules[] = {REQ("delta", MK_ARRAY), END_RULES};
static const MemberRule error_rules[] = {
	REQ("message", MK_STRING), OPT("code", MK_STRING_OR_NULL), END_RULES
};

/* Nested objects. */
static const MemberRule tool_result_rules[] = {
	REQ("tool_name", MK_STRING), REQ_ENUM("status", status_values), REQ("data", MK_ANY),
	OPT("message", MK_STRING_OR_NULL), OPT("suspension", MK_SUSPEND_TICKET_OR_NULL),
	OPT("metadata", MK_OBJECT_OR_NULL), END_RULES
};
static const MemberRule suspend_ticket_rules[] = {
	OPT("suspension", MK_SUSPENSION_OR_NULL), OPT("pending", MK_PENDING_OR_NULL),
	OPT_ENUM("resume_mode", resume_mode_values), END_RULES
};
static const MemberRule suspension_rules[] = {
	OPT("id", MK_STRING), OPT("action", MK_STRING), OPT("message", MK_STRING),
	OPT("parameters", MK_ANY), OPT("response_schema", MK_ANY), END_RULES
};
static const MemberRule pending_rules[] = {
	REQ("id", MK_STRING), REQ("name", MK_STRING), REQ("arguments", MK_ANY), END_RULES
};
static const MemberRule stopped_value_rules[] = {
	REQ("code", MK_STRING), OPT("detail", MK_STRING_OR_NULL), END_RULES
};

typedef struct EventTypeRules
{
	const char *name;
	AgentEventType type;
	const MemberRule *rules;
} EventTypeRules;

/* Ordered by how often each type occurs in a stream: the lookup is linear. */
static const EventTypeRules event_types[AET_COUNT] = {
	{"text_delta", AET_TEXT_DELTA, delta_rules},
	{"tool_call_delta", AET_TOOL_CALL_DELTA, tool_call_delta_rules},
	{"reasoning_delta", AET_REASONING_DELTA, delta_rules},
	{"step_start", AET_STEP_START, step_start_rules},
	{"inference_complete", AET_INFERENCE_COMPLETE, inference_complete_rules},
	{"step_end", AET_STEP_END, no_rules},
	{"tool_call_done", AET_TOOL_CALL_DONE, tool_call_done_rules},
	{"tool_call_start", AET_TOOL_CALL_START, tool_call_start_rules},
	{"tool_call_ready", AET_TOOL_CALL_READY, tool_call_ready_rules},
	{"state_snapshot", AET_STATE_SNAPSHOT, state_snapshot_rules},
	{"tool_call_stream_delta", AET_TOOL_CALL_STREAM_DELTA, tool_call_stream_delta_rules},
	{"run_finish", AET_RUN_FINISH, run_finish_rules},
	{"run_start", AET_RUN_START, run_start_rules},
	{"activity_delta", AET_ACTIVITY_DELTA, activity_delta_rules},
	{"state_delta", AET_STATE_DELTA, state_delta_rules},
	{"messages_snapshot", AET_MESSAGES_SNAPSHOT, messages_snapshot_rules},
	{"activity_snapshot", AET_ACTIVITY_SNAPSHOT, activity_snapshot_rules},
	{"reasoning_encrypted_value", AET_REASONING_ENCRYPTED_VALUE, encrypted_rules},
	{"tool_call_resumed", AET_TOOL_CALL_RESUMED, tool_call_resumed_rules},
	{"error", AET_ERROR, error_rules},
	{"stream_reset", AET_STREAM_RESET, stream_reset_rules},
	{"tool_call_cancel", AET_TOOL_CALL_CANCEL, tool_call_cancel_rules},
};

static bool validate_members(JsonbContainer *object, const MemberRule *rules,
							 const char *path, InputError *error);

/* Reject the event for its member path.name; returns false. */
static bool
invalid_member(InputError *error, const char *path, const char *name, const char *problem)
{
	return input_error(error, ERRCODE_INVALID_PARAMETER_VALUE,
					   "invalid agent event: member \"%s%s\" %s", path, name, problem);
}

static char *
member_path(const char *path, const char *name)
{
	return psprintf("%s%s.", path, name);
}

static bool
check_enum(const JsonbValue *v, const MemberRule *rule, const char *path, InputError *error)
{
	const char *const *allowed;
	StringInfoData list;

	if (v->type == jbvString)
	{
		for (allowed = rule->allowed; *allowed; allowed++)
			if (jbv_string_equals(v, *allowed))
				return true;
	}
	initStringInfo(&list);
	for (allowed = rule->allowed; *allowed; allowed++)
		appendStringInfo(&list, "%s%s", list.len ? ", " : "", *allowed);
	return invalid_member(error, path, rule->name, psprintf("must be one of %s", list.data));
}

/*
 * contract §2 termination: {"type": T} or {"type": T, "value": V}.  The shape of
 * value depends on T, so this is code rather than a rule table.
 */
static bool
validate_termination(const JsonbValue *v, const char *path, InputError *error)
{
	JsonbContainer *obj = v->val.binary.data;
	JsonbValue	type;
	JsonbValue	value;
	bool		has_value;
	char	   *tpath = member_path(path, "termination");

	if (!jsonb_member(obj, "type", &type))
		return invalid_member(error, tpath, "type", "is required");
	if (type.type != jbvString)
		return invalid_member(error, tpath, "type", "must be a string");
	has_value = jsonb_member(obj, "value", &value) && !jbv_is_null(&value);

	if (jbv_string_equals(&type, "natural_end") ||
		jbv_string_equals(&type, "behavior_requested") ||
		jbv_string_equals(&type, "plugin_requested") ||
		jbv_string_equals(&type, "cancelled") ||
		jbv_string_equals(&type, "suspended"))
	{
		if (has_value)
			return invalid_member(error, tpath, "value",
								  "must be absent or null for this termination type");
		return true;
	}
	if (jbv_string_equals(&type, "stopped"))
	{
		if (!has_value)
			return invalid_member(error, tpath, "value", "is required");
		if (!jbv_is_object(&value))
			return invalid_member(error, tpath, "value", "must be an object");
		return validate_members(value.val.binary.data, stopped_value_rules,
								member_path(tpath, "value"), error);
	}
	if (jbv_string_equals(&type, "blocked") || jbv_string_equals(&type, "error"))
	{
		if (!has_value)
			return invalid_member(error, tpath, "value", "is required");
		if (value.type != jbvString)
			return invalid_member(error, tpath, "value", "must be a string");
		return true;
	}
	return invalid_member(error, tpath, "type",
						  "must be one of natural_end, behavior_requested, plugin_requested, "
						  "cancelled, suspended, stopped, blocked, error");
}

/* Checks one present, non-absent member against its rule. */
static bool
validate_member(const JsonbValue *v, const MemberRule *rule, const char *path,
				InputError *error)
{
	uint64		ignored;

	switch (rule->kind)
	{
		case MK_ANY:
			return true;
		case MK_STRING:
			if (v->type != jbvString)
				return invalid_member(error, path, rule->name, "must be a string");
			return true;
		case MK_STRING_OR_NULL:
			if (v->type != jbvString && !jbv_is_null(v))
				return invalid_member(error, path, rule->name, "must be a string or null");
			return true;
		case MK_OBJECT:
			if (!jbv_is_object(v))
				return invalid_member(error, path, rule->name, "must be an object");
			return true;
		case MK_OBJECT_OR_NULL:
			if (!jbv_is_object(v) && !jbv_is_null(v))
				return invalid_member(error, path, rule->name, "must be an object or null");
			return true;
		case MK_ARRAY:
			if (!jbv_is_array(v))
				return invalid_member(error, path, rule->name, "must be an array");
			return true;
		case MK_BOOLEAN_OR_NULL:
			if (v->type != jbvBool && !jbv_is_null(v))
				return invalid_member(error, path, rule->name, "must be a boolean or null");
			return true;
		case MK_COUNT:
			if (!jbv_as_count(v, &ignored))
				return invalid_member(error, path, rule->name,
									  "must be a non-negative integer");
			return true;
		case MK_ENUM:
			return check_enum(v, rule, path, error);
		case MK_TERMINATION:
			if (!jbv_is_object(v))
				return invalid_member(error, path, rule->name, "must be an object");
			return validate_termination(v, path, error);
		case MK_TOOL_RESULT:
			if (!jbv_is_object(v))
				return invalid_member(error, path, rule->name, "must be an object");
			return validate_members(v->val.binary.data, tool_result_rules,
									member_path(path, rule->name), error);
		case MK_SUSPEND_TICKET_OR_NULL:
		case MK_SUSPENSION_OR_NULL:
		case MK_PENDING_OR_NULL:
			if (jbv_is_null(v))
				return true;
			if (!jbv_is_object(v))
				return invalid_member(error, path, rule->name, "must be an object or null");
			return validate_members(v->val.binary.data,
									rule->kind == MK_SUSPEND_TICKET_OR_NULL ? suspend_ticket_rules :
									rule->kind == MK_SUSPENSION_OR_NULL ? suspension_rules :
									pending_rules,
									member_path(path, rule->name), error);
	}
	return true;
}

/*
 * Apply rules to object.  An optional member that is JSON null counts as
 * absent; members without a rule are allowed.
 */
static bool
validate_members(JsonbContainer *object, const MemberRule *rules, const char *path,
				 InputError *error)
{
	const MemberRule *rule;
	JsonbValue	v;

	for (rule = rules; rule->name != NULL; rule++)
	{
		if (!jsonb_member(object, rule->name, &v))
		{
			if (rule->required)
				return invalid_member(error, path, rule->name, "is required");
			continue;
		}
		if (!rule->required && jbv_is_null(&v))
			continue;
		if (!validate_member(&v, rule, path, error))
			return false;
	}
	return true;
}

/*
 * The id of a scope named inside the event (thread_id, run_id of run_start
 * and run_finish), a string the rules have already checked.  It becomes a
 * scope id of the event's drafts, so it must not be blank (contract §4).
 */
static bool
event_scope_id(JsonbContainer *object, const char *key, text **id, InputError *error)
{
	JsonbValue	v;

	if (!jsonb_member(object, key, &v) || v.type != jbvString)
		elog(ERROR, "durable_sink: member \"%s\" should have been validated", key);
	if (text_is_blank(v.val.string.val, v.val.string.len))
		return invalid_member(error, "", key, "must not be blank");
	*id = cstring_to_text_with_len(v.val.string.val, v.val.string.len);
	return true;
}

/* The rules of event_type, or NULL (with *error) when it is unknown. */
static const EventTypeRules *
lookup_event_type(const JsonbValue *event_type, InputError *error)
{
	int			i;

	for (i = 0; i < AET_COUNT; i++)
	{
		if (jbv_string_equals(event_type, event_types[i].name))
			return &event_types[i];
	}
	input_error(error, ERRCODE_INVALID_PARAMETER_VALUE,
				"invalid agent event: unknown event_type \"%s\"",
				pnstrdup(event_type->val.string.val,
						 pg_mbcliplen(event_type->val.string.val,
									  event_type->val.string.len, 200)));
	return NULL;
}

/*
 * Validate event against contract §2 and fill *out.  Returns false, with
 * the 22023 error naming the offending member in *error, when the event is
 * invalid; never raises for bad input.
 */
bool
event_validate(Jsonb *event, AgentEvent *out, InputError *error)
{
	JsonbValue	event_type;
	const EventTypeRules *type_rules;

	if (!JB_ROOT_IS_OBJECT(event))
		return input_error(error, ERRCODE_INVALID_PARAMETER_VALUE,
						   "invalid agent event: event must be a JSON object");
	if (!jsonb_member(&event->root, "event_type", &event_type))
		return invalid_member(error, "", "event_type", "is required");
	if (event_type.type != jbvString)
		return invalid_member(error, "", "event_type", "must be a string");

	type_rules = lookup_event_type(&event_type, error);
	if (type_rules == NULL ||
		!validate_members(&event->root, type_rules->rules, "", error))
		return false;

	out->type = type_rules->type;
	out->root = &event->root;
	out->own_thread_id = NULL;
	out->own_run_id = NULL;
	if (out->type == AET_RUN_START || out->type == AET_RUN_FINISH)
		return event_scope_id(&event->root, "thread_id", &out->own_thread_id, error) &&
			event_scope_id(&event->root, "run_id", &out->own_run_id, error);
	return true;
}
