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

#include "access/xact.h"
#include "common/hashfn.h"
#include "utils/fmgroids.h"
#include "utils/timestamp.h"

#include "durable_sink.h"
#include "state_access.h"
#include "state_write.h"
#include "text_util.h"

/* The claim on a run's row when it has none (state_lock_or_claim_row). */
static uint32
run_claim(bytea *run_key)
{
	return hash_bytes((const unsigned char *) VARDATA(run_key), VARSIZE(run_key) - VARHDRSZ);
}

/* The run's row, locked, or NULL with the claim to create it. */
static HeapTuple
lock_run_row(bytea *run_key)
{
	StateKey	key = {F_BYTEAEQ, PointerGetDatum(run_key)};

	return state_lock_or_claim_row("run_state", "run_state_pkey", &key, 1, run_claim(run_key));
}

/* Write the run's row: an update of the locked version, or its first version. */
static void
write_run_row(StateWriter *w, HeapTuple locked, bytea *run_key, text *run_id,
			  int64 starts, bool finished)
{
	if (locked == NULL)
	{
		state_writer_set(w, "run_key", PointerGetDatum(run_key), false);
		state_writer_set(w, "run_id", PointerGetDatum(run_id), false);
	}
	state_writer_set(w, "starts", Int64GetDatum(starts), false);
	state_writer_set(w, "finished", BoolGetDatum(finished), false);
	state_writer_set(w, "updated_at",
					 TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()), false);
	if (locked == NULL)
	{
		state_writer_insert(w);
		state_release_claim("run_state", run_claim(run_key));
	}
	else
		state_writer_update(w, &locked->t_self);
}

/* Records a run_start; true when it is the first start the run has seen. */
bool
run_state_record_start(text *run_id)
{
	bytea	   *run_key = sha256_key(run_id);
	HeapTuple	locked = lock_run_row(run_key);
	StateWriter w;
	int64		starts = 0;

	state_writer_open(&w, "run_state");
	state_writer_new_row(&w, locked);
	if (locked != NULL)
	{
		bool		isnull;

		starts = DatumGetInt64(state_writer_get(&w, "starts", &isnull));
	}
	/* every run_start opens a new activation */
	write_run_row(&w, locked, run_key, run_id, starts + 1, false);
	state_writer_close(&w);
	return starts == 0;
}

/*
 * Records a run_finish; true when it finished the current activation, false
 * when that activation had already finished (the event yields no row).  A
 * finish of a run never started is recorded with starts = 0.
 */
bool
run_state_record_finish(text *run_id)
{
	bytea	   *run_key = sha256_key(run_id);
	HeapTuple	locked = lock_run_row(run_key);
	StateWriter w;
	int64		starts = 0;
	bool		isnull;

	state_writer_open(&w, "run_state");
	state_writer_new_row(&w, locked);
	if (locked != NULL)
	{
		if (DatumGetBool(state_writer_get(&w, "finished", &isnull)))
		{
			state_writer_close(&w);
			return false;
		}
		starts = DatumGetInt64(state_writer_get(&w, "starts", &isnull));
	}
	write_run_row(&w, locked, run_key, run_id, starts, true);
	state_writer_close(&w);
	return true;
}
