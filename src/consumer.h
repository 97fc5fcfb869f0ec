/*
 * consumer: the consume loop of a worker, on the worker's main thread.
 *
 * It takes what has arrived, up to batch_size deliveries (waiting only for
 * the first: never to fill a batch), validates them, applies the valid ones
 * in one transaction (batch.h, handler.h), publishes poison to the
 * dead-letter queue with its reason and transient failures to a delay
 * queue (forward.h), and only then acknowledges the whole batch with one
 * multiple ack. What follows a failed try is batch_decide(). A lost
 * connection acks nothing: the worker reconnects and the deliveries come
 * again. Between batches it runs the service's timers and the retention of
 * outbox and inbox rows, each in a transaction of its own.
 */
#ifndef CHORUS_CONSUMER_H
#define CHORUS_CONSUMER_H

#include <signal.h>

#include "conf.h"
#include "handler.h"
#include "relay.h"

struct consumer_stats {
	unsigned long consumed;		/* deliveries handled and acked */
	unsigned long duplicates;	/* already in the inbox */
	unsigned long dead;		/* dead-lettered */
	unsigned long batches;
	unsigned long rollbacks;	/* deliveries sent to a retry queue after a transient failure */
};

/* What the consumer tells its worker. */
struct consumer_hooks {
	void (*ready)(void);	/* once: connected and consuming (sd_notify READY=1) */
	/* now and then (every loop turn, at most 250 ms apart): counters, connection */
	void (*tick)(const struct consumer_stats *st, int connected);
};

/* Consume until *stop is set; reconnects by itself. Returns 0 when stopped. */
int consumer_run(const struct conf *cfg, const struct handler_ops *ops, struct relay *relay,
    volatile sig_atomic_t *stop, const struct consumer_hooks *hooks);

#endif
