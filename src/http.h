/*
 * http: the one HTTP server of Chorus (libmicrohttpd underneath). The
 * health endpoint, the services' APIs and the gateway each run one.
 *
 * A server has a route table (method + path pattern -> handler), limits
 * that keep bad clients from holding it (body size, header size, total
 * connections, connections per client address, an idle/header timeout)
 * and a thread model that scales: libmicrohttpd's epoll with a pool of
 * threads, each serving its share of the connections.
 *
 * A handler is called once per request, on a server thread, when the
 * whole request (headers and body) has arrived. It answers at once
 * (http_reply, http_json, http_problem) or, when the answer needs work
 * elsewhere (a database, upstream calls, a long poll), calls
 * http_suspend() and returns; the answer is then given later from any
 * thread with the same functions. Every request is answered exactly once.
 *
 * What the server answers by itself, as RFC 9457 problems: 404 (no route
 * has the path), 405 (the path exists for other methods; Allow header),
 * 413 (body over max_body), 415 (a route that takes JSON got another
 * Content-Type), 500 (a handler returned without answering or
 * suspending). Headers over max_header are refused by libmicrohttpd.
 */
#ifndef CHORUS_HTTP_H
#define CHORUS_HTTP_H

#include <stddef.h>

#include <json-c/json.h>

struct http_server;
struct http_request;

/* Called once per request; answers it or suspends it (see above). */
typedef void (*http_handler_fn)(struct http_request *req, void *arg);

struct http_limits {
	size_t max_body;	/* bytes of request body; more is 413 */
	size_t max_header;	/* bytes of request line + headers (and per connection buffer) */
	unsigned connections;	/* open connections in all; more are refused */
	unsigned per_client;	/* open connections from one client address */
	unsigned timeout_s;	/* a connection silent this long is closed (also while its headers arrive) */
	unsigned threads;	/* server threads (epoll each); 0 or 1: one */
};

/* Route flags. */
#define HTTP_JSON_BODY	0x1	/* the body must be Content-Type application/json (415) */

/*
 * A server not yet listening, named for its log lines ("health", "api").
 * listen is "IPv4-address:port" (port 0 picks a free one).
 * NULL with *cause (caller frees) when listen is malformed.
 */
struct http_server *http_new(const char *name, const char *listen, const struct http_limits *lim,
    char **cause);
/*
 * Add a route (before http_start). method "GET" also takes HEAD. pattern
 * is a path whose "{}" segments match one non-empty segment each (read
 * with http_param), e.g. "/v1/orders/{}"; the first route matching both
 * method and path wins. arg is passed to the handler.
 */
void http_route(struct http_server *srv, const char *method, const char *pattern, unsigned flags,
    http_handler_fn fn, void *arg);
/* Listen and serve. 0, or -1 with *cause (port in use, ...). The address bound is logged. */
int http_start(struct http_server *srv, char **cause) __attribute__((warn_unused_result));
/* The port bound (after http_start). */
unsigned http_port(const struct http_server *srv);
/*
 * Stop serving and free srv (NULL is fine). Every suspended request must
 * have been answered first (whoever suspended it drains its queue); it
 * waits a few seconds for answers in flight, then answers what is left 503.
 */
void http_stop(struct http_server *srv);

/*
 * The request, valid until it is answered: its strings belong to it.
 */
const char *http_method(const struct http_request *req);
/* The path, percent-decoded, without the query string. */
const char *http_path(const struct http_request *req);
/* The i-th "{}" segment of the route's pattern (NULL beyond). */
const char *http_param(const struct http_request *req, unsigned i);
/* A query argument (NULL when absent). */
const char *http_query(const struct http_request *req, const char *key);
/* A request header, name case-insensitive (NULL when absent). */
const char *http_header(const struct http_request *req, const char *name);
/* The body (NUL-terminated for convenience; len may be NULL). "" when none. */
const char *http_body(const struct http_request *req, size_t *len);
/* The client's address as text ("127.0.0.1"). */
const char *http_client(const struct http_request *req);

/*
 * Suspend: the handler returns without answering and the answer comes
 * later, from any thread. The connection costs no thread meanwhile.
 */
void http_suspend(struct http_request *req);

/*
 * Answering. Exactly one answer per request, after which req is gone.
 * Thread-safe for a suspended request; header adds the headers of the
 * answer (Location, Retry-After, ...), before the answer, 8 at most.
 */
void http_header_add(struct http_request *req, const char *name, const char *value);
/* Answer status with body (len bytes, copied) of content_type. */
void http_reply(struct http_request *req, unsigned status, const char *content_type,
    const char *body, size_t len);
/* Answer status with obj rendered as application/json; takes obj's reference. */
void http_json(struct http_request *req, unsigned status, struct json_object *obj);
/*
 * Answer an RFC 9457 problem (application/problem+json): type is a short
 * name made into "urn:chorus:problem:<type>" (NULL: "about:blank"), title
 * the status's reason phrase, detail from fmt, field the offending field
 * (NULL: none).
 */
void http_problem(struct http_request *req, unsigned status, const char *type, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
