/*
 * db: PostgreSQL connection helpers (see db.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "xmalloc.h"

#define DB_MAX_PREPARED 64

struct db {
	PGconn *pg;
	const char *prepared[DB_MAX_PREPARED];	/* names: static strings of the callers */
	size_t nprepared;
	char error[512];
	char sqlstate[6];
	enum db_error class;
};

static void
notice_quiet(void *arg, const char *msg)
{
	(void)arg;
	log_debug("msg=\"postgres notice\" notice=\"%.*s\"", (int)strcspn(msg, "\n"), msg);
}

struct db *
db_connect(const char *url, const char *application_name, int timeout_s,
    long statement_timeout_ms, char **cause)
{
	/* dbname (the URL, expanded) last: what the URL sets wins over these defaults */
	const char *keys[] = { "application_name", "connect_timeout", "keepalives",
		"keepalives_idle", "keepalives_interval", "keepalives_count", "dbname", NULL };
	char tmo[16], set[64];
	const char *vals[8];
	struct db *db;

	snprintf(tmo, sizeof(tmo), "%d", timeout_s);
	vals[0] = application_name;
	vals[1] = tmo;
	/* a server that vanishes is noticed in about 20 s, not the kernel's 15 min */
	vals[2] = "1";
	vals[3] = "10";
	vals[4] = "5";
	vals[5] = "2";
	vals[6] = url;
	vals[7] = NULL;
	db = xcalloc(1, sizeof(*db));
	db->pg = PQconnectdbParams(keys, vals, 1);
	if (db->pg == NULL || PQstatus(db->pg) != CONNECTION_OK) {
		const char *m = db->pg ? PQerrorMessage(db->pg) : "out of memory";
		*cause = xasprintf("%.*s", (int)strcspn(m, "\n"), m);
		db_close(db);
		return NULL;
	}
	PQsetNoticeProcessor(db->pg, notice_quiet, NULL);
	if (statement_timeout_ms > 0) {
		snprintf(set, sizeof(set), "SET statement_timeout = %ld", statement_timeout_ms);
		if (db_exec(db, set) != 0) {
			*cause = xasprintf("%s", db_last_error(db));
			db_close(db);
			return NULL;
		}
	}
	return db;
}

void
db_close(struct db *db)
{
	if (db == NULL)
		return;
	if (db->pg != NULL)
		PQfinish(db->pg);
	free(db);
}

PGconn *
db_pg(struct db *db)
{
	return db->pg;
}

int
db_ok(struct db *db)
{
	return db != NULL && PQstatus(db->pg) == CONNECTION_OK;
}

enum db_error
db_classify(const char *s)
{
	if (s == NULL || *s == '\0')
		return DB_TRANSIENT;	/* no SQLSTATE: the connection broke */
	if (strcmp(s, "40001") == 0 ||	/* serialization_failure */
	    strcmp(s, "40P01") == 0 ||	/* deadlock_detected */
	    strcmp(s, "55P03") == 0 ||	/* lock_not_available */
	    strcmp(s, "57014") == 0 ||	/* query_canceled (statement timeout) */
	    strncmp(s, "08", 2) == 0 ||	/* connection exceptions */
	    strncmp(s, "53", 2) == 0 ||	/* insufficient resources */
	    strncmp(s, "57P", 3) == 0)	/* operator intervention: shutdown, crash */
		return DB_TRANSIENT;
	return DB_PERMANENT;
}

static void
record_failure(struct db *db, PGresult *res)
{
	const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(db->pg);
	const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (msg == NULL || *msg == '\0')
		msg = PQerrorMessage(db->pg);
	snprintf(db->error, sizeof(db->error), "%.*s", (int)strcspn(msg, "\n"), msg);
	snprintf(db->sqlstate, sizeof(db->sqlstate), "%s", st ? st : "");
	db->class = PQstatus(db->pg) != CONNECTION_OK ? DB_TRANSIENT : db_classify(st);
}

static int
is_prepared(struct db *db, const char *name)
{
	for (size_t i = 0; i < db->nprepared; i++)
		if (strcmp(db->prepared[i], name) == 0)
			return 1;
	return 0;
}

static PGresult *
check(struct db *db, PGresult *res)
{
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
		db->class = DB_OK;
		return res;
	}
	record_failure(db, res);
	PQclear(res);
	return NULL;
}

PGresult *
db_query(struct db *db, const char *name, const char *sql, int nparams,
    const char *const *params)
{
	PGresult *res;

	if (name == NULL)
		return check(db, PQexecParams(db->pg, sql, nparams, NULL, params, NULL, NULL, 0));
	if (!is_prepared(db, name)) {
		res = check(db, PQprepare(db->pg, name, sql, nparams, NULL));
		if (res == NULL)
			return NULL;
		PQclear(res);
		if (db->nprepared < DB_MAX_PREPARED)
			db->prepared[db->nprepared++] = name;
	}
	return check(db, PQexecPrepared(db->pg, name, nparams, params, NULL, NULL, 0));
}

int
db_exec(struct db *db, const char *sql)
{
	PGresult *res = check(db, PQexec(db->pg, sql));

	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

const char *
db_last_error(struct db *db)
{
	return db->error;
}

const char *
db_last_sqlstate(struct db *db)
{
	return db->sqlstate;
}

enum db_error
db_last_class(struct db *db)
{
	return db->class;
}

long
db_affected(PGresult *res)
{
	const char *n = PQcmdTuples(res);

	return n && *n ? atol(n) : 0;
}

int
db_url_port(const char *url)
{
	PQconninfoOption *opts = PQconninfoParse(url, NULL);
	int port = 5432;

	if (opts == NULL)
		return -1;
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, "port") == 0 && o->val != NULL && o->val[0] != '\0')
			port = atoi(o->val);
	PQconninfoFree(opts);
	return port;
}
