/*
 * state_access.h
 *     Saved SPI plans over the extension's state tables, run as the
 *     extension owner.
 */
#ifndef DURABLE_SINK_STATE_ACCESS_H
#define DURABLE_SINK_STATE_ACCESS_H

#include "postgres.h"

#include "executor/spi.h"

#define STATE_PLAN_MAX_ARGS 8

/* One statement, prepared on first use and kept for the backend's life. */
typedef struct StatePlan
{
	const char *sql;
	int			nargs;
	Oid			argtypes[STATE_PLAN_MAX_ARGS];
	SPIPlanPtr	plan;
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
extern Datum state_result_value(int column, bool *isnull);

#endif							/* DURABLE_SINK_STATE_ACCESS_H */
