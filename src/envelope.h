/*
 * envelope: the CloudEvents 1.0 envelope of every Chorus event (contract
 * section 3). Parsing validates a received body completely, so that the
 * handlers only ever see well-formed, typed events; rendering builds the body
 * of an event the service emits. One field table per event type drives both.
 */
#ifndef CHORUS_ENVELOPE_H
#define CHORUS_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#define ENVELOPE_MAX_BYTES 65536	/* largest body accepted (64 KiB) */
#define ENVELOPE_ID_MAX 64		/* ids: 1..64 chars of [A-Za-z0-9._:-] */
#define ENVELOPE_MAX_ITEMS 100
#define ENVELOPE_MAX_QUANTITY 10000
#define ENVELOPE_UUID_LEN 36
#define ENVELOPE_TRACEPARENT_LEN 55	/* "00-<32 hex>-<16 hex>-<2 hex>" */
#define ENVELOPE_WHY_MAX 256		/* room for a poison reason */

enum event_type {
	EV_UNKNOWN = 0,
	EV_ORDER_CREATED,
	EV_INVENTORY_RESERVED,
	EV_INVENTORY_RESERVATION_FAILED,
	EV_PAYMENT_COMPLETED,
	EV_PAYMENT_FAILED,
	EV_INVENTORY_RELEASED,
	EV_PAYMENT_REFUNDED,
	EV_ORDER_CONFIRMED,
	EV_ORDER_CANCELLED,
	EV__COUNT
};

struct event_item {
	char sku[ENVELOPE_ID_MAX + 1];
	int quantity;			/* 1..ENVELOPE_MAX_QUANTITY */
};

/*
 * One event, envelope and data. Only the data fields of its type are
 * meaningful (see the table in envelope.c); the others are zero/empty.
 */
struct event {
	enum event_type type;
	char id[ENVELOPE_UUID_LEN + 1];		/* UUID, lower or upper case as received */
	char source[256];
	char subject[ENVELOPE_ID_MAX + 1];	/* == order_id */
	char time[64];				/* RFC 3339, empty when absent */
	char traceparent[ENVELOPE_TRACEPARENT_LEN + 1];	/* empty when absent or invalid */

	/* data */
	char order_id[ENVELOPE_ID_MAX + 1];
	char customer_id[ENVELOPE_ID_MAX + 1];
	char reservation_id[ENVELOPE_ID_MAX + 1];
	char payment_id[ENVELOPE_ID_MAX + 1];
	char reason[ENVELOPE_ID_MAX + 1];
	char sku[ENVELOPE_ID_MAX + 1];		/* InventoryReservationFailed: item to blame, may be empty */
	char currency[4];
	int64_t total_cents;
	int64_t amount_cents;
	size_t n_items;
	struct event_item items[ENVELOPE_MAX_ITEMS];
};

/* "OrderCreated" for EV_ORDER_CREATED; NULL for EV_UNKNOWN or out of range. */
const char *event_type_name(enum event_type type);
/* EV_UNKNOWN when name is not a Chorus event type (exact, case-sensitive). */
enum event_type event_type_from_name(const char *name);
/* Routing key of the contract: "order.created" for EV_ORDER_CREATED. */
const char *event_type_routing_key(enum event_type type);
/* Exchange the type is published on: "chorus.order", "chorus.inventory" or "chorus.payment". */
const char *event_type_exchange(enum event_type type);

/*
 * Parse and validate a received body (any bytes, not NUL-terminated).
 * On success fills *ev and returns 0. On failure returns -1, *ev keeps the
 * attributes validated before the failure (id first, so a log line can name
 * the event) and the rest zeroed, and writes into
 * why (size whylen, always NUL-terminated) the reason, shaped
 * "<code>: <detail>", where code is one of
 *   too_large, invalid_json, not_an_object, missing_attribute, bad_attribute,
 *   unknown_type, subject_mismatch, missing_field, bad_field
 * e.g. "missing_field: data.items[2].sku" or "bad_field: data.currency must be 3 upper-case letters".
 * The first word (up to the colon) is stable, the detail is for humans.
 * An invalid traceparent is not an error: it is dropped (ev->traceparent
 * empty), as W3C trace context asks, and the consumer starts a new trace.
 */
int envelope_parse(const void *body, size_t len, struct event *ev, char *why, size_t whylen);
/*
 * The size check envelope_parse starts with, for a body that was never
 * copied (broker_set_max_body): -1 with the too_large reason in why when
 * len is over ENVELOPE_MAX_BYTES, else 0.
 */
int envelope_too_large(size_t len, char *why, size_t whylen);

/*
 * Parse body as the data of an event of this type (an API request's body,
 * e.g. OrderCreated's data), by the rules envelope_parse applies to data
 * and its strict JSON; besides, a member that is not a field of the type
 * is refused (bad_field). An id field the body lacks keeps the value ev
 * holds, when ev holds one: the caller's default (a generated order_id).
 * Fills ev's data fields and type; 0, or -1 with the reason in why as for
 * envelope_parse (field names as "data.<field>").
 */
int envelope_parse_data(enum event_type type, const void *body, size_t len, struct event *ev,
    char *why, size_t whylen);

/*
 * Check ev (attributes and data) against its type's rules (the same rules
 * as envelope_parse applies), for events built in memory. A non-empty
 * traceparent must be valid here, so that what passes renders to a body
 * envelope_parse accepts unchanged.
 * Returns 0, or -1 with the reason in why as for envelope_parse.
 */
int envelope_check(const struct event *ev, char *why, size_t whylen);

/*
 * Render ev as a CloudEvents structured-mode JSON body: specversion "1.0",
 * id, source, type, subject, time (when non-empty), datacontenttype
 * "application/json", traceparent (when non-empty) and data holding exactly
 * the fields of ev's type. Returns a malloc'ed NUL-terminated string the
 * caller frees; never NULL (aborts on out-of-memory).
 */
char *envelope_render(const struct event *ev);

/* ev's items as a JSON array text, [{"sku":"a","quantity":2}]; malloc'ed, caller frees. */
char *envelope_items_json(const struct event *ev);

/*
 * Fill out with a new UUID in lower case, version 7 (RFC 9562): 48 bits of
 * Unix time in milliseconds first, then a counter within the millisecond
 * and random bits. Ids made later sort later, so the primary keys they go
 * into (outbox, inboxes) grow at their right edge rather than at a random
 * index page each; unique as version 4 ones are (74 random bits a ms).
 */
void envelope_new_uuid(char out[ENVELOPE_UUID_LEN + 1]);
/* Fill out with the current UTC time as RFC 3339 with milliseconds: 2026-11-26T12:00:00.123Z */
void envelope_now(char out[32]);
/* true when the len bytes at buf are valid UTF-8 (no overlongs, surrogates or > U+10FFFF). */
int envelope_valid_utf8(const void *buf, size_t len);
/* s cut to 64 bytes of printable ASCII (others as '?'), fit for a reason; outlen > 0. */
void envelope_printable(char *out, size_t outlen, const char *s);
/* true when s is a valid id (1..64 chars of [A-Za-z0-9._:-]). */
int envelope_valid_id(const char *s);
/* true when s is a valid W3C traceparent (version 00, non-zero ids). */
int envelope_valid_traceparent(const char *s);
/*
 * Continue a trace: out gets parent's trace id with a new random span id
 * (flags kept). When parent is NULL, empty or invalid, a new trace is started
 * (random trace id and span id, flags 01).
 */
void envelope_child_traceparent(const char *parent, char out[ENVELOPE_TRACEPARENT_LEN + 1]);

#endif
