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
	DEAD_OTHER, DEAD__COUNT
};

/* Saga outcome reasons of the order service (OrderCancelled reason), counted apart. */
enum outcome_reason {
	OUTCOME_CONFIRMED = 0, OUTCOME_OUT_OF_STOCK, OUTCOME_UNKNOWN_SKU,
	OUTCOME_INSUFFICIENT_FUNDS, OUTCOME_UNKNOWN_CUSTOMER, OUTCOME_CURRENCY_MISMATCH,
	OUTCOME_TIMEOUT, OUTCOME_ORDER_CANCELLED, OUTCOME_OTHER, OUTCOME__COUNT
};

/* What one transaction changes, applied by metrics_commit after COMMIT. */
struct metrics_batch {
	uint32_t written[EV__COUNT];		/* events written to the outbox, by type */
	uint32_t outcomes[OUTCOME__COUNT];	/* sagas ended, by outcome */
};

/* Name the service the metrics are labelled with. */
void metrics_init(enum service_id svc);

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
/* One delivery's handling time. */
void metrics_handler_seconds(double seconds);
void metrics_outbox(long backlog, double oldest_age_s);
void metrics_connected(int consumer, int relay);
/* The payment provider's circuit breaker state (0 closed, 1 open, 2 half-open); changed counts a transition. */
void metrics_breaker(int state, int changed);

/* Record an emitted event in b: its type and, for the order service's outcomes, the reason. */
void metrics_batch_emit(struct metrics_batch *b, enum event_type type, const char *reason);
/* Apply b (its transaction committed) and clear it. */
void metrics_commit(struct metrics_batch *b);

/* Prometheus text exposition of everything; malloc'ed, caller frees. */
char *metrics_render(void);

#endif
