/*
 * Hand-built requests for tests of the dispatcher's refusals: an envelope
 * with any method, body, metadata and request id, sent as raw bytes, and the
 * RpcResponse read back.
 */
#ifndef OPSBUS_TEST_RAWCALL_H
#define OPSBUS_TEST_RAWCALL_H

#include <stddef.h>
#include <stdint.h>

#include "opsbus.h"
#include "opsbus/v1/rpc.pb-c.h"

struct rawcall {
	const char    *method;
	const uint8_t *body;
	size_t         body_len;
	const char    *api_key; /* x-api-key, or NULL */
	const char    *request_id;
	const char    *correlation_id;
};

/* Packs the envelope (malloc'd) into *out. */
size_t rawcall_pack(const struct rawcall *r, uint8_t **out);

/* Sends bytes and unpacks the answer (free with
 * opsbus__v1__rpc_response__free_unpacked); NULL on transport failure. */
Opsbus__V1__RpcResponse *rawcall_send_bytes(
    struct opsbus_client *c, const void *buf, size_t len);

/* rawcall_pack + rawcall_send_bytes. */
Opsbus__V1__RpcResponse *rawcall_send(
    struct opsbus_client *c, const struct rawcall *r);

/* Packs a message into a malloc'd buffer. */
size_t rawcall_pack_message(const ProtobufCMessage *m, uint8_t **out);

/*
 * Sends in as method with request_id twice (a resend), asserts (CUnit)
 * that both answers are OK and the same bytes, and returns the answer's
 * body unpacked as out_desc (free with protobuf_c_message_free_unpacked),
 * or NULL when a check failed.
 */
ProtobufCMessage *rawcall_resend(struct opsbus_client *c, const char *api_key,
    const char *method, const ProtobufCMessage *in, const char *request_id,
    const ProtobufCMessageDescriptor *out_desc);

#endif
