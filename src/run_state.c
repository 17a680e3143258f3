/*
 * run_state.c
 *     contract §6: per-run lifecycle state in durable_sink.run_state.
 *
 * A row per run id, keyed by sha256(run_id).  starts counts the run_start
 * events seen (a run is "known" once starts > 0); finished belongs to the
 * current activation, which every run_start opens anew.
 *
 * Both operations are a single INSERT ... ON CONFLICT DO UPDATE, so two
 * sessions racing on one run serialize on the row: the second waits for the
 * first to commit or abort and then sees its outcome.  Hence exactly one
 * RunStarted per run, and one finish row per activation.
 */
#include "postgres.h"

#include "catalog/pg_type.h"

#include "durable_sink.h"
#include "state_access.h"
#include "text_util.h"

static StatePlan record_start_plan = {
	.sql = "INSERT INTO durable_sink.run_state AS s (run_key, run_id, starts, finished) "
		"VALUES ($1, $2, 1, false) "
		"ON CONFLICT (run_key) DO UPDATE "
		"SET starts = s.starts OPERATOR(pg_catalog.+) 1, finished = false, "
		"    updated_at = pg_catalog.now() "
		"RETURNING s.starts",
	.nargs = 2,
	.argtypes = {BYTEAOID, TEXTOID}
};

/* The WHERE clause leaves an already finished activation untouched. */
static StatePlan record_finish_plan = {
	.sql = "INSERT INTO durable_sink.run_state AS s (run_key, run_id, starts, finished) "
		"VALUES ($1, $2, 0, true) "
		"ON CONFLICT (run_key) DO UPDATE "
		"SET finished = true, updated_at = pg_catalog.now() "
		"WHERE NOT s.finished "
		"RETURNING s.starts",
	.nargs = 2,
	.argtypes = {BYTEAOID, TEXTOID}
};

/* Records a run_start; true when it is the first start the run has seen. */
bool
run_state_record_start(text *run_id)
{
	StateAccess access;
	Datum		args[2] = {PointerGetDatum(sha256_key(run_id)), PointerGetDatum(run_id)};
	bool		isnull;
	int64		starts;

	state_access_begin(&access);
	state_exec(&record_start_plan, args, NULL);
	starts = DatumGetInt64(state_result_value(1, &isnull));
	state_access_end(&access);
	return starts == 1;
}

/*
 * Records a run_finish; true when it finished the current activation, false
 * when that activation had already finished (the event yields no row).
 */
bool
run_state_record_finish(text *run_id)
{
	StateAccess access;
	Datum		args[2] = {PointerGetDatum(sha256_key(run_id)), PointerGetDatum(run_id)};
	uint64		rows;

	state_access_begin(&access);
	rows = state_exec(&record_finish_plan, args, NULL);
	state_access_end(&access);
	return rows == 1;
}
