/*
 * Unit tests of src/escape.c and of the log lines built with it: hostile
 * values (quotes, spaces, '=', newlines, ESC sequences, C1 controls, bytes
 * that are not UTF-8) stay one escaped value, in logfmt and in terminal
 * text; other conversions are printf's.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "escape.h"
#include "log.h"

static int nfail;

/* Compare got (freed here) with want; count a failure and go on. */
static void
same(int line, char *got, const char *want)
{
	if (strcmp(got, want) != 0) {
		print_error("line %d: got '%s', want '%s'\n", line, got, want);
		nfail++;
	}
	free(got);
}

#define LOGF(want, ...) same(__LINE__, escape_asprintf(ESCAPE_LOG, __VA_ARGS__), want)
#define TEXT(want, ...) same(__LINE__, escape_asprintf(ESCAPE_TEXT, __VA_ARGS__), want)

static void
test_log_mode(void **state)
{
	(void)state;
	/* safe values as they are */
	LOGF("event_id=ab-1:2.3 n=7", "event_id=%s n=%d", "ab-1:2.3", 7);
	/* a bare value that needs quotes gets them */
	LOGF("order_id=\"a b\"", "order_id=%s", "a b");
	LOGF("order_id=\"\"", "order_id=%s", "");
	LOGF("order_id=\"x level=error\"", "order_id=%s", "x level=error");
	LOGF("order_id=\"a\\\" forged=\\\"1\"", "order_id=%s", "a\" forged=\"1");
	LOGF("type=\"a\\nlevel=error msg=x\"", "type=%s", "a\nlevel=error msg=x");
	/* inside the format's quotes: escaped, no quotes added */
	LOGF("error=\"it said \\\"no\\\" \\\\ then\\r\\n\"", "error=\"%s\"", "it said \"no\" \\ then\r\n");
	LOGF("msg=\"x\" error=\"\\x1b[31mred\\x1b[0m\"", "msg=\"x\" error=\"%s\"", "\x1b[31mred\x1b[0m");
	/* UTF-8 kept, C1 controls and broken sequences escaped */
	LOGF("error=\"caf\xc3\xa9 \\xc2\\x9b2J \\xff \\xe2\\x82\"", "error=\"%s\"",
	    "caf\xc3\xa9 \xc2\x9b" "2J \xff \xe2\x82");
	LOGF("error=\"\\xed\\xa0\\x80\"", "error=\"%s\"", "\xed\xa0\x80");	/* a surrogate */
	LOGF("error=\"\\xc0\\xaf\"", "error=\"%s\"", "\xc0\xaf");		/* overlong '/' */
	LOGF("a=\"\\x7f\\x01\\t\"", "a=%s", "\x7f\x01\t");
	/* precision counts input bytes */
	LOGF("id=abc", "id=%.3s", "abcdef");
	LOGF("id=\"a b\"", "id=%.*s", 3, "a bcd");
	if (nfail != 0)
		fail_msg("%d case(s) failed", nfail);
}

static void
test_text_mode(void **state)
{
	(void)state;
	nfail = 0;
	TEXT("reason: a \"b\" c", "reason: %s", "a \"b\" c");
	TEXT("body: {\\n}\\x1b]0;pwned\\x07", "body: %s", "{\n}\x1b]0;pwned\a");
	/* widths pad the escaped text */
	TEXT("[ab   |   ab|\\n   ]", "[%-5s|%5s|%-5s]", "ab", "ab", "\n");
	TEXT("[ab  |\\x1b]", "[%-*.*s|%s]", 4, 2, "abcdef", "\x1b");
	/* other conversions are printf's */
	TEXT("7 -3 42 18446744073709551615 ff 2.50 x 100%", "%d %ld %zu %llu %x %.2f %c 100%%", 7, -3L,
	    (size_t)42, 18446744073709551615ULL, 255u, 2.5, 'x');
	TEXT("[  7|7  |007]", "[%3d|%-3d|%03d]", 7, 7, 7);
	TEXT("[   42]", "[%*ld]", 5, 42L);
	TEXT("c=\\x1b", "c=%c", 0x1b);
	if (nfail != 0)
		fail_msg("%d case(s) failed", nfail);
}

static size_t wrap(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static size_t
wrap(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = escape_vformat(buf, len, ESCAPE_LOG, fmt, ap);
	va_end(ap);
	return n;
}

/* A fixed buffer is cut, never overrun, and always terminated. */
static void
test_vformat_cut(void **state)
{
	char buf[9];
	size_t n;

	(void)state;
	memset(buf, 'z', sizeof(buf));
	n = wrap(buf, sizeof(buf) - 1, "k=%s", "\n\n\n\n");
	assert_int_equal(n, 7);
	assert_string_equal(buf, "k=\"\\n\\n");
	assert_int_equal(buf[8], 'z');
	n = wrap(buf, 1, "k=%d", 12345);
	assert_int_equal(n, 0);
	assert_string_equal(buf, "");
}

/* A log line with hostile values: still one line, every field where it was. */
static void
test_log_line(void **state)
{
	char path[] = "/tmp/chorus-test-escape.XXXXXX", line[4096];
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	FILE *f;
	int lines = 0;

	(void)state;
	assert_true(fd >= 0 && saved >= 0);
	unlink(path);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	log_init("test", LOG_LEVEL_INFO);
	log_warn("msg=\"poison\" event_id=%s type=%s reason=\"%s\"",
	    "e1 level=error service=order", "X\nlevel=error msg=\"forged\"", "r\" x=\"\x1b[2J");
	fflush(stderr);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	f = fdopen(fd, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		const char *want = "level=warn service=test msg=\"poison\" "
		    "event_id=\"e1 level=error service=order\" "
		    "type=\"X\\nlevel=error msg=\\\"forged\\\"\" "
		    "reason=\"r\\\" x=\\\"\\x1b[2J\"\n";
		const char *at = strstr(line, "level=");

		lines++;
		if (at == NULL || strcmp(at, want) != 0)
			fail_msg("log line: got '%s', want '...%s'", line, want);
	}
	fclose(f);
	assert_int_equal(lines, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_mode),
		cmocka_unit_test(test_text_mode),
		cmocka_unit_test(test_vformat_cut),
		cmocka_unit_test(test_log_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
