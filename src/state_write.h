/*
 * state_write.h
 *     Writing rows of the extension's own tables without SPI or a plan.
 */
#ifndef DURABLE_SINK_STATE_WRITE_H
#define DURABLE_SINK_STATE_WRITE_H

#include "postgres.h"

#include "access/htup.h"
#include "executor/tuptable.h"
#include "nodes/execnodes.h"
#include "utils/relcache.h"

/*
 * An open table of the extension, ready for inserts and updates: the
 * relation (RowExclusiveLock), its indexes and a slot holding the row being
 * built.  Opened and closed around one operation.
 */
typedef struct StateWriter
{
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *target;
	TupleTableSlot *slot;
	TupleTableSlot **batch;		/* slots of a multi-row insert, made on demand */
	int			batch_slots;
	TupleDesc	batch_desc;		/* their descriptor, a copy: no pin per slot */
} StateWriter;

/* Rows per table_multi_insert call (COPY uses the same bound). */
#define STATE_WRITER_BATCH 1000

/*
 * Fills the values of row number row of a multi-row insert, in the order
 * of the columns the caller named (state_writer_insert_rows).
 */
typedef void (*StateRowFiller) (int row, Datum *values, bool *nulls, void *arg);

extern void state_writer_open(StateWriter *w, const char *table);
extern void state_writer_close(StateWriter *w);
extern bool state_writer_plain(StateWriter *w);
extern int	state_writer_live_columns(StateWriter *w);
extern void state_writer_new_row(StateWriter *w, HeapTuple base);
extern void state_writer_new_row_at(StateWriter *w, ItemPointer tid);
extern AttrNumber state_writer_column(StateWriter *w, const char *column);
extern int64 state_writer_set_identity(StateWriter *w, const char *column);
extern void state_writer_set(StateWriter *w, const char *column, Datum value, bool isnull);
extern void state_writer_insert(StateWriter *w);
extern void state_writer_update(StateWriter *w, ItemPointer otid);
extern void state_writer_insert_rows(StateWriter *w, int count, const AttrNumber *attnums,
									 int ncolumns, StateRowFiller fill, void *arg,
									 struct Tuplestorestate *result);

#endif							/* DURABLE_SINK_STATE_WRITE_H */
