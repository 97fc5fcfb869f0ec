/*
 * inbox: consumed-event deduplication (see inbox.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "inbox.h"
#include "pgarray.h"

size_t
inbox_queue_claim(struct db_batch *q, const struct event *const *evs, size_t n)
{
	struct pgarray a[5];
	const char *p[5];
	size_t at;

	memset(a, 0, sizeof(a));
	for (size_t i = 0; i < n; i++) {
		pgarray_add(&a[0], evs[i]->id);
		pgarray_add(&a[1], event_type_name(evs[i]->type));
		pgarray_add(&a[2], evs[i]->order_id);
		pgarray_add(&a[3], evs[i]->source);
		pgarray_add(&a[4], evs[i]->traceparent);
	}
	for (int k = 0; k < 5; k++)
		p[k] = pgarray_text(&a[k]);
	/* a repeated id is inserted once; in id order, so two instances claiming the
	 * same redelivered ids cannot deadlock */
	at = db_batch_add(q, "inbox_claim",
	    "INSERT INTO inbox (event_id, type, order_id, source, traceparent) "
	    "SELECT e, t, o, s, nullif(tp, '') FROM unnest($1::uuid[], $2::text[], $3::text[], "
	    "  $4::text[], $5::text[]) AS u(e, t, o, s, tp) ORDER BY e "
	    "ON CONFLICT (event_id) DO NOTHING RETURNING event_id::text", 5, p);
	for (int k = 0; k < 5; k++)
		pgarray_free(&a[k]);
	return at;
}

void
inbox_fresh(PGresult *claim, const struct event *const *evs, size_t n, bool *fresh)
{
	for (size_t i = 0; i < n; i++)
		fresh[i] = false;
	/* the first occurrence in the batch of each returned id is the fresh one */
	for (int r = 0; claim != NULL && r < PQntuples(claim); r++) {
		const char *id = PQgetvalue(claim, r, 0);

		for (size_t i = 0; i < n; i++)
			if (strcasecmp(evs[i]->id, id) == 0) {
				fresh[i] = true;
				break;
			}
	}
}
