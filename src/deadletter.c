/*
 * deadletter: the dead-letter and retry headers (see deadletter.h).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "deadletter.h"

struct header_kind {
	const char *key;
	int history;		/* kept from one forward to the next */
};

static const struct header_kind headers[] = {
	{ DEADLETTER_REASON, 0 },
	{ DEADLETTER_ATTEMPT, 0 },
	{ DEADLETTER_LAST_ERROR, 0 },
	{ DEADLETTER_FIRST_ERROR, 1 },
	{ DEADLETTER_FIRST_FAILED_AT, 1 },
	{ DEADLETTER_DEAD_AT, 0 },
	{ DEADLETTER_SERVICE, 0 },
	{ DEADLETTER_ORIGINAL_EXCHANGE, 1 },
	{ DEADLETTER_ORIGINAL_ROUTING_KEY, 1 },
	{ DEADLETTER_ORIGINAL_USER_ID, 1 },
	/* the broker's own dead-lettering (x-delivery-limit, TTL of the retry queues) */
	{ "x-death", 0 },
	{ "x-delivery-count", 0 },	/* a quorum queue's count of redeliveries */
	{ "x-first-death-exchange", 0 },
	{ "x-first-death-queue", 0 },
	{ "x-first-death-reason", 0 },
	{ "x-last-death-exchange", 0 },
	{ "x-last-death-queue", 0 },
	{ "x-last-death-reason", 0 },
};

#define NHEADERS (sizeof(headers) / sizeof(headers[0]))

static const struct header_kind *
find(const char *key)
{
	for (size_t i = 0; i < NHEADERS; i++)
		if (strcmp(headers[i].key, key) == 0)
			return &headers[i];
	return NULL;
}

int
deadletter_is_header(const char *key)
{
	return find(key) != NULL;
}

int
deadletter_is_history(const char *key)
{
	const struct header_kind *k = find(key);

	return k != NULL && k->history;
}

size_t
deadletter_kept_headers(const struct delivery *d, struct broker_header *h, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < d->nheaders && n < max; i++) {
		const struct header_kind *k = find(d->headers[i].key);

		if (k == NULL || k->history)
			h[n++] = d->headers[i];
	}
	return n;
}

size_t
deadletter_original_headers(const struct delivery *d, struct broker_header *h, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < d->nheaders && n < max; i++)
		if (find(d->headers[i].key) == NULL)
			h[n++] = d->headers[i];
	return n;
}

/*
 * The value of key in the first table of text as broker.c renders x-death
 * ("[{count=1, queue=q, reason=delivery_limit, ...}, {...}]"), into out.
 */
static int
first_entry_value(const char *text, const char *key, char *out, size_t len)
{
	const char *end = strchr(text, '}'), *p = strchr(text, '{');
	size_t klen = strlen(key), n;

	if (p == NULL || end == NULL)
		return -1;
	while (p != NULL && p < end) {
		p++;	/* past "{" or "," */
		while (*p == ' ')
			p++;
		if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
			p += klen + 1;
			n = strcspn(p, ",}");
			snprintf(out, len, "%.*s", (int)n, p);
			return 0;
		}
		p = strchr(p, ',');
	}
	return -1;
}

const char *
deadletter_reason(const struct delivery *d, char *buf, size_t len)
{
	const char *ours = delivery_header(d, DEADLETTER_REASON), *death;
	char why[64], queue[256];

	if (ours != NULL)
		return ours;
	if ((death = delivery_header(d, "x-death")) == NULL ||
	    first_entry_value(death, "reason", why, sizeof(why)) != 0)
		return NULL;
	if (first_entry_value(death, "queue", queue, sizeof(queue)) != 0)
		snprintf(queue, sizeof(queue), "?");
	snprintf(buf, len, "%s: dead-lettered by RabbitMQ from %s", why, queue);
	return buf;
}

void
deadletter_origin(const struct delivery *d, char *ex, size_t exlen, char *rk, size_t rklen)
{
	const char *e = delivery_header(d, DEADLETTER_ORIGINAL_EXCHANGE);
	const char *k = delivery_header(d, DEADLETTER_ORIGINAL_ROUTING_KEY);
	const char *death = delivery_header(d, "x-death");
	char keys[256];

	if (k != NULL) {
		snprintf(ex, exlen, "%s", e ? e : "");
		snprintf(rk, rklen, "%s", k);
	} else if (death != NULL && first_entry_value(death, "routing-keys", keys, sizeof(keys)) == 0) {
		/* "[key]" (the first one, cut at a comma by first_entry_value) */
		e = delivery_header(d, "x-first-death-exchange");
		snprintf(ex, exlen, "%s", e ? e : "");
		snprintf(rk, rklen, "%.*s", (int)strcspn(keys + (keys[0] == '['), "]"),
		    keys + (keys[0] == '['));
	} else {
		snprintf(ex, exlen, "%s", d->exchange ? d->exchange : "");
		snprintf(rk, rklen, "%s", d->routing_key ? d->routing_key : "");
	}
}
