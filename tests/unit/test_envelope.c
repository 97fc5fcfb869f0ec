/*
 * Unit tests of src/envelope.c: a canonical body per event type, and tables
 * of changes to those bodies (a JSON value set or deleted at a path, or raw
 * text spliced in) with the reason code envelope_parse must give. Table
 * texts write JSON with ' for " to stay readable; dq() turns them back.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <json-c/json.h>

#include "envelope.h"

#define ID "5b0c1f9e-3c1e-4a53-9a5e-0f6f1d8b7a10"
#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
#define BODY(source, type, data)					\
	"{'specversion':'1.0','id':'" ID "','source':'" source "',"	\
	"'type':'" type "','subject':'ord-1001',"			\
	"'time':'2026-11-26T12:00:00.123Z',"				\
	"'datacontenttype':'application/json','traceparent':'" TP "',"	\
	"'data':" data "}"

#define ID64 "a123456789b123456789c123456789d123456789e123456789f123456789abcd"
#define ID65 ID64 "e"

/* One valid body per type, in render's canonical form (render(parse(b)) == b). */
static const char *const bodies[EV__COUNT] = {
	[EV_ORDER_CREATED] = BODY("chorus/order", "OrderCreated",
	    "{'order_id':'ord-1001','customer_id':'cust-alice',"
	    "'items':[{'sku':'sku-apple','quantity':2}],'total_cents':1250,'currency':'EUR'}"),
	[EV_INVENTORY_RESERVED] = BODY("chorus/inventory", "InventoryReserved",
	    "{'order_id':'ord-1001','reservation_id':'res-1','customer_id':'cust-alice',"
	    "'items':[{'sku':'sku-apple','quantity':2},{'sku':'sku-pear','quantity':1}],"
	    "'total_cents':1250,'currency':'EUR'}"),
	[EV_INVENTORY_RESERVATION_FAILED] = BODY("chorus/inventory",
	    "InventoryReservationFailed",
	    "{'order_id':'ord-1001','reason':'out_of_stock','sku':'sku-apple'}"),
	[EV_PAYMENT_COMPLETED] = BODY("chorus/payment", "PaymentCompleted",
	    "{'order_id':'ord-1001','payment_id':'pay-1','customer_id':'cust-alice',"
	    "'amount_cents':1250,'currency':'EUR'}"),
	[EV_PAYMENT_FAILED] = BODY("chorus/payment", "PaymentFailed",
	    "{'order_id':'ord-1001','reason':'insufficient_funds'}"),
	[EV_INVENTORY_RELEASED] = BODY("chorus/inventory", "InventoryReleased",
	    "{'order_id':'ord-1001','reservation_id':'res-1','reason':'payment_failed'}"),
	[EV_PAYMENT_REFUNDED] = BODY("chorus/payment", "PaymentRefunded",
	    "{'order_id':'ord-1001','payment_id':'pay-1','amount_cents':1250,'currency':'EUR'}"),
	[EV_ORDER_CONFIRMED] = BODY("chorus/order", "OrderConfirmed",
	    "{'order_id':'ord-1001'}"),
	[EV_ORDER_CANCELLED] = BODY("chorus/order", "OrderCancelled",
	    "{'order_id':'ord-1001','reason':'out_of_stock'}"),
};

static const char *const codes[] = {
	"too_large", "invalid_json", "not_an_object", "missing_attribute",
	"bad_attribute", "unknown_type", "subject_mismatch", "missing_field",
	"bad_field", NULL
};

/* --- helpers ------------------------------------------------------------- */

static int nfail;

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Report one failed expectation and go on, so that a table shows all its failures. */
static void
check(int ok, const char *fmt, ...)
{
	va_list ap;
	char msg[1024];

	if (ok)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	print_error("%s\n", msg);
	nfail++;
}

static void
done(void)
{
	int n = nfail;

	nfail = 0;
	if (n != 0)
		fail_msg("%d expectation(s) failed", n);
}

/* s with every ' turned into "; the caller frees it. */
static char *
dq(const char *s)
{
	char *out = strdup(s);

	assert_non_null(out);
	for (char *p = out; *p != '\0'; p++)
		if (*p == '\'')
			*p = '"';
	return out;
}

/* The reason code of why: the part before the colon. */
static int
code_is(const char *why, const char *code)
{
	size_t n = strcspn(why, ":");

	return n == strlen(code) && strncmp(why, code, n) == 0 && why[n] == ':';
}

/*
 * Compare a parse outcome with want: NULL means accepted, a bare code
 * compares the code only, "code: detail" the whole reason.
 */
static void
expect(const char *name, int rc, const char *why, const char *want)
{
	int known = 0;

	if (want == NULL) {
		check(rc == 0, "%s: got \"%s\", want accepted", name, why);
		return;
	}
	if (rc == 0) {
		check(0, "%s: got accepted, want %s", name, want);
		return;
	}
	for (const char *const *c = codes; *c != NULL; c++)
		known |= code_is(why, *c) && why[strlen(*c) + 1] == ' ';
	check(known, "%s: got reason \"%s\", want \"<code>: <detail>\" with a known code",
	    name, why);
	if (strchr(want, ':') != NULL)
		check(strcmp(why, want) == 0, "%s: got \"%s\", want \"%s\"", name, why, want);
	else
		check(code_is(why, want), "%s: got \"%s\", want %s", name, why, want);
}

static int
parse_str(const char *body, struct event *ev, char *why)
{
	return envelope_parse(body, strlen(body), ev, why, ENVELOPE_WHY_MAX);
}

/* The canonical body of type, as a JSON tree the caller puts. */
static struct json_object *
base_tree(enum event_type type)
{
	char *s = dq(bodies[type]);
	struct json_object *o = json_tokener_parse(s);

	free(s);
	assert_non_null(o);
	return o;
}

static struct json_object *
child(struct json_object *o, const char *key)
{
	struct json_object *c = NULL;

	if (json_object_is_type(o, json_type_array))
		return json_object_array_get_idx(o, (size_t)atoi(key));
	if (!json_object_object_get_ex(o, key, &c))
		return NULL;
	return c;
}

/*
 * Set (value non-NULL, JSON text with ') or delete (value NULL) the member
 * at path ("data.items.0.sku"). Value "@items:N" is an array of N valid items.
 */
static void
mutate(struct json_object *root, const char *path, const char *value)
{
	struct json_object *o = root, *v = NULL;
	const char *p = path, *dot;
	char key[64];

	while ((dot = strchr(p, '.')) != NULL) {
		snprintf(key, sizeof(key), "%.*s", (int)(dot - p), p);
		o = child(o, key);
		assert_non_null(o);
		p = dot + 1;
	}
	snprintf(key, sizeof(key), "%s", p);
	if (value != NULL && strncmp(value, "@items:", 7) == 0) {
		v = json_object_new_array();
		for (int i = 0; i < atoi(value + 7); i++) {
			struct json_object *item = json_object_new_object();
			char sku[32];

			snprintf(sku, sizeof(sku), "sku-%d", i);
			json_object_object_add(item, "sku", json_object_new_string(sku));
			json_object_object_add(item, "quantity", json_object_new_int(1));
			json_object_array_add(v, item);
		}
	} else if (value != NULL) {
		char *s = dq(value);

		v = json_tokener_parse(s);
		free(s);
		assert_true(v != NULL || strcmp(value, "null") == 0);
	}
	if (json_object_is_type(o, json_type_array)) {
		if (value == NULL)
			json_object_array_del_idx(o, (size_t)atoi(key), 1);
		else
			json_object_array_put_idx(o, (size_t)atoi(key), v);
	} else if (value == NULL)
		json_object_object_del(o, key);
	else
		json_object_object_add(o, key, v);
}

/* Parse the canonical body of type changed at path; the body is kept in out when non-NULL. */
static int
parse_mutated(enum event_type type, const char *path, const char *value,
    struct event *ev, char *why, char **out)
{
	struct json_object *root = base_tree(type);
	const char *s;
	int rc;

	if (path != NULL)
		mutate(root, path, value);
	s = json_object_to_json_string_ext(root,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	rc = parse_str(s, ev, why);
	if (out != NULL)
		*out = strdup(s);
	json_object_put(root);
	return rc;
}

/* render(ev) parses back to ev, and ev passes envelope_check. */
static void
expect_round_trip(const char *name, const struct event *ev)
{
	static struct event back;
	char why[ENVELOPE_WHY_MAX] = "";
	char *s;
	int rc;

	rc = envelope_check(ev, why, sizeof(why));
	check(rc == 0, "%s: envelope_check got \"%s\", want 0", name, why);
	s = envelope_render(ev);
	rc = parse_str(s, &back, why);
	check(rc == 0, "%s: parse of render got \"%s\", want accepted (%s)", name, why, s);
	check(rc != 0 || memcmp(ev, &back, sizeof(back)) == 0,
	    "%s: parse(render(ev)) got a different event, want the same (%s)", name, s);
	free(s);
}

/* --- type table ---------------------------------------------------------- */

static void
test_types(void **state)
{
	static const struct {
		enum event_type type;
		const char *name, *key, *exchange;
	} cases[] = {
		{ EV_ORDER_CREATED, "OrderCreated", "order.created", "chorus.order" },
		{ EV_INVENTORY_RESERVED, "InventoryReserved", "inventory.reserved", "chorus.inventory" },
		{ EV_INVENTORY_RESERVATION_FAILED, "InventoryReservationFailed",
		    "inventory.reservation_failed", "chorus.inventory" },
		{ EV_PAYMENT_COMPLETED, "PaymentCompleted", "payment.completed", "chorus.payment" },
		{ EV_PAYMENT_FAILED, "PaymentFailed", "payment.failed", "chorus.payment" },
		{ EV_INVENTORY_RELEASED, "InventoryReleased", "inventory.released", "chorus.inventory" },
		{ EV_PAYMENT_REFUNDED, "PaymentRefunded", "payment.refunded", "chorus.payment" },
		{ EV_ORDER_CONFIRMED, "OrderConfirmed", "order.confirmed", "chorus.order" },
		{ EV_ORDER_CANCELLED, "OrderCancelled", "order.cancelled", "chorus.order" },
	};
	static const char *const unknown[] = {
		"", "orderCreated", "ORDERCREATED", "OrderCreated ", "Order", "Unknown"
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *name = event_type_name(cases[i].type);
		const char *key = event_type_routing_key(cases[i].type);
		const char *ex = event_type_exchange(cases[i].type);
		char want_ex[64];

		check(name != NULL && strcmp(name, cases[i].name) == 0,
		    "name of %d: got %s, want %s", cases[i].type, name ? name : "NULL", cases[i].name);
		check(event_type_from_name(cases[i].name) == cases[i].type,
		    "from_name(%s): got %d, want %d", cases[i].name,
		    event_type_from_name(cases[i].name), cases[i].type);
		check(key != NULL && strcmp(key, cases[i].key) == 0,
		    "routing key of %s: got %s, want %s", cases[i].name, key ? key : "NULL", cases[i].key);
		check(ex != NULL && strcmp(ex, cases[i].exchange) == 0,
		    "exchange of %s: got %s, want %s", cases[i].name, ex ? ex : "NULL", cases[i].exchange);
		snprintf(want_ex, sizeof(want_ex), "chorus.%.*s",
		    (int)strcspn(cases[i].key, "."), cases[i].key);
		check(ex != NULL && strcmp(ex, want_ex) == 0,
		    "exchange of %s: got %s, want %s (chorus. + first word of the key)",
		    cases[i].name, ex ? ex : "NULL", want_ex);
	}
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		check(event_type_from_name(unknown[i]) == EV_UNKNOWN,
		    "from_name(\"%s\"): got %d, want EV_UNKNOWN", unknown[i],
		    event_type_from_name(unknown[i]));
	check(event_type_from_name(NULL) == EV_UNKNOWN, "from_name(NULL): got %d, want EV_UNKNOWN",
	    event_type_from_name(NULL));
	check(event_type_name(EV_UNKNOWN) == NULL, "name(EV_UNKNOWN): got non-NULL, want NULL");
	check(event_type_name(EV__COUNT) == NULL, "name(EV__COUNT): got non-NULL, want NULL");
	check(event_type_name((enum event_type)-1) == NULL, "name(-1): got non-NULL, want NULL");
	check(event_type_routing_key(EV_UNKNOWN) == NULL, "routing_key(EV_UNKNOWN): got non-NULL, want NULL");
	check(event_type_exchange(EV__COUNT) == NULL, "exchange(EV__COUNT): got non-NULL, want NULL");
	done();
}

/* --- parse: valid bodies -------------------------------------------------- */

static void
test_parse_valid(void **state)
{
	static struct event ev;
	char why[ENVELOPE_WHY_MAX];
	(void)state;

	for (int t = EV_UNKNOWN + 1; t < EV__COUNT; t++) {
		char *body = dq(bodies[t]);
		int rc = parse_str(body, &ev, why);

		expect(event_type_name((enum event_type)t), rc, why, NULL);
		if (rc == 0) {
			check(ev.type == (enum event_type)t, "%s: type got %d, want %d",
			    event_type_name((enum event_type)t), ev.type, t);
			check(strcmp(ev.id, ID) == 0, "%s: id got %s, want %s",
			    event_type_name((enum event_type)t), ev.id, ID);
			check(strcmp(ev.subject, "ord-1001") == 0 && strcmp(ev.order_id, "ord-1001") == 0,
			    "%s: subject/order_id got %s/%s, want ord-1001",
			    event_type_name((enum event_type)t), ev.subject, ev.order_id);
			check(strcmp(ev.time, "2026-11-26T12:00:00.123Z") == 0,
			    "%s: time got %s, want 2026-11-26T12:00:00.123Z",
			    event_type_name((enum event_type)t), ev.time);
			check(strcmp(ev.traceparent, TP) == 0, "%s: traceparent got %s, want %s",
			    event_type_name((enum event_type)t), ev.traceparent, TP);
		}
		free(body);
	}

	/* the fields of the contract's example */
	{
		char *body = dq(bodies[EV_ORDER_CREATED]);

		assert_int_equal(parse_str(body, &ev, why), 0);
		free(body);
		check(strcmp(ev.source, "chorus/order") == 0, "source: got %s, want chorus/order", ev.source);
		check(strcmp(ev.customer_id, "cust-alice") == 0, "customer_id: got %s, want cust-alice",
		    ev.customer_id);
		check(ev.n_items == 1 && strcmp(ev.items[0].sku, "sku-apple") == 0 &&
		    ev.items[0].quantity == 2, "items: got %zu [%s x %d], want 1 [sku-apple x 2]",
		    ev.n_items, ev.items[0].sku, ev.items[0].quantity);
		check(ev.total_cents == 1250, "total_cents: got %lld, want 1250", (long long)ev.total_cents);
		check(strcmp(ev.currency, "EUR") == 0, "currency: got %s, want EUR", ev.currency);
		check(ev.reservation_id[0] == '\0' && ev.amount_cents == 0,
		    "fields of other types: got reservation_id \"%s\" amount %lld, want empty",
		    ev.reservation_id, (long long)ev.amount_cents);
	}
	done();
}

/* --- parse: raw bodies ---------------------------------------------------- */

#define RAW(s) s, sizeof(s) - 1

static void
test_parse_raw(void **state)
{
	static const struct {
		const char *name;
		enum event_type base;	/* EV_UNKNOWN: the body is text alone */
		const char *find;	/* in the base body, replaced by text; NULL: text appended */
		const char *text;
		size_t textlen;
		const char *want;
	} cases[] = {
		{ "empty body", EV_UNKNOWN, NULL, RAW(""), "invalid_json" },
		{ "whitespace only", EV_UNKNOWN, NULL, RAW(" \n"), "invalid_json" },
		{ "truncated", EV_UNKNOWN, NULL, RAW("{\"specversion\":\"1.0\""), "invalid_json" },
		{ "not JSON", EV_UNKNOWN, NULL, RAW("hello"), "invalid_json" },
		{ "single quotes", EV_ORDER_CREATED, "\"chorus/order\"", RAW("'chorus/order'"), "invalid_json" },
		{ "unquoted name", EV_ORDER_CREATED, "\"source\"", RAW("source"), "invalid_json" },
		{ "trailing comma", EV_ORDER_CREATED, "\"EUR\"}", RAW("\"EUR\",}"), "invalid_json" },
		{ "comment", EV_ORDER_CREATED, "{\"specversion\"", RAW("{/* c */\"specversion\""), "invalid_json" },
		{ "NaN", EV_ORDER_CREATED, "1250", RAW("NaN"), "invalid_json" },
		{ "Infinity", EV_ORDER_CREATED, "1250", RAW("Infinity"), "invalid_json" },
		{ "-Infinity", EV_ORDER_CREATED, "1250", RAW("-Infinity"), "invalid_json" },
		{ "number 1.", EV_ORDER_CREATED, "1250", RAW("1250."), "invalid_json" },
		{ "leading zero", EV_ORDER_CREATED, "1250", RAW("01250"), "invalid_json" },
		{ "number 00", EV_ORDER_CREATED, "1250", RAW("00"), "invalid_json" },
		{ "plus sign", EV_ORDER_CREATED, "1250", RAW("+1250"), "invalid_json" },
		{ "bad escape", EV_ORDER_CREATED, "chorus/order", RAW("chorus\\xorder"), "invalid_json" },
		{ "lone surrogate escape", EV_ORDER_CREATED, "chorus/order", RAW("chorus\\ud800"), "invalid_json" },
		{ "raw control character", EV_ORDER_CREATED, "chorus/order", RAW("chorus\x01order"), "invalid_json" },
		{ "raw tab in string", EV_ORDER_CREATED, "chorus/order", RAW("chorus\torder"), "invalid_json" },
		{ "trailing garbage", EV_ORDER_CREATED, NULL, RAW("x"), "invalid_json" },
		{ "trailing second object", EV_ORDER_CREATED, NULL, RAW("{}"), "invalid_json" },
		{ "trailing NUL", EV_ORDER_CREATED, NULL, RAW("\0"), "invalid_json" },
		{ "trailing whitespace", EV_ORDER_CREATED, NULL, RAW(" \r\n\t"), NULL },
		{ "leading whitespace", EV_ORDER_CREATED, "{\"specversion\"", RAW("\n {\"specversion\""), NULL },
		{ "UTF-8 BOM", EV_ORDER_CREATED, "{\"specversion\"", RAW("\xef\xbb\xbf{\"specversion\""), "invalid_json" },
		{ "invalid UTF-8 0xff", EV_ORDER_CREATED, "chorus/order", RAW("chorus/\xff"), "invalid_json" },
		{ "invalid UTF-8 continuation", EV_ORDER_CREATED, "chorus/order", RAW("chorus/\x80"), "invalid_json" },
		{ "overlong UTF-8", EV_ORDER_CREATED, "chorus/order", RAW("chorus\xc0\xaforder"), "invalid_json" },
		{ "UTF-8 surrogate", EV_ORDER_CREATED, "chorus/order", RAW("chorus/\xed\xa0\x80"), "invalid_json" },
		{ "UTF-8 past U+10FFFF", EV_ORDER_CREATED, "chorus/order", RAW("chorus/\xf4\x90\x80\x80"), "invalid_json" },
		{ "truncated UTF-8", EV_ORDER_CREATED, "chorus/order", RAW("chorus/\xe2\x82"), "invalid_json" },
		{ "UTF-8 outside strings", EV_ORDER_CREATED, "{\"specversion\"", RAW("{\xc3\xa9\"specversion\""), "invalid_json" },
		{ "valid UTF-8 and escapes", EV_ORDER_CREATED, "chorus/order",
		    RAW("chorus/\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\\u00e9\\ud83d\\ude00\\\"\\/\\n"), NULL },
		{ "array", EV_UNKNOWN, NULL, RAW("[{\"specversion\":\"1.0\"}]"), "not_an_object" },
		{ "empty array", EV_UNKNOWN, NULL, RAW("[]"), "not_an_object" },
		{ "string", EV_UNKNOWN, NULL, RAW("\"OrderCreated\""), "not_an_object" },
		{ "number", EV_UNKNOWN, NULL, RAW("42"), "not_an_object" },
		{ "null", EV_UNKNOWN, NULL, RAW("null"), "not_an_object" },
		{ "true", EV_UNKNOWN, NULL, RAW(" true"), "not_an_object" },
		{ "number with whitespace", EV_UNKNOWN, NULL, RAW("\n-1.5e3 "), "not_an_object" },
		{ "empty object", EV_UNKNOWN, NULL, RAW("{}"), "missing_attribute: specversion" },
		/* duplicate member names, at any depth (json-c would keep the last) */
		{ "duplicate id", EV_ORDER_CREATED, "{\"specversion\"",
		    RAW("{\"id\":\"00000000-0000-4000-8000-000000000000\",\"specversion\""),
		    "invalid_json: duplicate member name" },
		{ "duplicate data field", EV_ORDER_CREATED, "\"total_cents\":1250",
		    RAW("\"total_cents\":1,\"total_cents\":1250"), "invalid_json: duplicate member name" },
		{ "duplicate in an item", EV_ORDER_CREATED, "\"quantity\":2",
		    RAW("\"quantity\":2,\"sku\":\"sku-pear\""), "invalid_json: duplicate member name" },
		{ "duplicate in an extension", EV_ORDER_CREATED, "{\"specversion\"",
		    RAW("{\"ext\":[{\"a\":{\"b\":1,\"b\":2}}],\"specversion\""),
		    "invalid_json: duplicate member name" },
		{ "duplicate by escape", EV_ORDER_CREATED, "{\"specversion\"",
		    RAW("{\"\\u0073pecversion\":\"1.0\",\"specversion\""),
		    "invalid_json: duplicate member name" },
		{ "same name in sibling objects", EV_ORDER_CREATED, "{\"specversion\"",
		    RAW("{\"ext\":[{\"a\":1},{\"a\":2,\"A\":3}],\"specversion\""), NULL },
	};
	static struct event ev;
	char why[ENVELOPE_WHY_MAX];
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *base = cases[i].base != EV_UNKNOWN ? dq(bodies[cases[i].base]) : strdup("");
		size_t blen = strlen(base), len;
		char *body = malloc(blen + cases[i].textlen + 1), *at;
		int rc;

		assert_non_null(body);
		if (cases[i].find == NULL) {
			memcpy(body, base, blen);
			memcpy(body + blen, cases[i].text, cases[i].textlen);
			len = blen + cases[i].textlen;
		} else {
			size_t flen = strlen(cases[i].find), pre;

			at = strstr(base, cases[i].find);
			assert_non_null(at);
			pre = (size_t)(at - base);
			memcpy(body, base, pre);
			memcpy(body + pre, cases[i].text, cases[i].textlen);
			memcpy(body + pre + cases[i].textlen, at + flen, blen - pre - flen);
			len = blen - flen + cases[i].textlen;
		}
		strcpy(why, "(none)");
		rc = envelope_parse(body, len, &ev, why, sizeof(why));
		expect(cases[i].name, rc, why, cases[i].want);
		free(body);
		free(base);
	}
	done();
}

/* --- parse: size and nesting limits -------------------------------------- */

/* The OrderCreated body padded with an extension attribute to len bytes. */
static char *
padded(size_t len)
{
	char *base = dq(bodies[EV_ORDER_CREATED]);
	size_t blen = strlen(base), pad;
	char *body = malloc(len + 1);

	assert_non_null(body);
	assert_true(len >= blen + 7);
	pad = len - blen - 7;		/* {"x":"<pad>", and base after its '{' */
	memcpy(body, "{\"x\":\"", 6);
	memset(body + 6, 'p', pad);
	memcpy(body + 6 + pad, "\",", 2);
	memcpy(body + 8 + pad, base + 1, blen - 1);
	body[len] = '\0';
	assert_int_equal(strlen(body), len);
	free(base);
	return body;
}

static void
test_parse_limits(void **state)
{
	static const struct {
		const char *name;
		size_t len;
		const char *want;
	} sizes[] = {
		{ "1 KiB", 1024, NULL },
		{ "exactly 64 KiB", ENVELOPE_MAX_BYTES, NULL },
		{ "64 KiB + 1", ENVELOPE_MAX_BYTES + 1, "too_large" },
		{ "1 MiB", 1024 * 1024, "too_large" },
	};
	static struct event ev;
	char why[ENVELOPE_WHY_MAX];
	char deep[256];
	(void)state;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char *body = padded(sizes[i].len);

		expect(sizes[i].name, envelope_parse(body, sizes[i].len, &ev, why, sizeof(why)),
		    why, sizes[i].want);
		free(body);
	}
	/* too large is decided on the length alone, before looking at the bytes */
	expect("too large garbage", envelope_parse("x", ENVELOPE_MAX_BYTES + 1, &ev, why, sizeof(why)),
	    why, "too_large");

	/* nesting deeper than json-c's limit */
	deep[0] = '\0';
	strcat(deep, "{\"x\":");
	for (int i = 0; i < 40; i++)
		strcat(deep, "[");
	for (int i = 0; i < 40; i++)
		strcat(deep, "]");
	strcat(deep, "}");
	expect("nesting 41 deep", parse_str(deep, &ev, why), why, "invalid_json");

	/* why may be small or absent */
	{
		char small[8];

		int rc = envelope_parse("[]", 2, &ev, small, sizeof(small));

		check(rc == -1 && strcmp(small, "not_an_") == 0,
		    "small why: got %d \"%s\", want -1 \"not_an_\"", rc, small);
		check(envelope_parse("[]", 2, &ev, NULL, 0) == -1,
		    "why NULL: got accepted, want -1");
	}
	done();
}

/* --- parse: changed bodies ------------------------------------------------ */

static const struct mutation {
	const char *name;
	enum event_type base;
	const char *path;
	const char *value;	/* JSON with ' for "; NULL deletes */
	const char *want;	/* NULL: accepted */
} mutations[] = {
	/* attributes */
	{ "specversion 0.3", EV_ORDER_CREATED, "specversion", "'0.3'", "bad_attribute" },
	{ "specversion 1.0 as number", EV_ORDER_CREATED, "specversion", "1.0", "bad_attribute" },
	{ "specversion empty", EV_ORDER_CREATED, "specversion", "''", "bad_attribute" },
	{ "id not a UUID", EV_ORDER_CREATED, "id", "'ord-1001'", "bad_attribute" },
	{ "id as number", EV_ORDER_CREATED, "id", "123", "bad_attribute: id must be a string" },
	{ "id as null", EV_ORDER_CREATED, "id", "null", "bad_attribute" },
	{ "id without dashes", EV_ORDER_CREATED, "id", "'5b0c1f9e3c1e4a539a5e0f6f1d8b7a10'", "bad_attribute" },
	{ "id non-hex", EV_ORDER_CREATED, "id", "'5b0c1f9e-3c1e-4a53-9a5e-0f6f1d8b7a1g'", "bad_attribute" },
	{ "id too long", EV_ORDER_CREATED, "id", "'5b0c1f9e-3c1e-4a53-9a5e-0f6f1d8b7a100'", "bad_attribute" },
	{ "id dashes moved", EV_ORDER_CREATED, "id", "'5b0c1f9e3-c1e-4a53-9a5e-0f6f1d8b7a10'", "bad_attribute" },
	{ "id in braces", EV_ORDER_CREATED, "id", "'{5b0c1f9e-3c1e-4a53-9a5e-0f6f1d8b7a10}'", "bad_attribute" },
	{ "id upper case", EV_ORDER_CREATED, "id", "'5B0C1F9E-3C1E-4A53-9A5E-0F6F1D8B7A10'", NULL },
	{ "source empty", EV_ORDER_CREATED, "source", "''", "bad_attribute" },
	{ "source as number", EV_ORDER_CREATED, "source", "1", "bad_attribute" },
	{ "source 255 bytes", EV_ORDER_CREATED, "source",
	    "'" ID64 ID64 ID64 "a123456789b123456789c123456789d123456789e123456789f123456789abc'", NULL },
	{ "source 256 bytes", EV_ORDER_CREATED, "source",
	    "'" ID64 ID64 ID64 ID64 "'", "bad_attribute" },
	{ "type unknown", EV_ORDER_CREATED, "type", "'OrderShipped'", "unknown_type: OrderShipped" },
	{ "type wrong case", EV_ORDER_CREATED, "type", "'orderCreated'", "unknown_type: orderCreated" },
	{ "type empty", EV_ORDER_CREATED, "type", "''", "unknown_type" },
	{ "type unprintable", EV_ORDER_CREATED, "type", "'Bad\\nType'", "unknown_type: Bad?Type" },
	{ "type as number", EV_ORDER_CREATED, "type", "7", "bad_attribute" },
	{ "subject invalid", EV_ORDER_CREATED, "subject", "'ord 1001'", "bad_attribute" },
	{ "subject empty", EV_ORDER_CREATED, "subject", "''", "bad_attribute" },
	{ "subject too long", EV_ORDER_CREATED, "subject", "'" ID65 "'", "bad_attribute" },
	{ "subject as number", EV_ORDER_CREATED, "subject", "1001", "bad_attribute" },
	{ "subject mismatch", EV_ORDER_CREATED, "subject", "'ord-1002'",
	    "subject_mismatch: subject ord-1002, data.order_id ord-1001" },
	{ "order_id mismatch", EV_PAYMENT_FAILED, "data.order_id", "'ord-1002'", "subject_mismatch" },
	{ "subject case differs", EV_ORDER_CONFIRMED, "subject", "'ORD-1001'", "subject_mismatch" },
	{ "time absent", EV_ORDER_CREATED, "time", NULL, NULL },
	{ "time no fraction", EV_ORDER_CREATED, "time", "'2026-11-26T12:00:00Z'", NULL },
	{ "time long fraction", EV_ORDER_CREATED, "time", "'2026-11-26T12:00:00.123456789Z'", NULL },
	{ "time lower-case t z", EV_ORDER_CREATED, "time", "'2026-11-26t12:00:00z'", NULL },
	{ "time offset", EV_ORDER_CREATED, "time", "'2026-11-26T12:00:00.5+05:30'", NULL },
	{ "time negative offset", EV_ORDER_CREATED, "time", "'2026-11-26T12:00:00-23:59'", NULL },
	{ "time leap day", EV_ORDER_CREATED, "time", "'2024-02-29T00:00:00Z'", NULL },
	{ "time leap day 2000", EV_ORDER_CREATED, "time", "'2000-02-29T00:00:00Z'", NULL },
	{ "time leap second", EV_ORDER_CREATED, "time", "'2016-12-31T23:59:60Z'", NULL },
	{ "time edges", EV_ORDER_CREATED, "time", "'0000-01-01T00:00:00Z'", NULL },
	{ "time date only", EV_ORDER_CREATED, "time", "'2026-11-26'", "bad_attribute" },
	{ "time space separator", EV_ORDER_CREATED, "time", "'2026-11-26 12:00:00Z'", "bad_attribute" },
	{ "time no offset", EV_ORDER_CREATED, "time", "'2026-11-26T12:00:00'", "bad_attribute" },
	{ "time no seconds", EV_ORDER_CREATED, "time", "'2026-11-26T12:00Z'", "bad_attribute" },
	{ "time empty fraction", EV_ORDER_CREATED, "time", "'2026-11-26T12:00:00.Z'", "bad_attribute" },
	{ "time offset no colon", EV_ORDER_CREATED, "time", "'2026-11-26T12:00:00+0100'", "bad_attribute" },
	{ "time offset hour 24", EV_ORDER_CREATED, "time", "'2026-11-26T12:00:00+24:00'", "bad_attribute" },
	{ "time offset minute 60", EV_ORDER_CREATED, "time", "'2026-11-26T12:00:00+01:60'", "bad_attribute" },
	{ "time month 13", EV_ORDER_CREATED, "time", "'2026-13-01T00:00:00Z'", "bad_attribute" },
	{ "time month 0", EV_ORDER_CREATED, "time", "'2026-00-01T00:00:00Z'", "bad_attribute" },
	{ "time day 0", EV_ORDER_CREATED, "time", "'2026-11-00T00:00:00Z'", "bad_attribute" },
	{ "time day 32", EV_ORDER_CREATED, "time", "'2026-01-32T00:00:00Z'", "bad_attribute" },
	{ "time April 31", EV_ORDER_CREATED, "time", "'2026-04-31T00:00:00Z'", "bad_attribute" },
	{ "time Feb 29 non-leap", EV_ORDER_CREATED, "time", "'2025-02-29T00:00:00Z'", "bad_attribute" },
	{ "time Feb 29 1900", EV_ORDER_CREATED, "time", "'1900-02-29T00:00:00Z'", "bad_attribute" },
	{ "time hour 24", EV_ORDER_CREATED, "time", "'2026-11-26T24:00:00Z'", "bad_attribute" },
	{ "time minute 60", EV_ORDER_CREATED, "time", "'2026-11-26T12:60:00Z'", "bad_attribute" },
	{ "time second 61", EV_ORDER_CREATED, "time", "'2026-11-26T12:00:61Z'", "bad_attribute" },
	{ "time two-digit year", EV_ORDER_CREATED, "time", "'26-11-26T12:00:00Z'", "bad_attribute" },
	{ "time one-digit month", EV_ORDER_CREATED, "time", "'2026-1-26T12:00:00Z'", "bad_attribute" },
	{ "time trailing text", EV_ORDER_CREATED, "time", "'2026-11-26T12:00:00Z '", "bad_attribute" },
	{ "time 63 chars", EV_ORDER_CREATED, "time",
	    "'2026-11-26T12:00:00.123456789012345678901234567890123456789012Z'", NULL },
	{ "time 64 chars", EV_ORDER_CREATED, "time",
	    "'2026-11-26T12:00:00.1234567890123456789012345678901234567890123Z'", "bad_attribute" },
	{ "time as number", EV_ORDER_CREATED, "time", "1764158400", "bad_attribute" },
	{ "time null", EV_ORDER_CREATED, "time", "null", "bad_attribute" },
	{ "time empty", EV_ORDER_CREATED, "time", "''", "bad_attribute" },
	{ "datacontenttype absent", EV_ORDER_CREATED, "datacontenttype", NULL, NULL },
	{ "datacontenttype text/plain", EV_ORDER_CREATED, "datacontenttype", "'text/plain'", "bad_attribute" },
	{ "datacontenttype with charset", EV_ORDER_CREATED, "datacontenttype",
	    "'application/json; charset=utf-8'", "bad_attribute" },
	{ "datacontenttype as number", EV_ORDER_CREATED, "datacontenttype", "1", "bad_attribute" },
	{ "traceparent absent", EV_ORDER_CREATED, "traceparent", NULL, NULL },
	{ "extension attribute", EV_ORDER_CREATED, "partitionkey", "'ord-1001'", NULL },
	{ "data as string", EV_ORDER_CREATED, "data", "'{}'", "bad_attribute: data must be an object" },
	{ "data as array", EV_ORDER_CREATED, "data", "[]", "bad_attribute" },
	{ "data null", EV_ORDER_CREATED, "data", "null", "bad_attribute" },
	{ "data empty", EV_ORDER_CONFIRMED, "data", "{}", "missing_field: data.order_id" },

	/* ids */
	{ "customer_id 64 chars", EV_ORDER_CREATED, "data.customer_id", "'" ID64 "'", NULL },
	{ "customer_id 65 chars", EV_ORDER_CREATED, "data.customer_id", "'" ID65 "'",
	    "bad_field: data.customer_id must be 1..64 chars of [A-Za-z0-9._:-]" },
	{ "customer_id empty", EV_ORDER_CREATED, "data.customer_id", "''", "bad_field" },
	{ "customer_id space", EV_ORDER_CREATED, "data.customer_id", "'cust alice'", "bad_field" },
	{ "customer_id slash", EV_PAYMENT_COMPLETED, "data.customer_id", "'cust/alice'", "bad_field" },
	{ "customer_id non-ASCII", EV_INVENTORY_RESERVED, "data.customer_id", "'c\\u00fcst'", "bad_field" },
	{ "customer_id NUL inside", EV_ORDER_CREATED, "data.customer_id", "'cust\\u0000x'", "bad_field" },
	{ "customer_id as number", EV_ORDER_CREATED, "data.customer_id", "42",
	    "bad_field: data.customer_id must be a string" },
	{ "customer_id null", EV_ORDER_CREATED, "data.customer_id", "null", "bad_field" },
	{ "id punctuation", EV_ORDER_CREATED, "data.customer_id", "'a.b_c:d-E9'", NULL },
	{ "order_id 65 chars", EV_ORDER_CONFIRMED, "data.order_id", "'" ID65 "'", "bad_field" },
	{ "order_id empty", EV_ORDER_CONFIRMED, "data.order_id", "''", "bad_field" },
	{ "order_id bad char", EV_ORDER_CONFIRMED, "data.order_id", "'ord#1001'", "bad_field" },
	{ "reservation_id 65 chars", EV_INVENTORY_RESERVED, "data.reservation_id", "'" ID65 "'", "bad_field" },
	{ "reservation_id bad char", EV_INVENTORY_RELEASED, "data.reservation_id", "'res 1'", "bad_field" },
	{ "payment_id empty", EV_PAYMENT_COMPLETED, "data.payment_id", "''", "bad_field" },
	{ "payment_id bad char", EV_PAYMENT_REFUNDED, "data.payment_id", "'pay@1'", "bad_field" },
	{ "payment_id as number", EV_PAYMENT_REFUNDED, "data.payment_id", "1", "bad_field" },
	{ "sku 65 chars", EV_ORDER_CREATED, "data.items.0.sku", "'" ID65 "'",
	    "bad_field: data.items[0].sku must be 1..64 chars of [A-Za-z0-9._:-]" },
	{ "sku empty", EV_INVENTORY_RESERVED, "data.items.1.sku", "''", "bad_field" },
	{ "sku bad char", EV_ORDER_CREATED, "data.items.0.sku", "'sku apple'", "bad_field" },
	{ "sku as number", EV_ORDER_CREATED, "data.items.0.sku", "7",
	    "bad_field: data.items[0].sku must be a string" },

	/* items and quantities */
	{ "quantity 0", EV_ORDER_CREATED, "data.items.0.quantity", "0",
	    "bad_field: data.items[0].quantity must be 1..10000" },
	{ "quantity 10001", EV_ORDER_CREATED, "data.items.0.quantity", "10001", "bad_field" },
	{ "quantity -1", EV_ORDER_CREATED, "data.items.0.quantity", "-1", "bad_field" },
	{ "quantity 1.5", EV_ORDER_CREATED, "data.items.0.quantity", "1.5", "bad_field" },
	{ "quantity 2.0", EV_ORDER_CREATED, "data.items.0.quantity", "2.0", "bad_field" },
	{ "quantity 2e0", EV_ORDER_CREATED, "data.items.0.quantity", "2e0", "bad_field" },
	{ "quantity string", EV_ORDER_CREATED, "data.items.0.quantity", "'2'",
	    "bad_field: data.items[0].quantity must be an integer" },
	{ "quantity null", EV_ORDER_CREATED, "data.items.0.quantity", "null", "bad_field" },
	{ "quantity huge", EV_ORDER_CREATED, "data.items.0.quantity", "4294967298", "bad_field" },
	{ "quantity 1", EV_ORDER_CREATED, "data.items.0.quantity", "1", NULL },
	{ "quantity 10000", EV_INVENTORY_RESERVED, "data.items.1.quantity", "10000", NULL },
	{ "0 items", EV_ORDER_CREATED, "data.items", "[]",
	    "bad_field: data.items must hold 1..100 items" },
	{ "100 items", EV_ORDER_CREATED, "data.items", "@items:100", NULL },
	{ "101 items", EV_ORDER_CREATED, "data.items", "@items:101", "bad_field" },
	{ "100 items reserved", EV_INVENTORY_RESERVED, "data.items", "@items:100", NULL },
	{ "101 items reserved", EV_INVENTORY_RESERVED, "data.items", "@items:101", "bad_field" },
	{ "items as object", EV_ORDER_CREATED, "data.items", "{'sku':'a','quantity':1}",
	    "bad_field: data.items must be an array" },
	{ "items as string", EV_ORDER_CREATED, "data.items", "'sku-apple'", "bad_field" },
	{ "item not an object", EV_ORDER_CREATED, "data.items", "['sku-apple']",
	    "bad_field: data.items[0] must be an object" },
	{ "item missing sku", EV_ORDER_CREATED, "data.items.0.sku", NULL,
	    "missing_field: data.items[0].sku" },
	{ "item missing quantity", EV_ORDER_CREATED, "data.items.0.quantity", NULL,
	    "missing_field: data.items[0].quantity" },
	{ "third item missing sku", EV_INVENTORY_RESERVED, "data.items",
	    "[{'sku':'a','quantity':1},{'sku':'b','quantity':1},{'quantity':1}]",
	    "missing_field: data.items[2].sku" },
	{ "item extra member", EV_ORDER_CREATED, "data.items.0.price_cents", "625", NULL },

	/* money */
	{ "total negative", EV_ORDER_CREATED, "data.total_cents", "-1",
	    "bad_field: data.total_cents must be >= 0" },
	{ "total double", EV_ORDER_CREATED, "data.total_cents", "12.5", "bad_field" },
	{ "total integral double", EV_ORDER_CREATED, "data.total_cents", "1250.0", "bad_field" },
	{ "total exponent", EV_ORDER_CREATED, "data.total_cents", "1.25e3", "bad_field" },
	{ "total string", EV_ORDER_CREATED, "data.total_cents", "'1250'", "bad_field" },
	{ "total null", EV_ORDER_CREATED, "data.total_cents", "null", "bad_field" },
	{ "total bool", EV_ORDER_CREATED, "data.total_cents", "true", "bad_field" },
	{ "total zero", EV_ORDER_CREATED, "data.total_cents", "0", NULL },
	{ "total int64 max", EV_ORDER_CREATED, "data.total_cents", "9223372036854775807", NULL },
	{ "total past int64", EV_ORDER_CREATED, "data.total_cents", "9223372036854775808", "bad_field" },
	{ "total negative reserved", EV_INVENTORY_RESERVED, "data.total_cents", "-1250", "bad_field" },
	{ "amount negative", EV_PAYMENT_COMPLETED, "data.amount_cents", "-5", "bad_field" },
	{ "amount double", EV_PAYMENT_COMPLETED, "data.amount_cents", "1250.5", "bad_field" },
	{ "amount string", EV_PAYMENT_REFUNDED, "data.amount_cents", "'1250'", "bad_field" },
	{ "refund negative", EV_PAYMENT_REFUNDED, "data.amount_cents", "-1", "bad_field" },
	{ "refund zero", EV_PAYMENT_REFUNDED, "data.amount_cents", "0", NULL },
	{ "currency lower case", EV_ORDER_CREATED, "data.currency", "'eur'",
	    "bad_field: data.currency must be 3 upper-case letters" },
	{ "currency mixed case", EV_PAYMENT_COMPLETED, "data.currency", "'Eur'", "bad_field" },
	{ "currency 2 letters", EV_ORDER_CREATED, "data.currency", "'EU'", "bad_field" },
	{ "currency 4 letters", EV_INVENTORY_RESERVED, "data.currency", "'EURO'", "bad_field" },
	{ "currency digit", EV_PAYMENT_REFUNDED, "data.currency", "'E1R'", "bad_field" },
	{ "currency number", EV_ORDER_CREATED, "data.currency", "978", "bad_field" },
	{ "currency empty", EV_ORDER_CREATED, "data.currency", "''", "bad_field" },
	{ "currency USD", EV_ORDER_CREATED, "data.currency", "'USD'", NULL },

	/* reasons */
	{ "reservation failed unknown_sku", EV_INVENTORY_RESERVATION_FAILED, "data.reason", "'unknown_sku'", NULL },
	{ "reservation failed order_cancelled", EV_INVENTORY_RESERVATION_FAILED, "data.reason",
	    "'order_cancelled'", NULL },
	{ "reservation failed bad reason", EV_INVENTORY_RESERVATION_FAILED, "data.reason",
	    "'insufficient_funds'",
	    "bad_field: data.reason must be one of out_of_stock, unknown_sku, order_cancelled" },
	{ "reservation failed upper-case reason", EV_INVENTORY_RESERVATION_FAILED, "data.reason",
	    "'OUT_OF_STOCK'", "bad_field" },
	{ "reservation failed reason empty", EV_INVENTORY_RESERVATION_FAILED, "data.reason", "''", "bad_field" },
	{ "reservation failed reason number", EV_INVENTORY_RESERVATION_FAILED, "data.reason", "1", "bad_field" },
	{ "reservation failed without sku", EV_INVENTORY_RESERVATION_FAILED, "data.sku", NULL, NULL },
	{ "reservation failed sku empty", EV_INVENTORY_RESERVATION_FAILED, "data.sku", "''", "bad_field" },
	{ "reservation failed sku bad", EV_INVENTORY_RESERVATION_FAILED, "data.sku", "'sku apple'", "bad_field" },
	{ "reservation failed sku 65", EV_INVENTORY_RESERVATION_FAILED, "data.sku", "'" ID65 "'", "bad_field" },
	{ "reservation failed sku number", EV_INVENTORY_RESERVATION_FAILED, "data.sku", "5", "bad_field" },
	{ "reservation failed sku null", EV_INVENTORY_RESERVATION_FAILED, "data.sku", "null", "bad_field" },
	{ "payment failed unknown_customer", EV_PAYMENT_FAILED, "data.reason", "'unknown_customer'", NULL },
	{ "payment failed currency_mismatch", EV_PAYMENT_FAILED, "data.reason", "'currency_mismatch'", NULL },
	{ "payment failed order_cancelled", EV_PAYMENT_FAILED, "data.reason", "'order_cancelled'", NULL },
	{ "payment failed bad reason", EV_PAYMENT_FAILED, "data.reason", "'out_of_stock'",
	    "bad_field: data.reason must be one of insufficient_funds, unknown_customer, "
	    "currency_mismatch, order_cancelled" },
	{ "payment failed reason typo", EV_PAYMENT_FAILED, "data.reason", "'insufficient-funds'", "bad_field" },
	{ "released any reason", EV_INVENTORY_RELEASED, "data.reason", "'order.cancelled:timeout'", NULL },
	{ "released reason bad char", EV_INVENTORY_RELEASED, "data.reason", "'payment failed'", "bad_field" },
	{ "released reason 65", EV_INVENTORY_RELEASED, "data.reason", "'" ID65 "'", "bad_field" },
	{ "cancelled reason timeout", EV_ORDER_CANCELLED, "data.reason", "'timeout'", NULL },
	{ "cancelled reason unknown_customer", EV_ORDER_CANCELLED, "data.reason", "'unknown_customer'", NULL },
	{ "cancelled reason empty", EV_ORDER_CANCELLED, "data.reason", "''", "bad_field" },
	{ "cancelled reason bad char", EV_ORDER_CANCELLED, "data.reason", "'out of stock'", "bad_field" },

	/* forward compatibility */
	{ "extra data field", EV_ORDER_CONFIRMED, "data.confirmed_by", "'ops'", NULL },
	{ "field of another type", EV_ORDER_CONFIRMED, "data.total_cents", "'not checked here'", NULL },
};

static void
test_parse_mutations(void **state)
{
	static struct event ev;
	char why[ENVELOPE_WHY_MAX];
	(void)state;

	for (size_t i = 0; i < sizeof(mutations) / sizeof(mutations[0]); i++) {
		const struct mutation *m = &mutations[i];
		int rc;

		strcpy(why, "(none)");
		rc = parse_mutated(m->base, m->path, m->value, &ev, why, NULL);
		expect(m->name, rc, why, m->want);
		if (rc == 0 && m->want == NULL)
			expect_round_trip(m->name, &ev);
	}
	done();
}

/* Every required attribute, taken away from every type. */
static void
test_missing_attributes(void **state)
{
	static const char *const required[] = {
		"specversion", "id", "source", "type", "subject", "data"
	};
	static struct event ev;
	char why[ENVELOPE_WHY_MAX], name[128], want[64];
	(void)state;

	for (int t = EV_UNKNOWN + 1; t < EV__COUNT; t++) {
		for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
			snprintf(name, sizeof(name), "%s without %s",
			    event_type_name((enum event_type)t), required[i]);
			snprintf(want, sizeof(want), "missing_attribute: %s", required[i]);
			expect(name, parse_mutated((enum event_type)t, required[i], NULL, &ev, why, NULL),
			    why, want);
		}
	}
	done();
}

/* Every data field of every type taken away: missing_field, except the optional sku. */
static void
test_missing_fields(void **state)
{
	static struct event ev;
	char why[ENVELOPE_WHY_MAX], name[128], want[64], path[64];
	int n = 0;
	(void)state;

	for (int t = EV_UNKNOWN + 1; t < EV__COUNT; t++) {
		struct json_object *root = base_tree((enum event_type)t), *data;

		assert_true(json_object_object_get_ex(root, "data", &data));
		json_object_object_foreach(data, key, val) {
			int optional = t == EV_INVENTORY_RESERVATION_FAILED && strcmp(key, "sku") == 0;

			(void)val;
			snprintf(name, sizeof(name), "%s without data.%s",
			    event_type_name((enum event_type)t), key);
			snprintf(want, sizeof(want), "missing_field: data.%s", key);
			snprintf(path, sizeof(path), "data.%s", key);
			expect(name, parse_mutated((enum event_type)t, path, NULL, &ev, why, NULL),
			    why, optional ? NULL : want);
			n++;
		}
		json_object_put(root);
	}
	/* 5 + 6 + 3 + 5 + 2 + 3 + 4 + 1 + 2 fields */
	check(n == 31, "data fields tried: got %d, want 31", n);
	done();
}

/* An invalid traceparent is dropped, not an error. */
static void
test_traceparent_dropped(void **state)
{
	static const struct {
		const char *value;
		int kept;
	} cases[] = {
		{ "'" TP "'", 1 },
		{ "'00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00'", 1 },
		{ "'00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01'", 0 },
		{ "'01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'", 0 },
		{ "'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'", 0 },
		{ "'00-00000000000000000000000000000000-00f067aa0ba902b7-01'", 0 },
		{ "'00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01'", 0 },
		{ "'00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01'", 0 },
		{ "'00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x'", 0 },
		{ "'00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0'", 0 },
		{ "'00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01'", 0 },
		{ "'00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01'", 0 },
		{ "'00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz'", 0 },
		{ "'garbage'", 0 },
		{ "''", 0 },
		{ "42", 0 },
		{ "null", 0 },
		{ "{}", 0 },
	};
	static struct event ev;
	char why[ENVELOPE_WHY_MAX];
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = parse_mutated(EV_ORDER_CREATED, "traceparent", cases[i].value, &ev, why, NULL);

		expect(cases[i].value, rc, why, NULL);
		check(rc != 0 || (ev.traceparent[0] != '\0') == cases[i].kept,
		    "traceparent %s: got \"%s\", want %s", cases[i].value, ev.traceparent,
		    cases[i].kept ? "kept" : "dropped");
	}
	done();
}

/* On failure the attributes validated so far stay, for the dead-letter log line. */
static void
test_parse_failure_state(void **state)
{
	static struct event ev;
	char why[ENVELOPE_WHY_MAX];
	(void)state;

	assert_int_equal(parse_mutated(EV_ORDER_CREATED, "data.currency", "'eur'", &ev, why, NULL), -1);
	check(strcmp(ev.id, ID) == 0, "id after bad currency: got \"%s\", want %s", ev.id, ID);
	check(ev.type == EV_ORDER_CREATED, "type after bad currency: got %d, want %d",
	    ev.type, EV_ORDER_CREATED);
	assert_int_equal(parse_mutated(EV_ORDER_CREATED, "id", "'x'", &ev, why, NULL), -1);
	check(ev.id[0] == '\0' && ev.type == EV_UNKNOWN,
	    "after bad id: got id \"%s\" type %d, want empty", ev.id, ev.type);
	done();
}

/* --- check ---------------------------------------------------------------- */

static void set_quantity_0(struct event *ev) { ev->items[0].quantity = 0; }
static void set_quantity_10001(struct event *ev) { ev->items[0].quantity = 10001; }
static void set_no_items(struct event *ev) { ev->n_items = 0; }
static void set_101_items(struct event *ev) { ev->n_items = 101; }
static void set_sku_empty(struct event *ev) { ev->items[0].sku[0] = '\0'; }
static void set_sku_unterminated(struct event *ev) { memset(ev->items[0].sku, 'a', sizeof(ev->items[0].sku)); }
static void set_total_negative(struct event *ev) { ev->total_cents = -1; }
static void set_amount_negative(struct event *ev) { ev->amount_cents = -1; }
static void set_currency_lower(struct event *ev) { strcpy(ev->currency, "eur"); }
static void set_currency_unterminated(struct event *ev) { memcpy(ev->currency, "EURO", 4); }
static void set_subject_other(struct event *ev) { strcpy(ev->subject, "ord-2"); }
static void set_order_id_bad(struct event *ev) { strcpy(ev->order_id, "ord 1"); strcpy(ev->subject, "ord 1"); }
static void set_order_id_unterminated(struct event *ev) { memset(ev->order_id, 'o', sizeof(ev->order_id)); }
static void set_type_unknown(struct event *ev) { ev->type = EV_UNKNOWN; }
static void set_type_out_of_range(struct event *ev) { ev->type = EV__COUNT; }
static void set_id_bad(struct event *ev) { strcpy(ev->id, "not-a-uuid"); }
static void set_source_empty(struct event *ev) { ev->source[0] = '\0'; }
static void set_time_bad(struct event *ev) { strcpy(ev->time, "yesterday"); }
static void set_time_empty(struct event *ev) { ev->time[0] = '\0'; }
static void set_traceparent_bad(struct event *ev) { strcpy(ev->traceparent, "00-bad"); }
static void set_traceparent_empty(struct event *ev) { ev->traceparent[0] = '\0'; }
static void set_reason_bad(struct event *ev) { strcpy(ev->reason, "timeout"); }
static void set_reason_empty(struct event *ev) { ev->reason[0] = '\0'; }
static void set_sku_none(struct event *ev) { ev->sku[0] = '\0'; }
static void set_sku_bad(struct event *ev) { strcpy(ev->sku, "a b"); }
static void set_other_fields(struct event *ev) { strcpy(ev->customer_id, "x y"); ev->total_cents = -7; }

static void
test_check(void **state)
{
	static const struct {
		const char *name;
		enum event_type base;
		void (*change)(struct event *);
		const char *want;
	} cases[] = {
		{ "quantity 0", EV_ORDER_CREATED, set_quantity_0,
		    "bad_field: data.items[0].quantity must be 1..10000" },
		{ "quantity 10001", EV_INVENTORY_RESERVED, set_quantity_10001, "bad_field" },
		{ "no items", EV_ORDER_CREATED, set_no_items, "bad_field: data.items must hold 1..100 items" },
		{ "101 items", EV_INVENTORY_RESERVED, set_101_items, "bad_field" },
		{ "sku empty", EV_ORDER_CREATED, set_sku_empty, "bad_field" },
		{ "sku unterminated", EV_ORDER_CREATED, set_sku_unterminated, "bad_field" },
		{ "total negative", EV_ORDER_CREATED, set_total_negative, "bad_field: data.total_cents must be >= 0" },
		{ "amount negative", EV_PAYMENT_REFUNDED, set_amount_negative, "bad_field" },
		{ "currency lower", EV_PAYMENT_COMPLETED, set_currency_lower,
		    "bad_field: data.currency must be 3 upper-case letters" },
		{ "currency unterminated", EV_ORDER_CREATED, set_currency_unterminated, "bad_field" },
		{ "subject differs", EV_ORDER_CONFIRMED, set_subject_other, "subject_mismatch" },
		{ "order_id bad", EV_ORDER_CONFIRMED, set_order_id_bad, "bad_attribute" },
		{ "order_id unterminated", EV_PAYMENT_FAILED, set_order_id_unterminated, "bad_field" },
		{ "type unknown", EV_ORDER_CREATED, set_type_unknown, "unknown_type" },
		{ "type out of range", EV_ORDER_CREATED, set_type_out_of_range, "unknown_type" },
		{ "id bad", EV_ORDER_CREATED, set_id_bad, "bad_attribute" },
		{ "source empty", EV_ORDER_CREATED, set_source_empty, "bad_attribute" },
		{ "time bad", EV_ORDER_CREATED, set_time_bad, "bad_attribute" },
		{ "time empty", EV_ORDER_CREATED, set_time_empty, NULL },
		{ "traceparent bad", EV_ORDER_CREATED, set_traceparent_bad, "bad_attribute" },
		{ "traceparent empty", EV_ORDER_CREATED, set_traceparent_empty, NULL },
		{ "reservation failed reason bad", EV_INVENTORY_RESERVATION_FAILED, set_reason_bad, "bad_field" },
		{ "payment failed reason bad", EV_PAYMENT_FAILED, set_reason_bad, "bad_field" },
		{ "cancelled reason empty", EV_ORDER_CANCELLED, set_reason_empty, "bad_field" },
		{ "released reason any id", EV_INVENTORY_RELEASED, set_reason_bad, NULL },
		{ "sku none", EV_INVENTORY_RESERVATION_FAILED, set_sku_none, NULL },
		{ "sku bad", EV_INVENTORY_RESERVATION_FAILED, set_sku_bad, "bad_field" },
		{ "fields of other types ignored", EV_ORDER_CONFIRMED, set_other_fields, NULL },
	};
	static struct event ev;
	char why[ENVELOPE_WHY_MAX];
	(void)state;

	for (int t = EV_UNKNOWN + 1; t < EV__COUNT; t++) {
		char *body = dq(bodies[t]);

		assert_int_equal(parse_str(body, &ev, why), 0);
		expect(event_type_name((enum event_type)t), envelope_check(&ev, why, sizeof(why)),
		    why, NULL);
		free(body);
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *body = dq(bodies[cases[i].base]);

		assert_int_equal(parse_str(body, &ev, why), 0);
		free(body);
		cases[i].change(&ev);
		strcpy(why, "(none)");
		expect(cases[i].name, envelope_check(&ev, why, sizeof(why)), why, cases[i].want);
	}
	done();
}

/* --- render --------------------------------------------------------------- */

static void
test_render_round_trip(void **state)
{
	static struct event ev;
	char why[ENVELOPE_WHY_MAX];
	(void)state;

	for (int t = EV_UNKNOWN + 1; t < EV__COUNT; t++) {
		const char *name = event_type_name((enum event_type)t);
		char *body = dq(bodies[t]), *s;

		assert_int_equal(parse_str(body, &ev, why), 0);
		s = envelope_render(&ev);
		check(strcmp(s, body) == 0, "%s: render got\n  %s\nwant\n  %s", name, s, body);
		free(s);
		expect_round_trip(name, &ev);
		free(body);
	}
	done();
}

/* An event built in memory, the way a handler does. */
static void
test_render_built(void **state)
{
	static struct event ev, back;
	char why[ENVELOPE_WHY_MAX];
	char *s, *want;
	(void)state;

	memset(&ev, 0, sizeof(ev));
	ev.type = EV_INVENTORY_RESERVED;
	envelope_new_uuid(ev.id);
	strcpy(ev.source, "chorus/inventory");
	strcpy(ev.subject, "ord-7");
	envelope_now(ev.time);
	envelope_child_traceparent(NULL, ev.traceparent);
	strcpy(ev.order_id, "ord-7");
	strcpy(ev.reservation_id, "res-7");
	strcpy(ev.customer_id, "cust-bob");
	ev.n_items = ENVELOPE_MAX_ITEMS;
	for (size_t i = 0; i < ev.n_items; i++) {
		snprintf(ev.items[i].sku, sizeof(ev.items[i].sku), "sku-%zu", i);
		ev.items[i].quantity = (int)(i * 100 + 1);
	}
	ev.total_cents = INT64_MAX;
	strcpy(ev.currency, "CHF");
	expect_round_trip("built InventoryReserved", &ev);

	/* data holds exactly the type's fields; time and traceparent only when set */
	memset(&ev, 0, sizeof(ev));
	ev.type = EV_INVENTORY_RESERVATION_FAILED;
	strcpy(ev.id, ID);
	strcpy(ev.source, "chorus/inventory");
	strcpy(ev.subject, "ord-1001");
	strcpy(ev.order_id, "ord-1001");
	strcpy(ev.reason, "unknown_sku");
	strcpy(ev.customer_id, "cust-alice");
	strcpy(ev.payment_id, "pay-1");
	ev.total_cents = 99;
	ev.amount_cents = 98;
	strcpy(ev.currency, "EUR");
	ev.n_items = 1;
	strcpy(ev.items[0].sku, "sku-x");
	ev.items[0].quantity = 1;
	s = envelope_render(&ev);
	want = dq("{'specversion':'1.0','id':'" ID "','source':'chorus/inventory',"
	    "'type':'InventoryReservationFailed','subject':'ord-1001',"
	    "'datacontenttype':'application/json',"
	    "'data':{'order_id':'ord-1001','reason':'unknown_sku'}}");
	check(strcmp(s, want) == 0, "render without sku, time, traceparent: got\n  %s\nwant\n  %s", s, want);
	assert_int_equal(parse_str(s, &back, why), 0);
	check(back.sku[0] == '\0' && back.customer_id[0] == '\0' && back.total_cents == 0 &&
	    back.n_items == 0, "parse of render: got fields of other types, want none");
	free(s);
	free(want);

	/* an unknown type still renders, without type and data fields */
	ev.type = EV_UNKNOWN;
	s = envelope_render(&ev);
	check(strstr(s, "\"type\"") == NULL && strstr(s, "\"data\":{}") != NULL,
	    "render of EV_UNKNOWN: got %s, want no type and empty data", s);
	free(s);
	done();
}

/* --- ids, time and trace context ----------------------------------------- */

static void
test_valid_id(void **state)
{
	static const struct {
		const char *s;
		int want;
	} cases[] = {
		{ "a", 1 }, { "Z", 1 }, { "0", 1 }, { ".", 1 }, { "_", 1 }, { ":", 1 }, { "-", 1 },
		{ "ord-1001", 1 }, { "a.b_c:d-E9", 1 }, { ID, 1 }, { ID64, 1 },
		{ "", 0 }, { ID65, 0 }, { " a", 0 }, { "a ", 0 }, { "a b", 0 }, { "a/b", 0 },
		{ "a#b", 0 }, { "a@b", 0 }, { "a+b", 0 }, { "a\tb", 0 }, { "a\nb", 0 }, { "\"a\"", 0 },
		{ "caf\xc3\xa9", 0 }, { "a\x7f", 0 }, { "a\xff", 0 },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check(envelope_valid_id(cases[i].s) == cases[i].want,
		    "envelope_valid_id(\"%s\") (length %zu): got %d, want %d", cases[i].s,
		    strlen(cases[i].s), envelope_valid_id(cases[i].s), cases[i].want);
	check(!envelope_valid_id(NULL), "envelope_valid_id(NULL): got 1, want 0");
	done();
}

static int
valid_v7_uuid(const char *s)
{
	if (strlen(s) != ENVELOPE_UUID_LEN)
		return 0;
	for (int i = 0; i < ENVELOPE_UUID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (strchr("0123456789abcdef", s[i]) == NULL || s[i] == '\0')
			return 0;
	}
	return s[14] == '7' && strchr("89ab", s[19]) != NULL;
}

static void
test_new_uuid(void **state)
{
	enum { N = 512 };
	static char ids[N][ENVELOPE_UUID_LEN + 1];
	static struct event ev;
	char why[ENVELOPE_WHY_MAX];
	(void)state;

	for (int i = 0; i < N; i++) {
		envelope_new_uuid(ids[i]);
		check(valid_v7_uuid(ids[i]), "uuid %d: got %s, want a lower-case version 7 UUID", i, ids[i]);
		check(i == 0 || strcmp(ids[i - 1], ids[i]) < 0, "uuid %d: got %s after %s, want later ids to sort later",
		    i, ids[i], i ? ids[i - 1] : "");
	}
	{
		/* the first 48 bits are now in Unix milliseconds */
		struct timespec ts;
		unsigned long long ms = strtoull((char[13]){ ids[0][0], ids[0][1], ids[0][2], ids[0][3],
		    ids[0][4], ids[0][5], ids[0][6], ids[0][7], ids[0][9], ids[0][10], ids[0][11],
		    ids[0][12], 0 }, NULL, 16), now;

		clock_gettime(CLOCK_REALTIME, &ts);
		now = (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
		check(ms <= now && now - ms < 60000, "uuid time: got %llu ms, want about %llu", ms, now);
	}
	for (int i = 0; i < N; i++)
		for (int j = i + 1; j < N; j++)
			check(strcmp(ids[i], ids[j]) != 0, "uuids %d and %d: got both %s, want distinct",
			    i, j, ids[i]);
	/* and envelope_parse takes it as an id */
	{
		char *body = dq(bodies[EV_ORDER_CONFIRMED]);
		char *at = strstr(body, ID);

		memcpy(at, ids[0], ENVELOPE_UUID_LEN);
		expect("parse with new uuid", parse_str(body, &ev, why), why, NULL);
		free(body);
	}
	done();
}

static void
test_now(void **state)
{
	static struct event ev;
	char now[32], why[ENVELOPE_WHY_MAX], value[64];
	(void)state;

	envelope_now(now);
	check(strlen(now) == 24 && now[10] == 'T' && now[19] == '.' && now[23] == 'Z',
	    "envelope_now: got %s, want like 2026-11-26T12:00:00.123Z", now);
	snprintf(value, sizeof(value), "'%s'", now);
	expect("parse with envelope_now time",
	    parse_mutated(EV_ORDER_CREATED, "time", value, &ev, why, NULL), why, NULL);
	done();
}

static void
test_child_traceparent(void **state)
{
	static const char *const not_parents[] = {
		NULL, "", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
	};
	char out[ENVELOPE_TRACEPARENT_LEN + 1], other[ENVELOPE_TRACEPARENT_LEN + 1];
	char inplace[ENVELOPE_TRACEPARENT_LEN + 1];
	static const char *const parents[] = {
		TP, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
	};
	(void)state;

	for (size_t i = 0; i < sizeof(parents) / sizeof(parents[0]); i++) {
		const char *p = parents[i];

		envelope_child_traceparent(p, out);
		check(envelope_valid_traceparent(out), "child of %s: got %s, want valid", p, out);
		check(strncmp(out, p, 36) == 0, "child of %s: got trace %.32s, want %.32s",
		    p, out + 3, p + 3);
		check(strncmp(out + 36, p + 36, 16) != 0, "child of %s: got span %.16s, want a new one",
		    p, out + 36);
		check(strcmp(out + 52, p + 52) == 0, "child of %s: got flags %s, want %s",
		    p, out + 53, p + 53);
		envelope_child_traceparent(p, other);
		check(strcmp(out, other) != 0, "two children of %s: got the same %s, want distinct spans",
		    p, out);
		/* the parent may be the output buffer */
		strcpy(inplace, p);
		envelope_child_traceparent(inplace, inplace);
		check(envelope_valid_traceparent(inplace) && strncmp(inplace, p, 36) == 0 &&
		    strcmp(inplace, p) != 0, "in place child of %s: got %s, want same trace, new span",
		    p, inplace);
	}
	for (size_t i = 0; i < sizeof(not_parents) / sizeof(not_parents[0]); i++) {
		const char *p = not_parents[i];

		envelope_child_traceparent(p, out);
		envelope_child_traceparent(p, other);
		check(envelope_valid_traceparent(out) && strcmp(out + 52, "-01") == 0,
		    "child of %s: got %s, want a valid new trace with flags 01", p ? p : "NULL", out);
		check(strncmp(out + 3, other + 3, 32) != 0,
		    "two children of %s: got trace %.32s twice, want new traces", p ? p : "NULL", out + 3);
	}
	check(envelope_valid_traceparent(TP), "valid_traceparent(%s): got 0, want 1", TP);
	check(!envelope_valid_traceparent(NULL), "valid_traceparent(NULL): got 1, want 0");
	done();
}

/* envelope_parse_data: an API body as OrderCreated's data, by the envelope's rules. */
static void
test_parse_data(void **state)
{
	static const struct {
		const char *body;
		const char *want;	/* NULL: accepted; else the start of why */
	} rows[] = {
		{ "{\"order_id\":\"o-1\",\"customer_id\":\"c\",\"items\":[{\"sku\":\"s\",\"quantity\":2}],"
		  "\"total_cents\":5,\"currency\":\"EUR\"}", NULL },
		{ "{\"customer_id\":\"c\",\"items\":[{\"sku\":\"s\",\"quantity\":2}],"
		  "\"total_cents\":5,\"currency\":\"EUR\"}", NULL },		/* the default id stands */
		{ "{\"customer_id\":\"c\",\"items\":[{\"sku\":\"s\",\"quantity\":2}],"
		  "\"total_cents\":5}", "missing_field: data.currency" },
		{ "{\"customer_id\":\"c\",\"items\":[{\"sku\":\"s\",\"quantity\":\"2\"}],"
		  "\"total_cents\":5,\"currency\":\"EUR\"}", "bad_field: data.items[0].quantity" },
		{ "{\"customer_id\":\"c\",\"items\":[{\"sku\":\"s\",\"quantity\":2}],"
		  "\"total_cents\":5,\"currency\":\"EUR\",\"x\":1}", "bad_field: data.x is not a field" },
		{ "{\"customer_id\":\"c\",\"customer_id\":\"d\",\"items\":[{\"sku\":\"s\",\"quantity\":2}],"
		  "\"total_cents\":5,\"currency\":\"EUR\"}", "invalid_json: duplicate member name" },
		{ "{\"customer_id\":\"c\",\"items\":[{\"sku\":\"s\",\"quantity\":2}],"
		  "\"total_cents\":5,\"currency\":\"EUR\"} {}", "invalid_json: trailing characters" },
		{ "[]", "not_an_object" },
		{ "", "invalid_json" },
		{ "{\"order_id\":7}", "bad_field: data.order_id" },
	};
	char why[ENVELOPE_WHY_MAX];
	struct event ev;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int r;

		memset(&ev, 0, sizeof(ev));
		strcpy(ev.order_id, "dflt");
		why[0] = '\0';
		r = envelope_parse_data(EV_ORDER_CREATED, rows[i].body, strlen(rows[i].body), &ev, why,
		    sizeof(why));
		if (rows[i].want == NULL) {
			check(r == 0, "row %zu: refused (%s), want accepted", i, why);
			check(ev.type == EV_ORDER_CREATED && ev.n_items == 1 && ev.items[0].quantity == 2 &&
			    ev.total_cents == 5, "row %zu: got the wrong data", i);
			check(strcmp(ev.order_id, i == 0 ? "o-1" : "dflt") == 0, "row %zu: order_id %s", i,
			    ev.order_id);
		} else {
			check(r == -1 && strncmp(why, rows[i].want, strlen(rows[i].want)) == 0,
			    "row %zu: got %d '%s', want '%s...'", i, r, why, rows[i].want);
		}
	}
	done();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_raw),
		cmocka_unit_test(test_parse_limits),
		cmocka_unit_test(test_parse_mutations),
		cmocka_unit_test(test_missing_attributes),
		cmocka_unit_test(test_missing_fields),
		cmocka_unit_test(test_traceparent_dropped),
		cmocka_unit_test(test_parse_failure_state),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_render_round_trip),
		cmocka_unit_test(test_render_built),
		cmocka_unit_test(test_valid_id),
		cmocka_unit_test(test_new_uuid),
		cmocka_unit_test(test_now),
		cmocka_unit_test(test_child_traceparent),
		cmocka_unit_test(test_parse_data),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
