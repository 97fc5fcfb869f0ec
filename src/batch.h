/*
 * batch: the deliveries a consumer takes together, one struct slot each,
 * and the one transaction that applies them (inbox claim, the service's
 * loads, state machine and stores, outbox rows, COMMIT: a constant number
 * of statements in two round trips, see handler.h).
 *
 * What follows a try of the transaction (settle, try again at once,
 * isolate the deliveries one by one, retry later through the delay
 * queues, dead-letter one as poison, reconnect, stop) is batch_decide(), a
 * pure function unit-tested in tests/unit/test_batch.c.
 */
#ifndef CHORUS_BATCH_H
#define CHORUS_BATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "broker.h"
#include "conf.h"
#include "db.h"
#include "envelope.h"
#include "handler.h"
#include "metrics.h"
#include "outbox.h"
#include "retry.h"

/* What becomes of one delivery. */
enum outcome {
	OUT_OK,			/* applied: ack */
	OUT_DUP,		/* seen before (inbox): ack, no effect */
	OUT_POISON,		/* bad message: dead-lettered with its reason */
	OUT_RETRY,		/* transient failure: to its delay queue, attempt counted */
	OUT_EXHAUSTED,		/* transient failure past the last attempt: dead-lettered */
};

/* One delivery of a batch. */
struct slot {
	struct delivery d;
	struct event ev;		/* parsed (valid only when the envelope was) */
	enum outcome out;
	char why[ENVELOPE_WHY_MAX];	/* poison reason, or the failure a retry carries */
	unsigned attempt;		/* failures so far (OUT_RETRY, OUT_EXHAUSTED) */
	int step;			/* delay queue of an OUT_RETRY */
	bool retried;			/* came through the service's own retry path: its
					   control headers are the service's (origin.h) */
};

/* The result of one try of a batch's transaction. */
enum batch_result {
	BATCH_DONE,		/* committed, or nothing to commit */
	BATCH_PERMANENT,	/* rolled back: a failure that will not clear by itself */
	BATCH_TRANSIENT,	/* rolled back: one that may (deadlock, timeout, provider outage) */
	BATCH_BROKEN,		/* the database connection is gone */
	BATCH_STOPPED,		/* told to stop in the middle: rolled back */
};

/* What to do next. */
enum batch_next {
	NEXT_SETTLE,		/* forward what needs it, then ack the batch */
	NEXT_TRY_AGAIN,		/* once more at once (deadlocks and serialization failures clear) */
	NEXT_ISOLATE,		/* each delivery alone, so one failing lets the others through */
	NEXT_RETRY_LATER,	/* every delivery to its delay queue (mark_retry) */
	NEXT_POISON,		/* the one delivery fails for good here: dead-letter it */
	NEXT_RECONNECT,		/* ack nothing: the deliveries come again */
	NEXT_STOP,		/* ack nothing and stop */
};

/*
 * Decide after try number `tries` (1, 2, ...) of n deliveries gave r;
 * dependency: the failure was a dependency's (classed by the handler), not
 * the database's.
 */
enum batch_next batch_decide(enum batch_result r, size_t n, unsigned tries, bool dependency);
const char *batch_next_name(enum batch_next x);

/* The transaction machinery one consumer reuses batch after batch. */
struct batch_tx {
	struct db *db;
	const struct conf *cfg;
	const struct handler_ops *ops;
	struct db_batch *q;
	struct outbox_batch out;
	struct metrics_batch mb;
	struct handler_failure fail;	/* of the last try */
	bool dependency;		/* that failure was a dependency's, not the database's */
	const struct event **valid;	/* scratch: the valid events of a try */
	bool *fresh;
	size_t nvalid, max;
	int (*keep_alive)(struct handler_ctx *h);
	void *owner;
};

void batch_tx_init(struct batch_tx *t, const struct conf *cfg, const struct handler_ops *ops,
    size_t max);
void batch_tx_free(struct batch_tx *t);

/*
 * Parse and validate slot s for service svc: its event, or OUT_POISON with
 * its reason (an unreadable envelope, a type the service does not consume,
 * or an event from a publisher that may not send it: "forged", origin.h).
 */
void batch_validate(struct slot *s, enum service_id svc, const struct conf *cfg);

/*
 * One try: apply the valid slots of [s, s+n) in one transaction and mark
 * their outcomes (OUT_OK or OUT_DUP; the invalid ones stay OUT_POISON). On a
 * failure nothing is marked and t->fail says why. Rows it wrote to the
 * outbox: *emitted.
 */
enum batch_result batch_apply(struct batch_tx *t, struct slot *s, size_t n, size_t *emitted);

/*
 * The steps batch_apply and batch_run_timer take, for another producer of
 * a service's transactions (its API): batch_begin gives a fresh context
 * over t with BEGIN queued; then the handler's rounds; batch_commit queues
 * the outbox rows and COMMIT and runs them (0, or -1 with the failure on
 * t->db); batch_failed rolls back after a failure and classifies it.
 */
void batch_begin(struct batch_tx *t, struct handler_ctx *h);
int batch_commit(struct batch_tx *t, size_t *emitted);
enum batch_result batch_failed(struct batch_tx *t, const struct handler_ctx *h);

/* Run one timer in a transaction of its own: 0 done, 1 more to do, -1 failure. */
int batch_run_timer(struct batch_tx *t, const struct handler_timer *tm, size_t *emitted);

/*
 * Mark [s, s+n) to go to their delay queue with failure `why` (or to the
 * dead-letter queue past the last attempt); uncounted: spends no attempt.
 * Poison stays poison. The attempts so far are the x-chorus-attempt of a
 * slot that came through the retry path, 0 for any other.
 */
void batch_mark_retry(struct slot *s, size_t n, const struct retry_policy *p, const char *why,
    bool uncounted);

#endif
