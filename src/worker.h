/*
 * worker: the one skeleton of the three Chorus daemons (in the manner of
 * Postfix's single_server): options, configuration, logging, signals,
 * sd_notify, the outbox relay thread and the consumer loop live here; a
 * daemon's main() hands it a struct worker_ops naming its service, its
 * event handler and its periodic work.
 */
#ifndef CHORUS_WORKER_H
#define CHORUS_WORKER_H

#include "conf.h"
#include "db.h"
#include "envelope.h"
#include "metrics.h"
#include "outbox.h"
#include "retry.h"
#include "service.h"

/* What a handler gets: the open transaction and where to emit events. */
struct handler_ctx {
	struct db *db;
	const struct conf *cfg;
	enum service_id svc;
	int emitted;		/* events written to the outbox in this transaction */
	struct metrics_batch *mb;	/* what the transaction counts once committed */
	/* a failure that is not the database's (a provider outage): its class and words */
	enum err_class fail;
	char fail_why[128];
	int fail_uncounted;	/* not the message's fault (a circuit is open): no attempt used */
};

struct worker_ops {
	enum service_id svc;
	/* Set up what the handler needs from the configuration (may be NULL). */
	void (*init)(const struct conf *cfg);
	/*
	 * Apply one validated, not yet seen event inside the open transaction
	 * (the inbox row is already written). 0, or -1 on a failure: a
	 * database one (its SQLSTATE tells transient from permanent), or one
	 * the handler classed in h->fail and h->fail_why.
	 */
	int (*handle)(struct handler_ctx *h, const struct event *ev);
	/*
	 * Called first in each batch's transaction with the batch's valid
	 * events (may be NULL): where to take the locks several events need
	 * in one global order, so that instances do not deadlock. 0, or -1.
	 */
	int (*prepare)(struct handler_ctx *h, const struct event *const *evs, size_t n);
	/* Periodic work of the service in its own transaction (may be NULL): rows emitted or -1. */
	relay_tick_fn tick;
	/*
	 * Milliseconds to pause consumption before the next batch (a
	 * dependency's circuit breaker is open), 0 to go on; may be NULL.
	 */
	long (*pause_ms)(void);
};

/* Write ev to the outbox (see outbox_put) and count it on h and h->mb. 0, or -1. */
int handler_emit(struct handler_ctx *h, struct event *ev, const struct event *cause);

/*
 * Lock (creating when absent) the state rows of the orders of a batch, in
 * order id order, with sql ($1: the order ids as text[]; it must insert
 * SELECT DISTINCT ... ORDER BY 1 ... ON CONFLICT DO UPDATE): instances then
 * take one order's row after the other in the same order and never
 * deadlock. 0, or -1 (database failure).
 */
int worker_lock_state_rows(struct handler_ctx *h, const struct event *const *evs, size_t n,
    const char *name, const char *sql);

/* Parse options, load the config, run the worker until SIGTERM. Returns the exit status. */
int worker_main(int argc, char **argv, const struct worker_ops *ops);

#endif
