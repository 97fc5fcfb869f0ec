/*
 * chorus-order: the order service's daemon. All the machinery is the
 * shared worker skeleton; this names the service, its batch handler and
 * its timer (the saga deadline) and its REST API.
 */
#include "config.h"

#include "order.h"
#include "order_api.h"
#include "worker.h"

int
main(int argc, char **argv)
{
	static const struct worker_ops ops = {
		.handler = {
			.svc = SVC_ORDER,
			.apply = order_apply,
			.timers = &order_deadline_timer,
			.ntimers = 1,
		},
		.init = order_init,
		.api = order_api_routes,
		/* the saga's owner reports events nobody took */
		.watch_unrouted = 1,
	};

	return worker_main(argc, argv, &ops);
}
