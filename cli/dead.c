/*
 * chorusctl setup, migrate, declare, outbox and dead: setting up the
 * databases and the broker topology, and looking after the outboxes and the
 * dead-letter queues.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "cli.h"
#include "clock.h"
#include "migrate.h"
#include "topology.h"
#include "xmalloc.h"

int
cmd_migrate(struct cli *c, int argc, char **argv)
{
	enum service_id only = SVC__COUNT;

	if (argc > 2 || (argc == 2 && (only = service_from_name(argv[1])) == SVC__COUNT)) {
		cli_err("usage: chorusctl migrate [order|inventory|payment]");
		return EX_USAGE;
	}
	for (int s = 0; s < SVC__COUNT; s++) {
		struct db *db;
		char *cause = NULL;
		int n;

		if (only != SVC__COUNT && only != (enum service_id)s)
			continue;
		if ((db = cli_db(c, (enum service_id)s)) == NULL)
			return EX_UNAVAILABLE;
		n = migrate_apply(db, c->cfg.schema_dir, (enum service_id)s, &cause);
		db_close(db);
		if (n < 0) {
			cli_err("migrate: %s", cause);
			free(cause);
			return EX_SOFTWARE;
		}
		if (!c->quiet)
			printf("%s: %d migration(s) applied%s\n", service_name((enum service_id)s), n,
			    n == 0 ? " (up to date)" : "");
	}
	return 0;
}

int
cmd_declare(struct cli *c, int argc, char **argv)
{
	struct broker *b;
	struct retry_policy rp;
	char *cause = NULL;

	(void)argv;
	if (argc != 1) {
		cli_err("usage: chorusctl declare");
		return EX_USAGE;
	}
	if ((b = cli_broker(c, 0)) == NULL)
		return EX_UNAVAILABLE;
	conf_retry_policy(&c->cfg, &rp);
	if (topology_declare(b, SVC__COUNT, &rp, &cause) != 0) {
		cli_err("declare: %s", cause);
		free(cause);
		broker_close(b);
		return EX_PROTOCOL;
	}
	broker_close(b);
	if (!c->quiet)
		printf("topology declared: exchanges chorus.order, chorus.inventory, chorus.payment, "
		    "chorus.dead, chorus.unrouted; queues chorus.<service>.events, .retry.<delay> and .dead\n");
	return 0;
}

int
cmd_setup(struct cli *c, int argc, char **argv)
{
	char *one[1] = { argv[0] };
	int r;

	if (argc != 1) {
		cli_err("usage: chorusctl setup");
		return EX_USAGE;
	}
	r = cmd_migrate(c, 1, one);
	return r != 0 ? r : cmd_declare(c, 1, one);
}

int
cmd_outbox(struct cli *c, int argc, char **argv)
{
	struct json_object *arr = json_object_new_array();
	int ret = 0;

	(void)argv;
	if (argc != 1) {
		cli_err("usage: chorusctl outbox");
		json_object_put(arr);
		return EX_USAGE;
	}
	if (!c->json)
		printf("%-10s %8s %12s %10s %s\n", "service", "pending", "oldest_age_s", "published",
		    "failing");
	for (int s = 0; s < SVC__COUNT; s++) {
		struct db *db = cli_db(c, (enum service_id)s);
		struct json_object *o;
		PGresult *res;

		if (db == NULL) {
			ret = EX_UNAVAILABLE;
			break;
		}
		res = db_query(db, NULL,
		    "SELECT count(*) FILTER (WHERE published_at IS NULL), "
		    "  coalesce(extract(epoch FROM now() - min(created_at) FILTER "
		    "    (WHERE published_at IS NULL))::bigint, 0), "
		    "  count(*) FILTER (WHERE published_at IS NOT NULL), "
		    "  count(*) FILTER (WHERE published_at IS NULL AND attempts > 0) FROM outbox", 0, NULL);
		if (res == NULL) {
			cli_err("%s database: %s", service_name((enum service_id)s), db_last_error(db));
			db_close(db);
			ret = EX_SOFTWARE;
			break;
		}
		o = json_object_new_object();
		json_object_object_add(o, "service", json_object_new_string(service_name((enum service_id)s)));
		json_object_object_add(o, "pending", json_object_new_int64(atoll(PQgetvalue(res, 0, 0))));
		json_object_object_add(o, "oldest_pending_age_s", json_object_new_int64(atoll(PQgetvalue(res, 0, 1))));
		json_object_object_add(o, "published", json_object_new_int64(atoll(PQgetvalue(res, 0, 2))));
		json_object_object_add(o, "failing", json_object_new_int64(atoll(PQgetvalue(res, 0, 3))));
		json_object_array_add(arr, o);
		if (!c->json)
			printf("%-10s %8s %12s %10s %s\n", service_name((enum service_id)s),
			    PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
			    PQgetvalue(res, 0, 3));
		PQclear(res);
		db_close(db);
	}
	if (ret == 0 && c->json)
		cli_print_json(arr);
	else
		json_object_put(arr);
	return ret;
}

/* The service named by argv[2], or SVC__COUNT after printing usage. */
static enum service_id
dead_service(int argc, char **argv)
{
	enum service_id s = argc >= 3 ? service_from_name(argv[2]) : SVC__COUNT;

	if (s == SVC__COUNT)
		cli_err("usage: chorusctl dead list | dead show|replay|purge order|inventory|payment [--limit N]");
	return s;
}

static long
limit_arg(int argc, char **argv, long def)
{
	for (int i = 3; i + 1 < argc; i++)
		if (strcmp(argv[i], "--limit") == 0)
			return (long)cli_number(argv[i + 1]);
	return def;
}

static char *
base64(const void *buf, size_t len)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = buf;
	char *out = xmalloc(len / 3 * 4 + 5), *o = out;

	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < len ? (unsigned)p[i + 1] << 8 : 0) |
		    (i + 2 < len ? p[i + 2] : 0);

		*o++ = tab[v >> 18 & 63];
		*o++ = tab[v >> 12 & 63];
		*o++ = i + 1 < len ? tab[v >> 6 & 63] : '=';
		*o++ = i + 2 < len ? tab[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static struct json_object *
delivery_json(const struct delivery *d)
{
	struct json_object *o = json_object_new_object(), *h = json_object_new_object();

	json_object_object_add(o, "message_id", d->message_id ? json_object_new_string(d->message_id) : NULL);
	json_object_object_add(o, "type", d->type ? json_object_new_string(d->type) : NULL);
	json_object_object_add(o, "correlation_id", d->correlation_id ?
	    json_object_new_string(d->correlation_id) : NULL);
	json_object_object_add(o, "reason", delivery_header(d, "x-chorus-reason") ?
	    json_object_new_string(delivery_header(d, "x-chorus-reason")) : NULL);
	for (size_t i = 0; i < d->nheaders; i++)
		json_object_object_add(h, d->headers[i].key, json_object_new_string(d->headers[i].value));
	json_object_object_add(o, "headers", h);
	if (envelope_valid_utf8(d->body, d->len)) {
		json_object_object_add(o, "body", json_object_new_string_len(d->body, (int)d->len));
	} else {
		/* JSON holds text only: bytes that are not UTF-8 go as base64 */
		char *b64 = base64(d->body, d->len);

		json_object_object_add(o, "body", NULL);
		json_object_object_add(o, "body_base64", json_object_new_string(b64));
		free(b64);
	}
	return o;
}

/* dead show: look at up to limit messages without taking them (nacked back). */
static int
dead_show(struct cli *c, enum service_id s, long limit)
{
	struct broker *b = cli_broker(c, 0);
	struct json_object *arr = json_object_new_array();
	char *cause = NULL;
	uint64_t last = 0;
	long n = 0;
	int ret = 0;

	if (b == NULL) {
		json_object_put(arr);
		return EX_UNAVAILABLE;
	}
	while (n < limit) {
		struct delivery d;
		int r = broker_get(b, topology_dead_queue(s), &d, &cause);

		if (r < 0) {
			cli_err("dead show: %s", cause);
			ret = EX_UNAVAILABLE;
			break;
		}
		if (r == 0)
			break;
		last = d.tag;
		n++;
		if (c->json) {
			json_object_array_add(arr, delivery_json(&d));
		} else {
			printf("--- %s #%ld\n  message_id: %s\n  type:       %s\n  order:      %s\n"
			    "  reason:     %s\n  dead at:    %s\n  body:       %.*s%s\n",
			    topology_dead_queue(s), n, d.message_id ? d.message_id : "-",
			    d.type ? d.type : "-", d.correlation_id ? d.correlation_id : "-",
			    delivery_header(&d, "x-chorus-reason") ? delivery_header(&d, "x-chorus-reason") : "-",
			    delivery_header(&d, "x-chorus-dead-at") ? delivery_header(&d, "x-chorus-dead-at") : "-",
			    (int)(d.len > 300 ? 300 : d.len), (char *)d.body, d.len > 300 ? "..." : "");
		}
		delivery_free(&d);
	}
	/* put them all back, in order */
	if (last != 0 && broker_nack(b, last, 1, 1, &cause) != 0) {
		cli_err("dead show: %s", cause);
		ret = EX_UNAVAILABLE;
	}
	if (ret == 0 && c->json)
		cli_print_json(arr);
	else
		json_object_put(arr);
	if (ret == 0 && !c->json && n == 0)
		printf("%s is empty\n", topology_dead_queue(s));
	free(cause);
	broker_close(b);
	return ret;
}

/* dead replay: move up to limit dead letters back to the service's queue, confirmed, then ack. */
static int
dead_replay(struct cli *c, enum service_id s, long limit)
{
	struct broker *in = cli_broker(c, 0), *out = in ? cli_broker(c, 1) : NULL;
	char *cause = NULL;
	long n = 0;
	int ret = 0;

	if (in == NULL || out == NULL) {
		broker_close(in);
		return EX_UNAVAILABLE;
	}
	/* only what is there now: a replayed message that is still poison comes back */
	{
		long now = broker_queue_count(in, topology_dead_queue(s), &cause);

		if (now < 0) {
			cli_err("dead replay: %s", cause);
			free(cause);
			broker_close(out);
			broker_close(in);
			return EX_UNAVAILABLE;
		}
		if (now < limit)
			limit = now;
	}
	while (n < limit) {
		struct delivery d;
		struct broker_header h[16];
		size_t nh = 0;
		enum confirm st = CONFIRM_PENDING;
		const char *ids[1];
		uint64_t tag;
		int r = broker_get(in, topology_dead_queue(s), &d, &cause);

		if (r < 0) {
			ret = EX_UNAVAILABLE;
			break;
		}
		if (r == 0)
			break;
		/* the original message, without what dead-lettering added */
		for (size_t i = 0; i < d.nheaders && nh < 16; i++)
			if (strncmp(d.headers[i].key, "x-chorus-", 9) != 0 &&
			    strncmp(d.headers[i].key, "x-original-", 11) != 0 &&
			    strcmp(d.headers[i].key, "x-death") != 0 &&
			    strncmp(d.headers[i].key, "x-first-death", 13) != 0 &&
			    strncmp(d.headers[i].key, "x-last-death", 12) != 0)
				h[nh++] = d.headers[i];
		{
			struct broker_msg m = {
				.exchange = "",
				.routing_key = topology_queue(s),
				.body = d.body, .len = d.len,
				.content_type = d.content_type, .message_id = d.message_id,
				.type = d.type, .correlation_id = d.correlation_id,
				.app_id = d.app_id, .timestamp = d.timestamp,
				.headers = h, .nheaders = nh, .mandatory = 1,
			};
			ids[0] = d.message_id ? d.message_id : "";
			if (broker_publish(out, &m, &tag, &cause) != 0 ||
			    broker_wait_confirms(out, tag, 1, ids, &st, 30000, &cause) != 0 ||
			    st != CONFIRM_ACK) {
				if (cause == NULL)
					cause = xstrdup("replay not confirmed by the broker");
				delivery_free(&d);
				ret = EX_PROTOCOL;
				break;
			}
		}
		/* only now is the dead letter taken: a failure above leaves it in place */
		if (broker_ack(in, d.tag, 0, &cause) != 0) {
			delivery_free(&d);
			ret = EX_UNAVAILABLE;
			break;
		}
		delivery_free(&d);
		n++;
	}
	if (ret != 0)
		cli_err("dead replay: %s", cause ? cause : "failed");
	else if (!c->quiet)
		printf("replayed %ld message(s) from %s to %s\n", n, topology_dead_queue(s),
		    topology_queue(s));
	free(cause);
	broker_close(out);
	broker_close(in);
	return ret;
}

int
cmd_dead(struct cli *c, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";
	enum service_id s;

	if (strcmp(sub, "list") == 0) {
		struct broker *b = cli_broker(c, 0);
		struct json_object *o = json_object_new_object();
		char *cause = NULL;

		if (b == NULL) {
			json_object_put(o);
			return EX_UNAVAILABLE;
		}
		for (int i = 0; i < SVC__COUNT; i++) {
			long n = broker_queue_count(b, topology_dead_queue((enum service_id)i), &cause);

			if (n < 0) {
				cli_err("dead list: %s (run chorusctl declare?)", cause);
				free(cause);
				json_object_put(o);
				broker_close(b);
				return EX_UNAVAILABLE;
			}
			json_object_object_add(o, topology_dead_queue((enum service_id)i),
			    json_object_new_int64(n));
			if (!c->json)
				printf("%-24s %ld\n", topology_dead_queue((enum service_id)i), n);
		}
		broker_close(b);
		if (c->json)
			cli_print_json(o);
		else
			json_object_put(o);
		return 0;
	}
	if ((s = dead_service(argc, argv)) == SVC__COUNT)
		return EX_USAGE;
	if (strcmp(sub, "show") == 0)
		return dead_show(c, s, limit_arg(argc, argv, 10));
	if (strcmp(sub, "replay") == 0)
		return dead_replay(c, s, limit_arg(argc, argv, 1000000));
	if (strcmp(sub, "purge") == 0) {
		struct broker *b = cli_broker(c, 0);
		char *cause = NULL;
		long n;

		if (b == NULL)
			return EX_UNAVAILABLE;
		n = broker_purge(b, topology_dead_queue(s), &cause);
		broker_close(b);
		if (n < 0) {
			cli_err("dead purge: %s", cause);
			free(cause);
			return EX_UNAVAILABLE;
		}
		if (!c->quiet)
			printf("purged %ld message(s) from %s\n", n, topology_dead_queue(s));
		return 0;
	}
	dead_service(0, argv);
	return EX_USAGE;
}

/*
 * Activity counters: ready messages in the three queues and in their retry
 * (delay) queues, where a delivery that failed transiently waits for its
 * next attempt; pending outbox rows; inbox + outbox rows.
 */
static int
activity(struct cli *c, struct broker *b, long long *ready, long long *pending, long long *rows)
{
	struct retry_policy rp;
	char *cause = NULL;

	conf_retry_policy(&c->cfg, &rp);
	*ready = *pending = *rows = 0;
	for (int s = 0; s < SVC__COUNT; s++) {
		long n = broker_queue_count(b, topology_queue((enum service_id)s), &cause);
		struct db *db;
		PGresult *res;

		for (size_t step = 0; n >= 0 && step < rp.steps; step++) {
			char q[128];
			long r;

			retry_queue_name((enum service_id)s, &rp, (int)step, q, sizeof(q));
			if ((r = broker_queue_count(b, q, &cause)) < 0)
				n = -1;
			else
				n += r;
		}
		if (n < 0) {
			cli_err("wait-quiet: %s", cause);
			free(cause);
			return EX_UNAVAILABLE;
		}
		*ready += n;
		if ((db = cli_db(c, (enum service_id)s)) == NULL)
			return EX_UNAVAILABLE;
		res = db_query(db, NULL, "SELECT (SELECT count(*) FROM outbox WHERE published_at IS NULL), "
		    "(SELECT count(*) FROM outbox) + (SELECT count(*) FROM inbox)", 0, NULL);
		if (res == NULL) {
			cli_err("%s database: %s", service_name((enum service_id)s), db_last_error(db));
			db_close(db);
			return EX_SOFTWARE;
		}
		*pending += atoll(PQgetvalue(res, 0, 0));
		*rows += atoll(PQgetvalue(res, 0, 1));
		PQclear(res);
		db_close(db);
	}
	return 0;
}

/*
 * wait-quiet: until the queues hold no ready message, the outboxes nothing
 * pending, and nothing was consumed or written for `settle` polls in a row
 * (a delivery being handled commits within a poll and shows as activity).
 */
int
cmd_wait_quiet(struct cli *c, int argc, char **argv)
{
	double timeout = 60;
	struct broker *b;
	long long ready, pending, rows, last_rows = -1;
	int calm = 0, r = 0;
	double start;

	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "--timeout") == 0)
			timeout = atof(argv[i + 1]);
	if ((b = cli_broker(c, 0)) == NULL)
		return EX_UNAVAILABLE;
	start = clock_s();
	for (;;) {
		struct timespec ts = { 0, 200 * 1000000L };

		if ((r = activity(c, b, &ready, &pending, &rows)) != 0)
			break;
		calm = (ready == 0 && pending == 0 && rows == last_rows) ? calm + 1 : 0;
		last_rows = rows;
		if (calm >= 3) {
			if (!c->quiet)
				printf("quiet: queues empty, outboxes drained\n");
			break;
		}
		if (clock_s() - start > timeout) {
			cli_err("not quiet after %.0f s: %lld ready in queues, %lld outbox rows pending",
			    timeout, ready, pending);
			r = EX_TEMPFAIL;
			break;
		}
		nanosleep(&ts, NULL);
	}
	broker_close(b);
	return r;
}

/* The password of a URL replaced by "****". */
static char *
mask_url(const char *v)
{
	const char *scheme = strstr(v, "://"), *at, *colon;

	if (scheme == NULL || (at = strchr(scheme + 3, '@')) == NULL)
		return xstrdup(v);
	colon = memchr(scheme + 3, ':', (size_t)(at - scheme - 3));
	if (colon == NULL)
		return xstrdup(v);
	return xasprintf("%.*s:****%s", (int)(colon - v), v, at);
}

int
cmd_config(struct cli *c, int argc, char **argv)
{
	int keys_only = argc == 2 && strcmp(argv[1], "--keys") == 0;
	struct json_object *o = json_object_new_object();

	if (argc > 2 || (argc == 2 && !keys_only)) {
		cli_err("usage: chorusctl config [--keys]");
		json_object_put(o);
		return EX_USAGE;
	}
	for (size_t i = 0; i < conf_key_count(); i++) {
		char *v = conf_key_value(&c->cfg, i), *shown;

		shown = conf_key_secret(i) ? mask_url(v) : xstrdup(v);
		if (keys_only)
			printf("%s\t%s\t%s\n", conf_key_name(i), conf_key_default(i), conf_key_help(i));
		else if (c->json)
			json_object_object_add(o, conf_key_name(i), json_object_new_string(shown));
		else
			printf("%s = %s\n", conf_key_name(i), shown);
		free(v);
		free(shown);
	}
	if (c->json && !keys_only)
		cli_print_json(o);
	else
		json_object_put(o);
	return 0;
}
