/*
 * http: the HTTP server (see http.h) on libmicrohttpd.
 *
 * libmicrohttpd calls on_request several times per request: once when the
 * headers are in (the route is found and the cheap refusals 404, 405, 413
 * by Content-Length and 415 are answered there), once per piece of body,
 * and once when the request is complete, when the handler runs. A
 * suspended request is resumed by whoever answers it; libmicrohttpd then
 * calls on_request once more, which queues the stored answer.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "http.h"
#include "log.h"
#include "xmalloc.h"

#define HTTP_MAX_PARAMS		4
#define HTTP_MAX_HEADERS	8
#define HTTP_STOP_WAIT_MS	5000

struct route {
	char *method;
	char *pattern;
	unsigned flags;
	http_handler_fn fn;
	void *arg;
};

struct http_server {
	char *name;
	char host[64];
	struct sockaddr_in sa;
	struct http_limits lim;
	struct route *routes;
	size_t nroutes;
	struct MHD_Daemon *d;
	unsigned port;
	pthread_mutex_t lock;		/* the list of suspended requests */
	struct http_request *suspended;
};

struct http_request {
	struct http_server *srv;
	struct MHD_Connection *conn;
	const struct route *route;
	char *method;
	char *path;
	char *params[HTTP_MAX_PARAMS];
	char *body;
	size_t len, cap;
	size_t discarded;	/* body bytes beyond max_body, thrown away */
	int too_big;
	int suspended;		/* handler suspended it; cleared by on_request once resumed */
	int answered;
	struct MHD_Response *resp;	/* the answer, until queued */
	unsigned status;
	char *hname[HTTP_MAX_HEADERS], *hvalue[HTTP_MAX_HEADERS];
	unsigned nheaders;
	char client[INET6_ADDRSTRLEN];
	struct http_request *prev, *next;	/* in srv->suspended */
};

static void
logger(void *cls, const char *fmt, va_list ap)
{
	struct http_server *srv = cls;
	char buf[512];
	size_t n;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	for (char *p = buf; *p != '\0'; p++)
		if (*p == '"' || *p == '\n')
			*p = '\'';
	log_debug("msg=\"libmicrohttpd\" server=%s detail=\"%s\"", srv->name, buf);
}

struct http_server *
http_new(const char *name, const char *listen, const struct http_limits *lim, char **cause)
{
	const char *colon = strrchr(listen, ':');
	struct http_server *srv;
	char host[64];
	long port;
	char *end;

	*cause = NULL;
	if (colon == NULL || (size_t)(colon - listen) >= sizeof(host)) {
		*cause = xasprintf("'%s' is not host:port", listen);
		return NULL;
	}
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	port = strtol(colon + 1, &end, 10);
	srv = xcalloc(1, sizeof(*srv));
	srv->sa.sin_family = AF_INET;
	if (colon[1] == '\0' || *end != '\0' || port < 0 || port > 65535 ||
	    inet_pton(AF_INET, host, &srv->sa.sin_addr) != 1) {
		*cause = xasprintf("'%s' is not IPv4-address:port", listen);
		free(srv);
		return NULL;
	}
	srv->sa.sin_port = htons((uint16_t)port);
	srv->port = (unsigned)port;
	strlcpy_(srv->host, host, sizeof(srv->host));
	srv->name = xstrdup(name);
	srv->lim = *lim;
	pthread_mutex_init(&srv->lock, NULL);
	return srv;
}

void
http_route(struct http_server *srv, const char *method, const char *pattern, unsigned flags,
    http_handler_fn fn, void *arg)
{
	struct route *r;

	srv->routes = xrealloc(srv->routes, (srv->nroutes + 1) * sizeof(*srv->routes));
	r = &srv->routes[srv->nroutes++];
	r->method = xstrdup(method);
	r->pattern = xstrdup(pattern);
	r->flags = flags;
	r->fn = fn;
	r->arg = arg;
}

/*
 * Does path match pattern? On a match with params non-NULL, the "{}"
 * segments are copied into params.
 */
static int
match(const char *pattern, const char *path, char **params)
{
	const char *start[HTTP_MAX_PARAMS];
	size_t len[HTTP_MAX_PARAMS];
	unsigned n = 0;

	while (*pattern != '\0' && *path != '\0') {
		if (pattern[0] == '{' && pattern[1] == '}') {
			size_t l = strcspn(path, "/");

			if (l == 0 || n == HTTP_MAX_PARAMS)
				return 0;
			start[n] = path;
			len[n++] = l;
			path += l;
			pattern += 2;
			continue;
		}
		if (*pattern++ != *path++)
			return 0;
	}
	if (*pattern != '\0' || *path != '\0')
		return 0;
	for (unsigned i = 0; params != NULL && i < n; i++)
		params[i] = xstrndup(start[i], len[i]);
	return 1;
}

static int
method_is(const struct route *r, const char *method)
{
	return strcmp(r->method, method) == 0 ||
	    (strcmp(r->method, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

static void
req_free(struct http_request *req)
{
	if (req->resp != NULL)
		MHD_destroy_response(req->resp);
	for (unsigned i = 0; i < HTTP_MAX_PARAMS; i++)
		free(req->params[i]);
	for (unsigned i = 0; i < req->nheaders; i++) {
		free(req->hname[i]);
		free(req->hvalue[i]);
	}
	free(req->method);
	free(req->path);
	free(req->body);
	free(req);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **state,
    enum MHD_RequestTerminationCode how)
{
	(void)cls;
	(void)conn;
	(void)how;
	if (*state != NULL)
		req_free(*state);
	*state = NULL;
}

const char *
http_method(const struct http_request *req)
{
	return req->method;
}

const char *
http_path(const struct http_request *req)
{
	return req->path;
}

const char *
http_param(const struct http_request *req, unsigned i)
{
	return i < HTTP_MAX_PARAMS ? req->params[i] : NULL;
}

const char *
http_query(const struct http_request *req, const char *key)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *
http_header(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *
http_body(const struct http_request *req, size_t *len)
{
	if (len != NULL)
		*len = req->len;
	return req->body != NULL ? req->body : "";
}

const char *
http_client(const struct http_request *req)
{
	return req->client;
}

void
http_suspend(struct http_request *req)
{
	struct http_server *srv = req->srv;

	req->suspended = 1;
	pthread_mutex_lock(&srv->lock);
	req->next = srv->suspended;
	req->prev = NULL;
	if (srv->suspended != NULL)
		srv->suspended->prev = req;
	srv->suspended = req;
	pthread_mutex_unlock(&srv->lock);
	MHD_suspend_connection(req->conn);
}

void
http_header_add(struct http_request *req, const char *name, const char *value)
{
	if (req->nheaders == HTTP_MAX_HEADERS) {
		log_error("msg=\"http: too many response headers, dropped\" header=%s", name);
		return;
	}
	req->hname[req->nheaders] = xstrdup(name);
	req->hvalue[req->nheaders++] = xstrdup(value);
}

/*
 * The answer is ready. A request still in its handler is queued by
 * on_request when the handler returns; a suspended one leaves the list
 * and is resumed, and on_request queues it then.
 */
static void
answer(struct http_request *req, unsigned status, struct MHD_Response *resp)
{
	struct http_server *srv = req->srv;

	for (unsigned i = 0; i < req->nheaders; i++)
		MHD_add_response_header(resp, req->hname[i], req->hvalue[i]);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	if (req->answered) {
		log_error("msg=\"http: request answered twice\" path=%s", req->path);
		MHD_destroy_response(resp);
		return;
	}
	req->answered = 1;
	req->status = status;
	req->resp = resp;
	if (!req->suspended)
		return;
	pthread_mutex_lock(&srv->lock);
	if (req->prev != NULL)
		req->prev->next = req->next;
	else
		srv->suspended = req->next;
	if (req->next != NULL)
		req->next->prev = req->prev;
	pthread_mutex_unlock(&srv->lock);
	MHD_resume_connection(req->conn);
}

void
http_reply(struct http_request *req, unsigned status, const char *content_type,
    const char *body, size_t len)
{
	struct MHD_Response *resp;
	char *copy = xmalloc(len + 1);

	memcpy(copy, body, len);
	resp = MHD_create_response_from_buffer(len, copy, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, "Content-Type", content_type);
	answer(req, status, resp);
}

void
http_json(struct http_request *req, unsigned status, struct json_object *obj)
{
	size_t len;
	const char *s = json_object_to_json_string_length(obj,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);

	http_reply(req, status, "application/json", s, len);
	json_object_put(obj);
}

void
http_problem(struct http_request *req, unsigned status, const char *type, const char *field,
    const char *fmt, ...)
{
	struct json_object *o = json_object_new_object();
	const char *title = MHD_get_reason_phrase_for(status);
	size_t len;
	const char *s;
	char detail[512], *t;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	t = type != NULL ? xasprintf("urn:chorus:problem:%s", type) : xstrdup("about:blank");
	json_object_object_add(o, "type", json_object_new_string(t));
	json_object_object_add(o, "title", json_object_new_string(*title != '\0' ? title : "Error"));
	json_object_object_add(o, "status", json_object_new_int((int)status));
	json_object_object_add(o, "detail", json_object_new_string(detail));
	if (field != NULL)
		json_object_object_add(o, "field", json_object_new_string(field));
	s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
	    &len);
	http_reply(req, status, "application/problem+json", s, len);
	json_object_put(o);
	free(t);
}

/* Queue the answer given; 500 when the handler gave none. */
static enum MHD_Result
queue(struct http_request *req)
{
	enum MHD_Result ret;

	if (req->resp == NULL) {
		log_error("msg=\"http: handler returned without answering\" server=%s path=%s",
		    req->srv->name, req->path);
		http_problem(req, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL, "no answer was made");
	}
	ret = MHD_queue_response(req->conn, req->status, req->resp);
	MHD_destroy_response(req->resp);
	req->resp = NULL;
	return ret;
}

/* Run the handler; queue its answer unless it suspended the request. */
static enum MHD_Result
dispatch(struct http_request *req)
{
	req->route->fn(req, req->route->arg);
	if (req->suspended)
		return MHD_YES;
	return queue(req);
}

/* Find the route; answer 404 / 405 when there is none. 0 when found. */
static int
route_find(struct http_request *req)
{
	struct http_server *srv = req->srv;
	char allow[128] = "";
	int path_known = 0;

	for (size_t i = 0; i < srv->nroutes; i++) {
		struct route *r = &srv->routes[i];

		if (!match(r->pattern, req->path, NULL))
			continue;
		if (method_is(r, req->method)) {
			match(r->pattern, req->path, req->params);
			req->route = r;
			return 0;
		}
		if (strstr(allow, r->method) == NULL && strlen(allow) + strlen(r->method) + 2 < sizeof(allow)) {
			if (path_known)
				strcat(allow, ", ");
			strcat(allow, r->method);
		}
		path_known = 1;
	}
	if (!path_known) {
		http_problem(req, MHD_HTTP_NOT_FOUND, "not-found", NULL, "no such resource: %s", req->path);
		return -1;
	}
	http_header_add(req, "Allow", allow);
	http_problem(req, MHD_HTTP_METHOD_NOT_ALLOWED, "method-not-allowed", NULL,
	    "%s is not allowed on %s (allowed: %s)", req->method, req->path, allow);
	return -1;
}

/* Is the request's Content-Type application/json (parameters such as charset allowed)? */
static int
is_json(const struct http_request *req)
{
	const char *ct = http_header(req, "Content-Type");
	size_t n = strlen("application/json");

	if (ct == NULL || strncasecmp(ct, "application/json", n) != 0)
		return 0;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

/* The first call, headers in: find the route, refuse what can be refused now. */
static struct http_request *
req_start(struct http_server *srv, struct MHD_Connection *conn, const char *url, const char *method)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn,
	    MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	struct http_request *req = xcalloc(1, sizeof(*req));
	const char *cl;

	req->srv = srv;
	req->conn = conn;
	req->method = xstrdup(method);
	req->path = xstrdup(url);
	if (ci != NULL && ci->client_addr != NULL) {
		const struct sockaddr *sa = ci->client_addr;

		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
			    req->client, sizeof(req->client));
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
			    req->client, sizeof(req->client));
	}
	if (route_find(req) != 0)
		return req;
	cl = http_header(req, "Content-Length");
	if (cl != NULL && strtoull(cl, NULL, 10) > srv->lim.max_body) {
		http_problem(req, MHD_HTTP_CONTENT_TOO_LARGE, "too-large", NULL,
		    "the body is over %zu bytes", srv->lim.max_body);
		return req;
	}
	if ((req->route->flags & HTTP_JSON_BODY) && !is_json(req))
		http_problem(req, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type", NULL,
		    "the body must be application/json");
	return req;
}

/* Does a body follow the headers? */
static int
has_body(const struct http_request *req)
{
	const char *cl = http_header(req, "Content-Length");

	return (cl != NULL && strtoull(cl, NULL, 10) > 0) ||
	    http_header(req, "Transfer-Encoding") != NULL;
}

/* Keep a piece of body, or count it when over the limit. */
static void
body_add(struct http_request *req, const char *data, size_t n)
{
	size_t max = req->srv->lim.max_body;

	if (req->too_big || req->len + n > max) {
		req->too_big = 1;
		req->discarded += n;
		return;
	}
	if (req->len + n + 1 > req->cap) {
		req->cap = req->len + n + 1 < 1024 ? 1024 : req->len + n + 1;
		if (req->cap > max + 1)
			req->cap = max + 1;
		req->body = xrealloc(req->body, req->cap);
	}
	memcpy(req->body + req->len, data, n);
	req->len += n;
	req->body[req->len] = '\0';
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
    const char *version, const char *upload, size_t *upload_size, void **state)
{
	struct http_server *srv = cls;
	struct http_request *req = *state;

	(void)version;
	if (req == NULL) {
		req = req_start(srv, conn, url, method);
		*state = req;
		/*
		 * Refused with a body coming: answer now, which makes
		 * libmicrohttpd skip the body and close the connection.
		 * Everything else is answered on the next call, once the
		 * request is complete, so the connection stays open.
		 */
		if (req->answered && has_body(req))
			return queue(req);
		return MHD_YES;
	}
	if (req->suspended) {
		/* resumed: the answer is there */
		req->suspended = 0;
		return queue(req);
	}
	if (*upload_size > 0) {
		if (req->answered)
			req->discarded += *upload_size;
		else
			body_add(req, upload, *upload_size);
		*upload_size = 0;
		/* a chunked body far over the limit: stop reading it */
		return req->discarded > 16 * srv->lim.max_body + 65536 ? MHD_NO : MHD_YES;
	}
	if (req->answered)	/* refused before the body */
		return req->resp != NULL ? queue(req) : MHD_YES;
	if (req->too_big) {
		http_problem(req, MHD_HTTP_CONTENT_TOO_LARGE, "too-large", NULL,
		    "the body is over %zu bytes", srv->lim.max_body);
		return queue(req);
	}
	return dispatch(req);
}

int
http_start(struct http_server *srv, char **cause)
{
	const union MHD_DaemonInfo *info;
	unsigned flags = MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	unsigned threads = srv->lim.threads > 1 ? srv->lim.threads : 1;

	*cause = NULL;
	flags |= MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES ?
	    MHD_USE_EPOLL_INTERNAL_THREAD : MHD_USE_POLL_INTERNAL_THREAD;
	srv->d = MHD_start_daemon(flags, (uint16_t)srv->port, NULL, NULL, on_request, srv,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&srv->sa,
	    MHD_OPTION_CONNECTION_LIMIT, srv->lim.connections,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, srv->lim.per_client,
	    MHD_OPTION_CONNECTION_TIMEOUT, srv->lim.timeout_s,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, srv->lim.max_header,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
	    MHD_OPTION_EXTERNAL_LOGGER, logger, srv,
	    threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, threads,
	    MHD_OPTION_END);
	if (srv->d == NULL) {
		*cause = xasprintf("cannot serve %s on %s:%u (port in use?)", srv->name, srv->host,
		    srv->port);
		return -1;
	}
	info = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
	if (info != NULL)
		srv->port = info->port;
	log_info("msg=\"%s listening\" address=%s:%u threads=%u connections=%u per_client=%u "
	    "timeout_s=%u", srv->name, srv->host, srv->port, threads, srv->lim.connections,
	    srv->lim.per_client, srv->lim.timeout_s);
	return 0;
}

unsigned
http_port(const struct http_server *srv)
{
	return srv->port;
}

void
http_stop(struct http_server *srv)
{
	struct timespec nap = { 0, 10 * 1000 * 1000 };
	struct http_request *left;

	if (srv == NULL)
		return;
	if (srv->d != NULL) {
		/* answers in flight: wait a little, then answer what is left */
		for (int ms = 0; ms < HTTP_STOP_WAIT_MS; ms += 10) {
			pthread_mutex_lock(&srv->lock);
			left = srv->suspended;
			pthread_mutex_unlock(&srv->lock);
			if (left == NULL)
				break;
			nanosleep(&nap, NULL);
		}
		for (;;) {
			pthread_mutex_lock(&srv->lock);
			left = srv->suspended;
			pthread_mutex_unlock(&srv->lock);
			if (left == NULL)
				break;
			log_error("msg=\"http: a suspended request was never answered\" server=%s path=%s",
			    srv->name, left->path);
			http_problem(left, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting-down", NULL,
			    "the server is stopping");
		}
		MHD_stop_daemon(srv->d);
	}
	for (size_t i = 0; i < srv->nroutes; i++) {
		free(srv->routes[i].method);
		free(srv->routes[i].pattern);
	}
	free(srv->routes);
	pthread_mutex_destroy(&srv->lock);
	free(srv->name);
	free(srv);
}
