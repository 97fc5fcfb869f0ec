/*
 * retention: the clean-up timer (see retention.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "retention.h"

#define RETENTION_ROUND 5000
#define RETENTION_PERIOD_MS 60000

static long
period_ms(const struct conf *cfg)
{
	(void)cfg;
	return RETENTION_PERIOD_MS;
}

/* One round; 1 when a table had a full round (more to delete), 0 when caught up. */
static int
run(struct handler_ctx *h)
{
	char outbox_h[24], inbox_h[24];
	const char *p[2] = { outbox_h, inbox_h };
	PGresult *res;
	size_t at;
	long o, i;

	snprintf(outbox_h, sizeof(outbox_h), "%ld", h->cfg->outbox_retention_h);
	snprintf(inbox_h, sizeof(inbox_h), "%ld", h->cfg->inbox_retention_h);
	/* by age through the BRIN indexes on created_at / received_at, never a full scan */
	at = db_batch_add(h->q, "retention",
	    "WITH o AS (DELETE FROM outbox WHERE ctid = ANY(ARRAY(SELECT ctid FROM outbox "
	    "    WHERE created_at < now() - make_interval(hours => $1::int) "
	    "    AND published_at IS NOT NULL LIMIT 5000)) RETURNING 1), "
	    "  i AS (DELETE FROM inbox WHERE ctid = ANY(ARRAY(SELECT ctid FROM inbox "
	    "    WHERE received_at < now() - make_interval(hours => $2::int) LIMIT 5000)) RETURNING 1) "
	    "SELECT (SELECT count(*) FROM o), (SELECT count(*) FROM i)", 2, p);
	if (handler_load(h) != 0)
		return -1;
	res = db_batch_result(h->q, at);
	o = atol(PQgetvalue(res, 0, 0));
	i = atol(PQgetvalue(res, 0, 1));
	if (o + i > 0)
		log_info("msg=\"clean-up\" outbox_rows_deleted=%ld inbox_rows_deleted=%ld", o, i);
	return o >= RETENTION_ROUND || i >= RETENTION_ROUND;
}

const struct handler_timer retention_timer = { "retention", period_ms, run };
