/*
 * bench_forward: three forwarder threads standing in for the workers in
 * `chorusctl bench --broker-only` (see bench_forward.h).
 *
 * Each forwarder is the workers' consume loop with the database taken
 * out: collect what has arrived, work out each delivery's reaction from
 * the contract and the workload plan, publish the reactions with confirms,
 * ack the batch. The reactions are stateless: for the bench's workload
 * every event's reaction follows from its type and its order's fate alone
 * (see reaction()), so no state is kept per order.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_forward.h"
#include "broker.h"
#include "clock.h"
#include "envelope.h"
#include "service.h"
#include "topology.h"
#include "xmalloc.h"

#define WAIT_FIRST_MS 250		/* as the workers: longest wait for a batch's first delivery */
#define CONFIRM_TIMEOUT_MS 30000	/* as the relay */
#define POLL_EVERY_S 1.0		/* serve the publishing connection's heartbeats when idle */
#define MAX_CHAIN 16			/* events one saga sets off, at most */

/* One forwarder: a service's consume loop without the database. */
struct forwarder {
	struct bench_forward *fw;
	enum service_id svc;
	char app_id[32];		/* "chorus-<service>", as the real service */
	struct broker *in, *out;
	struct broker_batch *bb;
	struct delivery *d;		/* batch_size of them */
	struct event *ev, *reply;
	pthread_t thr;
	int running;			/* the thread was started and not yet joined */
	clockid_t cpu;
};

struct bench_forward {
	size_t batch_size;
	bench_fate_fn fate;
	void *arg;
	struct forwarder f[SVC__COUNT];
	atomic_int stop;

	/* under mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;		/* on CLOCK_MONOTONIC: a batch was acked, or a forwarder failed */
	struct bench_forward_stats st;
	char *cause;			/* the first failure */
};

/*
 * The event svc emits on taking an event of type in for an order of fate,
 * EV_UNKNOWN for none: contract section 2 as it plays out for the bench's
 * workload. No state is needed: an inventory release follows the
 * PaymentFailed (which reaches the inventory queue before the
 * OrderCancelled it leads to, and that then finds nothing held), and no
 * order is cancelled after its payment completed, so none is refunded.
 */
static enum event_type
reaction(enum service_id svc, enum event_type in, enum bench_fate fate)
{
	switch (svc) {
	case SVC_INVENTORY:
		if (in == EV_ORDER_CREATED)
			return fate == BENCH_OUT_OF_STOCK ? EV_INVENTORY_RESERVATION_FAILED :
			    EV_INVENTORY_RESERVED;
		return in == EV_PAYMENT_FAILED ? EV_INVENTORY_RELEASED : EV_UNKNOWN;
	case SVC_PAYMENT:
		if (in == EV_INVENTORY_RESERVED)
			return fate == BENCH_NO_FUNDS ? EV_PAYMENT_FAILED : EV_PAYMENT_COMPLETED;
		return EV_UNKNOWN;	/* OrderCancelled: nothing was charged */
	case SVC_ORDER:
		if (in == EV_PAYMENT_COMPLETED)
			return EV_ORDER_CONFIRMED;
		if (in == EV_INVENTORY_RESERVATION_FAILED || in == EV_PAYMENT_FAILED)
			return EV_ORDER_CANCELLED;
		return EV_UNKNOWN;	/* OrderCreated, the compensations: recorded only */
	default:
		return EV_UNKNOWN;
	}
}

void
bench_forward_per_saga(enum bench_fate fate, size_t *deliveries, size_t *publishes)
{
	enum event_type chain[MAX_CHAIN] = { EV_ORDER_CREATED };
	size_t n = 1;

	*deliveries = *publishes = 0;
	for (size_t i = 0; i < n; i++) {
		for (int s = 0; s < SVC__COUNT; s++) {
			enum event_type e;

			if (!service_consumes((enum service_id)s, chain[i]))
				continue;
			(*deliveries)++;
			e = reaction((enum service_id)s, chain[i], fate);
			if (e != EV_UNKNOWN && n < MAX_CHAIN) {
				chain[n++] = e;
				(*publishes)++;
			}
		}
	}
}

/* Fill out with the event of type t that svc emits on in, worded as the real service does. */
static void
make_reply(enum service_id svc, enum event_type t, const struct event *in, struct event *out)
{
	memset(out, 0, sizeof(*out));
	out->type = t;
	envelope_new_uuid(out->id);
	snprintf(out->source, sizeof(out->source), "chorus/%s", service_name(svc));
	strlcpy_(out->order_id, in->order_id, sizeof(out->order_id));
	strlcpy_(out->subject, in->order_id, sizeof(out->subject));
	envelope_now(out->time);
	envelope_child_traceparent(in->traceparent, out->traceparent);
	switch (t) {
	case EV_INVENTORY_RESERVED:
		envelope_new_uuid(out->reservation_id);
		strlcpy_(out->customer_id, in->customer_id, sizeof(out->customer_id));
		memcpy(out->items, in->items, in->n_items * sizeof(in->items[0]));
		out->n_items = in->n_items;
		out->total_cents = in->total_cents;
		memcpy(out->currency, in->currency, sizeof(out->currency));
		break;
	case EV_INVENTORY_RESERVATION_FAILED:
		strlcpy_(out->reason, "out_of_stock", sizeof(out->reason));
		strlcpy_(out->sku, in->items[0].sku, sizeof(out->sku));	/* the plan's empty SKU */
		break;
	case EV_INVENTORY_RELEASED:
		envelope_new_uuid(out->reservation_id);
		strlcpy_(out->reason, "payment_failed", sizeof(out->reason));
		break;
	case EV_PAYMENT_COMPLETED:
		envelope_new_uuid(out->payment_id);
		strlcpy_(out->customer_id, in->customer_id, sizeof(out->customer_id));
		out->amount_cents = in->total_cents;
		memcpy(out->currency, in->currency, sizeof(out->currency));
		break;
	case EV_PAYMENT_FAILED:
		strlcpy_(out->reason, "insufficient_funds", sizeof(out->reason));
		break;
	case EV_ORDER_CANCELLED:
		strlcpy_(out->reason, in->reason, sizeof(out->reason));
		break;
	default:
		break;	/* OrderConfirmed: the order id is all */
	}
}

/* Publish ev in the forwarder's batch as the real service's relay does. 0, or -1 (*cause). */
static int
publish(struct forwarder *f, const struct event *ev, char **cause)
{
	char *body = envelope_render(ev);
	struct broker_event w = {
		.exchange = topology_exchange(f->svc),
		.routing_key = event_type_routing_key(ev->type),
		.body = body,
		.len = strlen(body),
		.id = ev->id,
		.type = event_type_name(ev->type),
		.subject = ev->subject,
		.app_id = f->app_id,
		.traceparent = ev->traceparent,
		.return_unroutable = service_name(f->svc),
	};
	int r = broker_batch_add_event(f->bb, &w, cause);

	free(body);
	return r;
}

/* One delivery: publish its reaction, if any. 0, or -1 (*cause) when it is none of the run's. */
static int
react(struct forwarder *f, const struct delivery *d, char **cause)
{
	char why[ENVELOPE_WHY_MAX];
	enum event_type t;
	int fate;

	if (envelope_parse(d->body, d->len, f->ev, why, sizeof(why)) != 0) {
		*cause = xasprintf("%s: an invalid event (%s): not the bench's; left in the queue",
		    topology_queue(f->svc), why);
		return -1;
	}
	if ((fate = f->fw->fate(f->fw->arg, f->ev->order_id)) < 0 || fate >= BENCH__FATES) {
		*cause = xasprintf("%s: %s of order %s, not of this run: is somebody else publishing "
		    "on this broker? (left in the queue)", topology_queue(f->svc),
		    event_type_name(f->ev->type), f->ev->order_id);
		return -1;
	}
	t = reaction(f->svc, f->ev->type, (enum bench_fate)fate);
	if (t == EV_UNKNOWN)
		return 0;
	make_reply(f->svc, t, f->ev, f->reply);
	return publish(f, f->reply, cause);
}

/* Wait for the batch's confirms; every message must be acked. 0, or -1 (*cause). */
static int
settle(struct forwarder *f, char **cause)
{
	if (broker_batch_wait(f->bb, CONFIRM_TIMEOUT_MS, cause) != 0)
		return -1;
	if (broker_batch_failed(f->bb) > 0) {
		*cause = xasprintf("%s: %zu of %zu events returned or refused by the broker",
		    topology_exchange(f->svc), broker_batch_failed(f->bb), broker_batch_count(f->bb));
		return -1;
	}
	return 0;
}

/* Count a batch done and wake the waiter. */
static void
note_batch(struct bench_forward *fw, size_t deliveries, size_t published)
{
	pthread_mutex_lock(&fw->mu);
	fw->st.deliveries += deliveries;
	fw->st.published += published;
	fw->st.batches++;
	fw->st.t_last = clock_s();
	pthread_cond_broadcast(&fw->cv);
	pthread_mutex_unlock(&fw->mu);
}

/* The n deliveries taken: react to each, one wait for all confirms, one multiple ack. */
static int
forward(struct forwarder *f, size_t n, char **cause)
{
	int r = 0;

	broker_batch_clear(f->bb);
	for (size_t i = 0; i < n && r == 0; i++)
		r = react(f, &f->d[i], cause);
	if (r == 0 && broker_batch_count(f->bb) > 0)
		r = settle(f, cause);
	if (r == 0)
		r = broker_ack(f->in, f->d[n - 1].tag, 1, cause);
	if (r == 0)
		note_batch(f->fw, n, broker_batch_count(f->bb));
	for (size_t i = 0; i < n; i++)
		delivery_free(&f->d[i]);
	return r;
}

/* Take what has arrived, up to batch_size, waiting only for the first. n, or -1 (*cause). */
static long
collect(struct forwarder *f, char **cause)
{
	size_t n, max = f->fw->batch_size;
	int r = broker_next(f->in, WAIT_FIRST_MS, &f->d[0], cause);

	if (r <= 0)
		return r;
	for (n = 1; n < max && (r = broker_next(f->in, 0, &f->d[n], cause)) == 1; n++)
		;
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			delivery_free(&f->d[i]);
		return -1;
	}
	return (long)n;
}

/* Note the first failure and wake the waiter; takes cause. */
static void
note_failure(struct bench_forward *fw, enum service_id svc, char *cause)
{
	pthread_mutex_lock(&fw->mu);
	if (fw->cause == NULL)
		fw->cause = xasprintf("forwarder %s: %s", service_name(svc), cause);
	fw->st.failed = 1;
	pthread_cond_broadcast(&fw->cv);
	pthread_mutex_unlock(&fw->mu);
	free(cause);
}

static void *
forwarder_main(void *arg)
{
	struct forwarder *f = arg;
	double next_poll = clock_s() + POLL_EVERY_S;
	char *cause = NULL;

	while (!atomic_load(&f->fw->stop)) {
		long n = collect(f, &cause);

		if (n < 0 || (n > 0 && forward(f, (size_t)n, &cause) != 0))
			break;
		if (clock_s() >= next_poll) {
			if (broker_poll(f->out, &cause) != 0)
				break;
			next_poll = clock_s() + POLL_EVERY_S;
		}
	}
	if (cause != NULL)
		note_failure(f->fw, f->svc, cause);
	return NULL;
}

/* Both connections of f, consuming. 0, or -1 (*cause). */
static int
connect_forwarder(struct forwarder *f, const struct conf *cfg, char **cause)
{
	struct broker_tls tls;
	char name[64];

	conf_broker_tls(cfg, &tls);
	snprintf(f->app_id, sizeof(f->app_id), "chorus-%s", service_name(f->svc));
	snprintf(name, sizeof(name), "chorusctl forwarder %s", service_name(f->svc));
	f->in = broker_connect(cfg->amqp_url, &tls, name, (int)cfg->heartbeat_s,
	    (int)cfg->connect_timeout_s, cause);
	if (f->in == NULL)
		return -1;
	snprintf(name, sizeof(name), "chorusctl forwarder %s publishing", service_name(f->svc));
	f->out = broker_connect(cfg->amqp_url, &tls, name, (int)cfg->heartbeat_s,
	    (int)cfg->connect_timeout_s, cause);
	if (f->out == NULL || broker_confirm_mode(f->out, cause) != 0)
		return -1;
	f->bb = broker_batch_new(f->out);
	f->d = xcalloc((size_t)cfg->batch_size, sizeof(*f->d));
	f->ev = xcalloc(1, sizeof(*f->ev));
	f->reply = xcalloc(1, sizeof(*f->reply));
	return broker_consume(f->in, topology_queue(f->svc), (int)cfg->prefetch, cause);
}

static void
close_forwarder(struct forwarder *f)
{
	broker_batch_free(f->bb);	/* before its broker */
	broker_close(f->out);
	broker_close(f->in);	/* unacked deliveries go back to the queue */
	free(f->d);
	free(f->ev);
	free(f->reply);
}

struct bench_forward *
bench_forward_start(const struct conf *cfg, bench_fate_fn fate, void *arg, char **cause)
{
	struct bench_forward *fw = xcalloc(1, sizeof(*fw));
	pthread_condattr_t ca;

	fw->batch_size = (size_t)cfg->batch_size;
	fw->fate = fate;
	fw->arg = arg;
	atomic_init(&fw->stop, 0);
	pthread_mutex_init(&fw->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&fw->cv, &ca);
	pthread_condattr_destroy(&ca);
	/* every connection first, so that a failure leaves nothing running */
	for (int s = 0; s < SVC__COUNT; s++) {
		fw->f[s].fw = fw;
		fw->f[s].svc = (enum service_id)s;
		if (connect_forwarder(&fw->f[s], cfg, cause) != 0)
			goto fail;
	}
	for (int s = 0; s < SVC__COUNT; s++) {
		struct forwarder *f = &fw->f[s];

		if (pthread_create(&f->thr, NULL, forwarder_main, f) != 0) {
			*cause = xasprintf("cannot start the %s forwarder thread", service_name(f->svc));
			goto fail;
		}
		f->running = 1;
		if (pthread_getcpuclockid(f->thr, &f->cpu) != 0)
			f->cpu = (clockid_t)-1;
	}
	return fw;
fail:
	bench_forward_stop(fw);
	return NULL;
}

/* Wait on fw->cv for at most 0.5 s (never past deadline); false once deadline passed. */
static int
wait_a_while(struct bench_forward *fw, double deadline)
{
	double d = deadline - clock_s();
	struct timespec ts;

	if (d <= 0)
		return 0;
	if (d > 0.5)
		d = 0.5;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += (long)(d * 1e9);
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	pthread_cond_timedwait(&fw->cv, &fw->mu, &ts);
	return 1;
}

int
bench_forward_wait(struct bench_forward *fw, size_t deliveries, double deadline, char **cause)
{
	int r = -1;

	pthread_mutex_lock(&fw->mu);
	while (fw->st.deliveries < deliveries && fw->cause == NULL && wait_a_while(fw, deadline))
		;
	if (fw->cause != NULL)
		*cause = xstrdup(fw->cause);
	else if (fw->st.deliveries < deliveries)
		*cause = xasprintf("the forwarders took %zu of the %zu deliveries the workload makes",
		    fw->st.deliveries, deliveries);
	else
		r = 0;
	pthread_mutex_unlock(&fw->mu);
	return r;
}

void
bench_forward_stats(struct bench_forward *fw, struct bench_forward_stats *st)
{
	pthread_mutex_lock(&fw->mu);
	*st = fw->st;
	pthread_mutex_unlock(&fw->mu);
}

double
bench_forward_cpu_s(struct bench_forward *fw)
{
	double total = 0;

	for (int s = 0; s < SVC__COUNT; s++) {
		struct timespec ts;

		if (!fw->f[s].running || fw->f[s].cpu == (clockid_t)-1 ||
		    clock_gettime(fw->f[s].cpu, &ts) != 0)
			return -1;
		total += (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	}
	return total;
}

void
bench_forward_stop(struct bench_forward *fw)
{
	if (fw == NULL)
		return;
	atomic_store(&fw->stop, 1);
	for (int s = 0; s < SVC__COUNT; s++) {
		if (fw->f[s].running)
			pthread_join(fw->f[s].thr, NULL);
		fw->f[s].running = 0;
		close_forwarder(&fw->f[s]);
	}
	free(fw->cause);
	pthread_cond_destroy(&fw->cv);
	pthread_mutex_destroy(&fw->mu);
	free(fw);
}
