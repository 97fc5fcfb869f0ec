/*
 * payment: the payment service's I/O around its state machine (machine.h):
 * accounts and payments in chorus_payment. The account ledger in this
 * database is the payment provider.
 */
#ifndef CHORUS_PAYMENT_H
#define CHORUS_PAYMENT_H

#include "worker.h"

/* Lock the batch's payment rows, then its accounts, each in key order. 0, or -1. */
int payment_prepare(struct handler_ctx *h, const struct event *const *evs, size_t n);
/* Apply one consumed event in the open transaction. 0, or -1 (a failure, see worker_ops). */
int payment_handle(struct handler_ctx *h, const struct event *ev);

#endif
