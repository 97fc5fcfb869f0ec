/*
 * inbox: deduplication of consumed events. Claiming event ids records them
 * in the service's inbox table inside the caller's transaction, so the
 * effects and the records commit (or roll back) together: a redelivered or
 * re-published event finds its id and has no second effect. A whole batch
 * is claimed with one statement.
 */
#ifndef CHORUS_INBOX_H
#define CHORUS_INBOX_H

#include <stdbool.h>
#include <stddef.h>

#include "db.h"
#include "envelope.h"

/*
 * Claim the ids of the n events. fresh[i] becomes true for the first
 * occurrence of an id never seen before, false for one already processed
 * (or repeated earlier in the same batch). 0, or -1 on a database failure.
 */
int inbox_claim(struct db *db, const struct event *const *evs, size_t n, bool *fresh);

#endif
