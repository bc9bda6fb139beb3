/*
 * The integration test harness: real PostgreSQL, real opsbusd, real
 * sockets. A test program starts one PostgreSQL and as many servers as it
 * needs; everything lives under one temporary directory removed at exit.
 */
#define _DEFAULT_SOURCE
#include "harness.h"

#include <CUnit/Basic.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "clock.h"
#include "opsbus/v1/health.pb-c.h"
#include "store/embedded.h"

static char                tmpdir[256];
static struct pg_embedded *pg;
static int                 server_seq;

static void
harness_cleanup(void)
{
	pg_embedded_free(pg);
	pg = NULL;
	if (tmpdir[0] != '\0' && getenv("OPSBUS_KEEP_TMP") == NULL) {
		harness_sh("rm -rf '%s'", tmpdir);
	}
}

/* Prints where every thread of pid is, when gdb is installed. */
static void
harness_stacks(pid_t pid)
{
	harness_sh("command -v gdb >/dev/null && timeout 60 gdb -batch -p %d "
	           "-ex 'thread apply all bt' 2>/dev/null | grep -E "
	           "'^#|^Thread' >&2 || true",
	    (int) pid);
}

const char *
harness_tmpdir(void)
{
	if (tmpdir[0] == '\0') {
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/opsbus-test-XXXXXX");
		if (mkdtemp(tmpdir) == NULL) {
			perror("mkdtemp");
			exit(1);
		}
		/* The unprivileged PostgreSQL user must reach its data. */
		chmod(tmpdir, 0755);
		atexit(harness_cleanup);
	}
	return (tmpdir);
}

const char *
harness_pg(void)
{
	char dir[512];
	char err[1024];

	if (pg != NULL) {
		return (pg_embedded_conninfo(pg));
	}
	/* Tests skip fsync for speed; benchmarks that measure durable
	 * commits set OPSBUS_PG_SYNC. */
	if (getenv("OPSBUS_PG_SYNC") == NULL) {
		setenv("OPSBUS_PG_NOSYNC", "1", 1);
	}
	snprintf(dir, sizeof(dir), "%s/pg", harness_tmpdir());
	struct pg_embedded_config cfg = {.data_dir = dir};
	if (pg_embedded_start(&cfg, &pg, err, sizeof(err)) != 0) {
		fprintf(stderr, "harness: cannot start PostgreSQL: %s\n", err);
		exit(1);
	}
	return (pg_embedded_conninfo(pg));
}

struct pg_embedded *
harness_pg_handle(void)
{
	(void) harness_pg();
	return (pg);
}

static int
server_ready(struct harness_server *s)
{
	/* A generous deadline: a client that gives up and closes while
	 * opsbusd is still sending its SP header makes nng 1.5.2's listener
	 * stop accepting for good (EPIPE is taken for "closed"). Before the
	 * server listens, the call waits while the dialer retries. */
	struct opsbus_client_config cfg
	    = {.url = s->url, .timeout_ms = 5000, .lazy = 1};
	struct opsbus_client    *c;
	struct opsbus_status     st;
	Opsbus__V1__CheckRequest req = OPSBUS__V1__CHECK_REQUEST__INIT;
	ProtobufCMessage        *out = NULL;
	int                      ok = 0;

	req.skip_database = 1;
	if (opsbus_client_open(&cfg, &c, &st) != 0) {
		return (0);
	}
	if (opsbus_call(c, "opsbus.v1.HealthService/Check", &req.base,
	        &opsbus__v1__check_response__descriptor, &out, NULL, &st)
	    == 0) {
		ok = 1;
		protobuf_c_message_free_unpacked(out, NULL);
	}
	opsbus_client_close(c);
	return (ok);
}

int
harness_server_start(struct harness_server *s, const char *const *extra)
{
	const char *bin = getenv("OPSBUSD");
	const char *conninfo = harness_pg();
	int         n = ++server_seq;

	memset(s, 0, sizeof(*s));
	if (bin == NULL) {
		fprintf(stderr, "harness: OPSBUSD is not set\n");
		return (-1);
	}
	snprintf(s->url, sizeof(s->url), "ipc://%s/rpc-%d.sock",
	    harness_tmpdir(), n);
	snprintf(
	    s->log, sizeof(s->log), "%s/opsbusd-%d.log", harness_tmpdir(), n);
	snprintf(s->api_key, sizeof(s->api_key), "test-admin-key-0123456789");
	s->pid = fork();
	if (s->pid < 0) {
		return (-1);
	}
	if (s->pid == 0) {
		const char *argv[64];
		int         a = 0;
		int fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		argv[a++] = bin;
		argv[a++] = "--db";
		argv[a++] = conninfo;
		argv[a++] = "--listen";
		argv[a++] = s->url;
		argv[a++] = "--api-key";
		argv[a++] = s->api_key;
		/* No gateway unless a test asks for one (extra args come
		 * after these, and the last --http wins): tests run in
		 * parallel and must not share a port. */
		argv[a++] = "--http";
		argv[a++] = "off";
		argv[a++] = "--log-level";
		argv[a++] = getenv("HARNESS_LOG_LEVEL") != NULL
		    ? getenv("HARNESS_LOG_LEVEL")
		    : "debug";
		for (int i = 0; extra != NULL && extra[i] != NULL && a < 62;
		     i++) {
			argv[a++] = extra[i];
		}
		argv[a] = NULL;
		execv(bin, (char *const *) (uintptr_t) argv);
		_exit(127);
	}
	/* Up to 60 s: a sanitizer build on a loaded two-core machine can
	 * take a while to start. */
	time_t give_up = time(NULL) + 60;
	while (time(NULL) < give_up) {
		int status;
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			fprintf(
			    stderr, "harness: opsbusd exited early; log:\n");
			harness_sh("tail -20 '%s' >&2", s->log);
			s->pid = 0;
			return (-1);
		}
		if (server_ready(s)) {
			return (0);
		}
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	/* Say why before giving up: the log, and where every thread is. */
	fprintf(stderr, "harness: opsbusd did not answer in time; log:\n");
	harness_sh("tail -30 '%s' >&2", s->log);
	harness_stacks(s->pid);
	/* And of this process: its client may be what does not move. */
	fprintf(stderr, "harness: the test process's threads:\n");
	harness_stacks(getpid());
	harness_server_stop(s, SIGKILL);
	return (-1);
}

int
harness_server_stop(struct harness_server *s, int sig)
{
	int status = 0;

	if (s->pid <= 0) {
		return (-1);
	}
	kill(s->pid, sig);
	for (int i = 0; i < 600; i++) {
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = 0;
			if (WIFEXITED(status)) {
				return (WEXITSTATUS(status));
			}
			return (128 + WTERMSIG(status));
		}
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	kill(s->pid, SIGKILL);
	waitpid(s->pid, &status, 0);
	s->pid = 0;
	return (-1);
}

int
harness_suite_open(struct harness_server *s, struct opsbus_client **c)
{
	setenv("OPSBUS_EVENTS", "off", 0);
	if (harness_server_start(s, NULL) != 0) {
		return (-1);
	}
	*c = harness_client(s, NULL);
	return (*c != NULL ? 0 : -1);
}

int
harness_suite_close(struct harness_server *s, struct opsbus_client *c)
{
	opsbus_client_close(c);
	return (harness_server_stop(s, SIGTERM) == 0 ? 0 : -1);
}

struct opsbus_client *
harness_client(const struct harness_server *s, const char *key)
{
	struct opsbus_client_config cfg = {.url = s->url,
	    .api_key = key != NULL ? key : s->api_key,
	    .timeout_ms = 10000};
	struct opsbus_client       *c = NULL;
	struct opsbus_status        st;

	if (opsbus_client_open(&cfg, &c, &st) != 0) {
		fprintf(stderr, "harness: client: %s\n", st.message);
		return (NULL);
	}
	return (c);
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long  n;

	if (f == NULL) {
		return (strdup(""));
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t) n + 1);
	if (buf != NULL && n > 0
	    && fread(buf, 1, (size_t) n, f) != (size_t) n) {
		buf[0] = '\0';
	}
	fclose(f);
	return (buf);
}

/*
 * Waits for a child the harness started, at most HARNESS_CHILD_TIMEOUT_S
 * seconds (default 120): a test must fail, not hang until CTest kills the
 * whole program and its evidence. A child past the deadline has its
 * threads' stacks printed (when gdb is installed) and is killed with its
 * process group. Returns the exit status, 128 + signal when a signal
 * ended it, or 124 when it was killed for the deadline.
 */
int
harness_wait_child(pid_t pid, const char *what)
{
	const char     *env = getenv("HARNESS_CHILD_TIMEOUT_S");
	long            limit_ms = (env != NULL ? atol(env) : 120) * 1000;
	struct timespec start, now;
	int             status;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid) {
			break;
		}
		if (r < 0 && errno != EINTR) {
			return (-1);
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - start.tv_sec) * 1000
		        + (now.tv_nsec - start.tv_nsec) / 1000000
		    >= limit_ms) {
			fprintf(stderr,
			    "harness: '%s' (pid %d) still runs after %ld s; "
			    "its stacks, then SIGKILL:\n",
			    what, (int) pid, limit_ms / 1000);
			harness_stacks(pid);
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return (124);
		}
		clock_sleep_ms(20);
	}
	if (WIFEXITED(status)) {
		return (WEXITSTATUS(status));
	}
	return (WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1);
}

int
harness_cli(const struct harness_server *s, const char *const *argv,
    char **out, char **err)
{
	const char *bin = getenv("OPSBUS_CLI");
	char        out_path[512], err_path[512];
	pid_t       pid;
	int         status;

	snprintf(out_path, sizeof(out_path), "%s/cli.out", harness_tmpdir());
	snprintf(err_path, sizeof(err_path), "%s/cli.err", harness_tmpdir());
	pid = fork();
	if (pid == 0) {
		const char *args[64];
		(void) setpgid(0, 0);
		int a = 0;
		int fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		dup2(fo, 1);
		dup2(fe, 2);
		setenv("OPSBUS_URL", s->url, 1);
		setenv("OPSBUS_API_KEY", s->api_key, 1);
		args[a++] = bin;
		for (int i = 0; argv[i] != NULL && a < 63; i++) {
			args[a++] = argv[i];
		}
		args[a] = NULL;
		execv(bin, (char *const *) (uintptr_t) args);
		_exit(127);
	}
	status = harness_wait_child(pid, "the opsbus CLI");
	if (out != NULL) {
		*out = slurp(out_path);
	}
	if (err != NULL) {
		*err = slurp(err_path);
	}
	return (status);
}

long
harness_sql_long(const char *fmt, ...)
{
	char    sql[8192];
	va_list ap;
	char   *v;
	long    n;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	v = harness_sql(NULL, "%s", sql);
	n = v != NULL ? atol(v) : -1;
	free(v);
	return (n);
}

int
harness_sh(const char *fmt, ...)
{
	char    cmd[4096];
	va_list ap;
	pid_t   pid;
	int     rv;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if ((pid = fork()) == 0) {
		(void) setpgid(0, 0);
		execl("/bin/sh", "sh", "-c", cmd, (char *) NULL);
		_exit(127);
	}
	if (pid < 0) {
		return (-1);
	}
	rv = harness_wait_child(pid, cmd);
	return (rv >= 128 ? -1 : rv);
}

/* Sends SIGKILL to every child of this process (opsbusd, the CLI...). */
static void
kill_children(void)
{
	DIR           *d = opendir("/proc");
	struct dirent *e;

	while (d != NULL && (e = readdir(d)) != NULL) {
		char  path[300], buf[512];
		FILE *f;
		char *paren;
		long  ppid = -1;

		if (e->d_name[0] < '1' || e->d_name[0] > '9') {
			continue;
		}
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		if ((f = fopen(path, "r")) == NULL) {
			continue;
		}
		/* "pid (comm) state ppid ...": comm may hold spaces. */
		if (fgets(buf, sizeof(buf), f) != NULL
		    && (paren = strrchr(buf, ')')) != NULL) {
			ppid = strtol(paren + 4, NULL, 10);
		}
		fclose(f);
		if (ppid == (long) getpid()) {
			kill((pid_t) atol(e->d_name), SIGKILL);
		}
	}
	if (d != NULL) {
		closedir(d);
	}
}

/*
 * A test program that has not finished after HARNESS_SUITE_TIMEOUT_S
 * seconds (default 540, before CTest's 600 kills it without a word) prints
 * where each of its threads is and exits 1: a hang leaves its evidence.
 */
static void *
suite_watchdog(void *arg)
{
	long limit = *(const long *) arg;

	clock_sleep_ms((int64_t) limit * 1000);
	fprintf(stderr,
	    "harness: the suite still runs after %ld s; its threads:\n",
	    limit);
	harness_stacks(getpid());
	/* Not exit(): its handlers may wait on what hangs. Leave nothing
	 * running: the servers and tools started, then PostgreSQL. */
	kill_children();
	pg_embedded_free(pg);
	pg = NULL;
	fprintf(stderr, "harness: its files are kept in %s\n", tmpdir);
	_exit(1);
}

int
harness_run(const char *suite, const struct harness_case *cases,
    int (*init)(void), int (*cleanup)(void))
{
	static long watchdog_limit;
	const char *env = getenv("HARNESS_SUITE_TIMEOUT_S");
	pthread_t   watchdog;
	CU_pSuite   s;
	unsigned    failures;

	signal(SIGPIPE, SIG_IGN);
	watchdog_limit = env != NULL ? atol(env) : 540;
	if (watchdog_limit > 0
	    && pthread_create(&watchdog, NULL, suite_watchdog, &watchdog_limit)
	        == 0) {
		pthread_detach(watchdog);
	}
	if (CU_initialize_registry() != CUE_SUCCESS) {
		return (1);
	}
	s = CU_add_suite(suite, init, cleanup);
	for (int i = 0; s != NULL && cases[i].name != NULL; i++) {
		CU_add_test(s, cases[i].name, cases[i].fn);
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures
	    = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return (failures == 0 ? 0 : 1);
}

char *
harness_sql(const char *db, const char *fmt, ...)
{
	char      sql[8192];
	char      conninfo[1024];
	va_list   ap;
	PGconn   *conn;
	PGresult *res;
	char     *out = NULL;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	snprintf(conninfo, sizeof(conninfo), "%s%s%s", harness_pg(),
	    db != NULL ? " dbname=" : "", db != NULL ? db : "");
	conn = PQconnectdb(conninfo);
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "harness_sql: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return (NULL);
	}
	res = PQexec(conn, sql);
	if (PQresultStatus(res) == PGRES_TUPLES_OK) {
		out = strdup(PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "");
	} else if (PQresultStatus(res) == PGRES_COMMAND_OK) {
		out = strdup(PQcmdTuples(res));
	} else if (getenv("HARNESS_SQL_QUIET") == NULL) {
		fprintf(stderr, "harness_sql: %s", PQresultErrorMessage(res));
	}
	PQclear(res);
	PQfinish(conn);
	return (out);
}
