/*
 * Attribution and audit of operator commands (seed 004's rules), written
 * once for every command: the operator identity and a real reason are
 * checked, the command runs, and exactly one row goes to
 * operator_audit_log in the call's transaction: 'accepted' with the
 * command's change, or 'refused' with its error code after the command's
 * own writes were rolled back to a savepoint (the dispatcher then commits
 * the refusal row alone: commit_on_error).
 *
 * Not audited: calls the dispatcher refuses before any handler runs (no or
 * a wrong API key, a role that may not call the method, a body that does
 * not decode), and calls that fail because the database is unreachable or
 * lost a serialization race (the dispatcher runs those again, and the run
 * that ends writes the row).
 */
#ifndef OPSBUS_SERVICES_OPERATOR_AUDIT_H
#define OPSBUS_SERVICES_OPERATOR_AUDIT_H

#include <jansson.h>

#include "services/call.h"

struct db;

/* The longest reason and completion summary accepted. */
#define AUDIT_REASON_MAX 1000

/*
 * One audit row. The handler fills in what it learns as it runs (the
 * target, the details); the strings must outlive the call (arena or
 * static).
 */
struct audit {
	/* controlled_replay, cancel_request, manual_reroute, ... */
	const char *action;
	/* Who: set by audit_run before the command runs. */
	const char *identity;
	const char *reason;
	/* A UUID, or NULL. */
	const char *target_job_id;
	/* What was named when it is not a job, or NULL. */
	const char *target;
	/* A bulk operation's id, or NULL. */
	const char *operation_id;
	/* A JSON object as text, or NULL for {}. */
	const char *details;
	/* The request field the reason came from, for refusals; NULL:
	 * "reason". */
	const char *reason_field;
};

/* The command itself: reads in, writes out, may fill in a. */
typedef opsbus_err (*audit_command)(struct rpc_call *call,
    const ProtobufCMessage *in, ProtobufCMessage *out, struct audit *a);

/*
 * Runs an operator command with its audit row. The identity is actor when
 * not empty, else call->operator_identity (x-operator-identity, else the
 * key's); an anonymous caller of an open server without either, an
 * identity of more than 128 bytes or with control characters, and a reason
 * that valid_operator_reason refuses or longer than AUDIT_REASON_MAX are
 * refused with VALIDATION_ERROR before the command runs (and audited).
 * Returns what the command returned, or the error of writing the row.
 */
opsbus_err audit_run(struct rpc_call *call, struct audit *a, const char *actor,
    audit_command cmd, const ProtobufCMessage *in, ProtobufCMessage *out);

/*
 * Sets the target of a from a job id as the client sent it: target_job_id
 * when it is a UUID, else target (cut to 64 bytes), so that a refusal for
 * a malformed id still says what was named.
 */
void audit_target_job(struct rpc_call *call, struct audit *a, const char *id);
/* Sets a->target to text cut to 64 bytes on a character boundary. */
void audit_target_text(
    struct rpc_call *call, struct audit *a, const char *text);

/*
 * The compact text of obj, a JSON object built for audit details, copied
 * into the call's arena; takes the reference to obj (NULL gives NULL).
 * NULL when out of memory.
 */
const char *audit_json(struct rpc_call *call, json_t *obj);

/*
 * Writes one row on db, in its open transaction: outcome 'accepted' when
 * err is OPSBUS_E_OK, else 'refused' with err's name. For callers outside
 * an RPC (the bulk runner). Returns 0 or the database error.
 */
opsbus_err audit_write(struct db *db, const struct audit *a,
    const char *correlation_id, opsbus_err err);

#endif
