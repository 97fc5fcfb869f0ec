/*
 * order: the order service's I/O around its state machine (machine.h):
 * loading and storing the orders of a batch in chorus_order with one
 * statement each, and the timer that cancels orders PENDING past the saga
 * deadline.
 */
#ifndef CHORUS_ORDER_H
#define CHORUS_ORDER_H

#include "handler.h"

/* Register the service's own metrics (saga outcomes). */
void order_init(const struct conf *cfg);
/* Apply a batch's events (handler_apply_fn). */
int order_apply(struct handler_ctx *h, const struct event *const *evs, size_t n);
/* Cancel PENDING orders older than the saga deadline (a handler_timer). */
extern const struct handler_timer order_deadline_timer;

#endif
