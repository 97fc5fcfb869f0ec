/*
 * Unit tests of the URL list (src/urllist.c): amqp_url naming the nodes of
 * a cluster. One URL is a list of one; blanks around the commas go; an
 * empty element or too many URLs is an error that says where, and leaves
 * the list empty.
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

#include "urllist.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
	const char *in;
	size_t n;
	const char *url[3];
} good[] = {
	{ "amqp://h:1/%2F", 1, { "amqp://h:1/%2F" } },
	{ "amqp://a:1/%2F,amqp://b:2/%2F", 2, { "amqp://a:1/%2F", "amqp://b:2/%2F" } },
	{ " amqp://a:1/ , amqp://b:2/,\tamqp://c:3/ ", 3,
	  { "amqp://a:1/", "amqp://b:2/", "amqp://c:3/" } },
};

static void
test_split(void **unused)
{
	(void)unused;
	for (size_t i = 0; i < NELEM(good); i++) {
		struct urllist l;
		char *cause = NULL;

		if (urllist_split(good[i].in, &l, &cause) != 0)
			fail_msg("'%s': got error '%s', want %zu URLs", good[i].in, cause, good[i].n);
		if (l.n != good[i].n)
			fail_msg("'%s': got %zu URLs, want %zu", good[i].in, l.n, good[i].n);
		for (size_t k = 0; k < l.n; k++)
			if (strcmp(l.url[k], good[i].url[k]) != 0)
				fail_msg("'%s' URL %zu: got '%s', want '%s'", good[i].in, k,
				    l.url[k], good[i].url[k]);
		urllist_free(&l);
		assert_int_equal(l.n, 0);
	}
}

static const struct {
	const char *in;
	const char *cause;
} bad[] = {
	{ "", "empty URL at position 1 of the list" },
	{ "  ", "empty URL at position 1 of the list" },
	{ "amqp://a/,,amqp://b/", "empty URL at position 2 of the list" },
	{ "amqp://a/,", "empty URL at position 2 of the list" },
	{ ",amqp://a/", "empty URL at position 1 of the list" },
	{ "a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a", "more than 16 URLs in the list" },
};

static void
test_bad(void **unused)
{
	(void)unused;
	for (size_t i = 0; i < NELEM(bad); i++) {
		struct urllist l;
		char *cause = NULL;

		if (urllist_split(bad[i].in, &l, &cause) == 0)
			fail_msg("'%s': got %zu URLs, want error '%s'", bad[i].in, l.n, bad[i].cause);
		if (strcmp(cause, bad[i].cause) != 0)
			fail_msg("'%s': got error '%s', want '%s'", bad[i].in, cause, bad[i].cause);
		assert_int_equal(l.n, 0);
		free(cause);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
