/*
 * Unit tests of the dead-letter header list (src/deadletter.c): which
 * headers are ours or the broker's, which a forward keeps, and what a
 * replay sends.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "deadletter.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void
test_kinds(void **unused)
{
	static const struct {
		const char *key;
		int listed, history;
	} cases[] = {
		{ DEADLETTER_REASON, 1, 0 },
		{ DEADLETTER_ATTEMPT, 1, 0 },
		{ DEADLETTER_LAST_ERROR, 1, 0 },
		{ DEADLETTER_FIRST_ERROR, 1, 1 },
		{ DEADLETTER_FIRST_FAILED_AT, 1, 1 },
		{ DEADLETTER_DEAD_AT, 1, 0 },
		{ DEADLETTER_SERVICE, 1, 0 },
		{ DEADLETTER_ORIGINAL_EXCHANGE, 1, 1 },
		{ DEADLETTER_ORIGINAL_ROUTING_KEY, 1, 1 },
		{ DEADLETTER_ORIGINAL_USER_ID, 1, 1 },
		{ "x-death", 1, 0 },
		{ "x-first-death-queue", 1, 0 },
		{ "x-last-death-reason", 1, 0 },
		{ "traceparent", 0, 0 },
		{ "x-chorus-something-new", 0, 0 },
		{ "", 0, 0 },
	};

	(void)unused;
	for (size_t i = 0; i < NELEM(cases); i++) {
		if (deadletter_is_header(cases[i].key) != cases[i].listed)
			fail_msg("deadletter_is_header(\"%s\"): got %d, want %d", cases[i].key,
			    deadletter_is_header(cases[i].key), cases[i].listed);
		if (deadletter_is_history(cases[i].key) != cases[i].history)
			fail_msg("deadletter_is_history(\"%s\"): got %d, want %d", cases[i].key,
			    deadletter_is_history(cases[i].key), cases[i].history);
	}
}

/* The keys of h[0..n), comma-separated, into out. */
static void
keys(const struct broker_header *h, size_t n, char *out, size_t len)
{
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		strncat(out, i ? "," : "", len - strlen(out) - 1);
		strncat(out, h[i].key, len - strlen(out) - 1);
	}
}

static void
test_filters(void **unused)
{
	struct broker_header in[] = {
		{ "traceparent", "00-..." },
		{ DEADLETTER_REASON, "poison" },
		{ DEADLETTER_FIRST_ERROR, "e1" },
		{ "x-death", "(complex value)" },
		{ DEADLETTER_ORIGINAL_ROUTING_KEY, "order.created" },
		{ "tenant", "a" },
		{ DEADLETTER_ATTEMPT, "2" },
	};
	struct delivery d = { .headers = in, .nheaders = NELEM(in) };
	struct broker_header out[8];
	char got[256];
	size_t n;

	(void)unused;
	n = deadletter_kept_headers(&d, out, NELEM(out));
	keys(out, n, got, sizeof(got));
	if (strcmp(got, "traceparent," DEADLETTER_FIRST_ERROR "," DEADLETTER_ORIGINAL_ROUTING_KEY
	    ",tenant") != 0)
		fail_msg("kept by a forward: got %s, want the message's own and the history", got);
	n = deadletter_original_headers(&d, out, NELEM(out));
	keys(out, n, got, sizeof(got));
	if (strcmp(got, "traceparent,tenant") != 0)
		fail_msg("sent by a replay: got %s, want traceparent,tenant", got);
	/* never more than max */
	n = deadletter_kept_headers(&d, out, 2);
	if (n != 2)
		fail_msg("kept with max 2: got %zu headers, want 2", n);
}

static void
test_reason(void **unused)
{
	static const struct {
		struct broker_header h[2];
		size_t n;
		const char *want;	/* NULL: no reason */
	} cases[] = {
		/* Chorus's own reason wins */
		{ { { DEADLETTER_REASON, "invalid_json: at 1" },
		    { "x-death", "[{count=1, reason=expired, queue=q}]" } }, 2, "invalid_json: at 1" },
		/* the broker's: the latest death, the first entry */
		{ { { "x-death", "[{count=1, reason=delivery_limit, queue=chorus.payment.events, "
		    "time=1, exchange=chorus.inventory, routing-keys=[inventory.reserved]}, "
		    "{count=2, reason=expired, queue=chorus.payment.retry.1s}]" } }, 1,
		    "delivery_limit: dead-lettered by RabbitMQ from chorus.payment.events" },
		/* keys in another order, no queue */
		{ { { "x-death", "[{routing-keys=[a, b], reason=maxlen}]" } }, 1,
		    "maxlen: dead-lettered by RabbitMQ from ?" },
		/* a key that only ends like reason= does not count */
		{ { { "x-death", "[{x-reason=rejected}]" } }, 1, NULL },
		{ { { "x-death", "garbage" } }, 1, NULL },
		{ { { "x-death", "[]" } }, 1, NULL },
		{ { { "traceparent", "00-" } }, 1, NULL },
		{ { { 0 } }, 0, NULL },
	};

	(void)unused;
	for (size_t i = 0; i < NELEM(cases); i++) {
		struct delivery d = { .headers = (struct broker_header *)(uintptr_t)cases[i].h,
			.nheaders = cases[i].n };
		char buf[256];
		const char *got = deadletter_reason(&d, buf, sizeof(buf));

		if ((got == NULL) != (cases[i].want == NULL) ||
		    (got != NULL && strcmp(got, cases[i].want) != 0))
			fail_msg("case %zu: got %s, want %s", i, got ? got : "NULL",
			    cases[i].want ? cases[i].want : "NULL");
	}
}

static void
test_origin(void **unused)
{
	static const struct {
		struct broker_header h[3];
		size_t n;
		const char *ex, *rk;
	} cases[] = {
		/* Chorus's dead letter: the x-original-* headers */
		{ { { DEADLETTER_ORIGINAL_EXCHANGE, "chorus.order" },
		    { DEADLETTER_ORIGINAL_ROUTING_KEY, "order.created" } }, 2,
		    "chorus.order", "order.created" },
		/* RabbitMQ's: the first death */
		{ { { "x-death", "[{count=1, reason=delivery_limit, queue=q, exchange=chorus.inventory, "
		    "routing-keys=[inventory.reserved]}]" },
		    { "x-first-death-exchange", "chorus.inventory" } }, 2,
		    "chorus.inventory", "inventory.reserved" },
		{ { { "x-death", "[{routing-keys=[a.b, c.d], queue=q}]" } }, 1, "", "a.b" },
		/* neither: where the delivery came from */
		{ { { "traceparent", "00-" } }, 1, "chorus.dead", "payment" },
	};

	(void)unused;
	for (size_t i = 0; i < NELEM(cases); i++) {
		struct delivery d = { .headers = (struct broker_header *)(uintptr_t)cases[i].h,
			.nheaders = cases[i].n, .exchange = "chorus.dead", .routing_key = "payment" };
		char ex[64], rk[64];

		deadletter_origin(&d, ex, sizeof(ex), rk, sizeof(rk));
		if (strcmp(ex, cases[i].ex) != 0 || strcmp(rk, cases[i].rk) != 0)
			fail_msg("case %zu: got %s %s, want %s %s", i, ex, rk, cases[i].ex, cases[i].rk);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_filters),
		cmocka_unit_test(test_reason),
		cmocka_unit_test(test_origin),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
