/*
 * backoff: exponential backoff with jitter (see backoff.h).
 */
#include "config.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

#include "backoff.h"

uint32_t
backoff_delay_ms(const struct backoff *b, unsigned attempt, uint32_t rnd)
{
	uint64_t d = b->base_ms;
	uint64_t fixed, spread;
	uint32_t pct = b->jitter_pct > 100 ? 100 : b->jitter_pct;

	for (unsigned i = 0; i < attempt && d != 0 && d < b->max_ms; i++)
		d *= 2;
	if (d > b->max_ms)
		d = b->max_ms;
	spread = d * pct / 100;
	fixed = d - spread;
	return (uint32_t)(fixed + spread * rnd / UINT32_MAX);
}

uint32_t
backoff_random(void)
{
	uint32_t r;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = (uint32_t)random();
	return r;
}

int
backoff_sleep(uint32_t ms, volatile int *stop)
{
	while (ms > 0) {
		uint32_t step = ms > 100 ? 100 : ms;
		struct timespec ts = { step / 1000, (long)(step % 1000) * 1000000L };

		if (stop != NULL && *stop)
			return 1;
		nanosleep(&ts, NULL);
		ms -= step;
	}
	return stop != NULL && *stop;
}
