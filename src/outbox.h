/*
 * outbox: events leave a service through its outbox table, written in the
 * same transaction as the state change that caused them. The relay
 * (relay.h) publishes them.
 *
 * Writing is set-based: a transaction gathers its events in a struct
 * outbox_batch (outbox_add fills in each envelope and renders its body)
 * and writes them all with one INSERT (outbox_queue), however many there
 * are. Every row records the transaction that wrote it (column tx, an xid8),
 * which is how the relay finds new rows cheaply (see relay.h).
 */
#ifndef CHORUS_OUTBOX_H
#define CHORUS_OUTBOX_H

#include <stddef.h>

#include "db.h"
#include "envelope.h"
#include "service.h"

/* Events one transaction writes; owns their rendered bodies. */
struct outbox_batch {
	enum service_id svc;
	size_t n, cap;
	struct outbox_row *rows;
};

/*
 * Rows neither published nor waiting in the retry tier are newer than the
 * relay's stored horizon (relay.h): this condition, over the table outbox
 * aliased o, finds exactly the unpublished rows using indexes only. (The
 * least() guards a database restored into another cluster, whose
 * transaction ids are lower than the stored horizon.)
 */
#define OUTBOX_PENDING_WHERE \
	"o.published_at IS NULL AND (o.retrying OR o.tx >= (SELECT least(horizon, " \
	"pg_snapshot_xmin(pg_current_snapshot())) FROM outbox_relay))"

/* Start an empty batch for service svc (no allocation until the first add). */
void outbox_batch_init(struct outbox_batch *ob, enum service_id svc);
/* Forget the batch's events, keeping its memory for the next transaction. */
void outbox_batch_clear(struct outbox_batch *ob);
void outbox_batch_free(struct outbox_batch *ob);

/*
 * Fill in ev's envelope (new id, source chorus/<service>, subject =
 * order_id, time now, traceparent continuing cause's trace, or a new trace
 * when cause is NULL or has none), render it and add it to the batch.
 */
void outbox_add(struct outbox_batch *ob, struct event *ev, const struct event *cause);
/* Queue on q the one INSERT writing every event of the batch (nothing when empty). */
void outbox_queue(const struct outbox_batch *ob, struct db_batch *q);
/*
 * Write one event at once in the caller's open transaction (outbox_add +
 * outbox_queue + run). 0, or -1 (database failure recorded on db).
 */
int outbox_put(struct db *db, enum service_id svc, struct event *ev, const struct event *cause);

#endif
