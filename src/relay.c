/*
 * relay: the outbox relay thread (see relay.h).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "backoff.h"
#include "broker.h"
#include "clock.h"
#include "db.h"
#include "log.h"
#include "metrics.h"
#include "outbox.h"
#include "pgarray.h"
#include "relay.h"
#include "topology.h"
#include "xmalloc.h"

#define CONFIRM_TIMEOUT_MS 30000
#define LEADER_LOCK "1667788658"	/* advisory lock key: the active relay of a database */
#define STANDBY_RETRY_MS 1000		/* how often a standing-by relay tries to take over */
#define CHANNEL "chorus_outbox"		/* NOTIFY: a standing-by instance wrote outbox rows */

struct relay {
	const struct conf *cfg;
	enum service_id svc;
	pthread_t thread;
	int wake_fd;		/* eventfd: relay_wake() counts, the thread polls it */
	atomic_int draining;	/* publish what is pending, then exit */
	atomic_int abort_now;	/* exit at once */
	atomic_int ready;
	atomic_ulong published;
};

/* What a round does with one row it read. */
enum row_fate {
	ROW_PUBLISH,		/* sent; its confirm decides */
	ROW_HOLD,		/* behind an earlier row of its order sent in this round: next round */
	ROW_WAIT,		/* behind a row that cannot go now: joins the retry tier */
	ROW_LATER,		/* in the retry tier, not due yet */
};

/* One round's state: the rows read and what became of them. */
struct round {
	PGresult *res;
	int n;
	uint64_t xmin;		/* oldest transaction running when the rows were read */
	enum row_fate *fate;
	struct broker_batch *bb;	/* the rows sent, in order */
	int *row_of;		/* message of bb -> row */
	size_t sent;
};

/* Columns of the round's query. */
enum { C_XMIN, C_CTID, C_ID, C_TYPE, C_AGG, C_BODY, C_KEY, C_TRACE, C_TIME, C_TX, C_TRIES, C_DUE };

static const char *
col(const struct round *rd, int row, int c)
{
	return PQgetvalue(rd->res, row, c);
}

/*
 * Read the unpublished rows past the horizon and those of the retry tier,
 * in seq order, with the snapshot's xmin (one row even when there are none).
 */
static int
read_rows(struct relay *r, struct db *db, uint64_t horizon, struct round *rd)
{
	char h[24], limit[24];
	const char *p[2] = { h, limit };

	snprintf(h, sizeof(h), "%" PRIu64, horizon);
	snprintf(limit, sizeof(limit), "%ld", r->cfg->relay_batch);
	rd->res = db_query(db, "relay_read",
	    "WITH s AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin) "
	    "SELECT s.xmin, o.rid::text, o.id::text, o.type, o.aggregateid, o.payload::text, "
	    "  o.routing_key, coalesce(o.traceparent, ''), extract(epoch FROM o.created_at)::bigint, "
	    "  o.tx::text, o.attempts, o.attempts = 0 OR o.next_attempt_at <= now() "
	    "FROM s LEFT JOIN LATERAL (SELECT o.ctid AS rid, o.* FROM outbox o "
	    "  WHERE o.published_at IS NULL AND (o.tx >= $1::xid8 OR o.attempts > 0) "
	    "  ORDER BY o.seq LIMIT $2) o ON true", 2, p);
	if (rd->res == NULL)
		return -1;
	rd->xmin = strtoull(col(rd, 0, C_XMIN), NULL, 10);
	rd->n = PQgetisnull(rd->res, 0, C_ID) ? 0 : PQntuples(rd->res);
	return 0;
}

/* Has an earlier row of the round, before row i, the same order? Its index, or -1. */
static int
earlier_of_order(const struct round *rd, int i)
{
	for (int k = i - 1; k >= 0; k--)
		if (strcmp(col(rd, k, C_AGG), col(rd, i, C_AGG)) == 0)
			return k;
	return -1;
}

/* Decide each row's fate: only the first row of each order may go, if it is due. */
static void
decide(struct round *rd)
{
	for (int i = 0; i < rd->n; i++) {
		int k = earlier_of_order(rd, i);

		if (k < 0)
			rd->fate[i] = col(rd, i, C_DUE)[0] == 't' ? ROW_PUBLISH : ROW_LATER;
		else if (rd->fate[k] == ROW_PUBLISH || rd->fate[k] == ROW_HOLD)
			rd->fate[i] = ROW_HOLD;
		else
			rd->fate[i] = atoi(col(rd, i, C_TRIES)) > 0 ? ROW_LATER : ROW_WAIT;
	}
}

/* Publish the rows to go, all before one wait for their confirms. 0, or -1 (*cause). */
static int
publish(struct relay *r, struct round *rd, char **cause)
{
	char app[64];

	snprintf(app, sizeof(app), "chorus-%s", service_name(r->svc));
	for (int i = 0; i < rd->n; i++) {
		struct broker_event ev = {
			.exchange = topology_exchange(r->svc),
			.routing_key = col(rd, i, C_KEY),
			.body = col(rd, i, C_BODY),
			.len = (size_t)PQgetlength(rd->res, i, C_BODY),
			.id = col(rd, i, C_ID),
			.type = col(rd, i, C_TYPE),
			.subject = col(rd, i, C_AGG),
			.app_id = app,
			.timestamp = atoll(col(rd, i, C_TIME)),
			.traceparent = col(rd, i, C_TRACE),
		};

		if (rd->fate[i] != ROW_PUBLISH)
			continue;
		if (broker_batch_add_event(rd->bb, &ev, cause) != 0)
			return -1;
		rd->row_of[rd->sent++] = i;
	}
	if (rd->sent == 0)
		return 0;
	return broker_batch_wait(rd->bb, CONFIRM_TIMEOUT_MS, cause);
}

/*
 * The next horizon: the round's xmin, held back by every row it leaves
 * unpublished with attempts = 0 (held behind an earlier row of its order);
 * not advanced past anything when the round was full (rows beyond its
 * limit are unseen). Rows sent that the broker refused and rows waiting
 * behind a stuck one join the retry tier (attempts > 0) in the same
 * statement that stores the horizon, so they need no holding back.
 */
static uint64_t
next_horizon(const struct relay *r, const struct round *rd, uint64_t horizon)
{
	uint64_t h = rd->xmin;

	if (rd->n >= r->cfg->relay_batch)
		return horizon;
	for (int i = 0; i < rd->n; i++)
		if (rd->fate[i] != ROW_PUBLISH && rd->fate[i] != ROW_WAIT &&
		    atoi(col(rd, i, C_TRIES)) == 0) {
			uint64_t tx = strtoull(col(rd, i, C_TX), NULL, 10);

			if (tx < h)
				h = tx;
		}
	return h > horizon ? h : horizon;
}

/*
 * Record the round in one statement: published rows, rows refused by the
 * broker (retry tier, backoff), rows waiting behind them (retry tier, due
 * now) and the new horizon. Returns rows published, or -1.
 */
static int
record(struct db *db, const struct round *rd, uint64_t horizon)
{
	struct pgarray done = { 0 }, refused = { 0 }, waiting = { 0 };
	char h[24];
	const char *p[4];
	PGresult *res;
	int published = 0;

	for (size_t s = 0; s < rd->sent; s++) {
		int i = rd->row_of[s];

		if (broker_batch_status(rd->bb, s) == CONFIRM_ACK) {
			pgarray_add(&done, col(rd, i, C_CTID));
			published++;
		} else {
			pgarray_add(&refused, col(rd, i, C_CTID));
		}
	}
	for (int i = 0; i < rd->n; i++)
		if (rd->fate[i] == ROW_WAIT)
			pgarray_add(&waiting, col(rd, i, C_CTID));
	snprintf(h, sizeof(h), "%" PRIu64, horizon);
	p[0] = pgarray_text(&done);
	p[1] = pgarray_text(&refused);
	p[2] = pgarray_text(&waiting);
	p[3] = h;
	/* rows are found by ctid: only this relay updates them while it holds the lock */
	res = db_query(db, "relay_record",
	    "WITH p AS (UPDATE outbox SET published_at = now() "
	    "    WHERE ctid = ANY($1::tid[]) AND published_at IS NULL RETURNING 1), "
	    "  f AS (UPDATE outbox SET attempts = attempts + 1, "
	    "    last_error = 'returned or nacked by the broker', "
	    "    next_attempt_at = now() + make_interval(secs => power(2, least(attempts, 6))) "
	    "    WHERE ctid = ANY($2::tid[]) RETURNING 1), "
	    "  w AS (UPDATE outbox SET attempts = 1, "
	    "    last_error = 'waiting behind an earlier event of the same order' "
	    "    WHERE ctid = ANY($3::tid[]) AND attempts = 0 RETURNING 1), "
	    "  h AS (UPDATE outbox_relay SET horizon = $4::xid8 WHERE horizon < $4::xid8 RETURNING 1) "
	    "SELECT (SELECT count(*) FROM p), (SELECT count(*) FROM f), (SELECT count(*) FROM w)", 4, p);
	pgarray_free(&done);
	pgarray_free(&refused);
	pgarray_free(&waiting);
	if (res == NULL)
		return -1;
	if (atol(PQgetvalue(res, 0, 1)) > 0) {
		log_warn("msg=\"events not accepted by the broker, kept pending\" count=%s",
		    PQgetvalue(res, 0, 1));
		metrics_publish_failed((unsigned)atol(PQgetvalue(res, 0, 1)));
	}
	PQclear(res);
	return published;
}

static void
round_free(struct round *rd)
{
	PQclear(rd->res);
	free(rd->fate);
	free(rd->row_of);
	broker_batch_clear(rd->bb);
	memset(rd, 0, sizeof(*rd));
}

/*
 * One round: read, publish, wait for the confirms, record. Returns the
 * rows read when the round was full (more may wait), else the rows it could
 * act on (0: nothing to do now: none, or only retry-tier rows not due), or
 * -1 when a connection failed (nothing is recorded: the rows go again).
 */
static int
relay_round(struct relay *r, struct db *db, struct broker_batch *bb, uint64_t *horizon)
{
	struct round rd = { .bb = bb };
	char *cause = NULL;
	uint64_t h, t0 = clock_us(), t1, t2;
	int n = -1, published;

	if (read_rows(r, db, *horizon, &rd) != 0) {
		log_warn("msg=\"outbox relay database failure\" error=\"%s\"", db_last_error(db));
		goto out;
	}
	rd.fate = xcalloc((size_t)rd.n + 1, sizeof(*rd.fate));
	rd.row_of = xcalloc((size_t)rd.n + 1, sizeof(*rd.row_of));
	decide(&rd);
	t1 = clock_us();
	if (publish(r, &rd, &cause) != 0) {
		log_warn("msg=\"outbox relay publish failure, rows stay pending\" error=\"%s\"", cause);
		free(cause);
		goto out;
	}
	h = next_horizon(r, &rd, *horizon);
	t2 = clock_us();
	published = record(db, &rd, h);
	if (published < 0) {
		log_warn("msg=\"outbox relay database failure\" error=\"%s\"", db_last_error(db));
		goto out;
	}
	*horizon = h;
	atomic_fetch_add(&r->published, (unsigned long)published);
	n = (int)rd.sent;
	for (size_t k = 0; k < rd.sent; k++)
		if (broker_batch_status(bb, k) == CONFIRM_ACK)
			metrics_published(event_type_from_name(col(&rd, rd.row_of[k], C_TYPE)), 1);
	for (int i = 0; i < rd.n; i++)
		n += rd.fate[i] == ROW_HOLD;
	if (rd.n >= r->cfg->relay_batch)
		n = rd.n;
	if (rd.n > 0)
		log_debug("msg=\"relay round\" rows=%d published=%d read_us=%llu confirm_us=%llu "
		    "record_us=%llu", rd.n, published, (unsigned long long)(t1 - t0),
		    (unsigned long long)(t2 - t1), (unsigned long long)(clock_us() - t2));
out:
	round_free(&rd);
	return n;
}

/* Refresh the backlog gauges (unpublished rows, age of the oldest). */
static void
measure_backlog(struct db *db)
{
	PGresult *res = db_query(db, "relay_backlog",
	    "SELECT count(*), coalesce(extract(epoch FROM now() - min(o.created_at)), 0) "
	    "FROM outbox o WHERE " OUTBOX_PENDING_WHERE, 0, NULL);

	if (res == NULL)
		return;
	metrics_outbox(atol(PQgetvalue(res, 0, 0)), atof(PQgetvalue(res, 0, 1)));
	PQclear(res);
}

/* How a wait ended. */
enum wake { WAKE_TIMEOUT, WAKE_LOCAL, WAKE_REMOTE };

/*
 * Wait until woken in-process (a commit of this worker, or a stop), by a
 * NOTIFY on db's connection (a standing-by instance wrote rows; db may be
 * NULL), or until ms pass.
 */
static enum wake
relay_wait(struct relay *r, struct db *db, long ms)
{
	struct pollfd p[2] = { { r->wake_fd, POLLIN, 0 }, { db ? PQsocket(db_pg(db)) : -1, POLLIN, 0 } };
	enum wake w = WAKE_TIMEOUT;
	uint64_t count;
	PGnotify *n;

	if (atomic_load(&r->draining) || atomic_load(&r->abort_now))
		return WAKE_LOCAL;
	/* notifications that came while a query was read wait in libpq, not on the socket */
	if (db != NULL && (n = PQnotifies(db_pg(db))) != NULL) {
		do
			PQfreemem(n);
		while ((n = PQnotifies(db_pg(db))) != NULL);
		return WAKE_REMOTE;
	}
	if (poll(p, 2, (int)ms) < 0 && errno != EINTR)
		return WAKE_TIMEOUT;
	if (p[0].revents & POLLIN) {
		if (read(r->wake_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
			log_warn("msg=\"relay wake-up read failed\" error=\"%s\"", strerror(errno));
		w = WAKE_LOCAL;
	}
	if (db != NULL && (p[1].revents & (POLLIN | POLLERR | POLLHUP))) {
		(void)PQconsumeInput(db_pg(db));	/* a broken connection shows at the next query */
		while ((n = PQnotifies(db_pg(db))) != NULL) {
			PQfreemem(n);
			if (w == WAKE_TIMEOUT)
				w = WAKE_REMOTE;
		}
	}
	return w;
}

/* Become the database's active relay: 1 yes, 0 another one is, -1 failure. Loads the horizon. */
static int
take_lead(struct db *db, uint64_t *horizon)
{
	PGresult *res = db_query(db, "relay_lead",
	    "SELECT pg_try_advisory_lock(" LEADER_LOCK "), (SELECT horizon::text FROM outbox_relay)",
	    0, NULL);
	int lead;

	if (res == NULL)
		return -1;
	lead = PQgetvalue(res, 0, 0)[0] == 't';
	*horizon = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
	PQclear(res);
	if (lead && db_exec(db, "LISTEN " CHANNEL) != 0)
		return -1;
	if (lead)
		log_info("msg=\"outbox relay active\" horizon=%" PRIu64, *horizon);
	return lead;
}

/* Connect both; NULL db on failure with *cause. */
static void
connect_both(struct relay *r, const char *name, struct db **db, struct broker **b, char **cause)
{
	*b = NULL;
	*db = db_connect(r->cfg->database_url[r->svc], name, (int)r->cfg->connect_timeout_s,
	    r->cfg->statement_timeout_ms, cause);
	/* losing a mark only re-sends: consumers' inboxes absorb that */
	if (*db != NULL && db_exec(*db, "SET synchronous_commit = off") != 0)
		*cause = xstrdup(db_last_error(*db));
	if (*cause == NULL) {
		*b = broker_connect(r->cfg->amqp_url, name, (int)r->cfg->heartbeat_s,
		    (int)r->cfg->connect_timeout_s, cause);
		if (*b != NULL && broker_confirm_mode(*b, cause) != 0) {
			broker_close(*b);
			*b = NULL;
		}
	}
	if (*cause != NULL) {
		db_close(*db);
		*db = NULL;
	}
}

/*
 * Serve while connected: stand by until this relay leads, then publish in
 * rounds. Returns 1 when done (drained), 0 to reconnect.
 */
static int
serve(struct relay *r, struct db *db, struct broker *b)
{
	struct broker_batch *bb = broker_batch_new(b);
	uint64_t horizon = 0, next_measure = 0;
	char *cause = NULL;
	int lead = 0, n, done = -1;

	while (done < 0) {
		if (atomic_load(&r->abort_now))
			done = 1;
		else if (!lead && (lead = take_lead(db, &horizon)) < 0)
			done = 0;
		if (done >= 0)
			break;
		if (clock_ms() >= next_measure) {
			measure_backlog(db);
			next_measure = clock_ms() + 1000;
		}
		if (!lead) {
			if (atomic_load(&r->draining))
				done = 1;	/* the active relay publishes what this instance wrote */
			else if (relay_wait(r, NULL, STANDBY_RETRY_MS) == WAKE_LOCAL &&
			    db_exec(db, "NOTIFY " CHANNEL) != 0)
				done = 0;	/* tell the active relay: this worker wrote rows */
		} else if ((n = relay_round(r, db, bb, &horizon)) < 0) {
			done = 0;
		} else if (n >= r->cfg->relay_batch) {
			continue;	/* a full round: more may be waiting */
		} else if (atomic_load(&r->draining) && n == 0) {
			done = 1;
		} else if (!atomic_load(&r->draining)) {
			/* a commit during the round woke it already: then no wait */
			(void)relay_wait(r, db, r->cfg->relay_poll_ms);
		}
		if (done < 0 && broker_poll(b, &cause) != 0) {
			log_warn("msg=\"outbox relay lost RabbitMQ\" error=\"%s\"", cause);
			free(cause);
			done = 0;
		}
	}
	broker_batch_free(bb);
	return done;
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
		struct db *db;
		struct broker *b;
		char *cause = NULL;
		int done;

		connect_both(r, name, &db, &b, &cause);
		if (db == NULL) {
			uint32_t d = backoff_delay_ms(&bo, attempt++, backoff_random());

			log_warn("msg=\"outbox relay cannot connect, retrying\" retry_in_ms=%u error=\"%s\"",
			    d, cause);
			free(cause);
			if (atomic_load(&r->draining))
				break;	/* nothing can be published: do not hold up the exit */
			(void)relay_wait(r, NULL, d);
			continue;
		}
		attempt = 0;
		atomic_store(&r->ready, 1);
		metrics_connected(-1, 1);
		done = serve(r, db, b);
		atomic_store(&r->ready, 0);
		metrics_connected(-1, 0);
		broker_close(b);
		db_close(db);	/* ends the session: the lead goes with it */
		if (done)
			break;
	}
	return NULL;
}

struct relay *
relay_start(const struct conf *cfg, enum service_id svc)
{
	struct relay *r = xcalloc(1, sizeof(*r));

	r->cfg = cfg;
	r->svc = svc;
	r->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->wake_fd < 0 || pthread_create(&r->thread, NULL, relay_main, r) != 0) {
		log_error("msg=\"cannot start the outbox relay thread\" error=\"%s\"", strerror(errno));
		if (r->wake_fd >= 0)
			close(r->wake_fd);
		free(r);
		return NULL;
	}
	return r;
}

void
relay_wake(struct relay *r)
{
	uint64_t one = 1;

	/* a full counter (never, in practice) still wakes the thread */
	if (write(r->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("msg=\"relay wake-up failed\" error=\"%s\"", strerror(errno));
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
	close(r->wake_fd);
	free(r);
}
