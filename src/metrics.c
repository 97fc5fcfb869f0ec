/*
 * metrics: counters in atomics and their Prometheus rendering (see metrics.h).
 */
#include "config.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "xmalloc.h"

static const char *const dead_names[DEAD__COUNT] = {
	"too_large", "invalid_json", "not_an_object", "missing_attribute", "bad_attribute",
	"unknown_type", "unexpected_type", "subject_mismatch", "missing_field", "bad_field",
	"handler_error", "retries_exhausted", "other" };

static const char *const outcome_names[OUTCOME__COUNT] = {
	"confirmed", "out_of_stock", "unknown_sku", "insufficient_funds", "unknown_customer",
	"currency_mismatch", "timeout", "order_cancelled", "other" };

static const double batch_bounds[] = { 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000 };
static const double seconds_bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5 };
#define NB_BATCH (sizeof(batch_bounds) / sizeof(batch_bounds[0]))
#define NB_SECONDS (sizeof(seconds_bounds) / sizeof(seconds_bounds[0]))

struct histogram {
	atomic_ulong bucket[16];	/* cumulative counts are computed when rendering */
	atomic_ulong count;
	atomic_ullong sum_micro;	/* sum in millionths */
};

static struct {
	const char *service;
	atomic_ulong consumed[EV__COUNT];
	atomic_ulong duplicates[EV__COUNT];
	atomic_ulong dead[DEAD__COUNT];
	atomic_ulong retried;
	atomic_ulong published[EV__COUNT];
	atomic_ulong publish_failed;
	atomic_ulong written[EV__COUNT];
	atomic_ulong outcomes[OUTCOME__COUNT];
	atomic_long backlog;
	atomic_long oldest_age_ms;
	atomic_int consumer_up, relay_up;
	atomic_int breaker_state;	/* -1: no breaker in this worker */
	atomic_ulong breaker_changes;
	struct histogram batch, batch_seconds, handler_seconds;
} m = { .service = "chorus", .breaker_state = -1 };

void
metrics_init(enum service_id svc)
{
	m.service = service_name(svc);
}

static int
type_ok(enum event_type t)
{
	return t > EV_UNKNOWN && t < EV__COUNT;
}

void
metrics_consumed(enum event_type type, unsigned n)
{
	atomic_fetch_add(&m.consumed[type_ok(type) ? type : EV_UNKNOWN], n);
}

void
metrics_duplicate(enum event_type type)
{
	atomic_fetch_add(&m.duplicates[type_ok(type) ? type : EV_UNKNOWN], 1);
}

void
metrics_dead(const char *reason)
{
	size_t n = strcspn(reason, ":");
	int i;

	for (i = 0; i < DEAD_OTHER; i++)
		if (strlen(dead_names[i]) == n && strncmp(dead_names[i], reason, n) == 0)
			break;
	atomic_fetch_add(&m.dead[i], 1);
}

void
metrics_retried(unsigned n)
{
	atomic_fetch_add(&m.retried, n);
}

void
metrics_published(enum event_type type, unsigned n)
{
	atomic_fetch_add(&m.published[type_ok(type) ? type : EV_UNKNOWN], n);
}

void
metrics_publish_failed(unsigned n)
{
	atomic_fetch_add(&m.publish_failed, n);
}

static void
observe(struct histogram *h, const double *bounds, size_t nb, double v)
{
	size_t i;

	for (i = 0; i < nb && v > bounds[i]; i++)
		;
	atomic_fetch_add(&h->bucket[i], 1);	/* i == nb: only +Inf */
	atomic_fetch_add(&h->count, 1);
	atomic_fetch_add(&h->sum_micro, (unsigned long long)(v * 1e6));
}

void
metrics_batch_done(unsigned size, double seconds)
{
	observe(&m.batch, batch_bounds, NB_BATCH, size);
	observe(&m.batch_seconds, seconds_bounds, NB_SECONDS, seconds);
}

void
metrics_handler_seconds(double seconds)
{
	observe(&m.handler_seconds, seconds_bounds, NB_SECONDS, seconds);
}

void
metrics_outbox(long backlog, double oldest_age_s)
{
	atomic_store(&m.backlog, backlog);
	atomic_store(&m.oldest_age_ms, (long)(oldest_age_s * 1000));
}

void
metrics_connected(int consumer, int relay)
{
	if (consumer >= 0)
		atomic_store(&m.consumer_up, consumer);
	if (relay >= 0)
		atomic_store(&m.relay_up, relay);
}

void
metrics_breaker(int state, int changed)
{
	atomic_store(&m.breaker_state, state);
	if (changed)
		atomic_fetch_add(&m.breaker_changes, 1);
}

void
metrics_batch_emit(struct metrics_batch *b, enum event_type type, const char *reason)
{
	int i;

	if (type_ok(type))
		b->written[type]++;
	if (type == EV_ORDER_CONFIRMED) {
		b->outcomes[OUTCOME_CONFIRMED]++;
	} else if (type == EV_ORDER_CANCELLED) {
		for (i = OUTCOME_CONFIRMED + 1; i < OUTCOME_OTHER; i++)
			if (reason != NULL && strcmp(outcome_names[i], reason) == 0)
				break;
		b->outcomes[i]++;
	}
}

void
metrics_commit(struct metrics_batch *b)
{
	for (int i = 0; i < EV__COUNT; i++)
		if (b->written[i])
			atomic_fetch_add(&m.written[i], b->written[i]);
	for (int i = 0; i < OUTCOME__COUNT; i++)
		if (b->outcomes[i])
			atomic_fetch_add(&m.outcomes[i], b->outcomes[i]);
	memset(b, 0, sizeof(*b));
}

struct out {
	char *s;
	size_t len, cap;
};

static void
put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->s + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		o->cap = o->cap * 2 + (size_t)(n > 0 ? n : 0);
		o->s = xrealloc(o->s, o->cap);
	}
}

static void
head(struct out *o, const char *name, const char *type, const char *help)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
by_type(struct out *o, const char *name, const char *help, atomic_ulong *v)
{
	head(o, name, "counter", help);
	for (int t = EV_UNKNOWN + 1; t < EV__COUNT; t++) {
		unsigned long n = atomic_load(&v[t]);

		if (n > 0)
			put(o, "%s{service=\"%s\",type=\"%s\"} %lu\n", name, m.service,
			    event_type_name((enum event_type)t), n);
	}
}

static void
histogram(struct out *o, const char *name, const char *help, struct histogram *h,
    const double *bounds, size_t nb)
{
	unsigned long cum = 0;

	head(o, name, "histogram", help);
	for (size_t i = 0; i < nb; i++) {
		cum += atomic_load(&h->bucket[i]);
		put(o, "%s_bucket{service=\"%s\",le=\"%g\"} %lu\n", name, m.service, bounds[i], cum);
	}
	cum += atomic_load(&h->bucket[nb]);
	put(o, "%s_bucket{service=\"%s\",le=\"+Inf\"} %lu\n", name, m.service, cum);
	put(o, "%s_sum{service=\"%s\"} %.6f\n", name, m.service,
	    (double)atomic_load(&h->sum_micro) / 1e6);
	put(o, "%s_count{service=\"%s\"} %lu\n", name, m.service, atomic_load(&h->count));
}

char *
metrics_render(void)
{
	struct out o = { xmalloc(8192), 0, 8192 };

	o.s[0] = '\0';
	by_type(&o, "chorus_messages_consumed_total",
	    "Deliveries handled and acknowledged (duplicates included), by event type.", m.consumed);
	by_type(&o, "chorus_messages_duplicate_total",
	    "Deliveries whose event id was already in the inbox (no effect), by event type.",
	    m.duplicates);
	head(&o, "chorus_messages_dead_lettered_total", "counter",
	    "Messages sent to the dead-letter queue, by reason.");
	for (int i = 0; i < DEAD__COUNT; i++)
		put(&o, "chorus_messages_dead_lettered_total{service=\"%s\",reason=\"%s\"} %lu\n",
		    m.service, dead_names[i], atomic_load(&m.dead[i]));
	head(&o, "chorus_messages_retried_total", "counter",
	    "Deliveries rolled back by a transient failure and delivered again.");
	put(&o, "chorus_messages_retried_total{service=\"%s\"} %lu\n", m.service,
	    atomic_load(&m.retried));
	by_type(&o, "chorus_events_written_total",
	    "Events written to the outbox by committed transactions, by event type.", m.written);
	by_type(&o, "chorus_events_published_total",
	    "Outbox events confirmed by the broker, by event type.", m.published);
	head(&o, "chorus_events_publish_failed_total", "counter",
	    "Outbox events returned or refused by the broker (kept pending, retried).");
	put(&o, "chorus_events_publish_failed_total{service=\"%s\"} %lu\n", m.service,
	    atomic_load(&m.publish_failed));
	head(&o, "chorus_outbox_backlog", "gauge", "Outbox rows not yet published.");
	put(&o, "chorus_outbox_backlog{service=\"%s\"} %ld\n", m.service, atomic_load(&m.backlog));
	head(&o, "chorus_outbox_oldest_age_seconds", "gauge",
	    "Age of the oldest unpublished outbox row (0 when none).");
	put(&o, "chorus_outbox_oldest_age_seconds{service=\"%s\"} %.3f\n", m.service,
	    (double)atomic_load(&m.oldest_age_ms) / 1000);
	if (strcmp(m.service, "order") == 0) {
		head(&o, "chorus_saga_outcomes_total", "counter",
		    "Sagas ended: confirmed, or cancelled by reason.");
		for (int i = 0; i < OUTCOME__COUNT; i++)
			put(&o, "chorus_saga_outcomes_total{service=\"%s\",outcome=\"%s\",reason=\"%s\"} %lu\n",
			    m.service, i == OUTCOME_CONFIRMED ? "confirmed" : "cancelled",
			    i == OUTCOME_CONFIRMED ? "" : outcome_names[i], atomic_load(&m.outcomes[i]));
	}
	histogram(&o, "chorus_batch_size", "Deliveries per consumer transaction.", &m.batch,
	    batch_bounds, NB_BATCH);
	histogram(&o, "chorus_batch_duration_seconds",
	    "Time from BEGIN to acknowledgement of a consumer batch.", &m.batch_seconds,
	    seconds_bounds, NB_SECONDS);
	histogram(&o, "chorus_handler_duration_seconds",
	    "Time to validate and apply one delivery inside its transaction.", &m.handler_seconds,
	    seconds_bounds, NB_SECONDS);
	head(&o, "chorus_connected", "gauge",
	    "1 when the part is connected to RabbitMQ and PostgreSQL.");
	put(&o, "chorus_connected{service=\"%s\",part=\"consumer\"} %d\n", m.service,
	    atomic_load(&m.consumer_up));
	put(&o, "chorus_connected{service=\"%s\",part=\"relay\"} %d\n", m.service,
	    atomic_load(&m.relay_up));
	if (atomic_load(&m.breaker_state) >= 0) {
		head(&o, "chorus_circuit_breaker_state", "gauge",
		    "Circuit breaker of a dependency: 0 closed, 1 open, 2 half-open.");
		put(&o, "chorus_circuit_breaker_state{service=\"%s\",dependency=\"payment_provider\"} %d\n",
		    m.service, atomic_load(&m.breaker_state));
		head(&o, "chorus_circuit_breaker_transitions_total", "counter",
		    "State changes of a dependency's circuit breaker.");
		put(&o, "chorus_circuit_breaker_transitions_total{service=\"%s\",dependency=\"payment_provider\"} %lu\n",
		    m.service, atomic_load(&m.breaker_changes));
	}
	return o.s;
}
