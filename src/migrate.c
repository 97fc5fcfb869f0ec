/*
 * migrate: numbered SQL migrations per service (see migrate.h).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "migrate.h"
#include "xmalloc.h"

#define MIGRATE_LOCK "7061211"	/* advisory lock key of migration runs */

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *
read_file(const char *path, char **cause)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0;

	if (f == NULL) {
		*cause = xasprintf("%s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		size_t n;

		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 16384;
			buf = xrealloc(buf, cap);
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	buf[len] = '\0';
	if (ferror(f)) {
		*cause = xasprintf("%s: read error", path);
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

int
migrate_apply(struct db *db, const char *schema_dir, enum service_id svc, char **cause)
{
	char *dirpath = xasprintf("%s/%s", schema_dir, service_name(svc));
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *dir;
	int applied = 0, ret = -1;

	dir = opendir(dirpath);
	if (dir == NULL) {
		*cause = xasprintf("schema directory %s: %s", dirpath, strerror(errno));
		free(dirpath);
		return -1;
	}
	while ((de = readdir(dir)) != NULL) {
		size_t l = strlen(de->d_name);

		if (l < 5 || strcmp(de->d_name + l - 4, ".sql") != 0 ||
		    de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			names = xrealloc(names, cap * sizeof(*names));
		}
		names[n++] = xstrdup(de->d_name);
	}
	closedir(dir);
	qsort(names, n, sizeof(*names), cmp_names);

	if (db_exec(db, "CREATE TABLE IF NOT EXISTS schema_migrations ("
	    " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())") != 0 &&
	    strcmp(db_last_sqlstate(db), "23505") != 0 && strcmp(db_last_sqlstate(db), "42P07") != 0)
		goto dbfail;
	for (size_t i = 0; i < n; i++) {
		const char *p[1] = { names[i] };
		PGresult *res;
		char *path, *sql;
		int done;

		if (db_exec(db, "BEGIN") != 0 ||
		    db_exec(db, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK ")") != 0)
			goto dbfail;
		res = db_query(db, NULL, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, p);
		if (res == NULL)
			goto dbfail;
		done = PQntuples(res) > 0;
		PQclear(res);
		if (done) {
			if (db_exec(db, "COMMIT") != 0)
				goto dbfail;
			continue;
		}
		path = xasprintf("%s/%s", dirpath, names[i]);
		sql = read_file(path, cause);
		free(path);
		if (sql == NULL) {
			(void)db_exec(db, "ROLLBACK");
			goto out;
		}
		if (db_exec(db, sql) != 0) {
			free(sql);
			*cause = xasprintf("migration %s/%s: %s", service_name(svc), names[i],
			    db_last_error(db));
			(void)db_exec(db, "ROLLBACK");
			goto out;
		}
		free(sql);
		res = db_query(db, NULL, "INSERT INTO schema_migrations (version) VALUES ($1)", 1, p);
		if (res == NULL)
			goto dbfail;
		PQclear(res);
		if (db_exec(db, "COMMIT") != 0)
			goto dbfail;
		applied++;
		log_info("msg=\"migration applied\" database=%s version=%s", service_name(svc), names[i]);
	}
	ret = applied;
	goto out;
dbfail:
	*cause = xasprintf("%s database: %s", service_name(svc), db_last_error(db));
	(void)db_exec(db, "ROLLBACK");
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(dirpath);
	return ret;
}
