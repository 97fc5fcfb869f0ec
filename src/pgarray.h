/*
 * pgarray: a PostgreSQL text array literal built element by element
 * ({"a","b"}), quoted and escaped, to pass a batch's values as one
 * parameter ($1::text[], unnest) instead of one statement per value.
 */
#ifndef CHORUS_PGARRAY_H
#define CHORUS_PGARRAY_H

#include <stddef.h>

struct pgarray {
	char *s;
	size_t len, cap;
	size_t n;		/* elements added */
};

/* Append one element (any text; quoted and escaped here). */
void pgarray_add(struct pgarray *a, const char *v);
/* The literal, "{}" when empty; valid until pgarray_free. */
const char *pgarray_text(struct pgarray *a);
void pgarray_free(struct pgarray *a);

#endif
