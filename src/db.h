/*
 * db: a PostgreSQL connection with the few things every caller needs:
 * connecting with a time bound and an application_name, statements
 * prepared once per connection, and the classification of a failure as
 * transient (retry: connection lost, serialization failure, deadlock, lock
 * or statement timeout, server shutting down) or permanent.
 */
#ifndef CHORUS_DB_H
#define CHORUS_DB_H

#include <libpq-fe.h>

struct db;

enum db_error { DB_OK = 0, DB_TRANSIENT, DB_PERMANENT };

/*
 * Connect to url, bounding the connect by timeout_s and every statement by
 * statement_timeout_ms (0: the server's default), with TCP keepalives, so
 * no call waits for ever. Settings in the URL are kept. Returns NULL with
 * *cause (caller frees) on failure.
 */
struct db *db_connect(const char *url, const char *application_name, int timeout_s,
    long statement_timeout_ms, char **cause);
void db_close(struct db *db);
/* The TCP port url names (5432 when none), or -1 when it does not parse. */
int db_url_port(const char *url);
PGconn *db_pg(struct db *db);
/* true when the connection is still usable. */
int db_ok(struct db *db);

/*
 * Run a statement with text parameters (params may hold NULLs for SQL
 * NULL). name, when non-NULL, prepares sql once on this connection under
 * that name and reuses it. Returns the result (PGRES_TUPLES_OK or
 * PGRES_COMMAND_OK) which the caller PQclear()s, or NULL on failure with the
 * failure recorded (db_last_error, db_last_class).
 */
PGresult *db_query(struct db *db, const char *name, const char *sql, int nparams,
    const char *const *params);
/* Run a parameterless command (BEGIN, COMMIT ...). 0, or -1 with the failure recorded. */
int db_exec(struct db *db, const char *sql);
/* Message of the last failure on this connection ("" when none). */
const char *db_last_error(struct db *db);
/* SQLSTATE of the last failure ("" when none or lost connection). */
const char *db_last_sqlstate(struct db *db);
/* Class of the last failure. */
enum db_error db_last_class(struct db *db);
/* Classify a SQLSTATE (NULL or "" means the connection was lost: transient). */
enum db_error db_classify(const char *sqlstate);
/* Rows affected by a command result, as a number. */
long db_affected(PGresult *res);

/*
 * A batch of statements run in one round trip (libpq pipeline mode): queue
 * them with db_batch_add, send them all with db_batch_run, read each one's
 * result with db_batch_result. Parameters are copied when queued, so the
 * caller's strings need not outlive the call. Statements with a name are
 * prepared once per connection, as with db_query. The batch owns its
 * results until db_batch_reset or db_batch_free.
 */
struct db_batch;

struct db_batch *db_batch_new(void);
void db_batch_free(struct db_batch *b);
/* Drop the queued statements and their results; the batch is empty again. */
void db_batch_reset(struct db_batch *b);
/* Queue a statement (params may hold NULLs). Returns its index, for db_batch_result. */
size_t db_batch_add(struct db_batch *b, const char *name, const char *sql, int nparams,
    const char *const *params);
/* Statements queued and not yet run. */
size_t db_batch_pending(const struct db_batch *b);
/*
 * Send every queued statement not yet run and wait for all their results.
 * 0; or -1 when one failed, recorded as db_query records it (db_last_*):
 * the ones after it in the same run were not executed (the transaction,
 * if any, is aborted and must be rolled back).
 */
int db_batch_run(struct db *db, struct db_batch *b);
/* The result of statement i once run (PGRES_TUPLES_OK or COMMAND_OK), else NULL. */
PGresult *db_batch_result(const struct db_batch *b, size_t i);

#endif
