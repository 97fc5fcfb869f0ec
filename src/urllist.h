/*
 * urllist: a setting that names several servers as one string, URLs
 * separated by commas (amqp_url of a RabbitMQ cluster). Pure, unit-tested.
 */
#ifndef CHORUS_URLLIST_H
#define CHORUS_URLLIST_H

#include <stddef.h>

/* Most URLs a list may hold (more is an error, never a silent cut). */
#define URLLIST_MAX 16

struct urllist {
	size_t n;
	char *url[URLLIST_MAX];	/* owned, blanks around each one removed */
};

/*
 * Split s at its commas into *l. 0, or -1 with *cause (an empty element,
 * as in "a,,b" or a trailing comma, or more than URLLIST_MAX URLs); *l
 * is then empty. Free with urllist_free.
 */
int urllist_split(const char *s, struct urllist *l, char **cause)
    __attribute__((warn_unused_result));
/* Release the URLs; *l is empty afterwards. */
void urllist_free(struct urllist *l);

#endif
