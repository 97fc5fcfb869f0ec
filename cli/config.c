/*
 * chorusctl config: the effective configuration (secrets masked), or with
 * --keys every key with its default and description (the table that
 * tests/packaging/docs.sh checks the documentation against).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "xmalloc.h"

int
cmd_config(struct cli *c, int argc, char **argv)
{
	int keys_only = argc == 2 && strcmp(argv[1], "--keys") == 0;
	struct json_object *o = json_object_new_object();

	if (argc > 2 || (argc == 2 && !keys_only)) {
		cli_err("usage: chorusctl config [--keys]");
		json_object_put(o);
		return EX_USAGE;
	}
	for (size_t i = 0; i < conf_key_count(); i++) {
		char *v = conf_key_value(&c->cfg, i), *shown;

		shown = conf_key_secret(i) ? conf_mask(conf_key_name(i), v) : xstrdup(v);
		if (keys_only)
			cli_printf("%s\t%s\t%s\n", conf_key_name(i), conf_key_default(i), conf_key_help(i));
		else if (c->json)
			json_object_object_add(o, conf_key_name(i), json_object_new_string(shown));
		else
			cli_printf("%s = %s\n", conf_key_name(i), shown);
		free(v);
		free(shown);
	}
	if (c->json && !keys_only)
		cli_print_json(o);
	else
		json_object_put(o);
	return 0;
}
