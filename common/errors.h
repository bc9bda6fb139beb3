/*
 * The one list of opsbus errors. Each entry carries its stable domain code
 * (the name), the gRPC status number the RPC layer answers, the HTTP status
 * the gateway answers, and a default human message. Everything that maps
 * an error to a wire value reads this list, so the mappings live in one
 * place (libuv's X-macro shape).
 */
#ifndef OPSBUS_ERRORS_H
#define OPSBUS_ERRORS_H

/* gRPC status numbers (google.rpc.Code). */
#define OPSBUS_GRPC_OK                  0
#define OPSBUS_GRPC_CANCELLED           1
#define OPSBUS_GRPC_UNKNOWN             2
#define OPSBUS_GRPC_INVALID_ARGUMENT    3
#define OPSBUS_GRPC_DEADLINE_EXCEEDED   4
#define OPSBUS_GRPC_NOT_FOUND           5
#define OPSBUS_GRPC_ALREADY_EXISTS      6
#define OPSBUS_GRPC_PERMISSION_DENIED   7
#define OPSBUS_GRPC_RESOURCE_EXHAUSTED  8
#define OPSBUS_GRPC_FAILED_PRECONDITION 9
#define OPSBUS_GRPC_ABORTED             10
#define OPSBUS_GRPC_OUT_OF_RANGE        11
#define OPSBUS_GRPC_UNIMPLEMENTED       12
#define OPSBUS_GRPC_INTERNAL            13
#define OPSBUS_GRPC_UNAVAILABLE         14
#define OPSBUS_GRPC_DATA_LOSS           15
#define OPSBUS_GRPC_UNAUTHENTICATED     16

/* X(name, grpc status, http status, default message) */
#define OPSBUS_ERRORS(X)                                                      \
	X(OK, OPSBUS_GRPC_OK, 200, "ok")                                      \
	X(VALIDATION_ERROR, OPSBUS_GRPC_INVALID_ARGUMENT, 400,                \
	    "the request is invalid")                                         \
	X(MALFORMED_MESSAGE, OPSBUS_GRPC_INVALID_ARGUMENT, 400,               \
	    "the message could not be decoded")                               \
	X(NESTING_TOO_DEEP, OPSBUS_GRPC_INVALID_ARGUMENT, 400,                \
	    "the message is nested too deeply")                               \
	X(INVALID_UTF8, OPSBUS_GRPC_INVALID_ARGUMENT, 400,                    \
	    "a string is not valid UTF-8")                                    \
	X(MESSAGE_TOO_LARGE, OPSBUS_GRPC_RESOURCE_EXHAUSTED, 413,             \
	    "the message is larger than the server accepts")                  \
	X(UNKNOWN_METHOD, OPSBUS_GRPC_UNIMPLEMENTED, 404, "no such method")   \
	X(UNAUTHORIZED, OPSBUS_GRPC_UNAUTHENTICATED, 401,                     \
	    "a valid API key is required")                                    \
	X(PERMISSION_DENIED, OPSBUS_GRPC_PERMISSION_DENIED, 403,              \
	    "the API key's role does not allow this")                         \
	X(JOB_NOT_FOUND, OPSBUS_GRPC_NOT_FOUND, 404, "no such job")           \
	X(DEAD_LETTER_NOT_FOUND, OPSBUS_GRPC_NOT_FOUND, 404,                  \
	    "no such dead letter")                                            \
	X(API_KEY_NOT_FOUND, OPSBUS_GRPC_NOT_FOUND, 404, "no such API key")   \
	X(QUEUE_NOT_FOUND, OPSBUS_GRPC_NOT_FOUND, 404, "no such queue")       \
	X(NOT_FOUND, OPSBUS_GRPC_NOT_FOUND, 404, "not found")                 \
	X(IDEMPOTENCY_CONFLICT, OPSBUS_GRPC_ALREADY_EXISTS, 409,              \
	    "the idempotency key was used with a different request")          \
	X(LEASE_LOST, OPSBUS_GRPC_FAILED_PRECONDITION, 409,                   \
	    "the lease expired or was taken over")                            \
	X(TERMINAL_STATE, OPSBUS_GRPC_FAILED_PRECONDITION, 409,               \
	    "the job is in a terminal state")                                 \
	X(DEAD_LETTER_REPLAY_REQUIRES_DEAD_FAILED,                            \
	    OPSBUS_GRPC_FAILED_PRECONDITION, 409,                             \
	    "only a dead_failed job can be replayed")                         \
	X(WRITEBACK_REPLAY_ALREADY_EXISTS, OPSBUS_GRPC_ALREADY_EXISTS, 409,   \
	    "the dead letter was already replayed")                           \
	X(WRITEBACK_PRECONDITION_FAILED, OPSBUS_GRPC_FAILED_PRECONDITION,     \
	    409, "a precondition of the writeback failed")                    \
	X(ILLEGAL_NOTE_STATE_TRANSITION, OPSBUS_GRPC_FAILED_PRECONDITION,     \
	    409, "the transition is not allowed")                             \
	X(DEAD_LETTER_ALREADY_ACKNOWLEDGED, OPSBUS_GRPC_FAILED_PRECONDITION,  \
	    409, "the dead letter is already acknowledged")                   \
	X(CANCEL_PENDING, OPSBUS_GRPC_FAILED_PRECONDITION, 409,               \
	    "the job's cancel was requested; it will end cancelled")          \
	X(BULK_OPERATION_NOT_FOUND, OPSBUS_GRPC_NOT_FOUND, 404,               \
	    "no such bulk operation")                                         \
	X(EXCEPTION_NOT_FOUND, OPSBUS_GRPC_NOT_FOUND, 404,                    \
	    "no such exception")                                              \
	X(EXCEPTION_ALREADY_RESOLVED, OPSBUS_GRPC_FAILED_PRECONDITION, 409,   \
	    "the exception is already resolved")                              \
	X(UNKNOWN_EVENT_TYPE, OPSBUS_GRPC_INVALID_ARGUMENT, 400,              \
	    "the queue does not allow this kind")                             \
	X(CONFLICT, OPSBUS_GRPC_ABORTED, 409,                                 \
	    "a concurrent change won; try again")                             \
	X(RATE_LIMITED, OPSBUS_GRPC_RESOURCE_EXHAUSTED, 429,                  \
	    "too many requests")                                              \
	X(REPLAY_RATE_LIMITED, OPSBUS_GRPC_RESOURCE_EXHAUSTED, 429,           \
	    "too many replays by this identity; slow down")                   \
	X(DEADLINE_EXCEEDED, OPSBUS_GRPC_DEADLINE_EXCEEDED, 504,              \
	    "the deadline passed before the call finished")                   \
	X(DATABASE_UNAVAILABLE, OPSBUS_GRPC_UNAVAILABLE, 503,                 \
	    "the database is unavailable")                                    \
	X(SHUTTING_DOWN, OPSBUS_GRPC_UNAVAILABLE, 503,                        \
	    "the server is shutting down")                                    \
	X(NOT_IMPLEMENTED, OPSBUS_GRPC_UNIMPLEMENTED, 501, "not implemented") \
	X(METHOD_NOT_ALLOWED, OPSBUS_GRPC_UNIMPLEMENTED, 405,                 \
	    "the path does not take this HTTP method")                        \
	X(UNSUPPORTED_MEDIA_TYPE, OPSBUS_GRPC_INVALID_ARGUMENT, 415,          \
	    "the body must be application/json")                              \
	X(UNAVAILABLE, OPSBUS_GRPC_UNAVAILABLE, 503,                          \
	    "the RPC server did not answer")                                  \
	X(INTERNAL, OPSBUS_GRPC_INTERNAL, 500, "internal error")

typedef enum {
#define OPSBUS_ERR_ENUM(name, grpc, http, text) OPSBUS_E_##name,
	OPSBUS_ERRORS(OPSBUS_ERR_ENUM)
#undef OPSBUS_ERR_ENUM
	    OPSBUS_E_COUNT_
} opsbus_err;

/* The stable upper-case domain code ("DEAD_LETTER_NOT_FOUND"). */
const char *opsbus_err_name(opsbus_err err);
/* The gRPC status number the RPC layer answers for err. */
int opsbus_err_grpc(opsbus_err err);
/* The HTTP status the gateway answers for err. */
int opsbus_err_http(opsbus_err err);
/* The default human message for err. */
const char *opsbus_err_text(opsbus_err err);
/* The gRPC status name ("NOT_FOUND") for a status number, or "UNKNOWN". */
const char *opsbus_grpc_name(int code);
/* The HTTP status for a gRPC status number (grpc-gateway's mapping). */
int opsbus_grpc_http(int code);
/*
 * Finds the error whose name is `name`. Returns 0 and writes *out, or -1 if
 * no error has that name.
 */
int opsbus_err_from_name(const char *name, opsbus_err *out);

#endif
