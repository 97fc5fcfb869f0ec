/*
 * chorusctl setup, migrate and declare: what a fresh installation, and each
 * upgrade, needs before the workers start: the databases' migrations (run
 * as each database's owner role) and the broker's topology (declared by the
 * administrative identity: the workers' users may configure nothing).
 * setup --users prints the RabbitMQ users and permissions as a script;
 * setup also finds the retry queues an earlier retry_ladder left behind
 * (recorded in each database's retry_queues) and with --prune deletes them
 * once empty.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "migrate.h"
#include "pgarray.h"
#include "topology.h"

int
cmd_migrate(struct cli *c, int argc, char **argv)
{
	enum service_id only = SVC__COUNT;

	if (argc > 2 || (argc == 2 && (only = service_from_name(argv[1])) == SVC__COUNT)) {
		cli_err("usage: chorusctl migrate [order|inventory|payment]");
		return EX_USAGE;
	}
	for (int s = 0; s < SVC__COUNT; s++) {
		struct db *db;
		char *cause = NULL;
		int n;

		if (only != SVC__COUNT && only != (enum service_id)s)
			continue;
		/* the owner role: the workers' runtime role may not create tables */
		db = db_connect(conf_database_owner_url(&c->cfg, (enum service_id)s), "chorusctl",
		    (int)c->cfg.connect_timeout_s, c->cfg.statement_timeout_ms, &cause);
		if (db == NULL) {
			cli_err("migrate: %s database unavailable: %s", service_name((enum service_id)s),
			    cause);
			free(cause);
			return EX_UNAVAILABLE;
		}
		n = migrate_apply(db, c->cfg.schema_dir, (enum service_id)s, &cause);
		db_close(db);
		if (n < 0) {
			cli_err("migrate: %s", cause);
			free(cause);
			return EX_SOFTWARE;
		}
		if (!c->quiet)
			cli_printf("%s: %d migration(s) applied%s\n", service_name((enum service_id)s), n,
			    n == 0 ? " (up to date)" : "");
	}
	return 0;
}

int
cmd_declare(struct cli *c, int argc, char **argv)
{
	struct broker *b;
	struct retry_policy rp;
	char *cause = NULL;

	(void)argv;
	if (argc != 1) {
		cli_err("usage: chorusctl declare");
		return EX_USAGE;
	}
	if ((b = cli_broker(c, 0)) == NULL)
		return EX_UNAVAILABLE;
	conf_retry_policy(&c->cfg, &rp);
	if (topology_declare(b, SVC__COUNT, &rp, &cause) != 0) {
		cli_err("declare: %s", cause);
		free(cause);
		broker_close(b);
		return EX_PROTOCOL;
	}
	broker_close(b);
	if (!c->quiet)
		cli_printf("topology declared: exchanges chorus.<service>, chorus.<service>.retry, "
		    "chorus.<service>.dlx, chorus.unrouted; queues chorus.<service>.events, "
		    ".retry.<delay> and .dead\n");
	return 0;
}

/* s single-quoted for the shell. */
static void
print_quoted(const char *s)
{
	putchar('\'');
	for (; *s != '\0'; s++)
		if (*s == '\'')
			fputs("'\\''", stdout);
		else
			putchar(*s);
	putchar('\'');
}

/* One user of the script: created or given its password (on stdin), tagged, permitted. */
static void
print_user(const char *vhost, const char *user, const char *password, const char *tags,
    const char *configure, const char *write, const char *read)
{
	const char *const perms[] = { configure, write, read };

	printf("user ");
	print_quoted(user);
	printf(" <<'CHORUS_PASSWORD_END'\n%s\nCHORUS_PASSWORD_END\n", password);
	printf("$rmq set_user_tags ");
	print_quoted(user);
	printf("%s%s\n$rmq set_permissions -p ", *tags ? " " : "", tags);
	print_quoted(vhost);
	putchar(' ');
	print_quoted(user);
	for (size_t i = 0; i < 3; i++) {
		putchar(' ');
		print_quoted(perms[i]);
	}
	putchar('\n');
}

/*
 * setup --users: the RabbitMQ users of docs/security.md as a script for
 * rabbitmqctl (chorusctl setup --users | sh, where rabbitmqctl reaches the
 * broker; RABBITMQCTL overrides the command). Passwords come from the
 * configuration (amqp_url's for the administrative identity,
 * <service>.amqp_password for the services) and reach rabbitmqctl on its
 * standard input, never in a command line.
 */
static int
print_users(struct cli *c)
{
	char *admin = NULL, *password = NULL, *vhost = NULL;

	if (broker_url_login(c->cfg.amqp_url, &admin, &password, &vhost) != 0) {
		cli_err("setup --users: amqp_url does not parse");
		return EX_CONFIG;
	}
	for (int s = 0; s < SVC__COUNT; s++)
		if (c->cfg.amqp_password[s][0] == '\0') {
			cli_err("setup --users: %s.amqp_password is not set (the password of %s)",
			    service_name((enum service_id)s), c->cfg.amqp_user[s]);
			free(admin);
			free(password);
			free(vhost);
			return EX_CONFIG;
		}
	if (strcmp(admin, c->cfg.amqp_admin_user) != 0)
		fprintf(stderr, "chorusctl: warning: amqp_url logs in as '%s', but amqp_admin_user "
		    "is '%s': the workers will not trust chorusctl's events\n", admin,
		    c->cfg.amqp_admin_user);
	printf("#!/bin/sh\n# chorusctl setup --users: the RabbitMQ users and permissions of Chorus\n"
	    "# (docs/security.md). Run where rabbitmqctl reaches the broker.\nset -e\n"
	    "rmq=${RABBITMQCTL:-rabbitmqctl}\n"
	    "# user NAME: create NAME, or set its password, from the password on stdin\n"
	    "user() {\n\tpw=$(cat)\n"
	    "\tif $rmq -q list_users | cut -f1 | grep -qxF -- \"$1\"; then\n"
	    "\t\tprintf '%%s\\n' \"$pw\" | $rmq -q change_password \"$1\"\n"
	    "\telse\n\t\tprintf '%%s\\n' \"$pw\" | $rmq -q add_user \"$1\"\n\tfi\n}\n");
	print_user(vhost, admin, password, "administrator", ".*", ".*", ".*");
	for (int s = 0; s < SVC__COUNT; s++) {
		const char *conf, *write, *read;

		topology_permissions((enum service_id)s, &conf, &write, &read);
		print_user(vhost, c->cfg.amqp_user[s], c->cfg.amqp_password[s], "", conf, write,
		    read);
	}
	free(admin);
	free(password);
	free(vhost);
	return 0;
}

/*
 * One retry queue not in the ladder: report it, with prune delete it when
 * empty (a fresh connection each: a queue gone makes the broker close the
 * channel). Quorum queues refuse queue.delete's if-empty, so "empty" is
 * the count just before: nothing may publish to it any more, i.e. every
 * worker runs the new ladder (docs/operations.md). 0 done, 1 kept (not
 * empty), -1 failure.
 */
static int
leftover(struct cli *c, struct db *db, const char *name, int prune)
{
	struct broker *b = cli_broker(c, 0);
	const char *p[1] = { name };
	char *cause = NULL;
	long n;
	int ret = 0;
	PGresult *res;

	if (b == NULL)
		return -1;
	n = broker_queue_count(b, name, &cause);
	if (n < 0 && broker_last_reply(b) == 404) {
		if (!c->quiet)
			printf("retry queue %s (not in retry_ladder) is gone already\n", name);
	} else if (n < 0) {
		ret = -1;
	} else if (!prune) {
		if (!c->quiet)
			printf("retry queue %s is not in retry_ladder (%ld messages): chorusctl setup --prune "
		    "deletes it once empty\n", name, n);
		ret = 1;
	} else if (n > 0) {
		/* its TTL sends each message back to the service's queue: soon empty */
		if (!c->quiet)
			printf("retry queue %s is not in retry_ladder but holds %ld messages: kept; "
		    "prune again within its delay\n", name, n);
		ret = 1;
	} else if (broker_delete_queue(b, name, &cause) < 0) {
		ret = -1;
	} else {
		if (!c->quiet)
			printf("deleted retry queue %s (not in retry_ladder)\n", name);
	}
	broker_close(b);
	if (ret == -1) {
		cli_err("setup: %s", cause);
	} else if (ret == 0 &&
	    (res = db_query(db, NULL, "DELETE FROM retry_queues WHERE name = $1", 1, p)) != NULL) {
		PQclear(res);
	} else if (ret == 0) {
		cli_err("setup: %s", db_last_error(db));
		ret = -1;
	}
	free(cause);
	return ret;
}

/*
 * Record the ladder's retry queues of service s, then go through those it
 * no longer has. 0, 1 when some were kept, or an exit status.
 */
static int
retry_leftovers(struct cli *c, enum service_id s, const struct retry_policy *rp, int prune)
{
	struct db *db = cli_db(c, s);
	struct pgarray current = { 0 };
	const char *p[1];
	PGresult *res = NULL;
	int ret = 0;

	if (db == NULL)
		return EX_UNAVAILABLE;
	for (size_t i = 0; i < rp->steps; i++) {
		char name[128];

		retry_queue_name(s, rp, (int)i, name, sizeof(name));
		pgarray_add(&current, name);
	}
	p[0] = pgarray_text(&current);
	if (topology_record_retry_queues(db, s, rp) != 0 ||
	    (res = db_query(db, NULL, "SELECT name FROM retry_queues "
	    "WHERE name <> ALL($1::text[]) ORDER BY delay_ms", 1, p)) == NULL) {
		cli_err("setup: %s database: %s", service_name(s), db_last_error(db));
		ret = EX_SOFTWARE;
	}
	for (int i = 0; res != NULL && i < PQntuples(res) && ret != EX_UNAVAILABLE; i++) {
		switch (leftover(c, db, PQgetvalue(res, i, 0), prune)) {
		case -1: ret = EX_UNAVAILABLE; break;
		case 1: ret = 1; break;
		}
	}
	PQclear(res);
	pgarray_free(&current);
	db_close(db);
	return ret;
}

int
cmd_setup(struct cli *c, int argc, char **argv)
{
	char *one[1] = { argv[0] };
	struct retry_policy rp;
	int r, prune = argc == 2 && strcmp(argv[1], "--prune") == 0, kept = 0;

	if (argc == 2 && strcmp(argv[1], "--users") == 0)
		return print_users(c);
	if (argc != 1 && !prune) {
		cli_err("usage: chorusctl setup [--prune|--users]");
		return EX_USAGE;
	}
	if ((r = cmd_migrate(c, 1, one)) != 0 || (r = cmd_declare(c, 1, one)) != 0)
		return r;
	conf_retry_policy(&c->cfg, &rp);
	for (int s = 0; s < SVC__COUNT; s++) {
		r = retry_leftovers(c, (enum service_id)s, &rp, prune);
		if (r > 1)
			return r;
		kept |= r;
	}
	/* with --prune, a queue kept (not empty yet) is work left: try again */
	return prune && kept ? EX_TEMPFAIL : 0;
}
