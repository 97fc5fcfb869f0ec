/*
 * chorusctl trace ORDER_ID: one saga's timeline across the three services,
 * from what each service already keeps: its inbox (what it consumed, when),
 * its outbox (what it emitted, when it was published, which consumed event
 * caused it, its trace context, publish retries) and its dead-letter queue
 * (looked at without taking anything). No tracing infrastructure needed.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "deadletter.h"
#include "topology.h"
#include "xmalloc.h"

struct entry {
	char *time;		/* ISO 8601 UTC, sortable as text */
	const char *service;
	const char *what;	/* consumed, emitted, dead-lettered */
	char *type;
	char *id;
	char *caused_by;
	char *trace;		/* trace id */
	char *detail;
};

struct timeline {
	struct entry *e;
	size_t n, cap;
};

static void
add(struct timeline *t, const char *time, const char *service, const char *what, const char *type,
    const char *id, const char *caused_by, const char *trace, char *detail)
{
	struct entry *e;

	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 32;
		t->e = xrealloc(t->e, t->cap * sizeof(*t->e));
	}
	e = &t->e[t->n++];
	e->time = xstrdup(time);
	e->service = service;
	e->what = what;
	e->type = xstrdup(type ? type : "-");
	e->id = xstrdup(id ? id : "-");
	e->caused_by = xstrdup(caused_by && *caused_by ? caused_by : "-");
	e->trace = xstrdup(trace && *trace ? trace : "-");
	e->detail = detail ? detail : xstrdup("");
}

static int
cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = strcmp(x->time, y->time);

	/* at the same instant, what was consumed comes before what it caused */
	return c != 0 ? c : strcmp(x->what, y->what);
}

#define ISO(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

static int
from_database(struct cli *c, enum service_id s, const char *order_id, struct timeline *t)
{
	const char *p[1] = { order_id };
	struct db *db = cli_db(c, s);
	PGresult *res;

	if (db == NULL)
		return EX_UNAVAILABLE;
	res = db_query(db, NULL, "SELECT " ISO("received_at") ", event_id::text, type, source, "
	    "coalesce(substr(traceparent, 4, 32), '') FROM inbox WHERE order_id = $1", 1, p);
	if (res == NULL)
		goto fail;
	for (int i = 0; i < PQntuples(res); i++)
		add(t, PQgetvalue(res, i, 0), service_name(s), "consumed", PQgetvalue(res, i, 2),
		    PQgetvalue(res, i, 1), NULL, PQgetvalue(res, i, 4),
		    xasprintf("from %s", PQgetvalue(res, i, 3)));
	PQclear(res);
	res = db_query(db, NULL, "SELECT " ISO("created_at") ", id::text, type, "
	    "coalesce(caused_by::text, ''), coalesce(substr(traceparent, 4, 32), ''), "
	    "coalesce(" ISO("published_at") ", ''), "
	    "coalesce(round(extract(epoch FROM published_at - created_at) * 1000)::text, ''), "
	    "attempts, coalesce(last_error, ''), coalesce(payload->'data'->>'reason', '') "
	    "FROM outbox WHERE aggregateid = $1", 1, p);
	if (res == NULL)
		goto fail;
	for (int i = 0; i < PQntuples(res); i++) {
		const char *pub = PQgetvalue(res, i, 5), *reason = PQgetvalue(res, i, 9);
		int attempts = atoi(PQgetvalue(res, i, 7));
		char *detail = xasprintf("%s%s%s%s%s%s%s",
		    *pub ? "published +" : "NOT YET PUBLISHED", *pub ? PQgetvalue(res, i, 6) : "",
		    *pub ? " ms" : "", *reason ? ", reason " : "", reason,
		    attempts > 0 ? ", publish retried: " : "", attempts > 0 ? PQgetvalue(res, i, 8) : "");

		add(t, PQgetvalue(res, i, 0), service_name(s), "emitted", PQgetvalue(res, i, 2),
		    PQgetvalue(res, i, 1), PQgetvalue(res, i, 3), PQgetvalue(res, i, 4), detail);
	}
	PQclear(res);
	db_close(db);
	return 0;
fail:
	cli_err("%s database: %s", service_name(s), db_last_error(db));
	db_close(db);
	return EX_SOFTWARE;
}

/* Dead letters of the order in each dead-letter queue, looked at and put back. */
static int
from_dead_letters(struct cli *c, const char *order_id, long limit, struct timeline *t)
{
	struct broker *b = cli_broker(c, 0);
	char *cause = NULL;
	int ret = 0;

	if (b == NULL)
		return EX_UNAVAILABLE;
	for (int s = 0; s < SVC__COUNT && ret == 0; s++) {
		uint64_t last = 0;

		for (long n = 0; n < limit; n++) {
			struct delivery d;
			int r = broker_get(b, topology_dead_queue((enum service_id)s), &d, &cause);
			const char *at, *why;
			char whybuf[512];

			if (r < 0) {
				cli_err("trace: %s", cause);
				free(cause);
				cause = NULL;
				ret = EX_UNAVAILABLE;
				break;
			}
			if (r == 0)
				break;
			last = d.tag;
			if ((d.correlation_id && strcmp(d.correlation_id, order_id) == 0) ||
			    memmem(d.body, d.len, order_id, strlen(order_id)) != NULL) {
				at = delivery_header(&d, DEADLETTER_DEAD_AT);
				why = deadletter_reason(&d, whybuf, sizeof(whybuf));
				add(t, at ? at : "?", service_name((enum service_id)s), "dead-lettered",
				    d.type, d.message_id, NULL, NULL, xasprintf("reason: %s", why ? why : "?"));
			}
			delivery_free(&d);
		}
		if (last != 0 && broker_nack(b, last, 1, 1, &cause) != 0) {
			cli_err("trace: %s", cause);
			free(cause);
			cause = NULL;
			ret = EX_UNAVAILABLE;
		}
	}
	broker_close(b);
	return ret;
}

static struct json_object *
entry_json(const struct entry *e)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "time", json_object_new_string(e->time));
	json_object_object_add(o, "service", json_object_new_string(e->service));
	json_object_object_add(o, "what", json_object_new_string(e->what));
	json_object_object_add(o, "type", json_object_new_string(e->type));
	json_object_object_add(o, "event_id", json_object_new_string(e->id));
	json_object_object_add(o, "caused_by", json_object_new_string(e->caused_by));
	json_object_object_add(o, "trace_id", json_object_new_string(e->trace));
	json_object_object_add(o, "detail", json_object_new_string(e->detail));
	return o;
}

/* The timeline as a table, or with --json as an array. */
static void
print_timeline(const struct cli *c, const struct timeline *t)
{
	struct json_object *arr = json_object_new_array();

	if (!c->json)
		cli_printf("%-27s %-9s %-13s %-27s %-36s %-8s %s\n", "time (UTC)", "service", "what",
		    "type", "event id", "cause", "detail");
	for (size_t i = 0; i < t->n; i++) {
		const struct entry *e = &t->e[i];

		if (c->json)
			json_object_array_add(arr, entry_json(e));
		else
			cli_printf("%-27s %-9s %-13s %-27s %-36s %-8.8s %s%s%s\n", e->time, e->service,
			    e->what, e->type, e->id, e->caused_by, e->detail,
			    strcmp(e->trace, "-") ? " trace " : "", strcmp(e->trace, "-") ? e->trace : "");
	}
	if (c->json)
		cli_print_json(arr);
	else
		json_object_put(arr);
}

static void
free_entry(struct entry *e)
{
	free(e->time);
	free(e->type);
	free(e->id);
	free(e->caused_by);
	free(e->trace);
	free(e->detail);
}

int
cmd_trace(struct cli *c, int argc, char **argv)
{
	struct timeline t = { 0 };
	const char *order_id = NULL;
	long dead_limit = 1000;
	int ret = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dead-limit") == 0 && i + 1 < argc)
			dead_limit = (long)cli_number(argv[++i]);
		else if (order_id == NULL && argv[i][0] != '-')
			order_id = argv[i];
		else {
			cli_err("usage: chorusctl trace ORDER_ID [--dead-limit N]");
			return EX_USAGE;
		}
	}
	if (order_id == NULL || dead_limit < 0) {
		cli_err("usage: chorusctl trace ORDER_ID [--dead-limit N]");
		return EX_USAGE;
	}
	for (int s = 0; s < SVC__COUNT && ret == 0; s++)
		ret = from_database(c, (enum service_id)s, order_id, &t);
	if (ret == 0)
		ret = from_dead_letters(c, order_id, dead_limit, &t);
	if (ret == 0 && t.n == 0) {
		cli_err("order %s: nothing known of it in any service", order_id);
		ret = EX_NOINPUT;
	}
	if (t.n > 0)
		qsort(t.e, t.n, sizeof(*t.e), cmp_entry);
	if (ret == 0)
		print_timeline(c, &t);
	for (size_t i = 0; i < t.n; i++)
		free_entry(&t.e[i]);
	free(t.e);
	return ret;
}
