/*
 * The one request path. Every call, from nng or from the HTTP gateway,
 * arrives here as the bytes of an RpcRequest and leaves as the bytes of an
 * RpcResponse. In order: size limit, envelope check (nesting, UTF-8),
 * method lookup, correlation id, deadline, authentication and permission,
 * input check and decode, the resend check, one transaction around the
 * handler, and the reply. Errors become replies here and nowhere else.
 */
#ifndef OPSBUS_RPC_DISPATCH_H
#define OPSBUS_RPC_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "rpc/methods.h"
#include "services/auth.h"
#include "services/call.h"

struct db;

struct db_pool;

struct rpc_dispatcher {
	const struct rpc_methods *methods;
	/* The connections calls take while they use the database. */
	struct db_pool *pool;
	/* Called with committed_arg after a mutating call (which may have
	 * written events) commits: wakes this server's event publisher.
	 * NULL: nobody to wake. */
	void (*committed)(void *arg);
	void                        *committed_arg;
	struct auth                 *auth;
	const struct service_config *cfg;
	/* Largest RpcRequest accepted, in bytes. */
	size_t max_request;
	/* Used when a request says 0, and the most a request may ask. */
	uint32_t default_timeout_ms;
	uint32_t max_timeout_ms;
};

/* What one dispatch produced, for the transport and the logs. */
struct rpc_reply {
	/* The packed RpcResponse, in the arena given to rpc_dispatch. */
	uint8_t *data;
	size_t   len;
	int      code;
	/* The domain code name ("OK", "JOB_NOT_FOUND"). */
	const char *error_code;
	/* The method called, or "" when it could not be read. */
	const char *method;
	const char *correlation_id;
};

/*
 * Serves the request in buf[0..len), taking a connection of d->pool only
 * while the call uses the database, allocating in a (which the
 * caller resets after sending the reply). Never fails: every problem is an
 * RpcResponse with an error code.
 */
void rpc_dispatch(const struct rpc_dispatcher *d, struct arena *a,
    const uint8_t *buf, size_t len, struct rpc_reply *reply);

/*
 * Group commit of methods with a service_batch: at most the method's
 * max_leaders groups of it run at once, each of up to its max_items calls
 * and RPC_GROUP_MAX_BYTES of requests.
 */
#define RPC_GROUP_MAX_BYTES (8u * 1024 * 1024)

/* The run function of every group: the calls of a group (their dispatch
 * states) in one transaction on the leader's connection. */
void rpc_dispatch_group_run(void *leader, struct group_node **nodes, int n);

#endif
