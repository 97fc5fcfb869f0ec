/*
 * breaker: a circuit breaker for a dependency that can be down (the
 * payment provider). Pure: the caller passes the time, so every transition
 * is unit-tested.
 *
 *   CLOSED    calls go through; `failures` failures in a row open it
 *   OPEN      calls are refused (the worker pauses consumption) until
 *             `recovery_ms` have passed, then it is HALF_OPEN
 *   HALF_OPEN trial calls go through; `successes` successes in a row close
 *             it, any failure opens it again
 */
#ifndef CHORUS_BREAKER_H
#define CHORUS_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

enum breaker_state { BREAKER_CLOSED = 0, BREAKER_OPEN, BREAKER_HALF_OPEN };

struct breaker {
	enum breaker_state state;
	unsigned failures;		/* in a row, while CLOSED */
	unsigned successes;		/* in a row, while HALF_OPEN */
	uint64_t opened_at_ms;
	unsigned failure_threshold;
	unsigned success_threshold;
	uint64_t recovery_ms;
};

void breaker_init(struct breaker *b, unsigned failure_threshold, uint64_t recovery_ms,
    unsigned success_threshold);
/* May a call be made at now_ms? (OPEN turns HALF_OPEN once recovery_ms passed.) */
bool breaker_allow(struct breaker *b, uint64_t now_ms);
/* Record a call's outcome. Both return true when the state changed. */
bool breaker_success(struct breaker *b, uint64_t now_ms);
bool breaker_failure(struct breaker *b, uint64_t now_ms);
/* Milliseconds until a trial call is allowed (0 unless OPEN). */
uint64_t breaker_wait_ms(const struct breaker *b, uint64_t now_ms);
const char *breaker_state_name(enum breaker_state s);

#endif
