/*
 * inventory: the inventory service's batch handler (see inventory.h).
 *
 * Round 1 creates the reservation rows of orders not seen yet, then locks
 * and reads, in this order (the same in every instance, so they never
 * deadlock): the batch's reservations by order id, every stock row the batch
 * may touch by SKU (the items of its OrderCreated events and of the held
 * reservations of its other events), and the units each held reservation
 * has per SKU. The machine then runs over the fresh events in delivery
 * order against the stock in memory (an earlier event's hold counts for a
 * later one), and round 2 writes the changed reservations and stock rows
 * with one UPDATE each.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "machine.h"
#include "inventory.h"
#include "pgarray.h"
#include "xmalloc.h"

/* Units of one SKU. */
struct units {
	char sku[ENVELOPE_ID_MAX + 1];
	long long qty;
};

/* A reservation of the batch: its key first (handler_find_row). */
struct resv {
	char order_id[ENVELOPE_ID_MAX + 1];
	enum inv_status status;
	char reservation_id[ENVELOPE_UUID_LEN + 1];
	char reason[ENVELOPE_ID_MAX + 1];
	struct units *held;		/* units held per SKU (RESERVED) */
	size_t nheld;
	bool found;			/* it has a row (else created if it changes) */
	bool dirty;
	const struct event *created;	/* OrderCreated whose data to record, or NULL */
};

/* A stock row: its key first. */
struct stock {
	char sku[ENVELOPE_ID_MAX + 1];
	long long on_hand, reserved;
	bool dirty;
};

/* What a batch loaded. */
struct inv_batch {
	struct resv *resv;
	size_t nresv;
	struct stock *stock;
	size_t nstock;
};

/* Queue round 1's reads; *at gets the index of the first of the three selects. */
static void
queue_loads(struct handler_ctx *h, const struct event *const *evs, size_t n, size_t *at)
{
	struct pgarray skus = { 0 }, orders = { 0 };
	const char *p[2];

	*at = handler_lock_orders(h, evs, n, "inv_lock",
	    "SELECT order_id, status, coalesce(reservation_id::text, ''), reason "
	    "FROM reservations WHERE order_id = ANY($1::text[]) ORDER BY order_id FOR UPDATE");
	for (size_t i = 0; i < n; i++) {
		pgarray_add(&orders, evs[i]->order_id);
		if (evs[i]->type == EV_ORDER_CREATED)
			for (size_t k = 0; k < evs[i]->n_items; k++)
				pgarray_add(&skus, evs[i]->items[k].sku);
	}
	p[0] = pgarray_text(&skus);
	p[1] = pgarray_text(&orders);
	db_batch_add(h->q, "inv_lock_stock",
	    "SELECT sku, on_hand, reserved FROM stock WHERE sku IN ("
	    "  SELECT unnest($1::text[]) UNION "
	    "  SELECT i->>'sku' FROM reservations r, jsonb_array_elements(r.items) i "
	    "  WHERE r.order_id = ANY($2::text[]) AND r.status = 'RESERVED') "
	    "ORDER BY sku FOR UPDATE", 2, p);
	db_batch_add(h->q, "inv_held",
	    "SELECT r.order_id, i->>'sku', sum((i->>'quantity')::bigint) "
	    "FROM reservations r, jsonb_array_elements(r.items) i "
	    "WHERE r.order_id = ANY($1::text[]) AND r.status = 'RESERVED' GROUP BY 1, 2", 1, p + 1);
	pgarray_free(&skus);
	pgarray_free(&orders);
}

/* Add qty units of sku to a list (the same SKU twice adds up). */
static void
add_units(struct units **v, size_t *n, const char *sku, long long qty)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*v)[i].sku, sku) == 0) {
			(*v)[i].qty += qty;
			return;
		}
	*v = xrealloc(*v, (*n + 1) * sizeof(**v));
	strlcpy_((*v)[*n].sku, sku, sizeof((*v)[*n].sku));
	(*v)[(*n)++].qty = qty;
}

/* Read round 1's results into b, with a new reservation for each order of evs without one. */
static void
load(struct handler_ctx *h, size_t at, const struct event *const *evs, size_t nevs,
    struct inv_batch *b)
{
	PGresult *r = db_batch_result(h->q, at), *s = db_batch_result(h->q, at + 1),
	    *u = db_batch_result(h->q, at + 2);

	b->nresv = (size_t)PQntuples(r);
	b->resv = xcalloc(b->nresv + nevs + 1, sizeof(*b->resv));
	for (int i = 0; i < PQntuples(r); i++) {
		struct resv *v = &b->resv[i];

		strlcpy_(v->order_id, PQgetvalue(r, i, 0), sizeof(v->order_id));
		v->status = inventory_status_from_name(PQgetvalue(r, i, 1));
		if (v->status == INV__STATUS_COUNT)
			v->status = INV_NONE;
		strlcpy_(v->reservation_id, PQgetvalue(r, i, 2), sizeof(v->reservation_id));
		strlcpy_(v->reason, PQgetvalue(r, i, 3), sizeof(v->reason));
		v->found = true;
	}
	handler_add_missing(b->resv, &b->nresv, sizeof(*b->resv), sizeof(b->resv->order_id), evs,
	    nevs);
	b->nstock = (size_t)PQntuples(s);
	b->stock = xcalloc(b->nstock + 1, sizeof(*b->stock));
	for (int i = 0; i < PQntuples(s); i++) {
		strlcpy_(b->stock[i].sku, PQgetvalue(s, i, 0), sizeof(b->stock[i].sku));
		b->stock[i].on_hand = atoll(PQgetvalue(s, i, 1));
		b->stock[i].reserved = atoll(PQgetvalue(s, i, 2));
	}
	handler_sort_rows(b->stock, b->nstock, sizeof(*b->stock));
	for (int i = 0; i < PQntuples(u); i++) {
		struct resv *v = handler_find_row(b->resv, b->nresv, sizeof(*b->resv),
		    PQgetvalue(u, i, 0));

		if (v != NULL)
			add_units(&v->held, &v->nheld, PQgetvalue(u, i, 1), atoll(PQgetvalue(u, i, 2)));
	}
}

static void
batch_free(struct inv_batch *b)
{
	for (size_t i = 0; i < b->nresv; i++)
		free(b->resv[i].held);
	free(b->resv);
	free(b->stock);
}

static struct stock *
stock_of(struct inv_batch *b, const char *sku)
{
	return handler_find_row(b->stock, b->nstock, sizeof(*b->stock), sku);
}

/*
 * Hold every item of the order, or none. 1 held (v->held set), 0 refused
 * (reason and the SKU to blame set).
 */
static int
reserve(struct inv_batch *b, struct resv *v, const struct event *ev, char *reason, char *sku)
{
	struct units *want = NULL;
	size_t nwant = 0;
	int ok = 1;

	for (size_t i = 0; i < ev->n_items; i++)
		add_units(&want, &nwant, ev->items[i].sku, ev->items[i].quantity);
	for (size_t i = 0; i < nwant && ok; i++) {
		struct stock *s = stock_of(b, want[i].sku);

		if (s == NULL || s->on_hand - s->reserved < want[i].qty) {
			strcpy(reason, s == NULL ? "unknown_sku" : "out_of_stock");
			strlcpy_(sku, want[i].sku, ENVELOPE_ID_MAX + 1);
			ok = 0;
		}
	}
	for (size_t i = 0; i < nwant && ok; i++) {
		struct stock *s = stock_of(b, want[i].sku);

		s->reserved += want[i].qty;
		s->dirty = true;
	}
	if (ok) {
		free(v->held);
		v->held = want;
		v->nheld = nwant;
	} else {
		free(want);
	}
	return ok;
}

/* Sell (on_hand and reserved go down) or release (reserved goes down) what v holds. */
static void
settle_stock(struct inv_batch *b, struct resv *v, bool sell)
{
	for (size_t i = 0; i < v->nheld; i++) {
		struct stock *s = stock_of(b, v->held[i].sku);

		if (s == NULL)
			continue;	/* a SKU deleted while held: nothing left to change */
		s->reserved -= v->held[i].qty;
		if (sell)
			s->on_hand -= v->held[i].qty;
		s->dirty = true;
	}
	v->nheld = 0;
}

/* The event the step emits, built from the reservation and the cause. */
static void
emit(struct handler_ctx *h, const struct resv *v, const struct inv_step *step,
    const struct event *ev, const char *sku)
{
	struct event *out;

	if (step->emit == EV_UNKNOWN)
		return;
	out = xcalloc(1, sizeof(*out));
	out->type = step->emit;
	strlcpy_(out->order_id, ev->order_id, sizeof(out->order_id));
	strlcpy_(out->reason, step->reason, sizeof(out->reason));
	strlcpy_(out->reservation_id, v->reservation_id, sizeof(out->reservation_id));
	if (step->emit == EV_INVENTORY_RESERVED) {
		strlcpy_(out->customer_id, ev->customer_id, sizeof(out->customer_id));
		memcpy(out->items, ev->items, ev->n_items * sizeof(ev->items[0]));
		out->n_items = ev->n_items;
		out->total_cents = ev->total_cents;
		memcpy(out->currency, ev->currency, sizeof(out->currency));
	} else if (step->emit == EV_INVENTORY_RESERVATION_FAILED) {
		strlcpy_(out->sku, sku, sizeof(out->sku));
		log_debug("msg=\"reservation refused\" order_id=%s reason=%s sku=%s",
		    ev->order_id, step->reason, sku[0] ? sku : "-");
	}
	handler_emit(h, out, ev);
	free(out);
}

/* Apply one fresh event to its reservation. */
static void
apply_one(struct handler_ctx *h, struct inv_batch *b, struct resv *v, const struct event *ev)
{
	char reason[ENVELOPE_ID_MAX + 1] = "", sku[ENVELOPE_ID_MAX + 1] = "";
	enum inv_status cur = v->status;
	struct inv_step step;
	int held;

	inventory_machine_step(cur, (enum inv_input)inventory_input_of(ev->type), &step);
	switch (step.action) {
	case INV_ACT_RESERVE:
		held = reserve(b, v, ev, reason, sku);
		inventory_machine_reserved(held, reason, &step);
		if (held)
			envelope_new_uuid(v->reservation_id);
		v->created = ev;
		break;
	case INV_ACT_SELL:
	case INV_ACT_RELEASE:
		settle_stock(b, v, step.action == INV_ACT_SELL);
		break;
	case INV_ACT_NONE:
		break;
	}
	if (step.next == cur && step.emit == EV_UNKNOWN)
		return;	/* duplicate, late or out of order: no effect */
	v->status = step.next;
	strlcpy_(v->reason, step.reason, sizeof(v->reason));
	v->dirty = true;
	emit(h, v, &step, ev, sku);
}

/* The columns of changed reservations, one array each, as one statement takes them. */
struct resv_cols {
	struct pgarray a[8];
};

/* The columns both reservation statements take, $1..$8. */
#define RESV_UNNEST \
	"unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], " \
	"  $7::text[], $8::text[]) AS u(order_id, status, reason, rid, items, customer, total, " \
	"  currency)"

static void
resv_add(struct resv_cols *c, const struct resv *v)
{
	const struct event *e = v->created;
	char total[32] = "", *items = e ? envelope_items_json(e) : NULL;

	if (e)
		snprintf(total, sizeof(total), "%lld", (long long)e->total_cents);
	pgarray_add(&c->a[0], v->order_id);
	pgarray_add(&c->a[1], inventory_status_name(v->status));
	pgarray_add(&c->a[2], v->reason);
	pgarray_add(&c->a[3], v->reservation_id);
	pgarray_add(&c->a[4], items ? items : "");
	pgarray_add(&c->a[5], e ? e->customer_id : "");
	pgarray_add(&c->a[6], total);
	pgarray_add(&c->a[7], e ? e->currency : "");
	free(items);
}

/* Queue statement name/sql over c's rows (with $9, their count, when counted), if any. */
static void
resv_queue(struct handler_ctx *h, struct resv_cols *c, const char *name, const char *sql,
    bool counted)
{
	const char *p[9];
	char count[24];

	snprintf(count, sizeof(count), "%zu", c->a[0].n);
	for (int k = 0; k < 8; k++)
		p[k] = pgarray_text(&c->a[k]);
	p[8] = count;
	if (c->a[0].n > 0)
		db_batch_add(h->q, name, sql, counted ? 9 : 8, p);
	for (int k = 0; k < 8; k++)
		pgarray_free(&c->a[k]);
}

/* Queue the UPDATE of the changed stock rows. */
static void
store_stock(struct handler_ctx *h, const struct inv_batch *b)
{
	struct pgarray s[3] = { { 0 } };
	const char *p[3];

	for (size_t i = 0; i < b->nstock; i++) {
		char on[32], res[32];

		if (!b->stock[i].dirty)
			continue;
		snprintf(on, sizeof(on), "%lld", b->stock[i].on_hand);
		snprintf(res, sizeof(res), "%lld", b->stock[i].reserved);
		pgarray_add(&s[0], b->stock[i].sku);
		pgarray_add(&s[1], on);
		pgarray_add(&s[2], res);
	}
	for (int k = 0; k < 3; k++)
		p[k] = pgarray_text(&s[k]);
	if (s[0].n > 0)
		db_batch_add(h->q, "inv_store_stock",
		    "UPDATE stock s SET on_hand = u.on_hand, reserved = u.reserved, updated_at = now() "
		    "FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS u(sku, on_hand, reserved) "
		    "WHERE s.sku = u.sku", 3, p);
	for (int k = 0; k < 3; k++)
		pgarray_free(&s[k]);
}

/*
 * Queue the storing of the changed reservations (one UPDATE for those that
 * had a row, one INSERT for those new to the service) and stock rows.
 */
static void
store(struct handler_ctx *h, const struct inv_batch *b)
{
	struct resv_cols old = { 0 }, fresh = { 0 };

	for (size_t i = 0; i < b->nresv; i++)
		if (b->resv[i].dirty)
			resv_add(b->resv[i].found ? &old : &fresh, &b->resv[i]);
	resv_queue(h, &old, "inv_store",
	    "UPDATE reservations r SET status = u.status, reason = u.reason, "
	    "  reservation_id = coalesce(nullif(u.rid, '')::uuid, r.reservation_id), "
	    "  items = coalesce(nullif(u.items, '')::jsonb, r.items), "
	    "  customer_id = coalesce(nullif(u.customer, ''), r.customer_id), "
	    "  total_cents = coalesce(nullif(u.total, '')::bigint, r.total_cents), "
	    "  currency = coalesce(nullif(u.currency, ''), r.currency), updated_at = now() "
	    "FROM " RESV_UNNEST " WHERE r.order_id = u.order_id", false);
	resv_queue(h, &fresh, "inv_create",
	    "WITH c AS (INSERT INTO reservations (order_id, status, reason, reservation_id, items, "
	    "  customer_id, total_cents, currency) "
	    "SELECT order_id, status, reason, nullif(rid, '')::uuid, nullif(items, '')::jsonb, "
	    "  nullif(customer, ''), nullif(total, '')::bigint, nullif(currency, '') "
	    "FROM " RESV_UNNEST " ORDER BY order_id "
	    "ON CONFLICT (order_id) DO NOTHING RETURNING 1) "
	    "SELECT chorus_expect_rows((SELECT count(*) FROM c), $9::bigint)", true);
	store_stock(h, b);
}

int
inventory_apply(struct handler_ctx *h, const struct event *const *evs, size_t n)
{
	struct inv_batch b = { 0 };
	size_t at;

	queue_loads(h, evs, n, &at);
	if (handler_load(h) != 0)
		return -1;
	load(h, at, evs, n, &b);
	for (size_t i = 0; i < n; i++) {
		struct resv *v;

		if (!h->fresh[i] || inventory_input_of(evs[i]->type) < 0)
			continue;
		v = handler_find_row(b.resv, b.nresv, sizeof(*b.resv), evs[i]->order_id);
		apply_one(h, &b, v, evs[i]);
	}
	store(h, &b);
	batch_free(&b);
	return 0;
}
