/*
 * The inventory service's state machine (see machine.h).
 */
#include "config.h"

#include <string.h>

#include "machine.h"
#include "xmalloc.h"

static const char *const status_names[INV__STATUS_COUNT] = {
	"NONE", "RESERVED", "SOLD", "RELEASED", "FAILED", "CANCELLED" };

int
inventory_input_of(enum event_type type)
{
	switch (type) {
	case EV_ORDER_CREATED: return INV_IN_ORDER_CREATED;
	case EV_ORDER_CONFIRMED: return INV_IN_ORDER_CONFIRMED;
	case EV_ORDER_CANCELLED: return INV_IN_ORDER_CANCELLED;
	case EV_PAYMENT_FAILED: return INV_IN_PAYMENT_FAILED;
	default: return -1;
	}
}

const char *
inventory_status_name(enum inv_status s)
{
	return s < INV__STATUS_COUNT ? status_names[s] : "?";
}

enum inv_status
inventory_status_from_name(const char *s)
{
	for (int i = 0; i < INV__STATUS_COUNT; i++)
		if (strcmp(status_names[i], s) == 0)
			return (enum inv_status)i;
	return INV__STATUS_COUNT;
}

static void
set(struct inv_step *out, enum inv_status next, enum inv_action act, enum event_type emit,
    const char *reason)
{
	out->next = next;
	out->action = act;
	out->emit = emit;
	strlcpy_(out->reason, reason, sizeof(out->reason));
}

void
inventory_machine_step(enum inv_status cur, enum inv_input in, struct inv_step *out)
{
	memset(out, 0, sizeof(*out));
	set(out, cur, INV_ACT_NONE, EV_UNKNOWN, "");

	switch (in) {
	case INV_IN_ORDER_CREATED:
		if (cur == INV_NONE)
			set(out, cur, INV_ACT_RESERVE, EV_UNKNOWN, "");
		else if (cur == INV_CANCELLED)
			/* the order was cancelled before we saw it: never hold stock for it */
			set(out, INV_FAILED, INV_ACT_NONE, EV_INVENTORY_RESERVATION_FAILED,
			    "order_cancelled");
		/* otherwise a duplicate OrderCreated: no effect */
		break;
	case INV_IN_ORDER_CONFIRMED:
		if (cur == INV_RESERVED)
			set(out, INV_SOLD, INV_ACT_SELL, EV_UNKNOWN, "");
		break;
	case INV_IN_ORDER_CANCELLED:
	case INV_IN_PAYMENT_FAILED: {
		const char *why = in == INV_IN_ORDER_CANCELLED ? "order_cancelled" : "payment_failed";

		if (cur == INV_RESERVED)
			set(out, INV_RELEASED, INV_ACT_RELEASE, EV_INVENTORY_RELEASED, why);
		else if (cur == INV_NONE)
			set(out, INV_CANCELLED, INV_ACT_NONE, EV_UNKNOWN, why);
		break;
	}
	default:
		break;
	}
}

void
inventory_machine_reserved(bool ok, const char *reason, struct inv_step *out)
{
	memset(out, 0, sizeof(*out));
	if (ok)
		set(out, INV_RESERVED, INV_ACT_NONE, EV_INVENTORY_RESERVED, "");
	else
		set(out, INV_FAILED, INV_ACT_NONE, EV_INVENTORY_RESERVATION_FAILED,
		    reason ? reason : "");
}
