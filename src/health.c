/*
 * health: liveness, readiness and metrics as http routes (see health.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "health.h"
#include "metrics.h"
#include "xmalloc.h"

/* The checks a route calls: one pair per process, whichever server serves them. */
struct health_checks {
	health_ready_fn ready;
	health_alive_fn alive;
};

static struct health_checks checks;

static void
text(struct http_request *req, unsigned status, const char *s)
{
	http_reply(req, status, "text/plain", s, strlen(s));
}

static void
on_metrics(struct http_request *req, void *arg)
{
	char *s = metrics_render();

	(void)arg;
	http_reply(req, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", s, strlen(s));
	free(s);
}

static void
on_healthz(struct http_request *req, void *arg)
{
	const struct health_checks *c = arg;
	char why[256] = "", line[300];

	if (c->alive(why, sizeof(why))) {
		text(req, MHD_HTTP_OK, "ok\n");
		return;
	}
	snprintf(line, sizeof(line), "%s\n", why);
	text(req, MHD_HTTP_SERVICE_UNAVAILABLE, line);
}

static void
on_readyz(struct http_request *req, void *arg)
{
	const struct health_checks *c = arg;
	char why[256] = "", line[300];

	if (c->ready(why, sizeof(why))) {
		text(req, MHD_HTTP_OK, "ready\n");
		return;
	}
	snprintf(line, sizeof(line), "not ready: %s\n", why);
	text(req, MHD_HTTP_SERVICE_UNAVAILABLE, line);
}

void
health_routes(struct http_server *srv, health_ready_fn ready, health_alive_fn alive)
{
	checks.ready = ready;
	checks.alive = alive;
	http_route(srv, "GET", "/healthz", 0, on_healthz, &checks);
	http_route(srv, "GET", "/livez", 0, on_healthz, &checks);
	http_route(srv, "GET", "/readyz", 0, on_readyz, &checks);
	http_route(srv, "GET", "/metrics", 0, on_metrics, NULL);
}

struct http_server *
health_start(const char *listen, health_ready_fn ready, health_alive_fn alive, char **cause)
{
	static const struct http_limits lim = {
		.max_body = 1024,
		.max_header = 8192,
		.connections = HEALTH_CONNECTIONS,
		.per_client = HEALTH_PER_CLIENT,
		.timeout_s = HEALTH_TIMEOUT_S,
		.threads = 1,
	};
	struct http_server *srv;
	char *why = NULL;

	*cause = NULL;
	if (strcmp(listen, "off") == 0)
		return NULL;
	srv = http_new("health endpoint", listen, &lim, &why);
	if (srv == NULL) {
		*cause = xasprintf("health_listen %s", why);
		free(why);
		return NULL;
	}
	health_routes(srv, ready, alive);
	if (http_start(srv, cause) != 0) {
		http_stop(srv);
		return NULL;
	}
	return srv;
}
