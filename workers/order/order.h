/*
 * order: the order service's I/O around its state machine (machine.h):
 * loading and storing an order's state in chorus_order, and the sweeper that
 * cancels orders PENDING past the saga deadline.
 */
#ifndef CHORUS_ORDER_H
#define CHORUS_ORDER_H

#include "worker.h"

/* Lock the batch's orders' rows in order id order (no deadlocks between instances). 0, or -1. */
int order_prepare(struct handler_ctx *h, const struct event *const *evs, size_t n);
/* Apply one consumed event in the open transaction. 0, or -1 (database failure). */
int order_handle(struct handler_ctx *h, const struct event *ev);
/* Cancel PENDING orders older than the saga deadline, in its own transaction. Events emitted, or -1. */
int order_deadline_sweep(struct db *db, const struct conf *cfg);

#endif
