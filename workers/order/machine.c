/*
 * The order service's state machine (see machine.h). One switch per status:
 * every (status, input) pair is handled explicitly; what is not a change is
 * a duplicate, a late or an out-of-order event, and is ignored.
 */
#include "config.h"

#include <string.h>

#include "machine.h"
#include "xmalloc.h"

static const char *const status_names[ORDER__STATUS_COUNT] = {
	"NONE", "AWAITING", "PENDING", "CONFIRMED", "CANCELLED" };

int
order_input_of(enum event_type type)
{
	switch (type) {
	case EV_ORDER_CREATED: return ORDER_IN_CREATED;
	case EV_PAYMENT_COMPLETED: return ORDER_IN_PAYMENT_COMPLETED;
	case EV_INVENTORY_RESERVATION_FAILED: return ORDER_IN_RESERVATION_FAILED;
	case EV_PAYMENT_FAILED: return ORDER_IN_PAYMENT_FAILED;
	case EV_INVENTORY_RELEASED: return ORDER_IN_INVENTORY_RELEASED;
	case EV_PAYMENT_REFUNDED: return ORDER_IN_PAYMENT_REFUNDED;
	default: return -1;
	}
}

const char *
order_status_name(enum order_status s)
{
	return s < ORDER__STATUS_COUNT ? status_names[s] : "?";
}

enum order_status
order_status_from_name(const char *s)
{
	for (int i = 0; i < ORDER__STATUS_COUNT; i++)
		if (strcmp(status_names[i], s) == 0)
			return (enum order_status)i;
	return ORDER__STATUS_COUNT;
}

static void
cancel(struct order_step *out, const char *reason)
{
	out->next.status = ORDER_CANCELLED;
	strlcpy_(out->next.reason, reason, sizeof(out->next.reason));
	out->emit = EV_ORDER_CANCELLED;
}

void
order_machine_step(const struct order_state *cur, enum order_input in, const char *reason,
    struct order_step *out)
{
	memset(out, 0, sizeof(*out));
	out->next = *cur;
	out->emit = EV_UNKNOWN;
	if (reason == NULL)
		reason = "";

	/* compensation records: kept in every state, never a status change */
	if (in == ORDER_IN_INVENTORY_RELEASED || in == ORDER_IN_PAYMENT_REFUNDED) {
		if (cur->status == ORDER_NONE)
			out->next.status = ORDER_AWAITING;
		if (in == ORDER_IN_INVENTORY_RELEASED)
			out->next.released = true;
		else
			out->next.refunded = true;
		goto done;
	}

	switch (cur->status) {
	case ORDER_NONE:
	case ORDER_AWAITING:
		switch (in) {
		case ORDER_IN_CREATED:
			out->record_created = true;
			if (cur->early == EARLY_PAID) {
				out->next.status = ORDER_CONFIRMED;
				out->emit = EV_ORDER_CONFIRMED;
			} else if (cur->early == EARLY_FAILED) {
				cancel(out, cur->reason);
			} else {
				out->next.status = ORDER_PENDING;
			}
			out->next.early = EARLY_NONE;
			break;
		case ORDER_IN_PAYMENT_COMPLETED:
			/* a failure seen first wins: the saga already failed */
			out->next.status = ORDER_AWAITING;
			if (cur->early == EARLY_NONE)
				out->next.early = EARLY_PAID;
			break;
		case ORDER_IN_RESERVATION_FAILED:
		case ORDER_IN_PAYMENT_FAILED:
			out->next.status = ORDER_AWAITING;
			if (cur->early == EARLY_NONE) {
				out->next.early = EARLY_FAILED;
				strlcpy_(out->next.reason, reason, sizeof(out->next.reason));
			}
			break;
		case ORDER_IN_DEADLINE:
			/*
			 * Its OrderCreated never came: the order is given up. A
			 * failure seen is its reason; a payment seen is refunded
			 * on the OrderCancelled. Nothing is known of a NONE order.
			 */
			if (cur->status != ORDER_AWAITING)
				break;
			cancel(out, cur->early == EARLY_FAILED ? cur->reason : "timeout");
			out->next.early = EARLY_NONE;
			break;
		default:
			break;
		}
		break;
	case ORDER_PENDING:
		switch (in) {
		case ORDER_IN_PAYMENT_COMPLETED:
			out->next.status = ORDER_CONFIRMED;
			out->emit = EV_ORDER_CONFIRMED;
			break;
		case ORDER_IN_RESERVATION_FAILED:
		case ORDER_IN_PAYMENT_FAILED:
			cancel(out, reason);
			break;
		case ORDER_IN_DEADLINE:
			cancel(out, "timeout");
			break;
		default:	/* a second OrderCreated has no effect */
			break;
		}
		break;
	case ORDER_CONFIRMED:
	case ORDER_CANCELLED:
	default:
		/* terminal: late events change nothing (compensations run elsewhere) */
		break;
	}
done:
	out->changed = out->record_created || out->next.status != cur->status ||
	    out->next.early != cur->early || strcmp(out->next.reason, cur->reason) != 0 ||
	    out->next.released != cur->released || out->next.refunded != cur->refunded;
}
