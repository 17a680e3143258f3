/*
 * state_write.c
 *     Inserts and updates of the extension's own tables (state tables, the
 *     event store, the feed) without SPI: the table access method and the
 *     executor's index maintenance, as COPY (copyfrom.c) and the catalog
 *     code (indexing.c) do it.
 *
 * Why not SPI: a prepared INSERT still starts an executor per call (plan
 * cache check, ModifyTable and projection set-up, index opening), which
 * cost more than the normalization it served (see test/bench/README.md,
 * "Profiles").  Here one call is a relation open, a tuple and its index
 * entries.
 *
 * What the executor would have done and this does too: NOT NULL
 * constraints, every index including unique checks (ExecInsertIndexTuples),
 * WAL and statistics (the table AM).  What it does not: CHECK constraints
 * (see check_constraints), triggers, rules, row-level security and
 * privilege checks.  The
 * tables are the extension's, written only by it as their owner (like the
 * system catalogs); callers that must honour user triggers on
 * durable_sink.events check state_writer_plain first (store.c).
 *
 * Rows are written with the current command id; a later lookup in the same
 * command needs CommandCounterIncrement (state_lock_row does one).
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"

#include "state_access.h"
#include "state_write.h"

/* Open table of the extension for writing (RowExclusiveLock, kept to commit). */
void
state_writer_open(StateWriter *w, const char *table)
{
	w->rel = table_open(extension_relation_oid(table), RowExclusiveLock);
	w->estate = CreateExecutorState();
	w->target = makeNode(ResultRelInfo);
	InitResultRelInfo(w->target, w->rel, 0, NULL, 0);
	ExecOpenIndices(w->target, false);
	w->slot = table_slot_create(w->rel, NULL);
	w->batch = NULL;
	w->batch_slots = 0;
	w->batch_desc = NULL;
}

void
state_writer_close(StateWriter *w)
{
	int			i;

	for (i = 0; i < w->batch_slots; i++)
		ExecDropSingleTupleTableSlot(w->batch[i]);
	ExecDropSingleTupleTableSlot(w->slot);
	ExecCloseIndices(w->target);
	FreeExecutorState(w->estate);
	table_close(w->rel, NoLock);
}

/*
 * May rows be inserted into the writer's table directly?  Not when someone
 * gave it INSERT triggers, rules, row-level security, CHECK constraints or
 * expression or partial indexes, which the executor handles (callers then
 * take their SPI path).  Other triggers (the feed's TRUNCATE trigger on
 * events) do not matter here.
 */
bool
state_writer_plain(StateWriter *w)
{
	TriggerDesc *triggers = w->rel->trigdesc;
	TupleConstr *constraints = RelationGetDescr(w->rel)->constr;
	int			i;

	if (triggers != NULL &&
		(triggers->trig_insert_before_row || triggers->trig_insert_after_row ||
		 triggers->trig_insert_instead_row || triggers->trig_insert_before_statement ||
		 triggers->trig_insert_after_statement || triggers->trig_insert_new_table))
		return false;
	if (w->rel->rd_rules != NULL || w->rel->rd_rel->relrowsecurity)
		return false;
	/* a CHECK constraint someone added is evaluated only by the executor */
	if (constraints != NULL && constraints->num_check > 0)
		return false;
	/*
	 * Nor an expression or partial index: its functions would run here,
	 * possibly at commit without a snapshot.
	 */
	for (i = 0; i < w->target->ri_NumIndices; i++)
	{
		IndexInfo  *index = w->target->ri_IndexRelationInfo[i];

		if (index->ii_Expressions != NIL || index->ii_Predicate != NIL)
			return false;
	}
	return true;
}

/* Columns of the writer's table, dropped ones not counted. */
int
state_writer_live_columns(StateWriter *w)
{
	TupleDesc	desc = RelationGetDescr(w->rel);
	int			live = 0;
	int			i;

	for (i = 0; i < desc->natts; i++)
		if (!TupleDescAttr(desc, i)->attisdropped)
			live++;
	return live;
}

/* Start the row to write: a copy of base's columns, or all NULL. */
void
state_writer_new_row(StateWriter *w, HeapTuple base)
{
	TupleTableSlot *slot = w->slot;

	ExecClearTuple(slot);
	if (base != NULL)
		heap_deform_tuple(base, RelationGetDescr(w->rel), slot->tts_values, slot->tts_isnull);
	else
		memset(slot->tts_isnull, true, sizeof(bool) * slot->tts_tupleDescriptor->natts);
	ExecStoreVirtualTuple(slot);
}

/*
 * Start the row to write from version tid of the table, a version this
 * transaction has locked or written itself (so it is the latest).
 */
void
state_writer_new_row_at(StateWriter *w, ItemPointer tid)
{
	TupleTableSlot *version = table_slot_create(w->rel, NULL);

	if (!table_tuple_fetch_row_version(w->rel, tid, SnapshotAny, version))
		elog(ERROR, "durable_sink: row version (%u,%u) of durable_sink.%s is gone",
			 ItemPointerGetBlockNumber(tid), ItemPointerGetOffsetNumber(tid),
			 RelationGetRelationName(w->rel));
	state_writer_new_row(w, ExecCopySlotHeapTuple(version));
	ExecDropSingleTupleTableSlot(version);
}

/*
 * Attribute numbers by (table, column name), learnt from the catalog once
 * and forgotten on any relcache invalidation (ALTER TABLE among them).
 */
typedef struct ColumnKey
{
	Oid			relid;
	char		name[NAMEDATALEN];
} ColumnKey;

typedef struct ColumnEntry
{
	ColumnKey	key;
	AttrNumber	attnum;
} ColumnEntry;

static HTAB *column_numbers = NULL;

static void
column_numbers_invalidate(Datum arg pg_attribute_unused(), Oid relid pg_attribute_unused())
{
	if (column_numbers != NULL)
	{
		hash_destroy(column_numbers);
		column_numbers = NULL;
	}
}

/* Attribute number of column; a missing column is an internal error. */
AttrNumber
state_writer_column(StateWriter *w, const char *column)
{
	static bool callback_registered = false;
	ColumnKey	key;
	ColumnEntry *entry;
	AttrNumber	attnum;
	bool		found;

	if (column_numbers == NULL)
	{
		HASHCTL		ctl;

		if (!callback_registered)
		{
			CacheRegisterRelcacheCallback(column_numbers_invalidate, (Datum) 0);
			callback_registered = true;
		}
		ctl.keysize = sizeof(ColumnKey);
		ctl.entrysize = sizeof(ColumnEntry);
		ctl.hcxt = CacheMemoryContext;
		column_numbers = hash_create("durable_sink column numbers", 64, &ctl,
									 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	memset(&key, 0, sizeof(key));
	key.relid = RelationGetRelid(w->rel);
	strlcpy(key.name, column, NAMEDATALEN);
	entry = hash_search(column_numbers, &key, HASH_FIND, NULL);
	if (entry != NULL)
		return entry->attnum;

	attnum = get_attnum(key.relid, column);
	if (attnum == InvalidAttrNumber)
		elog(ERROR, "durable_sink: column \"%s\" of durable_sink.%s does not exist",
			 column, RelationGetRelationName(w->rel));
	/* the lookup may have processed an invalidation that dropped the table */
	if (column_numbers != NULL)
	{
		entry = hash_search(column_numbers, &key, HASH_ENTER, &found);
		entry->attnum = attnum;
	}
	return attnum;
}

/*
 * Set an identity column (GENERATED ALWAYS AS IDENTITY) to the next value
 * of its sequence, as the executor would; returns the value.
 */
int64
state_writer_set_identity(StateWriter *w, const char *column)
{
	AttrNumber	attnum = state_writer_column(w, column);
	int64		value = nextval_internal(getIdentitySequence(RelationGetRelid(w->rel), attnum,
															 false), false);

	w->slot->tts_values[attnum - 1] = Int64GetDatum(value);
	w->slot->tts_isnull[attnum - 1] = false;
	return value;
}

void
state_writer_set(StateWriter *w, const char *column, Datum value, bool isnull)
{
	AttrNumber	attnum = state_writer_column(w, column);

	w->slot->tts_values[attnum - 1] = isnull ? (Datum) 0 : value;
	w->slot->tts_isnull[attnum - 1] = isnull;
}

/*
 * NOT NULL, as the executor checks it.  CHECK constraints are not evaluated
 * here: the few the extension's tables have are invariants of the code that
 * writes them (compaction_state.c checks its own), and evaluating them
 * would mean planning their expressions on every write.
 */
static void
check_constraints(StateWriter *w, TupleTableSlot *slot)
{
	TupleDesc	desc = RelationGetDescr(w->rel);
	int			i;

	if (desc->constr == NULL || !desc->constr->has_not_null)
		return;
	slot_getallattrs(slot);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attnotnull && slot->tts_isnull[i])
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("null value in column \"%s\" of relation \"%s\" violates not-null constraint",
							NameStr(att->attname), RelationGetRelationName(w->rel))));
	}
}

/* Insert the row built in the writer's slot, index entries included. */
void
state_writer_insert(StateWriter *w)
{
	check_constraints(w, w->slot);
	table_tuple_insert(w->rel, w->slot, GetCurrentCommandId(true), 0, NULL);
	ExecInsertIndexTuples(w->target, w->slot, w->estate, false, false, NULL, NIL);
	ResetPerTupleExprContext(w->estate);
}

/*
 * Replace the row version otid, which this transaction has locked
 * (state_lock_row) or written, by the row built in the slot.  A HOT update needs no
 * new index entries.
 */
void
state_writer_update(StateWriter *w, ItemPointer otid)
{
	bool		update_indexes;

	/* a version written earlier in this command is invisible to it until then */
	CommandCounterIncrement();
	check_constraints(w, w->slot);
	/* the heap uses no snapshot here; there may be none (commit time) */
	simple_table_tuple_update(w->rel, otid, w->slot,
							  ActiveSnapshotSet() ? GetActiveSnapshot() : InvalidSnapshot,
							  &update_indexes);
	if (update_indexes)
		ExecInsertIndexTuples(w->target, w->slot, w->estate, true, false, NULL, NIL);
	ResetPerTupleExprContext(w->estate);
}

/*
 * Slot i (0 .. STATE_WRITER_BATCH - 1) of the writer's next multi-row
 * insert, empty, its columns all NULL.
 */
static TupleTableSlot *
batch_slot(StateWriter *w, int i)
{
	TupleTableSlot *slot;

	Assert(i >= 0 && i < STATE_WRITER_BATCH);
	if (w->batch == NULL)
	{
		w->batch = palloc(sizeof(TupleTableSlot *) * STATE_WRITER_BATCH);
		w->batch_desc = CreateTupleDescCopy(RelationGetDescr(w->rel));
	}

	/*
	 * The table's kind of slot (its tuple formed in the slot's memory and
	 * freed with it, not leaked by table_multi_insert), on a descriptor of
	 * the writer's own, so that making one pins nothing.
	 */
	while (w->batch_slots <= i)
		w->batch[w->batch_slots++] = MakeSingleTupleTableSlot(w->batch_desc,
															  table_slot_callbacks(w->rel));
	slot = w->batch[i];
	ExecClearTuple(slot);
	memset(slot->tts_isnull, true, sizeof(bool) * slot->tts_tupleDescriptor->natts);
	return slot;
}

/*
 * Insert the first count batch slots in one table_multi_insert, then their
 * index entries: COPY's batching (copyfrom.c), one WAL record and one
 * buffer lock per page instead of per row.  The slots then hold the stored
 * rows (tts_tid set).
 */
static void
insert_batch(StateWriter *w, int count)
{
	int			i;

	for (i = 0; i < count; i++)
		check_constraints(w, w->batch[i]);
	table_multi_insert(w->rel, w->batch, count, GetCurrentCommandId(true), 0, NULL);
	for (i = 0; i < count; i++)
	{
		ExecInsertIndexTuples(w->target, w->batch[i], w->estate, false, false, NULL, NIL);
		ResetPerTupleExprContext(w->estate);
	}
}

/*
 * Insert count rows, STATE_WRITER_BATCH at a time: fill gives each row's
 * values of the columns attnums[0 .. ncolumns - 1] (the others are NULL).
 * With result, the stored rows are added to it (the table's row type).
 */
void
state_writer_insert_rows(StateWriter *w, int count, const AttrNumber *attnums, int ncolumns,
						 StateRowFiller fill, void *arg, Tuplestorestate *result)
{
	Datum	   *values = palloc(sizeof(Datum) * ncolumns);
	bool	   *nulls = palloc(sizeof(bool) * ncolumns);
	int			done;

	for (done = 0; done < count;)
	{
		int			n = Min(count - done, STATE_WRITER_BATCH);
		int			i;
		int			c;

		for (i = 0; i < n; i++)
		{
			TupleTableSlot *slot = batch_slot(w, i);

			fill(done + i, values, nulls, arg);
			for (c = 0; c < ncolumns; c++)
			{
				slot->tts_values[attnums[c] - 1] = values[c];
				slot->tts_isnull[attnums[c] - 1] = nulls[c];
			}
			ExecStoreVirtualTuple(slot);
		}
		insert_batch(w, n);
		if (result != NULL)
		{
			for (i = 0; i < n; i++)
				tuplestore_puttupleslot(result, w->batch[i]);
		}
		done += n;
		CHECK_FOR_INTERRUPTS();
	}
	pfree(values);
	pfree(nulls);
}
