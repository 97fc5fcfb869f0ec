/*
 * pgarray: text array literals (see pgarray.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "pgarray.h"
#include "xmalloc.h"

static void
reserve(struct pgarray *a, size_t more)
{
	if (a->len + more + 3 > a->cap) {
		a->cap = (a->cap + more) * 2 + 16;
		a->s = xrealloc(a->s, a->cap);
	}
}

void
pgarray_add(struct pgarray *a, const char *v)
{
	reserve(a, strlen(v) * 2 + 4);
	a->s[a->len++] = a->n == 0 ? '{' : ',';
	a->s[a->len++] = '"';
	for (const char *p = v; *p; p++) {
		if (*p == '"' || *p == '\\')
			a->s[a->len++] = '\\';
		a->s[a->len++] = *p;
	}
	a->s[a->len++] = '"';
	a->s[a->len] = '\0';
	a->n++;
}

const char *
pgarray_text(struct pgarray *a)
{
	reserve(a, 2);
	if (a->n == 0) {
		memcpy(a->s, "{}", 3);
		return a->s;
	}
	/* the closing brace sits past len: a later add writes over it */
	a->s[a->len] = '}';
	a->s[a->len + 1] = '\0';
	return a->s;
}

void
pgarray_free(struct pgarray *a)
{
	free(a->s);
	memset(a, 0, sizeof(*a));
}
