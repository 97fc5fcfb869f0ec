/*
 * retry: what a worker does with a delivery that failed. Pure functions,
 * unit-tested without servers.
 *
 * Every failure has a class: poison (the message itself is bad: dead-letter
 * at once with its reason), business (a normal outcome such as
 * PaymentFailed: not a failure for the queue), or transient (connection
 * lost, timeout, serialization failure, deadlock, lock timeout, a provider
 * outage: try again later).
 *
 * A transient failure goes to a delay queue (chorus.<service>.retry.<delay>)
 * whose TTL dead-letters it back to the service's queue: exponential steps
 * from a configured ladder, with jitter through a per-message expiration,
 * and an attempt counter in the header x-chorus-attempt. Past the maximum
 * number of attempts the delivery is dead-lettered with its history.
 */
#ifndef CHORUS_RETRY_H
#define CHORUS_RETRY_H

#include <stddef.h>
#include <stdint.h>

#include "service.h"

#define RETRY_MAX_STEPS 8

enum err_class { ERR_NONE = 0, ERR_POISON, ERR_BUSINESS, ERR_TRANSIENT };

struct retry_policy {
	uint32_t delay_ms[RETRY_MAX_STEPS];	/* the ladder, increasing */
	size_t steps;
	unsigned max_attempts;			/* failures tolerated before dead-lettering */
	unsigned jitter_pct;			/* 0..100: how much of a delay is randomised */
};

/* Class of a PostgreSQL failure by SQLSTATE (NULL or "": the connection broke). */
enum err_class retry_classify_sqlstate(const char *sqlstate);
const char *err_class_name(enum err_class c);

/*
 * Parse a ladder "1s,5s,30s" (units ms, s, m; plain numbers are ms) into p,
 * which must be strictly increasing, 1..RETRY_MAX_STEPS steps of 10 ms..1 h.
 * 0, or -1 with *cause.
 */
int retry_parse_ladder(const char *s, struct retry_policy *p, char **cause);
/*
 * The step for a delivery that has now failed `attempt` times (1: first
 * failure): the index of its delay queue, or -1 when it is to be
 * dead-lettered (attempt > max_attempts). Past the ladder's end the last
 * step is used again.
 */
int retry_step(const struct retry_policy *p, unsigned attempt);
/* The jittered delay of step (rnd: a random number): in [delay*(1-jitter), delay]. */
uint32_t retry_delay_ms(const struct retry_policy *p, int step, uint32_t rnd);
/* "chorus.<service>.retry.<delay>" with the delay as written by retry_format_delay. */
void retry_queue_name(enum service_id svc, const struct retry_policy *p, int step, char *out,
    size_t outlen);
/* 250ms, 5s, 2m, 1h: the shortest exact form. */
void retry_format_delay(uint32_t ms, char *out, size_t outlen);
/* The attempt count in a header value (NULL or junk: 0). */
unsigned retry_attempts_of(const char *header_value);

#endif
