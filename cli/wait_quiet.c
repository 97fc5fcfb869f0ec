/*
 * chorusctl wait-quiet: wait, bounded, until the system has nothing left to
 * do: no ready message in the service queues or their retry queues, no
 * pending outbox row, and nothing consumed or written for a few polls.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "cli.h"
#include "clock.h"
#include "topology.h"

/*
 * Activity counters: ready messages in the three queues and in their retry
 * (delay) queues, where a delivery that failed transiently waits for its
 * next attempt; pending outbox rows; inbox + outbox rows.
 */
static int
activity(struct cli *c, struct broker *b, long long *ready, long long *pending, long long *rows)
{
	struct retry_policy rp;
	char *cause = NULL;

	conf_retry_policy(&c->cfg, &rp);
	*ready = *pending = *rows = 0;
	for (int s = 0; s < SVC__COUNT; s++) {
		long n = broker_queue_count(b, topology_queue((enum service_id)s), &cause);
		struct db *db;
		PGresult *res;

		for (size_t step = 0; n >= 0 && step < rp.steps; step++) {
			char q[128];
			long r;

			retry_queue_name((enum service_id)s, &rp, (int)step, q, sizeof(q));
			if ((r = broker_queue_count(b, q, &cause)) < 0)
				n = -1;
			else
				n += r;
		}
		if (n < 0) {
			cli_err("wait-quiet: %s", cause);
			free(cause);
			return EX_UNAVAILABLE;
		}
		*ready += n;
		if ((db = cli_db(c, (enum service_id)s)) == NULL)
			return EX_UNAVAILABLE;
		res = db_query(db, NULL, "SELECT (SELECT count(*) FROM outbox WHERE published_at IS NULL), "
		    "(SELECT count(*) FROM outbox) + (SELECT count(*) FROM inbox)", 0, NULL);
		if (res == NULL) {
			cli_err("%s database: %s", service_name((enum service_id)s), db_last_error(db));
			db_close(db);
			return EX_SOFTWARE;
		}
		*pending += atoll(PQgetvalue(res, 0, 0));
		*rows += atoll(PQgetvalue(res, 0, 1));
		PQclear(res);
		db_close(db);
	}
	return 0;
}

/*
 * wait-quiet: until the queues hold no ready message, the outboxes nothing
 * pending, and nothing was consumed or written for `settle` polls in a row
 * (a delivery being handled commits within a poll and shows as activity).
 */
int
cmd_wait_quiet(struct cli *c, int argc, char **argv)
{
	double timeout = 60;
	struct broker *b;
	long long ready, pending, rows, last_rows = -1;
	int calm = 0, r = 0;
	double start;

	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "--timeout") == 0)
			timeout = atof(argv[i + 1]);
	if ((b = cli_broker(c, 0)) == NULL)
		return EX_UNAVAILABLE;
	start = clock_s();
	for (;;) {
		struct timespec ts = { 0, 200 * 1000000L };

		if ((r = activity(c, b, &ready, &pending, &rows)) != 0)
			break;
		calm = (ready == 0 && pending == 0 && rows == last_rows) ? calm + 1 : 0;
		last_rows = rows;
		if (calm >= 3) {
			if (!c->quiet)
				cli_printf("quiet: queues empty, outboxes drained\n");
			break;
		}
		if (clock_s() - start > timeout) {
			cli_err("not quiet after %.0f s: %lld ready in queues, %lld outbox rows pending",
			    timeout, ready, pending);
			r = EX_TEMPFAIL;
			break;
		}
		nanosleep(&ts, NULL);
	}
	broker_close(b);
	return r;
}
