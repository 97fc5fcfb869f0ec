/*
 * bench_forward: the forwarders of `chorusctl bench --broker-only`, which
 * stand in for the three workers so that the bench measures what RabbitMQ
 * alone costs for a saga: the same messages, properties and topology, the
 * same consuming and confirming pattern, and no database at all.
 *
 * One thread per service, each with two connections of its own: one
 * consuming the service's queue (manual acks, the workers' prefetch), one
 * publishing in confirm mode. A forwarder takes what has arrived (up to
 * the workers' batch_size deliveries, waiting only for the first),
 * publishes the events the real service emits in reaction (contract
 * section 2), all of them before one wait for their confirms
 * (struct broker_batch), then acks the deliveries with one multiple ack.
 * Whether an order is out of stock or its customer has no funds comes
 * from the bench's own workload plan, through a bench_fate_fn.
 *
 * A delivery that is not of the run (another order, an invalid body)
 * stops its forwarder with the run failed; it is not acked, so closing the
 * connection gives it back to its queue: nothing of anybody else is lost.
 */
#ifndef CHORUS_BENCH_FORWARD_H
#define CHORUS_BENCH_FORWARD_H

#include <stddef.h>

#include "conf.h"

/* What an order of the workload must end as. */
enum bench_fate {
	BENCH_CONFIRMED = 0,
	BENCH_OUT_OF_STOCK,
	BENCH_NO_FUNDS,
	BENCH__FATES
};

/*
 * The fate of the order order_id, or -1 when it is none of the run's.
 * Called from every forwarder thread at once: it must only read.
 */
typedef int (*bench_fate_fn)(void *arg, const char *order_id);

/* What the forwarders have done so far, all together. */
struct bench_forward_stats {
	size_t deliveries;	/* taken from the service queues and acked */
	size_t published;	/* events published and confirmed */
	size_t batches;		/* deliveries are taken and acked a batch at a time */
	double t_last;		/* clock_s of the last ack, 0 before the first */
	int failed;		/* a forwarder stopped on a failure (bench_forward_wait says why) */
};

struct bench_forward;

/*
 * What one saga of this fate costs the broker: deliveries from the service
 * queues and events the services publish (the OrderCreated not counted),
 * derived from the same reactions the forwarders follow.
 */
void bench_forward_per_saga(enum bench_fate fate, size_t *deliveries, size_t *publishes);

/*
 * Connect the forwarders (six connections, named "chorusctl forwarder
 * <service> ...") and start their threads; they consume at once. cfg and
 * arg must outlive the forwarders. NULL with *cause (the caller frees) when
 * a connection fails; nothing is left running then.
 */
struct bench_forward *bench_forward_start(const struct conf *cfg, bench_fate_fn fate,
    void *arg, char **cause);
/*
 * Wait until the forwarders have acked deliveries deliveries in all, one of
 * them failed, or deadline (clock_s) passed. 0 when acked; -1 otherwise,
 * with *cause (the caller frees).
 */
int bench_forward_wait(struct bench_forward *fw, size_t deliveries, double deadline,
    char **cause) __attribute__((warn_unused_result));
/* A copy of the counters so far. */
void bench_forward_stats(struct bench_forward *fw, struct bench_forward_stats *st);
/* CPU seconds the forwarder threads have used so far; -1 when unknown (one ended). */
double bench_forward_cpu_s(struct bench_forward *fw);
/*
 * Stop the threads (each notices within a quarter of a second), join them,
 * close their connections (what they hold unacked goes back to its queue)
 * and free. NULL is fine.
 */
void bench_forward_stop(struct bench_forward *fw);

#endif
