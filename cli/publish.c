/*
 * chorusctl publish and chorusctl order place: events built from the
 * command line, validated by the same envelope rules the workers apply,
 * published with confirms. publish --raw sends bytes as they are (for
 * testing how workers treat bad input).
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "cli.h"
#include "xmalloc.h"

#define PUBLISH_WINDOW 200	/* publishes in flight at once */

/* Replace every "{n}" in tmpl with n. */
static char *
expand(const char *tmpl, unsigned long n)
{
	size_t cap = strlen(tmpl) * 2 + 64, k = 0;
	char *s = xmalloc(cap);

	for (const char *p = tmpl; *p; p++) {
		if (k + 32 >= cap) {
			cap *= 2;
			s = xrealloc(s, cap);
		}
		if (p[0] == '{' && p[1] == 'n' && p[2] == '}') {
			k += (size_t)snprintf(s + k, cap - k, "%lu", n);
			p += 2;
		} else {
			s[k++] = *p;
		}
	}
	s[k] = '\0';
	return s;
}

/*
 * Wrap data (JSON text) in an envelope of type and validate it into *ev.
 * Returns 0, or EX_DATAERR after printing why.
 */
static int
build_event(const char *type, const char *data, size_t len, const char *id, struct event *ev)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *d, *env, *oid;
	char uuid[ENVELOPE_UUID_LEN + 1], now[32], tp[ENVELOPE_TRACEPARENT_LEN + 1];
	char why[ENVELOPE_WHY_MAX];
	const char *body;
	int ret = EX_DATAERR;

	d = json_tokener_parse_ex(tok, data, (int)len);
	if (d == NULL || json_tokener_get_parse_end(tok) < len) {
		size_t end = json_tokener_get_parse_end(tok);
		int trailing = d != NULL;

		while (trailing && end < len && strchr(" \t\r\n", data[end]))
			end++;
		if (d == NULL || end < len) {
			cli_err("invalid event: --data is not one JSON object (%s)", d == NULL ?
			    json_tokener_error_desc(json_tokener_get_error(tok)) : "trailing characters");
			json_object_put(d);
			json_tokener_free(tok);
			return EX_DATAERR;
		}
	}
	json_tokener_free(tok);
	if (!json_object_is_type(d, json_type_object)) {
		cli_err("invalid event: --data must be a JSON object");
		json_object_put(d);
		return EX_DATAERR;
	}
	if (event_type_from_name(type) == EV_UNKNOWN) {
		cli_err("invalid event: unknown type '%s' (OrderCreated, InventoryReserved, ...)", type);
		json_object_put(d);
		return EX_DATAERR;
	}
	if (id == NULL) {
		envelope_new_uuid(uuid);
		id = uuid;
	}
	envelope_now(now);
	envelope_child_traceparent(NULL, tp);
	env = json_object_new_object();
	json_object_object_add(env, "specversion", json_object_new_string("1.0"));
	json_object_object_add(env, "id", json_object_new_string(id));
	json_object_object_add(env, "source", json_object_new_string("chorusctl"));
	json_object_object_add(env, "type", json_object_new_string(type));
	if (json_object_object_get_ex(d, "order_id", &oid))
		json_object_object_add(env, "subject", json_object_get(oid));
	json_object_object_add(env, "time", json_object_new_string(now));
	json_object_object_add(env, "datacontenttype", json_object_new_string("application/json"));
	json_object_object_add(env, "traceparent", json_object_new_string(tp));
	json_object_object_add(env, "data", d);
	body = json_object_to_json_string_ext(env, JSON_C_TO_STRING_PLAIN);
	if (envelope_parse(body, strlen(body), ev, why, sizeof(why)) != 0)
		cli_err("invalid event: %s", why);
	else
		ret = 0;
	json_object_put(env);
	return ret;
}

static int
publish_raw(struct cli *c, const char *raw, const char *queue, const char *exchange,
    const char *rk, const char *type, const char *msgid)
{
	struct broker *b;
	size_t len;
	char *body = cli_read_arg(raw, &len);
	char *cause = NULL;
	uint64_t tag;
	enum confirm st = CONFIRM_PENDING;
	const char *ids[1] = { msgid ? msgid : "" };
	int ret = EX_UNAVAILABLE;

	if (body == NULL)
		return EX_NOINPUT;
	if ((b = cli_broker(c, 1)) == NULL) {
		free(body);
		return EX_UNAVAILABLE;
	}
	{
		struct broker_msg m = {
			.exchange = queue ? "" : exchange,
			.routing_key = queue ? queue : rk,
			.body = body,
			.len = len,
			.content_type = "application/cloudevents+json",
			.message_id = msgid,
			.type = type,
			.app_id = "chorusctl",
			.timestamp = (int64_t)time(NULL),
			.mandatory = 1,
		};
		if (broker_publish(b, &m, &tag, &cause) != 0 ||
		    broker_wait_confirms(b, tag, 1, ids, &st, 30000, &cause) != 0) {
			cli_err("raw publish failed: %s", cause);
			goto out;
		}
	}
	if (st != CONFIRM_ACK) {
		cli_err("raw publish to %s was %s", queue ? queue : exchange,
		    st == CONFIRM_RETURNED ? "unroutable (returned)" : "refused (nack)");
		ret = EX_PROTOCOL;
		goto out;
	}
	if (!c->quiet)
		printf("published %zu bytes to %s\n", len, queue ? queue : exchange);
	ret = 0;
out:
	free(cause);
	free(body);
	broker_close(b);
	return ret;
}

struct template_arg {
	const char *type;
	const char *text;	/* --data, "{n}" replaced by the event's number */
	const char *id;		/* --id, or NULL: a new id each */
};

/* cli_event_fn: event i of publish --count, from the --data template. */
static int
from_template(void *arg, size_t i, struct event *ev)
{
	const struct template_arg *ta = arg;
	char *d = expand(ta->text, (unsigned long)i + 1);
	int r = build_event(ta->type, d, strlen(d), ta->id, ev);

	free(d);
	return r;
}

/* cli_event_fn: the one prepared event. */
static int
the_event(void *arg, size_t i, struct event *ev)
{
	(void)i;
	memcpy(ev, arg, sizeof(*ev));
	return 0;
}

int
cmd_publish(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "id", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'n' },
		{ "rate", required_argument, NULL, 'r' },
		{ "raw", required_argument, NULL, 'R' },
		{ "queue", required_argument, NULL, 'Q' },
		{ "exchange", required_argument, NULL, 'X' },
		{ "routing-key", required_argument, NULL, 'K' },
		{ "type", required_argument, NULL, 'T' },
		{ "message-id", required_argument, NULL, 'M' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data = NULL, *id = NULL, *raw = NULL, *queue = NULL, *exchange = NULL;
	const char *rk = NULL, *ptype = NULL, *msgid = NULL;
	long long count = 1;
	double rate = 0;
	struct event *first = NULL;
	struct broker *b = NULL;
	char *text = NULL;
	size_t len = 0;
	int ch, ret = EX_USAGE;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "d:", opts, NULL)) != -1) {
		switch (ch) {
		case 'd': data = optarg; break;
		case 'i': id = optarg; break;
		case 'n':
			if ((count = cli_number(optarg)) < 1) {
				cli_err("publish: --count must be a whole number >= 1");
				return EX_USAGE;
			}
			break;
		case 'r':
			rate = atof(optarg);
			if (rate <= 0) {
				cli_err("publish: --rate must be a positive number");
				return EX_USAGE;
			}
			break;
		case 'R': raw = optarg; break;
		case 'Q': queue = optarg; break;
		case 'X': exchange = optarg; break;
		case 'K': rk = optarg; break;
		case 'T': ptype = optarg; break;
		case 'M': msgid = optarg; break;
		default: return EX_USAGE;
		}
	}
	if (raw != NULL) {
		if (queue == NULL && (exchange == NULL || rk == NULL)) {
			cli_err("publish --raw needs --queue Q, or --exchange X and --routing-key K");
			return EX_USAGE;
		}
		return publish_raw(c, raw, queue, exchange, rk, ptype, msgid);
	}
	if (optind + 1 != argc || data == NULL) {
		cli_err("usage: chorusctl publish TYPE --data JSON|@FILE|- [--id UUID] [--count N] [--rate R]");
		return EX_USAGE;
	}
	if (id != NULL && count > 1) {
		cli_err("publish: --id names one event; it cannot go with --count");
		return EX_USAGE;
	}
	if ((text = cli_read_arg(data, &len)) == NULL)
		return EX_NOINPUT;
	/* validate the first before connecting: a bad --data fails with nothing sent */
	{
		struct template_arg ta = { argv[optind], text, id };

		first = xcalloc(1, sizeof(*first));
		if ((ret = from_template(&ta, 0, first)) != 0)
			goto out;
		if ((b = cli_broker(c, 1)) == NULL) {
			ret = EX_UNAVAILABLE;
			goto out;
		}
		/* events are made as they go out: memory stays flat whatever --count */
		if (count == 1)
			ret = cli_publish(b, 1, the_event, first, 1, 0, "chorusctl", NULL, NULL);
		else
			ret = cli_publish(b, (size_t)count, from_template, &ta, PUBLISH_WINDOW, rate,
			    "chorusctl", NULL, NULL);
	}
	if (ret == 0 && !c->quiet) {
		if (count == 1)
			printf("published %s %s (order %s)\n", argv[optind], first->id, first->order_id);
		else
			printf("published %lld %s events\n", count, argv[optind]);
	}
out:
	broker_close(b);
	free(first);
	free(text);
	return ret;
}


int
cmd_order_place(struct cli *c, int argc, char **argv, char *order_id_out, size_t outlen)
{
	static const struct option opts[] = {
		{ "customer", required_argument, NULL, 'C' },
		{ "item", required_argument, NULL, 'I' },
		{ "total", required_argument, NULL, 'T' },
		{ "currency", required_argument, NULL, 'U' },
		{ "id", required_argument, NULL, 'i' },
		{ "wait", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	struct json_object *data = json_object_new_object(), *items = json_object_new_array();
	const char *customer = NULL, *currency = NULL, *id = NULL;
	char gen[40], *json = NULL;
	long long total = -1;
	struct event *ev = xcalloc(1, sizeof(*ev));
	struct broker *b = NULL;
	int ch, ret = EX_USAGE;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'C': customer = optarg; break;
		case 'U': currency = optarg; break;
		case 'i': id = optarg; break;
		case 'w': break;	/* handled by the caller */
		case 'T':
			if ((total = cli_number(optarg)) < 0) {
				cli_err("order place: --total must be a whole number of cents >= 0");
				goto out;
			}
			break;
		case 'I': {
			const char *colon = strrchr(optarg, ':');
			struct json_object *it;
			long long q;

			if (colon == NULL || colon == optarg || (q = cli_number(colon + 1)) < 0) {
				cli_err("order place: --item takes SKU:QUANTITY, got '%s'", optarg);
				goto out;
			}
			it = json_object_new_object();
			json_object_object_add(it, "sku", json_object_new_string_len(optarg,
			    (int)(colon - optarg)));
			json_object_object_add(it, "quantity", json_object_new_int64(q));
			json_object_array_add(items, it);
			break;
		}
		default:
			goto out;
		}
	}
	if (customer == NULL || total < 0 || json_object_array_length(items) == 0) {
		cli_err("usage: chorusctl order place --customer C --item SKU:QTY... --total CENTS "
		    "[--currency CUR] [--id ID] [--wait S]");
		goto out;
	}
	if (id == NULL) {
		char u[ENVELOPE_UUID_LEN + 1];

		envelope_new_uuid(u);
		snprintf(gen, sizeof(gen), "ord-%.8s", u);
		id = gen;
	}
	json_object_object_add(data, "order_id", json_object_new_string(id));
	json_object_object_add(data, "customer_id", json_object_new_string(customer));
	json_object_object_add(data, "items", items);
	items = NULL;
	json_object_object_add(data, "total_cents", json_object_new_int64(total));
	json_object_object_add(data, "currency", json_object_new_string(currency ? currency :
	    c->cfg.currency));
	json = xstrdup(json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN));
	ret = build_event("OrderCreated", json, strlen(json), NULL, ev);
	if (ret != 0)
		goto out;
	if ((b = cli_broker(c, 1)) == NULL) {
		ret = EX_UNAVAILABLE;
		goto out;
	}
	ret = cli_publish(b, 1, the_event, ev, 1, 0, "chorusctl", NULL, NULL);
	if (ret == 0) {
		strlcpy_(order_id_out, ev->order_id, outlen);
		if (!c->quiet)
			printf("placed order %s (event %s)\n", ev->order_id, ev->id);
	}
out:
	broker_close(b);
	json_object_put(items);
	json_object_put(data);
	free(json);
	free(ev);
	return ret;
}
