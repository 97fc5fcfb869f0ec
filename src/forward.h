/*
 * forward: what a batch does not simply acknowledge is published first,
 * with publisher confirms: poison and exhausted deliveries to the
 * service's dead-letter exchange (chorus.<service>.dlx) with their reason
 * and history, transient failures through its retry exchange to their
 * delay queue with the attempt counted (see retry.h). Control headers a
 * delivery brought are kept only when it came through the retry path
 * (origin.h). The body and
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
