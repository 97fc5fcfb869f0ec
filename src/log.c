/*
 * log: key=value lines on stderr (see log.h). Under systemd (JOURNAL_STREAM
 * names our stderr) lines carry a "<N>" priority prefix and no timestamp,
 * since the journal adds its own; elsewhere they carry an RFC 3339 time.
 * Values are escaped and quoted by escape.h (ESCAPE_LOG): whatever a value
 * holds, it stays one field of one line.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "escape.h"
#include "log.h"

static const char *log_service = "chorus";
static enum log_level log_level = LOG_LEVEL_INFO;
static int log_journal = -1;	/* -1: not yet checked */

static const char *const level_names[] = { "error", "warn", "info", "debug" };
static const int level_prio[] = { 3, 4, 6, 7 };

/* true when stderr is the stream JOURNAL_STREAM names ("dev:ino"). */
static int
stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) != 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void
log_init(const char *service, enum log_level level)
{
	log_service = service;
	log_level = level;
	log_journal = stderr_is_journal();
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level
log_get_level(void)
{
	return log_level;
}

int
log_level_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return (int)i;
	if (strcasecmp(s, "warning") == 0)
		return LOG_LEVEL_WARN;
	return -1;
}

const char *
log_level_name(enum log_level level)
{
	return level_names[level];
}

static void
log_vline(enum log_level level, const char *fmt, va_list ap)
{
	char line[4096];
	size_t n = 0;
	int r;

	if (level > log_level)
		return;
	if (log_journal < 0)
		log_journal = stderr_is_journal();
	if (log_journal) {
		r = snprintf(line, sizeof(line), "<%d>level=%s service=%s ",
		    level_prio[level], level_names[level], log_service);
	} else {
		struct timespec ts;
		struct tm tm;
		char tbuf[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%S", &tm);
		r = snprintf(line, sizeof(line), "%s.%03ldZ level=%s service=%s ",
		    tbuf, ts.tv_nsec / 1000000, level_names[level], log_service);
	}
	if (r > 0)
		n = (size_t)r < sizeof(line) ? (size_t)r : sizeof(line) - 1;
	/* one line per event, one field per key: every %s value escaped */
	n += escape_vformat(line + n, sizeof(line) - n - 1, ESCAPE_LOG, fmt, ap);
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

#define LOG_FN(name, level)				\
void							\
name(const char *fmt, ...)				\
{							\
	va_list ap;					\
	va_start(ap, fmt);				\
	log_vline(level, fmt, ap);			\
	va_end(ap);					\
}

LOG_FN(log_error, LOG_LEVEL_ERROR)
LOG_FN(log_warn, LOG_LEVEL_WARN)
LOG_FN(log_info, LOG_LEVEL_INFO)
LOG_FN(log_debug, LOG_LEVEL_DEBUG)
