/*
 * health: liveness, readiness and metrics over HTTP (see health.h).
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "health.h"
#include "log.h"
#include "metrics.h"
#include "xmalloc.h"

struct health {
	struct MHD_Daemon *d;
	health_ready_fn ready;
	health_alive_fn alive;
};

static enum MHD_Result
reply(struct MHD_Connection *conn, unsigned status, const char *type, char *body)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body,
	    MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
    const char *version, const char *upload, size_t *upload_size, void **state)
{
	struct health *h = cls;
	char why[256] = "";

	(void)version;
	(void)upload;
	(void)upload_size;
	(void)state;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", xstrdup("GET only\n"));
	if (strcmp(url, "/metrics") == 0)
		return reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
		    metrics_render());
	if (strcmp(url, "/healthz") == 0 || strcmp(url, "/livez") == 0) {
		if (h->alive(why, sizeof(why)))
			return reply(conn, MHD_HTTP_OK, "text/plain", xstrdup("ok\n"));
		return reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", xasprintf("%s\n", why));
	}
	if (strcmp(url, "/readyz") == 0) {
		if (h->ready(why, sizeof(why)))
			return reply(conn, MHD_HTTP_OK, "text/plain", xstrdup("ready\n"));
		return reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain",
		    xasprintf("not ready: %s\n", why));
	}
	return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain",
	    xstrdup("not found: /healthz, /readyz, /metrics\n"));
}

struct health *
health_start(const char *listen, health_ready_fn ready, health_alive_fn alive, char **cause)
{
	struct sockaddr_in sa;
	const char *colon = strrchr(listen, ':');
	const union MHD_DaemonInfo *info;
	struct health *h;
	char host[64];
	long port;
	char *end;

	*cause = NULL;
	if (strcmp(listen, "off") == 0)
		return NULL;
	if (colon == NULL || (size_t)(colon - listen) >= sizeof(host)) {
		*cause = xasprintf("health_listen '%s' is not host:port", listen);
		return NULL;
	}
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	port = strtol(colon + 1, &end, 10);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	if (*end != '\0' || port < 0 || port > 65535 || inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		*cause = xasprintf("health_listen '%s' is not IPv4-address:port", listen);
		return NULL;
	}
	sa.sin_port = htons((uint16_t)port);
	h = xcalloc(1, sizeof(*h));
	h->ready = ready;
	h->alive = alive;
	h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_INTERNAL_POLLING_THREAD,
	    (uint16_t)port, NULL, NULL, handle, h,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)32,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
	    MHD_OPTION_END);
	if (h->d == NULL) {
		*cause = xasprintf("cannot serve health endpoint on %s (port in use?)", listen);
		free(h);
		return NULL;
	}
	info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	log_info("msg=\"health endpoint listening\" address=%s:%u paths=/healthz,/readyz,/metrics",
	    host, info ? info->port : (unsigned)port);
	return h;
}

void
health_stop(struct health *h)
{
	if (h == NULL)
		return;
	MHD_stop_daemon(h->d);
	free(h);
}
