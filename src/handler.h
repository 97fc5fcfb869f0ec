/*
 * handler: the contract between the consumer (and the worker's timers) and
 * a service's batch handler.
 *
 * A batch is applied in one transaction and costs a constant number of
 * statements, whatever its size, in two round trips:
 *
 *   1. the consumer queues BEGIN and the inbox claim on h->q; the service
 *      queues the statements that lock and read the state its events need
 *      (one set-based statement per table, keys in a global order so that
 *      instances never deadlock) and calls handler_load(), which runs them
 *      all in one round trip and tells which events are fresh (h->fresh);
 *   2. the service runs its pure state machine over the fresh events in
 *      memory, in delivery order, queues one set-based statement per table
 *      to store the result and emits events (handler_emit); the consumer
 *      then queues the outbox insert and COMMIT and runs them together.
 *
 * A service never commits, rolls back or talks to RabbitMQ.
 */
#ifndef CHORUS_HANDLER_H
#define CHORUS_HANDLER_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"
#include "db.h"
#include "envelope.h"
#include "metrics.h"
#include "outbox.h"
#include "retry.h"
#include "service.h"

/* Why a batch failed when it was not the database's own failure (a dependency's). */
struct handler_failure {
	enum err_class class;	/* ERR_NONE: none, or the database's (see db_last_*) */
	bool uncounted;		/* not the message's fault (a circuit is open): spends no attempt */
	char why[200];
};

struct handler_ctx {
	struct db *db;
	const struct conf *cfg;
	enum service_id svc;
	struct db_batch *q;		/* statements for the next round trip */
	const bool *fresh;		/* after handler_load: fresh[i] for the batch's event i */
	struct outbox_batch *out;	/* what the transaction emits */
	struct metrics_batch *mb;	/* what it counts once committed */
	struct handler_failure fail;
	/* set by whoever opened the transaction */
	int (*loaded)(struct handler_ctx *h);	/* reads its own results of round 1 */
	int (*keep_alive)(struct handler_ctx *h);	/* 0 go on, -1 stop now */
	void *owner;
	bool stopped;			/* keep_alive said stop: roll back, ack nothing */
	bool load_done;			/* handler_load ran */
};

/*
 * Apply the batch's n valid events evs (in delivery order; several may
 * concern one order) inside the open transaction, in the two steps above:
 * queue the loads, handler_load(), then only the events with h->fresh[i]
 * have an effect. 0, or -1 on a failure: a database one (its SQLSTATE
 * tells transient from permanent) or one recorded with handler_fail().
 */
typedef int (*handler_apply_fn)(struct handler_ctx *h, const struct event *const *evs, size_t n);

/*
 * Periodic work in a transaction of its own, run by the consumer between
 * batches on its connection (e.g. the order deadline sweep): like apply
 * without events (handler_load runs what it queued; h->fresh is NULL).
 * Returns 0 done, 1 more to do (run again soon), -1 failure.
 */
struct handler_timer {
	const char *name;
	long (*period_ms)(const struct conf *cfg);
	int (*run)(struct handler_ctx *h);
};

/* What the consumer needs of a service. */
struct handler_ops {
	enum service_id svc;
	handler_apply_fn apply;
	/*
	 * Milliseconds to pause consumption before the next batch (a
	 * dependency's circuit breaker is open), 0 to go on; may be NULL.
	 */
	long (*pause_ms)(void);
	const struct handler_timer *timers;	/* the service's own, may be NULL */
	size_t ntimers;
};

/* Run what is queued on h->q (round 1). 0, or -1 (database failure). */
int handler_load(struct handler_ctx *h);
/*
 * Emit ev, caused by cause (NULL: a timer): its envelope is filled in
 * (outbox_add) and it is written with the transaction's other events; counted
 * on h->mb.
 */
void handler_emit(struct handler_ctx *h, struct event *ev, const struct event *cause);
/*
 * Between two events of a long batch (a slow dependency): keep the
 * connections and the watchdog served. 0 go on, -1 stop now (return -1).
 */
int handler_keep_alive(struct handler_ctx *h);
/* Record a dependency's failure of class c; returns -1 for the caller to return. */
int handler_fail(struct handler_ctx *h, enum err_class c, bool uncounted, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Queue on h->q the lock and read of the state rows of the batch's orders
 * (select_sql, $1: the order ids as text[]: SELECT ... WHERE order_id =
 * ANY($1) ORDER BY order_id FOR UPDATE), in order id order so that
 * instances take one order's row after the other and never deadlock.
 * Returns its index in h->q. An order without a row is new to the service:
 * its row is created with the batch's one INSERT in round 2, written so
 * that a row another instance created meanwhile fails the batch as a
 * serialization failure (chorus_expect_rows), to be tried again at once.
 */
size_t handler_lock_orders(struct handler_ctx *h, const struct event *const *evs, size_t n,
    const char *select_name, const char *select_sql);

/*
 * The rows a handler loaded, each a struct whose first member is its key
 * (a char array, e.g. the order id): sort them once (byte order, not the
 * database's collation), then find a row by key. NULL when absent.
 */
void handler_sort_rows(void *rows, size_t n, size_t size);
/*
 * rows holds *n loaded rows and room for nevs more: add a zeroed row, key
 * set, for each order of evs without one (new to the service), then sort
 * them all. *n grows by the rows added.
 */
void handler_add_missing(void *rows, size_t *n, size_t size, size_t keylen,
    const struct event *const *evs, size_t nevs);
void *handler_find_row(void *rows, size_t n, size_t size, const char *key);

#endif
