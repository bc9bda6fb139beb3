/*
 * The embedded PostgreSQL's side of the file system and of users: finds
 * the server binaries, looks up the unprivileged user children run as when
 * we are root and switches a child to it, and makes, hands over and
 * removes directories. Also checks that a data directory without a
 * cluster holds nothing but what we put there, and removes what we put
 * there before initdb runs.
 */

/* getgrouplist and setgroups are not in POSIX but in glibc's and the
 * BSDs' default namespace. */
#define _DEFAULT_SOURCE

#include "store/embedded_internal.h"

#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

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
char *
emb_find_bin_dir(const char *given)
{
	const char *env = getenv("OPSBUS_PG_BINDIR");
	char       *dir;

	if (given == NULL && env != NULL && env[0] != '\0') {
		given = env;
	}
	/* Absolute: the children run from / (a relative path checked here
	 * would name another directory there). */
	if (given != NULL) {
		return (emb_bin_dir_ok(given) ? realpath(given, NULL) : NULL);
	}
	if ((dir = emb_pg_config_bindir()) != NULL) {
		return (dir);
	}
	return (emb_newest_debian_bin());
}

/* Looks up who children run as when we are root, with their groups. */
int
emb_resolve_user(
    struct pg_embedded *pg, const char *run_as, char *err, size_t err_len)
{
	const char    *env = getenv("OPSBUS_PG_USER");
	const char    *names[2];
	int            nnames = 0;
	struct passwd  pw;
	struct passwd *res = NULL;
	char           buf[16384];
	int            rv = 0;

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
		if ((rv = getpwnam_r(names[i], &pw, buf, sizeof(buf), &res))
		    != 0) {
			res = NULL;
		}
	}
	/* Not found is rv 0 with no entry; an error (the user database
	 * unreachable, an entry too long for buf) must not read as absent. */
	if (res == NULL && rv != 0) {
		emb_err(err, err_len,
		    "PostgreSQL cannot run as root and looking up user %s "
		    "failed: %s",
		    names[nnames - 1], strerror(rv));
		return (-1);
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
int
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
int
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
int
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
int
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

/*
 * Whether dir holds nothing but what we put there ourselves: the socket
 * directory and, when it is the default, the log. A directory without a
 * cluster that holds anything else was named by mistake ($HOME, /tmp), and
 * we must not chmod it 0700 and hand it over to the server user.
 */
bool
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
void
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
