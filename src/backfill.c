/*
 * backfill.c
 *     durable_sink.backfill(): capture the rows already in a raw table, in
 *     the order of an ordering column, in batches that each commit
 *     (contract §22).
 *
 * Each batch is one transaction: it locks the backfill's row in
 * durable_sink.backfills, reads the next batch_size raw rows after the last
 * ordering value done, captures them exactly as capture_statement() does
 * (capture.c: capture_run_*), and records the batch's last ordering value
 * and counts in the same transaction.  An interrupted backfill (cancel,
 * error, crash) loses at most its uncommitted batch; the next CALL
 * continues after the last committed ordering value, so no row is captured
 * twice.  The ordering column must be NOT NULL with a unique btree index, so
 * "after the last value" is exact.  The range is fixed by the first CALL:
 * rows up to the highest ordering value then (or up_to).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "access/stratnum.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "capture.h"
#include "state_access.h"
#include "text_util.h"

PG_FUNCTION_INFO_V1(durable_sink_backfill);

#define BACKFILL "durable_sink.backfill()"

/*
 * Session advisory lock held while a backfill of a table runs: (database,
 * BACKFILL_LOCK_KEY, table OID), shown in pg_locks as classid
 * BACKFILL_LOCK_KEY, objid the table, objsubid 2 (the durable_sink.backfill_progress view
 * reads it).
 */
#define BACKFILL_LOCK_KEY 0x64736266	/* "dsbf" */

enum
{
	BF_TABLE, BF_EVENT, BF_THREAD, BF_RUN, BF_ORIGIN, BF_ORDER, BF_MODE,
	BF_CORRELATION, BF_ANNOUNCE, BF_BATCH_SIZE, BF_UP_TO
};

/* What a CALL resolved: the capture arguments and the ordering column. */
typedef struct Backfill
{
	Oid			relid;
	const char *table;			/* schema-qualified, quoted: the key */
	bool		partitioned;
	char	   *args[7];		/* capture arguments, as a trigger's */
	const char *order_column;
	Oid			order_type;
	int32		order_typmod;
	char	   *order_type_name;	/* qualified, with typmod */
	char	   *less_op;		/* OPERATOR(schema.<) */
	char	   *greater_op;
	char	   *less_equal_op;
	int			batch_size;
	CaptureConfig config;
	/* this CALL's progress, for the notices */
	TimestampTz started;
	int64		rows_this_call;
	/* the backfill's counts after the last batch */
	int64		rows_done;
	int64		rows_total;
	int64		rows_failed;
} Backfill;

/* The backfill's row, locked by each batch. */
static StatePlan lock_plan = {
	.sql = "SELECT event_column, thread_id_column, run_id_column, origin, "
	"mode::pg_catalog.text, correlation_id_column, order_column, target_value, "
	"last_value, rows_done, rows_total, rows_failed, finished_at IS NOT NULL "
	"FROM durable_sink.backfills WHERE raw_table OPERATOR(pg_catalog.=) $1 FOR UPDATE",
	.nargs = 1,
	.argtypes = {TEXTOID}
};

static StatePlan insert_plan = {
	.sql = "INSERT INTO durable_sink.backfills (raw_table, event_column, thread_id_column, "
	"run_id_column, origin, mode, correlation_id_column, order_column, target_value, "
	"rows_total, finished_at) "
	"VALUES ($1, $2, $3, $4, $5, $6::durable_sink.durability, $7, $8, $9, $10, "
	"CASE WHEN $9 IS NULL THEN pg_catalog.clock_timestamp() END) "
	"ON CONFLICT (raw_table) DO NOTHING",
	.nargs = 10,
	.argtypes = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
	TEXTOID, INT8OID}
};

static StatePlan update_plan = {
	.sql = "UPDATE durable_sink.backfills SET last_value = $2, "
	"rows_done = rows_done OPERATOR(pg_catalog.+) $3, "
	"rows_failed = rows_failed OPERATOR(pg_catalog.+) $4, "
	"busy_seconds = busy_seconds OPERATOR(pg_catalog.+) $5, "
	"updated_at = pg_catalog.clock_timestamp(), "
	"finished_at = CASE WHEN $6 THEN pg_catalog.clock_timestamp() END "
	"WHERE raw_table OPERATOR(pg_catalog.=) $1 RETURNING rows_done, rows_total, rows_failed",
	.nargs = 6,
	.argtypes = {TEXTOID, TEXTOID, INT8OID, INT8OID, FLOAT8OID, BOOLOID}
};

/* The backfill's row as lock_plan returns it. */
typedef struct BackfillState
{
	bool		exists;
	char	   *stored[7];		/* event .. order column (correlation NULL: none) */
	char	   *target;			/* NULL: nothing to capture */
	char	   *last;			/* NULL: nothing captured yet */
	int64		rows_done;
	int64		rows_total;
	int64		rows_failed;
	bool		finished;
} BackfillState;

static char *
result_cstring(int column)
{
	bool		isnull;
	Datum		value = state_result_value(column, &isnull);

	return isnull ? NULL : TextDatumGetCString(value);
}

/* A bigint (or, for column 13 of lock_plan, boolean) column; NULL: 0. */
static int64
result_int64(int column)
{
	bool		isnull;
	Datum		value = state_result_value(column, &isnull);

	if (isnull)
		return 0;
	return SPI_gettypeid(SPI_tuptable->tupdesc, column) == BOOLOID ?
		(int64) DatumGetBool(value) : DatumGetInt64(value);
}

/* Lock the backfill's row (waits for a concurrent batch) and read it. */
static void
lock_state(const Backfill *bf, BackfillState *state)
{
	StateAccess access;
	Datum		key = CStringGetTextDatum(bf->table);
	int			i;

	memset(state, 0, sizeof(*state));
	state_access_begin(&access);
	if (state_exec(&lock_plan, &key, NULL) > 0)
	{
		state->exists = true;
		for (i = 0; i < 7; i++)
			state->stored[i] = result_cstring(i + 1);
		state->target = result_cstring(8);
		state->last = result_cstring(9);
		state->rows_done = result_int64(10);
		state->rows_total = result_int64(11);
		state->rows_failed = result_int64(12);
		state->finished = result_int64(13) != 0;
	}
	state_access_end(&access);
}

static char *
text_arg(FunctionCallInfo fcinfo, int argno, const char *name, bool nullable)
{
	if (PG_ARGISNULL(argno))
	{
		if (nullable)
			return NULL;
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s: %s must not be null", BACKFILL, name)));
	}
	return TextDatumGetCString(PG_GETARG_DATUM(argno));
}

static char *
qualified_operator(Oid opfamily, Oid type, int16 strategy)
{
	Oid			op = get_opfamily_member(opfamily, type, type, strategy);

	if (!OidIsValid(op))
		elog(ERROR, "durable_sink: btree operator family %u has no strategy %d for type %u",
			 opfamily, strategy, type);
	return psprintf("OPERATOR(%s.%s)",
					quote_identifier(get_namespace_name(get_func_namespace(get_opcode(op)))),
					get_opname(op));
}

/*
 * The ordering column: NOT NULL, with a unique, non-partial btree index on
 * it alone, in its type's default ordering and its own collation — so that
 * "after the last value done" names exactly the rows not done yet.
 */
static void
resolve_order_column(Relation rel, Backfill *bf)
{
	AttrNumber	attno = SPI_fnumber(RelationGetDescr(rel), bf->order_column);
	Form_pg_attribute att;
	List	   *indexes;
	ListCell   *lc;
	Oid			opfamily = InvalidOid;
	Oid			opcintype = InvalidOid;
	Oid			default_opclass;

	if (attno <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("%s: ordering column \"%s\" of relation \"%s\" does not exist",
						BACKFILL, bf->order_column, RelationGetRelationName(rel))));
	att = TupleDescAttr(RelationGetDescr(rel), attno - 1);
	if (!att->attnotnull)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
				 errmsg("%s: ordering column \"%s\" must be NOT NULL", BACKFILL, bf->order_column),
				 errdetail("Rows with a NULL ordering value could never be backfilled."),
				 errhint("Order by the primary key, or by a NOT NULL column with a unique index.")));
	default_opclass = GetDefaultOpClass(att->atttypid, BTREE_AM_OID);
	indexes = RelationGetIndexList(rel);
	foreach(lc, indexes)
	{
		Relation	index = index_open(lfirst_oid(lc), AccessShareLock);
		Form_pg_index form = index->rd_index;

		if (form->indisunique && form->indnkeyatts == 1 &&
			form->indkey.values[0] == attno &&
			index->rd_rel->relam == BTREE_AM_OID &&
			heap_attisnull(index->rd_indextuple, Anum_pg_index_indpred, NULL) &&
			index->rd_indcollation[0] == att->attcollation &&
			OidIsValid(default_opclass) &&
			index->rd_opfamily[0] == get_opclass_family(default_opclass) &&
			index->rd_opcintype[0] == get_opclass_input_type(default_opclass))
		{
			opfamily = index->rd_opfamily[0];
			opcintype = index->rd_opcintype[0];
		}
		index_close(index, AccessShareLock);
		if (OidIsValid(opfamily))
			break;
	}
	list_free(indexes);
	if (!OidIsValid(opfamily))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
				 errmsg("%s: ordering column \"%s\" has no unique index", BACKFILL, bf->order_column),
				 errdetail("The backfill resumes after the last ordering value it captured, "
						   "so the values must be unique: a plain unique btree index on the column alone, "
						   "in its default ordering, without a WHERE clause."),
				 errhint("Order by the primary key, or CREATE UNIQUE INDEX on the column.")));
	bf->order_type = att->atttypid;
	bf->order_typmod = att->atttypmod;
	bf->order_type_name = format_type_extended(att->atttypid, att->atttypmod,
											   FORMAT_TYPE_TYPEMOD_GIVEN |
											   FORMAT_TYPE_FORCE_QUALIFY);
	bf->less_op = qualified_operator(opfamily, opcintype, BTLessStrategyNumber);
	bf->less_equal_op = qualified_operator(opfamily, opcintype, BTLessEqualStrategyNumber);
	bf->greater_op = qualified_operator(opfamily, opcintype, BTGreaterStrategyNumber);
}

/* An ordering value in its type's canonical text form (22P02 etc. if bad). */
static char *
canonical_order_value(const Backfill *bf, const char *value)
{
	Oid			input;
	Oid			ioparam;
	Oid			output;
	bool		varlena;
	Datum		datum;

	getTypeInputInfo(bf->order_type, &input, &ioparam);
	getTypeOutputInfo(bf->order_type, &output, &varlena);
	datum = OidInputFunctionCall(input, (char *) value, ioparam, bf->order_typmod);
	return OidOutputFunctionCall(output, datum);
}

/*
 * Check the arguments against the raw table and resolve them into *bf
 * (allocated in the current context).  Contract §22.
 */
static void
resolve_backfill(FunctionCallInfo fcinfo, Backfill *bf)
{
	Relation	rel;
	AclResult	acl;
	char	   *correlation;
	bool		announce;

	memset(bf, 0, sizeof(*bf));
	if (PG_ARGISNULL(BF_TABLE))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s: raw_table must not be null", BACKFILL)));
	bf->relid = PG_GETARG_OID(BF_TABLE);
	bf->args[0] = text_arg(fcinfo, BF_EVENT, "event_column", false);
	bf->args[1] = text_arg(fcinfo, BF_THREAD, "thread_id_column", false);
	bf->args[2] = text_arg(fcinfo, BF_RUN, "run_id_column", false);
	bf->args[3] = text_arg(fcinfo, BF_ORIGIN, "origin", false);
	if (text_is_blank(bf->args[3], strlen(bf->args[3])))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: origin must not be blank", BACKFILL)));
	bf->order_column = text_arg(fcinfo, BF_ORDER, "order_column", false);
	if (PG_ARGISNULL(BF_MODE) || PG_ARGISNULL(BF_ANNOUNCE) || PG_ARGISNULL(BF_BATCH_SIZE))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s: %s must not be null", BACKFILL,
						PG_ARGISNULL(BF_MODE) ? "mode" :
						PG_ARGISNULL(BF_ANNOUNCE) ? "announce" : "batch_size")));
	bf->args[4] = DatumGetCString(DirectFunctionCall1(enum_out, PG_GETARG_DATUM(BF_MODE)));
	correlation = text_arg(fcinfo, BF_CORRELATION, "correlation_id_column", true);
	bf->args[5] = correlation ? correlation : "";
	announce = PG_GETARG_BOOL(BF_ANNOUNCE);
	bf->args[6] = announce ? "true" : "false";
	bf->batch_size = PG_GETARG_INT32(BF_BATCH_SIZE);
	if (bf->batch_size < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: batch_size must be at least 1, not %d", BACKFILL, bf->batch_size)));

	rel = table_open(bf->relid, AccessShareLock);
	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s: \"%s\" is not a table", BACKFILL, RelationGetRelationName(rel))));
	/* who may make a table captured: whoever may put a trigger on it */
	acl = pg_class_aclcheck(bf->relid, GetUserId(), ACL_TRIGGER);
	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, get_relkind_objtype(rel->rd_rel->relkind),
					   RelationGetRelationName(rel));
	bf->partitioned = rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE;
	bf->table = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
										   RelationGetRelationName(rel));
	capture_config_resolve(rel, BACKFILL, 7, bf->args, &bf->config);
	resolve_order_column(rel, bf);
	bf->config.source.source = "backfill";
	bf->config.source.table = bf->table;
	bf->config.builder = draft_builder_create(CurrentMemoryContext);
	/* the batch query's columns: event, thread_id, run_id, ordering, correlation */
	bf->config.event_att = 1;
	bf->config.thread_att = 2;
	bf->config.run_att = 3;
	bf->config.correlation_att = bf->config.correlation_att ? 5 : 0;
	table_close(rel, NoLock);
}

/* The raw rows the batch query reads from. */
static char *
from_clause(const Backfill *bf)
{
	/*
	 * A partitioned table's unique index covers its partitions; an
	 * inheritance parent's covers only its own rows.
	 */
	return psprintf("%s%s r", bf->partitioned ? "" : "ONLY ", bf->table);
}

/* Run a query of the raw table as the caller; errors as SPI's. */
static void
raw_query(const char *sql, int nargs, Datum *values, const char *nulls)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);

	if (rc != SPI_OK_SELECT)
		elog(ERROR, "durable_sink: backfill query failed: %s", SPI_result_code_string(rc));
}

/* Column 1 of the first row of the last raw_query, as text, or NULL. */
static char *
raw_result_text(int column)
{
	bool		isnull;
	Datum		value;
	Oid			output;
	bool		varlena;

	if (SPI_processed == 0)
		return NULL;
	value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, column, &isnull);
	if (isnull)
		return NULL;
	getTypeOutputInfo(SPI_gettypeid(SPI_tuptable->tupdesc, column), &output, &varlena);
	return OidOutputFunctionCall(output, value);
}

/*
 * First CALL for the table: fix the range (the highest ordering value now,
 * or up_to) and count the rows in it, and record the backfill.  Without
 * up_to, waits for transactions writing the table to end (ShareLock until
 * this transaction commits), so no row committed later has a lower value
 * than one already read — unless it was given one explicitly.
 */
static void
create_state(const Backfill *bf, const char *up_to)
{
	char	   *target;
	int64		total = 0;
	Datum		values[10];
	char		nulls[10];
	StateAccess access;
	int			i;

	if (up_to == NULL)
	{
		Relation	rel = table_open(bf->relid, AccessShareLock);
		Trigger    *capturing = capturing_trigger(rel);

		if (capturing != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("%s: table %s already has the capture trigger \"%s\"; give up_to",
							BACKFILL, bf->table, capturing->tgname),
					 errdetail("Rows the trigger captured would be captured a second time."),
					 errhint("Pass up_to => the highest ordering value that was in the table when the trigger was created "
							 "(read it in the transaction that creates the trigger).")));
		table_close(rel, NoLock);
		LockRelationOid(bf->relid, ShareLock);
		raw_query(psprintf("SELECT r.%s FROM %s ORDER BY r.%s USING %s LIMIT 1",
						   quote_identifier(bf->order_column), from_clause(bf),
						   quote_identifier(bf->order_column), bf->greater_op),
				  0, NULL, NULL);
		target = raw_result_text(1);
	}
	else
		target = canonical_order_value(bf, up_to);
	if (target != NULL)
	{
		Datum		arg = CStringGetTextDatum(target);
		bool		isnull;

		raw_query(psprintf("SELECT pg_catalog.count(*) FROM %s WHERE r.%s %s $1::%s",
						   from_clause(bf), quote_identifier(bf->order_column),
						   bf->less_equal_op, bf->order_type_name),
				  1, &arg, NULL);
		total = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
											&isnull));
	}

	values[0] = CStringGetTextDatum(bf->table);
	for (i = 0; i < 5; i++)
		values[i + 1] = CStringGetTextDatum(bf->args[i]);
	values[6] = CStringGetTextDatum(bf->args[5]);
	values[7] = CStringGetTextDatum(bf->order_column);
	values[8] = target ? CStringGetTextDatum(target) : (Datum) 0;
	values[9] = Int64GetDatum(total);
	memset(nulls, ' ', sizeof(nulls));
	nulls[6] = bf->args[5][0] == '\0' ? 'n' : ' ';
	nulls[8] = target ? ' ' : 'n';
	state_access_begin(&access);
	state_exec(&insert_plan, values, nulls);
	state_access_end(&access);
}

/* A re-run must be the same backfill: same capture arguments, same range. */
static void
check_same_backfill(const Backfill *bf, const BackfillState *state, const char *up_to)
{
	static const char *const names[7] = {
		"event_column", "thread_id_column", "run_id_column", "origin", "mode",
		"correlation_id_column", "order_column"
	};
	const char *given[7];
	int			i;

	for (i = 0; i < 6; i++)
		given[i] = bf->args[i];
	given[5] = bf->args[5][0] ? bf->args[5] : NULL;
	given[6] = bf->order_column;
	for (i = 0; i < 7; i++)
	{
		const char *stored = state->stored[i];

		if ((stored == NULL) != (given[i] == NULL) ||
			(stored != NULL && strcmp(stored, given[i]) != 0))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("%s: the backfill of %s was started with %s %s, not %s",
							BACKFILL, bf->table, names[i],
							stored ? quote_literal_cstr(stored) : "NULL",
							given[i] ? quote_literal_cstr(given[i]) : "NULL"),
					 errhint("Continue it with the arguments it was started with; to start over, "
							 "DELETE its row from durable_sink.backfills (rows it captured would be captured again).")));
	}
	if (up_to != NULL && state->target != NULL &&
		strcmp(canonical_order_value(bf, up_to), state->target) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s: the backfill of %s was started up to %s, not %s",
						BACKFILL, bf->table, quote_literal_cstr(state->target),
						quote_literal_cstr(up_to))));
}

/* Seconds from start to now. */
static double
seconds_since(TimestampTz start)
{
	return (double) (GetCurrentTimestamp() - start) / USECS_PER_SEC;
}

/* The NOTICE after a committed batch: rows done, rows/s, time left. */
static void
report_progress(const Backfill *bf)
{
	int64		done = bf->rows_done;
	int64		total = bf->rows_total;
	double		elapsed = seconds_since(bf->started);
	double		rate = elapsed > 0 ? bf->rows_this_call / elapsed : 0;
	int64		left = total > done ? total - done : 0;

	ereport(NOTICE,
			(errmsg("durable_sink: backfill of %s: " INT64_FORMAT " of " INT64_FORMAT " rows (%.1f%%), %.0f rows/s, about %.1f s left",
					bf->table, done, total, total > 0 ? 100.0 * Min(done, total) / total : 100.0,
					rate, rate > 0 ? left / rate : 0.0)));
}

/*
 * One batch, in the current transaction: the next batch_size raw rows after
 * the last value done, captured as capture_statement() would, and the new
 * last value and counts recorded.  Returns false when the backfill is over.
 */
static bool
run_batch(Backfill *bf, MemoryContext batch_context)
{
	BackfillState state;
	TimestampTz batch_start = GetCurrentTimestamp();
	MemoryContext old = MemoryContextSwitchTo(batch_context);
	StringInfoData sql;
	Datum		args[2];
	SPITupleTable *rows;
	uint64		count;
	uint64		i;
	TupleTableSlot *slot;
	CaptureRun	run;
	char	   *last;
	bool		finished;
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	StateAccess access;

	lock_state(bf, &state);
	if (!state.exists)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s: the backfill of %s was deleted while it ran", BACKFILL, bf->table)));
	bf->rows_done = state.rows_done;
	bf->rows_total = state.rows_total;
	bf->rows_failed = state.rows_failed;
	if (state.finished || state.target == NULL)
	{
		MemoryContextSwitchTo(old);
		return false;
	}

	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT r.%s::pg_catalog.jsonb, r.%s::pg_catalog.text, "
					 "r.%s::pg_catalog.text, r.%s",
					 quote_identifier(bf->args[0]), quote_identifier(bf->args[1]),
					 quote_identifier(bf->args[2]), quote_identifier(bf->order_column));
	if (bf->config.correlation_att)
		appendStringInfo(&sql, ", r.%s::pg_catalog.text", quote_identifier(bf->args[5]));
	appendStringInfo(&sql, " FROM %s WHERE r.%s %s $1::%s", from_clause(bf),
					 quote_identifier(bf->order_column), bf->less_equal_op, bf->order_type_name);
	if (state.last != NULL)
		appendStringInfo(&sql, " AND r.%s %s $2::%s", quote_identifier(bf->order_column),
						 bf->greater_op, bf->order_type_name);
	appendStringInfo(&sql, " ORDER BY r.%s USING %s LIMIT %d",
					 quote_identifier(bf->order_column), bf->less_op, bf->batch_size);
	args[0] = CStringGetTextDatum(state.target);
	args[1] = state.last ? CStringGetTextDatum(state.last) : (Datum) 0;
	raw_query(sql.data, state.last ? 2 : 1, args, NULL);
	rows = SPI_tuptable;
	count = SPI_processed;

	slot = MakeSingleTupleTableSlot(rows->tupdesc, &TTSOpsHeapTuple);
	capture_run_begin(&run, &bf->config);
	for (i = 0; i < count; i++)
	{
		ExecStoreHeapTuple(rows->vals[i], slot, false);
		capture_run_row(&run, slot);
	}
	last = state.last;
	if (count > 0)
	{
		Oid			output;
		bool		varlena;
		bool		isnull;

		getTypeOutputInfo(SPI_gettypeid(rows->tupdesc, 4), &output, &varlena);
		last = OidOutputFunctionCall(output, SPI_getbinval(rows->vals[count - 1], rows->tupdesc,
														   4, &isnull));
	}
	capture_run_end(&run, "backfilled from", STATS_BACKFILL);
	ExecDropSingleTupleTableSlot(slot);
	SPI_freetuptable(rows);

	finished = count < (uint64) bf->batch_size ||
		(last != NULL && strcmp(last, state.target) == 0);
	values[0] = CStringGetTextDatum(bf->table);
	values[1] = last ? CStringGetTextDatum(last) : (Datum) 0;
	nulls[1] = last ? ' ' : 'n';
	values[2] = Int64GetDatum((int64) count);
	values[3] = Int64GetDatum(run.rejected);
	values[4] = Float8GetDatum(seconds_since(batch_start));
	values[5] = BoolGetDatum(finished);
	state_access_begin(&access);
	state_exec(&update_plan, values, nulls);
	bf->rows_done = result_int64(1);
	bf->rows_total = result_int64(2);
	bf->rows_failed = result_int64(3);
	state_access_end(&access);
	bf->rows_this_call += count;

	MemoryContextSwitchTo(old);
	MemoryContextReset(batch_context);
	return !finished;
}

/* Commit the batch's transaction and start the next one. */
static void
commit_batch(void)
{
	PopActiveSnapshot();
	SPI_commit();
	PushActiveSnapshot(GetTransactionSnapshot());
}

/* After a batch committed: its progress, or that the backfill is complete. */
static void
report_state(const Backfill *bf, bool finished)
{
	if (finished)
		ereport(NOTICE,
				(errmsg("durable_sink: backfill of %s is complete: " INT64_FORMAT " rows, " INT64_FORMAT " not captured",
						bf->table, bf->rows_done, bf->rows_failed)));
	else
		report_progress(bf);
}

/*
 * durable_sink.backfill(raw_table regclass, event_column text,
 *     thread_id_column text, run_id_column text, origin text,
 *     order_column text, mode durability DEFAULT 'compacted',
 *     correlation_id_column text DEFAULT NULL, announce boolean DEFAULT true,
 *     batch_size integer DEFAULT 10000, up_to text DEFAULT NULL) — PROCEDURE
 *
 * Captures the raw table's rows in order_column order, batch_size rows per
 * committed transaction, resuming after the last committed batch; a NOTICE
 * per batch.  Errors: 22004 a NULL argument (but correlation_id_column,
 * up_to); 22023 batch_size < 1, blank origin, and the capture triggers'
 * argument errors (42703, 42804); 42809 not a table; 42501 no TRIGGER
 * privilege; 42P10 ordering column not NOT NULL with a unique index;
 * 55000 a capture trigger and no up_to, or a re-run with other arguments;
 * 55P03 a backfill of the table running in another session; 25001 inside a
 * transaction block.  Contract §22.
 */
Datum
durable_sink_backfill(PG_FUNCTION_ARGS)
{
	MemoryContext caller_context = CurrentMemoryContext;
	MemoryContext call_context;
	MemoryContext batch_context;
	Backfill   *bf;
	char	   *up_to;
	LOCKTAG		tag;
	BackfillState state;
	bool		more = true;

	call_context = AllocSetContextCreate(CurrentMemoryContext, "durable_sink backfill",
										 ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(call_context);
	bf = palloc(sizeof(Backfill));
	resolve_backfill(fcinfo, bf);
	up_to = text_arg(fcinfo, BF_UP_TO, "up_to", true);
	if (fcinfo->context == NULL || !IsA(fcinfo->context, CallContext) ||
		castNode(CallContext, fcinfo->context)->atomic)
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("%s cannot run inside a transaction block", BACKFILL),
				 errdetail("It commits after each batch."),
				 errhint("CALL it on its own: not after BEGIN, not from a function.")));

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, BACKFILL_LOCK_KEY, bf->relid, 2);
	if (LockAcquire(&tag, ExclusiveLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("%s: a backfill of %s is already running", BACKFILL, bf->table),
				 errhint("See durable_sink.backfill_progress.")));
	PG_TRY();
	{
		if (SPI_connect_ext(SPI_OPT_NONATOMIC) != SPI_OK_CONNECT)
			elog(ERROR, "durable_sink: SPI_connect failed");
		MemoryContextSwitchTo(call_context);
		batch_context = AllocSetContextCreate(call_context, "durable_sink backfill batch",
											  ALLOCSET_DEFAULT_SIZES);
		PushActiveSnapshot(GetTransactionSnapshot());

		lock_state(bf, &state);
		if (!state.exists)
		{
			create_state(bf, up_to);
			lock_state(bf, &state);
		}
		check_same_backfill(bf, &state, up_to);
		/* visible to other sessions from now on */
		commit_batch();

		bf->started = GetCurrentTimestamp();
		bf->rows_this_call = 0;
		while (more)
		{
			more = run_batch(bf, batch_context);
			commit_batch();
			report_state(bf, !more);
		}
		PopActiveSnapshot();
		if (SPI_finish() != SPI_OK_FINISH)
			elog(ERROR, "durable_sink: SPI_finish failed");
	}
	PG_FINALLY();
	{
		LockRelease(&tag, ExclusiveLock, true);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(caller_context);
	MemoryContextDelete(call_context);
	PG_RETURN_VOID();
}
