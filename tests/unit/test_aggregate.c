/*
 * Unit tests of the gateway's aggregation: every outcome of the order part
 * and the others against the contract's answer (status, complete, errors,
 * Retry-After), the classification of answers, strict JSON.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "aggregate.h"

#define ORDER "{\"order_id\":\"o1\",\"status\":\"CONFIRMED\"}"
#define RES "{\"order_id\":\"o1\",\"status\":\"RESERVED\"}"
#define PAY "{\"order_id\":\"o1\",\"status\":\"COMPLETED\"}"

static struct part
ok(const char *body)
{
	return (struct part){ PART_OK, false, 200, body, strlen(body) };
}

static struct part
failed(enum part_error e, bool refused)
{
	return (struct part){ e, refused, 0, NULL, 0 };
}

static void
test_classify(void **state)
{
	static const struct { long status; const char *body; enum part_error want; } rows[] = {
		{ 200, "{}", PART_OK }, { 200, " {\"a\":1}\n", PART_OK }, { 200, "[]", PART_BAD_RESPONSE },
		{ 200, "{", PART_BAD_RESPONSE }, { 200, "", PART_BAD_RESPONSE },
		{ 200, "{} {}", PART_BAD_RESPONSE }, { 200, "{\"a\":1,}", PART_BAD_RESPONSE },
		{ 404, "", PART_NOT_FOUND }, { 503, "{}", PART_UNAVAILABLE },
		{ 500, "", PART_UNAVAILABLE }, { 302, "", PART_BAD_RESPONSE },
		{ 201, "{}", PART_BAD_RESPONSE },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		enum part_error got = part_classify(rows[i].status, rows[i].body, strlen(rows[i].body));

		if (got != rows[i].want)
			fail_msg("classify %ld '%s': got %s, want %s", rows[i].status, rows[i].body,
			    part_error_name(got), part_error_name(rows[i].want));
	}
}

struct row {
	const char *what;
	struct part parts[PART__COUNT];
	unsigned status;
	const char *complete;		/* "true", "false", NULL: no aggregate */
	const char *errors;		/* the errors object as JSON, or of the problem */
	bool retry_after;
};

static void
test_build(void **state)
{
	const struct row rows[] = {
		{ "all answered", { ok(ORDER), ok(RES), ok(PAY) }, 200, "true", "{}", false },
		{ "payment timed out", { ok(ORDER), ok(RES), failed(PART_TIMEOUT, false) }, 200,
		  "false", "{\"payment\":\"timeout\"}", false },
		{ "no reservation yet, payment breaker open",
		  { ok(ORDER), failed(PART_NOT_FOUND, false), failed(PART_CIRCUIT_OPEN, true) }, 200,
		  "false", "{\"inventory\":\"not_found\",\"payment\":\"circuit_open\"}", false },
		{ "inventory bad answer", { ok(ORDER), failed(PART_BAD_RESPONSE, false), ok(PAY) }, 200,
		  "false", "{\"inventory\":\"bad_response\"}", false },
		{ "no order", { failed(PART_NOT_FOUND, false), ok(RES), ok(PAY) }, 404, NULL, NULL, false },
		{ "order timed out", { failed(PART_TIMEOUT, false), ok(RES), ok(PAY) }, 504, NULL,
		  "{\"order\":\"timeout\"}", false },
		{ "order unavailable", { failed(PART_UNAVAILABLE, false), ok(RES), ok(PAY) }, 502, NULL,
		  "{\"order\":\"unavailable\"}", false },
		{ "order answered no object", { ok("[1]"), ok(RES), ok(PAY) }, 502, NULL,
		  "{\"order\":\"bad_response\"}", false },
		{ "order breaker open", { failed(PART_CIRCUIT_OPEN, true), ok(RES), ok(PAY) }, 503, NULL,
		  "{\"order\":\"circuit_open\"}", true },
		{ "order bulkhead full", { failed(PART_UNAVAILABLE, true), failed(PART_TIMEOUT, false),
		  ok(PAY) }, 503, NULL, "{\"order\":\"unavailable\"}", true },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct aggregate a;
		struct json_object *o, *v;

		aggregate_build(r->parts, "o1", &a);
		if (a.status != r->status)
			fail_msg("%s: got status %u, want %u", r->what, a.status, r->status);
		assert_int_equal(a.retry_after, r->retry_after);
		o = aggregate_parse_object(a.body, strlen(a.body));
		if (o == NULL)
			fail_msg("%s: the body is no JSON object: %s", r->what, a.body);
		if (r->complete != NULL) {
			assert_string_equal(a.content_type, "application/json");
			assert_true(json_object_object_get_ex(o, "complete", &v));
			assert_string_equal(json_object_to_json_string(v), r->complete);
			assert_int_equal(a.complete, strcmp(r->complete, "true") == 0);
			assert_string_equal(a.order_status, "CONFIRMED");
			/* failed parts are null, answered ones their object */
			for (int p = 0; p < PART__COUNT; p++) {
				assert_true(json_object_object_get_ex(o, part_name(p), &v));
				assert_int_equal(v == NULL, r->parts[p].err != PART_OK);
			}
		} else {
			assert_string_equal(a.content_type, "application/problem+json");
			assert_true(json_object_object_get_ex(o, "status", &v));
			assert_int_equal(json_object_get_int(v), (int)r->status);
			assert_true(json_object_object_get_ex(o, "detail", &v));
		}
		if (r->errors != NULL) {
			assert_true(json_object_object_get_ex(o, "errors", &v));
			if (strcmp(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN),
			    r->errors) != 0)
				fail_msg("%s: got errors %s, want %s", r->what,
				    json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN), r->errors);
		}
		json_object_put(o);
		free(a.body);
	}
}

static void
test_final(void **state)
{
	(void)state;
	assert_true(aggregate_final("CONFIRMED"));
	assert_true(aggregate_final("CANCELLED"));
	assert_false(aggregate_final("PENDING"));
	assert_false(aggregate_final(""));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_final),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
