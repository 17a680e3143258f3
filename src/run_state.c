/*
 * run_state.c
 *     contract §6: per-run lifecycle state in durable_sink.run_state.
 *
 * A row per run id, keyed by sha256(run_id).  starts counts the run_start
 * events seen (a run is "known" once starts > 0); finished belongs to the
 * current activation, which every run_start opens anew.
 *
 * Both operations lock the run's row (state_lock_or_claim_row: FOR UPDATE,
 * or the right to create it when there is none) and then write it directly
 * (state_write.c), so two sessions racing on one run serialize on the row:
 * the second waits for the first to commit or abort and then sees its
 * outcome.  Hence exactly one RunStarted per run, and one finish row per
 * activation.  This is INSERT ... ON CONFLICT DO UPDATE without SPI, which
 * cost more than the rest of normalization together.
 */
#include "postgres.h"

#include "access/table.h"
#include "access/xact.h"
#include "common/hashfn.h"
#include "common/sha2.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "durable_sink.h"
#include "state_access.h"
#include "state_write.h"
#include "text_util.h"

/*
 * What a transaction that holds a run's row (locked or written by it) knows
 * of it, so that a run_finish after a run_start in one transaction (a
 * COPY, a batch) neither looks the row up nor locks it again.  Forgotten
 * with the other per-transaction caches (state_access.h).
 */
typedef struct HeldRun
{
	uint8		run_key[PG_SHA256_DIGEST_LENGTH];
	ItemPointerData tid;		/* the row's latest version */
	int64		starts;
	bool		finished;
} HeldRun;

static TxCache held_runs = {
	.name = "durable_sink held runs",
	.keysize = PG_SHA256_DIGEST_LENGTH,
	.entrysize = sizeof(HeldRun)
};

/* One run's row while a run_start or run_finish is applied to it. */
typedef struct RunRow
{
	bytea	   *key;			/* sha256(run_id) */
	text	   *run_id;
	bool		exists;			/* else this transaction holds the claim */
	ItemPointerData tid;
	int64		starts;
	bool		finished;
} RunRow;

/* The claim on a run's row when it has none (state_lock_or_claim_row). */
static uint32
run_claim(bytea *run_key)
{
	return hash_bytes((const unsigned char *) VARDATA(run_key), VARSIZE(run_key) - VARHDRSZ);
}

/*
 * Learn the run's row: from what this transaction holds, or by locking it
 * (or, when there is none, claiming the right to create it).
 */
static void
run_open(RunRow *run, text *run_id)
{
	StateKey	key;
	HeldRun    *held;
	HeapTuple	row;
	bool		found;

	run->key = sha256_key(run_id);
	run->run_id = run_id;
	held = tx_cache_lookup(&held_runs, VARDATA(run->key), false, &found);
	if (found &&
		state_held_version_valid("run_state", &held->tid, "run_key", run->key))
	{
		run->exists = true;
		run->tid = held->tid;
		run->starts = held->starts;
		run->finished = held->finished;
		return;
	}
	key.equal_proc = F_BYTEAEQ;
	key.value = PointerGetDatum(run->key);
	row = state_lock_or_claim_row("run_state", "run_state_pkey", &key, 1, run_claim(run->key));
	run->exists = (row != NULL);
	run->starts = 0;
	run->finished = false;
	if (row != NULL)
	{
		Relation	rel = table_open(extension_relation_oid("run_state"), NoLock);
		bool		isnull;

		run->tid = row->t_self;
		run->starts = DatumGetInt64(state_row_value(rel, row, "starts", false, &isnull));
		run->finished = DatumGetBool(state_row_value(rel, row, "finished", false, &isnull));
		table_close(rel, NoLock);
	}
}

/*
 * Write the run's row with run->starts and run->finished: an update of its
 * latest version, or its first version (then the claim is released).
 */
static void
run_write(RunRow *run)
{
	StateWriter w;
	HeldRun    *held;
	bool		found;

	state_writer_open(&w, "run_state");
	if (run->exists)
		state_writer_new_row_at(&w, &run->tid);
	else
	{
		state_writer_new_row(&w, NULL);
		state_writer_set(&w, "run_key", PointerGetDatum(run->key), false);
		state_writer_set(&w, "run_id", PointerGetDatum(run->run_id), false);
	}
	state_writer_set(&w, "starts", Int64GetDatum(run->starts), false);
	state_writer_set(&w, "finished", BoolGetDatum(run->finished), false);
	state_writer_set(&w, "updated_at",
					 TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()), false);
	if (run->exists)
		state_writer_update(&w, &run->tid);
	else
	{
		state_writer_insert(&w);
		state_release_claim("run_state", run_claim(run->key));
	}
	held = tx_cache_lookup(&held_runs, VARDATA(run->key), true, &found);
	held->tid = w.slot->tts_tid;
	held->starts = run->starts;
	held->finished = run->finished;
	state_writer_close(&w);
}

/* Records a run_start; true when it is the first start the run has seen. */
bool
run_state_record_start(text *run_id)
{
	RunRow		run;
	bool		first;

	run_open(&run, run_id);
	first = (run.starts == 0);
	/* every run_start opens a new activation */
	run.starts++;
	run.finished = false;
	run_write(&run);
	return first;
}

/*
 * Records a run_finish; true when it finished the current activation, false
 * when that activation had already finished (the event yields no row).  A
 * finish of a run never started is recorded with starts = 0.
 */
bool
run_state_record_finish(text *run_id)
{
	RunRow		run;

	run_open(&run, run_id);
	if (run.exists && run.finished)
		return false;
	run.finished = true;
	run_write(&run);
	return true;
}
