/*
 * chorus-payment: the payment service's daemon. All the machinery is the
 * shared worker skeleton; this names the service, its batch handler and
 * its payment provider (behind a circuit breaker that pauses consumption).
 */
#include "config.h"

#include "payment.h"
#include "provider.h"
#include "payment_api.h"
#include "worker.h"

int
main(int argc, char **argv)
{
	static const struct worker_ops ops = {
		.handler = {
			.svc = SVC_PAYMENT,
			.apply = payment_apply,
			.pause_ms = provider_pause_ms,
		},
		.init = provider_init,
		.api = payment_api_routes,
	};

	return worker_main(argc, argv, &ops);
}
