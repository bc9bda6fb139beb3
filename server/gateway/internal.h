/*
 * What gateway.c (the daemon, its connections and their read deadlines)
 * and request.c (one request's state machine) share. Not for other modules.
 */
#ifndef OPSBUS_GATEWAY_INTERNAL_H
#define OPSBUS_GATEWAY_INTERNAL_H

#include <microhttpd.h>
#include <nng/nng.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "clock.h"
#include "gateway/gateway.h"
#include "gateway/metrics.h"
#include "gateway/router.h"

/* One TCP connection, for the read deadline (see gateway.h). */
struct gw_conn {
	struct gw_conn *prev, *next;
	int             fd;
	/* Monotonic ms by which the current request must have arrived;
	 * 0 while a request is being served. */
	int64_t deadline_ms;
	bool    cut;
};

struct gateway {
	struct gateway_config cfg;
	struct gw_router      router;
	struct gw_metrics    *metrics;
	struct MHD_Daemon    *mhd;
	nng_socket            sock;
	bool                  sock_open;
	unsigned              port;
	atomic_int            in_flight;

	/* Connections and the reaper thread that enforces deadlines. */
	pthread_mutex_t conn_mtx;
	pthread_cond_t  reaper_cv;
	struct gw_conn *conns;
	bool            stopping;
	bool            reaper_started;
	pthread_t       reaper;
};

/* MHD's access handler and completion callback (request.c). */
enum MHD_Result gw_on_request(void *cls, struct MHD_Connection *conn,
    const char *url, const char *method, const char *version,
    const char *upload, size_t *upload_size, void **con_cls);
void gw_on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe);

/*
 * Clears (serving starts: the request has arrived) or restarts (an answer
 * was sent: the next request must arrive within read_timeout_ms) the read
 * deadline of conn.
 */
void gw_conn_deadline(
    struct gateway *gw, struct MHD_Connection *conn, bool restart);

#endif
