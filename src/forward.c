/*
 * forward: dead letters and retries, published with confirms (see forward.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "forward.h"
#include "log.h"
#include "topology.h"
#include "xmalloc.h"

#define FORWARD_CONFIRM_TIMEOUT_MS 30000

/* Headers a forwarded copy sets anew: the message's own values of these are dropped. */
static const char *const reset_headers[] = { "x-chorus-reason", "x-chorus-attempt",
	"x-chorus-last-error", "x-chorus-dead-at", "x-chorus-service", "x-death",
	"x-first-death-exchange", "x-first-death-queue", "x-first-death-reason",
	"x-last-death-exchange", "x-last-death-queue", "x-last-death-reason", NULL };

/* Headers of d that a forwarded copy keeps, appended to h (at most max). */
static size_t
kept_headers(const struct delivery *d, struct broker_header *h, size_t max)
{
	size_t n = 0;

	for (size_t j = 0; j < d->nheaders && n < max; j++) {
		int drop = 0;

		for (size_t k = 0; reset_headers[k] != NULL; k++)
			drop |= strcmp(d->headers[j].key, reset_headers[k]) == 0;
		if (!drop)
			h[n++] = d->headers[j];
	}
	return n;
}

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

/* Build the copy of slot s in m (headers and route in c). */
static void
build(const struct slot *s, enum service_id svc, const struct retry_policy *p, struct copy *c,
    struct broker_msg *m)
{
	const struct delivery *d = &s->d;
	const char *name = service_name(svc);
	size_t nh = 0;

	*m = (struct broker_msg){
		.body = d->body, .len = d->len, .content_type = d->content_type,
		.message_id = d->message_id, .type = d->type,
		.correlation_id = d->correlation_id, .app_id = d->app_id,
		.timestamp = d->timestamp, .headers = c->h, .mandatory = 1,
		.exchange = TOPOLOGY_DEAD_EXCHANGE, .routing_key = name,
	};
	envelope_now(c->now);
	if (delivery_header(d, "x-original-routing-key") == NULL) {
		c->h[nh++] = (struct broker_header){ "x-original-exchange", d->exchange };
		c->h[nh++] = (struct broker_header){ "x-original-routing-key", d->routing_key };
	}
	c->h[nh++] = (struct broker_header){ "x-chorus-service", (char *)name };
	if (s->out == OUT_POISON) {
		c->h[nh++] = (struct broker_header){ "x-chorus-reason", (char *)s->why };
		c->h[nh++] = (struct broker_header){ "x-chorus-dead-at", c->now };
	} else {
		snprintf(c->attempt, sizeof(c->attempt), "%u", s->attempt);
		c->h[nh++] = (struct broker_header){ "x-chorus-attempt", c->attempt };
		c->h[nh++] = (struct broker_header){ "x-chorus-last-error", (char *)s->why };
		if (delivery_header(d, "x-chorus-first-error") == NULL) {
			c->h[nh++] = (struct broker_header){ "x-chorus-first-error", (char *)s->why };
			c->h[nh++] = (struct broker_header){ "x-chorus-first-failed-at", c->now };
		}
	}
	if (s->out == OUT_RETRY) {
		retry_queue_name(svc, p, s->step, c->queue, sizeof(c->queue));
		snprintf(c->expiration, sizeof(c->expiration), "%u",
		    retry_delay_ms(p, s->step, backoff_random()));
		m->exchange = "";
		m->routing_key = c->queue;
		m->expiration = c->expiration;
	} else if (s->out == OUT_EXHAUSTED) {
		snprintf(c->reason, sizeof(c->reason), "retries_exhausted: %s", s->why);
		c->h[nh++] = (struct broker_header){ "x-chorus-reason", c->reason };
		c->h[nh++] = (struct broker_header){ "x-chorus-dead-at", c->now };
	}
	nh += kept_headers(d, c->h + nh, BROKER_MAX_HEADERS - nh);
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
forward_slots(struct broker *b, enum service_id svc, const struct retry_policy *p,
    struct slot *s, size_t n, char **cause)
{
	const char **ids = xcalloc(n + 1, sizeof(*ids));
	enum confirm *st = xcalloc(n + 1, sizeof(*st));
	struct copy *c = xmalloc(sizeof(*c));
	uint64_t first = 0, tag;
	size_t k = 0, retried = 0, last = 0;
	int ret = -1;

	for (size_t i = 0; i < n; i++) {
		struct broker_msg m;

		if (s[i].out != OUT_POISON && s[i].out != OUT_RETRY && s[i].out != OUT_EXHAUSTED)
			continue;
		build(&s[i], svc, p, c, &m);
		log_forward(&s[i], svc);
		if (broker_publish(b, &m, &tag, cause) != 0)
			goto out;
		if (k == 0)
			first = tag;
		ids[k++] = s[i].d.message_id;
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
	if (k > 0 && broker_wait_confirms(b, first, k, ids, st, FORWARD_CONFIRM_TIMEOUT_MS,
	    cause) != 0)
		goto out;
	for (size_t i = 0; i < k; i++)
		if (st[i] != CONFIRM_ACK) {
			*cause = xasprintf("forwarded message not confirmed by the broker");
			goto out;
		}
	ret = 0;
out:
	free(ids);
	free(st);
	free(c);
	return ret;
}
