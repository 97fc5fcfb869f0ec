/*
 * breaker: the circuit breaker's state machine (see breaker.h).
 */
#include "config.h"

#include "breaker.h"

static const char *const names[] = { "closed", "open", "half-open" };

const char *
breaker_state_name(enum breaker_state s)
{
	return s <= BREAKER_HALF_OPEN ? names[s] : "?";
}

void
breaker_init(struct breaker *b, unsigned failure_threshold, uint64_t recovery_ms,
    unsigned success_threshold)
{
	b->state = BREAKER_CLOSED;
	b->failures = b->successes = 0;
	b->opened_at_ms = 0;
	b->failure_threshold = failure_threshold ? failure_threshold : 1;
	b->success_threshold = success_threshold ? success_threshold : 1;
	b->recovery_ms = recovery_ms;
}

static void
open_at(struct breaker *b, uint64_t now_ms)
{
	b->state = BREAKER_OPEN;
	b->opened_at_ms = now_ms;
	b->failures = b->successes = 0;
}

bool
breaker_allow(struct breaker *b, uint64_t now_ms)
{
	if (b->state == BREAKER_OPEN && now_ms - b->opened_at_ms >= b->recovery_ms) {
		b->state = BREAKER_HALF_OPEN;
		b->successes = 0;
	}
	return b->state != BREAKER_OPEN;
}

bool
breaker_success(struct breaker *b, uint64_t now_ms)
{
	(void)now_ms;
	switch (b->state) {
	case BREAKER_CLOSED:
		b->failures = 0;
		return false;
	case BREAKER_HALF_OPEN:
		if (++b->successes >= b->success_threshold) {
			b->state = BREAKER_CLOSED;
			b->failures = b->successes = 0;
			return true;
		}
		return false;
	case BREAKER_OPEN:
		/* a call that started before it opened: no evidence of recovery */
		return false;
	}
	return false;
}

bool
breaker_failure(struct breaker *b, uint64_t now_ms)
{
	switch (b->state) {
	case BREAKER_CLOSED:
		if (++b->failures >= b->failure_threshold) {
			open_at(b, now_ms);
			return true;
		}
		return false;
	case BREAKER_HALF_OPEN:
		open_at(b, now_ms);
		return true;
	case BREAKER_OPEN:
		return false;
	}
	return false;
}

uint64_t
breaker_wait_ms(const struct breaker *b, uint64_t now_ms)
{
	if (b->state != BREAKER_OPEN)
		return 0;
	return now_ms - b->opened_at_ms >= b->recovery_ms ? 0 :
	    b->recovery_ms - (now_ms - b->opened_at_ms);
}
