/*
 * inventory_api: the inventory service's REST API (contract section 7),
 * read-only, from its own database: a reservation by order id, the stock
 * of a SKU.
 */
#include "config.h"

#include "inventory_api.h"

void
inventory_api_routes(struct api *api, const struct conf *cfg)
{
	(void)cfg;
	/* a reservation row with status NONE holds nothing yet: not found */
	api_get_route(api, "/v1/reservations/{}", "order_id", "api_reservation_get",
	    "SELECT order_id, json_build_object('order_id', order_id, 'status', status, "
	    "  'reason', nullif(reason, ''), 'items', coalesce(items, '[]'::jsonb))::text "
	    "FROM reservations WHERE order_id = ANY($1::text[]) AND status <> 'NONE'", NULL);
	api_get_route(api, "/v1/stock/{}", "sku", "api_stock_get",
	    "SELECT sku, json_build_object('sku', sku, 'on_hand', on_hand, 'reserved', reserved, "
	    "  'available', on_hand - reserved)::text "
	    "FROM stock WHERE sku = ANY($1::text[])", NULL);
}
