/*
 * The order service's saga state machine: a pure function of (state of one
 * order, input) giving the next state and the event to emit. No I/O; the
 * worker (order.c) loads and stores the state. docs/state-machines.md
 * holds its transition table; tests/unit/test_order_machine.c checks every
 * transition.
 */
#ifndef CHORUS_ORDER_MACHINE_H
#define CHORUS_ORDER_MACHINE_H

#include <stdbool.h>

#include "envelope.h"

enum order_status {
	ORDER_NONE = 0,		/* nothing known of the order */
	ORDER_AWAITING,		/* outcome events arrived before its OrderCreated */
	ORDER_PENDING,		/* created, saga running */
	ORDER_CONFIRMED,
	ORDER_CANCELLED,
	ORDER__STATUS_COUNT
};

/* What arrived before OrderCreated (kept in AWAITING, applied on OrderCreated). */
enum order_early { EARLY_NONE = 0, EARLY_PAID, EARLY_FAILED };

enum order_input {
	ORDER_IN_CREATED = 0,		/* OrderCreated */
	ORDER_IN_PAYMENT_COMPLETED,
	ORDER_IN_RESERVATION_FAILED,	/* InventoryReservationFailed */
	ORDER_IN_PAYMENT_FAILED,
	ORDER_IN_INVENTORY_RELEASED,
	ORDER_IN_PAYMENT_REFUNDED,
	ORDER_IN_DEADLINE,		/* the saga deadline passed, PENDING or AWAITING (the sweeper) */
	ORDER__INPUT_COUNT
};

struct order_state {
	enum order_status status;
	enum order_early early;
	char reason[ENVELOPE_ID_MAX + 1];	/* cancel reason, or early failure reason */
	bool released;				/* InventoryReleased seen */
	bool refunded;				/* PaymentRefunded seen */
};

struct order_step {
	struct order_state next;
	enum event_type emit;		/* EV_ORDER_CONFIRMED, EV_ORDER_CANCELLED or EV_UNKNOWN (none) */
	bool record_created;		/* store the OrderCreated data, start the deadline clock */
	bool changed;			/* next differs from the current state */
};

/* The input an event type is, or -1 when the order service does not consume it. */
int order_input_of(enum event_type type);
const char *order_status_name(enum order_status s);
/* ORDER__STATUS_COUNT when unknown. */
enum order_status order_status_from_name(const char *s);
/*
 * One transition. reason is the input event's reason (failures), ignored for
 * other inputs; NULL is taken as "".
 */
void order_machine_step(const struct order_state *cur, enum order_input in, const char *reason,
    struct order_step *out);

#endif
