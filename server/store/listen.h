/*
 * A PostgreSQL connection that only listens: LISTEN on one channel, then
 * wait for a notification, a wake-up file descriptor or a timeout. The
 * event publisher sleeps on it between rounds. libpq stays inside store/.
 *
 * Notifications sent while the connection was down, or before LISTEN took
 * effect, are lost: every (re)connect reports "notified" so that the
 * caller looks at the database once, and a caller keeps a slow poll of its
 * own in case a notification is lost some other way.
 */
#ifndef OPSBUS_STORE_LISTEN_H
#define OPSBUS_STORE_LISTEN_H

#include <stdbool.h>

#include "errors.h"

struct db_listener;

/*
 * Makes a listener for channel (a constant identifier from the code, never
 * client text) on conninfo (both copied). Does not connect yet: the first
 * db_listener_wait does. Returns 0 and writes *out, or OPSBUS_E_INTERNAL
 * when out of memory or channel is not a plain identifier.
 */
opsbus_err db_listener_open(
    const char *conninfo, const char *channel, struct db_listener **out);
/* Closes the connection and frees. NULL does nothing. */
void db_listener_free(struct db_listener *l);

/*
 * Connects and LISTENs if needed, then waits up to timeout_ms (0: do not
 * wait) for a notification on the channel or for wake_fd (ignored when
 * negative) to become readable; wake_fd is not read. Consumes every
 * notification pending. Notifications sent by the backend ignore_pid (the
 * caller's own connection, see db_backend_pid; 0: none) are consumed but
 * neither count nor end the wait. On return writes *notified: true when at
 * least one other notification arrived or the connection is new. Returns
 * 0, or
 * OPSBUS_E_DATABASE_UNAVAILABLE when PostgreSQL cannot be reached (the
 * call then returns at once; the caller waits before trying again).
 */
opsbus_err db_listener_wait(struct db_listener *l, int timeout_ms, int wake_fd,
    int ignore_pid, bool *notified);

/* PostgreSQL's message for the last failure, or "". For logs only. */
const char *db_listener_errmsg(const struct db_listener *l);

#endif
