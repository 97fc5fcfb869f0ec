/*
 * chorus-order: the order service's daemon. All the machinery is the
 * shared worker skeleton; this names the service, its handler and its
 * periodic work (the saga deadline).
 */
#include "config.h"

#include "order.h"
#include "worker.h"

int
main(int argc, char **argv)
{
	static const struct worker_ops ops = {
		.svc = SVC_ORDER,
		.prepare = order_prepare,
		.handle = order_handle,
		.tick = order_deadline_sweep,
	};

	return worker_main(argc, argv, &ops);
}
