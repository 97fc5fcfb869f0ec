/*
 * origin: who may publish what, checked on every delivery before it is
 * applied (docs/security.md, "Threat model").
 *
 * An event is accepted when it came through the exchange of its type,
 * published by the RabbitMQ user of the service owning the type (the AMQP
 * user_id, which the broker checks against the publisher's login) with the
 * CloudEvents source "chorus/<service>". Two more publishers are accepted:
 * the administrative identity (amqp_admin_user: chorusctl publish, replay,
 * bench; it holds every right on the broker, so refusing its events would
 * protect nothing), and the service itself on its own retry path. Anything
 * else is forged: dead-lettered, never applied.
 *
 * Control headers (x-chorus-attempt, x-original-*, the first error) are
 * honoured only on a delivery from the service's own retry exchange
 * (chorus.<service>.retry), which only the service's user and the
 * administrative identity may write (origin_retry_path); anywhere else a
 * publisher could have set them.
 */
#ifndef CHORUS_ORIGIN_H
#define CHORUS_ORIGIN_H

#include <stdbool.h>
#include <stddef.h>

#include "broker.h"
#include "conf.h"
#include "envelope.h"
#include "service.h"

/* true when d came through svc's retry exchange from svc's user or the admin. */
bool origin_retry_path(const struct delivery *d, enum service_id svc, const struct conf *cfg);
/*
 * 0 when ev (the parsed body of d) may be applied by svc; -1 with
 * "forged: <what>" in why when it may not.
 */
int origin_check(const struct delivery *d, const struct event *ev, enum service_id svc,
    const struct conf *cfg, char *why, size_t whylen);

#endif
