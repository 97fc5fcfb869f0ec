/*
 * chorusctl publish: events built from the command line (cli_build_event:
 * validated by the same envelope rules the workers apply), published with
 * confirms, one or --count of them at --rate. publish --raw sends bytes as
 * they are (for testing how workers treat bad input).
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

/* publish --raw: the bytes as they are, to a queue or an exchange, confirmed. */
static int
publish_raw(struct cli *c, const char *raw, const char *queue, const char *exchange,
    const char *rk, const char *type, const char *msgid)
{
	struct broker *b;
	struct broker_batch *bb = NULL;
	size_t len;
	char *body = cli_read_arg(raw, &len);
	char *cause = NULL;
	enum confirm st;
	int ret = EX_UNAVAILABLE;
	struct broker_msg m = {
		.exchange = queue ? "" : exchange,
		.routing_key = queue ? queue : rk,
		.body = body,
		.len = len,
		.content_type = BROKER_EVENT_CONTENT_TYPE,
		.message_id = msgid,
		.type = type,
		.app_id = "chorusctl",
		.timestamp = (int64_t)time(NULL),
		.mandatory = 1,
	};

	if (body == NULL)
		return EX_NOINPUT;
	if ((b = cli_broker(c, 1)) == NULL)
		goto out;
	bb = broker_batch_new(b);
	if (broker_batch_add(bb, &m, &cause) != 0 ||
	    broker_batch_wait(bb, CLI_CONFIRM_TIMEOUT_MS, &cause) != 0) {
		cli_err("raw publish failed: %s", cause);
		goto out;
	}
	if ((st = broker_batch_status(bb, 0)) != CONFIRM_ACK) {
		cli_err("raw publish to %s was %s", queue ? queue : exchange,
		    st == CONFIRM_RETURNED ? "unroutable (returned)" : "refused (nack)");
		ret = EX_PROTOCOL;
		goto out;
	}
	if (!c->quiet)
		cli_printf("published %zu bytes to %s\n", len, queue ? queue : exchange);
	ret = 0;
out:
	free(cause);
	free(body);
	broker_batch_free(bb);
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
	int r = cli_build_event(ta->type, d, strlen(d), ta->id, ev);

	free(d);
	return r;
}

/* The options of publish. */
struct publish_opts {
	const char *data, *id;			/* events: --data, --id */
	long long count;
	double rate;
	const char *raw, *queue, *exchange, *rk, *type, *msgid;	/* --raw and its target */
};

/* Parse publish's options into *po; 0, or EX_USAGE after printing why. */
static int
parse_opts(int argc, char **argv, struct publish_opts *po)
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
	int ch;

	memset(po, 0, sizeof(*po));
	po->count = 1;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "d:", opts, NULL)) != -1) {
		switch (ch) {
		case 'd': po->data = optarg; break;
		case 'i': po->id = optarg; break;
		case 'R': po->raw = optarg; break;
		case 'Q': po->queue = optarg; break;
		case 'X': po->exchange = optarg; break;
		case 'K': po->rk = optarg; break;
		case 'T': po->type = optarg; break;
		case 'M': po->msgid = optarg; break;
		case 'n':
			if ((po->count = cli_number(optarg)) >= 1)
				break;
			cli_err("publish: --count must be a whole number >= 1");
			return EX_USAGE;
		case 'r':
			if ((po->rate = atof(optarg)) > 0)
				break;
			cli_err("publish: --rate must be a positive number");
			return EX_USAGE;
		default:
			return EX_USAGE;
		}
	}
	return 0;
}

/*
 * publish TYPE --data: --count events of type from the --data template,
 * the first validated before connecting, so a bad --data fails with
 * nothing sent; the others are made as they go out (memory stays flat
 * whatever --count).
 */
static int
publish_events(struct cli *c, const char *type, const struct publish_opts *po)
{
	struct event *first = NULL;
	struct broker *b = NULL;
	size_t len;
	char *text = cli_read_arg(po->data, &len);
	struct template_arg ta = { type, text, po->id };
	int ret;

	if (text == NULL)
		return EX_NOINPUT;
	first = xcalloc(1, sizeof(*first));
	if ((ret = from_template(&ta, 0, first)) != 0)
		goto out;
	if ((b = cli_broker(c, 1)) == NULL) {
		ret = EX_UNAVAILABLE;
		goto out;
	}
	if (po->count == 1)
		ret = cli_publish_one(b, first, "chorusctl");
	else
		ret = cli_publish(b, (size_t)po->count, from_template, &ta, PUBLISH_WINDOW, po->rate,
		    "chorusctl", NULL, NULL);
	if (ret == 0 && !c->quiet && po->count == 1)
		cli_printf("published %s %s (order %s)\n", type, first->id, first->order_id);
	else if (ret == 0 && !c->quiet)
		cli_printf("published %lld %s events\n", po->count, type);
out:
	broker_close(b);
	free(first);
	free(text);
	return ret;
}

int
cmd_publish(struct cli *c, int argc, char **argv)
{
	struct publish_opts po;
	int ret;

	if ((ret = parse_opts(argc, argv, &po)) != 0)
		return ret;
	if (po.raw != NULL) {
		if (po.queue == NULL && (po.exchange == NULL || po.rk == NULL)) {
			cli_err("publish --raw needs --queue Q, or --exchange X and --routing-key K");
			return EX_USAGE;
		}
		return publish_raw(c, po.raw, po.queue, po.exchange, po.rk, po.type, po.msgid);
	}
	if (optind + 1 != argc || po.data == NULL) {
		cli_err("usage: chorusctl publish TYPE --data JSON|@FILE|- [--id UUID] [--count N] "
		    "[--rate R]");
		return EX_USAGE;
	}
	if (po.id != NULL && po.count > 1) {
		cli_err("publish: --id names one event; it cannot go with --count");
		return EX_USAGE;
	}
	return publish_events(c, argv[optind], &po);
}
