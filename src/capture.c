/*
 * capture.c
 *     Trigger capture for applications that write raw agent events to a
 *     table of their own:
 *
 *       durable_sink.capture()            AFTER INSERT ... FOR EACH ROW
 *       durable_sink.capture_statement()  AFTER INSERT ... REFERENCING NEW
 *                                         TABLE AS ... FOR EACH STATEMENT
 *
 * Trigger arguments: event column (jsonb), thread_id column, run_id column
 * (text or varchar), origin, durability mode, and optionally a
 * correlation_id column ('' for none) and announce (true/false, default
 * true).  They are checked at the first fire.  Both triggers produce the
 * same canonical rows in the same order; the statement trigger appends in
 * batches and announces once per (thread_id, run_id) per statement.  A bad
 * event goes to durable_sink.capture_failures and never fails the insert.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_trigger.h"
#include "commands/event_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "common/hashfn.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "announce.h"
#include "capture.h"
#include "sink.h"
#include "stats.h"
#include "text_util.h"

PG_FUNCTION_INFO_V1(durable_sink_capture);
PG_FUNCTION_INFO_V1(durable_sink_capture_statement);
PG_FUNCTION_INFO_V1(durable_sink_check_capture_trigger);

/* Rows appended per batch by the statement trigger. */
#define CAPTURE_BATCH_ROWS 1000


pg_attribute_noreturn()
static void
bad_trigger(const char *function, const char *problem)
{
	ereport(ERROR,
			(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
			 errmsg("%s: %s", function, problem)));
}

static AttrNumber
column_argument(Relation rel, const char *function, const char *role,
				const char *name, bool must_be_jsonb)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			attno = SPI_fnumber(desc, name);
	Oid			type;

	if (attno <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("%s: %s column \"%s\" of relation \"%s\" does not exist",
						function, role, name, RelationGetRelationName(rel))));
	type = TupleDescAttr(desc, attno - 1)->atttypid;
	if (must_be_jsonb ? type != JSONBOID : (type != TEXTOID && type != VARCHAROID))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s: %s column \"%s\" must be of type %s, not %s",
						function, role, name, must_be_jsonb ? "jsonb" : "text or varchar",
						format_type_be(type))));
	return attno;
}

static Durability
mode_argument(const char *function, const char *label)
{
	Durability	mode;

	if (!durability_from_label(label, &mode))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: durability mode \"%s\" is not one of disabled, compacted, full_fidelity",
						function, label)));
	return mode;
}

/* Which capture function (if any) a trigger function is. */
CaptureKind
capture_kind_of(Oid function)
{
	HeapTuple	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(function));
	CaptureKind kind = CAPTURE_NONE;
	Form_pg_proc proc;
	bool		isnull;

	if (!HeapTupleIsValid(tuple))
		return CAPTURE_NONE;
	proc = (Form_pg_proc) GETSTRUCT(tuple);
	if (proc->prolang == ClanguageId)
	{
		char	   *symbol = TextDatumGetCString(SysCacheGetAttr(PROCOID, tuple,
																  Anum_pg_proc_prosrc, &isnull));
		char	   *library = TextDatumGetCString(SysCacheGetAttr(PROCOID, tuple,
																   Anum_pg_proc_probin, &isnull));

		if (strcmp(library, "$libdir/durable_sink") == 0)
		{
			if (strcmp(symbol, "durable_sink_capture") == 0)
				kind = CAPTURE_ROW;
			else if (strcmp(symbol, "durable_sink_capture_statement") == 0)
				kind = CAPTURE_STATEMENT;
		}
	}
	ReleaseSysCache(tuple);
	return kind;
}

const char *
capture_function_name(CaptureKind kind)
{
	return kind == CAPTURE_ROW ? "durable_sink.capture()" : "durable_sink.capture_statement()";
}

/*
 * The capture trigger of rel that captures: the first enabled one in firing
 * (name) order.  A table has at most one (CREATE TRIGGER refuses a second);
 * if an older installation left two, only this one captures.
 */
Trigger *
capturing_trigger(Relation rel)
{
	TriggerDesc *desc = rel->trigdesc;
	int			i;

	for (i = 0; desc != NULL && i < desc->numtriggers; i++)
	{
		Trigger    *trigger = &desc->triggers[i];

		if (trigger->tgenabled != TRIGGER_DISABLED &&
			capture_kind_of(trigger->tgfoid) != CAPTURE_NONE)
			return trigger;
	}
	return NULL;
}

/*
 * How the trigger is declared: AFTER INSERT only, FOR EACH ROW for
 * capture(), FOR EACH STATEMENT with a NEW TABLE for capture_statement(),
 * and capture() not on a partitioned table or partition.
 */
static void
check_declaration(Relation rel, const Trigger *trigger, CaptureKind kind)
{
	const char *function = capture_function_name(kind);

	if (!TRIGGER_FOR_AFTER(trigger->tgtype) || !TRIGGER_FOR_INSERT(trigger->tgtype) ||
		TRIGGER_FOR_UPDATE(trigger->tgtype) || TRIGGER_FOR_DELETE(trigger->tgtype) ||
		TRIGGER_FOR_TRUNCATE(trigger->tgtype))
		bad_trigger(function, "must be declared AFTER INSERT only (not BEFORE, INSTEAD OF, "
					"UPDATE, DELETE or TRUNCATE)");
	if (OidIsValid(trigger->tgconstraint))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s: a capture trigger cannot be a constraint trigger", function),
				 errhint("Use CREATE TRIGGER, not CREATE CONSTRAINT TRIGGER.")));
	if (kind == CAPTURE_ROW && !TRIGGER_FOR_ROW(trigger->tgtype))
		bad_trigger(function, "must be declared FOR EACH ROW");
	if (kind == CAPTURE_STATEMENT &&
		(TRIGGER_FOR_ROW(trigger->tgtype) || trigger->tgnewtable == NULL))
		bad_trigger(function,
					"must be declared AFTER INSERT ... REFERENCING NEW TABLE AS ... FOR EACH STATEMENT");

	/*
	 * An UPDATE that moves a row to another partition fires the destination
	 * partition's AFTER INSERT row triggers: capture() would capture the
	 * event again.  The statement trigger on the partitioned table does not.
	 */
	if (kind == CAPTURE_ROW &&
		(rel->rd_rel->relispartition || rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s: cannot capture a partitioned table or a partition of one", function),
				 errdetail("An UPDATE that moves a row between partitions fires AFTER INSERT row triggers again."),
				 errhint("Use durable_sink.capture_statement() on the partitioned table.")));
}

/*
 * Check capture arguments (contract §15: event column, thread_id column,
 * run_id column, origin, durability mode [, correlation_id column
 * [, announce]]) against rel and resolve them into *config (allocated in the
 * current context).  function names the caller in errors.
 */
void
capture_config_resolve(Relation rel, const char *function, int nargs, char **args,
					   CaptureConfig *config)
{
	bool		announce = true;

	if (nargs < 5 || nargs > 7)
		bad_trigger(function,
					"expected 5 to 7 trigger arguments: event column, thread_id column, "
					"run_id column, origin, durability mode [, correlation_id column "
					"[, announce]]");

	config->event_att = column_argument(rel, function, "event", args[0], true);
	config->thread_att = column_argument(rel, function, "thread_id", args[1], false);
	config->run_att = column_argument(rel, function, "run_id", args[2], false);
	if (text_is_blank(args[3], strlen(args[3])))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: origin is required", function),
				 errdetail("The fourth trigger argument must not be blank.")));
	config->origin = CStringGetTextDatum(args[3]);
	config->mode = mode_argument(function, args[4]);
	if (nargs >= 6 && args[5][0] != '\0')
		config->correlation_att = column_argument(rel, function, "correlation_id",
												  args[5], false);
	if (nargs == 7 && !parse_bool(args[6], &announce))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: announce must be a boolean, not \"%s\"", function,
						args[6])));
	config->announce = announce;
}

/*
 * Check the trigger's declaration and arguments (contract §15) and resolve
 * them into *config (allocated in the current context).
 */
static void
check_capture_trigger(Relation rel, const Trigger *trigger, CaptureKind kind,
					  CaptureConfig *config)
{
	check_declaration(rel, trigger, kind);
	config->trigger_oid = trigger->tgoid;
	capture_config_resolve(rel, capture_function_name(kind), trigger->tgnargs,
						   trigger->tgargs, config);
}

/* Check a capture trigger's declaration and arguments; errors as above. */
void
capture_trigger_validate(Relation rel, const Trigger *trigger, CaptureKind kind)
{
	CaptureConfig config = {0};

	check_capture_trigger(rel, trigger, kind, &config);
}

/*
 * The trigger's arguments, checked and resolved once per trigger and query.
 * CREATE TRIGGER already checked them (check_new_capture_trigger); this is
 * the backstop for triggers made before that check existed, or while event
 * triggers were off, and for tables changed since.
 */
static CaptureConfig *
capture_config(FunctionCallInfo fcinfo, TriggerData *td, CaptureKind kind)
{
	CaptureConfig *config = fcinfo->flinfo->fn_extra;
	Trigger    *trigger = td->tg_trigger;
	Relation	rel = td->tg_relation;
	MemoryContext old;
	Trigger    *capturing;

	if (config != NULL && config->trigger_oid == trigger->tgoid)
		return config;

	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	config = palloc0(sizeof(CaptureConfig));
	check_capture_trigger(rel, trigger, kind, config);
	config->source.source = "trigger";
	config->source.table =
		quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
								   RelationGetRelationName(rel));
	config->builder = draft_builder_create(fcinfo->flinfo->fn_mcxt);
	capturing = capturing_trigger(rel);
	config->inactive = capturing != NULL && capturing->tgoid != trigger->tgoid;
	if (config->inactive)
		ereport(WARNING,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("%s: trigger \"%s\" on %s captures nothing: trigger \"%s\" already captures the table",
						capture_function_name(kind), trigger->tgname, config->source.table,
						capturing->tgname),
				 errhint("Drop one of the two triggers; a table needs one capture trigger.")));
	MemoryContextSwitchTo(old);
	fcinfo->flinfo->fn_extra = config;
	return config;
}

/* The trigger of rel with OID trigger_oid (rel's trigger descriptor). */
static Trigger *
trigger_of(Relation rel, Oid trigger_oid)
{
	int			i;

	for (i = 0; rel->trigdesc != NULL && i < rel->trigdesc->numtriggers; i++)
		if (rel->trigdesc->triggers[i].tgoid == trigger_oid)
			return &rel->trigdesc->triggers[i];
	return NULL;
}

/* A new trigger of relid: if it is a capture trigger, check it. */
static void
check_new_trigger(Oid relid, Oid trigger_oid)
{
	Relation	rel = table_open(relid, AccessShareLock);
	Trigger    *created = trigger_of(rel, trigger_oid);
	CaptureKind kind = created ? capture_kind_of(created->tgfoid) : CAPTURE_NONE;
	int			i;

	if (kind != CAPTURE_NONE)
	{
		capture_trigger_validate(rel, created, kind);
		for (i = 0; i < rel->trigdesc->numtriggers; i++)
		{
			Trigger    *other = &rel->trigdesc->triggers[i];

			if (other->tgoid != trigger_oid && capture_kind_of(other->tgfoid) != CAPTURE_NONE)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_OBJECT),
						 errmsg("%s: table \"%s\" already has the capture trigger \"%s\"",
								capture_function_name(kind), RelationGetRelationName(rel),
								other->tgname),
						 errdetail("Two capture triggers would capture every row twice."),
						 errhint("Drop trigger \"%s\" first, in the same transaction if the table is in use.",
								 other->tgname)));
		}
		capture_warn_uncaptured_descendants(rel, kind);
	}
	table_close(rel, AccessShareLock);
}

/*
 * A table an ALTER TABLE changed: its capture triggers must still fit it
 * (a column they name renamed, dropped or retyped fails the ALTER instead
 * of every later INSERT), and a disabled one leaves the table uncaptured.
 */
static void
recheck_altered_table(Oid relid)
{
	Relation	rel = table_open(relid, AccessShareLock);
	int			i;
	int			enabled = 0;
	Trigger    *disabled = NULL;

	for (i = 0; rel->trigdesc != NULL && i < rel->trigdesc->numtriggers; i++)
	{
		Trigger    *trigger = &rel->trigdesc->triggers[i];
		CaptureKind kind = capture_kind_of(trigger->tgfoid);

		if (kind == CAPTURE_NONE)
			continue;
		capture_trigger_validate(rel, trigger, kind);
		if (trigger->tgenabled == TRIGGER_DISABLED)
			disabled = trigger;
		else
			enabled++;
	}
	if (disabled != NULL && enabled == 0)
		ereport(WARNING,
				(errmsg("rows inserted into \"%s\" are no longer captured: its capture trigger \"%s\" is disabled",
						RelationGetRelationName(rel), disabled->tgname),
				 errhint("ALTER TABLE ... ENABLE TRIGGER \"%s\" to capture them again.",
						 disabled->tgname)));
	table_close(rel, AccessShareLock);
}

/*
 * durable_sink.check_capture_trigger() — event trigger function, fired ON
 * ddl_command_end WHEN TAG IN ('CREATE TRIGGER', 'CREATE SCHEMA',
 * 'ALTER TABLE').
 *
 * Checks a new durable_sink capture trigger when it is created — by CREATE
 * [CONSTRAINT] TRIGGER or inside CREATE SCHEMA — instead of at the
 * application's first INSERT: its declaration and arguments (42703, 42804,
 * 22023, 39P01, 0A000), and that the table has no other capture trigger
 * (42710), which would capture every row twice.  After ALTER TABLE it
 * checks the table's capture triggers again, so a change that would break
 * one fails, and warns when the table's only capture trigger is disabled.
 * Other commands cost one look at the commands' list.  Contract §15.
 */
Datum
durable_sink_check_capture_trigger(PG_FUNCTION_ARGS)
{
	List	   *trigger_tables = NIL;
	List	   *triggers = NIL;
	List	   *altered = NIL;
	ListCell   *lc1;
	ListCell   *lc2;
	uint64		i;
	int			rc;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("durable_sink.check_capture_trigger() must be called as an event trigger")));

	/* what the command created or altered, subcommands of CREATE SCHEMA included */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "durable_sink: SPI_connect failed");
	rc = SPI_execute("SELECT t.tgrelid, t.oid FROM pg_catalog.pg_event_trigger_ddl_commands() c "
					 "JOIN pg_catalog.pg_trigger t ON t.oid OPERATOR(pg_catalog.=) c.objid "
					 "WHERE c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::pg_catalog.regclass "
					 "UNION ALL "
					 "SELECT c.objid, 0 FROM pg_catalog.pg_event_trigger_ddl_commands() c "
					 "WHERE c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
					 "AND c.command_tag OPERATOR(pg_catalog.=) 'ALTER TABLE'",
					 false, 0);	/* not read-only: a fresh snapshot sees the new triggers */
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "durable_sink: pg_event_trigger_ddl_commands() failed: %s",
			 SPI_result_code_string(rc));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Oid			relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
														   SPI_tuptable->tupdesc, 1, &isnull));
		Oid			trigger_oid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
																 SPI_tuptable->tupdesc, 2, &isnull));

		if (OidIsValid(trigger_oid))
		{
			trigger_tables = lappend_oid(trigger_tables, relid);
			triggers = lappend_oid(triggers, trigger_oid);
		}
		else
			altered = list_append_unique_oid(altered, relid);
	}
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "durable_sink: SPI_finish failed");

	forboth(lc1, trigger_tables, lc2, triggers)
		check_new_trigger(lfirst_oid(lc1), lfirst_oid(lc2));
	foreach(lc1, altered)
		recheck_altered_table(lfirst_oid(lc1));
	PG_RETURN_VOID();
}

/* The normalization input of one raw row. */
static void
row_input(const CaptureConfig *config, TupleTableSlot *slot, NormalizeInput *input)
{
	input->event = slot_getattr(slot, config->event_att, &input->event_isnull);
	input->thread_id = slot_getattr(slot, config->thread_att, &input->thread_id_isnull);
	input->run_id = slot_getattr(slot, config->run_att, &input->run_id_isnull);
	input->origin = config->origin;
	input->origin_isnull = false;
	input->correlation_id_isnull = true;
	input->correlation_id = (Datum) 0;
	if (config->correlation_att != 0)
		input->correlation_id = slot_getattr(slot, config->correlation_att,
											 &input->correlation_id_isnull);
	input->resumed = false;
	input->resumed_isnull = false;
}

/* Announcement of the captured rows of one (thread_id, run_id). */
typedef struct StreamAnnouncement
{
	text	   *thread_id;		/* NULL when the column was NULL */
	text	   *run_id;
	int64		rows;
	int64		first_thread_seq;
	int64		last_thread_seq;
	int64		first_run_seq;
	int64		last_run_seq;
} StreamAnnouncement;

static void
announce_stream(const CaptureConfig *config, const StreamAnnouncement *a, bool with_counts)
{
	StringInfoData frame;

	/*
	 * The row trigger's frames carry no frame number: it relies on identical
	 * payloads being sent once per transaction (one per stream).
	 */
	if (with_counts)
		frame_begin(&frame, "capture");
	else
	{
		initStringInfo(&frame);
		frame_add_cstring(&frame, "source", "capture");
	}
	frame_add_cstring(&frame, "table", config->source.table);
	frame_add_text(&frame, "thread_id", a->thread_id);
	frame_add_text(&frame, "run_id", a->run_id);
	if (with_counts)
	{
		frame_add_int64(&frame, "rows", a->rows);
		if (a->first_thread_seq > 0)
		{
			frame_add_int64(&frame, "first_thread_seq", a->first_thread_seq);
			frame_add_int64(&frame, "last_thread_seq", a->last_thread_seq);
		}
		if (a->first_run_seq > 0)
		{
			frame_add_int64(&frame, "first_run_seq", a->first_run_seq);
			frame_add_int64(&frame, "last_run_seq", a->last_run_seq);
		}
	}
	announce_frame(&frame);
}

static void
check_trigger_event(TriggerData *td, const char *function, bool for_statement)
{
	if (!TRIGGER_FIRED_AFTER(td->tg_event) || !TRIGGER_FIRED_BY_INSERT(td->tg_event) ||
		(for_statement ? !TRIGGER_FIRED_FOR_STATEMENT(td->tg_event) :
		 !TRIGGER_FIRED_FOR_ROW(td->tg_event)))
		bad_trigger(function, for_statement ?
					"must be fired AFTER INSERT ... REFERENCING NEW TABLE AS ... FOR EACH STATEMENT" :
					"must be fired AFTER INSERT ... FOR EACH ROW");
	if (for_statement && td->tg_newtable == NULL)
		bad_trigger(function,
					"must be fired AFTER INSERT ... REFERENCING NEW TABLE AS ... FOR EACH STATEMENT");
}

static TriggerData *
trigger_data(FunctionCallInfo fcinfo, const char *function)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		bad_trigger(function, "must be called as a trigger");
	return (TriggerData *) fcinfo->context;
}

/* durable_sink.capture(): one raw row. */
Datum
durable_sink_capture(PG_FUNCTION_ARGS)
{
	const char *function = "durable_sink.capture()";
	TriggerData *td = trigger_data(fcinfo, function);
	CaptureConfig *config;
	TupleTableSlot *slot = td->tg_trigslot;
	NormalizeInput input;
	StoreBatch	batch;
	ErrorData  *rejection;
	StatsCall	call = {0};

	check_trigger_event(td, function, false);
	config = capture_config(fcinfo, td, CAPTURE_ROW);
	if (config->inactive)
		return PointerGetDatum(NULL);
	row_input(config, slot, &input);

	store_batch_init(&batch);
	if (sink_capture(&input, config->mode, config->builder, false, &batch, &rejection))
	{
		store_append(batch.rows, batch.count, NULL, NULL);
		call.normalized = 1;
		call.appended = batch.count;
	}
	else
	{
		sink_record_failure(&input, &config->source, rejection, true);
		call.rejected = 1;
	}

	if (config->announce)
	{
		/*
		 * The same payload for every row of a stream: NOTIFY sends identical
		 * payloads once per transaction, so a multi-row insert or COPY
		 * announces each stream once.
		 */
		StreamAnnouncement a = {0};

		a.thread_id = input.thread_id_isnull ? NULL : DatumGetTextPP(input.thread_id);
		a.run_id = input.run_id_isnull ? NULL : DatumGetTextPP(input.run_id);
		announce_stream(config, &a, false);
		call.announced = 1;
	}
	stats_count(STATS_CAPTURE, &call);
	return PointerGetDatum(NULL);
}

/*
 * The streams (thread_id, run_id) a statement captured, for its
 * announcements: a hash of the ids to the entries with that hash, and the
 * last entry found (consecutive rows mostly share their stream).
 */
typedef struct StreamTable
{
	HTAB	   *by_hash;
	List	   *all;			/* in first-seen order */
	StreamAnnouncement *last;
	MemoryContext context;
} StreamTable;

typedef struct StreamBucket
{
	uint32		hash;
	List	   *entries;
} StreamBucket;

static void
stream_table_init(StreamTable *table, MemoryContext context)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(uint32);
	ctl.entrysize = sizeof(StreamBucket);
	ctl.hcxt = context;
	table->by_hash = hash_create("durable_sink capture streams", 256, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	table->all = NIL;
	table->last = NULL;
	table->context = context;
}

static bool
stream_matches(const StreamAnnouncement *a, const text *thread_id, const text *run_id)
{
	return texts_equal(a->thread_id, thread_id) && texts_equal(a->run_id, run_id);
}

static uint32
stream_hash(const text *thread_id, const text *run_id)
{
	uint32		h = thread_id ? hash_bytes((const unsigned char *) VARDATA_ANY(thread_id),
										   VARSIZE_ANY_EXHDR(thread_id)) : 0;

	if (run_id)
		h = hash_combine(h, hash_bytes((const unsigned char *) VARDATA_ANY(run_id),
									   VARSIZE_ANY_EXHDR(run_id)));
	return h;
}

/* The announcement entry of a row's stream. */
static StreamAnnouncement *
stream_of(StreamTable *table, const NormalizeInput *input)
{
	text	   *thread_id = input->thread_id_isnull ? NULL : DatumGetTextPP(input->thread_id);
	text	   *run_id = input->run_id_isnull ? NULL : DatumGetTextPP(input->run_id);
	uint32		hash;
	StreamBucket *bucket;
	bool		found;
	ListCell   *lc;
	StreamAnnouncement *a;
	MemoryContext old;

	if (table->last != NULL && stream_matches(table->last, thread_id, run_id))
		return table->last;
	hash = stream_hash(thread_id, run_id);
	bucket = hash_search(table->by_hash, &hash, HASH_ENTER, &found);
	if (!found)
		bucket->entries = NIL;
	foreach(lc, bucket->entries)
	{
		a = lfirst(lc);
		if (stream_matches(a, thread_id, run_id))
			return table->last = a;
	}
	old = MemoryContextSwitchTo(table->context);
	a = palloc0(sizeof(StreamAnnouncement));
	a->thread_id = thread_id ? DatumGetTextPCopy(PointerGetDatum(thread_id)) : NULL;
	a->run_id = run_id ? DatumGetTextPCopy(PointerGetDatum(run_id)) : NULL;
	bucket->entries = lappend(bucket->entries, a);
	table->all = lappend(table->all, a);
	MemoryContextSwitchTo(old);
	return table->last = a;
}

static void
note_seqs(StreamAnnouncement *a, const StoreRow *rows, int from, int to)
{
	int			i;

	for (i = from; i < to; i++)
	{
		if (rows[i].thread_seq > 0)
		{
			if (a->first_thread_seq == 0)
				a->first_thread_seq = rows[i].thread_seq;
			a->last_thread_seq = rows[i].thread_seq;
		}
		if (rows[i].run_seq > 0)
		{
			if (a->first_run_seq == 0)
				a->first_run_seq = rows[i].run_seq;
			a->last_run_seq = rows[i].run_seq;
		}
	}
}

/* Append the pending rows; returns how many. */
static int
flush_batch(PendingBatch *pending)
{
	int			i;

	store_append(pending->batch.rows, pending->batch.count, NULL, NULL);
	for (i = 0; i < pending->batch.count; i++)
		note_seqs(pending->stream_of_row[i], pending->batch.rows, i, i + 1);
	return pending->batch.count;
}

static void
pending_reset(CaptureRun *run)
{
	MemoryContextReset(run->batch_context);
	store_batch_init(&run->pending.batch);
	run->pending.capacity = 0;
	run->pending.stream_of_row = NULL;
}

/*
 * Start capturing rows in order with config: the work of the statement
 * trigger, shared with the backfill (backfill.c).  Everything the run
 * allocates lives in a context of its own under the current one, deleted by
 * capture_run_end.
 */
void
capture_run_begin(CaptureRun *run, CaptureConfig *config)
{
	run->config = config;
	run->context = AllocSetContextCreate(CurrentMemoryContext, "durable_sink capture run",
										 ALLOCSET_DEFAULT_SIZES);
	run->batch_context = AllocSetContextCreate(run->context, "durable_sink capture batch",
											   ALLOCSET_DEFAULT_SIZES);
	run->streams = MemoryContextAlloc(run->context, sizeof(StreamTable));
	stream_table_init(run->streams, run->context);
	run->rows = 0;
	run->rejected = 0;
	run->appended = 0;
	run->unflushed = 0;
	pending_reset(run);
}

/*
 * Capture one raw row (its columns at config's attribute numbers in slot):
 * normalize it, stage what the mode keeps, record it in capture_failures if
 * the normalizer rejects it.  Appends every CAPTURE_BATCH_ROWS raw rows.
 */
void
capture_run_row(CaptureRun *run, TupleTableSlot *slot)
{
	PendingBatch *pending = &run->pending;
	MemoryContext old;
	NormalizeInput input;
	ErrorData  *rejection;
	StreamAnnouncement *stream;
	int			before = pending->batch.count;
	int			i;

	CHECK_FOR_INTERRUPTS();
	old = MemoryContextSwitchTo(run->batch_context);
	row_input(run->config, slot, &input);
	stream = stream_of(run->streams, &input);
	stream->rows++;
	run->rows++;
	if (!sink_capture(&input, run->config->mode, run->config->builder, true, &pending->batch,
					  &rejection))
	{
		sink_record_failure(&input, &run->config->source, rejection, false);
		run->rejected++;
	}
	if (pending->batch.count > pending->capacity)
	{
		pending->capacity = pending->batch.capacity;
		pending->stream_of_row = pending->stream_of_row ?
			repalloc(pending->stream_of_row, sizeof(void *) * pending->capacity) :
			palloc(sizeof(void *) * pending->capacity);
	}
	for (i = before; i < pending->batch.count; i++)
		pending->stream_of_row[i] = stream;
	MemoryContextSwitchTo(old);

	if (++run->unflushed == CAPTURE_BATCH_ROWS)
	{
		run->appended += flush_batch(pending);
		pending_reset(run);
		run->unflushed = 0;
	}
}

/*
 * Append what is staged, warn about the rejected rows ("N of M events
 * <what> <table> were not captured"), announce each stream once, count the
 * run for entry_point (durable_sink.stats), and free the run's memory.
 */
void
capture_run_end(CaptureRun *run, const char *what, StatsEntryPoint entry_point)
{
	ListCell   *lc;
	StatsCall	call = {0};

	run->appended += flush_batch(&run->pending);
	if (run->rejected > 0)
		ereport(WARNING,
				(errmsg("durable_sink: " INT64_FORMAT " of " INT64_FORMAT " events %s %s were not captured",
						run->rejected, run->rows, what, run->config->source.table),
				 errdetail("They are recorded in durable_sink.capture_failures.")));
	if (run->config->announce)
	{
		foreach(lc, run->streams->all)
			announce_stream(run->config, lfirst(lc), true);
		call.announced = list_length(run->streams->all);
	}
	call.normalized = run->rows - run->rejected;
	call.rejected = run->rejected;
	call.appended = run->appended;
	stats_count(entry_point, &call);
	MemoryContextDelete(run->context);
	run->context = NULL;
}

/*
 * The next row of the transition table.  A spilled tuplestore reads rows
 * into fresh memory that the slot frees on the next fetch: read them in the
 * trigger's context, which outlives the batch context's resets.
 */
static bool
next_new_row(Tuplestorestate *rows, TupleTableSlot *slot, MemoryContext context)
{
	MemoryContext old = MemoryContextSwitchTo(context);
	bool		found = tuplestore_gettupleslot(rows, true, false, slot);

	MemoryContextSwitchTo(old);
	return found;
}

/* durable_sink.capture_statement(): every row of the statement, in order. */
Datum
durable_sink_capture_statement(PG_FUNCTION_ARGS)
{
	const char *function = "durable_sink.capture_statement()";
	TriggerData *td = trigger_data(fcinfo, function);
	CaptureConfig *config;
	TupleTableSlot *slot;
	CaptureRun	run;

	check_trigger_event(td, function, true);
	config = capture_config(fcinfo, td, CAPTURE_STATEMENT);
	if (config->inactive)
		return PointerGetDatum(NULL);
	slot = MakeSingleTupleTableSlot(RelationGetDescr(td->tg_relation), &TTSOpsMinimalTuple);

	capture_run_begin(&run, config);
	tuplestore_rescan(td->tg_newtable);
	while (next_new_row(td->tg_newtable, slot, CurrentMemoryContext))
		capture_run_row(&run, slot);
	capture_run_end(&run, "inserted into", STATS_CAPTURE_STATEMENT);
	ExecDropSingleTupleTableSlot(slot);
	return PointerGetDatum(NULL);
}
