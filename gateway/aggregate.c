/*
 * aggregate: the merged view of an order (see aggregate.h). The parts'
 * bodies are checked with json-c and copied into the answer as they came,
 * not parsed and rendered again.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "aggregate.h"
#include "xmalloc.h"

static const char *const part_names[PART__COUNT] = { "order", "inventory", "payment" };
static const char *const error_names[] = { "ok", "timeout", "unavailable", "circuit_open",
	"bad_response", "not_found" };

const char *
part_name(enum part_id p)
{
	return p < PART__COUNT ? part_names[p] : "?";
}

const char *
part_error_name(enum part_error e)
{
	return e <= PART_NOT_FOUND ? error_names[e] : "?";
}

struct json_object *
aggregate_parse_object(const char *body, size_t len)
{
	struct json_tokener *tok;
	struct json_object *o;
	size_t end;

	if (body == NULL || len == 0 || len > INT32_MAX)
		return NULL;
	tok = json_tokener_new();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, body, (int)len);
	end = tok->char_offset;
	while (o != NULL && end < len && strchr(" \t\r\n", body[end]) != NULL)
		end++;
	if (o != NULL && (json_tokener_get_error(tok) != json_tokener_success || end != len ||
	    !json_object_is_type(o, json_type_object))) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

enum part_error
part_classify(long status, const char *body, size_t len)
{
	struct json_object *o;

	if (status == 404)
		return PART_NOT_FOUND;
	if (status >= 500 && status <= 599)
		return PART_UNAVAILABLE;
	if (status != 200)
		return PART_BAD_RESPONSE;
	o = aggregate_parse_object(body, len);
	if (o == NULL)
		return PART_BAD_RESPONSE;
	json_object_put(o);
	return PART_OK;
}

bool
aggregate_final(const char *status)
{
	return strcmp(status, "CONFIRMED") == 0 || strcmp(status, "CANCELLED") == 0;
}

/* A problem+json answer (RFC 9457) about the order part. */
static void
problem(struct aggregate *out, unsigned status, const char *title, const char *id,
    const char *reason, const char *detail)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "type", json_object_new_string(
	    status == 404 ? "urn:chorus:problem:not_found" : "urn:chorus:problem:upstream"));
	json_object_object_add(o, "title", json_object_new_string(title));
	json_object_object_add(o, "status", json_object_new_int((int)status));
	json_object_object_add(o, "detail", json_object_new_string(detail));
	json_object_object_add(o, "order_id", json_object_new_string(id));
	if (reason != NULL) {
		struct json_object *e = json_object_new_object();

		json_object_object_add(e, "order", json_object_new_string(reason));
		json_object_object_add(o, "errors", e);
	}
	out->status = status;
	out->content_type = "application/problem+json";
	out->body = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

/* Append s (n bytes) to the growing buffer *b of *len bytes, capacity *cap. */
static void
append(char **b, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (n == 0 && *b != NULL)
		return;
	if (*len + n + 1 > *cap) {
		while (*len + n + 1 > *cap)
			*cap = *cap ? *cap * 2 : 1024;
		*b = xrealloc(*b, *cap);
	}
	if (n > 0)
		memcpy(*b + *len, s, n);
	*len += n;
	(*b)[*len] = '\0';
}

#define APPEND(s) append(&buf, &len, &cap, (s), strlen(s))

void
aggregate_build(const struct part *parts, const char *id, struct aggregate *out)
{
	const struct part *order = &parts[PART_ORDER];
	struct json_object *o = NULL, *st;
	char *buf = NULL, detail[160];
	size_t len = 0, cap = 0;
	bool ok[PART__COUNT];
	bool first = true;

	memset(out, 0, sizeof(*out));
	if (order->err == PART_OK)
		o = aggregate_parse_object(order->body, order->len);
	if (o == NULL) {
		enum part_error e = order->err == PART_OK ? PART_BAD_RESPONSE : order->err;

		if (e == PART_NOT_FOUND) {
			snprintf(detail, sizeof(detail), "no order %s", id);
			problem(out, 404, "Not Found", id, NULL, detail);
			return;
		}
		snprintf(detail, sizeof(detail), "the order service: %s", part_error_name(e));
		if (order->refused) {
			problem(out, 503, "Service Unavailable", id, part_error_name(e), detail);
			out->retry_after = true;
		} else if (e == PART_TIMEOUT)
			problem(out, 504, "Gateway Timeout", id, part_error_name(e), detail);
		else
			problem(out, 502, "Bad Gateway", id, part_error_name(e), detail);
		return;
	}
	if (json_object_object_get_ex(o, "status", &st) && json_object_is_type(st, json_type_string))
		snprintf(out->order_status, sizeof(out->order_status), "%s", json_object_get_string(st));
	json_object_put(o);

	out->complete = true;
	for (int p = 0; p < PART__COUNT; p++) {
		ok[p] = parts[p].err == PART_OK;
		out->complete = out->complete && ok[p];
	}
	APPEND("{");
	for (int p = 0; p < PART__COUNT; p++) {
		APPEND("\"");
		APPEND(part_names[p]);
		APPEND("\":");
		if (ok[p])
			append(&buf, &len, &cap, parts[p].body, parts[p].len);
		else
			APPEND("null");
		APPEND(",");
	}
	APPEND(out->complete ? "\"complete\":true,\"errors\":{" : "\"complete\":false,\"errors\":{");
	for (int p = 0; p < PART__COUNT; p++) {
		enum part_error e = parts[p].err == PART_OK ? PART_BAD_RESPONSE : parts[p].err;

		if (ok[p])
			continue;
		if (!first)
			APPEND(",");
		first = false;
		APPEND("\"");
		APPEND(part_names[p]);
		APPEND("\":\"");
		APPEND(part_error_name(e));
		APPEND("\"");
	}
	APPEND("}}");
	out->status = 200;
	out->content_type = "application/json";
	out->body = buf;
}
