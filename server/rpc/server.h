/*
 * The RPC transport: one nng REP socket listening on one or more URLs
 * (tcp://, ipc://, inproc:// for the gateway), served by a fixed set of
 * worker threads. Each worker owns an nng context, a database connection
 * and an arena, and loops receive -> rpc_dispatch -> send, so as many calls
 * are in flight as there are workers (nng's demo/async, with blocking
 * workers because handlers wait on PostgreSQL).
 */
#ifndef OPSBUS_RPC_SERVER_H
#define OPSBUS_RPC_SERVER_H

#include <stddef.h>

#include "rpc/dispatch.h"

struct rpc_server_config {
	/* URLs to listen on; n_urls of them. */
	const char *const *urls;
	size_t             n_urls;
	/* Worker threads: calls served at once (each takes a database
	 * connection from the dispatcher's pool only while it uses one). */
	int workers;
	/* Messages above this are dropped by nng before any allocation;
	 * it must be above the dispatcher's max_request so that moderately
	 * oversize requests get an answer. */
	size_t transport_max;
};

struct rpc_server;

/*
 * Opens the socket, listens on every URL and starts the workers. Returns 0
 * and writes *out, or -1 with the reason in err (an address in use, a bad
 * URL).
 */
int rpc_server_start(const struct rpc_server_config *cfg,
    const struct rpc_dispatcher *d, struct rpc_server **out, char *err,
    size_t err_len);

/*
 * Stops taking requests, lets the calls in flight finish and answer, joins
 * the workers and closes the socket. Then frees srv. NULL does nothing.
 */
void rpc_server_stop(struct rpc_server *srv);

#endif
