/*
 * The handlers of every RPC, and the service descriptors they serve. The RPC
 * layer binds the two at start (rpc/methods.c): a method without a handler,
 * or a handler without a method, stops the server from starting.
 */
#ifndef OPSBUS_SERVICES_REGISTRY_H
#define OPSBUS_SERVICES_REGISTRY_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "services/call.h"

/*
 * Runs one call. `in` is the unpacked, validated input; `out` an initialized
 * output message of the method's type for the handler to fill (allocating
 * in call->arena). Returns 0 or an error (with call_fail for its message).
 */
typedef opsbus_err (*service_handler)(
    struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out);

/* The call changes state: a resent request with the same request_id is
 * answered from the stored reply instead of running again. */
#define METHOD_MUTATING 0x1u
/* The dispatcher opens no transaction; the handler uses call->db itself
 * (which may be unreachable). */
#define METHOD_NO_TX 0x2u

struct service_method {
	/* "opsbus.v1.JobService/CreateJob" */
	const char     *name;
	service_handler handler;
	enum perm       perm;
	unsigned        flags;
};

extern const struct service_method             service_methods[];
extern const size_t                            service_methods_count;
extern const ProtobufCServiceDescriptor *const service_descriptors[];
extern const size_t                            service_descriptors_count;

#endif
