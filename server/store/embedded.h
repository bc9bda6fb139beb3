/*
 * The embedded PostgreSQL: a private cluster in a data directory of
 * opsbusd's, listening on a unix socket only, started with the server and
 * stopped with it. Used by opsbusd when no database URL is given, and by the
 * test harness to get a real, private PostgreSQL.
 *
 * PostgreSQL refuses to run as root: when the caller is root, the cluster
 * is initialized and run as an unprivileged user (cfg->run_as, else
 * $OPSBUS_PG_USER, else "postgres", else "nobody"), and the data directory
 * is handed to that user.
 */
#ifndef OPSBUS_STORE_EMBEDDED_H
#define OPSBUS_STORE_EMBEDDED_H

#include <stddef.h>

struct pg_embedded_config {
	/* Where the cluster lives; created (with parents) if missing. */
	const char *data_dir;
	/* PostgreSQL's bin directory; NULL: $OPSBUS_PG_BINDIR, then
	 * `pg_config --bindir`, then the newest /usr/lib/postgresql/N/bin. */
	const char *bin_dir;
	/* The user to run as when the caller is root; NULL: see above. */
	const char *run_as;
	/* The server's log file; NULL: <data_dir>/postgresql.log. */
	const char *log_file;
	/* Seconds to wait for start and stop; 0: 60. */
	int timeout_s;
};

struct pg_embedded;

/*
 * Initializes the cluster if data_dir holds none (initdb, UTF8, trust auth
 * on the local socket only), starts it, and waits until it accepts
 * connections. The socket goes in a private directory (<data_dir>/run, or
 * a short path under /tmp when that path is too long for a unix socket).
 * Returns 0 and writes *out; on failure returns -1 and writes a message a
 * person can act on into err (binaries missing: which package to install).
 */
int pg_embedded_start(const struct pg_embedded_config *cfg,
    struct pg_embedded **out, char *err, size_t err_len);

/* A libpq connection string for the running cluster (dbname postgres or
 * the database made by pg_embedded_start: "opsbus"). Owned by pg. */
const char *pg_embedded_conninfo(const struct pg_embedded *pg);

/* The directory holding the unix socket. Owned by pg. */
const char *pg_embedded_socket_dir(const struct pg_embedded *pg);

/*
 * Stops the cluster (fast shutdown: sessions are disconnected) and waits for
 * it to exit. Returns 0, or -1 if it did not stop in time (it is then
 * killed). pg stays valid: pg_embedded_restart starts it again.
 */
int pg_embedded_stop(struct pg_embedded *pg);

/* Starts a stopped cluster again, on the same socket. Returns 0 or -1. */
int pg_embedded_restart(struct pg_embedded *pg, char *err, size_t err_len);

/* Stops the cluster if running and frees pg. NULL does nothing. */
void pg_embedded_free(struct pg_embedded *pg);

#endif
