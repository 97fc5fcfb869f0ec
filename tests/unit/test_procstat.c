/*
 * Unit tests of procstat (src/procstat.c): parsing /proc/<pid>/stat lines
 * (names with spaces and parentheses), the CPU of a process tree with its
 * exited children, and a snapshot of this very process.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "procstat.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void
expect_close(const char *what, double got, double want)
{
	if (got < want - 1e-9 || got > want + 1e-9)
		fail_msg("%s: got %.3f, want %.3f", what, got, want);
}

static void
test_parse(void **unused)
{
	static const struct {
		const char *line;
		int ok;
		long pid, ppid;
		const char *comm;
		long ticks, child_ticks;	/* utime+stime, cutime+cstime */
	} cases[] = {
		{ "4695 (postgres) S 1 4695 4695 0 -1 4194560 1000 0 0 0 150 50 30 20 20 0 1 0 100",
		  1, 4695, 1, "postgres", 200, 50 },
		{ "17 (chorus-inventor) R 9 17 9 0 -1 0 0 0 0 0 7 3 0 0 20 0 3 0 5",
		  1, 17, 9, "chorus-inventor", 10, 0 },
		{ "42 (a (b) c) S 2 42 42 0 -1 0 0 0 0 0 1 1 1 1 20 0 1 0 5",
		  1, 42, 2, "a (b) c", 2, 2 },
		{ "43 no parentheses", 0, 0, 0, "", 0, 0 },
		{ "44 (short) S 1 2 3", 0, 0, 0, "", 0, 0 },
	};
	double tick = (double)sysconf(_SC_CLK_TCK);

	(void)unused;
	for (size_t i = 0; i < NELEM(cases); i++) {
		struct procstat_proc p;
		int r = procstat_parse_stat(cases[i].line, &p);

		if ((r == 0) != cases[i].ok)
			fail_msg("parse \"%s\": got %d, want %s", cases[i].line, r,
			    cases[i].ok ? "0" : "-1");
		if (!cases[i].ok)
			continue;
		if (p.pid != cases[i].pid || p.ppid != cases[i].ppid ||
		    strcmp(p.comm, cases[i].comm) != 0)
			fail_msg("parse \"%s\": got pid %ld ppid %ld comm \"%s\", want %ld %ld \"%s\"",
			    cases[i].line, (long)p.pid, (long)p.ppid, p.comm, cases[i].pid,
			    cases[i].ppid, cases[i].comm);
		expect_close("cpu_s", p.cpu_s, (double)cases[i].ticks / tick);
		expect_close("child_cpu_s", p.child_cpu_s, (double)cases[i].child_ticks / tick);
	}
}

/* A tree: 1 -> 10 -> (11 -> 12), 10 -> 13; 20 elsewhere. */
static void
test_tree(void **unused)
{
	struct procstat_proc p[] = {
		{ 1, 0, "init", 100, 0 },
		{ 10, 1, "postgres", 1.0, 5.0 },	/* 5 s of backends gone */
		{ 11, 10, "postgres", 2.0, 0 },
		{ 12, 11, "helper", 0.5, 0.25 },
		{ 13, 10, "postgres", 3.0, 0 },
		{ 20, 1, "other", 7.0, 0 },
	};
	struct procstat ps = { p, NELEM(p) };

	(void)unused;
	expect_close("tree of 10", procstat_tree_cpu(&ps, 10), 1.0 + 5.0 + 2.0 + 0.5 + 0.25 + 3.0);
	expect_close("tree of 11", procstat_tree_cpu(&ps, 11), 2.75);
	expect_close("a leaf", procstat_tree_cpu(&ps, 20), 7.0);
	expect_close("no such pid", procstat_tree_cpu(&ps, 99), 0);
}

/* This process shows in a snapshot, with its parent, and has a peak RSS. */
static void
test_self(void **unused)
{
	struct procstat ps;
	const struct procstat_proc *me;

	(void)unused;
	assert_int_equal(procstat_snapshot(&ps), 0);
	me = procstat_find(&ps, getpid());
	if (me == NULL)
		fail_msg("snapshot: got no entry for pid %ld, want one", (long)getpid());
	if (me->ppid != getppid())
		fail_msg("ppid: got %ld, want %ld", (long)me->ppid, (long)getppid());
	procstat_free(&ps);
	if (procstat_peak_rss_kb(getpid()) <= 0)
		fail_msg("peak RSS: got %ld kB, want > 0", procstat_peak_rss_kb(getpid()));
	{
		/* a private megabyte, written: it shows, and private memory stays under peak RSS */
		long before = procstat_private_kb(getpid()), after;
		volatile char *mb = malloc(1 << 20);

		for (int i = 0; mb != NULL && i < (1 << 20); i += 4096)
			mb[i] = 1;
		after = procstat_private_kb(getpid());
		if (before <= 0 || after < before + 900)
			fail_msg("private memory: got %ld kB then %ld kB after writing 1 MB, want +1024",
			    before, after);
		if (after > procstat_peak_rss_kb(getpid()))
			fail_msg("private memory: got %ld kB, want at most the peak RSS %ld kB", after,
			    procstat_peak_rss_kb(getpid()));
		free((void *)mb);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_tree),
		cmocka_unit_test(test_self),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
