/*
 * chorusctl bench: push a workload of orders through the running workers and
 * report what it cost: throughput until the last outcome and sustained
 * (until every queue is empty and every outbox drained), latency from
 * publishing an OrderCreated to seeing its OrderConfirmed or OrderCancelled,
 * outcomes against what the workload must give, CPU per saga of the
 * workers, PostgreSQL and RabbitMQ (from /proc), and each worker's peak RSS.
 *
 * The workload (--orders, --skus, --customers, --items, --mix, --seed) is
 * planned from the seed alone, order by order, so the failures are
 * deterministic: an out-of-stock order asks for a SKU set up with no units,
 * an insufficient-funds order comes from a customer with no balance; every
 * other order finds exactly enough stock and balance. Fixtures are set with
 * one statement per table, and every id carries a run id
 * (bench-<8 hex>-...), so runs never collide.
 *
 * Outcomes are read from a private queue (classic, transient, auto-delete,
 * x-expires) bound to chorus.order for order.confirmed and order.cancelled,
 * consumed by a thread with its own connection. Orders go out through
 * cli_publish (publisher confirms, --window in flight, --rate per second or
 * all at once). Every wait is bounded by --timeout after the last publish.
 *
 * --broker-only measures what RabbitMQ alone costs for the same workload:
 * no workers may be running, and forwarder threads of this process
 * (bench_forward.c) stand in for them, with no database; their CPU is
 * reported as the forwarders'. Drained then means every delivery the
 * workload makes was taken and acked.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "bench_forward.h"
#include "cli.h"
#include "clock.h"
#include "outbox.h"
#include "pgarray.h"
#include "procstat.h"
#include "topology.h"
#include "xmalloc.h"

#define BENCH_PREFETCH 1000
#define BENCH_ACK_EVERY 250
#define BENCH_QUEUE_EXPIRES_MS 60000	/* an abandoned private queue goes away */
#define BENCH_UNIT_CENTS 100		/* the price of one unit of any SKU */
#define BENCH_DRAIN_POLL_MS 20
#define BENCH_DRAIN_CALM 3		/* polls in a row that must find it drained */
#define BENCH_MAX_WRONG 5		/* wrong outcomes named */
#define BENCH_MAX_WORKERS 16

/* What an order of the workload must end as (a bench_fate, the forwarders' word for it). */
enum kind {
	K_CONFIRMED = BENCH_CONFIRMED,
	K_OUT_OF_STOCK = BENCH_OUT_OF_STOCK,
	K_NO_FUNDS = BENCH_NO_FUNDS,
	K__COUNT = BENCH__FATES,
	K_NONE = 255
};

static const char *const kind_name[K__COUNT] = {
	"confirmed", "out_of_stock", "insufficient_funds" };

struct params {
	size_t n, window, skus, customers, items;
	unsigned mix[K__COUNT];		/* percent of each kind */
	double rate, timeout;
	uint64_t seed;
	const char *stack_dir;		/* NULL: find the servers by their ports */
	int broker_only;		/* forwarders in place of the workers, no database */
	char run[9];
};

/* One order of the workload, as planned from the seed. */
struct plan {
	enum kind kind;
	size_t customer;		/* 0 .. customers-1; customers: the broke one */
	size_t n_items;
	size_t sku[ENVELOPE_MAX_ITEMS];	/* 0 .. skus-1; skus: the empty one */
	int qty[ENVELOPE_MAX_ITEMS];
};

/* What the consumer thread and the main thread share. */
struct bench {
	const struct params *pa;
	char prefix[32];		/* "bench-<run id>-" */
	unsigned char *want;		/* kind of each order */

	/* written by the consumer thread; read by main only after the join */
	double *t_done;
	unsigned char *got;		/* kind seen, K_NONE until seen */
	size_t count[K__COUNT];		/* outcomes seen, right or wrong */
	size_t other;			/* cancellations for another reason */
	size_t wrong, duplicates, invalid;
	char wrong_ex[BENCH_MAX_WRONG][160];
	char *cause;			/* why the consumer stopped early */

	/* under mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t done;
	int failed;

	atomic_int stop;
	struct broker *b;		/* owned by the consumer thread once it runs */
	struct bench_forward *fw;	/* --broker-only: the forwarders */
};

/* --- the workload ------------------------------------------------------------ */

/* splitmix64: a small, good generator; the whole workload comes from the seed. */
static uint64_t
next_random(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Order i of the workload, the same for the same seed and parameters. */
static void
plan_order(const struct params *pa, size_t i, struct plan *o)
{
	uint64_t s = pa->seed ^ ((uint64_t)(i + 1) * 0xd1342543de82ef95ULL);
	unsigned r = (unsigned)(next_random(&s) % 100);

	o->kind = r < pa->mix[K_CONFIRMED] ? K_CONFIRMED :
	    r < pa->mix[K_CONFIRMED] + pa->mix[K_OUT_OF_STOCK] ? K_OUT_OF_STOCK : K_NO_FUNDS;
	o->customer = o->kind == K_NO_FUNDS ? pa->customers :
	    (size_t)(next_random(&s) % pa->customers);
	o->n_items = pa->items;
	for (size_t j = 0; j < o->n_items; j++) {
		o->sku[j] = (size_t)(next_random(&s) % pa->skus);
		o->qty[j] = 1 + (int)(next_random(&s) % 3);
	}
	if (o->kind == K_OUT_OF_STOCK)
		o->sku[0] = pa->skus;	/* no units at all */
}

static int64_t
plan_total(const struct plan *o)
{
	int64_t total = 0;

	for (size_t j = 0; j < o->n_items; j++)
		total += (int64_t)o->qty[j] * BENCH_UNIT_CENTS;
	return total;
}

static void
sku_name(const struct params *pa, size_t k, char *out, size_t len)
{
	if (k == pa->skus)
		snprintf(out, len, "bench-%s-empty", pa->run);
	else
		snprintf(out, len, "bench-%s-s%zu", pa->run, k + 1);
}

static void
customer_name(const struct params *pa, size_t k, char *out, size_t len)
{
	if (k == pa->customers)
		snprintf(out, len, "bench-%s-broke", pa->run);
	else
		snprintf(out, len, "bench-%s-c%zu", pa->run, k + 1);
}

/*
 * Insert keys[i] with amount[i] (names made by name()) with one statement:
 * "INSERT ... SELECT * FROM unnest($1::text[], $2::bigint[])".
 */
static int
insert_fixtures(struct cli *c, enum service_id svc, const char *sql, const struct params *pa,
    void (*name)(const struct params *, size_t, char *, size_t), const int64_t *amount,
    size_t n)
{
	struct pgarray keys = { 0 }, amounts = { 0 };
	const char *p[2];
	int r;

	for (size_t k = 0; k < n; k++) {
		char key[ENVELOPE_ID_MAX + 1], v[32];

		name(pa, k, key, sizeof(key));
		snprintf(v, sizeof(v), "%lld", (long long)amount[k]);
		pgarray_add(&keys, key);
		pgarray_add(&amounts, v);
	}
	p[0] = pgarray_text(&keys);
	p[1] = pgarray_text(&amounts);
	r = cli_exec(c, svc, sql, 2, p);
	pgarray_free(&keys);
	pgarray_free(&amounts);
	return r;
}

/*
 * Stock and balances for the workload: every SKU exactly the units its
 * orders reserve, the empty SKU none; every customer exactly the total of
 * its confirmed orders, the broke one nothing (none of it when broker-only:
 * no database). Also fills want[].
 */
static int
set_fixtures(struct cli *c, const struct params *pa, unsigned char *want)
{
	int64_t *units = xcalloc(pa->skus + 1, sizeof(*units));
	int64_t *cents = xcalloc(pa->customers + 1, sizeof(*cents));
	struct plan *o = xmalloc(sizeof(*o));
	int r;

	for (size_t i = 0; i < pa->n; i++) {
		plan_order(pa, i, o);
		want[i] = (unsigned char)o->kind;
		if (o->kind == K_OUT_OF_STOCK)
			continue;	/* nothing is reserved */
		for (size_t j = 0; j < o->n_items; j++)
			units[o->sku[j]] += o->qty[j];
		if (o->kind == K_CONFIRMED)
			cents[o->customer] += plan_total(o);
	}
	if (pa->broker_only)
		r = 0;	/* no database: the forwarders read the plan */
	else if ((r = insert_fixtures(c, SVC_INVENTORY,
	    "INSERT INTO stock (sku, on_hand) SELECT * FROM unnest($1::text[], $2::bigint[])",
	    pa, sku_name, units, pa->skus + 1)) == 0)
		r = insert_fixtures(c, SVC_PAYMENT,
		    "INSERT INTO accounts (customer_id, balance_cents) "
		    "SELECT * FROM unnest($1::text[], $2::bigint[])",
		    pa, customer_name, cents, pa->customers + 1);
	free(o);
	free(units);
	free(cents);
	return r;
}

struct order_maker {
	const struct cli *c;
	const struct bench *bn;
	struct plan *o;
};

/* Has a forwarder stopped on a failure (--broker-only)? */
static int
forwarders_failed(const struct bench *bn)
{
	struct bench_forward_stats st;

	if (bn->fw == NULL)
		return 0;
	bench_forward_stats(bn->fw, &st);
	return st.failed;
}

/* cli_event_fn: the OrderCreated of order i; a failed forwarder stops the publishing. */
static int
make_order(void *arg, size_t i, struct event *ev)
{
	struct order_maker *om = arg;
	const struct params *pa = om->bn->pa;
	char why[ENVELOPE_WHY_MAX];

	if (forwarders_failed(om->bn))
		return EX_UNAVAILABLE;	/* run() says why */
	plan_order(pa, i, om->o);
	memset(ev, 0, sizeof(*ev));
	ev->type = EV_ORDER_CREATED;
	strlcpy_(ev->source, "chorusctl", sizeof(ev->source));
	strlcpy_(ev->currency, om->c->cfg.currency, sizeof(ev->currency));
	snprintf(ev->order_id, sizeof(ev->order_id), "%s%zu", om->bn->prefix, i + 1);
	strlcpy_(ev->subject, ev->order_id, sizeof(ev->subject));
	customer_name(pa, om->o->customer, ev->customer_id, sizeof(ev->customer_id));
	ev->n_items = om->o->n_items;
	for (size_t j = 0; j < ev->n_items; j++) {
		sku_name(pa, om->o->sku[j], ev->items[j].sku, sizeof(ev->items[j].sku));
		ev->items[j].quantity = om->o->qty[j];
	}
	ev->total_cents = plan_total(om->o);
	envelope_new_uuid(ev->id);
	envelope_now(ev->time);
	envelope_child_traceparent(NULL, ev->traceparent);
	if (i == 0 && envelope_check(ev, why, sizeof(why)) != 0) {
		cli_err("bench: invalid OrderCreated: %s", why);
		return EX_DATAERR;
	}
	return 0;
}

/* --- outcomes ------------------------------------------------------------------ */

/* The kind an outcome event says, K_NONE for a cancellation of another reason. */
static enum kind
outcome_kind(const struct event *ev)
{
	if (ev->type == EV_ORDER_CONFIRMED)
		return K_CONFIRMED;
	if (strcmp(ev->reason, "out_of_stock") == 0)
		return K_OUT_OF_STOCK;
	if (strcmp(ev->reason, "insufficient_funds") == 0)
		return K_NO_FUNDS;
	return K_NONE;
}

/* The 0-based number of a bench order of this run, or -1 for anybody else's. */
static long
order_number(const struct bench *bn, const char *order_id)
{
	size_t plen = strlen(bn->prefix);
	unsigned long long k;
	char *end;

	if (strncmp(order_id, bn->prefix, plen) != 0)
		return -1;
	errno = 0;
	k = strtoull(order_id + plen, &end, 10);
	if (errno != 0 || *end != '\0' || end == order_id + plen || k < 1 || k > bn->pa->n)
		return -1;
	return (long)(k - 1);
}

/* Note an outcome other than the workload wants (consumer thread). */
static void
note_wrong(struct bench *bn, const struct event *ev, long k)
{
	if (bn->wrong < BENCH_MAX_WRONG)
		snprintf(bn->wrong_ex[bn->wrong], sizeof(bn->wrong_ex[0]), "%s: got %s%s%s, want %s",
		    ev->order_id, ev->type == EV_ORDER_CONFIRMED ? "confirmed" : "cancelled",
		    ev->reason[0] ? " " : "", ev->reason, kind_name[bn->want[k]]);
	bn->wrong++;
}

/* One delivery: record the outcome of a bench order of this run (consumer thread). */
static void
take(struct bench *bn, const struct delivery *d, struct event *ev, double now)
{
	char why[ENVELOPE_WHY_MAX];
	enum kind got;
	long k;

	if (envelope_parse(d->body, d->len, ev, why, sizeof(why)) != 0) {
		bn->invalid++;
		return;
	}
	if (ev->type != EV_ORDER_CONFIRMED && ev->type != EV_ORDER_CANCELLED)
		return;
	if ((k = order_number(bn, ev->order_id)) < 0)
		return;		/* another run's or somebody else's order */
	if (bn->got[k] != K_NONE) {
		bn->duplicates++;
		return;
	}
	got = outcome_kind(ev);
	bn->got[k] = (unsigned char)(got == K_NONE ? K__COUNT : got);
	bn->t_done[k] = now;
	if (got == K_NONE)
		bn->other++;
	else
		bn->count[got]++;
	if (got != (enum kind)bn->want[k])
		note_wrong(bn, ev, k);
	pthread_mutex_lock(&bn->mu);
	bn->done++;
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
		(void)broker_ack(bn->b, last, 1, &cause);
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

/* Messages ready in the three service queues, or -1 with *cause. */
static long
queued(struct broker *b, char **cause)
{
	long total = 0;

	for (int s = 0; s < SVC__COUNT; s++) {
		long q = broker_queue_count(b, topology_queue((enum service_id)s), cause);

		if (q < 0)
			return -1;
		total += q;
	}
	return total;
}

/*
 * --broker-only: the forwarders stand in for the workers, so no service
 * queue may have a consumer (a worker would take part of the work, with a
 * database) nor hold a message (the forwarders would take somebody's
 * event). 0, or EX_TEMPFAIL / EX_UNAVAILABLE after saying why.
 */
static int
refuse_busy(struct broker *b)
{
	for (int s = 0; s < SVC__COUNT; s++) {
		const char *q = topology_queue((enum service_id)s);
		long messages, consumers;
		char *cause = NULL;

		if (broker_queue_stat(b, q, &messages, &consumers, &cause) != 0) {
			cli_err("bench: %s (has chorusctl setup declared the topology?)", cause);
			free(cause);
			return EX_UNAVAILABLE;
		}
		if (consumers > 0) {
			cli_err("bench: --broker-only: %s has %ld consumer%s: stop the workers first "
			    "(the forwarders stand in for them)", q, consumers, consumers > 1 ? "s" : "");
			return EX_TEMPFAIL;
		}
		if (messages > 0) {
			cli_err("bench: --broker-only: %s holds %ld message%s the forwarders would take: "
			    "let the workers drain it first", q, messages, messages > 1 ? "s" : "");
			return EX_TEMPFAIL;
		}
	}
	return 0;
}

/*
 * Declare and bind the private queue and start consuming it on a
 * connection of its own (bn->b); warn when the system is not idle, refuse
 * a broker-only run when it is not. 0 or a sysexits code.
 */
static int
listen_outcomes(struct cli *c, struct bench *bn)
{
	struct broker_queue_args args = { .transient = 1, .expires_ms = BENCH_QUEUE_EXPIRES_MS };
	char queue[64], *cause = NULL;
	long total;
	int ret;

	snprintf(queue, sizeof(queue), "chorus.bench.%s", bn->pa->run);
	if ((bn->b = cli_broker(c, 0)) == NULL)
		return EX_UNAVAILABLE;
	if (bn->pa->broker_only && (ret = refuse_busy(bn->b)) != 0)
		return ret;
	if ((total = queued(bn->b, &cause)) < 0) {
		cli_err("bench: %s (has chorusctl setup declared the topology?)", cause);
		free(cause);
		return EX_UNAVAILABLE;
	}
	if (total > 0 && !c->quiet)
		cli_err("bench: warning: the system is not idle: %ld events already queued; "
		    "the figures include that work", total);
	if (broker_declare_queue(bn->b, queue, &args, &cause) != 0 ||
	    broker_bind(bn->b, queue, event_type_exchange(EV_ORDER_CONFIRMED),
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

/* Wait on bn->cv until deadline (monotonic seconds); false once it passed. */
static int
wait_until(struct bench *bn, double deadline)
{
	double d = deadline - clock_s();
	struct timespec ts;

	if (d <= 0)
		return 0;
	if (d > 5)
		d = 5;	/* wake now and then: progress notes */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)d;
	ts.tv_nsec += (long)((d - (double)(time_t)d) * 1e9);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&bn->cv, &bn->mu, &ts);
	return 1;
}

/*
 * Wait until every published order has its outcome, the consumer or a
 * forwarder failed, or deadline passes; progress on a terminal every 5 s.
 */
static void
wait_outcomes(struct bench *bn, size_t published, double deadline, int notes)
{
	double next_note = clock_s() + 5;

	pthread_mutex_lock(&bn->mu);
	while (bn->done < published && !bn->failed && !forwarders_failed(bn) &&
	    wait_until(bn, deadline)) {
		if (notes && clock_s() >= next_note) {
			fprintf(stderr, "bench %s: %zu of %zu finished\n", bn->pa->run, bn->done,
			    published);
			next_note = clock_s() + 5;
		}
	}
	pthread_mutex_unlock(&bn->mu);
}

/* --- drained: queues empty, outboxes drained, nothing in flight ------------------ */

struct drain {
	struct broker *b;
	struct db *db[SVC__COUNT];
};

/*
 * Is everything done right now? Every service queue has no ready message;
 * in every database no outbox row is unpublished and no other session is
 * in a transaction (a worker between taking a delivery and its commit shows
 * there, so work in flight is not mistaken for drained). 1, 0, or -1 after
 * printing why.
 */
static int
drained_now(struct drain *d)
{
	char *cause = NULL;
	long q = queued(d->b, &cause);

	if (q < 0) {
		cli_err("bench: %s", cause);
		free(cause);
		return -1;
	}
	if (q > 0)
		return 0;
	for (int s = 0; s < SVC__COUNT; s++) {
		PGresult *res = db_query(d->db[s], "bench_drained",
		    /* the index-only form: the bench's polls must not weigh on what it measures */
		    "SELECT (SELECT count(*) FROM outbox o WHERE " OUTBOX_PENDING_WHERE ") + "
		    "(SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
		    "  AND backend_type = 'client backend' AND pid <> pg_backend_pid() "
		    "  AND state <> 'idle')", 0, NULL);
		long busy;

		if (res == NULL) {
			cli_err("bench: %s database: %s", service_name((enum service_id)s),
			    db_last_error(d->db[s]));
			return -1;
		}
		busy = atol(PQgetvalue(res, 0, 0));
		PQclear(res);
		if (busy > 0)
			return 0;
	}
	return 1;
}

/*
 * Poll until drained_now holds BENCH_DRAIN_CALM times in a row, or
 * deadline. *t_drained gets the time of the first poll of that run (0 when
 * not drained in time). 0, or a sysexits code.
 */
static int
wait_drained(struct cli *c, struct broker *b, double deadline, double *t_drained)
{
	struct drain d = { .b = b };
	int calm = 0, ret = 0;
	double first = 0;

	*t_drained = 0;
	for (int s = 0; s < SVC__COUNT; s++)
		if ((d.db[s] = cli_db(c, (enum service_id)s)) == NULL)
			ret = EX_UNAVAILABLE;
	while (ret == 0 && clock_s() < deadline) {
		struct timespec ts = { 0, BENCH_DRAIN_POLL_MS * 1000000L };
		double now = clock_s();
		int r = drained_now(&d);

		if (r < 0) {
			ret = EX_UNAVAILABLE;
			break;
		}
		calm = r ? calm + 1 : 0;
		if (calm == 1)
			first = now;
		if (calm >= BENCH_DRAIN_CALM) {
			*t_drained = first;
			break;
		}
		nanosleep(&ts, NULL);	/* a bounded poll of other processes' progress */
	}
	for (int s = 0; s < SVC__COUNT; s++)
		db_close(d.db[s]);
	return ret;
}

/* --- CPU and memory from /proc ------------------------------------------------------ */

enum group { G_WORKERS, G_POSTGRES, G_RABBIT, G__COUNT };

static const char *const group_name[G__COUNT] = { "workers", "PostgreSQL", "RabbitMQ" };
static const char *const group_key[G__COUNT] = { "workers", "postgresql", "rabbitmq" };

/* The processes measured. */
struct procs {
	pid_t worker[BENCH_MAX_WORKERS];
	const char *worker_name[BENCH_MAX_WORKERS];
	size_t nworkers;
	pid_t root[G__COUNT];		/* postmaster, beam.smp (index G_WORKERS unused) */
	char how[G__COUNT][200];	/* how they were found, or why not */
	int unused[G__COUNT];		/* not part of this run (PostgreSQL when broker-only) */
	struct bench_forward *fw;	/* --broker-only: G_WORKERS is these threads of ours */
};

/* A group's name in the output: the forwarders stand where the workers would. */
static const char *
group_label(const struct procs *pr, int g, int json)
{
	if (g == G_WORKERS && pr->fw != NULL)
		return "forwarders";
	return json ? group_key[g] : group_name[g];
}

/* The worker a process name is ("chorus-inventory" is cut to 15 characters), or NULL. */
static const char *
worker_of(const char *comm)
{
	static const char *const names[] = { "chorus-order", "chorus-inventory", "chorus-payment" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strncmp(comm, names[i], 15) == 0)
			return names[i];
	return NULL;
}

/* The workers: chorus-order, -inventory, -payment connected to our broker's port. */
static void
find_workers(const struct cli *c, const struct procstat *ps, struct procs *pr)
{
	pid_t pids[256];
	int port = broker_url_port(c->cfg.amqp_url);
	long n = port > 0 ? procstat_tcp_pids((unsigned)port, 0, pids, 256) : -1;

	for (long i = 0; i < n && i < 256 && pr->nworkers < BENCH_MAX_WORKERS; i++) {
		const struct procstat_proc *p = procstat_find(ps, pids[i]);
		const char *w = p != NULL ? worker_of(p->comm) : NULL;

		if (w != NULL) {
			pr->worker[pr->nworkers] = pids[i];
			pr->worker_name[pr->nworkers++] = w;
		}
	}
	if (pr->nworkers == 0) {
		snprintf(pr->how[G_WORKERS], sizeof(pr->how[0]),
		    "not found: no chorus-order, -inventory or -payment connected to port %d", port);
		return;
	}
	for (size_t i = 0, len = 0; i < pr->nworkers && len < sizeof(pr->how[0]); i++)
		len += (size_t)snprintf(pr->how[G_WORKERS] + len, sizeof(pr->how[0]) - len, "%s%s %ld",
		    i ? ", " : "", pr->worker_name[i], (long)pr->worker[i]);
}

/*
 * A server's root process: from its pid file in the stack directory when
 * there is one, else the process listening on port with that name.
 */
static void
find_server(const struct params *pa, const struct procstat *ps, struct procs *pr, enum group g,
    const char *pidfile, int port, const char *comm)
{
	char *path = pa->stack_dir ? xasprintf("%s/%s", pa->stack_dir, pidfile) : NULL;
	pid_t pids[8], pid = -1;
	long n;

	if (path != NULL && (pid = procstat_pidfile(path)) > 0 && procstat_find(ps, pid) != NULL) {
		snprintf(pr->how[g], sizeof(pr->how[0]), "%s %ld and descendants (%s)", comm,
		    (long)pid, path);
	} else {
		pid = -1;
		n = port > 0 ? procstat_tcp_pids((unsigned)port, 1, pids, 8) : 0;
		for (long i = 0; i < n && i < 8 && pid < 0; i++) {
			const struct procstat_proc *p = procstat_find(ps, pids[i]);

			if (p != NULL && strcmp(p->comm, comm) == 0)
				pid = pids[i];
		}
		if (pid > 0)
			snprintf(pr->how[g], sizeof(pr->how[0]),
			    "%s %ld and descendants (listening on port %d)", comm, (long)pid, port);
		else
			snprintf(pr->how[g], sizeof(pr->how[0]),
			    "not found: no %s%s%s listening on port %d (give --stack-dir?)", comm,
			    path ? " in " : "", path ? path : "", port);
	}
	pr->root[g] = pid;
	free(path);
}

static void
find_procs(const struct cli *c, const struct params *pa, struct procs *pr)
{
	struct procstat ps;

	memset(pr, 0, sizeof(*pr));
	pr->root[G_POSTGRES] = pr->root[G_RABBIT] = -1;
	if (pa->broker_only) {
		snprintf(pr->how[G_WORKERS], sizeof(pr->how[0]),
		    "%d threads of chorusctl %ld, one per service", SVC__COUNT, (long)getpid());
		snprintf(pr->how[G_POSTGRES], sizeof(pr->how[0]), "not used: no database");
		pr->unused[G_POSTGRES] = 1;
	}
	if (procstat_snapshot(&ps) != 0) {
		for (int g = 0; g < G__COUNT; g++)
			if (!pr->unused[g])
				snprintf(pr->how[g], sizeof(pr->how[0]), "not found: /proc cannot be read");
		return;
	}
	if (!pa->broker_only) {
		find_workers(c, &ps, pr);
		find_server(pa, &ps, pr, G_POSTGRES, "pg/data/postmaster.pid",
		    db_url_port(c->cfg.database_url[SVC_ORDER]), "postgres");
	}
	find_server(pa, &ps, pr, G_RABBIT, "rabbitmq/rabbitmq.pid",
	    broker_url_port(c->cfg.amqp_url), "beam.smp");
	procstat_free(&ps);
}

/*
 * CPU seconds so far of each group (-1: not found) and of each worker; of
 * the whole machine and of chorusctl itself, to tell what others ran.
 */
struct cpu {
	double group[G__COUNT];
	double worker[BENCH_MAX_WORKERS];
	double machine, self, at;
};

static void
sample_cpu(const struct procs *pr, struct cpu *cpu)
{
	struct procstat ps;

	const struct procstat_proc *me;

	for (int g = 0; g < G__COUNT; g++)
		cpu->group[g] = -1;
	cpu->at = clock_s();
	cpu->machine = procstat_machine_busy();
	if (procstat_snapshot(&ps) != 0)
		return;
	me = procstat_find(&ps, getpid());
	cpu->self = me != NULL ? me->cpu_s : 0;
	cpu->group[G_WORKERS] = pr->nworkers > 0 ? 0 : -1;
	if (pr->fw != NULL) {
		/* the forwarders are threads of ours: theirs, and the rest is the bench's */
		cpu->group[G_WORKERS] = bench_forward_cpu_s(pr->fw);
		if (cpu->group[G_WORKERS] >= 0)
			cpu->self -= cpu->group[G_WORKERS];
	}
	for (size_t i = 0; i < pr->nworkers; i++) {
		const struct procstat_proc *p = procstat_find(&ps, pr->worker[i]);

		cpu->worker[i] = p ? p->cpu_s + p->child_cpu_s : 0;
		cpu->group[G_WORKERS] += cpu->worker[i];
	}
	for (int g = G_POSTGRES; g < G__COUNT; g++)
		if (pr->root[g] > 0 && procstat_find(&ps, pr->root[g]) != NULL)
			cpu->group[g] = procstat_tree_cpu(&ps, pr->root[g]);
	procstat_free(&ps);
}

/* --- figures ------------------------------------------------------------------------- */

struct figures {
	size_t published, finished, missing;
	size_t want[K__COUNT];
	double t_first, t_last, t_pub_end, t_drained;
	double until_last_s, until_last_rate, sustained_s, sustained_rate, publish_rate;
	double p50, p90, p99, max, mean;
	double cpu_s[G__COUNT];		/* -1: not measured */
	double cpu_ms_per_saga[G__COUNT], total_ms_per_saga;
	int cpu_complete;
	double others_s, others_pct;	/* what other processes ran meanwhile (-1: unknown) */
	long rss_kb[BENCH_MAX_WORKERS];
	long private_kb[BENCH_MAX_WORKERS];	/* at the end of the run */
	struct bench_forward_stats fwd;		/* --broker-only: what the forwarders did */
};

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
	size_t r = (p * n + 99) / 100;

	if (n == 0)
		return 0;
	return v[(r < 1 ? 1 : r > n ? n : r) - 1];
}

static void
latencies(const struct bench *bn, const double *t_pub, struct figures *f)
{
	double *lat = xcalloc(f->published ? f->published : 1, sizeof(*lat)), sum = 0;
	size_t n = 0;

	for (size_t i = 0; i < f->published; i++) {
		f->want[bn->want[i]]++;
		if (bn->got[i] == K_NONE)
			continue;
		lat[n] = (bn->t_done[i] - t_pub[i]) * 1000.0;
		sum += lat[n++];
		if (bn->t_done[i] > f->t_last)
			f->t_last = bn->t_done[i];
	}
	qsort(lat, n, sizeof(*lat), cmp_double);
	f->finished = n;
	f->missing = f->published - n;
	f->mean = n ? sum / (double)n : 0;
	f->p50 = percentile(lat, n, 50);
	f->p90 = percentile(lat, n, 90);
	f->p99 = percentile(lat, n, 99);
	f->max = n ? lat[n - 1] : 0;
	free(lat);
}

/*
 * What the rest of the machine ran during the run: busy time minus the
 * groups measured and chorusctl, as seconds and as a share of all CPUs.
 */
static void
others(const struct cpu *c0, const struct cpu *c1, struct figures *f)
{
	double busy = c1->machine - c0->machine, ours = c1->self - c0->self;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	f->others_s = f->others_pct = -1;
	if (c0->machine < 0 || c1->machine < 0 || !f->cpu_complete || c1->at <= c0->at)
		return;
	for (int g = 0; g < G__COUNT; g++)
		if (f->cpu_s[g] > 0)
			ours += f->cpu_s[g];
	f->others_s = busy > ours ? busy - ours : 0;
	f->others_pct = 100.0 * f->others_s / ((c1->at - c0->at) * (double)(ncpu > 0 ? ncpu : 1));
}

static void
compute(const struct bench *bn, const struct procs *pr, const double *t_pub,
    const struct cpu *c0, const struct cpu *c1, struct figures *f)
{
	latencies(bn, t_pub, f);
	f->t_first = f->published ? t_pub[0] : 0;
	if (f->finished > 0) {
		f->until_last_s = f->t_last - f->t_first;
		f->until_last_rate = f->until_last_s > 0 ? (double)f->finished / f->until_last_s : 0;
	}
	if (f->t_drained > 0 && f->missing == 0) {
		f->sustained_s = f->t_drained - f->t_first;
		f->sustained_rate = f->sustained_s > 0 ? (double)f->finished / f->sustained_s : 0;
	}
	if (f->t_pub_end > f->t_first)
		f->publish_rate = (double)f->published / (f->t_pub_end - f->t_first);
	f->cpu_complete = 1;
	for (int g = 0; g < G__COUNT; g++) {
		f->cpu_s[g] = c0->group[g] >= 0 && c1->group[g] >= 0 ? c1->group[g] - c0->group[g] : -1;
		f->cpu_ms_per_saga[g] = f->cpu_s[g] >= 0 && f->finished > 0 ?
		    f->cpu_s[g] * 1000.0 / (double)f->finished : -1;
		if (f->cpu_ms_per_saga[g] >= 0)
			f->total_ms_per_saga += f->cpu_ms_per_saga[g];
		else if (!pr->unused[g])
			f->cpu_complete = 0;	/* a group of the run that was not measured */
	}
	others(c0, c1, f);
}

/* --- output -------------------------------------------------------------------------- */

/* A JSON number shown with a fixed number of decimals; null when negative (unknown). */
static struct json_object *
jreal(double v, int decimals)
{
	char buf[64];

	if (v < 0)
		return NULL;
	snprintf(buf, sizeof(buf), "%.*f", decimals, v);
	return json_object_new_double_s(v, buf);
}

static void
jadd(struct json_object *o, const char *key, struct json_object *v)
{
	json_object_object_add(o, key, v);
}

static struct json_object *
json_workload(const struct params *pa)
{
	struct json_object *o = json_object_new_object(), *mix = json_object_new_object();

	jadd(o, "orders", json_object_new_int64((int64_t)pa->n));
	jadd(o, "rate", jreal(pa->rate, 1));
	jadd(o, "skus", json_object_new_int64((int64_t)pa->skus));
	jadd(o, "customers", json_object_new_int64((int64_t)pa->customers));
	jadd(o, "items", json_object_new_int64((int64_t)pa->items));
	for (int k = 0; k < K__COUNT; k++)
		jadd(mix, kind_name[k], json_object_new_int64(pa->mix[k]));
	jadd(o, "mix_pct", mix);
	jadd(o, "seed", json_object_new_uint64(pa->seed));
	jadd(o, "window", json_object_new_int64((int64_t)pa->window));
	return o;
}

static struct json_object *
json_outcomes(const struct bench *bn, const struct figures *f)
{
	struct json_object *o = json_object_new_object(), *w = json_object_new_array();

	for (int k = 0; k < K__COUNT; k++) {
		struct json_object *e = json_object_new_object();

		jadd(e, "got", json_object_new_int64((int64_t)bn->count[k]));
		jadd(e, "want", json_object_new_int64((int64_t)f->want[k]));
		jadd(o, kind_name[k], e);
	}
	jadd(o, "other_reasons", json_object_new_int64((int64_t)bn->other));
	jadd(o, "wrong", json_object_new_int64((int64_t)bn->wrong));
	for (size_t i = 0; i < bn->wrong && i < BENCH_MAX_WRONG; i++)
		json_object_array_add(w, json_object_new_string(bn->wrong_ex[i]));
	jadd(o, "wrong_examples", w);
	jadd(o, "missing", json_object_new_int64((int64_t)f->missing));
	jadd(o, "duplicates", json_object_new_int64((int64_t)bn->duplicates));
	jadd(o, "invalid", json_object_new_int64((int64_t)bn->invalid));
	return o;
}

static struct json_object *
json_cpu(const struct procs *pr, const struct figures *f)
{
	struct json_object *o = json_object_new_object(), *ms = json_object_new_object();
	struct json_object *s = json_object_new_object(), *how = json_object_new_object();

	for (int g = 0; g < G__COUNT; g++) {
		jadd(ms, group_label(pr, g, 1), jreal(f->cpu_ms_per_saga[g], 3));
		jadd(s, group_label(pr, g, 1), jreal(f->cpu_s[g], 3));
		jadd(how, group_label(pr, g, 1), json_object_new_string(pr->how[g]));
	}
	jadd(ms, "total", f->cpu_complete ? jreal(f->total_ms_per_saga, 3) : NULL);
	jadd(o, "ms_per_saga", ms);
	jadd(o, "seconds", s);
	jadd(o, "processes", how);
	jadd(o, "cpus", json_object_new_int64(sysconf(_SC_NPROCESSORS_ONLN)));
	jadd(o, "others_s", jreal(f->others_s, 2));
	jadd(o, "others_pct", jreal(f->others_pct, 1));
	return o;
}

static struct json_object *
json_workers(const struct procs *pr, const struct figures *f)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < pr->nworkers; i++) {
		struct json_object *o = json_object_new_object();

		jadd(o, "name", json_object_new_string(pr->worker_name[i]));
		jadd(o, "pid", json_object_new_int64(pr->worker[i]));
		jadd(o, "peak_rss_kb", f->rss_kb[i] >= 0 ? json_object_new_int64(f->rss_kb[i]) : NULL);
		jadd(o, "private_kb", f->private_kb[i] >= 0 ?
		    json_object_new_int64(f->private_kb[i]) : NULL);
		json_object_array_add(a, o);
	}
	return a;
}

/* --broker-only: what went through the broker, in all and per saga. */
static struct json_object *
json_forwarders(const struct figures *f)
{
	struct json_object *o = json_object_new_object();
	double n = f->finished ? (double)f->finished : 1;

	jadd(o, "deliveries", json_object_new_int64((int64_t)f->fwd.deliveries));
	jadd(o, "published", json_object_new_int64((int64_t)f->fwd.published));
	jadd(o, "batches", json_object_new_int64((int64_t)f->fwd.batches));
	jadd(o, "deliveries_per_saga", jreal((double)f->fwd.deliveries / n, 2));
	jadd(o, "published_per_saga", jreal((double)f->fwd.published / n, 2));
	jadd(o, "deliveries_per_batch", jreal(f->fwd.batches ?
	    (double)f->fwd.deliveries / (double)f->fwd.batches : 0, 1));
	return o;
}

static void
print_json(const struct bench *bn, const struct procs *pr, const struct figures *f)
{
	struct json_object *o = json_object_new_object(), *t = json_object_new_object();
	struct json_object *l = json_object_new_object();

	jadd(o, "run_id", json_object_new_string(bn->pa->run));
	jadd(o, "mode", json_object_new_string(bn->pa->broker_only ? "broker-only" : "workers"));
	jadd(o, "workload", json_workload(bn->pa));
	jadd(o, "published", json_object_new_int64((int64_t)f->published));
	jadd(o, "publish_per_s", jreal(f->publish_rate, 1));
	jadd(o, "outcomes", json_outcomes(bn, f));
	jadd(t, "until_last_outcome_s", jreal(f->until_last_s, 3));
	jadd(t, "until_last_outcome_per_s", jreal(f->until_last_rate, 1));
	jadd(t, "sustained_s", f->sustained_s > 0 ? jreal(f->sustained_s, 3) : NULL);
	jadd(t, "sustained_per_s", f->sustained_s > 0 ? jreal(f->sustained_rate, 1) : NULL);
	jadd(o, "throughput", t);
	jadd(l, "p50", jreal(f->p50, 3));
	jadd(l, "p90", jreal(f->p90, 3));
	jadd(l, "p99", jreal(f->p99, 3));
	jadd(l, "max", jreal(f->max, 3));
	jadd(l, "mean", jreal(f->mean, 3));
	jadd(o, "latency_ms", l);
	jadd(o, "cpu", json_cpu(pr, f));
	jadd(o, "workers", json_workers(pr, f));
	if (bn->pa->broker_only)
		jadd(o, "forwarders", json_forwarders(f));
	cli_print_json(o);
}

static void
print_outcomes(const struct bench *bn, const struct figures *f)
{
	printf("  outcomes     ");
	for (int k = 0; k < K__COUNT; k++)
		printf("%s%s %zu (want %zu)", k ? ", " : "", kind_name[k], bn->count[k], f->want[k]);
	if (bn->other > 0)
		printf(", other reasons %zu", bn->other);
	printf("; wrong %zu, missing %zu\n", bn->wrong, f->missing);
	for (size_t i = 0; i < bn->wrong && i < BENCH_MAX_WRONG; i++)
		printf("               WRONG %s\n", bn->wrong_ex[i]);
	if (bn->duplicates || bn->invalid)
		printf("               (%zu repeated outcomes, %zu invalid events seen)\n",
		    bn->duplicates, bn->invalid);
}

static void
print_cpu(const struct procs *pr, const struct figures *f)
{
	printf("  CPU per saga %-10s %8s %8s  %s\n", "", "ms/saga", "CPU s", "processes");
	for (int g = 0; g < G__COUNT; g++) {
		char ms[32] = "-", secs[32] = "-";

		if (f->cpu_ms_per_saga[g] >= 0)
			snprintf(ms, sizeof(ms), "%.3f", f->cpu_ms_per_saga[g]);
		if (f->cpu_s[g] >= 0)
			snprintf(secs, sizeof(secs), "%.2f", f->cpu_s[g]);
		printf("    %-21s %8s %8s  %s\n", group_label(pr, g, 0), ms, secs, pr->how[g]);
	}
	if (f->cpu_complete)
		printf("    %-21s %8.3f\n", "total", f->total_ms_per_saga);
	else
		printf("    %-21s %8s  (a group was not measured)\n", "total", "-");
	if (f->others_s >= 0)
		printf("  other load   %.2f CPU s by other processes meanwhile, %.0f %% of %ld CPUs%s\n",
		    f->others_s, f->others_pct, sysconf(_SC_NPROCESSORS_ONLN),
		    f->others_pct >= 10 ? ": a busy machine, the figures suffer" : "");
	printf("  peak RSS     ");
	for (size_t i = 0; i < pr->nworkers; i++)
		printf("%s%s %.1f MB", i ? ", " : "", pr->worker_name[i],
		    f->rss_kb[i] >= 0 ? (double)f->rss_kb[i] / 1024.0 : 0.0);
	printf("%s\n", pr->nworkers ? "" : pr->fw ? "(no workers: broker-only)" : "(no worker found)");
	if (pr->nworkers > 0) {
		/* RSS counts the shared libraries' pages (libcrypto, libc ...) in every process */
		printf("  private mem  ");
		for (size_t i = 0; i < pr->nworkers; i++)
			printf("%s%s %.1f MB", i ? ", " : "", pr->worker_name[i],
			    f->private_kb[i] >= 0 ? (double)f->private_kb[i] / 1024.0 : 0.0);
		printf(" (not shared with other processes)\n");
	}
}

static void
print_text(const struct cli *c, const struct bench *bn, const struct procs *pr,
    const struct figures *f)
{
	const struct params *pa = bn->pa;
	char rate[64] = "all at once";

	if (pa->rate > 0)
		snprintf(rate, sizeof(rate), "at %.0f/s", pa->rate);
	printf("bench %s: %zu orders %s (seed %llu)%s\n", pa->run, pa->n, rate,
	    (unsigned long long)pa->seed, pa->broker_only ?
	    ", broker only: forwarders in place of the workers, no database" : "");
	printf("  workload     %zu SKUs, %zu customers, %zu item(s) of 1-3 units (%d cents %s "
	    "each); mix %u/%u/%u confirmed/out of stock/insufficient funds\n", pa->skus,
	    pa->customers, pa->items, BENCH_UNIT_CENTS, c->cfg.currency, pa->mix[0], pa->mix[1],
	    pa->mix[2]);
	print_outcomes(bn, f);
	printf("  publish      %zu in %.3f s (%.0f orders/s, confirmed)\n", f->published,
	    f->t_pub_end - f->t_first, f->publish_rate);
	printf("  throughput   %8.1f sagas/s until the last outcome (%.3f s)\n", f->until_last_rate,
	    f->until_last_s);
	if (f->sustained_s > 0)
		printf("               %8.1f sagas/s sustained: %s (%.3f s)\n", f->sustained_rate,
		    pa->broker_only ? "every delivery forwarded and acked" :
		    "queues empty, outboxes drained", f->sustained_s);
	else
		printf("               %8s sagas/s sustained: not drained in time\n", "-");
	printf("  latency ms   p50 %.1f  p90 %.1f  p99 %.1f  max %.1f  (mean %.1f)\n", f->p50,
	    f->p90, f->p99, f->max, f->mean);
	if (pa->broker_only && f->finished > 0)
		printf("  messages     per saga: 1 OrderCreated + %.2f events the forwarders published; "
		    "%.2f deliveries from the service queues, %.1f per batch\n",
		    (double)f->fwd.published / (double)f->finished,
		    (double)f->fwd.deliveries / (double)f->finished, f->fwd.batches ?
		    (double)f->fwd.deliveries / (double)f->fwd.batches : 0);
	print_cpu(pr, f);
}

/* --- options ------------------------------------------------------------------------- */

/* Parse a whole number option from 1 to max into *out; 0 or -1 after printing why. */
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

/* --mix H/S/F: three whole percentages adding up to 100. */
static int
opt_mix(const char *arg, unsigned mix[K__COUNT])
{
	unsigned h, s, f;
	char tail;

	if (sscanf(arg, "%u/%u/%u%c", &h, &s, &f, &tail) != 3 || h + s + f != 100) {
		cli_err("bench: --mix takes happy/out-of-stock/insufficient-funds percentages "
		    "adding up to 100, e.g. 90/5/5; got '%s'", arg);
		return -1;
	}
	mix[K_CONFIRMED] = h;
	mix[K_OUT_OF_STOCK] = s;
	mix[K_NO_FUNDS] = f;
	return 0;
}

static void
defaults(struct params *pa)
{
	char uuid[ENVELOPE_UUID_LEN + 1];

	memset(pa, 0, sizeof(*pa));
	pa->n = 1000;
	pa->window = 200;
	pa->skus = 100;
	pa->customers = 100;
	pa->items = 1;
	pa->mix[K_CONFIRMED] = 90;
	pa->mix[K_OUT_OF_STOCK] = 5;
	pa->mix[K_NO_FUNDS] = 5;
	pa->timeout = 120;
	pa->stack_dir = getenv("CHORUS_STACK_DIR");
	if (pa->stack_dir != NULL && pa->stack_dir[0] == '\0')
		pa->stack_dir = NULL;
	envelope_new_uuid(uuid);
	snprintf(pa->run, sizeof(pa->run), "%.8s", uuid + 28);	/* the random end of a UUIDv7 */
	pa->seed = strtoull(pa->run, NULL, 16);
}

/* One option into pa; 0 or -1 after printing why. */
static int
set_option(struct params *pa, int ch, const char *arg)
{
	long long seed;

	switch (ch) {
	case 'n': return opt_count("orders", arg, 10000000, &pa->n);
	case 'w': return opt_count("window", arg, 10000, &pa->window);
	case 'k': return opt_count("customers", arg, 100000, &pa->customers);
	case 's': return opt_count("skus", arg, 100000, &pa->skus);
	case 'i': return opt_count("items", arg, ENVELOPE_MAX_ITEMS, &pa->items);
	case 'm': return opt_mix(arg, pa->mix);
	case 'r': return opt_real("rate", arg, &pa->rate);
	case 'd': pa->stack_dir = arg; return 0;
	case 'B': pa->broker_only = 1; return 0;
	case 'S':
		if ((seed = cli_number(arg)) < 0) {
			cli_err("bench: --seed must be a whole number >= 0, got '%s'", arg);
			return -1;
		}
		pa->seed = (uint64_t)seed;
		return 0;
	case 't':
		if (opt_real("timeout", arg, &pa->timeout) != 0)
			return -1;
		if (pa->timeout <= 0) {
			cli_err("bench: --timeout must be a positive number of seconds");
			return -1;
		}
		return 0;
	default:
		return -1;
	}
}

static int
parse_args(int argc, char **argv, struct params *pa)
{
	static const struct option opts[] = {
		{ "orders", required_argument, NULL, 'n' },
		{ "rate", required_argument, NULL, 'r' },
		{ "skus", required_argument, NULL, 's' },
		{ "customers", required_argument, NULL, 'k' },
		{ "items", required_argument, NULL, 'i' },
		{ "mix", required_argument, NULL, 'm' },
		{ "seed", required_argument, NULL, 'S' },
		{ "window", required_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 't' },
		{ "stack-dir", required_argument, NULL, 'd' },
		{ "broker-only", no_argument, NULL, 'B' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	defaults(pa);
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == '?' || ch == ':') {
			cli_err("bench: unknown option or missing value: '%s' (usage: chorusctl "
			    BENCH_USAGE ")", argv[optind - 1]);
			return -1;
		}
		if (set_option(pa, ch, optarg) != 0)
			return -1;
	}
	if (optind != argc) {
		cli_err("usage: chorusctl " BENCH_USAGE);
		return -1;
	}
	/* with a rate, a window spans at most about a second of publishing */
	if (pa->rate > 0 && (double)pa->window > pa->rate)
		pa->window = pa->rate < 1 ? 1 : (size_t)pa->rate;
	return 0;
}

/* --- the run ------------------------------------------------------------------------- */

/*
 * --broker-only: wait until the forwarders have taken and acked every
 * delivery the published orders make; then the service queues must be
 * empty. Fills f->t_drained (the last ack) and f->fwd. 0, or a sysexits
 * code after printing why.
 */
static int
wait_forwarded(struct bench *bn, struct broker *b, double deadline, struct figures *f)
{
	size_t want = 0, publishes;
	char *cause = NULL;
	long left;

	for (size_t i = 0; i < f->published; i++) {
		size_t deliveries;

		bench_forward_per_saga((enum bench_fate)bn->want[i], &deliveries, &publishes);
		want += deliveries;
	}
	if (bench_forward_wait(bn->fw, want, deadline, &cause) != 0) {
		bench_forward_stats(bn->fw, &f->fwd);
		cli_err("bench: %s", cause);
		free(cause);
		return f->fwd.failed ? EX_UNAVAILABLE : EX_TEMPFAIL;
	}
	bench_forward_stats(bn->fw, &f->fwd);
	if ((left = queued(b, &cause)) < 0) {
		cli_err("bench: %s", cause);
		free(cause);
		return EX_UNAVAILABLE;
	}
	if (left > 0) {
		cli_err("bench: every delivery the workload makes was forwarded, yet %ld more "
		    "message%s wait%s in the service queues", left, left > 1 ? "s" : "",
		    left > 1 ? "" : "s");
		return EX_TEMPFAIL;
	}
	f->t_drained = f->fwd.t_last;
	return 0;
}

/* The exit code the figures call for, after saying why on stderr. */
static int
verdict(const struct bench *bn, const struct figures *f, int ret)
{
	if (bn->wrong > 0) {
		cli_err("bench: %zu of %zu orders ended otherwise than the workload wants "
		    "(first: %s)", bn->wrong, f->published, bn->wrong_ex[0]);
		return 1;
	}
	if (f->missing > 0 && bn->cause == NULL && ret != 0) {
		/* the run stopped early, and said why */
		cli_err("bench: %zu of %zu orders had no outcome", f->missing, f->published);
		return ret;
	}
	if (f->missing > 0 && bn->cause == NULL) {
		cli_err("bench: %zu of %zu orders had no outcome %.0f s after the last publish%s",
		    f->missing, f->published, bn->pa->timeout, f->finished == 0 && !bn->pa->broker_only ?
		    " (are chorus-order, chorus-inventory and chorus-payment running?)" : "");
		return EX_TEMPFAIL;
	}
	if (bn->cause != NULL) {
		cli_err("bench: outcome consumer stopped: %s", bn->cause);
		return ret ? ret : EX_UNAVAILABLE;
	}
	if (f->t_drained <= 0 && ret == 0) {
		cli_err("bench: queues and outboxes not drained %.0f s after the last publish",
		    bn->pa->timeout);
		return EX_TEMPFAIL;
	}
	return ret;
}

/*
 * Publish the workload and wait for its outcomes and the drain (queues and
 * outboxes, or with --broker-only the forwarders); fills f.
 */
static int
run(struct cli *c, struct bench *bn, const struct procs *pr, double *t_pub, struct figures *f,
    struct cpu *c0, struct cpu *c1)
{
	const struct params *pa = bn->pa;
	struct order_maker om = { c, bn, xmalloc(sizeof(struct plan)) };
	struct broker *pub = cli_broker(c, 1);
	double deadline;
	size_t done;
	int ret;

	if (pub == NULL) {
		free(om.o);
		return EX_UNAVAILABLE;
	}
	if (!c->quiet && !c->json)
		fprintf(stderr, "bench %s: publishing %zu orders...\n", pa->run, pa->n);
	sample_cpu(pr, c0);
	ret = cli_publish(pub, pa->n, make_order, &om, pa->window, pa->rate, "chorusctl", t_pub,
	    &f->published);
	f->t_pub_end = clock_s();
	free(om.o);
	deadline = f->t_pub_end + pa->timeout;
	if (f->published > 0)
		wait_outcomes(bn, f->published, deadline, isatty(STDERR_FILENO) && !c->quiet &&
		    !c->json);
	pthread_mutex_lock(&bn->mu);
	done = bn->done;
	pthread_mutex_unlock(&bn->mu);
	if (pa->broker_only && f->published > 0 && (ret == 0 || forwarders_failed(bn)))
		ret = wait_forwarded(bn, pub, deadline, f);	/* says why a forwarder failed */
	else if (ret == 0 && f->published > 0 && done == f->published)
		ret = wait_drained(c, pub, deadline, &f->t_drained);
	sample_cpu(pr, c1);
	for (size_t i = 0; i < pr->nworkers; i++)
		f->rss_kb[i] = procstat_peak_rss_kb(pr->worker[i]);
	for (size_t i = 0; i < pr->nworkers; i++)
		f->private_kb[i] = procstat_private_kb(pr->worker[i]);
	broker_close(pub);
	return ret;
}

static void
bench_init(struct bench *bn, const struct params *pa)
{
	pthread_condattr_t ca;

	memset(bn, 0, sizeof(*bn));
	bn->pa = pa;
	snprintf(bn->prefix, sizeof(bn->prefix), "bench-%s-", pa->run);
	bn->want = xcalloc(pa->n, 1);
	bn->got = xmalloc(pa->n);
	memset(bn->got, K_NONE, pa->n);
	bn->t_done = xcalloc(pa->n, sizeof(*bn->t_done));
	pthread_mutex_init(&bn->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&bn->cv, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&bn->stop, 0);
}

static void
bench_free(struct bench *bn)
{
	bench_forward_stop(bn->fw);
	broker_close(bn->b);	/* the auto-delete queue goes with its consumer */
	free(bn->cause);
	free(bn->want);
	free(bn->got);
	free(bn->t_done);
	pthread_cond_destroy(&bn->cv);
	pthread_mutex_destroy(&bn->mu);
}

/* bench_fate_fn: what order_id must end as, from the plan; -1 for none of the run's. */
static int
fate_of(void *arg, const char *order_id)
{
	const struct bench *bn = arg;
	long k = order_number(bn, order_id);

	return k < 0 ? -1 : (int)bn->want[k];
}

/* --broker-only: the forwarders in place of the workers; 0 or a sysexits code. */
static int
start_forwarders(struct cli *c, struct bench *bn, struct procs *pr)
{
	char *cause = NULL;

	if ((bn->fw = bench_forward_start(&c->cfg, fate_of, bn, &cause)) == NULL) {
		cli_err("bench: %s", cause);
		free(cause);
		return EX_UNAVAILABLE;
	}
	pr->fw = bn->fw;
	return 0;
}

int
cmd_bench(struct cli *c, int argc, char **argv)
{
	struct params pa;
	struct figures f;
	struct procs pr;
	struct cpu c0, c1;
	struct bench bn;
	pthread_t thr;
	double *t_pub;
	int ret, started = 0;

	if (parse_args(argc, argv, &pa) != 0)
		return EX_USAGE;
	bench_init(&bn, &pa);
	memset(&f, 0, sizeof(f));
	t_pub = xcalloc(pa.n, sizeof(*t_pub));
	find_procs(c, &pa, &pr);
	/* the outcome listener and the forwarders are in place before the first order goes out */
	if ((ret = listen_outcomes(c, &bn)) != 0 || (ret = set_fixtures(c, &pa, bn.want)) != 0 ||
	    (pa.broker_only && (ret = start_forwarders(c, &bn, &pr)) != 0))
		goto out;
	if (pthread_create(&thr, NULL, consumer_main, &bn) != 0) {
		cli_err("bench: cannot start the consumer thread");
		ret = EX_OSERR;
		goto out;
	}
	started = 1;
	ret = run(c, &bn, &pr, t_pub, &f, &c0, &c1);
out:
	if (started) {
		atomic_store(&bn.stop, 1);
		pthread_join(thr, NULL);
	}
	if (f.published > 0) {
		compute(&bn, &pr, t_pub, &c0, &c1, &f);
		if (c->json)
			print_json(&bn, &pr, &f);
		else if (!c->quiet || f.missing > 0 || bn.wrong > 0)
			print_text(c, &bn, &pr, &f);
		ret = verdict(&bn, &f, ret);
	}
	bench_free(&bn);
	free(t_pub);
	return ret;
}
