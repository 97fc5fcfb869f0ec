/*
 * chorusctl order: placing an order (its OrderCreated, published with
 * confirms), looking at orders across the three services' databases, and
 * waiting for a saga to end.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "clock.h"
#include "cli.h"
#include "xmalloc.h"

/* order list: one line per order (order show has the rest) */
static const char *const order_cols =
    "order_id, status, reason, customer_id, total_cents, currency, "
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS created_utc, "
    "(released_at IS NOT NULL) AS released, (refunded_at IS NOT NULL) AS refunded";

/* --item SKU:QUANTITY appended to items; 0, or -1 after printing why. */
static int
add_item(struct json_object *items, const char *arg)
{
	const char *colon = strrchr(arg, ':');
	struct json_object *it;
	long long q;

	if (colon == NULL || colon == arg || (q = cli_number(colon + 1)) < 0) {
		cli_err("order place: --item takes SKU:QUANTITY, got '%s'", arg);
		return -1;
	}
	it = json_object_new_object();
	json_object_object_add(it, "sku", json_object_new_string_len(arg, (int)(colon - arg)));
	json_object_object_add(it, "quantity", json_object_new_int64(q));
	json_object_array_add(items, it);
	return 0;
}

/*
 * The data of the OrderCreated that order place's options describe (a new
 * order id unless --id), into *data (caller puts it). 0, or EX_USAGE after
 * printing why.
 */
static int
order_data(const struct cli *c, int argc, char **argv, struct json_object **data)
{
	static const struct option opts[] = {
		{ "customer", required_argument, NULL, 'C' },
		{ "item", required_argument, NULL, 'I' },
		{ "total", required_argument, NULL, 'T' },
		{ "currency", required_argument, NULL, 'U' },
		{ "id", required_argument, NULL, 'i' },
		{ "wait", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	struct json_object *items = json_object_new_array();
	const char *customer = NULL, *currency = c->cfg.currency, *id = NULL;
	char gen[40], u[ENVELOPE_UUID_LEN + 1];
	long long total = -1;
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'C': customer = optarg; break;
		case 'U': currency = optarg; break;
		case 'i': id = optarg; break;
		case 'w': break;	/* the caller's */
		case 'T':
			if ((total = cli_number(optarg)) >= 0)
				break;
			cli_err("order place: --total must be a whole number of cents >= 0");
			goto bad;
		case 'I':
			if (add_item(items, optarg) == 0)
				break;
			goto bad;
		default:
			goto bad;
		}
	}
	if (customer == NULL || total < 0 || json_object_array_length(items) == 0) {
		cli_err("usage: chorusctl order place --customer C --item SKU:QTY... --total CENTS "
		    "[--currency CUR] [--id ID] [--wait S]");
		goto bad;
	}
	if (id == NULL) {
		envelope_new_uuid(u);
		snprintf(gen, sizeof(gen), "ord-%.8s", u + 28);	/* random bits (UUIDv7 starts with the time) */
		id = gen;
	}
	*data = json_object_new_object();
	json_object_object_add(*data, "order_id", json_object_new_string(id));
	json_object_object_add(*data, "customer_id", json_object_new_string(customer));
	json_object_object_add(*data, "items", items);
	json_object_object_add(*data, "total_cents", json_object_new_int64(total));
	json_object_object_add(*data, "currency", json_object_new_string(currency));
	return 0;
bad:
	json_object_put(items);
	return EX_USAGE;
}

/* order place: publish an OrderCreated; its order id goes to order_id_out. */
static int
order_place(struct cli *c, int argc, char **argv, char *order_id_out, size_t outlen)
{
	struct json_object *data = NULL;
	struct event *ev = xcalloc(1, sizeof(*ev));
	struct broker *b = NULL;
	const char *json;
	int ret;

	if ((ret = order_data(c, argc, argv, &data)) != 0)
		goto out;
	json = json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN);
	if ((ret = cli_build_event("OrderCreated", json, strlen(json), NULL, ev)) != 0)
		goto out;
	if ((b = cli_broker(c, 1)) == NULL) {
		ret = EX_UNAVAILABLE;
		goto out;
	}
	if ((ret = cli_publish_one(b, ev, "chorusctl")) == 0) {
		strlcpy_(order_id_out, ev->order_id, outlen);
		if (!c->quiet)
			cli_printf("placed order %s (event %s)\n", ev->order_id, ev->id);
	}
out:
	broker_close(b);
	json_object_put(data);
	free(ev);
	return ret;
}

static int
order_show(struct cli *c, const char *id)
{
	static const char *const sql[SVC__COUNT] = {
		"SELECT order_id, status, reason, customer_id, items, total_cents, currency, "
		"created_at, confirmed_at, cancelled_at, released_at, refunded_at, traceparent "
		"FROM orders WHERE order_id = $1",
		"SELECT order_id, reservation_id, status, reason, items, updated_at "
		"FROM reservations WHERE order_id = $1",
		"SELECT order_id, payment_id, status, reason, customer_id, amount_cents, currency, "
		"updated_at FROM payments WHERE order_id = $1",
	};
	static const char *const label[SVC__COUNT] = { "order", "reservation", "payment" };
	struct json_object *all = json_object_new_object();
	const char *p[1] = { id };
	int found = 0, ret = 0;

	for (int s = 0; s < SVC__COUNT; s++) {
		struct db *db = cli_db(c, (enum service_id)s);
		struct json_object *rows;
		PGresult *res;

		if (db == NULL) {
			ret = EX_UNAVAILABLE;
			break;
		}
		res = db_query(db, NULL, sql[s], 1, p);
		if (res == NULL) {
			cli_err("%s database: %s", service_name((enum service_id)s), db_last_error(db));
			db_close(db);
			ret = EX_SOFTWARE;
			break;
		}
		rows = cli_rows_json(res);
		found |= PQntuples(res) > 0;
		if (!c->json) {
			cli_printf("%s (%s service):\n", label[s], service_name((enum service_id)s));
			if (PQntuples(res) == 0)
				cli_printf("  (none)\n");
			for (int f = 0; f < PQnfields(res) && PQntuples(res) > 0; f++)
				cli_printf("  %-15s %s\n", PQfname(res, f),
				    PQgetisnull(res, 0, f) ? "-" : PQgetvalue(res, 0, f));
		}
		json_object_object_add(all, label[s], json_object_array_length(rows) ?
		    json_object_get(json_object_array_get_idx(rows, 0)) : NULL);
		json_object_put(rows);
		PQclear(res);
		db_close(db);
	}
	if (ret == 0 && !found) {
		cli_err("order %s: not known to any service", id);
		ret = EX_NOINPUT;
	}
	if (ret == 0 && c->json)
		cli_print_json(all);
	else
		json_object_put(all);
	return ret;
}

/* Wait until the order is CONFIRMED or CANCELLED; 0, EX_TEMPFAIL on timeout. */
static int
order_wait(struct cli *c, const char *id, double timeout)
{
	struct db *db = cli_db(c, SVC_ORDER);
	const char *p[1] = { id };
	double deadline = clock_s() + timeout;
	char status[32] = "unknown", reason[80] = "";
	int ret = EX_TEMPFAIL;

	if (db == NULL)
		return EX_UNAVAILABLE;
	for (;;) {
		PGresult *res = db_query(db, "wait", "SELECT status, reason FROM orders WHERE order_id = $1",
		    1, p);
		struct timespec ts = { 0, 50 * 1000000L };

		if (res == NULL) {
			cli_err("order database: %s", db_last_error(db));
			ret = EX_UNAVAILABLE;
			break;
		}
		if (PQntuples(res) > 0) {
			strlcpy_(status, PQgetvalue(res, 0, 0), sizeof(status));
			strlcpy_(reason, PQgetvalue(res, 0, 1), sizeof(reason));
		}
		PQclear(res);
		if (strcmp(status, "CONFIRMED") == 0 || strcmp(status, "CANCELLED") == 0) {
			ret = 0;
			break;
		}
		if (clock_s() >= deadline)
			break;
		nanosleep(&ts, NULL);	/* bounded poll of a condition in another process */
	}
	if (ret == 0 && c->json) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "order_id", json_object_new_string(id));
		json_object_object_add(o, "status", json_object_new_string(status));
		json_object_object_add(o, "reason", json_object_new_string(reason));
		cli_print_json(o);
	} else if (ret == 0 && !c->quiet) {
		cli_printf("%s %s%s%s\n", id, status, reason[0] ? " " : "", reason);
	} else if (ret == EX_TEMPFAIL) {
		cli_err("order %s not finished after %.0f s (status %s)", id, timeout, status);
	}
	db_close(db);
	return ret;
}

int
cmd_order(struct cli *c, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";

	if (strcmp(sub, "place") == 0) {
		char id[ENVELOPE_ID_MAX + 1];
		double wait = 0;
		int r;

		for (int i = 2; i + 1 < argc; i++)
			if (strcmp(argv[i], "--wait") == 0)
				wait = atof(argv[i + 1]);
		r = order_place(c, argc - 1, argv + 1, id, sizeof(id));
		if (r == 0 && wait > 0)
			r = order_wait(c, id, wait);
		return r;
	}
	if (strcmp(sub, "show") == 0 && argc == 3)
		return order_show(c, argv[2]);
	if (strcmp(sub, "wait") == 0 && argc >= 3) {
		double timeout = 30;

		for (int i = 3; i + 1 < argc; i++)
			if (strcmp(argv[i], "--timeout") == 0)
				timeout = atof(argv[i + 1]);
		if (timeout <= 0) {
			cli_err("order wait: --timeout must be a positive number of seconds");
			return EX_USAGE;
		}
		return order_wait(c, argv[2], timeout);
	}
	if (strcmp(sub, "list") == 0) {
		const char *status = NULL, *limit = "100";
		char *sql;
		const char *p[2];
		int r;

		for (int i = 2; i + 1 < argc; i += 2) {
			if (strcmp(argv[i], "--status") == 0)
				status = argv[i + 1];
			else if (strcmp(argv[i], "--limit") == 0 && cli_number(argv[i + 1]) >= 0)
				limit = argv[i + 1];
			else {
				cli_err("order list: unknown option '%s'", argv[i]);
				return EX_USAGE;
			}
		}
		p[0] = limit;
		p[1] = status;
		sql = xasprintf("SELECT %s FROM orders WHERE ($2::text IS NULL OR status = $2) "
		    "ORDER BY coalesce(created_at, updated_at) DESC LIMIT $1::int", order_cols);
		r = cli_show_query(c, SVC_ORDER, sql, 2, p);
		free(sql);
		return r;
	}
	cli_err("usage: chorusctl order place|show ID|list|wait ID (chorusctl order --help)");
	return EX_USAGE;
}
