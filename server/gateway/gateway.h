/*
 * The HTTP/JSON gateway: libmicrohttpd in front, the one request path
 * behind. Each HTTP request is matched to a route, transcoded to an
 * RpcRequest and sent on an nng REQ socket (a context per request) to the
 * same REP socket every other client uses: inproc:// inside opsbusd, or a
 * remote opsbusd's URL for the standalone opsbus-gateway. It never touches
 * the store. While a request waits for its answer its HTTP connection is
 * suspended, so a few MHD threads serve any number of calls in flight.
 *
 * Limits: bodies over max_body get 413 (at once when Content-Length says
 * so), bodies that are not application/json 415, at most max_connections
 * connections (more are refused by MHD), idle connections are closed after
 * idle_timeout_s, and a request must arrive whole (headers and body) within
 * read_timeout_ms of its connection opening or of the previous answer on
 * it, else the connection is cut: a client sending one byte a second holds
 * a connection for that long and no longer.
 */
#ifndef OPSBUS_GATEWAY_GATEWAY_H
#define OPSBUS_GATEWAY_GATEWAY_H

#include <stddef.h>
#include <stdint.h>

/* The default address of the gateway (DESIGN.md, "The wire"). */
#define GATEWAY_DEFAULT_HTTP "http://127.0.0.1:8080"
/* The inproc URL opsbusd's REP socket listens on for its own gateway. */
#define GATEWAY_INPROC_URL "inproc://opsbus-gateway"

struct gateway_config {
	/* "http://127.0.0.1:8080", "127.0.0.1:8080", "[::1]:8080",
	 * ":8080" (every IPv4 address). Port 0 picks a free port. */
	const char *http;
	/* The RPC server to call. */
	const char *rpc_url;
	/* Each 0 means the default given. */
	size_t   max_body;           /* 1 MiB */
	unsigned max_connections;    /* 4096 */
	unsigned per_ip_connections; /* no limit */
	unsigned idle_timeout_s;     /* 30 */
	unsigned read_timeout_ms;    /* 15000 */
	uint32_t rpc_timeout_ms;     /* 30000 */
	unsigned threads;            /* 2 */
};

struct gateway;

/*
 * Checks the route table, dials the RPC server (in the background: it may
 * start later) and starts serving HTTP. Returns 0 and writes *out, or -1
 * with the reason in err (a bad address, the port in use, a bad route).
 */
int gateway_start(const struct gateway_config *cfg, struct gateway **out,
    char *err, size_t err_len);

/* The TCP port the gateway listens on (the one picked, for port 0). */
unsigned gateway_port(const struct gateway *gw);

/*
 * Stops accepting connections, lets the requests waiting for the RPC server
 * get their answers (each is bounded by rpc_timeout_ms), closes every
 * connection and the REQ socket, and frees gw. NULL does nothing.
 */
void gateway_stop(struct gateway *gw);

#endif
