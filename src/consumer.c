/*
 * consumer: the batch consume loop (see consumer.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "broker.h"
#include "consumer.h"
#include "inbox.h"
#include "log.h"
#include "metrics.h"
#include "topology.h"
#include "xmalloc.h"

#define DEAD_CONFIRM_TIMEOUT_MS 30000
#define WAIT_FIRST_MS 250		/* how long to wait for a batch's first delivery */

enum outcome { OUT_OK, OUT_DUP, OUT_POISON, OUT_FAIL };

struct consumer {
	const struct conf *cfg;
	const struct worker_ops *ops;
	struct relay *relay;
	struct db *db;
	struct broker *in;	/* consuming connection */
	struct broker *dead;	/* publishing connection for dead letters (confirm mode) */
	struct delivery *d;	/* batch_size slots */
	enum outcome *out;
	char (*why)[ENVELOPE_WHY_MAX];
	struct event *ev;	/* one scratch event (large: items) */
	enum event_type *etype;	/* type of each delivery of the batch (EV_UNKNOWN: poison) */
	struct metrics_batch mb;
	struct consumer_stats st;
	unsigned transient_attempt;
};

int
handler_emit(struct handler_ctx *h, struct event *ev, const struct event *cause)
{
	if (outbox_put(h->db, h->svc, ev, cause) != 0)
		return -1;
	h->emitted++;
	if (h->mb != NULL)
		metrics_batch_emit(h->mb, ev->type, ev->reason);
	return 0;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
disconnect(struct consumer *c)
{
	metrics_connected(0, -1);
	broker_close(c->in);
	broker_close(c->dead);
	db_close(c->db);
	c->in = c->dead = NULL;
	c->db = NULL;
}

static int
connect_all(struct consumer *c, char **cause)
{
	const struct conf *cfg = c->cfg;
	enum service_id svc = c->ops->svc;
	char name[64];

	snprintf(name, sizeof(name), "chorus-%s", service_name(svc));
	c->db = db_connect(cfg->database_url[svc], name, (int)cfg->connect_timeout_s, cause);
	if (c->db == NULL)
		return -1;
	c->in = broker_connect(cfg->amqp_url, name, (int)cfg->heartbeat_s,
	    (int)cfg->connect_timeout_s, cause);
	if (c->in == NULL)
		return -1;
	/* declare before consuming: a fresh broker gets the whole topology */
	if (topology_declare(c->in, svc, cause) != 0)
		return -1;
	snprintf(name, sizeof(name), "chorus-%s dead-letters", service_name(svc));
	c->dead = broker_connect(cfg->amqp_url, name, (int)cfg->heartbeat_s,
	    (int)cfg->connect_timeout_s, cause);
	if (c->dead == NULL || broker_confirm_mode(c->dead, cause) != 0)
		return -1;
	if (broker_consume(c->in, topology_queue(svc), (int)cfg->prefetch, cause) != 0)
		return -1;
	metrics_connected(1, -1);
	return 0;
}

/* Validate and apply one delivery in the open transaction. */
static enum outcome
handle_one(struct consumer *c, struct delivery *d, char *why, enum event_type *etype)
{
	struct handler_ctx h = { c->db, c->cfg, c->ops->svc, 0, &c->mb };
	struct event *ev = c->ev;
	double t0 = now_s();
	int r;

	*etype = EV_UNKNOWN;
	if (envelope_parse(d->body, d->len, ev, why, ENVELOPE_WHY_MAX) != 0)
		return OUT_POISON;
	*etype = ev->type;
	if (!service_consumes(c->ops->svc, ev->type)) {
		snprintf(why, ENVELOPE_WHY_MAX, "unexpected_type: %s is not consumed by %s",
		    event_type_name(ev->type), service_name(c->ops->svc));
		return OUT_POISON;
	}
	r = inbox_claim(c->db, ev);
	if (r < 0)
		return OUT_FAIL;
	if (r == 0) {
		log_debug("msg=\"duplicate event skipped\" event_id=%s type=%s order_id=%s",
		    ev->id, event_type_name(ev->type), ev->order_id);
		return OUT_DUP;
	}
	if (c->ops->handle(&h, ev) != 0)
		return OUT_FAIL;
	metrics_handler_seconds(now_s() - t0);
	log_debug("msg=\"event handled\" event_id=%s type=%s order_id=%s trace_id=%.32s emitted=%d",
	    ev->id, event_type_name(ev->type), ev->order_id,
	    ev->traceparent[0] ? ev->traceparent + 3 : "-", h.emitted);
	return OUT_OK;
}

/* Publish the poison deliveries of the batch to chorus.dead with their reason; wait for confirms. */
static int
dead_letter(struct consumer *c, size_t n, char **cause)
{
	const char *svc = service_name(c->ops->svc);
	const char **ids = xcalloc(n, sizeof(*ids));
	enum confirm *st = xcalloc(n, sizeof(*st));
	uint64_t first = 0;
	size_t k = 0;
	int ret = -1;
	char now[32];

	envelope_now(now);
	for (size_t i = 0; i < n; i++) {
		struct delivery *d = &c->d[i];
		struct broker_header h[12];
		size_t nh = 0;
		uint64_t tag;

		if (c->out[i] != OUT_POISON)
			continue;
		h[nh++] = (struct broker_header){ "x-chorus-reason", c->why[i] };
		h[nh++] = (struct broker_header){ "x-chorus-service", (char *)svc };
		h[nh++] = (struct broker_header){ "x-chorus-dead-at", now };
		h[nh++] = (struct broker_header){ "x-original-exchange", d->exchange };
		h[nh++] = (struct broker_header){ "x-original-routing-key", d->routing_key };
		for (size_t j = 0; j < d->nheaders && nh < 12; j++)
			if (strncmp(d->headers[j].key, "x-chorus-", 9) != 0 &&
			    strncmp(d->headers[j].key, "x-original-", 11) != 0)
				h[nh++] = d->headers[j];
		{
			struct broker_msg m = {
				.exchange = TOPOLOGY_DEAD_EXCHANGE,
				.routing_key = svc,
				.body = d->body,
				.len = d->len,
				.content_type = d->content_type,
				.message_id = d->message_id,
				.type = d->type,
				.correlation_id = d->correlation_id,
				.app_id = d->app_id,
				.timestamp = d->timestamp,
				.headers = h,
				.nheaders = nh,
				.mandatory = 1,
			};
			if (broker_publish(c->dead, &m, &tag, cause) != 0)
				goto out;
		}
		if (k == 0)
			first = tag;
		ids[k++] = d->message_id;
		log_warn("msg=\"poison message dead-lettered\" queue=%s event_id=%s type=%s reason=\"%s\"",
		    topology_dead_queue(c->ops->svc), d->message_id ? d->message_id : "-",
		    d->type ? d->type : "-", c->why[i]);
	}
	if (k == 0) {
		ret = 0;
		goto out;
	}
	if (broker_wait_confirms(c->dead, first, k, ids, st, DEAD_CONFIRM_TIMEOUT_MS, cause) != 0)
		goto out;
	for (size_t i = 0; i < k; i++)
		if (st[i] != CONFIRM_ACK) {
			*cause = xasprintf("dead letter not confirmed by the broker");
			goto out;
		}
	ret = 0;
out:
	free(ids);
	free(st);
	return ret;
}

/*
 * Handle deliveries [0, n) in one transaction. Returns 0 when all were
 * settled (acked, or dead-lettered and acked), 1 when the batch must be
 * replayed one by one (a permanent failure), -1 when connections failed
 * or a transient failure asks for redelivery.
 */
static int
run_batch(struct consumer *c, size_t from, size_t n)
{
	char *cause = NULL;
	int emitted_any = 0;
	double t0 = now_s();
	size_t i;

	memset(&c->mb, 0, sizeof(c->mb));
	if (db_exec(c->db, "BEGIN") != 0)
		goto transient;
	for (i = from; i < from + n; i++) {
		c->why[i][0] = '\0';
		c->out[i] = handle_one(c, &c->d[i], c->why[i], &c->etype[i]);
		if (c->out[i] == OUT_OK)
			emitted_any = 1;
		if (c->out[i] == OUT_FAIL) {
			enum db_error cls = db_last_class(c->db);

			(void)db_exec(c->db, "ROLLBACK");
			memset(&c->mb, 0, sizeof(c->mb));	/* nothing of it happened */
			if (cls == DB_TRANSIENT)
				goto transient;
			if (n > 1)
				return 1;
			/* alone and permanent: this delivery is poison for this service */
			snprintf(c->why[i], ENVELOPE_WHY_MAX, "handler_error: %s %s",
			    db_last_sqlstate(c->db), db_last_error(c->db));
			c->out[i] = OUT_POISON;
			goto settle;
		}
	}
	if (db_exec(c->db, "COMMIT") != 0)
		goto transient;
	metrics_commit(&c->mb);
settle:
	if (dead_letter(c, from + n, &cause) != 0)	/* only [from, from+n) are marked poison */
		goto broken;
	if (broker_ack(c->in, c->d[from + n - 1].tag, 1, &cause) != 0)
		goto broken;
	for (i = from; i < from + n; i++) {
		if (c->out[i] == OUT_DUP) {
			c->st.duplicates++;
			metrics_duplicate(c->etype[i]);
		} else if (c->out[i] == OUT_POISON) {
			c->st.dead++;
			metrics_dead(c->why[i]);
		}
		if (c->out[i] != OUT_POISON)
			metrics_consumed(c->etype[i], 1);
		c->out[i] = OUT_OK;	/* settled: not dead-lettered again by a later call */
	}
	metrics_batch_done((unsigned)n, now_s() - t0);
	c->st.consumed += n;
	c->st.batches++;
	c->transient_attempt = 0;
	if (emitted_any)
		relay_wake(c->relay);
	return 0;

transient:
	c->st.rollbacks++;
	metrics_retried((unsigned)n);
	log_warn("msg=\"transient failure, batch rolled back and redelivered\" deliveries=%zu "
	    "sqlstate=%s error=\"%s\"", n, db_last_sqlstate(c->db), db_last_error(c->db));
	if (db_ok(c->db)) {
		struct backoff bo = { 50, 5000, 50 };

		(void)db_exec(c->db, "ROLLBACK");
		backoff_sleep(backoff_delay_ms(&bo, c->transient_attempt++, backoff_random()), NULL);
		if (broker_nack(c->in, c->d[from + n - 1].tag, 1, 1, &cause) == 0)
			return -2;
		goto broken;
	}
	return -1;
broken:
	log_warn("msg=\"RabbitMQ failure while settling a batch; it will be redelivered\" error=\"%s\"",
	    cause ? cause : "?");
	free(cause);
	return -1;
}

/* Handle a collected batch, isolating a permanent failure. -1: reconnect. */
static int
process(struct consumer *c, size_t n)
{
	int r;

	for (size_t i = 0; i < n; i++)
		c->out[i] = OUT_OK;
	r = run_batch(c, 0, n);
	if (r == 1) {
		log_info("msg=\"replaying batch one by one to isolate a failing delivery\" deliveries=%zu", n);
		for (size_t i = 0; i < n; i++) {
			char *cause = NULL;

			r = run_batch(c, i, 1);
			if (r == 0)
				continue;
			if (r == -1)
				return -1;
			/* transient: d[i] was nacked; the rest of the batch comes again too */
			if (i + 1 < n && broker_nack(c->in, c->d[n - 1].tag, 1, 1, &cause) != 0) {
				free(cause);
				return -1;
			}
			return 0;
		}
		return 0;
	}
	return r == -2 ? 0 : r;
}

int
consumer_run(const struct conf *cfg, const struct worker_ops *ops, struct relay *relay,
    volatile sig_atomic_t *stop, const struct consumer_hooks *hooks)
{
	struct consumer c = { 0 };
	struct backoff bo = { 200, 15000, 50 };
	unsigned attempt = 0;
	int ready_said = 0;
	size_t max = (size_t)cfg->batch_size;

	c.cfg = cfg;
	c.ops = ops;
	c.relay = relay;
	c.d = xcalloc(max, sizeof(*c.d));
	c.out = xcalloc(max, sizeof(*c.out));
	c.why = xcalloc(max, sizeof(*c.why));
	c.ev = xcalloc(1, sizeof(*c.ev));
	c.etype = xcalloc(max, sizeof(*c.etype));

	while (!*stop) {
		char *cause = NULL;

		if (connect_all(&c, &cause) != 0) {
			uint32_t d = backoff_delay_ms(&bo, attempt++, backoff_random());

			log_warn("msg=\"cannot connect, retrying\" retry_in_ms=%u error=\"%s\"", d, cause);
			free(cause);
			disconnect(&c);
			hooks->tick(&c.st, 0);
			backoff_sleep(d, (volatile int *)stop);
			continue;
		}
		attempt = 0;
		log_info("msg=\"consuming\" queue=%s prefetch=%ld batch_size=%ld",
		    topology_queue(ops->svc), cfg->prefetch, cfg->batch_size);
		if (!ready_said) {
			hooks->ready();
			ready_said = 1;
		}
		while (!*stop) {
			size_t n = 0;
			int r;

			hooks->tick(&c.st, 1);
			r = broker_next(c.in, WAIT_FIRST_MS, &c.d[0], &cause);
			if (r == 0) {
				if (broker_poll(c.dead, &cause) != 0)
					goto lost;
				continue;
			}
			if (r < 0)
				goto lost;
			n = 1;
			while (n < max && (r = broker_next(c.in, 0, &c.d[n], &cause)) == 1)
				n++;
			if (r < 0) {
				for (size_t i = 0; i < n; i++)
					delivery_free(&c.d[i]);
				goto lost;
			}
			r = process(&c, n);
			for (size_t i = 0; i < n; i++)
				delivery_free(&c.d[i]);
			if (r < 0)
				break;
		}
		if (*stop)
			break;
		goto reconnect;
lost:
		log_warn("msg=\"RabbitMQ connection lost, reconnecting\" error=\"%s\"", cause ? cause : "?");
		free(cause);
reconnect:
		disconnect(&c);
		hooks->tick(&c.st, 0);
		backoff_sleep(backoff_delay_ms(&bo, attempt++, backoff_random()), (volatile int *)stop);
	}
	/* stopping: nothing is in flight here (batches settle before the loop checks stop) */
	disconnect(&c);
	log_info("msg=\"consumer stopped\" consumed=%lu duplicates=%lu dead_lettered=%lu",
	    c.st.consumed, c.st.duplicates, c.st.dead);
	free(c.d);
	free(c.out);
	free(c.why);
	free(c.ev);
	free(c.etype);
	return 0;
}
