/*
 * api: the skeleton of a service's REST API (contract section 7), served
 * by the worker beside its consumer on <service>.api_listen.
 *
 * A bulkhead apart from the consumer: the API has its own database
 * connections (api_db_connections, one thread each) and a bounded number
 * of requests in flight (api_max_in_flight, queued or running; beyond it
 * 503 with Retry-After), so a flood of requests cannot stall event
 * consumption, and a stalled consumer does not stall the API.
 *
 * A route's handler runs on an http thread: it checks what it can without
 * the database (ids, query arguments, the body) and hands the rest to a
 * database thread with api_submit(), which suspends the request. A
 * database thread takes a job, and with it the queued jobs of the same
 * function (up to the job's group size), and runs them together: the
 * order service commits many POSTs in one transaction that way. While
 * the database is unreachable, jobs are answered 503 with Retry-After at
 * once (a reconnect is tried at most once a second per connection).
 *
 * The API's listener serves /healthz, /readyz and /metrics too, so a
 * balancer checks an instance where it sends the requests.
 */
#ifndef CHORUS_API_H
#define CHORUS_API_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "db.h"
#include "health.h"
#include "http.h"
#include "service.h"

struct api;

/* A request handed to a database thread. */
struct api_job {
	struct http_request *req;
	void *data;			/* the handler's, freed with free() after the job */
};

/* What a job function has at hand on its database thread. */
struct api_ctx {
	struct db *db;			/* connected */
	const struct conf *cfg;
	enum service_id svc;
};

/*
 * Run jobs[0 .. n) (n > 1 only for a group), answering every request; arg
 * as given to api_submit. On a database failure, api_db_failed answers.
 */
typedef void (*api_job_fn)(struct api_ctx *ctx, void *arg, struct api_job **jobs, size_t n);

/* Add the service's routes: api_route calls (see the workers' *_api.c). */
typedef void (*api_routes_fn)(struct api *api, const struct conf *cfg);

/* Register the API's metrics (before any thread of the process runs). */
void api_metrics_init(void);

/*
 * Start the API of service svc on cfg's <svc>.api_listen: routes adds the
 * service's routes, ready and alive answer /readyz and /healthz. NULL with
 * *cause NULL when api_listen is "off"; NULL with *cause (caller frees) on
 * failure.
 */
struct api *api_start(const struct conf *cfg, enum service_id svc, api_routes_fn routes,
    health_ready_fn ready, health_alive_fn alive, char **cause);
/*
 * Stop (NULL is fine): new requests are refused 503, the queued ones are
 * run, the threads joined, the server stopped.
 */
void api_stop(struct api *api);

/* Add a route whose handler gets the struct api * as its argument. */
void api_route(struct api *api, const char *method, const char *pattern, unsigned flags,
    http_handler_fn fn);

/*
 * Hand req to a database thread: fn(ctx, arg, jobs, n) runs it, grouped
 * with up to group - 1 queued jobs of the same fn and arg (group 1:
 * alone). data is the handler's (freed after the job). When
 * api_max_in_flight requests are in flight already, or the API is
 * stopping, req is answered 503 with Retry-After now and data freed.
 */
void api_submit(struct api *api, struct http_request *req, api_job_fn fn, void *arg, void *data,
    size_t group);

/*
 * A GET route answering one row by the key in its path (pattern has one
 * "{}"): the key must be an id (contract section 3; else 400 naming
 * field). sql takes $1, the keys of a group of requests as text[] (and
 * $2 = arg when arg is not NULL), and returns (key, JSON text) rows: 200
 * with the JSON, 404 for a key without a row. name names the prepared
 * statement.
 */
void api_get_route(struct api *api, const char *pattern, const char *field, const char *name,
    const char *sql, const char *arg);

/* Answer req 503 "database unavailable" with Retry-After (a job's database failure). */
void api_db_failed(struct http_request *req, struct db *db);

/*
 * Answer 400 for a bad value: why is an envelope reason ("bad_field:
 * data.items[0].sku must be ..."), its field (without "data.") named.
 */
void api_bad_input(struct http_request *req, const char *why);

/*
 * A keyset pagination cursor: the position (microseconds since the epoch,
 * id) of the last row of a page, as opaque URL-safe text ([A-Za-z0-9_-]).
 * api_cursor_decode: 0, or -1 when text is not a cursor this made.
 */
void api_cursor_encode(int64_t us, const char *id, char *out, size_t outlen);
int api_cursor_decode(const char *text, int64_t *us, char *id, size_t idlen);

#endif
