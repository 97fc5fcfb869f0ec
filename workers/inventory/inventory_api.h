/*
 * inventory_api: the inventory service's REST API routes (contract
 * section 7): GET /v1/reservations/{order_id}, GET /v1/stock/{sku}.
 */
#ifndef CHORUS_INVENTORY_API_H
#define CHORUS_INVENTORY_API_H

#include "api.h"

/* Add the routes to the service's API (an api_routes_fn). */
void inventory_api_routes(struct api *api, const struct conf *cfg);

#endif
