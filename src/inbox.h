/*
 * inbox: deduplication of consumed events. Claiming an event id records it
 * in the service's inbox table inside the caller's transaction, so the
 * effect and the record commit (or roll back) together: a redelivered or
 * re-published event finds its id and has no second effect.
 */
#ifndef CHORUS_INBOX_H
#define CHORUS_INBOX_H

#include "db.h"
#include "envelope.h"

/* 1: first time (go on), 0: already processed (skip), -1: database failure. */
int inbox_claim(struct db *db, const struct event *ev);

#endif
