/*
 * announcer.c
 *     Contract §17: with the library in shared_preload_libraries, live
 *     frames are sent after commit by a background worker, not by NOTIFY in
 *     the writing transaction.
 *
 * Why: NOTIFY in the writing transaction takes a cluster-wide lock at
 * commit (every notifying commit in the cluster waits for the one before)
 * and makes PREPARE TRANSACTION fail.  Here a writer keeps its frames in
 * memory (dropping those of aborted subtransactions), writes them as one
 * row into the unlogged table durable_sink.outbox just before it commits
 * or prepares, and once its commit is visible wakes the announcer of its
 * database.  The announcer — one background worker per database, started
 * on demand — takes the rows out of the outbox and NOTIFYs their frames in
 * its own transaction, followed by one coalesced feed frame for everything
 * that became readable since its last one (§19).  Frames of a transaction
 * that rolls back are never sent: its outbox row never becomes visible.
 * Frames of a prepared transaction are sent when COMMIT PREPARED makes its
 * row visible: the announcer keeps polling while its database has prepared
 * transactions.
 *
 * An announcer with nothing to do for ANNOUNCER_IDLE_EXIT_MS exits, so it
 * never holds up DROP DATABASE (which waits up to 5 s for other sessions);
 * the next committing writer starts a new one.
 *
 * Without the library preloaded, or with durable_sink.announce_after_commit
 * off, frames are sent by NOTIFY in the writing transaction, as in 1.0.
 *
 * Locking rules: AnnouncerShared->lock protects the database entries.
 * Writers take it exclusively once per committing transaction that has
 * something to announce, the announcer to look at and clear its entry.
 * Nothing else is locked while it is held; latches are set after release.
 */
#include "postgres.h"

#include "access/twophase.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

#include "announce.h"
#include "announcer.h"
#include "feed.h"
#include "state_access.h"
#include "state_write.h"
#include "stats.h"
#include "xact_list.h"

PGDLLEXPORT void durable_sink_announcer_main(Datum main_arg);

/* GUC durable_sink.announce_after_commit */
bool		announce_after_commit = true;

/* Databases with an announcer at a time (each one is a background worker). */
#define ANNOUNCER_MAX_DATABASES 64
/* How often an announcer looks without being woken, and when it gives up. */
#define ANNOUNCER_POLL_MS 50
#define ANNOUNCER_IDLE_EXIT_MS 1000
/*
 * At most one pass per this many ms: under a load of small transactions
 * every commit wakes the announcer, and a pass (a transaction of its own)
 * per commit would cost as much as the commits.  Frames wait that much
 * longer, and are coalesced.
 */
#define ANNOUNCER_MIN_INTERVAL_MS 10

typedef struct AnnouncerDatabase
{
	Oid			dboid;			/* InvalidOid: unused */
	bool		running;		/* a worker serves it, or is being started */
	bool		pending;		/* something to announce since it last looked */
	Latch	   *latch;			/* the worker's, once it runs */
	int64		announced_position; /* feed frames sent up to here; -1: none yet */
	bool		fresh;			/* no pass since the entry was claimed */
} AnnouncerDatabase;

typedef struct AnnouncerShared
{
	LWLock	   *lock;
	AnnouncerDatabase databases[ANNOUNCER_MAX_DATABASES];
} AnnouncerShared;

static AnnouncerShared *announcer_shared = NULL;

/* This backend's database entry, once looked up (check its dboid). */
static AnnouncerDatabase *my_database_entry = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* This transaction's frames, in sending order. */
typedef struct QueuedFrame
{
	XactListItem item;			/* the subtransaction that sent it */
	char	   *frame;			/* in TopTransactionContext */
	Oid			outbox;			/* the outbox of the extension it was sent to */
} QueuedFrame;

static XactList queued = XACT_LIST_INIT(QueuedFrame);

/*
 * This transaction ran COMMIT PREPARED: a prepared transaction's frames and
 * positions may have become visible, and its own session is gone.
 */
static bool committed_prepared = false;
static ProcessUtility_hook_type prev_process_utility = NULL;

/* This transaction wrote an outbox row: wake the announcer at commit. */
static bool outbox_written = false;

static StatePlan queue_frames_plan = {
	.sql = "INSERT INTO durable_sink.outbox (frames) VALUES ($1)",
	.nargs = 1,
	.argtypes = {TEXTARRAYOID}
};

static StatePlan prepared_plan = {
	.sql = "SELECT EXISTS (SELECT FROM pg_catalog.pg_prepared_xacts p "
		"WHERE p.database OPERATOR(pg_catalog.=) pg_catalog.current_database())",
	.nargs = 0
};

static StatePlan take_frames_plan = {
	.sql = "WITH taken AS (DELETE FROM durable_sink.outbox RETURNING batch_id, frames) "
		"SELECT frames FROM taken ORDER BY batch_id",
	.nargs = 0
};

/* ------------------------------------------------------- shared memory */

static void
announcer_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(sizeof(AnnouncerShared));
	RequestNamedLWLockTranche("durable_sink announcer", 1);
}

static void
announcer_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	announcer_shared = ShmemInitStruct("durable_sink announcer", sizeof(AnnouncerShared), &found);
	if (!found)
	{
		memset(announcer_shared, 0, sizeof(AnnouncerShared));
		announcer_shared->lock = &(GetNamedLWLockTranche("durable_sink announcer"))->lock;
	}
	LWLockRelease(AddinShmemInitLock);
}

/* The entry of a database (lock held), claiming one if create; or NULL. */
static AnnouncerDatabase *
database_entry(Oid dboid, bool create)
{
	AnnouncerDatabase *reusable = NULL;
	int			i;

	/*
	 * A free entry first; else one of a database whose announcer is not
	 * running (that database then starts over: its next feed frames begin
	 * at the positions of the commit that wakes it).
	 */
	for (i = 0; i < ANNOUNCER_MAX_DATABASES; i++)
	{
		AnnouncerDatabase *entry = &announcer_shared->databases[i];

		if (entry->dboid == dboid)
			return entry;
		if (!entry->running &&
			(reusable == NULL || (OidIsValid(reusable->dboid) && !OidIsValid(entry->dboid))))
			reusable = entry;
	}
	if (!create || reusable == NULL)
		return NULL;
	memset(reusable, 0, sizeof(AnnouncerDatabase));
	reusable->dboid = dboid;
	reusable->announced_position = -1;
	reusable->fresh = true;
	return reusable;
}

/* ------------------------------------------------------------- writers */

/*
 * The outbox this transaction's frames go to, or InvalidOid when they are
 * sent by NOTIFY in the transaction: the library is not preloaded, the
 * setting is off, this is a background worker, or the installed objects
 * have no outbox (a 1.0 installation not yet updated).
 */
Oid
announcer_outbox(void)
{
	if (announcer_shared == NULL || !announce_after_commit || IsBackgroundWorker ||
		!extension_relation_exists("outbox"))
		return InvalidOid;
	return extension_relation_oid("outbox");
}

/* Keep a frame until the transaction commits (announce.c). */
void
announcer_queue_frame(const char *frame, Oid outbox)
{
	QueuedFrame *queued_frame = xact_list_append(&queued);

	queued_frame->frame = MemoryContextStrdup(TopTransactionContext, frame);
	queued_frame->outbox = outbox;
}

/* Just before commit or prepare: the frames become one outbox row. */
static void
write_outbox(void)
{
	Datum	   *frames;
	Datum		args[1];
	StateAccess access;
	StateWriter w;
	int			i;

	Oid			outbox;
	int			nframes = 0;

	if (queued.count == 0)
		return;

	/*
	 * Only frames sent to the extension as it is now: it may have been
	 * dropped (and created again) in this transaction since.
	 */
	outbox = extension_relation_exists("outbox") ? extension_relation_oid("outbox") : InvalidOid;
	frames = palloc(sizeof(Datum) * queued.count);
	for (i = 0; i < queued.count; i++)
	{
		QueuedFrame *queued_frame = xact_list_item(&queued, i);

		if (OidIsValid(outbox) && queued_frame->outbox == outbox)
			frames[nframes++] = CStringGetTextDatum(queued_frame->frame);
	}
	xact_list_reset(&queued);
	if (nframes == 0)
		return;
	args[0] = PointerGetDatum(construct_array(frames, nframes, TEXTOID, -1, false, TYPALIGN_INT));
	state_writer_open(&w, "outbox");
	if (state_writer_plain(&w))
	{
		/* one row, written directly (state_write.c) */
		state_writer_new_row(&w, NULL);
		(void) state_writer_set_identity(&w, "batch_id");
		state_writer_set(&w, "frames", args[0], false);
		state_writer_insert(&w);
		state_writer_close(&w);
	}
	else
	{
		state_writer_close(&w);
		PushActiveSnapshot(GetTransactionSnapshot());
		state_access_begin(&access);
		state_exec(&queue_frames_plan, args, NULL);
		state_access_end(&access);
		PopActiveSnapshot();
	}
	outbox_written = true;
}

static bool
start_announcer(Oid dboid)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "durable_sink");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "durable_sink_announcer_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "durable_sink announcer for database %u", dboid);
	snprintf(worker.bgw_type, BGW_MAXLEN, "durable_sink announcer");
	worker.bgw_main_arg = ObjectIdGetDatum(dboid);
	worker.bgw_notify_pid = 0;
	return RegisterDynamicBackgroundWorker(&worker, &handle);
}

/*
 * The transaction's commit is visible, or it is prepared (called by feed.c
 * after it released the transaction's feed registration, so the announcer
 * sees the new horizon): wake the database's announcer, or start one, if
 * the transaction wrote frames or took feed positions (first_position > 0).
 * A prepared transaction's announcer polls until it is resolved.  Runs in
 * the commit callback: must not fail.
 */
void
announcer_wake(int64 first_position)
{
	AnnouncerDatabase *entry;
	Latch	   *latch = NULL;
	bool		start = false;

	/*
	 * Frames written to the outbox are always announced (the setting may
	 * have changed since they were queued); positions alone only with the
	 * setting on.
	 */
	if (announcer_shared == NULL ||
		(!outbox_written && !committed_prepared &&
		 (first_position <= 0 || !announce_after_commit)))
	{
		announcer_forget_transaction();
		return;
	}
	announcer_forget_transaction();

	/*
	 * Fast path, without the lock: the announcer runs and has a wake-up it
	 * has not taken yet.  It clears pending before it takes the snapshot of
	 * its next pass, so that pass sees this commit.  (A stale read delays
	 * the frames by one poll interval at most.)
	 */
	entry = my_database_entry;
	if (entry != NULL && entry->dboid == MyDatabaseId)
	{
		pg_read_barrier();
		if (entry->running && entry->pending && entry->announced_position >= 0)
			return;
	}

	LWLockAcquire(announcer_shared->lock, LW_EXCLUSIVE);
	entry = my_database_entry = database_entry(MyDatabaseId, true);
	if (entry != NULL)
	{
		entry->pending = true;
		/*
		 * Until the first pass, the lowest position of the wakers: a
		 * transaction that took its positions earlier may commit later.
		 */
		if (first_position > 0 &&
			(entry->announced_position < 0 ||
			 (entry->fresh && first_position - 1 < entry->announced_position)))
			entry->announced_position = first_position - 1;
		latch = entry->latch;
		if (!entry->running)
			start = entry->running = true;
	}
	LWLockRelease(announcer_shared->lock);
	if (latch != NULL)
		SetLatch(latch);
	if (start && !start_announcer(MyDatabaseId))
	{
		/* no worker slot: the outbox keeps the frames for the next try */
		LWLockAcquire(announcer_shared->lock, LW_EXCLUSIVE);
		entry->running = false;
		LWLockRelease(announcer_shared->lock);
		ereport(LOG,
				(errmsg("durable_sink: could not start the announcer of database %u", MyDatabaseId),
				 errhint("Raise max_worker_processes.")));
	}
}

void
announcer_forget_transaction(void)
{
	xact_list_reset(&queued);
	outbox_written = false;
	committed_prepared = false;
}

/*
 * COMMIT PREPARED makes a prepared transaction's outbox row and positions
 * visible, in a session that queued nothing itself: its commit wakes the
 * announcer too (announcer_wake), which may not be running any more.
 */
static void
announcer_process_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
						  ProcessUtilityContext context, ParamListInfo params,
						  QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *statement = pstmt->utilityStmt;

	if (prev_process_utility)
		prev_process_utility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	if (IsA(statement, TransactionStmt) &&
		((TransactionStmt *) statement)->kind == TRANS_STMT_COMMIT_PREPARED)
		committed_prepared = true;
}

static void
announcer_xact_callback(XactEvent event, void *arg pg_attribute_unused())
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			write_outbox();
			break;
		case XACT_EVENT_ABORT:
			/* COMMIT, PREPARE: feed.c calls announcer_wake */
			announcer_forget_transaction();
			break;
		default:
			break;
	}
}

/* Frames of an aborted subtransaction are never sent. */
static void
announcer_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						   SubTransactionId parentSubid, void *arg pg_attribute_unused())
{
	xact_list_subxact(&queued, event, mySubid, parentSubid);
}

void
announcer_init(void)
{
	if (process_shared_preload_libraries_in_progress)
	{
		prev_shmem_request_hook = shmem_request_hook;
		shmem_request_hook = announcer_shmem_request;
		prev_shmem_startup_hook = shmem_startup_hook;
		shmem_startup_hook = announcer_shmem_startup;
	}
	RegisterXactCallback(announcer_xact_callback, NULL);
	RegisterSubXactCallback(announcer_subxact_callback, NULL);
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = announcer_process_utility;
}

/* ------------------------------------------------------------ the worker */

static AnnouncerDatabase *my_entry = NULL;

/* On any exit, error included: the next writer starts a new announcer. */
static void
announcer_detach(int code pg_attribute_unused(), Datum arg pg_attribute_unused())
{
	if (my_entry == NULL)
		return;
	LWLockAcquire(announcer_shared->lock, LW_EXCLUSIVE);
	my_entry->running = false;
	my_entry->latch = NULL;
	LWLockRelease(announcer_shared->lock);
	my_entry = NULL;
}

/* What a pass found. */
typedef enum PassResult
{
	PASS_UNINSTALLED,			/* no extension (or only its 1.0 objects): exit */
	PASS_DONE,
	PASS_PREPARED				/* prepared transactions exist: keep polling */
} PassResult;

/*
 * One pass in one transaction: send the committed outbox rows' frames, then
 * a feed frame for the positions that became readable since the last one.
 */
static PassResult
announce_pass(void)
{
	StateAccess access;
	int64		horizon;
	int64		announced;
	bool		installed;
	bool		prepared = false;
	uint64		r;
	StatsCall	call = {0};

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	installed = OidIsValid(get_extension_oid("durable_sink", true)) &&
		extension_relation_exists("outbox");
	if (installed)
	{
		horizon = feed_horizon();
		state_access_begin(&access);
		state_exec(&take_frames_plan, NULL, NULL);
		for (r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			ArrayType  *frames = DatumGetArrayTypeP(SPI_getbinval(SPI_tuptable->vals[r],
																  SPI_tuptable->tupdesc, 1, &isnull));
			Datum	   *elems;
			int			nelems;
			int			i;

			deconstruct_array(frames, TEXTOID, -1, false, TYPALIGN_INT, &elems, NULL, &nelems);
			for (i = 0; i < nelems; i++)
				announce_send(TextDatumGetCString(elems[i]));
			call.announced += nelems;
		}
		if (max_prepared_xacts > 0)
		{
			bool		isnull;

			state_exec(&prepared_plan, NULL, NULL);
			prepared = DatumGetBool(state_result_value(1, &isnull));
		}
		state_access_end(&access);

		/*
		 * The first pass starts at or below the horizon: positions below
		 * it may belong to a transaction still committing.
		 */
		LWLockAcquire(announcer_shared->lock, LW_EXCLUSIVE);
		if (my_entry->fresh && my_entry->announced_position > horizon)
			my_entry->announced_position = horizon;
		my_entry->fresh = false;
		announced = my_entry->announced_position;
		LWLockRelease(announcer_shared->lock);
		if (announced >= 0 && horizon > announced)
		{
			announce_feed_frame(announced + 1, horizon, -1);
			call.announced++;
		}
		if (announced < 0 || horizon > announced)
		{
			LWLockAcquire(announcer_shared->lock, LW_EXCLUSIVE);
			my_entry->announced_position = horizon;
			LWLockRelease(announcer_shared->lock);
		}
	}
	/* one call per pass that sent frames (contract §23) */
	if (call.announced > 0)
		stats_count(STATS_ANNOUNCER, &call);
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(true);
	if (!installed)
		return PASS_UNINSTALLED;
	return prepared ? PASS_PREPARED : PASS_DONE;
}

/*
 * durable_sink_announcer_main: the announcer of one database
 * (bgw_main_arg: its OID), started by announcer_wake.
 */
void
durable_sink_announcer_main(Datum main_arg)
{
	Oid			dboid = DatumGetObjectId(main_arg);
	int			idle_ms = 0;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/*
	 * Claim the entry before connecting: if connecting fails (the database
	 * is being dropped, or refuses connections), the exit callback clears
	 * it, and the next writer starts a new announcer.
	 */
	LWLockAcquire(announcer_shared->lock, LW_EXCLUSIVE);
	my_entry = database_entry(dboid, false);
	if (my_entry != NULL)
		my_entry->latch = MyLatch;
	LWLockRelease(announcer_shared->lock);
	if (my_entry == NULL)
		proc_exit(0);
	before_shmem_exit(announcer_detach, (Datum) 0);

	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname("durable_sink announcer");

	for (;;)
	{
		bool		woken;
		PassResult	found;
		int			rc;

		LWLockAcquire(announcer_shared->lock, LW_EXCLUSIVE);
		woken = my_entry->pending;
		my_entry->pending = false;
		LWLockRelease(announcer_shared->lock);

		found = announce_pass();
		if (found == PASS_UNINSTALLED)
			proc_exit(0);
		(void) WaitLatch(NULL, WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 ANNOUNCER_MIN_INTERVAL_MS, PG_WAIT_EXTENSION);
		CHECK_FOR_INTERRUPTS();
		/* frames of prepared transactions arrive with COMMIT PREPARED: poll */
		if (woken || found == PASS_PREPARED)
			idle_ms = 0;

		rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					   ANNOUNCER_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (!(rc & WL_TIMEOUT))
			continue;
		idle_ms += ANNOUNCER_POLL_MS;
		if (idle_ms < ANNOUNCER_IDLE_EXIT_MS)
			continue;
		LWLockAcquire(announcer_shared->lock, LW_EXCLUSIVE);
		if (!my_entry->pending)
		{
			my_entry->running = false;
			my_entry->latch = NULL;
			my_entry = NULL;
			LWLockRelease(announcer_shared->lock);
			proc_exit(0);
		}
		LWLockRelease(announcer_shared->lock);
	}
}
