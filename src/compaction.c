/*
 * compaction.c
 *     Contract §8: context-compaction facts derived from state_snapshot
 *     events whose snapshot.extensions.__context_compaction is present (S).
 *
 * This file holds the rules: the six steps, the fingerprints and the fact
 * payloads.  The thread's observation (T, the in-flight compaction, the
 * fingerprints already announced) and its locking live in
 * compaction_state.c.
 */
#include "postgres.h"

#include <inttypes.h>

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "compaction_state.h"
#include "durable_sink.h"
#include "state_access.h"
#include "text_util.h"

/* An in-flight compaction: task_id and optional boundary_message_id. */
typedef struct InFlight
{
	char	   *task_id;		/* NULL: none */
	char	   *boundary_message_id;	/* NULL: absent */
} InFlight;

/* One snapshot applied to its thread's observation. */
typedef struct Observation
{
	const NormalizeContext *ctx;
	DraftList  *out;
	JsonbContainer *s;			/* __context_compaction; NULL: not an object */
	ThreadObservation thread;	/* T, the in-flight compaction, fingerprints */
} Observation;

/* ---------------------------------------------------------------- helpers */

/* contract §8 text(x, k): trimmed non-blank string member, else NULL. */
static char *
member_text(JsonbContainer *x, const char *key)
{
	JsonbValue	v;
	const char *start;
	int			len;

	if (!jsonb_member(x, key, &v) || v.type != jbvString)
		return NULL;
	start = text_trim(v.val.string.val, v.val.string.len, &len);
	return len > 0 ? pnstrdup(start, len) : NULL;
}

/* contract §8 count(x, k): integer member (contract §2 sense). */
static bool
member_count(JsonbContainer *x, const char *key, uint64 *count)
{
	JsonbValue	v;

	return jsonb_member(x, key, &v) && jbv_as_count(&v, count);
}

static uint64
member_count_or(JsonbContainer *x, const char *key, uint64 fallback)
{
	uint64		count;

	return member_count(x, key, &count) ? count : fallback;
}

static const char *
or_empty(const char *s)
{
	return s ? s : "";
}

static bool
strings_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool
in_flight_equal(const InFlight *a, const InFlight *b)
{
	return strings_equal(a->task_id, b->task_id) &&
		strings_equal(a->boundary_message_id, b->boundary_message_id);
}

/* contract §8 in_flight(S). */
static InFlight
snapshot_in_flight(JsonbContainer *s)
{
	InFlight	result = {NULL, NULL};
	JsonbValue	v;

	if (jsonb_member(s, "in_flight", &v) && jbv_is_object(&v))
	{
		result.task_id = member_text(v.val.binary.data, "task_id");
		if (result.task_id != NULL)
			result.boundary_message_id =
				member_text(v.val.binary.data, "boundary_message_id");
	}
	return result;
}

/* The container of array member key of s, or NULL. */
static JsonbContainer *
snapshot_array(JsonbContainer *s, const char *key, JsonbValue *buf)
{
	if (jsonb_member(s, key, buf) && jbv_is_array(buf))
		return buf->val.binary.data;
	return NULL;
}

/* Element i of array as an object container, or NULL when it is not one. */
static JsonbContainer *
array_object(JsonbContainer *array, int i)
{
	JsonbValue *v;

	/* every loop over a snapshot's arrays comes here once per element */
	CHECK_FOR_INTERRUPTS();
	v = getIthJsonbValueFromContainer(array, i);

	return (v != NULL && jbv_is_object(v)) ? v->val.binary.data : NULL;
}

/* ------------------------------------------------------- state and facts */

/*
 * Records fingerprint in the set of fact; true when it was new.  The sets
 * hold SHA-256 digests of "<fact>\0<fingerprint>", so arbitrarily long ids
 * cost 32 bytes each.
 */
static bool
fingerprint_is_new(Observation *obs, const char *fact, const char *fingerprint)
{
	StringInfoData tagged;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];

	initStringInfo(&tagged);
	appendStringInfoString(&tagged, fact);
	appendStringInfoChar(&tagged, '\0');
	appendStringInfoString(&tagged, fingerprint);
	sha256_digest(tagged.data, tagged.len, digest);
	pfree(tagged.data);
	return observation_record(&obs->thread, digest);
}

/* Start a fact payload: the object with thread_id already in it. */
static JsonbParseState *
payload_begin(Observation *obs)
{
	JsonbParseState *state = NULL;
	const text *thread_id = obs->ctx->thread_id;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	jsonb_build_string(&state, "thread_id", VARDATA_ANY(thread_id),
					   VARSIZE_ANY_EXHDR(thread_id));
	return state;
}

static void
payload_text(JsonbParseState **state, const char *key, const char *value)
{
	if (value != NULL)
		jsonb_build_string(state, key, value, strlen(value));
}

/* Close the payload and append the thread-scoped, internal fact. */
static void
emit_fact(Observation *obs, CanonicalKind kind, JsonbParseState **state)
{
	JsonbValue *payload = pushJsonbValue(state, WJB_END_OBJECT, NULL);
	CanonicalDraft *draft = draft_list_push(obs->out);

	draft->fidelity = FIDELITY_DOMAIN;
	draft->kind = kind;
	draft->thread_id = obs->ctx->thread_id;
	draft->run_id = NULL;
	draft->payload = jsonb_build_finish(payload);
	draft->correlation_id = NULL;
	draft->visibility = VISIBILITY_INTERNAL;
}

/* The in-flight compaction the thread's observation remembers. */
static InFlight
remembered(const Observation *obs)
{
	InFlight	p = {obs->thread.task_id, obs->thread.boundary_message_id};

	return p;
}

static void
remember_in_flight(Observation *obs, const InFlight *in_flight)
{
	if (!in_flight_equal(in_flight, &(InFlight) {obs->thread.task_id,
												 obs->thread.boundary_message_id}))
		obs->thread.state_changed = true;
	obs->thread.task_id = in_flight->task_id;
	obs->thread.boundary_message_id = in_flight->boundary_message_id;
}

static void
forget_in_flight(Observation *obs)
{
	InFlight	none = {NULL, NULL};

	remember_in_flight(obs, &none);
}

/* ------------------------------------------------------------ the steps */

/* Step 1: a total below T means the history was cleared. */
static void
step_reset_after_clear(Observation *obs)
{
	uint64		total = member_count_or(obs->s, "total_compactions", obs->thread.total);

	if (total < obs->thread.total)
	{
		forget_in_flight(obs);
		observation_forget_all(&obs->thread);
	}
	if (total != obs->thread.total)
		obs->thread.state_changed = true;
	obs->thread.total = total;
}

/* Step 2: ContextCompactionCompleted for each new boundary. */
static void
step_completed(Observation *obs)
{
	JsonbValue	buf;
	JsonbContainer *boundaries = snapshot_array(obs->s, "boundaries", &buf);
	int			n = boundaries ? JsonContainerSize(boundaries) : 0;
	uint64		total = member_count_or(obs->s, "total_compactions", n);
	int			i;

	for (i = 0; i < n; i++)
	{
		JsonbContainer *b = array_object(boundaries, i);
		JsonbValue	summary;
		uint64		pre,
					post,
					ts;
		char	   *hash;
		char	   *task;
		char	   *bmid;
		JsonbParseState *state;

		if (b == NULL)
			continue;
		pre = member_count_or(b, "pre_tokens", 0);
		post = member_count_or(b, "post_tokens", 0);
		ts = member_count_or(b, "timestamp_ms", 0);
		if (jsonb_member(b, "summary", &summary) && summary.type == jbvString)
			hash = sha256_hex(summary.val.string.val, summary.val.string.len);
		else
			hash = sha256_hex("", 0);
		task = member_text(b, "task_id");
		bmid = member_text(b, "boundary_message_id");

		if (!fingerprint_is_new(obs, "completed",
								psprintf("completed/%s/%s/%d/%" PRIu64 "/%" PRIu64 "/%" PRIu64 "/%s",
										 or_empty(task), or_empty(bmid), i, ts, pre, post, hash)))
			continue;
		state = payload_begin(obs);
		jsonb_build_count(&state, "boundary_index", i);
		jsonb_build_count(&state, "compaction_ordinal", (uint64) i + 1);
		jsonb_build_count(&state, "total_compactions", total);
		jsonb_build_count(&state, "pre_tokens", pre);
		jsonb_build_count(&state, "post_tokens", post);
		jsonb_build_count(&state, "timestamp_ms", ts);
		payload_text(&state, "summary_hash", hash);
		payload_text(&state, "task_id", task);
		payload_text(&state, "boundary_message_id", bmid);
		emit_fact(obs, CK_CONTEXT_COMPACTION_COMPLETED, &state);
	}
}

/* Step 3: ContextCompactionFailed for each new failure. */
static void
step_failed(Observation *obs)
{
	JsonbValue	buf;
	JsonbContainer *failures = snapshot_array(obs->s, "failures", &buf);
	int			n = failures ? JsonContainerSize(failures) : 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		JsonbContainer *f = array_object(failures, i);
		char	   *task;
		const char *bmid;
		const char *error;
		uint64		ts;
		JsonbParseState *state;

		if (f == NULL)
			continue;
		task = member_text(f, "task_id");
		bmid = or_empty(member_text(f, "boundary_message_id"));
		error = member_text(f, "error");
		if (error == NULL)
			error = "unknown error";
		ts = member_count_or(f, "timestamp_ms", 0);

		if (!fingerprint_is_new(obs, "failed",
								psprintf("failed/%d/%" PRIu64 "/%s/%s/%s",
										 i, ts, or_empty(task), bmid, error)))
			continue;
		state = payload_begin(obs);
		jsonb_build_count(&state, "failure_index", i);
		payload_text(&state, "boundary_message_id", bmid);
		payload_text(&state, "error", error);
		jsonb_build_count(&state, "timestamp_ms", ts);
		payload_text(&state, "task_id", task);
		emit_fact(obs, CK_CONTEXT_COMPACTION_FAILED, &state);
	}
}

/* "None" or "Some(n)", as the seed's Option<u64> Debug output prints. */
static char *
option_count(JsonbContainer *x, const char *key)
{
	uint64		count;

	if (member_count(x, key, &count))
		return psprintf("Some(%" PRIu64 ")", count);
	return "None";
}

static void
payload_optional_count(JsonbParseState **state, JsonbContainer *x, const char *key)
{
	uint64		count;

	if (member_count(x, key, &count))
		jsonb_build_count(state, key, count);
}

/* Step 4: ContextCompactionSkipped for each new skip. */
static void
step_skipped(Observation *obs)
{
	static const char *const optional_counts[] = {
		"pre_tokens", "post_tokens", "savings_ratio_ppm", "min_savings_ratio_ppm",
		"timestamp_ms"
	};
	JsonbValue	buf;
	JsonbContainer *skipped = snapshot_array(obs->s, "skipped", &buf);
	int			n = skipped ? JsonContainerSize(skipped) : 0;
	int			i;
	size_t		c;

	for (i = 0; i < n; i++)
	{
		JsonbContainer *k = array_object(skipped, i);
		char	   *skip_id;
		char	   *task;
		char	   *bmid;
		char	   *reason;
		char	   *fingerprint;
		JsonbParseState *state;

		if (k == NULL)
			continue;
		skip_id = member_text(k, "skip_id");
		task = member_text(k, "task_id");
		bmid = member_text(k, "boundary_message_id");
		reason = member_text(k, "reason");
		if (reason == NULL)
			reason = "unknown";
		if (skip_id != NULL)
			fingerprint = skip_id;
		else
			fingerprint = psprintf("skipped/%d/%s/%s/%s/%s/%s/%s/%s/%" PRIu64,
								   i, or_empty(task), or_empty(bmid), reason,
								   option_count(k, "pre_tokens"),
								   option_count(k, "post_tokens"),
								   option_count(k, "savings_ratio_ppm"),
								   option_count(k, "min_savings_ratio_ppm"),
								   member_count_or(k, "timestamp_ms", 0));

		if (!fingerprint_is_new(obs, "skipped", fingerprint))
			continue;
		state = payload_begin(obs);
		jsonb_build_count(&state, "skip_index", i);
		payload_text(&state, "reason", reason);
		payload_text(&state, "skip_id", skip_id);
		payload_text(&state, "task_id", task);
		payload_text(&state, "boundary_message_id", bmid);
		for (c = 0; c < lengthof(optional_counts); c++)
			payload_optional_count(&state, k, optional_counts[c]);
		emit_fact(obs, CK_CONTEXT_COMPACTION_SKIPPED, &state);
	}
}

/* Does some object element of array key of s match the in-flight p? */
static bool
any_element_matches(JsonbContainer *s, const char *key, const InFlight *p)
{
	JsonbValue	buf;
	JsonbContainer *array = snapshot_array(s, key, &buf);
	int			n = array ? JsonContainerSize(array) : 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		JsonbContainer *e = array_object(array, i);

		if (e == NULL || !strings_equal(member_text(e, "task_id"), p->task_id))
			continue;
		if (p->boundary_message_id == NULL ||
			strings_equal(member_text(e, "boundary_message_id"), p->boundary_message_id))
			return true;
	}
	return false;
}

/* Step 5: the remembered compaction P vanished without an outcome. */
static void
step_cancelled(Observation *obs, const InFlight *p, const InFlight *current)
{
	JsonbParseState *state;

	if (p->task_id == NULL || in_flight_equal(current, p))
		return;
	if (any_element_matches(obs->s, "boundaries", p) ||
		any_element_matches(obs->s, "failures", p) ||
		any_element_matches(obs->s, "skipped", p))
		return;
	if (!fingerprint_is_new(obs, "cancelled",
							psprintf("cancelled/%s/%s", p->task_id,
									 or_empty(p->boundary_message_id))))
		return;
	state = payload_begin(obs);
	payload_text(&state, "task_id", p->task_id);
	jsonb_build_count(&state, "cancelled_at_ms",
					  member_count_or(obs->s, "timestamp_ms", 0));
	payload_text(&state, "boundary_message_id", p->boundary_message_id);
	emit_fact(obs, CK_CONTEXT_COMPACTION_CANCELLED, &state);
}

/* Step 6: remember a new in-flight compaction and announce it. */
static void
step_started(Observation *obs, const InFlight *current)
{
	JsonbValue	in_flight;
	JsonbParseState *state;

	if (current->task_id == NULL)
	{
		forget_in_flight(obs);
		return;
	}
	if (in_flight_equal(current, &(InFlight) {obs->thread.task_id,
											   obs->thread.boundary_message_id}))
		return;
	remember_in_flight(obs, current);

	jsonb_member(obs->s, "in_flight", &in_flight);
	state = payload_begin(obs);
	payload_text(&state, "task_id", current->task_id);
	payload_text(&state, "boundary_message_id", or_empty(current->boundary_message_id));
	jsonb_build_count(&state, "started_at_ms",
					  member_count_or(in_flight.val.binary.data, "started_at_ms", 0));
	emit_fact(obs, CK_CONTEXT_COMPACTION_STARTED, &state);
}

/*
 * Is snapshot.extensions.__context_compaction present?  Present means the
 * member exists, whatever its value (contract §8): *s is then its object
 * container, or NULL when it is null or a scalar or an array, which has no
 * members (so it cancels and forgets an in-flight compaction).
 */
static bool
context_compaction_of(const AgentEvent *event, JsonbContainer **s)
{
	JsonbValue	v;

	if (!jsonb_member(event->root, "snapshot", &v) || !jbv_is_object(&v))
		return false;
	if (!jsonb_member(v.val.binary.data, "extensions", &v) || !jbv_is_object(&v))
		return false;
	if (!jsonb_member(v.val.binary.data, "__context_compaction", &v))
		return false;
	*s = jbv_is_object(&v) ? v.val.binary.data : NULL;
	return true;
}

/*
 * Contract §8: append the compaction facts event yields to out, and update
 * the thread's observation.  Events without S never touch a table.
 */
void
compaction_observe(const AgentEvent *event, const NormalizeContext *ctx, DraftList *out)
{
	Observation obs = {0};
	int			first_fact = out->count;
	int			attempt;

	if (event->type != AET_STATE_SNAPSHOT)
		return;
	if (!context_compaction_of(event, &obs.s))
		return;
	obs.ctx = ctx;
	obs.out = out;

	/* a second attempt only when another session created the thread's row */
	for (attempt = 0; attempt < 3; attempt++)
	{
		InFlight	p;
		InFlight	current;

		out->count = first_fact;
		observation_open(&obs.thread, ctx->thread_id);
		step_reset_after_clear(&obs);
		p = remembered(&obs);
		current = snapshot_in_flight(obs.s);
		step_completed(&obs);
		step_failed(&obs);
		step_skipped(&obs);
		step_cancelled(&obs, &p, &current);
		step_started(&obs, &current);
		if (observation_close(&obs.thread))
			return;
	}
	elog(ERROR, "durable_sink: the compaction state of a thread keeps changing under this session");
}
