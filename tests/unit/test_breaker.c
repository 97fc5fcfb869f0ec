/*
 * Unit tests of the circuit breaker: every transition of its table, driven
 * by a fake clock.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "breaker.h"

enum op { ALLOW, SUCCESS, FAILURE };

struct row {
	const char *what;
	enum breaker_state from;
	enum op op;
	uint64_t at_ms;			/* the clock when op happens (opened at 1000 when OPEN) */
	int want_result;		/* allow: allowed; success/failure: state changed */
	enum breaker_state want;
};

/* failures 3, recovery 500 ms, successes 2 */
static const struct row rows[] = {
	{ "closed: allowed", BREAKER_CLOSED, ALLOW, 1000, 1, BREAKER_CLOSED },
	{ "closed: a success keeps it closed", BREAKER_CLOSED, SUCCESS, 1000, 0, BREAKER_CLOSED },
	{ "closed: one failure is not enough", BREAKER_CLOSED, FAILURE, 1000, 0, BREAKER_CLOSED },
	{ "open: refused before recovery", BREAKER_OPEN, ALLOW, 1499, 0, BREAKER_OPEN },
	{ "open: after recovery, half-open and allowed", BREAKER_OPEN, ALLOW, 1500, 1, BREAKER_HALF_OPEN },
	{ "open: a late success changes nothing", BREAKER_OPEN, SUCCESS, 1200, 0, BREAKER_OPEN },
	{ "open: a late failure changes nothing", BREAKER_OPEN, FAILURE, 1200, 0, BREAKER_OPEN },
	{ "half-open: allowed", BREAKER_HALF_OPEN, ALLOW, 1600, 1, BREAKER_HALF_OPEN },
	{ "half-open: one success is not enough", BREAKER_HALF_OPEN, SUCCESS, 1600, 0, BREAKER_HALF_OPEN },
	{ "half-open: a failure opens it again", BREAKER_HALF_OPEN, FAILURE, 1600, 1, BREAKER_OPEN },
};

static void
put_in(struct breaker *b, enum breaker_state s)
{
	breaker_init(b, 3, 500, 2);
	if (s == BREAKER_CLOSED)
		return;
	for (int i = 0; i < 3; i++)
		breaker_failure(b, 1000);
	if (s == BREAKER_HALF_OPEN)
		breaker_allow(b, 1500);
}

static void
test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct breaker b;
		int got;

		put_in(&b, r->from);
		assert_int_equal(b.state, r->from);
		got = r->op == ALLOW ? breaker_allow(&b, r->at_ms) :
		    r->op == SUCCESS ? breaker_success(&b, r->at_ms) : breaker_failure(&b, r->at_ms);
		if (got != r->want_result || b.state != r->want)
			fail_msg("%s: got result %d state %s, want %d %s", r->what, got,
			    breaker_state_name(b.state), r->want_result, breaker_state_name(r->want));
	}
}

static void
test_sequences(void **state)
{
	struct breaker b;

	(void)state;
	breaker_init(&b, 3, 500, 2);
	/* failures must be in a row: a success in between starts the count again */
	breaker_failure(&b, 0);
	breaker_failure(&b, 0);
	breaker_success(&b, 0);
	breaker_failure(&b, 0);
	breaker_failure(&b, 0);
	assert_int_equal(b.state, BREAKER_CLOSED);
	assert_true(breaker_failure(&b, 100));
	assert_int_equal(b.state, BREAKER_OPEN);
	assert_int_equal(breaker_wait_ms(&b, 300), 300);
	assert_int_equal(breaker_wait_ms(&b, 700), 0);
	/* two successes in a row close it */
	assert_true(breaker_allow(&b, 600));
	assert_false(breaker_success(&b, 610));
	assert_true(breaker_success(&b, 620));
	assert_int_equal(b.state, BREAKER_CLOSED);
	assert_int_equal(breaker_wait_ms(&b, 620), 0);
	/* after closing, it takes the full threshold again to open */
	assert_false(breaker_failure(&b, 700));
	assert_false(breaker_failure(&b, 700));
	assert_true(breaker_failure(&b, 700));
	/* zero thresholds are taken as one */
	breaker_init(&b, 0, 10, 0);
	assert_true(breaker_failure(&b, 0));
	assert_true(breaker_allow(&b, 10));
	assert_true(breaker_success(&b, 10));
	assert_string_equal(breaker_state_name(BREAKER_HALF_OPEN), "half-open");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_sequences),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
