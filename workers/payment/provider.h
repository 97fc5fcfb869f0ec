/*
 * provider: the payment provider the payment worker charges through. The
 * default provider is the account ledger in the service's own database:
 * a batch locks and reads the accounts it may touch (provider_queue_lock,
 * round 1), charges and refunds move money in memory, and the changed
 * balances are written back with one statement (provider_queue_store,
 * round 2). Every call passes the circuit breaker (breaker.h) and the
 * configured fault injector (payment.fault_latency_ms,
 * payment.fault_error_pct), so an outage can be rehearsed: while the
 * breaker is open no call is made and the worker pauses consumption
 * instead of failing payments. Runs on the consumer thread only.
 */
#ifndef CHORUS_PROVIDER_H
#define CHORUS_PROVIDER_H

#include <stdint.h>

#include "handler.h"

enum provider_result {
	PROVIDER_OK = 0,
	PROVIDER_REFUSED,	/* a business outcome: reason says why */
	PROVIDER_UNAVAILABLE,	/* the provider failed or the breaker is open: h->fail says so */
};

/* The accounts one batch may touch. */
struct ledger;

/* Set up the breaker and fault injector from the configuration. */
void provider_init(const struct conf *cfg);
/*
 * Queue on h->q the lock and read of the accounts of customers (text array
 * literal) and of the customers of the COMPLETED payments of orders, in
 * customer order. Returns its index in h->q.
 */
size_t provider_queue_lock(struct handler_ctx *h, const char *customers, const char *orders);
/* The ledger from that statement's result (after handler_load); free with provider_ledger_free. */
struct ledger *provider_ledger(PGresult *res);
void provider_ledger_free(struct ledger *l);
/*
 * Charge amount to customer (refusals: insufficient_funds, unknown_customer,
 * currency_mismatch in reason).
 */
enum provider_result provider_charge(struct handler_ctx *h, struct ledger *l,
    const char *customer, int64_t amount, const char *currency, char *reason);
/* Give amount back to customer. */
enum provider_result provider_refund(struct handler_ctx *h, struct ledger *l,
    const char *customer, int64_t amount);
/* Queue the one UPDATE of the balances that changed. */
void provider_queue_store(struct handler_ctx *h, const struct ledger *l);
/* Milliseconds consumption should pause (the breaker is open), 0 when calls may go. */
long provider_pause_ms(void);

#endif
