/*
 * relay: publishes a service's outbox rows to RabbitMQ (its own thread,
 * with its own PostgreSQL and RabbitMQ connections). The relay only
 * publishes: business timers run on the worker's consumer thread.
 *
 * One relay per database is active at a time (a PostgreSQL advisory lock;
 * the relays of other instances stand by and take over when it goes), so
 * rows need no row locks to be claimed. A round reads the unpublished rows
 * in seq order, publishes them all (mandatory, pipelined) before one wait
 * for their confirms, and marks the confirmed ones published with one
 * UPDATE (a HOT update: no index covers published_at). Only the first
 * unpublished row of each order goes out in a round, so one order's events
 * leave in the order they were written; a returned (unroutable) or nacked
 * row stays unpublished and moves to the retry tier (attempts > 0), tried
 * again with exponential backoff, and the rows of its order wait behind it.
 *
 * Finding new rows without an index on published_at: every row records its
 * writing transaction (tx, an xid8). After each round the relay advances a
 * horizon H to the oldest transaction still running when the round read
 * (pg_snapshot_xmin), held back by the rows it had to leave for a later
 * round. Every unpublished row with attempts = 0 has tx >= H, so a round
 * reads only rows with tx >= H (recent ones) or attempts > 0 (the small
 * retry tier), through two small indexes. H is stored in the table
 * outbox_relay, so a new relay (and chorusctl) starts from it.
 *
 * Woken in-process after a commit that wrote outbox rows; polls every
 * relay_poll_ms otherwise (rows written by other instances or the API).
 */
#ifndef CHORUS_RELAY_H
#define CHORUS_RELAY_H

#include "conf.h"
#include "service.h"

struct relay;

/* Start the relay thread of service svc; NULL if the thread cannot start. */
struct relay *relay_start(const struct conf *cfg, enum service_id svc);
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
