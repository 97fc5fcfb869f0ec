/*
 * chorusctl setup, migrate and declare: what a fresh installation, and each
 * upgrade, needs before the workers start: the databases' migrations and
 * the broker's topology.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>

#include "cli.h"
#include "migrate.h"
#include "topology.h"

int
cmd_migrate(struct cli *c, int argc, char **argv)
{
	enum service_id only = SVC__COUNT;

	if (argc > 2 || (argc == 2 && (only = service_from_name(argv[1])) == SVC__COUNT)) {
		cli_err("usage: chorusctl migrate [order|inventory|payment]");
		return EX_USAGE;
	}
	for (int s = 0; s < SVC__COUNT; s++) {
		struct db *db;
		char *cause = NULL;
		int n;

		if (only != SVC__COUNT && only != (enum service_id)s)
			continue;
		if ((db = cli_db(c, (enum service_id)s)) == NULL)
			return EX_UNAVAILABLE;
		n = migrate_apply(db, c->cfg.schema_dir, (enum service_id)s, &cause);
		db_close(db);
		if (n < 0) {
			cli_err("migrate: %s", cause);
			free(cause);
			return EX_SOFTWARE;
		}
		if (!c->quiet)
			cli_printf("%s: %d migration(s) applied%s\n", service_name((enum service_id)s), n,
			    n == 0 ? " (up to date)" : "");
	}
	return 0;
}

int
cmd_declare(struct cli *c, int argc, char **argv)
{
	struct broker *b;
	struct retry_policy rp;
	char *cause = NULL;

	(void)argv;
	if (argc != 1) {
		cli_err("usage: chorusctl declare");
		return EX_USAGE;
	}
	if ((b = cli_broker(c, 0)) == NULL)
		return EX_UNAVAILABLE;
	conf_retry_policy(&c->cfg, &rp);
	if (topology_declare(b, SVC__COUNT, &rp, &cause) != 0) {
		cli_err("declare: %s", cause);
		free(cause);
		broker_close(b);
		return EX_PROTOCOL;
	}
	broker_close(b);
	if (!c->quiet)
		cli_printf("topology declared: exchanges chorus.order, chorus.inventory, chorus.payment, "
		    "chorus.dead, chorus.unrouted; queues chorus.<service>.events, .retry.<delay> and .dead\n");
	return 0;
}

int
cmd_setup(struct cli *c, int argc, char **argv)
{
	char *one[1] = { argv[0] };
	int r;

	if (argc != 1) {
		cli_err("usage: chorusctl setup");
		return EX_USAGE;
	}
	r = cmd_migrate(c, 1, one);
	return r != 0 ? r : cmd_declare(c, 1, one);
}
