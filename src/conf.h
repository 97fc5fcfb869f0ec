/*
 * conf: the one configuration of every Chorus program. Values come, in
 * increasing precedence, from built-in defaults, the config file
 * (/etc/chorus/chorus.conf unless -c names another), systemd credentials
 * ($CREDENTIALS_DIRECTORY/<key>, secrets only), the environment
 * (CHORUS_<KEY>, dots as underscores, upper case) and command-line
 * "-o key=value" flags. A bad value is refused with a message that names the
 * key and where the value came from. The key table in config.c is the single
 * list of keys; docs and the example config are checked against it.
 */
#ifndef CHORUS_CONF_H
#define CHORUS_CONF_H

#include "broker.h"
#include "retry.h"
#include "service.h"

struct conf {
	char *amqp_url;
	char *amqp_tls_ca;		/* a file, or "system" */
	char *amqp_tls_cert;		/* a file, or "none" */
	char *amqp_tls_key;		/* a file, or "none" */
	char *amqp_auth;		/* "plain" or "external" */
	char *amqp_admin_user;			/* the administrative identity (chorusctl) */
	char *amqp_user[SVC__COUNT];		/* each service's RabbitMQ user */
	char *amqp_password[SVC__COUNT];	/* "": log in as amqp_url says */
	char *database_url[SVC__COUNT];		/* the runtime role */
	char *database_owner_url[SVC__COUNT];	/* the owner role (migrations); "": database_url */
	char *schema_dir;
	char currency[4];
	int log_level;
	long prefetch;
	long batch_size;
	long relay_batch;
	long relay_poll_ms;
	long relay_linger_ms;
	long saga_deadline_s;
	long sweep_ms;
	long heartbeat_s;
	long connect_timeout_s;
	long shutdown_timeout_s;
	char *health_listen[SVC__COUNT];	/* "host:port" or "off" */
	char *retry_ladder;			/* validated by retry_parse_ladder */
	long retry_max_attempts;
	long retry_jitter_pct;
	long statement_timeout_ms;
	long breaker_failures;
	long breaker_recovery_ms;
	long breaker_successes;
	long fault_latency_ms;			/* payment provider fault injection */
	long fault_error_pct;
	long outbox_retention_h;
	long inbox_retention_h;
	char *api_listen[SVC__COUNT];		/* "host:port" or "off" */
	long api_threads;
	long api_db_connections;
	long api_max_in_flight;
	long api_max_body;
	long api_connections;
	long api_connections_per_client;
	long api_timeout_s;
	struct {				/* chorus-gateway (gateway.*) */
		char *listen, *health_listen;
		char *instances[SVC__COUNT];	/* "host:port,..." per upstream */
		char *balance;			/* least_in_flight or round_robin */
		long connect_timeout_ms, timeout_ms;
		long retries, retry_base_ms;
		long max_in_flight;
		long eject_failures, eject_ms, health_interval_ms;
		long breaker_failures, breaker_recovery_ms;
		long max_wait_s, poll_ms;
		long max_body, max_header, max_connections, per_client, idle_timeout_s, threads;
	} gw;
};

/* The retry policy the configuration describes. */
void conf_retry_policy(const struct conf *cfg, struct retry_policy *p);

/*
 * The AMQP URL service svc's worker logs in with (malloc'ed): amqp_url
 * with the service's user and password when its password is set; with
 * amqp_auth = external, with the service's user (which must then be the
 * user its client certificate names: every publish carries it as user_id).
 */
char *conf_amqp_url(const struct conf *cfg, enum service_id svc);
/* The PostgreSQL URL migrations of svc run with: the owner role's, else database_url. */
const char *conf_database_owner_url(const struct conf *cfg, enum service_id svc);
/*
 * The TLS settings of amqp_url as broker_connect takes them; *t points
 * into cfg ("system" and "none" become NULL).
 */
void conf_broker_tls(const struct conf *cfg, struct broker_tls *t);

/* Fill cfg with the built-in defaults. */
void conf_defaults(struct conf *cfg);
/*
 * Load every source of the configuration over what cfg holds (the
 * defaults), in increasing precedence: the config file path (NULL: the
 * default path, which may be missing; a path given must exist), systemd
 * credentials, the environment, then the "key=value" settings sets[0 ..
 * nsets) (-o flags), then check the keys that go together (conf_check).
 * The one way the workers and chorusctl read their configuration. 0, or -1
 * with *cause (caller frees) naming the key and where the value came from;
 * cfg is the caller's to conf_free either way.
 */
int conf_load(struct conf *cfg, const char *path, const char *const *sets, size_t nsets,
    char **cause) __attribute__((warn_unused_result));
/*
 * Check what no single key can: amqp_auth is plain or external; TLS keys
 * (amqp_tls_*, amqp_auth = external) only with an amqps:// amqp_url, where
 * they would otherwise go unused; amqp_tls_cert and amqp_tls_key together;
 * external with a client certificate. 0, or -1 with *cause.
 */
int conf_check(const struct conf *cfg, char **cause);
/* Release what cfg owns. */
void conf_free(struct conf *cfg);
/*
 * The steps of conf_load, one source each (programs call conf_load; these
 * are public for the unit tests and for setting a single key).
 *
 * Read a config file: "key = value" lines, '#' comments, "[section]" lines
 * prefixing the keys that follow with "section.". A missing file is an error
 * only when required. Returns 0, or -1 with *cause (caller frees).
 */
int conf_load_file(struct conf *cfg, const char *path, int required, char **cause);
/* Apply CHORUS_* environment variables. Returns 0, or -1 with *cause. */
int conf_load_env(struct conf *cfg, char **cause);
/*
 * Apply systemd credentials: when $CREDENTIALS_DIRECTORY is set, each secret
 * key (a name containing "_url") whose file exists there under the key's name
 * takes that file's content, trailing newlines removed. Goes between the file
 * and the environment. Returns 0, or -1 with *cause (caller frees).
 */
int conf_load_credentials(struct conf *cfg, char **cause);
/* Set one key from "where" (used in messages). Returns 0, or -1 with *cause. */
int conf_set(struct conf *cfg, const char *key, const char *value, const char *where, char **cause);
/* Apply a "key=value" argument. Returns 0, or -1 with *cause. */
int conf_set_arg(struct conf *cfg, const char *arg, char **cause);
/* Number of keys and the name / description / default of key i (for docs and checks). */
size_t conf_key_count(void);
const char *conf_key_name(size_t i);
const char *conf_key_help(size_t i);
const char *conf_key_default(size_t i);
/* true when key i holds a secret: a URL, or a name with "password" or "secret". */
int conf_key_secret(size_t i);
/*
 * value of key name fit to be shown (malloc'ed): every password replaced by
 * "****" -- a URL's user:password@, a ?password= / &password= query
 * parameter, a conninfo password=... (quoted or not), any parameter whose
 * name holds "password" or "secret" (sslpassword...), and the whole value
 * of a key so named.
 */
char *conf_mask(const char *name, const char *value);
/* The value of key i in cfg as text (malloc'ed). */
char *conf_key_value(const struct conf *cfg, size_t i);
/* The default config file path. */
const char *conf_default_path(void);

#endif
