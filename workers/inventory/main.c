/*
 * chorus-inventory: the inventory service's daemon (shared worker skeleton
 * + the inventory handler).
 */
#include "config.h"

#include "inventory.h"
#include "worker.h"

int
main(int argc, char **argv)
{
	static const struct worker_ops ops = {
		.svc = SVC_INVENTORY,
		.prepare = inventory_prepare,
		.handle = inventory_handle,
		.tick = NULL,
	};

	return worker_main(argc, argv, &ops);
}
