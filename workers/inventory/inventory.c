/*
 * inventory: the inventory service's handler (see inventory.h). The
 * reservation row of the order is locked (created when absent) first, so
 * events of one order are applied one at a time whatever the number of
 * instances. A batch locks every stock row it may touch up front, in SKU
 * order (inventory_prepare), so instances do not deadlock each other.
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

/* The order's items summed per SKU (the same SKU twice adds up), in order of first mention. */
struct want {
	size_t n;
	char sku[ENVELOPE_MAX_ITEMS][ENVELOPE_ID_MAX + 1];
	long long qty[ENVELOPE_MAX_ITEMS];
};

static void
sum_items(const struct event *ev, struct want *w)
{
	w->n = 0;
	for (size_t i = 0; i < ev->n_items; i++) {
		size_t j;

		for (j = 0; j < w->n; j++)
			if (strcmp(w->sku[j], ev->items[i].sku) == 0)
				break;
		if (j == w->n) {
			strlcpy_(w->sku[j], ev->items[i].sku, sizeof(w->sku[j]));
			w->qty[j] = 0;
			w->n++;
		}
		w->qty[j] += ev->items[i].quantity;
	}
}

/*
 * Hold every item of the order, or none. Returns 1 held, 0 refused (reason
 * and sku set), -1 database failure.
 */
static int
reserve(struct handler_ctx *h, const struct event *ev, char *reason, char *sku)
{
	struct want *w = xmalloc(sizeof(*w));
	struct pgarray skus = { 0 }, qtys = { 0 };
	const char *p[2];
	PGresult *res;
	int ret = -1;

	sum_items(ev, w);
	for (size_t i = 0; i < w->n; i++) {
		char q[24];

		snprintf(q, sizeof(q), "%lld", w->qty[i]);
		pgarray_add(&skus, w->sku[i]);
		pgarray_add(&qtys, q);
	}
	p[0] = pgarray_text(&skus);
	p[1] = pgarray_text(&qtys);
	res = db_query(h->db, "inv_lock_stock",
	    "SELECT sku, on_hand - reserved FROM stock WHERE sku = ANY($1::text[]) "
	    "ORDER BY sku FOR UPDATE", 1, p);
	if (res == NULL)
		goto out;
	ret = 1;
	for (size_t i = 0; i < w->n && ret == 1; i++) {
		int found = 0;

		for (int r = 0; r < PQntuples(res); r++) {
			if (strcmp(PQgetvalue(res, r, 0), w->sku[i]) != 0)
				continue;
			found = 1;
			if (atoll(PQgetvalue(res, r, 1)) < w->qty[i]) {
				strcpy(reason, "out_of_stock");
				strlcpy_(sku, w->sku[i], ENVELOPE_ID_MAX + 1);
				ret = 0;
			}
		}
		if (!found) {
			strcpy(reason, "unknown_sku");
			strlcpy_(sku, w->sku[i], ENVELOPE_ID_MAX + 1);
			ret = 0;
		}
	}
	PQclear(res);
	if (ret == 1) {
		res = db_query(h->db, "inv_reserve",
		    "UPDATE stock SET reserved = reserved + u.q, updated_at = now() "
		    "FROM unnest($1::text[], $2::bigint[]) AS u(sku, q) WHERE stock.sku = u.sku", 2, p);
		if (res == NULL)
			ret = -1;
		PQclear(res);
	}
out:
	pgarray_free(&skus);
	pgarray_free(&qtys);
	free(w);
	return ret;
}

/* Sell (on_hand and reserved go down) or release (reserved goes down) the order's held units. */
static int
settle_stock(struct handler_ctx *h, const char *order_id, int sell)
{
	const char *p[1] = { order_id };
	PGresult *res;

	res = db_query(h->db, sell ? "inv_sell" : "inv_release", sell ?
	    "UPDATE stock s SET on_hand = s.on_hand - x.q, reserved = s.reserved - x.q, updated_at = now() "
	    "FROM (SELECT i->>'sku' AS sku, sum((i->>'quantity')::bigint) AS q "
	    "      FROM reservations r, jsonb_array_elements(r.items) i "
	    "      WHERE r.order_id = $1 GROUP BY 1) x WHERE s.sku = x.sku" :
	    "UPDATE stock s SET reserved = s.reserved - x.q, updated_at = now() "
	    "FROM (SELECT i->>'sku' AS sku, sum((i->>'quantity')::bigint) AS q "
	    "      FROM reservations r, jsonb_array_elements(r.items) i "
	    "      WHERE r.order_id = $1 GROUP BY 1) x WHERE s.sku = x.sku", 1, p);
	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

static int
store(struct handler_ctx *h, const struct event *ev, const struct inv_step *step,
    const char *reservation_id, int record_order)
{
	char *items = record_order ? envelope_items_json(ev) : NULL;
	char total[32];
	const char *p[8];
	PGresult *res;

	snprintf(total, sizeof(total), "%lld", (long long)ev->total_cents);
	p[0] = ev->order_id;
	p[1] = inventory_status_name(step->next);
	p[2] = step->reason;
	p[3] = reservation_id;
	p[4] = items;
	p[5] = record_order ? ev->customer_id : NULL;
	p[6] = record_order ? total : NULL;
	p[7] = record_order ? ev->currency : NULL;
	res = db_query(h->db, "inv_store",
	    "UPDATE reservations SET status = $2, reason = $3, "
	    "  reservation_id = coalesce($4::uuid, reservation_id), items = coalesce($5::jsonb, items), "
	    "  customer_id = coalesce($6, customer_id), total_cents = coalesce($7::bigint, total_cents), "
	    "  currency = coalesce($8, currency), updated_at = now() "
	    "WHERE order_id = $1", 8, p);
	free(items);
	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

int
inventory_prepare(struct handler_ctx *h, const struct event *const *evs, size_t n)
{
	struct pgarray skus = { 0 }, orders = { 0 };
	const char *p[2];
	PGresult *res;

	/* the reservation rows first, in order id order (as every instance does) */
	if (worker_lock_state_rows(h, evs, n, "inv_prepare_rows",
	    "INSERT INTO reservations (order_id, status) SELECT DISTINCT o, 'NONE' "
	    "FROM unnest($1::text[]) AS u(o) ORDER BY 1 "
	    "ON CONFLICT (order_id) DO UPDATE SET order_id = EXCLUDED.order_id") != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (evs[i]->type == EV_ORDER_CREATED)
			for (size_t k = 0; k < evs[i]->n_items; k++)
				pgarray_add(&skus, evs[i]->items[k].sku);
		else
			pgarray_add(&orders, evs[i]->order_id);
	}
	p[0] = pgarray_text(&skus);
	p[1] = pgarray_text(&orders);
	/*
	 * Then every stock row the batch may touch, in SKU order: two
	 * instances' batches queue behind each other instead of deadlocking
	 * (each would otherwise lock its SKUs event by event).
	 */
	res = db_query(h->db, "inv_prepare",
	    "SELECT sku FROM stock WHERE sku IN ("
	    "  SELECT unnest($1::text[]) UNION "
	    "  SELECT i->>'sku' FROM reservations r, jsonb_array_elements(r.items) i "
	    "  WHERE r.order_id = ANY($2::text[]) AND r.status = 'RESERVED') "
	    "ORDER BY sku FOR UPDATE", 2, p);
	pgarray_free(&skus);
	pgarray_free(&orders);
	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

int
inventory_handle(struct handler_ctx *h, const struct event *ev)
{
	const char *p[1] = { ev->order_id };
	char reservation_id[ENVELOPE_UUID_LEN + 1] = "";
	char reason[ENVELOPE_ID_MAX + 1] = "", sku[ENVELOPE_ID_MAX + 1] = "";
	enum inv_status cur;
	struct inv_step step;
	struct event *out;
	PGresult *res;
	int in = inventory_input_of(ev->type), r = 0, record_order = 0;

	if (in < 0)
		return 0;
	res = db_query(h->db, "inv_load",
	    "INSERT INTO reservations (order_id, status) VALUES ($1, 'NONE') "
	    "ON CONFLICT (order_id) DO UPDATE SET order_id = EXCLUDED.order_id "
	    "RETURNING status, coalesce(reservation_id::text, '')", 1, p);
	if (res == NULL)
		return -1;
	cur = inventory_status_from_name(PQgetvalue(res, 0, 0));
	strlcpy_(reservation_id, PQgetvalue(res, 0, 1), sizeof(reservation_id));
	PQclear(res);
	if (cur == INV__STATUS_COUNT)
		cur = INV_NONE;

	inventory_machine_step(cur, (enum inv_input)in, &step);
	switch (step.action) {
	case INV_ACT_RESERVE:
		r = reserve(h, ev, reason, sku);
		if (r < 0)
			return -1;
		inventory_machine_reserved(r == 1, reason, &step);
		if (r == 1)
			envelope_new_uuid(reservation_id);
		record_order = 1;
		break;
	case INV_ACT_SELL:
	case INV_ACT_RELEASE:
		if (settle_stock(h, ev->order_id, step.action == INV_ACT_SELL) != 0)
			return -1;
		break;
	case INV_ACT_NONE:
		break;
	}
	if (step.next == cur && step.emit == EV_UNKNOWN)
		return 0;	/* duplicate, late or out of order: no effect */
	if (store(h, ev, &step, reservation_id[0] ? reservation_id : NULL, record_order) != 0)
		return -1;
	if (step.emit == EV_UNKNOWN)
		return 0;

	out = xcalloc(1, sizeof(*out));
	out->type = step.emit;
	strlcpy_(out->order_id, ev->order_id, sizeof(out->order_id));
	strlcpy_(out->reason, step.reason, sizeof(out->reason));
	strlcpy_(out->reservation_id, reservation_id, sizeof(out->reservation_id));
	if (step.emit == EV_INVENTORY_RESERVED) {
		strlcpy_(out->customer_id, ev->customer_id, sizeof(out->customer_id));
		memcpy(out->items, ev->items, ev->n_items * sizeof(ev->items[0]));
		out->n_items = ev->n_items;
		out->total_cents = ev->total_cents;
		memcpy(out->currency, ev->currency, sizeof(out->currency));
	} else if (step.emit == EV_INVENTORY_RESERVATION_FAILED) {
		strlcpy_(out->sku, sku, sizeof(out->sku));
	}
	r = handler_emit(h, out, ev);
	if (r == 0 && step.emit == EV_INVENTORY_RESERVATION_FAILED)
		log_debug("msg=\"reservation refused\" order_id=%s reason=%s sku=%s",
		    ev->order_id, step.reason, sku[0] ? sku : "-");
	free(out);
	return r;
}
