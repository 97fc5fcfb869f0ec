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

/* What check looks at: every table it needs, loaded once, and the baseline. */
struct state {
	struct table ord, res, pay, stock, acc, conf, ob[SVC__COUNT];
	struct json_object *base;	/* chorusctl snapshot, or NULL */
};

static int
load_state(struct cli *c, struct state *st)
{
	int r;

	if ((r = load(c, SVC_ORDER, sql_orders, &st->ord)) != 0 ||
	    (r = load(c, SVC_INVENTORY, sql_reservations, &st->res)) != 0 ||
	    (r = load(c, SVC_PAYMENT, sql_payments, &st->pay)) != 0 ||
	    (r = load(c, SVC_INVENTORY, sql_stock, &st->stock)) != 0 ||
	    (r = load(c, SVC_PAYMENT, sql_accounts, &st->acc)) != 0 ||
	    (r = load(c, SVC_ORDER, sql_confirmed, &st->conf)) != 0)
		return r;
	for (int s = 0; s < SVC__COUNT; s++)
		if ((r = load(c, (enum service_id)s, sql_outbox, &st->ob[s])) != 0)
			return r;
	return 0;
}

static void
free_state(struct state *st)
{
	unload(&st->ord);
	unload(&st->res);
	unload(&st->pay);
	unload(&st->stock);
	unload(&st->acc);
	unload(&st->conf);
	for (int s = 0; s < SVC__COUNT; s++)
		unload(&st->ob[s]);
	json_object_put(st->base);
}

/* Column col of order row i (in id order). */
static const char *
order_col(const struct state *st, int i, int col)
{
	return PQgetvalue(st->ord.res, st->ord.rows[i].idx, col);
}

/* An order that only ever got events after it, never its OrderCreated (AWAITING). */
static int
never_created(const struct state *st, int i)
{
	return order_col(st, i, 5)[0] != 't';
}

/* 1. Every order ends CONFIRMED or CANCELLED. */
static void
inv1_orders_end(const struct state *st, struct verdict *v)
{
	for (int i = 0; i < st->ord.n; i++) {
		const char *status = order_col(st, i, 1);

		if (never_created(st, i))
			continue;
		v->checked++;
		if (!eq(status, "CONFIRMED") && !eq(status, "CANCELLED"))
			offend(v, "%s is %s", st->ord.rows[i].key, status);
	}
}

/*
 * 2. CONFIRMED <=> its reservation became a sale and its payment COMPLETED,
 * charged once, for the order total: each confirmed order is sold and
 * charged, and each sale and each charge belongs to a confirmed order.
 */
static void
inv2_confirmed(const struct state *st, struct verdict *v)
{
	for (int i = 0; i < st->ord.n; i++) {
		const char *id = st->ord.rows[i].key, *total = order_col(st, i, 4);
		const char *rs = get(&st->res, id, 1), *ps = get(&st->pay, id, 1);
		const char *amt = get(&st->pay, id, 2);

		if (never_created(st, i) || !eq(order_col(st, i, 1), "CONFIRMED"))
			continue;
		v->checked++;
		if (!eq(rs, "SOLD") || !eq(ps, "COMPLETED") || !eq(amt, total))
			offend(v, "%s CONFIRMED: reservation %s, payment %s of %s (total %s)", id,
			    rs ? rs : "none", ps ? ps : "none", amt ? amt : "-", total);
	}
	for (int i = 0; i < st->res.n; i++) {
		const char *id = st->res.rows[i].key, *os = get(&st->ord, id, 1);

		if (eq(PQgetvalue(st->res.res, st->res.rows[i].idx, 1), "SOLD") && !eq(os, "CONFIRMED"))
			offend(v, "%s reservation SOLD but order %s", id, os ? os : "unknown");
	}
	for (int i = 0; i < st->pay.n; i++) {
		const char *id = st->pay.rows[i].key, *os = get(&st->ord, id, 1);

		if (eq(PQgetvalue(st->pay.res, st->pay.rows[i].idx, 1), "COMPLETED") &&
		    !eq(os, "CONFIRMED"))
			offend(v, "%s charged but order %s", id, os ? os : "unknown");
	}
}

/* 3. CANCELLED => no reservation still held and no net charge. */
static void
inv3_cancelled(const struct state *st, struct verdict *v)
{
	for (int i = 0; i < st->ord.n; i++) {
		const char *id = st->ord.rows[i].key;
		const char *rs = get(&st->res, id, 1), *ps = get(&st->pay, id, 1);

		if (never_created(st, i) || !eq(order_col(st, i, 1), "CANCELLED"))
			continue;
		v->checked++;
		if (eq(rs, "RESERVED") || eq(rs, "SOLD") || eq(ps, "COMPLETED"))
			offend(v, "%s CANCELLED (%s): reservation %s, payment %s", id,
			    order_col(st, i, 2), rs ? rs : "none", ps ? ps : "none");
	}
}

/*
 * 4. Stock: for every SKU, units on hand at start = units on hand now +
 * units sold (with a baseline); nothing left reserved.
 */
static void
inv4_stock(const struct state *st, struct verdict *v)
{
	struct json_object *base = st->base ? json_object_object_get(st->base, "stock") : NULL;

	for (int i = 0; i < st->res.n; i++)
		if (eq(PQgetvalue(st->res.res, st->res.rows[i].idx, 1), "RESERVED"))
			offend(v, "%s reservation still held", st->res.rows[i].key);
	for (int i = 0; i < st->stock.n; i++) {
		int k = st->stock.rows[i].idx, found_on, found_sold;
		const char *sku = st->stock.rows[i].key;
		long long on_hand = atoll(PQgetvalue(st->stock.res, k, 1));
		long long reserved = atoll(PQgetvalue(st->stock.res, k, 2));
		long long sold = atoll(PQgetvalue(st->stock.res, k, 3));
		long long b_on = jget(base, sku, "on_hand", &found_on);
		long long b_sold = jget(base, sku, "sold", &found_sold);

		v->checked++;
		if (reserved != 0)
			offend(v, "%s has %lld units reserved", sku, reserved);
		if (base != NULL && found_sold && b_on != on_hand + (sold - b_sold))
			offend(v, "%s: on hand before %lld != now %lld + sold %lld", sku, b_on,
			    on_hand, sold - b_sold);
	}
}

/* 5. Money: every account's balance changed by exactly minus its confirmed orders' totals. */
static void
inv5_money(const struct state *st, struct verdict *v)
{
	struct json_object *base = st->base ? json_object_object_get(st->base, "accounts") : NULL;

	for (int i = 0; base != NULL && i < st->acc.n; i++) {
		const char *cust = st->acc.rows[i].key, *ct = get(&st->conf, cust, 1);
		long long bal = atoll(PQgetvalue(st->acc.res, st->acc.rows[i].idx, 1));
		long long conf_now = ct ? atoll(ct) : 0;
		int found;
		long long b_bal = jget(base, cust, "balance", &found);
		long long b_conf = jget(base, cust, "confirmed_total", &found);

		if (!found)
			continue;
		v->checked++;
		if (b_bal - bal != conf_now - b_conf)
			offend(v, "%s: balance went %lld -> %lld but confirmed orders total %lld", cust,
			    b_bal, bal, conf_now - b_conf);
	}
}

/* 6. Outbox drained: no unpublished row remains. */
static void
inv6_outboxes(const struct state *st, struct verdict *v)
{
	for (int s = 0; s < SVC__COUNT; s++) {
		long long pending = st->ob[s].n ? atoll(PQgetvalue(st->ob[s].res, 0, 1)) : 0;

		v->checked++;
		if (pending != 0)
			offend(v, "%s outbox has %lld unpublished rows", service_name((enum service_id)s),
			    pending);
	}
}

/* The invariants of the contract (section 5) that the databases show, by number. */
static const struct invariant {
	const char *name;
	void (*check)(const struct state *st, struct verdict *v);
	int needs_baseline;
} invariants[] = {
	{ "1 every order ends CONFIRMED or CANCELLED", inv1_orders_end, 0 },
	{ "2 CONFIRMED <=> sold and charged once for the total", inv2_confirmed, 0 },
	{ "3 CANCELLED => nothing held, no net charge", inv3_cancelled, 0 },
	{ "4 stock: on hand before = on hand now + sold; nothing reserved", inv4_stock, 0 },
	{ "5 money: balance change = - confirmed totals", inv5_money, 1 },
	{ "6 outboxes drained", inv6_outboxes, 0 },
};
#define NINVARIANTS (sizeof(invariants) / sizeof(invariants[0]))

/* Print (or add to out, for --json) the verdict on invariant i; true when it failed. */
static int
report(const struct cli *c, size_t i, const struct verdict *v, int skipped,
    struct json_object *out)
{
	struct json_object *o = json_object_new_object(), *f = json_object_new_array();

	for (long k = 0; k < v->failed && k < SHOW_MAX; k++)
		json_object_array_add(f, json_object_new_string(v->first[k]));
	json_object_object_add(o, "invariant", json_object_new_string(invariants[i].name));
	json_object_object_add(o, "ok", json_object_new_boolean(v->failed == 0));
	json_object_object_add(o, "checked", json_object_new_int64(v->checked));
	json_object_object_add(o, "violations", json_object_new_int64(v->failed));
	json_object_object_add(o, "examples", f);
	json_object_array_add(out, o);
	if (!c->json) {
		cli_printf("%-4s %-66s checked=%ld violations=%ld%s\n",
		    v->failed ? "FAIL" : skipped ? "skip" : "ok", invariants[i].name, v->checked,
		    v->failed, skipped ? " (needs --baseline)" : "");
		for (long k = 0; k < v->failed && k < SHOW_MAX; k++)
			cli_printf("       %s\n", v->first[k]);
	}
	return v->failed > 0;
}

int
cmd_check(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "baseline", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	struct state st;
	struct json_object *out;
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
	memset(&st, 0, sizeof(st));
	if (baseline != NULL && (st.base = json_object_from_file(baseline)) == NULL) {
		cli_err("check: cannot read baseline %s (from chorusctl snapshot)", baseline);
		return EX_NOINPUT;
	}
	if ((r = load_state(c, &st)) != 0) {
		free_state(&st);
		return r;
	}
	out = json_object_new_array();
	for (size_t i = 0; i < NINVARIANTS; i++) {
		struct verdict v;

		memset(&v, 0, sizeof(v));
		invariants[i].check(&st, &v);
		failed |= report(c, i, &v, invariants[i].needs_baseline && st.base == NULL, out);
	}
	for (int i = 0; i < st.ord.n; i++)
		awaiting += never_created(&st, i);
	if (c->json)
		cli_print_json(out);
	else {
		json_object_put(out);
		if (awaiting > 0)
			cli_printf("note: %ld order id(s) have events but no OrderCreated (AWAITING)\n", awaiting);
	}
	free_state(&st);
	return failed ? 1 : 0;
}
