/*
 * handler: the helpers a service's batch handler calls (see handler.h).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handler.h"
#include "pgarray.h"
#include "xmalloc.h"

int
handler_load(struct handler_ctx *h)
{
	h->load_done = true;
	if (db_batch_run(h->db, h->q) != 0)
		return -1;
	return h->loaded != NULL ? h->loaded(h) : 0;
}

void
handler_emit(struct handler_ctx *h, struct event *ev, const struct event *cause)
{
	outbox_add(h->out, ev, cause);
	if (h->mb != NULL)
		metrics_batch_emit(h->mb, ev->type);
}

int
handler_keep_alive(struct handler_ctx *h)
{
	if (h->keep_alive == NULL || h->keep_alive(h) == 0)
		return 0;
	h->stopped = true;
	return -1;
}

int
handler_fail(struct handler_ctx *h, enum err_class c, bool uncounted, const char *fmt, ...)
{
	va_list ap;

	h->fail.class = c;
	h->fail.uncounted = uncounted;
	va_start(ap, fmt);
	vsnprintf(h->fail.why, sizeof(h->fail.why), fmt, ap);
	va_end(ap);
	return -1;
}

size_t
handler_lock_orders(struct handler_ctx *h, const struct event *const *evs, size_t n,
    const char *select_name, const char *select_sql)
{
	struct pgarray ids = { 0 };
	const char *p[1];
	size_t i;

	for (i = 0; i < n; i++)
		pgarray_add(&ids, evs[i]->order_id);
	p[0] = pgarray_text(&ids);
	i = db_batch_add(h->q, select_name, select_sql, 1, p);
	pgarray_free(&ids);
	return i;
}

static int
by_key(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

void
handler_sort_rows(void *rows, size_t n, size_t size)
{
	if (n > 1)
		qsort(rows, n, size, by_key);
}

void
handler_add_missing(void *rows, size_t *n, size_t size, size_t keylen,
    const struct event *const *evs, size_t nevs)
{
	char *base = rows;
	size_t loaded = *n;

	handler_sort_rows(rows, loaded, size);
	for (size_t i = 0; i < nevs; i++) {
		char *row;

		if (handler_find_row(rows, loaded, size, evs[i]->order_id) != NULL)
			continue;
		/* new ones are few: a linear look among them */
		for (row = base + loaded * size; row < base + *n * size; row += size)
			if (strcmp(row, evs[i]->order_id) == 0)
				break;
		if (row < base + *n * size)
			continue;
		memset(row, 0, size);
		strlcpy_(row, evs[i]->order_id, keylen);
		(*n)++;
	}
	handler_sort_rows(rows, *n, size);
}

void *
handler_find_row(void *rows, size_t n, size_t size, const char *key)
{
	return n > 0 ? bsearch(key, rows, n, size, by_key) : NULL;
}
