/*
 * durable_sink.h
 *     Types shared by the modules of the durable_sink extension.
 *
 * Module map (one concern per file; §N is a section of docs/CONTRACT.md):
 *   module.c             _PG_init, the durable_sink.announce_events setting
 *   text_util.c          blank/trim (Unicode White_Space), counts, SHA-256,
 *                        jsonb member helpers
 *   event_validate.c     §2   wire-format validation of agent events
 *   draft.c              §3/§4 context and draft validation, draft tuples,
 *                        enum labels (fidelity, visibility)
 *   durability.c         §10  what each durability mode keeps (should_persist)
 *   event_mapping.c      §5/§7 mapping of one event, permission companion
 *   run_state.c          §6   per-run lifecycle state
 *   compaction.c         §8   the compaction rules: steps, fingerprints, facts
 *   compaction_state.c   §8   the per-thread observation: locking, storage
 *   normalize.c          §9/§11 normalize / normalize_many, argument rules
 *   state_access.c       saved SPI plans run as the extension owner, row
 *                        locks without SPI, per-transaction caches
 *   state_write.c        inserts and updates of the extension's tables
 *                        without SPI (table AM + executor index upkeep)
 *   store.c              §12/§13 event store, per-scope seqs, append
 *   sink.c               §14/§16 emit, capture failures
 *   capture.c            §15  capture triggers and their DDL-time checks
 *   capture_partitions.c §15  capture_table/uncapture_table, new partitions
 *   announce.c           §17  live frames (NOTIFY, by-reference frames)
 *   feed.c               §19  positions at commit, the horizon, read_all
 *   stats.c              §23  counters per database and entry point (shared memory)
 *   exports.map          the only symbols durable_sink.so exports
 */
#ifndef DURABLE_SINK_H
#define DURABLE_SINK_H

#include "postgres.h"

#include "fmgr.h"
#include "utils/jsonb.h"

/* Contract §4 fidelity classes, in enum declaration order. */
typedef enum FidelityClass
{
	FIDELITY_OBSERVED,
	FIDELITY_COMMITTED,
	FIDELITY_DOMAIN,
	FIDELITY_CONTROL,
	FIDELITY_COUNT
} FidelityClass;

/* Contract §4 visibilities, in enum declaration order. */
typedef enum Visibility
{
	VISIBILITY_PUBLIC,
	VISIBILITY_INTERNAL,
	VISIBILITY_AUDIT,
	VISIBILITY_SENSITIVE,
	VISIBILITY_COUNT
} Visibility;

/* Contract §10 durability modes, in enum declaration order. */
typedef enum Durability
{
	DURABILITY_DISABLED,
	DURABILITY_COMPACTED,
	DURABILITY_FULL_FIDELITY,
	DURABILITY_COUNT
} Durability;

/* durability.c: contract §10, what each mode keeps */
extern const char *const durability_labels[DURABILITY_COUNT];
extern bool durability_keeps(Durability mode, FidelityClass fidelity);
extern bool durability_from_label(const char *label, Durability *mode);

/* Contract §2 event types. */
typedef enum AgentEventType
{
	AET_RUN_START,
	AET_RUN_FINISH,
	AET_TEXT_DELTA,
	AET_REASONING_DELTA,
	AET_REASONING_ENCRYPTED_VALUE,
	AET_TOOL_CALL_START,
	AET_TOOL_CALL_DELTA,
	AET_TOOL_CALL_READY,
	AET_TOOL_CALL_DONE,
	AET_TOOL_CALL_STREAM_DELTA,
	AET_TOOL_CALL_RESUMED,
	AET_TOOL_CALL_CANCEL,
	AET_STREAM_RESET,
	AET_STEP_START,
	AET_STEP_END,
	AET_INFERENCE_COMPLETE,
	AET_MESSAGES_SNAPSHOT,
	AET_ACTIVITY_SNAPSHOT,
	AET_ACTIVITY_DELTA,
	AET_STATE_SNAPSHOT,
	AET_STATE_DELTA,
	AET_ERROR,
	AET_COUNT
} AgentEventType;

/* Every canonical event kind the normalizer produces (contract §5, §7, §8). */
typedef enum CanonicalKind
{
	CK_RUN_STARTED,
	CK_RUN_RESUMED,
	CK_RUN_FINISHED,
	CK_RUN_SUSPENDED,
	CK_RUN_CANCELLED,
	CK_RUN_ERRORED,
	CK_RUN_TERMINATED,
	CK_TEXT_DELTA_OBSERVED,
	CK_REASONING_DELTA_OBSERVED,
	CK_REASONING_ENCRYPTED_VALUE_OBSERVED,
	CK_TOOL_CALL_STARTED,
	CK_TOOL_CALL_DELTA_OBSERVED,
	CK_TOOL_CALL_READY,
	CK_TOOL_CALL_DONE,
	CK_TOOL_CALL_SUSPENDED,
	CK_TOOL_CALL_REJECTED,
	CK_TOOL_CALL_TIMED_OUT,
	CK_TOOL_CALL_STREAM_DELTA_OBSERVED,
	CK_TOOL_CALL_RESUMED,
	CK_TOOL_CALL_CANCELLED,
	CK_STREAM_RESET,
	CK_STEP_STARTED,
	CK_STEP_ENDED,
	CK_INFERENCE_COMPLETE,
	CK_MESSAGES_SNAPSHOT_OBSERVED,
	CK_ACTIVITY_SNAPSHOT_OBSERVED,
	CK_ACTIVITY_DELTA_OBSERVED,
	CK_STATE_SNAPSHOT_OBSERVED,
	CK_STATE_DELTA_OBSERVED,
	CK_ERROR_RECORDED,
	CK_TOOL_PERMISSION_REQUESTED,
	CK_CONTEXT_COMPACTION_STARTED,
	CK_CONTEXT_COMPACTION_COMPLETED,
	CK_CONTEXT_COMPACTION_FAILED,
	CK_CONTEXT_COMPACTION_SKIPPED,
	CK_CONTEXT_COMPACTION_CANCELLED,
	CK_COUNT
} CanonicalKind;

extern const char *const canonical_kind_names[CK_COUNT];

/* Contract §3: the stream an event came from. */
typedef struct NormalizeContext
{
	text	   *thread_id;
	text	   *run_id;
	text	   *origin;
	text	   *correlation_id;	/* NULL when not given */
	bool		resumed;
} NormalizeContext;

/*
 * One canonical event draft (contract §4) before it becomes a tuple.  origin,
 * causation_id (NULL) and schema_version (1) are the same for every draft of
 * one call and live in the NormalizeContext / the tuple builder.
 */
typedef struct CanonicalDraft
{
	FidelityClass fidelity;
	CanonicalKind kind;
	text	   *thread_id;		/* thread scope id */
	text	   *run_id;			/* run scope id, NULL for thread-only facts */
	Datum		payload;		/* jsonb */
	text	   *correlation_id;	/* NULL when none */
	Visibility	visibility;
} CanonicalDraft;

/* The drafts one event yields, in output order. */
typedef struct DraftList
{
	int			count;
	int			capacity;
	CanonicalDraft *items;
} DraftList;

/* A validated agent event: its type plus the binary container. */
typedef struct AgentEvent
{
	AgentEventType type;
	JsonbContainer *root;
	Datum		datum;			/* the event as passed, used as payload */
	text	   *own_thread_id;	/* run_start/run_finish: the event's ids */
	text	   *own_run_id;
} AgentEvent;

/*
 * The arguments of one normalization, wherever they come from (SQL
 * function arguments, columns of a captured row).
 */
typedef struct NormalizeInput
{
	Datum		event;
	bool		event_isnull;
	Datum		thread_id;
	bool		thread_id_isnull;
	Datum		run_id;
	bool		run_id_isnull;
	Datum		origin;
	bool		origin_isnull;
	Datum		correlation_id;
	bool		correlation_id_isnull;
	bool		resumed;
	bool		resumed_isnull;
} NormalizeInput;

/*
 * Bad input, returned instead of raised (the model is PostgreSQL 16's
 * ErrorSaveContext): validation never throws, so callers that must not
 * fail on bad input (the sink) need no PG_TRY, and a real error (out of
 * memory, a damaged TOAST value) is never mistaken for a rejection.
 */
typedef struct InputError
{
	int			sqlerrcode;		/* 22023 or 22004 */
	char	   *message;
	char	   *detail;			/* or NULL */
} InputError;

extern bool input_error(InputError *error, int sqlerrcode, const char *fmt,...)
			pg_attribute_printf(3, 4);
pg_attribute_noreturn() extern void input_error_raise(const InputError *error);

/* normalize.c: the pipeline every entry point shares */
extern struct Tuplestorestate *materialized_rows(FunctionCallInfo fcinfo);
extern void normalize_input_from_arguments(FunctionCallInfo fcinfo, int correlation_arg,
										   int resumed_arg, NormalizeInput *input);
extern bool normalize_prepare(const NormalizeInput *input, NormalizeContext *ctx,
							  AgentEvent *event, InputError *error);
extern struct ErrorData *normalize_prepare_soft(const NormalizeInput *input,
												NormalizeContext *ctx,
												AgentEvent *event);
extern void normalize_apply(const AgentEvent *event, const NormalizeContext *ctx,
							bool derived_facts, DraftList *out);

/* draft.c */
extern void draft_list_init(DraftList *list);
extern CanonicalDraft *draft_list_push(DraftList *list);
extern bool context_validate(const NormalizeContext *ctx, InputError *error);

/* event_validate.c */
extern bool event_validate(Jsonb *event, AgentEvent *out, InputError *error);

/* event_mapping.c */
extern bool event_map(const AgentEvent *event, const NormalizeContext *ctx,
					  CanonicalDraft *draft);
extern bool event_permission_companion(const AgentEvent *event,
									   const NormalizeContext *ctx,
									   CanonicalDraft *draft);

/* run_state.c */
extern bool run_state_record_start(text *run_id);
extern bool run_state_record_finish(text *run_id);

/* compaction.c */
extern void compaction_observe(const AgentEvent *event,
							   const NormalizeContext *ctx, DraftList *out);

#endif							/* DURABLE_SINK_H */
