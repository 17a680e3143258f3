/*
 * xact_list.c
 *     Per-transaction lists whose items follow subtransactions: what an
 *     aborted subtransaction added is dropped, what a committed one added
 *     passes to its parent (which may still abort).  Used for the events a
 *     transaction appended (feed.c) and the frames it queued (announcer.c).
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "xact_list.h"

/* A new item at the end, tagged with the current subtransaction. */
void *
xact_list_append(XactList *list)
{
	XactListItem *item;

	if (list->count == list->capacity)
	{
		list->capacity = Max(16, list->capacity * 2);
		list->items = list->items ?
			repalloc(list->items, list->item_size * list->capacity) :
			MemoryContextAlloc(TopTransactionContext, list->item_size * list->capacity);
	}
	item = xact_list_item(list, list->count++);
	item->subxid = GetCurrentSubTransactionId();
	return item;
}

/*
 * From a SubXactCallback.  Tags never decrease along the list (items are
 * appended in order, subtransaction ids grow, and a committed
 * subtransaction's items pass to its parent, whose id is above every tag
 * before them), so a subtransaction's items are the ones at the end: only
 * those are visited, and a loop of many subtransactions stays linear.
 */
void
xact_list_subxact(XactList *list, SubXactEvent event,
				  SubTransactionId mySubid, SubTransactionId parentSubid)
{
	int			i;

	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		while (list->count > 0 &&
			   ((XactListItem *) xact_list_item(list, list->count - 1))->subxid >= mySubid)
			list->count--;
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		for (i = list->count - 1; i >= 0; i--)
		{
			XactListItem *item = xact_list_item(list, i);

			if (item->subxid < mySubid)
				break;
			item->subxid = parentSubid;
		}
	}
}

/* At the end of the transaction (its memory is gone with it). */
void
xact_list_reset(XactList *list)
{
	list->items = NULL;
	list->count = 0;
	list->capacity = 0;
}
