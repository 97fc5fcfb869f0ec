/*
 * xmalloc: allocation that never returns NULL. Out of memory is not a
 * condition a worker can handle per message, so it aborts with a message and
 * systemd restarts the worker; callers never check.
 */
#ifndef CHORUS_XMALLOC_H
#define CHORUS_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* asprintf that aborts on failure; returns the malloc'ed string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Copy src into dst of size dstlen, always NUL-terminating; returns strlen(src) (truncated when >= dstlen). */
size_t strlcpy_(char *dst, const char *src, size_t dstlen);

#endif
