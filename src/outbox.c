/*
 * outbox: writing events in the business transaction, and the relay that
 * publishes them with confirms (see outbox.h).
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "backoff.h"
#include "broker.h"
#include "log.h"
#include "metrics.h"
#include "outbox.h"
#include "topology.h"
#include "xmalloc.h"

#define CONFIRM_TIMEOUT_MS 30000

struct relay {
	const struct conf *cfg;
	enum service_id svc;
	relay_tick_fn tick;
	long tick_ms;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int woken;		/* under mu */
	atomic_int draining;	/* publish what is pending, then exit */
	atomic_int abort_now;	/* exit at once */
	atomic_int ready;
	atomic_ulong published;
};

int
outbox_put(struct db *db, enum service_id svc, struct event *ev, const struct event *cause)
{
	const char *p[7];
	PGresult *res;
	char *body;

	envelope_new_uuid(ev->id);
	snprintf(ev->source, sizeof(ev->source), "chorus/%s", service_name(svc));
	strlcpy_(ev->subject, ev->order_id, sizeof(ev->subject));
	envelope_now(ev->time);
	envelope_child_traceparent(cause ? cause->traceparent : NULL, ev->traceparent);
	body = envelope_render(ev);
	p[0] = ev->id;
	p[1] = ev->order_id;
	p[2] = event_type_name(ev->type);
	p[3] = body;
	p[4] = event_type_routing_key(ev->type);
	p[5] = ev->traceparent;
	p[6] = cause != NULL && cause->id[0] != '\0' ? cause->id : NULL;
	res = db_query(db, "outbox_put",
	    "INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload, routing_key, "
	    "  traceparent, caused_by) "
	    "VALUES ($1::uuid, 'order', $2, $3, $4::jsonb, $5, $6, $7::uuid)", 7, p);
	free(body);
	if (res == NULL)
		return -1;
	PQclear(res);
	log_debug("msg=\"event written to outbox\" event_id=%s type=%s order_id=%s trace_id=%.32s",
	    ev->id, event_type_name(ev->type), ev->order_id, ev->traceparent + 3);
	return 0;
}

/* Append ids (text) to a PostgreSQL array literal. */
static char *
uuid_array(char **ids, const enum confirm *st, size_t n, int want_ack)
{
	size_t len = 3, k = 0;
	char *s;

	for (size_t i = 0; i < n; i++)
		len += strlen(ids[i]) + 1;
	s = xmalloc(len);
	s[k++] = '{';
	for (size_t i = 0; i < n; i++) {
		if ((st[i] == CONFIRM_ACK) != want_ack)
			continue;
		if (k > 1)
			s[k++] = ',';
		memcpy(s + k, ids[i], strlen(ids[i]));
		k += strlen(ids[i]);
	}
	s[k++] = '}';
	s[k] = '\0';
	return s;
}

/*
 * One round: claim a batch of publishable rows, publish, wait for the
 * confirms, mark. Returns rows claimed (0: nothing to do), or -1 when a
 * connection failed (the transaction is rolled back: rows stay pending).
 */
static int
relay_round(struct relay *r, struct db *db, struct broker *b)
{
	char limit[16];
	const char *p[2] = { limit, NULL };
	PGresult *res = NULL;
	char **ids = NULL;
	enum confirm *st = NULL;
	char *cause = NULL;
	uint64_t first = 0;
	int n = 0, ret = -1, nack = 0;

	snprintf(limit, sizeof(limit), "%ld", r->cfg->relay_batch);
	if (db_exec(db, "BEGIN") != 0)
		goto fail_db;
	/* only the oldest pending row of each order: one order's events leave in order */
	res = db_query(db, "relay_claim",
	    "SELECT o.id::text, o.type, o.aggregateid, o.payload::text, o.routing_key, "
	    "       coalesce(o.traceparent, ''), extract(epoch from o.created_at)::bigint "
	    "FROM outbox o "
	    "WHERE o.published_at IS NULL AND o.next_attempt_at <= now() "
	    "  AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.published_at IS NULL "
	    "                  AND e.aggregateid = o.aggregateid AND e.seq < o.seq) "
	    "ORDER BY o.seq LIMIT $1 FOR UPDATE OF o SKIP LOCKED", 1, p);
	if (res == NULL)
		goto fail_db;
	n = PQntuples(res);
	if (n == 0) {
		PQclear(res);
		return db_exec(db, "COMMIT") == 0 ? 0 : -1;
	}
	ids = xcalloc((size_t)n, sizeof(*ids));
	st = xcalloc((size_t)n, sizeof(*st));
	for (int i = 0; i < n; i++) {
		struct broker_header h = { "traceparent", PQgetvalue(res, i, 5) };
		char app[64];
		struct broker_msg m = {
			.exchange = topology_exchange(r->svc),
			.routing_key = PQgetvalue(res, i, 4),
			.body = PQgetvalue(res, i, 3),
			.len = (size_t)PQgetlength(res, i, 3),
			.content_type = "application/cloudevents+json",
			.message_id = PQgetvalue(res, i, 0),
			.type = PQgetvalue(res, i, 1),
			.correlation_id = PQgetvalue(res, i, 2),
			.app_id = app,
			.timestamp = atoll(PQgetvalue(res, i, 6)),
			.headers = &h,
			.nheaders = *h.value ? 1 : 0,
			.mandatory = 1,
		};
		uint64_t tag;

		snprintf(app, sizeof(app), "chorus-%s", service_name(r->svc));
		ids[i] = PQgetvalue(res, i, 0);
		if (broker_publish(b, &m, &tag, &cause) != 0)
			goto fail_broker;
		if (i == 0)
			first = tag;
	}
	if (broker_wait_confirms(b, first, (size_t)n, (const char *const *)ids, st,
	    CONFIRM_TIMEOUT_MS, &cause) != 0)
		goto fail_broker;

	for (int i = 0; i < n; i++)
		if (st[i] != CONFIRM_ACK)
			nack++;
	{
		char *acked = uuid_array(ids, st, (size_t)n, 1);
		const char *q[1] = { acked };
		PGresult *u;

		/* losing this mark only re-sends: consumers' inboxes absorb that */
		u = db_query(db, "relay_mark",
		    "UPDATE outbox SET published_at = now() WHERE id = ANY($1::uuid[])", 1, q);
		free(acked);
		if (u == NULL)
			goto fail_db;
		PQclear(u);
	}
	if (nack > 0) {
		char *failed = uuid_array(ids, st, (size_t)n, 0);
		const char *q[2] = { failed, "returned or nacked by the broker" };
		PGresult *u;

		log_warn("msg=\"events not accepted by the broker, kept pending\" count=%d", nack);
		u = db_query(db, "relay_retry_later",
		    "UPDATE outbox SET attempts = attempts + 1, last_error = $2, "
		    "  next_attempt_at = now() + make_interval(secs => power(2, least(attempts, 6))) "
		    "WHERE id = ANY($1::uuid[])", 2, q);
		free(failed);
		if (u == NULL)
			goto fail_db;
		PQclear(u);
	}
	if (db_exec(db, "COMMIT") != 0)
		goto fail_db;
	atomic_fetch_add(&r->published, (unsigned long)(n - nack));
	for (int i = 0; i < n; i++)
		if (st[i] == CONFIRM_ACK)
			metrics_published(event_type_from_name(PQgetvalue(res, i, 1)), 1);
	if (nack > 0)
		metrics_publish_failed((unsigned)nack);
	ret = n;
	goto out;

fail_db:
	log_warn("msg=\"outbox relay database failure\" error=\"%s\"", db_last_error(db));
	goto out;
fail_broker:
	log_warn("msg=\"outbox relay publish failure, rows stay pending\" error=\"%s\"", cause);
	free(cause);
out:
	if (ret < 0 && db_ok(db))
		(void)db_exec(db, "ROLLBACK");
	PQclear(res);
	free(ids);
	free(st);
	return ret;
}

/* Refresh the backlog gauges (pending rows, age of the oldest). */
static void
measure_backlog(struct db *db)
{
	PGresult *res = db_query(db, "relay_backlog",
	    "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0) "
	    "FROM outbox WHERE published_at IS NULL", 0, NULL);

	if (res == NULL)
		return;
	metrics_outbox(atol(PQgetvalue(res, 0, 0)), atof(PQgetvalue(res, 0, 1)));
	PQclear(res);
}

/*
 * Delete what is past its retention: published outbox rows and remembered
 * inbox ids, a bounded number per call so it never holds up publishing.
 */
static void
clean_up(struct relay *r, struct db *db)
{
	char outbox_h[24], inbox_h[24];
	const char *p[2] = { outbox_h, inbox_h };
	long outbox_n = 0, inbox_n = 0;

	snprintf(outbox_h, sizeof(outbox_h), "%ld", r->cfg->outbox_retention_h);
	snprintf(inbox_h, sizeof(inbox_h), "%ld", r->cfg->inbox_retention_h);
	/* 5,000 rows a statement, a few statements a minute: catches up, never hogs */
	for (int round = 0; round < 20; round++) {
		PGresult *res = db_query(db, "relay_cleanup",
		    "WITH o AS (DELETE FROM outbox WHERE id IN (SELECT id FROM outbox "
		    "    WHERE published_at < now() - make_interval(hours => $1::int) LIMIT 5000) RETURNING 1), "
		    "  i AS (DELETE FROM inbox WHERE event_id IN (SELECT event_id FROM inbox "
		    "    WHERE received_at < now() - make_interval(hours => $2::int) LIMIT 5000) RETURNING 1) "
		    "SELECT (SELECT count(*) FROM o), (SELECT count(*) FROM i)", 2, p);
		long o, i;

		if (res == NULL) {
			log_warn("msg=\"outbox/inbox clean-up failed\" error=\"%s\"", db_last_error(db));
			break;
		}
		o = atol(PQgetvalue(res, 0, 0));
		i = atol(PQgetvalue(res, 0, 1));
		PQclear(res);
		outbox_n += o;
		inbox_n += i;
		if (o < 5000 && i < 5000)
			break;
	}
	if (outbox_n + inbox_n > 0)
		log_info("msg=\"clean-up\" outbox_rows_deleted=%ld inbox_rows_deleted=%ld",
		    outbox_n, inbox_n);
}

/* Wait until woken, told to stop, or ms pass. */
static void
relay_wait(struct relay *r, long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&r->mu);
	while (!r->woken && !atomic_load(&r->draining) && !atomic_load(&r->abort_now))
		if (pthread_cond_timedwait(&r->cv, &r->mu, &ts) != 0)
			break;
	r->woken = 0;
	pthread_mutex_unlock(&r->mu);
}

static void *
relay_main(void *arg)
{
	struct relay *r = arg;
	struct backoff bo = { 200, 10000, 50 };
	unsigned attempt = 0;
	char name[64];

	snprintf(name, sizeof(name), "chorus-%s relay", service_name(r->svc));
	while (!atomic_load(&r->abort_now)) {
		struct db *db = NULL;
		struct broker *b = NULL;
		char *cause = NULL;
		uint64_t next_tick = 0, next_measure = 0, next_cleanup = clock_ms() + 5000;

		db = db_connect(r->cfg->database_url[r->svc], name, (int)r->cfg->connect_timeout_s,
		    r->cfg->statement_timeout_ms,
		    &cause);
		if (db != NULL && db_exec(db, "SET synchronous_commit = off") != 0)
			cause = xstrdup(db_last_error(db));
		if (cause == NULL) {
			b = broker_connect(r->cfg->amqp_url, name, (int)r->cfg->heartbeat_s,
			    (int)r->cfg->connect_timeout_s, &cause);
			if (b != NULL && broker_confirm_mode(b, &cause) != 0) {
				broker_close(b);
				b = NULL;
			}
		}
		if (cause != NULL) {
			uint32_t d = backoff_delay_ms(&bo, attempt++, backoff_random());

			log_warn("msg=\"outbox relay cannot connect, retrying\" retry_in_ms=%u error=\"%s\"",
			    d, cause);
			free(cause);
			db_close(db);
			if (atomic_load(&r->draining))
				break;	/* nothing can be published: do not hold up the exit */
			relay_wait(r, d);
			continue;
		}
		attempt = 0;
		atomic_store(&r->ready, 1);
		metrics_connected(-1, 1);
		log_debug("msg=\"outbox relay connected\"");
		for (;;) {
			int n;

			if (atomic_load(&r->abort_now))
				break;
			if (r->tick != NULL && clock_ms() >= next_tick && !atomic_load(&r->draining)) {
				if (r->tick(db, r->cfg) < 0 && !db_ok(db))
					break;
				next_tick = clock_ms() + (uint64_t)r->tick_ms;
			}
			n = relay_round(r, db, b);
			if (n < 0)
				break;
			if (clock_ms() >= next_measure) {
				measure_backlog(db);
				next_measure = clock_ms() + 1000;
			}
			if (clock_ms() >= next_cleanup) {
				clean_up(r, db);
				next_cleanup = clock_ms() + 60000;
			}
			if (n >= r->cfg->relay_batch)
				continue;	/* more may be waiting */
			if (atomic_load(&r->draining) && n == 0)
				goto done;
			{
				long wait = r->cfg->relay_poll_ms;

				if (r->tick != NULL && r->tick_ms < wait)
					wait = r->tick_ms;
				if (n == 0)
					relay_wait(r, wait);
			}
			if (broker_poll(b, &cause) != 0) {
				log_warn("msg=\"outbox relay lost RabbitMQ\" error=\"%s\"", cause);
				free(cause);
				cause = NULL;
				break;
			}
		}
		atomic_store(&r->ready, 0);
		metrics_connected(-1, 0);
		broker_close(b);
		db_close(db);
		continue;
done:
		atomic_store(&r->ready, 0);
		broker_close(b);
		db_close(db);
		break;
	}
	return NULL;
}

struct relay *
relay_start(const struct conf *cfg, enum service_id svc, relay_tick_fn tick, long tick_ms)
{
	struct relay *r = xcalloc(1, sizeof(*r));
	pthread_condattr_t ca;

	r->cfg = cfg;
	r->svc = svc;
	r->tick = tick;
	r->tick_ms = tick_ms;
	pthread_mutex_init(&r->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&r->thread, NULL, relay_main, r) != 0) {
		log_error("msg=\"cannot start the outbox relay thread\"");
		free(r);
		return NULL;
	}
	return r;
}

void
relay_wake(struct relay *r)
{
	pthread_mutex_lock(&r->mu);
	r->woken = 1;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

int
relay_ready(struct relay *r)
{
	return atomic_load(&r->ready);
}

unsigned long
relay_published(struct relay *r)
{
	return atomic_load(&r->published);
}

void
relay_stop(struct relay *r, int timeout_s)
{
	struct timespec ts;

	if (r == NULL)
		return;
	atomic_store(&r->draining, 1);
	relay_wake(r);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_s;
	if (pthread_timedjoin_np(r->thread, NULL, &ts) != 0) {
		log_warn("msg=\"outbox relay did not finish in time; pending rows stay for the next start\"");
		atomic_store(&r->abort_now, 1);
		relay_wake(r);
		/* it is blocked at most one confirm timeout: leave it, the process exits */
		return;
	}
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	free(r);
}
