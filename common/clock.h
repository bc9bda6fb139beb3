/*
 * The monotonic clock in microseconds, for durations (call times in logs,
 * deadlines): never for wall-clock time.
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

#endif
