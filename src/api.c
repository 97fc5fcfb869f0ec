/*
 * api: a service's REST API skeleton (see api.h): the http server, the
 * bounded queue of jobs and the database threads that run them.
 */
#include "config.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "api.h"
#include "clock.h"
#include "envelope.h"
#include "log.h"
#include "metrics.h"
#include "pgarray.h"
#include "xmalloc.h"

#define API_RECONNECT_MS	1000	/* between two connection attempts of one thread */
#define API_RETRY_AFTER		"1"	/* seconds, in a 503's Retry-After */

struct job {
	struct api_job pub;
	api_job_fn fn;
	void *arg;
	size_t group;
	struct job *next;
};

/* One API per process: its metrics, registered before any thread runs. */
static struct metric *m_in_flight, *m_refused, *m_db_down;

struct api_thread {
	struct api *api;
	pthread_t tid;
	struct db *db;
	uint64_t next_connect_ms;	/* no attempt before */
	bool down_logged;
};

struct api {
	const struct conf *cfg;
	enum service_id svc;
	struct http_server *srv;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *head, *tail;	/* queued */
	size_t in_flight;		/* queued or running */
	size_t max_in_flight;
	bool stopping;
	size_t nthreads;
	struct api_thread *threads;
	struct get_route *gets;		/* api_get_route's, freed at stop */
};

struct get_route {
	struct api *api;
	char *field;
	char *name;
	char *sql;
	char *arg;			/* $2, or NULL */
	struct get_route *next;
};

void
api_metrics_init(void)
{
	m_in_flight = metrics_register("chorus_api_in_flight", "gauge",
	    "API requests queued or running.", "");
	m_refused = metrics_register("chorus_api_refused_total", "counter",
	    "API requests answered 503 because api_max_in_flight were in flight or the API was stopping.",
	    "");
	m_db_down = metrics_register("chorus_api_database_unavailable_total", "counter",
	    "API requests answered 503 because the service's database was unreachable.", "");
}

void
api_route(struct api *api, const char *method, const char *pattern, unsigned flags,
    http_handler_fn fn)
{
	http_route(api->srv, method, pattern, flags, fn, api);
}

static void
busy(struct http_request *req, const char *detail)
{
	http_header_add(req, "Retry-After", API_RETRY_AFTER);
	http_problem(req, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", NULL, "%s", detail);
}

void
api_db_failed(struct http_request *req, struct db *db)
{
	log_debug("msg=\"api: database failure\" path=%s error=\"%s\"", http_path(req),
	    db != NULL ? db_last_error(db) : "not connected");
	busy(req, "the service's database is unavailable");
}

void
api_bad_input(struct http_request *req, const char *why)
{
	const char *colon = strchr(why, ':');
	const char *detail = colon != NULL ? colon + 2 : why;
	char field[80] = "";
	size_t n;

	if (strncmp(why, "bad_field:", 10) == 0 || strncmp(why, "missing_field:", 14) == 0) {
		const char *f = detail;

		if (strncmp(f, "data.", 5) == 0)
			f += 5;
		n = strcspn(f, " ");
		if (n >= sizeof(field))
			n = sizeof(field) - 1;
		memcpy(field, f, n);
		field[n] = '\0';
	}
	/* the detail names fields as the body has them, without "data." */
	{
		char text[ENVELOPE_WHY_MAX];
		const char *p = why;
		size_t o = 0;

		while (*p != '\0' && o + 1 < sizeof(text)) {
			if (strncmp(p, "data.", 5) == 0) {
				p += 5;
				continue;
			}
			text[o++] = *p++;
		}
		text[o] = '\0';
		http_problem(req, MHD_HTTP_BAD_REQUEST, "invalid-request", field[0] ? field : NULL,
		    "%s", text);
	}
}

void
api_submit(struct api *api, struct http_request *req, api_job_fn fn, void *arg, void *data,
    size_t group)
{
	struct job *j;

	pthread_mutex_lock(&api->lock);
	if (api->stopping || api->in_flight >= api->max_in_flight) {
		bool stopping = api->stopping;

		pthread_mutex_unlock(&api->lock);
		free(data);
		metric_add(m_refused, 1);
		busy(req, stopping ? "the service is stopping" : "too many requests in flight");
		return;
	}
	api->in_flight++;
	j = xcalloc(1, sizeof(*j));
	j->pub.req = req;
	j->pub.data = data;
	j->fn = fn;
	j->arg = arg;
	j->group = group > 0 ? group : 1;
	http_suspend(req);
	if (api->tail != NULL)
		api->tail->next = j;
	else
		api->head = j;
	api->tail = j;
	metric_set(m_in_flight, (long)api->in_flight);
	pthread_cond_signal(&api->cond);
	pthread_mutex_unlock(&api->lock);
}

/*
 * Take the first job and the queued ones of the same function, up to its
 * group size, in queue order. Called locked, with a job queued.
 */
static size_t
take(struct api *api, struct job **out, size_t max)
{
	struct job *first = api->head, **link, *j;
	size_t n = 1;

	out[0] = first;
	api->head = first->next;
	link = &api->head;
	while (n < first->group && n < max && (j = *link) != NULL) {
		if (j->fn == first->fn && j->arg == first->arg) {
			*link = j->next;
			out[n++] = j;
			continue;
		}
		link = &j->next;
	}
	/* the tail is the last job left in the queue */
	api->tail = NULL;
	for (j = api->head; j != NULL; j = j->next)
		api->tail = j;
	return n;
}

/* Connected, or a reconnect attempt now if one is due. */
static bool
connected(struct api_thread *t)
{
	struct api *api = t->api;
	uint64_t now = clock_ms();
	char *cause = NULL;

	if (t->db != NULL && db_ok(t->db))
		return true;
	if (now < t->next_connect_ms)
		return false;
	db_close(t->db);
	t->db = db_connect(api->cfg->database_url[api->svc], "chorus-api",
	    (int)api->cfg->connect_timeout_s, api->cfg->statement_timeout_ms, &cause);
	if (t->db == NULL) {
		if (!t->down_logged)
			log_warn("msg=\"api: cannot connect to PostgreSQL; answering 503 meanwhile\" "
			    "error=\"%s\"", cause);
		t->down_logged = true;
		free(cause);
		t->next_connect_ms = clock_ms() + API_RECONNECT_MS;
		return false;
	}
	if (t->down_logged)
		log_info("msg=\"api: connected to PostgreSQL again\"");
	t->down_logged = false;
	return true;
}

static void *
db_thread(void *arg)
{
	struct api_thread *t = arg;
	struct api *api = t->api;
	struct api_ctx ctx = { NULL, api->cfg, api->svc };
	enum { GROUP_MAX = 256 };
	struct job *jobs[GROUP_MAX];
	struct api_job *pub[GROUP_MAX];
	size_t n;

	for (;;) {
		pthread_mutex_lock(&api->lock);
		while (api->head == NULL && !api->stopping)
			pthread_cond_wait(&api->cond, &api->lock);
		if (api->head == NULL) {
			pthread_mutex_unlock(&api->lock);
			break;
		}
		n = take(api, jobs, GROUP_MAX);
		pthread_mutex_unlock(&api->lock);

		for (size_t i = 0; i < n; i++)
			pub[i] = &jobs[i]->pub;
		if (connected(t)) {
			ctx.db = t->db;
			jobs[0]->fn(&ctx, jobs[0]->arg, pub, n);
		} else {
			metric_add(m_db_down, n);
			for (size_t i = 0; i < n; i++)
				api_db_failed(pub[i]->req, NULL);
		}
		for (size_t i = 0; i < n; i++) {
			free(jobs[i]->pub.data);
			free(jobs[i]);
		}
		pthread_mutex_lock(&api->lock);
		api->in_flight -= n;
		metric_set(m_in_flight, (long)api->in_flight);
		pthread_mutex_unlock(&api->lock);
	}
	db_close(t->db);
	return NULL;
}

struct api *
api_start(const struct conf *cfg, enum service_id svc, api_routes_fn routes,
    health_ready_fn ready, health_alive_fn alive, char **cause)
{
	struct http_limits lim = {
		.max_body = (size_t)cfg->api_max_body,
		.max_header = 16384,
		.connections = (unsigned)cfg->api_connections,
		.per_client = (unsigned)cfg->api_connections_per_client,
		.timeout_s = (unsigned)cfg->api_timeout_s,
		.threads = (unsigned)cfg->api_threads,
	};
	const char *listen = cfg->api_listen[svc];
	struct api *api;
	char *why = NULL;

	*cause = NULL;
	if (strcmp(listen, "off") == 0)
		return NULL;
	api = xcalloc(1, sizeof(*api));
	api->cfg = cfg;
	api->svc = svc;
	api->max_in_flight = (size_t)cfg->api_max_in_flight;
	api->srv = http_new("api", listen, &lim, &why);
	if (api->srv == NULL) {
		*cause = xasprintf("%s.api_listen %s", service_name(svc), why);
		free(why);
		free(api);
		return NULL;
	}
	pthread_mutex_init(&api->lock, NULL);
	pthread_cond_init(&api->cond, NULL);
	routes(api, cfg);
	health_routes(api->srv, ready, alive);
	api->nthreads = (size_t)cfg->api_db_connections;
	api->threads = xcalloc(api->nthreads, sizeof(*api->threads));
	for (size_t i = 0; i < api->nthreads; i++) {
		api->threads[i].api = api;
		if (pthread_create(&api->threads[i].tid, NULL, db_thread, &api->threads[i]) != 0) {
			log_error("msg=\"api: cannot start a database thread\"");
			abort();
		}
	}
	if (http_start(api->srv, cause) != 0) {
		api_stop(api);
		return NULL;
	}
	return api;
}

void
api_stop(struct api *api)
{
	if (api == NULL)
		return;
	pthread_mutex_lock(&api->lock);
	api->stopping = true;
	pthread_cond_broadcast(&api->cond);
	pthread_mutex_unlock(&api->lock);
	for (size_t i = 0; i < api->nthreads; i++)
		pthread_join(api->threads[i].tid, NULL);
	http_stop(api->srv);
	pthread_cond_destroy(&api->cond);
	pthread_mutex_destroy(&api->lock);
	free(api->threads);
	while (api->gets != NULL) {
		struct get_route *g = api->gets;

		api->gets = g->next;
		free(g->field);
		free(g->name);
		free(g->sql);
		free(g->arg);
		free(g);
	}
	free(api);
}

/* --- GET one row by key ---------------------------------------------------- */

static void
get_job(struct api_ctx *ctx, void *arg, struct api_job **jobs, size_t n)
{
	const struct get_route *g = arg;
	struct pgarray keys = { 0 };
	const char *p[2] = { NULL, g->arg };
	PGresult *res;

	for (size_t i = 0; i < n; i++)
		pgarray_add(&keys, jobs[i]->data);
	p[0] = pgarray_text(&keys);
	res = db_query(ctx->db, g->name, g->sql, g->arg != NULL ? 2 : 1, p);
	pgarray_free(&keys);
	for (size_t i = 0; i < n; i++) {
		struct http_request *req = jobs[i]->req;
		int row = -1;

		if (res == NULL) {
			api_db_failed(req, ctx->db);
			continue;
		}
		for (int k = 0; k < PQntuples(res) && row < 0; k++)
			if (strcmp(PQgetvalue(res, k, 0), jobs[i]->data) == 0)
				row = k;
		if (row < 0)
			http_problem(req, MHD_HTTP_NOT_FOUND, "not-found", NULL, "no %s %s",
			    g->field, (const char *)jobs[i]->data);
		else
			http_reply(req, MHD_HTTP_OK, "application/json", PQgetvalue(res, row, 1),
			    (size_t)PQgetlength(res, row, 1));
	}
	PQclear(res);
}

static void
on_get(struct http_request *req, void *arg)
{
	struct get_route *g = arg;
	const char *key = http_param(req, 0);

	if (!envelope_valid_id(key)) {
		http_problem(req, MHD_HTTP_BAD_REQUEST, "invalid-request", g->field,
		    "%s must be 1-64 characters of [A-Za-z0-9._:-]", g->field);
		return;
	}
	api_submit(g->api, req, get_job, g, xstrdup(key), 64);
}

void
api_get_route(struct api *api, const char *pattern, const char *field, const char *name,
    const char *sql, const char *arg)
{
	struct get_route *g = xcalloc(1, sizeof(*g));

	g->api = api;
	g->field = xstrdup(field);
	g->name = xstrdup(name);
	g->sql = xstrdup(sql);
	g->arg = arg != NULL ? xstrdup(arg) : NULL;
	g->next = api->gets;
	api->gets = g;
	http_route(api->srv, "GET", pattern, 0, on_get, g);
}

/* --- cursors ------------------------------------------------------------- */

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void
api_cursor_encode(int64_t us, const char *id, char *out, size_t outlen)
{
	char plain[96];
	size_t n = (size_t)snprintf(plain, sizeof(plain), "%" PRId64 ":%s", us, id), o = 0;

	if (n >= sizeof(plain))
		n = sizeof(plain) - 1;
	for (size_t i = 0; i < n && o + 5 < outlen; i += 3) {
		uint32_t v = (uint32_t)(unsigned char)plain[i] << 16;
		size_t k = n - i < 3 ? n - i : 3;

		if (k > 1)
			v |= (uint32_t)(unsigned char)plain[i + 1] << 8;
		if (k > 2)
			v |= (unsigned char)plain[i + 2];
		out[o++] = b64url[v >> 18 & 63];
		out[o++] = b64url[v >> 12 & 63];
		if (k > 1)
			out[o++] = b64url[v >> 6 & 63];
		if (k > 2)
			out[o++] = b64url[v & 63];
	}
	out[o] = '\0';
}

int
api_cursor_decode(const char *text, int64_t *us, char *id, size_t idlen)
{
	char plain[96], *colon, *end;
	size_t len = strlen(text), o = 0;
	uint32_t v = 0;
	int bits = 0;

	if (len == 0 || len > 128 || len % 4 == 1)
		return -1;
	for (size_t i = 0; i < len; i++) {
		const char *p = strchr(b64url, text[i]);

		if (p == NULL || text[i] == '\0')
			return -1;
		v = v << 6 | (uint32_t)(p - b64url);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o + 1 >= sizeof(plain))
				return -1;
			plain[o++] = (char)(v >> bits & 0xff);
		}
	}
	if ((v & ((1u << bits) - 1)) != 0)
		return -1;	/* not the canonical form */
	plain[o] = '\0';
	if (strlen(plain) != o || (colon = strchr(plain, ':')) == NULL || colon == plain)
		return -1;
	*colon = '\0';
	if (!((plain[0] >= '0' && plain[0] <= '9') || plain[0] == '-'))
		return -1;
	*us = strtoll(plain, &end, 10);
	if (*end != '\0' || !envelope_valid_id(colon + 1) || strlen(colon + 1) >= idlen)
		return -1;
	strlcpy_(id, colon + 1, idlen);
	return 0;
}
