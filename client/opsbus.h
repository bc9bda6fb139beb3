/*
 * libopsbus: the C client. It speaks the RpcRequest/RpcResponse envelope
 * over an nng REQ socket, and plugs into the protoc-c generated stubs: for
 * a service descriptor it gives a ProtobufCService whose invoke sends the
 * envelope, so `opsbus__v1__job_service__create_job(svc, &req, cb, data)`
 * works as protoc-c intends. opsbus_call is the same path without stubs.
 *
 * A client may be used from several threads at once: each call opens its
 * own nng context on the shared socket.
 */
#ifndef OPSBUS_CLIENT_H
#define OPSBUS_CLIENT_H

#include <protobuf-c/protobuf-c.h>
#include <stdint.h>

struct opsbus_client;

struct opsbus_client_config {
	/* tcp://127.0.0.1:7470 when NULL. */
	const char *url;
	/* Sent as x-api-key when not NULL or empty. */
	const char *api_key;
	/* Sent as x-operator-identity when not NULL or empty. */
	const char *operator_identity;
	/* A call's deadline; 0: 30000. Also sent as the RpcRequest's
	 * timeout_ms. */
	uint32_t timeout_ms;
	/* Open without waiting for the server (it may start later): the
	 * socket connects in the background and calls wait for it. */
	int lazy;
};

/* The outcome of a call: code 0 is OK, else a gRPC status number. */
struct opsbus_status {
	int code;
	/* The domain code ("JOB_NOT_FOUND"); transport failures say
	 * "UNAVAILABLE" or "DEADLINE_EXCEEDED". */
	char error_code[64];
	char message[512];
	char correlation_id[64];
};

/*
 * Opens a client. Returns 0 and writes *out; on failure returns -1 and
 * fills st (connection refused, bad URL).
 */
int opsbus_client_open(const struct opsbus_client_config *cfg,
    struct opsbus_client **out, struct opsbus_status *st);
/* Closes the socket and frees. NULL does nothing. */
void opsbus_client_close(struct opsbus_client *c);

/*
 * Calls method ("opsbus.v1.JobService/GetJob") with in and, on success,
 * unpacks the answer as out_desc into *out (free it with
 * protobuf_c_message_free_unpacked(*out, NULL)). Returns 0, or -1 with st
 * filled. A correlation id may be given (NULL: the server makes one).
 */
int opsbus_call(struct opsbus_client *c, const char *method,
    const ProtobufCMessage *in, const ProtobufCMessageDescriptor *out_desc,
    ProtobufCMessage **out, const char *correlation_id,
    struct opsbus_status *st);

/*
 * opsbus_call with the request id given (up to 36 characters; NULL or "":
 * a new one, as opsbus_call does). Give every try of one call the same id:
 * a mutating call the server already ran then answers its stored reply
 * instead of running again (a retry after a lost answer completes nothing
 * twice, and gets the first answer rather than LEASE_LOST).
 */
int opsbus_call_once(struct opsbus_client *c, const char *method,
    const ProtobufCMessage *in, const ProtobufCMessageDescriptor *out_desc,
    ProtobufCMessage **out, const char *correlation_id, const char *request_id,
    struct opsbus_status *st);

/*
 * Sends raw bytes as one request and returns the raw reply bytes (malloc'd
 * into *reply, *reply_len), for tests of malformed input. Returns 0 or -1.
 */
int opsbus_call_raw(struct opsbus_client *c, const void *req, size_t len,
    void **reply, size_t *reply_len, struct opsbus_status *st);

/*
 * A ProtobufCService for desc whose methods call through c. The closure of
 * a generated stub gets the output message (freed by libopsbus after the
 * closure returns) or NULL on failure; opsbus_service_status tells why.
 * Free with svc->destroy(svc). Returns NULL when out of memory.
 */
ProtobufCService *opsbus_service(
    struct opsbus_client *c, const ProtobufCServiceDescriptor *desc);
/* The status of the last call made through svc (use one svc per thread). */
const struct opsbus_status *opsbus_service_status(const ProtobufCService *svc);

/* The gRPC status name ("NOT_FOUND") for a code. */
const char *opsbus_code_name(int code);

#endif
