/*
 * daemon: what the main() of every Chorus daemon shares (the workers'
 * skeleton, worker.c, and chorus-gateway): the command line and the
 * configuration, and the conversation with systemd (sd_notify and the
 * watchdog interval), compiled away without libsystemd so that call sites
 * need no #ifdef.
 */
#ifndef CHORUS_DAEMON_H
#define CHORUS_DAEMON_H

#include <stdint.h>

#include "conf.h"

/*
 * Parse the options (-c FILE, -o KEY=VALUE, --log-level, --check-config,
 * -V, -h; about is the paragraph --help prints under the usage line) and
 * load cfg (holding the defaults): file < credentials < environment <
 * flags. Returns 0 when loaded (*check_only set by --check-config), -1 when
 * done (--help or --version printed), or an exit status (EX_USAGE,
 * EX_CONFIG) after printing why. May be called again (a reload).
 */
int daemon_load_conf(int argc, char **argv, const char *about, struct conf *cfg,
    int *check_only);
/*
 * Signals: handler (which only sets flags) for SIGTERM, SIGINT, SIGHUP and
 * SIGALRM; SIGPIPE ignored (a closed peer is an error return, not a death).
 */
void daemon_signals(void (*handler)(int));
/* sd_notify(0, ...) with printf formatting; nothing without systemd. */
void daemon_notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The watchdog interval systemd asked for (WATCHDOG_USEC), in ms; 0 when none. */
uint64_t daemon_watchdog_ms(void);

#endif
