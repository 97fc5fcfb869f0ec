/*
 * deadletter: the one list of the headers dead-lettering and retrying put
 * on a message: Chorus's own (x-chorus-*, x-original-*) and the broker's
 * x-death family. Forwarding (src/consumer.c) sets them, chorusctl dead
 * show, dead replay and trace read or strip them, so a header is named
 * here once.
 *
 * Two kinds: history headers describe the message's whole life and are
 * kept from one forward to the next (first error, original routing);
 * per-hop headers describe the latest failure and are set anew by each
 * forward (reason, attempt, last error, ...).
 */
#ifndef CHORUS_DEADLETTER_H
#define CHORUS_DEADLETTER_H

#include <stddef.h>

#include "broker.h"

/* Why the message was dead-lettered: "<reason>: <detail>" (per hop). */
#define DEADLETTER_REASON		"x-chorus-reason"
/* Transient failures so far (per hop: each forward writes the new count). */
#define DEADLETTER_ATTEMPT		"x-chorus-attempt"
/* The latest failure (per hop). */
#define DEADLETTER_LAST_ERROR		"x-chorus-last-error"
/* The first failure and when it happened (history). */
#define DEADLETTER_FIRST_ERROR		"x-chorus-first-error"
#define DEADLETTER_FIRST_FAILED_AT	"x-chorus-first-failed-at"
/* When it was dead-lettered (per hop). */
#define DEADLETTER_DEAD_AT		"x-chorus-dead-at"
/* The service that dead-lettered or retried it (per hop). */
#define DEADLETTER_SERVICE		"x-chorus-service"
/* Where it was first published (history). */
#define DEADLETTER_ORIGINAL_EXCHANGE	"x-original-exchange"
#define DEADLETTER_ORIGINAL_ROUTING_KEY	"x-original-routing-key"
/* Who first published it: its AMQP user_id, verified by the broker (history). */
#define DEADLETTER_ORIGINAL_USER_ID	"x-original-user-id"

/*
 * Why d was dead-lettered, into buf: x-chorus-reason when Chorus did it;
 * when RabbitMQ did (x-death, latest first: e.g. past the queue's
 * x-delivery-limit, a crash loop), "<its reason>: dead-lettered by
 * RabbitMQ from <queue>", e.g. "delivery_limit: ...". NULL when neither.
 */
const char *deadletter_reason(const struct delivery *d, char *buf, size_t len);
/*
 * Where d was first published, into ex and rk: the x-original-* headers
 * of a Chorus dead letter; the first death's exchange and routing key of
 * one RabbitMQ dead-lettered (x-death); else d's own exchange and key.
 */
void deadletter_origin(const struct delivery *d, char *ex, size_t exlen, char *rk, size_t rklen);
/* true when key is one of the headers above or of the broker's x-death family. */
int deadletter_is_header(const char *key);
/* true when key is a history header: a forward keeps the message's value. */
int deadletter_is_history(const char *key);
/*
 * The headers of d a forward keeps: the message's own and the history
 * headers, not the per-hop ones it sets anew. Copies at most max entries
 * into h (pointing into d: valid while d is); returns how many.
 */
size_t deadletter_kept_headers(const struct delivery *d, struct broker_header *h, size_t max);
/*
 * The message's own headers, without any of the list: what a replay of a
 * dead letter sends. Copies at most max entries into h (pointing into d);
 * returns how many.
 */
size_t deadletter_original_headers(const struct delivery *d, struct broker_header *h, size_t max);

#endif
