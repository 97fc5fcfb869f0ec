/*
 * gateway: the routes, and the life of one client request on the upstream
 * thread (see gateway.h).
 */
#include "config.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "aggregate.h"
#include "assets.h"
#include "clock.h"
#include "envelope.h"
#include "gateway.h"
#include "log.h"
#include "metrics.h"
#include "xmalloc.h"

struct gateway {
	struct upstream *u;
	long max_wait_s, poll_ms;
	atomic_uint open;
	atomic_int draining;
	struct metric *answered[2][3];		/* [post, get][2xx, 4xx, 5xx] */
	struct metric *aggregates[2];		/* [incomplete, complete] */
};

enum exchange_kind { EX_POST = 0, EX_GET };

/* One client request on its way through the upstream thread. */
struct exchange {
	struct upstream_task task;		/* first: the task is the exchange */
	struct gateway *g;
	struct http_request *req;
	enum exchange_kind kind;
	char id[ENVELOPE_ID_MAX + 1];		/* GET: the order id */
	char traceparent[ENVELOPE_TRACEPARENT_LEN + 1];
	char *body;				/* POST: the client's body */
	size_t body_len;
	bool idempotent;			/* POST with its order_id */
	uint64_t wait_until_ms;			/* GET ?wait: 0 when not waiting */
	unsigned pending;			/* calls of this round not done */
	bool polling;				/* this round asks for the order only */
	struct upstream_call calls[PART__COUNT];
	struct upstream_timer poll;
};

/* ---- answering ------------------------------------------------------------- */

static void
count(struct gateway *g, enum exchange_kind k, unsigned status)
{
	metric_add(g->answered[k][status < 400 ? 0 : status < 500 ? 1 : 2], 1);
}

/* Answer and forget x. */
static void
done(struct exchange *x, unsigned status, const char *type, const char *body, size_t len)
{
	struct gateway *g = x->g;

	http_header_add(x->req, "traceparent", x->traceparent);
	http_reply(x->req, status, type, body, len);
	count(g, x->kind, status);
	for (int p = 0; p < PART__COUNT; p++)
		upstream_call_release(&x->calls[p]);
	free(x->body);
	free(x);
	atomic_fetch_sub(&g->open, 1);
}

/* A problem answered by the gateway itself about the order service (no answer came). */
static void
done_problem(struct exchange *x, const struct upstream_call *c)
{
	struct aggregate a;
	struct part parts[PART__COUNT];
	char ra[16];

	/* the order part's failure, as the aggregation words it */
	memset(parts, 0, sizeof(parts));
	parts[PART_ORDER] = c->result;
	aggregate_build(parts, x->kind == EX_GET ? x->id : "(new)", &a);
	if (a.retry_after) {
		snprintf(ra, sizeof(ra), "%u", upstream_retry_after(x->g->u, SVC_ORDER));
		http_header_add(x->req, "Retry-After", ra);
	}
	done(x, a.status, a.content_type, a.body, strlen(a.body));
	free(a.body);
}

/* ---- POST /api/v1/orders ----------------------------------------------------- */

static void
post_done(struct upstream_call *c)
{
	struct exchange *x = c->arg;
	char loc[300];

	if (c->result.status == 0) {
		log_warn("msg=\"order not placed: the order service did not answer\" error=%s "
		    "tries=%u trace_id=%.32s", part_error_name(c->result.err), c->tries,
		    x->traceparent + 3);
		done_problem(x, c);
		return;
	}
	/* the service's /v1/orders/ID is the gateway's /api/v1/orders/ID */
	if (strncmp(c->location, "/v1/", 4) == 0) {
		snprintf(loc, sizeof(loc), "/api%s", c->location);
		http_header_add(x->req, "Location", loc);
	} else if (c->location[0] != '\0')
		http_header_add(x->req, "Location", c->location);
	done(x, (unsigned)c->result.status, c->content_type[0] ? c->content_type :
	    "application/json", c->result.body, c->result.len);
}

static void
post_run(struct upstream_task *t)
{
	struct exchange *x = (struct exchange *)t;
	struct upstream_call *c = &x->calls[PART_ORDER];

	c->svc = SVC_ORDER;
	c->post = true;
	snprintf(c->path, sizeof(c->path), "/v1/orders");
	c->body = x->body;
	c->body_len = x->body_len;
	c->idempotent = x->idempotent;
	c->traceparent = x->traceparent;
	c->done = post_done;
	c->arg = x;
	upstream_call(x->g->u, c);
}

/* ---- GET /api/v1/orders/{id} --------------------------------------------------- */

static void get_round(struct exchange *x, bool order_only);

static void
get_answer(struct exchange *x)
{
	struct part parts[PART__COUNT];
	struct aggregate a;
	char ra[16];

	for (int p = 0; p < PART__COUNT; p++) {
		parts[p] = x->calls[p].result;
		if (parts[p].err == PART_OK)
			parts[p].err = part_classify(parts[p].status, parts[p].body, parts[p].len);
	}
	aggregate_build(parts, x->id, &a);
	if (a.status == 200) {
		http_header_add(x->req, "X-Chorus-Complete", a.complete ? "true" : "false");
		metric_add(x->g->aggregates[a.complete], 1);
	}
	if (a.retry_after) {
		snprintf(ra, sizeof(ra), "%u", upstream_retry_after(x->g->u, SVC_ORDER));
		http_header_add(x->req, "Retry-After", ra);
	}
	if (!a.complete)
		log_debug("msg=\"partial answer\" order_id=%s status=%u inventory=%s payment=%s",
		    x->id, a.status, part_error_name(parts[PART_INVENTORY].err),
		    part_error_name(parts[PART_PAYMENT].err));
	done(x, a.status, a.content_type, a.body, strlen(a.body));
	free(a.body);
}

static void
on_poll(struct upstream_timer *t)
{
	struct exchange *x = (struct exchange *)((char *)t - offsetof(struct exchange, poll));

	get_round(x, true);
}

/* Is the order part an answer naming a status not final? */
static bool
still_pending(struct exchange *x)
{
	const struct part *r = &x->calls[PART_ORDER].result;
	struct json_object *o, *st;
	bool pending = false;

	if (r->err != PART_OK || r->status != 200)
		return false;
	o = aggregate_parse_object(r->body, r->len);
	if (o != NULL && json_object_object_get_ex(o, "status", &st) &&
	    json_object_is_type(st, json_type_string))
		pending = !aggregate_final(json_object_get_string(st));
	json_object_put(o);
	return pending;
}

static void
get_part_done(struct upstream_call *c)
{
	struct exchange *x = c->arg;
	uint64_t now;

	if (--x->pending > 0)
		return;
	now = clock_ms();
	if (x->wait_until_ms > now && !atomic_load(&x->g->draining) && still_pending(x)) {
		/* not there yet: look at the order again later (a timer, no thread) */
		uint64_t due = now + (uint64_t)x->g->poll_ms;

		upstream_timer_add(x->g->u, &x->poll, due < x->wait_until_ms ? due : x->wait_until_ms);
		return;
	}
	if (x->polling && x->calls[PART_ORDER].result.err == PART_OK) {
		/* the outcome (or the deadline) came: the other parts as they now are */
		x->wait_until_ms = 0;
		get_round(x, false);
		return;
	}
	get_answer(x);
}

static void
get_round(struct exchange *x, bool order_only)
{
	static const char *const paths[PART__COUNT] = { "/v1/orders/", "/v1/reservations/",
		"/v1/payments/" };
	static const enum service_id svcs[PART__COUNT] = { SVC_ORDER, SVC_INVENTORY, SVC_PAYMENT };
	int n = order_only ? 1 : PART__COUNT;

	x->polling = order_only;
	x->pending = (unsigned)n;
	for (int p = 0; p < n; p++) {
		struct upstream_call *c = &x->calls[p];

		upstream_call_release(c);
		c->svc = svcs[p];
		snprintf(c->path, sizeof(c->path), "%s%s", paths[p], x->id);
		c->idempotent = true;
		c->traceparent = x->traceparent;
		c->done = get_part_done;
		c->arg = x;
	}
	for (int p = 0; p < n; p++)
		upstream_call(x->g->u, &x->calls[p]);
}

static void
get_run(struct upstream_task *t)
{
	get_round((struct exchange *)t, false);
}

/* ---- client threads ----------------------------------------------------------- */

static struct exchange *
exchange_new(struct gateway *g, struct http_request *req, enum exchange_kind kind)
{
	struct exchange *x = xcalloc(1, sizeof(*x));

	x->g = g;
	x->req = req;
	x->kind = kind;
	x->poll.fn = on_poll;
	/* continue the client's trace, or start one here */
	envelope_child_traceparent(http_header(req, "traceparent"), x->traceparent);
	return x;
}

/* Hand x to the upstream thread; the request is answered from there. */
static void
exchange_go(struct exchange *x, void (*run)(struct upstream_task *))
{
	atomic_fetch_add(&x->g->open, 1);
	x->task.run = run;
	http_suspend(x->req);
	upstream_submit(x->g->u, &x->task);
}

static void
on_post(struct http_request *req, void *arg)
{
	struct gateway *g = arg;
	struct json_object *o, *id;
	struct exchange *x;
	size_t len;
	const char *body = http_body(req, &len);

	/* strict JSON, one object: the order service checks its fields */
	o = aggregate_parse_object(body, len);
	if (o == NULL) {
		http_problem(req, 400, "invalid_json", NULL, "the body is not one JSON object");
		count(g, EX_POST, 400);
		return;
	}
	x = exchange_new(g, req, EX_POST);
	/* with its order_id a POST is idempotent (the same body again is the same order) */
	x->idempotent = json_object_object_get_ex(o, "order_id", &id) &&
	    json_object_is_type(id, json_type_string);
	json_object_put(o);
	x->body = xmalloc(len + 1);
	memcpy(x->body, body, len + 1);
	x->body_len = len;
	log_debug("msg=\"placing an order\" trace_id=%.32s", x->traceparent + 3);
	exchange_go(x, post_run);
}

static void
on_get(struct http_request *req, void *arg)
{
	struct gateway *g = arg;
	const char *id = http_param(req, 0), *wait = http_query(req, "wait");
	struct exchange *x;
	long w = 0;

	if (!envelope_valid_id(id)) {
		http_problem(req, 400, "invalid_field", "order_id",
		    "an order id is 1-64 characters of A-Z a-z 0-9 . _ : -");
		count(g, EX_GET, 400);
		return;
	}
	if (wait != NULL) {
		char *end;

		w = strtol(wait, &end, 10);
		if (*wait == '\0' || *end != '\0' || w < 0 || w > g->max_wait_s) {
			http_problem(req, 400, "invalid_field", "wait",
			    "wait is whole seconds from 0 to %ld", g->max_wait_s);
			count(g, EX_GET, 400);
			return;
		}
	}
	x = exchange_new(g, req, EX_GET);
	snprintf(x->id, sizeof(x->id), "%s", id);
	if (w > 0 && !atomic_load(&g->draining))
		x->wait_until_ms = clock_ms() + (uint64_t)w * 1000;
	exchange_go(x, get_run);
}

static void
on_openapi(struct http_request *req, void *arg)
{
	(void)arg;
	http_reply(req, 200, "application/json", asset_openapi, asset_openapi_len);
}

static void
on_page(struct http_request *req, void *arg)
{
	(void)arg;
	http_header_add(req, "Content-Security-Policy",
	    "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'");
	http_reply(req, 200, "text/html; charset=utf-8", asset_page, asset_page_len);
}

/* ---- life ---------------------------------------------------------------------- */

struct gateway *
gateway_new(const struct conf *cfg, struct upstream *u)
{
	static const char *const classes[3] = { "2xx", "4xx", "5xx" };
	static const char *const routes[2] = { "post_order", "get_order" };
	struct gateway *g = xcalloc(1, sizeof(*g));

	g->u = u;
	g->max_wait_s = cfg->gw.max_wait_s;
	g->poll_ms = cfg->gw.poll_ms;
	for (int r = 0; r < 2; r++)
		for (int c = 0; c < 3; c++)
			g->answered[r][c] = metrics_register("chorus_gateway_requests_total", "counter",
			    "Client requests answered, by route and status class.",
			    xasprintf("route=\"%s\",status=\"%s\"", routes[r], classes[c]));
	g->aggregates[0] = metrics_register("chorus_gateway_aggregates_total", "counter",
	    "GET /api/v1/orders/{id} answered 200, by completeness.", "complete=\"false\"");
	g->aggregates[1] = metrics_register("chorus_gateway_aggregates_total", "counter",
	    NULL, "complete=\"true\"");
	return g;
}

void
gateway_routes(struct gateway *g, struct http_server *srv)
{
	http_route(srv, "POST", "/api/v1/orders", HTTP_JSON_BODY, on_post, g);
	http_route(srv, "GET", "/api/v1/orders/{}", 0, on_get, g);
	http_route(srv, "GET", "/api/v1/openapi.json", 0, on_openapi, g);
	http_route(srv, "GET", "/", 0, on_page, g);
}

void
gateway_drain(struct gateway *g)
{
	atomic_store(&g->draining, 1);
}

unsigned
gateway_open(struct gateway *g)
{
	return atomic_load(&g->open);
}

void
gateway_free(struct gateway *g)
{
	free(g);
}
