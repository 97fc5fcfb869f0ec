/*
 * chorus-payment: the payment service's daemon (shared worker skeleton +
 * the payment handler).
 */
#include "config.h"

#include "payment.h"
#include "provider.h"
#include "worker.h"

int
main(int argc, char **argv)
{
	static const struct worker_ops ops = {
		.svc = SVC_PAYMENT,
		.init = provider_init,
		.prepare = payment_prepare,
		.handle = payment_handle,
		.tick = NULL,
		.pause_ms = provider_pause_ms,
	};

	return worker_main(argc, argv, &ops);
}
