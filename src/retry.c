/*
 * retry: failure classes and the retry ladder (see retry.h).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "retry.h"
#include "xmalloc.h"

static const char *const class_names[] = { "none", "poison", "business", "transient" };

const char *
err_class_name(enum err_class c)
{
	return c <= ERR_TRANSIENT ? class_names[c] : "?";
}

enum err_class
retry_classify_sqlstate(const char *sqlstate)
{
	/* one list of transient SQLSTATEs: db_classify's */
	return db_classify(sqlstate) == DB_TRANSIENT ? ERR_TRANSIENT : ERR_POISON;
}

int
retry_parse_ladder(const char *s, struct retry_policy *p, char **cause)
{
	const char *q = s;

	p->steps = 0;
	while (*q != '\0') {
		unsigned long long v;
		uint64_t ms;
		char *end;

		while (isspace((unsigned char)*q))
			q++;
		errno = 0;
		v = strtoull(q, &end, 10);
		if (end == q || errno != 0) {
			*cause = xasprintf("'%s' is not a list of delays like 1s,5s,30s", s);
			return -1;
		}
		q = end;
		if (strncmp(q, "ms", 2) == 0) {
			ms = v;
			q += 2;
		} else if (*q == 's') {
			ms = v * 1000;
			q++;
		} else if (*q == 'm') {
			ms = v * 60000;
			q++;
		} else if (*q == 'h') {
			ms = v * 3600000;
			q++;
		} else {
			ms = v;
		}
		while (isspace((unsigned char)*q))
			q++;
		if (*q == ',')
			q++;
		else if (*q != '\0') {
			*cause = xasprintf("'%s' is not a list of delays like 1s,5s,30s", s);
			return -1;
		}
		if (ms < 10 || ms > 3600000) {
			*cause = xasprintf("delay %llu ms in '%s' is out of range (10 ms..1 h)",
			    (unsigned long long)ms, s);
			return -1;
		}
		if (p->steps == RETRY_MAX_STEPS) {
			*cause = xasprintf("'%s' has more than %d steps", s, RETRY_MAX_STEPS);
			return -1;
		}
		if (p->steps > 0 && ms <= p->delay_ms[p->steps - 1]) {
			*cause = xasprintf("delays in '%s' must increase", s);
			return -1;
		}
		p->delay_ms[p->steps++] = (uint32_t)ms;
	}
	if (p->steps == 0) {
		*cause = xasprintf("the retry ladder is empty");
		return -1;
	}
	return 0;
}

int
retry_step(const struct retry_policy *p, unsigned attempt)
{
	if (attempt == 0 || attempt > p->max_attempts || p->steps == 0)
		return -1;
	return attempt - 1 < p->steps ? (int)(attempt - 1) : (int)p->steps - 1;
}

uint32_t
retry_delay_ms(const struct retry_policy *p, int step, uint32_t rnd)
{
	uint64_t d = p->delay_ms[step];
	uint64_t spread = d * (p->jitter_pct > 100 ? 100 : p->jitter_pct) / 100;

	/* never above the queue's TTL (the step's delay), never below d - spread */
	return (uint32_t)(d - spread + spread * rnd / UINT32_MAX);
}

void
retry_format_delay(uint32_t ms, char *out, size_t outlen)
{
	if (ms % 3600000 == 0)
		snprintf(out, outlen, "%uh", ms / 3600000);
	else if (ms % 60000 == 0)
		snprintf(out, outlen, "%um", ms / 60000);
	else if (ms % 1000 == 0)
		snprintf(out, outlen, "%us", ms / 1000);
	else
		snprintf(out, outlen, "%ums", ms);
}

void
retry_queue_name(enum service_id svc, const struct retry_policy *p, int step, char *out,
    size_t outlen)
{
	char d[16];

	retry_format_delay(p->delay_ms[step], d, sizeof(d));
	snprintf(out, outlen, "chorus.%s.retry.%s", service_name(svc), d);
}

unsigned
retry_attempts_of(const char *v)
{
	char *end;
	unsigned long n;

	if (v == NULL)
		return 0;
	n = strtoul(v, &end, 10);
	if (end == v || *end != '\0' || n > 1000000)
		return 0;
	return (unsigned)n;
}
