/*
 * chorusctl stock: units on hand per SKU, set (a fixture) and listed, in
 * the inventory service's database.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"

int
cmd_stock(struct cli *c, int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "set") == 0) {
		const char *p[2] = { argv[2], argv[3] };
		char done[200];

		if (!envelope_valid_id(argv[2]) || cli_number(argv[3]) < 0) {
			cli_err("stock set: SKU must be an id ([A-Za-z0-9._:-], 1-64) and UNITS a whole number");
			return EX_USAGE;
		}
		snprintf(done, sizeof(done), "%s: %s units on hand", argv[2], argv[3]);
		/* units on hand cannot go below what is held for pending orders (CHECK) */
		return cli_fixture(c, SVC_INVENTORY,
		    "INSERT INTO stock (sku, on_hand) VALUES ($1, $2::bigint) ON CONFLICT (sku) "
		    "DO UPDATE SET on_hand = EXCLUDED.on_hand, updated_at = now()", 2, p, done);
	}
	if (argc == 2 && strcmp(argv[1], "list") == 0)
		return cli_show_query(c, SVC_INVENTORY,
		    "SELECT sku, on_hand, reserved, on_hand - reserved AS available FROM stock ORDER BY sku",
		    0, NULL);
	cli_err("usage: chorusctl stock set SKU UNITS | stock list");
	return EX_USAGE;
}
