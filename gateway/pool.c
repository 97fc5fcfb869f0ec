/*
 * pool: instances of one upstream, balancing, ejection, breaker, bulkhead
 * (see pool.h).
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "xmalloc.h"

static const char *const refusal_names[] = { "ok", "circuit_open", "bulkhead_full",
	"no_instance" };

const char *
pool_refusal_name(enum pool_refusal r)
{
	return r <= POOL_NO_INSTANCE ? refusal_names[r] : "?";
}

void
pool_init(struct pool *p, const char *name, const struct pool_params *params)
{
	memset(p, 0, sizeof(*p));
	p->name = name;
	p->params = *params;
	breaker_init(&p->breaker, params->breaker_failures, params->breaker_recovery_ms,
	    params->breaker_successes);
}

static void
instance_free(struct pool_instance *i)
{
	free(i->addr);
	free(i);
}

void
pool_free(struct pool *p)
{
	for (size_t k = 0; k < p->ninst; k++)
		instance_free(p->inst[k]);
	for (size_t k = 0; k < p->nretired; k++)
		instance_free(p->retired[k]);
	free(p->inst);
	free(p->retired);
	p->inst = p->retired = NULL;
	p->ninst = p->nretired = 0;
}

/* One "host:port" entry of length n: a host of [A-Za-z0-9.-] and a port 1..65535. */
static bool
entry_ok(const char *s, size_t n)
{
	const char *colon = memchr(s, ':', n);
	long port = 0;

	if (colon == NULL || colon == s || (size_t)(colon - s) + 1 >= n)
		return false;
	for (const char *c = s; c < colon; c++)
		if (!isalnum((unsigned char)*c) && *c != '.' && *c != '-')
			return false;
	for (const char *c = colon + 1; c < s + n; c++) {
		if (!isdigit((unsigned char)*c) || port > 65535)
			return false;
		port = port * 10 + (*c - '0');
	}
	return port >= 1 && port <= 65535;
}

int
pool_parse(const char *list, char **cause)
{
	const char *s = list;

	if (*list == '\0') {
		*cause = xstrdup("an empty list of instances");
		return -1;
	}
	for (;;) {
		size_t n = strcspn(s, ",");

		if (!entry_ok(s, n)) {
			*cause = xasprintf("instance '%.*s' is not host:port", (int)n, s);
			return -1;
		}
		if (s[n] == '\0')
			return 0;
		s += n + 1;
	}
}

static struct pool_instance *
find(struct pool_instance **v, size_t n, const char *addr, size_t len)
{
	for (size_t k = 0; k < n; k++)
		if (strlen(v[k]->addr) == len && memcmp(v[k]->addr, addr, len) == 0)
			return v[k];
	return NULL;
}

static void
retire(struct pool *p, struct pool_instance *i)
{
	if (i->in_flight == 0 && !i->checking) {
		instance_free(i);
		return;
	}
	i->removed = true;
	p->retired = xrealloc(p->retired, (p->nretired + 1) * sizeof(*p->retired));
	p->retired[p->nretired++] = i;
}

size_t
pool_set(struct pool *p, const char *list)
{
	struct pool_instance **next = NULL;
	size_t n = 0, changed = 0;
	const char *s = list;

	for (;;) {
		size_t len = strcspn(s, ",");
		struct pool_instance *i = find(p->inst, p->ninst, s, len);

		if (find(next, n, s, len) == NULL) {	/* a repeated entry counts once */
			if (i == NULL) {
				i = xcalloc(1, sizeof(*i));
				i->addr = xstrndup(s, len);
				i->healthy = true;
				changed++;
			}
			next = xrealloc(next, (n + 1) * sizeof(*next));
			next[n++] = i;
		}
		if (s[len] == '\0')
			break;
		s += len + 1;
	}
	for (size_t k = 0; k < p->ninst; k++)
		if (find(next, n, p->inst[k]->addr, strlen(p->inst[k]->addr)) == NULL) {
			retire(p, p->inst[k]);
			changed++;
		}
	free(p->inst);
	p->inst = next;
	p->ninst = n;
	p->next = 0;
	return changed;
}

bool
pool_eligible(const struct pool_instance *i, uint64_t now_ms)
{
	return i->healthy && !i->removed && now_ms >= i->ejected_until_ms;
}

struct pool_instance *
pool_pick(struct pool *p, uint64_t now_ms, enum pool_refusal *why)
{
	struct pool_instance *best = NULL;

	*why = POOL_OK;
	if (!breaker_allow(&p->breaker, now_ms))
		*why = POOL_CIRCUIT_OPEN;
	else if (p->in_flight >= p->params.max_in_flight)
		*why = POOL_BULKHEAD_FULL;
	else {
		/* from the round-robin position on, so that ties go round */
		for (size_t k = 0; k < p->ninst; k++) {
			struct pool_instance *i = p->inst[(p->next + k) % p->ninst];

			if (!pool_eligible(i, now_ms))
				continue;
			if (best == NULL || (p->params.balance == POOL_LEAST_IN_FLIGHT &&
			    i->in_flight < best->in_flight))
				best = i;
			if (p->params.balance == POOL_ROUND_ROBIN)
				break;
		}
		if (best == NULL)
			*why = POOL_NO_INSTANCE;
	}
	if (best == NULL) {
		p->refused[*why]++;
		return NULL;
	}
	for (size_t k = 0; k < p->ninst; k++)
		if (p->inst[k] == best) {
			p->next = (k + 1) % p->ninst;
			break;
		}
	best->in_flight++;
	best->requests++;
	p->in_flight++;
	return best;
}

/* Free i when a reload removed it and nothing refers to it any more. */
static void
reap(struct pool *p, struct pool_instance *i)
{
	if (!i->removed || i->in_flight > 0 || i->checking)
		return;
	for (size_t k = 0; k < p->nretired; k++)
		if (p->retired[k] == i) {
			p->retired[k] = p->retired[--p->nretired];
			break;
		}
	instance_free(i);
}

bool
pool_done(struct pool *p, struct pool_instance *i, bool ok, uint64_t now_ms)
{
	bool changed;

	i->in_flight--;
	p->in_flight--;
	if (ok) {
		i->fails = 0;
		i->ejections = 0;
		changed = breaker_success(&p->breaker, now_ms);
	} else if (now_ms < i->ejected_until_ms) {
		/* a request that started before the ejection: already counted */
		i->failures++;
		changed = breaker_failure(&p->breaker, now_ms);
	} else {
		i->failures++;
		/* a failure right after an ejection ended ejects again, for longer */
		if (++i->fails >= p->params.eject_failures ||
		    (i->ejections > 0 && i->fails == 1)) {
			unsigned shift = i->ejections < 4 ? i->ejections : 4;

			i->ejected_until_ms = now_ms + (p->params.eject_ms << shift);
			i->ejections++;
			i->fails = 0;
		}
		changed = breaker_failure(&p->breaker, now_ms);
	}
	reap(p, i);
	return changed;
}

void
pool_checked(struct pool *p, struct pool_instance *i, bool ok)
{
	i->checking = false;
	i->healthy = ok;
	reap(p, i);
}
