/*
 * aggregate: what the gateway answers for GET /api/v1/orders/{id} (contract
 * section 7), from what the three upstream calls gave. Pure: no I/O, so
 * every combination of outcomes is unit-tested.
 *
 *   the order part   200 with an object: the answer is 200; 404: the answer
 *                    is 404; refused without a try (breaker open, bulkhead
 *                    full, no healthy instance): 503 + Retry-After; timed
 *                    out: 504; anything else: 502. A problem+json body
 *                    names the reason.
 *   the other parts  an object when they answered 200 with one, else null
 *                    and their reason under "errors"; "complete" is true
 *                    when all three answered.
 */
#ifndef CHORUS_GATEWAY_AGGREGATE_H
#define CHORUS_GATEWAY_AGGREGATE_H

#include <stdbool.h>
#include <stddef.h>

struct json_object;

enum part_id { PART_ORDER = 0, PART_INVENTORY, PART_PAYMENT, PART__COUNT };

/* Why a part failed: the contract's reasons. */
enum part_error {
	PART_OK = 0,
	PART_TIMEOUT,		/* connect or total timeout */
	PART_UNAVAILABLE,	/* no healthy instance, bulkhead full, refused connection, 5xx */
	PART_CIRCUIT_OPEN,	/* the upstream's breaker is open */
	PART_BAD_RESPONSE,	/* an answer that is not what the API promises */
	PART_NOT_FOUND,		/* 404 */
};

/* One upstream call's outcome, as the aggregation sees it. */
struct part {
	enum part_error err;
	bool refused;		/* not tried at all (breaker, bulkhead, no instance) */
	long status;		/* HTTP status when an answer came, else 0 */
	const char *body;	/* the answer's body (NUL-terminated), or NULL */
	size_t len;
};

/* The answer: status, body (malloc'ed, caller frees), content type, headers. */
struct aggregate {
	unsigned status;
	char *body;
	const char *content_type;
	bool complete;
	bool retry_after;	/* add Retry-After */
	char order_status[16];	/* the order's status when the order part answered, else "" */
};

/* "order", "inventory", "payment". */
const char *part_name(enum part_id p);
/* "timeout", "unavailable", ... (the contract's words). */
const char *part_error_name(enum part_error e);
/*
 * Classify an answer that came: 200 with a JSON object is PART_OK, 404 is
 * PART_NOT_FOUND, 5xx PART_UNAVAILABLE, anything else PART_BAD_RESPONSE.
 */
enum part_error part_classify(long status, const char *body, size_t len);
/*
 * body (len bytes) as one JSON object, parsed strictly (RFC 8259: no
 * comments, no trailing commas, nothing after it but white space); a new
 * reference (json_object_put it), or NULL.
 */
struct json_object *aggregate_parse_object(const char *body, size_t len);
/* Build the answer for order id from parts[PART__COUNT]. */
void aggregate_build(const struct part *parts, const char *id, struct aggregate *out);
/* true when status is one an order stays in (CONFIRMED, CANCELLED). */
bool aggregate_final(const char *status);

#endif
