/*
 * feed.c
 *     Contract §19: the feed — one commit-ordered stream of every event the
 *     store keeps, that no reader can skip.
 *
 * The problem: a position handed out when an event is inserted becomes
 * visible when its transaction commits, so position 101 can be visible
 * before 100, and a reader that moved past 101 never sees 100.  Here:
 *
 * 1. Positions are allocated at commit, not at insert.  The transaction
 *    remembers the event_ids it appended (feed_note_appended); in its
 *    pre-commit callback it takes positions from durable_sink.feed_position_seq
 *    for them, in append order, and inserts (position, event_id) rows into
 *    durable_sink.feed.  An open transaction, appending or not, has no
 *    position yet, so it holds nobody back.
 *
 * 2. A transaction announces, before it takes its first position, the
 *    lowest position it can get: it registers (xid, first_position) in a
 *    slot of shared memory, with first_position = the sequence's
 *    last_value + 1, under the feed LWLock.  Positions only grow, so all of
 *    its positions are >= first_position.  The slot stays until the
 *    transaction is over: removed in the commit callback, which runs after
 *    the commit is visible to new snapshots, or at abort; a prepared
 *    transaction's slot stays until COMMIT/ROLLBACK PREPARED (the slot is
 *    free once TransactionIdIsInProgress says no).
 *
 * 3. A reader first computes the horizon under the same lock: the lowest
 *    first_position of a registered transaction still in progress, minus
 *    one, or, with none in progress, the sequence's last_value.  Every
 *    position at or below the horizon belongs to a transaction that is
 *    over.  Only then does it take the snapshot it reads with (the order
 *    matters: a snapshot taken before could miss a transaction that
 *    finished in between), and it reads positions up to the horizon.  So
 *    whatever it is handed is final: nothing can appear later at or below
 *    a position it was given.
 *
 * The only serialization is the LWLock around registering and computing
 * the horizon: microseconds, never across a transaction.
 *
 * Without shared_preload_libraries there is no shared memory: a
 * transaction then takes a heavyweight lock (an advisory lock of the
 * database) in its pre-commit callback and holds it until its commit is
 * visible, and a reader waits for that lock before it takes its snapshot.
 * Correct, but commits of appending transactions are serialized, and a
 * prepared transaction that appended holds the feed (readers and appending
 * commits) until it is resolved.  durable_sink.feed_status() tells which
 * mode is in force.
 *
 * Locking rules: FeedShared->lock protects the slots.  It is taken
 * exclusively to claim or clear a slot, shared to compute a horizon.
 * While holding it we read the feed sequence (a buffer lock) and ask the
 * ProcArray whether a transaction is in progress; nothing takes our lock
 * while holding those.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/twophase.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/tuptable.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/lwlock.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "announce.h"
#include "announcer.h"
#include "durable_sink.h"
#include "feed.h"
#include "state_write.h"
#include "state_access.h"
#include "xact_list.h"

PG_FUNCTION_INFO_V1(durable_sink_read_all);
PG_FUNCTION_INFO_V1(durable_sink_feed_events);
PG_FUNCTION_INFO_V1(durable_sink_feed_horizon);
PG_FUNCTION_INFO_V1(durable_sink_feed_status);
PG_FUNCTION_INFO_V1(durable_sink_feed_transactions);
PG_FUNCTION_INFO_V1(durable_sink_feed_progress);
PG_FUNCTION_INFO_V1(durable_sink_feed_truncated);

/* One registered transaction: the lowest position it can get. */
typedef struct FeedSlot
{
	Oid			dboid;
	TransactionId xid;			/* InvalidTransactionId: free */
	bool		prepared;		/* owner detached: free once xid is over */
	int64		first_position;
	TimestampTz registered_at;	/* for durable_sink.feed_transactions() */
} FeedSlot;

typedef struct FeedShared
{
	LWLock	   *lock;
	int			nslots;
	FeedSlot	slots[FLEXIBLE_ARRAY_MEMBER];
} FeedShared;

/* NULL when the library was not preloaded (the lock-based mode). */
static FeedShared *feed_shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* The slot this backend's current transaction registered, or NULL. */
static FeedSlot *my_slot = NULL;

/* Advisory lock of the lock-based mode: ("ds", "feed") in the int4 pair space. */
#define FEED_LOCK_KEY1 0x6473
#define FEED_LOCK_KEY2 0x66656564

/* Events this transaction appended, in append order. */
typedef struct AppendedEvent
{
	XactListItem item;			/* the subtransaction that appended it */
	int64		event_id;
	Oid			feed_seq;		/* the extension it was appended to (its feed sequence) */
} AppendedEvent;

static XactList appended_list = XACT_LIST_INIT(AppendedEvent);

#define appended ((AppendedEvent *) appended_list.items)
#define nappended (appended_list.count)

/* This transaction sent live frames (NOTIFY): its commit frame follows them. */
static bool announced = false;

/* The first position this transaction took (0: none), for the announcer. */
static int64 first_position = 0;

static StatePlan insert_feed_plan = {
	.sql = "INSERT INTO durable_sink.feed (position, event_id) "
		"SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2))",
	.nargs = 2,
	.argtypes = {INT8ARRAYOID, INT8ARRAYOID}
};

#define READ_FEED_COLUMNS \
	"SELECT f.position, e.event_id, e.fidelity, e.event_kind, e.scopes, e.thread_id, " \
	"       e.run_id, e.payload, e.causation_id, e.correlation_id, e.origin, " \
	"       e.visibility, e.schema_version, e.thread_seq, e.run_seq, e.created_at " \
	"FROM durable_sink.feed f " \
	"JOIN durable_sink.events e ON e.event_id OPERATOR(pg_catalog.=) f.event_id " \
	"WHERE f.position OPERATOR(pg_catalog.>) $1 AND f.position OPERATOR(pg_catalog.<=) $2 "

/*
 * read_all reads a batch in two range scans (read_batch_by_range): the
 * feed rows of the batch, then the events whose event_ids span the
 * batch's, matched up in memory.  Positions follow commit order and
 * event_ids insert order, which agree but for transactions that committed
 * in a different order than they inserted: the span is usually the batch
 * itself, and one range scan of events costs a fraction of a primary-key
 * probe per event.  When the span is much wider than the batch (an old
 * transaction's events committed late), the batch is read with a join
 * instead (read_all_plan).
 */
#define READ_RANGE_MAX_SPAN(rows) (4 * (rows) + 64)

static StatePlan feed_batch_plan = {
	.sql = "SELECT f.position, f.event_id FROM durable_sink.feed f "
		"WHERE f.position OPERATOR(pg_catalog.>) $1 AND f.position OPERATOR(pg_catalog.<=) $2 "
		"ORDER BY f.position LIMIT $3",
	.nargs = 3,
	.argtypes = {INT8OID, INT8OID, INT8OID}
};

static StatePlan event_range_plan = {
	.sql = "SELECT e.event_id, e.fidelity, e.event_kind, e.scopes, e.thread_id, "
		"       e.run_id, e.payload, e.causation_id, e.correlation_id, e.origin, "
		"       e.visibility, e.schema_version, e.thread_seq, e.run_seq, e.created_at "
		"FROM durable_sink.events e "
		"WHERE e.event_id OPERATOR(pg_catalog.>=) $1 AND e.event_id OPERATOR(pg_catalog.<=) $2 "
		"ORDER BY e.event_id",
	.nargs = 2,
	.argtypes = {INT8OID, INT8OID}
};

/*
 * The same batch with a join: the feed's events after a position up to
 * another, in position order.  A generic plan is fine: ORDER BY position
 * LIMIT makes the range scan of the feed's primary key the only sensible
 * plan, whatever the statistics said when it was made.
 */
static StatePlan read_all_plan = {
	.sql = READ_FEED_COLUMNS "ORDER BY f.position LIMIT $3",
	.nargs = 3,
	.argtypes = {INT8OID, INT8OID, INT8OID}
};

/*
 * The same, filtered (subscriptions).  Planned for each execution: the
 * filters' selectivity varies, and a generic plan made while the feed was
 * small could keep a sequential scan.
 */
static StatePlan read_feed_plan = {
	.sql = READ_FEED_COLUMNS
		"  AND ($4 IS NULL OR e.event_kind OPERATOR(pg_catalog.=) ANY ($4)) "
		"  AND ($5 IS NULL OR e.fidelity::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($5)) "
		"  AND ($6 IS NULL OR e.visibility::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($6)) "
		"  AND ($7 IS NULL OR e.thread_id OPERATOR(pg_catalog.=) $7) "
		"ORDER BY f.position LIMIT $3",
	.nargs = 7,
	.argtypes = {INT8OID, INT8OID, INT8OID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTOID},
	.custom_plan = true
};

/* ------------------------------------------------------- shared memory */

static Size
feed_shmem_size(void)
{
	return add_size(offsetof(FeedShared, slots),
					mul_size(MaxBackends + max_prepared_xacts, sizeof(FeedSlot)));
}

static void
feed_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(feed_shmem_size());
	RequestNamedLWLockTranche("durable_sink", 1);
}

static void
feed_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	feed_shared = ShmemInitStruct("durable_sink feed", feed_shmem_size(), &found);
	if (!found)
	{
		feed_shared->lock = &(GetNamedLWLockTranche("durable_sink"))->lock;
		feed_shared->nslots = MaxBackends + max_prepared_xacts;
		memset(feed_shared->slots, 0, sizeof(FeedSlot) * feed_shared->nslots);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* ------------------------------------------------------------ positions */

/*
 * The highest position handed out in this database (0: none): the feed
 * sequence's last value, read as the extension owner.
 */
static int64
last_position(void)
{
	Oid			seq = extension_relation_oid("feed_position_seq");
	Oid			saved_userid;
	int			saved_sec_context;
	Datum		value;
	bool		isnull;
	LOCAL_FCINFO(fcinfo, 1);

	GetUserIdAndSecContext(&saved_userid, &saved_sec_context);
	SetUserIdAndSecContext(extension_owner_oid(), saved_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	InitFunctionCallInfoData(*fcinfo, NULL, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = ObjectIdGetDatum(seq);
	fcinfo->args[0].isnull = false;
	value = pg_sequence_last_value(fcinfo);
	isnull = fcinfo->isnull;
	SetUserIdAndSecContext(saved_userid, saved_sec_context);
	return isnull ? 0 : DatumGetInt64(value);
}

/*
 * A slot is free when its owner cleared it, or when it belongs to a
 * prepared transaction (whose backend moved on) that is over.  Never merely
 * because the owner's xid is no longer in progress: between its commit
 * becoming visible and its commit callback the owner still counts the slot
 * as its own, and would clear a newcomer's registration.
 */
static bool
slot_is_free(const FeedSlot *slot)
{
	return !TransactionIdIsValid(slot->xid) ||
		(slot->prepared && !TransactionIdIsInProgress(slot->xid));
}

/* Register this transaction before it takes its first position. */
static void
register_transaction(void)
{
	TimestampTz now = GetCurrentTimestamp();	/* not under the lock */
	int			i;

	/*
	 * Never wait for a heavyweight lock while holding the LWLock: take now
	 * the lock that reading the sequence takes (init_sequence's).
	 */
	LockRelationOid(extension_relation_oid("feed_position_seq"), RowExclusiveLock);
	LWLockAcquire(feed_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < feed_shared->nslots; i++)
	{
		if (slot_is_free(&feed_shared->slots[i]))
			break;
	}
	if (i == feed_shared->nslots)
	{
		LWLockRelease(feed_shared->lock);
		elog(ERROR, "durable_sink: no free feed slot");
	}
	my_slot = &feed_shared->slots[i];
	my_slot->dboid = MyDatabaseId;
	my_slot->xid = GetTopTransactionId();
	my_slot->prepared = false;
	my_slot->first_position = last_position() + 1;
	my_slot->registered_at = now;
	LWLockRelease(feed_shared->lock);
}

/*
 * The transaction is over (its commit visible, or aborted): free its slot;
 * prepared (PREPARE TRANSACTION): leave it registered until the prepared
 * transaction is over, and detach.
 */
static void
unregister_transaction(bool prepared)
{
	if (my_slot == NULL)
		return;
	LWLockAcquire(feed_shared->lock, LW_EXCLUSIVE);
	if (prepared)
		my_slot->prepared = true;
	else
		my_slot->xid = InvalidTransactionId;
	LWLockRelease(feed_shared->lock);
	my_slot = NULL;
}

static void
feed_lock_tag(LOCKTAG *tag)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, FEED_LOCK_KEY1, FEED_LOCK_KEY2, 2);
}

/*
 * Every position at or below the result is final: its transaction is over.
 * Take the snapshot to read them with only after this returns.
 */
int64
feed_horizon(void)
{
	int64		horizon;
	int			i;

	if (feed_shared == NULL)
	{
		LOCKTAG		tag;

		/* wait for the appending commit in progress, if any */
		feed_lock_tag(&tag);
		(void) LockAcquire(&tag, ShareLock, true, false);
		horizon = last_position();
		LockRelease(&tag, ShareLock, true);
		return horizon;
	}
	/*
	 * Never wait for a heavyweight lock while holding the LWLock: take now
	 * the lock that reading the sequence takes (init_sequence's).
	 */
	LockRelationOid(extension_relation_oid("feed_position_seq"), RowExclusiveLock);
	LWLockAcquire(feed_shared->lock, LW_SHARED);
	horizon = last_position();
	for (i = 0; i < feed_shared->nslots; i++)
	{
		FeedSlot   *slot = &feed_shared->slots[i];

		if (slot->dboid == MyDatabaseId && TransactionIdIsValid(slot->xid) &&
			slot->first_position - 1 < horizon && TransactionIdIsInProgress(slot->xid))
			horizon = slot->first_position - 1;
	}
	LWLockRelease(feed_shared->lock);
	return horizon;
}

/*
 * The feed frame (contract §17): positions first..last became readable;
 * count: how many events they are (-1: not counted, the announcer's
 * coalesced frames, which may span holes).  Sent by a transaction that
 * announced its events by NOTIFY, in its pre-commit callback (delivered
 * with its other frames at commit), and by the announcer.  Positions of
 * one transaction follow append order but need not be contiguous.
 */
void
announce_feed_frame(int64 first, int64 last, int count)
{
	StringInfoData frame;

	frame_begin(&frame, "feed");
	frame_add_int64(&frame, "first_position", first);
	frame_add_int64(&frame, "last_position", last);
	if (count >= 0)
		frame_add_int64(&frame, "events", count);
	frame_close(&frame);
	Async_Notify(ANNOUNCE_CHANNEL, frame.data);
}

/*
 * Insert the feed rows directly (state_write.c), STATE_WRITER_BATCH at a
 * time; false, with nothing inserted, when durable_sink.feed has INSERT
 * triggers, rules, row-level security or columns of its own, which need the
 * statement.
 */
/* What feed_row_values fills the feed rows from. */
typedef struct FeedRows
{
	const Datum *positions;
	const Datum *event_ids;
} FeedRows;

/* StateRowFiller: (position, event_id) of feed row row. */
static void
feed_row_values(int row, Datum *values, bool *nulls, void *arg)
{
	FeedRows   *feed = arg;

	values[0] = feed->positions[row];
	values[1] = feed->event_ids[row];
	nulls[0] = nulls[1] = false;
}

static bool
insert_feed_rows(const Datum *positions, const Datum *event_ids, int count)
{
	StateWriter w;
	FeedRows	feed = {positions, event_ids};
	AttrNumber	columns[2];

	state_writer_open(&w, "feed");
	/* a column of someone else's would need its default: the statement */
	if (!state_writer_plain(&w) || state_writer_live_columns(&w) != 2)
	{
		state_writer_close(&w);
		return false;
	}
	columns[0] = state_writer_column(&w, "position");
	columns[1] = state_writer_column(&w, "event_id");
	state_writer_insert_rows(&w, count, columns, 2, feed_row_values, &feed, NULL);
	state_writer_close(&w);
	return true;
}

/*
 * Give this transaction's events their positions and feed rows: called
 * just before it commits or prepares.
 */
static void
assign_positions(void)
{
	Oid			seq;
	Datum	   *positions;
	Datum	   *event_ids;
	Datum		args[2];
	StateAccess access;
	int			i;
	int			kept;

	if (nappended == 0)
		return;
	/*
	 * No feed: the installed objects are still 1.0 (ALTER EXTENSION UPDATE
	 * gives the events stored until then their positions), or the extension
	 * was dropped in this transaction.
	 */
	if (!extension_relation_exists("feed_position_seq"))
	{
		nappended = 0;
		return;
	}
	seq = extension_relation_oid("feed_position_seq");
	/* keep only the events appended to this incarnation of the extension */
	for (i = 0, kept = 0; i < nappended; i++)
		if (appended[i].feed_seq == seq)
			appended[kept++] = appended[i];
	nappended = kept;
	if (nappended == 0)
		return;
	if (feed_shared != NULL)
		register_transaction();
	else
	{
		LOCKTAG		tag;

		/* held until the transaction's commit is visible */
		feed_lock_tag(&tag);
		(void) LockAcquire(&tag, ExclusiveLock, false, false);
	}
	positions = palloc(sizeof(Datum) * nappended);
	event_ids = palloc(sizeof(Datum) * nappended);
	for (i = 0; i < nappended; i++)
	{
		positions[i] = Int64GetDatum(nextval_internal(seq, false));
		event_ids[i] = Int64GetDatum(appended[i].event_id);
	}
	if (!insert_feed_rows(positions, event_ids, nappended))
	{
		args[0] = PointerGetDatum(construct_array(positions, nappended, INT8OID, 8, true,
												  TYPALIGN_DOUBLE));
		args[1] = PointerGetDatum(construct_array(event_ids, nappended, INT8OID, 8, true,
												  TYPALIGN_DOUBLE));
		PushActiveSnapshot(GetTransactionSnapshot());
		state_access_begin(&access);
		state_exec(&insert_feed_plan, args, NULL);
		state_access_end(&access);
		PopActiveSnapshot();
	}
	first_position = DatumGetInt64(positions[0]);
	if (announced)
		announce_feed_frame(first_position, DatumGetInt64(positions[nappended - 1]), nappended);
	nappended = 0;
}

static void
forget_appended(void)
{
	xact_list_reset(&appended_list);
	announced = false;
	first_position = 0;
}

/* announce.c: this transaction sent a live frame. */
void
feed_note_announced(void)
{
	announced = true;
}

static void
feed_xact_callback(XactEvent event, void *arg pg_attribute_unused())
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			assign_positions();
			break;
		case XACT_EVENT_COMMIT:
			/* the commit is visible now: the announcer can see it */
			unregister_transaction(false);
			announcer_wake(first_position);
			forget_appended();
			break;
		case XACT_EVENT_ABORT:
			unregister_transaction(false);
			forget_appended();
			break;
		case XACT_EVENT_PREPARE:
			/* the slot stays until COMMIT/ROLLBACK PREPARED ends the xid */
			unregister_transaction(true);
			announcer_wake(first_position);
			forget_appended();
			break;
		default:
			break;
	}
}

/* Events of an aborted subtransaction were never appended. */
static void
feed_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg pg_attribute_unused())
{
	xact_list_subxact(&appended_list, event, mySubid, parentSubid);
}

/*
 * Remember an event this transaction appended (store.c), with the feed
 * sequence of the extension it went to: if the extension is dropped and
 * created again in the same transaction, the events of the old one get no
 * position in the new one.
 */
void
feed_note_appended(int64 event_id, Oid feed_seq)
{
	AppendedEvent *event = xact_list_append(&appended_list);

	event->event_id = event_id;
	event->feed_seq = feed_seq;
}

/*
 * durable_sink.feed_truncated() -> trigger, AFTER TRUNCATE ON
 * durable_sink.events FOR EACH STATEMENT.
 *
 * Starting the store over (TRUNCATE) starts the feed over too: its rows
 * would point at event_ids that RESTART IDENTITY hands out again.  The
 * positions continue from the sequence (a reader never sees a position
 * again), and the events this transaction appended before the TRUNCATE
 * are gone, so they get none.  Contract §19.
 */
Datum
durable_sink_feed_truncated(PG_FUNCTION_ARGS)
{
	StateAccess access;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("durable_sink.feed_truncated() must be called as a trigger")));
	nappended = 0;
	state_access_begin(&access);
	if (SPI_execute("TRUNCATE durable_sink.feed", false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "durable_sink: TRUNCATE durable_sink.feed failed");
	state_access_end(&access);
	return PointerGetDatum(NULL);
}

void
feed_init(void)
{
	if (process_shared_preload_libraries_in_progress)
	{
		prev_shmem_request_hook = shmem_request_hook;
		shmem_request_hook = feed_shmem_request;
		prev_shmem_startup_hook = shmem_startup_hook;
		shmem_startup_hook = feed_shmem_startup;
	}
	RegisterXactCallback(feed_xact_callback, NULL);
	RegisterSubXactCallback(feed_subxact_callback, NULL);
}

/* ------------------------------------------------------------- reading */

static Datum
nullable_arg(FunctionCallInfo fcinfo, int argno)
{
	return PG_ARGISNULL(argno) ? (Datum) 0 : PG_GETARG_DATUM(argno);
}

/* One feed row of a batch, and what became of its event. */
typedef struct BatchEntry
{
	int64		position;
	int64		event_id;
	MinimalTuple event;			/* arrived before its turn: kept until then */
	bool		done;			/* sent to the result, or known not stored */
} BatchEntry;

/*
 * Receives the events of the batch's event_id span, in event_id order, and
 * sends the batch's to the result in position order: an event whose turn
 * it is goes straight to the result, one that arrives early is kept until
 * its turn.  In the usual case (positions in event_id order) nothing is
 * kept.
 */
typedef struct BatchReceiver
{
	DestReceiver pub;
	BatchEntry *batch;			/* in position order */
	BatchEntry **by_id;			/* the same, in event_id order */
	uint64		nrows;
	uint64		next_id;		/* by_id cursor */
	uint64		next_out;		/* batch cursor: the next to send */
	Tuplestorestate *result;
	TupleDesc	result_desc;
	Datum	   *values;			/* result row: position, then the event */
	bool	   *nulls;
	TupleTableSlot *kept_slot;	/* to deform kept events */
} BatchReceiver;

static void
batch_send(BatchReceiver *receiver, BatchEntry *entry, TupleTableSlot *slot)
{
	int			natts = receiver->result_desc->natts;

	slot_getallattrs(slot);
	receiver->values[0] = Int64GetDatum(entry->position);
	receiver->nulls[0] = false;
	memcpy(receiver->values + 1, slot->tts_values, sizeof(Datum) * (natts - 1));
	memcpy(receiver->nulls + 1, slot->tts_isnull, sizeof(bool) * (natts - 1));
	tuplestore_putvalues(receiver->result, receiver->result_desc, receiver->values, receiver->nulls);
	entry->done = true;
}

/* Send the kept events whose turn has come; skip the ones not stored. */
static void
batch_flush(BatchReceiver *receiver)
{
	while (receiver->next_out < receiver->nrows)
	{
		BatchEntry *entry = &receiver->batch[receiver->next_out];

		if (entry->event != NULL)
		{
			ExecStoreMinimalTuple(entry->event, receiver->kept_slot, true);
			batch_send(receiver, entry, receiver->kept_slot);
			ExecClearTuple(receiver->kept_slot);
			entry->event = NULL;
		}
		else if (!entry->done)
			break;
		receiver->next_out++;
	}
}

static bool
batch_receive(TupleTableSlot *slot, DestReceiver *self)
{
	BatchReceiver *receiver = (BatchReceiver *) self;
	bool		isnull;
	int64		event_id = DatumGetInt64(slot_getattr(slot, 1, &isnull));
	BatchEntry *entry;

	/* batch events with a lower event_id did not arrive: not stored (any more) */
	while (receiver->next_id < receiver->nrows &&
		   receiver->by_id[receiver->next_id]->event_id < event_id)
		receiver->by_id[receiver->next_id++]->done = true;
	if (receiver->next_id == receiver->nrows ||
		receiver->by_id[receiver->next_id]->event_id != event_id)
	{
		batch_flush(receiver);
		return true;			/* in the span, not in the batch */
	}
	entry = receiver->by_id[receiver->next_id++];
	batch_flush(receiver);
	if (entry == &receiver->batch[receiver->next_out])
	{
		batch_send(receiver, entry, slot);
		receiver->next_out++;
		batch_flush(receiver);
	}
	else
		entry->event = ExecCopySlotMinimalTuple(slot);	/* lives until the statement ends */
	return true;
}

static void
batch_startup(DestReceiver *self, int operation pg_attribute_unused(), TupleDesc typeinfo)
{
	BatchReceiver *receiver = (BatchReceiver *) self;

	receiver->kept_slot = MakeSingleTupleTableSlot(typeinfo, &TTSOpsMinimalTuple);
}

static void
batch_shutdown(DestReceiver *self)
{
	BatchReceiver *receiver = (BatchReceiver *) self;

	while (receiver->next_id < receiver->nrows)
		receiver->by_id[receiver->next_id++]->done = true;
	batch_flush(receiver);
	ExecDropSingleTupleTableSlot(receiver->kept_slot);
}

static void
batch_destroy(DestReceiver *self pg_attribute_unused())
{
}

static int
batch_entry_by_event_id(const void *a, const void *b)
{
	int64		x = (*(BatchEntry *const *) a)->event_id;
	int64		y = (*(BatchEntry *const *) b)->event_id;

	return (x > y) - (x < y);
}

/*
 * read_all's batch (see READ_RANGE_MAX_SPAN above), into the SRF's result.
 * Both statements read with snapshot, so they agree.
 */
static void
read_batch_by_range(ReturnSetInfo *rsinfo, Datum *args, Snapshot snapshot)
{
	BatchReceiver receiver;
	Datum		range[2];
	uint64		nrows;
	uint64		i;
	bool		isnull;

	nrows = state_exec_to(&feed_batch_plan, args, NULL, snapshot, NULL);
	if (nrows == 0)
		return;
	memset(&receiver, 0, sizeof(receiver));
	receiver.batch = palloc(sizeof(BatchEntry) * nrows);
	receiver.by_id = palloc(sizeof(BatchEntry *) * nrows);
	receiver.nrows = nrows;
	for (i = 0; i < nrows; i++)
	{
		BatchEntry *entry = &receiver.batch[i];

		entry->position = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		entry->event_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		entry->event = NULL;
		entry->done = false;
		receiver.by_id[i] = entry;
	}
	SPI_freetuptable(SPI_tuptable);
	qsort(receiver.by_id, nrows, sizeof(BatchEntry *), batch_entry_by_event_id);
	if ((uint64) (receiver.by_id[nrows - 1]->event_id - receiver.by_id[0]->event_id) >=
		READ_RANGE_MAX_SPAN(nrows))
	{
		state_exec_into(&read_all_plan, args, NULL, snapshot, rsinfo->setResult,
						rsinfo->econtext->ecxt_per_query_memory);
		return;
	}

	receiver.pub.receiveSlot = batch_receive;
	receiver.pub.rStartup = batch_startup;
	receiver.pub.rShutdown = batch_shutdown;
	receiver.pub.rDestroy = batch_destroy;
	receiver.pub.mydest = DestNone;
	receiver.result = rsinfo->setResult;
	receiver.result_desc = rsinfo->setDesc;
	receiver.values = palloc(sizeof(Datum) * rsinfo->setDesc->natts);
	receiver.nulls = palloc(sizeof(bool) * rsinfo->setDesc->natts);
	range[0] = Int64GetDatum(receiver.by_id[0]->event_id);
	range[1] = Int64GetDatum(receiver.by_id[nrows - 1]->event_id);
	state_exec_to(&event_range_plan, range, NULL, snapshot, &receiver.pub);
}

/*
 * Read the feed's events with position in (after, up_to], at most
 * max_rows, into the SRF's result, with a snapshot taken now.
 */
static void
read_feed(FunctionCallInfo fcinfo, int64 after, int64 up_to, int64 max_rows,
		  Datum kinds, Datum fidelities, Datum visibilities, Datum thread_id)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		args[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	StateAccess access;
	Snapshot	snapshot;
	bool		filtered = false;
	uint64		i;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (max_rows == 0 || up_to <= after)
		return;
	args[0] = Int64GetDatum(after);
	args[1] = Int64GetDatum(up_to);
	args[2] = Int64GetDatum(max_rows);
	args[3] = kinds;
	args[4] = fidelities;
	args[5] = visibilities;
	args[6] = thread_id;
	for (i = 3; i < 7; i++)
	{
		nulls[i] = args[i] == (Datum) 0 ? 'n' : ' ';
		filtered |= args[i] != (Datum) 0;
	}

	snapshot = RegisterSnapshot(GetLatestSnapshot());
	state_access_begin(&access);
	if (filtered)
		state_exec_into(&read_feed_plan, args, nulls, snapshot, rsinfo->setResult,
						rsinfo->econtext->ecxt_per_query_memory);
	else
		read_batch_by_range(rsinfo, args, snapshot);
	state_access_end(&access);
	UnregisterSnapshot(snapshot);
}

static int64
bounded_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	int64		value;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name)));
	value = PG_GETARG_INT64(argno);
	if (value < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative", name)));
	return value;
}

/*
 * durable_sink.read_all(after_position bigint DEFAULT 0,
 *                       max_rows integer DEFAULT 1000)
 *     -> TABLE (position, event_id, <draft columns>, thread_seq, run_seq, created_at)
 *
 * The stored events with position > after_position, in position order, at
 * most max_rows.  Whatever it returns is final (contract §19): resuming
 * from the last position returned never skips an event.  Errors: 22004 for
 * a NULL argument, 22023 for a negative one.
 */
Datum
durable_sink_read_all(PG_FUNCTION_ARGS)
{
	int64		after;
	int64		max_rows;
	int64		horizon;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", PG_ARGISNULL(0) ? "after_position" : "max_rows")));
	after = PG_GETARG_INT64(0);
	max_rows = PG_GETARG_INT32(1);
	if (after < 0 || max_rows < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative", after < 0 ? "after_position" : "max_rows")));
	horizon = feed_horizon();
	read_feed(fcinfo, after, horizon, max_rows, (Datum) 0, (Datum) 0, (Datum) 0, (Datum) 0);
	return (Datum) 0;
}

/*
 * durable_sink.feed_events(after_position bigint, up_to_position bigint,
 *     max_rows bigint, event_kinds text[], fidelities text[],
 *     visibilities text[], thread_id text) -> SETOF (as read_all)
 *
 * For the subscription functions: the feed's events in (after, up_to]
 * matching the filters (NULL: any).  up_to must come from feed_horizon()
 * called before; the snapshot is taken here.
 */
Datum
durable_sink_feed_events(PG_FUNCTION_ARGS)
{
	int64		after = bounded_arg(fcinfo, 0, "after_position");
	int64		up_to = bounded_arg(fcinfo, 1, "up_to_position");
	int64		max_rows = bounded_arg(fcinfo, 2, "max_rows");

	read_feed(fcinfo, after, up_to, max_rows, nullable_arg(fcinfo, 3),
			  nullable_arg(fcinfo, 4), nullable_arg(fcinfo, 5), nullable_arg(fcinfo, 6));
	return (Datum) 0;
}

/* durable_sink.feed_horizon() -> bigint: see feed_horizon(). */
Datum
durable_sink_feed_horizon(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(feed_horizon());
}

/* Appending transactions of this database in progress with a slot (0 in the lock mode). */
static int
committing_transactions(void)
{
	int			committing = 0;
	int			i;

	if (feed_shared == NULL)
		return 0;
	LWLockAcquire(feed_shared->lock, LW_SHARED);
	for (i = 0; i < feed_shared->nslots; i++)
		if (feed_shared->slots[i].dboid == MyDatabaseId &&
			TransactionIdIsValid(feed_shared->slots[i].xid) &&
			TransactionIdIsInProgress(feed_shared->slots[i].xid))
			committing++;
	LWLockRelease(feed_shared->lock);
	return committing;
}

/*
 * durable_sink.feed_status() -> TABLE (mode text, horizon bigint,
 *     last_position bigint, committing_transactions integer)
 *
 * mode: 'shared_memory' (the library is in shared_preload_libraries) or
 * 'lock' (it is not: appending commits are serialized, contract §19).
 */
Datum
durable_sink_feed_status(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "durable_sink: feed_status must return a row");
	values[0] = CStringGetTextDatum(feed_shared ? "shared_memory" : "lock");
	values[1] = Int64GetDatum(feed_horizon());
	values[2] = Int64GetDatum(last_position());
	values[3] = Int32GetDatum(committing_transactions());
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/*
 * durable_sink.feed_transactions() -> TABLE (xid xid, first_position bigint,
 *     registered_at timestamptz, prepared boolean)
 *
 * The appending transactions of this database registered in the feed now
 * (they are committing, or prepared and not yet resolved): each holds the
 * horizon below its first_position until it is over.  registered_at: when
 * it registered, just before its commit.  No rows in the lock mode (the
 * library not preloaded: there are no registrations; see pg_locks).
 * Contract §23.
 */
Datum
durable_sink_feed_transactions(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	FeedSlot   *copies;
	int			ncopies = 0;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	if (feed_shared == NULL)
		return (Datum) 0;
	/* copy under the lock, ask the ProcArray and build rows after */
	copies = palloc(sizeof(FeedSlot) * feed_shared->nslots);
	LWLockAcquire(feed_shared->lock, LW_SHARED);
	for (i = 0; i < feed_shared->nslots; i++)
		if (feed_shared->slots[i].dboid == MyDatabaseId &&
			TransactionIdIsValid(feed_shared->slots[i].xid))
			copies[ncopies++] = feed_shared->slots[i];
	LWLockRelease(feed_shared->lock);
	for (i = 0; i < ncopies; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		CHECK_FOR_INTERRUPTS();
		if (!TransactionIdIsInProgress(copies[i].xid))
			continue;
		values[0] = TransactionIdGetDatum(copies[i].xid);
		values[1] = Int64GetDatum(copies[i].first_position);
		values[2] = TimestampTzGetDatum(copies[i].registered_at);
		values[3] = BoolGetDatum(copies[i].prepared);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * durable_sink.feed_progress() -> TABLE (mode text, horizon bigint,
 *     last_position bigint, committing_transactions integer)
 *
 * feed_status() for monitoring, which must never wait: in the lock mode,
 * while an appending commit or a prepared transaction that appended holds
 * the feed's lock, horizon is NULL (unknown) and committing_transactions 1,
 * where feed_status() would wait for the lock.  Contract §23.
 */
Datum
durable_sink_feed_progress(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	LOCKTAG		tag;
	int			committing = committing_transactions();

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "durable_sink: feed_progress must return a row");
	values[0] = CStringGetTextDatum(feed_shared ? "shared_memory" : "lock");
	if (feed_shared != NULL)
		values[1] = Int64GetDatum(feed_horizon());
	else
	{
		feed_lock_tag(&tag);
		if (LockAcquire(&tag, ShareLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
		{
			nulls[1] = true;
			committing = 1;
		}
		else
		{
			values[1] = Int64GetDatum(last_position());
			LockRelease(&tag, ShareLock, true);
		}
	}
	values[2] = Int64GetDatum(last_position());
	values[3] = Int32GetDatum(committing);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
