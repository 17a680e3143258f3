/*
 * state_access.h
 *     Saved SPI plans over the extension's tables, run as the extension
 *     owner.
 */
#ifndef DURABLE_SINK_STATE_ACCESS_H
#define DURABLE_SINK_STATE_ACCESS_H

#include "postgres.h"

#include "executor/spi.h"
#include "tcop/dest.h"
#include "utils/snapshot.h"
#include "utils/tuplestore.h"
#include "utils/hsearch.h"
#include "utils/relcache.h"

#define STATE_PLAN_MAX_ARGS 20

/*
 * One statement, prepared on first use and kept for the backend's life (or
 * until the extension is re-created).  resolve_types, when set, fills
 * argtypes that depend on the extension's own types before preparing.
 * custom_plan is for rare lookups whose generic plan could be a sequential
 * scan if it was made while the table was still empty.
 */
typedef struct StatePlan
{
	const char *sql;
	int			nargs;
	Oid			argtypes[STATE_PLAN_MAX_ARGS];
	bool		custom_plan;	/* plan for every execution's parameters */
	SPIPlanPtr	plan;
	void		(*resolve_types) (struct StatePlan *plan);
	struct StatePlan *next_prepared;
} StatePlan;

/* What state_access_begin changed, for state_access_end to undo. */
typedef struct StateAccess
{
	Oid			saved_userid;
	int			saved_sec_context;
} StateAccess;

extern void state_access_begin(StateAccess *access);
extern void state_access_end(StateAccess *access);
extern uint64 state_exec(StatePlan *plan, Datum *values, const char *nulls);
extern uint64 state_exec_to(StatePlan *plan, Datum *values, const char *nulls,
							Snapshot snapshot, DestReceiver *dest);
extern uint64 state_exec_into(StatePlan *plan, Datum *values, const char *nulls,
							  Snapshot snapshot, Tuplestorestate *store,
							  MemoryContext store_context);
extern Oid	extension_owner_oid(void);
extern Datum state_result_value(int column, bool *isnull);
extern Oid	extension_type_oid(const char *type_name);
extern Oid	extension_relation_oid(const char *relname);
extern bool extension_relation_exists(const char *relname);

/* One equality condition of state_lock_row, on an index column. */
#define STATE_KEY_MAX 2
typedef struct StateKey
{
	RegProcedure equal_proc;	/* e.g. F_BYTEAEQ */
	Datum		value;
} StateKey;

extern HeapTuple state_lock_row(const char *table, const char *index,
								const StateKey *key, int nkeys);
extern HeapTuple state_lock_or_claim_row(const char *table, const char *index,
										 const StateKey *key, int nkeys, uint32 claim_hash);
extern void state_release_claim(const char *table, uint32 claim_hash);
extern uint64 state_delete_rows(const char *table, const char *index,
								const StateKey *key, int nkeys);
extern bool state_held_version_valid(const char *table, ItemPointer tid,
									 const char *key_column, const bytea *key);
extern Datum state_row_value(Relation rel, HeapTuple row, const char *column,
							 bool missing_ok, bool *isnull);
extern bool state_row_exists(const char *table, const char *index,
							 const StateKey *key, int nkeys);

/*
 * A per-transaction memo of state rows this transaction holds locked (so it
 * can skip statements for them).  Forgotten at the end of the transaction,
 * whenever a subtransaction aborts (its changes, and possibly its row locks,
 * are gone) and when a state table is truncated.  Entries stay readable
 * until the transaction ends, but look them up again after any SPI call.
 */
typedef struct TxCache
{
	const char *name;
	Size		keysize;
	Size		entrysize;
	HTAB	   *table;			/* NULL: empty; lives in TopTransactionContext */
	bool		registered;
	struct TxCache *next;
} TxCache;

extern void state_access_init(void);
extern void *tx_cache_lookup(TxCache *cache, const void *key, bool create, bool *found);

#endif							/* DURABLE_SINK_STATE_ACCESS_H */
