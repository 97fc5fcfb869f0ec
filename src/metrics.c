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
	"handler_error", "retries_exhausted", "property_mismatch", "other" };

#define MAX_REGISTERED 64

struct metric {
	const char *name, *type, *help, *labels;
	atomic_long v;
};

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
	atomic_long backlog;
	atomic_long oldest_age_ms;
	atomic_long unrouted;
	atomic_int consumer_up, relay_up;
	struct histogram batch, batch_seconds;
	struct metric reg[MAX_REGISTERED];
	size_t nreg;
	int registered_only;
} m = { .service = "chorus", .unrouted = -1 };

void
metrics_init(enum service_id svc)
{
	m.service = service_name(svc);
}

void
metrics_init_daemon(const char *name)
{
	m.service = name;
	m.registered_only = 1;
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
metrics_outbox(long backlog, double oldest_age_s)
{
	atomic_store(&m.backlog, backlog);
	atomic_store(&m.oldest_age_ms, (long)(oldest_age_s * 1000));
}

void
metrics_unrouted(long n)
{
	atomic_store(&m.unrouted, n);
}

void
metrics_connected(int consumer, int relay)
{
	if (consumer >= 0)
		atomic_store(&m.consumer_up, consumer);
	if (relay >= 0)
		atomic_store(&m.relay_up, relay);
}

struct metric *
metrics_register(const char *name, const char *type, const char *help, const char *labels)
{
	struct metric *r;

	if (m.nreg == MAX_REGISTERED) {
		fprintf(stderr, "metrics: more than %d registered metrics\n", MAX_REGISTERED);
		abort();
	}
	r = &m.reg[m.nreg++];
	r->name = name;
	r->type = type;
	r->help = help;
	r->labels = labels;
	return r;
}

void
metric_add(struct metric *r, unsigned long n)
{
	atomic_fetch_add(&r->v, (long)n);
}

void
metric_set(struct metric *r, long v)
{
	atomic_store(&r->v, v);
}

void
metrics_batch_emit(struct metrics_batch *b, enum event_type type)
{
	if (type_ok(type))
		b->written[type]++;
}

void
metrics_batch_add(struct metrics_batch *b, struct metric *r, uint32_t n)
{
	for (size_t i = 0; i < b->nadds; i++)
		if (b->adds[i].m == r) {
			b->adds[i].n += n;
			return;
		}
	if (b->nadds < METRICS_BATCH_MAX) {
		b->adds[b->nadds].m = r;
		b->adds[b->nadds++].n = n;
	} else {
		metric_add(r, n);	/* cannot be deferred: counted now */
	}
}

void
metrics_commit(struct metrics_batch *b)
{
	for (int i = 0; i < EV__COUNT; i++)
		if (b->written[i])
			atomic_fetch_add(&m.written[i], b->written[i]);
	for (size_t i = 0; i < b->nadds; i++)
		metric_add(b->adds[i].m, b->adds[i].n);
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

/* The registered metrics, HELP and TYPE once per name. */
static void
registered(struct out *o)
{
	for (size_t i = 0; i < m.nreg; i++) {
		const struct metric *r = &m.reg[i];
		int seen = 0;

		for (size_t k = 0; k < i && !seen; k++)
			seen = strcmp(m.reg[k].name, r->name) == 0;
		if (!seen)
			head(o, r->name, r->type, r->help);
		put(o, "%s{service=\"%s\"%s%s} %ld\n", r->name, m.service, r->labels[0] ? "," : "",
		    r->labels, atomic_load(&r->v));
	}
}

char *
metrics_render(void)
{
	struct out o = { xmalloc(8192), 0, 8192 };

	o.s[0] = '\0';
	if (m.registered_only) {
		registered(&o);
		return o.s;
	}
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
	if (atomic_load(&m.unrouted) >= 0) {
		head(&o, "chorus_unrouted_messages", "gauge",
		    "Events in chorus.unrouted: published by others, no queue took them.");
		put(&o, "chorus_unrouted_messages{service=\"%s\"} %ld\n", m.service,
		    atomic_load(&m.unrouted));
	}
	histogram(&o, "chorus_batch_size", "Deliveries per consumer transaction.", &m.batch,
	    batch_bounds, NB_BATCH);
	histogram(&o, "chorus_batch_duration_seconds",
	    "Time from BEGIN to acknowledgement of a consumer batch.", &m.batch_seconds,
	    seconds_bounds, NB_SECONDS);
	head(&o, "chorus_connected", "gauge",
	    "1 when the part is connected to RabbitMQ and PostgreSQL.");
	put(&o, "chorus_connected{service=\"%s\",part=\"consumer\"} %d\n", m.service,
	    atomic_load(&m.consumer_up));
	put(&o, "chorus_connected{service=\"%s\",part=\"relay\"} %d\n", m.service,
	    atomic_load(&m.relay_up));
	registered(&o);
	return o.s;
}
