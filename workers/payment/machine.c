/*
 * The payment service's state machine (see machine.h).
 */
#include "config.h"

#include <string.h>

#include "machine.h"
#include "xmalloc.h"

static const char *const status_names[PAY__STATUS_COUNT] = {
	"NONE", "COMPLETED", "FAILED", "REFUNDED", "CANCELLED" };

int
payment_input_of(enum event_type type)
{
	switch (type) {
	case EV_INVENTORY_RESERVED: return PAY_IN_INVENTORY_RESERVED;
	case EV_ORDER_CANCELLED: return PAY_IN_ORDER_CANCELLED;
	default: return -1;
	}
}

const char *
payment_status_name(enum pay_status s)
{
	return s < PAY__STATUS_COUNT ? status_names[s] : "?";
}

enum pay_status
payment_status_from_name(const char *s)
{
	for (int i = 0; i < PAY__STATUS_COUNT; i++)
		if (strcmp(status_names[i], s) == 0)
			return (enum pay_status)i;
	return PAY__STATUS_COUNT;
}

static void
set(struct pay_step *out, enum pay_status next, enum pay_action act, enum event_type emit,
    const char *reason)
{
	out->next = next;
	out->action = act;
	out->emit = emit;
	strlcpy_(out->reason, reason, sizeof(out->reason));
}

void
payment_machine_step(enum pay_status cur, enum pay_input in, struct pay_step *out)
{
	memset(out, 0, sizeof(*out));
	set(out, cur, PAY_ACT_NONE, EV_UNKNOWN, "");

	switch (in) {
	case PAY_IN_INVENTORY_RESERVED:
		if (cur == PAY_NONE)
			set(out, cur, PAY_ACT_CHARGE, EV_UNKNOWN, "");
		else if (cur == PAY_CANCELLED)
			/* the order was cancelled first: never charge for it */
			set(out, PAY_FAILED, PAY_ACT_NONE, EV_PAYMENT_FAILED, "order_cancelled");
		/* otherwise a second reservation event: never charge twice */
		break;
	case PAY_IN_ORDER_CANCELLED:
		if (cur == PAY_COMPLETED)
			set(out, PAY_REFUNDED, PAY_ACT_REFUND, EV_PAYMENT_REFUNDED, "");
		else if (cur == PAY_NONE)
			set(out, PAY_CANCELLED, PAY_ACT_NONE, EV_UNKNOWN, "");
		break;
	default:
		break;
	}
}

void
payment_machine_charged(bool ok, const char *reason, struct pay_step *out)
{
	memset(out, 0, sizeof(*out));
	if (ok)
		set(out, PAY_COMPLETED, PAY_ACT_NONE, EV_PAYMENT_COMPLETED, "");
	else
		set(out, PAY_FAILED, PAY_ACT_NONE, EV_PAYMENT_FAILED, reason ? reason : "");
}
