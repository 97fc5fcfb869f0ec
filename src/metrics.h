/*
 * metrics: the worker's counters, gauges and histograms, kept in atomics
 * (the consumer and the relay thread update them, the health endpoint's
 * thread reads them) and rendered as Prometheus text. Changes a
 * transaction makes are gathered in a struct metrics_batch and applied only
 * once it committed, so a rolled-back batch counts nothing.
 */
#ifndef CHORUS_METRICS_H
#define CHORUS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "envelope.h"
#include "service.h"

/* Dead-letter reasons (the first word of x-chorus-reason), counted apart. */
enum dead_reason {
	DEAD_TOO_LARGE = 0, DEAD_INVALID_JSON, DEAD_NOT_AN_OBJECT, DEAD_MISSING_ATTRIBUTE,
	DEAD_BAD_ATTRIBUTE, DEAD_UNKNOWN_TYPE, DEAD_UNEXPECTED_TYPE, DEAD_SUBJECT_MISMATCH,
	DEAD_MISSING_FIELD, DEAD_BAD_FIELD, DEAD_HANDLER_ERROR, DEAD_RETRIES_EXHAUSTED,
	DEAD_PROPERTY_MISMATCH, DEAD_OTHER, DEAD__COUNT
};

/*
 * A metric a service (or another daemon) registers for itself: a counter
 * or a gauge with fixed labels, rendered with the others under its name.
 * Register at start-up, before any thread runs; update from any thread.
 */
struct metric;

#define METRICS_BATCH_MAX 16	/* registered metrics one transaction may count */

/* What one transaction changes, applied by metrics_commit after COMMIT. */
struct metrics_batch {
	uint32_t written[EV__COUNT];		/* events written to the outbox, by type */
	struct {
		struct metric *m;
		uint32_t n;
	} adds[METRICS_BATCH_MAX];		/* registered counters to add to */
	size_t nadds;
};

/* Name the service the metrics are labelled with. */
void metrics_init(enum service_id svc);
/*
 * For a daemon that is no worker (chorus-gateway): label with name, render
 * only the metrics it registers.
 */
void metrics_init_daemon(const char *name);

void metrics_consumed(enum event_type type, unsigned n);
void metrics_duplicate(enum event_type type);
/* A dead letter with this reason ("code: detail"; only the code counts). */
void metrics_dead(const char *reason);
/* Deliveries rolled back by a transient failure, to be redelivered. */
void metrics_retried(unsigned n);
void metrics_published(enum event_type type, unsigned n);
void metrics_publish_failed(unsigned n);
/* One batch: deliveries in it and seconds its transaction took. */
void metrics_batch_done(unsigned size, double seconds);
void metrics_outbox(long backlog, double oldest_age_s);
/* Messages in chorus.unrouted; -1: not measured here (not rendered). */
void metrics_unrouted(long n);
void metrics_connected(int consumer, int relay);
/*
 * Register a metric: name (e.g. "chorus_saga_outcomes_total"), type
 * ("counter" or "gauge"), help (once per name) and labels besides service=
 * (e.g. "outcome=\"confirmed\"", or ""). Never NULL (aborts when full).
 */
struct metric *metrics_register(const char *name, const char *type, const char *help,
    const char *labels);
void metric_add(struct metric *m, unsigned long n);
void metric_set(struct metric *m, long v);

/* Record an emitted event in b (outbox rows written, by type). */
void metrics_batch_emit(struct metrics_batch *b, enum event_type type);
/* Add n to a registered counter once b's transaction committed. */
void metrics_batch_add(struct metrics_batch *b, struct metric *m, uint32_t n);
/* Apply b (its transaction committed) and clear it. */
void metrics_commit(struct metrics_batch *b);

/* Prometheus text exposition of everything; malloc'ed, caller frees. */
char *metrics_render(void);

#endif
