/*
 * consumer: the consume loop of a worker. It takes up to batch_size
 * deliveries, validates them, handles the valid ones in one transaction
 * (inbox claim, the service's locks, state machine, outbox rows), commits,
 * publishes poison to the dead-letter queue with its reason and transient
 * failures to a retry queue (see retry.h), and only then acknowledges with
 * one multiple ack. A transient database failure is tried once more at
 * once; a permanent failure of one delivery is isolated by replaying the
 * batch one by one. A lost connection acks nothing: the worker reconnects
 * and the deliveries come again.
 */
#ifndef CHORUS_CONSUMER_H
#define CHORUS_CONSUMER_H

#include <signal.h>

#include "conf.h"
#include "outbox.h"
#include "worker.h"

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
	/* now and then (every loop turn, at most WAIT_FIRST_MS apart): counters, connection */
	void (*tick)(const struct consumer_stats *st, int connected);
};

/* Consume until *stop is set; reconnects by itself. Returns 0 when stopped. */
int consumer_run(const struct conf *cfg, const struct worker_ops *ops, struct relay *relay,
    volatile sig_atomic_t *stop, const struct consumer_hooks *hooks);

#endif
