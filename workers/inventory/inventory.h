/*
 * inventory: the inventory service's I/O around its state machine
 * (machine.h): stock and reservations in chorus_inventory.
 */
#ifndef CHORUS_INVENTORY_H
#define CHORUS_INVENTORY_H

#include "worker.h"

/* Lock, in SKU order, every stock row the batch's events may touch. 0, or -1. */
int inventory_prepare(struct handler_ctx *h, const struct event *const *evs, size_t n);
/* Apply one consumed event in the open transaction. 0, or -1 (database failure). */
int inventory_handle(struct handler_ctx *h, const struct event *ev);

#endif
