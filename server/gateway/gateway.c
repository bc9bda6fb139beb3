/*
 * The gateway's daemon: the listening socket and MHD's threads (epoll,
 * suspend/resume), the REQ socket to the RPC server, and the reaper thread
 * that cuts connections whose request does not arrive in time. MHD has an
 * idle timeout but no deadline for a whole request, so a client that sends
 * one byte a second would keep a connection forever; the reaper knows each
 * connection's socket (MHD's connection notifications) and shuts it down
 * when its deadline passes, and MHD then closes it as it would any
 * connection whose peer went away. MHD notifies CLOSED before it closes
 * the socket, and the list is changed under the same mutex the reaper
 * holds, so the reaper never touches a descriptor that was reused.
 */
#include "gateway/gateway.h"

#include <netdb.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gateway/internal.h"
#include "log.h"

/* How often the reaper looks at the deadlines. */
#define GW_REAPER_TICK_MS 200

static struct gw_conn *
conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
	    conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return (ci != NULL ? ci->socket_context : NULL);
}

void
gw_conn_deadline(struct gateway *gw, struct MHD_Connection *conn, bool restart)
{
	struct gw_conn *c = conn_of(conn);

	if (c == NULL) {
		return;
	}
	pthread_mutex_lock(&gw->conn_mtx);
	c->deadline_ms = restart
	    ? clock_now_us() / 1000 + (int64_t) gw->cfg.read_timeout_ms
	    : 0;
	pthread_mutex_unlock(&gw->conn_mtx);
}

static void
on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	struct gateway *gw = cls;
	struct gw_conn *c = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
		    conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if ((c = calloc(1, sizeof(*c))) == NULL || ci == NULL) {
			free(c);
			return;
		}
		c->fd = ci->connect_fd;
		pthread_mutex_lock(&gw->conn_mtx);
		c->deadline_ms = clock_now_us() / 1000
		    + (int64_t) gw->cfg.read_timeout_ms;
		c->next = gw->conns;
		if (gw->conns != NULL) {
			gw->conns->prev = c;
		}
		gw->conns = c;
		pthread_mutex_unlock(&gw->conn_mtx);
		*socket_context = c;
		gw_metrics_connections(gw->metrics, 1);
		return;
	}
	if (c == NULL) {
		return;
	}
	pthread_mutex_lock(&gw->conn_mtx);
	if (c->prev != NULL) {
		c->prev->next = c->next;
	} else {
		gw->conns = c->next;
	}
	if (c->next != NULL) {
		c->next->prev = c->prev;
	}
	pthread_mutex_unlock(&gw->conn_mtx);
	*socket_context = NULL;
	free(c);
	gw_metrics_connections(gw->metrics, -1);
}

static void *
reaper_main(void *arg)
{
	struct gateway *gw = arg;

	pthread_mutex_lock(&gw->conn_mtx);
	while (!gw->stopping) {
		struct timespec until;
		int64_t         now = clock_now_us() / 1000;
		int             cut = 0;

		for (struct gw_conn *c = gw->conns; c != NULL; c = c->next) {
			if (c->deadline_ms != 0 && now > c->deadline_ms
			    && !c->cut) {
				/* MHD sees the peer gone and closes. */
				shutdown(c->fd, SHUT_RDWR);
				c->cut = true;
				cut++;
			}
		}
		if (cut > 0) {
			log_info("http: cut connections whose request did not "
			         "arrive in time",
			    "count=%d read_timeout_ms=%u", cut,
			    gw->cfg.read_timeout_ms);
		}
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += GW_REAPER_TICK_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&gw->reaper_cv, &gw->conn_mtx, &until);
	}
	pthread_mutex_unlock(&gw->conn_mtx);
	return (NULL);
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	char q[600];

	(void) cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	log_warn(
	    "http: libmicrohttpd", "detail=%s", log_quote(buf, q, sizeof(q)));
}

/* MHD decodes the path before it gives it; the gateway needs it raw to
 * split it before decoding (router.h), and decodes query strings itself. */
static size_t
unescape_none(void *cls, struct MHD_Connection *conn, char *s)
{
	(void) cls;
	(void) conn;
	return (strlen(s));
}

/*
 * Parses "http://HOST:PORT", "HOST:PORT", "[V6]:PORT" or ":PORT" into a
 * socket address. Returns 0, or -1 with err set.
 */
static int
parse_http(const char *spec, struct sockaddr_storage *ss, socklen_t *ss_len,
    char *err, size_t err_len)
{
	char            host[256], port[16];
	const char     *p = spec, *colon;
	struct addrinfo hints, *res = NULL;
	size_t          hl;
	int             rv;

	if (strncmp(p, "http://", 7) == 0) {
		p += 7;
	}
	if (p[0] == '[') {
		const char *close = strchr(p, ']');
		if (close == NULL || close[1] != ':') {
			snprintf(err, err_len, "bad HTTP address %s", spec);
			return (-1);
		}
		hl = (size_t) (close - p - 1);
		p++;
		colon = close + 1;
	} else {
		if ((colon = strrchr(p, ':')) == NULL) {
			snprintf(err, err_len,
			    "bad HTTP address %s (want http://HOST:PORT)",
			    spec);
			return (-1);
		}
		hl = (size_t) (colon - p);
	}
	if (hl >= sizeof(host) || strlen(colon + 1) >= sizeof(port)
	    || colon[1] == '\0' || strchr(colon + 1, '/') != NULL) {
		snprintf(err, err_len, "bad HTTP address %s", spec);
		return (-1);
	}
	memcpy(host, p, hl);
	host[hl] = '\0';
	snprintf(port, sizeof(port), "%s", colon + 1);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rv = getaddrinfo(host[0] != '\0' ? host : NULL, port, &hints, &res);
	if (rv != 0 || res == NULL) {
		snprintf(err, err_len, "bad HTTP address %s: %s", spec,
		    gai_strerror(rv));
		return (-1);
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*ss_len = res->ai_addrlen;
	freeaddrinfo(res);
	return (0);
}

static void
config_defaults(struct gateway_config *c)
{
	if (c->max_body == 0) {
		c->max_body = 1024 * 1024;
	}
	if (c->max_connections == 0) {
		c->max_connections = 4096;
	}
	if (c->idle_timeout_s == 0) {
		c->idle_timeout_s = 30;
	}
	if (c->read_timeout_ms == 0) {
		c->read_timeout_ms = 15000;
	}
	if (c->rpc_timeout_ms == 0) {
		c->rpc_timeout_ms = 30000;
	}
	if (c->threads == 0) {
		c->threads = 2;
	}
}

static void
gateway_free(struct gateway *gw)
{
	if (gw->reaper_started) {
		pthread_mutex_lock(&gw->conn_mtx);
		gw->stopping = true;
		pthread_cond_signal(&gw->reaper_cv);
		pthread_mutex_unlock(&gw->conn_mtx);
		pthread_join(gw->reaper, NULL);
	}
	if (gw->sock_open) {
		nng_close(gw->sock);
	}
	gw_metrics_free(gw->metrics);
	gw_router_fini(&gw->router);
	pthread_cond_destroy(&gw->reaper_cv);
	pthread_mutex_destroy(&gw->conn_mtx);
	free(gw);
}

static int
open_rpc(struct gateway *gw, char *err, size_t err_len)
{
	int rv;

	if ((rv = nng_req0_open(&gw->sock)) != 0) {
		snprintf(err, err_len, "cannot open a REQ socket: %s",
		    nng_strerror(rv));
		return (-1);
	}
	gw->sock_open = true;
	/* The answer to a call may be large (a page of jobs); requests are
	 * at most a body plus the envelope. */
	nng_socket_set_size(gw->sock, NNG_OPT_RECVMAXSZ, 64 * 1024 * 1024);
	nng_socket_set_ms(gw->sock, NNG_OPT_RECONNMINT, 50);
	nng_socket_set_ms(gw->sock, NNG_OPT_RECONNMAXT, 1000);
	/* A resend only after the call's own deadline: the request id makes
	 * a resent mutating call harmless, but there is no need for one. */
	nng_socket_set_ms(gw->sock, NNG_OPT_REQ_RESENDTIME,
	    (nng_duration) gw->cfg.rpc_timeout_ms + 1000);
	rv = nng_dial(gw->sock, gw->cfg.rpc_url, NULL, NNG_FLAG_NONBLOCK);
	if (rv != 0) {
		snprintf(err, err_len, "cannot dial %s: %s", gw->cfg.rpc_url,
		    nng_strerror(rv));
		return (-1);
	}
	return (0);
}

int
gateway_start(const struct gateway_config *cfg, struct gateway **out,
    char *err, size_t err_len)
{
	struct gateway             *gw;
	struct sockaddr_storage     ss;
	socklen_t                   ss_len;
	const union MHD_DaemonInfo *di;
	unsigned                    flags;

	if (err_len > 0) {
		err[0] = '\0';
	}
	if ((gw = calloc(1, sizeof(*gw))) == NULL) {
		snprintf(err, err_len, "out of memory");
		return (-1);
	}
	gw->cfg = *cfg;
	config_defaults(&gw->cfg);
	atomic_init(&gw->in_flight, 0);
	pthread_mutex_init(&gw->conn_mtx, NULL);
	pthread_cond_init(&gw->reaper_cv, NULL);
	if (gw_router_init(
	        &gw->router, gw_route_defs, gw_route_defs_count, err, err_len)
	        != 0
	    || gw_metrics_alloc(&gw->router, &gw->metrics) != 0
	    || parse_http(gw->cfg.http, &ss, &ss_len, err, err_len) != 0
	    || open_rpc(gw, err, err_len) != 0) {
		if (err[0] == '\0') {
			snprintf(err, err_len, "out of memory");
		}
		gateway_free(gw);
		return (-1);
	}
	flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME
	    | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	if (ss.ss_family == AF_INET6) {
		flags |= MHD_USE_IPv6;
	}
	gw->mhd = MHD_start_daemon(flags, 0, NULL, NULL, gw_on_request, gw,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_SOCK_ADDR,
	    (struct sockaddr *) &ss, MHD_OPTION_LISTENING_ADDRESS_REUSE,
	    (unsigned) 1, MHD_OPTION_THREAD_POOL_SIZE, gw->cfg.threads,
	    MHD_OPTION_CONNECTION_LIMIT, gw->cfg.max_connections,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, gw->cfg.per_ip_connections,
	    MHD_OPTION_CONNECTION_TIMEOUT, gw->cfg.idle_timeout_s,
	    MHD_OPTION_NOTIFY_COMPLETED, gw_on_completed, gw,
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, gw,
	    MHD_OPTION_UNESCAPE_CALLBACK, unescape_none, NULL, MHD_OPTION_END);
	(void) ss_len;
	if (gw->mhd == NULL) {
		snprintf(err, err_len,
		    "cannot listen on %s (in use, or not an address of this "
		    "host)",
		    gw->cfg.http);
		gateway_free(gw);
		return (-1);
	}
	di = MHD_get_daemon_info(gw->mhd, MHD_DAEMON_INFO_BIND_PORT);
	gw->port = di != NULL ? di->port : 0;
	if (pthread_create(&gw->reaper, NULL, reaper_main, gw) != 0) {
		snprintf(err, err_len, "cannot start the reaper thread");
		MHD_stop_daemon(gw->mhd);
		gateway_free(gw);
		return (-1);
	}
	gw->reaper_started = true;
	*out = gw;
	return (0);
}

unsigned
gateway_port(const struct gateway *gw)
{
	return (gw->port);
}

void
gateway_stop(struct gateway *gw)
{
	struct timespec tick = {0, 10 * 1000 * 1000};
	int64_t         until;
	MHD_socket      listener;

	if (gw == NULL) {
		return;
	}
	listener = MHD_quiesce_daemon(gw->mhd);
	/* Requests waiting for the RPC server get their answer (or their
	 * timeout) and are sent before the connections close. */
	until = clock_now_us()
	    + ((int64_t) gw->cfg.rpc_timeout_ms + 3000) * 1000;
	while (atomic_load(&gw->in_flight) > 0 && clock_now_us() < until) {
		nanosleep(&tick, NULL);
	}
	tick.tv_nsec = 100 * 1000 * 1000;
	nanosleep(&tick, NULL);
	MHD_stop_daemon(gw->mhd);
	if (listener != MHD_INVALID_SOCKET) {
		close(listener);
	}
	gateway_free(gw);
}
