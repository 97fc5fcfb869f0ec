/*
 * upstream: the gateway's client side, one thread running libcurl's multi
 * interface over keep-alive connections to the services' instances. Every
 * upstream call, timer and task runs on that thread, so the pools
 * (pool.h) and the gateway's per-request state need no locks; the client
 * threads hand work over with upstream_submit().
 *
 * A call goes to an instance its pool picks (breaker, bulkhead, ejection),
 * with a connect and a total timeout per try. An idempotent call that
 * failed (no answer, a timeout, a 5xx) is tried again after a backoff with
 * full jitter (backoff.h), up to gateway.retries more times, each try on a
 * freshly picked instance. A refusal (breaker open, bulkhead full, no
 * healthy instance) fails at once: it is the point of the breaker.
 *
 * Each instance's /readyz is checked every gateway.health_interval_ms;
 * upstream_reload() applies new instance lists (SIGHUP).
 */
#ifndef CHORUS_GATEWAY_UPSTREAM_H
#define CHORUS_GATEWAY_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aggregate.h"
#include "conf.h"
#include "service.h"

struct upstream;
struct upstream_call;
struct pool_instance;

typedef void (*upstream_call_fn)(struct upstream_call *c);

/* A piece of work handed to the upstream thread (upstream_submit). */
struct upstream_task {
	void (*run)(struct upstream_task *t);
	struct upstream_task *next;
};

/* A timer on the upstream thread. */
struct upstream_timer {
	uint64_t due_ms;
	void (*fn)(struct upstream_timer *t);
	size_t idx;			/* in the heap, upstream's */
};

struct upstream_call {
	/* the request: set by the caller, unchanged until done runs */
	enum service_id svc;
	bool post;			/* POST body, else GET */
	char path[192];			/* "/v1/orders/ID" */
	const char *body;		/* POST body (len bytes), the caller's */
	size_t body_len;
	bool idempotent;		/* may be tried again */
	const char *traceparent;	/* passed on when not NULL, the caller's */
	upstream_call_fn done;		/* on the upstream thread, once */
	void *arg;

	/*
	 * The outcome, valid in done: result.err is PART_OK when an answer
	 * came that is no 5xx (the caller judges it further), else why not;
	 * result.status/body/len the last answer, if any (body is the
	 * call's, freed by upstream_call_release).
	 */
	struct part result;
	char location[256];		/* Location header of the answer, or "" */
	char content_type[96];		/* Content-Type of the answer, or "" */
	unsigned tries;

	/* upstream's */
	char *buf;
	size_t buflen, bufcap;
	struct pool_instance *inst;
	void *easy;
	void *headers;
	bool probe;			/* an active health check */
	struct upstream *u;
	struct upstream_timer timer;	/* retry backoff, or a refusal answered */
};

/*
 * Start the thread with the pools of cfg (instance lists already checked
 * with pool_parse, balance valid). NULL with *cause on failure.
 */
struct upstream *upstream_start(const struct conf *cfg, char **cause);
/* Stop the thread: pending calls end (PART_UNAVAILABLE), pending tasks run. */
void upstream_stop(struct upstream *u);
/* Hand t to the upstream thread (any thread; t runs there soon). */
void upstream_submit(struct upstream *u, struct upstream_task *t);
/* Apply new instance lists (any thread; checked with pool_parse). */
void upstream_reload(struct upstream *u, const struct conf *cfg);
/* true when the order upstream has an instance that may take requests (any thread). */
bool upstream_ready(struct upstream *u);

/*
 * The pools as JSON (malloc'ed; any thread), at most a quarter second old:
 * {"order": {"breaker": "closed", "in_flight": 0, "instances": [{"address",
 * "healthy", "ejected", "in_flight", "requests", "failures"}]}, ...}
 */
char *upstream_snapshot(struct upstream *u);

/* On the upstream thread only: */
/* Start c (request fields set); c->done runs once, later, never inside this call. */
void upstream_call(struct upstream *u, struct upstream_call *c);
/* Free what the outcome of c holds (its body). */
void upstream_call_release(struct upstream_call *c);
/* Run t->fn at due_ms (upstream thread); t must stay until it ran or was cancelled. */
void upstream_timer_add(struct upstream *u, struct upstream_timer *t, uint64_t due_ms);
/* Seconds until the upstream's breaker lets a trial through (for Retry-After), at least 1. */
unsigned upstream_retry_after(struct upstream *u, enum service_id svc);

#endif
