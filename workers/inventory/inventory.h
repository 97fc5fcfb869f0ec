/*
 * inventory: the inventory service's I/O around its state machine
 * (machine.h): a batch's reservations and the stock rows they touch are
 * locked and read with one statement each, the machine runs in memory, and
 * each table is written back with one statement.
 */
#ifndef CHORUS_INVENTORY_H
#define CHORUS_INVENTORY_H

#include "handler.h"

/* Apply a batch's events (handler_apply_fn). */
int inventory_apply(struct handler_ctx *h, const struct event *const *evs, size_t n);

#endif
