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

/*
 * Where a case's CPU time goes: this process (the benchmark's clients),
 * the opsbusd under test and the harness's PostgreSQL (its postmaster and
 * every child of it: backends, WAL writer, checkpointer; a process that
 * exits between two readings, such as an autovacuum worker, is not
 * counted), in microseconds since an arbitrary start. The machine is
 * CPU-bound under these loads, so CPU per job says what a case costs
 * where wall-clock rates are noisy.
 */
struct bench_cpu {
	double client_us;
	double server_us;
	double postgres_us;
};
/* Reads the CPU time so far of this process, of server (0: none) and of
 * the harness's PostgreSQL. */
void bench_cpu_read(struct bench_cpu *c, int server_pid);
/* Adds what was spent since start (read with bench_cpu_read) to sum. */
void bench_cpu_add_since(
    struct bench_cpu *sum, const struct bench_cpu *start, int server_pid);
/* User plus system CPU time of one process so far, in microseconds (0
 * when it is gone). */
double bench_proc_cpu_us(int pid);
/*
 * Prints four rows for one case: the CPU microseconds per operation of
 * PostgreSQL, of the server (opsbusd; the floor has none), of the clients
 * and of all three, each opsbus against its floor. ops are the operations each
 * side did while its CPU was measured.
 */
void bench_cpu_rows(const char *name, const struct bench_cpu *opsbus,
    double opsbus_ops, const struct bench_cpu *floor, double floor_ops);

/* One row: case, opsbus figure, floor figure, unit, and the ratio. */
void bench_row(const char *name, double opsbus, double floor, const char *unit,
    bool lower_is_better);
/* A row with no floor (memory). */
void bench_note(const char *name, double value, const char *unit);
/* Prints the machine (cores, kernel, PostgreSQL and nng versions). */
void bench_header(void);

#endif
