/*
 * inbox: deduplication of consumed events. Claiming event ids records them
 * in the service's inbox table inside the caller's transaction, so the
 * effects and the records commit (or roll back) together: a redelivered or
 * re-published event finds its id and has no second effect. A whole batch
 * is claimed with one statement, queued with the batch's other reads.
 */
#ifndef CHORUS_INBOX_H
#define CHORUS_INBOX_H

#include <stdbool.h>
#include <stddef.h>

#include "db.h"
#include "envelope.h"

/* Queue on q the claim of the n events' ids; returns its index in q. */
size_t inbox_queue_claim(struct db_batch *q, const struct event *const *evs, size_t n);
/*
 * From the claim's result: fresh[i] becomes true for the first occurrence
 * of an id never seen before, false for one already processed (or repeated
 * earlier in the same batch).
 */
void inbox_fresh(PGresult *claim, const struct event *const *evs, size_t n, bool *fresh);

#endif
