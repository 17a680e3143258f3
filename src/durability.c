/*
 * durability.c
 *     Contract §10: the durability modes and what each one keeps — the one
 *     place the rule lives.  The sink (emit, the capture triggers) asks
 *     durability_keeps; SQL asks durable_sink.should_persist, which is this
 *     same function; trigger arguments name a mode by its label.
 */
#include "postgres.h"

#include "fmgr.h"

#include "draft.h"
#include "durable_sink.h"

PG_FUNCTION_INFO_V1(durable_sink_should_persist);

/* The labels of enum durable_sink.durability, in declaration order. */
const char *const durability_labels[DURABILITY_COUNT] = {
	"disabled", "compacted", "full_fidelity"
};

/*
 * Does mode keep a draft of this fidelity?  disabled keeps nothing,
 * compacted everything but observed runtime events, full_fidelity
 * everything.
 */
bool
durability_keeps(Durability mode, FidelityClass fidelity)
{
	return mode == DURABILITY_FULL_FIDELITY ||
		(mode == DURABILITY_COMPACTED && fidelity != FIDELITY_OBSERVED);
}

/* The mode a label names; false when it names none. */
bool
durability_from_label(const char *label, Durability *mode)
{
	int			i;

	for (i = 0; i < DURABILITY_COUNT; i++)
	{
		if (strcmp(label, durability_labels[i]) == 0)
		{
			*mode = (Durability) i;
			return true;
		}
	}
	return false;
}

/*
 * durable_sink.should_persist(mode durability, fidelity fidelity_class)
 *     -> boolean
 *
 * STRICT and IMMUTABLE: NULL in, NULL out; raises nothing.  Contract §10.
 */
Datum
durable_sink_should_persist(PG_FUNCTION_ARGS)
{
	DraftTupleBuilder *builder = draft_builder_get(fcinfo);

	PG_RETURN_BOOL(durability_keeps(draft_durability_of(builder, PG_GETARG_DATUM(0)),
									draft_fidelity_of(builder, PG_GETARG_DATUM(1))));
}
