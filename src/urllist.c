/*
 * urllist: split a comma-separated list of URLs (see urllist.h).
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "urllist.h"
#include "xmalloc.h"

int
urllist_split(const char *s, struct urllist *l, char **cause)
{
	const char *p = s;

	memset(l, 0, sizeof(*l));
	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		while (len > 0 && isspace((unsigned char)*p)) {
			p++;
			len--;
		}
		while (len > 0 && isspace((unsigned char)p[len - 1]))
			len--;
		if (len == 0) {
			*cause = xasprintf("empty URL at position %zu of the list", l->n + 1);
			goto fail;
		}
		if (l->n == URLLIST_MAX) {
			*cause = xasprintf("more than %d URLs in the list", URLLIST_MAX);
			goto fail;
		}
		l->url[l->n++] = xstrndup(p, len);
		if (end == NULL)
			return 0;
		p = end + 1;
	}
fail:
	urllist_free(l);
	return -1;
}

void
urllist_free(struct urllist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->url[i]);
	memset(l, 0, sizeof(*l));
}
