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

/* realpath is XSI, not in the POSIX namespace we ask for; it is in
 * glibc's and the BSDs' default one. */
#define _DEFAULT_SOURCE

#include "store/embedded.h"
#include "store/embedded_internal.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#define EMB_PORT              "5432"
#define EMB_SOCK_FILE         "/.s.PGSQL." EMB_PORT
#define EMB_SUPERUSER         "opsbus"
#define EMB_DBNAME            "opsbus"
#define EMB_DEFAULT_TIMEOUT_S 60
/* After a fast shutdown timed out, how long an immediate one may take. */
#define EMB_QUIT_GRACE_MS 5000

#define EMB_BIN_MISSING                                                     \
	"PostgreSQL server binaries not found (install the Debian package " \
	"postgresql, or set OPSBUS_PG_BINDIR)"

static int
emb_open_log(const struct pg_embedded *pg)
{
	return (emb_fd_high(open(
	    pg->log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600)));
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
