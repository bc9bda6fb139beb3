/*
 * The monotonic clock in microseconds, for durations (call times in logs,
 * deadlines): never for wall-clock time. And a sleep.
 */
#ifndef OPSBUS_CLOCK_H
#define OPSBUS_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t
clock_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
}

/* Sleeps ms milliseconds, through signals. */
static inline void
clock_sleep_ms(int64_t ms)
{
	struct timespec ts
	    = {(time_t) (ms / 1000), (long) (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0) { }
}

#endif
