/*
 * topology: the RabbitMQ exchanges, queues and bindings of the contract,
 * declared idempotently with explicit arguments:
 *   chorus.order, chorus.inventory, chorus.payment   topic exchanges the
 *       services publish on, alternate-exchange chorus.unrouted
 *   chorus.unrouted   headers exchange (alternate exchange chorus.unrouted.others)
 *       and quorum queue: events no queue wanted. An event carrying
 *       BROKER_RETURN_UNROUTABLE (a worker's own, from its outbox) goes on to
 *       chorus.unrouted.return, bound to nothing: it is returned to the
 *       publisher (mandatory) and stays in the outbox. Any other goes on to
 *       chorus.unrouted.others (fanout) and is kept in the queue
 *       chorus.unrouted (chorusctl unrouted).
 *   chorus.<service>.events   quorum queue each worker consumes, bound to the
 *       routing keys of the types the service consumes, dead-lettering to
 *       chorus.<service>.dlx (at-least-once) past x-delivery-limit deliveries.
 *   chorus.<service>.dlx   fanout exchange to chorus.<service>.dead, the
 *       quorum queue of the service's dead letters.
 *   chorus.<service>.retry   direct exchange of the service's retry path:
 *       routing key = queue name, to the delay queues and back to .events.
 *   chorus.<service>.retry.<delay>   one quorum queue per step of the retry
 *       ladder: x-message-ttl = the delay, dead-lettering (at-least-once)
 *       through chorus.<service>.retry back to chorus.<service>.events.
 * Nothing goes through the default exchange, so a service's RabbitMQ user
 * needs write on its own three exchanges only (topology_permissions).
 */
#ifndef CHORUS_TOPOLOGY_H
#define CHORUS_TOPOLOGY_H

#include "broker.h"
#include "db.h"
#include "retry.h"
#include "service.h"

#define TOPOLOGY_UNROUTED "chorus.unrouted"
#define TOPOLOGY_UNROUTED_OTHERS "chorus.unrouted.others"
#define TOPOLOGY_UNROUTED_RETURN "chorus.unrouted.return"
/* Deliveries of one message before the broker dead-letters it (a crash loop). */
#define TOPOLOGY_DELIVERY_LIMIT 20

/* "chorus.<service>.events" */
const char *topology_queue(enum service_id svc);
/* "chorus.<service>.dead" */
const char *topology_dead_queue(enum service_id svc);
/* "chorus.<service>" */
const char *topology_exchange(enum service_id svc);
/* "chorus.<service>.retry": the retry path, only the service and the admin write it */
const char *topology_retry_exchange(enum service_id svc);
/* "chorus.<service>.dlx": to the dead-letter queue */
const char *topology_dead_exchange(enum service_id svc);
/*
 * The RabbitMQ permissions (configure, write, read regular expressions) of
 * the service's user: no configure; write on its own exchanges; read of
 * its own queue. Static strings.
 */
void topology_permissions(enum service_id svc, const char **configure, const char **write,
    const char **read);
/*
 * Declare what svc needs, or everything when svc is SVC__COUNT, with the
 * retry queues of the ladder in p. 0, or -1 with *cause.
 */
int topology_declare(struct broker *b, enum service_id svc, const struct retry_policy *p,
    char **cause);
/*
 * Check, with passive declares only (no configure right needed), that
 * what svc uses exists. 0, or -1 with *cause naming what is missing and
 * saying to run chorusctl setup.
 */
int topology_verify(struct broker *b, enum service_id svc, const struct retry_policy *p,
    char **cause);
/*
 * Record in svc's database (table retry_queues) the retry queues of the
 * ladder in p, declared: chorusctl setup finds those a later ladder left
 * behind. 0, or -1 (db_last_error).
 */
int topology_record_retry_queues(struct db *db, enum service_id svc,
    const struct retry_policy *p);

#endif
