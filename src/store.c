/*
 * store.c
 *     The event store (durable_sink.events) and durable_sink.append.
 *
 * Every appended event gets, for each of its scopes (thread, run), the next
 * number of that scope's sequence.  Each scope has a row in
 * durable_sink.scopes; the first append to a scope in a transaction locks
 * that row (FOR UPDATE, or creates it under a claim: state_lock_or_claim_row)
 * until the transaction ends and reads the scope's latest seq from the
 * events index.  A second writer to
 * the same scope therefore waits for the first to commit (and then
 * continues after its events) or to abort (and then reuses the numbers):
 * sequences are gapless, and seq N+1 can never become visible before seq N.
 *
 * The transaction then remembers the scope's head in memory (held_heads), so
 * later appends to it cost one INSERT: updating a head row on every append
 * would leave a chain of row versions that every later append of the same
 * transaction walks (quadratic in a long transaction).  The memory is
 * forgotten at the end of the transaction, whenever a subtransaction aborts
 * (its inserts and possibly its row locks are gone) and when a state table
 * is truncated (see TxCache in state_access.h).
 *
 * Events and scope rows are inserted directly (state_write.c,
 * table_multi_insert for a batch), without SPI, unless durable_sink.events
 * has INSERT triggers, rules, row-level security or columns of its own.
 *
 * Retention (contract §21) may delete a scope's newest events.  Their seqs
 * must not be handed out again, so retention records the scope's head in
 * its row (scopes.pruned_head) when it deletes the scope's newest event,
 * under the same row lock, and the next seq is greatest(latest seq of the
 * events, pruned_head) + 1.  The column is written only then, never by an
 * append: appends still write no row version of the scope.
 *
 * A batch locks the heads it does not hold yet in one fixed order (scope
 * type, then key), so two single-statement batches cannot deadlock; two
 * transactions that append to several scopes in opposite orders across
 * statements still can (PostgreSQL aborts one of them).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "common/hashfn.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "feed.h"
#include "state_write.h"
#include "state_access.h"
#include "stats.h"
#include "store.h"
#include "text_util.h"

PG_FUNCTION_INFO_V1(durable_sink_append);

#define SCOPE_THREAD 0
#define SCOPE_RUN 1

static const char *const scope_type_names[] = {"thread", "run"};

/* One scope touched by a batch, and the seqs it hands out. */
typedef struct ScopeHead
{
	int			type;			/* SCOPE_THREAD or SCOPE_RUN */
	uint8		key[PG_SHA256_DIGEST_LENGTH];
	text	   *id;
	int64		count;			/* events of the batch in this scope */
	int64		scope_no;		/* durable_sink.scopes.scope_no */
	int64		pruned_head;	/* durable_sink.scopes.pruned_head (0: none) */
	int64		next_seq;		/* the next seq to hand out in this batch */
} ScopeHead;

typedef struct ScopeHeads
{
	ScopeHead  *items;
	int			count;
	int			capacity;
	int			last_hit;
} ScopeHeads;

/* A scope head this transaction holds: the scope row is locked. */
typedef struct HeldHeadKey
{
	int32		type;
	uint8		key[PG_SHA256_DIGEST_LENGTH];
} HeldHeadKey;

typedef struct HeldHead
{
	HeldHeadKey hkey;
	int64		scope_no;
	int64		last_seq;
} HeldHead;

static TxCache held_heads = {
	.name = "durable_sink held scope heads",
	.keysize = sizeof(HeldHeadKey),
	.entrysize = sizeof(HeldHead)
};

static HeldHead *
held_head(int type, const uint8 *key, bool create, bool *found)
{
	HeldHeadKey hkey;

	memset(&hkey, 0, sizeof(hkey));
	hkey.type = type;
	memcpy(hkey.key, key, PG_SHA256_DIGEST_LENGTH);
	return tx_cache_lookup(&held_heads, &hkey, create, found);
}

/*
 * The latest seq of a scope, read through the unique index on (scope,
 * seq) with a fresh snapshot: the scope row is locked, so every earlier
 * writer has committed or aborted, and a transaction snapshot (REPEATABLE
 * READ) could miss its events.
 */
static int64
latest_seq(int type, int64 scope_no)
{
	Oid			schema = get_namespace_oid("durable_sink", false);
	Oid			events_oid = get_relname_relid("events", schema);
	Oid			index_oid = get_relname_relid(type == SCOPE_THREAD ? "events_thread_seq" :
											  "events_run_seq", schema);
	Relation	events;
	Relation	index;
	ScanKeyData key;
	Snapshot	snapshot;
	SysScanDesc scan;
	HeapTuple	tuple;
	int64		seq = 0;

	if (!OidIsValid(events_oid) || !OidIsValid(index_oid))
		elog(ERROR, "durable_sink: the event store's index is missing");
	events = table_open(events_oid, AccessShareLock);
	index = index_open(index_oid, AccessShareLock);
	/* systable scans take the heap's attribute number */
	ScanKeyInit(&key, get_attnum(events_oid, type == SCOPE_THREAD ? "thread_scope" : "run_scope"),
				BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(scope_no));
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	scan = systable_beginscan_ordered(events, index, snapshot, 1, &key);
	tuple = systable_getnext_ordered(scan, BackwardScanDirection);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		value = heap_getattr(tuple,
										 get_attnum(events_oid, type == SCOPE_THREAD ?
													"thread_seq" : "run_seq"),
										 RelationGetDescr(events), &isnull);

		if (!isnull)
			seq = DatumGetInt64(value);
	}
	systable_endscan_ordered(scan);
	UnregisterSnapshot(snapshot);
	index_close(index, NoLock);
	table_close(events, NoLock);	/* kept until the append is done */
	return seq;
}

#define INSERT_EVENTS_SQL \
	"INSERT INTO durable_sink.events (event_id, fidelity, event_kind, scopes, thread_id, " \
	"  run_id, payload, causation_id, correlation_id, origin, visibility, schema_version, " \
	"  thread_scope, thread_seq, run_scope, run_seq, writer_id, idempotency_key) " \
	"SELECT COALESCE(u.event_id, " \
	"         pg_catalog.nextval('durable_sink.event_id_seq'::pg_catalog.regclass)), " \
	"       u.fidelity, u.event_kind, u.scopes, u.thread_id, u.run_id, u.payload, " \
	"       u.causation_id, u.correlation_id, u.origin, u.visibility, u.schema_version, " \
	"       u.thread_scope, u.thread_seq, u.run_scope, u.run_seq, u.writer_id, " \
	"       u.idempotency_key " \
	"FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), " \
	"  pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6), " \
	"  pg_catalog.unnest($7), pg_catalog.unnest($8), pg_catalog.unnest($9), " \
	"  pg_catalog.unnest($10), pg_catalog.unnest($11), pg_catalog.unnest($12), " \
	"  pg_catalog.unnest($13), pg_catalog.unnest($14), pg_catalog.unnest($15), " \
	"  pg_catalog.unnest($16), pg_catalog.unnest($17), pg_catalog.unnest($18)) " \
	"  AS u(event_id, fidelity, event_kind, scopes, thread_id, run_id, payload, " \
	"       causation_id, correlation_id, origin, visibility, schema_version, " \
	"       thread_scope, thread_seq, run_scope, run_seq, writer_id, idempotency_key)"

#define INSERT_NATTS 18

static void resolve_insert_types(StatePlan *plan);

static StatePlan insert_events_plan = {
	.sql = INSERT_EVENTS_SQL,
	.nargs = INSERT_NATTS,
	.resolve_types = resolve_insert_types
};

static StatePlan insert_events_returning_plan = {
	.sql = INSERT_EVENTS_SQL " RETURNING *",
	.nargs = INSERT_NATTS,
	.resolve_types = resolve_insert_types
};

/* One event: plain parameters, a cheaper plan than unnest() for the row paths. */
#define INSERT_EVENT_SQL \
	"INSERT INTO durable_sink.events (event_id, fidelity, event_kind, scopes, thread_id, " \
	"  run_id, payload, causation_id, correlation_id, origin, visibility, schema_version, " \
	"  thread_scope, thread_seq, run_scope, run_seq, writer_id, idempotency_key) " \
	"VALUES (COALESCE($1, pg_catalog.nextval('durable_sink.event_id_seq'::pg_catalog.regclass)), " \
	"        $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"

static void resolve_insert_one_types(StatePlan *plan);

static StatePlan insert_event_plan = {
	.sql = INSERT_EVENT_SQL,
	.nargs = INSERT_NATTS,
	.resolve_types = resolve_insert_one_types
};

static StatePlan insert_event_returning_plan = {
	.sql = INSERT_EVENT_SQL " RETURNING *",
	.nargs = INSERT_NATTS,
	.resolve_types = resolve_insert_one_types
};

static StatePlan claim_key_plan = {
	.sql = "INSERT INTO durable_sink.idempotency_keys "
		"  (key_digest, writer_id, idempotency_key, event_id) "
		"VALUES ($1, $2, $3, pg_catalog.nextval('durable_sink.event_id_seq'::pg_catalog.regclass)) "
		"ON CONFLICT (key_digest) DO NOTHING RETURNING event_id",
	.nargs = 3,
	.argtypes = {BYTEAOID, TEXTOID, TEXTOID}
};

/* Rare (retries only): planned for each execution, never a stale seq scan. */
static StatePlan find_key_plan = {
	.sql = "SELECT e.* FROM durable_sink.idempotency_keys k "
		"JOIN durable_sink.events e ON e.event_id OPERATOR(pg_catalog.=) k.event_id "
		"WHERE k.key_digest OPERATOR(pg_catalog.=) $1",
	.nargs = 1,
	.argtypes = {BYTEAOID},
	.custom_plan = true
};

/* Element types of the unnest() arrays, in INSERT_EVENTS_SQL order. */
static void
element_types(Oid *types)
{
	Oid			fidelity = extension_type_oid("fidelity_class");
	Oid			visibility = extension_type_oid("visibility");
	const Oid	fixed[INSERT_NATTS] = {
		INT8OID, fidelity, TEXTOID, JSONBOID, TEXTOID, TEXTOID, JSONBOID, TEXTOID,
		TEXTOID, TEXTOID, visibility, INT4OID, INT8OID, INT8OID, INT8OID, INT8OID,
		TEXTOID, TEXTOID
	};

	memcpy(types, fixed, sizeof(fixed));
}

static void
resolve_insert_types(StatePlan *plan)
{
	Oid			types[INSERT_NATTS];
	int			i;

	element_types(types);
	for (i = 0; i < INSERT_NATTS; i++)
		plan->argtypes[i] = get_array_type(types[i]);
}

static void
resolve_insert_one_types(StatePlan *plan)
{
	element_types(plan->argtypes);
}

/*
 * The columns of durable_sink.events a direct insert fills, in
 * INSERT_EVENTS_SQL order (the draft columns in contract §4 order) plus
 * created_at, whose default (now()) the direct insert supplies.
 */
#define EVENT_NCOLUMNS (INSERT_NATTS + 1)
#define EVENT_CREATED_AT INSERT_NATTS
static const char *const event_column_names[EVENT_NCOLUMNS] = {
	"event_id", "fidelity", "event_kind", "scopes", "thread_id", "run_id", "payload",
	"causation_id", "correlation_id", "origin", "visibility", "schema_version",
	"thread_scope", "thread_seq", "run_scope", "run_seq", "writer_id", "idempotency_key",
	"created_at"
};

/*
 * Attribute numbers of those columns, learnt once per relation and
 * forgotten when its relcache entry is invalidated (ALTER TABLE).  direct
 * is false when the table has columns beyond these (defaults only the
 * executor knows): appends then use the statement.
 */
static struct
{
	Oid			relid;			/* InvalidOid: not learnt */
	bool		direct;
	AttrNumber	attnum[EVENT_NCOLUMNS];
}			event_columns;

static void
event_columns_invalidate(Datum arg pg_attribute_unused(), Oid relid)
{
	if (!OidIsValid(relid) || relid == event_columns.relid)
		event_columns.relid = InvalidOid;
}

static void
event_columns_learn(StateWriter *w)
{
	static bool callback_registered = false;
	Relation	events = w->rel;
	int			i;

	if (event_columns.relid == RelationGetRelid(events))
		return;
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(event_columns_invalidate, (Datum) 0);
		callback_registered = true;
	}
	event_columns.direct = (state_writer_live_columns(w) == EVENT_NCOLUMNS);
	for (i = 0; i < EVENT_NCOLUMNS; i++)
	{
		event_columns.attnum[i] = get_attnum(RelationGetRelid(events), event_column_names[i]);
		if (event_columns.attnum[i] == InvalidAttrNumber)
			event_columns.direct = false;
	}
	event_columns.relid = RelationGetRelid(events);
}

void
store_batch_init(StoreBatch *batch)
{
	batch->count = 0;
	batch->capacity = 4;
	batch->rows = palloc(sizeof(StoreRow) * batch->capacity);
}

StoreRow *
store_batch_push(StoreBatch *batch)
{
	StoreRow   *row;

	if (batch->count == batch->capacity)
	{
		batch->capacity *= 2;
		batch->rows = repalloc(batch->rows, sizeof(StoreRow) * batch->capacity);
	}
	row = &batch->rows[batch->count++];
	memset(row, 0, sizeof(StoreRow));
	return row;
}

/* ------------------------------------------------------------ scope heads */

static int
find_or_add_head(ScopeHeads *heads, int type, text *id)
{
	uint8		key[PG_SHA256_DIGEST_LENGTH];
	int			i;
	ScopeHead  *head;

	/* consecutive rows of a batch mostly share their scopes */
	if (heads->last_hit < heads->count)
	{
		head = &heads->items[heads->last_hit];
		if (head->type == type && texts_equal(head->id, id))
		{
			head->count++;
			return heads->last_hit;
		}
	}
	sha256_digest(VARDATA_ANY(id), VARSIZE_ANY_EXHDR(id), key);
	for (i = 0; i < heads->count; i++)
	{
		head = &heads->items[i];
		if (head->type == type && memcmp(head->key, key, sizeof(key)) == 0)
		{
			head->count++;
			heads->last_hit = i;
			return i;
		}
	}
	if (heads->count == heads->capacity)
	{
		heads->capacity = Max(8, heads->capacity * 2);
		heads->items = heads->items ?
			repalloc(heads->items, sizeof(ScopeHead) * heads->capacity) :
			palloc(sizeof(ScopeHead) * heads->capacity);
	}
	head = &heads->items[heads->count];
	head->type = type;
	memcpy(head->key, key, sizeof(key));
	head->id = id;
	head->count = 1;
	heads->last_hit = heads->count;
	return heads->count++;
}

static int
compare_heads(const void *a, const void *b)
{
	const ScopeHead *x = *(ScopeHead *const *) a;
	const ScopeHead *y = *(ScopeHead *const *) b;

	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	return memcmp(x->key, y->key, PG_SHA256_DIGEST_LENGTH);
}

pg_attribute_noreturn()
static void
append_conflict(const ScopeHead *head, int64 latest, int64 expected)
{
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("append conflict: %s scope \"%s\" is at seq " INT64_FORMAT ", expected " INT64_FORMAT,
					scope_type_names[head->type], text_to_cstring(head->id), latest, expected),
			 errhint("Read the scope again and retry the append.")));
}

static bytea *
head_key(const ScopeHead *head)
{
	bytea	   *key = palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);

	SET_VARSIZE(key, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	memcpy(VARDATA(key), head->key, PG_SHA256_DIGEST_LENGTH);
	return key;
}

/* The scope's row as a lookup key: (scope_type, scope_key). */
static void
scope_row_key(const ScopeHead *head, StateKey *key)
{
	key[0].equal_proc = F_TEXTEQ;
	key[0].value = CStringGetTextDatum(scope_type_names[head->type]);
	key[1].equal_proc = F_BYTEAEQ;
	key[1].value = PointerGetDatum(head_key(head));
}

/* The claim on a scope's row when it has none (state_lock_or_claim_row). */
static uint32
scope_claim(const ScopeHead *head)
{
	return hash_combine(head->type, hash_bytes(head->key, PG_SHA256_DIGEST_LENGTH));
}

/*
 * Learn scope_no and the head retention recorded from the scope's locked
 * row (the latest version: retention writes it under the same lock).
 */
static void
read_scope_row(ScopeHead *head, HeapTuple row)
{
	Relation	scopes = table_open(extension_relation_oid("scopes"), NoLock);
	bool		isnull;
	Datum		pruned;

	head->scope_no = DatumGetInt64(state_row_value(scopes, row, "scope_no", false, &isnull));
	/* 1.0 objects have no retention, hence no such column */
	pruned = state_row_value(scopes, row, "pruned_head", true, &isnull);
	head->pruned_head = isnull ? 0 : DatumGetInt64(pruned);
	table_close(scopes, NoLock);
}

/*
 * Create the row of a scope seen for the first time (this transaction
 * holds the claim on it): scope_no from the identity column's sequence.
 */
static void
create_scope_row(ScopeHead *head)
{
	StateWriter w;

	state_writer_open(&w, "scopes");
	state_writer_new_row(&w, NULL);
	head->scope_no = state_writer_set_identity(&w, "scope_no");
	head->pruned_head = 0;
	state_writer_set(&w, "scope_type", CStringGetTextDatum(scope_type_names[head->type]), false);
	state_writer_set(&w, "scope_key", PointerGetDatum(head_key(head)), false);
	state_writer_set(&w, "scope_id", PointerGetDatum(head->id), false);
	/* its default (no deletion yet); 1.0 objects have no such column */
	if (get_attnum(RelationGetRelid(w.rel), "pruned_head") != InvalidAttrNumber)
		state_writer_set(&w, "pruned_head", Int64GetDatum(0), false);
	state_writer_insert(&w);
	state_writer_close(&w);
	state_release_claim("scopes", scope_claim(head));
}

/*
 * Lock the scope rows of heads, strictly in order[] (sorted): that one
 * order for every batch is what keeps two batches from deadlocking.  The
 * row lock is FOR UPDATE without a new row version, so a held snapshot
 * elsewhere cannot make the table bloat.  A scope seen for the first time
 * gets its row then and there (the insert holds it like a lock).  Then
 * learn the heads.
 */
static void
lock_new_heads(ScopeHead **order, int n)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		StateKey	key[2];
		HeapTuple	row;

		scope_row_key(order[i], key);
		row = state_lock_or_claim_row("scopes", "scopes_scope_type_scope_key_key", key, 2,
									  scope_claim(order[i]));
		if (row != NULL)
			read_scope_row(order[i], row);
		else
			create_scope_row(order[i]);
	}
	/* seqs that retention deleted count as handed out (see the header) */
	for (i = 0; i < n; i++)
		order[i]->next_seq = Max(latest_seq(order[i]->type, order[i]->scope_no),
								 order[i]->pruned_head) + 1;
}

/*
 * Make sure this transaction holds every head of the batch (locking those
 * it does not hold yet, in a fixed order), check the caller's expectations
 * (compare-and-append), and reserve the batch's seqs: the held heads move
 * on before the insert, so an append nested in it (a trigger on events)
 * continues after the batch, and a failed insert aborts the (sub)transaction,
 * which forgets them.
 */
static void
take_heads(ScopeHeads *heads, const AppendExpectation *expect)
{
	int			n = heads->count;
	ScopeHead **order = palloc(sizeof(ScopeHead *) * n);
	ScopeHead **missing = palloc(sizeof(ScopeHead *) * n);
	int			nmissing = 0;
	int			i;

	for (i = 0; i < n; i++)
		order[i] = &heads->items[i];
	qsort(order, n, sizeof(ScopeHead *), compare_heads);
	for (i = 0; i < n; i++)
	{
		bool		found;
		HeldHead   *held = held_head(order[i]->type, order[i]->key, false, &found);

		if (found)
		{
			order[i]->scope_no = held->scope_no;
			order[i]->next_seq = held->last_seq + 1;
		}
		else
			missing[nmissing++] = order[i];
	}
	if (nmissing > 0)
		lock_new_heads(missing, nmissing);

	for (i = 0; i < n; i++)
	{
		ScopeHead  *head = order[i];
		int64		latest = head->next_seq - 1;
		bool		found;
		HeldHead   *held;

		if (expect != NULL)
		{
			bool		check = head->type == SCOPE_THREAD ? expect->check_thread : expect->check_run;
			int64		expected = head->type == SCOPE_THREAD ? expect->thread_seq : expect->run_seq;

			if (check && latest != expected)
				append_conflict(head, latest, expected);
		}
		held = held_head(head->type, head->key, true, &found);
		held->scope_no = head->scope_no;
		held->last_seq = latest + head->count;
	}
}

/* ------------------------------------------------------------ insertion */

/* Column arrays for the unnest() insert. */
typedef struct InsertArrays
{
	Datum	   *values[INSERT_NATTS];
	bool	   *nulls[INSERT_NATTS];
} InsertArrays;

/*
 * Where each row of a batch goes: its scope numbers and seqs, beside the
 * row itself.
 */
typedef struct RowScopes
{
	int64		thread_scope;	/* 0: no thread scope */
	int64		run_scope;		/* 0: no run scope */
} RowScopes;

/* The INSERT_EVENTS_SQL column values of one row, in that order. */
static void
insert_row_values(const StoreRow *row, const RowScopes *scopes, Datum *values, bool *nulls)
{
	values[0] = Int64GetDatum(row->event_id);
	nulls[0] = false;
	/* draft columns 0..10 are insert columns 1..11 */
	memcpy(&values[1], row->values, sizeof(Datum) * DRAFT_NATTS);
	memcpy(&nulls[1], row->nulls, sizeof(bool) * DRAFT_NATTS);
	values[12] = Int64GetDatum(scopes->thread_scope);
	nulls[12] = scopes->thread_scope == 0;
	values[13] = Int64GetDatum(row->thread_seq);
	nulls[13] = scopes->thread_scope == 0;
	values[14] = Int64GetDatum(scopes->run_scope);
	nulls[14] = scopes->run_scope == 0;
	values[15] = Int64GetDatum(row->run_seq);
	nulls[15] = scopes->run_scope == 0;
	values[16] = PointerGetDatum(row->writer_id);
	nulls[16] = row->writer_id == NULL;
	values[17] = PointerGetDatum(row->idempotency_key);
	nulls[17] = row->idempotency_key == NULL;
}

static Datum
build_array(Datum *values, bool *nulls, int count, Oid element_type)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			dims[1] = {count};
	int			lbs[1] = {1};

	get_typlenbyvalalign(element_type, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs, element_type,
											  typlen, typbyval, typalign));
}

/*
 * Insert the rows with the prepared statement (SPI): when durable_sink.events
 * has triggers, rules, row-level security or columns of its own, which only
 * the executor honours.  With result, the stored rows are added to it.
 */
static void
insert_with_statement(const StoreRow *rows, const RowScopes *scopes, int count,
					  Tuplestorestate *result)
{
	Datum		args[INSERT_NATTS];
	char		nulls[INSERT_NATTS];
	bool		isnull[INSERT_NATTS];
	StateAccess access;
	uint64		stored;
	int			i;
	int			c;

	state_access_begin(&access);
	if (count == 1)
	{
		insert_row_values(&rows[0], &scopes[0], args, isnull);
		for (c = 0; c < INSERT_NATTS; c++)
			nulls[c] = isnull[c] ? 'n' : ' ';
		stored = state_exec(result ? &insert_event_returning_plan : &insert_event_plan,
							args, nulls);
	}
	else
	{
		InsertArrays arrays;
		Oid			types[INSERT_NATTS];
		Datum		values[INSERT_NATTS];

		for (c = 0; c < INSERT_NATTS; c++)
		{
			arrays.values[c] = palloc(sizeof(Datum) * count);
			arrays.nulls[c] = palloc(sizeof(bool) * count);
		}
		for (i = 0; i < count; i++)
		{
			insert_row_values(&rows[i], &scopes[i], values, isnull);
			for (c = 0; c < INSERT_NATTS; c++)
			{
				arrays.values[c][i] = values[c];
				arrays.nulls[c][i] = isnull[c];
			}
		}
		element_types(types);
		for (c = 0; c < INSERT_NATTS; c++)
			args[c] = build_array(arrays.values[c], arrays.nulls[c], count, types[c]);
		stored = state_exec(result ? &insert_events_returning_plan : &insert_events_plan,
							args, NULL);
	}
	if (stored != (uint64) count)
		elog(ERROR, "durable_sink: stored " UINT64_FORMAT " of %d events", stored, count);
	if (result != NULL)
	{
		for (i = 0; i < (int) stored; i++)
			tuplestore_puttuple(result, SPI_tuptable->vals[i]);
	}
	state_access_end(&access);
}

/* What event_row_values fills a direct insert's rows from. */
typedef struct EventRows
{
	const StoreRow *rows;
	const RowScopes *scopes;
	Datum		created_at;		/* its default, now() */
} EventRows;

/* StateRowFiller: row's values in event_column_names order. */
static void
event_row_values(int row, Datum *values, bool *nulls, void *arg)
{
	EventRows  *events = arg;

	insert_row_values(&events->rows[row], &events->scopes[row], values, nulls);
	values[EVENT_CREATED_AT] = events->created_at;
	nulls[EVENT_CREATED_AT] = false;
}

/*
 * Insert the rows directly (state_write.c), STATE_WRITER_BATCH at a time
 * with table_multi_insert, as COPY does.  False, with nothing inserted,
 * when the table needs the executor (insert_with_statement).
 */
static bool
insert_directly(const StoreRow *rows, const RowScopes *scopes, int count,
				Tuplestorestate *result)
{
	StateWriter w;
	EventRows	events;

	events.rows = rows;
	events.scopes = scopes;
	events.created_at = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	state_writer_open(&w, "events");
	event_columns_learn(&w);
	if (!event_columns.direct || !state_writer_plain(&w))
	{
		state_writer_close(&w);
		return false;
	}
	state_writer_insert_rows(&w, count, event_columns.attnum, EVENT_NCOLUMNS,
							 event_row_values, &events, result);
	state_writer_close(&w);
	return true;
}

/*
 * Append rows, in order.  Each row's scopes come from its thread_id/run_id
 * columns (derived from its scopes).  The assigned seqs are written back
 * into the rows; with result, the stored rows are added to it.
 */
void
store_append(StoreRow *rows, int count, const AppendExpectation *expect,
			 Tuplestorestate *result)
{
	ScopeHeads	heads = {0};
	int		   *thread_heads;
	int		   *run_heads;
	RowScopes  *scopes;
	Oid			event_id_seq;
	int			i;

	if (count == 0)
		return;
	thread_heads = palloc(sizeof(int) * count);
	run_heads = palloc(sizeof(int) * count);
	for (i = 0; i < count; i++)
	{
		StoreRow   *row = &rows[i];

		thread_heads[i] = row->nulls[COL_THREAD_ID] ? -1 :
			find_or_add_head(&heads, SCOPE_THREAD, DatumGetTextPP(row->values[COL_THREAD_ID]));
		run_heads[i] = row->nulls[COL_RUN_ID] ? -1 :
			find_or_add_head(&heads, SCOPE_RUN, DatumGetTextPP(row->values[COL_RUN_ID]));
	}

	take_heads(&heads, expect);

	scopes = palloc(sizeof(RowScopes) * count);
	event_id_seq = extension_relation_oid("event_id_seq");
	for (i = 0; i < count; i++)
	{
		ScopeHead  *thread = thread_heads[i] >= 0 ? &heads.items[thread_heads[i]] : NULL;
		ScopeHead  *run = run_heads[i] >= 0 ? &heads.items[run_heads[i]] : NULL;

		/* ids are taken here, so the feed knows which events this transaction appended */
		if (rows[i].event_id == 0)
			rows[i].event_id = nextval_internal(event_id_seq, false);
		rows[i].thread_seq = thread ? thread->next_seq++ : 0;
		rows[i].run_seq = run ? run->next_seq++ : 0;
		scopes[i].thread_scope = thread ? thread->scope_no : 0;
		scopes[i].run_scope = run ? run->scope_no : 0;
	}
	if (!insert_directly(rows, scopes, count, result))
		insert_with_statement(rows, scopes, count, result);
	if (extension_relation_exists("feed_position_seq"))	/* 1.0 objects: no feed */
	{
		Oid			feed_seq = extension_relation_oid("feed_position_seq");

		for (i = 0; i < count; i++)
			feed_note_appended(rows[i].event_id, feed_seq);
	}
}

/* ----------------------------------------------------------- idempotency */

static bytea *
idempotency_digest(const text *writer_id, const text *key)
{
	StringInfoData both;
	bytea	   *digest = palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);

	initStringInfo(&both);
	appendBinaryStringInfo(&both, VARDATA_ANY(writer_id), VARSIZE_ANY_EXHDR(writer_id));
	appendStringInfoChar(&both, '\0');
	appendBinaryStringInfo(&both, VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key));
	SET_VARSIZE(digest, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	sha256_digest(both.data, both.len, (uint8 *) VARDATA(digest));
	return digest;
}

/*
 * Claim row's (writer_id, idempotency_key).  When it was free, sets
 * row->event_id and *claimed and returns NULL; when an event already holds
 * it (waiting for a concurrent claimer to commit or abort), returns a copy
 * of that stored event.
 */
HeapTuple
store_find_idempotent(StoreRow *row, bool *claimed)
{
	bytea	   *digest = idempotency_digest(row->writer_id, row->idempotency_key);
	Datum		args[3] = {PointerGetDatum(digest), PointerGetDatum(row->writer_id),
	PointerGetDatum(row->idempotency_key)};
	StateAccess access;
	HeapTuple	existing = NULL;
	bool		isnull;

	state_access_begin(&access);
	*claimed = state_exec(&claim_key_plan, args, NULL) == 1;
	if (*claimed)
		row->event_id = DatumGetInt64(state_result_value(1, &isnull));
	else
	{
		if (state_exec(&find_key_plan, args, NULL) != 1)
			elog(ERROR, "durable_sink: idempotency key without its event");
		existing = heap_copytuple(SPI_tuptable->vals[0]);
	}
	state_access_end(&access);
	return existing;
}

/* ------------------------------------------------- durable_sink.append */

/* Byte equality of two text Datums that may be NULL: a retry must repeat the original exactly. */
static bool
nullable_texts_equal(Datum a, bool a_null, Datum b, bool b_null)
{
	return texts_equal(a_null ? NULL : DatumGetTextPP(a), b_null ? NULL : DatumGetTextPP(b));
}

/*
 * Byte equality of two jsonb values: jsonb's = operator treats 1 and 1.00
 * as equal, a retry must repeat the original exactly (key order and
 * whitespace aside, which jsonb does not keep).
 */
static bool
jsonbs_equal(Datum a, Datum b)
{
	return texts_equal((text *) PG_DETOAST_DATUM_PACKED(a),
					   (text *) PG_DETOAST_DATUM_PACKED(b));
}

/*
 * A retry must repeat the original's scopes, event_kind, payload,
 * visibility, causation_id and correlation_id (origin, schema_version and
 * fidelity may differ).
 */
static void
check_same_event(const StoreRow *row, HeapTuple existing, TupleDesc desc)
{
	bool		isnull;
	const char *differs = NULL;

#define STORED(name) heap_getattr(existing, SPI_fnumber(desc, name), desc, &isnull)
	if (!jsonbs_equal(row->values[COL_SCOPES], STORED("scopes")))
		differs = "scopes";
	else if (!nullable_texts_equal(row->values[COL_EVENT_KIND], false, STORED("event_kind"), false))
		differs = "event_kind";
	else if (!jsonbs_equal(row->values[COL_PAYLOAD], STORED("payload")))
		differs = "payload";
	else if (DatumGetObjectId(row->values[COL_VISIBILITY]) !=
			 DatumGetObjectId(STORED("visibility")))
		differs = "visibility";
	else
	{
		Datum		stored = STORED("causation_id");

		if (!nullable_texts_equal(row->values[COL_CAUSATION_ID], row->nulls[COL_CAUSATION_ID],
								  stored, isnull))
			differs = "causation_id";
		else
		{
			stored = STORED("correlation_id");
			if (!nullable_texts_equal(row->values[COL_CORRELATION_ID],
									  row->nulls[COL_CORRELATION_ID], stored, isnull))
				differs = "correlation_id";
		}
	}
#undef STORED
	if (differs != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("idempotency conflict: writer \"%s\" already used key \"%s\" for a different event",
						text_to_cstring(row->writer_id), text_to_cstring(row->idempotency_key)),
				 errdetail("Member \"%s\" differs from the event appended first.", differs)));
}

static void
read_expectation(FunctionCallInfo fcinfo, const StoreRow *row, AppendExpectation *expect)
{
	expect->check_thread = !PG_ARGISNULL(3);
	expect->thread_seq = expect->check_thread ? PG_GETARG_INT64(3) : 0;
	expect->check_run = !PG_ARGISNULL(4);
	expect->run_seq = expect->check_run ? PG_GETARG_INT64(4) : 0;
	if (expect->check_thread && row->nulls[COL_THREAD_ID])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("expected_thread_seq given for a draft without a thread scope")));
	if (expect->check_run && row->nulls[COL_RUN_ID])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("expected_run_seq given for a draft without a run scope")));
	if ((expect->check_thread && expect->thread_seq < 0) ||
		(expect->check_run && expect->run_seq < 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an expected seq must not be negative")));
}

/*
 * durable_sink.append(draft, writer_id, idempotency_key, expected_thread_seq,
 * expected_run_seq) -> durable_sink.events
 */
Datum
durable_sink_append(PG_FUNCTION_ARGS)
{
	TupleDesc	result_desc;
	StoreRow	row;
	AppendExpectation expect;
	Tuplestorestate *stored;
	TupleTableSlot *slot;
	HeapTuple	tuple;
	StatsCall	call = {0};

	if (get_call_result_type(fcinfo, NULL, &result_desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "durable_sink: append must return durable_sink.events");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("draft must not be null")));

	memset(&row, 0, sizeof(row));
	draft_values_from_record(PG_GETARG_HEAPTUPLEHEADER(0), row.values, row.nulls);
	draft_validate_values(row.values, row.nulls);
	row.writer_id = PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1);
	row.idempotency_key = PG_ARGISNULL(2) ? NULL : PG_GETARG_TEXT_PP(2);
	if (row.idempotency_key != NULL && row.writer_id == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("idempotency_key requires writer_id"),
				 errdetail("An idempotency key is unique per writer.")));
	read_expectation(fcinfo, &row, &expect);

	if (row.idempotency_key != NULL)
	{
		bool		claimed;
		HeapTuple	existing = store_find_idempotent(&row, &claimed);

		if (!claimed)
		{
			check_same_event(&row, existing, result_desc);
			stats_count(STATS_APPEND, &call);	/* a retry: nothing appended */
			PG_RETURN_DATUM(heap_copy_tuple_as_datum(existing, result_desc));
		}
	}

	stored = tuplestore_begin_heap(false, false, work_mem);
	store_append(&row, 1, &expect, stored);
	slot = MakeSingleTupleTableSlot(result_desc, &TTSOpsMinimalTuple);
	if (!tuplestore_gettupleslot(stored, true, false, slot))
		elog(ERROR, "durable_sink: appended event not returned");
	tuple = ExecCopySlotHeapTuple(slot);
	ExecDropSingleTupleTableSlot(slot);
	tuplestore_end(stored);
	call.appended = 1;
	stats_count(STATS_APPEND, &call);
	PG_RETURN_DATUM(heap_copy_tuple_as_datum(tuple, result_desc));
}
