/*
 * consumer: the batch consume loop (see consumer.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "backoff.h"
#include "broker.h"
#include "consumer.h"
#include "inbox.h"
#include "log.h"
#include "metrics.h"
#include "pgarray.h"
#include "retry.h"
#include "topology.h"
#include "xmalloc.h"

#define FORWARD_CONFIRM_TIMEOUT_MS 30000
#define WAIT_FIRST_MS 250		/* how long to wait for a batch's first delivery */

enum outcome { OUT_OK, OUT_DUP, OUT_POISON, OUT_FAIL, OUT_RETRY, OUT_EXHAUSTED };

struct consumer {
	const struct conf *cfg;
	const struct worker_ops *ops;
	struct relay *relay;
	struct db *db;
	struct broker *in;	/* consuming connection */
	struct broker *out_conn;	/* publishing connection: retries, dead letters (confirms) */
	struct delivery *d;	/* batch_size slots */
	enum outcome *out;
	char (*why)[ENVELOPE_WHY_MAX];
	struct event *evs;	/* the batch's events, parsed (large: items) */
	const struct event **valid;	/* those that passed validation, in order */
	bool *fresh;		/* valid[k] was never seen before (inbox) */
	enum event_type *etype;	/* type of each delivery of the batch (EV_UNKNOWN: poison) */
	int *step;		/* retry step of each delivery marked OUT_RETRY */
	unsigned *attempt;	/* failures of each delivery marked OUT_RETRY or OUT_EXHAUSTED */
	int fail_uncounted;	/* the batch's failure uses no attempt (a circuit is open) */
	int fail_in_handler;	/* the failure was a dependency's, classed by the handler */
	struct retry_policy policy;
	enum err_class fail;	/* class of the batch's failure (ERR_NONE: from the database) */
	char fail_why[200];
	struct metrics_batch mb;
	struct consumer_stats st;
	volatile sig_atomic_t *stop;
	const struct consumer_hooks *hooks;
	uint64_t next_keepalive;
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

int
worker_lock_state_rows(struct handler_ctx *h, const struct event *const *evs, size_t n,
    const char *name, const char *sql)
{
	struct pgarray ids = { 0 };
	const char *p[1];
	PGresult *res;

	for (size_t i = 0; i < n; i++)
		pgarray_add(&ids, evs[i]->order_id);
	p[0] = pgarray_text(&ids);
	res = db_query(h->db, name, sql, 1, p);
	pgarray_free(&ids);
	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

static void
disconnect(struct consumer *c)
{
	metrics_connected(0, -1);
	broker_close(c->in);
	broker_close(c->out_conn);
	db_close(c->db);
	c->in = c->out_conn = NULL;
	c->db = NULL;
}

static int
connect_all(struct consumer *c, char **cause)
{
	const struct conf *cfg = c->cfg;
	enum service_id svc = c->ops->svc;
	char name[64];

	snprintf(name, sizeof(name), "chorus-%s", service_name(svc));
	c->db = db_connect(cfg->database_url[svc], name, (int)cfg->connect_timeout_s,
	    cfg->statement_timeout_ms, cause);
	if (c->db == NULL)
		return -1;
	c->in = broker_connect(cfg->amqp_url, name, (int)cfg->heartbeat_s,
	    (int)cfg->connect_timeout_s, cause);
	if (c->in == NULL)
		return -1;
	/* declare before consuming: a fresh broker gets the whole topology */
	if (topology_declare(c->in, svc, &c->policy, cause) != 0)
		return -1;
	snprintf(name, sizeof(name), "chorus-%s forwarding", service_name(svc));
	c->out_conn = broker_connect(cfg->amqp_url, name, (int)cfg->heartbeat_s,
	    (int)cfg->connect_timeout_s, cause);
	if (c->out_conn == NULL || broker_confirm_mode(c->out_conn, cause) != 0)
		return -1;
	if (broker_consume(c->in, topology_queue(svc), (int)cfg->prefetch, cause) != 0)
		return -1;
	metrics_connected(1, -1);
	return 0;
}

/* Parse and validate delivery i into c->evs[i]: OUT_OK, or OUT_POISON with its reason. */
static enum outcome
validate(struct consumer *c, size_t i)
{
	struct event *ev = &c->evs[i];

	c->etype[i] = EV_UNKNOWN;
	c->why[i][0] = '\0';
	if (envelope_parse(c->d[i].body, c->d[i].len, ev, c->why[i], ENVELOPE_WHY_MAX) != 0)
		return OUT_POISON;
	c->etype[i] = ev->type;
	if (!service_consumes(c->ops->svc, ev->type)) {
		snprintf(c->why[i], ENVELOPE_WHY_MAX, "unexpected_type: %s is not consumed by %s",
		    event_type_name(ev->type), service_name(c->ops->svc));
		return OUT_POISON;
	}
	return OUT_OK;
}

/* Record a handler's failure on the consumer. */
static void
note_failure(struct consumer *c, const struct handler_ctx *h)
{
	c->fail = h->fail;
	c->fail_uncounted = h->fail_uncounted;
	c->fail_in_handler = h->fail != ERR_NONE;
	if (h->fail_why[0] != '\0')
		snprintf(c->fail_why, sizeof(c->fail_why), "%s", h->fail_why);
}

/* Apply validated, fresh delivery i in the open transaction. */
static enum outcome
handle_one(struct consumer *c, size_t i)
{
	struct handler_ctx h = { .db = c->db, .cfg = c->cfg, .svc = c->ops->svc, .mb = &c->mb };
	struct event *ev = &c->evs[i];
	double t0 = clock_s();

	if (c->ops->handle(&h, ev) != 0) {
		note_failure(c, &h);
		return OUT_FAIL;
	}
	metrics_handler_seconds(clock_s() - t0);
	log_debug("msg=\"event handled\" event_id=%s type=%s order_id=%s trace_id=%.32s emitted=%d",
	    ev->id, event_type_name(ev->type), ev->order_id,
	    ev->traceparent[0] ? ev->traceparent + 3 : "-", h.emitted);
	return OUT_OK;
}

/* Header value of d, or NULL. */
static const char *
hdr(const struct delivery *d, const char *key)
{
	return delivery_header(d, key);
}

/* The trace id of d's traceparent header, or "-" (for log lines). */
static const char *
trace_id(const struct delivery *d, char out[33])
{
	const char *tp = delivery_header(d, "traceparent");

	if (tp == NULL || !envelope_valid_traceparent(tp))
		return "-";
	memcpy(out, tp + 3, 32);
	out[32] = '\0';
	return out;
}

/* Headers of d that a forwarded copy keeps (not the ones forwarding sets anew). */
static size_t
kept_headers(const struct delivery *d, struct broker_header *h, size_t max)
{
	static const char *const reset[] = { "x-chorus-reason", "x-chorus-attempt",
		"x-chorus-last-error", "x-chorus-dead-at", "x-chorus-service", "x-death",
		"x-first-death-exchange", "x-first-death-queue", "x-first-death-reason",
		"x-last-death-exchange", "x-last-death-queue", "x-last-death-reason", NULL };
	size_t n = 0;

	for (size_t j = 0; j < d->nheaders && n < max; j++) {
		int drop = 0;

		for (size_t k = 0; reset[k] != NULL; k++)
			drop |= strcmp(d->headers[j].key, reset[k]) == 0;
		if (!drop)
			h[n++] = d->headers[j];
	}
	return n;
}

/*
 * Publish what the batch does not ack plainly: poison and exhausted
 * deliveries to chorus.dead with their reason and history, transient
 * failures to their delay queue with the attempt counted; wait for every
 * confirm. Only [from, from+n) is looked at. 0, or -1 (*cause).
 */
static int
forward(struct consumer *c, size_t from, size_t n, char **cause)
{
	const char *svc = service_name(c->ops->svc);
	const char **ids = xcalloc(n, sizeof(*ids));
	enum confirm *st = xcalloc(n, sizeof(*st));
	uint64_t first = 0;
	size_t k = 0, retried = 0;
	int ret = -1, last_step = -1;
	char now[32];

	envelope_now(now);
	for (size_t i = from; i < from + n; i++) {
		struct delivery *d = &c->d[i];
		struct broker_header h[BROKER_MAX_HEADERS];
		char attempt[16], reason[ENVELOPE_WHY_MAX + 32], queue[128], expiration[16];
		char trace[33];
		unsigned attempts = c->attempt[i];
		size_t nh = 0;
		uint64_t tag;
		struct broker_msg m = {
			.body = d->body, .len = d->len, .content_type = d->content_type,
			.message_id = d->message_id, .type = d->type,
			.correlation_id = d->correlation_id, .app_id = d->app_id,
			.timestamp = d->timestamp, .headers = h, .mandatory = 1,
		};

		if (c->out[i] != OUT_POISON && c->out[i] != OUT_RETRY && c->out[i] != OUT_EXHAUSTED)
			continue;
		/* the Chorus headers first; the message's own after, as many as fit */
		nh = 0;
		if (hdr(d, "x-original-routing-key") == NULL) {
			h[nh++] = (struct broker_header){ "x-original-exchange", d->exchange };
			h[nh++] = (struct broker_header){ "x-original-routing-key", d->routing_key };
		}
		h[nh++] = (struct broker_header){ "x-chorus-service", (char *)svc };
		if (c->out[i] == OUT_POISON) {
			h[nh++] = (struct broker_header){ "x-chorus-reason", c->why[i] };
			h[nh++] = (struct broker_header){ "x-chorus-dead-at", now };
			m.exchange = TOPOLOGY_DEAD_EXCHANGE;
			m.routing_key = svc;
			log_warn("msg=\"poison message dead-lettered\" queue=%s event_id=%s type=%s "
			    "order_id=%s trace_id=%s reason=\"%s\"", topology_dead_queue(c->ops->svc),
			    d->message_id ? d->message_id : "-", d->type ? d->type : "-",
			    d->correlation_id ? d->correlation_id : "-", trace_id(d, trace), c->why[i]);
		} else {
			snprintf(attempt, sizeof(attempt), "%u", attempts);
			h[nh++] = (struct broker_header){ "x-chorus-attempt", attempt };
			h[nh++] = (struct broker_header){ "x-chorus-last-error", c->why[i] };
			if (hdr(d, "x-chorus-first-error") == NULL) {
				h[nh++] = (struct broker_header){ "x-chorus-first-error", c->why[i] };
				h[nh++] = (struct broker_header){ "x-chorus-first-failed-at", now };
			}
		}
		if (c->out[i] == OUT_RETRY) {
			retry_queue_name(c->ops->svc, &c->policy, c->step[i], queue, sizeof(queue));
			snprintf(expiration, sizeof(expiration), "%u",
			    retry_delay_ms(&c->policy, c->step[i], backoff_random()));
			m.exchange = "";
			m.routing_key = queue;
			m.expiration = expiration;
			retried++;
			last_step = c->step[i];
		} else if (c->out[i] == OUT_EXHAUSTED) {
			snprintf(reason, sizeof(reason), "retries_exhausted: %s", c->why[i]);
			h[nh++] = (struct broker_header){ "x-chorus-reason", reason };
			h[nh++] = (struct broker_header){ "x-chorus-dead-at", now };
			m.exchange = TOPOLOGY_DEAD_EXCHANGE;
			m.routing_key = svc;
			log_error("msg=\"retries exhausted, message dead-lettered\" queue=%s event_id=%s "
			    "type=%s order_id=%s trace_id=%s attempts=%u error=\"%s\"",
			    topology_dead_queue(c->ops->svc), d->message_id ? d->message_id : "-",
			    d->type ? d->type : "-", d->correlation_id ? d->correlation_id : "-",
			    trace_id(d, trace), attempts, c->why[i]);
		}
		nh += kept_headers(d, h + nh, BROKER_MAX_HEADERS - nh);
		m.nheaders = nh;
		if (broker_publish(c->out_conn, &m, &tag, cause) != 0)
			goto out;
		if (k == 0)
			first = tag;
		ids[k++] = d->message_id;
	}
	if (retried > 0) {
		char queue[128];

		retry_queue_name(c->ops->svc, &c->policy, last_step, queue, sizeof(queue));
		log_warn("msg=\"transient failure: deliveries sent to a retry queue\" count=%zu queue=%s "
		    "error=\"%s\"", retried, queue, c->why[from]);
	}
	if (k == 0) {
		ret = 0;
		goto out;
	}
	if (broker_wait_confirms(c->out_conn, first, k, ids, st, FORWARD_CONFIRM_TIMEOUT_MS, cause) != 0)
		goto out;
	for (size_t i = 0; i < k; i++)
		if (st[i] != CONFIRM_ACK) {
			*cause = xasprintf("forwarded message not confirmed by the broker");
			goto out;
		}
	ret = 0;
out:
	free(ids);
	free(st);
	return ret;
}

/*
 * Between deliveries of a long batch (a slow dependency): ping the watchdog
 * and the health clock, keep both RabbitMQ connections alive (send-only on
 * the consuming one: no delivery is read), and notice a stop request.
 * 0 go on, -1 stop now.
 */
static int
keep_alive(struct consumer *c)
{
	char *cause = NULL;

	if (*c->stop)
		return -1;
	if (clock_ms() < c->next_keepalive)
		return 0;
	c->next_keepalive = clock_ms() + 1000;
	c->hooks->tick(&c->st, 1);
	if (broker_heartbeat(c->in, &cause) != 0 || broker_poll(c->out_conn, &cause) != 0) {
		/* the ack or the forward will fail and the batch come again */
		log_warn("msg=\"RabbitMQ connection lost during a batch\" error=\"%s\"", cause);
		free(cause);
	}
	return 0;
}

enum batch_result {
	BATCH_DONE,		/* committed (or nothing to commit): settle it */
	BATCH_PERMANENT,	/* rolled back: one delivery fails for good; go one by one */
	BATCH_TRANSIENT,	/* rolled back: try again later; connections are fine */
	BATCH_BROKEN,		/* the database connection is gone: reconnect */
	BATCH_STOPPED,		/* told to stop mid-batch: rolled back, nothing acked */
};

/*
 * Apply deliveries [from, from+n) in one transaction, marking each one's
 * outcome. A lone delivery failing for good is marked poison (handler_error).
 */
static enum batch_result
apply(struct consumer *c, size_t from, size_t n)
{
	struct handler_ctx h = { .db = c->db, .cfg = c->cfg, .svc = c->ops->svc, .mb = &c->mb };
	double t0 = clock_s();
	size_t i, k, nvalid = 0;

	memset(&c->mb, 0, sizeof(c->mb));
	c->fail = ERR_NONE;
	c->fail_uncounted = 0;
	c->fail_in_handler = 0;
	c->fail_why[0] = '\0';
	/* validate first: poison never reaches the database */
	for (i = from; i < from + n; i++) {
		c->out[i] = validate(c, i);
		if (c->out[i] == OUT_OK)
			c->valid[nvalid++] = &c->evs[i];
	}
	if (db_exec(c->db, "BEGIN") != 0)
		goto failed;
	/* the batch's ids in the inbox: what was seen before has no effect */
	if (inbox_claim(c->db, c->valid, nvalid, c->fresh) != 0)
		goto failed;
	/* the service may take its locks for the whole batch at once, in one order */
	if (nvalid > 0 && c->ops->prepare != NULL && c->ops->prepare(&h, c->valid, nvalid) != 0) {
		note_failure(c, &h);
		goto failed;
	}
	for (i = from, k = 0; i < from + n; i++) {
		if (c->out[i] != OUT_OK)
			continue;
		if (!c->fresh[k++]) {
			log_debug("msg=\"duplicate event skipped\" event_id=%s type=%s order_id=%s",
			    c->evs[i].id, event_type_name(c->evs[i].type), c->evs[i].order_id);
			c->out[i] = OUT_DUP;
			continue;
		}
		c->out[i] = handle_one(c, i);
		if (c->out[i] == OUT_FAIL)
			goto failed;
		if (keep_alive(c) != 0)
			goto stopped;
	}
	if (db_exec(c->db, "COMMIT") != 0)
		goto failed;
	metrics_commit(&c->mb);
	metrics_batch_done((unsigned)n, clock_s() - t0);
	return BATCH_DONE;

stopped:
	/* told to stop in the middle of a long batch: roll back, ack nothing */
	(void)db_exec(c->db, "ROLLBACK");
	memset(&c->mb, 0, sizeof(c->mb));
	return BATCH_STOPPED;

failed:
	if (!db_ok(c->db))
		return BATCH_BROKEN;
	(void)db_exec(c->db, "ROLLBACK");
	memset(&c->mb, 0, sizeof(c->mb));	/* nothing of it happened */
	if (c->fail == ERR_NONE)
		c->fail = retry_classify_sqlstate(db_last_sqlstate(c->db));
	if (c->fail_why[0] == '\0')
		snprintf(c->fail_why, sizeof(c->fail_why), "%s %s", db_last_sqlstate(c->db),
		    db_last_error(c->db));
	if (c->fail == ERR_TRANSIENT)
		return BATCH_TRANSIENT;
	if (n > 1)
		return BATCH_PERMANENT;
	/* alone and failing for good: this delivery is poison for this service */
	if (c->out[from] != OUT_POISON) {
		snprintf(c->why[from], ENVELOPE_WHY_MAX, "handler_error: %.200s", c->fail_why);
		c->out[from] = OUT_POISON;
	}
	return BATCH_DONE;
}

/* Mark [from, from+n) to be retried later (or dead-lettered past the last attempt). */
static void
mark_retry(struct consumer *c, size_t from, size_t n)
{
	for (size_t i = from; i < from + n; i++) {
		unsigned attempts = retry_attempts_of(hdr(&c->d[i], "x-chorus-attempt"));

		if (c->out[i] == OUT_POISON)
			continue;	/* bad whatever happens: dead-lettered now */
		/* an open circuit is not the message's failure: it spends no attempt */
		if (!c->fail_uncounted)
			attempts++;
		c->attempt[i] = attempts;	/* forward() writes it to x-chorus-attempt */
		c->step[i] = retry_step(&c->policy, attempts > 0 ? attempts : 1);
		c->out[i] = c->step[i] >= 0 ? OUT_RETRY : OUT_EXHAUSTED;
		snprintf(c->why[i], ENVELOPE_WHY_MAX, "%s", c->fail_why);
	}
	c->st.rollbacks += n;
	metrics_retried((unsigned)n);
}

/* Forward what needs it, then ack the whole batch with one multiple ack. */
static int
settle(struct consumer *c, size_t n)
{
	char *cause = NULL;
	int emitted = 0;

	if (forward(c, 0, n, &cause) != 0 || broker_ack(c->in, c->d[n - 1].tag, 1, &cause) != 0) {
		log_warn("msg=\"RabbitMQ failure while settling a batch; it will be redelivered\" "
		    "error=\"%s\"", cause ? cause : "?");
		free(cause);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		switch (c->out[i]) {
		case OUT_DUP:
			c->st.duplicates++;
			metrics_duplicate(c->etype[i]);
			metrics_consumed(c->etype[i], 1);
			break;
		case OUT_POISON:
		case OUT_EXHAUSTED:
			c->st.dead++;
			metrics_dead(c->out[i] == OUT_POISON ? c->why[i] : "retries_exhausted");
			break;
		case OUT_OK:
			emitted = 1;
			metrics_consumed(c->etype[i], 1);
			break;
		default:
			break;
		}
	}
	c->st.consumed += n;
	c->st.batches++;
	if (emitted)
		relay_wake(c->relay);
	return 0;
}

/*
 * Handle a collected batch: one transaction; a transient failure is tried
 * once more at once (deadlocks and serialization failures clear), then sent
 * to the retry queues; a permanent failure is isolated by going one by one.
 * -1: reconnect (what was not acked comes again).
 */
static int
process(struct consumer *c, size_t n)
{
	enum batch_result r = apply(c, 0, n);

	if (r == BATCH_TRANSIENT && !c->fail_in_handler) {
		/* the database's: deadlocks and serialization failures clear at once */
		struct backoff bo = { 20, 200, 100 };

		log_info("msg=\"transient failure, trying the batch again\" deliveries=%zu error=\"%s\"",
		    n, c->fail_why);
		backoff_sleep(backoff_delay_ms(&bo, 0, backoff_random()), NULL);
		r = apply(c, 0, n);
	}
	if (r == BATCH_TRANSIENT && c->fail_in_handler && n > 1)
		r = BATCH_PERMANENT;	/* a dependency failed: let what does not need it through */
	if (r == BATCH_TRANSIENT)
		mark_retry(c, 0, n);
	if (r == BATCH_PERMANENT) {
		log_info("msg=\"replaying batch one by one to isolate failing deliveries\" deliveries=%zu", n);
		for (size_t i = 0; i < n && r != BATCH_BROKEN && r != BATCH_STOPPED; i++) {
			r = apply(c, i, 1);
			if (r == BATCH_TRANSIENT)
				mark_retry(c, i, 1);
		}
	}
	if (r == BATCH_STOPPED)
		return -1;	/* nothing acked: it all comes again after the restart */
	if (r == BATCH_BROKEN) {
		log_warn("msg=\"database connection lost; the batch will be redelivered\" error=\"%s\"",
		    db_last_error(c->db));
		return -1;
	}
	return settle(c, n);
}

/*
 * A dependency's circuit is open: take no delivery until it lets a trial
 * through, keeping both connections alive meanwhile. 0, or -1: reconnect.
 */
static int
pause_consuming(struct consumer *c, volatile sig_atomic_t *stop, const struct consumer_hooks *hooks)
{
	uint64_t next_beat = 0;
	char *cause = NULL;
	long ms;

	log_warn("msg=\"consumption paused\" pause_ms=%ld", c->ops->pause_ms());
	while (!*stop && (ms = c->ops->pause_ms()) > 0) {
		if (clock_ms() >= next_beat) {
			if (broker_heartbeat(c->in, &cause) != 0 || broker_poll(c->out_conn, &cause) != 0) {
				log_warn("msg=\"RabbitMQ connection lost while paused\" error=\"%s\"", cause);
				free(cause);
				return -1;
			}
			next_beat = clock_ms() + 1000;
		}
		hooks->tick(&c->st, 1);
		backoff_sleep(ms < 250 ? (uint32_t)ms : 250, (volatile int *)stop);
	}
	log_info("msg=\"consumption resumed\"");
	return 0;
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
	c.stop = stop;
	c.hooks = hooks;
	c.d = xcalloc(max, sizeof(*c.d));
	c.out = xcalloc(max, sizeof(*c.out));
	c.why = xcalloc(max, sizeof(*c.why));
	c.evs = xcalloc(max, sizeof(*c.evs));
	c.valid = xcalloc(max, sizeof(*c.valid));
	c.fresh = xcalloc(max, sizeof(*c.fresh));
	c.etype = xcalloc(max, sizeof(*c.etype));
	c.step = xcalloc(max, sizeof(*c.step));
	c.attempt = xcalloc(max, sizeof(*c.attempt));
	conf_retry_policy(cfg, &c.policy);

	while (!*stop) {
		char *cause = NULL;
		double next_poll = 0;

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
			/* the forwarding connection is idle under steady load: serve its heartbeats */
			if (clock_s() >= next_poll) {
				if (broker_poll(c.out_conn, &cause) != 0)
					goto lost;
				next_poll = clock_s() + 1.0;
			}
			r = broker_next(c.in, WAIT_FIRST_MS, &c.d[0], &cause);
			if (r == 0)
				continue;
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
			if (ops->pause_ms != NULL && ops->pause_ms() > 0 &&
			    pause_consuming(&c, stop, hooks) != 0)
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
	/* stopping: a batch in flight was settled, or rolled back and left unacked */
	disconnect(&c);
	log_info("msg=\"consumer stopped\" consumed=%lu duplicates=%lu dead_lettered=%lu",
	    c.st.consumed, c.st.duplicates, c.st.dead);
	free(c.d);
	free(c.out);
	free(c.why);
	free(c.evs);
	free(c.valid);
	free(c.fresh);
	free(c.etype);
	free(c.step);
	free(c.attempt);
	return 0;
}
