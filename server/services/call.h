/*
 * What a handler sees of the call it serves: the database connection (in a
 * transaction the dispatcher opened, unless the method says otherwise), the
 * caller, the correlation id, and an arena for everything it allocates.
 * Handlers return an opsbus_err; call_fail attaches a message for humans.
 * Errors become replies in one place, the dispatcher, never in handlers.
 */
#ifndef OPSBUS_SERVICES_CALL_H
#define OPSBUS_SERVICES_CALL_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "arena.h"
#include "errors.h"

struct db;

/* protoc-c types strings as char *; a literal must be cast to go there. */
#define PB_STR(s) ((char *) (uintptr_t) (s))

enum role {
	ROLE_NONE = 0,
	ROLE_VIEWER,
	ROLE_WORKER,
	ROLE_OPERATOR,
	ROLE_ADMIN,
};

/* What a method needs of the caller's role. */
enum perm {
	PERM_PUBLIC = 0, /* no credentials needed */
	PERM_READ,       /* viewer and up */
	PERM_WORK,       /* worker, operator, admin */
	PERM_OPERATE,    /* operator, admin */
	PERM_ADMIN,      /* admin */
};

/* Parses "viewer", "worker", "operator", "admin". Returns 0 or -1. */
int         role_parse(const char *name, enum role *out);
const char *role_name(enum role role);
/* True if role may call a method needing perm. */
bool role_allows(enum role role, enum perm perm);

struct principal {
	char      identity[128];
	enum role role;
	/* Empty: every tenant. */
	char tenant[64];
	/* No key was configured and none was given: the server is open. */
	bool anonymous;
};

/* Settings the handlers read; fixed after start. */
struct service_config {
	time_t      started_at;
	int         schema_version;
	const char *server_version;
	/* Upper bound of a lease or heartbeat extension. */
	int max_lease_ms;
	/* Calls served at once (RPC worker threads); 0: unknown. ClaimJobs
	 * lets at most half of them wait for work. */
	int rpc_workers;
};

struct rpc_call {
	struct db                   *db;
	struct arena                *arena;
	const struct principal      *who;
	const struct service_config *cfg;
	const char                  *method;
	const char                  *correlation_id;
	/* The call's deadline in ms from its start (the request's, capped
	 * by the server); a handler that waits (a long poll) answers before
	 * it. */
	uint32_t timeout_ms;
	/* x-operator-identity, else the key's identity. */
	const char *operator_identity;
	/* Set by a handler that must keep its writes although it fails (an
	 * idempotency conflict quarantines the key; a refusal is audited). */
	bool commit_on_error;
	/* Set by call_fail. */
	const char *message;
};

/*
 * Records a human message for err and returns err, so handlers can write
 * `return (call_fail(call, OPSBUS_E_VALIDATION_ERROR, "limit ..."));`.
 */
opsbus_err call_fail(struct rpc_call *call, opsbus_err err, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

/* A new message of type desc, initialized, in the call's arena. */
ProtobufCMessage *call_new(
    struct rpc_call *call, const ProtobufCMessageDescriptor *desc);
/* n zeroed pointers in the call's arena, for repeated fields. */
void *call_array(struct rpc_call *call, size_t n, size_t size);
char *call_strdup(struct rpc_call *call, const char *s);
char *call_printf(struct rpc_call *call, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * The tenant a read covers: the requested one if the caller may read it
 * (as call_tenant checks), else the key's own; "" means every tenant (a
 * key without one, nothing requested).
 */
opsbus_err call_read_tenant(
    struct rpc_call *call, const char *requested, const char **out);

/*
 * The tenant a call acts on: the requested one if the caller may act on it,
 * else an error. Empty request: the key's tenant, else "default". Returns 0
 * and writes *out, or PERMISSION_DENIED / VALIDATION_ERROR via call_fail.
 */
opsbus_err call_tenant(
    struct rpc_call *call, const char *requested, const char **out);

#endif
