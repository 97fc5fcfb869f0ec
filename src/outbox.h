/*
 * outbox: events leave a service through its outbox table.
 *
 * outbox_put() writes an event in the caller's transaction, next to the
 * state change that caused it. The relay (a thread of each worker, with its
 * own PostgreSQL and RabbitMQ connections) publishes pending rows in batches
 * with mandatory publishes and pipelined publisher confirms, and marks rows
 * published only once confirmed; a returned (unroutable) or nacked row stays
 * pending and is tried again later with backoff. It is woken in-process
 * when the worker commits outbox rows and polls as a fallback (rows written
 * by other instances or before a crash).
 *
 * Several relays (instances) may run on one database: each claims rows with
 * FOR UPDATE SKIP LOCKED, and only the oldest pending row of each order, so
 * the events of one order leave in the order they were written.
 */
#ifndef CHORUS_OUTBOX_H
#define CHORUS_OUTBOX_H

#include "conf.h"
#include "db.h"
#include "envelope.h"
#include "service.h"

struct relay;

/* Called by the relay thread between rounds with its own connection (e.g. the saga deadline sweeper). Returns rows written to the outbox, or -1. */
typedef int (*relay_tick_fn)(struct db *db, const struct conf *cfg);

/*
 * Fill in ev's envelope (new id, source chorus/<service>, subject =
 * order_id, time now, traceparent continuing cause's trace, or a new trace
 * when cause is NULL) and insert it into the outbox in the open transaction.
 * 0, or -1 (database failure recorded on db).
 */
int outbox_put(struct db *db, enum service_id svc, struct event *ev, const struct event *cause);

/* Start the relay thread of service svc. tick may be NULL; it runs every tick_ms. */
struct relay *relay_start(const struct conf *cfg, enum service_id svc, relay_tick_fn tick,
    long tick_ms);
/* Wake the relay now (after a COMMIT that wrote outbox rows). Thread-safe, cheap. */
void relay_wake(struct relay *r);
/* true once the relay is connected to both PostgreSQL and RabbitMQ. */
int relay_ready(struct relay *r);
/* Events published (confirmed) so far. */
unsigned long relay_published(struct relay *r);
/*
 * Ask the relay to publish what is pending and stop, waiting at most
 * timeout_s; then join and free it.
 */
void relay_stop(struct relay *r, int timeout_s);

#endif
