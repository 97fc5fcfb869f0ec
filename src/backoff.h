/*
 * backoff: exponential backoff with jitter, for reconnects and retries.
 * Pure: the caller supplies the random number, so the ladder is unit-tested.
 */
#ifndef CHORUS_BACKOFF_H
#define CHORUS_BACKOFF_H

#include <stdint.h>

struct backoff {
	uint32_t base_ms;	/* delay of attempt 0 before jitter */
	uint32_t max_ms;	/* cap of the delay before jitter */
	uint32_t jitter_pct;	/* 0..100: how much of the delay is randomised */
};

/*
 * Delay before retry number attempt (0-based): min(max, base * 2^attempt),
 * of which the last jitter_pct percent is scaled by rnd / UINT32_MAX
 * ("equal jitter" when 50). Never overflows, whatever attempt.
 */
uint32_t backoff_delay_ms(const struct backoff *b, unsigned attempt, uint32_t rnd);
/* A random number for backoff_delay_ms (not for cryptography). */
uint32_t backoff_random(void);
/* Sleep ms milliseconds, returning early (1) when *stop becomes non-zero; 0 otherwise. */
int backoff_sleep(uint32_t ms, volatile int *stop);

#endif
