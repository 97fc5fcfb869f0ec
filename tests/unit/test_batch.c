/*
 * Unit tests of the decision after a batch's try (batch_decide): every
 * (result x batch size x try x failure origin) combination, and the retry
 * marking of a batch's deliveries (batch_mark_retry).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "batch.h"

/* For one result and failure origin: what follows each (batch size, try). */
struct row {
	enum batch_result r;
	bool dependency;
	enum batch_next want[4];	/* n=1 try 1, n=1 try 2, n=3 try 1, n=3 try 2 */
};

static const char *const results[] = { "done", "permanent", "transient", "broken", "stopped" };

/* Every (result x failure origin) row, every (n, try) column: the whole table. */
static const struct row rows[] = {
	/* committed: settle, whatever else */
	{ BATCH_DONE, false, { NEXT_SETTLE, NEXT_SETTLE, NEXT_SETTLE, NEXT_SETTLE } },
	{ BATCH_DONE, true, { NEXT_SETTLE, NEXT_SETTLE, NEXT_SETTLE, NEXT_SETTLE } },
	/* a permanent failure: isolate the culprit; alone, it is poison */
	{ BATCH_PERMANENT, false, { NEXT_POISON, NEXT_POISON, NEXT_ISOLATE, NEXT_ISOLATE } },
	{ BATCH_PERMANENT, true, { NEXT_POISON, NEXT_POISON, NEXT_ISOLATE, NEXT_ISOLATE } },
	/* the database's transient failure (deadlock...): once more at once, then the delay queues */
	{ BATCH_TRANSIENT, false, { NEXT_TRY_AGAIN, NEXT_RETRY_LATER, NEXT_TRY_AGAIN, NEXT_RETRY_LATER } },
	/* a dependency's: let what does not need it through; alone, retry later */
	{ BATCH_TRANSIENT, true, { NEXT_RETRY_LATER, NEXT_RETRY_LATER, NEXT_ISOLATE, NEXT_ISOLATE } },
	/* the connection is gone, or a stop: ack nothing */
	{ BATCH_BROKEN, false, { NEXT_RECONNECT, NEXT_RECONNECT, NEXT_RECONNECT, NEXT_RECONNECT } },
	{ BATCH_BROKEN, true, { NEXT_RECONNECT, NEXT_RECONNECT, NEXT_RECONNECT, NEXT_RECONNECT } },
	{ BATCH_STOPPED, false, { NEXT_STOP, NEXT_STOP, NEXT_STOP, NEXT_STOP } },
	{ BATCH_STOPPED, true, { NEXT_STOP, NEXT_STOP, NEXT_STOP, NEXT_STOP } },
};

static void
test_decide_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		for (int k = 0; k < 4; k++) {
			const struct row *r = &rows[i];
			size_t n = k < 2 ? 1 : 3;
			unsigned tries = k % 2 ? 2 : 1;
			enum batch_next got = batch_decide(r->r, n, tries, r->dependency);

			if (got != r->want[k])
				fail_msg("%s, n=%zu, try %u, %s failure: got %s, want %s", results[r->r], n,
				    tries, r->dependency ? "dependency" : "database", batch_next_name(got),
				    batch_next_name(r->want[k]));
		}
}

/* The table has a row for every result and origin. */
static void
test_table_complete(void **state)
{
	(void)state;
	for (int res = BATCH_DONE; res <= BATCH_STOPPED; res++)
		for (int dep = 0; dep < 2; dep++) {
			int found = 0;

			for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
				found |= rows[i].r == (enum batch_result)res && rows[i].dependency == dep;
			if (!found)
				fail_msg("no row for %s, %s failure", results[res], dep ? "dependency" : "database");
		}
}

/* A delivery with x-chorus-attempt = attempt (0: no header). */
static void
slot_with(struct slot *s, unsigned attempt, enum outcome out)
{
	static struct broker_header h[1];
	static char v[16];

	memset(s, 0, sizeof(*s));
	s->out = out;
	s->retried = true;	/* from the retry path: its attempt header counts */
	if (attempt > 0) {
		snprintf(v, sizeof(v), "%u", attempt);
		h[0].key = "x-chorus-attempt";
		h[0].value = v;
		s->d.headers = h;
		s->d.nheaders = 1;
	}
}

static void
test_mark_retry(void **state)
{
	struct retry_policy p = { { 1000, 5000, 30000 }, 3, 4, 0 };
	struct slot s;

	(void)state;
	slot_with(&s, 0, OUT_OK);
	batch_mark_retry(&s, 1, &p, "40P01 deadlock", false);
	if (s.out != OUT_RETRY || s.attempt != 1 || s.step != 0 || strcmp(s.why, "40P01 deadlock") != 0)
		fail_msg("first failure: got out %d attempt %u step %d why '%s', want retry 1 0 '40P01 deadlock'",
		    s.out, s.attempt, s.step, s.why);
	slot_with(&s, 2, OUT_OK);
	batch_mark_retry(&s, 1, &p, "x", false);
	if (s.out != OUT_RETRY || s.attempt != 3 || s.step != 2)
		fail_msg("third failure: got out %d attempt %u step %d, want retry 3 2", s.out, s.attempt, s.step);
	slot_with(&s, 4, OUT_OK);
	batch_mark_retry(&s, 1, &p, "x", false);
	if (s.out != OUT_EXHAUSTED || s.attempt != 5)
		fail_msg("fifth failure of 4: got out %d attempt %u, want exhausted 5", s.out, s.attempt);
	slot_with(&s, 4, OUT_OK);
	batch_mark_retry(&s, 1, &p, "circuit open", true);
	if (s.out != OUT_RETRY || s.attempt != 4)
		fail_msg("open circuit: got out %d attempt %u, want retry with attempt kept at 4", s.out,
		    s.attempt);
	slot_with(&s, 4, OUT_OK);
	s.retried = false;	/* a publisher's x-chorus-attempt: not ours, ignored */
	batch_mark_retry(&s, 1, &p, "x", false);
	if (s.out != OUT_RETRY || s.attempt != 1)
		fail_msg("forged attempt 4 off the retry path: got out %d attempt %u, want retry 1",
		    s.out, s.attempt);
	slot_with(&s, 0, OUT_POISON);
	strcpy(s.why, "bad_field: x");
	batch_mark_retry(&s, 1, &p, "x", false);
	if (s.out != OUT_POISON || strcmp(s.why, "bad_field: x") != 0)
		fail_msg("poison: got out %d why '%s', want poison kept with its reason", s.out, s.why);
}

/*
 * batch_validate: the size alone decides for a body that was never copied;
 * the AMQP type and message_id, when present, must name what the body holds;
 * an event from another publisher than its owner is forged.
 */
static void
test_validate(void **state)
{
	static const char body[] = "{\"specversion\":\"1.0\","
	    "\"id\":\"5b0c1f9e-3c1e-4a53-9a5e-0f6f1d8b7a10\",\"source\":\"chorus/order\","
	    "\"type\":\"OrderConfirmed\",\"subject\":\"o-1\",\"data\":{\"order_id\":\"o-1\"}}";
	static const struct {
		const char *name;
		size_t dropped;
		const char *type, *message_id;	/* AMQP properties, NULL: absent */
		const char *want;		/* reason prefix; NULL: valid */
	} cases[] = {
		{ "no properties", 0, NULL, NULL, NULL },
		{ "matching properties", 0, "OrderConfirmed", "5b0c1f9e-3c1e-4a53-9a5e-0f6f1d8b7a10", NULL },
		{ "other type", 0, "OrderCancelled", NULL,
		    "property_mismatch: AMQP type \"OrderCancelled\" is not the body's \"OrderConfirmed\"" },
		{ "other message_id", 0, NULL, "5b0c1f9e-3c1e-4a53-9a5e-0f6f1d8b7a11",
		    "property_mismatch: AMQP message_id" },
		{ "message_id in another case", 0, NULL, "5B0C1F9E-3C1E-4A53-9A5E-0F6F1D8B7A10",
		    "property_mismatch: AMQP message_id" },
		{ "empty type", 0, "", NULL, "property_mismatch: AMQP type \"\"" },
		{ "control characters shown as ?", 0, "Order\x1b[2J\n", NULL,
		    "property_mismatch: AMQP type \"Order?[2J?\"" },
		{ "dropped body", 65537, NULL, NULL, "too_large: 65537 bytes, at most 65536" },
		{ "dropped body, properties alike", 1 << 30, "OrderConfirmed", NULL, "too_large: 1073741824 bytes" },
	};
	/* and from another publisher than the order service: forged */
	static const char forged_want[] = "forged: OrderConfirmed published by user 'chorus-payment'";
	struct conf cfg;

	(void)state;
	conf_defaults(&cfg);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct slot *s = calloc(1, sizeof(*s));

		assert_non_null(s);
		s->d.body = (char *)body;
		s->d.len = cases[i].dropped ? 0 : sizeof(body) - 1;
		s->d.dropped = cases[i].dropped;
		s->d.type = (char *)cases[i].type;
		s->d.message_id = (char *)cases[i].message_id;
		/* from its owner: who may publish what is test_origin's */
		s->d.exchange = (char *)"chorus.order";
		s->d.user_id = (char *)"chorus-order";
		batch_validate(s, SVC_INVENTORY, &cfg);
		if (cases[i].want == NULL && s->out != OUT_OK)
			fail_msg("%s: got poison '%s', want valid", cases[i].name, s->why);
		if (cases[i].want != NULL && (s->out != OUT_POISON ||
		    strncmp(s->why, cases[i].want, strlen(cases[i].want)) != 0))
			fail_msg("%s: got out %d why '%s', want poison '%s'", cases[i].name, s->out,
			    s->why, cases[i].want);
		free(s);
	}
	{
		struct slot *s = calloc(1, sizeof(*s));

		assert_non_null(s);
		s->d.body = (char *)body;
		s->d.len = sizeof(body) - 1;
		s->d.exchange = (char *)"chorus.order";
		s->d.user_id = (char *)"chorus-payment";
		batch_validate(s, SVC_INVENTORY, &cfg);
		if (s->out != OUT_POISON || strncmp(s->why, forged_want, strlen(forged_want)) != 0)
			fail_msg("another publisher: got out %d why '%s', want poison '%s'", s->out,
			    s->why, forged_want);
		free(s);
	}
	conf_free(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decide_table),
		cmocka_unit_test(test_table_complete),
		cmocka_unit_test(test_mark_retry),
		cmocka_unit_test(test_validate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
