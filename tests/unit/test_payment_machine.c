/*
 * Unit tests of the payment service's state machine
 * (workers/payment/machine.c): one table row per (status, input) pair, the
 * outcomes of a charge, the event mapping and the status names; then every
 * input sequence up to ten events long, run as the worker would (a CHARGE
 * action resolved by the account's answer), checked against the contract:
 * never two charges for one order, no net charge once the order was
 * cancelled, one PaymentCompleted or PaymentFailed per order.
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

static const char *const in_names[PAY__INPUT_COUNT] = {
	"INVENTORY_RESERVED", "ORDER_CANCELLED"
};

static const char *const act_names[] = { "NONE", "CHARGE", "REFUND" };

static const char *
ev_name(enum event_type t)
{
	return (unsigned)t < EV__COUNT ? ev_names[t] : "?";
}

#define IR PAY_IN_INVENTORY_RESERVED
#define OC PAY_IN_ORDER_CANCELLED
#define NOEV EV_UNKNOWN

struct row {
	enum pay_status cur;
	enum pay_input in;
	enum pay_status next;
	enum pay_action action;
	enum event_type emit;
	const char *reason;
};

/* Every (status, input) pair: 5 statuses x 2 inputs. */
static const struct row rows[] = {
	{ PAY_NONE, IR,      PAY_NONE, PAY_ACT_CHARGE, NOEV, "" },
	{ PAY_NONE, OC,      PAY_CANCELLED, PAY_ACT_NONE, NOEV, "" },
	{ PAY_COMPLETED, IR, PAY_COMPLETED, PAY_ACT_NONE, NOEV, "" },
	{ PAY_COMPLETED, OC, PAY_REFUNDED, PAY_ACT_REFUND, EV_PAYMENT_REFUNDED, "" },
	{ PAY_FAILED, IR,    PAY_FAILED, PAY_ACT_NONE, NOEV, "" },
	{ PAY_FAILED, OC,    PAY_FAILED, PAY_ACT_NONE, NOEV, "" },
	{ PAY_REFUNDED, IR,  PAY_REFUNDED, PAY_ACT_NONE, NOEV, "" },
	{ PAY_REFUNDED, OC,  PAY_REFUNDED, PAY_ACT_NONE, NOEV, "" },
	{ PAY_CANCELLED, IR, PAY_FAILED, PAY_ACT_NONE, EV_PAYMENT_FAILED, "order_cancelled" },
	{ PAY_CANCELLED, OC, PAY_CANCELLED, PAY_ACT_NONE, NOEV, "" },
};

static void
check_step(const char *what, const struct pay_step *got, enum pay_status next,
    enum pay_action action, enum event_type emit, const char *reason)
{
	if (got->next != next)
		fail_msg("%s: next: got %s, want %s", what, payment_status_name(got->next),
		    payment_status_name(next));
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
	int seen[PAY__STATUS_COUNT][PAY__INPUT_COUNT];

	(void)unused;
	memset(seen, 0, sizeof(seen));
	for (size_t i = 0; i < NELEM(rows); i++) {
		const struct row *r = &rows[i];
		struct pay_step step;
		char what[96];

		snprintf(what, sizeof(what), "row %zu (%s + %s)", i,
		    payment_status_name(r->cur), in_names[r->in]);
		payment_machine_step(r->cur, r->in, &step);
		check_step(what, &step, r->next, r->action, r->emit, r->reason);
		seen[r->cur][r->in]++;
	}
	for (int s = 0; s < PAY__STATUS_COUNT; s++)
		for (int in = 0; in < PAY__INPUT_COUNT; in++)
			if (seen[s][in] != 1)
				fail_msg("pair (%s + %s): got %d rows, want 1",
				    payment_status_name((enum pay_status)s), in_names[in],
				    seen[s][in]);
}

/* The same input twice in a row: the second delivery does nothing. */
static void
test_repeat_is_noop(void **unused)
{
	(void)unused;
	for (int s = 0; s < PAY__STATUS_COUNT; s++)
		for (int in = 0; in < PAY__INPUT_COUNT; in++) {
			struct pay_step first, second;
			enum pay_status after;
			char what[96];

			payment_machine_step((enum pay_status)s, (enum pay_input)in, &first);
			after = first.next;
			/* a CHARGE is resolved by the worker before the next delivery */
			if (first.action == PAY_ACT_CHARGE)
				after = PAY_COMPLETED;
			payment_machine_step(after, (enum pay_input)in, &second);
			snprintf(what, sizeof(what), "(%s + %s) repeated",
			    payment_status_name((enum pay_status)s), in_names[in]);
			check_step(what, &second, after, PAY_ACT_NONE, NOEV, "");
		}
}

static void
test_charged_outcome(void **unused)
{
	static const struct {
		bool ok;
		const char *reason;
		enum pay_status next;
		enum event_type emit;
		const char *want_reason;
	} cases[] = {
		{ true, NULL, PAY_COMPLETED, EV_PAYMENT_COMPLETED, "" },
		{ true, "ignored", PAY_COMPLETED, EV_PAYMENT_COMPLETED, "" },
		{ false, "insufficient_funds", PAY_FAILED, EV_PAYMENT_FAILED, "insufficient_funds" },
		{ false, "unknown_customer", PAY_FAILED, EV_PAYMENT_FAILED, "unknown_customer" },
		{ false, "currency_mismatch", PAY_FAILED, EV_PAYMENT_FAILED, "currency_mismatch" },
		{ false, NULL, PAY_FAILED, EV_PAYMENT_FAILED, "" },
	};

	(void)unused;
	for (size_t i = 0; i < NELEM(cases); i++) {
		struct pay_step step;
		char what[96];

		memset(&step, 0x5a, sizeof(step));
		snprintf(what, sizeof(what), "charged(%s, %s)", cases[i].ok ? "ok" : "refused",
		    cases[i].reason ? cases[i].reason : "NULL");
		payment_machine_charged(cases[i].ok, cases[i].reason, &step);
		check_step(what, &step, cases[i].next, PAY_ACT_NONE, cases[i].emit,
		    cases[i].want_reason);
	}
}

static void
test_input_of(void **unused)
{
	(void)unused;
	for (int t = 0; t < EV__COUNT; t++) {
		int want = t == EV_INVENTORY_RESERVED ? PAY_IN_INVENTORY_RESERVED :
		    t == EV_ORDER_CANCELLED ? PAY_IN_ORDER_CANCELLED : -1;
		int got = payment_input_of((enum event_type)t);

		if (got != want)
			fail_msg("payment_input_of(%s): got %d, want %d", ev_names[t], got, want);
	}
	if (payment_input_of(EV__COUNT) != -1)
		fail_msg("payment_input_of(EV__COUNT): got %d, want -1",
		    payment_input_of(EV__COUNT));
}

static void
test_status_names(void **unused)
{
	static const char *const want[PAY__STATUS_COUNT] = {
		"NONE", "COMPLETED", "FAILED", "REFUNDED", "CANCELLED"
	};
	static const char *const bad[] = { "", "completed", "COMPLETED ", "CHARGED", "?" };

	(void)unused;
	for (int s = 0; s < PAY__STATUS_COUNT; s++) {
		const char *name = payment_status_name((enum pay_status)s);

		if (strcmp(name, want[s]) != 0)
			fail_msg("payment_status_name(%d): got %s, want %s", s, name, want[s]);
		if (payment_status_from_name(name) != (enum pay_status)s)
			fail_msg("payment_status_from_name(%s): got %d, want %d", name,
			    (int)payment_status_from_name(name), s);
	}
	if (strcmp(payment_status_name(PAY__STATUS_COUNT), "?") != 0)
		fail_msg("payment_status_name(COUNT): got %s, want ?",
		    payment_status_name(PAY__STATUS_COUNT));
	for (size_t i = 0; i < NELEM(bad); i++)
		if (payment_status_from_name(bad[i]) != PAY__STATUS_COUNT)
			fail_msg("payment_status_from_name(\"%s\"): got %d, want %d", bad[i],
			    (int)payment_status_from_name(bad[i]), PAY__STATUS_COUNT);
}

/* --- sequences, run as the worker runs them --------------------------------- */

struct run {
	enum pay_status st;
	int attempts, charges, refunds;
	int answers;			/* PaymentCompleted + PaymentFailed */
	enum event_type answer;
	char answer_reason[ENVELOPE_ID_MAX + 1];
};

/* refusal: NULL when the account accepts the charge, else the refusal reason. */
static void
run_steps(struct run *run, const enum pay_input *ins, size_t n, const char *refusal,
    const char *seq)
{
	memset(run, 0, sizeof(*run));
	for (size_t i = 0; i < n; i++) {
		struct pay_step step;
		enum pay_status before = run->st;

		payment_machine_step(run->st, ins[i], &step);
		switch (step.action) {
		case PAY_ACT_CHARGE:
			if (before != PAY_NONE)
				fail_msg("[%s] step %zu: CHARGE from %s, want only from NONE", seq,
				    i, payment_status_name(before));
			run->attempts++;
			payment_machine_charged(refusal == NULL, refusal, &step);
			run->charges += refusal == NULL;
			break;
		case PAY_ACT_REFUND:
			if (run->charges - run->refunds != 1)
				fail_msg("[%s] step %zu: REFUND with net charges %d, want 1", seq, i,
				    run->charges - run->refunds);
			if (step.emit != EV_PAYMENT_REFUNDED)
				fail_msg("[%s] step %zu: REFUND emits %s, want PaymentRefunded", seq,
				    i, ev_name(step.emit));
			run->refunds++;
			break;
		case PAY_ACT_NONE:
			break;
		}
		if (step.emit == EV_PAYMENT_COMPLETED || step.emit == EV_PAYMENT_FAILED) {
			run->answers++;
			run->answer = step.emit;
			strlcpy_(run->answer_reason, step.reason, sizeof(run->answer_reason));
		} else if (step.emit == EV_PAYMENT_REFUNDED && step.action != PAY_ACT_REFUND) {
			fail_msg("[%s] step %zu: PaymentRefunded without REFUND", seq, i);
		} else if (step.emit != EV_UNKNOWN && step.emit != EV_PAYMENT_REFUNDED) {
			fail_msg("[%s] step %zu: emit: got %s, want a payment event", seq, i,
			    ev_name(step.emit));
		}
		run->st = step.next;
	}
}

#define MAXLEN 10

static void
check_sequence(const enum pay_input *ins, size_t n, const char *refusal)
{
	char seq[MAXLEN * 20 + 32] = "";
	struct run run;
	bool reserved = false, cancelled = false, cancelled_first = false;

	for (size_t i = 0; i < n; i++) {
		strcat(seq, in_names[ins[i]]);
		strcat(seq, ",");
		if (ins[i] == IR) {
			if (!reserved && cancelled)
				cancelled_first = true;
			reserved = true;
		} else {
			cancelled = true;
		}
	}
	strcat(seq, refusal ? refusal : "ok");
	run_steps(&run, ins, n, refusal, seq);

	/* never charged twice, not even with a refund in between */
	if (run.attempts > 1)
		fail_msg("[%s]: charge attempts: got %d, want at most 1", seq, run.attempts);
	/* invariant 3: a cancelled order leaves no net charge */
	if (cancelled && run.charges != run.refunds)
		fail_msg("[%s]: net charges after cancel: got %d, want 0", seq,
		    run.charges - run.refunds);
	if (run.answers != (reserved ? 1 : 0))
		fail_msg("[%s]: answers: got %d, want %d", seq, run.answers, reserved ? 1 : 0);
	if (!reserved)
		return;
	if (cancelled_first) {
		if (run.attempts != 0)
			fail_msg("[%s]: charge attempts: got %d, want 0 (cancelled first)", seq,
			    run.attempts);
		if (run.answer != EV_PAYMENT_FAILED ||
		    strcmp(run.answer_reason, "order_cancelled") != 0)
			fail_msg("[%s]: answer: got %s(%s), want PaymentFailed(order_cancelled)",
			    seq, ev_name(run.answer), run.answer_reason);
		return;
	}
	if (run.attempts != 1)
		fail_msg("[%s]: charge attempts: got %d, want 1", seq, run.attempts);
	if (refusal != NULL) {
		if (run.answer != EV_PAYMENT_FAILED || strcmp(run.answer_reason, refusal) != 0)
			fail_msg("[%s]: answer: got %s(%s), want PaymentFailed(%s)", seq,
			    ev_name(run.answer), run.answer_reason, refusal);
		if (run.st != PAY_FAILED)
			fail_msg("[%s]: status: got %s, want FAILED", seq,
			    payment_status_name(run.st));
		return;
	}
	if (run.answer != EV_PAYMENT_COMPLETED)
		fail_msg("[%s]: answer: got %s, want PaymentCompleted", seq, ev_name(run.answer));
	if (run.st != (cancelled ? PAY_REFUNDED : PAY_COMPLETED))
		fail_msg("[%s]: status: got %s, want %s", seq, payment_status_name(run.st),
		    cancelled ? "REFUNDED" : "COMPLETED");
}

static void
test_every_sequence(void **unused)
{
	static const char *const outcomes[] = {
		NULL, "insufficient_funds", "unknown_customer", "currency_mismatch"
	};
	enum pay_input ins[MAXLEN];
	size_t total = 0;

	(void)unused;
	for (size_t n = 0; n <= MAXLEN; n++) {
		size_t count = (size_t)1 << n;

		for (size_t k = 0; k < count; k++) {
			for (size_t i = 0; i < n; i++)
				ins[i] = (k >> i) & 1 ? OC : IR;
			for (size_t o = 0; o < NELEM(outcomes); o++) {
				check_sequence(ins, n, outcomes[o]);
				total++;
			}
		}
	}
	assert_true(total > 8000);
}

/* A few named stories, for the reader; the exhaustive test above covers them too. */
static void
test_scenarios(void **unused)
{
	static const struct {
		const char *name;
		enum pay_input ins[4];
		size_t n;
		const char *refusal;
		enum pay_status want;
		int net;
	} sc[] = {
		{ "charged", { IR }, 1, NULL, PAY_COMPLETED, 1 },
		{ "charged, duplicate reservation", { IR, IR }, 2, NULL, PAY_COMPLETED, 1 },
		{ "charged then cancelled: refunded", { IR, OC, OC }, 3, NULL, PAY_REFUNDED, 0 },
		{ "refunded, late reservation: no second charge", { IR, OC, IR }, 3, NULL,
		  PAY_REFUNDED, 0 },
		{ "reservation after cancel: never charged", { OC, IR, IR }, 3, NULL, PAY_FAILED, 0 },
		{ "refused, then cancelled", { IR, OC }, 2, "insufficient_funds", PAY_FAILED, 0 },
	};

	(void)unused;
	for (size_t i = 0; i < NELEM(sc); i++) {
		struct run run;

		run_steps(&run, sc[i].ins, sc[i].n, sc[i].refusal, sc[i].name);
		if (run.st != sc[i].want)
			fail_msg("%s: status: got %s, want %s", sc[i].name,
			    payment_status_name(run.st), payment_status_name(sc[i].want));
		if (run.charges - run.refunds != sc[i].net)
			fail_msg("%s: net charges: got %d, want %d", sc[i].name,
			    run.charges - run.refunds, sc[i].net);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transition_table),
		cmocka_unit_test(test_repeat_is_noop),
		cmocka_unit_test(test_charged_outcome),
		cmocka_unit_test(test_input_of),
		cmocka_unit_test(test_status_names),
		cmocka_unit_test(test_scenarios),
		cmocka_unit_test(test_every_sequence),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
