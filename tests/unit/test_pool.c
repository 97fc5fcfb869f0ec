/*
 * Unit tests of the gateway's pools: instance lists (parse, reload keeping
 * state, removal while in flight), balancing (least in flight, round
 * robin), ejection and re-admission, the breaker and the bulkhead, on a
 * fake clock.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pool.h"

static const struct pool_params params = {
	.balance = POOL_LEAST_IN_FLIGHT, .max_in_flight = 4, .eject_failures = 2,
	.eject_ms = 1000, .breaker_failures = 5, .breaker_recovery_ms = 500,
	.breaker_successes = 1,
};

static void
test_parse(void **state)
{
	static const struct { const char *list; int want; } rows[] = {
		{ "127.0.0.1:8101", 0 }, { "a:1,b-2.example:65535", 0 }, { "", -1 },
		{ "127.0.0.1", -1 }, { ":80", -1 }, { "h:", -1 }, { "h:0", -1 }, { "h:65536", -1 },
		{ "h:80,", -1 }, { "h:80,,h:81", -1 }, { "h h:80", -1 }, { "h:8o", -1 },
		{ "h:99999999999999999999", -1 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *cause = NULL;
		int got = pool_parse(rows[i].list, &cause);

		if (got != rows[i].want)
			fail_msg("pool_parse(\"%s\"): got %d, want %d", rows[i].list, got, rows[i].want);
		assert_true((got == 0) == (cause == NULL));
		free(cause);
	}
}

/* Pick n times with every request still in flight; count per instance. */
static void
pick_n(struct pool *p, int n, uint64_t now, struct pool_instance **got)
{
	enum pool_refusal why;

	for (int k = 0; k < n; k++) {
		got[k] = pool_pick(p, now, &why);
		assert_non_null(got[k]);
	}
}

static void
test_least_in_flight_and_round_robin(void **state)
{
	struct pool p;
	struct pool_instance *got[4];
	struct pool_params rr = params;

	(void)state;
	pool_init(&p, "order", &params);
	assert_int_equal(pool_set(&p, "a:1,b:2"), 2);
	pick_n(&p, 4, 0, got);
	/* least in flight alternates while all stay in flight */
	assert_ptr_not_equal(got[0], got[1]);
	assert_ptr_equal(got[0], got[2]);
	assert_int_equal(p.inst[0]->in_flight, 2);
	assert_int_equal(p.inst[1]->in_flight, 2);
	/* a's requests end: the next two go to a (it has fewer in flight) */
	pool_done(&p, p.inst[0], true, 0);
	pool_done(&p, p.inst[0], true, 0);
	{
		enum pool_refusal why;
		struct pool_instance *i = pool_pick(&p, 0, &why);

		assert_string_equal(i->addr, "a:1");
	}
	pool_free(&p);

	rr.balance = POOL_ROUND_ROBIN;
	rr.max_in_flight = 100;
	pool_init(&p, "order", &rr);
	pool_set(&p, "a:1,b:2,c:3");
	for (int k = 0; k < 6; k++) {
		enum pool_refusal why;
		struct pool_instance *i = pool_pick(&p, 0, &why);
		const char *want = (const char *[]){ "a:1", "b:2", "c:3" }[k % 3];

		if (strcmp(i->addr, want) != 0)
			fail_msg("round robin pick %d: got %s, want %s", k, i->addr, want);
		pool_done(&p, i, true, 0);
	}
	pool_free(&p);
}

static void
test_bulkhead(void **state)
{
	struct pool p;
	struct pool_instance *got[4];
	enum pool_refusal why;

	(void)state;
	pool_init(&p, "order", &params);
	pool_set(&p, "a:1");
	pick_n(&p, 4, 0, got);
	assert_null(pool_pick(&p, 0, &why));
	assert_int_equal(why, POOL_BULKHEAD_FULL);
	assert_int_equal(p.refused[POOL_BULKHEAD_FULL], 1);
	pool_done(&p, got[0], true, 0);
	assert_non_null(pool_pick(&p, 0, &why));
	pool_free(&p);
}

static void
test_eject_and_readmit(void **state)
{
	struct pool p;
	struct pool_instance *a, *b, *i;
	enum pool_refusal why;

	(void)state;
	pool_init(&p, "order", &params);
	pool_set(&p, "a:1,b:2");
	a = p.inst[0];
	b = p.inst[1];
	/* two failures of a in a row eject it for eject_ms */
	for (int k = 0; k < 2; k++) {
		a->in_flight++;
		p.in_flight++;
		pool_done(&p, a, false, 100);
	}
	assert_int_equal(a->ejected_until_ms, 1100);
	assert_false(pool_eligible(a, 1099));
	for (int k = 0; k < 3; k++) {
		i = pool_pick(&p, 500, &why);
		assert_ptr_equal(i, b);
		pool_done(&p, i, true, 500);
	}
	/* re-admitted once eject_ms passed */
	assert_true(pool_eligible(a, 1100));
	/* failing again at once: ejected anew for twice as long */
	a->in_flight++;
	p.in_flight++;
	pool_done(&p, a, false, 1200);
	assert_int_equal(a->ejected_until_ms, 1200 + 2000);
	/* a request that started before the ejection failing late adds nothing */
	a->in_flight++;
	p.in_flight++;
	pool_done(&p, a, false, 1300);
	assert_int_equal(a->ejected_until_ms, 3200);
	/* a success after re-admission forgets the history */
	a->in_flight++;
	p.in_flight++;
	pool_done(&p, a, true, 3300);
	assert_int_equal(a->ejections, 0);
	/* a failed health check takes an instance out until one passes */
	pool_checked(&p, b, false);
	pool_checked(&p, a, false);
	assert_null(pool_pick(&p, 4000, &why));
	assert_int_equal(why, POOL_NO_INSTANCE);
	pool_checked(&p, b, true);
	assert_ptr_equal(pool_pick(&p, 4000, &why), b);
	pool_free(&p);
}

static void
test_breaker(void **state)
{
	struct pool p;
	struct pool_instance *i;
	enum pool_refusal why;
	struct pool_params pp = params;

	(void)state;
	pp.eject_failures = 100;
	pool_init(&p, "payment", &pp);
	pool_set(&p, "a:1");
	for (int k = 0; k < 5; k++) {
		i = pool_pick(&p, 0, &why);
		assert_non_null(i);
		assert_int_equal(pool_done(&p, i, false, 10), k == 4);
	}
	assert_int_equal(p.breaker.state, BREAKER_OPEN);
	assert_null(pool_pick(&p, 509, &why));
	assert_int_equal(why, POOL_CIRCUIT_OPEN);
	/* after recovery one trial goes; its success closes the breaker */
	i = pool_pick(&p, 510, &why);
	assert_non_null(i);
	assert_int_equal(p.breaker.state, BREAKER_HALF_OPEN);
	assert_true(pool_done(&p, i, true, 520));
	assert_int_equal(p.breaker.state, BREAKER_CLOSED);
	pool_free(&p);
}

static void
test_reload(void **state)
{
	struct pool p;
	struct pool_instance *a, *i;
	enum pool_refusal why;

	(void)state;
	pool_init(&p, "order", &params);
	pool_set(&p, "a:1,b:2");
	a = p.inst[0];
	a->failures = 7;
	i = pool_pick(&p, 0, &why);	/* b or a: either is in flight across the reload */
	/* b goes, c comes, a keeps its state; a repeated entry counts once */
	assert_int_equal(pool_set(&p, "a:1,c:3,a:1"), 2);
	assert_int_equal(p.ninst, 2);
	assert_ptr_equal(p.inst[0], a);
	assert_int_equal(a->failures, 7);
	assert_string_equal(p.inst[1]->addr, "c:3");
	if (strcmp(i->addr, "b:2") == 0) {
		/* the removed instance takes no request, and is freed once idle */
		assert_true(i->removed);
		assert_int_equal(p.nretired, 1);
		pool_done(&p, i, true, 0);
		assert_int_equal(p.nretired, 0);
	} else
		pool_done(&p, i, true, 0);
	for (int k = 0; k < 4; k++) {
		struct pool_instance *j = pool_pick(&p, 0, &why);

		assert_string_not_equal(j->addr, "b:2");
		pool_done(&p, j, true, 0);
	}
	assert_int_equal(pool_set(&p, "a:1,c:3"), 0);
	pool_free(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_least_in_flight_and_round_robin),
		cmocka_unit_test(test_bulkhead),
		cmocka_unit_test(test_eject_and_readmit),
		cmocka_unit_test(test_breaker),
		cmocka_unit_test(test_reload),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
