/*
 * Unit tests of bench_forward (cli/bench_forward.c): what one saga of each
 * fate costs the broker when the forwarders stand in for the workers, the
 * same as the real services make by contract section 2, message for
 * message: deliveries from the service queues and events published.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include "bench_forward.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void
test_per_saga(void **unused)
{
	static const struct {
		enum bench_fate fate;
		size_t deliveries, publishes;
		const char *chain;	/* what happens, for the failure message */
	} cases[] = {
		/* OrderCreated to order and inventory; InventoryReserved to payment;
		 * PaymentCompleted to order; OrderConfirmed to inventory */
		{ BENCH_CONFIRMED, 5, 3, "reserved, paid, confirmed" },
		/* OrderCreated x2; InventoryReservationFailed to order; OrderCancelled
		 * to inventory (nothing held) and payment (nothing charged) */
		{ BENCH_OUT_OF_STOCK, 5, 2, "reservation failed, cancelled" },
		/* OrderCreated x2; InventoryReserved; PaymentFailed to order and
		 * inventory; OrderCancelled to inventory and payment;
		 * InventoryReleased (from the PaymentFailed) to order */
		{ BENCH_NO_FUNDS, 8, 4, "reserved, payment failed, cancelled, released" },
	};

	(void)unused;
	for (size_t i = 0; i < NELEM(cases); i++) {
		size_t deliveries = 0, publishes = 0;

		bench_forward_per_saga(cases[i].fate, &deliveries, &publishes);
		if (deliveries != cases[i].deliveries || publishes != cases[i].publishes)
			fail_msg("%s: got %zu deliveries and %zu publishes, want %zu and %zu",
			    cases[i].chain, deliveries, publishes, cases[i].deliveries,
			    cases[i].publishes);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_per_saga),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
