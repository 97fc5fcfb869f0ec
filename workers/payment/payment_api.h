/*
 * payment_api: the payment service's REST API routes (contract section
 * 7): GET /v1/payments/{order_id}, GET /v1/accounts/{customer_id}.
 */
#ifndef CHORUS_PAYMENT_API_H
#define CHORUS_PAYMENT_API_H

#include "api.h"

/* Add the routes to the service's API (an api_routes_fn). */
void payment_api_routes(struct api *api, const struct conf *cfg);

#endif
