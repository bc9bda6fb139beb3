/*
 * Shared by the benchmarks: a clock, latency samples with percentiles, a
 * run of N client threads for a fixed time, the results table (printed and
 * appended to bench/results/), and the --smoke switch that makes every case
 * a fraction of a second for CI.
 */
#ifndef OPSBUS_BENCH_UTIL_H
#define OPSBUS_BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Monotonic time in nanoseconds. */
int64_t bench_now_ns(void);

/* Reads --smoke (and --seconds N) from argv. */
void bench_init(int argc, char **argv, const char *name);
bool bench_smoke(void);
/* False under --opsbus-only: skip the floors (to profile opsbus alone). */
bool bench_floors(void);
/* How long one measured case runs, in seconds. */
double bench_seconds(void);

struct bench_samples {
	int64_t *ns;
	size_t   n;
	size_t   cap;
};
void    bench_samples_add(struct bench_samples *s, int64_t ns);
int64_t bench_samples_pct(struct bench_samples *s, double pct);
void    bench_samples_free(struct bench_samples *s);

/*
 * Runs `threads` threads, each calling op(arg, thread index) in a loop for
 * bench_seconds() (or until op returns non-zero). Returns completed ops per
 * second; latencies of every op go to lat when not NULL.
 */
double bench_run(int threads, int (*op)(void *arg, int thread), void *arg,
    struct bench_samples *lat);

/* bench_run for secs seconds instead of bench_seconds(). */
double bench_run_for(int threads, int (*op)(void *arg, int thread), void *arg,
    struct bench_samples *lat, double secs);

/*
 * Runs op like bench_run for `secs` seconds without measuring: opsbusd's
 * database connections prepare their statements on first use, and a cold
 * connection's first call costs tens of milliseconds.
 */
void bench_warmup(
    int threads, int (*op)(void *arg, int thread), void *arg, double secs);

/* One row: case, opsbus figure, floor figure, unit, and the ratio. */
void bench_row(const char *name, double opsbus, double floor, const char *unit,
    bool lower_is_better);
/* A row with no floor (memory). */
void bench_note(const char *name, double value, const char *unit);
/* Prints the machine (cores, kernel, PostgreSQL and nng versions). */
void bench_header(void);

#endif
