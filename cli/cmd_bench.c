/*
 * chorusctl bench: push N orders through the running system and measure
 * sagas per second and end-to-end latency, from the moment an OrderCreated
 * is published to the moment its OrderConfirmed or OrderCancelled is seen
 * on the order exchange.
 *
 * Fixtures first: the SKU bench-sku gets N more units on hand and each of
 * the K customers bench-cust-1 .. bench-cust-K enough more balance for its
 * share of the orders, so that every saga can end CONFIRMED. Orders are
 * spread round-robin over the customers (one account row lock per customer)
 * and their ids carry a run id, bench-<8 hex>-<n>, so runs never collide.
 *
 * Outcomes are read from a private queue chorus.bench.<run id> (classic,
 * non-durable, auto-delete, with x-expires as a safety net) bound to
 * chorus.order for order.confirmed and order.cancelled, consumed by a
 * thread with its own connection. The publisher uses a confirm-mode
 * connection with up to --window publishes awaiting their confirms. Every
 * wait is bounded: confirms by 30 s per window, outcomes by --timeout after
 * the last publish.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <amqp.h>
#include <amqp_tcp_socket.h>

#include "cli.h"
#include "clock.h"
#include "topology.h"
#include "xmalloc.h"

#define BENCH_SKU "bench-sku"
#define BENCH_QTY 1
#define BENCH_TOTAL 100			/* cents per order */
#define BENCH_PREFETCH 1000
#define BENCH_ACK_EVERY 250
#define BENCH_QUEUE_EXPIRES_MS 60000	/* an abandoned private queue goes away */
#define BENCH_MAX_REASONS 8

enum outcome { OUT_NONE = 0, OUT_CONFIRMED, OUT_CANCELLED };

struct reason_count {
	char reason[ENVELOPE_ID_MAX + 1];
	size_t n;
};

/* What the consumer thread and the main thread share. */
struct bench {
	size_t n;
	char prefix[32];		/* "bench-<run id>-" */

	/* written by the consumer thread; read by main only after the join */
	double *t_done;
	unsigned char *outcome;
	struct reason_count reasons[BENCH_MAX_REASONS];
	size_t other_reasons;
	size_t duplicates;		/* a second outcome of the same kind */
	size_t conflicts;		/* an order seen both confirmed and cancelled */
	size_t invalid;			/* bodies that did not parse */
	char *cause;			/* why the consumer stopped early */

	/* under mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t done, confirmed, cancelled;
	int failed;

	atomic_int stop;
	struct broker *b;		/* owned by the consumer thread once it runs */

	/* events waiting in the services' queues before and after the run (-1: unknown) */
	long before[SVC__COUNT], after[SVC__COUNT];
};

/* Messages waiting in each service's queue into q; total, or -1 with *cause. */
static long
backlog(struct broker *b, long q[SVC__COUNT], char **cause)
{
	long total = 0;

	for (int s = 0; s < SVC__COUNT; s++) {
		q[s] = broker_queue_count(b, topology_queue((enum service_id)s), cause);
		if (q[s] < 0)
			return -1;
		total += q[s];
	}
	return total;
}

static int
set_fixtures(struct cli *c, size_t n, size_t customers)
{
	char units[32], ncust[32], cents[32];
	const char *p[3];
	int r;

	snprintf(units, sizeof(units), "%zu", n * BENCH_QTY);
	p[0] = BENCH_SKU;
	p[1] = units;
	r = cli_exec(c, SVC_INVENTORY,
	    "INSERT INTO stock (sku, on_hand) VALUES ($1, $2::bigint) ON CONFLICT (sku) "
	    "DO UPDATE SET on_hand = stock.on_hand + EXCLUDED.on_hand, updated_at = now()", 2, p);
	if (r != 0)
		return r;
	snprintf(ncust, sizeof(ncust), "%zu", customers);
	snprintf(cents, sizeof(cents), "%llu",
	    (unsigned long long)((n + customers - 1) / customers) * BENCH_TOTAL);
	p[0] = ncust;
	p[1] = cents;
	return cli_exec(c, SVC_PAYMENT,
	    "INSERT INTO accounts (customer_id, balance_cents) "
	    "SELECT 'bench-cust-' || g, $2::bigint FROM generate_series(1, $1::int) AS g "
	    "ON CONFLICT (customer_id) DO UPDATE "
	    "SET balance_cents = accounts.balance_cents + EXCLUDED.balance_cents, updated_at = now()",
	    2, p);
}

/*
 * Declare the private queue: classic, non-durable, auto-delete (gone when
 * the consumer's connection closes) and x-expires (gone even if no consumer
 * ever came). The broker wrapper declares only durable queues, so this
 * speaks rabbitmq-c itself, on a short-lived connection without heartbeats.
 */
static int
declare_private_queue(struct cli *c, const char *name, char **cause)
{
	struct amqp_connection_info ci;
	amqp_connection_state_t conn = amqp_new_connection();
	amqp_socket_t *sock;
	struct timeval tv = { c->cfg.connect_timeout_s > 0 ? c->cfg.connect_timeout_s : 10, 0 };
	amqp_table_entry_t e[1];
	amqp_table_t args = { 1, e };
	amqp_rpc_reply_t r;
	char *url = xstrdup(c->cfg.amqp_url);
	int st, ret = -1, logged_in = 0;

	amqp_default_connection_info(&ci);
	if (amqp_parse_url(url, &ci) != AMQP_STATUS_OK) {
		*cause = xasprintf("bad AMQP URL");
		goto out;
	}
	if ((sock = amqp_tcp_socket_new(conn)) == NULL) {
		*cause = xasprintf("cannot create a socket");
		goto out;
	}
	if ((st = amqp_socket_open_noblock(sock, ci.host, ci.port, &tv)) != AMQP_STATUS_OK) {
		*cause = xasprintf("cannot connect to RabbitMQ at %s:%d: %s", ci.host, ci.port,
		    amqp_error_string2(st));
		goto out;
	}
	amqp_set_rpc_timeout(conn, &tv);
	r = amqp_login(conn, ci.vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, ci.user, ci.password);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		*cause = xasprintf("RabbitMQ login failed (declaring %s)", name);
		goto out;
	}
	logged_in = 1;
	amqp_channel_open(conn, 1);
	if (amqp_get_rpc_reply(conn).reply_type != AMQP_RESPONSE_NORMAL) {
		*cause = xasprintf("channel.open failed (declaring %s)", name);
		goto out;
	}
	e[0].key = amqp_cstring_bytes("x-expires");
	e[0].value.kind = AMQP_FIELD_KIND_I64;
	e[0].value.value.i64 = BENCH_QUEUE_EXPIRES_MS;
	amqp_queue_declare(conn, 1, amqp_cstring_bytes(name), 0, 0, 0, 1, args);
	r = amqp_get_rpc_reply(conn);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		*cause = xasprintf("declare queue %s failed", name);
		goto out;
	}
	amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
	ret = 0;
out:
	if (logged_in)
		amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(conn);
	free(url);
	return ret;
}

/* Count a cancellation reason (under nothing: consumer thread only). */
static void
count_reason(struct bench *bn, const char *reason)
{
	for (size_t i = 0; i < BENCH_MAX_REASONS; i++) {
		if (bn->reasons[i].n == 0) {
			strlcpy_(bn->reasons[i].reason, reason, sizeof(bn->reasons[i].reason));
			bn->reasons[i].n = 1;
			return;
		}
		if (strcmp(bn->reasons[i].reason, reason) == 0) {
			bn->reasons[i].n++;
			return;
		}
	}
	bn->other_reasons++;
}

/* One delivery: record the outcome of a bench order of this run. */
static void
take(struct bench *bn, const struct delivery *d, struct event *ev, double now)
{
	char why[ENVELOPE_WHY_MAX];
	size_t plen = strlen(bn->prefix);
	enum outcome o;
	unsigned long long k;
	char *end;

	if (envelope_parse(d->body, d->len, ev, why, sizeof(why)) != 0) {
		bn->invalid++;
		return;
	}
	if (ev->type == EV_ORDER_CONFIRMED)
		o = OUT_CONFIRMED;
	else if (ev->type == EV_ORDER_CANCELLED)
		o = OUT_CANCELLED;
	else
		return;
	if (strncmp(ev->order_id, bn->prefix, plen) != 0)
		return;		/* another run's or somebody else's order */
	errno = 0;
	k = strtoull(ev->order_id + plen, &end, 10);
	if (errno != 0 || *end != '\0' || end == ev->order_id + plen || k < 1 || k > bn->n)
		return;
	k--;
	if (bn->outcome[k] != OUT_NONE) {
		if (bn->outcome[k] == o)
			bn->duplicates++;
		else
			bn->conflicts++;
		return;
	}
	bn->outcome[k] = (unsigned char)o;
	bn->t_done[k] = now;
	if (o == OUT_CANCELLED)
		count_reason(bn, ev->reason);
	pthread_mutex_lock(&bn->mu);
	bn->done++;
	if (o == OUT_CONFIRMED)
		bn->confirmed++;
	else
		bn->cancelled++;
	pthread_cond_broadcast(&bn->cv);	/* main waits for as many as were published */
	pthread_mutex_unlock(&bn->mu);
}

static void *
consumer_main(void *arg)
{
	struct bench *bn = arg;
	struct event *ev = xcalloc(1, sizeof(*ev));
	uint64_t last = 0;
	size_t unacked = 0;
	char *cause = NULL;

	while (!atomic_load(&bn->stop)) {
		struct delivery d;
		int r = broker_next(bn->b, 100, &d, &cause);

		if (r < 0)
			break;
		if (r == 1) {
			take(bn, &d, ev, clock_s());
			last = d.tag;
			unacked++;
			delivery_free(&d);
		}
		if (unacked > 0 && (r == 0 || unacked >= BENCH_ACK_EVERY)) {
			if (broker_ack(bn->b, last, 1, &cause) != 0)
				break;
			unacked = 0;
		}
	}
	if (cause == NULL && unacked > 0)
		broker_ack(bn->b, last, 1, &cause);
	if (cause != NULL && !atomic_load(&bn->stop)) {
		bn->cause = cause;
		pthread_mutex_lock(&bn->mu);
		bn->failed = 1;
		pthread_cond_broadcast(&bn->cv);
		pthread_mutex_unlock(&bn->mu);
	} else {
		free(cause);
	}
	free(ev);
	return NULL;
}

struct order_maker {
	struct cli *c;
	const struct bench *bn;
	size_t customers;
};

/* cli_event_fn: bench order i (one unit of the bench SKU, customers in turn). */
static int
make_order(void *arg, size_t i, struct event *ev)
{
	const struct order_maker *om = arg;
	char why[ENVELOPE_WHY_MAX];

	memset(ev, 0, sizeof(*ev));
	ev->type = EV_ORDER_CREATED;
	strlcpy_(ev->source, "chorusctl", sizeof(ev->source));
	strlcpy_(ev->currency, om->c->cfg.currency, sizeof(ev->currency));
	ev->n_items = 1;
	strlcpy_(ev->items[0].sku, BENCH_SKU, sizeof(ev->items[0].sku));
	ev->items[0].quantity = BENCH_QTY;
	ev->total_cents = BENCH_TOTAL;
	snprintf(ev->order_id, sizeof(ev->order_id), "%s%zu", om->bn->prefix, i + 1);
	strlcpy_(ev->subject, ev->order_id, sizeof(ev->subject));
	snprintf(ev->customer_id, sizeof(ev->customer_id), "bench-cust-%zu", i % om->customers + 1);
	envelope_new_uuid(ev->id);
	envelope_now(ev->time);
	envelope_child_traceparent(NULL, ev->traceparent);
	if (i == 0 && envelope_check(ev, why, sizeof(why)) != 0) {
		cli_err("bench: invalid OrderCreated: %s", why);
		return EX_DATAERR;
	}
	return 0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile p (1..100) of sorted v[0..n). */
static double
percentile(const double *v, size_t n, size_t p)
{
	size_t r;

	if (n == 0)
		return 0;
	r = (p * n + 99) / 100;
	if (r < 1)
		r = 1;
	if (r > n)
		r = n;
	return v[r - 1];
}

/* A JSON number shown with a fixed number of decimals. */
static struct json_object *
jreal(double v, int decimals)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "%.*f", decimals, v);
	return json_object_new_double_s(v, buf);
}

static void
usage_err(void)
{
	cli_err("usage: chorusctl bench [--orders N] [--rate R] [--window W] [--timeout S] "
	    "[--customers K]");
}

/* Parse a positive whole number option into *out; 0 or -1 after printing why. */
static int
opt_count(const char *name, const char *arg, long long max, size_t *out)
{
	long long v = cli_number(arg);

	if (v < 1 || v > max) {
		cli_err("bench: --%s must be a whole number from 1 to %lld, got '%s'", name, max, arg);
		return -1;
	}
	*out = (size_t)v;
	return 0;
}

static int
opt_real(const char *name, const char *arg, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno != 0 || end == arg || *end != '\0' || !(v >= 0) || v > 1e9) {
		cli_err("bench: --%s must be a number >= 0, got '%s'", name, arg);
		return -1;
	}
	*out = v;
	return 0;
}

/* The figures of a run, from the recorded times. */
struct figures {
	size_t finished, missing, nlat;
	double elapsed, sagas_per_s, publish_s, publish_per_s;
	double p50, p90, p99, max, mean;
};

static void
compute(const struct bench *bn, const double *t_pub, size_t published, double t_pub_end,
    struct figures *f)
{
	double *lat = xcalloc(published ? published : 1, sizeof(*lat)), last = 0, sum = 0;

	memset(f, 0, sizeof(*f));
	for (size_t i = 0; i < published; i++) {
		if (bn->outcome[i] == OUT_NONE)
			continue;
		lat[f->nlat] = (bn->t_done[i] - t_pub[i]) * 1000.0;
		sum += lat[f->nlat++];
		if (bn->t_done[i] > last)
			last = bn->t_done[i];
	}
	qsort(lat, f->nlat, sizeof(*lat), cmp_double);
	f->finished = f->nlat;
	f->missing = published - f->finished;
	f->mean = f->nlat ? sum / (double)f->nlat : 0;
	f->p50 = percentile(lat, f->nlat, 50);
	f->p90 = percentile(lat, f->nlat, 90);
	f->p99 = percentile(lat, f->nlat, 99);
	f->max = f->nlat ? lat[f->nlat - 1] : 0;
	if (published > 0) {
		f->elapsed = f->finished ? last - t_pub[0] : 0;
		f->sagas_per_s = f->elapsed > 0 ? (double)f->finished / f->elapsed : 0;
		f->publish_s = t_pub_end - t_pub[0];
		f->publish_per_s = f->publish_s > 0 ? (double)published / f->publish_s : 0;
	}
	free(lat);
}

struct params {
	size_t n, window, customers;
	double rate, timeout;
	char run[9];
};

static void
print_json(const struct params *pa, const struct bench *bn, size_t published,
    const struct figures *f)
{
	struct json_object *o = json_object_new_object(), *lo, *ro = json_object_new_object();

	json_object_object_add(o, "run_id", json_object_new_string(pa->run));
	json_object_object_add(o, "orders", json_object_new_int64((int64_t)pa->n));
	json_object_object_add(o, "published", json_object_new_int64((int64_t)published));
	json_object_object_add(o, "confirmed", json_object_new_int64((int64_t)bn->confirmed));
	json_object_object_add(o, "cancelled", json_object_new_int64((int64_t)bn->cancelled));
	json_object_object_add(o, "missing", json_object_new_int64((int64_t)f->missing));
	for (size_t i = 0; i < BENCH_MAX_REASONS && bn->reasons[i].n; i++)
		json_object_object_add(ro, bn->reasons[i].reason,
		    json_object_new_int64((int64_t)bn->reasons[i].n));
	if (bn->other_reasons)
		json_object_object_add(ro, "(other)", json_object_new_int64((int64_t)bn->other_reasons));
	json_object_object_add(o, "cancel_reasons", ro);
	json_object_object_add(o, "duplicates", json_object_new_int64((int64_t)bn->duplicates));
	json_object_object_add(o, "conflicts", json_object_new_int64((int64_t)bn->conflicts));
	json_object_object_add(o, "invalid", json_object_new_int64((int64_t)bn->invalid));
	json_object_object_add(o, "elapsed_s", jreal(f->elapsed, 3));
	json_object_object_add(o, "sagas_per_s", jreal(f->sagas_per_s, 1));
	json_object_object_add(o, "publish_s", jreal(f->publish_s, 3));
	json_object_object_add(o, "publish_per_s", jreal(f->publish_per_s, 1));
	lo = json_object_new_object();
	json_object_object_add(lo, "p50", jreal(f->p50, 3));
	json_object_object_add(lo, "p90", jreal(f->p90, 3));
	json_object_object_add(lo, "p99", jreal(f->p99, 3));
	json_object_object_add(lo, "max", jreal(f->max, 3));
	json_object_object_add(lo, "mean", jreal(f->mean, 3));
	json_object_object_add(o, "latency_ms", lo);
	for (int w = 0; w < 2; w++) {
		const long *q = w ? bn->after : bn->before;
		struct json_object *bo = json_object_new_object();

		for (int s = 0; s < SVC__COUNT; s++)
			json_object_object_add(bo, service_name((enum service_id)s),
			    q[s] < 0 ? NULL : json_object_new_int64(q[s]));
		json_object_object_add(o, w ? "queued_after" : "queued_before", bo);
	}
	json_object_object_add(o, "window", json_object_new_int64((int64_t)pa->window));
	json_object_object_add(o, "rate", jreal(pa->rate, 3));
	json_object_object_add(o, "customers", json_object_new_int64((int64_t)pa->customers));
	cli_print_json(o);
}

static void
print_text(const struct cli *c, const struct params *pa, const struct bench *bn,
    size_t published, const struct figures *f)
{
	printf("bench %s: %zu orders (%s x%d, %d cents %s each; %zu customers; window %zu)\n",
	    pa->run, pa->n, BENCH_SKU, BENCH_QTY, BENCH_TOTAL, c->cfg.currency, pa->customers,
	    pa->window);
	if (pa->rate > 0)
		printf("  rate limit     %.1f orders/s\n", pa->rate);
	printf("  finished       %zu of %zu published: confirmed %zu, cancelled %zu, missing %zu\n",
	    f->finished, published, bn->confirmed, bn->cancelled, f->missing);
	if (bn->cancelled > 0) {
		printf("  cancelled by   ");
		for (size_t i = 0; i < BENCH_MAX_REASONS && bn->reasons[i].n; i++)
			printf("%s%s %zu", i ? ", " : "", bn->reasons[i].reason, bn->reasons[i].n);
		if (bn->other_reasons)
			printf(", other %zu", bn->other_reasons);
		printf("\n");
	}
	if (bn->duplicates || bn->conflicts || bn->invalid)
		printf("  odd outcomes   %zu duplicates, %zu conflicting (confirmed and cancelled), "
		    "%zu invalid events\n", bn->duplicates, bn->conflicts, bn->invalid);
	printf("  elapsed        %.3f s (first publish -> last outcome)\n", f->elapsed);
	printf("  throughput     %.1f sagas/s\n", f->sagas_per_s);
	printf("  publish        %zu in %.3f s (%.0f orders/s, confirmed)\n", published,
	    f->publish_s, f->publish_per_s);
	printf("  latency ms     p50 %.1f  p90 %.1f  p99 %.1f  max %.1f  (mean %.1f)\n",
	    f->p50, f->p90, f->p99, f->max, f->mean);
	if (bn->after[SVC_ORDER] >= 0 && bn->after[SVC_ORDER] + bn->after[SVC_INVENTORY] +
	    bn->after[SVC_PAYMENT] > 0)
		printf("  still queued   order %ld, inventory %ld, payment %ld "
		    "(work after the outcomes, e.g. sales)\n", bn->after[SVC_ORDER],
		    bn->after[SVC_INVENTORY], bn->after[SVC_PAYMENT]);
}

/*
 * Wait until the consumer saw an outcome for each of the published orders,
 * it failed, or deadline (monotonic seconds) passes. Notes progress every 5 s
 * on a terminal.
 */
static void
wait_outcomes(struct bench *bn, size_t published, double deadline, const char *run, int notes)
{
	double next_note = clock_s() + 5;

	pthread_mutex_lock(&bn->mu);
	while (bn->done < published && !bn->failed) {
		double now = clock_s(), until = deadline < next_note ? deadline : next_note, d;
		struct timespec ts;

		if (now >= deadline)
			break;
		if (now >= next_note) {
			if (notes)
				fprintf(stderr, "bench %s: %zu of %zu finished\n", run, bn->done,
				    published);
			next_note = now + 5;
			continue;
		}
		d = until - now;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)d;
		ts.tv_nsec += (long)((d - (double)(time_t)d) * 1e9);
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&bn->cv, &bn->mu, &ts);
	}
	pthread_mutex_unlock(&bn->mu);
}

/* Bind the private queue and start consuming it; 0 or a sysexits code. */
static int
listen_outcomes(struct cli *c, struct bench *bn, const char *queue)
{
	char *cause = NULL;
	long total;

	if (declare_private_queue(c, queue, &cause) != 0) {
		cli_err("bench: %s", cause);
		free(cause);
		return EX_UNAVAILABLE;
	}
	if ((bn->b = cli_broker(c, 0)) == NULL)
		return EX_UNAVAILABLE;
	if ((total = backlog(bn->b, bn->before, &cause)) < 0) {
		cli_err("bench: %s (has chorusctl setup declared the topology?)", cause);
		free(cause);
		return EX_UNAVAILABLE;
	}
	if (total > 0 && !c->quiet)
		cli_err("bench: warning: the system is not idle: %ld events already queued (order %ld, "
		    "inventory %ld, payment %ld); the figures include that work", total,
		    bn->before[SVC_ORDER], bn->before[SVC_INVENTORY], bn->before[SVC_PAYMENT]);
	if (broker_bind(bn->b, queue, event_type_exchange(EV_ORDER_CONFIRMED),
	    event_type_routing_key(EV_ORDER_CONFIRMED), &cause) != 0 ||
	    broker_bind(bn->b, queue, event_type_exchange(EV_ORDER_CANCELLED),
	    event_type_routing_key(EV_ORDER_CANCELLED), &cause) != 0 ||
	    broker_consume(bn->b, queue, BENCH_PREFETCH, &cause) != 0) {
		cli_err("bench: %s", cause);
		free(cause);
		return EX_UNAVAILABLE;
	}
	return 0;
}

static int
parse_args(int argc, char **argv, struct params *pa)
{
	static const struct option opts[] = {
		{ "orders", required_argument, NULL, 'n' },
		{ "rate", required_argument, NULL, 'r' },
		{ "window", required_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 't' },
		{ "customers", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	pa->n = 1000;
	pa->window = 200;
	pa->customers = 50;
	pa->rate = 0;
	pa->timeout = 120;
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			if (opt_count("orders", optarg, 10000000, &pa->n) != 0)
				return -1;
			break;
		case 'w':
			if (opt_count("window", optarg, 10000, &pa->window) != 0)
				return -1;
			break;
		case 'k':
			if (opt_count("customers", optarg, 100000, &pa->customers) != 0)
				return -1;
			break;
		case 'r':
			if (opt_real("rate", optarg, &pa->rate) != 0)
				return -1;
			break;
		case 't':
			if (opt_real("timeout", optarg, &pa->timeout) != 0)
				return -1;
			if (pa->timeout <= 0) {
				cli_err("bench: --timeout must be a positive number of seconds");
				return -1;
			}
			break;
		default:
			cli_err("bench: unknown option or missing value: '%s'", argv[optind - 1]);
			usage_err();
			return -1;
		}
	}
	if (optind != argc) {
		usage_err();
		return -1;
	}
	/* with a rate, a window spans at most about a second of publishing */
	if (pa->rate > 0 && (double)pa->window > pa->rate)
		pa->window = pa->rate < 1 ? 1 : (size_t)pa->rate;
	return 0;
}

int
cmd_bench(struct cli *c, int argc, char **argv)
{
	struct params pa;
	struct figures f;
	struct bench bn;
	struct broker *pub = NULL;
	pthread_condattr_t ca;
	pthread_t thr;
	char uuid[ENVELOPE_UUID_LEN + 1], queue[64];
	double *t_pub, t_pub_end = 0;
	size_t published = 0;
	int ret, started = 0;

	if (parse_args(argc, argv, &pa) != 0)
		return EX_USAGE;
	envelope_new_uuid(uuid);
	snprintf(pa.run, sizeof(pa.run), "%.8s", uuid);
	snprintf(queue, sizeof(queue), "chorus.bench.%s", pa.run);
	memset(&bn, 0, sizeof(bn));
	for (int s = 0; s < SVC__COUNT; s++)
		bn.before[s] = bn.after[s] = -1;
	bn.n = pa.n;
	snprintf(bn.prefix, sizeof(bn.prefix), "bench-%s-", pa.run);
	bn.t_done = xcalloc(pa.n, sizeof(*bn.t_done));
	bn.outcome = xcalloc(pa.n, sizeof(*bn.outcome));
	t_pub = xcalloc(pa.n, sizeof(*t_pub));
	pthread_mutex_init(&bn.mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&bn.cv, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&bn.stop, 0);

	if ((ret = set_fixtures(c, pa.n, pa.customers)) != 0)
		goto out;
	/* the outcome listener is in place before the first order goes out */
	if ((ret = listen_outcomes(c, &bn, queue)) != 0)
		goto out;
	if (pthread_create(&thr, NULL, consumer_main, &bn) != 0) {
		cli_err("bench: cannot start the consumer thread");
		ret = EX_OSERR;
		goto out;
	}
	started = 1;
	if ((pub = cli_broker(c, 1)) == NULL) {
		ret = EX_UNAVAILABLE;
		goto out;
	}
	if (!c->quiet && !c->json)
		fprintf(stderr, "bench %s: publishing %zu orders...\n", pa.run, pa.n);
	{
		struct order_maker om = { c, &bn, pa.customers };

		ret = cli_publish(pub, pa.n, make_order, &om, pa.window, pa.rate, "chorusctl", t_pub,
		    &published);
		t_pub_end = clock_s();
	}
	broker_close(pub);
	pub = NULL;
	/* outcomes: at most --timeout after the last publish */
	if (published > 0)
		wait_outcomes(&bn, published, t_pub_end + pa.timeout, pa.run,
		    isatty(STDERR_FILENO) && !c->quiet && !c->json);
out:
	if (started) {
		char *cause = NULL;

		atomic_store(&bn.stop, 1);
		pthread_join(thr, NULL);
		if (bn.cause == NULL && backlog(bn.b, bn.after, &cause) < 0) {
			for (int s = 0; s < SVC__COUNT; s++)
				bn.after[s] = -1;
			free(cause);
		}
	}
	broker_close(pub);
	broker_close(bn.b);	/* the auto-delete queue goes with its consumer */
	if (published > 0) {
		compute(&bn, t_pub, published, t_pub_end, &f);
		if (c->json)
			print_json(&pa, &bn, published, &f);
		else if (!c->quiet || f.missing > 0)
			print_text(c, &pa, &bn, published, &f);
		if (f.missing > 0 && bn.cause != NULL) {
			cli_err("bench: %zu of %zu orders had no outcome when the outcome consumer "
			    "stopped", f.missing, published);
		} else if (f.missing > 0) {
			cli_err("bench: %zu of %zu orders had no outcome %.0f s after the last publish%s",
			    f.missing, published, pa.timeout, f.finished == 0 ?
			    " (are chorus-order, chorus-inventory and chorus-payment running?)" : "");
			if (ret == 0)
				ret = EX_TEMPFAIL;
		}
	}
	if (bn.cause != NULL) {
		cli_err("bench: outcome consumer stopped: %s", bn.cause);
		if (ret == 0)
			ret = EX_UNAVAILABLE;
	}
	free(bn.cause);
	free(t_pub);
	free(bn.t_done);
	free(bn.outcome);
	pthread_cond_destroy(&bn.cv);
	pthread_mutex_destroy(&bn.mu);
	return ret;
}
