/*
 * chorusctl snapshot and check: the invariants of the contract (section 5)
 * checked across the three services' databases, for operators and for the
 * tests. A snapshot taken before a run records units on hand, units sold,
 * balances and confirmed totals; check --baseline compares against it (the
 * stock and money invariants need a "before"). Run check once the system
 * is quiet: it reports each invariant with counts and the first offenders.
 */
#include "config.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "xmalloc.h"

#define SHOW_MAX 5	/* offenders named per invariant */

struct row {
	const char *key;	/* order id (or sku, customer) */
	int idx;		/* row in its PGresult */
};

struct table {
	PGresult *res;
	struct row *rows;
	int n;
};

static int
cmp_row(const void *a, const void *b)
{
	return strcmp(((const struct row *)a)->key, ((const struct row *)b)->key);
}

/* Load a query's rows indexed by column 0. 0, or an exit code. */
static int
load(struct cli *c, enum service_id svc, const char *sql, struct table *t)
{
	struct db *db = cli_db(c, svc);

	memset(t, 0, sizeof(*t));
	if (db == NULL)
		return EX_UNAVAILABLE;
	t->res = db_query(db, NULL, sql, 0, NULL);
	if (t->res == NULL) {
		cli_err("%s database: %s", service_name(svc), db_last_error(db));
		db_close(db);
		return EX_SOFTWARE;
	}
	db_close(db);
	t->n = PQntuples(t->res);
	t->rows = xcalloc((size_t)t->n + 1, sizeof(*t->rows));
	for (int i = 0; i < t->n; i++) {
		t->rows[i].key = PQgetvalue(t->res, i, 0);
		t->rows[i].idx = i;
	}
	qsort(t->rows, (size_t)t->n, sizeof(*t->rows), cmp_row);
	return 0;
}

static void
unload(struct table *t)
{
	PQclear(t->res);
	free(t->rows);
}

/* Column col of the row keyed key, or NULL when there is no such row. */
static const char *
get(const struct table *t, const char *key, int col)
{
	struct row k = { key, 0 }, *r;

	if (t->n == 0)
		return NULL;
	r = bsearch(&k, t->rows, (size_t)t->n, sizeof(*t->rows), cmp_row);
	return r ? PQgetvalue(t->res, r->idx, col) : NULL;
}

static int
eq(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

struct verdict {
	const char *name;
	long checked;
	long failed;
	char first[SHOW_MAX][160];
};

static void
offend(struct verdict *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
offend(struct verdict *v, const char *fmt, ...)
{
	va_list ap;

	if (v->failed < SHOW_MAX) {
		va_start(ap, fmt);
		vsnprintf(v->first[v->failed], sizeof(v->first[0]), fmt, ap);
		va_end(ap);
	}
	v->failed++;
}

static const char *const sql_orders =
    "SELECT order_id, status, reason, coalesce(customer_id, ''), coalesce(total_cents, 0), "
    "created_at IS NOT NULL FROM orders";
static const char *const sql_reservations =
    "SELECT order_id, status FROM reservations";
static const char *const sql_payments =
    "SELECT order_id, status, amount_cents FROM payments";
static const char *const sql_stock =
    "SELECT s.sku, s.on_hand, s.reserved, coalesce(x.sold, 0) FROM stock s LEFT JOIN "
    "(SELECT i->>'sku' AS sku, sum((i->>'quantity')::bigint) AS sold FROM reservations r, "
    " jsonb_array_elements(r.items) i WHERE r.status = 'SOLD' GROUP BY 1) x ON x.sku = s.sku";
static const char *const sql_accounts =
    "SELECT customer_id, balance_cents FROM accounts";
static const char *const sql_confirmed =
    "SELECT customer_id, sum(total_cents) FROM orders WHERE status = 'CONFIRMED' "
    "AND customer_id IS NOT NULL GROUP BY 1";
static const char *const sql_outbox =
    "SELECT 'pending', count(*) FROM outbox WHERE published_at IS NULL";

int
cmd_snapshot(struct cli *c, int argc, char **argv)
{
	struct table stock, acc, conf;
	struct json_object *o, *s, *a;
	int r;

	(void)argv;
	if (argc != 1) {
		cli_err("usage: chorusctl snapshot > FILE");
		return EX_USAGE;
	}
	if ((r = load(c, SVC_INVENTORY, sql_stock, &stock)) != 0)
		return r;
	if ((r = load(c, SVC_PAYMENT, sql_accounts, &acc)) != 0) {
		unload(&stock);
		return r;
	}
	if ((r = load(c, SVC_ORDER, sql_confirmed, &conf)) != 0) {
		unload(&stock);
		unload(&acc);
		return r;
	}
	o = json_object_new_object();
	s = json_object_new_object();
	a = json_object_new_object();
	for (int i = 0; i < stock.n; i++) {
		struct json_object *e = json_object_new_object();
		int k = stock.rows[i].idx;

		json_object_object_add(e, "on_hand", json_object_new_int64(atoll(PQgetvalue(stock.res, k, 1))));
		json_object_object_add(e, "sold", json_object_new_int64(atoll(PQgetvalue(stock.res, k, 3))));
		json_object_object_add(s, stock.rows[i].key, e);
	}
	for (int i = 0; i < acc.n; i++) {
		struct json_object *e = json_object_new_object();
		const char *ct = get(&conf, acc.rows[i].key, 1);

		json_object_object_add(e, "balance", json_object_new_int64(
		    atoll(PQgetvalue(acc.res, acc.rows[i].idx, 1))));
		json_object_object_add(e, "confirmed_total", json_object_new_int64(ct ? atoll(ct) : 0));
		json_object_object_add(a, acc.rows[i].key, e);
	}
	json_object_object_add(o, "stock", s);
	json_object_object_add(o, "accounts", a);
	cli_print_json(o);
	unload(&stock);
	unload(&acc);
	unload(&conf);
	return 0;
}

static long long
jget(struct json_object *o, const char *k1, const char *k2, int *found)
{
	struct json_object *a, *b;

	*found = json_object_object_get_ex(o, k1, &a) && json_object_object_get_ex(a, k2, &b);
	return *found ? json_object_get_int64(b) : 0;
}

int
cmd_check(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "baseline", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	struct verdict v[6] = {
		{ .name = "1 every order ends CONFIRMED or CANCELLED" },
		{ .name = "2 CONFIRMED <=> sold and charged once for the total" },
		{ .name = "3 CANCELLED => nothing held, no net charge" },
		{ .name = "4 stock: on hand before = on hand now + sold; nothing reserved" },
		{ .name = "5 money: balance change = - confirmed totals" },
		{ .name = "6 outboxes drained" },
	};
	struct table ord, res, pay, stock, acc, conf, ob[SVC__COUNT];
	struct json_object *base = NULL, *out;
	const char *baseline = NULL;
	long awaiting = 0;
	int ch, r, failed = 0;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch != 'b') {
			cli_err("usage: chorusctl check [--baseline FILE]");
			return EX_USAGE;
		}
		baseline = optarg;
	}
	if (baseline != NULL) {
		base = json_object_from_file(baseline);
		if (base == NULL) {
			cli_err("check: cannot read baseline %s (from chorusctl snapshot)", baseline);
			return EX_NOINPUT;
		}
	}
	memset(ob, 0, sizeof(ob));
	if ((r = load(c, SVC_ORDER, sql_orders, &ord)) != 0 ||
	    (r = load(c, SVC_INVENTORY, sql_reservations, &res)) != 0 ||
	    (r = load(c, SVC_PAYMENT, sql_payments, &pay)) != 0 ||
	    (r = load(c, SVC_INVENTORY, sql_stock, &stock)) != 0 ||
	    (r = load(c, SVC_PAYMENT, sql_accounts, &acc)) != 0 ||
	    (r = load(c, SVC_ORDER, sql_confirmed, &conf)) != 0 ||
	    (r = load(c, SVC_ORDER, sql_outbox, &ob[0])) != 0 ||
	    (r = load(c, SVC_INVENTORY, sql_outbox, &ob[1])) != 0 ||
	    (r = load(c, SVC_PAYMENT, sql_outbox, &ob[2])) != 0) {
		json_object_put(base);
		return r;	/* what was loaded is released at exit */
	}

	for (int i = 0; i < ord.n; i++) {
		int k = ord.rows[i].idx;
		const char *id = ord.rows[i].key, *st = PQgetvalue(ord.res, k, 1);
		const char *rs = get(&res, id, 1), *ps = get(&pay, id, 1), *amt = get(&pay, id, 2);
		int created = PQgetvalue(ord.res, k, 5)[0] == 't';

		if (!created) {
			awaiting++;	/* events for an order never created: not an order */
			continue;
		}
		v[0].checked++;
		if (!eq(st, "CONFIRMED") && !eq(st, "CANCELLED"))
			offend(&v[0], "%s is %s", id, st ? st : "?");
		if (eq(st, "CONFIRMED")) {
			v[1].checked++;
			if (!eq(rs, "SOLD") || !eq(ps, "COMPLETED") ||
			    !eq(amt, PQgetvalue(ord.res, k, 4)))
				offend(&v[1], "%s CONFIRMED: reservation %s, payment %s of %s (total %s)",
				    id, rs ? rs : "none", ps ? ps : "none", amt ? amt : "-",
				    PQgetvalue(ord.res, k, 4));
		}
		if (eq(st, "CANCELLED")) {
			v[2].checked++;
			if (eq(rs, "RESERVED") || eq(rs, "SOLD") || eq(ps, "COMPLETED"))
				offend(&v[2], "%s CANCELLED (%s): reservation %s, payment %s", id,
				    PQgetvalue(ord.res, k, 2), rs ? rs : "none", ps ? ps : "none");
		}
	}
	/* the other direction of 2: a sale or a charge belongs to a confirmed order */
	for (int i = 0; i < res.n; i++) {
		const char *id = res.rows[i].key, *os = get(&ord, id, 1);

		if (eq(PQgetvalue(res.res, res.rows[i].idx, 1), "SOLD") && !eq(os, "CONFIRMED"))
			offend(&v[1], "%s reservation SOLD but order %s", id, os ? os : "unknown");
		if (eq(PQgetvalue(res.res, res.rows[i].idx, 1), "RESERVED"))
			offend(&v[3], "%s reservation still held", id);
	}
	for (int i = 0; i < pay.n; i++) {
		const char *id = pay.rows[i].key, *os = get(&ord, id, 1);

		if (eq(PQgetvalue(pay.res, pay.rows[i].idx, 1), "COMPLETED") && !eq(os, "CONFIRMED"))
			offend(&v[1], "%s charged but order %s", id, os ? os : "unknown");
	}
	for (int i = 0; i < stock.n; i++) {
		int k = stock.rows[i].idx, found;
		const char *sku = stock.rows[i].key;
		long long on_hand = atoll(PQgetvalue(stock.res, k, 1));
		long long reserved = atoll(PQgetvalue(stock.res, k, 2));
		long long sold = atoll(PQgetvalue(stock.res, k, 3));

		v[3].checked++;
		if (reserved != 0)
			offend(&v[3], "%s has %lld units reserved", sku, reserved);
		if (base != NULL) {
			long long b_on = jget(json_object_object_get(base, "stock"), sku, "on_hand", &found);
			long long b_sold = jget(json_object_object_get(base, "stock"), sku, "sold", &found);

			if (found && b_on != on_hand + (sold - b_sold))
				offend(&v[3], "%s: on hand before %lld != now %lld + sold %lld", sku,
				    b_on, on_hand, sold - b_sold);
		}
	}
	if (base != NULL) {
		for (int i = 0; i < acc.n; i++) {
			const char *cust = acc.rows[i].key, *ct = get(&conf, cust, 1);
			long long bal = atoll(PQgetvalue(acc.res, acc.rows[i].idx, 1));
			long long conf_now = ct ? atoll(ct) : 0;
			int found;
			long long b_bal = jget(json_object_object_get(base, "accounts"), cust, "balance", &found);
			long long b_conf = jget(json_object_object_get(base, "accounts"), cust,
			    "confirmed_total", &found);

			if (!found)
				continue;
			v[4].checked++;
			if (b_bal - bal != conf_now - b_conf)
				offend(&v[4], "%s: balance went %lld -> %lld but confirmed orders total %lld",
				    cust, b_bal, bal, conf_now - b_conf);
		}
	}
	for (int s = 0; s < SVC__COUNT; s++) {
		long long pending = ob[s].n ? atoll(PQgetvalue(ob[s].res, 0, 1)) : 0;

		v[5].checked++;
		if (pending != 0)
			offend(&v[5], "%s outbox has %lld unpublished rows", service_name((enum service_id)s),
			    pending);
	}

	out = json_object_new_array();
	for (int i = 0; i < 6; i++) {
		struct json_object *o = json_object_new_object(), *f = json_object_new_array();
		int skipped = (i == 4 && base == NULL);

		failed += v[i].failed > 0;
		for (long k = 0; k < v[i].failed && k < SHOW_MAX; k++)
			json_object_array_add(f, json_object_new_string(v[i].first[k]));
		json_object_object_add(o, "invariant", json_object_new_string(v[i].name));
		json_object_object_add(o, "ok", json_object_new_boolean(v[i].failed == 0));
		json_object_object_add(o, "checked", json_object_new_int64(v[i].checked));
		json_object_object_add(o, "violations", json_object_new_int64(v[i].failed));
		json_object_object_add(o, "examples", f);
		json_object_array_add(out, o);
		if (!c->json) {
			printf("%-4s %-66s checked=%ld violations=%ld%s\n",
			    v[i].failed ? "FAIL" : skipped ? "skip" : "ok", v[i].name, v[i].checked,
			    v[i].failed, skipped ? " (needs --baseline)" : "");
			for (long k = 0; k < v[i].failed && k < SHOW_MAX; k++)
				printf("       %s\n", v[i].first[k]);
		}
	}
	if (c->json)
		cli_print_json(out);
	else {
		json_object_put(out);
		if (awaiting > 0)
			printf("note: %ld order id(s) have events but no OrderCreated (AWAITING)\n", awaiting);
	}
	unload(&ord);
	unload(&res);
	unload(&pay);
	unload(&stock);
	unload(&acc);
	unload(&conf);
	for (int s = 0; s < SVC__COUNT; s++)
		unload(&ob[s]);
	json_object_put(base);
	return failed ? 1 : 0;
}
