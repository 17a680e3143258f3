/*
 * announce.c
 *     Live forwarding of events: a JSON frame per announcement, sent with
 *     NOTIFY on channel "durable_sink".
 *
 * NOTIFY is transactional: listeners get the frames of a transaction when
 * it commits, and never those of a transaction that rolled back.  A frame
 * too long for a NOTIFY payload is stored in durable_sink.live_frames (in
 * the same transaction) and announced by reference as {"frame_id": N};
 * durable_sink.live_frame(N) returns it.  Nothing is ever dropped.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/async.h"
#include "utils/builtins.h"
#include "utils/json.h"

#include "announce.h"
#include "announcer.h"
#include "feed.h"
#include "state_access.h"

bool		announce_events = false;

/* async.c's NOTIFY_PAYLOAD_MAX_LENGTH: a payload must be shorter. */
#define ANNOUNCE_MAX_PAYLOAD (BLCKSZ - NAMEDATALEN - 128)

static StatePlan store_frame_plan = {
	.sql = "INSERT INTO durable_sink.live_frames (frame) VALUES ($1::pg_catalog.jsonb) "
		"RETURNING frame_id",
	.nargs = 1,
	.argtypes = {TEXTOID}
};

/*
 * A frame is built member by member into an empty StringInfo: the first
 * member opens the object, frame_close closes it.
 */
static void
frame_member(StringInfo frame, const char *key)
{
	appendStringInfoChar(frame, frame->len == 0 ? '{' : ',');
	escape_json(frame, key);
	appendStringInfoChar(frame, ':');
}

void
frame_close(StringInfo frame)
{
	if (frame->len == 0)
		appendStringInfoChar(frame, '{');
	appendStringInfoChar(frame, '}');
}

/*
 * Start a frame with its source and a per-session frame number.  NOTIFY
 * sends identical payloads of a transaction once: the number keeps every
 * frame distinct (two identical deltas are two announcements).
 */
void
frame_begin(StringInfo frame, const char *source)
{
	static uint64 frames_sent = 0;

	initStringInfo(frame);
	frame_add_cstring(frame, "source", source);
	frame_add_int64(frame, "frame_no", (int64) ++frames_sent);
}

void
frame_add_cstring(StringInfo frame, const char *key, const char *value)
{
	frame_member(frame, key);
	if (value == NULL)
		appendStringInfoString(frame, "null");
	else
		escape_json(frame, value);
}

void
frame_add_text(StringInfo frame, const char *key, const text *value)
{
	frame_add_cstring(frame, key, value ? text_to_cstring(value) : NULL);
}

void
frame_add_int64(StringInfo frame, const char *key, int64 value)
{
	frame_member(frame, key);
	appendStringInfo(frame, INT64_FORMAT, value);
}

void
frame_add_raw(StringInfo frame, const char *key, const char *json)
{
	frame_member(frame, key);
	appendStringInfoString(frame, json ? json : "null");
}

/*
 * Close frame and announce it: through the announcer after commit
 * (announcer.c), or by NOTIFY in this transaction.
 */
void
announce_frame(StringInfo frame)
{
	Oid			outbox;

	frame_close(frame);
	outbox = announcer_outbox();
	if (OidIsValid(outbox))
	{
		announcer_queue_frame(frame->data, outbox);
		return;
	}
	/* the transaction's commit announces the feed positions it takes too */
	feed_note_announced();
	announce_send(frame->data);
}

/* NOTIFY a closed frame, or a reference to it if it is too long. */
void
announce_send(const char *frame)
{
	StateAccess access;
	Datum		args[1];
	bool		isnull;
	char		reference[64];

	if (strlen(frame) < ANNOUNCE_MAX_PAYLOAD)
	{
		Async_Notify(ANNOUNCE_CHANNEL, frame);
		return;
	}
	args[0] = CStringGetTextDatum(frame);
	state_access_begin(&access);
	state_exec(&store_frame_plan, args, NULL);
	snprintf(reference, sizeof(reference), "{\"frame_id\":" INT64_FORMAT "}",
			 DatumGetInt64(state_result_value(1, &isnull)));
	state_access_end(&access);
	Async_Notify(ANNOUNCE_CHANNEL, reference);
}
