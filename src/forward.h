/*
 * forward: what a batch does not simply acknowledge is published first,
 * with publisher confirms: poison and exhausted deliveries to the
 * dead-letter exchange with their reason and history, transient failures to
 * their delay queue with the attempt counted (see retry.h). The body and
 * the message's properties are kept byte for byte; the Chorus headers go
 * first, the message's own after them.
 */
#ifndef CHORUS_FORWARD_H
#define CHORUS_FORWARD_H

#include <stddef.h>

#include "batch.h"
#include "broker.h"
#include "retry.h"
#include "service.h"

/*
 * Forward the slots of [s, s+n) marked OUT_POISON, OUT_RETRY or
 * OUT_EXHAUSTED through bb (on a confirm-mode connection), with one wait
 * for every confirm. 0, or -1 (*cause): nothing may then be acked.
 */
int forward_slots(struct broker_batch *bb, enum service_id svc, const struct retry_policy *p,
    struct slot *s, size_t n, char **cause);

#endif
