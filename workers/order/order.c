/*
 * order: the order service's handler and deadline sweeper (see order.h).
 * Every event first locks (creating when absent) the order's row with one
 * upsert, then the pure state machine decides, then one UPDATE stores the
 * result and the outbox gets the event it emits, all in the caller's
 * transaction.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "machine.h"
#include "order.h"
#include "xmalloc.h"

#define SWEEP_BATCH "500"

static const char *const early_names[] = { "NONE", "PAID", "FAILED" };

static enum order_early
early_from_name(const char *s)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(early_names[i], s) == 0)
			return (enum order_early)i;
	return EARLY_NONE;
}

/* Read columns status, early, reason, released, refunded starting at col. */
static void
state_from_row(PGresult *res, int row, int col, struct order_state *st)
{
	memset(st, 0, sizeof(*st));
	st->status = order_status_from_name(PQgetvalue(res, row, col));
	if (st->status == ORDER__STATUS_COUNT)
		st->status = ORDER_NONE;
	st->early = early_from_name(PQgetvalue(res, row, col + 1));
	strlcpy_(st->reason, PQgetvalue(res, row, col + 2), sizeof(st->reason));
	st->released = PQgetvalue(res, row, col + 3)[0] == 't';
	st->refunded = PQgetvalue(res, row, col + 4)[0] == 't';
}

/* Store a step's next state; the OrderCreated data too when the step says so. */
static int
store(struct handler_ctx *h, const char *order_id, const struct order_step *step,
    const struct event *created)
{
	char *items = created ? envelope_items_json(created) : NULL;
	char total[32] = "";
	const char *p[11];
	PGresult *res;

	if (created)
		snprintf(total, sizeof(total), "%lld", (long long)created->total_cents);
	p[0] = order_id;
	p[1] = order_status_name(step->next.status);
	p[2] = early_names[step->next.early];
	p[3] = step->next.reason;
	p[4] = step->next.released ? "t" : "f";
	p[5] = step->next.refunded ? "t" : "f";
	p[6] = created ? created->customer_id : NULL;
	p[7] = items;
	p[8] = created ? total : NULL;
	p[9] = created ? created->currency : NULL;
	p[10] = created ? created->traceparent : NULL;
	res = db_query(h->db, "order_store",
	    "UPDATE orders SET status = $2, early = $3, reason = $4, "
	    "  released_at = CASE WHEN $5::boolean THEN coalesce(released_at, now()) END, "
	    "  refunded_at = CASE WHEN $6::boolean THEN coalesce(refunded_at, now()) END, "
	    "  customer_id = coalesce($7, customer_id), items = coalesce($8::jsonb, items), "
	    "  total_cents = coalesce($9::bigint, total_cents), currency = coalesce($10, currency), "
	    "  traceparent = coalesce(nullif($11, ''), traceparent), "
	    "  created_at = CASE WHEN $7 IS NOT NULL THEN coalesce(created_at, clock_timestamp()) "
	    "    ELSE created_at END, "
	    "  confirmed_at = CASE WHEN $2 = 'CONFIRMED' THEN coalesce(confirmed_at, clock_timestamp()) END, "
	    "  cancelled_at = CASE WHEN $2 = 'CANCELLED' THEN coalesce(cancelled_at, clock_timestamp()) END, "
	    "  updated_at = clock_timestamp() "
	    "WHERE order_id = $1", 11, p);
	free(items);
	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

/* Emit the step's event (OrderConfirmed or OrderCancelled), if any. */
static int
emit(struct handler_ctx *h, const char *order_id, const struct order_step *step,
    const struct event *cause, const char *traceparent)
{
	struct event *out;
	int r;

	if (step->emit == EV_UNKNOWN)
		return 0;
	out = xcalloc(1, sizeof(*out));
	out->type = step->emit;
	strlcpy_(out->order_id, order_id, sizeof(out->order_id));
	if (step->emit == EV_ORDER_CANCELLED)
		strlcpy_(out->reason, step->next.reason, sizeof(out->reason));
	if (cause == NULL && traceparent != NULL) {
		/* the sweeper continues the trace the order was created in */
		struct event *c = xcalloc(1, sizeof(*c));
		strlcpy_(c->traceparent, traceparent, sizeof(c->traceparent));
		r = handler_emit(h, out, c);
		free(c);
	} else {
		r = handler_emit(h, out, cause);
	}
	if (r == 0)
		log_debug("msg=\"order %s\" order_id=%s reason=%s trace_id=%.32s",
		    step->emit == EV_ORDER_CONFIRMED ? "confirmed" : "cancelled", order_id,
		    step->emit == EV_ORDER_CANCELLED ? step->next.reason : "-",
		    out->traceparent + 3);
	free(out);
	return r;
}

int
order_prepare(struct handler_ctx *h, const struct event *const *evs, size_t n)
{
	return worker_lock_state_rows(h, evs, n, "order_prepare",
	    "INSERT INTO orders (order_id) SELECT DISTINCT o FROM unnest($1::text[]) AS u(o) "
	    "ORDER BY 1 ON CONFLICT (order_id) DO UPDATE SET order_id = EXCLUDED.order_id");
}

int
order_handle(struct handler_ctx *h, const struct event *ev)
{
	const char *p[1] = { ev->order_id };
	struct order_state cur;
	struct order_step step;
	PGresult *res;
	int in = order_input_of(ev->type);

	if (in < 0)
		return 0;	/* not consumed here; the consumer filters these out */
	/* lock the order's row, creating it when this is the first event seen */
	res = db_query(h->db, "order_load",
	    "INSERT INTO orders (order_id) VALUES ($1) "
	    "ON CONFLICT (order_id) DO UPDATE SET order_id = EXCLUDED.order_id "
	    "RETURNING status, early, reason, released_at IS NOT NULL, refunded_at IS NOT NULL", 1, p);
	if (res == NULL)
		return -1;
	state_from_row(res, 0, 0, &cur);
	PQclear(res);

	order_machine_step(&cur, (enum order_input)in, ev->reason, &step);
	if (!step.changed)
		return 0;
	if (store(h, ev->order_id, &step, step.record_created ? ev : NULL) != 0)
		return -1;
	return emit(h, ev->order_id, &step, ev, NULL);
}

int
order_deadline_sweep(struct db *db, const struct conf *cfg)
{
	struct metrics_batch mb = { 0 };
	struct handler_ctx h = { .db = db, .cfg = cfg, .svc = SVC_ORDER, .mb = &mb };
	char secs[32];
	const char *p[1] = { secs };
	PGresult *res;
	int n;

	snprintf(secs, sizeof(secs), "%ld", cfg->saga_deadline_s);
	/* the relay's connection commits asynchronously; business changes must not */
	if (db_exec(db, "BEGIN") != 0 || db_exec(db, "SET LOCAL synchronous_commit = on") != 0)
		goto fail;
	res = db_query(db, "order_overdue",
	    "SELECT order_id, status, early, reason, released_at IS NOT NULL, "
	    "       refunded_at IS NOT NULL, coalesce(traceparent, '') "
	    "FROM orders WHERE status = 'PENDING' "
	    "  AND created_at < now() - make_interval(secs => $1::double precision) "
	    "ORDER BY created_at LIMIT " SWEEP_BATCH " FOR UPDATE SKIP LOCKED", 1, p);
	if (res == NULL)
		goto fail;
	n = PQntuples(res);
	for (int i = 0; i < n; i++) {
		struct order_state cur;
		struct order_step step;

		state_from_row(res, i, 1, &cur);
		order_machine_step(&cur, ORDER_IN_DEADLINE, NULL, &step);
		if (!step.changed)
			continue;
		if (store(&h, PQgetvalue(res, i, 0), &step, NULL) != 0 ||
		    emit(&h, PQgetvalue(res, i, 0), &step, NULL, PQgetvalue(res, i, 6)) != 0) {
			PQclear(res);
			goto fail;
		}
	}
	PQclear(res);
	if (db_exec(db, "COMMIT") != 0)
		goto fail;
	metrics_commit(&mb);
	return h.emitted;
fail:
	log_warn("msg=\"deadline sweep failed\" error=\"%s\"", db_last_error(db));
	if (db_ok(db))
		(void)db_exec(db, "ROLLBACK");
	return -1;
}
