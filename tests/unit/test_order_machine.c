/*
 * Unit tests of the order service's state machine (workers/order/machine.c).
 * One table row per (status, input) pair, AWAITING counted once per early
 * variant, so that every transition of docs/state-machines.md is checked
 * field by field; then properties over every pair (flags kept, a repeated
 * input is a no-op) and an exhaustive run of every input sequence up to six
 * events long against a model of the saga's "first outcome wins" rule, which
 * covers late, duplicated and out-of-order delivery.
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

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Event names, local so the test does not need envelope.c. */
static const char *const ev_names[EV__COUNT] = {
	"(none)", "OrderCreated", "InventoryReserved", "InventoryReservationFailed",
	"PaymentCompleted", "PaymentFailed", "InventoryReleased", "PaymentRefunded",
	"OrderConfirmed", "OrderCancelled"
};

static const char *const in_names[ORDER__INPUT_COUNT] = {
	"CREATED", "PAYMENT_COMPLETED", "RESERVATION_FAILED", "PAYMENT_FAILED",
	"INVENTORY_RELEASED", "PAYMENT_REFUNDED", "DEADLINE"
};

static const char *const early_names[] = { "EARLY_NONE", "EARLY_PAID", "EARLY_FAILED" };

static const char *
ev_name(enum event_type t)
{
	return (unsigned)t < EV__COUNT ? ev_names[t] : "?";
}

static const char *
bool_name(bool b)
{
	return b ? "true" : "false";
}

/* The reason each input carries in the tests; only failures may use it. */
#define R_RES "out_of_stock"
#define R_PAY "insufficient_funds"
#define R_OTHER "must_be_ignored"

static const char *
reason_for(enum order_input in)
{
	switch (in) {
	case ORDER_IN_RESERVATION_FAILED: return R_RES;
	case ORDER_IN_PAYMENT_FAILED: return R_PAY;
	default: return R_OTHER;
	}
}

/* A state literal: ST(AWAITING, FAILED, "unknown_sku", released, refunded). */
#define ST(s, e, r, rel, ref) { ORDER_##s, EARLY_##e, r, rel, ref }

#define NONE_		ST(NONE, NONE, "", false, false)
#define AWAIT		ST(AWAITING, NONE, "", false, false)
#define AWAIT_PAID	ST(AWAITING, PAID, "", false, false)
#define AWAIT_FAIL	ST(AWAITING, FAILED, "unknown_sku", false, false)
#define PENDING		ST(PENDING, NONE, "", false, false)
#define CONFIRMED	ST(CONFIRMED, NONE, "", false, false)
#define CANCELLED	ST(CANCELLED, NONE, "timeout", false, false)

struct row {
	struct order_state cur;
	enum order_input in;
	struct order_state next;
	enum event_type emit;
	bool record_created;
	bool changed;
};

#define C ORDER_IN_CREATED
#define PC ORDER_IN_PAYMENT_COMPLETED
#define RF ORDER_IN_RESERVATION_FAILED
#define PF ORDER_IN_PAYMENT_FAILED
#define REL ORDER_IN_INVENTORY_RELEASED
#define REF ORDER_IN_PAYMENT_REFUNDED
#define DL ORDER_IN_DEADLINE
#define NOEV EV_UNKNOWN
#define OCONF EV_ORDER_CONFIRMED
#define OCANC EV_ORDER_CANCELLED

/* Every (status, input) pair: 7 states (AWAITING x 3 early variants) x 7 inputs. */
static const struct row rows[] = {
	/* NONE: nothing known of the order yet */
	{ NONE_, C,   PENDING, NOEV, true, true },
	{ NONE_, PC,  AWAIT_PAID, NOEV, false, true },
	{ NONE_, RF,  ST(AWAITING, FAILED, R_RES, false, false), NOEV, false, true },
	{ NONE_, PF,  ST(AWAITING, FAILED, R_PAY, false, false), NOEV, false, true },
	{ NONE_, REL, ST(AWAITING, NONE, "", true, false), NOEV, false, true },
	{ NONE_, REF, ST(AWAITING, NONE, "", false, true), NOEV, false, true },
	{ NONE_, DL,  NONE_, NOEV, false, false },

	/* AWAITING, nothing decisive seen (only compensation records) */
	{ AWAIT, C,   PENDING, NOEV, true, true },
	{ AWAIT, PC,  AWAIT_PAID, NOEV, false, true },
	{ AWAIT, RF,  ST(AWAITING, FAILED, R_RES, false, false), NOEV, false, true },
	{ AWAIT, PF,  ST(AWAITING, FAILED, R_PAY, false, false), NOEV, false, true },
	{ AWAIT, REL, ST(AWAITING, NONE, "", true, false), NOEV, false, true },
	{ AWAIT, REF, ST(AWAITING, NONE, "", false, true), NOEV, false, true },
	{ AWAIT, DL,  CANCELLED, OCANC, false, true },

	/* AWAITING, PaymentCompleted seen first: the first outcome wins */
	{ AWAIT_PAID, C,   CONFIRMED, OCONF, true, true },
	{ AWAIT_PAID, PC,  AWAIT_PAID, NOEV, false, false },
	{ AWAIT_PAID, RF,  AWAIT_PAID, NOEV, false, false },
	{ AWAIT_PAID, PF,  AWAIT_PAID, NOEV, false, false },
	{ AWAIT_PAID, REL, ST(AWAITING, PAID, "", true, false), NOEV, false, true },
	{ AWAIT_PAID, REF, ST(AWAITING, PAID, "", false, true), NOEV, false, true },
	{ AWAIT_PAID, DL,  CANCELLED, OCANC, false, true },

	/* AWAITING, a failure seen first: kept with its reason */
	{ AWAIT_FAIL, C,   ST(CANCELLED, NONE, "unknown_sku", false, false), OCANC, true, true },
	{ AWAIT_FAIL, PC,  AWAIT_FAIL, NOEV, false, false },
	{ AWAIT_FAIL, RF,  AWAIT_FAIL, NOEV, false, false },
	{ AWAIT_FAIL, PF,  AWAIT_FAIL, NOEV, false, false },
	{ AWAIT_FAIL, REL, ST(AWAITING, FAILED, "unknown_sku", true, false), NOEV, false, true },
	{ AWAIT_FAIL, REF, ST(AWAITING, FAILED, "unknown_sku", false, true), NOEV, false, true },
	{ AWAIT_FAIL, DL,  ST(CANCELLED, NONE, "unknown_sku", false, false), OCANC, false, true },

	/* PENDING: the saga is running */
	{ PENDING, C,   PENDING, NOEV, false, false },
	{ PENDING, PC,  CONFIRMED, OCONF, false, true },
	{ PENDING, RF,  ST(CANCELLED, NONE, R_RES, false, false), OCANC, false, true },
	{ PENDING, PF,  ST(CANCELLED, NONE, R_PAY, false, false), OCANC, false, true },
	{ PENDING, REL, ST(PENDING, NONE, "", true, false), NOEV, false, true },
	{ PENDING, REF, ST(PENDING, NONE, "", false, true), NOEV, false, true },
	{ PENDING, DL,  ST(CANCELLED, NONE, "timeout", false, false), OCANC, false, true },

	/* CONFIRMED: terminal */
	{ CONFIRMED, C,   CONFIRMED, NOEV, false, false },
	{ CONFIRMED, PC,  CONFIRMED, NOEV, false, false },
	{ CONFIRMED, RF,  CONFIRMED, NOEV, false, false },
	{ CONFIRMED, PF,  CONFIRMED, NOEV, false, false },
	{ CONFIRMED, REL, ST(CONFIRMED, NONE, "", true, false), NOEV, false, true },
	{ CONFIRMED, REF, ST(CONFIRMED, NONE, "", false, true), NOEV, false, true },
	{ CONFIRMED, DL,  CONFIRMED, NOEV, false, false },

	/* CANCELLED: terminal, the first reason stays */
	{ CANCELLED, C,   CANCELLED, NOEV, false, false },
	{ CANCELLED, PC,  CANCELLED, NOEV, false, false },
	{ CANCELLED, RF,  CANCELLED, NOEV, false, false },
	{ CANCELLED, PF,  CANCELLED, NOEV, false, false },
	{ CANCELLED, REL, ST(CANCELLED, NONE, "timeout", true, false), NOEV, false, true },
	{ CANCELLED, REF, ST(CANCELLED, NONE, "timeout", false, true), NOEV, false, true },
	{ CANCELLED, DL,  CANCELLED, NOEV, false, false },
};

/* The seven distinct starting states of the table, for the property tests. */
static const struct order_state states[] = {
	NONE_, AWAIT, AWAIT_PAID, AWAIT_FAIL, PENDING, CONFIRMED, CANCELLED
};

static void
state_label(const struct order_state *s, char *buf, size_t len)
{
	if (s->status == ORDER_AWAITING)
		snprintf(buf, len, "%s/%s", order_status_name(s->status), early_names[s->early]);
	else
		snprintf(buf, len, "%s", order_status_name(s->status));
}

/* Compare a step with what is wanted; fail with "got X, want Y" on the first difference. */
static void
check_step(const char *what, const struct order_step *got, const struct order_state *want,
    enum event_type emit, bool record_created, bool changed)
{
	if (got->next.status != want->status)
		fail_msg("%s: next.status: got %s, want %s", what,
		    order_status_name(got->next.status), order_status_name(want->status));
	if (got->next.early != want->early)
		fail_msg("%s: next.early: got %s, want %s", what,
		    early_names[got->next.early], early_names[want->early]);
	if (strcmp(got->next.reason, want->reason) != 0)
		fail_msg("%s: next.reason: got \"%s\", want \"%s\"", what,
		    got->next.reason, want->reason);
	if (got->next.released != want->released)
		fail_msg("%s: next.released: got %s, want %s", what,
		    bool_name(got->next.released), bool_name(want->released));
	if (got->next.refunded != want->refunded)
		fail_msg("%s: next.refunded: got %s, want %s", what,
		    bool_name(got->next.refunded), bool_name(want->refunded));
	if (got->emit != emit)
		fail_msg("%s: emit: got %s, want %s", what, ev_name(got->emit), ev_name(emit));
	if (got->record_created != record_created)
		fail_msg("%s: record_created: got %s, want %s", what,
		    bool_name(got->record_created), bool_name(record_created));
	if (got->changed != changed)
		fail_msg("%s: changed: got %s, want %s", what,
		    bool_name(got->changed), bool_name(changed));
}

static void
test_transition_table(void **unused)
{
	(void)unused;
	for (size_t i = 0; i < NELEM(rows); i++) {
		const struct row *r = &rows[i];
		struct order_step step;
		char what[128], label[48];

		state_label(&r->cur, label, sizeof(label));
		snprintf(what, sizeof(what), "row %zu (%s + %s)", i, label, in_names[r->in]);
		order_machine_step(&r->cur, r->in, reason_for(r->in), &step);
		check_step(what, &step, &r->next, r->emit, r->record_created, r->changed);
	}
}

static bool
state_eq(const struct order_state *a, const struct order_state *b)
{
	return a->status == b->status && a->early == b->early &&
	    strcmp(a->reason, b->reason) == 0 && a->released == b->released &&
	    a->refunded == b->refunded;
}

/* The table above must hold every pair exactly once, or it proves less than it claims. */
static void
test_table_is_complete(void **unused)
{
	int seen[NELEM(states)][ORDER__INPUT_COUNT];

	(void)unused;
	memset(seen, 0, sizeof(seen));
	for (size_t i = 0; i < NELEM(rows); i++) {
		size_t s;

		for (s = 0; s < NELEM(states); s++)
			if (state_eq(&states[s], &rows[i].cur))
				break;
		if (s == NELEM(states))
			fail_msg("row %zu: starting state not among the seven states", i);
		seen[s][rows[i].in]++;
	}
	for (size_t s = 0; s < NELEM(states); s++)
		for (int in = 0; in < ORDER__INPUT_COUNT; in++)
			if (seen[s][in] != 1) {
				char label[48];

				state_label(&states[s], label, sizeof(label));
				fail_msg("pair (%s + %s): got %d rows, want 1", label,
				    in_names[in], seen[s][in]);
			}
}

/*
 * With both compensation flags already set, every transition gives the same
 * result as in the table, flags kept; compensation inputs are then no-ops.
 */
static void
test_flags_are_kept(void **unused)
{
	(void)unused;
	for (size_t i = 0; i < NELEM(rows); i++) {
		const struct row *r = &rows[i];
		struct order_state cur = r->cur, want = r->next;
		struct order_step step;
		bool comp = r->in == REL || r->in == REF;
		char what[128], label[48];

		cur.released = cur.refunded = true;
		want.released = want.refunded = true;
		/* from NONE a compensation record still opens the AWAITING row */
		if (comp && cur.status == ORDER_NONE)
			want.status = ORDER_AWAITING;
		state_label(&cur, label, sizeof(label));
		snprintf(what, sizeof(what), "row %zu with flags (%s + %s)", i, label,
		    in_names[r->in]);
		order_machine_step(&cur, r->in, reason_for(r->in), &step);
		check_step(what, &step, &want, r->emit, r->record_created,
		    comp ? cur.status == ORDER_NONE : r->changed);
	}
}

/* Delivering the same input twice in a row: the second delivery changes nothing. */
static void
test_repeat_is_noop(void **unused)
{
	(void)unused;
	for (size_t s = 0; s < NELEM(states); s++)
		for (int in = 0; in < ORDER__INPUT_COUNT; in++) {
			struct order_step first, second;
			char what[128], label[48];

			order_machine_step(&states[s], (enum order_input)in, reason_for(in), &first);
			order_machine_step(&first.next, (enum order_input)in, reason_for(in), &second);
			state_label(&states[s], label, sizeof(label));
			snprintf(what, sizeof(what), "(%s + %s) repeated", label, in_names[in]);
			check_step(what, &second, &first.next, EV_UNKNOWN, false, false);
		}
}

/* A NULL reason is taken as "". */
static void
test_null_reason(void **unused)
{
	struct order_state pending = PENDING, none = NONE_;
	struct order_state want_c = ST(CANCELLED, NONE, "", false, false);
	struct order_state want_a = ST(AWAITING, FAILED, "", false, false);
	struct order_step step;

	(void)unused;
	order_machine_step(&pending, PF, NULL, &step);
	check_step("PENDING + PAYMENT_FAILED(NULL)", &step, &want_c, OCANC, false, true);
	order_machine_step(&none, RF, NULL, &step);
	check_step("NONE + RESERVATION_FAILED(NULL)", &step, &want_a, NOEV, false, true);
}

/* A reason longer than the state's buffer is cut, not overrun. */
static void
test_long_reason_truncated(void **unused)
{
	char reason[200];
	struct order_state pending = PENDING;
	struct order_step step;

	(void)unused;
	memset(reason, 'x', sizeof(reason) - 1);
	reason[sizeof(reason) - 1] = '\0';
	order_machine_step(&pending, RF, reason, &step);
	if (strlen(step.next.reason) != ENVELOPE_ID_MAX)
		fail_msg("reason length: got %zu, want %d", strlen(step.next.reason),
		    ENVELOPE_ID_MAX);
}

static void
test_input_of(void **unused)
{
	static const int want[EV__COUNT] = {
		[EV_UNKNOWN] = -1,
		[EV_ORDER_CREATED] = ORDER_IN_CREATED,
		[EV_INVENTORY_RESERVED] = -1,
		[EV_INVENTORY_RESERVATION_FAILED] = ORDER_IN_RESERVATION_FAILED,
		[EV_PAYMENT_COMPLETED] = ORDER_IN_PAYMENT_COMPLETED,
		[EV_PAYMENT_FAILED] = ORDER_IN_PAYMENT_FAILED,
		[EV_INVENTORY_RELEASED] = ORDER_IN_INVENTORY_RELEASED,
		[EV_PAYMENT_REFUNDED] = ORDER_IN_PAYMENT_REFUNDED,
		[EV_ORDER_CONFIRMED] = -1,
		[EV_ORDER_CANCELLED] = -1,
	};

	(void)unused;
	for (int t = 0; t < EV__COUNT; t++) {
		int got = order_input_of((enum event_type)t);

		if (got != want[t])
			fail_msg("order_input_of(%s): got %d, want %d", ev_names[t], got, want[t]);
	}
	if (order_input_of(EV__COUNT) != -1)
		fail_msg("order_input_of(EV__COUNT): got %d, want -1", order_input_of(EV__COUNT));
}

static void
test_status_names(void **unused)
{
	static const char *const want[ORDER__STATUS_COUNT] = {
		"NONE", "AWAITING", "PENDING", "CONFIRMED", "CANCELLED"
	};
	static const char *const bad[] = { "", "pending", "PENDING ", "UNKNOWN", "?" };

	(void)unused;
	for (int s = 0; s < ORDER__STATUS_COUNT; s++) {
		const char *name = order_status_name((enum order_status)s);

		if (strcmp(name, want[s]) != 0)
			fail_msg("order_status_name(%d): got %s, want %s", s, name, want[s]);
		if (order_status_from_name(name) != (enum order_status)s)
			fail_msg("order_status_from_name(%s): got %d, want %d", name,
			    (int)order_status_from_name(name), s);
	}
	if (strcmp(order_status_name(ORDER__STATUS_COUNT), "?") != 0)
		fail_msg("order_status_name(COUNT): got %s, want ?",
		    order_status_name(ORDER__STATUS_COUNT));
	for (size_t i = 0; i < NELEM(bad); i++)
		if (order_status_from_name(bad[i]) != ORDER__STATUS_COUNT)
			fail_msg("order_status_from_name(\"%s\"): got %d, want %d", bad[i],
			    (int)order_status_from_name(bad[i]), ORDER__STATUS_COUNT);
}

/* --- scenarios: chains of deliveries as one worker would apply them -------- */

struct run {
	struct order_state st;
	int confirmed, cancelled, created, changes;
};

static void
run_steps(struct run *run, const enum order_input *ins, size_t n)
{
	memset(run, 0, sizeof(*run));
	for (size_t i = 0; i < n; i++) {
		struct order_step step;

		order_machine_step(&run->st, ins[i], reason_for(ins[i]), &step);
		run->st = step.next;
		run->confirmed += step.emit == EV_ORDER_CONFIRMED;
		run->cancelled += step.emit == EV_ORDER_CANCELLED;
		run->created += step.record_created;
		run->changes += step.changed;
		if (step.emit != EV_UNKNOWN && step.emit != EV_ORDER_CONFIRMED &&
		    step.emit != EV_ORDER_CANCELLED)
			fail_msg("step %zu emit: got %s, want OrderConfirmed, OrderCancelled or none",
			    i, ev_name(step.emit));
	}
}

struct scenario {
	const char *name;
	enum order_input ins[8];
	size_t n;
	enum order_status status;
	const char *reason;
	int confirmed, cancelled;
	bool released, refunded;
};

static const struct scenario scenarios[] = {
	{ "happy path", { C, PC }, 2, ORDER_CONFIRMED, "", 1, 0, false, false },
	{ "paid before created", { PC, C }, 2, ORDER_CONFIRMED, "", 1, 0, false, false },
	{ "paid before created, everything twice", { PC, PC, C, C, PC }, 5,
	  ORDER_CONFIRMED, "", 1, 0, false, false },
	{ "paid, deadline before created: given up (refunded)", { PC, DL, C, DL }, 4,
	  ORDER_CANCELLED, "timeout", 0, 1, false, false },
	{ "failed, deadline before created: its reason", { RF, DL, C }, 3,
	  ORDER_CANCELLED, R_RES, 0, 1, false, false },
	{ "released, never created: the deadline cancels", { REL, DL, DL }, 3,
	  ORDER_CANCELLED, "timeout", 0, 1, true, false },
	{ "payment failed before created", { PF, C }, 2, ORDER_CANCELLED, R_PAY, 0, 1, false, false },
	{ "reservation failed before created", { RF, C, C }, 3,
	  ORDER_CANCELLED, R_RES, 0, 1, false, false },
	{ "failure then paid before created", { RF, PC, C }, 3,
	  ORDER_CANCELLED, R_RES, 0, 1, false, false },
	{ "reservation failed", { C, RF, RF, PF }, 4, ORDER_CANCELLED, R_RES, 0, 1, false, false },
	{ "payment failed, then released", { C, PF, REL }, 3,
	  ORDER_CANCELLED, R_PAY, 0, 1, true, false },
	{ "deadline cancels pending", { C, DL }, 2, ORDER_CANCELLED, "timeout", 0, 1, false, false },
	{ "deadline then late payment and compensations", { C, DL, PC, DL, REL, REF }, 6,
	  ORDER_CANCELLED, "timeout", 0, 1, true, true },
	{ "deadline before created does nothing", { DL, DL }, 2, ORDER_NONE, "", 0, 0, false, false },
	{ "deadline after confirmation does nothing", { C, PC, DL }, 3,
	  ORDER_CONFIRMED, "", 1, 0, false, false },
	{ "compensations before created", { REL, REF, PF, C }, 4,
	  ORDER_CANCELLED, R_PAY, 0, 1, true, true },
	{ "late failure after confirmation", { C, PC, PF, RF }, 4,
	  ORDER_CONFIRMED, "", 1, 0, false, false },
	{ "duplicate created", { C, C, C }, 3, ORDER_PENDING, "", 0, 0, false, false },
};

static void
test_scenarios(void **unused)
{
	(void)unused;
	for (size_t i = 0; i < NELEM(scenarios); i++) {
		const struct scenario *sc = &scenarios[i];
		struct run run;

		run_steps(&run, sc->ins, sc->n);
		if (run.st.status != sc->status)
			fail_msg("%s: status: got %s, want %s", sc->name,
			    order_status_name(run.st.status), order_status_name(sc->status));
		if (strcmp(run.st.reason, sc->reason) != 0)
			fail_msg("%s: reason: got \"%s\", want \"%s\"", sc->name,
			    run.st.reason, sc->reason);
		if (run.confirmed != sc->confirmed)
			fail_msg("%s: OrderConfirmed emitted: got %d, want %d", sc->name,
			    run.confirmed, sc->confirmed);
		if (run.cancelled != sc->cancelled)
			fail_msg("%s: OrderCancelled emitted: got %d, want %d", sc->name,
			    run.cancelled, sc->cancelled);
		if (run.st.released != sc->released || run.st.refunded != sc->refunded)
			fail_msg("%s: released/refunded: got %s/%s, want %s/%s", sc->name,
			    bool_name(run.st.released), bool_name(run.st.refunded),
			    bool_name(sc->released), bool_name(sc->refunded));
		if (run.st.early != EARLY_NONE && run.st.status != ORDER_AWAITING)
			fail_msg("%s: early: got %s, want EARLY_NONE once out of AWAITING",
			    sc->name, early_names[run.st.early]);
		if (run.created > 1)
			fail_msg("%s: record_created: got %d times, want at most 1", sc->name,
			    run.created);
	}
}

/*
 * Every sequence of up to MAXLEN inputs, checked against the model: the
 * first outcome (PaymentCompleted or a failure at any time) decides once the
 * order is created; the deadline decides a created order still undecided,
 * and an order known only from early events (AWAITING: its OrderCreated
 * never came), with the early failure's reason if there was one; an
 * OrderCreated after the decision records nothing; one event is emitted at
 * most; terminal states never change status; compensation records are kept
 * whatever the order.
 */
#define MAXLEN 6

static void
check_sequence(const enum order_input *ins, size_t n)
{
	struct order_state st;
	enum order_input first_outcome = ORDER__INPUT_COUNT;
	bool created = false, seen = false, decided = false, released = false, refunded = false;
	int emitted = 0, records = 0;
	enum event_type last_emit = EV_UNKNOWN;
	enum order_status want;
	const char *want_reason = "";
	char seq[MAXLEN * 24] = "";

	for (size_t i = 0; i < n; i++) {
		strcat(seq, in_names[ins[i]]);
		if (i + 1 < n)
			strcat(seq, ",");
	}
	memset(&st, 0, sizeof(st));
	for (size_t i = 0; i < n; i++) {
		struct order_step step;
		bool was_terminal = st.status == ORDER_CONFIRMED || st.status == ORDER_CANCELLED;

		/* the model */
		if (decided) {
			/* only the compensation records below */
		} else if (ins[i] == C) {
			created = true;
			decided = first_outcome != ORDER__INPUT_COUNT;
		} else if (ins[i] == PC || ins[i] == RF || ins[i] == PF) {
			if (first_outcome == ORDER__INPUT_COUNT)
				first_outcome = ins[i];
			decided = created;
			seen = true;
		} else if (ins[i] == DL && (created || seen)) {
			if (first_outcome == ORDER__INPUT_COUNT || (!created && first_outcome == PC))
				first_outcome = DL;
			decided = true;
		}
		seen |= ins[i] == REL || ins[i] == REF;
		released |= ins[i] == REL;
		refunded |= ins[i] == REF;

		order_machine_step(&st, ins[i], reason_for(ins[i]), &step);
		if (was_terminal && step.next.status != st.status)
			fail_msg("[%s] step %zu: status: got %s, want %s (terminal)", seq, i,
			    order_status_name(step.next.status), order_status_name(st.status));
		if (step.emit != EV_UNKNOWN) {
			emitted++;
			last_emit = step.emit;
		}
		records += step.record_created;
		st = step.next;
	}

	if (!decided && !created)
		want = seen ? ORDER_AWAITING : ORDER_NONE;
	else if (!decided)
		want = ORDER_PENDING;
	else if (first_outcome == PC)
		want = ORDER_CONFIRMED;
	else {
		want = ORDER_CANCELLED;
		want_reason = first_outcome == DL ? "timeout" : reason_for(first_outcome);
	}

	if (st.status != want)
		fail_msg("[%s]: status: got %s, want %s", seq, order_status_name(st.status),
		    order_status_name(want));
	if (want == ORDER_CANCELLED && strcmp(st.reason, want_reason) != 0)
		fail_msg("[%s]: reason: got \"%s\", want \"%s\"", seq, st.reason, want_reason);
	if (emitted != (want == ORDER_CONFIRMED || want == ORDER_CANCELLED))
		fail_msg("[%s]: events emitted: got %d, want %d", seq, emitted,
		    want == ORDER_CONFIRMED || want == ORDER_CANCELLED);
	if (want == ORDER_CONFIRMED && last_emit != EV_ORDER_CONFIRMED)
		fail_msg("[%s]: emitted: got %s, want OrderConfirmed", seq, ev_name(last_emit));
	if (want == ORDER_CANCELLED && last_emit != EV_ORDER_CANCELLED)
		fail_msg("[%s]: emitted: got %s, want OrderCancelled", seq, ev_name(last_emit));
	if (records != (created ? 1 : 0))
		fail_msg("[%s]: record_created: got %d, want %d", seq, records, created ? 1 : 0);
	if (st.released != released || st.refunded != refunded)
		fail_msg("[%s]: released/refunded: got %s/%s, want %s/%s", seq,
		    bool_name(st.released), bool_name(st.refunded), bool_name(released),
		    bool_name(refunded));
}

static void
test_every_sequence(void **unused)
{
	enum order_input ins[MAXLEN];
	size_t total = 0;

	(void)unused;
	for (size_t n = 0; n <= MAXLEN; n++) {
		size_t count = 1;

		for (size_t i = 0; i < n; i++)
			count *= ORDER__INPUT_COUNT;
		for (size_t k = 0; k < count; k++) {
			size_t v = k;

			for (size_t i = 0; i < n; i++) {
				ins[i] = (enum order_input)(v % ORDER__INPUT_COUNT);
				v /= ORDER__INPUT_COUNT;
			}
			check_sequence(ins, n);
			total++;
		}
	}
	assert_true(total > 100000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transition_table),
		cmocka_unit_test(test_table_is_complete),
		cmocka_unit_test(test_flags_are_kept),
		cmocka_unit_test(test_repeat_is_noop),
		cmocka_unit_test(test_null_reason),
		cmocka_unit_test(test_long_reason_truncated),
		cmocka_unit_test(test_input_of),
		cmocka_unit_test(test_status_names),
		cmocka_unit_test(test_scenarios),
		cmocka_unit_test(test_every_sequence),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
