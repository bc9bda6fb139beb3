/*
 * The listener guard (see listeners.h): the listeners of one socket, the
 * error counts last seen in nng's statistics for each, and a thread that
 * compares them every interval.
 */
#define _DEFAULT_SOURCE
#include "listen/listeners.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

#define LISTENERS_DEFAULT_CHECK_MS 1000
/* How long a probe's handshake, then its acceptance, may take. */
#define LISTENERS_PROBE_MS 2000

struct listener_entry {
	char        *url; /* as listened on; a tcp port 0 made concrete */
	nng_listener l;
	uint64_t     errors; /* "other" + "canceled" when last seen */
};

struct listeners {
	nng_socket             sock;
	uint16_t               peer; /* the peer's SP protocol number */
	char                  *what;
	size_t                 n;
	struct listener_entry *v;
	int                    check_ms;
	pthread_mutex_t mu; /* with cv: the guard sleeps, stop wakes it */
	pthread_cond_t  cv;
	bool            stop;
	bool            started;
	pthread_t       thread;
};

/* A tcp URL on port 0 names the port nng chose; others stay as they are. */
static char *
concrete_url(const char *url, nng_listener l)
{
	size_t n = strlen(url);
	int    port;
	char  *out;

	if (strncmp(url, "tcp", 3) == 0 && n > 2
	    && strcmp(url + n - 2, ":0") == 0
	    && nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port) == 0
	    && (out = malloc(n + 8)) != NULL) {
		snprintf(out, n + 8, "%.*s:%d", (int) (n - 2), url, port);
		return (out);
	}
	return (strdup(url));
}

/*
 * The scope of listener id in a stats tree. (nng 1.5.2's
 * nng_stat_find_listener answers the first listener it meets below the
 * top, whatever its id.)
 */
static nng_stat *
find_listener(nng_stat *s, int id)
{
	for (; s != NULL; s = nng_stat_next(s)) {
		nng_stat *found;

		if (nng_stat_type(s) == NNG_STAT_SCOPE
		    && strcmp(nng_stat_name(s), "listener") == 0) {
			nng_stat *sid = nng_stat_find(s, "id");

			if (sid != NULL
			    && nng_stat_value(sid) == (uint64_t) id) {
				return (s);
			}
		}
		if ((found = find_listener(nng_stat_child(s), id)) != NULL) {
			return (found);
		}
	}
	return (NULL);
}

/*
 * The sum of the listener's statistics named a and b (b may be NULL) in
 * the snapshot all.
 */
static uint64_t
stat_of(nng_stat *all, nng_listener l, const char *a, const char *b)
{
	nng_stat *ls = find_listener(all, nng_listener_id(l));
	uint64_t  n = 0;

	for (nng_stat *s = ls != NULL ? nng_stat_child(ls) : NULL; s != NULL;
	     s = nng_stat_next(s)) {
		if (strcmp(nng_stat_name(s), a) == 0
		    || (b != NULL && strcmp(nng_stat_name(s), b) == 0)) {
			n += nng_stat_value(s);
		}
	}
	return (n);
}

/* The same, in a snapshot of its own. */
static uint64_t
listener_stat(nng_listener l, const char *a, const char *b)
{
	nng_stat *all;
	uint64_t  n;

	if (nng_stats_get(&all) != 0) {
		return (0);
	}
	n = stat_of(all, l, a, b);
	nng_stats_free(all);
	return (n);
}

/* Milliseconds from now to deadline_us (clock_now_us); <= 0 once past. */
static long
ms_left(int64_t deadline_us)
{
	return ((long) ((deadline_us - clock_now_us()) / 1000));
}

/* Waits for events on fd until the deadline; 1 ready, 0 not in time. */
static int
wait_fd(int fd, short events, int64_t deadline_us)
{
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = events};
		long          left = ms_left(deadline_us);
		int           rv;

		if (left <= 0) {
			return (0);
		}
		if ((rv = poll(&pfd, 1, (int) left)) > 0) {
			return (1);
		}
		if (rv < 0 && errno != EINTR) {
			return (0);
		}
	}
}

/*
 * The address of an ipc:// or tcp:// URL (a wildcard host stands for the
 * loopback). Returns 0, 1 for another transport, -1 when it cannot be
 * resolved.
 */
static int
url_address(const char *url, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (strncmp(url, "ipc://", 6) == 0) {
		struct sockaddr_un *sun = (struct sockaddr_un *) ss;

		if (strlen(url + 6) >= sizeof(sun->sun_path)) {
			return (-1);
		}
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, url + 6, strlen(url + 6) + 1);
		*len = sizeof(*sun);
		return (0);
	}
	if (strncmp(url, "tcp://", 6) == 0 || strncmp(url, "tcp4://", 7) == 0
	    || strncmp(url, "tcp6://", 7) == 0) {
		const char     *rest = strstr(url, "://") + 3;
		const char     *colon = strrchr(rest, ':');
		char            host[256];
		struct addrinfo hints, *res = NULL;
		size_t          hl;

		if (colon == NULL) {
			return (-1);
		}
		hl = (size_t) (colon - rest);
		if (hl >= 2 && rest[0] == '[' && rest[hl - 1] == ']') {
			rest++;
			hl -= 2;
		}
		if (hl >= sizeof(host)) {
			return (-1);
		}
		memcpy(host, rest, hl);
		host[hl] = '\0';
		if (host[0] == '\0' || strcmp(host, "*") == 0
		    || strcmp(host, "0.0.0.0") == 0) {
			snprintf(host, sizeof(host), "127.0.0.1");
		} else if (strcmp(host, "::") == 0) {
			snprintf(host, sizeof(host), "::1");
		}
		memset(&hints, 0, sizeof(hints));
		hints.ai_socktype = SOCK_STREAM;
		if (getaddrinfo(host, colon + 1, &hints, &res) != 0) {
			return (-1);
		}
		memcpy(ss, res->ai_addr, res->ai_addrlen);
		*len = res->ai_addrlen;
		freeaddrinfo(res);
		return (0);
	}
	return (1);
}

/*
 * Makes the SP handshake with the listener at url as its peer would, over
 * a plain socket, and leaves only once the listener has sent its header
 * (so that the leaving cannot stop it). Returns 0 when the handshake was
 * made, 1 for a transport not probed, -1 when it failed.
 */
static int
handshake(const char *url, uint16_t peer, int64_t deadline_us)
{
	const uint8_t mine[8] = {0, 'S', 'P', 0, (uint8_t) (peer >> 8),
	    (uint8_t) (peer & 0xff), 0, 0};
	uint8_t       theirs[8];
	size_t        got = 0;
	struct sockaddr_storage ss;
	socklen_t               len = 0, elen = sizeof(int);
	int                     fd, rv, err = 0;

	if ((rv = url_address(url, &ss, &len)) != 0) {
		return (rv);
	}
	if ((fd = socket(
	         ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0))
	    < 0) {
		return (-1);
	}
	if (connect(fd, (struct sockaddr *) &ss, len) != 0
	    && (errno != EINPROGRESS || !wait_fd(fd, POLLOUT, deadline_us)
	        || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0
	        || err != 0)) {
		close(fd);
		return (-1);
	}
	if (send(fd, mine, sizeof(mine), MSG_NOSIGNAL)
	    != (ssize_t) sizeof(mine)) {
		close(fd);
		return (-1);
	}
	while (got < sizeof(theirs) && wait_fd(fd, POLLIN, deadline_us)) {
		ssize_t r = recv(fd, theirs + got, sizeof(theirs) - got, 0);

		if (r > 0) {
			got += (size_t) r;
		} else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
			break;
		}
	}
	close(fd);
	return (got == sizeof(theirs) && theirs[1] == 'S' && theirs[2] == 'P'
	        ? 0
	        : -1);
}

/*
 * Whether the listener still hands connections to its socket: a probe's
 * handshake, then its "accept" count must rise. A listener that cannot be
 * probed (inproc, ws) counts as accepting.
 */
static bool
listener_accepts(const struct listeners *ls, const struct listener_entry *e)
{
	uint64_t before = listener_stat(e->l, "accept", NULL);
	int64_t  deadline_us = clock_now_us() + LISTENERS_PROBE_MS * 1000;
	int      rv;

	if ((rv = handshake(e->url, ls->peer, deadline_us)) != 0) {
		return (rv > 0);
	}
	while (ms_left(deadline_us) > 0) {
		if (listener_stat(e->l, "accept", NULL) > before) {
			return (true);
		}
		clock_sleep_ms(20);
	}
	return (false);
}

/*
 * With mu held. A listener is probed when its "other" or "canceled"
 * errors rose: nng 1.5.2 stops accepting after some of those and goes on
 * after others. Listening again closes the connections the listener made,
 * so only one that no longer accepts is replaced.
 */
static void
check_locked(struct listeners *ls)
{
	nng_stat *all;

	if (nng_stats_get(&all) != 0) {
		return;
	}
	for (size_t i = 0; i < ls->n; i++) {
		struct listener_entry *e = &ls->v[i];
		uint64_t errors = stat_of(all, e->l, "other", "canceled");
		int      rv;

		if (errors <= e->errors) {
			continue;
		}
		if (listener_accepts(ls, e)) {
			/* The probe's own leaving may count as an error
			 * (over TCP it does): start from after it. */
			clock_sleep_ms(100);
			e->errors = listener_stat(e->l, "other", "canceled");
			log_debug("listener errors rose; it still accepts",
			    "%s=%s errors=%llu", ls->what, e->url,
			    (unsigned long long) errors);
			continue;
		}
		nng_listener_close(e->l);
		rv = nng_listen(ls->sock, e->url, &e->l, 0);
		e->errors = 0;
		log_warn("a listener stopped accepting (nng 1.5.2 loses it "
		         "when a peer leaves during the handshake); listening "
		         "again",
		    "%s=%s result=\"%s\"", ls->what, e->url,
		    rv == 0 ? "listening" : nng_strerror(rv));
	}
	nng_stats_free(all);
}

static void *
listeners_main(void *arg)
{
	struct listeners *ls = arg;

	pthread_mutex_lock(&ls->mu);
	while (!ls->stop) {
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += ls->check_ms / 1000;
		until.tv_nsec += (long) (ls->check_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (!ls->stop
		    && pthread_cond_timedwait(&ls->cv, &ls->mu, &until) == 0) {
		}
		if (!ls->stop) {
			check_locked(ls);
		}
	}
	pthread_mutex_unlock(&ls->mu);
	return (NULL);
}

static int
check_interval_ms(void)
{
	const char *v = getenv("OPSBUS_LISTENER_CHECK_MS");
	char       *end;
	long        n;

	if (v == NULL || v[0] == '\0') {
		return (LISTENERS_DEFAULT_CHECK_MS);
	}
	n = strtol(v, &end, 10);
	if (*end != '\0' || n < 0 || n > 3600000) {
		return (LISTENERS_DEFAULT_CHECK_MS);
	}
	return ((int) n);
}

int
listeners_open(nng_socket sock, const char *const *urls, size_t n,
    const char *what, struct listeners **out, char *err, size_t err_len)
{
	struct listeners *ls = calloc(1, sizeof(*ls));
	int               peer;

	if (ls == NULL) {
		snprintf(err, err_len, "out of memory");
		return (-1);
	}
	pthread_mutex_init(&ls->mu, NULL);
	pthread_cond_init(&ls->cv, NULL);
	if ((ls->v = calloc(n > 0 ? n : 1, sizeof(*ls->v))) == NULL
	    || (ls->what = strdup(what)) == NULL) {
		snprintf(err, err_len, "out of memory");
		listeners_close(ls);
		return (-1);
	}
	ls->sock = sock;
	if (nng_socket_get_int(sock, NNG_OPT_PEER, &peer) != 0) {
		snprintf(err, err_len, "%s: the socket names no peer protocol",
		    what);
		listeners_close(ls);
		return (-1);
	}
	ls->peer = (uint16_t) peer;
	ls->check_ms = check_interval_ms();
	for (size_t i = 0; i < n; i++) {
		struct listener_entry *e = &ls->v[i];
		int                    rv;

		if ((rv = nng_listen(sock, urls[i], &e->l, 0)) != 0) {
			snprintf(err, err_len, "%s: cannot listen on %s: %s",
			    what, urls[i], nng_strerror(rv));
			listeners_close(ls);
			return (-1);
		}
		ls->n++;
		if ((e->url = concrete_url(urls[i], e->l)) == NULL) {
			snprintf(err, err_len, "out of memory");
			listeners_close(ls);
			return (-1);
		}
	}
	if (ls->check_ms > 0
	    && pthread_create(&ls->thread, NULL, listeners_main, ls) == 0) {
		ls->started = true;
	}
	*out = ls;
	return (0);
}

void
listeners_close(struct listeners *ls)
{
	if (ls == NULL) {
		return;
	}
	if (ls->started) {
		pthread_mutex_lock(&ls->mu);
		ls->stop = true;
		pthread_cond_signal(&ls->cv);
		pthread_mutex_unlock(&ls->mu);
		pthread_join(ls->thread, NULL);
	}
	pthread_mutex_destroy(&ls->mu);
	pthread_cond_destroy(&ls->cv);
	for (size_t i = 0; ls->v != NULL && i < ls->n; i++) {
		free(ls->v[i].url);
	}
	free(ls->v);
	free(ls->what);
	free(ls);
}
