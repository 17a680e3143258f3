/*
 * state_access.c
 *     The one way the extension reads and writes its state tables.
 *
 * Statements are prepared once per backend (SPI_prepare + SPI_keepplan), so
 * a call never parses SQL; the plan cache re-plans them if the tables change.
 * Every statement is fully schema-qualified, operators included, because it
 * runs with the caller's search_path but as the extension's owner: callers
 * need EXECUTE on the functions, not privileges on the state tables.  The
 * user switch is undone by transaction/subtransaction abort on error.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "executor/tstoreReceiver.h"
#include "nodes/params.h"
#include "storage/lmgr.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "state_access.h"

/*
 * Plans prepared in this backend, and the incarnation of the extension they
 * were prepared for: the OID of its draft type, which DROP/CREATE EXTENSION
 * changes (the schema survives DROP EXTENSION, so its OID would not do).
 */
static StatePlan *prepared_plans = NULL;
static Oid	prepared_for_incarnation = InvalidOid;

static void tx_caches_forget(void);
static void watch_state_tables(void);

/* The extension's schema OID. */
static Oid
extension_schema(void)
{
	Oid			schema = get_namespace_oid("durable_sink", true);

	if (!OidIsValid(schema))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_SCHEMA),
				 errmsg("schema \"durable_sink\" does not exist"),
				 errhint("Run CREATE EXTENSION durable_sink.")));
	return schema;
}

/*
 * The role state statements run as: the owner of the extension (who
 * created it), looked up once per backend and extension incarnation.
 * Deliberately not the schema's owner, which a pre-existing schema or
 * ALTER SCHEMA could make someone else.
 */
static Oid
extension_owner(Oid incarnation)
{
	static Oid	cached_owner = InvalidOid;
	static Oid	cached_for_incarnation = InvalidOid;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;

	if (incarnation == cached_for_incarnation)
		return cached_owner;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("durable_sink"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (!HeapTupleIsValid(tuple))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("extension \"durable_sink\" is not installed")));
	cached_owner = ((Form_pg_extension) GETSTRUCT(tuple))->extowner;
	cached_for_incarnation = incarnation;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return cached_owner;
}

/* OID of type type_name in the extension's schema. */
Oid
extension_type_oid(const char *type_name)
{
	Oid			type = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
									   CStringGetDatum(type_name),
									   ObjectIdGetDatum(extension_schema()));

	if (!OidIsValid(type))
		elog(ERROR, "durable_sink: type durable_sink.%s does not exist", type_name);
	return type;
}

/*
 * If the extension was dropped and created again since the plans were
 * prepared, their types and tables are gone: forget them all.
 */
static void
forget_plans_of_other_incarnation(Oid incarnation)
{
	StatePlan  *plan;

	if (incarnation == prepared_for_incarnation)
		return;
	for (plan = prepared_plans; plan != NULL; plan = plan->next_prepared)
	{
		SPI_freeplan(plan->plan);
		plan->plan = NULL;
	}
	prepared_plans = NULL;
	prepared_for_incarnation = incarnation;
	watch_state_tables();
	tx_caches_forget();
}

/* The extension's owner, the role its state statements run as. */
Oid
extension_owner_oid(void)
{
	return extension_owner(extension_type_oid("canonical_event_draft"));
}

void
state_access_begin(StateAccess *access)
{
	Oid			incarnation = extension_type_oid("canonical_event_draft");
	Oid			owner = extension_owner(incarnation);
	MemoryContext caller_context = CurrentMemoryContext;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "durable_sink: SPI_connect failed");
	/* What the caller builds between begin and end must outlive SPI_finish. */
	MemoryContextSwitchTo(caller_context);
	forget_plans_of_other_incarnation(incarnation);
	GetUserIdAndSecContext(&access->saved_userid, &access->saved_sec_context);
	SetUserIdAndSecContext(owner, access->saved_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

void
state_access_end(StateAccess *access)
{
	SetUserIdAndSecContext(access->saved_userid, access->saved_sec_context);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "durable_sink: SPI_finish failed");
}

/* Prepare plan on first use, and keep it. */
static void
state_prepare(StatePlan *plan)
{
	SPIPlanPtr	prepared;

	if (plan->plan != NULL)
		return;
	if (plan->resolve_types)
		plan->resolve_types(plan);
	prepared = SPI_prepare_cursor(plan->sql, plan->nargs, plan->argtypes,
								  plan->custom_plan ? CURSOR_OPT_CUSTOM_PLAN : 0);
	if (prepared == NULL)
		elog(ERROR, "durable_sink: SPI_prepare failed for \"%s\": %s",
			 plan->sql, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(prepared) != 0)
		elog(ERROR, "durable_sink: SPI_keepplan failed");
	plan->plan = prepared;
	plan->next_prepared = prepared_plans;
	prepared_plans = plan;
}

/*
 * Run plan (preparing it on first use); returns the rows processed.  SPI
 * leaves its own procedure context current after every call; switch back
 * so that what the caller builds between calls outlives SPI_finish.
 */
uint64
state_exec(StatePlan *plan, Datum *values, const char *nulls)
{
	MemoryContext caller_context = CurrentMemoryContext;
	int			rc;

	state_prepare(plan);
	rc = SPI_execute_plan(plan->plan, values, nulls, false, 0);
	MemoryContextSwitchTo(caller_context);
	if (rc < 0)
		elog(ERROR, "durable_sink: state statement failed: %s",
			 SPI_result_code_string(rc));
	return SPI_processed;
}

/*
 * Run a read-only plan with the given snapshot, sending its rows to dest,
 * or, with dest NULL, into SPI_tuptable.  Returns the rows processed.
 */
uint64
state_exec_to(StatePlan *plan, Datum *values, const char *nulls, Snapshot snapshot,
			  DestReceiver *dest)
{
	MemoryContext caller_context = CurrentMemoryContext;
	SPIExecuteOptions options;
	ParamListInfo params;
	int			rc;
	int			i;

	state_prepare(plan);
	params = makeParamList(plan->nargs);
	for (i = 0; i < plan->nargs; i++)
	{
		params->params[i].value = values[i];
		params->params[i].isnull = nulls != NULL && nulls[i] == 'n';
		params->params[i].pflags = PARAM_FLAG_CONST;
		params->params[i].ptype = plan->argtypes[i];
	}
	memset(&options, 0, sizeof(options));
	options.params = params;
	options.read_only = true;
	options.dest = dest;
	/* a read-only execution reads with the active snapshot */
	PushActiveSnapshot(snapshot);
	rc = SPI_execute_plan_extended(plan->plan, &options);
	PopActiveSnapshot();
	MemoryContextSwitchTo(caller_context);
	if (rc < 0)
		elog(ERROR, "durable_sink: state statement failed: %s",
			 SPI_result_code_string(rc));
	return SPI_processed;
}

/*
 * The same, putting the rows straight into store (an SRF's result, whose
 * columns they match): no copy in SPI_tuptable on the way.
 */
uint64
state_exec_into(StatePlan *plan, Datum *values, const char *nulls, Snapshot snapshot,
				Tuplestorestate *store, MemoryContext store_context)
{
	DestReceiver *dest = CreateDestReceiver(DestTuplestore);
	uint64		processed;

	SetTuplestoreDestReceiverParams(dest, store, store_context, false, NULL, NULL);
	processed = state_exec_to(plan, values, nulls, snapshot, dest);
	dest->rDestroy(dest);
	return processed;
}

/* Column (1-based) of the first row the last state_exec returned. */
Datum
state_result_value(int column, bool *isnull)
{
	if (SPI_processed == 0 || SPI_tuptable == NULL)
		elog(ERROR, "durable_sink: state statement returned no row");
	return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, column, isnull);
}

/*
 * OIDs of the extension's relations by name, InvalidOid for a name that
 * does not exist (the 1.0 objects lack some).  Every hot path looks several
 * up per call, so they are cached, and the cache is emptied by any change
 * to pg_class or pg_namespace (a syscache invalidation: DDL anywhere in the
 * database, CREATE/DROP/ALTER EXTENSION among it).
 */
typedef struct RelationOidEntry
{
	char		name[NAMEDATALEN];
	Oid			relid;
} RelationOidEntry;

static HTAB *relation_oids = NULL;
static bool relation_oids_valid = false;

static void
relation_oids_invalidate(Datum arg pg_attribute_unused(), int cacheid pg_attribute_unused(),
						 uint32 hashvalue pg_attribute_unused())
{
	relation_oids_valid = false;
}

/* OID of relname in the extension's schema, InvalidOid when there is none. */
static Oid
cached_relation_oid(const char *relname)
{
	RelationOidEntry *entry;
	bool		found;

	if (relation_oids == NULL || !relation_oids_valid)
	{
		HASHCTL		ctl;

		if (relation_oids != NULL)
			hash_destroy(relation_oids);
		ctl.keysize = NAMEDATALEN;
		ctl.entrysize = sizeof(RelationOidEntry);
		ctl.hcxt = CacheMemoryContext;
		relation_oids = hash_create("durable_sink relation OIDs", 32, &ctl,
									HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
		relation_oids_valid = true;
	}
	entry = hash_search(relation_oids, relname, HASH_FIND, NULL);
	if (entry == NULL)
	{
		Oid			schema = get_namespace_oid("durable_sink", true);
		Oid			relid = OidIsValid(schema) ? get_relname_relid(relname, schema) : InvalidOid;

		/* the lookups may have processed an invalidation that emptied it */
		if (!relation_oids_valid)
			return relid;
		entry = hash_search(relation_oids, relname, HASH_ENTER, &found);
		entry->relid = relid;
	}
	return entry->relid;
}

/* OID of relation (table or index) relname in the extension's schema. */
Oid
extension_relation_oid(const char *relname)
{
	Oid			relid = cached_relation_oid(relname);

	if (!OidIsValid(relid))
	{
		(void) extension_schema();	/* no schema: say so */
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"durable_sink.%s\" does not exist", relname),
				 errhint("The durable_sink library is newer than the extension's objects: "
						 "run ALTER EXTENSION durable_sink UPDATE.")));
	}
	return relid;
}

/* Scan keys for equality on the leading columns of a state table's index. */
static void
state_scan_keys(Relation index, const StateKey *key, int nkeys, ScanKey scankeys)
{
	int			i;

	Assert(nkeys <= STATE_KEY_MAX);
	for (i = 0; i < nkeys; i++)
		ScanKeyEntryInitialize(&scankeys[i], 0, i + 1, BTEqualStrategyNumber,
							   InvalidOid, index->rd_indcollation[i], key[i].equal_proc,
							   key[i].value);
}

/* Does relation relname exist in the extension's schema (if that exists)? */
bool
extension_relation_exists(const char *relname)
{
	return OidIsValid(cached_relation_oid(relname));
}

pg_attribute_noreturn()
static void
serialization_failure(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("could not serialize access due to concurrent update")));
}

/* An open lookup of one row of a state table through a unique index. */
typedef struct KeyLookup
{
	Relation	rel;
	Relation	index;
	TupleTableSlot *slot;
	Snapshot	snapshot;
	IndexScanDesc scan;
} KeyLookup;

/*
 * Find the row of table whose unique index matches key[] (equality on the
 * index's leading columns), visible to snapshot; true when found, its
 * version in lookup->slot.  key_lookup_end closes it.
 */
static bool
key_lookup_begin(KeyLookup *lookup, const char *table, const char *index, LOCKMODE lockmode,
				 const StateKey *key, int nkeys, Snapshot snapshot)
{
	ScanKeyData scankeys[STATE_KEY_MAX];

	lookup->rel = table_open(extension_relation_oid(table), lockmode);
	lookup->index = index_open(extension_relation_oid(index), AccessShareLock);
	lookup->slot = table_slot_create(lookup->rel, NULL);
	lookup->snapshot = RegisterSnapshot(snapshot);
	state_scan_keys(lookup->index, key, nkeys, scankeys);
	lookup->scan = index_beginscan(lookup->rel, lookup->index, lookup->snapshot, nkeys, 0);
	index_rescan(lookup->scan, scankeys, nkeys, NULL, 0);
	return index_getnext_slot(lookup->scan, ForwardScanDirection, lookup->slot);
}

/* Close a lookup; the table lock is kept until the transaction ends. */
static void
key_lookup_end(KeyLookup *lookup)
{
	index_endscan(lookup->scan);
	UnregisterSnapshot(lookup->snapshot);
	ExecDropSingleTupleTableSlot(lookup->slot);
	index_close(lookup->index, AccessShareLock);
	table_close(lookup->rel, NoLock);
}

/*
 * Look the row for key[] up in index of rel with a dirty snapshot, which
 * sees uncommitted inserts too: *creator is then the inserting transaction,
 * or invalid when the row is already committed.  The version found is left
 * in slot.
 */
static bool
dirty_lookup(Relation rel, Relation index, TupleTableSlot *slot, const StateKey *key,
			 int nkeys, TransactionId *creator)
{
	SnapshotData dirty;
	ScanKeyData scankeys[STATE_KEY_MAX];
	IndexScanDesc scan;
	bool		found;

	InitDirtySnapshot(dirty);
	state_scan_keys(index, key, nkeys, scankeys);
	scan = index_beginscan(rel, index, &dirty, nkeys, 0);
	index_rescan(scan, scankeys, nkeys, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	*creator = dirty.xmin;
	index_endscan(scan);
	return found;
}

/* Is there a row for key[] that lookup's snapshot does not show? */
static bool
row_not_yet_visible(KeyLookup *lookup, const StateKey *key, int nkeys,
					TransactionId *creator)
{
	return dirty_lookup(lookup->rel, lookup->index, lookup->slot, key, nkeys, creator);
}

/*
 * Lock, FOR UPDATE and waiting for other lockers, the row of a state table
 * that its unique index finds with key[] (equality on the index's leading
 * columns), and return a copy of its latest version; NULL when there is no
 * such row.
 *
 * This is SELECT ... FOR UPDATE without the executor: locking sets the
 * row's xmax and writes no new row version, so a transaction that only
 * needs the lock (to serialize writers of one scope or thread) leaves no
 * dead tuples behind, however long another snapshot stays open.  As there,
 * READ COMMITTED locks the latest version of the row, and REPEATABLE READ
 * or SERIALIZABLE raise 40001 when it changed after the snapshot.
 */
HeapTuple
state_lock_row(const char *table, const char *index, const StateKey *key, int nkeys)
{
	KeyLookup	lookup;
	HeapTuple	locked = NULL;
	TM_FailureData tmfd;
	bool		found;

	/* as for SELECT ... FOR UPDATE */
	PreventCommandIfReadOnly("durable_sink state changes");
	/* make this transaction's own earlier changes visible to the lookup */
	CommandCounterIncrement();
	while (!(found = key_lookup_begin(&lookup, table, index, RowShareLock, key, nkeys,
									  IsolationUsesXactSnapshot() ? GetTransactionSnapshot() :
									  GetLatestSnapshot())))
	{
		/*
		 * No row that the snapshot shows; but another transaction may be
		 * creating it.  Wait for it (as INSERT ... ON CONFLICT would) and
		 * look again: a caller that found nothing to change would otherwise
		 * act on "nothing observed yet" and miss what the creator did.
		 */
		TransactionId creator;
		bool		exists = row_not_yet_visible(&lookup, key, nkeys, &creator);

		key_lookup_end(&lookup);
		if (!exists)
			return NULL;
		if (TransactionIdIsValid(creator))
			XactLockTableWait(creator, NULL, NULL, XLTW_None);
		else if (IsolationUsesXactSnapshot())
			serialization_failure();	/* committed after our snapshot */
	}
	if (found)
	{
		switch (table_tuple_lock(lookup.rel, &lookup.slot->tts_tid, lookup.snapshot,
								 lookup.slot, GetCurrentCommandId(false), LockTupleExclusive,
								 LockWaitBlock,
								 IsolationUsesXactSnapshot() ? 0 : TUPLE_LOCK_FLAG_FIND_LAST_VERSION,
								 &tmfd))
		{
			case TM_Ok:
				locked = ExecCopySlotHeapTuple(lookup.slot);
				break;
			case TM_Updated:
			case TM_Deleted:
				if (IsolationUsesXactSnapshot())
					serialization_failure();
				/* READ COMMITTED: deleted meanwhile (TRUNCATE, a reset) */
				break;
			default:
				elog(ERROR, "durable_sink: unexpected result locking a row of %s", table);
		}
	}
	key_lookup_end(&lookup);
	return locked;
}

/*
 * Is there any version of the row for key[], committed or being inserted
 * (a dirty snapshot)?
 */
static bool
row_exists_dirty(const char *table, const char *index, const StateKey *key, int nkeys)
{
	Relation	rel;
	Relation	idx;
	TupleTableSlot *slot;
	TransactionId creator;
	bool		found;

	PreventCommandIfReadOnly("durable_sink state changes");
	CommandCounterIncrement();
	rel = table_open(extension_relation_oid(table), RowShareLock);
	idx = index_open(extension_relation_oid(index), AccessShareLock);
	slot = table_slot_create(rel, NULL);
	found = dirty_lookup(rel, idx, slot, key, nkeys, &creator);
	ExecDropSingleTupleTableSlot(slot);
	index_close(idx, AccessShareLock);
	table_close(rel, NoLock);
	return found;
}

/*
 * state_lock_row for a row the caller creates when it is missing: returns
 * the locked row, or NULL, and then this transaction holds the claim on
 * key (claim_hash, a hash of the key) and inserts the row before it calls
 * state_release_claim.  Whoever else wants the same row waits for the
 * claim and then finds the row being inserted, and waits for its creator
 * (state_lock_row).  This is what INSERT ... ON CONFLICT DO UPDATE
 * guarantees, without its executor.
 *
 * The claim is a heavyweight lock on the object (table OID, claim_hash),
 * held only from the lookup to the insert, so a transaction creating many
 * rows holds no more than one; a hash collision only makes two creators
 * wait for each other that long.  It is never held while waiting for
 * anything else (a row lock, a table lock), so it adds no deadlock: the
 * table is locked first, and a row that exists is locked after the claim
 * is given back.
 */
HeapTuple
state_lock_or_claim_row(const char *table, const char *index, const StateKey *key,
						int nkeys, uint32 claim_hash)
{
	Oid			relid = extension_relation_oid(table);

	/* as for INSERT, and before any lock a standby refuses */
	PreventCommandIfReadOnly("durable_sink state changes");
	LockRelationOid(relid, RowExclusiveLock);
	for (;;)
	{
		HeapTuple	row;

		CHECK_FOR_INTERRUPTS();
		LockDatabaseObject(relid, claim_hash, 0, ExclusiveLock);
		/*
		 * With the claim held, no creator can come: one look with a dirty
		 * snapshot (committed rows and rows being inserted) tells a missing
		 * row apart, which is the common case (a new run, a new thread).
		 */
		if (!row_exists_dirty(table, index, key, nkeys))
			return NULL;
		state_release_claim(table, claim_hash);
		row = state_lock_row(table, index, key, nkeys);
		if (row != NULL)
			return row;
		/* its creator rolled back, or it was deleted meanwhile: again */
	}
}

/* The claimed row is inserted (or the claim was not needed). */
void
state_release_claim(const char *table, uint32 claim_hash)
{
	UnlockDatabaseObject(extension_relation_oid(table), claim_hash, 0, ExclusiveLock);
}

/*
 * Does the unique index of a state table find a row for key[]?  Read with
 * a fresh snapshot: callers hold the lock that orders the writers of that
 * row (a scope's or thread's row lock), so every writer before them has
 * finished, and a transaction snapshot could miss what they committed.
 */
bool
state_row_exists(const char *table, const char *index, const StateKey *key, int nkeys)
{
	KeyLookup	lookup;
	bool		found = key_lookup_begin(&lookup, table, index, AccessShareLock, key, nkeys,
										 GetLatestSnapshot());

	key_lookup_end(&lookup);
	return found;
}

/*
 * Delete every row of a state table that its index finds with key[]
 * (equality on the index's leading columns), as a fresh snapshot shows
 * them: DELETE ... WHERE without the executor.  The caller holds the lock
 * that orders the writers of those rows (a thread's row lock), so none is
 * changed concurrently.  Returns the rows deleted.
 */
uint64
state_delete_rows(const char *table, const char *index, const StateKey *key, int nkeys)
{
	KeyLookup	lookup;
	uint64		deleted = 0;
	bool		found;

	PreventCommandIfReadOnly("durable_sink state changes");
	CommandCounterIncrement();
	found = key_lookup_begin(&lookup, table, index, RowExclusiveLock, key, nkeys,
							 GetLatestSnapshot());
	while (found)
	{
		simple_table_tuple_delete(lookup.rel, &lookup.slot->tts_tid, lookup.snapshot);
		deleted++;
		found = index_getnext_slot(lookup.scan, ForwardScanDirection, lookup.slot);
	}
	key_lookup_end(&lookup);
	return deleted;
}

/*
 * Is the version tid of a state table still the live row whose key_column
 * equals key, as this transaction sees it (its own changes included)?
 * What a per-transaction cache remembers of a row it holds is checked with
 * this before use: the row may have been deleted or the table truncated in
 * the same transaction by someone who knows no better.
 */
bool
state_held_version_valid(const char *table, ItemPointer tid, const char *key_column,
						 const bytea *key)
{
	Relation	rel = table_open(extension_relation_oid(table), RowExclusiveLock);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	bool		valid = false;

	if (table_tuple_fetch_row_version(rel, tid, SnapshotSelf, slot))
	{
		bool		isnull;
		Datum		value = slot_getattr(slot, get_attnum(RelationGetRelid(rel), key_column),
										 &isnull);

		valid = !isnull &&
			VARSIZE_ANY_EXHDR(DatumGetPointer(value)) == VARSIZE_ANY_EXHDR(key) &&
			memcmp(VARDATA_ANY(DatumGetPointer(value)), VARDATA_ANY(key),
				   VARSIZE_ANY_EXHDR(key)) == 0;
	}
	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, NoLock);
	return valid;
}

/*
 * Column column of row, a row of rel (a state table's row that
 * state_lock_row returned).  A column the installed objects lack is NULL
 * when missing_ok (the 1.0 layout), an internal error otherwise.
 */
Datum
state_row_value(Relation rel, HeapTuple row, const char *column, bool missing_ok,
				bool *isnull)
{
	AttrNumber	attnum = get_attnum(RelationGetRelid(rel), column);

	if (attnum == InvalidAttrNumber)
	{
		if (!missing_ok)
			elog(ERROR, "durable_sink: column \"%s\" of durable_sink.%s does not exist",
				 column, RelationGetRelationName(rel));
		*isnull = true;
		return (Datum) 0;
	}
	return heap_getattr(row, attnum, RelationGetDescr(rel), isnull);
}

/* ------------------------------------------------ per-transaction caches */

static TxCache *tx_caches = NULL;

/* The state tables whose TRUNCATE (a relcache invalidation) voids the caches. */
#define WATCHED_TABLES 5
static Oid	watched_tables[WATCHED_TABLES];

/*
 * Forget every cache.  The tables are only detached, not destroyed: their
 * memory goes with TopTransactionContext, so a pointer into an entry stays
 * valid for the rest of the caller's work even if this runs in between
 * (invalidations are processed inside SPI calls).
 */
static void
tx_caches_forget(void)
{
	TxCache    *cache;

	for (cache = tx_caches; cache != NULL; cache = cache->next)
		cache->table = NULL;
}

static void
tx_caches_xact_callback(XactEvent event, void *arg pg_attribute_unused())
{
	if (event != XACT_EVENT_PRE_COMMIT && event != XACT_EVENT_PARALLEL_PRE_COMMIT &&
		event != XACT_EVENT_PRE_PREPARE)
		tx_caches_forget();
}

static void
tx_caches_subxact_callback(SubXactEvent event,
						   SubTransactionId mySubid pg_attribute_unused(),
						   SubTransactionId parentSubid pg_attribute_unused(),
						   void *arg pg_attribute_unused())
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		tx_caches_forget();
}

/* TRUNCATE of a state table (or a reset of all relcache entries). */
static void
tx_caches_relcache_callback(Datum arg pg_attribute_unused(), Oid relid)
{
	int			i;

	for (i = 0; i < WATCHED_TABLES; i++)
	{
		if (!OidIsValid(relid) || relid == watched_tables[i])
		{
			tx_caches_forget();
			return;
		}
	}
}

/* Learn the state tables' OIDs (catalog lookups are not allowed in the callback). */
static void
watch_state_tables(void)
{
	static const char *const names[WATCHED_TABLES] = {
		"events", "scopes", "compaction_state", "compaction_fingerprints", "run_state"
	};
	int			i;

	for (i = 0; i < WATCHED_TABLES; i++)
		watched_tables[i] = cached_relation_oid(names[i]);
}

void
state_access_init(void)
{
	RegisterXactCallback(tx_caches_xact_callback, NULL);
	RegisterSubXactCallback(tx_caches_subxact_callback, NULL);
	CacheRegisterRelcacheCallback(tx_caches_relcache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(RELNAMENSP, relation_oids_invalidate, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, relation_oids_invalidate, (Datum) 0);
}

/* The entry for key (zero-padded by the caller), creating it if asked. */
void *
tx_cache_lookup(TxCache *cache, const void *key, bool create, bool *found)
{
	void	   *entry;

	if (!cache->registered)
	{
		cache->next = tx_caches;
		tx_caches = cache;
		cache->registered = true;
	}
	if (cache->table == NULL)
	{
		HASHCTL		ctl;

		if (!create)
		{
			*found = false;
			return NULL;
		}
		/* a TRUNCATE of the tables whose rows it remembers must void it */
		watch_state_tables();
		ctl.keysize = cache->keysize;
		ctl.entrysize = cache->entrysize;
		ctl.hcxt = TopTransactionContext;
		cache->table = hash_create(cache->name, 64, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	entry = hash_search(cache->table, key, create ? HASH_ENTER : HASH_FIND, found);
	/* a new entry: everything after the key starts zeroed */
	if (create && !*found)
		memset((char *) entry + cache->keysize, 0, cache->entrysize - cache->keysize);
	return entry;
}
