/*
 * payment: the payment service's batch handler (see payment.h). Round 1
 * creates the payment rows of orders not seen yet, then locks and reads the
 * batch's payments by order id and the accounts it may charge or refund by
 * customer (the same order in every instance: no deadlocks). The machine
 * runs over the fresh events in delivery order; one charge per order,
 * whatever arrives twice or on several instances. Round 2 writes the
 * changed payments and balances with one UPDATE each.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "machine.h"
#include "payment.h"
#include "pgarray.h"
#include "provider.h"
#include "xmalloc.h"

/* A payment of the batch: its key first (handler_find_row). */
struct pay {
	char order_id[ENVELOPE_ID_MAX + 1];
	enum pay_status status;
	char payment_id[ENVELOPE_UUID_LEN + 1];
	char reason[ENVELOPE_ID_MAX + 1];
	long long amount;
	char customer[ENVELOPE_ID_MAX + 1];
	char currency[4];
	bool found;			/* it has a row (else created if it changes) */
	bool dirty;
};

/* Queue round 1's reads; returns the index of the payments' select (the accounts' follows). */
static size_t
queue_loads(struct handler_ctx *h, const struct event *const *evs, size_t n)
{
	struct pgarray customers = { 0 }, orders = { 0 };
	size_t at;

	at = handler_lock_orders(h, evs, n, "pay_lock",
	    "SELECT order_id, status, coalesce(payment_id::text, ''), reason, amount_cents, "
	    "  coalesce(customer_id, ''), coalesce(currency, '') "
	    "FROM payments WHERE order_id = ANY($1::text[]) ORDER BY order_id FOR UPDATE");
	for (size_t i = 0; i < n; i++) {
		if (evs[i]->type == EV_INVENTORY_RESERVED)
			pgarray_add(&customers, evs[i]->customer_id);
		else
			pgarray_add(&orders, evs[i]->order_id);
	}
	provider_queue_lock(h, pgarray_text(&customers), pgarray_text(&orders));
	pgarray_free(&customers);
	pgarray_free(&orders);
	return at;
}

/* The loaded payments and a new one for each order of evs without one, sorted by key. */
static struct pay *
pays_from(PGresult *res, const struct event *const *evs, size_t nevs, size_t *n)
{
	struct pay *v;

	*n = (size_t)PQntuples(res);
	v = xcalloc(*n + nevs + 1, sizeof(*v));
	for (int i = 0; i < PQntuples(res); i++) {
		strlcpy_(v[i].order_id, PQgetvalue(res, i, 0), sizeof(v[i].order_id));
		v[i].status = payment_status_from_name(PQgetvalue(res, i, 1));
		if (v[i].status == PAY__STATUS_COUNT)
			v[i].status = PAY_NONE;
		strlcpy_(v[i].payment_id, PQgetvalue(res, i, 2), sizeof(v[i].payment_id));
		strlcpy_(v[i].reason, PQgetvalue(res, i, 3), sizeof(v[i].reason));
		v[i].amount = atoll(PQgetvalue(res, i, 4));
		strlcpy_(v[i].customer, PQgetvalue(res, i, 5), sizeof(v[i].customer));
		strlcpy_(v[i].currency, PQgetvalue(res, i, 6), sizeof(v[i].currency));
		v[i].found = true;
	}
	handler_add_missing(v, n, sizeof(*v), sizeof(v->order_id), evs, nevs);
	return v;
}

/* The event the step emits. */
static void
emit(struct handler_ctx *h, const struct pay *v, const struct pay_step *step,
    const struct event *ev)
{
	struct event *out;

	if (step->emit == EV_UNKNOWN)
		return;
	out = xcalloc(1, sizeof(*out));
	out->type = step->emit;
	strlcpy_(out->order_id, v->order_id, sizeof(out->order_id));
	strlcpy_(out->reason, step->reason, sizeof(out->reason));
	strlcpy_(out->payment_id, v->payment_id, sizeof(out->payment_id));
	strlcpy_(out->customer_id, v->customer, sizeof(out->customer_id));
	strlcpy_(out->currency, v->currency, sizeof(out->currency));
	out->amount_cents = v->amount;
	if (step->emit == EV_PAYMENT_FAILED)
		log_debug("msg=\"payment refused\" order_id=%s reason=%s", v->order_id, step->reason);
	handler_emit(h, out, ev);
	free(out);
}

/* Charge for a reservation: the step after the provider answered. -1: provider unavailable. */
static int
charge(struct handler_ctx *h, struct ledger *l, struct pay *v, const struct event *ev,
    struct pay_step *step)
{
	char reason[ENVELOPE_ID_MAX + 1] = "";
	enum provider_result r = provider_charge(h, l, ev->customer_id, ev->total_cents,
	    ev->currency, reason);

	if (r == PROVIDER_UNAVAILABLE)
		return -1;
	payment_machine_charged(r == PROVIDER_OK, reason, step);
	strlcpy_(v->customer, ev->customer_id, sizeof(v->customer));
	strlcpy_(v->currency, ev->currency, sizeof(v->currency));
	if (r == PROVIDER_OK) {
		envelope_new_uuid(v->payment_id);
		v->amount = ev->total_cents;
	}
	return 0;
}

/* Apply one fresh event to its payment. 0, or -1 (provider unavailable). */
static int
apply_one(struct handler_ctx *h, struct ledger *l, struct pay *v, const struct event *ev)
{
	enum pay_status cur = v->status;
	struct pay_step step;

	payment_machine_step(cur, (enum pay_input)payment_input_of(ev->type), &step);
	if (step.action == PAY_ACT_CHARGE && charge(h, l, v, ev, &step) != 0)
		return -1;
	if (step.action == PAY_ACT_REFUND &&
	    provider_refund(h, l, v->customer, v->amount) != PROVIDER_OK)
		return -1;
	if (step.next == cur && step.emit == EV_UNKNOWN)
		return 0;	/* duplicate, late or out of order: no effect */
	v->status = step.next;
	strlcpy_(v->reason, step.reason, sizeof(v->reason));
	v->dirty = true;
	emit(h, v, &step, ev);
	return 0;
}

/* The columns both payment statements take, $1..$7. */
#define PAY_UNNEST \
	"unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], " \
	"  $7::text[]) AS u(order_id, status, reason, pid, amount, customer, currency)"

/* Queue statement name/sql over the changed payments found (or not), with $8 their count. */
static void
store_some(struct handler_ctx *h, const struct pay *v, size_t n, bool found, const char *name,
    const char *sql, int nparams)
{
	struct pgarray a[7] = { { 0 } };
	const char *p[8];
	char count[24];

	for (size_t i = 0; i < n; i++) {
		char amount[32];

		if (!v[i].dirty || v[i].found != found)
			continue;
		snprintf(amount, sizeof(amount), "%lld", v[i].amount);
		pgarray_add(&a[0], v[i].order_id);
		pgarray_add(&a[1], payment_status_name(v[i].status));
		pgarray_add(&a[2], v[i].reason);
		pgarray_add(&a[3], v[i].payment_id);
		pgarray_add(&a[4], amount);
		pgarray_add(&a[5], v[i].customer);
		pgarray_add(&a[6], v[i].currency);
	}
	for (int k = 0; k < 7; k++)
		p[k] = pgarray_text(&a[k]);
	snprintf(count, sizeof(count), "%zu", a[0].n);
	p[7] = count;
	if (a[0].n > 0)
		db_batch_add(h->q, name, sql, nparams, p);
	for (int k = 0; k < 7; k++)
		pgarray_free(&a[k]);
}

/* Queue the storing of the changed payments: an UPDATE, an INSERT for new ones. */
static void
store(struct handler_ctx *h, const struct pay *v, size_t n)
{
	store_some(h, v, n, true, "pay_store",
	    "UPDATE payments p SET status = u.status, reason = u.reason, "
	    "  payment_id = coalesce(nullif(u.pid, '')::uuid, p.payment_id), "
	    "  amount_cents = u.amount, customer_id = coalesce(nullif(u.customer, ''), p.customer_id), "
	    "  currency = coalesce(nullif(u.currency, ''), p.currency), updated_at = now() "
	    "FROM " PAY_UNNEST " WHERE p.order_id = u.order_id", 7);
	store_some(h, v, n, false, "pay_create",
	    "WITH c AS (INSERT INTO payments (order_id, status, reason, payment_id, amount_cents, "
	    "  customer_id, currency) "
	    "SELECT order_id, status, reason, nullif(pid, '')::uuid, amount, nullif(customer, ''), "
	    "  nullif(currency, '') FROM " PAY_UNNEST " ORDER BY order_id "
	    "ON CONFLICT (order_id) DO NOTHING RETURNING 1) "
	    "SELECT chorus_expect_rows((SELECT count(*) FROM c), $8::bigint)", 8);
}

int
payment_apply(struct handler_ctx *h, const struct event *const *evs, size_t n)
{
	struct ledger *l = NULL;
	struct pay *v = NULL;
	size_t at, nv = 0;
	int ret = -1;

	at = queue_loads(h, evs, n);
	if (handler_load(h) != 0)
		goto out;
	v = pays_from(db_batch_result(h->q, at), evs, n, &nv);
	l = provider_ledger(db_batch_result(h->q, at + 1));
	for (size_t i = 0; i < n; i++) {
		struct pay *p;

		if (!h->fresh[i] || payment_input_of(evs[i]->type) < 0)
			continue;
		if (handler_keep_alive(h) != 0)
			goto out;
		p = handler_find_row(v, nv, sizeof(*v), evs[i]->order_id);
		if (apply_one(h, l, p, evs[i]) != 0)
			goto out;
	}
	store(h, v, nv);
	provider_queue_store(h, l);
	ret = 0;
out:
	provider_ledger_free(l);
	free(v);
	return ret;
}
