/*
 * upstream: libcurl multi on one thread; pools, retries, health checks,
 * timers (see upstream.h).
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "backoff.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "upstream.h"
#include "xmalloc.h"

#define BODY_MAX (1024 * 1024)	/* an upstream answer larger than this is bad_response */
#define EASY_SPARE 256		/* idle easy handles kept for reuse */

struct upstream_metrics {
	struct metric *ok, *failed, *retried, *refused[4], *breaker, *in_flight, *eligible;
};

struct upstream {
	pthread_t thread;
	CURLM *multi;
	struct pool pools[SVC__COUNT];
	struct upstream_metrics m[SVC__COUNT];
	enum breaker_state logged[SVC__COUNT];
	struct backoff backoff;
	unsigned retries;
	long connect_timeout_ms, timeout_ms, health_interval_ms;

	/* handed over by other threads, under lock */
	pthread_mutex_t lock;
	struct upstream_task *tasks, **tasks_tail;
	char *pending_lists[SVC__COUNT];	/* a reload's lists, or NULL */
	atomic_int stop;
	atomic_int order_ready;

	/* the thread's own */
	struct upstream_timer **heap;
	size_t nheap, capheap;
	CURL **spare;
	size_t nspare;
	struct upstream_timer health_timer;
	struct upstream_timer snapshot_timer;
	char *snapshot;				/* under lock: upstream_snapshot's JSON */
	unsigned running;			/* calls in flight or waiting to retry */
};

/* ---- timers: a binary min-heap on due_ms ---------------------------------- */

static void
heap_swap(struct upstream *u, size_t a, size_t b)
{
	struct upstream_timer *t = u->heap[a];

	u->heap[a] = u->heap[b];
	u->heap[b] = t;
	u->heap[a]->idx = a;
	u->heap[b]->idx = b;
}

void
upstream_timer_add(struct upstream *u, struct upstream_timer *t, uint64_t due_ms)
{
	size_t i;

	if (u->nheap == u->capheap) {
		u->capheap = u->capheap ? u->capheap * 2 : 64;
		u->heap = xrealloc(u->heap, u->capheap * sizeof(*u->heap));
	}
	t->due_ms = due_ms;
	i = u->nheap++;
	u->heap[i] = t;
	t->idx = i;
	while (i > 0 && u->heap[(i - 1) / 2]->due_ms > u->heap[i]->due_ms) {
		heap_swap(u, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static struct upstream_timer *
heap_pop(struct upstream *u)
{
	struct upstream_timer *top = u->heap[0];
	size_t i = 0;

	if (--u->nheap == 0)
		return top;
	u->heap[0] = u->heap[u->nheap];
	u->heap[0]->idx = 0;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < u->nheap && u->heap[l]->due_ms < u->heap[m]->due_ms)
			m = l;
		if (r < u->nheap && u->heap[r]->due_ms < u->heap[m]->due_ms)
			m = r;
		if (m == i)
			break;
		heap_swap(u, i, m);
		i = m;
	}
	return top;
}

/* Run the timers due; the milliseconds until the next one (at most max_ms). */
static long
run_timers(struct upstream *u, long max_ms)
{
	for (;;) {
		uint64_t now = clock_ms();

		if (u->nheap == 0)
			return max_ms;
		if (u->heap[0]->due_ms > now) {
			uint64_t d = u->heap[0]->due_ms - now;

			return d < (uint64_t)max_ms ? (long)d : max_ms;
		}
		{
			struct upstream_timer *t = heap_pop(u);

			t->fn(t);
		}
	}
}

/* ---- metrics and logs ------------------------------------------------------ */

/* label for upstream s, with one more label pair when extra is not NULL (kept: the metric holds it) */
static const char *
labels(int s, const char *extra)
{
	return xasprintf("upstream=\"%s\"%s%s", service_name((enum service_id)s),
	    extra != NULL ? "," : "", extra != NULL ? extra : "");
}

/* Each metric family registered for the three upstreams in a row (Prometheus keeps families together). */
static void
register_metrics(struct upstream *u)
{
	static const char *const refused[] = { NULL, "reason=\"circuit_open\"",
		"reason=\"bulkhead_full\"", "reason=\"no_instance\"" };
	int s, r;

	for (s = 0; s < SVC__COUNT; s++)
		u->m[s].ok = metrics_register("chorus_gateway_upstream_requests_total", "counter",
		    "Upstream tries by outcome (failed: no answer, a timeout or a 5xx).",
		    labels(s, "outcome=\"answered\""));
	for (s = 0; s < SVC__COUNT; s++)
		u->m[s].failed = metrics_register("chorus_gateway_upstream_requests_total", "counter",
		    NULL, labels(s, "outcome=\"failed\""));
	for (s = 0; s < SVC__COUNT; s++)
		u->m[s].retried = metrics_register("chorus_gateway_upstream_retries_total", "counter",
		    "Upstream tries after the first (idempotent requests only).", labels(s, NULL));
	for (r = 1; r < 4; r++)
		for (s = 0; s < SVC__COUNT; s++)
			u->m[s].refused[r] = metrics_register("chorus_gateway_upstream_refused_total",
			    "counter", "Upstream requests refused without a try, by reason.",
			    labels(s, refused[r]));
	for (s = 0; s < SVC__COUNT; s++)
		u->m[s].breaker = metrics_register("chorus_gateway_breaker_state", "gauge",
		    "Circuit breaker of each upstream: 0 closed, 1 open, 2 half-open.", labels(s, NULL));
	for (s = 0; s < SVC__COUNT; s++)
		u->m[s].in_flight = metrics_register("chorus_gateway_upstream_in_flight", "gauge",
		    "Requests in flight to each upstream (the bulkhead counts these).", labels(s, NULL));
	for (s = 0; s < SVC__COUNT; s++)
		u->m[s].eligible = metrics_register("chorus_gateway_instances_eligible", "gauge",
		    "Instances of each upstream taking requests (healthy, not ejected).", labels(s, NULL));
}

/* Log and count a change of svc's breaker (pick and done may both change it). */
static void
note_breaker(struct upstream *u, enum service_id svc)
{
	struct pool *p = &u->pools[svc];

	if (p->breaker.state == u->logged[svc])
		return;
	if (p->breaker.state == BREAKER_OPEN)
		log_warn("msg=\"circuit breaker open: failing fast\" upstream=%s recovery_ms=%llu",
		    p->name, (unsigned long long)p->breaker.recovery_ms);
	else
		log_info("msg=\"circuit breaker %s\" upstream=%s",
		    breaker_state_name(p->breaker.state), p->name);
	u->logged[svc] = p->breaker.state;
	metric_set(u->m[svc].breaker, (long)p->breaker.state);
}

static void
count_eligible(struct upstream *u, enum service_id svc)
{
	struct pool *p = &u->pools[svc];
	uint64_t now = clock_ms();
	long n = 0;

	for (size_t k = 0; k < p->ninst; k++)
		n += pool_eligible(p->inst[k], now);
	metric_set(u->m[svc].eligible, n);
	if (svc == SVC_ORDER)
		atomic_store(&u->order_ready, n > 0);
}

/* ---- calls ----------------------------------------------------------------- */

static size_t
on_body(char *data, size_t size, size_t n, void *arg)
{
	struct upstream_call *c = arg;
	size_t len = size * n;

	if (c->buflen + len > BODY_MAX)
		return 0;	/* CURLE_WRITE_ERROR: bad_response */
	if (c->buflen + len + 1 > c->bufcap) {
		c->bufcap = c->buflen + len + 1 < 1024 ? 1024 : 2 * (c->buflen + len + 1);
		c->buf = xrealloc(c->buf, c->bufcap);
	}
	memcpy(c->buf + c->buflen, data, len);
	c->buflen += len;
	c->buf[c->buflen] = '\0';
	return len;
}

/* Copy the value of header line h (n bytes) into dst when it is name. */
static void
header_value(const char *h, size_t n, const char *name, char *dst, size_t dstlen)
{
	size_t nl = strlen(name), v;

	if (n <= nl || strncasecmp(h, name, nl) != 0 || h[nl] != ':')
		return;
	for (v = nl + 1; v < n && (h[v] == ' ' || h[v] == '\t'); v++)
		;
	while (n > v && (h[n - 1] == '\r' || h[n - 1] == '\n' || h[n - 1] == ' '))
		n--;
	if (n - v < dstlen) {
		memcpy(dst, h + v, n - v);
		dst[n - v] = '\0';
	}
}

static size_t
on_header(char *data, size_t size, size_t n, void *arg)
{
	struct upstream_call *c = arg;

	header_value(data, size * n, "Location", c->location, sizeof(c->location));
	header_value(data, size * n, "Content-Type", c->content_type, sizeof(c->content_type));
	return size * n;
}

static CURL *
easy_get(struct upstream *u)
{
	CURL *e;

	if (u->nspare > 0) {
		e = u->spare[--u->nspare];
		curl_easy_reset(e);
		return e;
	}
	e = curl_easy_init();
	if (e == NULL) {
		log_error("msg=\"out of memory: curl_easy_init\"");
		abort();
	}
	return e;
}

static void
easy_put(struct upstream *u, CURL *e)
{
	if (u->nspare < EASY_SPARE) {
		u->spare[u->nspare++] = e;
		return;
	}
	curl_easy_cleanup(e);
}

static void try_call(struct upstream *u, struct upstream_call *c);

static void
on_call_timer(struct upstream_timer *t)
{
	struct upstream_call *c = (struct upstream_call *)((char *)t -
	    offsetof(struct upstream_call, timer));

	if (c->result.refused || c->tries == 0 || atomic_load(&c->u->stop)) {
		/* a refusal answered after upstream_call returned, or no retry when stopping */
		c->u->running--;
		c->done(c);
		return;
	}
	try_call(c->u, c);	/* a retry after its backoff */
}

/* End c now (err set), its done deferred to a timer when inside upstream_call. */
static void
finish(struct upstream *u, struct upstream_call *c, bool deferred)
{
	if (deferred) {
		upstream_timer_add(u, &c->timer, 0);
		return;
	}
	u->running--;
	c->done(c);
}

static void
try_call(struct upstream *u, struct upstream_call *c)
{
	struct pool *p = &u->pools[c->svc];
	enum pool_refusal why;
	char url[320];
	struct curl_slist *h = NULL;
	CURL *e;

	if (atomic_load(&u->stop)) {
		c->result.err = PART_UNAVAILABLE;
		c->result.refused = true;
		finish(u, c, c->tries == 0);
		return;
	}
	c->inst = c->probe ? c->inst : pool_pick(p, clock_ms(), &why);
	note_breaker(u, c->svc);
	if (c->inst == NULL) {
		metric_add(u->m[c->svc].refused[why], 1);
		c->result.refused = true;
		c->result.err = why == POOL_CIRCUIT_OPEN ? PART_CIRCUIT_OPEN : PART_UNAVAILABLE;
		finish(u, c, c->tries == 0);
		return;
	}
	if (!c->probe)
		metric_set(u->m[c->svc].in_flight, (long)p->in_flight);
	if (c->tries > 0 && !c->probe)
		metric_add(u->m[c->svc].retried, 1);
	c->tries++;
	c->buflen = 0;
	c->location[0] = c->content_type[0] = '\0';
	snprintf(url, sizeof(url), "http://%s%s", c->inst->addr, c->path);
	e = easy_get(u);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, c);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, u->connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->probe ? u->health_interval_ms : u->timeout_ms);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
	h = curl_slist_append(h, "Accept: application/json");
	h = curl_slist_append(h, "Expect:");
	if (c->traceparent != NULL) {
		char tp[96];

		snprintf(tp, sizeof(tp), "traceparent: %s", c->traceparent);
		h = curl_slist_append(h, tp);
	}
	if (c->post) {
		h = curl_slist_append(h, "Content-Type: application/json");
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)c->body_len);
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	c->headers = h;
	c->easy = e;
	curl_multi_add_handle(u->multi, e);
}

void
upstream_call(struct upstream *u, struct upstream_call *c)
{
	memset(&c->result, 0, sizeof(c->result));
	c->tries = 0;
	c->u = u;
	c->timer.fn = on_call_timer;
	u->running++;
	try_call(u, c);
}

void
upstream_call_release(struct upstream_call *c)
{
	free(c->buf);
	c->buf = NULL;
	c->buflen = c->bufcap = 0;
	c->result.body = NULL;
	c->result.len = 0;
}

/* A transfer ended: judge it, tell the pool, retry or finish. */
static void
transfer_done(struct upstream *u, CURL *e, CURLcode rc)
{
	struct upstream_call *c = NULL;
	struct pool *p;
	long status = 0;
	bool ok;

	curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&c);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_multi_remove_handle(u->multi, e);
	curl_slist_free_all(c->headers);
	c->headers = NULL;
	c->easy = NULL;
	easy_put(u, e);
	p = &u->pools[c->svc];

	c->result.status = rc == CURLE_OK ? status : 0;
	c->result.body = rc == CURLE_OK ? (c->buf != NULL ? c->buf : "") : NULL;
	c->result.len = rc == CURLE_OK ? c->buflen : 0;
	if (rc == CURLE_OPERATION_TIMEDOUT)
		c->result.err = PART_TIMEOUT;
	else if (rc == CURLE_WRITE_ERROR || rc == CURLE_WEIRD_SERVER_REPLY)
		c->result.err = PART_BAD_RESPONSE;
	else if (rc != CURLE_OK || status >= 500)
		c->result.err = PART_UNAVAILABLE;
	else
		c->result.err = PART_OK;
	ok = c->result.err == PART_OK || c->result.err == PART_BAD_RESPONSE;

	if (c->probe) {
		bool now_ok = rc == CURLE_OK && status == 200;

		if (!c->inst->removed && c->inst->healthy != now_ok)
			log_warn("msg=\"instance %s\" upstream=%s instance=%s status=%ld error=\"%s\"",
			    now_ok ? "healthy again" : "unhealthy: /readyz failed", p->name,
			    c->inst->addr, status, curl_easy_strerror(rc));
		pool_checked(p, c->inst, now_ok);	/* may free a removed instance */
		c->inst = NULL;
		u->running--;
		c->done(c);
		return;
	}
	{
		struct pool_instance *i = c->inst;
		uint64_t was = i->ejected_until_ms, now = clock_ms();
		bool removed = i->removed;
		char addr[128];

		snprintf(addr, sizeof(addr), "%s", i->addr);
		pool_done(p, i, ok, now);	/* may free i */
		if (!removed && !ok && i->ejected_until_ms != was)
			log_warn("msg=\"instance ejected\" upstream=%s instance=%s for_ms=%llu "
			    "error=%s", p->name, addr, (unsigned long long)(i->ejected_until_ms - now),
			    rc != CURLE_OK ? curl_easy_strerror(rc) : "5xx answer");
	}
	c->inst = NULL;
	note_breaker(u, c->svc);
	metric_add(ok ? u->m[c->svc].ok : u->m[c->svc].failed, 1);
	metric_set(u->m[c->svc].in_flight, (long)p->in_flight);
	count_eligible(u, c->svc);
	if (!ok && c->idempotent && c->tries <= u->retries && !atomic_load(&u->stop)) {
		uint32_t d = backoff_delay_ms(&u->backoff, c->tries - 1, backoff_random());

		log_debug("msg=\"retrying\" upstream=%s path=%s try=%u delay_ms=%u", p->name,
		    c->path, c->tries + 1, d);
		upstream_timer_add(u, &c->timer, clock_ms() + d);
		return;
	}
	u->running--;
	c->done(c);
}

/* ---- health checks ----------------------------------------------------------- */

struct probe {
	struct upstream_call call;
	struct pool *pool;
};

static void
probe_done(struct upstream_call *c)
{
	struct probe *pr = c->arg;
	struct upstream *u = c->u;

	upstream_call_release(c);
	count_eligible(u, c->svc);
	free(pr);
}

/* Every health_interval_ms: GET /readyz of each instance not being checked yet. */
static void
on_health_timer(struct upstream_timer *t)
{
	struct upstream *u = (struct upstream *)((char *)t - offsetof(struct upstream, health_timer));

	for (int s = 0; s < SVC__COUNT; s++) {
		struct pool *p = &u->pools[s];

		for (size_t k = 0; k < p->ninst; k++) {
			struct pool_instance *i = p->inst[k];
			struct probe *pr;

			if (i->checking)
				continue;
			pr = xcalloc(1, sizeof(*pr));
			pr->call.svc = (enum service_id)s;
			pr->call.probe = true;
			pr->call.inst = i;
			pr->call.done = probe_done;
			pr->call.arg = pr;
			snprintf(pr->call.path, sizeof(pr->call.path), "/readyz");
			i->checking = true;
			upstream_call(u, &pr->call);
		}
		count_eligible(u, (enum service_id)s);
	}
	if (!atomic_load(&u->stop))
		upstream_timer_add(u, t, clock_ms() + (uint64_t)u->health_interval_ms);
}

/* ---- the pools as JSON, for GET /upstreams ------------------------------------ */

#define SNAPSHOT_MS 250

static void
on_snapshot_timer(struct upstream_timer *t)
{
	struct upstream *u = (struct upstream *)((char *)t - offsetof(struct upstream, snapshot_timer));
	struct json_object *all = json_object_new_object();
	uint64_t now = clock_ms();
	char *text;

	for (int s = 0; s < SVC__COUNT; s++) {
		struct pool *p = &u->pools[s];
		struct json_object *o = json_object_new_object(), *v = json_object_new_array();

		json_object_object_add(o, "breaker", json_object_new_string(
		    breaker_state_name(p->breaker.state)));
		json_object_object_add(o, "in_flight", json_object_new_int((int)p->in_flight));
		for (size_t k = 0; k < p->ninst; k++) {
			struct pool_instance *i = p->inst[k];
			struct json_object *e = json_object_new_object();

			json_object_object_add(e, "address", json_object_new_string(i->addr));
			json_object_object_add(e, "healthy", json_object_new_boolean(i->healthy));
			json_object_object_add(e, "ejected", json_object_new_boolean(
			    now < i->ejected_until_ms));
			json_object_object_add(e, "in_flight", json_object_new_int((int)i->in_flight));
			json_object_object_add(e, "requests", json_object_new_int64((int64_t)i->requests));
			json_object_object_add(e, "failures", json_object_new_int64((int64_t)i->failures));
			json_object_array_add(v, e);
		}
		json_object_object_add(o, "instances", v);
		json_object_object_add(all, p->name, o);
	}
	text = xstrdup(json_object_to_json_string_ext(all, JSON_C_TO_STRING_PLAIN));
	json_object_put(all);
	pthread_mutex_lock(&u->lock);
	free(u->snapshot);
	u->snapshot = text;
	pthread_mutex_unlock(&u->lock);
	if (!atomic_load(&u->stop))
		upstream_timer_add(u, t, now + SNAPSHOT_MS);
}

char *
upstream_snapshot(struct upstream *u)
{
	char *s;

	pthread_mutex_lock(&u->lock);
	s = xstrdup(u->snapshot != NULL ? u->snapshot : "{}");
	pthread_mutex_unlock(&u->lock);
	return s;
}

/* ---- the thread ------------------------------------------------------------- */

void
upstream_submit(struct upstream *u, struct upstream_task *t)
{
	t->next = NULL;
	pthread_mutex_lock(&u->lock);
	*u->tasks_tail = t;
	u->tasks_tail = &t->next;
	pthread_mutex_unlock(&u->lock);
	curl_multi_wakeup(u->multi);
}

void
upstream_reload(struct upstream *u, const struct conf *cfg)
{
	pthread_mutex_lock(&u->lock);
	for (int s = 0; s < SVC__COUNT; s++) {
		free(u->pending_lists[s]);
		u->pending_lists[s] = xstrdup(cfg->gw.instances[s]);
	}
	pthread_mutex_unlock(&u->lock);
	curl_multi_wakeup(u->multi);
}

bool
upstream_ready(struct upstream *u)
{
	return atomic_load(&u->order_ready);
}

unsigned
upstream_retry_after(struct upstream *u, enum service_id svc)
{
	uint64_t ms = breaker_wait_ms(&u->pools[svc].breaker, clock_ms());

	return ms < 1000 ? 1 : (unsigned)((ms + 999) / 1000);
}

/* Take what other threads handed over: tasks and a reload's lists. */
static void
take_handovers(struct upstream *u)
{
	struct upstream_task *t;
	char *lists[SVC__COUNT];

	pthread_mutex_lock(&u->lock);
	t = u->tasks;
	u->tasks = NULL;
	u->tasks_tail = &u->tasks;
	memcpy(lists, u->pending_lists, sizeof(lists));
	memset(u->pending_lists, 0, sizeof(u->pending_lists));
	pthread_mutex_unlock(&u->lock);

	for (int s = 0; s < SVC__COUNT; s++) {
		size_t changed;

		if (lists[s] == NULL)
			continue;
		changed = pool_set(&u->pools[s], lists[s]);
		if (changed > 0)
			log_info("msg=\"instances changed\" upstream=%s instances=%s changes=%zu",
			    u->pools[s].name, lists[s], changed);
		free(lists[s]);
		count_eligible(u, (enum service_id)s);
	}
	while (t != NULL) {
		struct upstream_task *next = t->next;

		t->run(t);
		t = next;
	}
}

static void *
run(void *arg)
{
	struct upstream *u = arg;

	upstream_timer_add(u, &u->health_timer, 0);
	upstream_timer_add(u, &u->snapshot_timer, 0);
	for (;;) {
		CURLMsg *msg;
		long wait_ms;
		int left, running;

		take_handovers(u);
		wait_ms = run_timers(u, 1000);
		if (atomic_load(&u->stop) && u->running == 0) {
			bool idle;

			pthread_mutex_lock(&u->lock);
			idle = u->tasks == NULL;
			pthread_mutex_unlock(&u->lock);
			if (idle)
				break;
		}
		curl_multi_perform(u->multi, &running);
		while ((msg = curl_multi_info_read(u->multi, &left)) != NULL)
			if (msg->msg == CURLMSG_DONE)
				transfer_done(u, msg->easy_handle, msg->data.result);
		if (u->tasks == NULL)
			curl_multi_poll(u->multi, NULL, 0, (int)wait_ms, NULL);
		curl_multi_perform(u->multi, &running);
		while ((msg = curl_multi_info_read(u->multi, &left)) != NULL)
			if (msg->msg == CURLMSG_DONE)
				transfer_done(u, msg->easy_handle, msg->data.result);
	}
	return NULL;
}

struct upstream *
upstream_start(const struct conf *cfg, char **cause)
{
	struct upstream *u = xcalloc(1, sizeof(*u));
	struct pool_params pp = {
		.balance = strcmp(cfg->gw.balance, "round_robin") == 0 ? POOL_ROUND_ROBIN :
		    POOL_LEAST_IN_FLIGHT,
		.max_in_flight = (unsigned)cfg->gw.max_in_flight,
		.eject_failures = (unsigned)cfg->gw.eject_failures,
		.eject_ms = (uint64_t)cfg->gw.eject_ms,
		.breaker_failures = (unsigned)cfg->gw.breaker_failures,
		.breaker_recovery_ms = (uint64_t)cfg->gw.breaker_recovery_ms,
		.breaker_successes = 1,
	};

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		*cause = xstrdup("curl_global_init failed");
		free(u);
		return NULL;
	}
	u->multi = curl_multi_init();
	curl_multi_setopt(u->multi, CURLMOPT_MAXCONNECTS, (long)(3 * cfg->gw.max_in_flight));
	pthread_mutex_init(&u->lock, NULL);
	u->tasks_tail = &u->tasks;
	u->spare = xcalloc(EASY_SPARE, sizeof(*u->spare));
	u->backoff.base_ms = (uint32_t)cfg->gw.retry_base_ms;
	u->backoff.max_ms = (uint32_t)cfg->gw.timeout_ms;
	u->backoff.jitter_pct = 100;	/* full jitter */
	u->retries = (unsigned)cfg->gw.retries;
	u->connect_timeout_ms = cfg->gw.connect_timeout_ms;
	u->timeout_ms = cfg->gw.timeout_ms;
	u->health_interval_ms = cfg->gw.health_interval_ms;
	u->health_timer.fn = on_health_timer;
	u->snapshot_timer.fn = on_snapshot_timer;
	register_metrics(u);
	for (int s = 0; s < SVC__COUNT; s++) {
		pool_init(&u->pools[s], service_name((enum service_id)s), &pp);
		pool_set(&u->pools[s], cfg->gw.instances[s]);
		count_eligible(u, (enum service_id)s);
	}
	if (pthread_create(&u->thread, NULL, run, u) != 0) {
		*cause = xstrdup("cannot start the upstream thread");
		upstream_stop(u);
		return NULL;
	}
	return u;
}

void
upstream_stop(struct upstream *u)
{
	if (u == NULL)
		return;
	if (u->thread != 0) {
		atomic_store(&u->stop, 1);
		curl_multi_wakeup(u->multi);
		pthread_join(u->thread, NULL);
	}
	while (u->nspare > 0)
		curl_easy_cleanup(u->spare[--u->nspare]);
	curl_multi_cleanup(u->multi);
	for (int s = 0; s < SVC__COUNT; s++) {
		pool_free(&u->pools[s]);
		free(u->pending_lists[s]);
	}
	pthread_mutex_destroy(&u->lock);
	free(u->spare);
	free(u->heap);
	free(u->snapshot);
	free(u);
	curl_global_cleanup();
}
