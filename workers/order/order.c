/*
 * order: the order service's batch handler and deadline sweeper (see
 * order.h). A batch creates the rows of orders it has not seen, locks and
 * reads all its orders' rows (two statements, order id order), runs the
 * pure state machine over its fresh events in memory, and stores the
 * changed rows with one UPDATE; the events it emits go to the outbox with
 * the consumer's one INSERT.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "machine.h"
#include "order.h"
#include "pgarray.h"
#include "xmalloc.h"

#define SWEEP_BATCH 500

/* One order of the batch: its key first (handler_find_row), as loaded and as changed. */
struct order_row {
	char order_id[ENVELOPE_ID_MAX + 1];
	struct order_state st;
	char traceparent[ENVELOPE_TRACEPARENT_LEN + 1];	/* the trace the order was created in */
	bool found;			/* it has a row (else created if it changes) */
	bool dirty;
	const struct event *created;	/* OrderCreated whose data to record, or NULL */
};

/* The columns of changed rows, one array each, as one statement takes them. */
struct order_cols {
	struct pgarray a[11];
};

/* The columns both store statements take, $1..$11. */
#define ORDER_UNNEST \
	"unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::boolean[], $6::boolean[], " \
	"  $7::text[], $8::text[], $9::text[], $10::text[], $11::text[]) " \
	"  AS u(order_id, status, early, reason, released, refunded, customer, items, total, " \
	"  currency, tp)"

static const char *const early_names[] = { "NONE", "PAID", "FAILED" };

/* Saga outcomes, counted once their transaction committed: confirmed, or cancelled by reason. */
static const char *const outcome_reasons[] = { "", "out_of_stock", "unknown_sku",
	"insufficient_funds", "unknown_customer", "currency_mismatch", "timeout", "order_cancelled",
	"other" };
#define NOUTCOMES (sizeof(outcome_reasons) / sizeof(outcome_reasons[0]))
static struct metric *outcomes[NOUTCOMES];

void
order_init(const struct conf *cfg)
{
	static char labels[NOUTCOMES][64];

	(void)cfg;
	for (size_t i = 0; i < NOUTCOMES; i++) {
		snprintf(labels[i], sizeof(labels[i]), "outcome=\"%s\",reason=\"%s\"",
		    i == 0 ? "confirmed" : "cancelled", outcome_reasons[i]);
		outcomes[i] = metrics_register("chorus_saga_outcomes_total", "counter",
		    "Sagas ended: confirmed, or cancelled by reason.", labels[i]);
	}
}

/* The outcome counter of an OrderConfirmed (reason NULL) or an OrderCancelled. */
static struct metric *
outcome_of(const char *reason)
{
	size_t i = 1;

	if (reason == NULL)
		return outcomes[0];
	while (i < NOUTCOMES - 1 && strcmp(outcome_reasons[i], reason) != 0)
		i++;
	return outcomes[i];
}

/* Columns of a loaded row: order_id, status, early, reason, released, refunded, traceparent. */
#define ORDER_COLUMNS \
	"order_id, status, early, reason, released_at IS NOT NULL, refunded_at IS NOT NULL, " \
	"coalesce(traceparent, '')"

static enum order_early
early_from_name(const char *s)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(early_names[i], s) == 0)
			return (enum order_early)i;
	return EARLY_NONE;
}

/*
 * The rows of a result with ORDER_COLUMNS and a new row for each order of
 * evs without one, sorted by key; *n set.
 */
static struct order_row *
rows_from(PGresult *res, const struct event *const *evs, size_t nevs, size_t *n)
{
	struct order_row *rows;

	*n = (size_t)PQntuples(res);
	rows = xcalloc(*n + nevs + 1, sizeof(*rows));
	for (size_t i = 0; i < *n; i++) {
		struct order_row *r = &rows[i];

		strlcpy_(r->order_id, PQgetvalue(res, (int)i, 0), sizeof(r->order_id));
		r->st.status = order_status_from_name(PQgetvalue(res, (int)i, 1));
		if (r->st.status == ORDER__STATUS_COUNT)
			r->st.status = ORDER_NONE;
		r->st.early = early_from_name(PQgetvalue(res, (int)i, 2));
		strlcpy_(r->st.reason, PQgetvalue(res, (int)i, 3), sizeof(r->st.reason));
		r->st.released = PQgetvalue(res, (int)i, 4)[0] == 't';
		r->st.refunded = PQgetvalue(res, (int)i, 5)[0] == 't';
		strlcpy_(r->traceparent, PQgetvalue(res, (int)i, 6), sizeof(r->traceparent));
		r->found = true;
	}
	handler_add_missing(rows, n, sizeof(*rows), sizeof(rows->order_id), evs, nevs);
	return rows;
}

/* Add row r to the columns. */
static void
cols_add(struct order_cols *c, const struct order_row *r)
{
	const struct event *e = r->created;
	char total[32] = "", *items = e ? envelope_items_json(e) : NULL;

	if (e)
		snprintf(total, sizeof(total), "%lld", (long long)e->total_cents);
	pgarray_add(&c->a[0], r->order_id);
	pgarray_add(&c->a[1], order_status_name(r->st.status));
	pgarray_add(&c->a[2], early_names[r->st.early]);
	pgarray_add(&c->a[3], r->st.reason);
	pgarray_add(&c->a[4], r->st.released ? "t" : "f");
	pgarray_add(&c->a[5], r->st.refunded ? "t" : "f");
	pgarray_add(&c->a[6], e ? e->customer_id : "");
	pgarray_add(&c->a[7], items ? items : "");
	pgarray_add(&c->a[8], total);
	pgarray_add(&c->a[9], e ? e->currency : "");
	pgarray_add(&c->a[10], e ? e->traceparent : "");
	free(items);
}

/* The parameters of c; p[11] gets the row count (for chorus_expect_rows). */
static void
cols_params(struct order_cols *c, const char *p[12], char count[24])
{
	for (int k = 0; k < 11; k++)
		p[k] = pgarray_text(&c->a[k]);
	snprintf(count, 24, "%zu", c->a[0].n);
	p[11] = count;
}

static void
cols_free(struct order_cols *c)
{
	for (int k = 0; k < 11; k++)
		pgarray_free(&c->a[k]);
}

/*
 * Queue the storing of every changed row: one UPDATE for those that had a
 * row, one INSERT for those new to the service.
 */
static void
store(struct handler_ctx *h, const struct order_row *rows, size_t n)
{
	struct order_cols old = { 0 }, fresh = { 0 };
	const char *p[12];
	char count[24];

	for (size_t i = 0; i < n; i++)
		if (rows[i].dirty)
			cols_add(rows[i].found ? &old : &fresh, &rows[i]);
	if (old.a[0].n > 0) {
		cols_params(&old, p, count);
		db_batch_add(h->q, "order_store",
		    "UPDATE orders o SET status = u.status, early = u.early, reason = u.reason, "
		    "  released_at = CASE WHEN u.released THEN coalesce(o.released_at, now()) END, "
		    "  refunded_at = CASE WHEN u.refunded THEN coalesce(o.refunded_at, now()) END, "
		    "  customer_id = coalesce(nullif(u.customer, ''), o.customer_id), "
		    "  items = coalesce(nullif(u.items, '')::jsonb, o.items), "
		    "  total_cents = coalesce(nullif(u.total, '')::bigint, o.total_cents), "
		    "  currency = coalesce(nullif(u.currency, ''), o.currency), "
		    "  traceparent = coalesce(nullif(u.tp, ''), o.traceparent), "
		    "  created_at = CASE WHEN u.customer <> '' THEN coalesce(o.created_at, clock_timestamp()) "
		    "    ELSE o.created_at END, "
		    "  confirmed_at = CASE WHEN u.status = 'CONFIRMED' "
		    "    THEN coalesce(o.confirmed_at, clock_timestamp()) END, "
		    "  cancelled_at = CASE WHEN u.status = 'CANCELLED' "
		    "    THEN coalesce(o.cancelled_at, clock_timestamp()) END, "
		    "  updated_at = clock_timestamp() "
		    "FROM " ORDER_UNNEST " WHERE o.order_id = u.order_id", 11, p);
	}
	if (fresh.a[0].n > 0) {
		cols_params(&fresh, p, count);
		db_batch_add(h->q, "order_create",
		    "WITH c AS (INSERT INTO orders (order_id, status, early, reason, released_at, "
		    "  refunded_at, customer_id, items, total_cents, currency, traceparent, created_at, "
		    "  confirmed_at, cancelled_at) "
		    "SELECT order_id, status, early, reason, CASE WHEN released THEN now() END, "
		    "  CASE WHEN refunded THEN now() END, nullif(customer, ''), nullif(items, '')::jsonb, "
		    "  nullif(total, '')::bigint, nullif(currency, ''), nullif(tp, ''), "
		    "  CASE WHEN customer <> '' THEN clock_timestamp() END, "
		    "  CASE WHEN status = 'CONFIRMED' THEN clock_timestamp() END, "
		    "  CASE WHEN status = 'CANCELLED' THEN clock_timestamp() END "
		    "FROM " ORDER_UNNEST " ORDER BY order_id "
		    "ON CONFLICT (order_id) DO NOTHING RETURNING 1) "
		    "SELECT chorus_expect_rows((SELECT count(*) FROM c), $12::bigint)", 12, p);
	}
	cols_free(&old);
	cols_free(&fresh);
}

/* Emit the step's event (OrderConfirmed or OrderCancelled), if any. */
static void
emit(struct handler_ctx *h, const struct order_row *r, const struct order_step *step,
    const struct event *cause)
{
	struct event *out;

	if (step->emit == EV_UNKNOWN)
		return;
	out = xcalloc(1, sizeof(*out));
	out->type = step->emit;
	strlcpy_(out->order_id, r->order_id, sizeof(out->order_id));
	if (step->emit == EV_ORDER_CANCELLED)
		strlcpy_(out->reason, step->next.reason, sizeof(out->reason));
	handler_emit(h, out, cause);
	if (outcomes[0] != NULL)
		metrics_batch_add(h->mb, outcome_of(step->emit == EV_ORDER_CANCELLED ? out->reason : NULL), 1);
	log_debug("msg=\"order %s\" order_id=%s reason=%s trace_id=%.32s",
	    step->emit == EV_ORDER_CONFIRMED ? "confirmed" : "cancelled", r->order_id,
	    step->emit == EV_ORDER_CANCELLED ? step->next.reason : "-", out->traceparent + 3);
	free(out);
}

/* Run one input through the machine on row r; cause: the event (NULL: the deadline). */
static void
step_row(struct handler_ctx *h, struct order_row *r, enum order_input in, const struct event *cause,
    const struct event *trace)
{
	struct order_step step;

	order_machine_step(&r->st, in, cause ? cause->reason : NULL, &step);
	if (!step.changed)
		return;
	r->st = step.next;
	r->dirty = true;
	if (step.record_created)
		r->created = cause;
	emit(h, r, &step, cause ? cause : trace);
}

int
order_apply(struct handler_ctx *h, const struct event *const *evs, size_t n)
{
	struct order_row *rows;
	size_t at, nrows;

	at = handler_lock_orders(h, evs, n, "order_lock",
	    "SELECT " ORDER_COLUMNS " FROM orders WHERE order_id = ANY($1::text[]) "
	    "ORDER BY order_id FOR UPDATE");
	if (handler_load(h) != 0)
		return -1;
	rows = rows_from(db_batch_result(h->q, at), evs, n, &nrows);
	for (size_t i = 0; i < n; i++) {
		struct order_row *r;
		int in = order_input_of(evs[i]->type);

		if (!h->fresh[i] || in < 0)
			continue;
		r = handler_find_row(rows, nrows, sizeof(*rows), evs[i]->order_id);
		step_row(h, r, (enum order_input)in, evs[i], NULL);
	}
	store(h, rows, nrows);
	free(rows);
	return 0;
}

static long
sweep_period_ms(const struct conf *cfg)
{
	return cfg->sweep_ms;
}

/*
 * Cancel up to SWEEP_BATCH overdue orders: PENDING ones past the deadline
 * since the OrderCreated was recorded, AWAITING ones (their OrderCreated
 * never came) since the first event of theirs was. 1 when there may be more.
 */
static int
sweep(struct handler_ctx *h)
{
	char secs[32], limit[16];
	const char *p[2] = { secs, limit };
	struct order_row *rows;
	struct event *trace = xcalloc(1, sizeof(*trace));
	size_t at, nrows;

	snprintf(secs, sizeof(secs), "%ld", h->cfg->saga_deadline_s);
	snprintf(limit, sizeof(limit), "%d", SWEEP_BATCH);
	at = db_batch_add(h->q, "order_overdue",
	    "SELECT " ORDER_COLUMNS " FROM orders "
	    "WHERE (status = 'PENDING' AND created_at < now() - make_interval(secs => $1::float8)) "
	    "  OR (status = 'AWAITING' AND seen_at < now() - make_interval(secs => $1::float8)) "
	    "ORDER BY coalesce(created_at, seen_at) LIMIT $2 FOR UPDATE SKIP LOCKED", 2, p);
	if (handler_load(h) != 0) {
		free(trace);
		return -1;
	}
	rows = rows_from(db_batch_result(h->q, at), NULL, 0, &nrows);
	for (size_t i = 0; i < nrows; i++) {
		/* the cancellation continues the trace the order was created in */
		strlcpy_(trace->traceparent, rows[i].traceparent, sizeof(trace->traceparent));
		step_row(h, &rows[i], ORDER_IN_DEADLINE, NULL, trace);
	}
	store(h, rows, nrows);
	free(rows);
	free(trace);
	return nrows >= SWEEP_BATCH;
}

const struct handler_timer order_deadline_timer = { "deadline", sweep_period_ms, sweep };
