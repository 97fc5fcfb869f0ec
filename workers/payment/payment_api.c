/*
 * payment_api: the payment service's REST API (contract section 7),
 * read-only, from its own database: a payment by order id, a customer's
 * account (in the one currency accounts hold).
 */
#include "config.h"

#include "payment_api.h"

void
payment_api_routes(struct api *api, const struct conf *cfg)
{
	/* a payment row with status NONE holds nothing yet: not found */
	api_get_route(api, "/v1/payments/{}", "order_id", "api_payment_get",
	    "SELECT order_id, json_build_object('order_id', order_id, 'status', status, "
	    "  'reason', nullif(reason, ''), 'amount_cents', amount_cents, "
	    "  'currency', currency)::text "
	    "FROM payments WHERE order_id = ANY($1::text[]) AND status <> 'NONE'", NULL);
	api_get_route(api, "/v1/accounts/{}", "customer_id", "api_account_get",
	    "SELECT customer_id, json_build_object('customer_id', customer_id, "
	    "  'balance_cents', balance_cents, 'currency', $2::text)::text "
	    "FROM accounts WHERE customer_id = ANY($1::text[])", cfg->currency);
}
