/*
 * Unit tests of retry: failure classes by SQLSTATE, the ladder parser, the
 * step of each attempt, jitter bounds, queue names, the attempt header.
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

#include "retry.h"

static void
test_classify(void **state)
{
	static const struct {
		const char *sqlstate;
		enum err_class want;
	} cases[] = {
		{ "40001", ERR_TRANSIENT },	/* serialization_failure */
		{ "40P01", ERR_TRANSIENT },	/* deadlock_detected */
		{ "55P03", ERR_TRANSIENT },	/* lock_not_available */
		{ "57014", ERR_TRANSIENT },	/* query_canceled: statement timeout */
		{ "57P01", ERR_TRANSIENT },	/* admin_shutdown */
		{ "57P03", ERR_TRANSIENT },	/* cannot_connect_now */
		{ "08006", ERR_TRANSIENT },	/* connection_failure */
		{ "53300", ERR_TRANSIENT },	/* too_many_connections */
		{ "", ERR_TRANSIENT },		/* no SQLSTATE: the connection broke */
		{ NULL, ERR_TRANSIENT },
		{ "23505", ERR_POISON },	/* unique_violation */
		{ "23514", ERR_POISON },	/* check_violation */
		{ "22P02", ERR_POISON },	/* invalid_text_representation */
		/* a migration not applied: the operator's to fix, the message is not poison */
		{ "42P01", ERR_TRANSIENT },	/* undefined_table */
		{ "42703", ERR_TRANSIENT },	/* undefined_column */
		{ "42883", ERR_TRANSIENT },	/* undefined_function */
		{ "42601", ERR_POISON },	/* syntax_error */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum err_class got = retry_classify_sqlstate(cases[i].sqlstate);

		if (got != cases[i].want)
			fail_msg("SQLSTATE %s: got %s, want %s", cases[i].sqlstate ? cases[i].sqlstate : "NULL",
			    err_class_name(got), err_class_name(cases[i].want));
	}
}

static void
test_parse_ladder(void **state)
{
	static const struct {
		const char *in;
		int ok;
		size_t steps;
		uint32_t last;
	} cases[] = {
		{ "1s,5s,30s", 1, 3, 30000 },
		{ "250ms, 1s ,2m", 1, 3, 120000 },
		{ "100", 1, 1, 100 },
		{ "1h", 1, 1, 3600000 },
		{ "10ms,20ms,40ms,80ms,160ms,320ms,640ms,1280ms", 1, 8, 1280 },
		{ "10ms,20ms,40ms,80ms,160ms,320ms,640ms,1280ms,2s", 0, 0, 0 },	/* > 8 steps */
		{ "", 0, 0, 0 },
		{ "5s,1s", 0, 0, 0 },		/* not increasing */
		{ "1s,1s", 0, 0, 0 },
		{ "5ms", 0, 0, 0 },		/* below 10 ms */
		{ "2h", 0, 0, 0 },		/* above 1 h */
		{ "1x", 0, 0, 0 },
		{ "abc", 0, 0, 0 },
		{ "1s,,", 0, 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct retry_policy p;
		char *cause = NULL;
		int r = retry_parse_ladder(cases[i].in, &p, &cause);

		if ((r == 0) != cases[i].ok)
			fail_msg("'%s': got %s (%s), want %s", cases[i].in, r == 0 ? "ok" : "error",
			    cause ? cause : "", cases[i].ok ? "ok" : "error");
		if (r == 0 && (p.steps != cases[i].steps || p.delay_ms[p.steps - 1] != cases[i].last))
			fail_msg("'%s': got %zu steps ending %u ms, want %zu ending %u", cases[i].in,
			    p.steps, p.delay_ms[p.steps - 1], cases[i].steps, cases[i].last);
		if (r != 0 && (cause == NULL || *cause == '\0'))
			fail_msg("'%s': an error without a message", cases[i].in);
		free(cause);
	}
}

static void
test_steps(void **state)
{
	struct retry_policy p;
	char *cause = NULL;
	/* attempt -> step with 3 steps and at most 5 attempts */
	static const int want[] = { -1, 0, 1, 2, 2, 2, -1, -1 };

	(void)state;
	assert_int_equal(retry_parse_ladder("1s,5s,30s", &p, &cause), 0);
	p.max_attempts = 5;
	for (unsigned a = 0; a < sizeof(want) / sizeof(want[0]); a++)
		if (retry_step(&p, a) != want[a])
			fail_msg("attempt %u: got step %d, want %d", a, retry_step(&p, a), want[a]);
	p.max_attempts = 1;
	assert_int_equal(retry_step(&p, 1), 0);
	assert_int_equal(retry_step(&p, 2), -1);
}

static void
test_jitter(void **state)
{
	struct retry_policy p;
	char *cause = NULL;

	(void)state;
	assert_int_equal(retry_parse_ladder("1s,10s", &p, &cause), 0);
	p.jitter_pct = 0;
	assert_int_equal(retry_delay_ms(&p, 1, 0), 10000);
	assert_int_equal(retry_delay_ms(&p, 1, UINT32_MAX), 10000);
	p.jitter_pct = 20;
	assert_int_equal(retry_delay_ms(&p, 1, 0), 8000);
	assert_int_equal(retry_delay_ms(&p, 1, UINT32_MAX), 10000);	/* never above the TTL */
	for (uint32_t r = 0; r < 4000000000u; r += 99999989u) {
		uint32_t d = retry_delay_ms(&p, 0, r);

		if (d < 800 || d > 1000)
			fail_msg("rnd %u: got %u ms, want 800..1000", r, d);
	}
	p.jitter_pct = 100;
	assert_int_equal(retry_delay_ms(&p, 0, 0), 0);
}

static void
test_names(void **state)
{
	static const struct {
		uint32_t ms;
		const char *want;
	} cases[] = { { 250, "250ms" }, { 1000, "1s" }, { 1500, "1500ms" }, { 30000, "30s" },
		{ 120000, "2m" }, { 3600000, "1h" } };
	struct retry_policy p;
	char *cause = NULL, buf[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		retry_format_delay(cases[i].ms, buf, sizeof(buf));
		if (strcmp(buf, cases[i].want) != 0)
			fail_msg("%u ms: got '%s', want '%s'", cases[i].ms, buf, cases[i].want);
	}
	assert_int_equal(retry_parse_ladder("1s,5s", &p, &cause), 0);
	retry_queue_name(SVC_PAYMENT, &p, 1, buf, sizeof(buf));
	assert_string_equal(buf, "chorus.payment.retry.5s");
}

static void
test_attempt_header(void **state)
{
	(void)state;
	assert_int_equal(retry_attempts_of(NULL), 0);
	assert_int_equal(retry_attempts_of(""), 0);
	assert_int_equal(retry_attempts_of("3"), 3);
	assert_int_equal(retry_attempts_of("3x"), 0);
	assert_int_equal(retry_attempts_of("-1"), 0);
	assert_int_equal(retry_attempts_of("99999999999"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_parse_ladder),
		cmocka_unit_test(test_steps),
		cmocka_unit_test(test_jitter),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_attempt_header),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
