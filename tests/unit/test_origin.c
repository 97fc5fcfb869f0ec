/*
 * Unit tests of who may publish what (src/origin.c): every way an event can
 * be forged (exchange, user, source), the publishers accepted besides the
 * owner (the administrative identity, the service's own retry path), and
 * which deliveries count as the retry path.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "origin.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void
test_check(void **unused)
{
	static const struct {
		enum service_id svc;		/* the consumer */
		enum event_type type;
		const char *exchange, *user, *source;
		const char *want;		/* NULL: accepted; else the start of the reason */
	} cases[] = {
		/* each owner on its own exchange with its own source */
		{ SVC_ORDER, EV_PAYMENT_COMPLETED, "chorus.payment", "chorus-payment", "chorus/payment", NULL },
		{ SVC_PAYMENT, EV_INVENTORY_RESERVED, "chorus.inventory", "chorus-inventory", "chorus/inventory", NULL },
		{ SVC_INVENTORY, EV_ORDER_CREATED, "chorus.order", "chorus-order", "chorus/order", NULL },
		/* the attack: inventory's user, its own exchange, payment's type */
		{ SVC_ORDER, EV_PAYMENT_COMPLETED, "chorus.inventory", "chorus-inventory", "chorus/payment",
		  "forged: PaymentCompleted came through exchange 'chorus.inventory', not chorus.payment" },
		/* the right exchange, another user (the broker would refuse it; the check too) */
		{ SVC_ORDER, EV_PAYMENT_COMPLETED, "chorus.payment", "chorus-inventory", "chorus/payment",
		  "forged: PaymentCompleted published by user 'chorus-inventory', not chorus-payment" },
		{ SVC_ORDER, EV_PAYMENT_COMPLETED, "chorus.payment", NULL, "chorus/payment",
		  "forged: PaymentCompleted published by user '', not chorus-payment" },
		/* the owner's user with another service's source */
		{ SVC_ORDER, EV_PAYMENT_COMPLETED, "chorus.payment", "chorus-payment", "chorus/inventory",
		  "forged: PaymentCompleted with source 'chorus/inventory', not chorus/payment" },
		/* straight into a queue (the default exchange) */
		{ SVC_PAYMENT, EV_INVENTORY_RESERVED, "", "chorus-inventory", "chorus/inventory",
		  "forged: InventoryReserved came through exchange ''" },
		/* OrderCreated from chorusctl (the administrative identity), any source */
		{ SVC_INVENTORY, EV_ORDER_CREATED, "chorus.order", "chorus-admin", "chorusctl", NULL },
		/* the administrative identity, any type, any exchange (tests, replay) */
		{ SVC_ORDER, EV_PAYMENT_COMPLETED, "", "chorus-admin", "test/x", NULL },
		/* OrderCreated from a user that is not the order service's */
		{ SVC_INVENTORY, EV_ORDER_CREATED, "chorus.order", "shop", "shop/web",
		  "forged: OrderCreated published by user 'shop', not chorus-order" },
		/* what the publisher chose is shown safely: no quote, no control character */
		{ SVC_ORDER, EV_PAYMENT_COMPLETED, "chorus.payment", "chorus-payment", "x\" level=error\n",
		  "forged: PaymentCompleted with source 'x? level=error?', not chorus/payment" },
		/* the service's own retry path: it checked the event when it first came */
		{ SVC_PAYMENT, EV_INVENTORY_RESERVED, "chorus.payment.retry", "chorus-payment", "chorus/inventory", NULL },
		/* another service's retry path, or someone else on this one */
		{ SVC_PAYMENT, EV_INVENTORY_RESERVED, "chorus.order.retry", "chorus-order", "chorus/inventory",
		  "forged: InventoryReserved came through exchange 'chorus.order.retry'" },
		{ SVC_PAYMENT, EV_INVENTORY_RESERVED, "chorus.payment.retry", "chorus-inventory", "chorus/inventory",
		  "forged: InventoryReserved came through exchange 'chorus.payment.retry'" },
	};
	struct conf cfg;

	(void)unused;
	conf_defaults(&cfg);
	for (size_t i = 0; i < NELEM(cases); i++) {
		struct delivery d = { .exchange = (char *)cases[i].exchange, .user_id = (char *)cases[i].user };
		struct event ev;
		char why[256] = "";
		int r;

		memset(&ev, 0, sizeof(ev));
		ev.type = cases[i].type;
		snprintf(ev.source, sizeof(ev.source), "%s", cases[i].source);
		r = origin_check(&d, &ev, cases[i].svc, &cfg, why, sizeof(why));
		if (cases[i].want == NULL && r != 0)
			fail_msg("case %zu: got '%s', want accepted", i, why);
		if (cases[i].want != NULL && (r == 0 || strncmp(why, cases[i].want, strlen(cases[i].want)) != 0))
			fail_msg("case %zu: got %d '%s', want '%s'", i, r, why, cases[i].want);
	}
	conf_free(&cfg);
}

static void
test_retry_path(void **unused)
{
	static const struct {
		const char *exchange, *user;
		bool want;
	} cases[] = {
		{ "chorus.order.retry", "chorus-order", true },
		{ "chorus.order.retry", "chorus-admin", true },	/* dead replay */
		{ "chorus.order.retry", "chorus-payment", false },
		{ "chorus.order.retry", NULL, false },
		{ "chorus.order", "chorus-order", false },
		{ "chorus.payment.retry", "chorus-payment", false },
		{ "", "chorus-admin", false },
		{ NULL, "chorus-order", false },
	};
	struct conf cfg;

	(void)unused;
	conf_defaults(&cfg);
	for (size_t i = 0; i < NELEM(cases); i++) {
		struct delivery d = { .exchange = (char *)cases[i].exchange, .user_id = (char *)cases[i].user };

		if (origin_retry_path(&d, SVC_ORDER, &cfg) != cases[i].want)
			fail_msg("exchange %s user %s: got %d, want %d", cases[i].exchange ? cases[i].exchange : "(none)",
			    cases[i].user ? cases[i].user : "(none)", !cases[i].want, cases[i].want);
	}
	conf_free(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_retry_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
