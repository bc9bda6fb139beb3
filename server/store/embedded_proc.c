/*
 * The embedded PostgreSQL's child processes: initdb and the postmaster are
 * forked and exec'd here, with their fds, signals and session set up in
 * the child and a pipe that carries a failure before exec back to us, and
 * waited for, killed and described here. Also reads a child's output, and
 * makes an error message end with the tail of that output or of a log.
 */

/* NSIG is not in POSIX but in glibc's and the BSDs' default namespace. */
#define _DEFAULT_SOURCE

#include "store/embedded_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* initdb writes a few kilobytes; more than this is kept only at its end. */
#define EMB_OUTPUT_MAX (256 * 1024)
#define EMB_TAIL_LINES 12
/* Closing every possible fd in the child costs one syscall each. */
#define EMB_CLOSE_FD_MAX 65536

/* What a child failed to do before exec, sent up the error pipe. */
enum emb_stage { EMB_STAGE_PRIVS = 1, EMB_STAGE_EXEC };

void
emb_err(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || len == 0) {
		return;
	}
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

char *
emb_printf(const char *fmt, ...)
{
	va_list ap;
	int     n;
	char   *s;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (s = malloc((size_t) n + 1)) == NULL) {
		return (NULL);
	}
	va_start(ap, fmt);
	vsnprintf(s, (size_t) n + 1, fmt, ap);
	va_end(ap);
	return (s);
}

int64_t
emb_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

void
emb_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) { }
}

/*
 * Moves fd to a number of 3 or more, close-on-exec. In the child, 0-2 are
 * overwritten with dup2 and everything from 3 up is closed; an fd we need
 * that happened to land on 0-2 (a daemon with stdin closed) would be lost.
 */
int
emb_fd_high(int fd)
{
	int nfd;

	if (fd < 0) {
		return (fd);
	}
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return (nfd);
}

static void
emb_close_range_from(int lowfd, int keep, int maxfd)
{
	for (int fd = lowfd; fd < maxfd; fd++) {
		if (fd != keep) {
			close(fd);
		}
	}
}

static int
emb_max_fd(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY
	    || rl.rlim_cur > EMB_CLOSE_FD_MAX) {
		return (EMB_CLOSE_FD_MAX);
	}
	return ((int) rl.rlim_cur);
}

/* Reports a failure before exec up the error pipe, then exits. */
static void
emb_child_fail(int errfd, enum emb_stage stage)
{
	int msg[2] = {(int) stage, errno};

	if (write(errfd, msg, sizeof(msg)) < 0) {
		/* The parent then only sees the exit status. */
	}
	_exit(127);
}

/*
 * The child side of emb_spawn. We may have blocked or ignored signals
 * (ignored ones survive exec), and the postmaster relies on its own
 * handlers and an empty mask. setsid gives it its own session and process
 * group, so a terminal's ^C reaches only us, and we decide how it stops.
 */
static void
emb_child(const struct pg_embedded *pg, const char *const *argv, int devnull,
    int out, int errfd, int maxfd)
{
	struct sigaction sa;
	sigset_t         none;
	/* execv takes char *const[] for historical reasons; it does not
	 * write to the strings. */
	union {
		const char *const *c;
		char *const       *v;
	} av = {.c = argv};

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (int sig = 1; sig < NSIG; sig++) {
		(void) sigaction(sig, &sa, NULL);
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	(void) setsid();
	if (dup2(devnull, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0
	    || dup2(out, STDERR_FILENO) < 0) {
		emb_child_fail(errfd, EMB_STAGE_EXEC);
	}
	emb_close_range_from(3, errfd, maxfd);
	/* Our working directory may be one the server user cannot read
	 * (/root), which initdb and postgres complain about; all our paths
	 * are absolute. */
	if (chdir("/") != 0) {
		emb_child_fail(errfd, EMB_STAGE_EXEC);
	}
	if (emb_drop_privileges(pg) != 0) {
		emb_child_fail(errfd, EMB_STAGE_PRIVS);
	}
	execv(argv[0], av.v);
	emb_child_fail(errfd, EMB_STAGE_EXEC);
}

/*
 * Starts argv[0] as a child with stdout and stderr on out. Returns 0 and
 * writes *pidp once the exec has happened; a failure before it (switching
 * user, exec itself) is reported in err.
 */
int
emb_spawn(const struct pg_embedded *pg, const char *const *argv, int out,
    pid_t *pidp, char *err, size_t err_len)
{
	int     devnull = -1;
	int     hout = -1;
	int     ep[2] = {-1, -1};
	int     msg[2];
	int     maxfd = emb_max_fd();
	pid_t   pid;
	ssize_t n;
	int     rv = -1;

	devnull = emb_fd_high(open("/dev/null", O_RDWR | O_CLOEXEC));
	hout = emb_fd_high(fcntl(out, F_DUPFD_CLOEXEC, 3));
	if (pipe(ep) == 0) {
		ep[0] = emb_fd_high(ep[0]);
		ep[1] = emb_fd_high(ep[1]);
	}
	if (devnull < 0 || hout < 0 || ep[0] < 0 || ep[1] < 0) {
		emb_err(err, err_len, "could not set up %s: %s", argv[0],
		    strerror(errno));
		goto out;
	}
	if ((pid = fork()) < 0) {
		emb_err(err, err_len, "could not fork for %s: %s", argv[0],
		    strerror(errno));
		goto out;
	}
	if (pid == 0) {
		emb_child(pg, argv, devnull, hout, ep[1], maxfd);
	}
	close(ep[1]);
	ep[1] = -1;
	while ((n = read(ep[0], msg, sizeof(msg))) < 0 && errno == EINTR) { }
	if (n == (ssize_t) sizeof(msg)) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) { }
		if (msg[0] == EMB_STAGE_PRIVS) {
			emb_err(err, err_len,
			    "could not switch to user %s: %s", pg->user,
			    strerror(msg[1]));
		} else {
			emb_err(err, err_len, "could not run %s: %s", argv[0],
			    strerror(msg[1]));
		}
		goto out;
	}
	*pidp = pid;
	rv = 0;
out:
	if (devnull >= 0) {
		close(devnull);
	}
	if (hout >= 0) {
		close(hout);
	}
	if (ep[0] >= 0) {
		close(ep[0]);
	}
	if (ep[1] >= 0) {
		close(ep[1]);
	}
	return (rv);
}

/*
 * Waits for pid until deadline (monotonic ms; 0 only polls). Returns true
 * when it has exited, with its status in *status (0 if someone else reaped
 * it, as happens when SIGCHLD is ignored). What the child left behind in
 * its process group (a shell's children, backends slow to notice their
 * postmaster is gone) is killed: the exit is seen with WNOWAIT, so the
 * unreaped child still holds its pid and the group id cannot have been
 * reused by then.
 */
bool
emb_wait(pid_t pid, int64_t deadline, int *status)
{
	siginfo_t info;

	for (;;) {
		memset(&info, 0, sizeof(info));
		if (waitid(
		        P_PID, (id_t) pid, &info, WEXITED | WNOHANG | WNOWAIT)
		    != 0) {
			if (errno == EINTR) {
				continue;
			}
			*status = 0;
			return (errno == ECHILD);
		}
		if (info.si_pid == pid) {
			break;
		}
		if (emb_now_ms() >= deadline) {
			return (false);
		}
		emb_sleep_ms(10);
	}
	(void) kill(-pid, SIGKILL);
	while (waitpid(pid, status, 0) < 0) {
		if (errno != EINTR) {
			*status = 0;
			break;
		}
	}
	return (true);
}

/* Kills a child that is still running, with its process group, and reaps
 * it. */
void
emb_kill(pid_t pid)
{
	int status;

	(void) kill(-pid, SIGKILL);
	(void) kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR) { }
}

void
emb_describe_status(int status, char *buf, size_t len)
{
	if (WIFEXITED(status)) {
		snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
	} else if (WIFSIGNALED(status)) {
		snprintf(buf, len, "killed by signal %d", WTERMSIG(status));
	} else {
		snprintf(buf, len, "status %d", status);
	}
}

/*
 * Writes msg into err, followed by the last lines of text that fit: the
 * end of a log says why a start failed.
 */
void
emb_err_tail(
    char *err, size_t err_len, const char *msg, const char *text, size_t len)
{
	size_t start;
	size_t room;
	int    n;
	int    lines = 0;

	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' ')) {
		len--;
	}
	if (len == 0) {
		emb_err(err, err_len, "%s", msg);
		return;
	}
	n = snprintf(err, err_len, "%s; the log ends:\n", msg);
	if (n < 0 || (size_t) n >= err_len) {
		return;
	}
	for (start = len; start > 0; start--) {
		if (text[start - 1] == '\n' && ++lines == EMB_TAIL_LINES) {
			break;
		}
	}
	room = err_len - (size_t) n - 1;
	if (len - start > room) {
		/* Keep the end, starting at a line if one starts in reach. */
		const char *nl;

		start = len - room;
		nl = memchr(text + start, '\n', len - start);
		if (nl != NULL) {
			start = (size_t) (nl - text) + 1;
		}
	}
	memcpy(err + n, text + start, len - start);
	err[(size_t) n + len - start] = '\0';
}

/* Like emb_err_tail, with the text read from file from offset on. */
void
emb_err_file_tail(
    char *err, size_t err_len, const char *msg, const char *path, off_t from)
{
	char    buf[8192];
	ssize_t n = 0;
	int     fd;
	off_t   size;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		size = lseek(fd, 0, SEEK_END);
		if (size - from > (off_t) sizeof(buf)) {
			from = size - (off_t) sizeof(buf);
		}
		if (from >= 0 && lseek(fd, from, SEEK_SET) == from) {
			n = read(fd, buf, sizeof(buf));
		}
		close(fd);
	}
	emb_err_tail(err, err_len, msg, buf, n > 0 ? (size_t) n : 0);
}

/*
 * Reads the child's output until it closes the pipe or deadline passes.
 * Returns false on timeout. Keeps only the end of very long output.
 */
bool
emb_read_output(int fd, int64_t deadline, char **buf, size_t *len)
{
	size_t cap = 0;
	char   chunk[4096];

	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int64_t       left = deadline - emb_now_ms();
		ssize_t       n;

		if (left <= 0) {
			return (false);
		}
		switch (poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int) left)) {
		case -1:
			if (errno == EINTR) {
				continue;
			}
			return (true);
		case 0:
			/* Timed out: the loop's head says so. */
			continue;
		default:
			break;
		}
		if ((n = read(fd, chunk, sizeof(chunk))) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				continue;
			}
			return (true);
		}
		if (n == 0) {
			return (true);
		}
		if (*len + (size_t) n > EMB_OUTPUT_MAX) {
			size_t keep = EMB_OUTPUT_MAX / 2;

			if (keep > *len) {
				keep = *len;
			}
			memmove(*buf, *buf + *len - keep, keep);
			*len = keep;
		}
		if (*len + (size_t) n > cap) {
			size_t ncap = (*len + (size_t) n) * 2;
			char  *nb = realloc(*buf, ncap);

			if (nb == NULL) {
				continue;
			}
			*buf = nb;
			cap = ncap;
		}
		memcpy(*buf + *len, chunk, (size_t) n);
		*len += (size_t) n;
	}
}
