/*
 * consumer: the batch consume loop (see consumer.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "batch.h"
#include "broker.h"
#include "clock.h"
#include "consumer.h"
#include "forward.h"
#include "log.h"
#include "metrics.h"
#include "retention.h"
#include "topology.h"
#include "xmalloc.h"

#define WAIT_FIRST_MS 250		/* longest wait for a batch's first delivery */

/* A timer and when it runs next. */
struct timer_slot {
	const struct handler_timer *t;
	uint64_t due;
};

struct consumer {
	const struct conf *cfg;
	const struct handler_ops *ops;
	struct relay *relay;
	struct db *db;
	struct broker *in;	/* consuming connection */
	struct broker *out;	/* publishing connection: retries, dead letters (confirms) */
	struct broker_batch *out_batch;
	struct slot *slots;	/* batch_size of them */
	struct batch_tx tx;
	struct retry_policy policy;
	struct timer_slot *timers;
	size_t ntimers;
	struct consumer_stats st;
	volatile sig_atomic_t *stop;
	const struct consumer_hooks *hooks;
	uint64_t next_keepalive, next_poll;
};

static void
disconnect(struct consumer *c)
{
	metrics_connected(0, -1);
	broker_batch_free(c->out_batch);
	c->out_batch = NULL;
	broker_close(c->in);
	broker_close(c->out);
	db_close(c->db);
	c->in = c->out = NULL;
	c->db = c->tx.db = NULL;
}

static int
connect_all(struct consumer *c, char **cause)
{
	const struct conf *cfg = c->cfg;
	enum service_id svc = c->ops->svc;
	struct broker_tls tls;
	char name[64], *url;

	snprintf(name, sizeof(name), "chorus-%s", service_name(svc));
	c->db = c->tx.db = db_connect(cfg->database_url[svc], name, (int)cfg->connect_timeout_s,
	    cfg->statement_timeout_ms, cause);
	if (c->db == NULL)
		return -1;
	conf_broker_tls(cfg, &tls);
	url = conf_amqp_url(cfg, svc);
	c->in = broker_connect(url, &tls, name, (int)cfg->heartbeat_s,
	    (int)cfg->connect_timeout_s, cause);
	if (c->in == NULL)
		goto fail;
	/* an oversized body is never copied: it is poison by its size alone */
	broker_set_max_body(c->in, ENVELOPE_MAX_BYTES);
	/* the worker declares nothing (its user may not): chorusctl setup did */
	if (topology_verify(c->in, svc, &c->policy, cause) != 0)
		goto fail;
	if (topology_record_retry_queues(c->db, svc, &c->policy) != 0) {
		*cause = xasprintf("recording the retry queues: %s", db_last_error(c->db));
		goto fail;
	}
	snprintf(name, sizeof(name), "chorus-%s forwarding", service_name(svc));
	c->out = broker_connect(url, &tls, name, (int)cfg->heartbeat_s,
	    (int)cfg->connect_timeout_s, cause);
	if (c->out == NULL || broker_confirm_mode(c->out, cause) != 0)
		goto fail;
	free(url);
	c->out_batch = broker_batch_new(c->out);
	if (broker_consume(c->in, topology_queue(svc), (int)cfg->prefetch, cause) != 0)
		return -1;
	metrics_connected(1, -1);
	return 0;
fail:
	free(url);
	return -1;
}

/*
 * Between two events of a long batch (a slow dependency): ping the
 * watchdog and the health clock, keep both RabbitMQ connections alive
 * (send-only on the consuming one: no delivery is read), notice a stop.
 */
static int
keep_alive(struct handler_ctx *h)
{
	struct consumer *c = ((struct batch_tx *)h->owner)->owner;
	char *cause = NULL;

	if (*c->stop)
		return -1;
	if (clock_ms() < c->next_keepalive)
		return 0;
	c->next_keepalive = clock_ms() + 1000;
	c->hooks->tick(&c->st, 1);
	if (broker_heartbeat(c->in, &cause) != 0 || broker_poll(c->out, &cause) != 0) {
		/* the ack or the forward will fail and the batch come again */
		log_warn("msg=\"RabbitMQ connection lost during a batch\" error=\"%s\"", cause);
		free(cause);
	}
	return 0;
}

/*
 * Apply [from, from+n) until batch_decide() says it is settled (0) or the
 * connection must be made anew (-1: nothing is acked, it all comes again).
 */
static int
process(struct consumer *c, size_t from, size_t n)
{
	struct slot *s = c->slots + from;
	size_t emitted;

	for (unsigned tries = 1;; tries++) {
		enum batch_result r = batch_apply(&c->tx, s, n, &emitted);
		const struct handler_failure *f = &c->tx.fail;
		enum batch_next next = batch_decide(r, n, tries, c->tx.dependency);

		if (next != NEXT_SETTLE)
			log_info("msg=\"batch failed\" deliveries=%zu next=%s error=\"%s\"", n,
			    batch_next_name(next), f->why);
		switch (next) {
		case NEXT_SETTLE:
			if (emitted > 0)
				relay_wake(c->relay);
			return 0;
		case NEXT_TRY_AGAIN:
			backoff_sleep(backoff_delay_ms(&(struct backoff){ 20, 200, 100 }, 0,
			    backoff_random()), NULL);
			continue;
		case NEXT_ISOLATE:
			for (size_t i = 0; i < n; i++)
				if (process(c, from + i, 1) != 0)
					return -1;
			return 0;
		case NEXT_RETRY_LATER:
			batch_mark_retry(s, n, &c->policy, f->why, f->uncounted);
			c->st.rollbacks += n;
			metrics_retried((unsigned)n);
			return 0;
		case NEXT_POISON:
			snprintf(s->why, sizeof(s->why), "handler_error: %.200s", f->why);
			s->out = OUT_POISON;
			return 0;
		case NEXT_RECONNECT:
			log_warn("msg=\"database connection lost; the batch will be redelivered\" "
			    "error=\"%s\"", db_last_error(c->db));
			return -1;
		case NEXT_STOP:
			return -1;
		}
	}
}

/* Count what a settled batch did. */
static void
count(struct consumer *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct slot *s = &c->slots[i];

		switch (s->out) {
		case OUT_DUP:
			c->st.duplicates++;
			metrics_duplicate(s->ev.type);
			metrics_consumed(s->ev.type, 1);
			break;
		case OUT_POISON:
		case OUT_EXHAUSTED:
			c->st.dead++;
			metrics_dead(s->out == OUT_POISON ? s->why : "retries_exhausted");
			break;
		case OUT_OK:
			metrics_consumed(s->ev.type, 1);
			break;
		case OUT_RETRY:
			break;
		}
	}
	c->st.consumed += n;
	c->st.batches++;
}

/* Forward what needs it, then ack the whole batch with one multiple ack. */
static int
settle(struct consumer *c, size_t n)
{
	char *cause = NULL;

	if (forward_slots(c->out_batch, c->ops->svc, &c->policy, c->slots, n, &cause) != 0 ||
	    broker_ack(c->in, c->slots[n - 1].d.tag, 1, &cause) != 0) {
		log_warn("msg=\"RabbitMQ failure while settling a batch; it will be redelivered\" "
		    "error=\"%s\"", cause ? cause : "?");
		free(cause);
		return -1;
	}
	count(c, n);
	return 0;
}

/*
 * A dependency's circuit is open: take no delivery until it lets a trial
 * through, keeping both connections alive meanwhile. 0, or -1: reconnect.
 */
static int
pause_consuming(struct consumer *c)
{
	uint64_t next_beat = 0;
	char *cause = NULL;
	long ms;

	log_warn("msg=\"consumption paused\" pause_ms=%ld", c->ops->pause_ms());
	while (!*c->stop && (ms = c->ops->pause_ms()) > 0) {
		if (clock_ms() >= next_beat) {
			if (broker_heartbeat(c->in, &cause) != 0 || broker_poll(c->out, &cause) != 0) {
				log_warn("msg=\"RabbitMQ connection lost while paused\" error=\"%s\"", cause);
				free(cause);
				return -1;
			}
			next_beat = clock_ms() + 1000;
		}
		c->hooks->tick(&c->st, 1);
		backoff_sleep(ms < 250 ? (uint32_t)ms : 250, (volatile int *)c->stop);
	}
	log_info("msg=\"consumption resumed\"");
	return 0;
}

/* Run the timers that are due, each in its own transaction. -1: the database is gone. */
static int
run_timers(struct consumer *c)
{
	for (size_t i = 0; i < c->ntimers; i++) {
		struct timer_slot *ts = &c->timers[i];
		size_t emitted;
		int r;

		if (clock_ms() < ts->due)
			continue;
		r = batch_run_timer(&c->tx, ts->t, &emitted);
		if (emitted > 0)
			relay_wake(c->relay);
		/* more to do: again on the next turn, after the next batch */
		ts->due = clock_ms() + (r == 1 ? 0 : (uint64_t)ts->t->period_ms(c->cfg));
		if (r < 0 && !db_ok(c->db))
			return -1;
	}
	return 0;
}

/* Take what has arrived, up to batch_size, waiting only for the first. n, or -1. */
static long
collect(struct consumer *c, char **cause)
{
	size_t n = 0, max = (size_t)c->cfg->batch_size;
	int r = broker_next(c->in, WAIT_FIRST_MS, &c->slots[0].d, cause);

	if (r <= 0)
		return r;
	for (n = 1; n < max && (r = broker_next(c->in, 0, &c->slots[n].d, cause)) == 1; n++)
		;
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			delivery_free(&c->slots[i].d);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		batch_validate(&c->slots[i], c->ops->svc, c->cfg);
	return (long)n;
}

/* Consume on live connections until stopped (0) or a connection is lost (-1). */
static int
consume(struct consumer *c)
{
	char *cause = NULL;

	while (!*c->stop) {
		long n;
		int r;

		c->hooks->tick(&c->st, 1);
		/* the forwarding connection is idle under steady load: serve its heartbeats */
		if (clock_ms() >= c->next_poll) {
			if (broker_poll(c->out, &cause) != 0)
				goto lost;
			c->next_poll = clock_ms() + 1000;
		}
		if (run_timers(c) != 0)
			return -1;
		if ((n = collect(c, &cause)) < 0)
			goto lost;
		if (n == 0)
			continue;
		r = process(c, 0, (size_t)n);
		if (r == 0)
			r = settle(c, (size_t)n);
		for (long i = 0; i < n; i++)
			delivery_free(&c->slots[i].d);
		if (r < 0)
			return -1;
		if (c->ops->pause_ms != NULL && c->ops->pause_ms() > 0 && pause_consuming(c) != 0)
			return -1;
	}
	return 0;
lost:
	log_warn("msg=\"RabbitMQ connection lost, reconnecting\" error=\"%s\"", cause ? cause : "?");
	free(cause);
	return -1;
}

/* The service's timers and the skeleton's retention, first due after one period (5 s at most). */
static void
timers_init(struct consumer *c)
{
	c->ntimers = c->ops->ntimers + 1;
	c->timers = xcalloc(c->ntimers, sizeof(*c->timers));
	for (size_t i = 0; i < c->ops->ntimers; i++)
		c->timers[i].t = &c->ops->timers[i];
	c->timers[c->ops->ntimers].t = &retention_timer;
	for (size_t i = 0; i < c->ntimers; i++)
		c->timers[i].due = clock_ms() + (uint64_t)(c->timers[i].t->period_ms(c->cfg) < 5000 ?
		    c->timers[i].t->period_ms(c->cfg) : 5000);
}

int
consumer_run(const struct conf *cfg, const struct handler_ops *ops, struct relay *relay,
    volatile sig_atomic_t *stop, const struct consumer_hooks *hooks)
{
	struct consumer c = { .cfg = cfg, .ops = ops, .relay = relay, .stop = stop, .hooks = hooks };
	struct backoff bo = { 200, 15000, 50 };
	unsigned attempt = 0;
	int ready_said = 0;

	c.slots = xcalloc((size_t)cfg->batch_size, sizeof(*c.slots));
	batch_tx_init(&c.tx, cfg, ops, (size_t)cfg->batch_size);
	c.tx.keep_alive = keep_alive;
	c.tx.owner = &c;
	conf_retry_policy(cfg, &c.policy);
	timers_init(&c);
	while (!*stop) {
		char *cause = NULL;

		if (connect_all(&c, &cause) != 0) {
			log_warn("msg=\"cannot connect, retrying\" error=\"%s\"", cause);
			free(cause);
		} else {
			attempt = 0;
			log_info("msg=\"consuming\" queue=%s prefetch=%ld batch_size=%ld",
			    topology_queue(ops->svc), cfg->prefetch, cfg->batch_size);
			if (!ready_said++)
				hooks->ready();
			if (consume(&c) == 0)
				break;
		}
		disconnect(&c);
		hooks->tick(&c.st, 0);
		backoff_sleep(backoff_delay_ms(&bo, attempt++, backoff_random()), (volatile int *)stop);
	}
	/* stopping: a batch in flight was settled, or rolled back and left unacked */
	disconnect(&c);
	log_info("msg=\"consumer stopped\" consumed=%lu duplicates=%lu dead_lettered=%lu",
	    c.st.consumed, c.st.duplicates, c.st.dead);
	batch_tx_free(&c.tx);
	free(c.timers);
	free(c.slots);
	return 0;
}
