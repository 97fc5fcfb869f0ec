/*
 * conf: table-driven configuration (see conf.h). Every key is one row of
 * conf_keys: its name, its kind and bounds, its default and a one-line
 * description, so that parsing, defaults, the environment names and the
 * documentation check all come from one place.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "broker.h"
#include "conf.h"
#include "log.h"
#include "urllist.h"
#include "xmalloc.h"

#ifndef CHORUS_SYSCONFDIR
#define CHORUS_SYSCONFDIR "/etc"
#endif
#ifndef CHORUS_SCHEMADIR
#define CHORUS_SCHEMADIR "/usr/share/chorus/schema"
#endif

enum key_kind { K_STRING, K_LONG, K_LOGLEVEL, K_CURRENCY, K_LADDER, K_URLLIST };

struct conf_key {
	const char *name;
	enum key_kind kind;
	size_t offset;
	long min, max;
	const char *def;
	const char *help;
};

#define OFF(f) offsetof(struct conf, f)
/* in the min field of a K_STRING: the empty string is a value (an optional key) */
#define EMPTY_OK 1

static const struct conf_key conf_keys[] = {
	{ "amqp_url", K_URLLIST, OFF(amqp_url), 0, 0,
	  "amqp://guest:guest@127.0.0.1:5672/", "RabbitMQ URL (amqp://user:password@host:port/vhost; amqps:// for TLS), or the nodes' URLs separated by commas; its login is chorusctl's, the administrative identity" },
	{ "amqp_tls_ca", K_STRING, OFF(amqp_tls_ca), 0, 0,
	  "system", "PEM file of the CAs that amqps:// trusts for the broker's certificate, or system (OpenSSL's default store)" },
	{ "amqp_tls_cert", K_STRING, OFF(amqp_tls_cert), 0, 0,
	  "none", "client certificate (PEM file, with its chain) that amqps:// presents (mutual TLS), or none" },
	{ "amqp_tls_key", K_STRING, OFF(amqp_tls_key), 0, 0,
	  "none", "private key (PEM file, not encrypted) of amqp_tls_cert, or none" },
	{ "amqp_auth", K_STRING, OFF(amqp_auth), 0, 0,
	  "plain", "plain (user and password of amqp_url) or external (the identity of amqp_tls_cert)" },
	{ "amqp_admin_user", K_STRING, OFF(amqp_admin_user), 0, 0,
	  "chorus-admin", "RabbitMQ user of chorusctl (declares the topology, replays dead letters): workers accept its events from any exchange" },
	{ "order.amqp_user", K_STRING, OFF(amqp_user[SVC_ORDER]), 0, 0,
	  "chorus-order", "RabbitMQ user of the order service: the only publisher its events are accepted from" },
	{ "inventory.amqp_user", K_STRING, OFF(amqp_user[SVC_INVENTORY]), 0, 0,
	  "chorus-inventory", "RabbitMQ user of the inventory service: the only publisher its events are accepted from" },
	{ "payment.amqp_user", K_STRING, OFF(amqp_user[SVC_PAYMENT]), 0, 0,
	  "chorus-payment", "RabbitMQ user of the payment service: the only publisher its events are accepted from" },
	{ "order.amqp_password", K_STRING, OFF(amqp_password[SVC_ORDER]), EMPTY_OK, 0,
	  "", "password of order.amqp_user, with which the order worker logs in (empty: as amqp_url says)" },
	{ "inventory.amqp_password", K_STRING, OFF(amqp_password[SVC_INVENTORY]), EMPTY_OK, 0,
	  "", "password of inventory.amqp_user, with which the inventory worker logs in (empty: as amqp_url says)" },
	{ "payment.amqp_password", K_STRING, OFF(amqp_password[SVC_PAYMENT]), EMPTY_OK, 0,
	  "", "password of payment.amqp_user, with which the payment worker logs in (empty: as amqp_url says)" },
	{ "order.database_url", K_STRING, OFF(database_url[SVC_ORDER]), 0, 0,
	  "postgresql:///chorus_order", "PostgreSQL URL of the order service's database" },
	{ "inventory.database_url", K_STRING, OFF(database_url[SVC_INVENTORY]), 0, 0,
	  "postgresql:///chorus_inventory", "PostgreSQL URL of the inventory service's database" },
	{ "payment.database_url", K_STRING, OFF(database_url[SVC_PAYMENT]), 0, 0,
	  "postgresql:///chorus_payment", "PostgreSQL URL of the payment service's database" },
	{ "order.database_owner_url", K_STRING, OFF(database_owner_url[SVC_ORDER]), EMPTY_OK, 0,
	  "", "PostgreSQL URL of the role owning the order database, for migrations (empty: order.database_url)" },
	{ "inventory.database_owner_url", K_STRING, OFF(database_owner_url[SVC_INVENTORY]), EMPTY_OK, 0,
	  "", "PostgreSQL URL of the role owning the inventory database, for migrations (empty: inventory.database_url)" },
	{ "payment.database_owner_url", K_STRING, OFF(database_owner_url[SVC_PAYMENT]), EMPTY_OK, 0,
	  "", "PostgreSQL URL of the role owning the payment database, for migrations (empty: payment.database_url)" },
	{ "schema_dir", K_STRING, OFF(schema_dir), 0, 0,
	  CHORUS_SCHEMADIR, "directory holding the SQL migrations (<service>/NNN_name.sql)" },
	{ "currency", K_CURRENCY, OFF(currency), 0, 0,
	  "EUR", "the one currency accounts hold (3 upper-case letters)" },
	{ "log_level", K_LOGLEVEL, OFF(log_level), 0, 0,
	  "info", "error, warn, info or debug" },
	{ "prefetch", K_LONG, OFF(prefetch), 1, 65535,
	  "200", "unacknowledged deliveries the broker may send a worker" },
	{ "batch_size", K_LONG, OFF(batch_size), 1, 1000,
	  "100", "deliveries handled in one database transaction at most" },
	{ "relay_batch", K_LONG, OFF(relay_batch), 1, 10000,
	  "500", "outbox rows the relay publishes per batch (confirms in flight)" },
	{ "relay_linger_ms", K_LONG, OFF(relay_linger_ms), 0, 1000,
	  "5", "shortest time between two relay rounds: commits coming meanwhile go in one round" },
	{ "relay_poll_ms", K_LONG, OFF(relay_poll_ms), 10, 600000,
	  "1000", "how often the active relay looks for outbox rows when not woken" },
	{ "saga_deadline", K_LONG, OFF(saga_deadline_s), 1, 86400,
	  "60", "seconds a PENDING order may wait before it is cancelled (reason timeout)" },
	{ "sweep_ms", K_LONG, OFF(sweep_ms), 10, 600000,
	  "1000", "how often the order worker looks for orders past the deadline" },
	{ "heartbeat", K_LONG, OFF(heartbeat_s), 0, 600,
	  "30", "AMQP heartbeat in seconds (0 disables)" },
	{ "connect_timeout", K_LONG, OFF(connect_timeout_s), 1, 600,
	  "10", "seconds a connection to RabbitMQ or PostgreSQL may take" },
	{ "shutdown_timeout", K_LONG, OFF(shutdown_timeout_s), 1, 3600,
	  "30", "seconds a worker may take to drain after SIGTERM" },
	{ "retry_ladder", K_LADDER, OFF(retry_ladder), 0, 0,
	  "1s,5s,30s", "delays before retrying a transient failure (ms, s, m, h), one delay queue each" },
	{ "retry_max_attempts", K_LONG, OFF(retry_max_attempts), 1, 1000,
	  "5", "transient failures of one message before it is dead-lettered with its history" },
	{ "retry_jitter", K_LONG, OFF(retry_jitter_pct), 0, 100,
	  "20", "percent of each retry delay that is randomised" },
	{ "statement_timeout", K_LONG, OFF(statement_timeout_ms), 100, 3600000,
	  "30000", "milliseconds one SQL statement may run before it is a (transient) failure" },
	{ "outbox_retention", K_LONG, OFF(outbox_retention_h), 1, 87600,
	  "168", "hours a published outbox row is kept (for chorusctl trace) before it is deleted" },
	{ "inbox_retention", K_LONG, OFF(inbox_retention_h), 1, 87600,
	  "720", "hours a consumed event id is remembered; a duplicate arriving later than this is applied again" },
	{ "breaker_failures", K_LONG, OFF(breaker_failures), 1, 10000,
	  "5", "payment provider failures in a row that open the circuit breaker" },
	{ "breaker_recovery_ms", K_LONG, OFF(breaker_recovery_ms), 10, 3600000,
	  "5000", "milliseconds the breaker stays open before a trial call (half-open)" },
	{ "breaker_successes", K_LONG, OFF(breaker_successes), 1, 1000,
	  "2", "successful trial calls that close the breaker again" },
	{ "payment.fault_latency_ms", K_LONG, OFF(fault_latency_ms), 0, 600000,
	  "0", "fault injection: latency added to every payment provider call" },
	{ "payment.fault_error_pct", K_LONG, OFF(fault_error_pct), 0, 100,
	  "0", "fault injection: percent of payment provider calls that fail (transient)" },
	{ "order.health_listen", K_STRING, OFF(health_listen[SVC_ORDER]), 0, 0,
	  "127.0.0.1:9101", "address:port of the order worker's health and metrics endpoint, or off" },
	{ "inventory.health_listen", K_STRING, OFF(health_listen[SVC_INVENTORY]), 0, 0,
	  "127.0.0.1:9102", "address:port of the inventory worker's health and metrics endpoint, or off" },
	{ "payment.health_listen", K_STRING, OFF(health_listen[SVC_PAYMENT]), 0, 0,
	  "127.0.0.1:9103", "address:port of the payment worker's health and metrics endpoint, or off" },
	{ "order.api_listen", K_STRING, OFF(api_listen[SVC_ORDER]), 0, 0,
	  "off", "address:port of the order service's REST API (e.g. 127.0.0.1:8101), or off" },
	{ "inventory.api_listen", K_STRING, OFF(api_listen[SVC_INVENTORY]), 0, 0,
	  "off", "address:port of the inventory service's REST API (e.g. 127.0.0.1:8102), or off" },
	{ "payment.api_listen", K_STRING, OFF(api_listen[SVC_PAYMENT]), 0, 0,
	  "off", "address:port of the payment service's REST API (e.g. 127.0.0.1:8103), or off" },
	{ "api_threads", K_LONG, OFF(api_threads), 1, 64,
	  "2", "threads serving a service API's connections (epoll each)" },
	{ "api_db_connections", K_LONG, OFF(api_db_connections), 1, 64,
	  "2", "database connections of a service API, apart from the consumer's (one thread each)" },
	{ "api_max_in_flight", K_LONG, OFF(api_max_in_flight), 1, 100000,
	  "1024", "API requests queued or running at once; more are answered 503 with Retry-After" },
	{ "api_max_body", K_LONG, OFF(api_max_body), 256, 65536,
	  "65536", "largest API request body in bytes; more is answered 413" },
	{ "api_connections", K_LONG, OFF(api_connections), 1, 100000,
	  "1024", "open connections a service API accepts in all" },
	{ "api_connections_per_client", K_LONG, OFF(api_connections_per_client), 1, 100000,
	  "256", "open connections a service API accepts from one client address" },
	{ "api_timeout", K_LONG, OFF(api_timeout_s), 1, 3600,
	  "10", "seconds an API connection may stay silent (also while its headers arrive) before it is closed" },
	{ "gateway.listen", K_STRING, OFF(gw.listen), 0, 0,
	  "127.0.0.1:8080", "address:port chorus-gateway serves its API and page on" },
	{ "gateway.health_listen", K_STRING, OFF(gw.health_listen), 0, 0,
	  "127.0.0.1:9104", "address:port of chorus-gateway's health and metrics endpoint, or off" },
	{ "gateway.order_instances", K_STRING, OFF(gw.instances[SVC_ORDER]), 0, 0,
	  "127.0.0.1:8101", "the order service's API instances (host:port,host:port...); SIGHUP applies a change" },
	{ "gateway.inventory_instances", K_STRING, OFF(gw.instances[SVC_INVENTORY]), 0, 0,
	  "127.0.0.1:8102", "the inventory service's API instances (host:port,...); SIGHUP applies a change" },
	{ "gateway.payment_instances", K_STRING, OFF(gw.instances[SVC_PAYMENT]), 0, 0,
	  "127.0.0.1:8103", "the payment service's API instances (host:port,...); SIGHUP applies a change" },
	{ "gateway.balance", K_STRING, OFF(gw.balance), 0, 0,
	  "least_in_flight", "how requests spread over an upstream's instances: least_in_flight or round_robin" },
	{ "gateway.connect_timeout_ms", K_LONG, OFF(gw.connect_timeout_ms), 1, 60000,
	  "250", "milliseconds a connection to an upstream instance may take" },
	{ "gateway.timeout_ms", K_LONG, OFF(gw.timeout_ms), 1, 600000,
	  "2000", "milliseconds one upstream request (one try) may take in all" },
	{ "gateway.retries", K_LONG, OFF(gw.retries), 0, 10,
	  "2", "tries after the first of an idempotent upstream request (GET; POST with its order_id)" },
	{ "gateway.retry_base_ms", K_LONG, OFF(gw.retry_base_ms), 1, 60000,
	  "20", "backoff before retry n: random (full jitter) up to retry_base_ms * 2^n" },
	{ "gateway.max_in_flight", K_LONG, OFF(gw.max_in_flight), 1, 100000,
	  "512", "bulkhead: requests in flight to one upstream at most; beyond, 503 with Retry-After" },
	{ "gateway.eject_failures", K_LONG, OFF(gw.eject_failures), 1, 1000,
	  "3", "failed requests in a row that eject an instance from its upstream's rotation" },
	{ "gateway.eject_ms", K_LONG, OFF(gw.eject_ms), 10, 3600000,
	  "5000", "milliseconds an ejected instance stays out (doubling while it keeps failing, up to 16 times)" },
	{ "gateway.health_interval_ms", K_LONG, OFF(gw.health_interval_ms), 50, 3600000,
	  "1000", "how often each instance's /readyz is checked; failing instances get no requests" },
	{ "gateway.breaker_failures", K_LONG, OFF(gw.breaker_failures), 1, 100000,
	  "20", "failed upstream requests in a row that open that upstream's circuit breaker" },
	{ "gateway.breaker_recovery_ms", K_LONG, OFF(gw.breaker_recovery_ms), 10, 3600000,
	  "2000", "milliseconds an upstream's breaker stays open (failing fast) before trial requests" },
	{ "gateway.max_wait", K_LONG, OFF(gw.max_wait_s), 0, 3600,
	  "30", "seconds GET /api/v1/orders/{id}?wait=S may wait at most for the outcome" },
	{ "gateway.poll_ms", K_LONG, OFF(gw.poll_ms), 10, 60000,
	  "100", "how often a waiting GET looks at the order again" },
	{ "gateway.max_body", K_LONG, OFF(gw.max_body), 64, 16777216,
	  "65536", "bytes of a request body at most (more is 413)" },
	{ "gateway.max_header", K_LONG, OFF(gw.max_header), 1024, 1048576,
	  "8192", "bytes of a request's line and headers at most" },
	{ "gateway.max_connections", K_LONG, OFF(gw.max_connections), 1, 100000,
	  "2048", "client connections chorus-gateway holds open at most" },
	{ "gateway.per_client", K_LONG, OFF(gw.per_client), 1, 100000,
	  "256", "client connections from one address at most" },
	{ "gateway.idle_timeout", K_LONG, OFF(gw.idle_timeout_s), 1, 3600,
	  "15", "seconds a client connection may stay silent (also while sending its headers)" },
	{ "gateway.threads", K_LONG, OFF(gw.threads), 1, 64,
	  "2", "threads serving client connections (the upstream calls run on one more)" },
};

#define NKEYS (sizeof(conf_keys) / sizeof(conf_keys[0]))

static const struct conf_key *
find_key(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(conf_keys[i].name, name) == 0)
			return &conf_keys[i];
	return NULL;
}

static int
set_value(struct conf *cfg, const struct conf_key *k, const char *value,
    const char *where, char **cause)
{
	char *base = (char *)cfg + k->offset;
	char *end;
	long v;
	int lvl;

	switch (k->kind) {
	case K_LADDER: {
		struct retry_policy rp;
		char *why = NULL;

		if (retry_parse_ladder(value, &rp, &why) != 0) {
			*cause = xasprintf("%s: %s: %s", where, k->name, why);
			free(why);
			return -1;
		}
	}
		/* stored as its text */
		/* fall through */
	case K_URLLIST:
		if (k->kind == K_URLLIST && *value != '\0') {
			struct urllist l;
			char *why = NULL;

			if (urllist_split(value, &l, &why) != 0) {
				*cause = xasprintf("%s: %s: %s", where, k->name, why);
				free(why);
				return -1;
			}
			urllist_free(&l);
		}
		/* stored as its text */
		/* fall through */
	case K_STRING:
		if (*value == '\0' && k->min != EMPTY_OK) {
			*cause = xasprintf("%s: %s must not be empty", where, k->name);
			return -1;
		}
		free(*(char **)base);
		*(char **)base = xstrdup(value);
		return 0;
	case K_LONG:
		errno = 0;
		v = strtol(value, &end, 10);
		if (errno != 0 || end == value || *end != '\0') {
			*cause = xasprintf("%s: %s: '%s' is not a whole number", where, k->name, value);
			return -1;
		}
		if (v < k->min || v > k->max) {
			*cause = xasprintf("%s: %s: %ld is out of range (%ld..%ld)", where,
			    k->name, v, k->min, k->max);
			return -1;
		}
		*(long *)base = v;
		return 0;
	case K_LOGLEVEL:
		lvl = log_level_parse(value);
		if (lvl < 0) {
			*cause = xasprintf("%s: %s: '%s' is not one of error, warn, info, debug",
			    where, k->name, value);
			return -1;
		}
		*(int *)base = lvl;
		return 0;
	case K_CURRENCY:
		if (strlen(value) != 3 || !isupper((unsigned char)value[0]) ||
		    !isupper((unsigned char)value[1]) || !isupper((unsigned char)value[2])) {
			*cause = xasprintf("%s: %s: '%s' is not 3 upper-case letters", where,
			    k->name, value);
			return -1;
		}
		memcpy(base, value, 4);
		return 0;
	}
	return -1;
}

void
conf_defaults(struct conf *cfg)
{
	char *cause = NULL;

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < NKEYS; i++) {
		if (set_value(cfg, &conf_keys[i], conf_keys[i].def, "default", &cause) != 0) {
			/* a bad default is a bug in the table above */
			fprintf(stderr, "%s\n", cause);
			abort();
		}
	}
}

char *
conf_amqp_url(const struct conf *cfg, enum service_id svc)
{
	char *url;
	/* EXTERNAL: the certificate is the login; the URL's user names it (user_id) */
	int external = strcmp(cfg->amqp_auth, "external") == 0;

	if ((!external && cfg->amqp_password[svc][0] == '\0') ||
	    (url = broker_url_with_login(cfg->amqp_url, cfg->amqp_user[svc],
	    external ? "" : cfg->amqp_password[svc])) == NULL)
		return xstrdup(cfg->amqp_url);
	return url;
}

const char *
conf_database_owner_url(const struct conf *cfg, enum service_id svc)
{
	return cfg->database_owner_url[svc][0] != '\0' ? cfg->database_owner_url[svc] :
	    cfg->database_url[svc];
}

void
conf_retry_policy(const struct conf *cfg, struct retry_policy *p)
{
	char *cause = NULL;

	memset(p, 0, sizeof(*p));
	if (retry_parse_ladder(cfg->retry_ladder, p, &cause) != 0) {
		/* validated when set: a failure here is a bug */
		fprintf(stderr, "retry ladder: %s\n", cause);
		abort();
	}
	p->max_attempts = (unsigned)cfg->retry_max_attempts;
	p->jitter_pct = (unsigned)cfg->retry_jitter_pct;
}

void
conf_free(struct conf *cfg)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (conf_keys[i].kind == K_STRING || conf_keys[i].kind == K_LADDER ||
		    conf_keys[i].kind == K_URLLIST) {
			char **p = (char **)((char *)cfg + conf_keys[i].offset);
			free(*p);
			*p = NULL;
		}
}

int
conf_set(struct conf *cfg, const char *key, const char *value, const char *where,
    char **cause)
{
	const struct conf_key *k = find_key(key);

	if (k == NULL) {
		*cause = xasprintf("%s: unknown key '%s'", where, key);
		return -1;
	}
	return set_value(cfg, k, value, where, cause);
}

int
conf_set_arg(struct conf *cfg, const char *arg, char **cause)
{
	const char *eq = strchr(arg, '=');
	char *key;
	int r;

	if (eq == NULL || eq == arg) {
		*cause = xasprintf("option -o: expected key=value (no '=' or no key)");
		return -1;
	}
	key = xstrndup(arg, (size_t)(eq - arg));
	r = conf_set(cfg, key, eq + 1, "option -o", cause);
	free(key);
	return r;
}

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int
conf_load_file(struct conf *cfg, const char *path, int required, char **cause)
{
	char line[4096], section[64] = "", key[192], where[512];
	unsigned lineno = 0;
	FILE *f;
	int r = -1;

	f = fopen(path, "r");
	if (f == NULL) {
		if (errno == ENOENT && !required)
			return 0;
		*cause = xasprintf("config file %s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *s, *eq, *k, *v;

		lineno++;
		snprintf(where, sizeof(where), "%s:%u", path, lineno);
		if (strchr(line, '\n') == NULL && !feof(f)) {
			*cause = xasprintf("%s: line too long", where);
			goto out;
		}
		s = trim(line);
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *close = strchr(s, ']');
			if (close == NULL || close[1] != '\0' || close - s - 1 >= (long)sizeof(section)) {
				*cause = xasprintf("%s: bad section line (expected '[name]')", where);
				goto out;
			}
			*close = '\0';
			strlcpy_(section, trim(s + 1), sizeof(section));
			continue;
		}
		eq = strchr(s, '=');
		if (eq == NULL) {
			/* the line is not echoed: it may be a secret that lost its key */
			*cause = xasprintf("%s: expected 'key = value' (no '=' on the line)", where);
			goto out;
		}
		*eq = '\0';
		k = trim(s);
		v = trim(eq + 1);
		if (strlen(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[strlen(v) - 1] == v[0]) {
			v[strlen(v) - 1] = '\0';
			v++;
		}
		if (section[0] != '\0')
			snprintf(key, sizeof(key), "%s.%s", section, k);
		else
			snprintf(key, sizeof(key), "%s", k);
		if (conf_set(cfg, key, v, where, cause) != 0)
			goto out;
	}
	if (ferror(f)) {
		*cause = xasprintf("config file %s: read error", path);
		goto out;
	}
	r = 0;
out:
	fclose(f);
	return r;
}

int
conf_load_env(struct conf *cfg, char **cause)
{
	char name[128], where[160];

	for (size_t i = 0; i < NKEYS; i++) {
		const char *v;
		size_t n = 0;

		n = (size_t)snprintf(name, sizeof(name), "CHORUS_");
		for (const char *p = conf_keys[i].name; *p && n < sizeof(name) - 1; p++)
			name[n++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
		name[n] = '\0';
		v = getenv(name);
		if (v == NULL)
			continue;
		snprintf(where, sizeof(where), "environment %s", name);
		if (set_value(cfg, &conf_keys[i], v, where, cause) != 0)
			return -1;
	}
	return 0;
}

/*
 * Read one credential file whole into *out (caller frees). 0 when read, 1
 * when it does not exist, -1 with *cause. Credentials are small: anything
 * past CRED_MAX is refused rather than cut, since a cut URL would connect
 * somewhere else.
 */
#define CRED_MAX 8192
static int
read_credential(const char *path, char **out, size_t *len, char **cause)
{
	char *buf = xmalloc(CRED_MAX + 1);
	FILE *f;
	size_t n;
	int r = -1;

	f = fopen(path, "r");
	if (f == NULL) {
		free(buf);
		if (errno == ENOENT)
			return 1;
		*cause = xasprintf("credential %s: %s", path, strerror(errno));
		return -1;
	}
	n = fread(buf, 1, CRED_MAX + 1, f);
	if (ferror(f)) {
		*cause = xasprintf("credential %s: %s", path, strerror(errno));
		goto out;
	}
	if (n > CRED_MAX) {
		*cause = xasprintf("credential %s: longer than %d bytes", path, CRED_MAX);
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	buf = NULL;
	r = 0;
out:
	free(buf);
	fclose(f);
	return r;
}

int
conf_load_credentials(struct conf *cfg, char **cause)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");

	if (dir == NULL || *dir == '\0')
		return 0;
	for (size_t i = 0; i < NKEYS; i++) {
		char *path, *v = NULL, where[PATH_MAX + 32];
		size_t len = 0;
		int r;

		/* only secrets: the rest belongs in the file, where it can be read */
		if (!conf_key_secret(i))
			continue;
		path = xasprintf("%s/%s", dir, conf_keys[i].name);
		r = read_credential(path, &v, &len, cause);
		if (r != 0) {
			free(path);
			if (r > 0)
				continue;
			return -1;
		}
		/* "echo URL > file" leaves a newline; inside the value one is an error */
		while (len > 0 && (v[len - 1] == '\n' || v[len - 1] == '\r'))
			v[--len] = '\0';
		snprintf(where, sizeof(where), "credential %s", path);
		if (strlen(v) != len || strpbrk(v, "\r\n") != NULL) {
			*cause = xasprintf("%s: %s must be one line of text", where,
			    conf_keys[i].name);
			r = -1;
		} else
			r = set_value(cfg, &conf_keys[i], v, where, cause);
		free(v);
		free(path);
		if (r != 0)
			return -1;
	}
	return 0;
}

void
conf_broker_tls(const struct conf *cfg, struct broker_tls *t)
{
	memset(t, 0, sizeof(*t));
	if (strcmp(cfg->amqp_tls_ca, "system") != 0)
		t->ca = cfg->amqp_tls_ca;
	if (strcmp(cfg->amqp_tls_cert, "none") != 0)
		t->cert = cfg->amqp_tls_cert;
	if (strcmp(cfg->amqp_tls_key, "none") != 0)
		t->key = cfg->amqp_tls_key;
	t->external = strcmp(cfg->amqp_auth, "external") == 0;
}

int
conf_check(const struct conf *cfg, char **cause)
{
	struct broker_tls t;

	if (strcmp(cfg->amqp_auth, "plain") != 0 && strcmp(cfg->amqp_auth, "external") != 0) {
		*cause = xasprintf("amqp_auth: '%s' is not plain or external", cfg->amqp_auth);
		return -1;
	}
	conf_broker_tls(cfg, &t);
	if ((t.cert == NULL) != (t.key == NULL)) {
		*cause = xasprintf("amqp_tls_cert and amqp_tls_key go together: set both or neither");
		return -1;
	}
	if (t.external && t.cert == NULL) {
		*cause = xasprintf("amqp_auth = external needs a client certificate "
		    "(amqp_tls_cert, amqp_tls_key)");
		return -1;
	}
	/* a bad URL is reported when connecting; this is about TLS settings going unused */
	if ((t.ca != NULL || t.cert != NULL || t.external) && broker_url_tls(cfg->amqp_url) == 0) {
		*cause = xasprintf("amqp_tls_ca, amqp_tls_cert, amqp_tls_key and amqp_auth = external "
		    "need an amqps:// amqp_url; with amqp:// the connection is plaintext");
		return -1;
	}
	return 0;
}

int
conf_load(struct conf *cfg, const char *path, const char *const *sets, size_t nsets,
    char **cause)
{
	if (conf_load_file(cfg, path != NULL ? path : conf_default_path(), path != NULL,
	    cause) != 0 || conf_load_credentials(cfg, cause) != 0 || conf_load_env(cfg, cause) != 0)
		return -1;
	for (size_t i = 0; i < nsets; i++)
		if (conf_set_arg(cfg, sets[i], cause) != 0)
			return -1;
	return conf_check(cfg, cause);
}

size_t
conf_key_count(void)
{
	return NKEYS;
}

const char *
conf_key_name(size_t i)
{
	return i < NKEYS ? conf_keys[i].name : NULL;
}

const char *
conf_key_help(size_t i)
{
	return i < NKEYS ? conf_keys[i].help : NULL;
}

const char *
conf_key_default(size_t i)
{
	return i < NKEYS ? conf_keys[i].def : NULL;
}

/* true when a key or parameter name says it holds a secret. */
static int
secret_name(const char *name, size_t n)
{
	static const char *const words[] = { "password", "secret", NULL };

	for (const char *const *w = words; *w != NULL; w++)
		for (size_t i = 0; i + strlen(*w) <= n; i++)
			if (strncasecmp(name + i, *w, strlen(*w)) == 0)
				return 1;
	return 0;
}

int
conf_key_secret(size_t i)
{
	/* URLs may carry passwords */
	return i < NKEYS && (strstr(conf_keys[i].name, "_url") != NULL ||
	    secret_name(conf_keys[i].name, strlen(conf_keys[i].name)));
}

/* Append n bytes of s to the string *out (malloc'ed, room for the masked value). */
static void
append(char **out, size_t *len, const char *s, size_t n)
{
	memcpy(*out + *len, s, n);
	*len += n;
	(*out)[*len] = '\0';
}

/*
 * The end of a parameter value starting at v: in a URL query up to '&' or
 * '#'; in a conninfo up to white space, or a quoted value ('it''s',
 * backslash escapes) to its closing quote.
 */
static const char *
value_end(const char *v, int query)
{
	if (query)
		return v + strcspn(v, "&#");
	if (*v == '\'') {
		for (v++; *v != '\0' && *v != '\''; v++)
			if (*v == '\\' && v[1] != '\0')
				v++;
		return *v == '\'' ? v + 1 : v;
	}
	while (*v != '\0' && !isspace((unsigned char)*v))
		v++;
	return v;
}

char *
conf_mask(const char *name, const char *value)
{
	const char *scheme = strstr(value, "://"), *p = value, *at = NULL, *colon = NULL;
	size_t len = 0;
	int query = 0;
	char *out;

	if (secret_name(name, strlen(name)))
		return xstrdup(value[0] != '\0' ? "****" : "");
	/* room enough: a secret takes 7 bytes at least ("secret="), "****" adds 4 */
	out = xmalloc(3 * strlen(value) + 8);
	out[0] = '\0';
	/* URL user:password@: the last '@' before the query, the first ':' before it */
	if (scheme != NULL) {
		const char *q = scheme + 3 + strcspn(scheme + 3, "?#");

		for (const char *c = scheme + 3; c < q; c++)
			if (*c == '@')
				at = c;
		if (at != NULL)
			colon = memchr(scheme + 3, ':', (size_t)(at - scheme - 3));
	}
	if (colon != NULL) {
		append(&out, &len, value, (size_t)(colon + 1 - value));
		append(&out, &len, "****", 4);
		p = at;
	}
	/* name=value parameters, in a URL's query or a conninfo string */
	while (*p != '\0') {
		const char *n = p, *eq;
		size_t nlen = strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");

		if (*p == '?')
			query = 1;
		eq = n + nlen;
		while (!query && (*eq == ' ' || *eq == '\t'))
			eq++;
		if (nlen > 0 && *eq == '=' && (n == value || strchr("?& \t;", n[-1]) != NULL) &&
		    secret_name(n, nlen)) {
			const char *v = eq + 1, *e;

			while (!query && (*v == ' ' || *v == '\t'))
				v++;
			e = value_end(v, query);
			append(&out, &len, p, (size_t)(v - p));
			append(&out, &len, "****", 4);
			p = e;
			continue;
		}
		append(&out, &len, p, nlen > 0 ? nlen : 1);
		p += nlen > 0 ? nlen : 1;
	}
	return out;
}

char *
conf_key_value(const struct conf *cfg, size_t i)
{
	const char *base = (const char *)cfg + conf_keys[i].offset;

	switch (conf_keys[i].kind) {
	case K_STRING:
	case K_LADDER:
	case K_URLLIST:
		return xstrdup(*(char *const *)base ? *(char *const *)base : "");
	case K_LONG:
		return xasprintf("%ld", *(const long *)base);
	case K_LOGLEVEL:
		return xstrdup(log_level_name((enum log_level)*(const int *)base));
	case K_CURRENCY:
		return xstrdup(base);
	}
	return xstrdup("");
}

const char *
conf_default_path(void)
{
	return CHORUS_SYSCONFDIR "/chorus/chorus.conf";
}
