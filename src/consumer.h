/*
 * consumer: the consume loop of a worker. It takes up to batch_size
 * deliveries, handles them in one transaction (inbox claim, state machine,
 * outbox rows), commits, dead-letters poison messages with their reason,
 * and only then acknowledges with one multiple ack. A transient failure
 * rolls the batch back and the deliveries come again; a permanent failure
 * of one delivery is isolated by replaying the batch one by one.
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
	unsigned long rollbacks;	/* transient failures: batch rolled back and redelivered */
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
