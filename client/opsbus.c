/*
 * libopsbus over nng REQ. Each call gets a fresh request id (a UUID), so
 * that when nng resends a request after a reconnect the server answers the
 * resend from its stored reply instead of running a mutating call twice.
 */
#include "opsbus.h"

#include <nng/nng.h>
#include <stdarg.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "opsbus/v1/rpc.pb-c.h"
#include "uuid4.h"

/* protoc-c types strings as char *; literals are const. */
#define PB_STR(s) ((char *) (uintptr_t) (s))

struct opsbus_client {
	nng_socket sock;
	char      *url;
	char      *api_key;
	char      *operator_identity;
	uint32_t   timeout_ms;
};

struct opsbus_service {
	ProtobufCService      base;
	struct opsbus_client *client;
	struct opsbus_status  status;
};

static void status_set(struct opsbus_status *st, int code,
    const char *error_code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
status_set(struct opsbus_status *st, int code, const char *error_code,
    const char *fmt, ...)
{
	va_list ap;

	if (st == NULL) {
		return;
	}
	st->code = code;
	snprintf(st->error_code, sizeof(st->error_code), "%s", error_code);
	va_start(ap, fmt);
	vsnprintf(st->message, sizeof(st->message), fmt, ap);
	va_end(ap);
}

static char *
dup_or_null(const char *s)
{
	return (s != NULL && s[0] != '\0') ? strdup(s) : NULL;
}

int
opsbus_client_open(const struct opsbus_client_config *cfg,
    struct opsbus_client **out, struct opsbus_status *st)
{
	struct opsbus_client *c;
	int                   rv;

	if (st != NULL) {
		memset(st, 0, sizeof(*st));
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		status_set(
		    st, OPSBUS_GRPC_INTERNAL, "INTERNAL", "out of memory");
		return (-1);
	}
	c->url = strdup(cfg->url != NULL && cfg->url[0] != '\0'
	        ? cfg->url
	        : "tcp://127.0.0.1:7470");
	c->api_key = dup_or_null(cfg->api_key);
	c->operator_identity = dup_or_null(cfg->operator_identity);
	c->timeout_ms = cfg->timeout_ms != 0 ? cfg->timeout_ms : 30000;
	if ((rv = nng_req0_open(&c->sock)) != 0) {
		status_set(st, OPSBUS_GRPC_INTERNAL, "INTERNAL",
		    "cannot open a REQ socket: %s", nng_strerror(rv));
		opsbus_client_close(c);
		return (-1);
	}
	/* Reconnect quickly after a server restart. */
	nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 50);
	nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 1000);
	nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, 64 * 1024 * 1024);
	rv = nng_dial(
	    c->sock, c->url, NULL, cfg->lazy ? NNG_FLAG_NONBLOCK : 0);
	if (rv != 0) {
		status_set(st, OPSBUS_GRPC_UNAVAILABLE, "UNAVAILABLE",
		    "cannot connect to %s: %s (is opsbusd running?)", c->url,
		    nng_strerror(rv));
		opsbus_client_close(c);
		return (-1);
	}
	*out = c;
	return (0);
}

void
opsbus_client_close(struct opsbus_client *c)
{
	if (c == NULL) {
		return;
	}
	nng_close(c->sock);
	free(c->url);
	free(c->api_key);
	free(c->operator_identity);
	free(c);
}

const char *
opsbus_code_name(int code)
{
	return (opsbus_grpc_name(code));
}

static int
transport_error(struct opsbus_client *c, int rv, struct opsbus_status *st)
{
	if (rv == NNG_ETIMEDOUT) {
		status_set(st, OPSBUS_GRPC_DEADLINE_EXCEEDED,
		    "DEADLINE_EXCEEDED",
		    "no answer from %s within %u ms (is opsbusd running?)",
		    c->url, (unsigned) c->timeout_ms);
	} else {
		status_set(st, OPSBUS_GRPC_UNAVAILABLE, "UNAVAILABLE",
		    "%s: %s", c->url, nng_strerror(rv));
	}
	return (-1);
}

int
opsbus_call_raw(struct opsbus_client *c, const void *req, size_t len,
    void **reply, size_t *reply_len, struct opsbus_status *st)
{
	nng_ctx  ctx;
	nng_aio *aio;
	nng_msg *msg;
	int      rv;

	if ((rv = nng_aio_alloc(&aio, NULL, NULL)) != 0) {
		return (transport_error(c, rv, st));
	}
	if ((rv = nng_ctx_open(&ctx, c->sock)) != 0) {
		nng_aio_free(aio);
		return (transport_error(c, rv, st));
	}
	nng_aio_set_timeout(aio, (nng_duration) c->timeout_ms);
	if ((rv = nng_msg_alloc(&msg, len)) != 0) {
		goto fail;
	}
	memcpy(nng_msg_body(msg), req, len);
	nng_aio_set_msg(aio, msg);
	nng_ctx_send(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0) {
		/* On failure the message is still ours. */
		nng_msg_free(nng_aio_get_msg(aio));
		goto fail;
	}
	nng_ctx_recv(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0) {
		goto fail;
	}
	msg = nng_aio_get_msg(aio);
	nng_ctx_close(ctx);
	nng_aio_free(aio);
	*reply_len = nng_msg_len(msg);
	*reply = malloc(*reply_len > 0 ? *reply_len : 1);
	if (*reply == NULL) {
		nng_msg_free(msg);
		status_set(
		    st, OPSBUS_GRPC_INTERNAL, "INTERNAL", "out of memory");
		return (-1);
	}
	memcpy(*reply, nng_msg_body(msg), *reply_len);
	nng_msg_free(msg);
	return (0);
fail:
	nng_ctx_close(ctx);
	nng_aio_free(aio);
	return (transport_error(c, rv, st));
}

int
opsbus_call(struct opsbus_client *c, const char *method,
    const ProtobufCMessage *in, const ProtobufCMessageDescriptor *out_desc,
    ProtobufCMessage **out, const char *correlation_id,
    struct opsbus_status *st)
{
	return (opsbus_call_once(
	    c, method, in, out_desc, out, correlation_id, NULL, st));
}

int
opsbus_call_once(struct opsbus_client *c, const char *method,
    const ProtobufCMessage *in, const ProtobufCMessageDescriptor *out_desc,
    ProtobufCMessage **out, const char *correlation_id,
    const char *request_id_given, struct opsbus_status *st)
{
	Opsbus__V1__RpcRequest req = OPSBUS__V1__RPC_REQUEST__INIT;
	Opsbus__V1__RpcRequest__MetadataEntry  md[3];
	Opsbus__V1__RpcRequest__MetadataEntry *mdp[3];
	Opsbus__V1__RpcResponse               *resp;
	uint8_t                               *body, *packed;
	size_t                                 body_len, packed_len, reply_len;
	void                                  *reply;
	char                                   request_id[UUID4_TEXT_LEN];
	int                                    rv;

	if (st != NULL) {
		memset(st, 0, sizeof(*st));
	}
	body_len = protobuf_c_message_get_packed_size(in);
	if ((body = malloc(body_len > 0 ? body_len : 1)) == NULL) {
		status_set(
		    st, OPSBUS_GRPC_INTERNAL, "INTERNAL", "out of memory");
		return (-1);
	}
	protobuf_c_message_pack(in, body);
	if (request_id_given != NULL && request_id_given[0] != '\0') {
		snprintf(
		    request_id, sizeof(request_id), "%.36s", request_id_given);
	} else {
		uuid4_text(request_id);
	}
	req.method = (char *) (uintptr_t) method;
	req.body.data = body;
	req.body.len = body_len;
	req.timeout_ms = c->timeout_ms;
	req.request_id = request_id;
	req.metadata = mdp;
	req.n_metadata = 0;
	if (c->api_key != NULL) {
		opsbus__v1__rpc_request__metadata_entry__init(
		    &md[req.n_metadata]);
		md[req.n_metadata].key = PB_STR("x-api-key");
		md[req.n_metadata].value = c->api_key;
		mdp[req.n_metadata] = &md[req.n_metadata];
		req.n_metadata++;
	}
	if (c->operator_identity != NULL) {
		opsbus__v1__rpc_request__metadata_entry__init(
		    &md[req.n_metadata]);
		md[req.n_metadata].key = PB_STR("x-operator-identity");
		md[req.n_metadata].value = c->operator_identity;
		mdp[req.n_metadata] = &md[req.n_metadata];
		req.n_metadata++;
	}
	if (correlation_id != NULL && correlation_id[0] != '\0') {
		opsbus__v1__rpc_request__metadata_entry__init(
		    &md[req.n_metadata]);
		md[req.n_metadata].key = PB_STR("x-correlation-id");
		md[req.n_metadata].value = (char *) (uintptr_t) correlation_id;
		mdp[req.n_metadata] = &md[req.n_metadata];
		req.n_metadata++;
	}
	packed_len = opsbus__v1__rpc_request__get_packed_size(&req);
	packed = malloc(packed_len);
	if (packed == NULL) {
		free(body);
		status_set(
		    st, OPSBUS_GRPC_INTERNAL, "INTERNAL", "out of memory");
		return (-1);
	}
	opsbus__v1__rpc_request__pack(&req, packed);
	free(body);
	rv = opsbus_call_raw(c, packed, packed_len, &reply, &reply_len, st);
	free(packed);
	if (rv != 0) {
		return (-1);
	}
	resp = opsbus__v1__rpc_response__unpack(NULL, reply_len, reply);
	free(reply);
	if (resp == NULL) {
		status_set(st, OPSBUS_GRPC_INTERNAL, "INTERNAL",
		    "the server's answer is not an RpcResponse");
		return (-1);
	}
	if (st != NULL) {
		snprintf(st->correlation_id, sizeof(st->correlation_id), "%s",
		    resp->correlation_id);
	}
	if (resp->code != 0) {
		status_set(
		    st, resp->code, resp->error_code, "%s", resp->message);
		opsbus__v1__rpc_response__free_unpacked(resp, NULL);
		return (-1);
	}
	*out = protobuf_c_message_unpack(
	    out_desc, NULL, resp->body.len, resp->body.data);
	opsbus__v1__rpc_response__free_unpacked(resp, NULL);
	if (*out == NULL) {
		status_set(st, OPSBUS_GRPC_INTERNAL, "INTERNAL",
		    "the answer is not a %s", out_desc->name);
		return (-1);
	}
	if (st != NULL) {
		st->code = 0;
		snprintf(st->error_code, sizeof(st->error_code), "OK");
	}
	return (0);
}

static void
service_invoke(ProtobufCService *service, unsigned method_index,
    const ProtobufCMessage *input, ProtobufCClosure closure,
    void *closure_data)
{
	struct opsbus_service *s = (struct opsbus_service *) service;
	const ProtobufCServiceDescriptor *desc = service->descriptor;
	const ProtobufCMethodDescriptor  *md = &desc->methods[method_index];
	ProtobufCMessage                 *out = NULL;
	char                              name[256];

	snprintf(name, sizeof(name), "%s/%s", desc->name, md->name);
	if (opsbus_call(
	        s->client, name, input, md->output, &out, NULL, &s->status)
	    != 0) {
		closure(NULL, closure_data);
		return;
	}
	closure(out, closure_data);
	protobuf_c_message_free_unpacked(out, NULL);
}

static void
service_destroy(ProtobufCService *service)
{
	free(service);
}

ProtobufCService *
opsbus_service(struct opsbus_client *c, const ProtobufCServiceDescriptor *desc)
{
	struct opsbus_service *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		return (NULL);
	}
	s->base.descriptor = desc;
	s->base.invoke = service_invoke;
	s->base.destroy = service_destroy;
	s->client = c;
	return (&s->base);
}

const struct opsbus_status *
opsbus_service_status(const ProtobufCService *svc)
{
	return (&((const struct opsbus_service *) svc)->status);
}
