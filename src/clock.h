/*
 * clock: the monotonic clock every wait and duration is measured on.
 */
#ifndef CHORUS_CLOCK_H
#define CHORUS_CLOCK_H

#include <stdint.h>

/* Milliseconds on CLOCK_MONOTONIC (unaffected by changes of the wall clock). */
uint64_t clock_ms(void);
/* Microseconds on CLOCK_MONOTONIC. */
uint64_t clock_us(void);
/* Seconds on CLOCK_MONOTONIC, with a fraction. */
double clock_s(void);

#endif
