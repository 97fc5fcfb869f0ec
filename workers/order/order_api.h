/*
 * order_api: the order service's REST API routes (contract section 7):
 * POST /v1/orders, GET /v1/orders/{id}, GET /v1/orders?status=&limit=&after=.
 */
#ifndef CHORUS_ORDER_API_H
#define CHORUS_ORDER_API_H

#include "api.h"

/* Add the routes to the service's API (an api_routes_fn). */
void order_api_routes(struct api *api, const struct conf *cfg);

#endif
