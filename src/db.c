/*
 * db: PostgreSQL connection helpers (see db.h).
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "xmalloc.h"

#define DB_MAX_PREPARED 128

struct db {
	PGconn *pg;
	const char *prepared[DB_MAX_PREPARED];	/* names: static strings of the callers */
	size_t nprepared;
	char error[512];
	char sqlstate[6];
	enum db_error class;
	int broken;		/* left in an unknown state (a pipeline cut short): reconnect */
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
	char tmo[16], set[64], *err = NULL;
	const char *vals[8];
	PQconninfoOption *opts;
	struct db *db;

	/* libpq's message about a malformed URL or conninfo may quote its password */
	if ((opts = PQconninfoParse(url, &err)) == NULL) {
		PQfreemem(err);
		*cause = xasprintf("the database URL is not a valid PostgreSQL URL or conninfo "
		    "(libpq's message is not shown: it may quote a password)");
		return NULL;
	}
	PQconninfoFree(opts);
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
	return db != NULL && !db->broken && PQstatus(db->pg) == CONNECTION_OK;
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
	    strncmp(s, "57P", 3) == 0 ||	/* operator intervention: shutdown, crash */
	    /* the schema is not what the program expects (a migration not applied):
	     * the operator's to fix, not the message's fault */
	    strcmp(s, "42P01") == 0 ||	/* undefined_table */
	    strcmp(s, "42703") == 0 ||	/* undefined_column */
	    strcmp(s, "42883") == 0)	/* undefined_function */
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

/* One queued statement; its parameters are offsets into the batch's arena. */
struct db_stmt {
	const char *name;	/* static string of the caller, or NULL */
	const char *sql;	/* static string of the caller */
	int nparams;
	size_t first_param;	/* index into the batch's param offsets */
	PGresult *res;
};

struct db_batch {
	struct db_stmt *st;
	size_t n, cap, ran;	/* statements queued; [0, ran) have been run */
	size_t *poff;		/* per parameter: offset in arena, SIZE_MAX for NULL */
	size_t np, pcap;
	char *arena;
	size_t alen, acap;
};

struct db_batch *
db_batch_new(void)
{
	return xcalloc(1, sizeof(struct db_batch));
}

void
db_batch_reset(struct db_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		PQclear(b->st[i].res);
	b->n = b->ran = b->np = b->alen = 0;
}

void
db_batch_free(struct db_batch *b)
{
	if (b == NULL)
		return;
	db_batch_reset(b);
	free(b->st);
	free(b->poff);
	free(b->arena);
	free(b);
}

static size_t
arena_put(struct db_batch *b, const char *s)
{
	size_t len = strlen(s) + 1, off = b->alen;

	if (b->alen + len > b->acap) {
		b->acap = (b->alen + len) * 2 + 1024;
		b->arena = xrealloc(b->arena, b->acap);
	}
	memcpy(b->arena + off, s, len);
	b->alen += len;
	return off;
}

size_t
db_batch_add(struct db_batch *b, const char *name, const char *sql, int nparams,
    const char *const *params)
{
	struct db_stmt *st;

	if (b->n == b->cap) {
		b->cap = b->cap * 2 + 8;
		b->st = xrealloc(b->st, b->cap * sizeof(*b->st));
	}
	if (b->np + (size_t)nparams > b->pcap) {
		b->pcap = (b->np + (size_t)nparams) * 2 + 16;
		b->poff = xrealloc(b->poff, b->pcap * sizeof(*b->poff));
	}
	st = &b->st[b->n];
	st->name = name;
	st->sql = sql;
	st->nparams = nparams;
	st->first_param = b->np;
	st->res = NULL;
	for (int i = 0; i < nparams; i++)
		b->poff[b->np++] = params[i] ? arena_put(b, params[i]) : SIZE_MAX;
	return b->n++;
}

size_t
db_batch_pending(const struct db_batch *b)
{
	return b->n - b->ran;
}

PGresult *
db_batch_result(const struct db_batch *b, size_t i)
{
	return i < b->n ? b->st[i].res : NULL;
}

/* A prepare that failed (or never ran: the pipeline aborted first). */
static void
forget_prepared(struct db *db, const char *name)
{
	for (size_t i = 0; i < db->nprepared; i++)
		if (strcmp(db->prepared[i], name) == 0) {
			db->prepared[i] = db->prepared[--db->nprepared];
			return;
		}
}

/* Send statement st (preparing it first when it has a name not yet prepared). */
static int
send_stmt(struct db *db, struct db_batch *b, struct db_stmt *st, int *prepares)
{
	const char *p[64];
	const char **params = st->nparams <= 64 ? p : xcalloc((size_t)st->nparams, sizeof(*params));
	int ok;

	*prepares = 0;
	for (int i = 0; i < st->nparams; i++) {
		size_t off = b->poff[st->first_param + (size_t)i];

		params[i] = off == SIZE_MAX ? NULL : b->arena + off;
	}
	if (st->name == NULL) {
		ok = PQsendQueryParams(db->pg, st->sql, st->nparams, NULL, params, NULL, NULL, 0);
	} else {
		ok = 1;
		if (!is_prepared(db, st->name)) {
			ok = PQsendPrepare(db->pg, st->name, st->sql, st->nparams, NULL);
			*prepares = 1;
			/* counted now, so a second use in the same run is not prepared twice */
			if (db->nprepared < DB_MAX_PREPARED)
				db->prepared[db->nprepared++] = st->name;
		}
		ok = ok && PQsendQueryPrepared(db->pg, st->name, st->nparams, params, NULL, NULL, 0);
	}
	if (params != p)
		free(params);
	return ok ? 0 : -1;
}

/*
 * The next result in the pipeline: each command's result is followed by a
 * NULL that ends it, skipped here. NULL when the connection broke.
 */
static PGresult *
pipe_result(struct db *db)
{
	PGresult *res = PQgetResult(db->pg);

	return res != NULL ? res : PQgetResult(db->pg);
}

/* Read the results of statements [from, from+n) of b, then the sync. -1: the connection is unusable. */
static int
read_results(struct db *db, struct db_batch *b, size_t from, size_t n, const unsigned char *prep,
    int *failed)
{
	PGresult *res;

	for (size_t i = 0; i < n; i++) {
		struct db_stmt *st = &b->st[from + i];

		if (prep[i]) {
			if ((res = pipe_result(db)) == NULL)
				return -1;
			if (PQresultStatus(res) != PGRES_COMMAND_OK) {
				forget_prepared(db, st->name);
				if (!*failed) {
					record_failure(db, res);
					*failed = 1;
				}
			}
			PQclear(res);
		}
		if ((res = pipe_result(db)) == NULL)
			return -1;
		if (PQresultStatus(res) == PGRES_TUPLES_OK || PQresultStatus(res) == PGRES_COMMAND_OK) {
			st->res = res;
			continue;
		}
		if (!*failed) {	/* the first failure; the rest say "pipeline aborted" */
			record_failure(db, res);
			*failed = 1;
		}
		PQclear(res);
	}
	res = pipe_result(db);
	if (res == NULL || PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return PQexitPipelineMode(db->pg) == 1 ? 0 : -1;
}

int
db_batch_run(struct db *db, struct db_batch *b)
{
	size_t from = b->ran, n = b->n - b->ran, sent;
	unsigned char *prep;
	int failed = 0, p = 0;

	if (n == 0)
		return 0;
	b->ran = b->n;
	if (db->broken || PQenterPipelineMode(db->pg) != 1) {
		record_failure(db, NULL);
		return -1;
	}
	prep = xcalloc(n, 1);
	for (sent = 0; sent < n; sent++) {
		if (send_stmt(db, b, &b->st[from + sent], &p) != 0)
			break;
		prep[sent] = (unsigned char)p;
	}
	if (sent < n || PQpipelineSync(db->pg) != 1 ||
	    read_results(db, b, from, n, prep, &failed) != 0) {
		/* half-read pipeline: the connection cannot be trusted again */
		if (!failed)
			record_failure(db, NULL);
		db->broken = 1;
		db->class = DB_TRANSIENT;
		failed = 1;
	}
	free(prep);
	if (!failed)
		db->class = DB_OK;
	return failed ? -1 : 0;
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
