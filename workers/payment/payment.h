/*
 * payment: the payment service's I/O around its state machine (machine.h):
 * a batch's payments and the accounts they touch are locked and read with
 * one statement each, the machine runs in memory with the provider
 * (provider.h) moving money, and each table is written back with one
 * statement.
 */
#ifndef CHORUS_PAYMENT_H
#define CHORUS_PAYMENT_H

#include "handler.h"

/* Apply a batch's events (handler_apply_fn). */
int payment_apply(struct handler_ctx *h, const struct event *const *evs, size_t n);

#endif
