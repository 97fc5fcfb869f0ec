/*
 * worker: the one skeleton of the three Chorus daemons (in the manner of
 * Postfix's single_server): options, configuration, logging, signals,
 * sd_notify, the health endpoint, the outbox relay thread and the consumer
 * loop live here; a daemon's main() hands it a struct worker_ops naming
 * its service's batch handler (handler.h) and what else it needs.
 */
#ifndef CHORUS_WORKER_H
#define CHORUS_WORKER_H

#include "api.h"
#include "conf.h"
#include "handler.h"

struct worker_ops {
	/* the service, its batch handler, its timers, its pause (see handler.h) */
	struct handler_ops handler;
	/* Set up what the handler needs from the configuration (may be NULL). */
	void (*init)(const struct conf *cfg);
	/* The service's REST API routes, served on <service>.api_listen (may be NULL). */
	api_routes_fn api;
	/* Export chorus_unrouted_messages, the depth of chorus.unrouted (one service does). */
	int watch_unrouted;
};

/*
 * Tell the worker's relay that a transaction committed outbox rows (a
 * thread of the daemon other than the consumer, e.g. its HTTP API), so it
 * publishes them now. Thread-safe, cheap; does nothing before the relay runs.
 */
void worker_outbox_written(void);

/* Parse options, load the config, run the worker until SIGTERM. Returns the exit status. */
int worker_main(int argc, char **argv, const struct worker_ops *ops);

#endif
