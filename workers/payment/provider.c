/*
 * provider: the ledger provider behind a circuit breaker and a fault
 * injector (see provider.h). Runs on the consumer thread only.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "backoff.h"
#include "breaker.h"
#include "log.h"
#include "metrics.h"
#include "provider.h"

static struct breaker breaker;
static long fault_latency_ms, fault_error_pct;

void
provider_init(const struct conf *cfg)
{
	breaker_init(&breaker, (unsigned)cfg->breaker_failures, (uint64_t)cfg->breaker_recovery_ms,
	    (unsigned)cfg->breaker_successes);
	fault_latency_ms = cfg->fault_latency_ms;
	fault_error_pct = cfg->fault_error_pct;
	metrics_breaker(BREAKER_CLOSED, 0);
	if (fault_latency_ms > 0 || fault_error_pct > 0)
		log_warn("msg=\"payment provider fault injection on\" latency_ms=%ld error_pct=%ld",
		    fault_latency_ms, fault_error_pct);
}

static void
changed(const char *why)
{
	metrics_breaker(breaker.state, 1);
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
	if (!breaker_allow(&breaker, clock_ms())) {
		h->fail = ERR_TRANSIENT;
		h->fail_uncounted = 1;
		snprintf(h->fail_why, sizeof(h->fail_why), "payment provider circuit open");
		return -1;
	}
	if (breaker.state == BREAKER_HALF_OPEN)
		metrics_breaker(breaker.state, 0);
	if (fault_latency_ms > 0)
		backoff_sleep((uint32_t)fault_latency_ms, NULL);
	if (fault_error_pct > 0 && (long)(backoff_random() % 100) < fault_error_pct) {
		h->fail = ERR_TRANSIENT;
		snprintf(h->fail_why, sizeof(h->fail_why), "payment provider unavailable (injected fault)");
		if (breaker_failure(&breaker, clock_ms()))
			changed(h->fail_why);
		return -1;
	}
	return 0;
}

static void
leave_ok(void)
{
	if (breaker_success(&breaker, clock_ms()))
		changed("");
}

/* Add delta (negative: a charge) to the customer's balance, a successful call. */
static enum provider_result
move_money(struct handler_ctx *h, const char *customer, int64_t delta)
{
	char amt[32];
	const char *p[2] = { customer, amt };
	PGresult *res;

	snprintf(amt, sizeof(amt), "%lld", (long long)delta);
	res = db_query(h->db, "pay_move",
	    "UPDATE accounts SET balance_cents = balance_cents + $2::bigint, updated_at = now() "
	    "WHERE customer_id = $1", 2, p);
	if (res == NULL)
		return PROVIDER_DB_ERROR;
	PQclear(res);
	leave_ok();
	return PROVIDER_OK;
}

enum provider_result
provider_charge(struct handler_ctx *h, const char *customer, int64_t amount, const char *currency,
    char *reason)
{
	const char *p[1] = { customer };
	PGresult *res;
	long long balance;

	if (strcmp(currency, h->cfg->currency) != 0) {
		strcpy(reason, "currency_mismatch");	/* the ledger holds one currency */
		return PROVIDER_REFUSED;
	}
	if (enter(h) != 0)
		return PROVIDER_UNAVAILABLE;
	res = db_query(h->db, "pay_lock_account",
	    "SELECT balance_cents FROM accounts WHERE customer_id = $1 FOR UPDATE", 1, p);
	if (res == NULL)
		return PROVIDER_DB_ERROR;
	if (PQntuples(res) == 0) {
		PQclear(res);
		leave_ok();
		strcpy(reason, "unknown_customer");
		return PROVIDER_REFUSED;
	}
	balance = atoll(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (balance < amount) {
		leave_ok();
		strcpy(reason, "insufficient_funds");
		return PROVIDER_REFUSED;
	}
	return move_money(h, customer, -amount);
}

enum provider_result
provider_refund(struct handler_ctx *h, const char *customer, int64_t amount)
{
	if (enter(h) != 0)
		return PROVIDER_UNAVAILABLE;
	return move_money(h, customer, amount);
}

long
provider_pause_ms(void)
{
	return (long)breaker_wait_ms(&breaker, clock_ms());
}
