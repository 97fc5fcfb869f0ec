/*
 * daemon: options, configuration and sd_notify of every daemon (see daemon.h).
 */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "daemon.h"
#include "xmalloc.h"

void
daemon_signals(void (*handler)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

void
daemon_notify(const char *fmt, ...)
{
#ifdef HAVE_SYSTEMD
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	sd_notify(0, buf);
#else
	(void)fmt;
#endif
}

uint64_t
daemon_watchdog_ms(void)
{
#ifdef HAVE_SYSTEMD
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) > 0)
		return usec / 1000;
#endif
	return 0;
}

static void
usage(FILE *f, const char *prog, const char *about)
{
	fprintf(f,
	    "usage: %s [-c FILE] [-o KEY=VALUE]... [--log-level LEVEL] [--check-config]\n"
	    "\n"
	    "%s\n"
	    "\n"
	    "  -c, --config FILE      config file (default %s; missing default is fine)\n"
	    "  -o, --set KEY=VALUE    override one config key (see chorus.conf(5))\n"
	    "      --log-level LEVEL  error, warn, info or debug\n"
	    "      --check-config     validate the configuration and exit\n"
	    "  -V, --version          print the version and exit\n"
	    "  -h, --help             this help\n"
	    "\n"
	    "Every key can also be set as CHORUS_<KEY> in the environment, e.g.\n"
	    "CHORUS_AMQP_URL, CHORUS_ORDER_DATABASE_URL (so secrets need not be in argv),\n"
	    "and under systemd the *_url keys from credentials ($CREDENTIALS_DIRECTORY/KEY).\n",
	    prog, about, conf_default_path());
}

int
daemon_load_conf(int argc, char **argv, const char *about, struct conf *cfg, int *check_only)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "set", required_argument, NULL, 'o' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "check-config", no_argument, NULL, 'k' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL, *level = NULL;
	const char **sets = xcalloc((size_t)argc + 1, sizeof(*sets));
	size_t nsets = 0;
	char *cause = NULL;
	int ch, ret = EX_USAGE;

	optind = 0;	/* GNU getopt: scan from argv[1] again (a reload parses twice) */
	while ((ch = getopt_long(argc, argv, "c:o:Vh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'o':
			sets[nsets++] = optarg;
			break;
		case 'l':
			level = optarg;
			break;
		case 'k':
			*check_only = 1;
			break;
		case 'V':
			printf("%s %s\n", argv[0], PACKAGE_VERSION);
			ret = -1;
			goto out;
		case 'h':
			usage(stdout, argv[0], about);
			ret = -1;
			goto out;
		default:
			usage(stderr, argv[0], about);
			goto out;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", argv[0], argv[optind]);
		goto out;
	}
	ret = EX_CONFIG;
	if (conf_load(cfg, path, sets, nsets, &cause) != 0)
		goto bad;
	if (level != NULL && conf_set(cfg, "log_level", level, "option --log-level", &cause) != 0)
		goto bad;
	ret = 0;
	goto out;
bad:
	fprintf(stderr, "%s: config: %s\n", argv[0], cause);
	free(cause);
out:
	free(sets);
	return ret;
}
