/* placeholder until written */
#include "config.h"
#include <sysexits.h>
#include "cli.h"
int cmd_bench(struct cli *c, int argc, char **argv) { (void)c; (void)argc; (void)argv; cli_err("not yet"); return EX_SOFTWARE; }
