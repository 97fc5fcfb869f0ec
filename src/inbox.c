/*
 * inbox: consumed-event deduplication (see inbox.h).
 */
#include "config.h"

#include "inbox.h"

int
inbox_claim(struct db *db, const struct event *ev)
{
	const char *p[5] = { ev->id, event_type_name(ev->type), ev->order_id, ev->source,
		ev->traceparent[0] ? ev->traceparent : NULL };
	PGresult *res;
	long n;

	res = db_query(db, "inbox_claim",
	    "INSERT INTO inbox (event_id, type, order_id, source, traceparent) "
	    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING", 5, p);
	if (res == NULL)
		return -1;
	n = db_affected(res);
	PQclear(res);
	return n == 1;
}
