/*
 * chorus-payment: the payment service's daemon (shared worker skeleton +
 * the payment handler).
 */
#include "config.h"

#include "payment.h"
#include "worker.h"

int
main(int argc, char **argv)
{
	static const struct worker_ops ops = {
		.svc = SVC_PAYMENT,
		.handle = payment_handle,
		.tick = NULL,
	};

	return worker_main(argc, argv, &ops);
}
