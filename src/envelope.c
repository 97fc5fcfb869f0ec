/*
 * envelope: the CloudEvents envelope of Chorus events (see envelope.h and
 * contract section 3). Each event type has a static table of its data
 * fields; parsing, checking and rendering all walk that table, and each rule
 * on a value is one function that parsing and checking share, so a field's
 * rules live in one place.
 *
 * json-c's strict mode still lets through single-quoted strings, NaN and
 * Infinity, "1.", leading zeros, raw control characters in strings and some
 * invalid UTF-8 (overlong forms, surrogates), so a body first passes a small
 * RFC 8259 syntax check of our own; json-c then builds the tree.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "envelope.h"
#include "xmalloc.h"

#define SOURCE_MAX (sizeof(((struct event *)0)->source) - 1)
#define TIME_MAX (sizeof(((struct event *)0)->time) - 1)

enum field_kind {
	F_ID,		/* an id; one of values when the field has a list */
	F_ITEMS,	/* 1..ENVELOPE_MAX_ITEMS of {sku, quantity} */
	F_CENTS,	/* integer minor units >= 0 */
	F_CURRENCY	/* 3 upper-case letters */
};

struct field {
	const char *name;
	enum field_kind kind;
	int required;
	size_t off;			/* of the member in struct event */
	const char *const *values;	/* F_ID: allowed values, NULL-terminated; NULL: any id */
};

#define M(member) offsetof(struct event, member)

static const char *const reservation_failed_reasons[] = {
	"out_of_stock", "unknown_sku", "order_cancelled", NULL
};
static const char *const payment_failed_reasons[] = {
	"insufficient_funds", "unknown_customer", "currency_mismatch",
	"order_cancelled", NULL
};

/* Field order is the order envelope_render writes them in. */
static const struct field order_created_fields[] = {
	{ "order_id",		F_ID,		1, M(order_id),		NULL },
	{ "customer_id",	F_ID,		1, M(customer_id),	NULL },
	{ "items",		F_ITEMS,	1, M(items),		NULL },
	{ "total_cents",	F_CENTS,	1, M(total_cents),	NULL },
	{ "currency",		F_CURRENCY,	1, M(currency),		NULL },
	{ NULL, F_ID, 0, 0, NULL }
};
static const struct field inventory_reserved_fields[] = {
	{ "order_id",		F_ID,		1, M(order_id),		NULL },
	{ "reservation_id",	F_ID,		1, M(reservation_id),	NULL },
	{ "customer_id",	F_ID,		1, M(customer_id),	NULL },
	{ "items",		F_ITEMS,	1, M(items),		NULL },
	{ "total_cents",	F_CENTS,	1, M(total_cents),	NULL },
	{ "currency",		F_CURRENCY,	1, M(currency),		NULL },
	{ NULL, F_ID, 0, 0, NULL }
};
static const struct field inventory_reservation_failed_fields[] = {
	{ "order_id",		F_ID,		1, M(order_id),		NULL },
	{ "reason",		F_ID,		1, M(reason),		reservation_failed_reasons },
	{ "sku",		F_ID,		0, M(sku),		NULL },
	{ NULL, F_ID, 0, 0, NULL }
};
static const struct field payment_completed_fields[] = {
	{ "order_id",		F_ID,		1, M(order_id),		NULL },
	{ "payment_id",		F_ID,		1, M(payment_id),	NULL },
	{ "customer_id",	F_ID,		1, M(customer_id),	NULL },
	{ "amount_cents",	F_CENTS,	1, M(amount_cents),	NULL },
	{ "currency",		F_CURRENCY,	1, M(currency),		NULL },
	{ NULL, F_ID, 0, 0, NULL }
};
static const struct field payment_failed_fields[] = {
	{ "order_id",		F_ID,		1, M(order_id),		NULL },
	{ "reason",		F_ID,		1, M(reason),		payment_failed_reasons },
	{ NULL, F_ID, 0, 0, NULL }
};
static const struct field inventory_released_fields[] = {
	{ "order_id",		F_ID,		1, M(order_id),		NULL },
	{ "reservation_id",	F_ID,		1, M(reservation_id),	NULL },
	{ "reason",		F_ID,		1, M(reason),		NULL },
	{ NULL, F_ID, 0, 0, NULL }
};
static const struct field payment_refunded_fields[] = {
	{ "order_id",		F_ID,		1, M(order_id),		NULL },
	{ "payment_id",		F_ID,		1, M(payment_id),	NULL },
	{ "amount_cents",	F_CENTS,	1, M(amount_cents),	NULL },
	{ "currency",		F_CURRENCY,	1, M(currency),		NULL },
	{ NULL, F_ID, 0, 0, NULL }
};
static const struct field order_confirmed_fields[] = {
	{ "order_id",		F_ID,		1, M(order_id),		NULL },
	{ NULL, F_ID, 0, 0, NULL }
};
static const struct field order_cancelled_fields[] = {
	{ "order_id",		F_ID,		1, M(order_id),		NULL },
	{ "reason",		F_ID,		1, M(reason),		NULL },
	{ NULL, F_ID, 0, 0, NULL }
};

static const struct type_info {
	const char *name;
	const char *routing_key;
	const char *exchange;		/* "chorus." + first word of routing_key */
	const struct field *fields;
} types[EV__COUNT] = {
	[EV_ORDER_CREATED] = { "OrderCreated", "order.created",
	    "chorus.order", order_created_fields },
	[EV_INVENTORY_RESERVED] = { "InventoryReserved", "inventory.reserved",
	    "chorus.inventory", inventory_reserved_fields },
	[EV_INVENTORY_RESERVATION_FAILED] = { "InventoryReservationFailed",
	    "inventory.reservation_failed", "chorus.inventory",
	    inventory_reservation_failed_fields },
	[EV_PAYMENT_COMPLETED] = { "PaymentCompleted", "payment.completed",
	    "chorus.payment", payment_completed_fields },
	[EV_PAYMENT_FAILED] = { "PaymentFailed", "payment.failed",
	    "chorus.payment", payment_failed_fields },
	[EV_INVENTORY_RELEASED] = { "InventoryReleased", "inventory.released",
	    "chorus.inventory", inventory_released_fields },
	[EV_PAYMENT_REFUNDED] = { "PaymentRefunded", "payment.refunded",
	    "chorus.payment", payment_refunded_fields },
	[EV_ORDER_CONFIRMED] = { "OrderConfirmed", "order.confirmed",
	    "chorus.order", order_confirmed_fields },
	[EV_ORDER_CANCELLED] = { "OrderCancelled", "order.cancelled",
	    "chorus.order", order_cancelled_fields },
};

static const struct type_info *
type_info(enum event_type type)
{
	if ((int)type <= EV_UNKNOWN || type >= EV__COUNT)
		return NULL;
	return &types[type];
}

/* The name of the type's table row; NULL outside the table. */
const char *
event_type_name(enum event_type type)
{
	const struct type_info *t = type_info(type);

	return t != NULL ? t->name : NULL;
}

/* A linear search: nine names, exact match. */
enum event_type
event_type_from_name(const char *name)
{
	if (name == NULL)
		return EV_UNKNOWN;
	for (int i = EV_UNKNOWN + 1; i < EV__COUNT; i++)
		if (strcmp(name, types[i].name) == 0)
			return (enum event_type)i;
	return EV_UNKNOWN;
}

/* Routing key from the type's table row. */
const char *
event_type_routing_key(enum event_type type)
{
	const struct type_info *t = type_info(type);

	return t != NULL ? t->routing_key : NULL;
}

/* Exchange from the type's table row. */
const char *
event_type_exchange(enum event_type type)
{
	const struct type_info *t = type_info(type);

	return t != NULL ? t->exchange : NULL;
}

/* --- reasons ------------------------------------------------------------ */

static int fail(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Write the reason into why (when there is room for one) and return -1. */
static int
fail(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why != NULL && whylen > 0) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/*
 * s made fit for a reason that ends up in log lines and AMQP headers: at
 * most 64 bytes of printable ASCII, anything else as '?'.
 */
void
envelope_printable(char *out, size_t outlen, const char *s)
{
	size_t n = 0;

	for (; *s != '\0' && n + 1 < outlen && n < 64; s++, n++)
		out[n] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	out[n] = '\0';
}

/* buf when it holds a NUL-terminated string, NULL when it overflows. */
static const char *
cstr(const char *buf, size_t size)
{
	return memchr(buf, '\0', size) != NULL ? buf : NULL;
}

/* --- small validators --------------------------------------------------- */

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
is_hex(int c, int lower_only)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') ||
	    (!lower_only && c >= 'A' && c <= 'F');
}

/* true when s starts with n hex digits that are not all zero (when nonzero). */
static int
hex_run(const char *s, size_t n, int nonzero)
{
	int any = 0;

	for (size_t i = 0; i < n; i++) {
		if (!is_hex((unsigned char)s[i], 1))
			return 0;
		any |= s[i] != '0';
	}
	return any || !nonzero;
}

/* The n digits at s as a number, or -1 when they are not all digits. */
static int
digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!is_digit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static int
valid_uuid(const char *s)
{
	if (s == NULL || strlen(s) != ENVELOPE_UUID_LEN)
		return 0;
	for (int i = 0; i < ENVELOPE_UUID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!is_hex((unsigned char)s[i], 0))
			return 0;
	}
	return 1;
}

/*
 * RFC 3339 date-time: YYYY-MM-DD "T" hh:mm:ss[.frac] ("Z" / +hh:mm / -hh:mm),
 * T and Z in either case (RFC 3339 5.6), fields in range, day within its
 * month, second 60 allowed for leap seconds. Each character is looked at
 * only after the ones before it matched, so a short string never reads
 * past its NUL.
 */
static int
valid_time(const char *s)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int year, mon, mday, hour, min, sec, leap;
	const char *p;

	if (s == NULL || strlen(s) > TIME_MAX)
		return 0;
	if ((year = digits(s, 4)) < 0 || s[4] != '-' ||
	    (mon = digits(s + 5, 2)) < 0 || s[7] != '-' ||
	    (mday = digits(s + 8, 2)) < 0 || (s[10] != 'T' && s[10] != 't') ||
	    (hour = digits(s + 11, 2)) < 0 || s[13] != ':' ||
	    (min = digits(s + 14, 2)) < 0 || s[16] != ':' ||
	    (sec = digits(s + 17, 2)) < 0)
		return 0;
	p = s + 19;
	if (*p == '.') {
		if (!is_digit((unsigned char)*++p))
			return 0;
		while (is_digit((unsigned char)*p))
			p++;
	}
	if (*p == 'Z' || *p == 'z')
		p++;
	else if (*p == '+' || *p == '-') {
		int oh, om;

		if ((oh = digits(p + 1, 2)) < 0 || p[3] != ':' ||
		    (om = digits(p + 4, 2)) < 0 || oh > 23 || om > 59)
			return 0;
		p += 6;
	} else
		return 0;
	if (*p != '\0')
		return 0;
	leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
	if (mon < 1 || mon > 12 || mday < 1 ||
	    mday > mdays[mon - 1] + (mon == 2 && leap))
		return 0;
	return hour <= 23 && min <= 59 && sec <= 60;
}

/* Stops at the 65th character, so a long string costs nothing. */
int
envelope_valid_id(const char *s)
{
	size_t n;

	if (s == NULL)
		return 0;
	for (n = 0; s[n] != '\0'; n++) {
		unsigned char c = (unsigned char)s[n];

		if (n >= ENVELOPE_ID_MAX)
			return 0;
		if (!(is_digit(c) || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || c == '.' || c == '_' ||
		    c == ':' || c == '-'))
			return 0;
	}
	return n > 0;
}

/* Version 00 only, lower-case hex, trace and parent ids not all zero (W3C). */
int
envelope_valid_traceparent(const char *s)
{
	return s != NULL && strlen(s) == ENVELOPE_TRACEPARENT_LEN &&
	    s[0] == '0' && s[1] == '0' && s[2] == '-' &&
	    hex_run(s + 3, 32, 1) && s[35] == '-' &&
	    hex_run(s + 36, 16, 1) && s[52] == '-' &&
	    hex_run(s + 53, 2, 0);
}

/* --- rules, shared by envelope_parse and envelope_check ----------------- */

/*
 * Every rule takes the value (NULL when it does not fit its buffer in
 * struct event) and the name it goes by in the reason.
 */

static int
rule_id_attr(const char *s, char *why, size_t whylen)
{
	if (!valid_uuid(s))
		return fail(why, whylen, "bad_attribute: id must be a UUID (8-4-4-4-12 hex digits)");
	return 0;
}

static int
rule_source(const char *s, char *why, size_t whylen)
{
	if (s == NULL || s[0] == '\0' || strlen(s) > SOURCE_MAX)
		return fail(why, whylen, "bad_attribute: source must be 1..%zu bytes",
		    SOURCE_MAX);
	return 0;
}

static int
rule_subject(const char *s, char *why, size_t whylen)
{
	if (!envelope_valid_id(s))
		return fail(why, whylen, "bad_attribute: subject must be an id "
		    "(1..%d chars of [A-Za-z0-9._:-])", ENVELOPE_ID_MAX);
	return 0;
}

static int
rule_time(const char *s, char *why, size_t whylen)
{
	if (!valid_time(s))
		return fail(why, whylen, "bad_attribute: time must be an RFC 3339 timestamp");
	return 0;
}

static int
rule_subject_matches(const struct event *ev, char *why, size_t whylen)
{
	if (strcmp(ev->subject, ev->order_id) != 0)
		return fail(why, whylen, "subject_mismatch: subject %s, data.order_id %s",
		    ev->subject, ev->order_id);
	return 0;
}

static int
rule_id(const char *what, const char *s, const char *const *values,
    char *why, size_t whylen)
{
	char list[ENVELOPE_WHY_MAX];
	size_t n = 0;

	if (!envelope_valid_id(s))
		return fail(why, whylen, "bad_field: %s must be 1..%d chars of "
		    "[A-Za-z0-9._:-]", what, ENVELOPE_ID_MAX);
	if (values == NULL)
		return 0;
	list[0] = '\0';
	for (const char *const *v = values; *v != NULL; v++) {
		if (strcmp(s, *v) == 0)
			return 0;
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s",
		    v == values ? "" : ", ", *v);
		if (n >= sizeof(list))
			n = sizeof(list) - 1;
	}
	return fail(why, whylen, "bad_field: %s must be one of %s", what, list);
}

static int
rule_cents(const char *what, int64_t v, char *why, size_t whylen)
{
	if (v < 0)
		return fail(why, whylen, "bad_field: %s must be >= 0", what);
	return 0;
}

static int
rule_quantity(const char *what, int64_t v, char *why, size_t whylen)
{
	if (v < 1 || v > ENVELOPE_MAX_QUANTITY)
		return fail(why, whylen, "bad_field: %s must be 1..%d", what,
		    ENVELOPE_MAX_QUANTITY);
	return 0;
}

static int
rule_n_items(const char *what, size_t n, char *why, size_t whylen)
{
	if (n < 1 || n > ENVELOPE_MAX_ITEMS)
		return fail(why, whylen, "bad_field: %s must hold 1..%d items",
		    what, ENVELOPE_MAX_ITEMS);
	return 0;
}

static int
rule_currency(const char *what, const char *s, char *why, size_t whylen)
{
	if (s == NULL || strlen(s) != 3 ||
	    s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' ||
	    s[2] < 'A' || s[2] > 'Z')
		return fail(why, whylen, "bad_field: %s must be 3 upper-case letters", what);
	return 0;
}

/* --- fields ------------------------------------------------------------- */

static char *
member(struct event *ev, const struct field *f)
{
	return (char *)ev + f->off;
}

static const char *
cmember(const struct event *ev, const struct field *f)
{
	return (const char *)ev + f->off;
}

static size_t
member_size(const struct field *f)
{
	return f->kind == F_CURRENCY ? sizeof(((struct event *)0)->currency) :
	    ENVELOPE_ID_MAX + 1;
}

static void
item_name(char *out, size_t outlen, size_t i, const char *member_name)
{
	snprintf(out, outlen, "data.items[%zu].%s", i, member_name);
}

/* The rules of field f on the values in ev. */
static int
field_check(const struct field *f, const struct event *ev, char *why, size_t whylen)
{
	char what[64];
	int64_t cents;
	const char *s;

	snprintf(what, sizeof(what), "data.%s", f->name);
	switch (f->kind) {
	case F_ID:
		s = cstr(cmember(ev, f), member_size(f));
		if (!f->required && s != NULL && s[0] == '\0')
			return 0;
		return rule_id(what, s, f->values, why, whylen);
	case F_CURRENCY:
		return rule_currency(what, cstr(cmember(ev, f), member_size(f)),
		    why, whylen);
	case F_CENTS:
		memcpy(&cents, cmember(ev, f), sizeof(cents));
		return rule_cents(what, cents, why, whylen);
	case F_ITEMS:
		if (rule_n_items(what, ev->n_items, why, whylen) < 0)
			return -1;
		for (size_t i = 0; i < ev->n_items; i++) {
			const struct event_item *it = &ev->items[i];

			item_name(what, sizeof(what), i, "sku");
			if (rule_id(what, cstr(it->sku, sizeof(it->sku)), NULL,
			    why, whylen) < 0)
				return -1;
			item_name(what, sizeof(what), i, "quantity");
			if (rule_quantity(what, it->quantity, why, whylen) < 0)
				return -1;
		}
		return 0;
	}
	return fail(why, whylen, "bad_field: %s has no rules", what);
}

/* v as a string without NUL bytes inside, or NULL. */
static const char *
json_str(struct json_object *v)
{
	const char *s;

	if (!json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	if (strlen(s) != (size_t)json_object_get_string_len(v))
		return NULL;
	return s;
}

/* v as a 64-bit integer: JSON integers only, not doubles or strings. */
static int
json_int(struct json_object *v, int64_t *out)
{
	if (!json_object_is_type(v, json_type_int))
		return -1;
	*out = json_object_get_int64(v);
	/* json-c clamps what does not fit in int64 */
	if (*out == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX)
		return -1;
	return 0;
}

static int
parse_items(struct json_object *v, struct event *ev, char *why, size_t whylen)
{
	char what[64];
	struct json_object *item, *m;
	const char *s;
	int64_t q;
	size_t n;

	if (!json_object_is_type(v, json_type_array))
		return fail(why, whylen, "bad_field: data.items must be an array");
	n = json_object_array_length(v);
	if (rule_n_items("data.items", n, why, whylen) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		item = json_object_array_get_idx(v, i);
		if (!json_object_is_type(item, json_type_object))
			return fail(why, whylen, "bad_field: data.items[%zu] must be an object", i);

		item_name(what, sizeof(what), i, "sku");
		if (!json_object_object_get_ex(item, "sku", &m))
			return fail(why, whylen, "missing_field: %s", what);
		if ((s = json_str(m)) == NULL)
			return fail(why, whylen, "bad_field: %s must be a string", what);
		if (rule_id(what, s, NULL, why, whylen) < 0)
			return -1;
		strlcpy_(ev->items[i].sku, s, sizeof(ev->items[i].sku));

		item_name(what, sizeof(what), i, "quantity");
		if (!json_object_object_get_ex(item, "quantity", &m))
			return fail(why, whylen, "missing_field: %s", what);
		if (json_int(m, &q) < 0)
			return fail(why, whylen, "bad_field: %s must be an integer", what);
		if (rule_quantity(what, q, why, whylen) < 0)
			return -1;
		ev->items[i].quantity = (int)q;
	}
	ev->n_items = n;
	return 0;
}

/* Field f from data into ev, by the same rules as field_check. */
static int
field_parse(const struct field *f, struct json_object *data, struct event *ev,
    char *why, size_t whylen)
{
	char what[64];
	struct json_object *v;
	const char *s;
	int64_t cents;

	snprintf(what, sizeof(what), "data.%s", f->name);
	if (!json_object_object_get_ex(data, f->name, &v)) {
		if (f->required)
			return fail(why, whylen, "missing_field: %s", what);
		return 0;
	}
	switch (f->kind) {
	case F_ID:
	case F_CURRENCY:
		if ((s = json_str(v)) == NULL)
			return fail(why, whylen, "bad_field: %s must be a string", what);
		if (f->kind == F_ID ? rule_id(what, s, f->values, why, whylen) :
		    rule_currency(what, s, why, whylen))
			return -1;
		strlcpy_(member(ev, f), s, member_size(f));
		return 0;
	case F_CENTS:
		if (json_int(v, &cents) < 0)
			return fail(why, whylen, "bad_field: %s must be a 64-bit integer", what);
		if (rule_cents(what, cents, why, whylen) < 0)
			return -1;
		memcpy(member(ev, f), &cents, sizeof(cents));
		return 0;
	case F_ITEMS:
		return parse_items(v, ev, why, whylen);
	}
	return fail(why, whylen, "bad_field: %s has no rules", what);
}

/* Abort like xmalloc when json-c could not allocate. */
static struct json_object *
must(struct json_object *o)
{
	if (o == NULL) {
		fprintf(stderr, "<2>fatal: out of memory building JSON\n");
		abort();
	}
	return o;
}

/* Add val under the constant key (each key added once). */
static void
add(struct json_object *obj, const char *key, struct json_object *val)
{
	if (json_object_object_add_ex(obj, key, must(val),
	    JSON_C_OBJECT_ADD_KEY_IS_NEW | JSON_C_OBJECT_KEY_IS_CONSTANT) != 0) {
		json_object_put(val);
		must(NULL);
	}
}

/* A string of at most size bytes from buf, NUL-terminated or not. */
static struct json_object *
jstr(const char *buf, size_t size)
{
	return json_object_new_string_len(buf, (int)strnlen(buf, size));
}

/* The items of ev as a JSON array of {"sku", "quantity"}. */
static struct json_object *
items_render(const struct event *ev)
{
	size_t n = ev->n_items < ENVELOPE_MAX_ITEMS ? ev->n_items : ENVELOPE_MAX_ITEMS;
	struct json_object *items = must(json_object_new_array_ext((int)n)), *item;

	for (size_t i = 0; i < n; i++) {
		item = must(json_object_new_object());
		add(item, "sku", jstr(ev->items[i].sku, sizeof(ev->items[i].sku)));
		add(item, "quantity", json_object_new_int(ev->items[i].quantity));
		if (json_object_array_add(items, item) != 0)
			must(NULL);
	}
	return items;
}

static void
field_render(const struct field *f, const struct event *ev, struct json_object *data)
{
	int64_t cents;

	switch (f->kind) {
	case F_ID:
	case F_CURRENCY:
		if (!f->required && cmember(ev, f)[0] == '\0')
			return;
		add(data, f->name, jstr(cmember(ev, f), member_size(f)));
		return;
	case F_CENTS:
		memcpy(&cents, cmember(ev, f), sizeof(cents));
		add(data, f->name, json_object_new_int64(cents));
		return;
	case F_ITEMS:
		add(data, f->name, items_render(ev));
		return;
	}
}

char *
envelope_items_json(const struct event *ev)
{
	struct json_object *items = items_render(ev);
	char *out = xstrdup(json_object_to_json_string_ext(items, JSON_C_TO_STRING_PLAIN));

	json_object_put(items);
	return out;
}

/* --- the syntax check --------------------------------------------------- */

struct scan {
	const unsigned char *start;
	const unsigned char *p;
	const unsigned char *end;
	const char *err;
	size_t members;		/* object members seen, at any depth */
};

static int scan_value(struct scan *sc, int depth);

static int
scan_fail(struct scan *sc, const char *err)
{
	sc->err = err;
	return -1;
}

static void
scan_ws(struct scan *sc)
{
	while (sc->p < sc->end && (*sc->p == ' ' || *sc->p == '\t' ||
	    *sc->p == '\n' || *sc->p == '\r'))
		sc->p++;
}

/* One multi-byte UTF-8 sequence (RFC 3629: no overlong forms, surrogates or code points past U+10FFFF). */
static int
scan_utf8(struct scan *sc)
{
	const unsigned char *p = sc->p;
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		if (p[0] == 0xe0)
			lo = 0xa0;
		else if (p[0] == 0xed)
			hi = 0x9f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		if (p[0] == 0xf0)
			lo = 0x90;
		else if (p[0] == 0xf4)
			hi = 0x8f;
	} else
		return scan_fail(sc, "invalid UTF-8");
	if ((size_t)(sc->end - p) < n || p[1] < lo || p[1] > hi)
		return scan_fail(sc, "invalid UTF-8");
	for (size_t i = 2; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return scan_fail(sc, "invalid UTF-8");
	sc->p += n;
	return 0;
}

int
envelope_valid_utf8(const void *buf, size_t len)
{
	struct scan sc = { buf, buf, (const unsigned char *)buf + len, NULL, 0 };

	while (sc.p < sc.end) {
		if (*sc.p < 0x80)
			sc.p++;
		else if (scan_utf8(&sc) != 0)
			return 0;
	}
	return 1;
}

/* The 4 hex digits of a \u escape, sc->p on the 'u'. */
static int
scan_u(struct scan *sc, unsigned *u)
{
	*u = 0;
	if (sc->end - sc->p < 5)
		return scan_fail(sc, "bad \\u escape");
	for (int i = 1; i <= 4; i++) {
		int c = sc->p[i];

		if (!is_hex(c, 0))
			return scan_fail(sc, "bad \\u escape");
		*u = *u * 16 + (unsigned)(is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	sc->p += 5;
	return 0;
}

static int
scan_string(struct scan *sc)
{
	unsigned u, lo;

	sc->p++;
	for (;;) {
		if (sc->p >= sc->end)
			return scan_fail(sc, "unterminated string");
		if (*sc->p == '"') {
			sc->p++;
			return 0;
		}
		if (*sc->p < 0x20)
			return scan_fail(sc, "control character in string");
		if (*sc->p >= 0x80) {
			if (scan_utf8(sc) < 0)
				return -1;
			continue;
		}
		if (*sc->p++ != '\\')
			continue;
		if (sc->p >= sc->end)
			return scan_fail(sc, "unterminated string");
		switch (*sc->p) {
		case '"': case '\\': case '/': case 'b':
		case 'f': case 'n': case 'r': case 't':
			sc->p++;
			break;
		case 'u':
			if (scan_u(sc, &u) < 0)
				return -1;
			if (u >= 0xdc00 && u <= 0xdfff)
				return scan_fail(sc, "lone surrogate escape");
			if (u < 0xd800 || u > 0xdbff)
				break;
			if (sc->end - sc->p < 2 || sc->p[0] != '\\' || sc->p[1] != 'u')
				return scan_fail(sc, "lone surrogate escape");
			sc->p++;
			if (scan_u(sc, &lo) < 0)
				return -1;
			if (lo < 0xdc00 || lo > 0xdfff)
				return scan_fail(sc, "lone surrogate escape");
			break;
		default:
			return scan_fail(sc, "bad escape");
		}
	}
}

static int
scan_digits(struct scan *sc)
{
	const unsigned char *p = sc->p;

	while (sc->p < sc->end && is_digit(*sc->p))
		sc->p++;
	return sc->p > p ? 0 : scan_fail(sc, "bad number");
}

static int
scan_number(struct scan *sc)
{
	if (*sc->p == '-')
		sc->p++;
	if (sc->p < sc->end && *sc->p == '0')
		sc->p++;
	else if (scan_digits(sc) < 0)
		return -1;
	if (sc->p < sc->end && *sc->p == '.') {
		sc->p++;
		if (scan_digits(sc) < 0)
			return -1;
	}
	if (sc->p < sc->end && (*sc->p == 'e' || *sc->p == 'E')) {
		sc->p++;
		if (sc->p < sc->end && (*sc->p == '+' || *sc->p == '-'))
			sc->p++;
		if (scan_digits(sc) < 0)
			return -1;
	}
	return 0;
}

static int
scan_literal(struct scan *sc, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(sc->end - sc->p) < n || memcmp(sc->p, word, n) != 0)
		return scan_fail(sc, "unexpected character");
	sc->p += n;
	return 0;
}

/* An object or array, sc->p on its opening bracket. */
static int
scan_container(struct scan *sc, int depth)
{
	int object = *sc->p == '{';
	unsigned char close = object ? '}' : ']';

	if (depth > JSON_TOKENER_DEFAULT_DEPTH)
		return scan_fail(sc, "nesting too deep");
	sc->p++;
	scan_ws(sc);
	if (sc->p < sc->end && *sc->p == close) {
		sc->p++;
		return 0;
	}
	for (;;) {
		if (object) {
			sc->members++;
			scan_ws(sc);
			if (sc->p >= sc->end || *sc->p != '"')
				return scan_fail(sc, "member name expected");
			if (scan_string(sc) < 0)
				return -1;
			scan_ws(sc);
			if (sc->p >= sc->end || *sc->p != ':')
				return scan_fail(sc, "':' expected");
			sc->p++;
		}
		if (scan_value(sc, depth) < 0)
			return -1;
		scan_ws(sc);
		if (sc->p < sc->end && *sc->p == ',') {
			sc->p++;
			continue;
		}
		if (sc->p < sc->end && *sc->p == close) {
			sc->p++;
			return 0;
		}
		return scan_fail(sc, object ? "',' or '}' expected" : "',' or ']' expected");
	}
}

static int
scan_value(struct scan *sc, int depth)
{
	scan_ws(sc);
	if (sc->p >= sc->end)
		return scan_fail(sc, "unexpected end");
	switch (*sc->p) {
	case '{':
	case '[':
		return scan_container(sc, depth + 1);
	case '"':
		return scan_string(sc);
	case 't':
		return scan_literal(sc, "true");
	case 'f':
		return scan_literal(sc, "false");
	case 'n':
		return scan_literal(sc, "null");
	default:
		if (*sc->p == '-' || is_digit(*sc->p))
			return scan_number(sc);
		return scan_fail(sc, "unexpected character");
	}
}

/*
 * 0 when body is one RFC 8259 JSON text in valid UTF-8; *members gets the
 * number of object members it holds, at any depth.
 */
static int
scan_json(const void *body, size_t len, size_t *members, char *why, size_t whylen)
{
	struct scan sc;

	if (body == NULL || len == 0)
		return fail(why, whylen, "invalid_json: empty body");
	sc.start = sc.p = body;
	sc.end = sc.start + len;
	sc.err = NULL;
	sc.members = 0;
	if (scan_value(&sc, 0) == 0) {
		scan_ws(&sc);
		if (sc.p != sc.end)
			scan_fail(&sc, "trailing characters");
	}
	if (sc.err != NULL)
		return fail(why, whylen, "invalid_json: %s at byte %zu", sc.err,
		    (size_t)(sc.p - sc.start));
	*members = sc.members;
	return 0;
}

/*
 * The members of the objects in the tree json-c built, at any depth. json-c
 * keeps the last of duplicate names, so fewer than the text holds means a
 * name repeats somewhere (the check compares names as json-c decoded them:
 * "id" and "\u0069d" are the same name).
 */
static size_t
tree_members(struct json_object *o)
{
	size_t n = 0;

	if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++)
			n += tree_members(json_object_array_get_idx(o, i));
	} else if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, key, v) {
			(void)key;
			n += 1 + tree_members(v);
		}
	}
	return n;
}

/* --- parse, check, render ----------------------------------------------- */

/* What a valid JSON value starting with c is, for not_an_object. */
static const char *
value_kind(char c)
{
	switch (c) {
	case '{':
		return "an object";
	case '[':
		return "an array";
	case '"':
		return "a string";
	case 't':
	case 'f':
		return "a boolean";
	case 'n':
		return "null";
	default:
		return "a number";
	}
}

/* The string attribute name: -1 with the reason when missing or not a string. */
static int
attr_string(struct json_object *root, const char *name, const char **s,
    char *why, size_t whylen)
{
	struct json_object *v;

	if (!json_object_object_get_ex(root, name, &v))
		return fail(why, whylen, "missing_attribute: %s", name);
	if ((*s = json_str(v)) == NULL)
		return fail(why, whylen, "bad_attribute: %s must be a string", name);
	return 0;
}

int
envelope_too_large(size_t len, char *why, size_t whylen)
{
	if (len > ENVELOPE_MAX_BYTES)
		return fail(why, whylen, "too_large: %zu bytes, at most %d", len,
		    ENVELOPE_MAX_BYTES);
	return 0;
}

/*
 * The JSON object body holds, read strictly: at most ENVELOPE_MAX_BYTES,
 * one RFC 8259 text in valid UTF-8 (nothing after it), an object, no name
 * twice in any object. NULL with the reason in why.
 */
static struct json_object *
parse_object(const void *body, size_t len, char *why, size_t whylen)
{
	struct json_tokener *tok;
	struct json_object *root;
	const char *start;
	size_t members = 0;

	if (envelope_too_large(len, why, whylen) < 0)
		return NULL;
	if (scan_json(body, len, &members, why, whylen) < 0)
		return NULL;
	/* decided here, since json-c waits for more after a top-level number */
	for (start = body; *start == ' ' || *start == '\t' || *start == '\n' ||
	    *start == '\r'; start++)
		;
	if (*start != '{') {
		fail(why, whylen, "not_an_object: the body is %s", value_kind(*start));
		return NULL;
	}

	if ((tok = json_tokener_new()) == NULL)
		must(NULL);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, body, (int)len);
	if (root == NULL || json_tokener_get_parse_end(tok) != len) {
		fail(why, whylen, "invalid_json: %s at byte %zu",
		    root == NULL ? json_tokener_error_desc(json_tokener_get_error(tok)) :
		    "trailing characters", json_tokener_get_parse_end(tok));
		goto fail;
	}
	if (!json_object_is_type(root, json_type_object)) {
		fail(why, whylen, "not_an_object: the body is %s",
		    json_type_to_name(json_object_get_type(root)));
		goto fail;
	}
	/* RFC 8259 leaves duplicate names to the reader: here they are poison */
	if (tree_members(root) != members) {
		fail(why, whylen, "invalid_json: duplicate member name");
		goto fail;
	}
	json_tokener_free(tok);
	return root;
fail:
	json_object_put(root);
	json_tokener_free(tok);
	return NULL;
}

/*
 * On failure ev keeps the attributes validated before the failing one (id
 * first, so a dead-letter log line can name the event) and is zero
 * otherwise.
 */
int
envelope_parse(const void *body, size_t len, struct event *ev, char *why, size_t whylen)
{
	struct json_object *root, *data, *v;
	const struct type_info *t;
	const char *s;
	char name[80];
	int rc = -1;

	memset(ev, 0, sizeof(*ev));
	if ((root = parse_object(body, len, why, whylen)) == NULL)
		return -1;

	/* attributes, in the order of the contract's example */
	if (attr_string(root, "specversion", &s, why, whylen) < 0)
		goto out;
	if (strcmp(s, "1.0") != 0) {
		fail(why, whylen, "bad_attribute: specversion must be \"1.0\"");
		goto out;
	}
	if (attr_string(root, "id", &s, why, whylen) < 0 ||
	    rule_id_attr(s, why, whylen) < 0)
		goto out;
	strlcpy_(ev->id, s, sizeof(ev->id));
	if (attr_string(root, "source", &s, why, whylen) < 0 ||
	    rule_source(s, why, whylen) < 0)
		goto out;
	strlcpy_(ev->source, s, sizeof(ev->source));
	if (attr_string(root, "type", &s, why, whylen) < 0)
		goto out;
	if ((t = type_info(event_type_from_name(s))) == NULL) {
		envelope_printable(name, sizeof(name), s);
		fail(why, whylen, "unknown_type: %s", name);
		goto out;
	}
	ev->type = (enum event_type)(t - types);
	if (attr_string(root, "subject", &s, why, whylen) < 0 ||
	    rule_subject(s, why, whylen) < 0)
		goto out;
	strlcpy_(ev->subject, s, sizeof(ev->subject));
	if (json_object_object_get_ex(root, "time", &v)) {
		if (attr_string(root, "time", &s, why, whylen) < 0 ||
		    rule_time(s, why, whylen) < 0)
			goto out;
		strlcpy_(ev->time, s, sizeof(ev->time));
	}
	if (json_object_object_get_ex(root, "datacontenttype", &v) &&
	    ((s = json_str(v)) == NULL || strcmp(s, "application/json") != 0)) {
		fail(why, whylen, "bad_attribute: datacontenttype must be \"application/json\"");
		goto out;
	}
	/* W3C trace context: an invalid traceparent is ignored, not an error */
	if (json_object_object_get_ex(root, "traceparent", &v) &&
	    envelope_valid_traceparent(s = json_str(v)))
		strlcpy_(ev->traceparent, s, sizeof(ev->traceparent));
	if (!json_object_object_get_ex(root, "data", &data)) {
		fail(why, whylen, "missing_attribute: data");
		goto out;
	}
	if (!json_object_is_type(data, json_type_object)) {
		fail(why, whylen, "bad_attribute: data must be an object");
		goto out;
	}

	/* data, by the type's table; unknown fields are left alone */
	for (const struct field *f = t->fields; f->name != NULL; f++)
		if (field_parse(f, data, ev, why, whylen) < 0)
			goto out;
	if (rule_subject_matches(ev, why, whylen) < 0)
		goto out;
	rc = 0;
out:
	json_object_put(root);
	return rc;
}

int
envelope_parse_data(enum event_type type, const void *body, size_t len, struct event *ev,
    char *why, size_t whylen)
{
	const struct type_info *t = type_info(type);
	struct json_object *data;
	int rc = -1;

	if (t == NULL)
		return fail(why, whylen, "unknown_type: %d", (int)type);
	if ((data = parse_object(body, len, why, whylen)) == NULL)
		return -1;
	json_object_object_foreach(data, key, val) {
		const struct field *f = t->fields;
		char name[80];

		(void)val;
		while (f->name != NULL && strcmp(f->name, key) != 0)
			f++;
		if (f->name == NULL) {
			envelope_printable(name, sizeof(name), key);
			fail(why, whylen, "bad_field: data.%s is not a field of %s", name, t->name);
			goto out;
		}
	}
	for (const struct field *f = t->fields; f->name != NULL; f++) {
		/* a field ev holds already is the caller's default */
		if (f->kind == F_ID && cmember(ev, f)[0] != '\0' &&
		    !json_object_object_get_ex(data, f->name, NULL))
			continue;
		if (field_parse(f, data, ev, why, whylen) < 0)
			goto out;
	}
	ev->type = type;
	rc = 0;
out:
	json_object_put(data);
	return rc;
}

/*
 * Besides the data, the attributes a body needs are checked too, so that
 * an event that passes renders to a body envelope_parse accepts. A
 * traceparent that is set must be valid (parsing drops an invalid one, so
 * a parsed event always passes).
 */
int
envelope_check(const struct event *ev, char *why, size_t whylen)
{
	const struct type_info *t = type_info(ev->type);
	const char *tp;

	if (t == NULL)
		return fail(why, whylen, "unknown_type: %d", (int)ev->type);
	if (rule_id_attr(cstr(ev->id, sizeof(ev->id)), why, whylen) < 0 ||
	    rule_source(cstr(ev->source, sizeof(ev->source)), why, whylen) < 0 ||
	    rule_subject(cstr(ev->subject, sizeof(ev->subject)), why, whylen) < 0)
		return -1;
	if (ev->time[0] != '\0' &&
	    rule_time(cstr(ev->time, sizeof(ev->time)), why, whylen) < 0)
		return -1;
	tp = cstr(ev->traceparent, sizeof(ev->traceparent));
	if (tp == NULL || (tp[0] != '\0' && !envelope_valid_traceparent(tp)))
		return fail(why, whylen, "bad_attribute: traceparent must be a W3C traceparent");
	for (const struct field *f = t->fields; f->name != NULL; f++)
		if (field_check(f, ev, why, whylen) < 0)
			return -1;
	return rule_subject_matches(ev, why, whylen);
}

/*
 * Renders what ev holds without judging it (envelope_check does that); an
 * unknown type gets no "type" and an empty data object.
 */
char *
envelope_render(const struct event *ev)
{
	const struct type_info *t = type_info(ev->type);
	struct json_object *root, *data;
	const char *s;
	char *out;

	root = must(json_object_new_object());
	add(root, "specversion", json_object_new_string("1.0"));
	add(root, "id", jstr(ev->id, sizeof(ev->id)));
	add(root, "source", jstr(ev->source, sizeof(ev->source)));
	if (t != NULL)
		add(root, "type", json_object_new_string(t->name));
	add(root, "subject", jstr(ev->subject, sizeof(ev->subject)));
	if (ev->time[0] != '\0')
		add(root, "time", jstr(ev->time, sizeof(ev->time)));
	add(root, "datacontenttype", json_object_new_string("application/json"));
	if (ev->traceparent[0] != '\0')
		add(root, "traceparent", jstr(ev->traceparent, sizeof(ev->traceparent)));
	data = must(json_object_new_object());
	for (const struct field *f = t != NULL ? t->fields : NULL; f != NULL &&
	    f->name != NULL; f++)
		field_render(f, ev, data);
	add(root, "data", data);

	s = json_object_to_json_string_ext(root,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s == NULL)
		must(NULL);
	out = xstrdup(s);
	json_object_put(root);
	return out;
}

/* --- ids, time, trace context ------------------------------------------- */

/* Fill buf from getrandom(2), or /dev/urandom where that is missing; abort when neither works. */
static void
random_bytes(void *buf, size_t len)
{
	unsigned char *p = buf;
	size_t got = 0;
	ssize_t n;
	int fd;

	while (got < len) {
		n = getrandom(p + got, len - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		got += (size_t)n;
	}
	if (got == len)
		return;
	if ((fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)) >= 0) {
		while (got < len) {
			n = read(fd, p + got, len - got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		close(fd);
	}
	if (got < len) {
		fprintf(stderr, "<2>fatal: no random bytes: %s\n", strerror(errno));
		abort();
	}
}

/* Random bytes, not all zero (W3C forbids all-zero trace and span ids). */
static void
random_nonzero(unsigned char *buf, size_t len)
{
	for (;;) {
		random_bytes(buf, len);
		for (size_t i = 0; i < len; i++)
			if (buf[i] != 0)
				return;
	}
}

static void
hex(char *out, const unsigned char *b, size_t n)
{
	static const char digit[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digit[b[i] >> 4];
		out[2 * i + 1] = digit[b[i] & 0xf];
	}
	out[2 * n] = '\0';
}

/* 16 random bytes with the version 4 and RFC 4122 variant bits set. */
void
envelope_new_uuid(char out[ENVELOPE_UUID_LEN + 1])
{
	static _Thread_local uint64_t last_ms;
	static _Thread_local unsigned seq;	/* 12 bits: ids of one ms in order */
	unsigned char b[16];
	struct timespec ts;
	uint64_t ms;
	char h[33];

	random_bytes(b, sizeof(b));
	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	if (ms <= last_ms && seq < 0xfff) {
		ms = last_ms;	/* the same ms (or the clock stepped back): count on */
		seq++;
	} else {
		if (ms <= last_ms)
			ms = last_ms + 1;	/* 4096 ids in one ms: borrow the next */
		seq = (unsigned)(b[6] & 0x07) << 8 | b[7];	/* random start, room to count */
	}
	last_ms = ms;
	for (int i = 0; i < 6; i++)
		b[i] = (unsigned char)(ms >> (40 - 8 * i));
	b[6] = (unsigned char)(0x70 | (seq >> 8));	/* version 7 */
	b[7] = (unsigned char)seq;
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);	/* variant RFC 4122 */
	hex(h, b, sizeof(b));
	snprintf(out, ENVELOPE_UUID_LEN + 1, "%.8s-%.4s-%.4s-%.4s-%.12s",
	    h, h + 8, h + 12, h + 16, h + 20);
}

/* CLOCK_REALTIME, truncated (not rounded) to the millisecond. */
void
envelope_now(char out[32])
{
	struct timespec ts;
	struct tm tm;
	char buf[24];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 32, "%s.%03dZ", buf, (int)(ts.tv_nsec / 1000000));
}

/* The new span id differs from the parent's, so a hop is never mistaken for its parent. */
void
envelope_child_traceparent(const char *parent, char out[ENVELOPE_TRACEPARENT_LEN + 1])
{
	unsigned char b[16];
	char trace[33], span[17], flags[3] = "01";

	if (envelope_valid_traceparent(parent)) {
		memcpy(trace, parent + 3, 32);
		trace[32] = '\0';
		memcpy(flags, parent + 53, 2);
	} else {
		random_nonzero(b, 16);
		hex(trace, b, 16);
		parent = NULL;
	}
	do {
		random_nonzero(b, 8);
		hex(span, b, 8);
	} while (parent != NULL && memcmp(span, parent + 36, 16) == 0);
	snprintf(out, ENVELOPE_TRACEPARENT_LEN + 1, "00-%s-%s-%s", trace, span, flags);
}
