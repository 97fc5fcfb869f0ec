/*
 * Unit tests of the retry and reconnect backoff (src/backoff.c): the ladder
 * doubles from the base up to the cap, the jitter stays within its share of
 * the delay at both ends of the random range, huge attempt numbers and huge
 * delays never overflow, and backoff_sleep gives up promptly once its stop
 * flag is set, whether before the sleep or in the middle of it (a SIGALRM
 * handler sets the flag, as the workers' signal handlers do).
 */
#include "config.h"

#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <cmocka.h>

#include "backoff.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void
expect_delay(const char *what, uint32_t got, uint32_t want)
{
	if (got != want)
		fail_msg("%s: got %u ms, want %u ms", what, got, want);
}

/* base 100 ms, cap 10 s, no jitter: 100, 200, 400, ... 6400, then 10000 for ever. */
static void
test_ladder(void **unused)
{
	static const struct backoff b = { 100, 10000, 0 };
	static const struct {
		unsigned attempt;
		uint32_t want;
	} rows[] = {
		{ 0, 100 }, { 1, 200 }, { 2, 400 }, { 3, 800 }, { 4, 1600 }, { 5, 3200 },
		{ 6, 6400 }, { 7, 10000 }, { 8, 10000 }, { 20, 10000 }, { 64, 10000 },
	};

	(void)unused;
	for (size_t i = 0; i < NELEM(rows); i++) {
		char what[64];

		snprintf(what, sizeof(what), "attempt %u", rows[i].attempt);
		expect_delay(what, backoff_delay_ms(&b, rows[i].attempt, 0), rows[i].want);
		/* without jitter the random number does not matter */
		expect_delay(what, backoff_delay_ms(&b, rows[i].attempt, UINT32_MAX), rows[i].want);
	}
}

/* Each step is twice the one before until the cap, and never above it. */
static void
test_ladder_doubles(void **unused)
{
	static const struct backoff ladders[] = {
		{ 1, 1000, 0 }, { 50, 30000, 0 }, { 250, 60000, 0 }, { 7, 7, 0 },
	};

	(void)unused;
	for (size_t l = 0; l < NELEM(ladders); l++) {
		uint32_t prev = backoff_delay_ms(&ladders[l], 0, 0);

		expect_delay("attempt 0", prev, ladders[l].base_ms);
		for (unsigned a = 1; a < 40; a++) {
			uint32_t d = backoff_delay_ms(&ladders[l], a, 0);
			uint32_t want = prev * 2 > ladders[l].max_ms ? ladders[l].max_ms : prev * 2;

			if (d != want)
				fail_msg("ladder %zu attempt %u: got %u ms, want %u ms", l, a, d, want);
			prev = d;
		}
	}
}

/* A base above the cap is cut to the cap; a zero base stays zero. */
static void
test_odd_ladders(void **unused)
{
	static const struct backoff over = { 5000, 1000, 0 }, zero = { 0, 1000, 0 };
	static const struct backoff nocap = { 100, 0, 50 };

	(void)unused;
	expect_delay("base over cap", backoff_delay_ms(&over, 0, 0), 1000);
	expect_delay("base over cap, attempt 5", backoff_delay_ms(&over, 5, UINT32_MAX), 1000);
	expect_delay("zero base", backoff_delay_ms(&zero, 0, UINT32_MAX), 0);
	expect_delay("zero base, attempt 30", backoff_delay_ms(&zero, 30, UINT32_MAX), 0);
	expect_delay("zero cap", backoff_delay_ms(&nocap, 3, UINT32_MAX), 0);
}

/*
 * The jitter takes the last jitter_pct percent of the delay and scales it by
 * rnd / UINT32_MAX: rnd 0 gives the fixed part, rnd UINT32_MAX the whole.
 */
static void
test_jitter_bounds(void **unused)
{
	static const struct {
		uint32_t jitter, base;
		unsigned attempt;
		uint32_t rnd, want;
	} rows[] = {
		{ 0, 1000, 0, 0, 1000 },
		{ 0, 1000, 0, UINT32_MAX, 1000 },
		{ 50, 1000, 0, 0, 500 },
		{ 50, 1000, 0, UINT32_MAX, 1000 },
		{ 50, 1000, 3, 0, 4000 },
		{ 50, 1000, 3, UINT32_MAX, 8000 },
		{ 50, 1000, 10, 0, 30000 },		/* capped at 60000 first */
		{ 50, 1000, 10, UINT32_MAX, 60000 },
		{ 100, 1000, 0, 0, 0 },
		{ 100, 1000, 0, UINT32_MAX, 1000 },
		{ 100, 1000, 10, UINT32_MAX, 60000 },
		{ 250, 1000, 0, 0, 0 },			/* above 100 counts as 100 */
		{ 250, 1000, 0, UINT32_MAX, 1000 },
		{ 50, 1, 0, 0, 1 },			/* 1 * 50 / 100 = 0 spread */
		{ 50, 3, 0, 0, 2 },			/* spread 1, fixed 2 */
		{ 50, 3, 0, UINT32_MAX, 3 },
	};

	(void)unused;
	for (size_t i = 0; i < NELEM(rows); i++) {
		struct backoff b = { rows[i].base, 60000, rows[i].jitter };
		char what[96];

		snprintf(what, sizeof(what), "row %zu (jitter %u%%, base %u, attempt %u, rnd %u)",
		    i, rows[i].jitter, rows[i].base, rows[i].attempt, rows[i].rnd);
		expect_delay(what, backoff_delay_ms(&b, rows[i].attempt, rows[i].rnd), rows[i].want);
	}
}

/* Between the ends the delay grows with rnd and stays within [fixed, full]. */
static void
test_jitter_monotonic(void **unused)
{
	static const uint32_t pcts[] = { 0, 10, 50, 100 };

	(void)unused;
	for (size_t p = 0; p < NELEM(pcts); p++) {
		struct backoff b = { 100, 30000, pcts[p] };

		for (unsigned a = 0; a < 12; a++) {
			uint32_t lo = backoff_delay_ms(&b, a, 0), hi = backoff_delay_ms(&b, a, UINT32_MAX);
			uint32_t prev = lo;

			for (uint64_t r = 0; r <= UINT32_MAX; r += UINT32_MAX / 97) {
				uint32_t d = backoff_delay_ms(&b, a, (uint32_t)r);

				if (d < prev || d > hi)
					fail_msg("jitter %u%% attempt %u rnd %u: got %u ms, want %u..%u",
					    pcts[p], a, (uint32_t)r, d, prev, hi);
				prev = d;
			}
		}
	}
}

/* The largest inputs: no overflow, no wrap-around, a bounded answer at once. */
static void
test_no_overflow(void **unused)
{
	static const struct {
		struct backoff b;
		unsigned attempt;
		uint32_t rnd, want;
	} rows[] = {
		{ { 100, UINT32_MAX, 0 }, UINT_MAX, 0, UINT32_MAX },
		{ { 100, UINT32_MAX, 100 }, UINT_MAX, UINT32_MAX, UINT32_MAX },
		{ { 100, UINT32_MAX, 100 }, UINT_MAX, 0, 0 },
		{ { UINT32_MAX, UINT32_MAX, 0 }, 0, 0, UINT32_MAX },
		{ { UINT32_MAX, UINT32_MAX, 50 }, 1000, UINT32_MAX, UINT32_MAX },
		{ { UINT32_MAX, UINT32_MAX, 50 }, 1000, 0, UINT32_MAX - UINT32_MAX / 2 },
		{ { 1, UINT32_MAX, 0 }, 31, 0, 1u << 31 },
		{ { 1, UINT32_MAX, 0 }, 32, 0, UINT32_MAX },
		{ { 1, UINT32_MAX, 0 }, 33, 0, UINT32_MAX },
		{ { 3, UINT32_MAX, 0 }, 64, 0, UINT32_MAX },
		{ { 100, 30000, 50 }, UINT_MAX, UINT32_MAX, 30000 },
	};

	(void)unused;
	for (size_t i = 0; i < NELEM(rows); i++) {
		char what[64];

		snprintf(what, sizeof(what), "row %zu (attempt %u)", i, rows[i].attempt);
		expect_delay(what, backoff_delay_ms(&rows[i].b, rows[i].attempt, rows[i].rnd),
		    rows[i].want);
	}
}

static void
test_random(void **unused)
{
	uint32_t first = backoff_random();
	bool differs = false;

	(void)unused;
	/* 16 equal 32-bit draws in a row would mean it is not random at all */
	for (int i = 0; i < 16 && !differs; i++)
		differs = backoff_random() != first;
	if (!differs)
		fail_msg("backoff_random: got %u 17 times, want different numbers", first);
}

/* --- sleeping ---------------------------------------------------------------- */

static volatile int stop_flag;

static void
on_alarm(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static long
elapsed_ms(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - since->tv_sec) * 1000L + (now.tv_nsec - since->tv_nsec) / 1000000L;
}

static void
test_sleep_plain(void **unused)
{
	struct timespec t0;
	volatile int never = 0;
	long ms;
	int r;

	(void)unused;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = backoff_sleep(30, NULL);
	ms = elapsed_ms(&t0);
	if (r != 0 || ms < 30 || ms > 1000)
		fail_msg("sleep 30 ms, no flag: got %d after %ld ms, want 0 after 30..1000 ms", r, ms);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = backoff_sleep(120, &never);
	ms = elapsed_ms(&t0);
	if (r != 0 || ms < 120 || ms > 1100)
		fail_msg("sleep 120 ms, flag clear: got %d after %ld ms, want 0 after 120..1100 ms",
		    r, ms);
	if (backoff_sleep(0, NULL) != 0)
		fail_msg("sleep 0 ms: got 1, want 0");
}

static void
test_sleep_stop_before(void **unused)
{
	struct timespec t0;
	volatile int stop = 1;
	long ms;
	int r;

	(void)unused;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = backoff_sleep(60000, &stop);
	ms = elapsed_ms(&t0);
	if (r != 1 || ms > 200)
		fail_msg("sleep 60 s, flag already set: got %d after %ld ms, want 1 at once", r, ms);
	if (backoff_sleep(0, &stop) != 1)
		fail_msg("sleep 0 ms, flag set: got 0, want 1");
}

/* The flag set by a signal handler 150 ms into a 60 s sleep ends it within its 100 ms step. */
static void
test_sleep_stop_during(void **unused)
{
	struct sigaction sa, old;
	struct itimerval it = { { 0, 0 }, { 0, 150000 } }, off = { { 0, 0 }, { 0, 0 } };
	struct timespec t0;
	long ms;
	int r;

	(void)unused;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
	stop_flag = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
	r = backoff_sleep(60000, &stop_flag);
	ms = elapsed_ms(&t0);
	setitimer(ITIMER_REAL, &off, NULL);
	sigaction(SIGALRM, &old, NULL);
	if (r != 1 || ms < 140 || ms > 1500)
		fail_msg("sleep 60 s, flag set at 150 ms: got %d after %ld ms, want 1 after 150..1500 ms",
		    r, ms);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ladder),
		cmocka_unit_test(test_ladder_doubles),
		cmocka_unit_test(test_odd_ladders),
		cmocka_unit_test(test_jitter_bounds),
		cmocka_unit_test(test_jitter_monotonic),
		cmocka_unit_test(test_no_overflow),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_sleep_plain),
		cmocka_unit_test(test_sleep_stop_before),
		cmocka_unit_test(test_sleep_stop_during),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
