/*
 * relay: publishes a service's outbox rows to RabbitMQ (its own thread,
 * with its own PostgreSQL and RabbitMQ connections). The relay only
 * publishes: business timers run on the worker's consumer thread.
 *
 * One relay per database is active at a time (a PostgreSQL advisory lock;
 * the relays of other instances stand by and take over when it goes), so
 * rows need no row locks to be claimed. A round reads the new rows and the
 * retry tier's due rows, publishes them all (mandatory, pipelined) before
 * one wait for their confirms, and records the round with one statement:
 * confirmed rows marked published (a HOT update: no index covers
 * published_at), refused ones (returned as unroutable, nacked) moved to the
 * retry tier (retrying, exponential backoff). Only the first unpublished
 * row of each order goes out (a row with an earlier unpublished one of its
 * order waits in the retry tier), so one order's events leave in the order
 * they were written.
 *
 * Finding new rows without an index on published_at: every row records its
 * writing transaction (tx, an xid8). The relay keeps a frontier: rows it
 * has not read come from transactions >= lo, or from the few that were
 * still running below lo when it last read (the snapshot's xip). After a
 * round, lo becomes the snapshot's xmax (or, when the round read its limit,
 * the last transaction read), so a round reads only rows written since the
 * last one, whatever a long transaction elsewhere in the cluster does. The
 * lowest of the frontier is stored in outbox_relay (the horizon: every
 * unpublished row outside the retry tier has tx at or above it), where a relay
 * taking over starts and chorusctl finds the backlog.
 *
 * Woken in-process after a commit of its worker (an eventfd), by NOTIFY when
 * the relay of another instance, standing by, was woken so; polls every
 * relay_poll_ms otherwise (rows left by a crash, retries come due).
 */
#ifndef CHORUS_RELAY_H
#define CHORUS_RELAY_H

#include "conf.h"
#include "service.h"

struct relay;

/*
 * Start the relay thread of service svc; NULL if the thread cannot start.
 * watch_unrouted: while active, it also measures the depth of
 * chorus.unrouted (metrics_unrouted) every second.
 */
struct relay *relay_start(const struct conf *cfg, enum service_id svc, int watch_unrouted);
/* Wake the relay now (after a COMMIT that wrote outbox rows). Thread-safe, cheap. */
void relay_wake(struct relay *r);
/* true once the relay is connected to both PostgreSQL and RabbitMQ (active or standing by). */
int relay_ready(struct relay *r);
/* Events published (confirmed) so far. */
unsigned long relay_published(struct relay *r);
/*
 * Ask the relay to publish what is pending and stop, waiting at most
 * timeout_s; then join and free it.
 */
void relay_stop(struct relay *r, int timeout_s);

#endif
