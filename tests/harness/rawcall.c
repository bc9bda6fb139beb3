/*
 * Raw envelopes for tests: lets a test send what no well-behaved client
 * would, and read exactly what the server answered.
 */
#include "rawcall.h"

#include <CUnit/CUnit.h>

#include <stdlib.h>
#include <string.h>

#define STR(s) ((char *) (uintptr_t) (s))

size_t
rawcall_pack_message(const ProtobufCMessage *m, uint8_t **out)
{
	size_t n = protobuf_c_message_get_packed_size(m);

	*out = malloc(n > 0 ? n : 1);
	return (protobuf_c_message_pack(m, *out));
}

size_t
rawcall_pack(const struct rawcall *r, uint8_t **out)
{
	Opsbus__V1__RpcRequest                 req;
	Opsbus__V1__RpcRequest__MetadataEntry  md[2];
	Opsbus__V1__RpcRequest__MetadataEntry *mdp[2];

	opsbus__v1__rpc_request__init(&req);
	req.method = STR(r->method != NULL ? r->method : "");
	req.body.data = (uint8_t *) (uintptr_t) r->body;
	req.body.len = r->body_len;
	req.request_id = STR(r->request_id != NULL ? r->request_id : "");
	req.metadata = mdp;
	if (r->api_key != NULL) {
		opsbus__v1__rpc_request__metadata_entry__init(
		    &md[req.n_metadata]);
		md[req.n_metadata].key = STR("x-api-key");
		md[req.n_metadata].value = STR(r->api_key);
		mdp[req.n_metadata] = &md[req.n_metadata];
		req.n_metadata++;
	}
	if (r->correlation_id != NULL) {
		opsbus__v1__rpc_request__metadata_entry__init(
		    &md[req.n_metadata]);
		md[req.n_metadata].key = STR("x-correlation-id");
		md[req.n_metadata].value = STR(r->correlation_id);
		mdp[req.n_metadata] = &md[req.n_metadata];
		req.n_metadata++;
	}
	return (rawcall_pack_message(&req.base, out));
}

Opsbus__V1__RpcResponse *
rawcall_send_bytes(struct opsbus_client *c, const void *buf, size_t len)
{
	struct opsbus_status     st;
	void                    *reply;
	size_t                   reply_len;
	Opsbus__V1__RpcResponse *resp;

	if (opsbus_call_raw(c, buf, len, &reply, &reply_len, &st) != 0) {
		return (NULL);
	}
	resp = opsbus__v1__rpc_response__unpack(NULL, reply_len, reply);
	free(reply);
	return (resp);
}

Opsbus__V1__RpcResponse *
rawcall_send(struct opsbus_client *c, const struct rawcall *r)
{
	uint8_t                 *buf;
	size_t                   n = rawcall_pack(r, &buf);
	Opsbus__V1__RpcResponse *resp = rawcall_send_bytes(c, buf, n);

	free(buf);
	return (resp);
}

ProtobufCMessage *
rawcall_resend(struct opsbus_client *c, const char *api_key,
    const char *method, const ProtobufCMessage *in, const char *request_id,
    const ProtobufCMessageDescriptor *out_desc)
{
	struct rawcall           rc = {0};
	uint8_t                 *body = NULL;
	Opsbus__V1__RpcResponse *r[2];
	ProtobufCMessage        *out = NULL;

	rc.method = method;
	rc.body_len = rawcall_pack_message(in, &body);
	rc.body = body;
	rc.api_key = api_key;
	rc.request_id = request_id;
	r[0] = rawcall_send(c, &rc);
	r[1] = rawcall_send(c, &rc);
	CU_ASSERT_PTR_NOT_NULL(r[0]);
	CU_ASSERT_PTR_NOT_NULL(r[1]);
	if (r[0] != NULL && r[1] != NULL) {
		CU_ASSERT_EQUAL(r[0]->code, 0);
		CU_ASSERT_EQUAL(r[1]->code, 0);
		CU_ASSERT_EQUAL(r[0]->body.len, r[1]->body.len);
		if (r[0]->code == 0 && r[1]->code == 0
		    && r[0]->body.len == r[1]->body.len) {
			CU_ASSERT_EQUAL(memcmp(r[0]->body.data,
			                    r[1]->body.data, r[0]->body.len),
			    0);
			out = protobuf_c_message_unpack(
			    out_desc, NULL, r[1]->body.len, r[1]->body.data);
		}
	}
	for (int i = 0; i < 2; i++) {
		if (r[i] != NULL) {
			opsbus__v1__rpc_response__free_unpacked(r[i], NULL);
		}
	}
	free(body);
	return (out);
}
