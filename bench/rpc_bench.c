/*
 * Call overhead: HealthService/Check with skip_database (no PostgreSQL on
 * the path) over nng, against its floor: a bare nng REQ/REP echo of the same
 * bytes, called through the same client (opsbus_call_raw, which opsbus_call
 * wraps), in the same run.
 *
 * The floor is served like opsbusd serves: from its own process (forked
 * before this one touches nng, so it has its own nng task threads), on the
 * same transport (ipc://), by as many context threads as opsbusd has
 * workers. An echo inside the benchmark process would share the clients'
 * nng threads and make the two sides of the comparison unlike.
 *
 * Besides calls/s and latency, each load reports the server's CPU time per
 * call (opsbusd's, the echo's), which a busy machine disturbs less, and the
 * end gives opsbusd's resident memory idle, at its peak, and after.
 */
#include <fcntl.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "harness.h"
#include "opsbus/v1/health.pb-c.h"
#include "rawcall.h"

/* opsbusd's workers (passed to it as --workers) and the echo's threads. */
#define BENCH_WORKERS     8
#define BENCH_WORKERS_ARG "8"
#define MAX_CLIENTS       64
/* Each load runs as this many alternating slices of each side. */
#define SLICES 6

struct echo {
	pid_t pid;
	/* Closing it (or this process dying) ends the echo process. */
	int life_fd;
};

static void *
echo_worker(void *arg)
{
	nng_socket *sock = arg;
	nng_ctx     ctx;
	nng_aio    *aio;

	if (nng_ctx_open(&ctx, *sock) != 0
	    || nng_aio_alloc(&aio, NULL, NULL) != 0) {
		_exit(1);
	}
	for (;;) {
		nng_ctx_recv(ctx, aio);
		nng_aio_wait(aio);
		if (nng_aio_result(aio) != 0) {
			break;
		}
		/* Send back the same message, as opsbusd sends its reply. */
		nng_ctx_send(ctx, aio);
		nng_aio_wait(aio);
		if (nng_aio_result(aio) != 0) {
			nng_msg_free(nng_aio_get_msg(aio));
		}
	}
	nng_aio_free(aio);
	return (NULL);
}

/* The echo process: serves until its parent closes the life pipe. */
static void
echo_main(const char *url, int ready_fd, int life_fd)
{
	nng_socket sock;
	pthread_t  t[BENCH_WORKERS];
	char       c = 1;

	if (nng_rep0_open(&sock) != 0 || nng_listen(sock, url, NULL, 0) != 0) {
		fprintf(stderr, "echo: cannot listen on %s\n", url);
		_exit(1);
	}
	for (int i = 0; i < BENCH_WORKERS; i++) {
		pthread_create(&t[i], NULL, echo_worker, &sock);
	}
	if (write(ready_fd, &c, 1) != 1) {
		_exit(1);
	}
	while (read(life_fd, &c, 1) > 0) { }
	/* _exit: the parent's atexit handlers (the harness's temporary
	 * directory) are not ours to run. */
	_exit(0);
}

/* Forks the echo process; call before anything in this process uses nng. */
static void
echo_start(struct echo *e, const char *url)
{
	int  ready[2], life[2];
	char c;

	if (pipe(ready) != 0 || pipe(life) != 0) {
		perror("pipe");
		exit(1);
	}
	fflush(NULL);
	if ((e->pid = fork()) < 0) {
		perror("fork");
		exit(1);
	}
	if (e->pid == 0) {
		close(ready[0]);
		close(life[1]);
		echo_main(url, ready[1], life[0]);
	}
	close(ready[1]);
	close(life[0]);
	/* Not inherited by the processes the harness starts next (opsbusd,
	 * PostgreSQL): while any of them held it, the echo would outlive a
	 * benchmark that was killed. */
	(void) fcntl(life[1], F_SETFD, FD_CLOEXEC);
	e->life_fd = life[1];
	if (read(ready[0], &c, 1) != 1) {
		fprintf(stderr, "echo: the echo process did not start\n");
		exit(1);
	}
	close(ready[0]);
}

static void
echo_stop(struct echo *e)
{
	close(e->life_fd);
	waitpid(e->pid, NULL, 0);
}

/* A /proc/<pid>/status field in KiB (VmRSS, VmHWM), or 0. */
static long
proc_kib(pid_t pid, const char *field)
{
	char   path[64], line[256];
	FILE  *f;
	long   kb = 0;
	size_t n = strlen(field);

	snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
	if ((f = fopen(path, "r")) == NULL) {
		return (0);
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, field, n) == 0 && line[n] == ':') {
			kb = atol(line + n + 1);
			break;
		}
	}
	fclose(f);
	return (kb);
}

struct clients {
	struct opsbus_client *c[MAX_CLIENTS];
	uint8_t              *env;
	size_t                env_len;
};

static int
op_health(void *arg, int t)
{
	struct clients          *cl = arg;
	Opsbus__V1__CheckRequest req;
	ProtobufCMessage        *out = NULL;
	struct opsbus_status     st;

	opsbus__v1__check_request__init(&req);
	req.skip_database = 1;
	if (opsbus_call(cl->c[t], "opsbus.v1.HealthService/Check", &req.base,
	        &opsbus__v1__check_response__descriptor, &out, NULL, &st)
	    != 0) {
		fprintf(stderr, "health: %s\n", st.message);
		return (-1);
	}
	protobuf_c_message_free_unpacked(out, NULL);
	return (0);
}

static int
op_echo(void *arg, int t)
{
	struct clients      *cl = arg;
	struct opsbus_status st;
	void                *reply;
	size_t               len;

	if (opsbus_call_raw(cl->c[t], cl->env, cl->env_len, &reply, &len, &st)
	    != 0) {
		return (-1);
	}
	free(reply);
	return (0);
}

/*
 * One side of the comparison (opsbusd or the echo) under one load: the
 * server's process, the call, and what the slices measured so far.
 */
struct side {
	pid_t pid;
	int (*op)(void *arg, int thread);
	void                *arg;
	double               calls;
	double               secs;
	double               cpu_us;
	struct bench_samples lat;
};

/* Runs one slice of secs seconds and adds it to s. */
static void
side_run(struct side *s, int clients, double secs)
{
	double cpu0 = bench_proc_cpu_us((int) s->pid);
	double rate = bench_run_for(clients, s->op, s->arg, &s->lat, secs);

	s->cpu_us += bench_proc_cpu_us((int) s->pid) - cpu0;
	s->calls += rate * secs;
	s->secs += secs;
}

static double
side_rate(const struct side *s)
{
	return (s->secs > 0 ? s->calls / s->secs : 0);
}

static double
side_cpu_per_call(const struct side *s)
{
	return (s->calls > 0 ? s->cpu_us / s->calls : 0);
}

static void
clients_open(struct clients *cl, const char *url, const char *key)
{
	struct opsbus_client_config cfg = {.url = url, .api_key = key};
	struct opsbus_status        st;

	for (int i = 0; i < MAX_CLIENTS; i++) {
		if (opsbus_client_open(&cfg, &cl->c[i], &st) != 0) {
			fprintf(stderr, "client: %s\n", st.message);
			exit(1);
		}
	}
}

static void
clients_close(struct clients *cl)
{
	for (int i = 0; i < MAX_CLIENTS; i++) {
		opsbus_client_close(cl->c[i]);
	}
}

int
main(int argc, char **argv)
{
	static const char *const extra[]
	    = {"--workers", BENCH_WORKERS_ARG, NULL};
	struct harness_server srv;
	struct echo           e;
	struct clients        ops, floor;
	char                  echo_url[512];
	struct rawcall        rc = {.method = "opsbus.v1.HealthService/Check",
	           .request_id = "0123456789abcdef0123456789abcdef0123"};
	uint8_t               body[2] = {0x08, 0x01};
	int                   conc[] = {1, 16, 64};
	long                  idle_kb;

	bench_init(argc, argv, "call overhead (rpc_bench)");
	snprintf(echo_url, sizeof(echo_url), "ipc://%s/echo.sock",
	    harness_tmpdir());
	echo_start(&e, echo_url);
	if (harness_server_start(&srv, extra) != 0) {
		echo_stop(&e);
		return (1);
	}
	clients_open(&ops, srv.url, srv.api_key);
	clients_open(&floor, echo_url, NULL);
	/* The floor sends the envelope opsbus's client sends: the method, the
	 * body, the key and a request id of the same length (all but the
	 * client's 4-byte deadline field). */
	rc.body = body;
	rc.body_len = sizeof(body);
	rc.api_key = srv.api_key;
	floor.env_len = rawcall_pack(&rc, &floor.env);
	/* Idle: started, 64 clients connected, one call answered (the
	 * harness's readiness check), no load yet. */
	idle_kb = proc_kib(srv.pid, "VmRSS");

	bench_header();
	for (size_t i = 0; i < sizeof(conc) / sizeof(conc[0]); i++) {
		struct side o = {.pid = srv.pid, .op = op_health, .arg = &ops};
		struct side f = {.pid = e.pid, .op = op_echo, .arg = &floor};
		double      slice = bench_seconds() / SLICES;
		char        name[96];

		/* The two sides take turns, each first in every other round,
		 * so that the load others put on the machine falls on both
		 * alike. */
		for (int k = 0; k < SLICES; k++) {
			side_run(k % 2 == 0 ? &f : &o, conc[i], slice);
			side_run(k % 2 == 0 ? &o : &f, conc[i], slice);
		}
		snprintf(name, sizeof(name),
		    "Health (no db), %d client%s, calls/s", conc[i],
		    conc[i] > 1 ? "s" : "");
		bench_row(
		    name, side_rate(&o), side_rate(&f), "calls/s", false);
		/* Steadier than calls/s on a shared machine: the CPU time the
		 * server spent per call, against the echo's. */
		snprintf(name, sizeof(name),
		    "server CPU per call, %d client%s", conc[i],
		    conc[i] > 1 ? "s" : "");
		bench_row(name, side_cpu_per_call(&o), side_cpu_per_call(&f),
		    "us", true);
		if (conc[i] == 1) {
			bench_row("Health (no db), 1 client, p50 latency",
			    (double) bench_samples_pct(&o.lat, 50) / 1000.0,
			    (double) bench_samples_pct(&f.lat, 50) / 1000.0,
			    "us", true);
			bench_row("Health (no db), 1 client, p99 latency",
			    (double) bench_samples_pct(&o.lat, 99) / 1000.0,
			    (double) bench_samples_pct(&f.lat, 99) / 1000.0,
			    "us", true);
		}
		bench_samples_free(&o.lat);
		bench_samples_free(&f.lat);
	}
	bench_note(
	    "opsbusd resident memory, idle", (double) idle_kb / 1024.0, "MiB");
	/* VmHWM is the most the process ever had resident, start-up
	 * included: at least what the 64-client load took. */
	bench_note("opsbusd resident memory, peak (VmHWM)",
	    (double) proc_kib(srv.pid, "VmHWM") / 1024.0, "MiB");
	bench_note("opsbusd resident memory after the load",
	    (double) proc_kib(srv.pid, "VmRSS") / 1024.0, "MiB");
	clients_close(&ops);
	clients_close(&floor);
	free(floor.env);
	harness_server_stop(&srv, SIGTERM);
	echo_stop(&e);
	return (0);
}
