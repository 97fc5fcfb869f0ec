/*
 * escape: printf for text that carries untrusted values (log lines, what
 * chorusctl prints). The format is trusted and copied as it is; every %s
 * argument is escaped, so that no value can end a line, move a terminal's
 * cursor (ESC sequences, C1 controls) or, in a log line, make a key=value
 * field of its own.
 *
 * Escapes: \n \r \t \" \\ and \xHH for the other control characters
 * (0x00-0x1f, 0x7f), C1 controls (U+0080-U+009F) and bytes that are not
 * UTF-8. Other conversions (%d, %zu, %.1f, widths, "*"...) are printf's.
 */
#ifndef CHORUS_ESCAPE_H
#define CHORUS_ESCAPE_H

#include <stdarg.h>
#include <stddef.h>

enum escape_mode {
	/*
	 * logfmt: a value inside quotes of the format ("error=\"%s\"") gets
	 * " and \ escaped too; a value outside (event_id=%s) is put in quotes
	 * when it is empty or holds a space, '=', '"', '\' or anything escaped.
	 */
	ESCAPE_LOG,
	/* terminal text: only what escapes above; spaces and quotes stay, widths pad */
	ESCAPE_TEXT,
};

/*
 * vsnprintf with escaped %s arguments into out (outlen > 0; always
 * NUL-terminated, cut when full). Returns the length written.
 */
size_t escape_vformat(char *out, size_t outlen, enum escape_mode mode, const char *fmt,
    va_list ap);
/* The same into a malloc'ed string the caller frees (never NULL: aborts on OOM). */
char *escape_vasprintf(enum escape_mode mode, const char *fmt, va_list ap);
char *escape_asprintf(enum escape_mode mode, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
