/*
 * Unit tests of the http server on a loopback port: routing and path
 * parameters, the refusals the server makes itself (404, 405, 413, 415,
 * 500), RFC 9457 problems, response headers, keep-alive, and requests
 * suspended and answered from other threads.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "http.h"
#include "log.h"
#include "xmalloc.h"

static struct http_server *srv;
static unsigned port;

static void
on_sync(struct http_request *req, void *arg)
{
	struct json_object *o = json_object_new_object();
	const char *q = http_query(req, "q");

	(void)arg;
	json_object_object_add(o, "id", json_object_new_string(http_param(req, 0)));
	json_object_object_add(o, "q", q != NULL ? json_object_new_string(q) : NULL);
	http_json(req, 200, o);
}

static void
on_echo(struct http_request *req, void *arg)
{
	size_t len;
	const char *body = http_body(req, &len);

	(void)arg;
	http_header_add(req, "Location", "/echo/1");
	http_reply(req, 201, "application/json", body, len);
}

static void *
answer_later(void *p)
{
	struct http_request *req = p;
	struct timespec nap = { 0, 20 * 1000 * 1000 };

	nanosleep(&nap, NULL);
	http_header_add(req, "Retry-After", "3");
	http_problem(req, 503, "busy", "x", "later %d", 1);
	return NULL;
}

static void
on_async(struct http_request *req, void *arg)
{
	pthread_t t;

	(void)arg;
	http_suspend(req);
	pthread_create(&t, NULL, answer_later, req);
	pthread_detach(t);
}

static void
on_none(struct http_request *req, void *arg)
{
	(void)req;
	(void)arg;
}

static int
setup(void **state)
{
	static const struct http_limits lim = {
		.max_body = 100, .max_header = 4096, .connections = 200, .per_client = 200,
		.timeout_s = 5, .threads = 2,
	};
	char *cause = NULL;

	(void)state;
	log_init("test", LOG_LEVEL_ERROR);
	srv = http_new("test", "127.0.0.1:0", &lim, &cause);
	assert_non_null(srv);
	http_route(srv, "GET", "/sync/{}", 0, on_sync, NULL);
	http_route(srv, "POST", "/echo", HTTP_JSON_BODY, on_echo, NULL);
	http_route(srv, "GET", "/async", 0, on_async, NULL);
	http_route(srv, "GET", "/none", 0, on_none, NULL);
	assert_int_equal(http_start(srv, &cause), 0);
	port = http_port(srv);
	assert_true(port > 0);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	http_stop(srv);
	return 0;
}

static int
dial(void)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Read one response (headers and Content-Length body) into buf. */
static void
read_response(int fd, char *buf, size_t size)
{
	size_t n = 0;
	const char *hdr_end, *cl;

	for (;;) {
		ssize_t r;

		buf[n] = '\0';
		hdr_end = strstr(buf, "\r\n\r\n");
		if (hdr_end != NULL) {
			cl = strcasestr(buf, "Content-Length:");
			if (cl != NULL && cl < hdr_end &&
			    n >= (size_t)(hdr_end + 4 - buf) + strtoul(cl + 15, NULL, 10))
				return;
		}
		r = read(fd, buf + n, size - n - 1);
		if (r <= 0)
			return;
		n += (size_t)r;
	}
}

/* Send req on a new connection; the response in buf. */
static void
roundtrip(const char *req, char *buf, size_t size)
{
	int fd = dial();

	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	read_response(fd, buf, size);
	close(fd);
}

static void
want(const char *buf, const char *what)
{
	if (strstr(buf, what) == NULL)
		fail_msg("got %s, want it to contain %s", buf, what);
}

static void
test_routes_and_refusals(void **state)
{
	static const struct {
		const char *req;
		const char *want[3];
	} rows[] = {
		{ "GET /sync/ab%3Ac?q=x%20y HTTP/1.1\r\nHost: t\r\n\r\n",
		  { "HTTP/1.1 200", "{\"id\":\"ab:c\",\"q\":\"x y\"}", "Content-Type: application/json" } },
		{ "HEAD /sync/a HTTP/1.1\r\nHost: t\r\n\r\n", { "HTTP/1.1 200", "", "" } },
		{ "GET /sync/ HTTP/1.1\r\nHost: t\r\n\r\n", { "HTTP/1.1 404", "\"status\":404", "" } },
		{ "GET /sync/a/b HTTP/1.1\r\nHost: t\r\n\r\n", { "HTTP/1.1 404", "", "" } },
		{ "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n",
		  { "HTTP/1.1 404", "Content-Type: application/problem+json",
		    "\"type\":\"urn:chorus:problem:not-found\",\"title\":\"Not Found\"" } },
		{ "DELETE /sync/a HTTP/1.1\r\nHost: t\r\n\r\n", { "HTTP/1.1 405", "Allow: GET", "" } },
		{ "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}",
		  { "HTTP/1.1 201", "Location: /echo/1", "\r\n\r\n{\"a\":1}" } },
		{ "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 2\r\n\r\n{}",
		  { "HTTP/1.1 201", "", "" } },
		{ "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}",
		  { "HTTP/1.1 415", "unsupported-media-type", "" } },
		{ "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}", { "HTTP/1.1 415", "", "" } },
		{ "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/jsonx\r\nContent-Length: 2\r\n\r\n{}",
		  { "HTTP/1.1 415", "", "" } },
		{ "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 101\r\n\r\n",
		  { "HTTP/1.1 413", "\"status\":413", "too-large" } },
		{ "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
		  "40\r\n0123456789012345678901234567890123456789012345678901234567890123\r\n"
		  "40\r\n0123456789012345678901234567890123456789012345678901234567890123\r\n0\r\n\r\n",
		  { "HTTP/1.1 413", "", "" } },
		{ "GET /none HTTP/1.1\r\nHost: t\r\n\r\n", { "HTTP/1.1 500", "no answer was made", "" } },
		{ "GET /async HTTP/1.1\r\nHost: t\r\n\r\n",
		  { "HTTP/1.1 503", "Retry-After: 3",
		    "{\"type\":\"urn:chorus:problem:busy\",\"title\":\"Service Unavailable\",\"status\":503,\"detail\":\"later 1\",\"field\":\"x\"}" } },
	};
	char buf[4096];

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		roundtrip(rows[i].req, buf, sizeof(buf));
		for (size_t j = 0; j < 3; j++)
			want(buf, rows[i].want[j]);
	}
}

static void
test_keep_alive(void **state)
{
	static const char req[] = "GET /sync/k HTTP/1.1\r\nHost: t\r\n\r\n";
	static const char areq[] = "GET /async HTTP/1.1\r\nHost: t\r\n\r\n";
	char buf[4096];
	int fd = dial();

	(void)state;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
		read_response(fd, buf, sizeof(buf));
		want(buf, "HTTP/1.1 200");
		assert_null(strstr(buf, "Connection: close"));
		assert_int_equal(write(fd, areq, strlen(areq)), (ssize_t)strlen(areq));
		read_response(fd, buf, sizeof(buf));
		want(buf, "HTTP/1.1 503");
	}
	close(fd);
}

/* Many suspended at once, answered by their threads: every one answered, once. */
static void
test_many_suspended(void **state)
{
	static const char areq[] = "GET /async HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	enum { N = 100 };
	int fd[N];
	char buf[4096];

	(void)state;
	for (int i = 0; i < N; i++) {
		fd[i] = dial();
		assert_int_equal(write(fd[i], areq, strlen(areq)), (ssize_t)strlen(areq));
	}
	for (int i = 0; i < N; i++) {
		read_response(fd[i], buf, sizeof(buf));
		want(buf, "HTTP/1.1 503");
		close(fd[i]);
	}
}

static void
test_bad_listen(void **state)
{
	static const struct http_limits lim = { 10, 1024, 1, 1, 1, 1 };
	static const char *bad[] = { "nope", "127.0.0.1:", "127.0.0.1:70000", "localhost:80", "1.2.3:4" };
	char *cause = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_null(http_new("t", bad[i], &lim, &cause));
		assert_non_null(cause);
		free(cause);
		cause = NULL;
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes_and_refusals),
		cmocka_unit_test(test_keep_alive),
		cmocka_unit_test(test_many_suspended),
		cmocka_unit_test(test_bad_listen),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
