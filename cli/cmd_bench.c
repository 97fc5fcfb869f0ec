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
#include "xmalloc.h"

#define BENCH_SKU "bench-sku"
#define BENCH_QTY 1
#define BENCH_TOTAL 100			/* cents per order */
#define BENCH_PREFETCH 1000
#define BENCH_ACK_EVERY 250
#define BENCH_CONFIRM_TIMEOUT_MS 30000
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
};

static double
mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
sleep_s(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

/* Run one fixture statement; 0 or a sysexits code after printing why. */
static int
fixture(struct cli *c, enum service_id svc, const char *sql, int n, const char *const *p)
{
	struct db *db = cli_db(c, svc);
	PGresult *res;

	if (db == NULL)
		return EX_UNAVAILABLE;
	res = db_query(db, NULL, sql, n, p);
	if (res == NULL) {
		cli_err("bench fixtures: %s database: %s", service_name(svc), db_last_error(db));
		db_close(db);
		return EX_SOFTWARE;
	}
	PQclear(res);
	db_close(db);
	return 0;
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
	r = fixture(c, SVC_INVENTORY,
	    "INSERT INTO stock (sku, on_hand) VALUES ($1, $2::bigint) ON CONFLICT (sku) "
	    "DO UPDATE SET on_hand = stock.on_hand + EXCLUDED.on_hand, updated_at = now()", 2, p);
	if (r != 0)
		return r;
	snprintf(ncust, sizeof(ncust), "%zu", customers);
	snprintf(cents, sizeof(cents), "%llu",
	    (unsigned long long)((n + customers - 1) / customers) * BENCH_TOTAL);
	p[0] = ncust;
	p[1] = cents;
	return fixture(c, SVC_PAYMENT,
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
	if (bn->done == bn->n)
		pthread_cond_broadcast(&bn->cv);
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
			take(bn, &d, ev, mono_s());
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

/* Wait for the confirms of one window; 0 or a sysexits code after printing why. */
static int
settle(struct broker *b, uint64_t first, size_t k, char (*ids)[ENVELOPE_UUID_LEN + 1],
    const char **idp, enum confirm *st)
{
	char *cause = NULL;

	for (size_t i = 0; i < k; i++) {
		st[i] = CONFIRM_PENDING;
		idp[i] = ids[i];
	}
	if (broker_wait_confirms(b, first, k, idp, st, BENCH_CONFIRM_TIMEOUT_MS, &cause) != 0) {
		cli_err("bench: publish not confirmed: %s", cause);
		free(cause);
		return EX_PROTOCOL;
	}
	for (size_t i = 0; i < k; i++)
		if (st[i] != CONFIRM_ACK) {
			cli_err("bench: OrderCreated %s was %s", ids[i], st[i] == CONFIRM_RETURNED ?
			    "unroutable (returned by the broker)" : "refused (nack) by the broker");
			return EX_PROTOCOL;
		}
	return 0;
}

/*
 * Publish the n OrderCreated events, window at a time, recording in
 * t_pub[i] the time just before order i+1 is published. *published gets
 * how many were sent and confirmed, *t_end when the last confirm came.
 */
static int
publish_orders(struct cli *c, struct broker *b, const struct bench *bn, size_t customers,
    size_t window, double rate, double *t_pub, size_t *published, double *t_end)
{
	char (*ids)[ENVELOPE_UUID_LEN + 1] = xcalloc(window, sizeof(*ids));
	const char **idp = xcalloc(window, sizeof(*idp));
	enum confirm *st = xcalloc(window, sizeof(*st));
	struct event *ev = xcalloc(1, sizeof(*ev));
	char why[ENVELOPE_WHY_MAX];
	double start = mono_s();
	uint64_t first = 0;
	size_t k = 0;
	int ret = 0;

	*published = 0;
	ev->type = EV_ORDER_CREATED;
	strlcpy_(ev->source, "chorusctl", sizeof(ev->source));
	strlcpy_(ev->currency, c->cfg.currency, sizeof(ev->currency));
	ev->n_items = 1;
	strlcpy_(ev->items[0].sku, BENCH_SKU, sizeof(ev->items[0].sku));
	ev->items[0].quantity = BENCH_QTY;
	ev->total_cents = BENCH_TOTAL;
	for (size_t i = 0; i < bn->n; i++) {
		struct broker_header h;
		struct broker_msg m;
		char *body, *cause = NULL;
		uint64_t tag;

		if (rate > 0) {
			double due = start + (double)i / rate;

			/* a long pause: settle first, then keep the connection served */
			if (due - mono_s() > 0.5 && k > 0) {
				if ((ret = settle(b, first, k, ids, idp, st)) != 0)
					break;
				*published += k;
				k = 0;
			}
			while (due - mono_s() > 0) {
				double left = due - mono_s();

				sleep_s(left > 1.0 ? 1.0 : left);
				if (k == 0 && broker_poll(b, &cause) != 0) {
					cli_err("bench: %s", cause);
					free(cause);
					ret = EX_UNAVAILABLE;
					goto out;
				}
			}
		}
		snprintf(ev->order_id, sizeof(ev->order_id), "%s%zu", bn->prefix, i + 1);
		strlcpy_(ev->subject, ev->order_id, sizeof(ev->subject));
		snprintf(ev->customer_id, sizeof(ev->customer_id), "bench-cust-%zu",
		    i % customers + 1);
		envelope_new_uuid(ev->id);
		envelope_now(ev->time);
		envelope_child_traceparent(NULL, ev->traceparent);
		if (i == 0 && envelope_check(ev, why, sizeof(why)) != 0) {
			cli_err("bench: invalid OrderCreated: %s", why);
			ret = EX_DATAERR;
			break;
		}
		body = envelope_render(ev);
		h.key = "traceparent";
		h.value = ev->traceparent;
		memset(&m, 0, sizeof(m));
		m.exchange = event_type_exchange(ev->type);
		m.routing_key = event_type_routing_key(ev->type);
		m.body = body;
		m.len = strlen(body);
		m.content_type = "application/cloudevents+json";
		m.message_id = ev->id;
		m.type = event_type_name(ev->type);
		m.correlation_id = ev->subject;
		m.app_id = "chorusctl";
		m.timestamp = (int64_t)time(NULL);
		m.headers = &h;
		m.nheaders = 1;
		m.mandatory = 1;
		t_pub[i] = mono_s();
		if (broker_publish(b, &m, &tag, &cause) != 0) {
			cli_err("bench: %s", cause);
			free(cause);
			free(body);
			ret = EX_UNAVAILABLE;
			break;
		}
		free(body);
		if (k == 0)
			first = tag;
		strlcpy_(ids[k++], ev->id, sizeof(ids[0]));
		if (k == window || i + 1 == bn->n) {
			if ((ret = settle(b, first, k, ids, idp, st)) != 0)
				break;
			*published += k;
			k = 0;
		}
	}
out:
	*t_end = mono_s();
	free(ev);
	free(st);
	free(idp);
	free(ids);
	return ret;
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

int
cmd_bench(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "orders", required_argument, NULL, 'n' },
		{ "rate", required_argument, NULL, 'r' },
		{ "window", required_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 't' },
		{ "customers", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	size_t n = 1000, window = 200, customers = 50, published = 0, nlat = 0;
	double rate = 0, timeout = 120, t_pub_end = 0, first_pub = 0, last_done = 0, deadline;
	double *t_pub = NULL, *lat = NULL;
	char uuid[ENVELOPE_UUID_LEN + 1], queue[64], *cause = NULL;
	struct bench bn;
	struct broker *pub = NULL;
	pthread_condattr_t ca;
	pthread_t thr;
	int ch, ret = 0, started = 0, tty = isatty(STDERR_FILENO);
	size_t missing, done_seen;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			if (opt_count("orders", optarg, 10000000, &n) != 0)
				return EX_USAGE;
			break;
		case 'w':
			if (opt_count("window", optarg, 10000, &window) != 0)
				return EX_USAGE;
			break;
		case 'k':
			if (opt_count("customers", optarg, 100000, &customers) != 0)
				return EX_USAGE;
			break;
		case 'r':
			if (opt_real("rate", optarg, &rate) != 0)
				return EX_USAGE;
			break;
		case 't':
			if (opt_real("timeout", optarg, &timeout) != 0)
				return EX_USAGE;
			if (timeout <= 0) {
				cli_err("bench: --timeout must be a positive number of seconds");
				return EX_USAGE;
			}
			break;
		default:
			usage_err();
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		usage_err();
		return EX_USAGE;
	}
	/* with a rate, a window spans at most about a second of publishing */
	if (rate > 0 && (double)window > rate)
		window = rate < 1 ? 1 : (size_t)rate;

	memset(&bn, 0, sizeof(bn));
	bn.n = n;
	envelope_new_uuid(uuid);
	snprintf(bn.prefix, sizeof(bn.prefix), "bench-%.8s-", uuid);
	snprintf(queue, sizeof(queue), "chorus.bench.%.8s", uuid);
	bn.t_done = xcalloc(n, sizeof(*bn.t_done));
	bn.outcome = xcalloc(n, sizeof(*bn.outcome));
	t_pub = xcalloc(n, sizeof(*t_pub));
	pthread_mutex_init(&bn.mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&bn.cv, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&bn.stop, 0);

	if ((ret = set_fixtures(c, n, customers)) != 0)
		goto out;

	/* the outcome listener is in place before the first order goes out */
	if (declare_private_queue(c, queue, &cause) != 0) {
		cli_err("bench: %s", cause);
		ret = EX_UNAVAILABLE;
		goto out;
	}
	if ((bn.b = cli_broker(c, 0)) == NULL) {
		ret = EX_UNAVAILABLE;
		goto out;
	}
	if (broker_bind(bn.b, queue, event_type_exchange(EV_ORDER_CONFIRMED),
	    event_type_routing_key(EV_ORDER_CONFIRMED), &cause) != 0 ||
	    broker_bind(bn.b, queue, event_type_exchange(EV_ORDER_CANCELLED),
	    event_type_routing_key(EV_ORDER_CANCELLED), &cause) != 0 ||
	    broker_consume(bn.b, queue, BENCH_PREFETCH, &cause) != 0) {
		cli_err("bench: %s", cause);
		ret = EX_UNAVAILABLE;
		goto out;
	}
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
		fprintf(stderr, "bench %.8s: publishing %zu orders (window %zu, rate %s)...\n",
		    uuid, n, window, rate > 0 ? "limited" : "unlimited");
	ret = publish_orders(c, pub, &bn, customers, window, rate, t_pub, &published, &t_pub_end);
	broker_close(pub);
	pub = NULL;
	if (ret != 0 && published == 0)
		goto out;
	first_pub = t_pub[0];

	/* wait for the outcomes, at most --timeout after the last publish */
	deadline = t_pub_end + timeout;
	pthread_mutex_lock(&bn.mu);
	{
		double next_note = mono_s() + 5;

		while (bn.done < published && !bn.failed) {
			double now = mono_s(), until = deadline < next_note ? deadline : next_note;
			struct timespec ts;

			if (now >= deadline)
				break;
			if (now >= next_note) {
				if (tty && !c->quiet && !c->json)
					fprintf(stderr, "bench %.8s: %zu of %zu finished\n", uuid,
					    bn.done, published);
				next_note = now + 5;
				continue;
			}
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += (time_t)(until - now);
			ts.tv_nsec += (long)(((until - now) - (double)(time_t)(until - now)) * 1e9);
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&bn.cv, &bn.mu, &ts);
		}
	}
	pthread_mutex_unlock(&bn.mu);

out:
	if (started) {
		atomic_store(&bn.stop, 1);
		pthread_join(thr, NULL);
	}
	broker_close(pub);
	broker_close(bn.b);	/* the auto-delete queue goes with its consumer */
	free(cause);
	if (started && published > 0) {
		struct json_object *o, *lo, *ro;
		double elapsed, pub_s = t_pub_end - first_pub;
		double p50, p90, p99, mx, mean = 0;

		lat = xcalloc(published, sizeof(*lat));
		for (size_t i = 0; i < published; i++) {
			if (bn.outcome[i] == OUT_NONE)
				continue;
			lat[nlat++] = (bn.t_done[i] - t_pub[i]) * 1000.0;
			mean += lat[nlat - 1];
			if (bn.t_done[i] > last_done)
				last_done = bn.t_done[i];
		}
		qsort(lat, nlat, sizeof(*lat), cmp_double);
		mean = nlat ? mean / (double)nlat : 0;
		p50 = percentile(lat, nlat, 50);
		p90 = percentile(lat, nlat, 90);
		p99 = percentile(lat, nlat, 99);
		mx = nlat ? lat[nlat - 1] : 0;
		done_seen = bn.confirmed + bn.cancelled;
		missing = n - done_seen;
		elapsed = done_seen ? last_done - first_pub : 0;
		if (c->json) {
			o = json_object_new_object();
			json_object_object_add(o, "run_id", json_object_new_string_len(uuid, 8));
			json_object_object_add(o, "orders", json_object_new_int64((int64_t)n));
			json_object_object_add(o, "published", json_object_new_int64((int64_t)published));
			json_object_object_add(o, "confirmed", json_object_new_int64((int64_t)bn.confirmed));
			json_object_object_add(o, "cancelled", json_object_new_int64((int64_t)bn.cancelled));
			json_object_object_add(o, "missing", json_object_new_int64((int64_t)missing));
			ro = json_object_new_object();
			for (size_t i = 0; i < BENCH_MAX_REASONS && bn.reasons[i].n; i++)
				json_object_object_add(ro, bn.reasons[i].reason,
				    json_object_new_int64((int64_t)bn.reasons[i].n));
			if (bn.other_reasons)
				json_object_object_add(ro, "(other)",
				    json_object_new_int64((int64_t)bn.other_reasons));
			json_object_object_add(o, "cancel_reasons", ro);
			json_object_object_add(o, "duplicates", json_object_new_int64((int64_t)bn.duplicates));
			json_object_object_add(o, "conflicts", json_object_new_int64((int64_t)bn.conflicts));
			json_object_object_add(o, "elapsed_s", jreal(elapsed, 3));
			json_object_object_add(o, "sagas_per_s",
			    jreal(elapsed > 0 ? (double)done_seen / elapsed : 0, 1));
			json_object_object_add(o, "publish_s", jreal(pub_s, 3));
			json_object_object_add(o, "publish_per_s",
			    jreal(pub_s > 0 ? (double)published / pub_s : 0, 1));
			lo = json_object_new_object();
			json_object_object_add(lo, "p50", jreal(p50, 3));
			json_object_object_add(lo, "p90", jreal(p90, 3));
			json_object_object_add(lo, "p99", jreal(p99, 3));
			json_object_object_add(lo, "max", jreal(mx, 3));
			json_object_object_add(lo, "mean", jreal(mean, 3));
			json_object_object_add(o, "latency_ms", lo);
			json_object_object_add(o, "window", json_object_new_int64((int64_t)window));
			json_object_object_add(o, "rate", jreal(rate, 3));
			json_object_object_add(o, "customers", json_object_new_int64((int64_t)customers));
			cli_print_json(o);
		} else if (!c->quiet || missing > 0) {
			printf("bench %.8s: %zu orders (%s x%d, %d cents %s each; %zu customers; "
			    "window %zu; rate %s)\n", uuid, n, BENCH_SKU, BENCH_QTY, BENCH_TOTAL,
			    c->cfg.currency, customers, window, rate > 0 ? "limited" : "unlimited");
			if (rate > 0)
				printf("  rate limit     %.1f orders/s\n", rate);
			printf("  finished       %zu of %zu: confirmed %zu, cancelled %zu, missing %zu\n",
			    done_seen, n, bn.confirmed, bn.cancelled, missing);
			if (bn.cancelled > 0) {
				printf("  cancelled by   ");
				for (size_t i = 0; i < BENCH_MAX_REASONS && bn.reasons[i].n; i++)
					printf("%s%s %zu", i ? ", " : "", bn.reasons[i].reason,
					    bn.reasons[i].n);
				if (bn.other_reasons)
					printf(", other %zu", bn.other_reasons);
				printf("\n");
			}
			if (bn.duplicates || bn.conflicts)
				printf("  odd outcomes   %zu duplicates, %zu conflicting "
				    "(confirmed and cancelled)\n", bn.duplicates, bn.conflicts);
			printf("  elapsed        %.3f s (first publish -> last outcome)\n", elapsed);
			printf("  throughput     %.1f sagas/s\n",
			    elapsed > 0 ? (double)done_seen / elapsed : 0);
			printf("  publish        %zu in %.3f s (%.0f orders/s, confirmed)\n", published,
			    pub_s, pub_s > 0 ? (double)published / pub_s : 0);
			printf("  latency ms     p50 %.1f  p90 %.1f  p99 %.1f  max %.1f  (mean %.1f)\n",
			    p50, p90, p99, mx, mean);
		}
		if (missing > 0) {
			cli_err("bench: %zu of %zu orders had no outcome %.0f s after the last publish%s",
			    missing, n, timeout, done_seen == 0 ?
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
	free(lat);
	free(t_pub);
	free(bn.t_done);
	free(bn.outcome);
	pthread_cond_destroy(&bn.cv);
	pthread_mutex_destroy(&bn.mu);
	return ret;
}
