/*
 * Unit tests of the inventory service's state machine
 * (workers/inventory/machine.c): one table row per (status, input) pair,
 * the outcomes of a reservation attempt, the event mapping and the status
 * names; then every input sequence up to six events long, run as the worker
 * would (a RESERVE action resolved by a stock outcome), checked against the
 * contract: one reservation attempt at most, nothing left held once the
 * order was cancelled or its payment failed, one answer per OrderCreated.
 */
#include "config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "machine.h"
#include "xmalloc.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Event names, local so the test does not need envelope.c. */
static const char *const ev_names[EV__COUNT] = {
	"(none)", "OrderCreated", "InventoryReserved", "InventoryReservationFailed",
	"PaymentCompleted", "PaymentFailed", "InventoryReleased", "PaymentRefunded",
	"OrderConfirmed", "OrderCancelled"
};

static const char *const in_names[INV__INPUT_COUNT] = {
	"ORDER_CREATED", "ORDER_CONFIRMED", "ORDER_CANCELLED", "PAYMENT_FAILED"
};

static const char *const act_names[] = { "NONE", "RESERVE", "SELL", "RELEASE" };

static const char *
ev_name(enum event_type t)
{
	return (unsigned)t < EV__COUNT ? ev_names[t] : "?";
}

#define C INV_IN_ORDER_CREATED
#define CONF INV_IN_ORDER_CONFIRMED
#define CANC INV_IN_ORDER_CANCELLED
#define PF INV_IN_PAYMENT_FAILED
#define NOEV EV_UNKNOWN

struct row {
	enum inv_status cur;
	enum inv_input in;
	enum inv_status next;
	enum inv_action action;
	enum event_type emit;
	const char *reason;
};

/* Every (status, input) pair: 6 statuses x 4 inputs. */
static const struct row rows[] = {
	{ INV_NONE, C,    INV_NONE, INV_ACT_RESERVE, NOEV, "" },
	{ INV_NONE, CONF, INV_NONE, INV_ACT_NONE, NOEV, "" },
	{ INV_NONE, CANC, INV_CANCELLED, INV_ACT_NONE, NOEV, "order_cancelled" },
	{ INV_NONE, PF,   INV_CANCELLED, INV_ACT_NONE, NOEV, "payment_failed" },

	{ INV_RESERVED, C,    INV_RESERVED, INV_ACT_NONE, NOEV, "" },
	{ INV_RESERVED, CONF, INV_SOLD, INV_ACT_SELL, NOEV, "" },
	{ INV_RESERVED, CANC, INV_RELEASED, INV_ACT_RELEASE, EV_INVENTORY_RELEASED, "order_cancelled" },
	{ INV_RESERVED, PF,   INV_RELEASED, INV_ACT_RELEASE, EV_INVENTORY_RELEASED, "payment_failed" },

	{ INV_SOLD, C,    INV_SOLD, INV_ACT_NONE, NOEV, "" },
	{ INV_SOLD, CONF, INV_SOLD, INV_ACT_NONE, NOEV, "" },
	{ INV_SOLD, CANC, INV_SOLD, INV_ACT_NONE, NOEV, "" },
	{ INV_SOLD, PF,   INV_SOLD, INV_ACT_NONE, NOEV, "" },

	{ INV_RELEASED, C,    INV_RELEASED, INV_ACT_NONE, NOEV, "" },
	{ INV_RELEASED, CONF, INV_RELEASED, INV_ACT_NONE, NOEV, "" },
	{ INV_RELEASED, CANC, INV_RELEASED, INV_ACT_NONE, NOEV, "" },
	{ INV_RELEASED, PF,   INV_RELEASED, INV_ACT_NONE, NOEV, "" },

	{ INV_FAILED, C,    INV_FAILED, INV_ACT_NONE, NOEV, "" },
	{ INV_FAILED, CONF, INV_FAILED, INV_ACT_NONE, NOEV, "" },
	{ INV_FAILED, CANC, INV_FAILED, INV_ACT_NONE, NOEV, "" },
	{ INV_FAILED, PF,   INV_FAILED, INV_ACT_NONE, NOEV, "" },

	{ INV_CANCELLED, C,    INV_FAILED, INV_ACT_NONE, EV_INVENTORY_RESERVATION_FAILED, "order_cancelled" },
	{ INV_CANCELLED, CONF, INV_CANCELLED, INV_ACT_NONE, NOEV, "" },
	{ INV_CANCELLED, CANC, INV_CANCELLED, INV_ACT_NONE, NOEV, "" },
	{ INV_CANCELLED, PF,   INV_CANCELLED, INV_ACT_NONE, NOEV, "" },
};

static void
check_step(const char *what, const struct inv_step *got, enum inv_status next,
    enum inv_action action, enum event_type emit, const char *reason)
{
	if (got->next != next)
		fail_msg("%s: next: got %s, want %s", what, inventory_status_name(got->next),
		    inventory_status_name(next));
	if (got->action != action)
		fail_msg("%s: action: got %s, want %s", what, act_names[got->action],
		    act_names[action]);
	if (got->emit != emit)
		fail_msg("%s: emit: got %s, want %s", what, ev_name(got->emit), ev_name(emit));
	if (strcmp(got->reason, reason) != 0)
		fail_msg("%s: reason: got \"%s\", want \"%s\"", what, got->reason, reason);
}

static void
test_transition_table(void **unused)
{
	int seen[INV__STATUS_COUNT][INV__INPUT_COUNT];

	(void)unused;
	memset(seen, 0, sizeof(seen));
	for (size_t i = 0; i < NELEM(rows); i++) {
		const struct row *r = &rows[i];
		struct inv_step step;
		char what[96];

		snprintf(what, sizeof(what), "row %zu (%s + %s)", i,
		    inventory_status_name(r->cur), in_names[r->in]);
		inventory_machine_step(r->cur, r->in, &step);
		check_step(what, &step, r->next, r->action, r->emit, r->reason);
		seen[r->cur][r->in]++;
	}
	/* the table covers every pair exactly once */
	for (int s = 0; s < INV__STATUS_COUNT; s++)
		for (int in = 0; in < INV__INPUT_COUNT; in++)
			if (seen[s][in] != 1)
				fail_msg("pair (%s + %s): got %d rows, want 1",
				    inventory_status_name((enum inv_status)s), in_names[in],
				    seen[s][in]);
}

/* The same input twice in a row: the second delivery does nothing. */
static void
test_repeat_is_noop(void **unused)
{
	(void)unused;
	for (int s = 0; s < INV__STATUS_COUNT; s++)
		for (int in = 0; in < INV__INPUT_COUNT; in++) {
			struct inv_step first, second;
			enum inv_status after;
			char what[96];

			inventory_machine_step((enum inv_status)s, (enum inv_input)in, &first);
			after = first.next;
			/* a RESERVE is resolved by the worker before the next delivery */
			if (first.action == INV_ACT_RESERVE)
				after = INV_RESERVED;
			inventory_machine_step(after, (enum inv_input)in, &second);
			snprintf(what, sizeof(what), "(%s + %s) repeated",
			    inventory_status_name((enum inv_status)s), in_names[in]);
			check_step(what, &second, after, INV_ACT_NONE, NOEV, "");
		}
}

static void
test_reserved_outcome(void **unused)
{
	static const struct {
		bool ok;
		const char *reason;
		enum inv_status next;
		enum event_type emit;
		const char *want_reason;
	} cases[] = {
		{ true, NULL, INV_RESERVED, EV_INVENTORY_RESERVED, "" },
		{ true, "ignored", INV_RESERVED, EV_INVENTORY_RESERVED, "" },
		{ false, "out_of_stock", INV_FAILED, EV_INVENTORY_RESERVATION_FAILED, "out_of_stock" },
		{ false, "unknown_sku", INV_FAILED, EV_INVENTORY_RESERVATION_FAILED, "unknown_sku" },
		{ false, NULL, INV_FAILED, EV_INVENTORY_RESERVATION_FAILED, "" },
	};

	(void)unused;
	for (size_t i = 0; i < NELEM(cases); i++) {
		struct inv_step step;
		char what[96];

		/* garbage first: the outcome must fill every field */
		memset(&step, 0x5a, sizeof(step));
		snprintf(what, sizeof(what), "reserved(%s, %s)", cases[i].ok ? "ok" : "refused",
		    cases[i].reason ? cases[i].reason : "NULL");
		inventory_machine_reserved(cases[i].ok, cases[i].reason, &step);
		check_step(what, &step, cases[i].next, INV_ACT_NONE, cases[i].emit,
		    cases[i].want_reason);
	}
}

static void
test_input_of(void **unused)
{
	static const int want[EV__COUNT] = {
		[EV_UNKNOWN] = -1,
		[EV_ORDER_CREATED] = INV_IN_ORDER_CREATED,
		[EV_INVENTORY_RESERVED] = -1,
		[EV_INVENTORY_RESERVATION_FAILED] = -1,
		[EV_PAYMENT_COMPLETED] = -1,
		[EV_PAYMENT_FAILED] = INV_IN_PAYMENT_FAILED,
		[EV_INVENTORY_RELEASED] = -1,
		[EV_PAYMENT_REFUNDED] = -1,
		[EV_ORDER_CONFIRMED] = INV_IN_ORDER_CONFIRMED,
		[EV_ORDER_CANCELLED] = INV_IN_ORDER_CANCELLED,
	};

	(void)unused;
	for (int t = 0; t < EV__COUNT; t++) {
		int got = inventory_input_of((enum event_type)t);

		if (got != want[t])
			fail_msg("inventory_input_of(%s): got %d, want %d", ev_names[t], got,
			    want[t]);
	}
	if (inventory_input_of(EV__COUNT) != -1)
		fail_msg("inventory_input_of(EV__COUNT): got %d, want -1",
		    inventory_input_of(EV__COUNT));
}

static void
test_status_names(void **unused)
{
	static const char *const want[INV__STATUS_COUNT] = {
		"NONE", "RESERVED", "SOLD", "RELEASED", "FAILED", "CANCELLED"
	};
	static const char *const bad[] = { "", "reserved", "RESERVED ", "PENDING", "?" };

	(void)unused;
	for (int s = 0; s < INV__STATUS_COUNT; s++) {
		const char *name = inventory_status_name((enum inv_status)s);

		if (strcmp(name, want[s]) != 0)
			fail_msg("inventory_status_name(%d): got %s, want %s", s, name, want[s]);
		if (inventory_status_from_name(name) != (enum inv_status)s)
			fail_msg("inventory_status_from_name(%s): got %d, want %d", name,
			    (int)inventory_status_from_name(name), s);
	}
	if (strcmp(inventory_status_name(INV__STATUS_COUNT), "?") != 0)
		fail_msg("inventory_status_name(COUNT): got %s, want ?",
		    inventory_status_name(INV__STATUS_COUNT));
	for (size_t i = 0; i < NELEM(bad); i++)
		if (inventory_status_from_name(bad[i]) != INV__STATUS_COUNT)
			fail_msg("inventory_status_from_name(\"%s\"): got %d, want %d", bad[i],
			    (int)inventory_status_from_name(bad[i]), INV__STATUS_COUNT);
}

/* --- sequences, run as the worker runs them --------------------------------- */

struct run {
	enum inv_status st;
	int reserve_attempts, sells, releases;
	int answers;			/* InventoryReserved + InventoryReservationFailed */
	int released_events;
	bool holding, sold;
	enum event_type answer;
	char answer_reason[ENVELOPE_ID_MAX + 1];
};

/* Apply ins with a stock that has room (in_stock) or not; fail on a broken action. */
static void
run_steps(struct run *run, const enum inv_input *ins, size_t n, bool in_stock,
    const char *seq)
{
	memset(run, 0, sizeof(*run));
	for (size_t i = 0; i < n; i++) {
		struct inv_step step;
		enum inv_status before = run->st;

		inventory_machine_step(run->st, ins[i], &step);
		switch (step.action) {
		case INV_ACT_RESERVE:
			if (before != INV_NONE)
				fail_msg("[%s] step %zu: RESERVE from %s, want only from NONE", seq,
				    i, inventory_status_name(before));
			run->reserve_attempts++;
			inventory_machine_reserved(in_stock, in_stock ? NULL : "out_of_stock", &step);
			run->holding = in_stock;
			break;
		case INV_ACT_SELL:
			if (!run->holding)
				fail_msg("[%s] step %zu: SELL while holding nothing", seq, i);
			run->sells++;
			run->holding = false;
			run->sold = true;
			break;
		case INV_ACT_RELEASE:
			if (!run->holding)
				fail_msg("[%s] step %zu: RELEASE while holding nothing", seq, i);
			run->releases++;
			run->holding = false;
			break;
		case INV_ACT_NONE:
			break;
		}
		if (step.emit == EV_INVENTORY_RESERVED ||
		    step.emit == EV_INVENTORY_RESERVATION_FAILED) {
			run->answers++;
			run->answer = step.emit;
			strlcpy_(run->answer_reason, step.reason, sizeof(run->answer_reason));
		} else if (step.emit == EV_INVENTORY_RELEASED) {
			run->released_events++;
			if (step.action != INV_ACT_RELEASE)
				fail_msg("[%s] step %zu: InventoryReleased without RELEASE", seq, i);
		} else if (step.emit != EV_UNKNOWN) {
			fail_msg("[%s] step %zu: emit: got %s, want an inventory event", seq, i,
			    ev_name(step.emit));
		}
		if (step.action == INV_ACT_RELEASE && step.emit != EV_INVENTORY_RELEASED)
			fail_msg("[%s] step %zu: RELEASE emits %s, want InventoryReleased", seq, i,
			    ev_name(step.emit));
		run->st = step.next;
	}
}

#define MAXLEN 6

static void
check_sequence(const enum inv_input *ins, size_t n, bool in_stock)
{
	char seq[MAXLEN * 20 + 16] = "";
	struct run run;
	bool created = false, stop_before_created = false, stop_seen = false;
	enum inv_input decider = INV__INPUT_COUNT;	/* first of CONF/CANC/PF after C */

	for (size_t i = 0; i < n; i++) {
		strcat(seq, in_names[ins[i]]);
		strcat(seq, ",");
	}
	strcat(seq, in_stock ? "stock" : "no stock");

	for (size_t i = 0; i < n; i++) {
		if (ins[i] == C)
			created = true;
		else if (ins[i] == CANC || ins[i] == PF) {
			stop_seen = true;
			if (!created)
				stop_before_created = true;
		}
		if (created && ins[i] != C && decider == INV__INPUT_COUNT)
			decider = ins[i];
	}
	run_steps(&run, ins, n, in_stock, seq);

	/* invariant 3 and the contract's late-reservation rule */
	if (stop_seen && run.holding)
		fail_msg("[%s]: still holding stock after a cancel or payment failure", seq);
	if (run.reserve_attempts > 1 || run.sells > 1 || run.releases > 1 ||
	    run.released_events > 1)
		fail_msg("[%s]: reserve/sell/release/released: got %d/%d/%d/%d, want at most 1 each",
		    seq, run.reserve_attempts, run.sells, run.releases, run.released_events);
	if (run.sells + run.releases > 1)
		fail_msg("[%s]: both sold and released", seq);
	/* one answer per OrderCreated, never one without it */
	if (run.answers != (created ? 1 : 0))
		fail_msg("[%s]: answers: got %d, want %d", seq, run.answers, created ? 1 : 0);
	if (!created)
		return;
	if (stop_before_created) {
		if (run.reserve_attempts != 0)
			fail_msg("[%s]: reserve attempts: got %d, want 0 (cancelled first)", seq,
			    run.reserve_attempts);
		if (run.answer != EV_INVENTORY_RESERVATION_FAILED ||
		    strcmp(run.answer_reason, "order_cancelled") != 0)
			fail_msg("[%s]: answer: got %s(%s), want InventoryReservationFailed(order_cancelled)",
			    seq, ev_name(run.answer), run.answer_reason);
		if (run.st != INV_FAILED)
			fail_msg("[%s]: status: got %s, want FAILED", seq,
			    inventory_status_name(run.st));
		return;
	}
	if (run.reserve_attempts != 1)
		fail_msg("[%s]: reserve attempts: got %d, want 1", seq, run.reserve_attempts);
	if (!in_stock) {
		if (run.answer != EV_INVENTORY_RESERVATION_FAILED ||
		    strcmp(run.answer_reason, "out_of_stock") != 0)
			fail_msg("[%s]: answer: got %s(%s), want InventoryReservationFailed(out_of_stock)",
			    seq, ev_name(run.answer), run.answer_reason);
		if (run.st != INV_FAILED)
			fail_msg("[%s]: status: got %s, want FAILED", seq,
			    inventory_status_name(run.st));
		return;
	}
	if (run.answer != EV_INVENTORY_RESERVED)
		fail_msg("[%s]: answer: got %s, want InventoryReserved", seq, ev_name(run.answer));
	{
		enum inv_status want = decider == CONF ? INV_SOLD :
		    decider == INV__INPUT_COUNT ? INV_RESERVED : INV_RELEASED;

		if (run.st != want)
			fail_msg("[%s]: status: got %s, want %s", seq,
			    inventory_status_name(run.st), inventory_status_name(want));
		if (run.sold != (want == INV_SOLD))
			fail_msg("[%s]: sold: got %d, want %d", seq, run.sold, want == INV_SOLD);
	}
}

static void
test_every_sequence(void **unused)
{
	enum inv_input ins[MAXLEN];
	size_t total = 0;

	(void)unused;
	for (size_t n = 0; n <= MAXLEN; n++) {
		size_t count = 1;

		for (size_t i = 0; i < n; i++)
			count *= INV__INPUT_COUNT;
		for (size_t k = 0; k < count; k++) {
			size_t v = k;

			for (size_t i = 0; i < n; i++) {
				ins[i] = (enum inv_input)(v % INV__INPUT_COUNT);
				v /= INV__INPUT_COUNT;
			}
			check_sequence(ins, n, true);
			check_sequence(ins, n, false);
			total += 2;
		}
	}
	assert_true(total > 5000);
}

/* A few named stories, for the reader; the exhaustive test above covers them too. */
static void
test_scenarios(void **unused)
{
	static const struct {
		const char *name;
		enum inv_input ins[6];
		size_t n;
		bool in_stock;
		enum inv_status want;
		int released_events;
	} sc[] = {
		{ "reserve then sell", { C, CONF }, 2, true, INV_SOLD, 0 },
		{ "reserve, payment failed, cancelled", { C, PF, CANC }, 3, true, INV_RELEASED, 1 },
		{ "reserve, cancelled (deadline), late confirm", { C, CANC, CONF }, 3, true,
		  INV_RELEASED, 1 },
		{ "cancelled before created: never held", { CANC, C, C }, 3, true, INV_FAILED, 0 },
		{ "out of stock, then cancelled", { C, CANC }, 2, false, INV_FAILED, 0 },
		{ "duplicate created after sale", { C, CONF, C, CANC }, 4, true, INV_SOLD, 0 },
	};

	(void)unused;
	for (size_t i = 0; i < NELEM(sc); i++) {
		struct run run;

		run_steps(&run, sc[i].ins, sc[i].n, sc[i].in_stock, sc[i].name);
		if (run.st != sc[i].want)
			fail_msg("%s: status: got %s, want %s", sc[i].name,
			    inventory_status_name(run.st), inventory_status_name(sc[i].want));
		if (run.released_events != sc[i].released_events)
			fail_msg("%s: InventoryReleased: got %d, want %d", sc[i].name,
			    run.released_events, sc[i].released_events);
		if (run.holding)
			fail_msg("%s: holding: got true, want false", sc[i].name);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transition_table),
		cmocka_unit_test(test_repeat_is_noop),
		cmocka_unit_test(test_reserved_outcome),
		cmocka_unit_test(test_input_of),
		cmocka_unit_test(test_status_names),
		cmocka_unit_test(test_scenarios),
		cmocka_unit_test(test_every_sequence),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
