/*
 * chorus-inventory: the inventory service's daemon. All the machinery is
 * the shared worker skeleton; this names the service and its batch handler.
 */
#include "config.h"

#include "inventory.h"
#include "inventory_api.h"
#include "worker.h"

int
main(int argc, char **argv)
{
	static const struct worker_ops ops = {
		.handler = { .svc = SVC_INVENTORY, .apply = inventory_apply },
		.api = inventory_api_routes,
	};

	return worker_main(argc, argv, &ops);
}
