/*
 * The method table: every method of every service descriptor, bound to its
 * handler at start and found by full name ("opsbus.v1.JobService/CreateJob")
 * at each call. Binding checks both ways, as Redis checks its command
 * table: a method without a handler or a handler without a method is a
 * start-up error, never a runtime surprise.
 */
#ifndef OPSBUS_RPC_METHODS_H
#define OPSBUS_RPC_METHODS_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "rpc/group.h"
#include "services/registry.h"

struct rpc_method {
	char                            *name;
	const ProtobufCMethodDescriptor *desc;
	const struct service_method     *impl;
	/* Set when calls may share a transaction (group commit): how, and
	 * the calls waiting to. */
	const struct service_batch *batch;
	struct group               *group;
};

struct rpc_methods {
	struct rpc_method *v; /* sorted by name */
	size_t             n;
};

/*
 * Binds the methods of the n_svc services to the n_impl handlers. Returns 0
 * and writes *out, or -1 with the reason in err.
 */
int rpc_methods_bind(const ProtobufCServiceDescriptor *const *svcs,
    size_t n_svc, const struct service_method *impls, size_t n_impl,
    struct rpc_methods **out, char *err, size_t err_len);

/*
 * Lets the methods named in rows group their calls. Returns 0, or -1 with
 * the reason in err (a row naming no method).
 */
int rpc_methods_bind_batches(struct rpc_methods *m,
    const struct service_batch_row *rows, size_t n, char *err, size_t err_len);

/* The method called name, or NULL. */
const struct rpc_method *rpc_methods_find(
    const struct rpc_methods *m, const char *name);

void rpc_methods_free(struct rpc_methods *m);

#endif
