/*
 * retention.c
 *     Contract §21: what subscriptions learn of retention.
 *
 * Retention (CALL durable_sink.prune_events, in the extension's SQL
 * script) deletes events with their feed rows and logs each batch in
 * durable_sink.retention_log, in the same transaction.  A poll reads its
 * batch with a fresh snapshot (feed_events) and then asks pruned_after,
 * which reads the log with a snapshot taken after that one: a deletion the
 * read did not see the events of any more has committed before it, so the
 * log shows it.  Under REPEATABLE READ the transaction snapshot is older
 * than the read's, which is why this is C and not a SQL statement of poll.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/snapmgr.h"

#include "state_access.h"

PG_FUNCTION_INFO_V1(durable_sink_pruned_after);

/*
 * The highest deleted position above $1 of a batch that deleted one of the
 * kinds $2 and one of the fidelities $3 (NULL: any).  The filters are
 * approximate on purpose: a batch's kinds and fidelities together, not per
 * event, so a subscription may hear of a deletion that concerned none of
 * its events, never the other way round.
 */
static StatePlan pruned_after_plan = {
	.sql = "SELECT pg_catalog.max(l.last_position) FROM durable_sink.retention_log l "
		"WHERE l.last_position OPERATOR(pg_catalog.>) $1 "
		"  AND ($2 IS NULL OR l.event_kinds OPERATOR(pg_catalog.&&) $2) "
		"  AND ($3 IS NULL OR l.fidelities::pg_catalog.text[] OPERATOR(pg_catalog.&&) $3)",
	.nargs = 3,
	.argtypes = {INT8OID, TEXTARRAYOID, TEXTARRAYOID}
};

/*
 * durable_sink.pruned_after(after_position bigint, event_kinds text[],
 *                           fidelities text[]) -> bigint
 *
 * The highest feed position retention deleted after after_position in a
 * batch that deleted one of event_kinds and one of fidelities (NULL: any),
 * or NULL when there is none; read with a snapshot taken now (contract
 * §21).  Errors: 22004 when after_position is NULL.
 */
Datum
durable_sink_pruned_after(PG_FUNCTION_ARGS)
{
	Datum		args[3];
	char		nulls[3] = {' ', ' ', ' '};
	StateAccess access;
	Snapshot	snapshot;
	Datum		result;
	bool		isnull;
	int			i;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("after_position must not be null")));
	for (i = 0; i < 3; i++)
	{
		args[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
		if (PG_ARGISNULL(i))
			nulls[i] = 'n';
	}
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	state_access_begin(&access);
	state_exec_to(&pruned_after_plan, args, nulls, snapshot, NULL);
	result = state_result_value(1, &isnull);
	state_access_end(&access);
	UnregisterSnapshot(snapshot);
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}
