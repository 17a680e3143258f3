/*
 * capture_partitions.c
 *     Capture of partitioned tables and inheritance trees (contract §15).
 *
 * A statement trigger fires only for statements that name its own table.
 * An INSERT or COPY into a partitioned table fires the partitioned table's
 * AFTER INSERT statement triggers, whose transition table holds the rows
 * routed to every partition, and not the partitions' own; one straight into
 * a partition (at any level) fires only that partition's.  With
 * inheritance, an INSERT into the parent inserts into the parent only, and
 * one into a child fires only the child's.  So a tree is captured, each
 * row exactly once, when every table in it has one capture trigger:
 *
 *   durable_sink.capture_table()          puts one on every table of a tree
 *   durable_sink.uncapture_table()        removes them
 *   durable_sink.capture_new_partitions() event trigger: a table that
 *       becomes a partition or inheritance child of a captured table gets
 *       the capture trigger of its nearest captured ancestor
 *   capture_warn_uncaptured_descendants() CREATE TRIGGER of a capture
 *       trigger warns about partitions and children left without one
 *
 * Whether a table is captured, and how, is read from its capture trigger:
 * there is no registry to keep in step, and pg_dump restores it with the
 * triggers.
 */
#include "postgres.h"

#include "utils/acl.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_trigger.h"
#include "commands/event_trigger.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "capture.h"

PG_FUNCTION_INFO_V1(durable_sink_capture_table);
PG_FUNCTION_INFO_V1(durable_sink_uncapture_table);
PG_FUNCTION_INFO_V1(durable_sink_capture_new_partitions);
PG_FUNCTION_INFO_V1(durable_sink_check_dropped_capture_trigger);

/* What capture_table() creates. */
#define CAPTURE_TABLE_TRIGGER	"durable_sink_capture"
#define CAPTURE_TABLE_NEW_ROWS	"durable_sink_new_rows"

/* A capture trigger's definition: enough to create it on another table. */
typedef struct CaptureDefinition
{
	CaptureKind kind;
	char	   *name;
	char	   *new_table;		/* statement triggers: the transition table */
	int			nargs;
	char	  **args;
	bool		has_condition;	/* declared with WHEN (...) */
	Oid			table;			/* the table it is on; InvalidOid: none yet */
} CaptureDefinition;

/*
 * True while this file creates capture triggers: a tree is covered table by
 * table, so CREATE TRIGGER on one of them must not warn about the others.
 */
static bool creating_capture_triggers = false;

static char *
qualified_name(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

static const char *
child_noun(Oid relid)
{
	return get_rel_relispartition(relid) ? "partition" : "inheritance child";
}

/* The direct parents of relid (pg_inherits), in inhseqno order. */
static List *
direct_parents(Oid relid)
{
	Relation	inherits = table_open(InheritsRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	List	   *parents = NIL;

	ScanKeyInit(&key, Anum_pg_inherits_inhrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(inherits, InheritsRelidSeqnoIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
		parents = lappend_oid(parents, ((Form_pg_inherits) GETSTRUCT(tuple))->inhparent);
	systable_endscan(scan);
	table_close(inherits, AccessShareLock);
	return parents;
}

/*
 * The names of relid's capture triggers, read from the catalog without
 * opening the relation; only the enabled ones (those capturing_trigger()
 * considers) if enabled_only.
 */
static List *
capture_trigger_names(Oid relid, bool enabled_only)
{
	Relation	triggers = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	List	   *names = NIL;

	ScanKeyInit(&key, Anum_pg_trigger_tgrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(triggers, TriggerRelidNameIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_trigger trigger = (Form_pg_trigger) GETSTRUCT(tuple);

		if ((!enabled_only || trigger->tgenabled != TRIGGER_DISABLED) &&
			capture_kind_of(trigger->tgfoid) != CAPTURE_NONE)
			names = lappend(names, pstrdup(NameStr(trigger->tgname)));
	}
	systable_endscan(scan);
	table_close(triggers, AccessShareLock);
	return names;
}

static bool
relation_is_captured(Oid relid)
{
	return capture_trigger_names(relid, true) != NIL;
}

/* The definition of relid's capturing trigger, or NULL. */
static CaptureDefinition *
capture_definition_of(Oid relid)
{
	Relation	rel = table_open(relid, AccessShareLock);
	Trigger    *trigger = capturing_trigger(rel);
	CaptureDefinition *def = NULL;
	int			i;

	if (trigger != NULL)
	{
		def = palloc0(sizeof(CaptureDefinition));
		def->kind = capture_kind_of(trigger->tgfoid);
		def->name = pstrdup(trigger->tgname);
		def->new_table = trigger->tgnewtable ? pstrdup(trigger->tgnewtable) : NULL;
		def->nargs = trigger->tgnargs;
		def->args = palloc(sizeof(char *) * Max(trigger->tgnargs, 1));
		for (i = 0; i < trigger->tgnargs; i++)
			def->args[i] = pstrdup(trigger->tgargs[i]);
		def->has_condition = trigger->tgqual != NULL;
		def->table = relid;
	}
	table_close(rel, AccessShareLock);
	return def;
}

/*
 * The capture trigger of relid's nearest captured ancestor (breadth first
 * over pg_inherits, parents in inhseqno order), or NULL.
 */
static CaptureDefinition *
captured_ancestor(Oid relid)
{
	List	   *queue = direct_parents(relid);
	int			i;

	for (i = 0; i < list_length(queue); i++)
	{
		Oid			ancestor = list_nth_oid(queue, i);
		CaptureDefinition *def = capture_definition_of(ancestor);

		if (def != NULL)
			return def;
		queue = list_concat(queue, direct_parents(ancestor));
	}
	return NULL;
}

/* Run one DDL statement through SPI (the caller is connected). */
static void
run_ddl(const char *sql)
{
	int			rc = SPI_execute(sql, false, 0);

	if (rc != SPI_OK_UTILITY)
		elog(ERROR, "durable_sink: \"%s\" failed: %s", sql, SPI_result_code_string(rc));
}

static void
capture_ddl_context(void *arg)
{
	errcontext("%s", (const char *) arg);
}

/*
 * Run DDL that creates or drops capture triggers, with context saying why,
 * and without the uncovered-descendants warning of the CREATE TRIGGERs.
 */
static void
run_capture_ddl(const char *sql, const char *context)
{
	ErrorContextCallback callback;
	bool		was_creating = creating_capture_triggers;

	callback.callback = capture_ddl_context;
	callback.arg = (void *) context;
	callback.previous = error_context_stack;
	error_context_stack = &callback;
	creating_capture_triggers = true;
	PG_TRY();
	{
		run_ddl(sql);
	}
	PG_FINALLY();
	{
		creating_capture_triggers = was_creating;
	}
	PG_END_TRY();
	error_context_stack = callback.previous;
}

/* CREATE TRIGGER def ON relid. */
static void
create_capture_trigger(Oid relid, const CaptureDefinition *def, const char *context)
{
	StringInfoData sql;
	int			i;

	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE TRIGGER %s AFTER INSERT ON %s ",
					 quote_identifier(def->name), qualified_name(relid));
	if (def->kind == CAPTURE_STATEMENT)
		appendStringInfo(&sql, "REFERENCING NEW TABLE AS %s FOR EACH STATEMENT "
						 "EXECUTE FUNCTION durable_sink.capture_statement(",
						 quote_identifier(def->new_table));
	else
		appendStringInfoString(&sql, "FOR EACH ROW EXECUTE FUNCTION durable_sink.capture(");
	for (i = 0; i < def->nargs; i++)
		appendStringInfo(&sql, "%s%s", i > 0 ? ", " : "", quote_literal_cstr(def->args[i]));
	appendStringInfoChar(&sql, ')');
	run_capture_ddl(sql.data, context);
}

/* Drop every capture trigger of relid; whether there was one. */
static bool
drop_capture_triggers(Oid relid, const char *context)
{
	List	   *names = capture_trigger_names(relid, false);
	ListCell   *lc;

	foreach(lc, names)
		run_capture_ddl(psprintf("DROP TRIGGER %s ON %s", quote_identifier(lfirst(lc)),
								 qualified_name(relid)),
						context);
	return names != NIL;
}

/* A table the helpers accept: an ordinary or partitioned table. */
static void
check_table_kind(Relation rel, const char *function)
{
	char		relkind = rel->rd_rel->relkind;

	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s: \"%s\" is not a table or partitioned table", function,
						RelationGetRelationName(rel))));
}

/*
 * A foreign table cannot have a statement trigger with a transition table:
 * refuse to make it a member of a captured tree (0A000), whose rows it
 * would take without capturing them.
 */
static void
check_capturable(Oid member, const CaptureDefinition *def, Oid captured)
{
	if (def->kind == CAPTURE_STATEMENT && get_rel_relkind(member) == RELKIND_FOREIGN_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("durable_sink: foreign table \"%s\" cannot be a %s of captured table \"%s\"",
						get_rel_name(member), child_noun(member), get_rel_name(captured)),
				 errdetail("Rows inserted directly into it could not be captured: triggers on "
						   "foreign tables cannot have transition tables.")));
}

/*
 * The definition capture_table() puts on every table, from its arguments;
 * errors name the argument (22004) as the SQL function's declaration does.
 */
static CaptureDefinition *
capture_table_definition(FunctionCallInfo fcinfo)
{
	static const char *const names[] = {
		"raw_table", "event_column", "thread_id_column", "run_id_column", "origin",
		"mode", "correlation_id_column", "announce"
	};
	CaptureDefinition *def = palloc0(sizeof(CaptureDefinition));
	int			i;

	for (i = 0; i < (int) lengthof(names); i++)
		if (i != 6 && PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("durable_sink.capture_table(): %s must not be null", names[i])));
	def->kind = CAPTURE_STATEMENT;
	def->name = CAPTURE_TABLE_TRIGGER;
	def->new_table = CAPTURE_TABLE_NEW_ROWS;
	def->nargs = 7;
	def->args = palloc(sizeof(char *) * def->nargs);
	for (i = 0; i < 4; i++)
		def->args[i] = text_to_cstring(PG_GETARG_TEXT_PP(i + 1));
	def->args[4] = DatumGetCString(DirectFunctionCall1(enum_out, PG_GETARG_DATUM(5)));
	def->args[5] = PG_ARGISNULL(6) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(6));
	def->args[6] = PG_GETARG_BOOL(7) ? "true" : "false";
	return def;
}

/* Check def against rel as CREATE TRIGGER would, naming rel in errors. */
static void
validate_definition(Relation rel, const CaptureDefinition *def)
{
	Trigger		trigger = {0};

	trigger.tgname = def->name;
	trigger.tgtype = TRIGGER_TYPE_INSERT | (def->kind == CAPTURE_ROW ? TRIGGER_TYPE_ROW : 0);
	trigger.tgenabled = TRIGGER_FIRES_ON_ORIGIN;
	trigger.tgnewtable = def->new_table;
	trigger.tgnargs = def->nargs;
	trigger.tgargs = def->args;
	capture_trigger_validate(rel, &trigger, def->kind);
}

/*
 * The caller must be allowed to create triggers on the table (CREATE and
 * DROP TRIGGER check the same, but only after locking it).
 */
static void
require_trigger_privilege(Oid relid)
{
	AclResult	result = pg_class_aclcheck(relid, GetUserId(), ACL_TRIGGER);

	if (result != ACLCHECK_OK)
		aclcheck_error(result, get_relkind_objtype(get_rel_relkind(relid)),
					   get_rel_name(relid));
}

/*
 * durable_sink.capture_table(raw_table regclass, event_column text,
 *     thread_id_column text, run_id_column text, origin text,
 *     mode durable_sink.durability DEFAULT 'compacted',
 *     correlation_id_column text DEFAULT NULL, announce boolean DEFAULT true)
 *     RETURNS SETOF regclass
 *
 * Puts the statement capture trigger "durable_sink_capture" (transition
 * table "durable_sink_new_rows") with these arguments on raw_table and on
 * every partition or inheritance child of it at every level, replacing any
 * capture trigger they had, and returns the tables, raw_table first, then
 * level by level.  Tables that become partitions or children later get it
 * from the event trigger below.  Locks the tree against writes (SHARE ROW
 * EXCLUSIVE) until the transaction ends.  Errors: 22004 a NULL argument
 * other than correlation_id_column; 42809 raw_table is not a table or
 * partitioned table; 42703, 42804, 22023 bad arguments, as CREATE TRIGGER
 * (contract §15); 0A000 a member is a foreign table (it cannot have a
 * transition table); CREATE TRIGGER's own errors (permissions, a trigger
 * of that name that is no capture trigger), with a context line naming
 * the table.  Contract §15.
 */
Datum
durable_sink_capture_table(PG_FUNCTION_ARGS)
{
	CaptureDefinition *def = capture_table_definition(fcinfo);
	Oid			relid = PG_GETARG_OID(0);
	Relation	rel;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *members;
	ListCell   *lc;

	/* privileges first: never lock a table the caller may not change */
	require_trigger_privilege(relid);
	rel = table_open(relid, ShareRowExclusiveLock);
	check_table_kind(rel, "durable_sink.capture_table()");
	validate_definition(rel, def);
	table_close(rel, NoLock);
	members = find_all_inheritors(relid, ShareRowExclusiveLock, NULL);
	foreach(lc, members)
		check_capturable(lfirst_oid(lc), def, relid);

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "durable_sink: SPI_connect failed");
	foreach(lc, members)
	{
		Oid			member = lfirst_oid(lc);
		char	   *context = psprintf("durable_sink.capture_table(): capturing %s", qualified_name(member));
		Datum		value = ObjectIdGetDatum(member);
		bool		isnull = false;

		CHECK_FOR_INTERRUPTS();
		drop_capture_triggers(member, context);
		create_capture_trigger(member, def, context);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
	}
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "durable_sink: SPI_finish failed");
	return (Datum) 0;
}

/*
 * durable_sink.uncapture_table(raw_table regclass) RETURNS SETOF regclass
 *
 * Drops every capture trigger (capture() or capture_statement(), whatever
 * its name) of raw_table and of its partitions or inheritance children at
 * every level, and returns the tables that had one.  Errors: 22004 NULL;
 * 42809 not a table or partitioned table; 55000 raw_table is a partition or
 * inheritance child of a captured table (uncapture that one, or detach
 * raw_table first): rows inserted straight into it would no longer be
 * captured.  Contract §15.
 */
Datum
durable_sink_uncapture_table(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Relation	rel;
	CaptureDefinition *ancestor;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *members;
	ListCell   *lc;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("durable_sink.uncapture_table(): raw_table must not be null")));
	relid = PG_GETARG_OID(0);
	/* privileges first: never lock a table the caller may not change */
	require_trigger_privilege(relid);
	rel = table_open(relid, AccessExclusiveLock);
	check_table_kind(rel, "durable_sink.uncapture_table()");
	table_close(rel, NoLock);
	ancestor = captured_ancestor(relid);
	if (ancestor != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("durable_sink.uncapture_table(): %s \"%s\" of captured table \"%s\" must stay captured",
						child_noun(relid), get_rel_name(relid), get_rel_name(ancestor->table)),
				 errdetail("Rows inserted directly into it would not be captured."),
				 errhint("Uncapture \"%s\", or detach \"%s\" first.",
						 get_rel_name(ancestor->table), get_rel_name(relid))));
	members = find_all_inheritors(relid, AccessExclusiveLock, NULL);

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "durable_sink: SPI_connect failed");
	foreach(lc, members)
	{
		Oid			member = lfirst_oid(lc);
		Datum		value = ObjectIdGetDatum(member);
		bool		isnull = false;

		CHECK_FOR_INTERRUPTS();
		if (drop_capture_triggers(member,
								  psprintf("durable_sink.uncapture_table(): uncapturing %s",
										   qualified_name(member))))
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
	}
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "durable_sink: SPI_finish failed");
	return (Datum) 0;
}

/*
 * A table that joins a captured tree with a capture trigger of its own
 * keeps it, unless it is capture()'s and the table is now a partition:
 * capture() refuses to fire on partitions (0A000), so every INSERT into it
 * would fail.  Refuse the command instead.
 */
static void
check_own_trigger(Oid member)
{
	CaptureDefinition *own = capture_definition_of(member);

	if (own != NULL && own->kind == CAPTURE_ROW && get_rel_relispartition(member))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("durable_sink.capture(): cannot capture a partitioned table or a partition of one"),
				 errdetail("Table \"%s\" has the row capture trigger \"%s\".",
						   get_rel_name(member), own->name),
				 errhint("Drop trigger \"%s\" first: the partition gets the capture trigger of its parent.",
						 own->name)));
}

/*
 * Give relid, and every partition or inheritance child of it at every
 * level, that has no capture trigger the capture trigger of its nearest
 * captured ancestor.  Nothing when relid has no captured ancestor.
 */
static void
capture_new_member(Oid relid)
{
	List	   *members;
	ListCell   *lc;

	char		relkind = get_rel_relkind(relid);

	if ((relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE &&
		 relkind != RELKIND_FOREIGN_TABLE) || captured_ancestor(relid) == NULL)
		return;
	members = find_all_inheritors(relid, ShareRowExclusiveLock, NULL);
	foreach(lc, members)
	{
		Oid			member = lfirst_oid(lc);
		CaptureDefinition *def;

		CHECK_FOR_INTERRUPTS();
		if (relation_is_captured(member))
		{
			check_own_trigger(member);
			continue;
		}
		if ((def = captured_ancestor(member)) == NULL)
			continue;
		check_capturable(member, def, def->table);
		if (def->has_condition)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("durable_sink: cannot give %s \"%s\" the capture trigger \"%s\" of \"%s\": it has a WHEN condition",
							child_noun(member), get_rel_name(member), def->name,
							get_rel_name(def->table)),
					 errdetail("Rows inserted directly into \"%s\" would not be captured.",
							   get_rel_name(member)),
					 errhint("Create the table on its own, give it a capture trigger, then attach it.")));
		create_capture_trigger(member, def,
							   psprintf("durable_sink: giving %s %s the capture trigger \"%s\" of %s",
										child_noun(member), qualified_name(member), def->name,
										qualified_name(def->table)));
	}
}

/* Whether a statement can create a partition or inheritance child. */
static bool
creates_children(Node *node)
{
	ListCell   *lc;

	if (IsA(node, CreateStmt))
		return ((CreateStmt *) node)->inhRelations != NIL;
	if (IsA(node, CreateForeignTableStmt))
		return ((CreateForeignTableStmt *) node)->base.inhRelations != NIL;
	if (IsA(node, CreateSchemaStmt))
	{
		foreach(lc, ((CreateSchemaStmt *) node)->schemaElts)
			if (creates_children(lfirst(lc)))
				return true;
	}
	return false;
}

/* The tables the command that fires the event trigger created (SPI). */
static List *
created_tables(void)
{
	List	   *tables = NIL;
	uint64		i;
	int			rc;

	rc = SPI_execute("SELECT c.objid FROM pg_catalog.pg_event_trigger_ddl_commands() c "
					 "WHERE c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
					 "AND c.objsubid OPERATOR(pg_catalog.=) 0 "
					 "AND c.command_tag OPERATOR(pg_catalog.=) "
					 "ANY ('{CREATE TABLE,CREATE FOREIGN TABLE}'::pg_catalog.text[])",
					 true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "durable_sink: pg_event_trigger_ddl_commands() failed: %s",
			 SPI_result_code_string(rc));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		objid = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			tables = lappend_oid(tables, DatumGetObjectId(objid));
	}
	return tables;
}

/*
 * The tables an ALTER TABLE made partitions (ATTACH PARTITION) or
 * inheritance children (INHERIT).  PostgreSQL resolved the same names the
 * same way when it ran the command.
 */
static List *
altered_tables(AlterTableStmt *stmt)
{
	List	   *tables = NIL;
	ListCell   *lc;

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);
		Oid			child = InvalidOid;

		if (cmd->subtype == AT_AttachPartition)
			child = RangeVarGetRelid(((PartitionCmd *) cmd->def)->name, NoLock, true);
		else if (cmd->subtype == AT_AddInherit)
			child = RangeVarGetRelid(stmt->relation, NoLock, true);
		if (OidIsValid(child))
			tables = list_append_unique_oid(tables, child);
	}
	return tables;
}

/*
 * durable_sink.capture_new_partitions() — event trigger function, fired ON
 * ddl_command_end WHEN TAG IN ('CREATE TABLE', 'CREATE FOREIGN TABLE',
 * 'CREATE SCHEMA', 'ALTER TABLE', 'ALTER FOREIGN TABLE').
 *
 * A table that the command made a partition or inheritance child of a
 * captured table (CREATE TABLE ... PARTITION OF / INHERITS, ALTER TABLE ...
 * ATTACH PARTITION / INHERIT), and every partition or child of it that has
 * no capture trigger, gets the capture trigger of its nearest captured
 * ancestor: same name, kind and arguments.  A table that has one keeps it
 * (0A000 if it is capture()'s and the table is now a partition).  When
 * that is impossible the command fails: 0A000 when the table is a
 * foreign table (it cannot have a transition table) or the ancestor's
 * trigger has a WHEN condition; CREATE TRIGGER's errors otherwise (the
 * caller needs EXECUTE on the capture function), with a context line.  The CREATE TRIGGER it
 * runs fires only the CREATE TRIGGER event trigger.  Other commands cost a
 * look at the parse tree.  Contract §15.
 */
Datum
durable_sink_capture_new_partitions(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	Node	   *command;
	bool		creates;
	List	   *tables = NIL;
	ListCell   *lc;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("durable_sink.capture_new_partitions() must be called as an event trigger")));
	trigdata = (EventTriggerData *) fcinfo->context;
	command = trigdata->parsetree;
	if (command == NULL)
		PG_RETURN_VOID();
	creates = creates_children(command);
	if (IsA(command, AlterTableStmt))
		tables = altered_tables((AlterTableStmt *) command);
	if (!creates && tables == NIL)
		PG_RETURN_VOID();

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "durable_sink: SPI_connect failed");
	if (creates)
		tables = created_tables();
	foreach(lc, tables)
		capture_new_member(lfirst_oid(lc));
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "durable_sink: SPI_finish failed");
	PG_RETURN_VOID();
}

/*
 * At CREATE TRIGGER of a capture trigger on rel (durable_sink_check_capture_trigger):
 * warn when a partition or inheritance child of rel, at any level, has no
 * capture trigger, since rows inserted straight into it are not captured.
 * A warning rather than an error: pg_dump restores the triggers of a tree
 * one by one, in an order of its own.
 */
void
capture_warn_uncaptured_descendants(Relation rel, CaptureKind kind)
{
	List	   *members;
	ListCell   *lc;
	int			uncaptured = 0;
	Oid			first = InvalidOid;

	if (creating_capture_triggers || !rel->rd_rel->relhassubclass)
		return;
	members = find_all_inheritors(RelationGetRelid(rel), AccessShareLock, NULL);
	for_each_from(lc, members, 1)
	{
		Oid			member = lfirst_oid(lc);

		CHECK_FOR_INTERRUPTS();
		if (!relation_is_captured(member) && uncaptured++ == 0)
			first = member;
	}
	if (uncaptured == 0)
		return;
	ereport(WARNING,
			(errmsg("%s: rows inserted directly into %s \"%s\" of \"%s\" will not be captured",
					capture_function_name(kind), child_noun(first), get_rel_name(first),
					RelationGetRelationName(rel)),
			 errdetail_plural("%d of its %d %s has no capture trigger; a capture trigger "
							  "fires only for INSERT and COPY statements naming its own table.",
							  "%d of its %d %s have no capture trigger; a capture trigger "
							  "fires only for INSERT and COPY statements naming its own table.",
							  uncaptured, uncaptured, list_length(members) - 1,
							  rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE ?
							  "partitions" : "inheritance children"),
			 errhint("Capture the whole tree with durable_sink.capture_table('%s', ...), "
					 "which also captures the partitions and inheritance children added later.",
					 quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
												RelationGetRelationName(rel)))));
}

/*
 * durable_sink.check_dropped_capture_trigger() — event trigger function,
 * fired ON sql_drop WHEN TAG IN ('DROP TRIGGER').
 *
 * A partition or inheritance child of a captured table that loses its
 * capture trigger no longer captures the rows written straight into it:
 * warn, naming the table and the captured ancestor.  (A warning, not an
 * error: dropping a trigger is a deliberate act, and re-creating a tree's
 * triggers goes through it.)  Contract §15.
 */
Datum
durable_sink_check_dropped_capture_trigger(PG_FUNCTION_ARGS)
{
	List	   *tables = NIL;
	ListCell   *lc;
	uint64		i;
	int			rc;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("durable_sink.check_dropped_capture_trigger() must be called as an event trigger")));
	/* capture_table() and uncapture_table() replace or remove them on purpose */
	if (creating_capture_triggers)
		PG_RETURN_VOID();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "durable_sink: SPI_connect failed");
	/* a dropped trigger's address names are (schema, table, trigger) */
	rc = SPI_execute("SELECT pg_catalog.to_regclass(pg_catalog.quote_ident(d.address_names[1]) "
					 "       OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) "
					 "       pg_catalog.quote_ident(d.address_names[2]))::pg_catalog.oid "
					 "FROM pg_catalog.pg_event_trigger_dropped_objects() d "
					 "WHERE d.object_type OPERATOR(pg_catalog.=) 'trigger'",
					 true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "durable_sink: pg_event_trigger_dropped_objects() failed: %s",
			 SPI_result_code_string(rc));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		relid = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			tables = list_append_unique_oid(tables, DatumGetObjectId(relid));
	}
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "durable_sink: SPI_finish failed");

	foreach(lc, tables)
	{
		Oid			relid = lfirst_oid(lc);
		CaptureDefinition *ancestor;

		if (relation_is_captured(relid))
			continue;
		ancestor = captured_ancestor(relid);
		if (ancestor != NULL)
			ereport(WARNING,
					(errmsg("rows inserted directly into %s \"%s\" of captured table \"%s\" are no longer captured",
							child_noun(relid), get_rel_name(relid), get_rel_name(ancestor->table)),
					 errdetail("Its capture trigger was dropped; a capture trigger fires only for "
							   "INSERT and COPY statements naming its own table."),
					 errhint("Capture the whole tree again with durable_sink.capture_table('%s', ...).",
							 qualified_name(ancestor->table))));
	}
	PG_RETURN_VOID();
}
