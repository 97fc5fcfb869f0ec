/*
 * payment: the payment service's handler (see payment.h). The payment row
 * of the order is locked (created when absent) first: one charge per order,
 * whatever arrives twice or on several instances. Money moves through the
 * provider (provider.h).
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

int
payment_prepare(struct handler_ctx *h, const struct event *const *evs, size_t n)
{
	struct pgarray customers = { 0 }, orders = { 0 };
	const char *p[2];
	PGresult *res;

	if (worker_lock_state_rows(h, evs, n, "pay_prepare_rows",
	    "INSERT INTO payments (order_id, status) SELECT DISTINCT o, 'NONE' "
	    "FROM unnest($1::text[]) AS u(o) ORDER BY 1 "
	    "ON CONFLICT (order_id) DO UPDATE SET order_id = EXCLUDED.order_id") != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (evs[i]->type == EV_INVENTORY_RESERVED)
			pgarray_add(&customers, evs[i]->customer_id);
		else
			pgarray_add(&orders, evs[i]->order_id);
	}
	p[0] = pgarray_text(&customers);
	p[1] = pgarray_text(&orders);
	/* then the accounts the batch may charge or refund, in customer order */
	res = db_query(h->db, "pay_prepare_accounts",
	    "SELECT 1 FROM accounts WHERE customer_id IN ("
	    "  SELECT unnest($1::text[]) UNION "
	    "  SELECT customer_id FROM payments WHERE order_id = ANY($2::text[]) "
	    "  AND status = 'COMPLETED') ORDER BY customer_id FOR UPDATE", 2, p);
	pgarray_free(&customers);
	pgarray_free(&orders);
	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

int
payment_handle(struct handler_ctx *h, const struct event *ev)
{
	const char *p[6];
	char payment_id[ENVELOPE_UUID_LEN + 1] = "", amount[32] = "0";
	char reason[ENVELOPE_ID_MAX + 1] = "";
	char customer[ENVELOPE_ID_MAX + 1] = "", currency[4] = "";
	enum pay_status cur;
	struct pay_step step;
	struct event *out;
	PGresult *res;
	int in = payment_input_of(ev->type), r;

	if (in < 0)
		return 0;
	p[0] = ev->order_id;
	res = db_query(h->db, "pay_load",
	    "INSERT INTO payments (order_id, status) VALUES ($1, 'NONE') "
	    "ON CONFLICT (order_id) DO UPDATE SET order_id = EXCLUDED.order_id "
	    "RETURNING status, coalesce(payment_id::text, ''), amount_cents, "
	    "          coalesce(customer_id, ''), coalesce(currency, '')", 1, p);
	if (res == NULL)
		return -1;
	cur = payment_status_from_name(PQgetvalue(res, 0, 0));
	strlcpy_(payment_id, PQgetvalue(res, 0, 1), sizeof(payment_id));
	strlcpy_(amount, PQgetvalue(res, 0, 2), sizeof(amount));
	strlcpy_(customer, PQgetvalue(res, 0, 3), sizeof(customer));
	strlcpy_(currency, PQgetvalue(res, 0, 4), sizeof(currency));
	PQclear(res);
	if (cur == PAY__STATUS_COUNT)
		cur = PAY_NONE;

	payment_machine_step(cur, (enum pay_input)in, &step);
	switch (step.action) {
	case PAY_ACT_CHARGE:
		switch (provider_charge(h, ev->customer_id, ev->total_cents, ev->currency, reason)) {
		case PROVIDER_OK:
			r = 1;
			break;
		case PROVIDER_REFUSED:
			r = 0;
			break;
		default:	/* unavailable (h->fail says so) or a database failure */
			return -1;
		}
		payment_machine_charged(r == 1, reason, &step);
		strlcpy_(customer, ev->customer_id, sizeof(customer));
		strlcpy_(currency, ev->currency, sizeof(currency));
		if (r == 1) {
			envelope_new_uuid(payment_id);
			snprintf(amount, sizeof(amount), "%lld", (long long)ev->total_cents);
		}
		break;
	case PAY_ACT_REFUND:
		if (provider_refund(h, customer, atoll(amount)) != PROVIDER_OK)
			return -1;
		break;
	case PAY_ACT_NONE:
		break;
	}
	if (step.next == cur && step.emit == EV_UNKNOWN)
		return 0;	/* duplicate, late or out of order: no effect */
	p[0] = ev->order_id;
	p[1] = payment_status_name(step.next);
	p[2] = step.reason;
	p[3] = payment_id[0] ? payment_id : NULL;
	p[4] = customer[0] ? customer : NULL;
	p[5] = currency[0] ? currency : NULL;
	{
		const char *q[7] = { p[0], p[1], p[2], p[3], amount, p[4], p[5] };

		res = db_query(h->db, "pay_store",
		    "UPDATE payments SET status = $2, reason = $3, payment_id = coalesce($4::uuid, payment_id), "
		    "  amount_cents = $5::bigint, customer_id = coalesce($6, customer_id), "
		    "  currency = coalesce($7, currency), updated_at = now() WHERE order_id = $1", 7, q);
	}
	if (res == NULL)
		return -1;
	PQclear(res);
	if (step.emit == EV_UNKNOWN)
		return 0;

	out = xcalloc(1, sizeof(*out));
	out->type = step.emit;
	strlcpy_(out->order_id, ev->order_id, sizeof(out->order_id));
	strlcpy_(out->reason, step.reason, sizeof(out->reason));
	strlcpy_(out->payment_id, payment_id, sizeof(out->payment_id));
	strlcpy_(out->customer_id, customer, sizeof(out->customer_id));
	strlcpy_(out->currency, currency, sizeof(out->currency));
	out->amount_cents = atoll(amount);
	r = handler_emit(h, out, ev);
	if (r == 0 && step.emit == EV_PAYMENT_FAILED)
		log_debug("msg=\"payment refused\" order_id=%s reason=%s", ev->order_id, step.reason);
	free(out);
	return r;
}
