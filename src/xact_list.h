/*
 * xact_list.h
 *     A per-transaction list of items, each tagged with the subtransaction
 *     that added it: items of an aborted subtransaction disappear.
 */
#ifndef DURABLE_SINK_XACT_LIST_H
#define DURABLE_SINK_XACT_LIST_H

#include "postgres.h"

#include "access/xact.h"

/* Every item type starts with this member. */
typedef struct XactListItem
{
	SubTransactionId subxid;
} XactListItem;

typedef struct XactList
{
	Size		item_size;
	char	   *items;			/* in TopTransactionContext; NULL: empty */
	int			count;
	int			capacity;
} XactList;

#define XACT_LIST_INIT(type) {.item_size = sizeof(type)}
#define xact_list_item(list, i) ((void *) ((list)->items + (Size) (i) * (list)->item_size))

extern void *xact_list_append(XactList *list);
extern void xact_list_subxact(XactList *list, SubXactEvent event,
							  SubTransactionId mySubid, SubTransactionId parentSubid);
extern void xact_list_reset(XactList *list);

#endif							/* DURABLE_SINK_XACT_LIST_H */
