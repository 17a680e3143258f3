/*
 * stats.c
 *     Contract §23: counters since server start, per database and entry
 *     point (events normalized, rejected, appended, live frames announced),
 *     kept in shared memory the way contrib/pg_stat_statements keeps its
 *     counters, with a reset function.
 *
 * The counters exist only when the library is in shared_preload_libraries
 * (the shared memory is requested at server start).  Without it nothing is
 * counted: durable_sink.stats() returns no rows and says why in a NOTICE,
 * and durable_sink.stats_reset() is an error.
 *
 * Counters are per database, not per cluster: an operator looks at the
 * application whose database it is.  Each database that uses the extension
 * claims one entry of a fixed table (STATS_MAX_DATABASES) the first time
 * one of its backends counts or reads; the entry of a database that no
 * longer exists is reused.  When every entry belongs to a live database, a
 * new one is not counted (its stats() says so) until the server restarts.
 *
 * Cost: each entry point adds what one call did (StatsCall) once, at its
 * end: one statement of capture_statement() (however many rows), one call
 * of emit, one row of capture().  A call that raises an error is not
 * counted, like a statement in pg_stat_statements, except that normalize
 * and normalize_many count an event they reject before they raise the
 * error.  Work of a transaction that later rolls back stays counted.
 *
 * Locking rules:
 *   - StatsShared->lock (an LWLock) protects each entry's dboid and
 *     reset_at.  It is taken shared to find an entry, exclusively to claim
 *     or reset one.  A backend finds its database's entry once and keeps
 *     the pointer: its database cannot be dropped while it is connected, so
 *     the entry cannot be reused under it.
 *   - The counters are pg_atomic_uint64 and are updated with no lock at all
 *     (pg_atomic_fetch_add_u64): counting never waits for anyone, where
 *     pg_stat_statements takes a spinlock per entry.  A reader reads each
 *     counter atomically; a row is not a consistent snapshot of one moment
 *     (a call counted while it is read may show in one column and not yet
 *     in another).
 *   - A reset writes zeros under the LWLock held exclusively; a call counted
 *     at the same moment lands before or after the reset, never half.
 *   - While holding the LWLock nothing else is locked or looked up: whether
 *     a database still exists is asked before taking it, and checked again
 *     (the dboid) after.
 */
#include "postgres.h"

#include "catalog/pg_database.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "stats.h"

PG_FUNCTION_INFO_V1(durable_sink_stats);
PG_FUNCTION_INFO_V1(durable_sink_stats_reset);

/* Databases counted at a time (each entry is about 300 bytes). */
#define STATS_MAX_DATABASES 256

typedef enum StatsCounter
{
	STATS_CALLS,
	STATS_NORMALIZED,
	STATS_REJECTED,
	STATS_APPENDED,
	STATS_ANNOUNCED,
	STATS_COUNTER_COUNT
} StatsCounter;

static const char *const entry_point_names[STATS_ENTRY_POINT_COUNT] = {
	[STATS_NORMALIZE] = "normalize",
	[STATS_NORMALIZE_MANY] = "normalize_many",
	[STATS_EMIT] = "emit",
	[STATS_APPEND] = "append",
	[STATS_CAPTURE] = "capture",
	[STATS_CAPTURE_STATEMENT] = "capture_statement",
	[STATS_BACKFILL] = "backfill",
	[STATS_ANNOUNCER] = "announcer",
};

typedef struct StatsDatabase
{
	Oid			dboid;			/* InvalidOid: unused; protected by the lock */
	TimestampTz reset_at;		/* claimed or last reset; protected by the lock */
	pg_atomic_uint64 counters[STATS_ENTRY_POINT_COUNT][STATS_COUNTER_COUNT];
} StatsDatabase;

typedef struct StatsShared
{
	LWLock	   *lock;
	StatsDatabase databases[STATS_MAX_DATABASES];
} StatsShared;

/* NULL when the library was not preloaded: nothing is counted. */
static StatsShared *stats_shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* This backend's database's entry, once looked up (NULL: table full). */
static StatsDatabase *my_entry = NULL;
static bool my_entry_looked_up = false;

static void
stats_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(sizeof(StatsShared));
	RequestNamedLWLockTranche("durable_sink stats", 1);
}

static void
stats_shmem_startup(void)
{
	bool		found;
	int			d;
	int			e;
	int			c;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	stats_shared = ShmemInitStruct("durable_sink stats", sizeof(StatsShared), &found);
	if (!found)
	{
		stats_shared->lock = &(GetNamedLWLockTranche("durable_sink stats"))->lock;
		for (d = 0; d < STATS_MAX_DATABASES; d++)
		{
			stats_shared->databases[d].dboid = InvalidOid;
			stats_shared->databases[d].reset_at = 0;
			for (e = 0; e < STATS_ENTRY_POINT_COUNT; e++)
				for (c = 0; c < STATS_COUNTER_COUNT; c++)
					pg_atomic_init_u64(&stats_shared->databases[d].counters[e][c], 0);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

void
stats_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = stats_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = stats_shmem_startup;
}

/* Zero an entry's counters and stamp it (lock held exclusively). */
static void
entry_reset(StatsDatabase *entry, TimestampTz now)
{
	int			e;
	int			c;

	for (e = 0; e < STATS_ENTRY_POINT_COUNT; e++)
		for (c = 0; c < STATS_COUNTER_COUNT; c++)
			pg_atomic_write_u64(&entry->counters[e][c], 0);
	entry->reset_at = now;
}

/* The entry of MyDatabaseId (lock held), or NULL. */
static StatsDatabase *
find_entry(void)
{
	int			d;

	for (d = 0; d < STATS_MAX_DATABASES; d++)
		if (stats_shared->databases[d].dboid == MyDatabaseId)
			return &stats_shared->databases[d];
	return NULL;
}

/*
 * Claim an entry for MyDatabaseId: a free one, or one whose database was
 * found dropped before the lock was taken (gone[d]) and still names it.
 */
static StatsDatabase *
claim_entry(const Oid *gone)
{
	StatsDatabase *entry = find_entry();
	int			d;

	if (entry != NULL)
		return entry;			/* another backend of ours claimed it meanwhile */
	for (d = 0; d < STATS_MAX_DATABASES; d++)
	{
		StatsDatabase *candidate = &stats_shared->databases[d];

		if (!OidIsValid(candidate->dboid) ||
			(OidIsValid(gone[d]) && candidate->dboid == gone[d]))
		{
			candidate->dboid = MyDatabaseId;
			entry_reset(candidate, GetCurrentTimestamp());
			return candidate;
		}
	}
	return NULL;
}

/*
 * This backend's database's entry, claimed on first use; NULL when the
 * library is not preloaded or every entry belongs to a live database.
 * Must run in a transaction (the first time: it looks databases up).
 */
static StatsDatabase *
my_database_entry(void)
{
	Oid			gone[STATS_MAX_DATABASES];
	int			d;

	if (stats_shared == NULL || my_entry_looked_up)
		return my_entry;

	LWLockAcquire(stats_shared->lock, LW_SHARED);
	my_entry = find_entry();
	for (d = 0; d < STATS_MAX_DATABASES; d++)
		gone[d] = stats_shared->databases[d].dboid;
	LWLockRelease(stats_shared->lock);
	if (my_entry == NULL)
	{
		/* which entries belong to dropped databases, asked without the lock */
		for (d = 0; d < STATS_MAX_DATABASES; d++)
			if (OidIsValid(gone[d]) &&
				SearchSysCacheExists1(DATABASEOID, ObjectIdGetDatum(gone[d])))
				gone[d] = InvalidOid;
		LWLockAcquire(stats_shared->lock, LW_EXCLUSIVE);
		my_entry = claim_entry(gone);
		LWLockRelease(stats_shared->lock);
	}
	my_entry_looked_up = true;
	return my_entry;
}

static inline void
add(StatsDatabase *entry, StatsEntryPoint entry_point, StatsCounter counter, uint64 n)
{
	if (n > 0)
		pg_atomic_fetch_add_u64(&entry->counters[entry_point][counter], n);
}

/*
 * Count one call of an entry point and what it did.  No lock: atomic adds
 * (see the locking rules above).  Does nothing without the library
 * preloaded.
 */
void
stats_count(StatsEntryPoint entry_point, const StatsCall *call)
{
	StatsDatabase *entry = my_database_entry();

	if (entry == NULL)
		return;
	/* an atomic add costs even when it adds nothing: skip those */
	add(entry, entry_point, STATS_CALLS, 1);
	if (call->normalized)
		add(entry, entry_point, STATS_NORMALIZED, call->normalized);
	if (call->rejected)
		add(entry, entry_point, STATS_REJECTED, call->rejected);
	if (call->appended)
		add(entry, entry_point, STATS_APPENDED, call->appended);
	if (call->announced)
		add(entry, entry_point, STATS_ANNOUNCED, call->announced);
}

/*
 * When there are no counters to show or reset here, say why at elevel
 * (NOTICE for stats(), ERROR for stats_reset()) and return false.
 */
static bool
have_counters(StatsDatabase *entry, int elevel)
{
	if (stats_shared == NULL)
		ereport(elevel,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("durable_sink keeps counters only when it is in shared_preload_libraries"),
				 errhint("Add durable_sink to shared_preload_libraries and restart the server.")));
	else if (entry == NULL)
		ereport(elevel,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("durable_sink counts no more than %d databases, and this one came too late",
						STATS_MAX_DATABASES),
				 errhint("Counting starts for it after a server restart.")));
	return entry != NULL;
}

/*
 * durable_sink.stats() -> TABLE (entry_point text, calls bigint,
 *     events_normalized bigint, events_rejected bigint,
 *     events_appended bigint, frames_announced bigint,
 *     stats_reset timestamptz)
 *
 * The current database's counters, one row per entry point, since
 * stats_reset (the first use after server start, or the last
 * stats_reset()).  Without the library preloaded (or with the table of
 * databases full): no rows and a NOTICE saying why.  Contract §23.
 */
Datum
durable_sink_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	StatsDatabase *entry;
	TimestampTz reset_at;
	int			e;
	int			c;

	InitMaterializedSRF(fcinfo, 0);
	entry = my_database_entry();
	if (!have_counters(entry, NOTICE))
		return (Datum) 0;
	LWLockAcquire(stats_shared->lock, LW_SHARED);
	reset_at = entry->reset_at;
	LWLockRelease(stats_shared->lock);
	for (e = 0; e < STATS_ENTRY_POINT_COUNT; e++)
	{
		Datum		values[STATS_COUNTER_COUNT + 2];
		bool		nulls[STATS_COUNTER_COUNT + 2] = {0};

		values[0] = CStringGetTextDatum(entry_point_names[e]);
		for (c = 0; c < STATS_COUNTER_COUNT; c++)
			values[c + 1] = Int64GetDatum((int64) pg_atomic_read_u64(&entry->counters[e][c]));
		values[STATS_COUNTER_COUNT + 1] = TimestampTzGetDatum(reset_at);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * durable_sink.stats_reset() -> timestamptz
 *
 * Zero the current database's counters; returns the new stats_reset.
 * Errors: 55000 when the library is not preloaded (nothing is counted) or
 * the table of databases is full.  Contract §23.
 */
Datum
durable_sink_stats_reset(PG_FUNCTION_ARGS)
{
	StatsDatabase *entry = my_database_entry();
	TimestampTz now = GetCurrentTimestamp();

	if (!have_counters(entry, ERROR))
		PG_RETURN_NULL();		/* not reached */
	LWLockAcquire(stats_shared->lock, LW_EXCLUSIVE);
	entry_reset(entry, now);
	LWLockRelease(stats_shared->lock);
	PG_RETURN_TIMESTAMPTZ(now);
}
