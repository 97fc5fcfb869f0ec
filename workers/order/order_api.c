/*
 * order_api: the order service's REST API (contract section 7).
 *
 * POST /v1/orders places an order: the body is OrderCreated's data,
 * checked by the envelope's own rules (envelope_parse_data). The orders
 * of the POSTs queued meanwhile are committed together, in one
 * transaction of the consumer's own making (batch_begin, order_apply,
 * batch_commit): each new order's row, recorded by the same state machine
 * and store as an OrderCreated from the queue, and its OrderCreated in the
 * outbox. The event comes back through the order queue and is a duplicate
 * there (the order is PENDING already). Idempotent by order id: the same
 * data again is 200 with the order, other data under the id 409.
 *
 * GET /v1/orders/{id} and GET /v1/orders?status=&limit=&after= read it
 * back (keyset pagination, newest first).
 */
#include "config.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "api.h"
#include "batch.h"
#include "log.h"
#include "order.h"
#include "order_api.h"
#include "pgarray.h"
#include "worker.h"
#include "xmalloc.h"

#define POST_GROUP	256	/* orders committed in one transaction at most */
#define POST_TRIES	3	/* a serialization failure is tried again at once */
#define LIST_DEFAULT	50
#define LIST_MAX	500

/* An order as the API shows it (contract section 7), one JSON text. */
#define ORDER_JSON \
	"json_build_object('order_id', order_id, 'status', status, 'reason', nullif(reason, ''), " \
	"  'customer_id', customer_id, 'items', items, 'total_cents', total_cents, " \
	"  'currency', currency, " \
	"  'created_at', to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), " \
	"  'updated_at', to_char(greatest(created_at, updated_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))::text"

/* A row with no data is an order known only from its later events: not placed yet. */
#define ORDER_PLACED "customer_id IS NOT NULL"

/* One POST: the order as OrderCreated, and the trace it continues. */
struct post {
	struct event ev;
	struct event cause;		/* traceparent only: the client's, or none */
};

/* What one group's transaction found and decided, for its answers. */
struct post_group {
	struct api_job **jobs;
	size_t n;
	size_t same_at;			/* result index of the round-1 comparison */
	bool *fresh;			/* placed by this transaction */
	int *status;			/* answer: 201, 200 or 409 */
	const char **existing;		/* the order JSON of a 200, in the round-1 result */
};

static const struct handler_ops order_ops = { .svc = SVC_ORDER, .apply = order_apply };

static bool
same_order(const struct event *a, const struct event *b)
{
	if (strcmp(a->customer_id, b->customer_id) != 0 || a->total_cents != b->total_cents ||
	    strcmp(a->currency, b->currency) != 0 || a->n_items != b->n_items)
		return false;
	for (size_t i = 0; i < a->n_items; i++)
		if (strcmp(a->items[i].sku, b->items[i].sku) != 0 ||
		    a->items[i].quantity != b->items[i].quantity)
			return false;
	return true;
}

/*
 * Round 1 is in: decide each POST. An order placed before (with data) is
 * 200 when its data is the same, else 409; the first POST of an id new to
 * the database is placed (fresh, its OrderCreated to the outbox); a later
 * POST of the same id in the group is compared with that first one.
 */
static int
post_loaded(struct handler_ctx *h)
{
	struct post_group *g = h->owner;
	PGresult *res = db_batch_result(h->q, g->same_at);

	for (size_t i = 0; i < g->n; i++) {
		struct post *p = g->jobs[i]->data;
		int row = -1;

		g->fresh[i] = false;
		g->existing[i] = NULL;
		for (int k = 0; k < PQntuples(res) && row < 0; k++)
			if (strtoul(PQgetvalue(res, k, 0), NULL, 10) == i + 1)
				row = k;
		if (row >= 0) {
			bool same = PQgetvalue(res, row, 1)[0] == 't';

			g->status[i] = same ? MHD_HTTP_OK : MHD_HTTP_CONFLICT;
			g->existing[i] = PQgetvalue(res, row, 2);
			continue;
		}
		g->status[i] = MHD_HTTP_CREATED;
		for (size_t k = 0; k < i; k++) {
			struct post *first = g->jobs[k]->data;

			if (g->fresh[k] && strcmp(first->ev.order_id, p->ev.order_id) == 0) {
				g->status[i] = same_order(&first->ev, &p->ev) ? MHD_HTTP_OK :
				    MHD_HTTP_CONFLICT;
				break;
			}
		}
		if (g->status[i] != MHD_HTTP_CREATED)
			continue;
		g->fresh[i] = true;
		/* its envelope: id, source chorus/order, time, the client's trace continued */
		handler_emit(h, &p->ev, &p->cause);
	}
	return 0;
}

/* Queue round 1's comparison: the placed orders among the group's ids, same data or not. */
static size_t
queue_same(struct db_batch *q, struct api_job **jobs, size_t n)
{
	struct pgarray a[5] = { { 0 } };
	const char *p[5];
	size_t at;

	for (size_t i = 0; i < n; i++) {
		struct post *po = jobs[i]->data;
		char total[32], *items = envelope_items_json(&po->ev);

		snprintf(total, sizeof(total), "%" PRId64, po->ev.total_cents);
		pgarray_add(&a[0], po->ev.order_id);
		pgarray_add(&a[1], po->ev.customer_id);
		pgarray_add(&a[2], items);
		pgarray_add(&a[3], total);
		pgarray_add(&a[4], po->ev.currency);
		free(items);
	}
	for (int k = 0; k < 5; k++)
		p[k] = pgarray_text(&a[k]);
	at = db_batch_add(q, "api_order_same",
	    "SELECT u.n, o.customer_id = u.c AND o.items = u.i::jsonb "
	    "  AND o.total_cents = u.t::bigint AND o.currency = u.cur, " ORDER_JSON " "
	    "FROM orders o JOIN unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) "
	    "  WITH ORDINALITY AS u(id, c, i, t, cur, n) ON o.order_id = u.id "
	    "WHERE o." ORDER_PLACED, 5, p);
	for (int k = 0; k < 5; k++)
		pgarray_free(&a[k]);
	return at;
}

/* Queue the read-back of the orders placed, for their 201s. */
static size_t
queue_placed(struct db_batch *q, const struct post_group *g)
{
	struct pgarray ids = { 0 };
	const char *p[1];
	size_t at;

	for (size_t i = 0; i < g->n; i++)
		if (g->fresh[i])
			pgarray_add(&ids, ((struct post *)g->jobs[i]->data)->ev.order_id);
	p[0] = pgarray_text(&ids);
	at = db_batch_add(q, "api_order_placed",
	    "SELECT order_id, " ORDER_JSON " FROM orders WHERE order_id = ANY($1::text[])", 1, p);
	pgarray_free(&ids);
	return at;
}

static const char *
json_of(PGresult *res, const char *id)
{
	for (int k = 0; k < PQntuples(res); k++)
		if (strcmp(PQgetvalue(res, k, 0), id) == 0)
			return PQgetvalue(res, k, 1);
	return NULL;
}

static void
post_answer(struct post_group *g, PGresult *placed)
{
	for (size_t i = 0; i < g->n; i++) {
		struct post *p = g->jobs[i]->data;
		struct http_request *req = g->jobs[i]->req;
		const char *json;
		char location[128];

		switch (g->status[i]) {
		case MHD_HTTP_CONFLICT:
			http_problem(req, MHD_HTTP_CONFLICT, "conflict", "order_id",
			    "order %s exists with other data", p->ev.order_id);
			continue;
		case MHD_HTTP_CREATED:
			json = json_of(placed, p->ev.order_id);
			snprintf(location, sizeof(location), "/v1/orders/%s", p->ev.order_id);
			http_header_add(req, "Location", location);
			/* the trace the saga runs in (a span of the OrderCreated) */
			http_header_add(req, "traceparent", p->ev.traceparent);
			break;
		default:
			/* the first POST of the id in this group, or one committed before */
			json = g->existing[i];
			if (json == NULL) {
				json = json_of(placed, p->ev.order_id);
				break;
			}
		}
		if (json == NULL)
			json = "{}";	/* cannot happen: the row was read in the transaction */
		http_reply(req, g->status[i], "application/json", json, strlen(json));
	}
}

static void
post_job(struct api_ctx *ctx, void *arg, struct api_job **jobs, size_t n)
{
	struct post_group g = { .jobs = jobs, .n = n };
	const struct event **evs = xcalloc(n, sizeof(*evs));
	struct batch_tx t;
	struct handler_ctx h;
	enum batch_result r = BATCH_TRANSIENT;
	size_t emitted, placed_at = 0;

	(void)arg;
	g.fresh = xcalloc(n, sizeof(*g.fresh));
	g.status = xcalloc(n, sizeof(*g.status));
	g.existing = xcalloc(n, sizeof(*g.existing));
	for (size_t i = 0; i < n; i++)
		evs[i] = &((struct post *)jobs[i]->data)->ev;
	batch_tx_init(&t, ctx->cfg, &order_ops, n);
	t.db = ctx->db;
	for (int try = 1; try <= POST_TRIES; try++) {
		batch_begin(&t, &h);
		g.same_at = queue_same(h.q, jobs, n);
		h.owner = &g;
		h.loaded = post_loaded;
		h.fresh = g.fresh;
		if (order_apply(&h, evs, n) == 0) {
			placed_at = queue_placed(h.q, &g);
			if (batch_commit(&t, &emitted) == 0) {
				r = BATCH_DONE;
				break;
			}
		}
		r = batch_failed(&t, &h);
		log_debug("msg=\"api: placing orders failed\" orders=%zu try=%d error=\"%s\"", n, try,
		    t.fail.why);
		if (r != BATCH_TRANSIENT)
			break;
	}
	if (r == BATCH_DONE) {
		if (emitted > 0)
			worker_outbox_written();
		post_answer(&g, db_batch_result(t.q, placed_at));
	} else if (r == BATCH_PERMANENT) {
		log_error("msg=\"api: placing orders failed\" orders=%zu error=\"%s\"", n, t.fail.why);
		for (size_t i = 0; i < n; i++)
			http_problem(jobs[i]->req, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL,
			    "the order could not be stored");
	} else {
		for (size_t i = 0; i < n; i++)
			api_db_failed(jobs[i]->req, ctx->db);
	}
	t.db = NULL;
	batch_tx_free(&t);
	free(evs);
	free(g.fresh);
	free(g.status);
	free(g.existing);
}

static void
on_post(struct http_request *req, void *arg)
{
	struct post *p = xcalloc(1, sizeof(*p));
	const char *tp = http_header(req, "traceparent");
	char why[ENVELOPE_WHY_MAX], uuid[ENVELOPE_UUID_LEN + 1];
	size_t len;
	const char *body = http_body(req, &len);

	/* an order without an id gets one */
	envelope_new_uuid(uuid);
	snprintf(p->ev.order_id, sizeof(p->ev.order_id), "ord-%s", uuid);
	if (envelope_parse_data(EV_ORDER_CREATED, body, len, &p->ev, why, sizeof(why)) != 0) {
		api_bad_input(req, why);
		free(p);
		return;
	}
	/* W3C trace context: one that does not parse starts a new trace */
	if (tp != NULL && envelope_valid_traceparent(tp))
		strlcpy_(p->cause.traceparent, tp, sizeof(p->cause.traceparent));
	api_submit(arg, req, post_job, NULL, p, POST_GROUP);
}

/* GET /v1/orders: a page of placed orders, newest first. */
struct list {
	char status[16];
	long limit;
	bool after;
	int64_t after_us;
	char after_id[ENVELOPE_ID_MAX + 1];
};

static void
list_job(struct api_ctx *ctx, void *arg, struct api_job **jobs, size_t n)
{
	(void)arg;
	for (size_t i = 0; i < n; i++) {
		struct list *l = jobs[i]->data;
		struct http_request *req = jobs[i]->req;
		char limit[24], us[24];
		const char *p[4] = { l->status, l->after ? us : NULL, l->after_id, limit };
		struct json_object *o, *orders;
		PGresult *res;
		int rows;

		snprintf(limit, sizeof(limit), "%ld", l->limit + 1);
		snprintf(us, sizeof(us), "%" PRId64, l->after_us);
		res = db_query(ctx->db, "api_order_list",
		    "SELECT order_id, (extract(epoch FROM created_at) * 1000000)::bigint, " ORDER_JSON " "
		    "FROM orders WHERE " ORDER_PLACED " AND ($1 = '' OR status = $1) "
		    "  AND ($2::bigint IS NULL OR (created_at, order_id) < "
		    "    ('epoch'::timestamptz + $2::bigint * interval '1 microsecond', $3)) "
		    "ORDER BY created_at DESC, order_id DESC LIMIT $4::bigint", 4, p);
		if (res == NULL) {
			api_db_failed(req, ctx->db);
			continue;
		}
		rows = PQntuples(res);
		o = json_object_new_object();
		orders = json_object_new_array();
		for (int k = 0; k < rows && k < l->limit; k++)
			json_object_array_add(orders, json_tokener_parse(PQgetvalue(res, k, 2)));
		json_object_object_add(o, "orders", orders);
		if (rows > l->limit) {
			char cursor[160];
			int last = (int)l->limit - 1;

			api_cursor_encode(strtoll(PQgetvalue(res, last, 1), NULL, 10),
			    PQgetvalue(res, last, 0), cursor, sizeof(cursor));
			json_object_object_add(o, "next", json_object_new_string(cursor));
		} else {
			json_object_object_add(o, "next", NULL);
		}
		PQclear(res);
		http_json(req, MHD_HTTP_OK, o);
	}
}

static void
on_list(struct http_request *req, void *arg)
{
	struct list *l = xcalloc(1, sizeof(*l));
	const char *status = http_query(req, "status"), *limit = http_query(req, "limit");
	const char *after = http_query(req, "after");
	char *end;

	l->limit = LIST_DEFAULT;
	if (status != NULL && strcmp(status, "PENDING") != 0 && strcmp(status, "CONFIRMED") != 0 &&
	    strcmp(status, "CANCELLED") != 0) {
		http_problem(req, MHD_HTTP_BAD_REQUEST, "invalid-request", "status",
		    "status must be PENDING, CONFIRMED or CANCELLED");
		goto bad;
	}
	if (status != NULL)
		strlcpy_(l->status, status, sizeof(l->status));
	if (limit != NULL) {
		l->limit = strtol(limit, &end, 10);
		if (*limit < '0' || *limit > '9' || *end != '\0' || l->limit < 1 || l->limit > LIST_MAX) {
			http_problem(req, MHD_HTTP_BAD_REQUEST, "invalid-request", "limit",
			    "limit must be an integer from 1 to %d", LIST_MAX);
			goto bad;
		}
	}
	if (after != NULL) {
		if (api_cursor_decode(after, &l->after_us, l->after_id, sizeof(l->after_id)) != 0) {
			http_problem(req, MHD_HTTP_BAD_REQUEST, "invalid-request", "after",
			    "after must be the next cursor of an earlier page");
			goto bad;
		}
		l->after = true;
	}
	api_submit(arg, req, list_job, NULL, l, 1);
	return;
bad:
	free(l);
}

void
order_api_routes(struct api *api, const struct conf *cfg)
{
	(void)cfg;
	api_route(api, "POST", "/v1/orders", HTTP_JSON_BODY, on_post);
	api_route(api, "GET", "/v1/orders", 0, on_list);
	api_get_route(api, "/v1/orders/{}", "order_id", "api_order_get",
	    "SELECT order_id, " ORDER_JSON " FROM orders "
	    "WHERE order_id = ANY($1::text[]) AND " ORDER_PLACED, NULL);
}
