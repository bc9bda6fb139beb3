/*
 * nng REP server with a context per worker thread. Draining on stop: the
 * receive of every idle worker is cancelled, a worker in a call finishes it
 * and sends its reply, then all are joined and the socket closes.
 */
#include "rpc/server.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "listen/listeners.h"
#include "log.h"

struct rpc_worker {
	struct rpc_server *srv;
	pthread_t          thread;
	bool               started;
	nng_ctx            ctx;
	nng_aio           *recv_aio;
	nng_aio           *send_aio;
	struct arena       arena;
};

struct rpc_server {
	const struct rpc_dispatcher *d;
	nng_socket                   sock;
	struct listeners            *listeners;
	atomic_bool                  stopping;
	int                          n_workers;
	struct rpc_worker           *workers;
};

static void
log_call(const struct rpc_reply *r, int64_t us)
{
	enum log_level level = LOG_DEBUG;

	if (r->code == 13 || r->code == 14 || r->code == 15) {
		level = LOG_WARN;
	}
	if (!log_enabled(level)) {
		return;
	}
	log_msg(level, "rpc",
	    "method=%s code=%d error_code=%s us=%lld "
	    "correlation_id=%s",
	    r->method[0] != '\0' ? r->method : "-", r->code, r->error_code,
	    (long long) us, r->correlation_id);
}

static void
worker_serve(struct rpc_worker *w, nng_msg *req)
{
	struct rpc_reply reply;
	nng_msg         *rep = NULL;
	int64_t          t0 = clock_now_us();
	int              rv;

	rpc_dispatch(
	    w->srv->d, &w->arena, nng_msg_body(req), nng_msg_len(req), &reply);
	nng_msg_free(req);
	log_call(&reply, clock_now_us() - t0);
	if ((rv = nng_msg_alloc(&rep, reply.len)) != 0) {
		log_error("reply dropped", "error=\"%s\"", nng_strerror(rv));
		arena_reset(&w->arena);
		return;
	}
	memcpy(nng_msg_body(rep), reply.data, reply.len);
	arena_reset(&w->arena);
	nng_aio_set_msg(w->send_aio, rep);
	nng_ctx_send(w->ctx, w->send_aio);
	nng_aio_wait(w->send_aio);
	if ((rv = nng_aio_result(w->send_aio)) != 0) {
		/* The client went away; nng keeps the message on failure. */
		nng_msg_free(nng_aio_get_msg(w->send_aio));
	}
}

static void *
worker_main(void *arg)
{
	struct rpc_worker *w = arg;

	while (!atomic_load(&w->srv->stopping)) {
		int rv;

		nng_ctx_recv(w->ctx, w->recv_aio);
		nng_aio_wait(w->recv_aio);
		rv = nng_aio_result(w->recv_aio);
		if (rv == NNG_ECANCELED || rv == NNG_ECLOSED) {
			break;
		}
		if (rv != 0) {
			continue;
		}
		worker_serve(w, nng_aio_get_msg(w->recv_aio));
	}
	return (NULL);
}

static void
server_free(struct rpc_server *srv)
{
	for (int i = 0; i < srv->n_workers; i++) {
		struct rpc_worker *w = &srv->workers[i];
		nng_aio_free(w->recv_aio);
		nng_aio_free(w->send_aio);
		arena_fini(&w->arena);
	}
	free(srv->workers);
	free(srv);
}

int
rpc_server_start(const struct rpc_server_config *cfg,
    const struct rpc_dispatcher *d, struct rpc_server **out, char *err,
    size_t err_len)
{
	struct rpc_server *srv;
	int                rv;

	if ((srv = calloc(1, sizeof(*srv))) == NULL
	    || (srv->workers
	           = calloc((size_t) cfg->workers, sizeof(*srv->workers)))
	        == NULL) {
		free(srv);
		snprintf(err, err_len, "out of memory");
		return (-1);
	}
	srv->d = d;
	atomic_init(&srv->stopping, false);
	if ((rv = nng_rep0_open(&srv->sock)) != 0) {
		snprintf(err, err_len, "cannot open the REP socket: %s",
		    nng_strerror(rv));
		free(srv->workers);
		free(srv);
		return (-1);
	}
	nng_socket_set_size(srv->sock, NNG_OPT_RECVMAXSZ, cfg->transport_max);
	if (listeners_open(srv->sock, cfg->urls, cfg->n_urls, "rpc",
	        &srv->listeners, err, err_len)
	    != 0) {
		nng_close(srv->sock);
		free(srv->workers);
		free(srv);
		return (-1);
	}
	srv->n_workers = cfg->workers;
	for (int i = 0; i < cfg->workers; i++) {
		struct rpc_worker *w = &srv->workers[i];
		w->srv = srv;
		arena_init(&w->arena);
		if (nng_ctx_open(&w->ctx, srv->sock) != 0
		    || nng_aio_alloc(&w->recv_aio, NULL, NULL) != 0
		    || nng_aio_alloc(&w->send_aio, NULL, NULL) != 0) {
			snprintf(err, err_len, "cannot set up worker %d", i);
			listeners_close(srv->listeners);
			nng_close(srv->sock);
			server_free(srv);
			return (-1);
		}
	}
	for (int i = 0; i < cfg->workers; i++) {
		struct rpc_worker *w = &srv->workers[i];
		if (pthread_create(&w->thread, NULL, worker_main, w) == 0) {
			w->started = true;
		}
	}
	*out = srv;
	return (0);
}

void
rpc_server_stop(struct rpc_server *srv)
{
	struct timespec linger = {0, 100 * 1000 * 1000};

	if (srv == NULL) {
		return;
	}
	atomic_store(&srv->stopping, true);
	/* Idle workers wait in receive: stop those aios. A worker in a call
	 * finishes it, sends, sees `stopping` and leaves. nng_aio_stop also
	 * makes any later receive on that aio fail at once. */
	for (int i = 0; i < srv->n_workers; i++) {
		nng_aio_stop(srv->workers[i].recv_aio);
	}
	for (int i = 0; i < srv->n_workers; i++) {
		if (srv->workers[i].started) {
			pthread_join(srv->workers[i].thread, NULL);
		}
	}
	/* Replies just sent are still in the pipes' queues: give them a
	 * moment to leave before the socket closes. */
	nanosleep(&linger, NULL);
	for (int i = 0; i < srv->n_workers; i++) {
		nng_ctx_close(srv->workers[i].ctx);
	}
	listeners_close(srv->listeners);
	nng_close(srv->sock);
	server_free(srv);
}
