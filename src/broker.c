/*
 * broker: RabbitMQ connection, topology, consuming and confirmed publishing
 * over rabbitmq-c (see broker.h).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <amqp.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "clock.h"
#include "broker.h"
#include "log.h"
#include "urllist.h"
#include "xmalloc.h"

#define CHANNEL 1
#define MAX_TABLE BROKER_MAX_HEADERS

struct broker {
	amqp_connection_state_t conn;
	int open;		/* login done: close with connection.close */
	int confirm;
	uint64_t next_tag;	/* number the next publish gets in confirm mode */
	char *user;		/* the login: every publish carries it as user_id */
	struct broker_batch *batch;	/* the batch confirms and returns settle, or NULL */
	int last_reply;		/* reply code of the broker's last channel or connection close */
	char tls_why[256];	/* why the broker's certificate was refused, or "" */
	size_t max_body;	/* 0: no limit */
};

/*
 * A batch's messages in the order added. Their confirm tags rise with the
 * index, so a multiple ack settles a prefix of what is still pending and a
 * single one is found by binary search.
 */
struct broker_batch {
	struct broker *b;	/* NULL once b is closed */
	int attached;		/* b->batch == this */
	size_t n, cap;
	size_t lo;		/* every message before lo is settled */
	size_t pending, failed;
	uint64_t *tag;
	enum confirm *st;
	char **id;
};

static char *
bytes_dup(amqp_bytes_t b)
{
	return xstrndup(b.bytes ? (const char *)b.bytes : "", b.len);
}

/* Describe a failed RPC reply. */
static char *
reply_cause(const char *what, amqp_rpc_reply_t r)
{
	switch (r.reply_type) {
	case AMQP_RESPONSE_NORMAL:
		return xasprintf("%s: ok", what);
	case AMQP_RESPONSE_NONE:
		return xasprintf("%s: missing RPC reply", what);
	case AMQP_RESPONSE_LIBRARY_EXCEPTION:
		return xasprintf("%s: %s", what, amqp_error_string2(r.library_error));
	case AMQP_RESPONSE_SERVER_EXCEPTION:
		if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
			amqp_connection_close_t *m = r.reply.decoded;
			return xasprintf("%s: connection closed by broker: %u %.*s", what,
			    m->reply_code, (int)m->reply_text.len, (char *)m->reply_text.bytes);
		}
		if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
			amqp_channel_close_t *m = r.reply.decoded;
			return xasprintf("%s: channel closed by broker: %u %.*s", what,
			    m->reply_code, (int)m->reply_text.len, (char *)m->reply_text.bytes);
		}
		return xasprintf("%s: broker error, method 0x%08X", what, r.reply.id);
	}
	return xasprintf("%s: unknown reply", what);
}

static int
rpc_ok(struct broker *b, const char *what, char **cause)
{
	amqp_rpc_reply_t r = amqp_get_rpc_reply(b->conn);

	if (r.reply_type == AMQP_RESPONSE_NORMAL)
		return 0;
	*cause = reply_cause(what, r);
	if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CHANNEL_CLOSE_METHOD)
		b->last_reply = ((amqp_channel_close_t *)r.reply.decoded)->reply_code;
	else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
	    r.reply.id == AMQP_CONNECTION_CLOSE_METHOD)
		b->last_reply = ((amqp_connection_close_t *)r.reply.decoded)->reply_code;
	if (r.reply_type != AMQP_RESPONSE_LIBRARY_EXCEPTION)
		b->open = 0;	/* the broker closed the channel or connection */
	return -1;
}

/*
 * A key file that is encrypted would make OpenSSL ask for its passphrase
 * on the terminal: a daemon must fail instead (keys are protected by file
 * permissions or systemd credentials, never by a passphrase in argv).
 */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* The first certificate error of a handshake, kept for the error message. */
static int
tls_verify(int ok, X509_STORE_CTX *x)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct broker *b = ssl != NULL ? SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)) : NULL;
	X509 *cert = X509_STORE_CTX_get_current_cert(x);
	char subject[128] = "?";

	if (ok || b == NULL || b->tls_why[0] != '\0')
		return ok;
	if (cert != NULL)
		X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof(subject));
	snprintf(b->tls_why, sizeof(b->tls_why), "certificate verify failed: %s (certificate %s)",
	    X509_verify_cert_error_string(X509_STORE_CTX_get_error(x)), subject);
	return ok;
}

/*
 * OpenSSL's errors as text, "; " between them ("" when none), and the
 * queue emptied. The generic "PEM lib" and repeats are left out: what
 * remains says why (e.g. "unable to get passphrase" for an encrypted key).
 */
static const char *
tls_error(char *buf, size_t size)
{
	unsigned long e;
	size_t n = 0;

	buf[0] = '\0';
	while ((e = ERR_get_error()) != 0) {
		const char *reason = ERR_reason_error_string(e);
		char code[32];

		if (reason == NULL) {
			snprintf(code, sizeof(code), "error %lx", e);
			reason = code;
		} else if (strcmp(reason, "PEM lib") == 0 || strstr(buf, reason) != NULL) {
			continue;
		}
		if (n < size)
			n += (size_t)snprintf(buf + n, size - n, "%s%s", n > 0 ? "; " : "", reason);
	}
	return buf;
}

/* 0 when the file key names can be read, else -1 with *cause saying why. */
static int
tls_file(const char *key, const char *path, char **cause)
{
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		*cause = xasprintf("TLS: %s %s: %s", key, path, strerror(errno));
		return -1;
	}
	fclose(f);
	return 0;
}

/*
 * The TLS socket of an amqps:// connection to host: TLS 1.2 or later, the
 * broker's certificate verified against tls->ca (or the default store)
 * and its name checked during the handshake, the client certificate
 * loaded when there is one. NULL with *cause.
 */
static amqp_socket_t *
tls_socket(struct broker *b, const char *host, const struct broker_tls *tls, char **cause)
{
	amqp_socket_t *sock = amqp_ssl_socket_new(b->conn);
	unsigned char addr[16];
	X509_VERIFY_PARAM *vp;
	char err[256];
	SSL_CTX *ctx;
	int ok;

	if (sock == NULL) {
		*cause = xasprintf("cannot create a TLS socket: %s", tls_error(err, sizeof(err)));
		return NULL;
	}
	ctx = amqp_ssl_socket_get_context(sock);
	SSL_CTX_set_app_data(ctx, b);
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
	if (amqp_ssl_socket_set_ssl_versions(sock, AMQP_TLSv1_2, AMQP_TLSvLATEST) != AMQP_STATUS_OK) {
		*cause = xasprintf("TLS: cannot require TLS 1.2 or later");
		return NULL;
	}
	if ((tls->ca != NULL && tls_file("amqp_tls_ca", tls->ca, cause) != 0) ||
	    (tls->cert != NULL && tls_file("amqp_tls_cert", tls->cert, cause) != 0) ||
	    (tls->key != NULL && tls_file("amqp_tls_key", tls->key, cause) != 0))
		return NULL;
	ERR_clear_error();
	if (tls->ca != NULL)
		ok = amqp_ssl_socket_set_cacert(sock, tls->ca) == AMQP_STATUS_OK;
	else
		ok = SSL_CTX_set_default_verify_paths(ctx) == 1;
	if (!ok) {
		*cause = xasprintf("TLS: cannot load the CA certificates %s (amqp_tls_ca): %s",
		    tls->ca != NULL ? tls->ca : "of the default store", tls_error(err, sizeof(err)));
		return NULL;
	}
	if (tls->cert != NULL &&
	    amqp_ssl_socket_set_key(sock, tls->cert, tls->key) != AMQP_STATUS_OK) {
		*cause = xasprintf("TLS: cannot load the client certificate %s (amqp_tls_cert) "
		    "with its key %s (amqp_tls_key): %s", tls->cert, tls->key,
		    tls_error(err, sizeof(err)));
		return NULL;
	}
	/*
	 * OpenSSL checks the name in the handshake (RFC 6125: SAN DNS names and
	 * IP addresses); rabbitmq-c's own check knows DNS names only, so it is
	 * replaced, not added to. SSL_VERIFY_PEER: a failure ends the handshake
	 * before anything is sent.
	 */
	vp = SSL_CTX_get0_param(ctx);
	if (inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1)
		ok = X509_VERIFY_PARAM_set1_ip_asc(vp, host) == 1;
	else
		ok = X509_VERIFY_PARAM_set1_host(vp, host, 0) == 1;
	if (!ok) {
		*cause = xasprintf("TLS: cannot verify against host name '%s': %s", host,
		    tls_error(err, sizeof(err)));
		return NULL;
	}
	X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, tls_verify);
	amqp_ssl_socket_set_verify_peer(sock, 1);
	amqp_ssl_socket_set_verify_hostname(sock, 0);
	return sock;
}

/* Why a TLS connection failed: the certificate check, else OpenSSL's error. */
static char *
tls_cause(struct broker *b, const char *what, const char *host, int port, int st)
{
	char err[256];

	if (b->tls_why[0] != '\0')
		return xasprintf("%s RabbitMQ at %s:%d: %s", what, host, port, b->tls_why);
	tls_error(err, sizeof(err));
	return xasprintf("%s RabbitMQ at %s:%d: %s%s%s (amqps:// never falls back to plaintext: "
	    "is this a TLS port?)", what, host, port, amqp_error_string2(st),
	    err[0] != '\0' ? ": " : "", err);
}

int
broker_url_tls(const char *urls)
{
	struct amqp_connection_info ci;
	struct urllist l;
	char *cause = NULL;
	int r = 0;

	if (urllist_split(urls, &l, &cause) != 0) {
		free(cause);
		return -1;
	}
	for (size_t i = 0; i < l.n && r >= 0; i++) {
		if (amqp_parse_url(l.url[i], &ci) != AMQP_STATUS_OK)
			r = -1;
		else if (ci.ssl)
			r = 1;
	}
	urllist_free(&l);
	return r;
}

/* Connect to the one node url names (broker_connect without the list). */
static struct broker *
connect_one(const char *url, const struct broker_tls *tls, const char *name,
    int heartbeat_s, int timeout_s, char **cause)
{
	static const struct broker_tls tls_defaults;
	struct amqp_connection_info ci;
	amqp_socket_t *sock;
	struct timeval tv = { timeout_s, 0 };
	amqp_table_entry_t props[2];
	amqp_table_t client_props;
	amqp_rpc_reply_t r;
	struct broker *b;
	char *copy = xstrdup(url);
	int st;

	amqp_default_connection_info(&ci);
	if (amqp_parse_url(copy, &ci) != AMQP_STATUS_OK) {
		*cause = xasprintf("bad AMQP URL (expected amqp[s]://user:password@host:port/vhost)");
		free(copy);
		return NULL;
	}
	/* rabbitmq-c reads "amqp://host/" as vhost "": the default vhost is meant */
	if (ci.vhost == NULL || ci.vhost[0] == '\0')
		ci.vhost = "/";
	if (tls == NULL)
		tls = &tls_defaults;
	b = xcalloc(1, sizeof(*b));
	b->conn = amqp_new_connection();
	if (ci.ssl)
		sock = tls_socket(b, ci.host, tls, cause);
	else if ((sock = amqp_tcp_socket_new(b->conn)) == NULL)
		*cause = xasprintf("cannot create a socket");
	if (sock == NULL)
		goto fail;
	st = amqp_socket_open_noblock(sock, ci.host, ci.port, &tv);
	if (st != AMQP_STATUS_OK) {
		if (ci.ssl && st != AMQP_STATUS_SOCKET_ERROR && st != AMQP_STATUS_TIMEOUT &&
		    st != AMQP_STATUS_HOSTNAME_RESOLUTION_FAILED)
			*cause = tls_cause(b, "TLS handshake with", ci.host, ci.port, st);
		else
			*cause = xasprintf("cannot connect to RabbitMQ at %s:%d: %s", ci.host,
			    ci.port, amqp_error_string2(st));
		goto fail;
	}
	/* bound the login and later RPCs too: a broker that stops answering is an error */
	amqp_set_rpc_timeout(b->conn, &tv);
	props[0].key = amqp_cstring_bytes("connection_name");
	props[0].value.kind = AMQP_FIELD_KIND_UTF8;
	props[0].value.value.bytes = amqp_cstring_bytes(name);
	props[1].key = amqp_cstring_bytes("product");
	props[1].value.kind = AMQP_FIELD_KIND_UTF8;
	props[1].value.value.bytes = amqp_cstring_bytes("chorus");
	client_props.num_entries = 2;
	client_props.entries = props;
	/* EXTERNAL: the broker takes the user from the client certificate, not from this */
	if (ci.ssl && tls->external)
		r = amqp_login_with_properties(b->conn, ci.vhost, 0, 131072, heartbeat_s,
		    &client_props, AMQP_SASL_METHOD_EXTERNAL, ci.user);
	else
		r = amqp_login_with_properties(b->conn, ci.vhost, 0, 131072, heartbeat_s,
		    &client_props, AMQP_SASL_METHOD_PLAIN, ci.user, ci.password);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		char *c = reply_cause("login", r), err[256];

		/*
		 * TLS 1.3: a client certificate the broker refuses shows only now,
		 * as an alert (OpenSSL's error) or, when the broker closed first,
		 * as a failed read or write with no detail.
		 */
		if (ci.ssl && tls_error(err, sizeof(err))[0] != '\0')
			*cause = xasprintf("RabbitMQ at %s:%d: %s: %s", ci.host, ci.port, c, err);
		else if (ci.ssl && tls->cert != NULL && r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
			*cause = xasprintf("RabbitMQ at %s:%d: %s (the broker ended the TLS connection: "
			    "did it refuse the client certificate %s?)", ci.host, ci.port, c, tls->cert);
		else
			*cause = xasprintf("RabbitMQ at %s:%d: %s", ci.host, ci.port, c);
		free(c);
		goto fail;
	}
	b->open = 1;
	b->user = xstrdup(ci.user);
	amqp_channel_open(b->conn, CHANNEL);
	if (rpc_ok(b, "channel.open", cause) != 0)
		goto fail;
	free(copy);
	return b;
fail:
	free(copy);
	broker_close(b);
	return NULL;
}

/*
 * The node of the list the next connection tries first: the one after the
 * node the last connection reached, so that a worker's connections spread
 * over the nodes, and a reconnect after a node failed tries the others
 * first. Seeded from the pid, so that instances start on different nodes.
 */
static atomic_uint next_node;
static atomic_flag next_node_seeded = ATOMIC_FLAG_INIT;

struct broker *
broker_connect(const char *urls, const struct broker_tls *tls, const char *name,
    int heartbeat_s, int timeout_s, char **cause)
{
	struct urllist l;
	struct broker *b = NULL;
	char *why = NULL;
	unsigned first;

	if (urllist_split(urls, &l, cause) != 0) {
		char *c = *cause;

		*cause = xasprintf("bad amqp_url: %s", c);
		free(c);
		return NULL;
	}
	if (!atomic_flag_test_and_set(&next_node_seeded))
		atomic_store(&next_node, (unsigned)getpid());
	first = atomic_load(&next_node);
	for (size_t i = 0; i < l.n && b == NULL; i++) {
		size_t k = (first + i) % l.n;
		char *c = NULL;

		b = connect_one(l.url[k], tls, name, heartbeat_s, timeout_s, &c);
		if (b != NULL) {
			atomic_store(&next_node, (unsigned)(k + 1));
			if (i > 0)
				log_info("msg=\"connected to another RabbitMQ node\" connection=\"%s\" "
				    "node=%zu of %zu", name, k + 1, l.n);
			break;
		}
		if (l.n > 1)
			log_warn("msg=\"RabbitMQ node unreachable, trying the next\" connection=\"%s\" "
			    "node=%zu of %zu error=\"%s\"", name, k + 1, l.n, c);
		free(why);
		why = c;
	}
	if (b == NULL)
		*cause = l.n == 1 ? xstrdup(why) :
		    xasprintf("no RabbitMQ node of %zu answered; the last: %s", l.n, why);
	free(why);
	urllist_free(&l);
	return b;
}

int
broker_url_login(const char *url, char **user, char **password, char **vhost)
{
	struct amqp_connection_info ci;
	char *copy = xstrndup(url, strcspn(url, ","));	/* the first URL of a list */
	int ret = -1;

	amqp_default_connection_info(&ci);
	if (amqp_parse_url(copy, &ci) == AMQP_STATUS_OK) {
		if (user != NULL)
			*user = xstrdup(ci.user);
		if (password != NULL)
			*password = xstrdup(ci.password);
		/* as broker_connect: "amqp://host/" means the default vhost */
		if (vhost != NULL)
			*vhost = xstrdup(ci.vhost != NULL && ci.vhost[0] != '\0' ? ci.vhost : "/");
		ret = 0;
	}
	free(copy);
	return ret;
}

char *
broker_url_user(const char *url)
{
	char *user = NULL;

	return broker_url_login(url, &user, NULL, NULL) == 0 ? user : NULL;
}

/* s percent-encoded as a URL's userinfo wants it (RFC 3986 unreserved kept). */
static void
url_encode(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~')
			fputc(c, f);
		else
			fprintf(f, "%%%02X", c);
	}
}

/* One URL with its login replaced, written to f; -1 when it has no "scheme://". */
static int
one_with_login(FILE *f, const char *url, const char *user, const char *password)
{
	const char *host = strstr(url, "://"), *at, *end;

	if (host == NULL)
		return -1;
	host += 3;
	/* the login ends at the last '@' before the path */
	end = host + strcspn(host, "/?#");
	for (at = end; at > host && at[-1] != '@'; at--)
		;
	if (at > host)
		host = at;
	fprintf(f, "%.*s", (int)(strstr(url, "://") + 3 - url), url);
	url_encode(f, user);
	fputc(':', f);
	url_encode(f, password);
	fprintf(f, "@%s", host);
	return 0;
}

char *
broker_url_with_login(const char *url, const char *user, const char *password)
{
	char *out = NULL, *copy = xstrdup(url), *one, *save = NULL;
	size_t len = 0;
	int ret = 0;
	FILE *f;

	if ((f = open_memstream(&out, &len)) == NULL) {
		free(copy);
		return NULL;
	}
	/* each node's URL of a list (a cluster) */
	for (one = strtok_r(copy, ",", &save); one != NULL && ret == 0;
	    one = strtok_r(NULL, ",", &save)) {
		if (one != copy)
			fputc(',', f);
		ret = one_with_login(f, one, user, password);
	}
	fclose(f);
	free(copy);
	if (ret != 0) {
		free(out);
		return NULL;
	}
	return out;
}

int
broker_url_port(const char *urls)
{
	struct amqp_connection_info ci;
	struct urllist l;
	char *cause = NULL;
	int port = -1;

	if (urllist_split(urls, &l, &cause) != 0) {
		free(cause);
		return -1;
	}
	amqp_default_connection_info(&ci);
	if (amqp_parse_url(l.url[0], &ci) == AMQP_STATUS_OK)
		port = ci.port;
	urllist_free(&l);
	return port;
}

void
broker_close(struct broker *b)
{
	if (b == NULL)
		return;
	if (b->batch != NULL) {
		b->batch->attached = 0;
		b->batch->b = NULL;
	}
	if (b->open) {
		amqp_channel_close(b->conn, CHANNEL, AMQP_REPLY_SUCCESS);
		amqp_connection_close(b->conn, AMQP_REPLY_SUCCESS);
	}
	amqp_destroy_connection(b->conn);
	free(b->user);
	free(b);
}

static void
table_str(amqp_table_entry_t *e, const char *key, const char *value)
{
	e->key = amqp_cstring_bytes(key);
	e->value.kind = AMQP_FIELD_KIND_UTF8;
	e->value.value.bytes = amqp_cstring_bytes(value);
}

static void
table_long(amqp_table_entry_t *e, const char *key, long value)
{
	e->key = amqp_cstring_bytes(key);
	e->value.kind = AMQP_FIELD_KIND_I64;
	e->value.value.i64 = value;
}

int
broker_declare_exchange(struct broker *b, const char *name, const char *type,
    const char *alternate_exchange, char **cause)
{
	amqp_table_entry_t e[1];
	amqp_table_t args = { 0, e };
	char what[300];

	if (alternate_exchange != NULL)
		table_str(&e[args.num_entries++], "alternate-exchange", alternate_exchange);
	amqp_exchange_declare(b->conn, CHANNEL, amqp_cstring_bytes(name), amqp_cstring_bytes(type),
	    0, 1, 0, 0, args);
	snprintf(what, sizeof(what), "declare exchange %s", name);
	return rpc_ok(b, what, cause);
}

int
broker_declare_queue(struct broker *b, const char *name, const struct broker_queue_args *a,
    char **cause)
{
	amqp_table_entry_t e[MAX_TABLE];
	amqp_table_t args = { 0, e };
	char what[300];

	if (a->quorum)
		table_str(&e[args.num_entries++], "x-queue-type", "quorum");
	if (a->dead_letter_exchange != NULL)
		table_str(&e[args.num_entries++], "x-dead-letter-exchange", a->dead_letter_exchange);
	if (a->dead_letter_routing_key != NULL)
		table_str(&e[args.num_entries++], "x-dead-letter-routing-key",
		    a->dead_letter_routing_key);
	if (a->delivery_limit > 0)
		table_long(&e[args.num_entries++], "x-delivery-limit", a->delivery_limit);
	if (a->message_ttl_ms > 0)
		table_long(&e[args.num_entries++], "x-message-ttl", a->message_ttl_ms);
	if (a->at_least_once) {
		table_str(&e[args.num_entries++], "x-dead-letter-strategy", "at-least-once");
		table_str(&e[args.num_entries++], "x-overflow", "reject-publish");
	}
	if (a->expires_ms > 0)
		table_long(&e[args.num_entries++], "x-expires", a->expires_ms);
	/* passive 0, durable unless transient, exclusive 0, auto-delete when transient */
	amqp_queue_declare(b->conn, CHANNEL, amqp_cstring_bytes(name), 0, !a->transient, 0,
	    a->transient ? 1 : 0, args);
	snprintf(what, sizeof(what), "declare queue %s", name);
	return rpc_ok(b, what, cause);
}

int
broker_bind(struct broker *b, const char *queue, const char *exchange, const char *routing_key,
    char **cause)
{
	char what[400];

	amqp_queue_bind(b->conn, CHANNEL, amqp_cstring_bytes(queue), amqp_cstring_bytes(exchange),
	    amqp_cstring_bytes(routing_key), amqp_empty_table);
	snprintf(what, sizeof(what), "bind %s to %s (%s)", queue, exchange, routing_key);
	return rpc_ok(b, what, cause);
}

int
broker_bind_on_header(struct broker *b, const char *dest, const char *source, const char *header,
    char **cause)
{
	amqp_table_entry_t e[2];
	amqp_table_t args = { 2, e };
	char what[400];

	table_str(&e[0], "x-match", "any");
	/* a void value: the header's presence matches, whatever its value */
	e[1].key = amqp_cstring_bytes(header);
	e[1].value.kind = AMQP_FIELD_KIND_VOID;
	amqp_exchange_bind(b->conn, CHANNEL, amqp_cstring_bytes(dest), amqp_cstring_bytes(source),
	    amqp_empty_bytes, args);
	snprintf(what, sizeof(what), "bind exchange %s to %s (header %s)", dest, source, header);
	return rpc_ok(b, what, cause);
}

int
broker_queue_stat(struct broker *b, const char *queue, long *messages, long *consumers,
    char **cause)
{
	amqp_queue_declare_ok_t *ok;
	char what[300];

	ok = amqp_queue_declare(b->conn, CHANNEL, amqp_cstring_bytes(queue), 1, 0, 0, 0,
	    amqp_empty_table);
	snprintf(what, sizeof(what), "queue %s", queue);
	if (rpc_ok(b, what, cause) != 0 || ok == NULL)
		return -1;
	if (messages != NULL)
		*messages = (long)ok->message_count;
	if (consumers != NULL)
		*consumers = (long)ok->consumer_count;
	return 0;
}

int
broker_exchange_exists(struct broker *b, const char *name, char **cause)
{
	char what[300];

	amqp_exchange_declare(b->conn, CHANNEL, amqp_cstring_bytes(name), amqp_cstring_bytes("topic"),
	    1, 0, 0, 0, amqp_empty_table);
	snprintf(what, sizeof(what), "exchange %s", name);
	return rpc_ok(b, what, cause);
}

long
broker_queue_count(struct broker *b, const char *queue, char **cause)
{
	long n;

	return broker_queue_stat(b, queue, &n, NULL, cause) == 0 ? n : -1;
}

long
broker_delete_queue(struct broker *b, const char *queue, char **cause)
{
	amqp_queue_delete_ok_t *ok;
	char what[300];

	ok = amqp_queue_delete(b->conn, CHANNEL, amqp_cstring_bytes(queue), 0, 0);
	snprintf(what, sizeof(what), "delete queue %s", queue);
	if (rpc_ok(b, what, cause) != 0 || ok == NULL)
		return -1;
	return (long)ok->message_count;
}

int
broker_last_reply(const struct broker *b)
{
	return b->last_reply;
}

long
broker_purge(struct broker *b, const char *queue, char **cause)
{
	amqp_queue_purge_ok_t *ok;
	char what[300];

	ok = amqp_queue_purge(b->conn, CHANNEL, amqp_cstring_bytes(queue));
	snprintf(what, sizeof(what), "purge %s", queue);
	if (rpc_ok(b, what, cause) != 0 || ok == NULL)
		return -1;
	return (long)ok->message_count;
}

int
broker_consume(struct broker *b, const char *queue, int prefetch, char **cause)
{
	amqp_basic_qos(b->conn, CHANNEL, 0, (uint16_t)prefetch, 0);
	if (rpc_ok(b, "basic.qos", cause) != 0)
		return -1;
	amqp_basic_consume(b->conn, CHANNEL, amqp_cstring_bytes(queue), amqp_empty_bytes, 0, 0, 0,
	    amqp_empty_table);
	return rpc_ok(b, "basic.consume", cause);
}

static char *field_text(const amqp_field_value_t *v);

/*
 * A table as "{key=value, ...}" or an array as "[value, ...]", values
 * rendered by field_text (e.g. the broker's x-death header: a list of the
 * times the message was dead-lettered, the latest first).
 */
static char *
compound_text(const amqp_field_value_t *v)
{
	int table = v->kind == AMQP_FIELD_KIND_TABLE;
	int n = table ? v->value.table.num_entries : v->value.array.num_entries;
	char *out = xstrdup(table ? "{" : "["), *next;

	for (int i = 0; i < n; i++) {
		const amqp_field_value_t *e = table ? &v->value.table.entries[i].value :
		    &v->value.array.entries[i];
		char *t = field_text(e), *key = table ?
		    bytes_dup(v->value.table.entries[i].key) : NULL;

		next = xasprintf("%s%s%s%s%s", out, i ? ", " : "", key ? key : "", key ? "=" : "", t);
		free(out);
		free(key);
		free(t);
		out = next;
	}
	next = xasprintf("%s%s", out, table ? "}" : "]");
	free(out);
	return next;
}

static char *
field_text(const amqp_field_value_t *v)
{
	switch (v->kind) {
	case AMQP_FIELD_KIND_TABLE:
	case AMQP_FIELD_KIND_ARRAY:
		return compound_text(v);
	case AMQP_FIELD_KIND_UTF8:
	case AMQP_FIELD_KIND_BYTES:
		return bytes_dup(v->value.bytes);
	case AMQP_FIELD_KIND_BOOLEAN:
		return xstrdup(v->value.boolean ? "true" : "false");
	case AMQP_FIELD_KIND_I8:
		return xasprintf("%d", v->value.i8);
	case AMQP_FIELD_KIND_U8:
		return xasprintf("%u", v->value.u8);
	case AMQP_FIELD_KIND_I16:
		return xasprintf("%d", v->value.i16);
	case AMQP_FIELD_KIND_U16:
		return xasprintf("%u", v->value.u16);
	case AMQP_FIELD_KIND_I32:
		return xasprintf("%" PRId32, v->value.i32);
	case AMQP_FIELD_KIND_U32:
		return xasprintf("%" PRIu32, v->value.u32);
	case AMQP_FIELD_KIND_I64:
		return xasprintf("%" PRId64, v->value.i64);
	case AMQP_FIELD_KIND_U64:
	case AMQP_FIELD_KIND_TIMESTAMP:
		return xasprintf("%" PRIu64, v->value.u64);
	default:
		return xstrdup("(complex value)");
	}
}

/* Copy what we keep of a message's properties into d. */
static void
copy_props(struct delivery *d, const amqp_basic_properties_t *p)
{
	if (p->_flags & AMQP_BASIC_CONTENT_TYPE_FLAG)
		d->content_type = bytes_dup(p->content_type);
	if (p->_flags & AMQP_BASIC_MESSAGE_ID_FLAG)
		d->message_id = bytes_dup(p->message_id);
	if (p->_flags & AMQP_BASIC_TYPE_FLAG)
		d->type = bytes_dup(p->type);
	if (p->_flags & AMQP_BASIC_CORRELATION_ID_FLAG)
		d->correlation_id = bytes_dup(p->correlation_id);
	if (p->_flags & AMQP_BASIC_APP_ID_FLAG)
		d->app_id = bytes_dup(p->app_id);
	if (p->_flags & AMQP_BASIC_USER_ID_FLAG)
		d->user_id = bytes_dup(p->user_id);
	if (p->_flags & AMQP_BASIC_TIMESTAMP_FLAG)
		d->timestamp = (int64_t)p->timestamp;
	if ((p->_flags & AMQP_BASIC_HEADERS_FLAG) && p->headers.num_entries > 0) {
		d->nheaders = (size_t)p->headers.num_entries;
		d->headers = xcalloc(d->nheaders, sizeof(*d->headers));
		for (size_t i = 0; i < d->nheaders; i++) {
			d->headers[i].key = bytes_dup(p->headers.entries[i].key);
			d->headers[i].value = field_text(&p->headers.entries[i].value);
		}
	}
}

/* The body, unless it is over max (0: no limit): then only its size. */
static void
copy_body(struct delivery *d, amqp_bytes_t body, size_t max)
{
	if (max > 0 && body.len > max) {
		d->dropped = body.len;
		d->len = 0;
		d->body = xstrdup("");
		return;
	}
	d->len = body.len;
	d->body = xmalloc(body.len + 1);
	if (body.len > 0)
		memcpy(d->body, body.bytes, body.len);
	((char *)d->body)[body.len] = '\0';
}

/* true (and *cause) when f is the broker closing our channel or connection. */
static int
closed_by_broker(struct broker *b, const amqp_frame_t *f, char **cause)
{
	if (f->payload.method.id == AMQP_CHANNEL_CLOSE_METHOD) {
		amqp_channel_close_t *m = f->payload.method.decoded;

		*cause = xasprintf("channel closed by broker: %u %.*s", m->reply_code,
		    (int)m->reply_text.len, (char *)m->reply_text.bytes);
	} else if (f->payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
		amqp_connection_close_t *m = f->payload.method.decoded;

		*cause = xasprintf("connection closed by broker: %u %.*s", m->reply_code,
		    (int)m->reply_text.len, (char *)m->reply_text.bytes);
	} else {
		return 0;
	}
	b->open = 0;
	return 1;
}

/* Read a frame that was not a delivery: fail on channel or connection close. */
static int
unexpected_frame(struct broker *b, char **cause)
{
	amqp_frame_t f;
	int st = amqp_simple_wait_frame(b->conn, &f);

	if (st != AMQP_STATUS_OK) {
		*cause = xasprintf("reading from RabbitMQ: %s", amqp_error_string2(st));
		return -1;
	}
	if (f.frame_type != AMQP_FRAME_METHOD)
		return 0;
	if (closed_by_broker(b, &f, cause))
		return -1;
	switch (f.payload.method.id) {
	case AMQP_BASIC_CANCEL_METHOD:
		*cause = xasprintf("consumer cancelled by broker (queue deleted?)");
		return -1;
	default:
		return 0;
	}
}

void
broker_set_max_body(struct broker *b, size_t max)
{
	b->max_body = max;
}

int
broker_next(struct broker *b, int timeout_ms, struct delivery *d, char **cause)
{
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	amqp_envelope_t env;
	amqp_rpc_reply_t r;

	memset(d, 0, sizeof(*d));
	amqp_maybe_release_buffers(b->conn);
	r = amqp_consume_message(b->conn, &env, &tv, 0);
	if (r.reply_type == AMQP_RESPONSE_NORMAL) {
		d->tag = env.delivery_tag;
		d->redelivered = env.redelivered;
		d->exchange = bytes_dup(env.exchange);
		d->routing_key = bytes_dup(env.routing_key);
		copy_props(d, &env.message.properties);
		copy_body(d, env.message.body, b->max_body);
		amqp_destroy_envelope(&env);
		return 1;
	}
	if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
	    r.library_error == AMQP_STATUS_TIMEOUT)
		return 0;
	if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
	    r.library_error == AMQP_STATUS_UNEXPECTED_STATE)
		return unexpected_frame(b, cause);
	*cause = reply_cause("consume", r);
	return -1;
}

int
broker_get(struct broker *b, const char *queue, struct delivery *d, char **cause)
{
	amqp_rpc_reply_t r;
	amqp_message_t msg;
	amqp_basic_get_ok_t *ok;

	memset(d, 0, sizeof(*d));
	amqp_maybe_release_buffers(b->conn);
	r = amqp_basic_get(b->conn, CHANNEL, amqp_cstring_bytes(queue), 0);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		*cause = reply_cause("basic.get", r);
		return -1;
	}
	if (r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD)
		return 0;
	ok = r.reply.decoded;
	d->tag = ok->delivery_tag;
	d->redelivered = ok->redelivered;
	d->exchange = bytes_dup(ok->exchange);
	d->routing_key = bytes_dup(ok->routing_key);
	r = amqp_read_message(b->conn, CHANNEL, &msg, 0);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		*cause = reply_cause("basic.get body", r);
		delivery_free(d);
		return -1;
	}
	copy_props(d, &msg.properties);
	copy_body(d, msg.body, b->max_body);
	amqp_destroy_message(&msg);
	return 1;
}

void
delivery_free(struct delivery *d)
{
	free(d->exchange);
	free(d->routing_key);
	free(d->body);
	free(d->content_type);
	free(d->message_id);
	free(d->type);
	free(d->correlation_id);
	free(d->app_id);
	free(d->user_id);
	for (size_t i = 0; i < d->nheaders; i++) {
		free(d->headers[i].key);
		free(d->headers[i].value);
	}
	free(d->headers);
	memset(d, 0, sizeof(*d));
}

const char *
delivery_header(const struct delivery *d, const char *key)
{
	for (size_t i = 0; i < d->nheaders; i++)
		if (strcmp(d->headers[i].key, key) == 0)
			return d->headers[i].value;
	return NULL;
}

int
broker_ack(struct broker *b, uint64_t tag, int multiple, char **cause)
{
	int st = amqp_basic_ack(b->conn, CHANNEL, tag, multiple);

	if (st != AMQP_STATUS_OK) {
		*cause = xasprintf("basic.ack: %s", amqp_error_string2(st));
		return -1;
	}
	return 0;
}

int
broker_nack(struct broker *b, uint64_t tag, int multiple, int requeue, char **cause)
{
	int st = amqp_basic_nack(b->conn, CHANNEL, tag, multiple, requeue);

	if (st != AMQP_STATUS_OK) {
		*cause = xasprintf("basic.nack: %s", amqp_error_string2(st));
		return -1;
	}
	return 0;
}

int
broker_confirm_mode(struct broker *b, char **cause)
{
	amqp_confirm_select(b->conn, CHANNEL);
	if (rpc_ok(b, "confirm.select", cause) != 0)
		return -1;
	b->confirm = 1;
	b->next_tag = 1;
	return 0;
}

int
broker_reopen_channel(struct broker *b, char **cause)
{
	amqp_rpc_reply_t r;

	if (b->batch != NULL && b->batch->pending > 0) {
		*cause = xasprintf("reopening the channel: %zu publishes await a confirm",
		    b->batch->pending);
		return -1;
	}
	/* bounded by the RPC timeout set at connect, as every RPC */
	r = amqp_channel_close(b->conn, CHANNEL, AMQP_REPLY_SUCCESS);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		*cause = reply_cause("channel.close", r);
		return -1;
	}
	amqp_channel_open(b->conn, CHANNEL);
	if (rpc_ok(b, "channel.open", cause) != 0)
		return -1;
	if (b->confirm)
		return broker_confirm_mode(b, cause);
	return 0;
}

/* Send m; in confirm mode *tag gets its sequence number (0 otherwise). */
static int
publish(struct broker *b, const struct broker_msg *m, uint64_t *tag, char **cause)
{
	amqp_basic_properties_t p;
	amqp_table_entry_t h[MAX_TABLE];
	amqp_bytes_t body = { m->len, (void *)(uintptr_t)m->body };
	int st;

	memset(&p, 0, sizeof(p));
	p._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
	p.delivery_mode = 2;	/* persistent */
#define PROP(field, flag)						\
	if (m->field != NULL) {						\
		p._flags |= flag;					\
		p.field = amqp_cstring_bytes(m->field);			\
	}
	PROP(content_type, AMQP_BASIC_CONTENT_TYPE_FLAG)
	PROP(message_id, AMQP_BASIC_MESSAGE_ID_FLAG)
	PROP(type, AMQP_BASIC_TYPE_FLAG)
	PROP(correlation_id, AMQP_BASIC_CORRELATION_ID_FLAG)
	PROP(app_id, AMQP_BASIC_APP_ID_FLAG)
	PROP(expiration, AMQP_BASIC_EXPIRATION_FLAG)
#undef PROP
	/* the broker refuses a user_id other than the login: who sent it is proven */
	p._flags |= AMQP_BASIC_USER_ID_FLAG;
	p.user_id = amqp_cstring_bytes(b->user);
	if (m->timestamp != 0) {
		p._flags |= AMQP_BASIC_TIMESTAMP_FLAG;
		p.timestamp = (uint64_t)m->timestamp;
	}
	if (m->nheaders > MAX_TABLE) {
		*cause = xasprintf("publish to %s: %zu headers, at most %d", m->exchange, m->nheaders,
		    MAX_TABLE);
		return -1;
	}
	if (m->nheaders > 0) {
		for (size_t i = 0; i < m->nheaders; i++)
			table_str(&h[i], m->headers[i].key, m->headers[i].value);
		p._flags |= AMQP_BASIC_HEADERS_FLAG;
		p.headers.num_entries = (int)m->nheaders;
		p.headers.entries = h;
	}
	st = amqp_basic_publish(b->conn, CHANNEL, amqp_cstring_bytes(m->exchange),
	    amqp_cstring_bytes(m->routing_key), m->mandatory, 0, &p, body);
	if (st != AMQP_STATUS_OK) {
		*cause = xasprintf("publish to %s: %s", m->exchange, amqp_error_string2(st));
		return -1;
	}
	*tag = b->confirm ? b->next_tag++ : 0;
	return 0;
}

struct broker_batch *
broker_batch_new(struct broker *b)
{
	struct broker_batch *bb = xcalloc(1, sizeof(*bb));

	bb->b = b;
	return bb;
}

/* Make bb the batch b's confirms settle; -1 when another one still waits for some. */
static int
attach(struct broker_batch *bb, char **cause)
{
	struct broker *b = bb->b;

	if (b == NULL) {
		*cause = xasprintf("publish: the connection of this batch is closed");
		return -1;
	}
	if (b->batch == bb)
		return 0;
	if (b->batch != NULL && b->batch->pending > 0) {
		*cause = xasprintf("publish: another batch still waits for confirms on this connection");
		return -1;
	}
	if (b->batch != NULL)
		b->batch->attached = 0;
	b->batch = bb;
	bb->attached = 1;
	return 0;
}

static void
detach(struct broker_batch *bb)
{
	if (bb->attached && bb->b != NULL)
		bb->b->batch = NULL;
	bb->attached = 0;
}

/* Room for one more message. */
static void
grow(struct broker_batch *bb)
{
	if (bb->n < bb->cap)
		return;
	bb->cap = bb->cap ? bb->cap * 2 : 64;
	bb->tag = xrealloc(bb->tag, bb->cap * sizeof(*bb->tag));
	bb->st = xrealloc(bb->st, bb->cap * sizeof(*bb->st));
	bb->id = xrealloc(bb->id, bb->cap * sizeof(*bb->id));
}

/* Record a message published with confirm number tag. */
static void
record(struct broker_batch *bb, uint64_t tag, const char *id)
{
	grow(bb);
	bb->tag[bb->n] = tag;
	bb->st[bb->n] = CONFIRM_PENDING;
	bb->id[bb->n] = xstrdup(id != NULL ? id : "");
	bb->n++;
	bb->pending++;
}

void
broker_batch_clear(struct broker_batch *bb)
{
	if (bb == NULL)
		return;
	for (size_t i = 0; i < bb->n; i++)
		free(bb->id[i]);
	bb->n = bb->lo = bb->pending = bb->failed = 0;
	detach(bb);
}

void
broker_batch_free(struct broker_batch *bb)
{
	if (bb == NULL)
		return;
	broker_batch_clear(bb);
	free(bb->tag);
	free(bb->st);
	free(bb->id);
	free(bb);
}

int
broker_batch_add(struct broker_batch *bb, const struct broker_msg *m, char **cause)
{
	uint64_t tag;

	if (bb->b != NULL && !bb->b->confirm) {
		*cause = xasprintf("publish to %s: the channel is not in confirm mode", m->exchange);
		return -1;
	}
	if (attach(bb, cause) != 0 || publish(bb->b, m, &tag, cause) != 0)
		return -1;
	record(bb, tag, m->message_id);
	return 0;
}

/* Message i is settled with outcome (a pending one only: a return comes before its ack). */
static void
settle_one(struct broker_batch *bb, size_t i, enum confirm outcome)
{
	if (bb->st[i] != CONFIRM_PENDING)
		return;
	bb->st[i] = outcome;
	bb->pending--;
	if (outcome != CONFIRM_ACK)
		bb->failed++;
}

/* A basic.ack or basic.nack for tag (and all below it when multiple). */
static void
settle_tags(struct broker_batch *bb, uint64_t tag, int multiple, enum confirm outcome)
{
	if (multiple) {
		for (size_t i = bb->lo; i < bb->n && bb->tag[i] <= tag; i++)
			settle_one(bb, i, outcome);
	} else {
		size_t lo = bb->lo, hi = bb->n;

		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (bb->tag[mid] < tag)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < bb->n && bb->tag[lo] == tag)
			settle_one(bb, lo, outcome);
	}
	while (bb->lo < bb->n && bb->st[bb->lo] != CONFIRM_PENDING)
		bb->lo++;
}

/*
 * A basic.return: its message is read and logged, and the pending message
 * of the open batch with its message_id ends CONFIRM_RETURNED. -1 when the
 * batch waits for confirms and none matches: which publish came back is
 * unknown, so none of them can count as delivered.
 */
static int
read_return(struct broker *b, amqp_channel_t ch, const amqp_basic_return_t *ret, char **cause)
{
	struct broker_batch *bb = b->batch;
	amqp_message_t msg;
	amqp_rpc_reply_t r = amqp_read_message(b->conn, ch, &msg, 0);
	int matched = 0;
	char *id;

	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		*cause = reply_cause("reading a returned message", r);
		return -1;
	}
	id = (msg.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG) ?
	    bytes_dup(msg.properties.message_id) : xstrdup("");
	log_warn("msg=\"publish returned as unroutable\" event_id=%s exchange=%.*s "
	    "routing_key=%.*s reply=\"%u %.*s\"", id, (int)ret->exchange.len,
	    (char *)ret->exchange.bytes, (int)ret->routing_key.len, (char *)ret->routing_key.bytes,
	    ret->reply_code, (int)ret->reply_text.len, (char *)ret->reply_text.bytes);
	for (size_t i = bb != NULL ? bb->lo : 0; bb != NULL && i < bb->n; i++)
		if (bb->st[i] == CONFIRM_PENDING && strcmp(bb->id[i], id) == 0) {
			settle_one(bb, i, CONFIRM_RETURNED);
			matched = 1;
			break;
		}
	free(id);
	amqp_destroy_message(&msg);
	if (!matched && bb != NULL && bb->pending > 0) {
		*cause = xasprintf("a message without a matching message_id was returned as unroutable");
		return -1;
	}
	return 0;
}

/*
 * A frame read while publishing: confirms and returns settle the open
 * batch; a closed channel or connection is a failure. 0, or -1 (*cause).
 */
static int
publisher_frame(struct broker *b, const amqp_frame_t *f, char **cause)
{
	if (f->frame_type != AMQP_FRAME_METHOD)
		return 0;
	if (closed_by_broker(b, f, cause))
		return -1;
	switch (f->payload.method.id) {
	case AMQP_BASIC_ACK_METHOD: {
		const amqp_basic_ack_t *a = f->payload.method.decoded;

		if (b->batch != NULL)
			settle_tags(b->batch, a->delivery_tag, a->multiple, CONFIRM_ACK);
		return 0;
	}
	case AMQP_BASIC_NACK_METHOD: {
		const amqp_basic_nack_t *a = f->payload.method.decoded;

		if (b->batch != NULL)
			settle_tags(b->batch, a->delivery_tag, a->multiple, CONFIRM_NACK);
		return 0;
	}
	case AMQP_BASIC_RETURN_METHOD:
		return read_return(b, f->channel, f->payload.method.decoded, cause);
	default:
		return 0;
	}
}

int
broker_batch_wait(struct broker_batch *bb, int timeout_ms, char **cause)
{
	uint64_t deadline = clock_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	struct broker *b = bb->b;

	if (bb->pending == 0)
		return 0;
	if (b == NULL || attach(bb, cause) != 0) {
		if (b == NULL)
			*cause = xasprintf("waiting for confirms: the connection is closed");
		return -1;
	}
	while (bb->pending > 0) {
		uint64_t now = clock_ms();
		struct timeval tv;
		amqp_frame_t f;
		int st;

		if (now >= deadline) {
			*cause = xasprintf("%zu of %zu publishes not confirmed within %d ms",
			    bb->pending, bb->n, timeout_ms);
			return -1;
		}
		tv.tv_sec = (time_t)((deadline - now) / 1000);
		tv.tv_usec = (suseconds_t)((deadline - now) % 1000) * 1000;
		amqp_maybe_release_buffers(b->conn);
		st = amqp_simple_wait_frame_noblock(b->conn, &f, &tv);
		if (st == AMQP_STATUS_TIMEOUT)
			continue;
		if (st != AMQP_STATUS_OK) {
			*cause = xasprintf("waiting for confirms: %s", amqp_error_string2(st));
			return -1;
		}
		if (publisher_frame(b, &f, cause) != 0)
			return -1;
	}
	return 0;
}

size_t
broker_batch_count(const struct broker_batch *bb)
{
	return bb->n;
}

size_t
broker_batch_pending(const struct broker_batch *bb)
{
	return bb->pending;
}

size_t
broker_batch_failed(const struct broker_batch *bb)
{
	return bb->failed;
}

enum confirm
broker_batch_status(const struct broker_batch *bb, size_t i)
{
	return i < bb->n ? bb->st[i] : CONFIRM_PENDING;
}

const char *
broker_batch_id(const struct broker_batch *bb, size_t i)
{
	return i < bb->n ? bb->id[i] : "";
}

void
broker_event_msg(const struct broker_event *ev, struct broker_msg *m,
    struct broker_header h[BROKER_EVENT_HEADERS])
{
	memset(m, 0, sizeof(*m));
	m->exchange = ev->exchange;
	m->routing_key = ev->routing_key;
	m->body = ev->body;
	m->len = ev->len;
	m->content_type = BROKER_EVENT_CONTENT_TYPE;
	m->message_id = ev->id;
	m->type = ev->type;
	m->correlation_id = ev->subject;
	m->app_id = ev->app_id;
	m->timestamp = ev->timestamp != 0 ? ev->timestamp : (int64_t)time(NULL);
	m->headers = h;
	if (ev->traceparent != NULL && ev->traceparent[0] != '\0')
		h[m->nheaders++] = (struct broker_header){ (char *)(uintptr_t)"traceparent",
		    (char *)(uintptr_t)ev->traceparent };
	if (ev->return_unroutable != NULL)
		h[m->nheaders++] = (struct broker_header){ (char *)(uintptr_t)BROKER_RETURN_UNROUTABLE,
		    (char *)(uintptr_t)ev->return_unroutable };
	m->mandatory = 1;
}

int
broker_batch_add_event(struct broker_batch *bb, const struct broker_event *ev, char **cause)
{
	struct broker_header h[BROKER_EVENT_HEADERS];
	struct broker_msg m;

	broker_event_msg(ev, &m, h);
	return broker_batch_add(bb, &m, cause);
}

void
broker_msg_of_delivery(struct broker_msg *m, const struct delivery *d)
{
	memset(m, 0, sizeof(*m));
	m->body = d->body;
	m->len = d->len;
	m->content_type = d->content_type;
	m->message_id = d->message_id;
	m->type = d->type;
	m->correlation_id = d->correlation_id;
	m->app_id = d->app_id;
	m->timestamp = d->timestamp;
	m->mandatory = 1;
}

int
broker_heartbeat(struct broker *b, char **cause)
{
	amqp_frame_t f;
	int st;

	memset(&f, 0, sizeof(f));
	f.frame_type = AMQP_FRAME_HEARTBEAT;
	f.channel = 0;
	st = amqp_send_frame(b->conn, &f);
	if (st != AMQP_STATUS_OK) {
		*cause = xasprintf("sending a heartbeat: %s", amqp_error_string2(st));
		return -1;
	}
	return 0;
}

int
broker_poll(struct broker *b, char **cause)
{
	/* this only serves heartbeats, reads a close, and records what confirms came */
	for (;;) {
		struct timeval tv = { 0, 0 };
		amqp_frame_t f;
		int st;

		amqp_maybe_release_buffers(b->conn);
		st = amqp_simple_wait_frame_noblock(b->conn, &f, &tv);
		if (st == AMQP_STATUS_TIMEOUT)
			return 0;
		if (st != AMQP_STATUS_OK) {
			*cause = xasprintf("RabbitMQ connection: %s", amqp_error_string2(st));
			return -1;
		}
		if (publisher_frame(b, &f, cause) != 0)
			return -1;
	}
}
