/*
 * inbox: consumed-event deduplication (see inbox.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "inbox.h"
#include "pgarray.h"

int
inbox_claim(struct db *db, const struct event *const *evs, size_t n, bool *fresh)
{
	struct pgarray a[5];
	const char *p[5];
	PGresult *res;
	int ret = -1;

	if (n == 0)
		return 0;
	memset(a, 0, sizeof(a));
	for (size_t i = 0; i < n; i++) {
		pgarray_add(&a[0], evs[i]->id);
		pgarray_add(&a[1], event_type_name(evs[i]->type));
		pgarray_add(&a[2], evs[i]->order_id);
		pgarray_add(&a[3], evs[i]->source);
		pgarray_add(&a[4], evs[i]->traceparent);
		fresh[i] = false;
	}
	for (int k = 0; k < 5; k++)
		p[k] = pgarray_text(&a[k]);
	/* one round trip for the batch; a repeated id is inserted once; in id order, so
	 * two instances claiming the same redelivered ids cannot deadlock */
	res = db_query(db, "inbox_claim",
	    "INSERT INTO inbox (event_id, type, order_id, source, traceparent) "
	    "SELECT e, t, o, s, nullif(tp, '') FROM unnest($1::uuid[], $2::text[], $3::text[], "
	    "  $4::text[], $5::text[]) AS u(e, t, o, s, tp) ORDER BY e "
	    "ON CONFLICT (event_id) DO NOTHING RETURNING event_id::text", 5, p);
	if (res == NULL)
		goto out;
	/* the first occurrence in the batch of each returned id is the fresh one */
	for (int r = 0; r < PQntuples(res); r++) {
		const char *id = PQgetvalue(res, r, 0);

		for (size_t i = 0; i < n; i++)
			if (strcasecmp(evs[i]->id, id) == 0) {
				fresh[i] = true;
				break;
			}
	}
	PQclear(res);
	ret = 0;
out:
	for (int k = 0; k < 5; k++)
		pgarray_free(&a[k]);
	return ret;
}
