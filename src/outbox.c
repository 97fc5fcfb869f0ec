/*
 * outbox: writing a transaction's events with one statement (see outbox.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "outbox.h"
#include "pgarray.h"
#include "xmalloc.h"

/* One event to write: the columns of its outbox row. */
struct outbox_row {
	char id[ENVELOPE_UUID_LEN + 1];
	char order_id[ENVELOPE_ID_MAX + 1];
	enum event_type type;
	char traceparent[ENVELOPE_TRACEPARENT_LEN + 1];
	char caused_by[ENVELOPE_UUID_LEN + 1];	/* "" when none (a timer, an API call) */
	char *body;
};

void
outbox_batch_init(struct outbox_batch *ob, enum service_id svc)
{
	memset(ob, 0, sizeof(*ob));
	ob->svc = svc;
}

void
outbox_batch_clear(struct outbox_batch *ob)
{
	for (size_t i = 0; i < ob->n; i++)
		free(ob->rows[i].body);
	ob->n = 0;
}

void
outbox_batch_free(struct outbox_batch *ob)
{
	outbox_batch_clear(ob);
	free(ob->rows);
	ob->rows = NULL;
	ob->cap = 0;
}

void
outbox_add(struct outbox_batch *ob, struct event *ev, const struct event *cause)
{
	struct outbox_row *r;

	envelope_new_uuid(ev->id);
	snprintf(ev->source, sizeof(ev->source), "chorus/%s", service_name(ob->svc));
	strlcpy_(ev->subject, ev->order_id, sizeof(ev->subject));
	envelope_now(ev->time);
	envelope_child_traceparent(cause ? cause->traceparent : NULL, ev->traceparent);
	if (ob->n == ob->cap) {
		ob->cap = ob->cap * 2 + 16;
		ob->rows = xrealloc(ob->rows, ob->cap * sizeof(*ob->rows));
	}
	r = &ob->rows[ob->n++];
	memcpy(r->id, ev->id, sizeof(r->id));
	strlcpy_(r->order_id, ev->order_id, sizeof(r->order_id));
	r->type = ev->type;
	memcpy(r->traceparent, ev->traceparent, sizeof(r->traceparent));
	strlcpy_(r->caused_by, cause != NULL ? cause->id : "", sizeof(r->caused_by));
	r->body = envelope_render(ev);
	log_debug("msg=\"event written to outbox\" event_id=%s type=%s order_id=%s trace_id=%.32s",
	    ev->id, event_type_name(ev->type), ev->order_id, ev->traceparent + 3);
}

void
outbox_queue(const struct outbox_batch *ob, struct db_batch *q)
{
	struct pgarray a[6] = { { 0 } };
	struct pgarray caused = { 0 };
	const char *p[7];

	if (ob->n == 0)
		return;
	for (size_t i = 0; i < ob->n; i++) {
		const struct outbox_row *r = &ob->rows[i];

		pgarray_add(&a[0], r->id);
		pgarray_add(&a[1], r->order_id);
		pgarray_add(&a[2], event_type_name(r->type));
		pgarray_add(&a[3], r->body);
		pgarray_add(&a[4], event_type_routing_key(r->type));
		pgarray_add(&a[5], r->traceparent);
		pgarray_add(&caused, r->caused_by);
	}
	for (int k = 0; k < 6; k++)
		p[k] = pgarray_text(&a[k]);
	p[6] = pgarray_text(&caused);
	/* the rows in the order they were emitted: seq keeps one order's events in order */
	db_batch_add(q, "outbox_write",
	    "INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload, routing_key, "
	    "  traceparent, caused_by) "
	    "SELECT i, 'order', o, t, b::json, k, tp, nullif(c, '')::uuid "
	    "FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], "
	    "  $7::text[]) WITH ORDINALITY AS u(i, o, t, b, k, tp, c, n) ORDER BY n", 7, p);
	for (int k = 0; k < 6; k++)
		pgarray_free(&a[k]);
	pgarray_free(&caused);
}

int
outbox_put(struct db *db, enum service_id svc, struct event *ev, const struct event *cause)
{
	struct outbox_batch ob;
	struct db_batch *q = db_batch_new();
	int r;

	outbox_batch_init(&ob, svc);
	outbox_add(&ob, ev, cause);
	outbox_queue(&ob, q);
	r = db_batch_run(db, q);
	db_batch_free(q);
	outbox_batch_free(&ob);
	return r;
}
