/*
 * Fuzz target: the HTTP server's request handling (src/http.c over
 * libmicrohttpd). One server on 127.0.0.1 (port 0) with routes shaped like
 * the services' APIs: GET /v1/orders/{} (a path parameter, a query
 * argument, a header), POST /v1/orders (a JSON body checked by
 * envelope_parse_data, as the order API does; 400/201). Each input is sent
 * as raw bytes on a new connection, the write side closed, the answer read
 * (2 s for its first bytes, then until 50 ms pass without more). Properties: no crash, leak or sanitizer report
 * in the server, and whatever comes back is nothing (a refused request) or
 * starts with an HTTP/1.x status line.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "envelope.h"
#include "fuzz.h"
#include "http.h"
#include "log.h"

static struct http_server *srv;

static void
broken(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_http: %s: %s\n", what, detail);
	abort();
}

static void
on_get(struct http_request *req, void *arg)
{
	const char *id = http_param(req, 0), *tp = http_header(req, "traceparent");
	const char *limit = http_query(req, "limit");
	struct json_object *o = json_object_new_object();

	(void)arg;
	json_object_object_add(o, "order_id", json_object_new_string(id));
	json_object_object_add(o, "limit", limit ? json_object_new_string(limit) : NULL);
	json_object_object_add(o, "traced", json_object_new_boolean(tp != NULL &&
	    envelope_valid_traceparent(tp)));
	json_object_object_add(o, "client", json_object_new_string(http_client(req)));
	http_json(req, envelope_valid_id(id) ? 200 : 404, o);
}

static void
on_post(struct http_request *req, void *arg)
{
	static _Thread_local struct event ev;
	char why[ENVELOPE_WHY_MAX];
	size_t len;
	const char *body = http_body(req, &len);

	(void)arg;
	memset(&ev, 0, sizeof(ev));
	if (envelope_parse_data(EV_ORDER_CREATED, body, len, &ev, why, sizeof(why)) != 0) {
		http_problem(req, 400, "bad_input", NULL, "%s", why);
		return;
	}
	http_header_add(req, "Location", "/v1/orders/x");
	http_reply(req, 201, "application/json", "{}", 2);
}

static unsigned
start(void)
{
	struct http_limits lim = { 65536, 8192, 64, 64, 2, 1 };
	char *cause = NULL;

	log_init("fuzz", LOG_LEVEL_ERROR);
	if ((srv = http_new("fuzz", "127.0.0.1:0", &lim, &cause)) == NULL)
		broken("http_new", cause);
	http_route(srv, "GET", "/v1/orders/{}", 0, on_get, NULL);
	http_route(srv, "POST", "/v1/orders", HTTP_JSON_BODY, on_post, NULL);
	if (http_start(srv, &cause) != 0)
		broken("http_start", cause);
	return http_port(srv);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned port;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char buf[4096];
	size_t got = 0;
	int fd;

	if (port == 0)
		port = start();
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		broken("socket", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		broken("connect", strerror(errno));
	/* the server may close before all is sent (a bad request line): that is fine */
	for (size_t off = 0; off < size;) {
		ssize_t n = send(fd, data + off, size - off, MSG_NOSIGNAL);

		if (n <= 0)
			break;
		off += (size_t)n;
	}
	shutdown(fd, SHUT_WR);
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t n;

		/* a kept-alive connection stays open: once answered, a short wait ends it */
		if (poll(&p, 1, got == 0 ? 2000 : 50) <= 0)
			break;
		n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == sizeof(buf) - 1)
			got = 12;	/* keep the status line, read on */
	}
	close(fd);
	buf[got] = '\0';
	if (got > 0 && strncmp(buf, "HTTP/1.", 7) != 0)
		broken("an answer that is not HTTP", buf);
	return 0;
}
