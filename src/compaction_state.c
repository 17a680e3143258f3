/*
 * compaction_state.c
 *     Persistence of the per-thread context-compaction observation
 *     (contract §8): durable_sink.compaction_state holds T and the in-flight
 *     compaction, one row per thread; durable_sink.compaction_fingerprints
 *     holds one row per fact announced, the SHA-256 digest of
 *     "<set>\0<fingerprint>".
 *
 * Concurrency: the thread's state row is locked (FOR UPDATE, without a new
 * row version: state_lock_row) before anything of the thread is read, and
 * stays locked until the transaction ends, so two sessions observing one
 * thread serialize and the second sees what the first committed.  A thread
 * without a row has nothing to lock; its first writer claims the right to
 * create it (state_lock_or_claim_row), and a writer that finds the row
 * created meanwhile starts over (observation_close returns false), now
 * finding the row.  Rows are written directly (state_write.c), not through
 * SPI; only the 1.0 layout and the rare reset of a thread's fingerprints
 * still run statements.
 *
 * Cost: a snapshot reads only what it needs.  Each fingerprint it carries
 * is looked up in the primary key of compaction_fingerprints (unless this
 * transaction already knows it), new ones are inserted, and the state row
 * is written only when T or the in-flight compaction changed.  So the cost
 * of a snapshot does not grow with the thread's history, and the WAL it
 * writes is proportional to what is new in it.
 *
 * The transaction keeps what it learnt of a thread whose row it holds
 * (held_observations: T, the in-flight compaction and the digests known to
 * be recorded), so later snapshots of the thread in the same transaction
 * need no statement unless they change something.
 */
#include "postgres.h"

#include <inttypes.h>

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "utils/timestamp.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"

#include "common/hashfn.h"
#include "compaction_state.h"
#include "state_access.h"
#include "state_write.h"
#include "text_util.h"

/*
 * The 1.0 layout, until ALTER EXTENSION durable_sink UPDATE: the
 * fingerprints are one bytea[] column of the state row, read and written
 * whole.  A library of this version keeps a 1.0 installation working.
 */
static StatePlan create_state_v10_plan = {
	.sql = "INSERT INTO durable_sink.compaction_state AS c "
		"  (thread_key, thread_id, total_compactions, in_flight_task_id, "
		"   in_flight_boundary_message_id, fingerprints) "
		"VALUES ($1, $2, $3, $4, $5, $6) "
		"ON CONFLICT (thread_key) DO NOTHING RETURNING 1",
	.nargs = 6,
	.argtypes = {BYTEAOID, TEXTOID, NUMERICOID, TEXTOID, TEXTOID, BYTEAARRAYOID}
};

static StatePlan save_state_v10_plan = {
	.sql = "INSERT INTO durable_sink.compaction_state AS c "
		"  (thread_key, thread_id, total_compactions, in_flight_task_id, "
		"   in_flight_boundary_message_id, fingerprints) "
		"VALUES ($1, $2, $3, $4, $5, $6) "
		"ON CONFLICT (thread_key) DO UPDATE "
		"SET total_compactions = EXCLUDED.total_compactions, "
		"    in_flight_task_id = EXCLUDED.in_flight_task_id, "
		"    in_flight_boundary_message_id = EXCLUDED.in_flight_boundary_message_id, "
		"    fingerprints = EXCLUDED.fingerprints, updated_at = pg_catalog.now()",
	.nargs = 6,
	.argtypes = {BYTEAOID, TEXTOID, NUMERICOID, TEXTOID, TEXTOID, BYTEAARRAYOID}
};

/* What this transaction holds of a thread whose state row it has locked. */
typedef struct HeldObservation
{
	uint8		thread_key[PG_SHA256_DIGEST_LENGTH];
	ItemPointerData row_tid;	/* latest version of the state row */
	uint64		total;
	char	   *task_id;		/* in TopTransactionContext */
	char	   *boundary_message_id;
	HTAB	   *known;			/* digests known to be recorded, or NULL */
} HeldObservation;

static TxCache held_observations = {
	.name = "durable_sink held compaction observations",
	.keysize = PG_SHA256_DIGEST_LENGTH,
	.entrysize = sizeof(HeldObservation)
};

/* ------------------------------------------------------------- values */

static uint64
numeric_to_count(Datum value)
{
	char	   *digits = DatumGetCString(DirectFunctionCall1(numeric_out, value));

	return strtoull(digits, NULL, 10);
}

static Datum
count_to_numeric(uint64 count)
{
	char		digits[32];

	snprintf(digits, sizeof(digits), "%" PRIu64, count);
	return DirectFunctionCall3(numeric_in, CStringGetDatum(digits),
							   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
}

static char *
nullable_text_column(HeapTuple row, Relation rel, const char *column)
{
	bool		isnull;
	Datum		value = state_row_value(rel, row, column, false, &isnull);

	return isnull ? NULL : TextDatumGetCString(value);
}

/* The digest set of a thread, created on first use in TopTransactionContext. */
static HTAB *
known_digests(ThreadObservation *obs)
{
	if (obs->known == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = PG_SHA256_DIGEST_LENGTH;
		ctl.entrysize = PG_SHA256_DIGEST_LENGTH;
		ctl.hcxt = TopTransactionContext;
		obs->known = hash_create("durable_sink known fingerprints", 64, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	return obs->known;
}

static char *
copy_in(MemoryContext context, const char *s)
{
	return s ? MemoryContextStrdup(context, s) : NULL;
}

/* ------------------------------------------------------------- opening */

/* 1.0 layout: every digest of the row's array is known to be recorded. */
static void
load_v10_fingerprints(ThreadObservation *obs, Datum array)
{
	Datum	   *digests;
	bool	   *nulls;
	int			n;
	int			i;

	deconstruct_array(DatumGetArrayTypeP(array), BYTEAOID, -1, false, TYPALIGN_INT,
					  &digests, &nulls, &n);
	for (i = 0; i < n; i++)
	{
		if (nulls[i] || VARSIZE_ANY_EXHDR(DatumGetPointer(digests[i])) != PG_SHA256_DIGEST_LENGTH)
			elog(ERROR, "durable_sink: malformed fingerprint in compaction_state");
		hash_search(known_digests(obs), VARDATA_ANY(DatumGetPointer(digests[i])),
					HASH_ENTER, NULL);
	}
}

/* 1.0 layout: the row's array, rebuilt from every digest known. */
static Datum
v10_fingerprints_array(ThreadObservation *obs)
{
	Datum	   *digests = palloc(sizeof(Datum) * Max(1, obs->known ? hash_get_num_entries(obs->known) : 0));
	int			n = 0;

	if (obs->known != NULL)
	{
		HASH_SEQ_STATUS status;
		uint8	   *digest;

		hash_seq_init(&status, obs->known);
		while ((digest = hash_seq_search(&status)) != NULL)
		{
			bytea	   *value = palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);

			SET_VARSIZE(value, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
			memcpy(VARDATA(value), digest, PG_SHA256_DIGEST_LENGTH);
			digests[n++] = PointerGetDatum(value);
		}
	}
	return PointerGetDatum(construct_array(digests, n, BYTEAOID, -1, false, TYPALIGN_INT));
}

/* Lock the thread's row and read T and the in-flight compaction from it. */
static void
lock_state_row(ThreadObservation *obs)
{
	StateKey	key = {F_BYTEAEQ, PointerGetDatum(obs->thread_key)};
	HeapTuple	row = state_lock_row("compaction_state", "compaction_state_pkey", &key, 1);
	Relation	rel;
	bool		isnull;

	obs->row_exists = (row != NULL);
	/* no row: nothing observed yet, and no stored fingerprint counts */
	obs->stored_void = (row == NULL) || obs->v10_layout;
	if (row == NULL)
		return;
	obs->row_tid = row->t_self;
	/* state_lock_row left the table locked */
	rel = table_open(extension_relation_oid("compaction_state"), NoLock);
	obs->total = numeric_to_count(state_row_value(rel, row, "total_compactions", false,
												  &isnull));
	obs->task_id = nullable_text_column(row, rel, "in_flight_task_id");
	obs->boundary_message_id = nullable_text_column(row, rel, "in_flight_boundary_message_id");
	if (obs->v10_layout)
		load_v10_fingerprints(obs, state_row_value(rel, row, "fingerprints", false, &isnull));
	table_close(rel, NoLock);
}

/*
 * Open the observation of thread_id for one snapshot: from what this
 * transaction already holds, or by locking and reading the thread's row.
 */
void
observation_open(ThreadObservation *obs, const text *thread_id)
{
	HeldObservation *held;
	bool		found;

	memset(obs, 0, sizeof(*obs));
	obs->thread_id = thread_id;
	obs->thread_key = sha256_key(thread_id);
	/* installed 1.0 objects, not yet updated: fingerprints in the state row */
	obs->v10_layout = !extension_relation_exists("compaction_fingerprints");
	held = tx_cache_lookup(&held_observations, VARDATA(obs->thread_key), false, &found);
	if (found && !obs->v10_layout &&
		!state_held_version_valid("compaction_state", &held->row_tid, "thread_key",
								  obs->thread_key))
		found = false;			/* deleted meanwhile: start from the table */
	if (found)
	{
		obs->row_exists = true;
		obs->row_tid = held->row_tid;
		obs->total = held->total;
		obs->task_id = held->task_id ? pstrdup(held->task_id) : NULL;
		obs->boundary_message_id =
			held->boundary_message_id ? pstrdup(held->boundary_message_id) : NULL;
		obs->known = held->known;
		/* 1.0 layout: what the transaction knows is the whole set */
		obs->stored_void = obs->v10_layout;
		return;
	}
	lock_state_row(obs);
}

/* ---------------------------------------------------------- fingerprints */

/* Is digest recorded for the thread in compaction_fingerprints? */
static bool
stored_fingerprint(ThreadObservation *obs, const uint8 *digest)
{
	bytea	   *value = palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	StateKey	key[2];
	bool		stored;

	SET_VARSIZE(value, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	memcpy(VARDATA(value), digest, PG_SHA256_DIGEST_LENGTH);
	key[0].equal_proc = F_BYTEAEQ;
	key[0].value = PointerGetDatum(obs->thread_key);
	key[1].equal_proc = F_BYTEAEQ;
	key[1].value = PointerGetDatum(value);
	stored = state_row_exists("compaction_fingerprints", "compaction_fingerprints_pkey",
							  key, 2);
	pfree(value);
	return stored;
}

/*
 * Record digest for the thread; true when it was new (the fact is to be
 * announced).  The row lock keeps every other writer of the thread out, so
 * what the index holds is all that was ever recorded.
 */
bool
observation_record(ThreadObservation *obs, const uint8 digest[PG_SHA256_DIGEST_LENGTH])
{
	bool		found;

	if (obs->known != NULL && hash_search(obs->known, digest, HASH_FIND, NULL) != NULL)
		return false;
	found = !obs->stored_void && stored_fingerprint(obs, digest);
	hash_search(known_digests(obs), digest, HASH_ENTER, NULL);
	if (found)
		return false;

	if (obs->npending == obs->pending_capacity)
	{
		obs->pending_capacity = Max(8, obs->pending_capacity * 2);
		obs->pending = obs->pending ?
			repalloc(obs->pending, sizeof(Datum) * obs->pending_capacity) :
			palloc(sizeof(Datum) * obs->pending_capacity);
	}
	{
		bytea	   *value = palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);

		SET_VARSIZE(value, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
		memcpy(VARDATA(value), digest, PG_SHA256_DIGEST_LENGTH);
		obs->pending[obs->npending++] = PointerGetDatum(value);
	}
	return true;
}

/* Step 1 "reset after clear": every fingerprint of the thread is forgotten. */
void
observation_forget_all(ThreadObservation *obs)
{
	obs->stored_void = true;
	obs->reset = true;
	obs->npending = 0;
	if (obs->known != NULL)
	{
		HASH_SEQ_STATUS status;
		void	   *entry;

		hash_seq_init(&status, obs->known);
		while ((entry = hash_seq_search(&status)) != NULL)
			hash_search(obs->known, entry, HASH_REMOVE, NULL);
	}
}

/* ------------------------------------------------------------- closing */

/* The columns of the state row the observation determines. */
static void
set_state_columns(StateWriter *w, ThreadObservation *obs)
{
	/* the table's CHECK, which direct writes do not evaluate */
	if (obs->boundary_message_id != NULL && obs->task_id == NULL)
		elog(ERROR, "durable_sink: in-flight compaction with a boundary but no task id");
	state_writer_set(w, "total_compactions", count_to_numeric(obs->total), false);
	state_writer_set(w, "in_flight_task_id",
					 obs->task_id ? CStringGetTextDatum(obs->task_id) : (Datum) 0,
					 obs->task_id == NULL);
	state_writer_set(w, "in_flight_boundary_message_id",
					 obs->boundary_message_id ?
					 CStringGetTextDatum(obs->boundary_message_id) : (Datum) 0,
					 obs->boundary_message_id == NULL);
	state_writer_set(w, "updated_at",
					 TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()), false);
}

/*
 * Create the thread's state row; false when another transaction created it
 * meanwhile (the caller starts over and then locks it).
 */
static bool
create_state_row(ThreadObservation *obs)
{
	StateKey	key = {F_BYTEAEQ, PointerGetDatum(obs->thread_key)};
	uint32		claim = hash_bytes((const unsigned char *) VARDATA(obs->thread_key),
								   PG_SHA256_DIGEST_LENGTH);
	StateWriter w;

	if (state_lock_or_claim_row("compaction_state", "compaction_state_pkey", &key, 1,
								claim) != NULL)
		return false;
	state_writer_open(&w, "compaction_state");
	state_writer_new_row(&w, NULL);
	state_writer_set(&w, "thread_key", PointerGetDatum(obs->thread_key), false);
	state_writer_set(&w, "thread_id", PointerGetDatum(obs->thread_id), false);
	set_state_columns(&w, obs);
	state_writer_insert(&w);
	state_release_claim("compaction_state", claim);
	obs->row_tid = w.slot->tts_tid;
	state_writer_close(&w);
	return true;
}

/* Write T and the in-flight compaction into the locked state row. */
static void
save_state_row(ThreadObservation *obs)
{
	StateWriter w;

	state_writer_open(&w, "compaction_state");
	state_writer_new_row_at(&w, &obs->row_tid);
	set_state_columns(&w, obs);
	state_writer_update(&w, &obs->row_tid);
	obs->row_tid = w.slot->tts_tid;
	state_writer_close(&w);
}

static void
write_fingerprints(ThreadObservation *obs)
{
	/* a reset, or a new row (fingerprints left by a TRUNCATE of the state alone) */
	if (obs->reset || !obs->row_exists)
	{
		StateKey	key = {F_BYTEAEQ, PointerGetDatum(obs->thread_key)};

		state_delete_rows("compaction_fingerprints", "compaction_fingerprints_pkey", &key, 1);
	}
	if (obs->npending > 0)
	{
		StateWriter w;
		int			i;

		state_writer_open(&w, "compaction_fingerprints");
		for (i = 0; i < obs->npending; i++)
		{
			state_writer_new_row(&w, NULL);
			state_writer_set(&w, "thread_key", PointerGetDatum(obs->thread_key), false);
			state_writer_set(&w, "digest", obs->pending[i], false);
			state_writer_insert(&w);
		}
		state_writer_close(&w);
	}
}

/* 1.0 layout: the fingerprints are an array column, written by statements. */
static bool
close_v10(ThreadObservation *obs)
{
	Datum		args[6];
	char		nulls[6];
	StateAccess access;

	args[0] = PointerGetDatum(obs->thread_key);
	args[1] = PointerGetDatum(obs->thread_id);
	args[2] = count_to_numeric(obs->total);
	args[3] = obs->task_id ? CStringGetTextDatum(obs->task_id) : (Datum) 0;
	args[4] = obs->boundary_message_id ? CStringGetTextDatum(obs->boundary_message_id) : (Datum) 0;
	args[5] = v10_fingerprints_array(obs);
	memset(nulls, ' ', 6);
	if (obs->task_id == NULL)
		nulls[3] = 'n';
	if (obs->boundary_message_id == NULL)
		nulls[4] = 'n';
	state_access_begin(&access);
	if (!obs->row_exists)
	{
		if (state_exec(&create_state_v10_plan, args, nulls) == 0)
		{
			/* a snapshot older than that row can never lock it */
			if (IsolationUsesXactSnapshot())
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not serialize access due to concurrent update")));
			state_access_end(&access);
			return false;
		}
	}
	else
		state_exec(&save_state_v10_plan, args, nulls);
	state_access_end(&access);
	return true;
}

/* Keep what this transaction now holds of the thread. */
static void
hold(ThreadObservation *obs)
{
	bool		found;
	HeldObservation *held = tx_cache_lookup(&held_observations, VARDATA(obs->thread_key),
											true, &found);

	if (held->task_id)
		pfree(held->task_id);
	if (held->boundary_message_id)
		pfree(held->boundary_message_id);
	held->row_tid = obs->row_tid;
	held->total = obs->total;
	held->task_id = copy_in(TopTransactionContext, obs->task_id);
	held->boundary_message_id = copy_in(TopTransactionContext, obs->boundary_message_id);
	held->known = obs->known;
}

/*
 * Write what the snapshot changed.  Returns false when the thread had no
 * row and another transaction created it meanwhile: the caller discards
 * what it derived and applies the snapshot again (observation_open then
 * locks that row).
 */
bool
observation_close(ThreadObservation *obs)
{
	bool		changed = obs->state_changed || obs->npending > 0 || obs->reset;

	if (!changed)
	{
		/* nothing to write; a thread without a row stays without one */
		if (obs->row_exists)
			hold(obs);
		return true;
	}
	if (obs->v10_layout)
	{
		if (!close_v10(obs))
			return false;
	}
	else
	{
		if (!obs->row_exists)
		{
			if (!create_state_row(obs))
				return false;
		}
		else if (obs->state_changed)
			save_state_row(obs);
		write_fingerprints(obs);
	}
	obs->reset = false;
	/* later lookups of this transaction must see these rows */
	CommandCounterIncrement();
	obs->row_exists = true;
	obs->stored_void = obs->v10_layout;
	obs->npending = 0;
	known_digests(obs);
	hold(obs);
	return true;
}
