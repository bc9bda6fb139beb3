/*
 * The embedded PostgreSQL: finds the server binaries, initializes a private
 * cluster with initdb when the data directory holds none, and runs the
 * postmaster as our own child process, listening only on a unix socket in a
 * private directory. We fork and exec the binaries directly (no shell, no
 * pg_ctl) so that we know the postmaster's pid, can tell at once when it
 * dies during start, and stop it with the signal we choose. PostgreSQL
 * refuses to run as root, so when we are root the cluster belongs to, and
 * every child runs as, an unprivileged user.
 */

/* getgrouplist, setgroups and NSIG are not in POSIX but in glibc's and the
 * BSDs' default namespace. */
#define _DEFAULT_SOURCE

#include "store/embedded.h"

#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#define EMB_PORT              "5432"
#define EMB_SOCK_FILE         "/.s.PGSQL." EMB_PORT
#define EMB_SUPERUSER         "opsbus"
#define EMB_DBNAME            "opsbus"
#define EMB_LOG_NAME          "postgresql.log"
#define EMB_RUN_NAME          "run"
#define EMB_DEFAULT_TIMEOUT_S 60
/* After a fast shutdown timed out, how long an immediate one may take. */
#define EMB_QUIT_GRACE_MS 5000
/* initdb writes a few kilobytes; more than this is kept only at its end. */
#define EMB_OUTPUT_MAX (256 * 1024)
#define EMB_TAIL_LINES 12
/* Closing every possible fd in the child costs one syscall each. */
#define EMB_CLOSE_FD_MAX 65536

#define EMB_BIN_MISSING                                                     \
	"PostgreSQL server binaries not found (install the Debian package " \
	"postgresql, or set OPSBUS_PG_BINDIR)"

struct pg_embedded {
	char  *data_dir; /* absolute, symlinks resolved */
	char  *bin_dir;
	char  *log_file;
	char  *sock_dir;
	bool   sock_tmp; /* made by mkdtemp: removed by free */
	char  *conninfo; /* dbname=opsbus, handed to callers */
	char  *adm_info; /* dbname=postgres, to ping and create opsbus */
	int    timeout_s;
	bool   nosync;
	bool   has_cluster; /* PG_VERSION was there at start */
	bool   drop;        /* we are root: children run as user */
	char  *user;
	uid_t  uid;
	gid_t  gid;
	gid_t *groups;
	int    ngroups;
	pid_t  pid; /* the postmaster; 0 when stopped */
};

/* What a child failed to do before exec, sent up the error pipe. */
enum emb_stage { EMB_STAGE_PRIVS = 1, EMB_STAGE_EXEC };

static void emb_err(char *err, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static char *emb_printf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void
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

static char *
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

static int64_t
emb_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static void
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
static int
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

static bool
emb_bin_dir_ok(const char *dir)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/initdb", dir)
	        >= (int) sizeof(path)
	    || access(path, X_OK) != 0) {
		return (false);
	}
	if (snprintf(path, sizeof(path), "%s/postgres", dir)
	    >= (int) sizeof(path)) {
		return (false);
	}
	return (access(path, X_OK) == 0);
}

/* The newest /usr/lib/postgresql/N/bin (Debian's layout) holding both. */
static char *
emb_newest_debian_bin(void)
{
	const char    *root = "/usr/lib/postgresql";
	DIR           *d;
	struct dirent *de;
	double         best_ver = -1;
	char           best[PATH_MAX] = "";
	char           path[PATH_MAX];

	if ((d = opendir(root)) == NULL) {
		return (NULL);
	}
	while ((de = readdir(d)) != NULL) {
		char  *end;
		double ver = strtod(de->d_name, &end);

		if (end == de->d_name || *end != '\0' || ver <= best_ver) {
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s/bin", root, de->d_name);
		if (emb_bin_dir_ok(path)) {
			best_ver = ver;
			snprintf(best, sizeof(best), "%s", path);
		}
	}
	closedir(d);
	return (best[0] != '\0' ? strdup(best) : NULL);
}

static char *
emb_pg_config_bindir(void)
{
	char  line[PATH_MAX];
	FILE *f;
	bool  ok;

	if ((f = popen("pg_config --bindir 2>/dev/null", "r")) == NULL) {
		return (NULL);
	}
	ok = fgets(line, sizeof(line), f) != NULL;
	pclose(f);
	if (!ok) {
		return (NULL);
	}
	line[strcspn(line, "\r\n")] = '\0';
	return (line[0] != '\0' && emb_bin_dir_ok(line) ? strdup(line) : NULL);
}

/*
 * A directory named by the caller or by $OPSBUS_PG_BINDIR must hold the
 * binaries: falling back to another version behind the user's back would
 * hide the mistake. pg_config, which comes with libpq-dev, may point at a
 * version whose server is not installed, so it is only a hint.
 */
static char *
emb_find_bin_dir(const char *given)
{
	const char *env = getenv("OPSBUS_PG_BINDIR");
	char       *dir;

	if (given == NULL && env != NULL && env[0] != '\0') {
		given = env;
	}
	if (given != NULL) {
		return (emb_bin_dir_ok(given) ? strdup(given) : NULL);
	}
	if ((dir = emb_pg_config_bindir()) != NULL) {
		return (dir);
	}
	return (emb_newest_debian_bin());
}

/* Looks up who children run as when we are root, with their groups. */
static int
emb_resolve_user(
    struct pg_embedded *pg, const char *run_as, char *err, size_t err_len)
{
	const char    *env = getenv("OPSBUS_PG_USER");
	const char    *names[2];
	int            nnames = 0;
	struct passwd  pw;
	struct passwd *res = NULL;
	char           buf[16384];

	if (geteuid() != 0) {
		return (0);
	}
	/* A user the caller named must exist; the defaults are tried. */
	if (run_as != NULL) {
		names[nnames++] = run_as;
	} else if (env != NULL && env[0] != '\0') {
		names[nnames++] = env;
	} else {
		names[nnames++] = "postgres";
		names[nnames++] = "nobody";
	}
	for (int i = 0; i < nnames && res == NULL; i++) {
		if (getpwnam_r(names[i], &pw, buf, sizeof(buf), &res) != 0) {
			res = NULL;
		}
	}
	if (res == NULL) {
		emb_err(err, err_len,
		    "PostgreSQL cannot run as root and user %s does not "
		    "exist (create it, or set OPSBUS_PG_USER)",
		    names[0]);
		return (-1);
	}
	if (pw.pw_uid == 0) {
		emb_err(err, err_len,
		    "PostgreSQL cannot run as root, and user %s is root "
		    "(set OPSBUS_PG_USER to an unprivileged user)",
		    pw.pw_name);
		return (-1);
	}
	pg->drop = true;
	pg->uid = pw.pw_uid;
	pg->gid = pw.pw_gid;
	if ((pg->user = strdup(pw.pw_name)) == NULL) {
		goto nomem;
	}
	/* The group list is read here, not in the child: NSS lookups take
	 * locks that another thread may hold at fork. */
	pg->ngroups = 16;
	for (;;) {
		int    n = pg->ngroups;
		gid_t *g = realloc(pg->groups, sizeof(gid_t) * (size_t) n);

		if (g == NULL) {
			goto nomem;
		}
		pg->groups = g;
		if (getgrouplist(pg->user, pg->gid, pg->groups, &n) >= 0) {
			pg->ngroups = n;
			break;
		}
		pg->ngroups = n > pg->ngroups ? n : pg->ngroups * 2;
	}
	log_info("PostgreSQL runs as an unprivileged user", "user=%s uid=%ld",
	    pg->user, (long) pg->uid);
	return (0);
nomem:
	emb_err(err, err_len, "out of memory");
	return (-1);
}

/* Runs in the child after fork: async-signal-safe calls only. */
static int
emb_drop_privileges(const struct pg_embedded *pg)
{
	if (!pg->drop) {
		return (0);
	}
	if (setgroups((size_t) pg->ngroups, pg->groups) != 0
	    || setgid(pg->gid) != 0 || setuid(pg->uid) != 0) {
		return (-1);
	}
	return (0);
}

/* mkdir -p: parents 0755 so that the server user can pass through them. */
static int
emb_mkdir_p(const char *path, mode_t mode)
{
	char        buf[PATH_MAX];
	struct stat st;
	size_t      len = strlen(path);

	if (len == 0 || len >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p != '\0'; p++) {
		if (*p != '/') {
			continue;
		}
		*p = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
			return (-1);
		}
		*p = '/';
	}
	if (mkdir(buf, mode) != 0) {
		if (errno != EEXIST) {
			return (-1);
		}
		if (stat(buf, &st) != 0) {
			return (-1);
		}
		if (!S_ISDIR(st.st_mode)) {
			errno = ENOTDIR;
			return (-1);
		}
	}
	return (0);
}

/*
 * chown -R without following symlinks, touching only what differs. It
 * takes over dirfd (closed on return).
 */
static int
emb_chown_tree(int dirfd, uid_t uid, gid_t gid)
{
	DIR           *d;
	struct dirent *de;
	struct stat    st;
	int            rv = 0;

	if ((d = fdopendir(dirfd)) == NULL) {
		close(dirfd);
		return (-1);
	}
	if (fstat(dirfd, &st) != 0
	    || ((st.st_uid != uid || st.st_gid != gid)
	        && fchown(dirfd, uid, gid) != 0)) {
		closedir(d);
		return (-1);
	}
	while (rv == 0 && (de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		int         fd;

		if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0) {
			continue;
		}
		if (fstatat(dirfd, n, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			/* Gone since readdir: nothing to hand over. */
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			fd = openat(dirfd, n,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			rv = fd < 0 ? -1 : emb_chown_tree(fd, uid, gid);
		} else if (st.st_uid != uid || st.st_gid != gid) {
			rv = fchownat(dirfd, n, uid, gid, AT_SYMLINK_NOFOLLOW);
		}
	}
	closedir(d);
	return (rv);
}

/* rm -rf of dirfd's entry name, without following symlinks. */
static int
emb_remove_at(int dirfd, const char *name)
{
	DIR           *d;
	struct dirent *de;
	int            fd;

	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT) {
		return (0);
	}
	if (errno != EISDIR && errno != EPERM) {
		return (-1);
	}
	fd = openat(
	    dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0) {
			close(fd);
		}
		return (-1);
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0
		    && strcmp(de->d_name, "..") != 0) {
			(void) emb_remove_at(fd, de->d_name);
		}
	}
	closedir(d);
	return (unlinkat(dirfd, name, AT_REMOVEDIR));
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
static int
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
static bool
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
static void
emb_kill(pid_t pid)
{
	int status;

	(void) kill(-pid, SIGKILL);
	(void) kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR) { }
}

static void
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
static void
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
static void
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

static int
emb_open_log(const struct pg_embedded *pg)
{
	return (emb_fd_high(open(
	    pg->log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600)));
}

/*
 * Reads the child's output until it closes the pipe or deadline passes.
 * Returns false on timeout. Keeps only the end of very long output.
 */
static bool
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

/*
 * Whether dir holds nothing but what we put there ourselves: the socket
 * directory and, when it is the default, the log. A directory without a
 * cluster that holds anything else was named by mistake ($HOME, /tmp), and
 * we must not chmod it 0700 and hand it over to the server user.
 */
static bool
emb_holds_only_ours(const char *dir, bool log_ours)
{
	DIR           *d;
	struct dirent *de;
	bool           only_ours = true;

	if ((d = opendir(dir)) == NULL) {
		return (false);
	}
	while (only_ours && (de = readdir(d)) != NULL) {
		const char *n = de->d_name;

		only_ours = strcmp(n, ".") == 0 || strcmp(n, "..") == 0
		    || strcmp(n, EMB_RUN_NAME) == 0
		    || (log_ours && strcmp(n, EMB_LOG_NAME) == 0);
	}
	closedir(d);
	return (only_ours);
}

/*
 * initdb refuses a directory that is not empty, so nothing of ours may be
 * in the data directory while it runs: a socket directory or log left by
 * an earlier attempt whose initdb failed is removed first (the directory
 * was checked to hold nothing else), and initdb's own output is collected
 * through a pipe and written to the log after.
 */
static void
emb_clear_own_leftovers(const struct pg_embedded *pg)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", pg->data_dir, EMB_RUN_NAME);
	(void) emb_remove_at(AT_FDCWD, path);
	snprintf(path, sizeof(path), "%s/%s", pg->data_dir, EMB_LOG_NAME);
	if (strcmp(path, pg->log_file) == 0) {
		(void) unlink(path);
	}
}

static int
emb_initdb(struct pg_embedded *pg, char *err, size_t err_len)
{
	char        initdb[PATH_MAX];
	const char *argv[16];
	int         argc = 0;
	int         p[2];
	char       *out = NULL;
	size_t      len = 0;
	pid_t       pid;
	int         status = 0;
	int64_t     t0 = emb_now_ms();
	int64_t     deadline = t0 + (int64_t) pg->timeout_s * 1000;
	bool        done;
	char        what[64];
	char        q[512];
	char        ver[PATH_MAX + 16];
	struct stat st;
	int         fd;

	emb_clear_own_leftovers(pg);
	snprintf(initdb, sizeof(initdb), "%s/initdb", pg->bin_dir);
	argv[argc++] = initdb;
	argv[argc++] = "-D";
	argv[argc++] = pg->data_dir;
	argv[argc++] = "-U";
	argv[argc++] = EMB_SUPERUSER;
	argv[argc++] = "-E";
	argv[argc++] = "UTF8";
	argv[argc++] = "--locale=C";
	/* The socket directory is 0700, so trust on it admits only its
	 * owner (and root); TCP is not listened on, and refused if it were. */
	argv[argc++] = "--auth-local=trust";
	argv[argc++] = "--auth-host=reject";
	if (pg->nosync) {
		argv[argc++] = "--no-sync";
	}
	argv[argc] = NULL;

	log_info("initializing PostgreSQL cluster", "data_dir=%s",
	    log_quote(pg->data_dir, q, sizeof(q)));
	if (pipe(p) != 0) {
		emb_err(
		    err, err_len, "could not run initdb: %s", strerror(errno));
		return (-1);
	}
	p[0] = emb_fd_high(p[0]);
	p[1] = emb_fd_high(p[1]);
	if (p[0] < 0 || p[1] < 0) {
		emb_err(
		    err, err_len, "could not run initdb: %s", strerror(errno));
		if (p[0] >= 0) {
			close(p[0]);
		}
		if (p[1] >= 0) {
			close(p[1]);
		}
		return (-1);
	}
	if (emb_spawn(pg, argv, p[1], &pid, err, err_len) != 0) {
		close(p[0]);
		close(p[1]);
		return (-1);
	}
	close(p[1]);
	done = emb_read_output(p[0], deadline, &out, &len)
	    && emb_wait(pid, deadline, &status);
	close(p[0]);
	if (!done) {
		emb_kill(pid);
	}
	if ((fd = emb_open_log(pg)) >= 0) {
		if (len > 0 && write(fd, out, len) < 0) {
			/* The output still reaches err below on failure. */
		}
		close(fd);
	}
	if (!done || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char msg[PATH_MAX + 128];

		if (done) {
			emb_describe_status(status, what, sizeof(what));
		} else {
			snprintf(what, sizeof(what), "no result within %d s",
			    pg->timeout_s);
		}
		snprintf(msg, sizeof(msg), "initdb failed (%s) for %s", what,
		    pg->data_dir);
		emb_err_tail(err, err_len, msg, out != NULL ? out : "", len);
		free(out);
		return (-1);
	}
	free(out);
	/* An initdb that says yes but made nothing is not PostgreSQL's. */
	snprintf(ver, sizeof(ver), "%s/PG_VERSION", pg->data_dir);
	if (stat(ver, &st) != 0) {
		emb_err(err, err_len, "%s made no cluster in %s", initdb,
		    pg->data_dir);
		return (-1);
	}
	log_info("PostgreSQL cluster initialized", "data_dir=%s ms=%lld",
	    log_quote(pg->data_dir, q, sizeof(q)),
	    (long long) (emb_now_ms() - t0));
	return (0);
}

/*
 * When we are root the server user must reach the data directory through
 * every parent; a cluster under /root or a private mkdtemp directory would
 * fail deep inside initdb with a confusing message. A child that has
 * switched user tries each prefix and exits with the index of the first
 * it cannot search.
 */
static int
emb_check_reachable(struct pg_embedded *pg, char *err, size_t err_len)
{
	char  *path = pg->data_dir;
	pid_t  pid;
	int    status;
	int    bad;
	size_t cut;

	if (!pg->drop) {
		return (0);
	}
	if ((pid = fork()) < 0) {
		emb_err(err, err_len, "could not fork: %s", strerror(errno));
		return (-1);
	}
	if (pid == 0) {
		/* Only this child's copy of path is written to. */
		int i = 1;

		if (emb_drop_privileges(pg) != 0) {
			_exit(255);
		}
		for (char *p = path + 1; *p != '\0'; p++) {
			if (*p != '/') {
				continue;
			}
			*p = '\0';
			if (access(path, X_OK) != 0) {
				_exit(i > 250 ? 250 : i);
			}
			*p = '/';
			i++;
		}
		_exit(access(path, R_OK | W_OK | X_OK) == 0 ? 0 : 251);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			return (0);
		}
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) == 0) {
		return (0);
	}
	bad = WEXITSTATUS(status);
	if (bad == 255) {
		emb_err(err, err_len, "could not switch to user %s", pg->user);
		return (-1);
	}
	cut = strlen(path);
	if (bad <= 250) {
		/* Find the bad-th '/' after the leading one. */
		int i = 0;

		for (cut = 1; path[cut] != '\0'; cut++) {
			if (path[cut] == '/' && ++i == bad) {
				break;
			}
		}
	}
	emb_err(err, err_len,
	    "PostgreSQL runs as user %s, who cannot reach %s: %.*s is not "
	    "accessible to it; choose a data directory outside private "
	    "directories such as /root (for example /var/lib/opsbus)",
	    pg->user, path, (int) cut, path);
	return (-1);
}

/* Makes the socket directory if it is missing (tmp cleaners remove
 * directories under /tmp), private to the server user. */
static int
emb_make_sock_dir(struct pg_embedded *pg, char *err, size_t err_len)
{
	char        tmpl[] = "/tmp/opsbus-pg-XXXXXX";
	uid_t       owner = pg->drop ? pg->uid : geteuid();
	struct stat st;
	int         fd = -1;

	if (pg->sock_dir == NULL) {
		struct sockaddr_un sa;
		char *run = emb_printf("%s/%s", pg->data_dir, EMB_RUN_NAME);

		if (run == NULL) {
			emb_err(err, err_len, "out of memory");
			return (-1);
		}
		if (strlen(run) + strlen(EMB_SOCK_FILE)
		    < sizeof(sa.sun_path)) {
			pg->sock_dir = run;
		} else {
			free(run);
			if (mkdtemp(tmpl) == NULL) {
				emb_err(err, err_len,
				    "could not make a socket directory under "
				    "/tmp: %s",
				    strerror(errno));
				return (-1);
			}
			pg->sock_tmp = true;
			if ((pg->sock_dir = strdup(tmpl)) == NULL) {
				rmdir(tmpl);
				emb_err(err, err_len, "out of memory");
				return (-1);
			}
		}
	}
	/* Trust authentication makes this directory's mode the only lock on
	 * the cluster. A directory of that name under /tmp may have been
	 * planted by someone else after a tmp cleaner removed ours: open it
	 * without following symlinks, and refuse one owned by another user. */
	if (mkdir(pg->sock_dir, 0700) != 0 && errno != EEXIST) {
		goto fail;
	}
	fd = open(
	    pg->sock_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		goto fail;
	}
	if (st.st_uid != geteuid() && st.st_uid != owner) {
		close(fd);
		emb_err(err, err_len,
		    "socket directory %s belongs to uid %ld, not to us",
		    pg->sock_dir, (long) st.st_uid);
		return (-1);
	}
	if (fchmod(fd, 0700) != 0
	    || (pg->drop && fchown(fd, pg->uid, pg->gid) != 0)) {
		goto fail;
	}
	close(fd);
	return (0);
fail:
	emb_err(err, err_len, "could not prepare socket directory %s: %s",
	    pg->sock_dir, strerror(errno));
	if (fd >= 0) {
		close(fd);
	}
	return (-1);
}

/* A conninfo value, quoted when it needs to be. */
static void
emb_conninfo_value(const char *s, char *buf, size_t len)
{
	size_t o = 0;

	if (s[0] != '\0' && strpbrk(s, " \t\n'\\") == NULL) {
		snprintf(buf, len, "%s", s);
		return;
	}
	buf[o++] = '\'';
	for (; *s != '\0' && o + 3 < len; s++) {
		if (*s == '\'' || *s == '\\') {
			buf[o++] = '\\';
		}
		buf[o++] = *s;
	}
	buf[o++] = '\'';
	buf[o] = '\0';
}

static int
emb_make_conninfo(struct pg_embedded *pg)
{
	char host[2 * PATH_MAX + 3];

	emb_conninfo_value(pg->sock_dir, host, sizeof(host));
	pg->conninfo = emb_printf("host=%s port=" EMB_PORT
	                          " user=" EMB_SUPERUSER " dbname=" EMB_DBNAME,
	    host);
	pg->adm_info = emb_printf("host=%s port=" EMB_PORT
	                          " user=" EMB_SUPERUSER " dbname=postgres",
	    host);
	return (pg->conninfo != NULL && pg->adm_info != NULL ? 0 : -1);
}

/*
 * Whether pid is a postmaster running in our data directory: alive, named
 * postgres, and with its working directory there (the postmaster chdirs
 * to its data directory). When we cannot tell, we say yes, and postgres's
 * own checks decide.
 */
static bool
emb_is_our_postmaster(const struct pg_embedded *pg, long pid)
{
	char    path[64];
	char    buf[PATH_MAX];
	ssize_t n;
	int     fd;

	if (kill((pid_t) pid, 0) != 0 && errno == ESRCH) {
		return (false);
	}
	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		/* No procfs at all: cannot tell. */
		return (access("/proc/self/comm", F_OK) != 0);
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		return (true);
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (strcmp(buf, "postgres") != 0 && strcmp(buf, "postmaster") != 0) {
		return (false);
	}
	snprintf(path, sizeof(path), "/proc/%ld/cwd", pid);
	if ((n = readlink(path, buf, sizeof(buf) - 1)) < 0) {
		return (errno != ENOENT);
	}
	buf[n] = '\0';
	return (strcmp(buf, pg->data_dir) == 0);
}

/*
 * postgres treats a lock file as stale only if its pid is dead. After a
 * killed run in a container, pids are reused at once, and the pid in the
 * file may well belong to some other live process; postgres would then
 * refuse to start. We remove such a file, and refuse only when the
 * postmaster named in it is really running on our data directory.
 */
static int
emb_check_lock(
    struct pg_embedded *pg, const char *lock, char *err, size_t err_len)
{
	char    buf[256];
	char    q[512];
	ssize_t n;
	long    pid;
	int     fd;

	if ((fd = open(lock, O_RDONLY | O_CLOEXEC)) < 0) {
		return (0);
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	/* A single-user backend writes its pid negated. */
	pid = labs(strtol(buf, NULL, 10));
	if (pid > 0 && emb_is_our_postmaster(pg, pid)) {
		emb_err(err, err_len,
		    "PostgreSQL is already running on %s (pid %ld), perhaps "
		    "left by an opsbusd that was killed; stop it with "
		    "kill -INT %ld",
		    pg->data_dir, pid, pid);
		return (-1);
	}
	log_warn("removing stale PostgreSQL lock file", "path=%s pid=%ld",
	    log_quote(lock, q, sizeof(q)), pid);
	if (unlink(lock) != 0 && errno != ENOENT) {
		emb_err(err, err_len,
		    "could not remove stale lock file %s: %s", lock,
		    strerror(errno));
		return (-1);
	}
	return (0);
}

/* Stops a postmaster that failed to come up, without the niceties. */
static void
emb_abort_start(struct pg_embedded *pg)
{
	int status;

	/* The whole group: SIGQUIT is what the postmaster would send its
	 * children in an immediate shutdown anyway. */
	(void) kill(-pg->pid, SIGQUIT);
	if (!emb_wait(pg->pid, emb_now_ms() + EMB_QUIT_GRACE_MS, &status)) {
		emb_kill(pg->pid);
	}
	pg->pid = 0;
}

static int
emb_start_postmaster(struct pg_embedded *pg, char *err, size_t err_len)
{
	char        postgres[PATH_MAX];
	char        lock[PATH_MAX + 32];
	char        sockopt[2 * PATH_MAX + 32];
	char        msg[PATH_MAX + 128];
	char        q[512];
	const char *argv[24];
	int         argc = 0;
	size_t      o;
	int         fd;
	off_t       log_start;
	int64_t     t0 = emb_now_ms();
	int64_t     deadline = t0 + (int64_t) pg->timeout_s * 1000;
	int         status;

	snprintf(lock, sizeof(lock), "%s/postmaster.pid", pg->data_dir);
	if (emb_check_lock(pg, lock, err, err_len) != 0) {
		return (-1);
	}
	snprintf(lock, sizeof(lock), "%s%s.lock", pg->sock_dir, EMB_SOCK_FILE);
	if (emb_check_lock(pg, lock, err, err_len) != 0) {
		return (-1);
	}

	/* unix_socket_directories is a list: quote the path, doubling any
	 * quote in it, so commas and spaces stay part of it. */
	o = (size_t) snprintf(
	    sockopt, sizeof(sockopt), "unix_socket_directories=\"");
	for (const char *s = pg->sock_dir; *s != '\0'; s++) {
		if (*s == '"') {
			sockopt[o++] = '"';
		}
		sockopt[o++] = *s;
	}
	sockopt[o++] = '"';
	sockopt[o] = '\0';

	snprintf(postgres, sizeof(postgres), "%s/postgres", pg->bin_dir);
	argv[argc++] = postgres;
	argv[argc++] = "-D";
	argv[argc++] = pg->data_dir;
	argv[argc++] = "-c";
	argv[argc++] = "listen_addresses=";
	argv[argc++] = "-c";
	argv[argc++] = sockopt;
	argv[argc++] = "-c";
	argv[argc++] = "unix_socket_permissions=0700";
	argv[argc++] = "-c";
	argv[argc++] = "port=" EMB_PORT;
	argv[argc++] = "-c";
	argv[argc++] = pg->nosync ? "fsync=off" : "fsync=on";
	argv[argc++] = "-c";
	argv[argc++] = "max_connections=200";
	argv[argc++] = "-c";
	argv[argc++] = "shared_buffers=128MB";
	argv[argc] = NULL;

	if ((fd = emb_open_log(pg)) < 0) {
		emb_err(err, err_len, "could not open log file %s: %s",
		    pg->log_file, strerror(errno));
		return (-1);
	}
	log_start = lseek(fd, 0, SEEK_END);
	if (emb_spawn(pg, argv, fd, &pg->pid, err, err_len) != 0) {
		close(fd);
		return (-1);
	}
	close(fd);

	for (;;) {
		PGPing ping = PQping(pg->adm_info);

		if (ping == PQPING_OK) {
			break;
		}
		if (ping == PQPING_NO_ATTEMPT) {
			emb_abort_start(pg);
			emb_err(err, err_len, "bad connection string: %s",
			    pg->adm_info);
			return (-1);
		}
		if (emb_wait(pg->pid, 0, &status)) {
			char what[64];

			pg->pid = 0;
			emb_describe_status(status, what, sizeof(what));
			snprintf(msg, sizeof(msg),
			    "PostgreSQL exited during start (%s); see %s",
			    what, pg->log_file);
			emb_err_file_tail(
			    err, err_len, msg, pg->log_file, log_start);
			return (-1);
		}
		if (emb_now_ms() >= deadline) {
			emb_abort_start(pg);
			snprintf(msg, sizeof(msg),
			    "PostgreSQL did not accept connections within %d "
			    "s; see %s",
			    pg->timeout_s, pg->log_file);
			emb_err_file_tail(
			    err, err_len, msg, pg->log_file, log_start);
			return (-1);
		}
		emb_sleep_ms(20);
	}
	log_info("PostgreSQL started", "pid=%ld socket_dir=%s ms=%lld",
	    (long) pg->pid, log_quote(pg->sock_dir, q, sizeof(q)),
	    (long long) (emb_now_ms() - t0));
	return (0);
}

/* Creates the opsbus database unless it exists. */
static int
emb_create_db(struct pg_embedded *pg, char *err, size_t err_len)
{
	const char *params[1] = {EMB_DBNAME};
	PGconn     *conn = PQconnectdb(pg->adm_info);
	PGresult   *res = NULL;
	int         rv = -1;

	if (PQstatus(conn) != CONNECTION_OK) {
		emb_err(err, err_len, "could not connect to PostgreSQL: %s",
		    PQerrorMessage(conn));
		goto out;
	}
	res = PQexecParams(conn,
	    "SELECT 1 FROM pg_database WHERE datname = $1", 1, NULL, params,
	    NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		emb_err(err, err_len, "could not look up database %s: %s",
		    EMB_DBNAME, PQresultErrorMessage(res));
		goto out;
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		/* A constant name: CREATE DATABASE takes no parameters. */
		res = PQexec(conn, "CREATE DATABASE " EMB_DBNAME);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			const char *st
			    = PQresultErrorField(res, PG_DIAG_SQLSTATE);

			/* Another process may have just made it. */
			if (st == NULL || strcmp(st, "42P04") != 0) {
				emb_err(err, err_len,
				    "could not create database %s: %s",
				    EMB_DBNAME, PQresultErrorMessage(res));
				goto out;
			}
		}
	}
	rv = 0;
out:
	PQclear(res);
	PQfinish(conn);
	return (rv);
}

static void
emb_free_fields(struct pg_embedded *pg)
{
	if (pg->sock_tmp && pg->sock_dir != NULL) {
		(void) emb_remove_at(AT_FDCWD, pg->sock_dir);
	}
	free(pg->data_dir);
	free(pg->bin_dir);
	free(pg->log_file);
	free(pg->sock_dir);
	free(pg->conninfo);
	free(pg->adm_info);
	free(pg->user);
	free(pg->groups);
	free(pg);
}

/* Makes the data directory, owned by the server user, private to it
 * (postgres refuses a group- or world-readable one), after checking that
 * it is a cluster or meant to become one. */
static int
emb_prepare_data_dir(struct pg_embedded *pg, const char *given,
    bool log_default, char *err, size_t err_len)
{
	char        path[PATH_MAX];
	char        ver[PATH_MAX + 16];
	struct stat st;
	int         fd;

	if (emb_mkdir_p(given, 0700) != 0 || realpath(given, path) == NULL) {
		emb_err(err, err_len, "could not create data directory %s: %s",
		    given, strerror(errno));
		return (-1);
	}
	if ((pg->data_dir = strdup(path)) == NULL) {
		emb_err(err, err_len, "out of memory");
		return (-1);
	}
	snprintf(ver, sizeof(ver), "%s/PG_VERSION", path);
	pg->has_cluster = stat(ver, &st) == 0;
	if (!pg->has_cluster && !emb_holds_only_ours(path, log_default)) {
		emb_err(err, err_len,
		    "%s holds files but no PostgreSQL cluster; refusing to "
		    "take it over (give a new or empty directory)",
		    path);
		return (-1);
	}
	if (chmod(path, 0700) != 0) {
		emb_err(err, err_len, "could not set mode 0700 on %s: %s",
		    path, strerror(errno));
		return (-1);
	}
	if (!pg->drop) {
		return (0);
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || emb_chown_tree(fd, pg->uid, pg->gid) != 0) {
		emb_err(err, err_len, "could not hand %s over to user %s: %s",
		    path, pg->user, strerror(errno));
		return (-1);
	}
	return (emb_check_reachable(pg, err, err_len));
}

static int
emb_prepare_log(
    struct pg_embedded *pg, const char *given, char *err, size_t err_len)
{
	char *slash;
	int   rv = 0;

	if (given == NULL) {
		pg->log_file = emb_printf("%s/%s", pg->data_dir, EMB_LOG_NAME);
		if (pg->log_file == NULL) {
			emb_err(err, err_len, "out of memory");
			return (-1);
		}
		return (0);
	}
	/* Children run with / as their directory, and we may be asked to
	 * restart from another: keep the path absolute. */
	if (given[0] == '/') {
		pg->log_file = strdup(given);
	} else {
		char cwd[PATH_MAX];

		pg->log_file = getcwd(cwd, sizeof(cwd)) == NULL
		    ? NULL
		    : emb_printf("%s/%s", cwd, given);
	}
	if (pg->log_file == NULL) {
		emb_err(err, err_len, "could not resolve log file %s", given);
		return (-1);
	}
	if ((slash = strrchr(pg->log_file, '/')) != NULL
	    && slash != pg->log_file) {
		*slash = '\0';
		rv = emb_mkdir_p(pg->log_file, 0755);
		*slash = '/';
		if (rv != 0) {
			emb_err(err, err_len,
			    "could not create the directory of %s: %s",
			    pg->log_file, strerror(errno));
			return (-1);
		}
	}
	return (0);
}

int
pg_embedded_start(const struct pg_embedded_config *cfg,
    struct pg_embedded **out, char *err, size_t err_len)
{
	struct pg_embedded *pg;
	const char         *nosync = getenv("OPSBUS_PG_NOSYNC");

	if (cfg == NULL || cfg->data_dir == NULL || cfg->data_dir[0] == '\0') {
		emb_err(err, err_len, "no data directory given");
		return (-1);
	}
	if ((pg = calloc(1, sizeof(*pg))) == NULL) {
		emb_err(err, err_len, "out of memory");
		return (-1);
	}
	pg->timeout_s
	    = cfg->timeout_s > 0 ? cfg->timeout_s : EMB_DEFAULT_TIMEOUT_S;
	pg->nosync = nosync != NULL && strcmp(nosync, "1") == 0;
	if ((pg->bin_dir = emb_find_bin_dir(cfg->bin_dir)) == NULL) {
		emb_err(err, err_len, "%s", EMB_BIN_MISSING);
		goto fail;
	}
	if (emb_resolve_user(pg, cfg->run_as, err, err_len) != 0
	    || emb_prepare_data_dir(
	           pg, cfg->data_dir, cfg->log_file == NULL, err, err_len)
	        != 0
	    || emb_prepare_log(pg, cfg->log_file, err, err_len) != 0) {
		goto fail;
	}
	if (!pg->has_cluster && emb_initdb(pg, err, err_len) != 0) {
		goto fail;
	}
	if (emb_make_sock_dir(pg, err, err_len) != 0) {
		goto fail;
	}
	if (emb_make_conninfo(pg) != 0) {
		emb_err(err, err_len, "out of memory");
		goto fail;
	}
	if (emb_start_postmaster(pg, err, err_len) != 0
	    || emb_create_db(pg, err, err_len) != 0) {
		goto fail;
	}
	*out = pg;
	return (0);
fail:
	(void) pg_embedded_stop(pg);
	emb_free_fields(pg);
	return (-1);
}

const char *
pg_embedded_conninfo(const struct pg_embedded *pg)
{
	return (pg->conninfo);
}

const char *
pg_embedded_socket_dir(const struct pg_embedded *pg)
{
	return (pg->sock_dir);
}

int
pg_embedded_stop(struct pg_embedded *pg)
{
	int64_t t0;
	int     status;
	char    q[512];
	char    w[80];

	if (pg == NULL || pg->pid == 0) {
		return (0);
	}
	t0 = emb_now_ms();
	/* SIGINT is PostgreSQL's fast shutdown: sessions are disconnected,
	 * a checkpoint is written, and the next start needs no recovery. */
	(void) kill(pg->pid, SIGINT);
	if (emb_wait(pg->pid, t0 + (int64_t) pg->timeout_s * 1000, &status)) {
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			log_info("PostgreSQL stopped",
			    "pid=%ld data_dir=%s ms=%lld", (long) pg->pid,
			    log_quote(pg->data_dir, q, sizeof(q)),
			    (long long) (emb_now_ms() - t0));
		} else {
			/* It died on its own earlier: say how, once. */
			char what[64];

			emb_describe_status(status, what, sizeof(what));
			log_warn("PostgreSQL had exited",
			    "pid=%ld status=%s "
			    "log_file=%s",
			    (long) pg->pid, log_quote(what, w, sizeof(w)),
			    log_quote(pg->log_file, q, sizeof(q)));
		}
		pg->pid = 0;
		return (0);
	}
	log_warn("PostgreSQL did not stop in time; shutting it down "
	         "immediately",
	    "pid=%ld timeout_s=%d", (long) pg->pid, pg->timeout_s);
	emb_abort_start(pg);
	return (-1);
}

int
pg_embedded_restart(struct pg_embedded *pg, char *err, size_t err_len)
{
	/* A running cluster is stopped first, as the name promises; if it
	 * had to be killed, stop has said so in the log. */
	(void) pg_embedded_stop(pg);
	if (emb_make_sock_dir(pg, err, err_len) != 0) {
		return (-1);
	}
	return (emb_start_postmaster(pg, err, err_len));
}

void
pg_embedded_free(struct pg_embedded *pg)
{
	if (pg == NULL) {
		return;
	}
	(void) pg_embedded_stop(pg);
	emb_free_fields(pg);
}
