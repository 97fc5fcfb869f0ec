/*
 * chorusctl account: customers' balances, set (a fixture) and listed, in
 * the payment service's database.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"

int
cmd_account(struct cli *c, int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "set") == 0) {
		const char *p[2] = { argv[2], argv[3] };
		char done[200];

		if (!envelope_valid_id(argv[2]) || cli_number(argv[3]) < 0) {
			cli_err("account set: CUSTOMER must be an id and CENTS a whole number >= 0");
			return EX_USAGE;
		}
		snprintf(done, sizeof(done), "%s: balance %s cents (%s)", argv[2], argv[3], c->cfg.currency);
		return cli_fixture(c, SVC_PAYMENT,
		    "INSERT INTO accounts (customer_id, balance_cents) VALUES ($1, $2::bigint) "
		    "ON CONFLICT (customer_id) DO UPDATE SET balance_cents = EXCLUDED.balance_cents, "
		    "updated_at = now()", 2, p, done);
	}
	if (argc == 2 && strcmp(argv[1], "list") == 0)
		return cli_show_query(c, SVC_PAYMENT,
		    "SELECT customer_id, balance_cents FROM accounts ORDER BY customer_id", 0, NULL);
	cli_err("usage: chorusctl account set CUSTOMER CENTS | account list");
	return EX_USAGE;
}
