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
#define FRONTIER_MAX 64			/* running transactions a frontier lists */
#define NACK_BACKOFF_MAX_S "5"		/* the longest wait of a row the broker nacked */

struct relay {
	const struct conf *cfg;
	enum service_id svc;
	int watch_unrouted;	/* measure chorus.unrouted (cleared if it cannot be) */
	pthread_t thread;
	int wake_fd;		/* eventfd: relay_wake() counts, the thread polls it */
	atomic_int draining;	/* publish what is pending, then exit */
	atomic_int abort_now;	/* exit at once */
	atomic_int ready;
	atomic_ulong published;
};

/*
 * Where new rows can be: every unpublished row outside the retry tier that the
 * relay has not read yet was written by a transaction tx >= lo, or by one
 * of x[] (transactions still running, below lo, when it last read).
 */
struct frontier {
	uint64_t lo;
	uint64_t x[FRONTIER_MAX];
	size_t nx;
	int overflow;		/* more were running than x holds: lo stays at the oldest */
};

/* What a round does with one row it read. */
enum row_fate {
	ROW_PUBLISH,		/* the first unpublished row of its order: sent, its confirm decides */
	ROW_WAIT,		/* behind an earlier unpublished row of its order: joins the retry tier */
	ROW_LATER,		/* in the retry tier and still behind an earlier row: stays */
};

/* One round's state: the rows read and what became of them. */
struct round {
	PGresult *res;
	int n;
	uint64_t xmin, xmax;	/* of the snapshot the rows were read with */
	uint64_t xip[FRONTIER_MAX];	/* transactions running then */
	size_t nxip;
	int xip_overflow;
	int new_rows;		/* rows of part 2 (tx >= lo), in tx order */
	int retry_rows;		/* rows of part 3 (due retries) */
	enum row_fate *fate;
	struct broker_batch *bb;	/* the rows sent, in order */
	int *row_of;		/* message of bb -> row */
	size_t sent;
};

/* Columns of the round's query. */
enum {
	C_XMIN, C_XMAX, C_XIP, C_PART, C_CTID, C_ID, C_TYPE, C_AGG, C_BODY, C_KEY, C_TRACE, C_TIME,
	C_TX, C_RETRYING, C_BLOCKED
};

static const char *
col(const struct round *rd, int row, int c)
{
	return PQgetvalue(rd->res, row, c);
}

/* The list "a,b,c" of f's running transactions as an xid8[] literal "{a,b,c}". */
static void
xid_array(const uint64_t *x, size_t n, char *out, size_t len)
{
	size_t k = (size_t)snprintf(out, len, "{");

	for (size_t i = 0; i < n && k < len; i++)
		k += (size_t)snprintf(out + k, len - k, "%s%" PRIu64, i ? "," : "", x[i]);
	if (k < len)
		snprintf(out + k, len - k, "}");
}

/* The snapshot's running transactions, "a,b,c", into rd. */
static void
parse_xip(struct round *rd, const char *list)
{
	rd->nxip = 0;
	rd->xip_overflow = 0;
	while (*list != '\0') {
		char *end;
		uint64_t x = strtoull(list, &end, 10);

		if (end == list)
			break;
		if (rd->nxip < FRONTIER_MAX)
			rd->xip[rd->nxip++] = x;
		else
			rd->xip_overflow = 1;
		list = *end == ',' ? end + 1 : end;
	}
}

/*
 * Read, with one snapshot: (1) new rows of the transactions that were still
 * running below the frontier, (2) new rows from the frontier on, in tx order,
 * at most relay_batch, (3) due rows of the retry tier, at most relay_batch;
 * each with whether an earlier row of its order is unpublished. One row of
 * snapshot figures even when there is nothing.
 */
static int
read_rows(struct relay *r, struct db *db, const struct frontier *f, struct round *rd)
{
	char lo[24], limit[24], xs[FRONTIER_MAX * 21 + 3];
	const char *p[3] = { lo, xs, limit };
	int n;

	snprintf(lo, sizeof(lo), "%" PRIu64, f->lo);
	xid_array(f->x, f->nx, xs, sizeof(xs));
	snprintf(limit, sizeof(limit), "%ld", r->cfg->relay_batch);
	rd->res = db_query(db, "relay_read",
	    "WITH s AS MATERIALIZED (SELECT pg_current_snapshot() AS snap), r AS ("
	    "  (SELECT 1 AS part, o.* , o.ctid AS rid FROM outbox o WHERE NOT o.retrying "
	    "    AND o.published_at IS NULL AND o.tx = ANY($2::xid8[])) "
	    "  UNION ALL (SELECT 2, o.*, o.ctid FROM outbox o WHERE NOT o.retrying "
	    "    AND o.published_at IS NULL AND o.tx >= $1::xid8 ORDER BY o.tx LIMIT $3) "
	    "  UNION ALL (SELECT 3, o.*, o.ctid FROM outbox o WHERE o.retrying "
	    "    AND o.next_attempt_at <= now() ORDER BY o.seq LIMIT $3)) "
	    "SELECT pg_snapshot_xmin(s.snap)::text, pg_snapshot_xmax(s.snap)::text, "
	    "  (SELECT coalesce(string_agg(x::text, ','), '') FROM pg_snapshot_xip(s.snap) x), "
	    "  r.part, r.rid::text, r.id::text, r.type, r.aggregateid, r.payload::text, r.routing_key, "
	    "  coalesce(r.traceparent, ''), extract(epoch FROM r.created_at)::bigint, r.tx::text, "
	    "  r.retrying, EXISTS (SELECT 1 FROM outbox e WHERE e.aggregateid = r.aggregateid "
	    "    AND e.seq < r.seq AND e.published_at IS NULL) "
	    "FROM s LEFT JOIN r ON true ORDER BY r.part, r.tx, r.seq", 3, p);
	if (rd->res == NULL)
		return -1;
	rd->xmin = strtoull(col(rd, 0, C_XMIN), NULL, 10);
	rd->xmax = strtoull(col(rd, 0, C_XMAX), NULL, 10);
	parse_xip(rd, col(rd, 0, C_XIP));
	n = PQgetisnull(rd->res, 0, C_ID) ? 0 : PQntuples(rd->res);
	rd->n = n;
	for (int i = 0; i < n; i++) {
		rd->new_rows += col(rd, i, C_PART)[0] == '2';
		rd->retry_rows += col(rd, i, C_PART)[0] == '3';
	}
	return 0;
}

/* Only the first unpublished row of each order may go: one order's events leave in order. */
static void
decide(struct round *rd)
{
	for (int i = 0; i < rd->n; i++) {
		if (col(rd, i, C_BLOCKED)[0] != 't')
			rd->fate[i] = ROW_PUBLISH;
		else
			rd->fate[i] = col(rd, i, C_RETRYING)[0] == 't' ? ROW_LATER : ROW_WAIT;
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
			/* a worker's own event stays in its outbox until a queue takes it */
			.return_unroutable = service_name(r->svc),
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
 * The frontier after the round. Not full: every transaction below the
 * snapshot's xmax had finished but those running, x[]; a full read of part
 * 2 stops at the last tx it read (rows of that tx may be left).
 */
static void
frontier_next(const struct relay *r, const struct round *rd, struct frontier *f)
{
	uint64_t lo = rd->xmax;
	size_t k = 0;

	if (rd->new_rows >= r->cfg->relay_batch)
		for (int i = rd->n - 1; i >= 0; i--)
			if (col(rd, i, C_PART)[0] == '2') {
				lo = strtoull(col(rd, i, C_TX), NULL, 10);
				break;
			}
	if (rd->xip_overflow) {
		/* too many running to list: keep from the oldest one on (a slower read) */
		f->lo = rd->xmin < lo ? rd->xmin : lo;
		f->nx = 0;
		return;
	}
	for (size_t i = 0; i < rd->nxip; i++)
		if (rd->xip[i] < lo)
			f->x[k++] = rd->xip[i];
	f->nx = k;
	f->lo = lo;
}

/* The horizon to store: the lowest transaction a new row can come from. */
static uint64_t
frontier_horizon(const struct frontier *f)
{
	uint64_t h = f->lo;

	for (size_t i = 0; i < f->nx; i++)
		if (f->x[i] < h)
			h = f->x[i];
	return h;
}

/* Add row i's ctid and id to the arrays t and d. */
static void
add_row(const struct round *rd, int i, struct pgarray *t, struct pgarray *d)
{
	pgarray_add(t, col(rd, i, C_CTID));
	pgarray_add(d, col(rd, i, C_ID));
}

/*
 * Record the round with one statement: published rows, rows the broker
 * returned (no queue took them: retry tier, backoff up to a minute, for a
 * binding may stay missing for long), rows it nacked (a queue could not
 * take them now, e.g. no leader: retry tier, backoff of at most
 * NACK_BACKOFF_MAX_S, so that they go soon after the queue is back), rows
 * waiting behind an earlier row of their order (retry tier, due now) and
 * the horizon. Rows are found by ctid, and their id must match too (a
 * rewrite of the table moves rows). Returns rows published, or -1; *nacked
 * gets the rows nacked.
 */
static int
record(struct db *db, const struct round *rd, uint64_t horizon, int *nacked)
{
	struct pgarray a[8] = { { 0 } };
	char h[24];
	const char *p[9];
	PGresult *res;
	int published = 0;

	for (size_t s = 0; s < rd->sent; s++) {
		enum confirm st = broker_batch_status(rd->bb, s);
		int k = st == CONFIRM_ACK ? 0 : st == CONFIRM_RETURNED ? 2 : 6;

		add_row(rd, rd->row_of[s], &a[k], &a[k + 1]);
		published += st == CONFIRM_ACK;
	}
	for (int i = 0; i < rd->n; i++)
		if (rd->fate[i] == ROW_WAIT)
			add_row(rd, i, &a[4], &a[5]);
	snprintf(h, sizeof(h), "%" PRIu64, horizon);
	for (int k = 0; k < 8; k++)
		p[k] = pgarray_text(&a[k]);
	p[8] = h;
	res = db_query(db, "relay_record",
	    "WITH p AS (UPDATE outbox SET published_at = now(), retrying = false "
	    "    WHERE ctid = ANY($1::tid[]) AND id = ANY($2::uuid[]) AND published_at IS NULL "
	    "    RETURNING 1), "
	    "  f AS (UPDATE outbox SET retrying = true, attempts = attempts + 1, "
	    "    last_error = 'returned by the broker: no queue took it', "
	    "    next_attempt_at = now() + make_interval(secs => power(2, least(attempts, 6))) "
	    "    WHERE ctid = ANY($3::tid[]) AND id = ANY($4::uuid[]) RETURNING 1), "
	    "  w AS (UPDATE outbox SET retrying = true, attempts = attempts + 1, "
	    "    last_error = 'waiting behind an earlier event of the same order' "
	    "    WHERE ctid = ANY($5::tid[]) AND id = ANY($6::uuid[]) AND NOT retrying RETURNING 1), "
	    "  n AS (UPDATE outbox SET retrying = true, attempts = attempts + 1, "
	    "    last_error = 'nacked by the broker', "
	    "    next_attempt_at = now() + make_interval(secs => "
	    "      least(power(2, least(attempts, 6)), " NACK_BACKOFF_MAX_S ")) "
	    "    WHERE ctid = ANY($7::tid[]) AND id = ANY($8::uuid[]) RETURNING 1), "
	    "  h AS (UPDATE outbox_relay SET horizon = $9::xid8 WHERE horizon <> $9::xid8 RETURNING 1) "
	    "SELECT (SELECT count(*) FROM p), (SELECT count(*) FROM f), (SELECT count(*) FROM w), "
	    "  (SELECT count(*) FROM n)", 9, p);
	for (int k = 0; k < 8; k++)
		pgarray_free(&a[k]);
	if (res == NULL)
		return -1;
	*nacked = atoi(PQgetvalue(res, 0, 3));
	if (atol(PQgetvalue(res, 0, 1)) > 0 || *nacked > 0) {
		log_warn("msg=\"events not accepted by the broker, kept pending\" returned=%s "
		    "nacked=%d", PQgetvalue(res, 0, 1), *nacked);
		metrics_publish_failed((unsigned)(atol(PQgetvalue(res, 0, 1)) + *nacked));
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
 * Whether to go again at once: a part read up to its limit, or rows moved to
 * the retry tier that may go now; never when the round changed nothing.
 */
static int
round_more(const struct relay *r, const struct round *rd, int published)
{
	int moved = 0;

	for (int i = 0; i < rd->n; i++)
		moved += rd->fate[i] == ROW_WAIT;
	if (published == 0 && moved == 0)
		return 0;
	return moved > 0 || rd->new_rows >= r->cfg->relay_batch ||
	    rd->retry_rows >= r->cfg->relay_batch;
}

/*
 * One round: read, publish, wait for the confirms, record. Returns 1 when
 * it should go again at once, 0 when it may wait, -1 when a connection
 * failed (nothing is recorded: the rows go again). *nacked gets the rows
 * the broker nacked.
 */
static int
relay_round(struct relay *r, struct db *db, struct broker_batch *bb, struct frontier *f,
    int *nacked)
{
	struct round rd = { .bb = bb };
	struct frontier next = *f;
	char *cause = NULL;
	uint64_t t0 = clock_us(), t1, t2;
	int ret = -1, published;

	*nacked = 0;
	if (read_rows(r, db, f, &rd) != 0) {
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
	t2 = clock_us();
	frontier_next(r, &rd, &next);
	if ((published = record(db, &rd, frontier_horizon(&next), nacked)) < 0) {
		log_warn("msg=\"outbox relay database failure\" error=\"%s\"", db_last_error(db));
		goto out;
	}
	*f = next;
	atomic_fetch_add(&r->published, (unsigned long)published);
	for (size_t k = 0; k < rd.sent; k++)
		if (broker_batch_status(bb, k) == CONFIRM_ACK)
			metrics_published(event_type_from_name(col(&rd, rd.row_of[k], C_TYPE)), 1);
	if (rd.n > 0)
		log_debug("msg=\"relay round\" rows=%d published=%d read_us=%llu confirm_us=%llu "
		    "record_us=%llu", rd.n, published, (unsigned long long)(t1 - t0),
		    (unsigned long long)(t2 - t1), (unsigned long long)(clock_us() - t2));
	ret = round_more(r, &rd, published);
out:
	round_free(&rd);
	return ret;
}

/* Refresh the backlog gauges (unpublished rows, age of the oldest), from the frontier. */
static void
measure_backlog(struct db *db, const struct frontier *f)
{
	char lo[24], xs[FRONTIER_MAX * 21 + 3];
	const char *p[2] = { lo, xs };
	PGresult *res;

	snprintf(lo, sizeof(lo), "%" PRIu64, f->lo);
	xid_array(f->x, f->nx, xs, sizeof(xs));
	res = db_query(db, "relay_backlog",
	    "SELECT count(*), coalesce(extract(epoch FROM now() - min(o.created_at)), 0) "
	    "FROM outbox o WHERE o.published_at IS NULL AND (o.retrying OR "
	    "  (NOT o.retrying AND (o.tx >= $1::xid8 OR o.tx = ANY($2::xid8[]))))", 2, p);
	if (res == NULL)
		return;
	metrics_outbox(atol(PQgetvalue(res, 0, 0)), atof(PQgetvalue(res, 0, 1)));
	PQclear(res);
}

/*
 * Refresh the depth of chorus.unrouted. A failure (the queue is gone, no
 * permission: the broker closes the channel) is logged once and ends the
 * watching, so it cannot make the relay reconnect every second. 0, or -1
 * when the connection is to be made anew.
 */
static int
measure_unrouted(struct relay *r, struct broker *b)
{
	char *cause = NULL;
	long n = broker_queue_count(b, TOPOLOGY_UNROUTED, &cause);

	if (n >= 0) {
		metrics_unrouted(n);
		return 0;
	}
	log_warn("msg=\"cannot measure %s, no longer trying\" error=\"%s\"", TOPOLOGY_UNROUTED,
	    cause);
	free(cause);
	r->watch_unrouted = 0;
	metrics_unrouted(-1);
	return -1;
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

/*
 * Become the database's active relay: 1 yes, 0 another one is, -1 failure.
 * Starts the frontier at the stored horizon, or at the snapshot's xmin when
 * the stored one is above it (a database restored into another cluster,
 * whose transaction ids are lower: then every row would look old).
 */
static int
take_lead(struct db *db, struct frontier *f)
{
	PGresult *res = db_query(db, "relay_lead",
	    "SELECT pg_try_advisory_lock(" LEADER_LOCK "), horizon::text, "
	    "  pg_snapshot_xmin(pg_current_snapshot())::text FROM outbox_relay", 0, NULL);
	uint64_t stored, xmin;
	int lead;

	if (res == NULL)
		return -1;
	lead = PQgetvalue(res, 0, 0)[0] == 't';
	stored = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
	xmin = strtoull(PQgetvalue(res, 0, 2), NULL, 10);
	PQclear(res);
	if (!lead)
		return 0;
	if (db_exec(db, "LISTEN " CHANNEL) != 0)
		return -1;
	if (stored > xmin)
		log_error("msg=\"stored outbox horizon is ahead of this cluster's transactions "
		    "(restored elsewhere?): starting from the oldest running one\" horizon=%" PRIu64
		    " xmin=%" PRIu64, stored, xmin);
	memset(f, 0, sizeof(*f));
	f->lo = stored > xmin ? xmin : stored;
	log_info("msg=\"outbox relay active\" horizon=%" PRIu64, f->lo);
	return 1;
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
		char *url = conf_amqp_url(r->cfg, r->svc);
		struct broker_tls tls;

		conf_broker_tls(r->cfg, &tls);
		*b = broker_connect(url, &tls, name, (int)r->cfg->heartbeat_s,
		    (int)r->cfg->connect_timeout_s, cause);
		free(url);
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
 * Let relay_linger_ms pass since the last round began: commits made
 * meanwhile go out in one round (one read, one wait for confirms, one
 * record) instead of one round each. Not while draining.
 */
static void
linger(struct relay *r, uint64_t *last_round)
{
	uint64_t now = clock_ms(), due = *last_round + (uint64_t)r->cfg->relay_linger_ms;

	if (now < due && !atomic_load(&r->draining))
		backoff_sleep((uint32_t)(due - now), NULL);
	*last_round = clock_ms();
}

/*
 * After a round the broker nacked rows of: publish on a new channel from now
 * on (broker_reopen_channel says why). 0, or -1 to make the connection anew.
 */
static int
reopen(struct broker *b)
{
	char *cause = NULL;

	if (broker_reopen_channel(b, &cause) != 0) {
		log_warn("msg=\"outbox relay cannot reopen its channel\" error=\"%s\"", cause);
		free(cause);
		return -1;
	}
	log_info("msg=\"outbox relay publishes on a new channel after nacks\"");
	return 0;
}

/*
 * Serve while connected: stand by until this relay leads, then publish in
 * rounds. Returns 1 when done (drained), 0 to reconnect.
 */
static int
serve(struct relay *r, struct db *db, struct broker *b)
{
	struct broker_batch *bb = broker_batch_new(b);
	struct frontier *f = xcalloc(1, sizeof(*f));
	uint64_t next_measure = 0, last_round = 0;
	char *cause = NULL;
	int lead = 0, more, done = -1, nacked = 0;

	while (done < 0) {
		if (atomic_load(&r->abort_now))
			done = 1;
		else if (!lead && (lead = take_lead(db, f)) < 0)
			done = 0;
		if (done >= 0)
			break;
		if (lead && clock_ms() >= next_measure) {
			measure_backlog(db, f);	/* the active relay's worker reports the backlog */
			if (r->watch_unrouted && measure_unrouted(r, b) != 0)
				done = 0;
			next_measure = clock_ms() + 1000;
		}
		if (done >= 0)
			break;
		if (!lead) {
			if (atomic_load(&r->draining))
				done = 1;	/* the active relay publishes what this instance wrote */
			else if (relay_wait(r, NULL, STANDBY_RETRY_MS) == WAKE_LOCAL &&
			    db_exec(db, "NOTIFY " CHANNEL) != 0)
				done = 0;	/* tell the active relay: this worker wrote rows */
		} else if (linger(r, &last_round), (more = relay_round(r, db, bb, f, &nacked)) < 0) {
			done = 0;
		} else if (nacked > 0 && reopen(b) != 0) {
			done = 0;
		} else if (more) {
			continue;	/* more may go now */
		} else if (atomic_load(&r->draining)) {
			done = 1;	/* what could go went */
		} else {
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
	free(f);
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
relay_start(const struct conf *cfg, enum service_id svc, int watch_unrouted)
{
	struct relay *r = xcalloc(1, sizeof(*r));

	r->cfg = cfg;
	r->svc = svc;
	r->watch_unrouted = watch_unrouted;
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
