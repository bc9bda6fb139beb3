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

struct db;

/* One call of a group that shares a transaction (group commit). */
struct batch_item {
	/* The caller's call: its arena, identity, correlation id. */
	struct rpc_call        *call;
	const ProtobufCMessage *in;
	/* What the method's prepare kept for run. */
	void *plan;
	/* The key its reply is stored under (a mutating call with a
	 * request_id), or NULL. */
	const char *reply_key;
	/* Initialized output for run to fill. */
	ProtobufCMessage *out;
	/* Set by run when it served the call; otherwise the call runs alone
	 * through the handler afterwards and keeps its own outcome. */
	bool done;
};

/*
 * A method that can serve many calls in one transaction. The dispatcher
 * groups the calls that arrive together (rpc/group.h), opens the
 * transaction, stores the replies and commits; one failing call falls back
 * to running alone, so it never fails its neighbours.
 */
struct service_batch {
	/* In the caller's thread, without the database: checks the request
	 * and keeps in *plan (call->arena) what run needs. An error is the
	 * call's answer, at once. */
	opsbus_err (*prepare)(
	    struct rpc_call *call, const ProtobufCMessage *in, void **plan);
	/* In the group's transaction on db (the leader's connection; use
	 * each item's call for its arena): serves every item it can. An error
	 * rolls the group back and every item runs alone. */
	opsbus_err (*run)(struct db *db, struct arena *scratch,
	    struct batch_item *const *items, int n);
	/* The most calls in one group. */
	int max_items;
	/* The most groups of this method running at once. One makes the
	 * calls that arrive while a group runs wait for it, and go together
	 * in the next; more let groups overlap in PostgreSQL. */
	int max_leaders;
};

struct service_method {
	/* "opsbus.v1.JobService/CreateJob" */
	const char     *name;
	service_handler handler;
	enum perm       perm;
	unsigned        flags;
};

/* A method whose calls may be grouped (group commit). */
struct service_batch_row {
	const char                 *name;
	const struct service_batch *batch;
};

extern const struct service_method             service_methods[];
extern const size_t                            service_methods_count;
extern const struct service_batch_row          service_batches[];
extern const size_t                            service_batches_count;
extern const ProtobufCServiceDescriptor *const service_descriptors[];
extern const size_t                            service_descriptors_count;

#endif
