/*
 * log: one line per event on stderr, key=value fields, with a journald
 * priority prefix ("<3>") when stderr is the journal, so that the journal
 * keeps the level. Thread-safe: each line is written with one write(2).
 *
 * Every %s argument is escaped (escape.h, ESCAPE_LOG): inside quotes of the
 * format ("error=\"%s\"") quotes, backslashes and control characters are
 * escaped; a bare value (event_id=%s) is put in quotes when it needs to be.
 * So no value can end the line or make a field of its own.
 */
#ifndef CHORUS_LOG_H
#define CHORUS_LOG_H

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* Set the service name printed as service= on every line, and the level. */
void log_init(const char *service, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parse "error", "warn", "info", "debug"; -1 when unknown. */
int log_level_parse(const char *s);
const char *log_level_name(enum log_level level);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
