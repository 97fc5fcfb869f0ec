/*
 * worker: the skeleton every Chorus daemon runs (see worker.h).
 *
 * Start-up order, each step failing fast with a clear message:
 *   1. options and configuration (file, credentials, environment, -o
 *      flags) — a bad value stops here, naming the key;
 *   2. logging at the configured level, signals (handlers only set flags);
 *   3. the service's own set-up (its metrics), then the health endpoint
 *      (not ready until connected);
 *   4. the outbox relay thread (publishes what earlier runs left pending),
 *      then the service's REST API when it has one and api_listen is set;
 *   5. the consumer loop: connect, declare topology, consume; READY=1 is
 *      sent to systemd only once it consumes.
 * SIGTERM/SIGINT: the consumer finishes the batch in flight and stops,
 * the relay publishes what is pending, exit 0 within shutdown_timeout. A
 * second signal exits at once.
 */
#include "config.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <amqp.h>
#include <json-c/json_c_version.h>
#include <libpq-fe.h>

#include "broker.h"
#include "clock.h"
#include "consumer.h"
#include "daemon.h"
#include "health.h"
#include "metrics.h"
#include "log.h"
#include "relay.h"
#include "worker.h"
#include "xmalloc.h"

static volatile sig_atomic_t stop_flag;
static volatile sig_atomic_t reload_flag;
static struct relay *the_relay;
static uint64_t watchdog_ms;		/* 0: systemd watches nothing */
static long shutdown_bound_s = 30;	/* SIGTERM to exit, at most */
static int reload_argc;
static char **reload_argv;
static struct conf *live_conf;
static atomic_int consumer_up;		/* connected and consuming */
static atomic_ullong last_tick_ms;	/* when the main loop last turned */
static const char worker_about[] =
    "A Chorus saga worker. Consumes its queue, applies events to its database,\n"
    "and publishes the events it causes through its outbox.";

static void
on_signal(int sig)
{
	static const char late[] = "<3>level=error msg=\"shutdown took longer than shutdown_timeout; exiting\"\n";

	if (sig == SIGHUP) {
		reload_flag = 1;
		return;
	}
	if (sig == SIGALRM) {
		/* the drain outlived its bound: what is not acked comes again */
		if (write(STDERR_FILENO, late, sizeof(late) - 1) < 0)
			_exit(EX_TEMPFAIL);
		_exit(EX_TEMPFAIL);
	}
	if (stop_flag)
		_exit(EX_SOFTWARE);	/* second signal: exit at once */
	stop_flag = 1;
	alarm((unsigned)shutdown_bound_s);
}

static void
on_ready(void)
{
	daemon_notify("READY=1\nSTATUS=consuming");
	log_info("msg=\"ready\"");
}

/*
 * SIGHUP: read the configuration again. The log level applies at once; the
 * other keys need a restart (connections, queues and pools are built from
 * them), which the log says when they changed.
 */
static void
reload(void)
{
	struct conf fresh;
	int check_only = 0;

	daemon_notify("RELOADING=1");
	conf_defaults(&fresh);
	if (daemon_load_conf(reload_argc, reload_argv, worker_about, &fresh, &check_only) != 0) {
		log_error("msg=\"reload refused: configuration invalid, keeping the running one\"");
	} else {
		if (fresh.log_level != live_conf->log_level) {
			log_set_level((enum log_level)fresh.log_level);
			live_conf->log_level = fresh.log_level;
		}
		log_info("msg=\"configuration reloaded\" log_level=%s",
		    log_level_name((enum log_level)fresh.log_level));
	}
	conf_free(&fresh);
	daemon_notify("READY=1");
}

/*
 * Called from the consumer loop at least every quarter second: the
 * watchdog ping (half the interval systemd asked for, so a stuck loop is
 * caught), the STATUS= line, and a pending reload.
 */
static void
on_tick(const struct consumer_stats *st, int connected)
{
	static uint64_t next_status, next_watchdog;
	uint64_t now = clock_ms();

	atomic_store(&consumer_up, connected);
	atomic_store(&last_tick_ms, now);
	if (watchdog_ms > 0 && now >= next_watchdog) {
		daemon_notify("WATCHDOG=1");
		next_watchdog = now + watchdog_ms / 2;
	}
	if (now >= next_status) {
		daemon_notify("STATUS=%s consumed=%lu duplicates=%lu dead_lettered=%lu rollbacks=%lu published=%lu",
		    connected ? "consuming" : "reconnecting", st->consumed, st->duplicates, st->dead,
		    st->rollbacks, the_relay ? relay_published(the_relay) : 0UL);
		next_status = now + 2000;
	}
	if (reload_flag) {
		reload_flag = 0;
		reload();
	}
}

void
worker_outbox_written(void)
{
	if (the_relay != NULL)
		relay_wake(the_relay);
}

/* Readiness: consuming, and the relay connected to both servers. */
static int
is_ready(char *why, size_t whylen)
{
	if (!atomic_load(&consumer_up)) {
		snprintf(why, whylen, "consumer not connected to RabbitMQ and PostgreSQL");
		return 0;
	}
	if (the_relay == NULL || !relay_ready(the_relay)) {
		snprintf(why, whylen, "outbox relay not connected to RabbitMQ and PostgreSQL");
		return 0;
	}
	return 1;
}

/* Liveness: the main loop turned recently (it turns at least every quarter second). */
static int
is_alive(char *why, size_t whylen)
{
	uint64_t last = atomic_load(&last_tick_ms), now = clock_ms();

	if (last != 0 && now - last > 30000) {
		snprintf(why, whylen, "main loop stuck for %llu s", (unsigned long long)((now - last) / 1000));
		return 0;
	}
	return 1;
}

/*
 * The worker's RabbitMQ login must be its service's user: the other
 * services accept its events from that user only. 0, or -1 said on stderr.
 */
static int
check_identity(const struct conf *cfg, enum service_id svc, const char *prog)
{
	char *url = conf_amqp_url(cfg, svc), *user = broker_url_user(url);
	int ret = 0;

	if (user == NULL || strcmp(user, cfg->amqp_user[svc]) != 0) {
		fprintf(stderr, "%s: config: the worker would log in to RabbitMQ as '%s', not as "
		    "%s.amqp_user '%s': set %s.amqp_password (see chorusctl setup --users)\n", prog,
		    user ? user : "?", service_name(svc), cfg->amqp_user[svc], service_name(svc));
		ret = -1;
	}
	free(user);
	free(url);
	return ret;
}

int
worker_main(int argc, char **argv, const struct worker_ops *ops)
{
	const char *svc = service_name(ops->handler.svc);
	struct conf cfg;
	struct http_server *health;
	struct api *api = NULL;
	int check_only = 0, r;

	/* 1. configuration */
	conf_defaults(&cfg);
	reload_argc = argc;
	reload_argv = argv;
	live_conf = &cfg;
	r = daemon_load_conf(argc, argv, worker_about, &cfg, &check_only);
	if (r != 0) {
		conf_free(&cfg);
		return r < 0 ? 0 : r;
	}
	if (check_identity(&cfg, ops->handler.svc, argv[0]) != 0) {
		conf_free(&cfg);
		return EX_CONFIG;
	}
	if (check_only) {
		printf("%s: configuration ok\n", argv[0]);
		conf_free(&cfg);
		return 0;
	}

	/* 2. logging and signals */
	log_init(svc, (enum log_level)cfg.log_level);
	daemon_signals(on_signal);
	shutdown_bound_s = cfg.shutdown_timeout_s;
	watchdog_ms = daemon_watchdog_ms();
	log_info("msg=\"starting\" version=%s pid=%ld librabbitmq=%s json-c=%s libpq=%d "
	    "queue=chorus.%s.events", PACKAGE_VERSION, (long)getpid(), amqp_version(),
	    json_c_version(), PQlibVersion(), svc);

	/* 3. the health endpoint: answers "not ready" until connected */
	metrics_init(ops->handler.svc);
	if (ops->init != NULL)
		ops->init(&cfg);	/* registers the service's metrics: before the endpoint's thread */
	if (ops->api != NULL)
		api_metrics_init();
	{
		char *cause = NULL;

		health = health_start(cfg.health_listen[ops->handler.svc], is_ready, is_alive, &cause);
		if (health == NULL && cause != NULL) {
			log_error("msg=\"cannot start\" error=\"%s\"", cause);
			free(cause);
			conf_free(&cfg);
			return EX_UNAVAILABLE;
		}
	}


	/* 4. the relay: publishes what is pending from earlier runs at once */
	the_relay = relay_start(&cfg, ops->handler.svc, ops->watch_unrouted);
	if (the_relay == NULL) {
		conf_free(&cfg);
		return EX_OSERR;
	}

	/* 4b. the service's API, once the relay is there to publish what it writes */
	if (ops->api != NULL) {
		char *cause = NULL;

		api = api_start(&cfg, ops->handler.svc, ops->api, is_ready, is_alive, &cause);
		if (api == NULL && cause != NULL) {
			log_error("msg=\"cannot start\" error=\"%s\"", cause);
			free(cause);
			http_stop(health);
			relay_stop(the_relay, 1);
			conf_free(&cfg);
			return EX_UNAVAILABLE;
		}
	}

	/* 5. consume until told to stop */
	{
		static const struct consumer_hooks hooks = { on_ready, on_tick };

		consumer_run(&cfg, &ops->handler, the_relay, &stop_flag, &hooks);
	}

	daemon_notify("STOPPING=1\nSTATUS=draining the outbox");
	log_info("msg=\"stopping: publishing what is pending\"");
	api_stop(api);		/* its last commits' rows go out with the relay's drain */
	http_stop(health);	/* first: /readyz must not look at a relay being freed */
	relay_stop(the_relay, (int)cfg.shutdown_timeout_s);
	log_info("msg=\"stopped\"");
	conf_free(&cfg);
	return 0;
}
