/*
 * chorusctl: the operator CLI's entry point: global options, the command
 * table, and the helpers the commands share (see cli.h).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "cli.h"
#include "log.h"
#include "xmalloc.h"

struct command {
	const char *name;
	int (*fn)(struct cli *c, int argc, char **argv);
	const char *usage;
};

static const struct command commands[] = {
	{ "publish", cmd_publish, "publish TYPE --data JSON|@FILE|- [--id UUID] [--count N] [--rate R]\n"
	  "      publish --raw BODY|@FILE|- (--queue Q | --exchange X --routing-key K)" },
	{ "order", cmd_order, "order place --customer C --item SKU:QTY... --total CENTS [--currency CUR] [--id ID] [--wait S]\n"
	  "      order show ID | order list [--status S] [--limit N] | order wait ID [--timeout S]" },
	{ "stock", cmd_stock, "stock set SKU UNITS | stock list" },
	{ "account", cmd_account, "account set CUSTOMER CENTS | account list" },
	{ "setup", cmd_setup, "setup                (declare the topology and apply all migrations)" },
	{ "migrate", cmd_migrate, "migrate [SERVICE]    (apply database migrations)" },
	{ "declare", cmd_declare, "declare              (declare exchanges, queues and bindings)" },
	{ "outbox", cmd_outbox, "outbox               (outbox backlog per service)" },
	{ "dead", cmd_dead, "dead list | dead show SERVICE [--limit N] | dead replay SERVICE [--limit N] | dead purge SERVICE" },
	{ "config", cmd_config, "config [--keys]      (the effective configuration, secrets masked; --keys: every key)" },
	{ "wait-quiet", cmd_wait_quiet, "wait-quiet [--timeout S]  (until queues are empty and outboxes drained)" },
	{ "snapshot", cmd_snapshot, "snapshot             (stock and balances, JSON, for check --baseline)" },
	{ "check", cmd_check, "check [--baseline FILE]  (verify the saga invariants once quiet)" },
	{ "trace", cmd_trace, "trace ORDER_ID [--dead-limit N]  (the saga's timeline across the services)" },
	{ "bench", cmd_bench, BENCH_USAGE },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: chorusctl [-c FILE] [-o KEY=VALUE]... [--json] COMMAND [ARGS]\n"
	    "\n"
	    "The Chorus operator CLI. Commands (each takes --help):\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %s\n", commands[i].usage);
	fprintf(f,
	    "\n"
	    "  -c, --config FILE    config file (default %s)\n"
	    "  -o, --set KEY=VALUE  override a config key; CHORUS_<KEY> in the environment too\n"
	    "      --json           machine-readable output on read commands\n"
	    "  -q, --quiet          print only errors\n"
	    "\n"
	    "Exit codes: 0 ok, 64 usage, 65 invalid data, 69 server unavailable,\n"
	    "75 timed out, 76 not confirmed or unroutable, 78 bad configuration.\n",
	    conf_default_path());
}

void
cli_err(const char *fmt, ...)
{
	char buf[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = ' ';
	fprintf(stderr, "chorusctl: %s\n", buf);
}

struct db *
cli_db(struct cli *c, enum service_id svc)
{
	char *cause = NULL;
	struct db *db;

	db = db_connect(c->cfg.database_url[svc], "chorusctl", (int)c->cfg.connect_timeout_s,
	    c->cfg.statement_timeout_ms, &cause);
	if (db == NULL) {
		cli_err("%s database unavailable: %s", service_name(svc), cause);
		free(cause);
	}
	return db;
}

int
cli_exec(struct cli *c, enum service_id svc, const char *sql, int n, const char *const *p)
{
	struct db *db = cli_db(c, svc);
	PGresult *res;
	int ret = 0;

	if (db == NULL)
		return EX_UNAVAILABLE;
	res = db_query(db, NULL, sql, n, p);
	if (res == NULL) {
		cli_err("%s database: %s", service_name(svc), db_last_error(db));
		ret = db_last_class(db) == DB_TRANSIENT ? EX_UNAVAILABLE : EX_DATAERR;
	}
	PQclear(res);
	db_close(db);
	return ret;
}

struct broker *
cli_broker(struct cli *c, int confirm)
{
	char *cause = NULL;
	struct broker *b;

	b = broker_connect(c->cfg.amqp_url, "chorusctl", (int)c->cfg.heartbeat_s,
	    (int)c->cfg.connect_timeout_s, &cause);
	if (b != NULL && confirm && broker_confirm_mode(b, &cause) != 0) {
		broker_close(b);
		b = NULL;
	}
	if (b == NULL) {
		cli_err("RabbitMQ unavailable: %s", cause);
		free(cause);
	}
	return b;
}

/*
 * Wait for the confirms of what bb holds: 0, or EX_PROTOCOL after printing
 * why (not confirmed in time, returned as unroutable, or nacked).
 */
static int
settle(struct broker_batch *bb)
{
	char *cause = NULL;

	if (broker_batch_wait(bb, CLI_CONFIRM_TIMEOUT_MS, &cause) != 0) {
		cli_err("publish not confirmed: %s", cause);
		free(cause);
		return EX_PROTOCOL;
	}
	for (size_t i = 0; i < broker_batch_count(bb); i++) {
		if (broker_batch_status(bb, i) == CONFIRM_RETURNED) {
			cli_err("event %s was unroutable: returned by the broker", broker_batch_id(bb, i));
			return EX_PROTOCOL;
		}
		if (broker_batch_status(bb, i) == CONFIRM_NACK) {
			cli_err("event %s was refused (nack) by the broker", broker_batch_id(bb, i));
			return EX_PROTOCOL;
		}
	}
	return 0;
}

/* Sleep s seconds (fractions too). */
static void
sleep_s(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

/*
 * Wait until due (clock_s) to keep to a rate, serving the connection
 * meanwhile (heartbeats; confirms that come are recorded in the batch).
 * 0, or EX_UNAVAILABLE after printing why.
 */
static int
pace(struct broker *b, double due)
{
	double left;

	while ((left = due - clock_s()) > 0) {
		char *cause = NULL;

		sleep_s(left > 0.05 ? 0.05 : left);
		if (broker_poll(b, &cause) != 0) {
			cli_err("%s", cause);
			free(cause);
			return EX_UNAVAILABLE;
		}
	}
	return 0;
}

int
cli_publish_event(struct broker_batch *bb, const struct event *ev, const char *app_id,
    double *sent_at)
{
	char *body = envelope_render(ev), *cause = NULL;
	struct broker_event w = {
		.exchange = event_type_exchange(ev->type),
		.routing_key = event_type_routing_key(ev->type),
		.body = body,
		.len = strlen(body),
		.id = ev->id,
		.type = event_type_name(ev->type),
		.subject = ev->subject,
		.app_id = app_id,
		.traceparent = ev->traceparent,
	};
	int r;

	if (sent_at != NULL)
		*sent_at = clock_s();
	r = broker_batch_add_event(bb, &w, &cause);
	free(body);
	if (r != 0) {
		cli_err("%s", cause);
		free(cause);
		return EX_UNAVAILABLE;
	}
	return 0;
}

int
cli_publish(struct broker *b, size_t n, cli_event_fn make, void *arg, size_t window,
    double rate, const char *app_id, double *sent_at, size_t *published)
{
	struct broker_batch *bb = broker_batch_new(b);
	struct event *ev = xcalloc(1, sizeof(*ev));
	double start = clock_s();
	size_t done = 0;
	int ret = 0;

	for (size_t i = 0; i < n; i++) {
		if (rate > 0 && (ret = pace(b, start + (double)i / rate)) != 0)
			break;
		if ((ret = make(arg, i, ev)) != 0 ||
		    (ret = cli_publish_event(bb, ev, app_id, sent_at ? &sent_at[i] : NULL)) != 0)
			break;
		if (broker_batch_count(bb) < window && i + 1 < n)
			continue;
		if ((ret = settle(bb)) != 0)
			break;
		done += broker_batch_count(bb);
		broker_batch_clear(bb);
	}
	if (published != NULL)
		*published = done;
	broker_batch_free(bb);
	free(ev);
	return ret;
}

void
cli_print_json(struct json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

long long
cli_number(const char *s)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0' || *s == '-')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	return v;
}

char *
cli_read_arg(const char *arg, size_t *len)
{
	FILE *f = NULL;
	char *buf = NULL;
	size_t n = 0, cap = 0;

	if (strcmp(arg, "-") == 0)
		f = stdin;
	else if (arg[0] == '@' && (f = fopen(arg + 1, "r")) == NULL) {
		cli_err("%s: %s", arg + 1, strerror(errno));
		return NULL;
	}
	if (f == NULL) {
		*len = strlen(arg);
		return xstrdup(arg);
	}
	for (;;) {
		size_t r;

		if (cap - n < 4096) {
			cap = cap ? cap * 2 : 65536;
			buf = xrealloc(buf, cap);
		}
		r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
		if (r == 0)
			break;
	}
	buf[n] = '\0';
	if (f != stdin)
		fclose(f);
	*len = n;
	return buf;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "set", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli c;
	const char *path = NULL;
	const char **sets = xcalloc((size_t)argc + 1, sizeof(*sets));
	size_t nsets = 0;
	char *cause = NULL;
	int ch, ret = EX_USAGE;

	memset(&c, 0, sizeof(c));
	conf_defaults(&c.cfg);
	/* '+': options end at the command name; the command parses the rest */
	while ((ch = getopt_long(argc, argv, "+c:o:qhV", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 'o': sets[nsets++] = optarg; break;
		case 'j': c.json = 1; break;
		case 'q': c.quiet = 1; break;
		case 'h': usage(stdout); ret = 0; goto out;
		case 'V': printf("chorusctl %s\n", PACKAGE_VERSION); ret = 0; goto out;
		default: usage(stderr); goto out;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		goto out;
	}
	ret = EX_CONFIG;
	if (conf_load_file(&c.cfg, path ? path : conf_default_path(), path != NULL, &cause) != 0 ||
	    conf_load_credentials(&c.cfg, &cause) != 0 ||
	    conf_load_env(&c.cfg, &cause) != 0) {
		cli_err("config: %s", cause);
		goto out;
	}
	for (size_t i = 0; i < nsets; i++)
		if (conf_set_arg(&c.cfg, sets[i], &cause) != 0) {
			cli_err("config: %s", cause);
			goto out;
		}
	/* failures reach the user as one cli_err line each; library warnings would repeat them */
	log_init("chorusctl", LOG_LEVEL_ERROR);
	for (size_t i = 0; i < NCOMMANDS; i++) {
		if (strcmp(commands[i].name, argv[optind]) != 0)
			continue;
		for (int a = optind + 1; a < argc; a++)
			if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
				printf("usage: chorusctl %s\n", commands[i].usage);
				ret = 0;
				goto out;
			}
		/* commands see argv starting at their name; getopt restarts */
		{
			int sub_argc = argc - optind;
			char **sub_argv = argv + optind;

			optind = 0;	/* GNU getopt: 0 restarts scanning from argv[1] */
			ret = commands[i].fn(&c, sub_argc, sub_argv);
		}
		goto out;
	}
	cli_err("unknown command '%s' (chorusctl --help lists them)", argv[optind]);
	ret = EX_USAGE;
out:
	free(cause);
	free(sets);
	conf_free(&c.cfg);
	return ret;
}
