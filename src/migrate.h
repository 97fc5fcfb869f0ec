/*
 * migrate: apply a service's numbered SQL migrations
 * (<schema_dir>/<service>/NNN_name.sql) to its database, each once, in
 * order, each in its own transaction together with its record in
 * schema_migrations. Safe to run concurrently (an advisory lock serialises
 * runners) and again (applied files are skipped).
 */
#ifndef CHORUS_MIGRATE_H
#define CHORUS_MIGRATE_H

#include "db.h"
#include "service.h"

/* Returns the number of migrations applied now (0: up to date), or -1 with *cause. */
int migrate_apply(struct db *db, const char *schema_dir, enum service_id svc, char **cause);

#endif
