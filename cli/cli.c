/*
 * cli: what the chorusctl commands share (see cli.h): error lines,
 * connections that fail with one clear line, publishing events with
 * confirms (one struct broker_batch per window), events built from JSON
 * data, query results shown as text or JSON, and argument helpers.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "clock.h"
#include "cli.h"
#include "escape.h"
#include "xmalloc.h"

void
cli_err(const char *fmt, ...)
{
	char buf[2048];
	va_list ap;

	va_start(ap, fmt);
	escape_vformat(buf, sizeof(buf), ESCAPE_TEXT, fmt, ap);
	va_end(ap);
	fprintf(stderr, "chorusctl: %s\n", buf);
}

void
cli_printf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = escape_vasprintf(ESCAPE_TEXT, fmt, ap);
	va_end(ap);
	fputs(s, stdout);
	free(s);
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
	struct broker_tls tls;
	char *cause = NULL;
	struct broker *b;

	conf_broker_tls(&c->cfg, &tls);
	b = broker_connect(c->cfg.amqp_url, &tls, "chorusctl", (int)c->cfg.heartbeat_s,
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
			cli_err("event %s was unroutable: no queue takes it (returned by the broker, "
			    "nothing kept)", broker_batch_id(bb, i));
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
		/* an event no queue takes is an error here, not kept in chorus.unrouted */
		.return_unroutable = app_id,
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

/* cli_event_fn: the one prepared event. */
static int
the_event(void *arg, size_t i, struct event *ev)
{
	(void)i;
	memcpy(ev, arg, sizeof(*ev));
	return 0;
}

int
cli_publish_one(struct broker *b, const struct event *ev, const char *app_id)
{
	return cli_publish(b, 1, the_event, (void *)(uintptr_t)ev, 1, 0, app_id, NULL, NULL);
}

void
cli_print_json(struct json_object *o)
{
	/* JSON escapes what it holds: printed as it is */
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


/*
 * Wrap data (JSON text) in an envelope of type and validate it into *ev.
 * Returns 0, or EX_DATAERR after printing why.
 */
int
cli_build_event(const char *type, const char *data, size_t len, const char *id, struct event *ev)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *d, *env, *oid;
	char uuid[ENVELOPE_UUID_LEN + 1], now[32], tp[ENVELOPE_TRACEPARENT_LEN + 1];
	char why[ENVELOPE_WHY_MAX];
	const char *body;
	int ret = EX_DATAERR;

	d = json_tokener_parse_ex(tok, data, (int)len);
	if (d == NULL || json_tokener_get_parse_end(tok) < len) {
		size_t end = json_tokener_get_parse_end(tok);
		int trailing = d != NULL;

		while (trailing && end < len && strchr(" \t\r\n", data[end]))
			end++;
		if (d == NULL || end < len) {
			cli_err("invalid event: --data is not one JSON object (%s)", d == NULL ?
			    json_tokener_error_desc(json_tokener_get_error(tok)) : "trailing characters");
			json_object_put(d);
			json_tokener_free(tok);
			return EX_DATAERR;
		}
	}
	json_tokener_free(tok);
	if (!json_object_is_type(d, json_type_object)) {
		cli_err("invalid event: --data must be a JSON object");
		json_object_put(d);
		return EX_DATAERR;
	}
	if (event_type_from_name(type) == EV_UNKNOWN) {
		cli_err("invalid event: unknown type '%s' (OrderCreated, InventoryReserved, ...)", type);
		json_object_put(d);
		return EX_DATAERR;
	}
	if (id == NULL) {
		envelope_new_uuid(uuid);
		id = uuid;
	}
	envelope_now(now);
	envelope_child_traceparent(NULL, tp);
	env = json_object_new_object();
	json_object_object_add(env, "specversion", json_object_new_string("1.0"));
	json_object_object_add(env, "id", json_object_new_string(id));
	json_object_object_add(env, "source", json_object_new_string("chorusctl"));
	json_object_object_add(env, "type", json_object_new_string(type));
	if (json_object_object_get_ex(d, "order_id", &oid))
		json_object_object_add(env, "subject", json_object_get(oid));
	json_object_object_add(env, "time", json_object_new_string(now));
	json_object_object_add(env, "datacontenttype", json_object_new_string("application/json"));
	json_object_object_add(env, "traceparent", json_object_new_string(tp));
	json_object_object_add(env, "data", d);
	body = json_object_to_json_string_ext(env, JSON_C_TO_STRING_PLAIN);
	if (envelope_parse(body, strlen(body), ev, why, sizeof(why)) != 0)
		cli_err("invalid event: %s", why);
	else
		ret = 0;
	json_object_put(env);
	return ret;
}

/* Rows of a query as a JSON array of objects (column names as keys; NULL as null). */
struct json_object *
cli_rows_json(PGresult *res)
{
	struct json_object *arr = json_object_new_array();

	for (int r = 0; r < PQntuples(res); r++) {
		struct json_object *o = json_object_new_object();

		for (int f = 0; f < PQnfields(res); f++) {
			struct json_object *v = NULL;
			const char *s = PQgetvalue(res, r, f);
			Oid t = PQftype(res, f);

			if (PQgetisnull(res, r, f))
				v = NULL;
			else if (t == 20 || t == 21 || t == 23)	/* int8, int2, int4 */
				v = json_object_new_int64(atoll(s));
			else if (t == 16)			/* bool */
				v = json_object_new_boolean(s[0] == 't');
			else if (t == 3802 || t == 114)		/* jsonb, json */
				v = json_tokener_parse(s);
			else
				v = json_object_new_string(s);
			json_object_object_add(o, PQfname(res, f), v);
		}
		json_object_array_add(arr, o);
	}
	return arr;
}

/* Print rows as an aligned text table. */
void
cli_rows_text(PGresult *res)
{
	int nf = PQnfields(res), *w = xcalloc((size_t)nf, sizeof(*w));

	for (int f = 0; f < nf; f++) {
		w[f] = (int)strlen(PQfname(res, f));
		for (int r = 0; r < PQntuples(res); r++)
			if (PQgetlength(res, r, f) > w[f])
				w[f] = PQgetlength(res, r, f) > 60 ? 60 : PQgetlength(res, r, f);
	}
	for (int f = 0; f < nf; f++)
		cli_printf(f + 1 < nf ? "%-*s  " : "%-*s\n", w[f], PQfname(res, f));
	for (int r = 0; r < PQntuples(res); r++)
		for (int f = 0; f < nf; f++)
			cli_printf(f + 1 < nf ? "%-*.*s  " : "%-*.*s\n", w[f], 60,
			    PQgetisnull(res, r, f) ? "-" : PQgetvalue(res, r, f));
	free(w);
}

/* Run a read query on a service database and print it; exit code. */
int
cli_show_query(struct cli *c, enum service_id svc, const char *sql, int n, const char *const *p)
{
	struct db *db = cli_db(c, svc);
	PGresult *res;

	if (db == NULL)
		return EX_UNAVAILABLE;
	res = db_query(db, NULL, sql, n, p);
	if (res == NULL) {
		cli_err("%s database: %s", service_name(svc), db_last_error(db));
		db_close(db);
		return EX_SOFTWARE;
	}
	if (c->json)
		cli_print_json(cli_rows_json(res));
	else
		cli_rows_text(res);
	PQclear(res);
	db_close(db);
	return 0;
}

/* Run one fixture statement and say what it did; exit code. */
int
cli_fixture(struct cli *c, enum service_id svc, const char *sql, int n, const char *const *p,
    const char *done)
{
	int r = cli_exec(c, svc, sql, n, p);

	if (r == 0 && !c->quiet)
		cli_printf("%s\n", done);
	return r;
}
