/*
 * provider: the ledger provider behind a circuit breaker and a fault
 * injector (see provider.h). Runs on the consumer thread only.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "breaker.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "pgarray.h"
#include "provider.h"
#include "xmalloc.h"

/* An account: its key first (handler_find_row). */
struct account {
	char customer_id[ENVELOPE_ID_MAX + 1];
	long long balance;
	bool dirty;
};

struct ledger {
	struct account *a;
	size_t n;
};

static struct breaker breaker;
static long fault_latency_ms, fault_error_pct;
static struct metric *breaker_state, *breaker_changes;

void
provider_init(const struct conf *cfg)
{
	breaker_init(&breaker, (unsigned)cfg->breaker_failures, (uint64_t)cfg->breaker_recovery_ms,
	    (unsigned)cfg->breaker_successes);
	fault_latency_ms = cfg->fault_latency_ms;
	fault_error_pct = cfg->fault_error_pct;
	breaker_state = metrics_register("chorus_circuit_breaker_state", "gauge",
	    "Circuit breaker of a dependency: 0 closed, 1 open, 2 half-open.",
	    "dependency=\"payment_provider\"");
	breaker_changes = metrics_register("chorus_circuit_breaker_transitions_total", "counter",
	    "State changes of a dependency's circuit breaker.", "dependency=\"payment_provider\"");
	metric_set(breaker_state, BREAKER_CLOSED);
	if (fault_latency_ms > 0 || fault_error_pct > 0)
		log_warn("msg=\"payment provider fault injection on\" latency_ms=%ld error_pct=%ld",
		    fault_latency_ms, fault_error_pct);
}

static void
changed(const char *why)
{
	metric_set(breaker_state, breaker.state);
	metric_add(breaker_changes, 1);
	if (breaker.state == BREAKER_OPEN)
		log_error("msg=\"circuit breaker open: payment provider failing, consumption paused\" "
		    "dependency=payment_provider recovery_ms=%llu error=\"%s\"",
		    (unsigned long long)breaker.recovery_ms, why);
	else
		log_warn("msg=\"circuit breaker %s\" dependency=payment_provider",
		    breaker_state_name(breaker.state));
}

/* Before a call: the breaker's word and the injected faults. 0 go on, -1 unavailable. */
static int
enter(struct handler_ctx *h)
{
	if (!breaker_allow(&breaker, clock_ms()))
		return handler_fail(h, ERR_TRANSIENT, true, "payment provider circuit open");
	if (breaker.state == BREAKER_HALF_OPEN)
		metric_set(breaker_state, breaker.state);
	if (fault_latency_ms > 0)
		backoff_sleep((uint32_t)fault_latency_ms, NULL);
	if (fault_error_pct > 0 && (long)(backoff_random() % 100) < fault_error_pct) {
		handler_fail(h, ERR_TRANSIENT, false, "payment provider unavailable (injected fault)");
		if (breaker_failure(&breaker, clock_ms()))
			changed(h->fail.why);
		return -1;
	}
	return 0;
}

/* After a call that answered (whatever the answer). */
static void
leave_ok(void)
{
	if (breaker_success(&breaker, clock_ms()))
		changed("");
}

size_t
provider_queue_lock(struct handler_ctx *h, const char *customers, const char *orders)
{
	const char *p[2] = { customers, orders };

	return db_batch_add(h->q, "pay_lock_accounts",
	    "SELECT customer_id, balance_cents FROM accounts WHERE customer_id IN ("
	    "  SELECT unnest($1::text[]) UNION "
	    "  SELECT customer_id FROM payments WHERE order_id = ANY($2::text[]) "
	    "  AND status = 'COMPLETED') ORDER BY customer_id FOR UPDATE", 2, p);
}

struct ledger *
provider_ledger(PGresult *res)
{
	struct ledger *l = xcalloc(1, sizeof(*l));

	l->n = (size_t)PQntuples(res);
	l->a = xcalloc(l->n + 1, sizeof(*l->a));
	for (size_t i = 0; i < l->n; i++) {
		strlcpy_(l->a[i].customer_id, PQgetvalue(res, (int)i, 0), sizeof(l->a[i].customer_id));
		l->a[i].balance = atoll(PQgetvalue(res, (int)i, 1));
	}
	handler_sort_rows(l->a, l->n, sizeof(*l->a));
	return l;
}

void
provider_ledger_free(struct ledger *l)
{
	if (l == NULL)
		return;
	free(l->a);
	free(l);
}

enum provider_result
provider_charge(struct handler_ctx *h, struct ledger *l, const char *customer, int64_t amount,
    const char *currency, char *reason)
{
	struct account *a;

	if (strcmp(currency, h->cfg->currency) != 0) {
		strcpy(reason, "currency_mismatch");	/* the ledger holds one currency */
		return PROVIDER_REFUSED;
	}
	if (enter(h) != 0)
		return PROVIDER_UNAVAILABLE;
	leave_ok();
	a = handler_find_row(l->a, l->n, sizeof(*l->a), customer);
	if (a == NULL || a->balance < amount) {
		strcpy(reason, a == NULL ? "unknown_customer" : "insufficient_funds");
		return PROVIDER_REFUSED;
	}
	a->balance -= amount;
	a->dirty = true;
	return PROVIDER_OK;
}

enum provider_result
provider_refund(struct handler_ctx *h, struct ledger *l, const char *customer, int64_t amount)
{
	struct account *a;

	if (enter(h) != 0)
		return PROVIDER_UNAVAILABLE;
	leave_ok();
	a = handler_find_row(l->a, l->n, sizeof(*l->a), customer);
	if (a != NULL) {	/* an account deleted since the charge: nothing to give back to */
		a->balance += amount;
		a->dirty = true;
	}
	return PROVIDER_OK;
}

void
provider_queue_store(struct handler_ctx *h, const struct ledger *l)
{
	struct pgarray ids = { 0 }, bal = { 0 };
	const char *p[2];

	for (size_t i = 0; i < l->n; i++) {
		char b[32];

		if (!l->a[i].dirty)
			continue;
		snprintf(b, sizeof(b), "%lld", l->a[i].balance);
		pgarray_add(&ids, l->a[i].customer_id);
		pgarray_add(&bal, b);
	}
	p[0] = pgarray_text(&ids);
	p[1] = pgarray_text(&bal);
	if (ids.n > 0)
		db_batch_add(h->q, "pay_store_accounts",
		    "UPDATE accounts a SET balance_cents = u.b, updated_at = now() "
		    "FROM unnest($1::text[], $2::bigint[]) AS u(c, b) WHERE a.customer_id = u.c", 2, p);
	pgarray_free(&ids);
	pgarray_free(&bal);
}

long
provider_pause_ms(void)
{
	return (long)breaker_wait_ms(&breaker, clock_ms());
}
