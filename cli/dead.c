/*
 * chorusctl dead and unrouted: the queues where messages are held for an
 * operator, handled by one piece of code: the dead-letter queues
 * chorus.<service>.dead and the alternate exchange's queue chorus.unrouted.
 * For each: how many it holds, its messages with their reason or route
 * (left in the queue), replaying them after a fix, purging them. The
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

/*
 * A queue of held messages. A dead letter is replayed to its service's
 * queue, without its dead-lettering headers; an unrouted message to the
 * exchange and routing key it was first published with, asking to be
 * returned if still no queue takes it (then it stays where it is).
 */
struct held {
	const char *cmd;	/* "dead" or "unrouted" */
	const char *queue;
	enum service_id svc;	/* a dead-letter queue's service; SVC__COUNT: chorus.unrouted */
};

static struct held
held_dead(enum service_id s)
{
	return (struct held){ "dead", topology_dead_queue(s), s };
}

static const struct held unrouted = { "unrouted", TOPOLOGY_UNROUTED, SVC__COUNT };

static long
limit_arg(int argc, char **argv, int from, long def)
{
	for (int i = from; i + 1 < argc; i++)
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
str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static struct json_object *
delivery_json(const struct delivery *d)
{
	struct json_object *o = json_object_new_object(), *h = json_object_new_object();
	char why[512], ex[256], rk[256];

	deadletter_origin(d, ex, sizeof(ex), rk, sizeof(rk));
	json_object_object_add(o, "message_id", str_or_null(d->message_id));
	json_object_object_add(o, "type", str_or_null(d->type));
	json_object_object_add(o, "correlation_id", str_or_null(d->correlation_id));
	json_object_object_add(o, "app_id", str_or_null(d->app_id));
	json_object_object_add(o, "user_id", str_or_null(d->user_id));
	json_object_object_add(o, "exchange", str_or_null(ex));
	json_object_object_add(o, "routing_key", str_or_null(rk));
	json_object_object_add(o, "reason", str_or_null(deadletter_reason(d, why, sizeof(why))));
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

static void
print_delivery(const struct held *q, long n, const struct delivery *d)
{
	const char *why, *at = delivery_header(d, DEADLETTER_DEAD_AT);
	char buf[512], ex[256], rk[256];

	deadletter_origin(d, ex, sizeof(ex), rk, sizeof(rk));
	why = deadletter_reason(d, buf, sizeof(buf));
	cli_printf("--- %s #%ld\n  message_id: %s\n  type:       %s\n  order:      %s\n"
	    "  sent by:    %s\n  published:  exchange %s, routing key %s\n",
	    q->queue, n, d->message_id ? d->message_id : "-", d->type ? d->type : "-",
	    d->correlation_id ? d->correlation_id : "-", d->app_id ? d->app_id : "-",
	    ex[0] ? ex : "(default)", rk);
	if (q->svc != SVC__COUNT)
		cli_printf("  reason:     %s\n  dead at:    %s\n", why ? why : "-", at ? at : "-");
	cli_printf("  body:       %.*s%s\n", (int)(d->len > 300 ? 300 : d->len), (char *)d->body,
	    d->len > 300 ? "..." : "");
}

/* show: look at up to limit messages without taking them (nacked back). */
static int
held_show(struct cli *c, const struct held *q, long limit)
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
		int r = broker_get(b, q->queue, &d, &cause);

		if (r < 0) {
			cli_err("%s show: %s", q->cmd, cause);
			ret = EX_UNAVAILABLE;
			break;
		}
		if (r == 0)
			break;
		last = d.tag;
		n++;
		if (c->json)
			json_object_array_add(arr, delivery_json(&d));
		else
			print_delivery(q, n, &d);
		delivery_free(&d);
	}
	/* put them all back, in order */
	if (last != 0 && broker_nack(b, last, 1, 1, &cause) != 0) {
		cli_err("%s show: %s", q->cmd, cause);
		ret = EX_UNAVAILABLE;
	}
	if (ret == 0 && c->json)
		cli_print_json(arr);
	else
		json_object_put(arr);
	if (ret == 0 && !c->json && n == 0)
		cli_printf("%s is empty\n", q->queue);
	free(cause);
	broker_close(b);
	return ret;
}

/*
 * Send d on as a replay from q, with one batch of one. Returns its outcome
 * (CONFIRM_ACK once taken), or CONFIRM_PENDING with *cause on failure.
 */
static enum confirm
replay_one(struct broker_batch *bb, const struct held *q, const struct delivery *d, char **cause)
{
	struct broker_header h[BROKER_MAX_HEADERS];
	struct broker_msg m;

	broker_msg_of_delivery(&m, d);
	m.headers = h;
	if (q->svc != SVC__COUNT) {
		/*
		 * as the message was first published: none of the dead-letter
		 * headers; through the service's retry exchange, not the default one
		 */
		m.exchange = topology_retry_exchange(q->svc);
		m.routing_key = topology_queue(q->svc);
		m.nheaders = deadletter_original_headers(d, h, BROKER_MAX_HEADERS);
	} else {
		m.exchange = d->exchange;
		m.routing_key = d->routing_key;
		m.nheaders = deadletter_original_headers(d, h, BROKER_MAX_HEADERS - 1);
		/* still unroutable: returned to us, not caught by chorus.unrouted again */
		if (delivery_header(d, BROKER_RETURN_UNROUTABLE) == NULL)
			h[m.nheaders++] = (struct broker_header){ (char *)(uintptr_t)BROKER_RETURN_UNROUTABLE,
			    (char *)(uintptr_t)"chorusctl" };
	}
	broker_batch_clear(bb);
	if (broker_batch_add(bb, &m, cause) != 0 ||
	    broker_batch_wait(bb, CLI_CONFIRM_TIMEOUT_MS, cause) != 0)
		return CONFIRM_PENDING;
	return broker_batch_status(bb, 0);
}

/* true when d was dead-lettered as forged: never replayed (docs/security.md). */
static int
is_forged(const struct delivery *d)
{
	const char *why = delivery_header(d, DEADLETTER_REASON);

	return why != NULL && strncmp(why, "forged:", 7) == 0;
}

/* How many messages q holds now, at most limit; -1 after printing why. */
static long
replayable(struct broker *in, const struct held *q, long limit)
{
	char *cause = NULL;
	long now = broker_queue_count(in, q->queue, &cause);

	if (now < 0) {
		cli_err("%s replay: %s", q->cmd, cause);
		free(cause);
		return -1;
	}
	return now < limit ? now : limit;
}

/*
 * replay: send up to limit messages on, each confirmed before it is taken
 * (acked) from q. One refused or returned (still unroutable) is kept and
 * put back at the end: the others still go.
 */
static int
held_replay(struct cli *c, const struct held *q, long limit)
{
	struct broker *in = cli_broker(c, 0), *out = in ? cli_broker(c, 1) : NULL;
	struct broker_batch *bb = out ? broker_batch_new(out) : NULL;
	char *cause = NULL;
	uint64_t kept_last = 0;
	long n = 0, kept = 0, forged = 0;
	int ret = 0;

	/* only what is there now: a replayed message that is still poison comes back */
	if (out == NULL || (limit = replayable(in, q, limit)) < 0) {
		ret = EX_UNAVAILABLE;
		goto out;
	}
	while (n + kept + forged < limit) {
		struct delivery d;
		int r = broker_get(in, q->queue, &d, &cause);
		enum confirm st;

		if (r <= 0) {
			ret = r < 0 ? EX_UNAVAILABLE : 0;
			break;
		}
		if (q->svc != SVC__COUNT && is_forged(&d)) {
			/* kept as the others left in place: the worker would refuse it again */
			kept_last = d.tag;
			forged++;
			delivery_free(&d);
			continue;
		}
		st = replay_one(bb, q, &d, &cause);
		if (st == CONFIRM_PENDING) {
			ret = EX_UNAVAILABLE;
		} else if (st != CONFIRM_ACK) {
			/* held unacked until the end, so the next get takes the next one */
			cli_err("%s replay: message %s %s: left in %s", q->cmd,
			    d.message_id ? d.message_id : "-", st == CONFIRM_RETURNED ?
			    "still unroutable (no queue takes it)" : "refused (nack)", q->queue);
			kept_last = d.tag;
			kept++;
		} else if (broker_ack(in, d.tag, 0, &cause) != 0) {
			/* only now is it taken: a failure above leaves it in place */
			ret = EX_UNAVAILABLE;
		} else {
			n++;
		}
		delivery_free(&d);
		if (ret != 0)
			break;
	}
	if (ret == 0 && kept_last != 0 && broker_nack(in, kept_last, 1, 1, &cause) != 0)
		ret = EX_UNAVAILABLE;
	if (ret != 0 && cause != NULL)
		cli_err("%s replay: %s", q->cmd, cause);
	else if (ret == 0 && !c->quiet)
		cli_printf("replayed %ld message(s) from %s%s%s", n, q->queue,
		    q->svc != SVC__COUNT ? " to " : "",
		    q->svc != SVC__COUNT ? topology_queue(q->svc) : "");
	if (ret == 0 && !c->quiet && forged > 0)
		cli_printf("; kept %ld forged one(s)", forged);
	if (ret == 0 && !c->quiet)
		cli_printf("\n");
	if (ret == 0 && kept > 0)
		ret = EX_UNAVAILABLE;
out:
	free(cause);
	broker_batch_free(bb);
	broker_close(out);
	broker_close(in);
	return ret;
}

/* list: how many messages each of qs holds. */
static int
held_list(struct cli *c, const struct held *qs, size_t nq)
{
	struct broker *b = cli_broker(c, 0);
	struct json_object *o;
	char *cause = NULL;

	if (b == NULL)
		return EX_UNAVAILABLE;
	o = json_object_new_object();
	for (size_t i = 0; i < nq; i++) {
		long n = broker_queue_count(b, qs[i].queue, &cause);

		if (n < 0) {
			cli_err("%s list: %s (run chorusctl declare?)", qs[i].cmd, cause);
			free(cause);
			json_object_put(o);
			broker_close(b);
			return EX_UNAVAILABLE;
		}
		json_object_object_add(o, qs[i].queue, json_object_new_int64(n));
		if (!c->json)
			cli_printf("%-24s %ld\n", qs[i].queue, n);
	}
	broker_close(b);
	if (c->json)
		cli_print_json(o);
	else
		json_object_put(o);
	return 0;
}

/* purge: empty q. */
static int
held_purge(struct cli *c, const struct held *q)
{
	struct broker *b = cli_broker(c, 0);
	char *cause = NULL;
	long n;

	if (b == NULL)
		return EX_UNAVAILABLE;
	n = broker_purge(b, q->queue, &cause);
	broker_close(b);
	if (n < 0) {
		cli_err("%s purge: %s", q->cmd, cause);
		free(cause);
		return EX_UNAVAILABLE;
	}
	if (!c->quiet)
		cli_printf("purged %ld message(s) from %s\n", n, q->queue);
	return 0;
}

/* One of show, replay, purge on q; argv[from] on are its options. -1: not one. */
static int
held_cmd(struct cli *c, const struct held *q, const char *sub, int argc, char **argv, int from)
{
	long limit;

	if (strcmp(sub, "purge") == 0)
		return argc == from ? held_purge(c, q) : -1;
	if (strcmp(sub, "show") != 0 && strcmp(sub, "replay") != 0)
		return -1;
	limit = limit_arg(argc, argv, from, strcmp(sub, "show") == 0 ? 10 : 1000000);
	if (limit < 1) {
		cli_err("%s %s: --limit must be a whole number >= 1", q->cmd, sub);
		return EX_USAGE;
	}
	return strcmp(sub, "show") == 0 ? held_show(c, q, limit) : held_replay(c, q, limit);
}

int
cmd_dead(struct cli *c, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";
	struct held all[SVC__COUNT], q;
	enum service_id s;
	int r = -1;

	for (int i = 0; i < SVC__COUNT; i++)
		all[i] = held_dead((enum service_id)i);
	if (strcmp(sub, "list") == 0 && argc == 2)
		return held_list(c, all, SVC__COUNT);
	if (argc >= 3 && (s = service_from_name(argv[2])) != SVC__COUNT) {
		q = held_dead(s);
		r = held_cmd(c, &q, sub, argc, argv, 3);
	}
	if (r >= 0)
		return r;
	cli_err("usage: chorusctl dead list | dead show|replay|purge order|inventory|payment "
	    "[--limit N]");
	return EX_USAGE;
}

int
cmd_unrouted(struct cli *c, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";
	int r = -1;

	if (strcmp(sub, "list") == 0 && argc == 2)
		return held_list(c, &unrouted, 1);
	if (argc >= 2)
		r = held_cmd(c, &unrouted, sub, argc, argv, 2);
	if (r >= 0)
		return r;
	cli_err("usage: chorusctl unrouted list | unrouted show|replay|purge [--limit N]");
	return EX_USAGE;
}
