/*
 * Unit tests of the configuration (src/conf.c): the defaults, the file
 * syntax, refusals that name the key and where the value came from, and the
 * precedence defaults < file < environment (CHORUS_*) < "-o key=value".
 * Files are written to mkstemp temporaries; every CHORUS_* variable of the
 * key table is cleared before each test so the caller's environment cannot
 * leak in. Built under ASan, the leak checker proves conf_free is complete.
 */
#include "config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"
#include "log.h"
#include "xmalloc.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* The environment name of a key: CHORUS_ + upper case, dots as underscores. */
static void
env_name(const char *key, char *buf, size_t len)
{
	size_t n = (size_t)snprintf(buf, len, "CHORUS_");

	for (; *key != '\0' && n + 1 < len; key++)
		buf[n++] = *key == '.' ? '_' : (char)(*key >= 'a' && *key <= 'z' ? *key - 32 : *key);
	buf[n] = '\0';
}

static int
clear_env(void **unused)
{
	char name[128];

	(void)unused;
	for (size_t i = 0; i < conf_key_count(); i++) {
		env_name(conf_key_name(i), name, sizeof(name));
		unsetenv(name);
	}
	unsetenv("CREDENTIALS_DIRECTORY");
	return 0;
}

/* Write text to a new temporary file; returns its malloc'ed path. */
static char *
write_temp(const char *text)
{
	char *path = xstrdup("/tmp/test_conf.XXXXXX");
	int fd = mkstemp(path);
	size_t len = strlen(text);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	return path;
}

static void
remove_temp(char *path)
{
	unlink(path);
	free(path);
}

static void
expect_str(const char *what, const char *got, const char *want)
{
	if (got == NULL || strcmp(got, want) != 0)
		fail_msg("%s: got \"%s\", want \"%s\"", what, got ? got : "(null)", want);
}

static void
expect_long(const char *what, long got, long want)
{
	if (got != want)
		fail_msg("%s: got %ld, want %ld", what, got, want);
}

/* cause must hold every one of the NULL-terminated list of fragments. */
static void
expect_cause(const char *what, const char *cause, ...)
{
	va_list ap;
	const char *frag;

	if (cause == NULL)
		fail_msg("%s: cause: got NULL, want a message", what);
	va_start(ap, cause);
	while ((frag = va_arg(ap, const char *)) != NULL)
		if (strstr(cause, frag) == NULL) {
			va_end(ap);
			fail_msg("%s: cause: got \"%s\", want it to contain \"%s\"", what, cause, frag);
		}
	va_end(ap);
}

/* --- defaults -------------------------------------------------------------- */

static void
test_defaults(void **unused)
{
	struct conf cfg;

	(void)unused;
	conf_defaults(&cfg);
	expect_str("amqp_url", cfg.amqp_url, "amqp://guest:guest@127.0.0.1:5672/");
	expect_str("order.database_url", cfg.database_url[SVC_ORDER], "postgresql:///chorus_order");
	expect_str("inventory.database_url", cfg.database_url[SVC_INVENTORY],
	    "postgresql:///chorus_inventory");
	expect_str("payment.database_url", cfg.database_url[SVC_PAYMENT],
	    "postgresql:///chorus_payment");
	assert_non_null(cfg.schema_dir);
	expect_str("currency", cfg.currency, "EUR");
	expect_long("log_level", cfg.log_level, LOG_LEVEL_INFO);
	expect_long("prefetch", cfg.prefetch, 200);
	expect_long("batch_size", cfg.batch_size, 100);
	expect_long("relay_batch", cfg.relay_batch, 500);
	expect_long("relay_poll_ms", cfg.relay_poll_ms, 1000);
	expect_long("relay_linger_ms", cfg.relay_linger_ms, 5);
	expect_long("saga_deadline", cfg.saga_deadline_s, 60);
	expect_long("sweep_ms", cfg.sweep_ms, 1000);
	expect_long("heartbeat", cfg.heartbeat_s, 30);
	expect_long("connect_timeout", cfg.connect_timeout_s, 10);
	expect_long("shutdown_timeout", cfg.shutdown_timeout_s, 30);
	conf_free(&cfg);
	/* conf_free leaves NULLs behind, so a second call is harmless */
	assert_null(cfg.amqp_url);
	conf_free(&cfg);
}

/* Every key of the table is named, described, and its default is accepted by conf_set. */
static void
test_key_table(void **unused)
{
	/* keys the rest of the tests rely on; the table may grow, so no total is pinned */
	static const char *const core[] = {
		"amqp_url", "order.database_url", "inventory.database_url",
		"payment.database_url", "schema_dir", "currency", "log_level", "prefetch",
		"batch_size", "relay_batch", "relay_poll_ms", "saga_deadline", "sweep_ms",
		"heartbeat", "connect_timeout", "shutdown_timeout",
	};
	struct conf cfg;
	size_t n = conf_key_count();

	(void)unused;
	for (size_t c = 0; c < NELEM(core); c++) {
		size_t i;

		for (i = 0; i < n; i++)
			if (strcmp(conf_key_name(i), core[c]) == 0)
				break;
		if (i == n)
			fail_msg("key %s: got missing from the table, want present", core[c]);
	}
	conf_defaults(&cfg);
	for (size_t i = 0; i < n; i++) {
		const char *name = conf_key_name(i), *def = conf_key_default(i);
		const char *help = conf_key_help(i);
		char *cause = NULL;

		if (name == NULL || *name == '\0' || help == NULL || *help == '\0' || def == NULL)
			fail_msg("key %zu: name/help/default: got %s/%s/%s, want all set", i,
			    name ? name : "NULL", help ? help : "NULL", def ? def : "NULL");
		for (size_t j = 0; j < i; j++)
			if (strcmp(conf_key_name(j), name) == 0)
				fail_msg("key %zu: name %s: got a duplicate of key %zu, want unique",
				    i, name, j);
		if (conf_set(&cfg, name, def, "test", &cause) != 0)
			fail_msg("conf_set(%s, default %s): got \"%s\", want success", name, def,
			    cause);
	}
	if (conf_key_name(n) != NULL || conf_key_help(n) != NULL || conf_key_default(n) != NULL)
		fail_msg("key %zu (past the end): got non-NULL, want NULL", n);
	expect_str("conf_default_path", conf_default_path() +
	    strlen(conf_default_path()) - strlen("/chorus/chorus.conf"), "/chorus/chorus.conf");
	conf_free(&cfg);
}

/* --- the file -------------------------------------------------------------- */

static void
test_file_syntax(void **unused)
{
	static const char text[] =
	    "# Chorus test configuration\n"
	    "; another comment style\n"
	    "\n"
	    "   \t\n"
	    "amqp_url = amqp://u:p@mq:5672/chorus\n"
	    "prefetch=300\n"
	    "  log_level   =   \"debug\"   \n"
	    "currency = 'USD'\n"
	    "schema_dir = \"/opt/chorus/schema with space\"\n"
	    "heartbeat = 0\n"
	    "\t# indented comment\n"
	    "[order]\n"
	    "database_url = postgresql://db/order?sslmode=disable\n"
	    "\n"
	    "[ inventory ]\n"
	    "database_url = \"postgresql://db/inv\"\n"
	    "[payment]\n"
	    "database_url = 'postgresql://db/pay'\n";
	struct conf cfg;
	char *path = write_temp(text), *cause = NULL;

	(void)unused;
	conf_defaults(&cfg);
	if (conf_load_file(&cfg, path, 1, &cause) != 0)
		fail_msg("conf_load_file: got \"%s\", want success", cause);
	expect_str("amqp_url", cfg.amqp_url, "amqp://u:p@mq:5672/chorus");
	expect_long("prefetch", cfg.prefetch, 300);
	expect_long("log_level", cfg.log_level, LOG_LEVEL_DEBUG);
	expect_str("currency", cfg.currency, "USD");
	expect_str("schema_dir", cfg.schema_dir, "/opt/chorus/schema with space");
	expect_long("heartbeat", cfg.heartbeat_s, 0);
	expect_str("order.database_url", cfg.database_url[SVC_ORDER],
	    "postgresql://db/order?sslmode=disable");
	expect_str("inventory.database_url", cfg.database_url[SVC_INVENTORY],
	    "postgresql://db/inv");
	expect_str("payment.database_url", cfg.database_url[SVC_PAYMENT], "postgresql://db/pay");
	/* untouched keys keep their defaults */
	expect_long("batch_size", cfg.batch_size, 100);
	conf_free(&cfg);
	remove_temp(path);
}

/* Lines the file parser refuses, with the line number and what the message must name. */
static void
test_file_errors(void **unused)
{
	static const struct {
		const char *text;
		unsigned line;
		const char *frag1, *frag2;
	} cases[] = {
		{ "prefetch = 10\n# ok so far\nbogus_key = 1\n", 3, "unknown key", "'bogus_key'" },
		{ "[order]\nprefetch = 10\n", 2, "unknown key", "'order.prefetch'" },
		{ "[nosuch]\ndatabase_url = x\n", 2, "unknown key", "'nosuch.database_url'" },
		{ "amqp_url\n", 1, "expected 'key = value'", "no '='" },
		{ "\n\n[order\n", 3, "bad section", "expected '[name]'" },
		{ "[order] x\n", 1, "bad section", "expected '[name]'" },
		{ "prefetch = abc\n", 1, "prefetch", "not a whole number" },
		{ "prefetch = 12x\n", 1, "prefetch", "not a whole number" },
		{ "prefetch =\n", 1, "prefetch", "not a whole number" },
		{ "prefetch = 0\n", 1, "prefetch", "out of range (1..65535)" },
		{ "prefetch = 65536\n", 1, "prefetch", "out of range" },
		{ "saga_deadline = -1\n", 1, "saga_deadline", "out of range" },
		{ "prefetch = 99999999999999999999999\n", 1, "prefetch", "not a whole number" },
		{ "log_level = loud\n", 1, "log_level", "'loud'" },
		{ "currency = eur\n", 1, "currency", "3 upper-case letters" },
		{ "currency = EURO\n", 1, "currency", "'EURO'" },
		{ "currency = \"\"\n", 1, "currency", "3 upper-case letters" },
		{ "amqp_url = \"\"\n", 1, "amqp_url", "must not be empty" },
		{ "amqp_url = amqp://a/,,amqp://b/\n", 1, "amqp_url", "empty URL at position 2" },
		{ "amqp_url = amqp://a/,\n", 1, "amqp_url", "empty URL at position 2" },
		{ "[payment]\ndatabase_url =\n", 2, "payment.database_url", "must not be empty" },
	};

	(void)unused;
	for (size_t i = 0; i < NELEM(cases); i++) {
		struct conf cfg;
		char *path = write_temp(cases[i].text), *cause = NULL, where[128], what[64];

		conf_defaults(&cfg);
		snprintf(what, sizeof(what), "case %zu", i);
		if (conf_load_file(&cfg, path, 1, &cause) == 0)
			fail_msg("%s (%s): got success, want an error", what, cases[i].text);
		snprintf(where, sizeof(where), "%s:%u:", path, cases[i].line);
		expect_cause(what, cause, where, cases[i].frag1, cases[i].frag2, (char *)NULL);
		/* a refused value leaves the previous one in place */
		expect_long("prefetch after a refusal", cfg.prefetch,
		    strncmp(cases[i].text, "prefetch = 10", 13) == 0 ? 10 : 200);
		expect_str("currency after a refusal", cfg.currency, "EUR");
		free(cause);
		conf_free(&cfg);
		remove_temp(path);
	}
}

/*
 * A malformed line or argument is never echoed: it may be a secret that
 * lost its key (a URL pasted alone, "password: x").
 */
static void
test_errors_hide_secrets(void **unused)
{
	static const char *const texts[] = {
		"amqp://chorus:s3cr3t-pw@broker/\n",
		"[order]\npostgresql://u:s3cr3t-pw@db/chorus_order\n",
		"[s3cr3t-pw\n",
		"password: s3cr3t-pw\n",
	};
	static const char *const args[] = { "amqp_url:amqp://u:s3cr3t-pw@h/", "s3cr3t-pw" };

	(void)unused;
	for (size_t i = 0; i < NELEM(texts); i++) {
		struct conf cfg;
		char *path = write_temp(texts[i]), *cause = NULL;

		conf_defaults(&cfg);
		if (conf_load_file(&cfg, path, 1, &cause) == 0)
			fail_msg("file case %zu: got success, want an error", i);
		if (strstr(cause, "s3cr3t") != NULL)
			fail_msg("file case %zu: the error '%s' shows the secret", i, cause);
		free(cause);
		conf_free(&cfg);
		remove_temp(path);
	}
	for (size_t i = 0; i < NELEM(args); i++) {
		struct conf cfg;
		char *cause = NULL;

		conf_defaults(&cfg);
		if (conf_set_arg(&cfg, args[i], &cause) == 0)
			fail_msg("-o case %zu: got success, want an error", i);
		if (strstr(cause, "s3cr3t") != NULL)
			fail_msg("-o case %zu: the error '%s' shows the secret", i, cause);
		free(cause);
		conf_free(&cfg);
	}
}

/* conf_mask: every form of password is masked, the rest shown as it is. */
static void
test_mask(void **unused)
{
	static const struct {
		const char *key, *value, *want;
	} cases[] = {
		{ "amqp_url", "amqp://chorus:pw@127.0.0.1:5672/", "amqp://chorus:****@127.0.0.1:5672/" },
		{ "amqp_url", "amqps://chorus:p@ss/w:rd@h:5671/%2f", "amqps://chorus:****@h:5671/%2f" },
		{ "amqp_url", "amqp://guest@h/", "amqp://guest@h/" },
		{ "amqp_url", "amqp://h/", "amqp://h/" },
		{ "order.database_url", "postgresql:///chorus_order", "postgresql:///chorus_order" },
		{ "order.database_url", "postgresql://u:pw@h/db?sslmode=verify-full",
		    "postgresql://u:****@h/db?sslmode=verify-full" },
		{ "order.database_url", "postgresql://u@h/db?password=pw&sslmode=require",
		    "postgresql://u@h/db?password=****&sslmode=require" },
		{ "order.database_url", "postgresql://h/db?sslmode=require&password=pw",
		    "postgresql://h/db?sslmode=require&password=****" },
		{ "order.database_url", "postgresql://h/db?sslkey=/k@x&sslpassword=pw#f",
		    "postgresql://h/db?sslkey=/k@x&sslpassword=****#f" },
		{ "order.database_url", "host=h dbname=d password=pw user=u",
		    "host=h dbname=d password=**** user=u" },
		{ "order.database_url", "host=h password = 'p w\\' x' user=u",
		    "host=h password = **** user=u" },
		{ "order.database_url", "password=pw", "password=****" },
		{ "order.database_url", "host=h PassWord=pw", "host=h PassWord=****" },
		{ "order.database_url", "host=h mypassword_hint=x", "host=h mypassword_hint=****" },
		{ "order.database_url", "host=h passwordless=1 user=u", "host=h passwordless=**** user=u" },
		{ "order.database_url", "host=h nopassword user=u", "host=h nopassword user=u" },
		{ "amqp_tls_key_password", "pw", "****" },
		{ "client_secret", "", "" },
	};

	(void)unused;
	for (size_t i = 0; i < NELEM(cases); i++) {
		char *got = conf_mask(cases[i].key, cases[i].value);

		if (strcmp(got, cases[i].want) != 0)
			fail_msg("%s = %s: got '%s', want '%s'", cases[i].key, cases[i].value, got,
			    cases[i].want);
		free(got);
	}
	/* every URL key and every key named so is masked when shown */
	for (size_t i = 0; i < conf_key_count(); i++)
		if ((strstr(conf_key_name(i), "_url") != NULL || strstr(conf_key_name(i), "password") != NULL ||
		    strstr(conf_key_name(i), "secret") != NULL) && !conf_key_secret(i))
			fail_msg("%s: got not secret, want secret", conf_key_name(i));
}

static void
test_file_line_too_long(void **unused)
{
	size_t len = 5000;
	char *text = xmalloc(len + 32), *path, *cause = NULL;
	struct conf cfg;

	(void)unused;
	strcpy(text, "amqp_url = ");
	memset(text + strlen(text), 'a', len);
	strcpy(text + 11 + len, "\n");
	path = write_temp(text);
	conf_defaults(&cfg);
	if (conf_load_file(&cfg, path, 1, &cause) == 0)
		fail_msg("a %zu-character line: got success, want an error", len);
	expect_cause("long line", cause, ":1:", "line too long", (char *)NULL);
	free(cause);
	conf_free(&cfg);
	remove_temp(path);
	free(text);
}

static void
test_file_missing(void **unused)
{
	struct conf cfg;
	char *cause = NULL;
	const char *path = "/nonexistent/chorus/test.conf";

	(void)unused;
	conf_defaults(&cfg);
	if (conf_load_file(&cfg, path, 0, &cause) != 0)
		fail_msg("missing optional file: got \"%s\", want success", cause);
	assert_null(cause);
	expect_long("prefetch", cfg.prefetch, 200);
	if (conf_load_file(&cfg, path, 1, &cause) == 0)
		fail_msg("missing required file: got success, want an error");
	expect_cause("missing required file", cause, path, (char *)NULL);
	free(cause);
	cause = NULL;
	/* a directory is not a missing file: refused even when optional */
	if (conf_load_file(&cfg, "/", 0, &cause) == 0)
		fail_msg("directory as config file: got success, want an error");
	free(cause);
	conf_free(&cfg);
}

/* A later line for the same key wins, as a later source does. */
static void
test_file_last_wins(void **unused)
{
	struct conf cfg;
	char *path = write_temp("amqp_url = amqp://first/\namqp_url = amqp://second/\n");
	char *cause = NULL;

	(void)unused;
	conf_defaults(&cfg);
	assert_int_equal(conf_load_file(&cfg, path, 1, &cause), 0);
	expect_str("amqp_url", cfg.amqp_url, "amqp://second/");
	conf_free(&cfg);
	remove_temp(path);
}

/* --- environment and -o ---------------------------------------------------- */

static void
test_env_beats_file(void **unused)
{
	struct conf cfg;
	char *path = write_temp("prefetch = 300\nbatch_size = 50\n[order]\n"
	    "database_url = postgresql://file/order\n");
	char *cause = NULL;

	(void)unused;
	setenv("CHORUS_PREFETCH", "400", 1);
	setenv("CHORUS_ORDER_DATABASE_URL", "postgresql://env/order", 1);
	setenv("CHORUS_LOG_LEVEL", "warn", 1);
	conf_defaults(&cfg);
	assert_int_equal(conf_load_file(&cfg, path, 1, &cause), 0);
	if (conf_load_env(&cfg, &cause) != 0)
		fail_msg("conf_load_env: got \"%s\", want success", cause);
	expect_long("prefetch", cfg.prefetch, 400);
	expect_str("order.database_url", cfg.database_url[SVC_ORDER], "postgresql://env/order");
	expect_long("log_level", cfg.log_level, LOG_LEVEL_WARN);
	/* not in the environment: the file's value stays */
	expect_long("batch_size", cfg.batch_size, 50);
	expect_str("payment.database_url", cfg.database_url[SVC_PAYMENT],
	    "postgresql:///chorus_payment");
	conf_free(&cfg);
	remove_temp(path);
	clear_env(NULL);
}

static void
test_env_errors(void **unused)
{
	static const struct {
		const char *name, *value, *key;
	} cases[] = {
		{ "CHORUS_PREFETCH", "many", "prefetch" },
		{ "CHORUS_PREFETCH", "0", "prefetch" },
		{ "CHORUS_SAGA_DEADLINE", "86401", "saga_deadline" },
		{ "CHORUS_LOG_LEVEL", "verbose", "log_level" },
		{ "CHORUS_CURRENCY", "Eur", "currency" },
		{ "CHORUS_AMQP_URL", "", "amqp_url" },
		{ "CHORUS_INVENTORY_DATABASE_URL", "", "inventory.database_url" },
	};

	(void)unused;
	for (size_t i = 0; i < NELEM(cases); i++) {
		struct conf cfg;
		char *cause = NULL, what[96];

		setenv(cases[i].name, cases[i].value, 1);
		conf_defaults(&cfg);
		snprintf(what, sizeof(what), "%s=%s", cases[i].name, cases[i].value);
		if (conf_load_env(&cfg, &cause) == 0)
			fail_msg("%s: got success, want an error", what);
		expect_cause(what, cause, "environment", cases[i].name, cases[i].key, (char *)NULL);
		free(cause);
		conf_free(&cfg);
		unsetenv(cases[i].name);
	}
}

static void
test_arg_beats_env(void **unused)
{
	struct conf cfg;
	char *path = write_temp("prefetch = 300\n[order]\ndatabase_url = postgresql://file/o\n");
	char *cause = NULL;

	(void)unused;
	setenv("CHORUS_PREFETCH", "400", 1);
	setenv("CHORUS_ORDER_DATABASE_URL", "postgresql://env/o", 1);
	conf_defaults(&cfg);
	assert_int_equal(conf_load_file(&cfg, path, 1, &cause), 0);
	assert_int_equal(conf_load_env(&cfg, &cause), 0);
	if (conf_set_arg(&cfg, "prefetch=500", &cause) != 0 ||
	    conf_set_arg(&cfg, "order.database_url=postgresql://arg/o?a=b", &cause) != 0 ||
	    conf_set_arg(&cfg, "currency=GBP", &cause) != 0)
		fail_msg("conf_set_arg: got \"%s\", want success", cause);
	expect_long("prefetch", cfg.prefetch, 500);
	/* only the first '=' separates key and value */
	expect_str("order.database_url", cfg.database_url[SVC_ORDER], "postgresql://arg/o?a=b");
	expect_str("currency", cfg.currency, "GBP");
	conf_free(&cfg);
	remove_temp(path);
	clear_env(NULL);
}

static void
test_arg_errors(void **unused)
{
	static const struct {
		const char *arg, *frag;
	} cases[] = {
		{ "prefetch", "expected key=value" },
		{ "=300", "expected key=value" },
		{ "", "expected key=value" },
		{ "bogus=1", "unknown key 'bogus'" },
		{ "prefetch=", "prefetch" },
		{ "prefetch=1e3", "prefetch" },
		{ "heartbeat=601", "heartbeat" },
		{ "log_level=trace", "log_level" },
		{ "currency=€UR", "currency" },
	};

	(void)unused;
	for (size_t i = 0; i < NELEM(cases); i++) {
		struct conf cfg;
		char *cause = NULL, what[64];

		conf_defaults(&cfg);
		snprintf(what, sizeof(what), "-o %s", cases[i].arg);
		if (conf_set_arg(&cfg, cases[i].arg, &cause) == 0)
			fail_msg("%s: got success, want an error", what);
		expect_cause(what, cause, "option -o", cases[i].frag, (char *)NULL);
		expect_long("prefetch after a refusal", cfg.prefetch, 200);
		free(cause);
		conf_free(&cfg);
	}
}

/* --- systemd credentials ---------------------------------------------------- */

/* Write text to dir/name (a credential file). */
static void
write_cred(const char *dir, const char *name, const char *text, size_t len)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	free(path);
}

static void
remove_creds(const char *dir)
{
	static const char *const names[] = { "amqp_url", "order.database_url",
	    "inventory.database_url", "payment.database_url", "prefetch", "schema_dir" };

	for (size_t i = 0; i < NELEM(names); i++) {
		char *path = xasprintf("%s/%s", dir, names[i]);
		unlink(path);
		free(path);
	}
	rmdir(dir);
}

/*
 * $CREDENTIALS_DIRECTORY/<key> sets the secret keys (names with "_url")
 * above the file and below the environment and -o; other keys' files are
 * ignored, a missing file leaves the key alone, one trailing newline (or
 * CRLF) is dropped.
 */
static void
test_credentials(void **unused)
{
	char dir[] = "/tmp/test_conf_creds.XXXXXX";
	char *path = write_temp("amqp_url = amqp://file/\nprefetch = 300\n"
	    "[inventory]\ndatabase_url = postgresql://file/inv\n"
	    "[payment]\ndatabase_url = postgresql://file/pay\n");
	char *cause = NULL;
	struct conf cfg;

	(void)unused;
	assert_non_null(mkdtemp(dir));
	write_cred(dir, "amqp_url", "amqp://u:secret@cred/\n", 22);
	write_cred(dir, "order.database_url", "postgresql://cred/order", 23);
	write_cred(dir, "inventory.database_url", "postgresql://cred/inv\r\n", 23);
	write_cred(dir, "prefetch", "999\n", 4);
	write_cred(dir, "schema_dir", "/from/a/credential\n", 19);

	/* no CREDENTIALS_DIRECTORY: nothing changes */
	conf_defaults(&cfg);
	assert_int_equal(conf_load_file(&cfg, path, 1, &cause), 0);
	if (conf_load_credentials(&cfg, &cause) != 0)
		fail_msg("conf_load_credentials without the directory: got \"%s\", want success",
		    cause);
	expect_str("amqp_url (no credentials)", cfg.amqp_url, "amqp://file/");
	conf_free(&cfg);

	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	setenv("CHORUS_ORDER_DATABASE_URL", "postgresql://env/order", 1);
	conf_defaults(&cfg);
	assert_int_equal(conf_load_file(&cfg, path, 1, &cause), 0);
	if (conf_load_credentials(&cfg, &cause) != 0)
		fail_msg("conf_load_credentials: got \"%s\", want success", cause);
	expect_str("amqp_url", cfg.amqp_url, "amqp://u:secret@cred/");
	expect_str("order.database_url", cfg.database_url[SVC_ORDER], "postgresql://cred/order");
	expect_str("inventory.database_url", cfg.database_url[SVC_INVENTORY],
	    "postgresql://cred/inv");
	/* no credential file: the config file's value stays */
	expect_str("payment.database_url", cfg.database_url[SVC_PAYMENT], "postgresql://file/pay");
	/* not a secret: a credential file of that name is ignored */
	expect_long("prefetch", cfg.prefetch, 300);
	if (strcmp(cfg.schema_dir, "/from/a/credential") == 0)
		fail_msg("schema_dir: got the credential's value, want it ignored");
	/* the environment and -o still win */
	assert_int_equal(conf_load_env(&cfg, &cause), 0);
	expect_str("order.database_url after the environment", cfg.database_url[SVC_ORDER],
	    "postgresql://env/order");
	assert_int_equal(conf_set_arg(&cfg, "amqp_url=amqp://arg/", &cause), 0);
	expect_str("amqp_url after -o", cfg.amqp_url, "amqp://arg/");
	conf_free(&cfg);

	/* refusals name the credential's path and the key */
	{
		static const struct {
			const char *text;
			size_t len;
			const char *frag;
		} bad[] = {
			{ "\n", 1, "must not be empty" },
			{ "", 0, "must not be empty" },
			{ "amqp://a/\namqp://b/\n", 20, "one line" },
			{ "amqp://a/\0junk", 15, "one line" },
		};
		char *want = xasprintf("credential %s/amqp_url", dir);

		for (size_t i = 0; i < NELEM(bad); i++) {
			char what[64];

			snprintf(what, sizeof(what), "bad credential %zu", i);
			write_cred(dir, "amqp_url", bad[i].text, bad[i].len);
			conf_defaults(&cfg);
			if (conf_load_credentials(&cfg, &cause) == 0)
				fail_msg("%s: got success, want an error", what);
			expect_cause(what, cause, want, "amqp_url", bad[i].frag, (char *)NULL);
			free(cause);
			cause = NULL;
			conf_free(&cfg);
		}
		free(want);
	}
	remove_creds(dir);
	remove_temp(path);
	clear_env(NULL);
}

/* --- conf_load: every source in one call ------------------------------------ */

/*
 * conf_load applies the file < credentials < environment < settings, each
 * over the one before, on top of the defaults it is given.
 */
static void
test_load_precedence(void **unused)
{
	static const char *const sets[] = { "batch_size=40", "relay_batch=41" };
	char dir[] = "/tmp/test_conf_load.XXXXXX";
	char *path = write_temp("prefetch = 300\nbatch_size = 30\nrelay_batch = 31\n"
	    "sweep_ms = 32\namqp_url = amqp://file/\n");
	char *cause = NULL;
	struct conf cfg;

	(void)unused;
	assert_non_null(mkdtemp(dir));
	write_cred(dir, "amqp_url", "amqp://cred/\n", 13);
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	setenv("CHORUS_SWEEP_MS", "42", 1);
	setenv("CHORUS_RELAY_BATCH", "43", 1);
	conf_defaults(&cfg);
	if (conf_load(&cfg, path, sets, NELEM(sets), &cause) != 0)
		fail_msg("conf_load: got \"%s\", want success", cause);
	expect_long("prefetch (file only)", cfg.prefetch, 300);
	expect_str("amqp_url (credential over file)", cfg.amqp_url, "amqp://cred/");
	expect_long("sweep_ms (environment over file)", cfg.sweep_ms, 42);
	expect_long("batch_size (setting over file)", cfg.batch_size, 40);
	expect_long("relay_batch (setting over environment)", cfg.relay_batch, 41);
	expect_long("heartbeat (default)", cfg.heartbeat_s, 30);
	conf_free(&cfg);
	remove_temp(path);
	remove_creds(dir);
	clear_env(NULL);
}

/* Each source's refusal comes back naming the source and the key. */
static void
test_load_errors(void **unused)
{
	static const char *const bad_set[] = { "prefetch=10", "prefetch=lots" };
	char *good = write_temp("prefetch = 300\n"), *bad = write_temp("prefetch = 0\n");
	char *cause = NULL;
	struct conf cfg;

	(void)unused;
	conf_defaults(&cfg);
	if (conf_load(&cfg, "/nonexistent/chorus.conf", NULL, 0, &cause) == 0)
		fail_msg("a missing file given by name: got success, want an error");
	expect_cause("missing file", cause, "/nonexistent/chorus.conf", (char *)NULL);
	free(cause);
	cause = NULL;
	if (conf_load(&cfg, bad, NULL, 0, &cause) == 0)
		fail_msg("prefetch = 0 in the file: got success, want an error");
	expect_cause("bad file", cause, bad, ":1", "prefetch", (char *)NULL);
	free(cause);
	cause = NULL;
	setenv("CHORUS_PREFETCH", "x", 1);
	if (conf_load(&cfg, good, NULL, 0, &cause) == 0)
		fail_msg("CHORUS_PREFETCH=x: got success, want an error");
	expect_cause("bad environment", cause, "environment CHORUS_PREFETCH", (char *)NULL);
	free(cause);
	cause = NULL;
	unsetenv("CHORUS_PREFETCH");
	if (conf_load(&cfg, good, bad_set, NELEM(bad_set), &cause) == 0)
		fail_msg("-o prefetch=lots: got success, want an error");
	expect_cause("bad setting", cause, "option -o", "prefetch", (char *)NULL);
	free(cause);
	conf_free(&cfg);
	remove_temp(good);
	remove_temp(bad);
}

/* Without a path the default file is read when there is one, and its absence is fine. */
static void
test_load_default_path(void **unused)
{
	struct conf cfg;
	char *cause = NULL;

	(void)unused;
	if (access(conf_default_path(), F_OK) == 0)
		skip();	/* a real configuration here: its content is not ours to test */
	conf_defaults(&cfg);
	if (conf_load(&cfg, NULL, NULL, 0, &cause) != 0)
		fail_msg("no file at %s: got \"%s\", want success", conf_default_path(), cause);
	expect_long("prefetch", cfg.prefetch, 200);
	conf_free(&cfg);
}

/*
 * The TLS keys of RabbitMQ: what conf_broker_tls hands broker_connect, and
 * the combinations conf_check (the last step of conf_load) refuses.
 */
static void
test_tls_keys(void **unused)
{
	static const struct {
		const char *url, *ca, *cert, *key, *auth;
		const char *cause;	/* NULL: accepted */
	} cases[] = {
		{ "amqp://h/", "system", "none", "none", "plain", NULL },
		{ "amqps://h/", "system", "none", "none", "plain", NULL },
		{ "amqps://h/", "/ca.pem", "none", "none", "plain", NULL },
		{ "amqps://h/", "/ca.pem", "/c.pem", "/k.pem", "plain", NULL },
		{ "amqps://h/", "/ca.pem", "/c.pem", "/k.pem", "external", NULL },
		{ "amqps://h/", "system", "/c.pem", "none", "plain", "go together" },
		{ "amqps://h/", "system", "none", "/k.pem", "plain", "go together" },
		{ "amqps://h/", "/ca.pem", "none", "none", "external", "needs a client certificate" },
		{ "amqps://h/", "system", "none", "none", "EXTERNAL", "'EXTERNAL' is not plain or external" },
		{ "amqp://h/", "/ca.pem", "none", "none", "plain", "need an amqps:// amqp_url" },
		{ "amqp://h/", "system", "/c.pem", "/k.pem", "plain", "need an amqps:// amqp_url" },
		{ "amqp://h/", "system", "/c.pem", "/k.pem", "external", "need an amqps:// amqp_url" },
		/* a URL that does not parse is the connection's error, not this check's */
		{ "AMQPS://h/", "system", "none", "none", "plain", NULL },
	};

	(void)unused;
	for (size_t i = 0; i < NELEM(cases); i++) {
		struct broker_tls t;
		struct conf cfg;
		char *cause = NULL, what[128];
		int r;

		snprintf(what, sizeof(what), "case %zu (%s ca=%s cert=%s key=%s auth=%s)", i,
		    cases[i].url, cases[i].ca, cases[i].cert, cases[i].key, cases[i].auth);
		conf_defaults(&cfg);
		if (conf_set(&cfg, "amqp_url", cases[i].url, "test", &cause) != 0 ||
		    conf_set(&cfg, "amqp_tls_ca", cases[i].ca, "test", &cause) != 0 ||
		    conf_set(&cfg, "amqp_tls_cert", cases[i].cert, "test", &cause) != 0 ||
		    conf_set(&cfg, "amqp_tls_key", cases[i].key, "test", &cause) != 0 ||
		    conf_set(&cfg, "amqp_auth", cases[i].auth, "test", &cause) != 0)
			fail_msg("%s: conf_set: %s", what, cause);
		r = conf_check(&cfg, &cause);
		if (cases[i].cause == NULL) {
			if (r != 0)
				fail_msg("%s: got \"%s\", want success", what, cause);
			conf_broker_tls(&cfg, &t);
			expect_str(what, t.ca ? t.ca : "system", cases[i].ca);
			expect_str(what, t.cert ? t.cert : "none", cases[i].cert);
			expect_str(what, t.key ? t.key : "none", cases[i].key);
			expect_long(what, t.external, strcmp(cases[i].auth, "external") == 0);
		} else {
			if (r == 0)
				fail_msg("%s: got success, want an error", what);
			expect_cause(what, cause, cases[i].cause, (char *)NULL);
		}
		free(cause);
		conf_free(&cfg);
	}
	/* the scheme decides, exactly as rabbitmq-c reads it: never a guess */
	expect_long("amqps://", broker_url_tls("amqps://u:p@h:5671/%2F"), 1);
	expect_long("amqp://", broker_url_tls("amqp://u:p@h:5672/%2F"), 0);
	expect_long("AMQPS:// (not a scheme rabbitmq-c knows)", broker_url_tls("AMQPS://h/"), -1);
	expect_long("https://", broker_url_tls("https://h/"), -1);
	expect_long("amqps, no port", broker_url_port("amqps://h/"), 5671);
}

/* The check runs as the last step of conf_load: sources combine before it. */
static void
test_tls_load(void **unused)
{
	static const char *const sets[] = { "amqp_url=amqps://h/" };
	char *path = write_temp("amqp_tls_ca = /ca.pem\n");
	char *cause = NULL;
	struct conf cfg;

	(void)unused;
	conf_defaults(&cfg);
	if (conf_load(&cfg, path, NULL, 0, &cause) == 0)
		fail_msg("amqp_tls_ca with the default amqp:// URL: got success, want an error");
	expect_cause("file alone", cause, "amqps://", (char *)NULL);
	free(cause);
	cause = NULL;
	conf_free(&cfg);
	conf_defaults(&cfg);
	if (conf_load(&cfg, path, sets, NELEM(sets), &cause) != 0)
		fail_msg("amqp_tls_ca in the file, amqps:// from -o: got \"%s\", want success", cause);
	conf_free(&cfg);
	remove_temp(path);
}

/* log_level takes its words case-insensitively, and "warning" too. */
static void
test_log_levels(void **unused)
{
	static const struct {
		const char *value;
		int want;
	} cases[] = {
		{ "error", LOG_LEVEL_ERROR }, { "warn", LOG_LEVEL_WARN },
		{ "warning", LOG_LEVEL_WARN }, { "info", LOG_LEVEL_INFO },
		{ "debug", LOG_LEVEL_DEBUG }, { "DEBUG", LOG_LEVEL_DEBUG },
	};

	(void)unused;
	for (size_t i = 0; i < NELEM(cases); i++) {
		struct conf cfg;
		char *cause = NULL;

		conf_defaults(&cfg);
		if (conf_set(&cfg, "log_level", cases[i].value, "test", &cause) != 0)
			fail_msg("log_level=%s: got \"%s\", want success", cases[i].value, cause);
		expect_long(cases[i].value, cfg.log_level, cases[i].want);
		conf_free(&cfg);
	}
}

/* Setting a string key twice frees the first value (the leak checker watches). */
static void
test_replace_frees(void **unused)
{
	struct conf cfg;
	char *cause = NULL;

	(void)unused;
	conf_defaults(&cfg);
	for (int i = 0; i < 10; i++)
		assert_int_equal(conf_set(&cfg, "amqp_url", i % 2 ? "amqp://a/" : "amqp://b/",
		    "test", &cause), 0);
	expect_str("amqp_url", cfg.amqp_url, "amqp://a/");
	conf_free(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_defaults, clear_env),
		cmocka_unit_test_setup(test_key_table, clear_env),
		cmocka_unit_test_setup(test_file_syntax, clear_env),
		cmocka_unit_test_setup(test_file_errors, clear_env),
		cmocka_unit_test_setup(test_file_line_too_long, clear_env),
		cmocka_unit_test_setup(test_errors_hide_secrets, clear_env),
		cmocka_unit_test_setup(test_mask, clear_env),
		cmocka_unit_test_setup(test_file_missing, clear_env),
		cmocka_unit_test_setup(test_file_last_wins, clear_env),
		cmocka_unit_test_setup(test_env_beats_file, clear_env),
		cmocka_unit_test_setup(test_env_errors, clear_env),
		cmocka_unit_test_setup(test_arg_beats_env, clear_env),
		cmocka_unit_test_setup(test_arg_errors, clear_env),
		cmocka_unit_test_setup(test_credentials, clear_env),
		cmocka_unit_test_setup(test_load_precedence, clear_env),
		cmocka_unit_test_setup(test_load_errors, clear_env),
		cmocka_unit_test_setup(test_load_default_path, clear_env),
		cmocka_unit_test_setup(test_tls_keys, clear_env),
		cmocka_unit_test_setup(test_tls_load, clear_env),
		cmocka_unit_test_setup(test_log_levels, clear_env),
		cmocka_unit_test_setup(test_replace_frees, clear_env),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
