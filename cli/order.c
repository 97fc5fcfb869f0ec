/*
 * chorusctl order, stock and account: placing and looking at orders across
 * the three services' databases, waiting for a saga to end, and setting
 * fixtures (units on hand, balances).
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

/* Rows of a query as a JSON array of objects (column names as keys; NULL as null). */
static struct json_object *
rows_json(PGresult *res)
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
static void
rows_text(PGresult *res)
{
	int nf = PQnfields(res), *w = xcalloc((size_t)nf, sizeof(*w));

	for (int f = 0; f < nf; f++) {
		w[f] = (int)strlen(PQfname(res, f));
		for (int r = 0; r < PQntuples(res); r++)
			if (PQgetlength(res, r, f) > w[f])
				w[f] = PQgetlength(res, r, f) > 60 ? 60 : PQgetlength(res, r, f);
	}
	for (int f = 0; f < nf; f++)
		printf("%-*s%s", w[f], PQfname(res, f), f + 1 < nf ? "  " : "\n");
	for (int r = 0; r < PQntuples(res); r++)
		for (int f = 0; f < nf; f++)
			printf("%-*.*s%s", w[f], 60, PQgetisnull(res, r, f) ? "-" : PQgetvalue(res, r, f),
			    f + 1 < nf ? "  " : "\n");
	free(w);
}

/* Run a read query on a service database and print it; exit code. */
static int
show_query(struct cli *c, enum service_id svc, const char *sql, int n, const char *const *p)
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
		cli_print_json(rows_json(res));
	else
		rows_text(res);
	PQclear(res);
	db_close(db);
	return 0;
}

/* order list: one line per order (order show has the rest) */
static const char *const order_cols =
    "order_id, status, reason, customer_id, total_cents, currency, "
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS created_utc, "
    "(released_at IS NOT NULL) AS released, (refunded_at IS NOT NULL) AS refunded";

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
		rows = rows_json(res);
		found |= PQntuples(res) > 0;
		if (!c->json) {
			printf("%s (%s service):\n", label[s], service_name((enum service_id)s));
			if (PQntuples(res) == 0)
				printf("  (none)\n");
			for (int f = 0; f < PQnfields(res) && PQntuples(res) > 0; f++)
				printf("  %-15s %s\n", PQfname(res, f),
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
		printf("%s %s%s%s\n", id, status, reason[0] ? " " : "", reason);
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
		r = cmd_order_place(c, argc - 1, argv + 1, id, sizeof(id));
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
		r = show_query(c, SVC_ORDER, sql, 2, p);
		free(sql);
		return r;
	}
	cli_err("usage: chorusctl order place|show ID|list|wait ID (chorusctl order --help)");
	return EX_USAGE;
}

/* Run one fixture statement and say what it did; exit code. */
static int
fixture(struct cli *c, enum service_id svc, const char *sql, int n, const char *const *p,
    const char *done)
{
	int r = cli_exec(c, svc, sql, n, p);

	if (r == 0 && !c->quiet)
		printf("%s\n", done);
	return r;
}

int
cmd_stock(struct cli *c, int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "set") == 0) {
		const char *p[2] = { argv[2], argv[3] };
		char done[200];

		if (!envelope_valid_id(argv[2]) || cli_number(argv[3]) < 0) {
			cli_err("stock set: SKU must be an id ([A-Za-z0-9._:-], 1-64) and UNITS a whole number");
			return EX_USAGE;
		}
		snprintf(done, sizeof(done), "%s: %s units on hand", argv[2], argv[3]);
		/* units on hand cannot go below what is held for pending orders (CHECK) */
		return fixture(c, SVC_INVENTORY,
		    "INSERT INTO stock (sku, on_hand) VALUES ($1, $2::bigint) ON CONFLICT (sku) "
		    "DO UPDATE SET on_hand = EXCLUDED.on_hand, updated_at = now()", 2, p, done);
	}
	if (argc == 2 && strcmp(argv[1], "list") == 0)
		return show_query(c, SVC_INVENTORY,
		    "SELECT sku, on_hand, reserved, on_hand - reserved AS available FROM stock ORDER BY sku",
		    0, NULL);
	cli_err("usage: chorusctl stock set SKU UNITS | stock list");
	return EX_USAGE;
}

int
cmd_account(struct cli *c, int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "set") == 0) {
		const char *p[2] = { argv[2], argv[3] };
		char done[200];

		if (!envelope_valid_id(argv[2]) || cli_number(argv[3]) < 0) {
			cli_err("account set: CUSTOMER must be an id and CENTS a whole number >= 0");
			return EX_USAGE;
		}
		snprintf(done, sizeof(done), "%s: balance %s cents (%s)", argv[2], argv[3], c->cfg.currency);
		return fixture(c, SVC_PAYMENT,
		    "INSERT INTO accounts (customer_id, balance_cents) VALUES ($1, $2::bigint) "
		    "ON CONFLICT (customer_id) DO UPDATE SET balance_cents = EXCLUDED.balance_cents, "
		    "updated_at = now()", 2, p, done);
	}
	if (argc == 2 && strcmp(argv[1], "list") == 0)
		return show_query(c, SVC_PAYMENT,
		    "SELECT customer_id, balance_cents FROM accounts ORDER BY customer_id", 0, NULL);
	cli_err("usage: chorusctl account set CUSTOMER CENTS | account list");
	return EX_USAGE;
}
