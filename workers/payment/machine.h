/*
 * The payment service's state machine for one order's payment: a pure
 * function of (state, input) giving the next state, the money action the
 * worker performs and the event to emit. Charging can be refused, so an
 * InventoryReserved first asks for PAY_ACT_CHARGE; the worker tries it and
 * reports with payment_machine_charged(). No I/O here.
 */
#ifndef CHORUS_PAYMENT_MACHINE_H
#define CHORUS_PAYMENT_MACHINE_H

#include <stdbool.h>

#include "envelope.h"

enum pay_status {
	PAY_NONE = 0,		/* nothing known of the order */
	PAY_COMPLETED,		/* charged */
	PAY_FAILED,		/* charge refused (never retried: one charge per order) */
	PAY_REFUNDED,		/* charged, then given back (compensation) */
	PAY_CANCELLED,		/* cancelled before its InventoryReserved arrived */
	PAY__STATUS_COUNT
};

enum pay_input {
	PAY_IN_INVENTORY_RESERVED = 0,
	PAY_IN_ORDER_CANCELLED,
	PAY__INPUT_COUNT
};

enum pay_action {
	PAY_ACT_NONE = 0,
	PAY_ACT_CHARGE,		/* take the total from the customer's account */
	PAY_ACT_REFUND,		/* give the charged amount back */
};

struct pay_step {
	enum pay_status next;
	enum pay_action action;
	enum event_type emit;	/* EV_UNKNOWN: none (for CHARGE: decided by the outcome) */
	char reason[ENVELOPE_ID_MAX + 1];
};

int payment_input_of(enum event_type type);
const char *payment_status_name(enum pay_status s);
enum pay_status payment_status_from_name(const char *s);
void payment_machine_step(enum pay_status cur, enum pay_input in, struct pay_step *out);
/*
 * The outcome of PAY_ACT_CHARGE: ok, or the refusal reason
 * (insufficient_funds, unknown_customer, currency_mismatch).
 */
void payment_machine_charged(bool ok, const char *reason, struct pay_step *out);

#endif
