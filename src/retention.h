/*
 * retention: published outbox rows and remembered inbox ids are deleted
 * once older than outbox_retention / inbox_retention hours, in bounded
 * rounds (5,000 rows a table a round) so that it never holds up the
 * consumer for long; a timer of every worker (see handler.h).
 */
#ifndef CHORUS_RETENTION_H
#define CHORUS_RETENTION_H

#include "handler.h"

extern const struct handler_timer retention_timer;

#endif
