/*
 * HTTP <-> RPC for one route: the input message from the path captures,
 * the query string and the JSON body (common/pbjson.h, the proto3 JSON
 * mapping); the packed RpcRequest around it; and the JSON envelope of seed
 * 001 from the RpcResponse: {"ok": true, "data": ...} or {"ok": false,
 * "error": {"code", "message"}, "correlationId"}, with the HTTP status of
 * the error list (common/errors.h).
 */
#ifndef OPSBUS_GATEWAY_TRANSCODE_H
#define OPSBUS_GATEWAY_TRANSCODE_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "errors.h"
#include "gateway/router.h"

/* One query parameter, percent-decoded. */
struct gw_param {
	const char *key;
	const char *value;
};

/* Why a request was refused before it reached the RPC server. */
struct gw_error {
	opsbus_err err;
	char       message[256];
};

/*
 * Makes the input message of m->route: the body first (body "*": the whole
 * message; body "<field>": that message field; no body: nothing), then the
 * path captures (which win over the body), then the query parameters
 * (refused on routes whose body is "*", and for fields the path binds).
 * body may be NULL or empty: an empty body is {}. Everything is allocated
 * in a. Returns 0 and writes *out, or -1 and fills e: VALIDATION_ERROR (not
 * JSON, unknown field, wrong type, bad parameter), INVALID_UTF8,
 * NESTING_TOO_DEEP.
 */
int gw_input_build(const struct gw_match *m, const struct gw_param *q,
    size_t n_q, const char *body, size_t body_len, struct arena *a,
    ProtobufCMessage **out, struct gw_error *e);

/* The metadata the RPC server reads (DESIGN.md, "The wire"). */
struct gw_call_meta {
	const char *api_key;
	const char *authorization;
	const char *operator_identity;
	const char *correlation_id;
	/* A fresh id per HTTP request, so nng's resend runs a mutating call
	 * once. */
	const char *request_id;
	uint32_t    timeout_ms;
};

/*
 * Packs the RpcRequest calling method with in (which may be NULL: an empty
 * body) into a new buffer in a. Returns 0, or -1 when out of memory.
 */
int gw_request_pack(const char *method, const ProtobufCMessage *in,
    const struct gw_call_meta *md, struct arena *a, uint8_t **buf,
    size_t *len);

/* An HTTP answer: status and JSON body (malloc'd; the caller frees). */
struct gw_answer {
	unsigned status;
	char    *body;
	size_t   len;
	/* From the RpcResponse (or the one given), in the arena. */
	const char *correlation_id;
	/* The output's next_page_token when response_body hides it. */
	const char *next_page_token;
};

/*
 * Turns the packed RpcResponse reply[0..len) of a call to def into an
 * answer: the envelope with data (the output, or its response_body field,
 * every field printed with its default), or the error envelope with the
 * status of the error's domain code (else of its gRPC code). Unpacked
 * replies live in a. Returns 0, or -1 when out of memory.
 */
int gw_answer_from_reply(const struct gw_route_def *def, const uint8_t *reply,
    size_t len, struct arena *a, struct gw_answer *ans);

/*
 * The error envelope for err with message (NULL: the default text) and
 * correlation id. Fills ans (status from the error list); -1 when out of
 * memory.
 */
int gw_answer_error(opsbus_err err, const char *message,
    const char *correlation_id, struct gw_answer *ans);

/* The lowerCamelCase JSON name of a proto field name, as protoc makes it,
 * in a. */
char *gw_json_name(const char *proto_name, struct arena *a);

#endif
