/*
 * chorusctl outbox: each service's outbox backlog: rows pending and the age
 * of the oldest, rows published, rows whose publish failed.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>

#include "cli.h"

int
cmd_outbox(struct cli *c, int argc, char **argv)
{
	struct json_object *arr = json_object_new_array();
	int ret = 0;

	(void)argv;
	if (argc != 1) {
		cli_err("usage: chorusctl outbox");
		json_object_put(arr);
		return EX_USAGE;
	}
	if (!c->json)
		cli_printf("%-10s %8s %12s %10s %s\n", "service", "pending", "oldest_age_s", "published",
		    "failing");
	for (int s = 0; s < SVC__COUNT; s++) {
		struct db *db = cli_db(c, (enum service_id)s);
		struct json_object *o;
		PGresult *res;

		if (db == NULL) {
			ret = EX_UNAVAILABLE;
			break;
		}
		res = db_query(db, NULL,
		    "SELECT count(*) FILTER (WHERE published_at IS NULL), "
		    "  coalesce(extract(epoch FROM now() - min(created_at) FILTER "
		    "    (WHERE published_at IS NULL))::bigint, 0), "
		    "  count(*) FILTER (WHERE published_at IS NOT NULL), "
		    "  count(*) FILTER (WHERE published_at IS NULL AND attempts > 0) FROM outbox", 0, NULL);
		if (res == NULL) {
			cli_err("%s database: %s", service_name((enum service_id)s), db_last_error(db));
			db_close(db);
			ret = EX_SOFTWARE;
			break;
		}
		o = json_object_new_object();
		json_object_object_add(o, "service", json_object_new_string(service_name((enum service_id)s)));
		json_object_object_add(o, "pending", json_object_new_int64(atoll(PQgetvalue(res, 0, 0))));
		json_object_object_add(o, "oldest_pending_age_s", json_object_new_int64(atoll(PQgetvalue(res, 0, 1))));
		json_object_object_add(o, "published", json_object_new_int64(atoll(PQgetvalue(res, 0, 2))));
		json_object_object_add(o, "failing", json_object_new_int64(atoll(PQgetvalue(res, 0, 3))));
		json_object_array_add(arr, o);
		if (!c->json)
			cli_printf("%-10s %8s %12s %10s %s\n", service_name((enum service_id)s),
			    PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
			    PQgetvalue(res, 0, 3));
		PQclear(res);
		db_close(db);
	}
	if (ret == 0 && c->json)
		cli_print_json(arr);
	else
		json_object_put(arr);
	return ret;
}
