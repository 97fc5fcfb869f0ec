/*
 * escape: printf with escaped %s arguments (see escape.h). The format is
 * walked here; each conversion other than %s is handed to snprintf alone,
 * with its argument taken by the type its length modifier names.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "escape.h"
#include "xmalloc.h"

/* Where the text goes: a fixed buffer (cut when full) or a growing one. */
struct out {
	char *p;
	size_t len, cap;	/* cap counts the NUL */
	int grow;
};

static void
put(struct out *o, const char *s, size_t n)
{
	if (o->len + n + 1 > o->cap && o->grow) {
		while (o->len + n + 1 > o->cap)
			o->cap *= 2;
		o->p = xrealloc(o->p, o->cap);
	}
	if (o->len + n + 1 > o->cap)
		n = o->cap - o->len - 1;
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static void
pad(struct out *o, long n)
{
	for (; n > 0; n--)
		put(o, " ", 1);
}

/*
 * The length of the UTF-8 sequence at s (at most n bytes) that may be shown
 * as it is; 0 when the byte at s is to be escaped (not UTF-8, overlong,
 * surrogate, past U+10FFFF, or a C1 control).
 */
static size_t
utf8_ok(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (s[0] == 0xc2)
		lo = 0xa0;		/* U+0080-U+009F: C1 controls */
	else if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (len > n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/*
 * The escaped form of byte c (in buf), or NULL when it stands for itself;
 * quotes: " and \ are escaped too.
 */
static const char *
escape_byte(unsigned char c, int quotes, char buf[5])
{
	switch (c) {
	case '\n':
		return "\\n";
	case '\r':
		return "\\r";
	case '\t':
		return "\\t";
	case '"':
		return quotes ? "\\\"" : NULL;
	case '\\':
		return quotes ? "\\\\" : NULL;
	default:
		if (c >= 0x20 && c < 0x7f)
			return NULL;
		snprintf(buf, 5, "\\x%02x", c);
		return buf;
	}
}

/* The bytes of s (n of them) written escaped, or only counted when o is NULL. */
static size_t
put_escaped(struct out *o, const char *s, size_t n, int quotes)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, w = 0, k;
	char buf[5];
	const char *e;

	while (i < n) {
		if (u[i] >= 0x80 && (k = utf8_ok(u + i, n - i)) > 0) {
			if (o != NULL)
				put(o, s + i, k);
			i += k;
			w += k;
			continue;
		}
		e = escape_byte(u[i], quotes, buf);
		if (o != NULL)
			put(o, e != NULL ? e : s + i, e != NULL ? strlen(e) : 1);
		w += e != NULL ? strlen(e) : 1;
		i++;
	}
	return w;
}

/* true when a bare logfmt value must go in quotes. */
static int
needs_quotes(const char *s, size_t n)
{
	if (n == 0)
		return 1;
	for (size_t i = 0; i < n; i++)
		if (s[i] == ' ' || s[i] == '=' || s[i] == '"' || s[i] == '\\' ||
		    (unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			return 1;
	return 0;
}

/* One %s argument. */
static void
put_string(struct out *o, enum escape_mode mode, int in_quotes, const char *s, long prec,
    long width, int left)
{
	size_t n, w;
	int quote;

	if (s == NULL)
		s = "(null)";
	n = prec >= 0 ? strnlen(s, (size_t)prec) : strlen(s);
	quote = mode == ESCAPE_LOG && !in_quotes && needs_quotes(s, n);
	w = put_escaped(NULL, s, n, mode == ESCAPE_LOG) + (quote ? 2 : 0);
	if (!left)
		pad(o, width - (long)w);
	if (quote)
		put(o, "\"", 1);
	put_escaped(o, s, n, mode == ESCAPE_LOG);
	if (quote)
		put(o, "\"", 1);
	if (left)
		pad(o, width - (long)w);
}

/* A number from the format, or from the arguments for '*'. */
#define FORMAT_NUMBER(f, ap, v) do {					\
	if (*(f) == '*') {						\
		(v) = va_arg(ap, int);					\
		(f)++;							\
	} else {							\
		for ((v) = 0; *(f) >= '0' && *(f) <= '9'; (f)++)	\
			(v) = (v) * 10 + (*(f) - '0');			\
	}								\
} while (0)

static void
format(struct out *o, enum escape_mode mode, const char *fmt, va_list ap)
{
	int in_quotes = 0;

	while (*fmt != '\0') {
		const char *flags, *lenmod;
		char spec[64], num[128], conv;
		long width = -1, prec = -1;
		int left = 0, n;
		size_t flen, llen;

		if (*fmt != '%') {
			/* a quote of the format itself opens or closes a quoted value */
			if (*fmt == '"')
				in_quotes = !in_quotes;
			put(o, fmt++, 1);
			continue;
		}
		fmt++;
		if (*fmt == '%') {
			put(o, "%", 1);
			fmt++;
			continue;
		}
		flags = fmt;
		while (*fmt != '\0' && strchr("-+ #0", *fmt) != NULL)
			left |= *fmt++ == '-';
		flen = (size_t)(fmt - flags);
		if (*fmt == '*' || (*fmt >= '0' && *fmt <= '9'))
			FORMAT_NUMBER(fmt, ap, width);
		if (width < -1) {
			left = 1;
			width = -width;
		}
		if (*fmt == '.') {
			fmt++;
			FORMAT_NUMBER(fmt, ap, prec);
		}
		lenmod = fmt;
		while (*fmt != '\0' && strchr("hlzjtL", *fmt) != NULL)
			fmt++;
		llen = (size_t)(fmt - lenmod);
		if ((conv = *fmt) == '\0' || llen > 2 || flen > 8)
			break;		/* a format the compiler's check would have refused */
		fmt++;
		if (conv == 's') {
			put_string(o, mode, in_quotes, va_arg(ap, const char *), prec, width, left);
			continue;
		}
		/* the conversion alone, widths spelled out, handed to snprintf */
		n = snprintf(spec, sizeof(spec), "%%%.*s", (int)flen, flags);
		if (width >= 0)
			n += snprintf(spec + n, sizeof(spec) - (size_t)n, "%ld", width);
		if (prec >= 0)
			n += snprintf(spec + n, sizeof(spec) - (size_t)n, ".%ld", prec);
		snprintf(spec + n, sizeof(spec) - (size_t)n, "%.*s%c", (int)llen, lenmod, conv);
		num[0] = '\0';
		/* spec is one conversion of the caller's format, which the compiler checked */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#define ARG(type) snprintf(num, sizeof(num), spec, va_arg(ap, type))
		switch (conv) {
		case 'd': case 'i':
			if (llen == 0 || lenmod[0] == 'h')
				ARG(int);
			else if (llen == 2)
				ARG(long long);
			else if (lenmod[0] == 'l')
				ARG(long);
			else if (lenmod[0] == 'z')
				ARG(ssize_t);
			else if (lenmod[0] == 'j')
				ARG(intmax_t);
			else
				ARG(ptrdiff_t);
			break;
		case 'u': case 'x': case 'X': case 'o':
			if (llen == 0 || lenmod[0] == 'h')
				ARG(unsigned);
			else if (llen == 2)
				ARG(unsigned long long);
			else if (lenmod[0] == 'l')
				ARG(unsigned long);
			else if (lenmod[0] == 'z')
				ARG(size_t);
			else if (lenmod[0] == 'j')
				ARG(uintmax_t);
			else
				ARG(ptrdiff_t);
			break;
		case 'c':
			ARG(int);
			break;
		case 'p':
			ARG(void *);
			break;
		case 'f': case 'F': case 'e': case 'E': case 'g': case 'G': case 'a': case 'A':
			if (llen == 1 && lenmod[0] == 'L')
				ARG(long double);
			else
				ARG(double);
			break;
		default:
			break;	/* %n and the unknown: nothing */
		}
#undef ARG
#pragma GCC diagnostic pop
		/* a %c of a control character is escaped like a string's */
		if (conv == 'c')
			put_escaped(o, num, strlen(num), mode == ESCAPE_LOG);
		else
			put(o, num, strlen(num));
	}
}

size_t
escape_vformat(char *buf, size_t outlen, enum escape_mode mode, const char *fmt, va_list ap)
{
	struct out o = { buf, 0, outlen, 0 };
	va_list aq;

	buf[0] = '\0';
	va_copy(aq, ap);
	format(&o, mode, fmt, aq);
	va_end(aq);
	return o.len;
}

char *
escape_vasprintf(enum escape_mode mode, const char *fmt, va_list ap)
{
	struct out o = { xmalloc(128), 0, 128, 1 };
	va_list aq;

	o.p[0] = '\0';
	va_copy(aq, ap);
	format(&o, mode, fmt, aq);
	va_end(aq);
	return o.p;
}

char *
escape_asprintf(enum escape_mode mode, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = escape_vasprintf(mode, fmt, ap);
	va_end(ap);
	return s;
}
