/*
 * The inventory service's state machine for one order's reservation: a pure
 * function of (state, input) giving the next state, the stock action the
 * worker performs, and the event to emit. Reserving can fail (stock), so an
 * OrderCreated first asks for INV_ACT_RESERVE; the worker tries it and
 * reports the outcome with inventory_machine_reserved(). No I/O here.
 */
#ifndef CHORUS_INVENTORY_MACHINE_H
#define CHORUS_INVENTORY_MACHINE_H

#include <stdbool.h>

#include "envelope.h"

enum inv_status {
	INV_NONE = 0,		/* nothing known of the order */
	INV_RESERVED,		/* all items held */
	INV_SOLD,		/* the order was confirmed: stock left for good */
	INV_RELEASED,		/* the hold was given back (compensation) */
	INV_FAILED,		/* reservation refused (out of stock, unknown SKU, cancelled) */
	INV_CANCELLED,		/* cancelled before its OrderCreated arrived */
	INV__STATUS_COUNT
};

enum inv_input {
	INV_IN_ORDER_CREATED = 0,
	INV_IN_ORDER_CONFIRMED,
	INV_IN_ORDER_CANCELLED,
	INV_IN_PAYMENT_FAILED,
	INV__INPUT_COUNT
};

enum inv_action {
	INV_ACT_NONE = 0,
	INV_ACT_RESERVE,	/* try to hold every item, atomically */
	INV_ACT_SELL,		/* held units leave stock: on_hand and reserved go down */
	INV_ACT_RELEASE,	/* held units are given back: reserved goes down */
};

struct inv_step {
	enum inv_status next;
	enum inv_action action;
	enum event_type emit;	/* EV_UNKNOWN: none (for RESERVE: decided by the outcome) */
	char reason[ENVELOPE_ID_MAX + 1];	/* reason of the emitted event */
};

/* The input an event type is, or -1 when inventory does not consume it. */
int inventory_input_of(enum event_type type);
const char *inventory_status_name(enum inv_status s);
enum inv_status inventory_status_from_name(const char *s);
/* One transition. */
void inventory_machine_step(enum inv_status cur, enum inv_input in, struct inv_step *out);
/*
 * The outcome of INV_ACT_RESERVE: ok, or the failure reason (out_of_stock,
 * unknown_sku). Fills out with RESERVED + InventoryReserved or FAILED +
 * InventoryReservationFailed.
 */
void inventory_machine_reserved(bool ok, const char *reason, struct inv_step *out);

#endif
