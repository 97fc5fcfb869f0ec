/*
 * chorusctl: the operator CLI's entry point: global options, the
 * configuration (conf_load, as the workers load theirs), the command table
 * and the dispatch to a command's function. Each command group lives in
 * the file of its name; what they share is in cli.c (see cli.h).
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "log.h"
#include "xmalloc.h"

struct command {
	const char *name;
	int (*fn)(struct cli *c, int argc, char **argv);
	const char *usage;
};

static const struct command commands[] = {
	{ "publish", cmd_publish, "publish TYPE --data JSON|@FILE|- [--id UUID] [--count N] [--rate R]\n"
	  "      publish --raw BODY|@FILE|- (--queue Q | --exchange X --routing-key K)" },
	{ "order", cmd_order, "order place --customer C --item SKU:QTY... --total CENTS [--currency CUR] [--id ID] [--wait S]\n"
	  "      order show ID | order list [--status S] [--limit N] | order wait ID [--timeout S]" },
	{ "stock", cmd_stock, "stock set SKU UNITS | stock list" },
	{ "account", cmd_account, "account set CUSTOMER CENTS | account list" },
	{ "setup", cmd_setup, "setup [--prune|--users] (apply all migrations, declare the topology; report or\n"
	  "      --prune the retry queues an earlier retry_ladder left behind; --users: print\n"
	  "      the RabbitMQ users and permissions)" },
	{ "migrate", cmd_migrate, "migrate [SERVICE]    (apply database migrations)" },
	{ "declare", cmd_declare, "declare              (declare exchanges, queues and bindings)" },
	{ "outbox", cmd_outbox, "outbox               (outbox backlog per service)" },
	{ "dead", cmd_dead, "dead list | dead show SERVICE [--limit N] | dead replay SERVICE [--limit N] | dead purge SERVICE" },
	{ "unrouted", cmd_unrouted, "unrouted list | unrouted show [--limit N] | unrouted replay [--limit N] | unrouted purge\n"
	  "      (events no queue took, caught by the alternate exchange)" },
	{ "config", cmd_config, "config [--keys]      (the effective configuration, secrets masked; --keys: every key)" },
	{ "wait-quiet", cmd_wait_quiet, "wait-quiet [--timeout S]  (until queues are empty and outboxes drained)" },
	{ "snapshot", cmd_snapshot, "snapshot             (stock and balances, JSON, for check --baseline)" },
	{ "check", cmd_check, "check [--baseline FILE]  (verify the saga invariants once quiet)" },
	{ "trace", cmd_trace, "trace ORDER_ID [--dead-limit N]  (the saga's timeline across the services)" },
	{ "bench", cmd_bench, BENCH_USAGE },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: chorusctl [-c FILE] [-o KEY=VALUE]... [--json] COMMAND [ARGS]\n"
	    "\n"
	    "The Chorus operator CLI. Commands (each takes --help):\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %s\n", commands[i].usage);
	fprintf(f,
	    "\n"
	    "  -c, --config FILE    config file (default %s)\n"
	    "  -o, --set KEY=VALUE  override a config key; CHORUS_<KEY> in the environment too\n"
	    "      --json           machine-readable output on read commands\n"
	    "  -q, --quiet          print only errors\n"
	    "\n"
	    "Exit codes: 0 ok, 64 usage, 65 invalid data, 69 server unavailable,\n"
	    "75 timed out, 76 not confirmed or unroutable, 78 bad configuration.\n",
	    conf_default_path());
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "set", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli c;
	const char *path = NULL;
	const char **sets = xcalloc((size_t)argc + 1, sizeof(*sets));
	size_t nsets = 0;
	char *cause = NULL;
	int ch, ret = EX_USAGE;

	memset(&c, 0, sizeof(c));
	conf_defaults(&c.cfg);
	/* '+': options end at the command name; the command parses the rest */
	while ((ch = getopt_long(argc, argv, "+c:o:qhV", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 'o': sets[nsets++] = optarg; break;
		case 'j': c.json = 1; break;
		case 'q': c.quiet = 1; break;
		case 'h': usage(stdout); ret = 0; goto out;
		case 'V': printf("chorusctl %s\n", PACKAGE_VERSION); ret = 0; goto out;
		default: usage(stderr); goto out;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		goto out;
	}
	ret = EX_CONFIG;
	if (conf_load(&c.cfg, path, sets, nsets, &cause) != 0) {
		cli_err("config: %s", cause);
		goto out;
	}
	/* failures reach the user as one cli_err line each; library warnings would repeat them */
	log_init("chorusctl", LOG_LEVEL_ERROR);
	for (size_t i = 0; i < NCOMMANDS; i++) {
		if (strcmp(commands[i].name, argv[optind]) != 0)
			continue;
		for (int a = optind + 1; a < argc; a++)
			if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
				printf("usage: chorusctl %s\n", commands[i].usage);
				ret = 0;
				goto out;
			}
		/* commands see argv starting at their name; getopt restarts */
		{
			int sub_argc = argc - optind;
			char **sub_argv = argv + optind;

			optind = 0;	/* GNU getopt: 0 restarts scanning from argv[1] */
			ret = commands[i].fn(&c, sub_argc, sub_argv);
		}
		goto out;
	}
	cli_err("unknown command '%s' (chorusctl --help lists them)", argv[optind]);
	ret = EX_USAGE;
out:
	free(cause);
	free(sets);
	conf_free(&c.cfg);
	return ret;
}
