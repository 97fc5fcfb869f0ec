/*
 * chorusctl dead: the dead-letter queues chorus.<service>.dead: how many
 * each holds, the messages of one with their reason (left in the queue),
 * replaying them to the service's queue after a fix, purging them. The
 * dead-letter headers are those of src/deadletter.h.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "deadletter.h"
#include "topology.h"
#include "xmalloc.h"

/* The service named by argv[2], or SVC__COUNT after printing usage. */
static enum service_id
dead_service(int argc, char **argv)
{
	enum service_id s = argc >= 3 ? service_from_name(argv[2]) : SVC__COUNT;

	if (s == SVC__COUNT)
		cli_err("usage: chorusctl dead list | dead show|replay|purge order|inventory|payment [--limit N]");
	return s;
}

static long
limit_arg(int argc, char **argv, long def)
{
	for (int i = 3; i + 1 < argc; i++)
		if (strcmp(argv[i], "--limit") == 0)
			return (long)cli_number(argv[i + 1]);
	return def;
}

static char *
base64(const void *buf, size_t len)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = buf;
	char *out = xmalloc(len / 3 * 4 + 5), *o = out;

	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < len ? (unsigned)p[i + 1] << 8 : 0) |
		    (i + 2 < len ? p[i + 2] : 0);

		*o++ = tab[v >> 18 & 63];
		*o++ = tab[v >> 12 & 63];
		*o++ = i + 1 < len ? tab[v >> 6 & 63] : '=';
		*o++ = i + 2 < len ? tab[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static struct json_object *
delivery_json(const struct delivery *d)
{
	struct json_object *o = json_object_new_object(), *h = json_object_new_object();

	json_object_object_add(o, "message_id", d->message_id ? json_object_new_string(d->message_id) : NULL);
	json_object_object_add(o, "type", d->type ? json_object_new_string(d->type) : NULL);
	json_object_object_add(o, "correlation_id", d->correlation_id ?
	    json_object_new_string(d->correlation_id) : NULL);
	json_object_object_add(o, "user_id", d->user_id ? json_object_new_string(d->user_id) : NULL);
	json_object_object_add(o, "reason", delivery_header(d, DEADLETTER_REASON) ?
	    json_object_new_string(delivery_header(d, DEADLETTER_REASON)) : NULL);
	for (size_t i = 0; i < d->nheaders; i++)
		json_object_object_add(h, d->headers[i].key, json_object_new_string(d->headers[i].value));
	json_object_object_add(o, "headers", h);
	if (envelope_valid_utf8(d->body, d->len)) {
		json_object_object_add(o, "body", json_object_new_string_len(d->body, (int)d->len));
	} else {
		/* JSON holds text only: bytes that are not UTF-8 go as base64 */
		char *b64 = base64(d->body, d->len);

		json_object_object_add(o, "body", NULL);
		json_object_object_add(o, "body_base64", json_object_new_string(b64));
		free(b64);
	}
	return o;
}

/* dead show: look at up to limit messages without taking them (nacked back). */
static int
dead_show(struct cli *c, enum service_id s, long limit)
{
	struct broker *b = cli_broker(c, 0);
	struct json_object *arr = json_object_new_array();
	char *cause = NULL;
	uint64_t last = 0;
	long n = 0;
	int ret = 0;

	if (b == NULL) {
		json_object_put(arr);
		return EX_UNAVAILABLE;
	}
	while (n < limit) {
		struct delivery d;
		int r = broker_get(b, topology_dead_queue(s), &d, &cause);

		if (r < 0) {
			cli_err("dead show: %s", cause);
			ret = EX_UNAVAILABLE;
			break;
		}
		if (r == 0)
			break;
		last = d.tag;
		n++;
		if (c->json) {
			json_object_array_add(arr, delivery_json(&d));
		} else {
			printf("--- %s #%ld\n  message_id: %s\n  type:       %s\n  order:      %s\n"
			    "  reason:     %s\n  dead at:    %s\n  body:       %.*s%s\n",
			    topology_dead_queue(s), n, d.message_id ? d.message_id : "-",
			    d.type ? d.type : "-", d.correlation_id ? d.correlation_id : "-",
			    delivery_header(&d, DEADLETTER_REASON) ? delivery_header(&d, DEADLETTER_REASON) : "-",
			    delivery_header(&d, DEADLETTER_DEAD_AT) ? delivery_header(&d, DEADLETTER_DEAD_AT) : "-",
			    (int)(d.len > 300 ? 300 : d.len), (char *)d.body, d.len > 300 ? "..." : "");
		}
		delivery_free(&d);
	}
	/* put them all back, in order */
	if (last != 0 && broker_nack(b, last, 1, 1, &cause) != 0) {
		cli_err("dead show: %s", cause);
		ret = EX_UNAVAILABLE;
	}
	if (ret == 0 && c->json)
		cli_print_json(arr);
	else
		json_object_put(arr);
	if (ret == 0 && !c->json && n == 0)
		printf("%s is empty\n", topology_dead_queue(s));
	free(cause);
	broker_close(b);
	return ret;
}

/* true when d was dead-lettered as forged: never replayed (docs/security.md). */
static int
is_forged(const struct delivery *d)
{
	const char *why = delivery_header(d, DEADLETTER_REASON);

	return why != NULL && strncmp(why, "forged:", 7) == 0;
}

/*
 * Send dead letter d back to the service's queue as the message was first
 * published (none of the dead-letter headers), through the service's retry
 * exchange, with one batch of one; a forged one goes back to the end of
 * the dead-letter queue as it is. 0 once confirmed, -1 with *cause
 * otherwise.
 */
static int
replay_one(struct broker_batch *bb, const struct delivery *d, enum service_id s, char **cause)
{
	struct broker_header h[BROKER_MAX_HEADERS];
	struct broker_msg m;

	broker_msg_of_delivery(&m, d);
	m.headers = h;
	if (is_forged(d)) {
		m.exchange = topology_dead_exchange(s);
		m.routing_key = service_name(s);
		memcpy(h, d->headers, d->nheaders * sizeof(*h));
		m.nheaders = d->nheaders;
	} else {
		m.exchange = topology_retry_exchange(s);
		m.routing_key = topology_queue(s);
		m.nheaders = deadletter_original_headers(d, h, BROKER_MAX_HEADERS);
	}
	broker_batch_clear(bb);
	if (broker_batch_add(bb, &m, cause) != 0 ||
	    broker_batch_wait(bb, CLI_CONFIRM_TIMEOUT_MS, cause) != 0)
		return -1;
	if (broker_batch_status(bb, 0) != CONFIRM_ACK) {
		*cause = xstrdup("replay not confirmed by the broker");
		return -1;
	}
	return 0;
}

/* How many dead letters there are now, at most limit; -1 after printing why. */
static long
replayable(struct broker *in, enum service_id s, long limit)
{
	char *cause = NULL;
	long now = broker_queue_count(in, topology_dead_queue(s), &cause);

	if (now < 0) {
		cli_err("dead replay: %s", cause);
		free(cause);
		return -1;
	}
	return now < limit ? now : limit;
}

/*
 * dead replay: move up to limit dead letters back to the service's queue,
 * each confirmed before it is taken (acked) from the dead-letter queue.
 */
static int
dead_replay(struct cli *c, enum service_id s, long limit)
{
	struct broker *in = cli_broker(c, 0), *out = in ? cli_broker(c, 1) : NULL;
	struct broker_batch *bb = out ? broker_batch_new(out) : NULL;
	char *cause = NULL;
	long n = 0, kept = 0;
	int ret = 0;

	/* only what is there now: a replayed message that is still poison comes back */
	if (out == NULL || (limit = replayable(in, s, limit)) < 0) {
		ret = EX_UNAVAILABLE;
		goto out;
	}
	while (n < limit) {
		struct delivery d;
		int r = broker_get(in, topology_dead_queue(s), &d, &cause);

		if (r <= 0) {
			ret = r < 0 ? EX_UNAVAILABLE : 0;
			break;
		}
		kept += is_forged(&d);
		if (replay_one(bb, &d, s, &cause) != 0)
			ret = EX_PROTOCOL;
		/* only now is the dead letter taken: a failure above leaves it in place */
		else if (broker_ack(in, d.tag, 0, &cause) != 0)
			ret = EX_UNAVAILABLE;
		delivery_free(&d);
		if (ret != 0)
			break;
		n++;
	}
	if (ret != 0 && cause != NULL)
		cli_err("dead replay: %s", cause);
	else if (ret == 0 && !c->quiet)
		printf("replayed %ld message(s) from %s to %s%s", n - kept, topology_dead_queue(s),
		    topology_queue(s), kept > 0 ? "" : "\n");
	if (ret == 0 && !c->quiet && kept > 0)
		printf("; kept %ld forged one(s)\n", kept);
out:
	free(cause);
	broker_batch_free(bb);
	broker_close(out);
	broker_close(in);
	return ret;
}

/* dead list: how many messages each dead-letter queue holds. */
static int
dead_list(struct cli *c)
{
	struct broker *b = cli_broker(c, 0);
	struct json_object *o;
	char *cause = NULL;

	if (b == NULL)
		return EX_UNAVAILABLE;
	o = json_object_new_object();
	for (int i = 0; i < SVC__COUNT; i++) {
		const char *q = topology_dead_queue((enum service_id)i);
		long n = broker_queue_count(b, q, &cause);

		if (n < 0) {
			cli_err("dead list: %s (run chorusctl declare?)", cause);
			free(cause);
			json_object_put(o);
			broker_close(b);
			return EX_UNAVAILABLE;
		}
		json_object_object_add(o, q, json_object_new_int64(n));
		if (!c->json)
			printf("%-24s %ld\n", q, n);
	}
	broker_close(b);
	if (c->json)
		cli_print_json(o);
	else
		json_object_put(o);
	return 0;
}

/* dead purge: empty one dead-letter queue. */
static int
dead_purge(struct cli *c, enum service_id s)
{
	struct broker *b = cli_broker(c, 0);
	char *cause = NULL;
	long n;

	if (b == NULL)
		return EX_UNAVAILABLE;
	n = broker_purge(b, topology_dead_queue(s), &cause);
	broker_close(b);
	if (n < 0) {
		cli_err("dead purge: %s", cause);
		free(cause);
		return EX_UNAVAILABLE;
	}
	if (!c->quiet)
		printf("purged %ld message(s) from %s\n", n, topology_dead_queue(s));
	return 0;
}

int
cmd_dead(struct cli *c, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";
	enum service_id s;

	if (strcmp(sub, "list") == 0)
		return dead_list(c);
	if ((s = dead_service(argc, argv)) == SVC__COUNT)
		return EX_USAGE;
	if (strcmp(sub, "show") == 0)
		return dead_show(c, s, limit_arg(argc, argv, 10));
	if (strcmp(sub, "replay") == 0)
		return dead_replay(c, s, limit_arg(argc, argv, 1000000));
	if (strcmp(sub, "purge") == 0)
		return dead_purge(c, s);
	dead_service(0, argv);
	return EX_USAGE;
}
