/*
 * What the files of the embedded PostgreSQL share (embedded.c: the
 * cluster's life and the public API; embedded_proc.c: child processes and
 * their output; embedded_files.c: binaries, the server user, directories):
 * the handle, the names of what we keep in the data directory, and the
 * helpers more than one of them calls. Not for other modules.
 */
#ifndef OPSBUS_STORE_EMBEDDED_INTERNAL_H
#define OPSBUS_STORE_EMBEDDED_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Ours in the data directory: the socket directory, and the default log. */
#define EMB_LOG_NAME "postgresql.log"
#define EMB_RUN_NAME "run"

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

/* embedded_proc.c */

/* snprintf into err; err NULL or len 0 does nothing. */
void emb_err(char *err, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A formatted string the caller frees, or NULL when out of memory. */
char *emb_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The monotonic clock in milliseconds. */
int64_t emb_now_ms(void);
/* Sleeps ms milliseconds, through signals. */
void emb_sleep_ms(int ms);
/* Moves fd to 3 or above, close-on-exec, closing the original. Returns the
 * new fd, or -1 (errno set); a negative fd is handed back unchanged. */
int emb_fd_high(int fd);
/*
 * Starts argv[0] as a child of pg's (as pg's user when we are root), with
 * stdout and stderr on out, which stays the caller's. Returns 0 and writes
 * *pidp once the exec has happened, or -1 with the reason in err.
 */
int emb_spawn(const struct pg_embedded *pg, const char *const *argv, int out,
    pid_t *pidp, char *err, size_t err_len);
/*
 * Waits for pid until deadline (monotonic ms; 0 only polls). Returns true
 * once it has exited and been reaped, its status in *status (0 when someone
 * else reaped it), and what is left of its process group killed.
 */
bool emb_wait(pid_t pid, int64_t deadline, int *status);
/* Kills a running child and its process group, and reaps it. */
void emb_kill(pid_t pid);
/* A wait status as words ("exit status 1", "killed by signal 9"). */
void emb_describe_status(int status, char *buf, size_t len);
/* Writes msg into err, followed by the last lines of text that fit. */
void emb_err_tail(
    char *err, size_t err_len, const char *msg, const char *text, size_t len);
/* Like emb_err_tail, with the text read from the file at path, from offset
 * from on; a file that cannot be read gives msg alone. */
void emb_err_file_tail(
    char *err, size_t err_len, const char *msg, const char *path, off_t from);
/*
 * Appends what comes from fd to *buf (the caller's, freed by it; *len
 * bytes in it) until the writer closes it. Returns false if deadline
 * passed first. Keeps only the end of very long output.
 */
bool emb_read_output(int fd, int64_t deadline, char **buf, size_t *len);

/* embedded_files.c */

/* The bin directory to use (the caller frees it; see embedded.h for the
 * order tried), or NULL when none holds initdb and postgres. */
char *emb_find_bin_dir(const char *given);
/* When we are root, fills pg's user, uid, gid and groups, and sets
 * pg->drop. Returns 0, or -1 with the reason in err. */
int emb_resolve_user(
    struct pg_embedded *pg, const char *run_as, char *err, size_t err_len);
/* Becomes pg's user if pg->drop; for a child after fork. Returns 0 or -1
 * (errno set). */
int emb_drop_privileges(const struct pg_embedded *pg);
/* mkdir -p, the last directory with mode. Returns 0 or -1 (errno set). */
int emb_mkdir_p(const char *path, mode_t mode);
/* chown -R of the directory dirfd, which it closes. Returns 0 or -1. */
int emb_chown_tree(int dirfd, uid_t uid, gid_t gid);
/* rm -rf of name in dirfd. Returns 0 (also when it was not there) or -1. */
int emb_remove_at(int dirfd, const char *name);
/* Whether dir holds only our socket directory and (when log_ours) our
 * log; false when it cannot be read. */
bool emb_holds_only_ours(const char *dir, bool log_ours);
/* Removes our socket directory and default log from pg's data directory. */
void emb_clear_own_leftovers(const struct pg_embedded *pg);

#endif
