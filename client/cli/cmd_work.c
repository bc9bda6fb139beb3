/*
 * opsbus work: a worker that runs a shell command per job, on the
 * libopsbus worker loop (client/worker.h).
 *
 * Each job runs `/bin/sh -c CMD` in its own process group with the job's
 * payload on stdin and OPSBUS_JOB_ID, OPSBUS_JOB_ATTEMPT, OPSBUS_JOB_QUEUE,
 * OPSBUS_JOB_KIND, OPSBUS_JOB_TARGET, OPSBUS_JOB_SUBJECT and
 * OPSBUS_JOB_TENANT in its environment. stdout and stderr go to unlinked
 * temporary files (no pipe can fill up and block the command); their last
 * lines become the summary and the error. The exit status decides (see
 * the usage text of main.c, which is the user's documentation):
 *   0            complete, with stdout's last line as the summary;
 *   65, 100      fail, not retryable (EX_DATAERR; 100 for "permanent");
 *   anything else, or a signal: fail, retryable (75, EX_TEMPFAIL, says so
 *                explicitly).
 * The reason code is EXIT_<status> (SIGNAL_<n> for a signal) unless the
 * command writes a line "REASON_CODE: X" on stderr (the last one counts);
 * the error is stderr's last other line; the raw detail (never shown to
 * operators) is the end of stderr.
 *
 * SIGTERM or SIGINT stops the worker: it claims nothing more, lets the
 * running command finish for --grace-ms, then stops it (SIGTERM, then
 * SIGKILL) and fails the job retryably with reason WORKER_STOPPED. A
 * second signal stops the command at once. An operator's cancel request
 * (seen in a heartbeat) stops the command and fails the job with reason
 * CANCELLED, not retryable. A lost lease stops the command and reports
 * nothing.
 */
#define _DEFAULT_SOURCE /* syscall() */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "cli.h"
#include "utf8.h"
#include "worker.h"

extern char **environ;

/* Exit statuses that mean "do not retry". */
#define EXIT_DATAERR   65
#define EXIT_PERMANENT 100
/* How much of stderr is kept as the raw detail. */
#define DETAIL_MAX (16 * 1024)
/* A stopped command gets this long between SIGTERM and SIGKILL. */
#define KILL_GRACE_MS 2000

static atomic_int            signals_seen;
static struct opsbus_worker *the_worker;

struct work_cfg {
	const char *cmd;
	long        grace_ms;
	long        max_fd;
};

static void
on_signal(int sig)
{
	(void) sig;
	atomic_fetch_add(&signals_seen, 1);
	if (the_worker != NULL) {
		opsbus_worker_stop(the_worker);
	}
}

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static void
nap_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* An unlinked temporary file open for reading and writing, or -1. */
static int
temp_fd(void)
{
	const char *dir = getenv("TMPDIR");
	char        path[512];
	int         fd;

	snprintf(path, sizeof(path), "%s/opsbus-work-XXXXXX",
	    dir != NULL && dir[0] == '/' ? dir : "/tmp");
	if ((fd = mkstemp(path)) >= 0) {
		unlink(path);
		(void) fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	return (fd);
}

static int
write_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			return (-1);
		}
		s += w;
		n -= (size_t) w;
	}
	return (0);
}

/* The last max bytes of the file behind fd, NUL-terminated (malloc'd). */
static char *
read_tail(int fd, size_t max)
{
	struct stat sb;
	size_t      n;
	off_t       off;
	char       *buf;
	ssize_t     got;

	if (fstat(fd, &sb) != 0) {
		return (strdup(""));
	}
	n = (size_t) sb.st_size < max ? (size_t) sb.st_size : max;
	off = sb.st_size - (off_t) n;
	if ((buf = malloc(n + 1)) == NULL) {
		return (NULL);
	}
	got = n > 0 ? pread(fd, buf, n, off) : 0;
	buf[got > 0 ? got : 0] = '\0';
	return (buf);
}

/*
 * Copies src into dst (size cap) as valid UTF-8 without NUL or control
 * characters other than tab: an invalid byte becomes '?'. The server
 * refuses a message with invalid UTF-8, which would strand the job.
 */
static void
clean_text(char *dst, size_t cap, const char *src, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < cap;) {
		size_t len = 0;

		for (size_t k = 1; k <= 4 && i + k <= n; k++) {
			if (utf8_valid(src + i, k)) {
				len = k;
				break;
			}
		}
		if (len == 0
		    || ((unsigned char) src[i] < 0x20 && src[i] != '\t')) {
			dst[o++] = '?';
			i++;
			continue;
		}
		if (o + len + 1 > cap) {
			break;
		}
		memcpy(dst + o, src + i, len);
		o += len;
		i += len;
	}
	dst[o] = '\0';
}

/*
 * Finds the last non-empty line of text for which want_reason says
 * whether it is a "REASON_CODE:" line; writes it (cleaned) into dst.
 */
static bool
last_line(const char *text, bool want_reason, char *dst, size_t cap)
{
	const char *end = text + strlen(text);

	while (end > text) {
		const char *start = end;
		const char *stop = end;

		while (start > text && start[-1] != '\n') {
			start--;
		}
		while (stop > start
		    && (stop[-1] == '\r' || stop[-1] == ' '
		        || stop[-1] == '\t')) {
			stop--;
		}
		end = start > text ? start - 1 : text;
		if (stop == start) {
			continue;
		}
		bool is_reason = strncmp(start, "REASON_CODE:", 12) == 0;
		if (is_reason != want_reason) {
			continue;
		}
		if (is_reason) {
			start += 12;
			while (start < stop
			    && (*start == ' ' || *start == '\t')) {
				start++;
			}
		}
		clean_text(dst, cap, start, (size_t) (stop - start));
		return (true);
	}
	return (false);
}

/* environ with the job's variables set (malloc'd array; strings too). */
static char **
job_env(const Opsbus__V1__Job *job)
{
	size_t n = 0, o = 0;
	char **env;
	char   attempt[16];

	while (environ[n] != NULL) {
		n++;
	}
	if ((env = calloc(n + 8, sizeof(*env))) == NULL) {
		return (NULL);
	}
	for (size_t i = 0; i < n; i++) {
		if (strncmp(environ[i], "OPSBUS_JOB_", 11) != 0) {
			env[o++] = environ[i];
		}
	}
	snprintf(attempt, sizeof(attempt), "%d", job->attempts);
	const char *vars[][2] = {{"OPSBUS_JOB_ID", job->id},
	    {"OPSBUS_JOB_ATTEMPT", attempt}, {"OPSBUS_JOB_QUEUE", job->queue},
	    {"OPSBUS_JOB_KIND", job->kind}, {"OPSBUS_JOB_TARGET", job->target},
	    {"OPSBUS_JOB_SUBJECT", job->subject},
	    {"OPSBUS_JOB_TENANT", job->tenant}};
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		size_t len = strlen(vars[i][0]) + strlen(vars[i][1]) + 2;
		char  *s = malloc(len);
		if (s == NULL) {
			break;
		}
		snprintf(s, len, "%s=%s", vars[i][0], vars[i][1]);
		env[o++] = s;
	}
	env[o] = NULL;
	return (env);
}

static void
job_env_free(char **env)
{
	if (env == NULL) {
		return;
	}
	for (size_t i = 0; env[i] != NULL; i++) {
		if (strncmp(env[i], "OPSBUS_JOB_", 11) == 0) {
			free(env[i]);
		}
	}
	free(env);
}

/* In the child: only async-signal-safe calls from fork to exec. */
static void
child_exec(const struct work_cfg *cfg, int in, int out, int err, char **env)
{
	sigset_t          none;
	struct sigaction  dfl;
	const char *const argv[] = {"sh", "-c", cfg->cmd, NULL};

	setpgid(0, 0);
#ifdef __linux__
	/* A worker killed outright takes its command with it, so the job
	 * is not run twice when another worker retries it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigaction(SIGPIPE, &dfl, NULL);
	sigaction(SIGTERM, &dfl, NULL);
	sigaction(SIGINT, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) {
		_exit(127);
	}
	/* No descriptor of the worker (sockets, other jobs' files) leaks
	 * into the command. close_range is one system call; closing each
	 * possible descriptor is 65536 of them, which costs tens of ms. */
#ifdef SYS_close_range
	if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0)
#endif
	{
		for (long fd = 3; fd < cfg->max_fd; fd++) {
			close((int) fd);
		}
	}
	execve("/bin/sh", (char *const *) (uintptr_t) argv, env);
	_exit(127);
}

enum stop_reason { RAN, STOPPED, CANCELLED, LOST };

/* Waits for the command, stopping it when the job or worker says so. */
static enum stop_reason
wait_command(
    struct opsbus_work *w, const struct work_cfg *cfg, pid_t pid, int *status)
{
	enum stop_reason why = RAN;
	long             stop_at = 0;
	long             killed_at = 0;
	long             nap = 1;
	bool             hard = false;

	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		long  t = now_ms();

		if (r == pid) {
			return (why);
		}
		if (r < 0 && errno != EINTR) {
			/* Not ours to wait for any more: count it a failure.
			 */
			*status = 127 << 8;
			return (why);
		}
		if (killed_at == 0) {
			if (opsbus_work_lease_lost(w)) {
				why = LOST;
			} else if (opsbus_work_cancel_requested(w)) {
				why = CANCELLED;
			} else if (opsbus_work_stopping(w)) {
				stop_at = stop_at != 0 ? stop_at : t;
				if (t - stop_at >= cfg->grace_ms
				    || atomic_load(&signals_seen) >= 2) {
					why = STOPPED;
				}
			}
			if (why != RAN) {
				kill(-pid, SIGTERM);
				killed_at = t;
			}
		} else if (!hard && t - killed_at >= KILL_GRACE_MS) {
			kill(-pid, SIGKILL);
			hard = true;
		}
		/* Short commands are noticed at once, long ones every 20 ms.
		 */
		nap_ms(nap);
		nap = nap * 2 < 10 ? nap * 2 : 10;
	}
}

/* Fills res from how the command ended and what it wrote. */
static void
judge(struct opsbus_work_result *res, int status, int out_fd, int err_fd)
{
	char *out = read_tail(out_fd, 8192);
	char *err = read_tail(err_fd, DETAIL_MAX);
	int   code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;

	if (code == 0) {
		res->failed = false;
		if (out != NULL) {
			last_line(
			    out, false, res->summary, sizeof(res->summary));
		}
	} else {
		res->failed = true;
		res->retryable
		    = code != EXIT_DATAERR && code != EXIT_PERMANENT;
		if (err == NULL
		    || !last_line(err, true, res->reason_code,
		        sizeof(res->reason_code))) {
			if (code >= 0) {
				snprintf(res->reason_code,
				    sizeof(res->reason_code), "EXIT_%d", code);
			} else {
				snprintf(res->reason_code,
				    sizeof(res->reason_code), "SIGNAL_%d",
				    WTERMSIG(status));
			}
		}
		if (err == NULL
		    || !last_line(
		        err, false, res->error, sizeof(res->error))) {
			if (code >= 0) {
				snprintf(res->error, sizeof(res->error),
				    "the command exited with status %d", code);
			} else {
				snprintf(res->error, sizeof(res->error),
				    "the command was killed by signal %d",
				    WTERMSIG(status));
			}
		}
		if (err != NULL && err[0] != '\0') {
			size_t n = strlen(err);
			res->error_detail = malloc(n + 1);
			if (res->error_detail != NULL) {
				clean_text(res->error_detail, n + 1, err, n);
			}
		}
		snprintf(res->stage, sizeof(res->stage), "exec");
	}
	free(out);
	free(err);
}

static void
fail_as(struct opsbus_work_result *res, bool retryable, const char *reason,
    const char *error)
{
	res->failed = true;
	res->retryable = retryable;
	snprintf(res->reason_code, sizeof(res->reason_code), "%s", reason);
	snprintf(res->error, sizeof(res->error), "%s", error);
	snprintf(res->stage, sizeof(res->stage), "exec");
}

static void
run_command(struct opsbus_work *w, struct opsbus_work_result *res, void *arg)
{
	const struct work_cfg *cfg = arg;
	const Opsbus__V1__Job *job = opsbus_work_job(w);
	int              in = temp_fd(), out = temp_fd(), err = temp_fd();
	char           **env = job_env(job);
	enum stop_reason why;
	pid_t            pid;
	int              status = 0;

	if (in < 0 || out < 0 || err < 0 || env == NULL
	    || write_all(in, job->payload, strlen(job->payload)) != 0
	    || lseek(in, 0, SEEK_SET) != 0 || (pid = fork()) < 0) {
		fail_as(res, true, "WORKER_ERROR",
		    "the worker could not start the command (temporary files "
		    "or fork failed)");
		goto out;
	}
	if (pid == 0) {
		child_exec(cfg, in, out, err, env);
	}
	setpgid(pid, pid);
	why = wait_command(w, cfg, pid, &status);
	switch (why) {
	case LOST:
		fail_as(res, true, "LEASE_LOST", "the lease was lost");
		break;
	case CANCELLED:
		fail_as(res, false, "CANCELLED",
		    "stopped: an operator asked to cancel the job");
		break;
	case STOPPED:
		fail_as(res, true, "WORKER_STOPPED",
		    "the worker stopped before the command finished");
		break;
	case RAN:
		judge(res, status, out, err);
		break;
	}
out:
	job_env_free(env);
	if (in >= 0) {
		close(in);
	}
	if (out >= 0) {
		close(out);
	}
	if (err >= 0) {
		close(err);
	}
}

struct work_thread {
	pthread_t             thread;
	struct opsbus_worker *worker;
	struct opsbus_client *client;
	struct opsbus_status  st;
	int                   rv;
	/* Written by the main thread only. */
	bool started;
};

static void *
work_thread_main(void *arg)
{
	struct work_thread *t = arg;

	t->rv = opsbus_worker_run(t->worker, t->client, &t->st);
	if (t->rv != 0) {
		/* The claims themselves are refused: stop the others too. */
		opsbus_worker_stop(t->worker);
	}
	return (NULL);
}

static void
install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int
cmd_work(struct cli *cli)
{
	struct opsbus_worker_config cfg;
	struct opsbus_worker_stats  stats;
	struct work_cfg             wc;
	struct work_thread         *threads;
	const char                 *v;
	long                        concurrency = 1;
	int                         rv = 0;

	memset(&cfg, 0, sizeof(cfg));
	memset(&wc, 0, sizeof(wc));
	wc.grace_ms = 10000;
	cfg.queue = cli_take(&cli->args, "--queue");
	wc.cmd = cli_take(&cli->args, "--exec");
	cfg.worker_id = cli_take(&cli->args, "--worker-id");
	if ((v = cli_take(&cli->args, "--concurrency")) != NULL) {
		concurrency = cli_int("--concurrency", v, 1, 64);
	}
	if ((v = cli_take(&cli->args, "--max-jobs")) != NULL) {
		cfg.max_jobs = cli_int("--max-jobs", v, 1, 1000000000L);
	}
	if ((v = cli_take(&cli->args, "--lease-ms")) != NULL) {
		cfg.lease_ms
		    = (int32_t) cli_int("--lease-ms", v, 1000, 3600000);
	}
	if ((v = cli_take(&cli->args, "--wait-ms")) != NULL) {
		cfg.wait_ms = (int32_t) cli_int("--wait-ms", v, 1, 30000);
	}
	if ((v = cli_take(&cli->args, "--grace-ms")) != NULL) {
		wc.grace_ms = cli_int("--grace-ms", v, 0, 3600000);
	}
	cfg.until_empty = cli_flag(&cli->args, "--until-empty");
	cli_done(&cli->args, 0);
	if (cfg.queue == NULL || wc.cmd == NULL) {
		cli_usage_error("work needs --queue Q and --exec 'CMD'");
	}
	wc.max_fd = sysconf(_SC_OPEN_MAX);
	if (wc.max_fd <= 0 || wc.max_fd > 65536) {
		wc.max_fd = 65536;
	}
	cfg.fn = run_command;
	cfg.arg = &wc;
	if (opsbus_worker_alloc(&cfg, &the_worker) != 0) {
		fprintf(stderr, "opsbus: cannot set up the worker\n");
		return (1);
	}
	install_signals();
	if ((threads = calloc((size_t) concurrency, sizeof(*threads)))
	    == NULL) {
		opsbus_worker_free(the_worker);
		return (1);
	}
	for (long i = 0; i < concurrency; i++) {
		threads[i].worker = the_worker;
		threads[i].client = cli->client;
		threads[i].started = pthread_create(&threads[i].thread, NULL,
		                         work_thread_main, &threads[i])
		    == 0;
	}
	for (long i = 0; i < concurrency; i++) {
		if (!threads[i].started) {
			rv = 1;
			continue;
		}
		pthread_join(threads[i].thread, NULL);
		if (threads[i].rv != 0 && rv == 0) {
			fprintf(stderr, "opsbus: %s: %s\n",
			    threads[i].st.error_code, threads[i].st.message);
			rv = 1;
		}
	}
	opsbus_worker_stats(the_worker, &stats);
	if (cli->json) {
		printf(
		    "{\"claimed\": %ld, \"completed\": %ld, \"failed\": %ld, "
		    "\"lost\": %ld}\n",
		    stats.claimed, stats.completed, stats.failed, stats.lost);
	} else {
		printf(
		    "jobs: %ld claimed, %ld completed, %ld failed, %ld lost\n",
		    stats.claimed, stats.completed, stats.failed, stats.lost);
	}
	free(threads);
	/* No signal may reach the handler while the worker goes away. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	opsbus_worker_free(the_worker);
	the_worker = NULL;
	return (rv);
}
