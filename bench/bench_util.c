/*
 * Benchmark plumbing: timing, percentiles, the client threads and the
 * table. Results go to stdout and to bench/results/latest.txt.
 */
#include "bench_util.h"

#include <dirent.h>
#include <nng/nng.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static bool        smoke;
static bool        floors = true;
static double      seconds = 3.0;
static const char *bench_name = "bench";

int64_t
bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec);
}

void
bench_init(int argc, char **argv, const char *name)
{
	bench_name = name;
	/* A benchmark writes to sockets a server may close. */
	signal(SIGPIPE, SIG_IGN);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--smoke") == 0) {
			smoke = true;
			seconds = 0.2;
		} else if (strcmp(argv[i], "--opsbus-only") == 0) {
			floors = false;
		} else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
			seconds = atof(argv[++i]);
		}
	}
}

bool
bench_smoke(void)
{
	return (smoke);
}

bool
bench_floors(void)
{
	return (floors);
}

double
bench_seconds(void)
{
	return (seconds);
}

void
bench_samples_add(struct bench_samples *s, int64_t ns)
{
	if (s->n == s->cap) {
		size_t   cap = s->cap == 0 ? 4096 : s->cap * 2;
		int64_t *nv = realloc(s->ns, cap * sizeof(*nv));
		if (nv == NULL) {
			return;
		}
		s->ns = nv;
		s->cap = cap;
	}
	s->ns[s->n++] = ns;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *) a;
	int64_t y = *(const int64_t *) b;

	return ((x > y) - (x < y));
}

int64_t
bench_samples_pct(struct bench_samples *s, double pct)
{
	size_t i;

	if (s->n == 0) {
		return (0);
	}
	qsort(s->ns, s->n, sizeof(s->ns[0]), cmp_i64);
	i = (size_t) (pct / 100.0 * (double) (s->n - 1) + 0.5);
	return (s->ns[i < s->n ? i : s->n - 1]);
}

void
bench_samples_free(struct bench_samples *s)
{
	free(s->ns);
	memset(s, 0, sizeof(*s));
}

struct run {
	int (*op)(void *arg, int thread);
	void                *arg;
	int                  thread;
	int64_t              deadline;
	long                 done;
	struct bench_samples lat;
	pthread_barrier_t   *start;
};

static void *
run_thread(void *p)
{
	struct run *r = p;

	pthread_barrier_wait(r->start);
	while (bench_now_ns() < r->deadline) {
		int64_t t0 = bench_now_ns();
		if (r->op(r->arg, r->thread) != 0) {
			break;
		}
		bench_samples_add(&r->lat, bench_now_ns() - t0);
		r->done++;
	}
	return (NULL);
}

double
bench_run(int threads, int (*op)(void *arg, int thread), void *arg,
    struct bench_samples *lat)
{
	return (bench_run_for(threads, op, arg, lat, seconds));
}

double
bench_run_for(int threads, int (*op)(void *arg, int thread), void *arg,
    struct bench_samples *lat, double secs)
{
	pthread_t        *t = calloc((size_t) threads, sizeof(*t));
	struct run       *r = calloc((size_t) threads, sizeof(*r));
	pthread_barrier_t start;
	int64_t           t0, t1;
	long              done = 0;

	pthread_barrier_init(&start, NULL, (unsigned) threads + 1);
	for (int i = 0; i < threads; i++) {
		r[i].op = op;
		r[i].arg = arg;
		r[i].thread = i;
		r[i].start = &start;
		r[i].deadline = INT64_MAX;
	}
	for (int i = 0; i < threads; i++) {
		pthread_create(&t[i], NULL, run_thread, &r[i]);
	}
	t0 = bench_now_ns();
	for (int i = 0; i < threads; i++) {
		r[i].deadline = t0 + (int64_t) (secs * 1e9);
	}
	pthread_barrier_wait(&start);
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
	}
	t1 = bench_now_ns();
	for (int i = 0; i < threads; i++) {
		done += r[i].done;
		for (size_t k = 0; lat != NULL && k < r[i].lat.n; k++) {
			bench_samples_add(lat, r[i].lat.ns[k]);
		}
		bench_samples_free(&r[i].lat);
	}
	pthread_barrier_destroy(&start);
	free(t);
	free(r);
	return ((double) done / ((double) (t1 - t0) / 1e9));
}

static FILE *
results_file(void)
{
	static FILE *f;
	const char  *src = getenv("OPSBUS_SOURCE_DIR");
	char         path[1024];

	if (f == NULL && !smoke && src != NULL) {
		snprintf(
		    path, sizeof(path), "%s/bench/results/latest.txt", src);
		f = fopen(path, "a");
	}
	return (f);
}

static void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
emit(const char *fmt, ...)
{
	va_list ap;
	FILE   *f = results_file();

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (f != NULL) {
		va_start(ap, fmt);
		vfprintf(f, fmt, ap);
		va_end(ap);
		fflush(f);
	}
	fflush(stdout);
}

void
bench_header(void)
{
	struct utsname u;
	char           pg[128] = "?";
	FILE          *p = popen("postgres --version 2>/dev/null || "
	                                  "/usr/lib/postgresql/*/bin/postgres --version",
	             "r");

	if (p != NULL) {
		if (fgets(pg, sizeof(pg), p) != NULL) {
			pg[strcspn(pg, "\n")] = '\0';
		}
		pclose(p);
	}
	uname(&u);
	emit("\n# %s — %ld cores, %s %s, %s, nng %s%s\n", bench_name,
	    sysconf(_SC_NPROCESSORS_ONLN), u.sysname, u.release, pg,
	    nng_version(), smoke ? " (smoke run: figures mean nothing)" : "");
	emit("%-52s %14s %14s %-8s %7s\n", "case", "opsbus", "floor", "unit",
	    "ratio");
}

void
bench_row(const char *name, double opsbus, double floor, const char *unit,
    bool lower_is_better)
{
	double ratio = floor > 0 ? opsbus / floor : 0;

	emit("%-52s %14.1f %14.1f %-8s %6.2fx%s\n", name, opsbus, floor, unit,
	    ratio, lower_is_better ? " (lower is better)" : "");
}

void
bench_note(const char *name, double value, const char *unit)
{
	emit("%-52s %14.1f %14s %-8s\n", name, value, "-", unit);
}

/*
 * Fields 4 (the parent's pid) and 14, 15 (user and system time) of
 * /proc/<pid>/stat. The command name (field 2) may hold spaces, so the
 * fields are read after its closing parenthesis.
 */
static bool
proc_stat(int pid, int *ppid, double *cpu_us)
{
	char               path[64], buf[1024], *p;
	FILE              *f;
	size_t             n;
	unsigned long long ut, st;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if ((f = fopen(path, "r")) == NULL) {
		return (false);
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL
	    || sscanf(p + 1,
	           " %*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
	           ppid, &ut, &st)
	        != 3) {
		return (false);
	}
	*cpu_us = (double) (ut + st) * 1e6 / (double) sysconf(_SC_CLK_TCK);
	return (true);
}

double
bench_proc_cpu_us(int pid)
{
	int    ppid;
	double us;

	return (pid > 0 && proc_stat(pid, &ppid, &us) ? us : 0);
}

/* The harness PostgreSQL's postmaster: the first line of its pid file. */
static int
postmaster_pid(void)
{
	char  path[1024];
	FILE *f;
	int   pid = 0;

	snprintf(path, sizeof(path), "%s/pg/postmaster.pid", harness_tmpdir());
	if ((f = fopen(path, "r")) != NULL) {
		if (fscanf(f, "%d", &pid) != 1) {
			pid = 0;
		}
		fclose(f);
	}
	return (pid);
}

/* The CPU time of the postmaster and of every process it started. */
static double
postgres_cpu_us(void)
{
	int            pm = postmaster_pid(), pid, ppid;
	double         sum = 0, us;
	DIR           *d;
	struct dirent *e;

	if (pm <= 0 || (d = opendir("/proc")) == NULL) {
		return (0);
	}
	while ((e = readdir(d)) != NULL) {
		if ((pid = atoi(e->d_name)) <= 0) {
			continue;
		}
		if (proc_stat(pid, &ppid, &us) && (pid == pm || ppid == pm)) {
			sum += us;
		}
	}
	closedir(d);
	return (sum);
}

void
bench_cpu_read(struct bench_cpu *c, int server_pid)
{
	c->client_us = bench_proc_cpu_us((int) getpid());
	c->server_us = bench_proc_cpu_us(server_pid);
	c->postgres_us = postgres_cpu_us();
}

void
bench_cpu_add_since(
    struct bench_cpu *sum, const struct bench_cpu *start, int server_pid)
{
	struct bench_cpu now;

	bench_cpu_read(&now, server_pid);
	sum->client_us += now.client_us - start->client_us;
	sum->server_us += now.server_us - start->server_us;
	sum->postgres_us += now.postgres_us - start->postgres_us;
}

void
bench_cpu_rows(const char *name, const struct bench_cpu *opsbus,
    double opsbus_ops, const struct bench_cpu *floor, double floor_ops)
{
	char   row[160];
	double o = opsbus_ops > 0 ? opsbus_ops : 1;
	double f = floor_ops > 0 ? floor_ops : 1;

	snprintf(row, sizeof(row), "%s, CPU/op: postgres", name);
	bench_row(row, opsbus->postgres_us / o,
	    floor_ops > 0 ? floor->postgres_us / f : 0, "us", true);
	snprintf(row, sizeof(row), "%s, CPU/op: opsbusd", name);
	bench_note(row, opsbus->server_us / o, "us");
	snprintf(row, sizeof(row), "%s, CPU/op: clients", name);
	bench_row(row, opsbus->client_us / o,
	    floor_ops > 0 ? floor->client_us / f : 0, "us", true);
	snprintf(row, sizeof(row), "%s, CPU/op: all", name);
	bench_row(row,
	    (opsbus->postgres_us + opsbus->server_us + opsbus->client_us) / o,
	    floor_ops > 0
	        ? (floor->postgres_us + floor->server_us + floor->client_us)
	            / f
	        : 0,
	    "us", true);
}

void
bench_warmup(
    int threads, int (*op)(void *arg, int thread), void *arg, double secs)
{
	double saved = seconds;

	seconds = smoke ? 0.1 : secs;
	(void) bench_run(threads, op, arg, NULL);
	seconds = saved;
}
