/*
 * chorus-gateway: the front door of Chorus (contract section 7). Start-up
 * order, each step failing fast with a clear message:
 *   1. options and configuration (the workers' own: daemon.h), and the
 *      gateway's keys checked (instance lists, balance);
 *   2. logging, signals (handlers only set flags);
 *   3. the upstream thread (libcurl multi; health checks start at once)
 *      and the routes' metrics, before any server thread reads them;
 *   4. the client listener (http.h) and the health endpoint;
 *   5. READY=1, then the main loop: watchdog, STATUS=, SIGHUP.
 * SIGHUP re-reads the configuration: the log level and the instance lists
 * apply at once, other keys need a restart (the log says which changed).
 * SIGTERM: waiting requests are answered, then the listener closes; a
 * second signal exits at once.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json_c_version.h>
#include <microhttpd.h>

#include "clock.h"
#include "daemon.h"
#include "gateway.h"
#include "health.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "upstream.h"
#include "xmalloc.h"

static const char about[] =
    "The Chorus API gateway: POST /api/v1/orders to the order service, GET\n"
    "/api/v1/orders/{id} merged from the order, inventory and payment services\n"
    "(in parallel, with timeouts, retries, breakers and load balancing), the\n"
    "OpenAPI document and an order page.";

static volatile sig_atomic_t stop_flag, reload_flag;
static uint64_t last_tick_ms;
static struct upstream *the_upstream;

static void
on_signal(int sig)
{
	if (sig == SIGHUP) {
		reload_flag = 1;
		return;
	}
	if (sig == SIGALRM)
		return;		/* the gateway sets no alarm */
	if (stop_flag)
		_exit(EX_SOFTWARE);	/* second signal: exit at once */
	stop_flag = 1;
}

/* The gateway's own keys, beyond what the key table checks. */
static int
check_conf(const struct conf *cfg, const char *prog)
{
	static const char *const keys[SVC__COUNT] = { "gateway.order_instances",
		"gateway.inventory_instances", "gateway.payment_instances" };
	char *cause = NULL;

	for (int s = 0; s < SVC__COUNT; s++)
		if (pool_parse(cfg->gw.instances[s], &cause) != 0) {
			fprintf(stderr, "%s: config: %s: %s\n", prog, keys[s], cause);
			free(cause);
			return EX_CONFIG;
		}
	if (strcmp(cfg->gw.balance, "least_in_flight") != 0 &&
	    strcmp(cfg->gw.balance, "round_robin") != 0) {
		fprintf(stderr, "%s: config: gateway.balance: '%s' is not least_in_flight or "
		    "round_robin\n", prog, cfg->gw.balance);
		return EX_CONFIG;
	}
	return 0;
}

static int
load(int argc, char **argv, struct conf *cfg, int *check_only)
{
	int r = daemon_load_conf(argc, argv, about, cfg, check_only);

	return r != 0 ? r : check_conf(cfg, argv[0]);
}

/* SIGHUP: the log level and the instance lists apply at once. */
static void
reload(int argc, char **argv, struct conf *live)
{
	struct conf fresh;
	int check_only = 0;

	daemon_notify("RELOADING=1");
	conf_defaults(&fresh);
	if (load(argc, argv, &fresh, &check_only) != 0) {
		log_error("msg=\"reload refused: configuration invalid, keeping the running one\"");
	} else {
		log_set_level((enum log_level)fresh.log_level);
		upstream_reload(the_upstream, &fresh);
		for (size_t i = 0; i < conf_key_count(); i++) {
			char *a = conf_key_value(live, i), *b = conf_key_value(&fresh, i);
			const char *k = conf_key_name(i);

			if (strcmp(a, b) != 0 && strncmp(k, "gateway.", 8) == 0 &&
			    strstr(k, "_instances") == NULL)
				log_warn("msg=\"changed key needs a restart\" key=%s", k);
			free(a);
			free(b);
		}
		for (int s = 0; s < SVC__COUNT; s++) {
			free(live->gw.instances[s]);
			live->gw.instances[s] = xstrdup(fresh.gw.instances[s]);
		}
		live->log_level = fresh.log_level;
		log_info("msg=\"configuration reloaded\"");
	}
	conf_free(&fresh);
	daemon_notify("READY=1");
}

static int
is_ready(char *why, size_t whylen)
{
	if (!upstream_ready(the_upstream)) {
		snprintf(why, whylen, "no order service instance is healthy");
		return 0;
	}
	return 1;
}

static int
is_alive(char *why, size_t whylen)
{
	uint64_t now = clock_ms(), last = __atomic_load_n(&last_tick_ms, __ATOMIC_RELAXED);

	if (last != 0 && now - last > 30000) {
		snprintf(why, whylen, "main loop stuck for %llu s",
		    (unsigned long long)((now - last) / 1000));
		return 0;
	}
	return 1;
}

/* GET /upstreams on the health endpoint: each pool, its breaker and instances. */
static void
on_upstreams(struct http_request *req, void *arg)
{
	char *s = upstream_snapshot(the_upstream);

	(void)arg;
	http_reply(req, 200, "application/json", s, strlen(s));
	free(s);
}

int
main(int argc, char **argv)
{
	struct conf cfg;
	struct http_server *srv = NULL;
	struct http_server *health = NULL;
	struct gateway *gw = NULL;
	uint64_t watchdog_ms, next_watchdog = 0, next_status = 0;
	char *cause = NULL;
	int check_only = 0, r, ret = EX_UNAVAILABLE;

	/* 1. configuration */
	conf_defaults(&cfg);
	r = load(argc, argv, &cfg, &check_only);
	if (r != 0 || check_only) {
		if (r == 0)
			printf("%s: configuration ok\n", argv[0]);
		conf_free(&cfg);
		return r < 0 ? 0 : r;
	}

	/* 2. logging and signals */
	log_init("gateway", (enum log_level)cfg.log_level);
	daemon_signals(on_signal);
	watchdog_ms = daemon_watchdog_ms();
	log_info("msg=\"starting\" version=%s pid=%ld libcurl=%s libmicrohttpd=%s json-c=%s "
	    "order=%s inventory=%s payment=%s", PACKAGE_VERSION, (long)getpid(),
	    curl_version_info(CURLVERSION_NOW)->version, MHD_get_version(), json_c_version(),
	    cfg.gw.instances[SVC_ORDER], cfg.gw.instances[SVC_INVENTORY],
	    cfg.gw.instances[SVC_PAYMENT]);

	/* 3. the upstream thread and the metrics (registered before any server thread) */
	metrics_init_daemon("gateway");
	the_upstream = upstream_start(&cfg, &cause);
	if (the_upstream == NULL)
		goto fail;
	gw = gateway_new(&cfg, the_upstream);

	/* 4. the listener and the health endpoint */
	{
		struct http_limits lim = {
			.max_body = (size_t)cfg.gw.max_body,
			.max_header = (size_t)cfg.gw.max_header,
			.connections = (unsigned)cfg.gw.max_connections,
			.per_client = (unsigned)cfg.gw.per_client,
			.timeout_s = (unsigned)cfg.gw.idle_timeout_s,
			.threads = (unsigned)cfg.gw.threads,
		};

		srv = http_new("gateway", cfg.gw.listen, &lim, &cause);
		if (srv == NULL)
			goto fail;
		gateway_routes(gw, srv);
		if (http_start(srv, &cause) != 0)
			goto fail;
	}
	if (strcmp(cfg.gw.health_listen, "off") != 0) {
		/* the workers' health endpoint, and the pools as the gateway sees them */
		static const struct http_limits lim = {
			.max_body = 1024, .max_header = 8192, .connections = HEALTH_CONNECTIONS,
			.per_client = HEALTH_PER_CLIENT, .timeout_s = HEALTH_TIMEOUT_S, .threads = 1,
		};

		health = http_new("health endpoint", cfg.gw.health_listen, &lim, &cause);
		if (health == NULL)
			goto fail;
		health_routes(health, is_ready, is_alive);
		http_route(health, "GET", "/upstreams", 0, on_upstreams, NULL);
		if (http_start(health, &cause) != 0)
			goto fail;
	}

	/* 5. serve until told to stop */
	daemon_notify("READY=1\nSTATUS=serving");
	log_info("msg=\"ready\"");
	while (!stop_flag) {
		struct timespec ts = { 0, 250 * 1000000L };
		uint64_t now = clock_ms();

		__atomic_store_n(&last_tick_ms, now, __ATOMIC_RELAXED);
		if (watchdog_ms > 0 && now >= next_watchdog) {
			daemon_notify("WATCHDOG=1");
			next_watchdog = now + watchdog_ms / 2;
		}
		if (now >= next_status) {
			daemon_notify("STATUS=serving in_flight=%u order=%s", gateway_open(gw),
			    upstream_ready(the_upstream) ? "available" : "unavailable");
			next_status = now + 2000;
		}
		if (reload_flag) {
			reload_flag = 0;
			reload(argc, argv, &cfg);
		}
		nanosleep(&ts, NULL);
	}

	/* answer what waits, then close: bounded by shutdown_timeout */
	daemon_notify("STOPPING=1\nSTATUS=answering the requests in flight");
	log_info("msg=\"stopping: answering the requests in flight\" in_flight=%u", gateway_open(gw));
	gateway_drain(gw);
	{
		uint64_t until = clock_ms() + (uint64_t)cfg.shutdown_timeout_s * 1000;

		while (gateway_open(gw) > 0 && clock_ms() < until) {
			struct timespec ts = { 0, 20 * 1000000L };

			nanosleep(&ts, NULL);
		}
	}
	ret = 0;
	goto out;
fail:
	log_error("msg=\"cannot start\" error=\"%s\"", cause != NULL ? cause : "?");
	free(cause);
out:
	/* the upstream thread first: the answers it still gives go to a live server */
	http_stop(health);
	upstream_stop(the_upstream);
	http_stop(srv);
	if (gw != NULL)
		gateway_free(gw);
	log_info("msg=\"stopped\"");
	conf_free(&cfg);
	return ret;
}
