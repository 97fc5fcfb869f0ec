/*
 * topology: declaration of the contract's exchanges, queues and bindings
 * (see topology.h).
 */
#include "config.h"

#include <stdlib.h>

#include <stdio.h>

#include "pgarray.h"
#include "topology.h"
#include "xmalloc.h"

static const char *const queues[SVC__COUNT] = {
	"chorus.order.events", "chorus.inventory.events", "chorus.payment.events" };
static const char *const dead_queues[SVC__COUNT] = {
	"chorus.order.dead", "chorus.inventory.dead", "chorus.payment.dead" };
static const char *const exchanges[SVC__COUNT] = {
	"chorus.order", "chorus.inventory", "chorus.payment" };
static const char *const retry_exchanges[SVC__COUNT] = {
	"chorus.order.retry", "chorus.inventory.retry", "chorus.payment.retry" };
static const char *const dead_exchanges[SVC__COUNT] = {
	"chorus.order.dlx", "chorus.inventory.dlx", "chorus.payment.dlx" };
/* write: the service's three exchanges; read: its queue (topology_permissions) */
static const char *const write_perms[SVC__COUNT] = {
	"^chorus\\.order(\\.retry|\\.dlx)?$", "^chorus\\.inventory(\\.retry|\\.dlx)?$",
	"^chorus\\.payment(\\.retry|\\.dlx)?$" };
static const char *const read_perms[SVC__COUNT] = {
	"^chorus\\.order\\.events$", "^chorus\\.inventory\\.events$", "^chorus\\.payment\\.events$" };

const char *
topology_queue(enum service_id svc)
{
	return svc < SVC__COUNT ? queues[svc] : NULL;
}

const char *
topology_dead_queue(enum service_id svc)
{
	return svc < SVC__COUNT ? dead_queues[svc] : NULL;
}

const char *
topology_exchange(enum service_id svc)
{
	return svc < SVC__COUNT ? exchanges[svc] : NULL;
}

const char *
topology_retry_exchange(enum service_id svc)
{
	return svc < SVC__COUNT ? retry_exchanges[svc] : NULL;
}

const char *
topology_dead_exchange(enum service_id svc)
{
	return svc < SVC__COUNT ? dead_exchanges[svc] : NULL;
}

void
topology_permissions(enum service_id svc, const char **configure, const char **write,
    const char **read)
{
	*configure = "^$";
	*write = write_perms[svc];
	*read = read_perms[svc];
}

static int
declare_service(struct broker *b, enum service_id svc, const struct retry_policy *p,
    char **cause)
{
	struct broker_queue_args dead = { .quorum = 1 };
	struct broker_queue_args events = {
		.quorum = 1,
		.dead_letter_exchange = dead_exchanges[svc],
		.dead_letter_routing_key = service_name(svc),
		.delivery_limit = TOPOLOGY_DELIVERY_LIMIT,
		.at_least_once = 1,
	};

	if (broker_declare_exchange(b, dead_exchanges[svc], "fanout", NULL, cause) != 0 ||
	    broker_declare_exchange(b, retry_exchanges[svc], "direct", NULL, cause) != 0 ||
	    broker_declare_queue(b, dead_queues[svc], &dead, cause) != 0 ||
	    broker_bind(b, dead_queues[svc], dead_exchanges[svc], "", cause) != 0 ||
	    broker_declare_queue(b, queues[svc], &events, cause) != 0 ||
	    broker_bind(b, queues[svc], retry_exchanges[svc], queues[svc], cause) != 0)
		return -1;
	for (int t = EV_UNKNOWN + 1; t < EV__COUNT; t++) {
		if (!service_consumes(svc, (enum event_type)t))
			continue;
		if (broker_bind(b, queues[svc], event_type_exchange((enum event_type)t),
		    event_type_routing_key((enum event_type)t), cause) != 0)
			return -1;
	}
	for (size_t i = 0; i < p->steps; i++) {
		struct broker_queue_args retry = {
			.quorum = 1,
			.dead_letter_exchange = retry_exchanges[svc],
			.dead_letter_routing_key = queues[svc],
			.message_ttl_ms = (long)p->delay_ms[i],
			.at_least_once = 1,
		};
		char name[128];

		retry_queue_name(svc, p, (int)i, name, sizeof(name));
		if (broker_declare_queue(b, name, &retry, cause) != 0 ||
		    broker_bind(b, name, retry_exchanges[svc], name, cause) != 0)
			return -1;
	}
	return 0;
}

/*
 * The alternate exchange of the service exchanges sorts what no queue took:
 * a message asking to be returned (BROKER_RETURN_UNROUTABLE: a worker's
 * outbox) goes to an exchange bound to nothing, so it ends unroutable and
 * returned to its publisher; any other goes on through the alternate
 * exchange's own alternate exchange to the queue chorus.unrouted.
 */
static int
declare_unrouted(struct broker *b, char **cause)
{
	struct broker_queue_args unrouted = { .quorum = 1 };

	if (broker_declare_exchange(b, TOPOLOGY_UNROUTED_OTHERS, "fanout", NULL, cause) != 0 ||
	    broker_declare_queue(b, TOPOLOGY_UNROUTED, &unrouted, cause) != 0 ||
	    broker_bind(b, TOPOLOGY_UNROUTED, TOPOLOGY_UNROUTED_OTHERS, "", cause) != 0 ||
	    broker_declare_exchange(b, TOPOLOGY_UNROUTED_RETURN, "fanout", NULL, cause) != 0 ||
	    broker_declare_exchange(b, TOPOLOGY_UNROUTED, "headers", TOPOLOGY_UNROUTED_OTHERS,
	    cause) != 0)
		return -1;
	return broker_bind_on_header(b, TOPOLOGY_UNROUTED_RETURN, TOPOLOGY_UNROUTED,
	    BROKER_RETURN_UNROUTABLE, cause);
}

int
topology_declare(struct broker *b, enum service_id svc, const struct retry_policy *p,
    char **cause)
{
	if (declare_unrouted(b, cause) != 0)
		return -1;
	/* every service exchange: a service's queue is bound to the others' */
	for (int s = 0; s < SVC__COUNT; s++)
		if (broker_declare_exchange(b, exchanges[s], "topic", TOPOLOGY_UNROUTED, cause) != 0)
			return -1;
	for (int s = 0; s < SVC__COUNT; s++)
		if ((svc == SVC__COUNT || svc == (enum service_id)s) &&
		    declare_service(b, (enum service_id)s, p, cause) != 0)
			return -1;
	return 0;
}

/* Say what is missing and what to do; returns -1. */
static int
missing(char **cause)
{
	char *c = *cause;

	*cause = xasprintf("%s: the topology is not declared (run chorusctl setup)", c);
	free(c);
	return -1;
}

int
topology_verify(struct broker *b, enum service_id svc, const struct retry_policy *p,
    char **cause)
{
	const char *const exs[] = { exchanges[svc], retry_exchanges[svc], dead_exchanges[svc] };
	const char *const qs[] = { queues[svc], dead_queues[svc] };

	for (size_t i = 0; i < sizeof(exs) / sizeof(exs[0]); i++)
		if (broker_exchange_exists(b, exs[i], cause) != 0)
			return missing(cause);
	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++)
		if (broker_queue_stat(b, qs[i], NULL, NULL, cause) != 0)
			return missing(cause);
	for (size_t i = 0; i < p->steps; i++) {
		char name[128];

		retry_queue_name(svc, p, (int)i, name, sizeof(name));
		if (broker_queue_stat(b, name, NULL, NULL, cause) != 0)
			return missing(cause);
	}
	return 0;
}

int
topology_record_retry_queues(struct db *db, enum service_id svc, const struct retry_policy *p)
{
	struct pgarray names = { 0 }, delays = { 0 };
	const char *params[2];
	PGresult *res;

	for (size_t i = 0; i < p->steps; i++) {
		char name[128], delay[24];

		retry_queue_name(svc, p, (int)i, name, sizeof(name));
		snprintf(delay, sizeof(delay), "%lu", (unsigned long)p->delay_ms[i]);
		pgarray_add(&names, name);
		pgarray_add(&delays, delay);
	}
	params[0] = pgarray_text(&names);
	params[1] = pgarray_text(&delays);
	res = db_query(db, "retry_queues_record",
	    "INSERT INTO retry_queues (name, delay_ms) "
	    "SELECT * FROM unnest($1::text[], $2::bigint[]) "
	    "ON CONFLICT (name) DO UPDATE SET declared_at = now()", 2, params);
	pgarray_free(&names);
	pgarray_free(&delays);
	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}
