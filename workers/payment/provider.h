/*
 * provider: the payment provider the payment worker charges through. The
 * default provider is the account ledger in the service's own database.
 * Every call passes the circuit breaker (breaker.h) and the configured
 * fault injector (payment.fault_latency_ms, payment.fault_error_pct), so an
 * outage can be rehearsed: while the breaker is open no call is made and
 * the worker pauses consumption instead of failing payments.
 */
#ifndef CHORUS_PROVIDER_H
#define CHORUS_PROVIDER_H

#include <stdint.h>

#include "worker.h"

enum provider_result {
	PROVIDER_OK = 0,
	PROVIDER_REFUSED,	/* a business outcome: reason says why */
	PROVIDER_UNAVAILABLE,	/* the provider failed or the breaker is open: transient */
	PROVIDER_DB_ERROR,	/* our own database failed (db_last_* on h->db) */
};

/* Set up the breaker and fault injector from the configuration. */
void provider_init(const struct conf *cfg);
/*
 * Charge amount to customer (refusals: insufficient_funds, unknown_customer,
 * currency_mismatch in reason). On PROVIDER_UNAVAILABLE h->fail and
 * h->fail_why are set.
 */
enum provider_result provider_charge(struct handler_ctx *h, const char *customer, int64_t amount,
    const char *currency, char *reason);
/* Give amount back to customer. */
enum provider_result provider_refund(struct handler_ctx *h, const char *customer, int64_t amount);
/* Milliseconds consumption should pause (the breaker is open), 0 when calls may go. */
long provider_pause_ms(void);

#endif
