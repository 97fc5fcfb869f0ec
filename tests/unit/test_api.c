/*
 * Unit tests of the API's pure parts: the keyset cursor (round trip,
 * refusal of text it did not make).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "api.h"

static void
test_cursor_round_trip(void **state)
{
	static const struct {
		int64_t us;
		const char *id;
	} rows[] = {
		{ 1796217187386326, "ord-01a236e3-2b96-7088-8ff6-db9e6f3c8bfa" },
		{ 0, "a" },
		{ -1, "x.y:z-_" },
		{ INT64_MAX, "0123456789012345678901234567890123456789012345678901234567890123" },
		{ 1, "ab" },
		{ 12, "abc" },
	};
	char text[160], id[65];
	int64_t us;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		api_cursor_encode(rows[i].us, rows[i].id, text, sizeof(text));
		assert_int_equal(strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789-_"), strlen(text));
		if (api_cursor_decode(text, &us, id, sizeof(id)) != 0)
			fail_msg("row %zu: %s does not decode", i, text);
		if (us != rows[i].us || strcmp(id, rows[i].id) != 0)
			fail_msg("row %zu: got %lld %s, want %lld %s", i, (long long)us, id,
			    (long long)rows[i].us, rows[i].id);
	}
}

static void
test_cursor_refused(void **state)
{
	static const char *bad[] = {
		"", "bm9wZQ",		/* "nope": no colon */
		"OmE",			/* ":a": no time */
		"eDph",			/* "x:a": time not a number */
		"MTph IGI",		/* a space */
		"MTphIGI",		/* "1:a b": not an id */
		"MTph+",		/* '+' is not URL-safe base64 */
		"MTphY",		/* a length no encoding gives */
		"MTphZR",		/* "1:ae" with stray low bits set: not canonical */
		"MToA",			/* "1:" and NUL */
	};
	char id[65];
	int64_t us;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (api_cursor_decode(bad[i], &us, id, sizeof(id)) == 0)
			fail_msg("'%s' decoded to %lld %s, want refused", bad[i], (long long)us, id);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cursor_round_trip),
		cmocka_unit_test(test_cursor_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
