/*
 * chorusctl: the operator CLI. cli/chorusctl.c holds main and the command
 * table; each command group has a file of its name (publish.c, order.c,
 * stock.c, account.c, setup.c, outbox.c, dead.c, config.c, wait_quiet.c,
 * check.c, trace.c, bench.c, and bench_forward.c for bench --broker-only);
 * cli.h / cli.c are what they share: the loaded configuration, connections
 * that fail with one clear line, event publishing with confirms, and
 * output helpers (text or --json).
 *
 * Exit codes follow sysexits: 64 usage, 65 invalid data (a bad event), 69 a
 * server is down or unreachable, 75 a wait timed out, 76 the broker did not
 * confirm or returned a message, 78 bad configuration.
 */
#ifndef CHORUS_CLI_H
#define CHORUS_CLI_H

#include <stdio.h>

#include <json-c/json.h>

#include "broker.h"
#include "conf.h"
#include "db.h"
#include "envelope.h"
#include "service.h"

struct cli {
	struct conf cfg;
	int json;		/* --json: machine-readable output on read commands */
	int quiet;
};

/*
 * Text output: what chorusctl prints comes from messages and databases
 * anyone may have written, so every %s argument is escaped (escape.h,
 * ESCAPE_TEXT: control characters, ESC sequences, C1 controls, bytes that
 * are not UTF-8), the format itself printed as it is.
 */
/* One line on stderr: "chorusctl: <message>". */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* printf on stdout, %s arguments escaped. */
void cli_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Connect to a service's database; NULL after printing why. */
struct db *cli_db(struct cli *c, enum service_id svc);
/*
 * Run one writing statement on a service's database (fixtures): 0, or a
 * sysexits code after printing why (65 when the database refuses the data).
 */
int cli_exec(struct cli *c, enum service_id svc, const char *sql, int n, const char *const *p);
/* Connect to RabbitMQ (confirm mode when asked); NULL after printing why. */
struct broker *cli_broker(struct cli *c, int confirm);
/* How long chorusctl waits for the broker's confirms of one window. */
#define CLI_CONFIRM_TIMEOUT_MS 30000

/* Make event i (0-based) of a run into ev (envelope filled). 0, or an exit code. */
typedef int (*cli_event_fn)(void *arg, size_t i, struct event *ev);

/*
 * Publish n events made by make, on their types' exchanges, with mandatory
 * and publisher confirms (a struct broker_batch): at most window in flight,
 * at most rate per second (0: no limit; while waiting the connection is
 * kept served). b must be in confirm mode (cli_broker(c, 1)). sent_at[i],
 * when given, gets the time (clock_s) just before event i was published;
 * *published, when given, how many were confirmed. 0, or a sysexits code
 * after printing why (76: not confirmed, returned or refused).
 */
int cli_publish(struct broker *b, size_t n, cli_event_fn make, void *arg, size_t window,
    double rate, const char *app_id, double *sent_at, size_t *published);
/* Publish the one event ev with confirms (cli_publish of one); 0 or an exit code. */
int cli_publish_one(struct broker *b, const struct event *ev, const char *app_id);
/*
 * Render ev and publish it in bb as every Chorus publisher does
 * (broker_batch_add_event); *sent_at, when given, gets the time (clock_s)
 * just before. 0, or EX_UNAVAILABLE after printing why.
 */
int cli_publish_event(struct broker_batch *bb, const struct event *ev, const char *app_id,
    double *sent_at);
/*
 * Wrap data (JSON text of len bytes) in an envelope of type, with id (NULL:
 * a new one), source chorusctl, a new trace, and validate it into *ev.
 * 0, or EX_DATAERR after printing why.
 */
int cli_build_event(const char *type, const char *data, size_t len, const char *id,
    struct event *ev);
/* Print a json-c object (pretty) on stdout and release it. */
void cli_print_json(struct json_object *o);
/* Rows of a query as a JSON array of objects (column names as keys; NULL as null). */
struct json_object *cli_rows_json(PGresult *res);
/* Print rows as an aligned text table. */
void cli_rows_text(PGresult *res);
/* Run a read query on a service's database and print it (text or --json); exit code. */
int cli_show_query(struct cli *c, enum service_id svc, const char *sql, int n,
    const char *const *p);
/* Run one fixture statement (cli_exec) and print done unless quiet; exit code. */
int cli_fixture(struct cli *c, enum service_id svc, const char *sql, int n,
    const char *const *p, const char *done);
/* A parse of a whole non-negative number; -1 when it is not one. */
long long cli_number(const char *s);
/* Read "@file", "-" (stdin) or the literal itself; malloc'ed, NULL after printing why. */
char *cli_read_arg(const char *arg, size_t *len);

int cmd_publish(struct cli *c, int argc, char **argv);
int cmd_order(struct cli *c, int argc, char **argv);
int cmd_stock(struct cli *c, int argc, char **argv);
int cmd_account(struct cli *c, int argc, char **argv);
int cmd_setup(struct cli *c, int argc, char **argv);
int cmd_migrate(struct cli *c, int argc, char **argv);
int cmd_declare(struct cli *c, int argc, char **argv);
int cmd_outbox(struct cli *c, int argc, char **argv);
int cmd_dead(struct cli *c, int argc, char **argv);
int cmd_unrouted(struct cli *c, int argc, char **argv);
int cmd_config(struct cli *c, int argc, char **argv);
int cmd_wait_quiet(struct cli *c, int argc, char **argv);
int cmd_snapshot(struct cli *c, int argc, char **argv);
int cmd_check(struct cli *c, int argc, char **argv);
int cmd_trace(struct cli *c, int argc, char **argv);
int cmd_bench(struct cli *c, int argc, char **argv);
#define BENCH_USAGE "bench [--orders N] [--rate R] [--skus K] [--customers C] [--items I] " \
	"[--mix H/S/F] [--seed S] [--window W] [--timeout S] [--stack-dir DIR] [--broker-only]"

#endif
