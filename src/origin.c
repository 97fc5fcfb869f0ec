/*
 * origin: who may publish what (see origin.h).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "origin.h"
#include "topology.h"

static bool
same(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

bool
origin_retry_path(const struct delivery *d, enum service_id svc, const struct conf *cfg)
{
	return same(d->exchange, topology_retry_exchange(svc)) &&
	    (same(d->user_id, cfg->amqp_user[svc]) || same(d->user_id, cfg->amqp_admin_user));
}

/* s fit for a reason (log lines, headers): printable ASCII, no quote, at most 64 bytes. */
static const char *
shown(const char *s, char out[65])
{
	size_t n = 0;

	for (; s != NULL && *s != '\0' && n < 64; s++)
		out[n++] = (*s >= 0x20 && *s < 0x7f && *s != '"' && *s != '\'' && *s != '\\') ?
		    *s : '?';
	out[n] = '\0';
	return out;
}

int
origin_check(const struct delivery *d, const struct event *ev, enum service_id svc,
    const struct conf *cfg, char *why, size_t whylen)
{
	enum service_id owner = service_of_type(ev->type);
	const char *type = event_type_name(ev->type), *user = d->user_id ? d->user_id : "";
	char source[64], buf[65];

	/* the operator's identity, and what the service itself sent to be retried */
	if (same(user, cfg->amqp_admin_user) || (origin_retry_path(d, svc, cfg) &&
	    same(user, cfg->amqp_user[svc])))
		return 0;
	if (owner == SVC__COUNT) {
		snprintf(why, whylen, "forged: %s has no owning service", type ? type : "?");
		return -1;
	}
	if (!same(d->exchange, topology_exchange(owner))) {
		snprintf(why, whylen, "forged: %s came through exchange '%s', not %s", type,
		    shown(d->exchange, buf), topology_exchange(owner));
		return -1;
	}
	if (!same(user, cfg->amqp_user[owner])) {
		snprintf(why, whylen, "forged: %s published by user '%s', not %s", type,
		    shown(user, buf), cfg->amqp_user[owner]);
		return -1;
	}
	snprintf(source, sizeof(source), "chorus/%s", service_name(owner));
	if (!same(ev->source, source)) {
		snprintf(why, whylen, "forged: %s with source '%s', not %s", type,
		    shown(ev->source, buf), source);
		return -1;
	}
	return 0;
}
