/*
 * forward: dead letters and retries, published with confirms (see forward.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "deadletter.h"
#include "forward.h"
#include "log.h"
#include "topology.h"
#include "xmalloc.h"

#define FORWARD_CONFIRM_TIMEOUT_MS 30000

/* The trace id of d's traceparent header, or "-" (for log lines). */
static const char *
trace_id(const struct delivery *d, char out[33])
{
	const char *tp = delivery_header(d, "traceparent");

	if (tp == NULL || !envelope_valid_traceparent(tp))
		return "-";
	memcpy(out, tp + 3, 32);
	out[32] = '\0';
	return out;
}

/* Everything one forwarded copy needs that must live until it is published. */
struct copy {
	struct broker_header h[BROKER_MAX_HEADERS];
	char attempt[16], reason[ENVELOPE_WHY_MAX + 32], queue[128], expiration[16], now[32];
};

/*
 * Build the copy of slot s in m (headers and route in c). The delivery's
 * own control headers are kept only when it came through the retry path
 * (s->retried): anywhere else a publisher may have written them.
 */
static void
build(const struct slot *s, enum service_id svc, const struct retry_policy *p, struct copy *c,
    struct broker_msg *m)
{
	const struct delivery *d = &s->d;
	const char *name = service_name(svc);
	size_t nh = 0;

	broker_msg_of_delivery(m, d);
	m->headers = c->h;
	m->exchange = topology_dead_exchange(svc);
	m->routing_key = name;
	envelope_now(c->now);
	/* the Chorus headers first, the message's own after them */
	if (!s->retried || delivery_header(d, DEADLETTER_ORIGINAL_ROUTING_KEY) == NULL) {
		c->h[nh++] = (struct broker_header){ DEADLETTER_ORIGINAL_EXCHANGE, d->exchange };
		c->h[nh++] = (struct broker_header){ DEADLETTER_ORIGINAL_ROUTING_KEY, d->routing_key };
		c->h[nh++] = (struct broker_header){ DEADLETTER_ORIGINAL_USER_ID,
		    d->user_id ? d->user_id : (char *)"" };
	}
	c->h[nh++] = (struct broker_header){ DEADLETTER_SERVICE, (char *)name };
	if (s->out == OUT_POISON) {
		c->h[nh++] = (struct broker_header){ DEADLETTER_REASON, (char *)s->why };
		c->h[nh++] = (struct broker_header){ DEADLETTER_DEAD_AT, c->now };
	} else {
		snprintf(c->attempt, sizeof(c->attempt), "%u", s->attempt);
		c->h[nh++] = (struct broker_header){ DEADLETTER_ATTEMPT, c->attempt };
		c->h[nh++] = (struct broker_header){ DEADLETTER_LAST_ERROR, (char *)s->why };
		if (!s->retried || delivery_header(d, DEADLETTER_FIRST_ERROR) == NULL) {
			c->h[nh++] = (struct broker_header){ DEADLETTER_FIRST_ERROR, (char *)s->why };
			c->h[nh++] = (struct broker_header){ DEADLETTER_FIRST_FAILED_AT, c->now };
		}
	}
	if (s->out == OUT_RETRY) {
		retry_queue_name(svc, p, s->step, c->queue, sizeof(c->queue));
		snprintf(c->expiration, sizeof(c->expiration), "%u",
		    retry_delay_ms(p, s->step, backoff_random()));
		m->exchange = topology_retry_exchange(svc);
		m->routing_key = c->queue;
		m->expiration = c->expiration;
	} else if (s->out == OUT_EXHAUSTED) {
		snprintf(c->reason, sizeof(c->reason), "retries_exhausted: %s", s->why);
		c->h[nh++] = (struct broker_header){ DEADLETTER_REASON, c->reason };
		c->h[nh++] = (struct broker_header){ DEADLETTER_DEAD_AT, c->now };
	}
	if (s->retried)
		nh += deadletter_kept_headers(d, c->h + nh, BROKER_MAX_HEADERS - nh);
	else
		nh += deadletter_original_headers(d, c->h + nh, BROKER_MAX_HEADERS - nh);
	m->nheaders = nh;
}

/* One log line per dead letter; retries are summed up by the caller. */
static void
log_forward(const struct slot *s, enum service_id svc)
{
	const struct delivery *d = &s->d;
	char trace[33];

	if (s->out == OUT_POISON)
		log_warn("msg=\"poison message dead-lettered\" queue=%s event_id=%s type=%s "
		    "order_id=%s trace_id=%s reason=\"%s\"", topology_dead_queue(svc),
		    d->message_id ? d->message_id : "-", d->type ? d->type : "-",
		    d->correlation_id ? d->correlation_id : "-", trace_id(d, trace), s->why);
	else if (s->out == OUT_EXHAUSTED)
		log_error("msg=\"retries exhausted, message dead-lettered\" queue=%s event_id=%s "
		    "type=%s order_id=%s trace_id=%s attempts=%u error=\"%s\"",
		    topology_dead_queue(svc), d->message_id ? d->message_id : "-",
		    d->type ? d->type : "-", d->correlation_id ? d->correlation_id : "-",
		    trace_id(d, trace), s->attempt, s->why);
}

int
forward_slots(struct broker_batch *bb, enum service_id svc, const struct retry_policy *p,
    struct slot *s, size_t n, char **cause)
{
	struct copy *c = xmalloc(sizeof(*c));
	size_t retried = 0, last = 0;
	int ret = -1;

	broker_batch_clear(bb);
	for (size_t i = 0; i < n; i++) {
		struct broker_msg m;

		if (s[i].out != OUT_POISON && s[i].out != OUT_RETRY && s[i].out != OUT_EXHAUSTED)
			continue;
		build(&s[i], svc, p, c, &m);
		log_forward(&s[i], svc);
		if (broker_batch_add(bb, &m, cause) != 0)
			goto out;
		if (s[i].out == OUT_RETRY) {
			retried++;
			last = i;
		}
	}
	if (retried > 0) {
		retry_queue_name(svc, p, s[last].step, c->queue, sizeof(c->queue));
		log_warn("msg=\"transient failure: deliveries sent to a retry queue\" count=%zu "
		    "queue=%s error=\"%s\"", retried, c->queue, s[last].why);
	}
	if (broker_batch_count(bb) > 0 &&
	    broker_batch_wait(bb, FORWARD_CONFIRM_TIMEOUT_MS, cause) != 0)
		goto out;
	if (broker_batch_failed(bb) > 0) {
		*cause = xasprintf("%zu forwarded message(s) not confirmed by the broker",
		    broker_batch_failed(bb));
		goto out;
	}
	ret = 0;
out:
	broker_batch_clear(bb);
	free(c);
	return ret;
}
