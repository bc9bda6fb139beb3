/*
 * LISTEN on a connection of its own and wait for notifications with
 * poll(2), next to a wake-up descriptor so that the waiter can be stopped
 * at once. The connection is made again whenever it is lost.
 */
#include "store/listen.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

struct db_listener {
	PGconn *conn;
	char   *conninfo;
	char    channel[64];
	char    errmsg[256];
};

static void
listener_error(struct db_listener *l, const char *msg)
{
	snprintf(l->errmsg, sizeof(l->errmsg), "%s", msg);
	for (char *p = l->errmsg; *p != '\0'; p++) {
		if (*p == '\n') {
			*p = ' ';
		}
	}
}

static void
listener_drop(struct db_listener *l)
{
	if (l->conn != NULL) {
		PQfinish(l->conn);
		l->conn = NULL;
	}
}

opsbus_err
db_listener_open(
    const char *conninfo, const char *channel, struct db_listener **out)
{
	struct db_listener *l;
	size_t              n = strlen(channel);

	/* The channel goes into SQL text: a plain lower-case identifier. */
	if (n == 0 || n >= sizeof(l->channel)) {
		return (OPSBUS_E_INTERNAL);
	}
	for (size_t i = 0; i < n; i++) {
		if (!((channel[i] >= 'a' && channel[i] <= 'z')
		        || channel[i] == '_')) {
			return (OPSBUS_E_INTERNAL);
		}
	}
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	if ((l->conninfo = strdup(conninfo)) == NULL) {
		free(l);
		return (OPSBUS_E_INTERNAL);
	}
	memcpy(l->channel, channel, n + 1);
	*out = l;
	return (OPSBUS_E_OK);
}

void
db_listener_free(struct db_listener *l)
{
	if (l == NULL) {
		return;
	}
	listener_drop(l);
	free(l->conninfo);
	free(l);
}

/* Connects and LISTENs when there is no working connection. */
static opsbus_err
listener_connect(struct db_listener *l, bool *fresh)
{
	char      sql[96];
	PGresult *res;

	if (l->conn != NULL && PQstatus(l->conn) == CONNECTION_OK) {
		return (OPSBUS_E_OK);
	}
	listener_drop(l);
	l->conn = PQconnectdb(l->conninfo);
	if (l->conn == NULL || PQstatus(l->conn) != CONNECTION_OK) {
		listener_error(l,
		    l->conn != NULL ? PQerrorMessage(l->conn) : "no memory");
		listener_drop(l);
		return (OPSBUS_E_DATABASE_UNAVAILABLE);
	}
	snprintf(sql, sizeof(sql), "LISTEN %s", l->channel);
	res = PQexec(l->conn, sql);
	if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
		listener_error(l, PQerrorMessage(l->conn));
		PQclear(res);
		listener_drop(l);
		return (OPSBUS_E_DATABASE_UNAVAILABLE);
	}
	PQclear(res);
	*fresh = true;
	return (OPSBUS_E_OK);
}

/*
 * Reads what the server sent and notes whether a notification in it came
 * from a backend other than ignore_pid.
 */
static opsbus_err
listener_consume(struct db_listener *l, int ignore_pid, bool *got)
{
	PGnotify *n;

	if (PQconsumeInput(l->conn) == 0
	    || PQstatus(l->conn) != CONNECTION_OK) {
		listener_error(l, PQerrorMessage(l->conn));
		listener_drop(l);
		return (OPSBUS_E_DATABASE_UNAVAILABLE);
	}
	while ((n = PQnotifies(l->conn)) != NULL) {
		if (ignore_pid == 0 || n->be_pid != ignore_pid) {
			*got = true;
		}
		PQfreemem(n);
	}
	return (OPSBUS_E_OK);
}

opsbus_err
db_listener_wait(struct db_listener *l, int timeout_ms, int wake_fd,
    int ignore_pid, bool *notified)
{
	struct pollfd fds[2];
	bool          fresh = false;
	bool          got = false;
	opsbus_err    err;
	int           nfds = 1;
	const int64_t deadline = clock_now_us() + (int64_t) timeout_ms * 1000;

	if ((err = listener_connect(l, &fresh)) != OPSBUS_E_OK
	    || (err = listener_consume(l, ignore_pid, &got)) != OPSBUS_E_OK) {
		return (err);
	}
	*notified = fresh || got;
	if (*notified || timeout_ms <= 0) {
		return (OPSBUS_E_OK);
	}
	fds[0].fd = PQsocket(l->conn);
	fds[0].events = POLLIN;
	if (wake_fd >= 0) {
		fds[1].fd = wake_fd;
		fds[1].events = POLLIN;
		nfds = 2;
	}
	/* Until a notification from someone else, a wake-up or the
	 * deadline: the caller's own notifications do not end the wait. */
	for (;;) {
		int64_t left_ms = (deadline - clock_now_us() + 999) / 1000;

		if (left_ms <= 0) {
			return (OPSBUS_E_OK);
		}
		fds[0].revents = 0;
		fds[1].revents = 0;
		if (poll(fds, (nfds_t) nfds, (int) left_ms) < 0
		    && errno != EINTR) {
			listener_error(l, strerror(errno));
			return (OPSBUS_E_INTERNAL);
		}
		if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0
		    && (err = listener_consume(l, ignore_pid, &got))
		        != OPSBUS_E_OK) {
			return (err);
		}
		if (got || (nfds == 2 && fds[1].revents != 0)) {
			*notified = got;
			return (OPSBUS_E_OK);
		}
	}
}

const char *
db_listener_errmsg(const struct db_listener *l)
{
	return (l->errmsg);
}
