/*
 * The transcoder between one HTTP request and one RPC, generic over the
 * message descriptors of the route table: nothing here knows a message
 * type. JSON is parsed by jansson (duplicate keys refused, NUL refused,
 * nesting capped by jansson's own limit before pbjson's) and mapped by
 * pbjson.
 */
#include "gateway/transcode.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opsbus/v1/rpc.pb-c.h"
#include "pbjson.h"
#include "utf8.h"

#define PB_STR(s) ((char *) (uintptr_t) (s))

static int refuse(struct gw_error *e, opsbus_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
refuse(struct gw_error *e, opsbus_err err, const char *fmt, ...)
{
	va_list ap;

	e->err = err;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return (-1);
}

char *
gw_json_name(const char *proto_name, struct arena *a)
{
	size_t n = strlen(proto_name);
	char  *out = arena_alloc(a, n + 1);
	size_t o = 0;
	bool   up = false;

	if (out == NULL) {
		return (NULL);
	}
	for (size_t i = 0; i < n; i++) {
		char c = proto_name[i];
		if (c == '_') {
			up = true;
			continue;
		}
		if (up && c >= 'a' && c <= 'z') {
			c = (char) (c - 'a' + 'A');
		}
		up = false;
		out[o++] = c;
	}
	out[o] = '\0';
	return (out);
}

static ProtobufCMessage *
new_message(const ProtobufCMessageDescriptor *desc, struct arena *a)
{
	ProtobufCMessage *m = arena_alloc(a, desc->sizeof_message);

	if (m != NULL) {
		desc->message_init(m);
	}
	return (m);
}

/* Parses the body as JSON; refuses what is not UTF-8, too deep, not JSON
 * or not an object. */
static int
parse_body(const char *body, size_t len, json_t **out, struct gw_error *e)
{
	json_error_t jerr;
	json_t      *j;

	if (!utf8_valid(body, len)) {
		return (refuse(
		    e, OPSBUS_E_INVALID_UTF8, "the body is not valid UTF-8"));
	}
	j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (j == NULL) {
		if (json_error_code(&jerr) == json_error_stack_overflow) {
			return (refuse(e, OPSBUS_E_NESTING_TOO_DEEP,
			    "the body is nested too deeply"));
		}
		if (json_error_code(&jerr) == json_error_invalid_utf8) {
			return (refuse(e, OPSBUS_E_INVALID_UTF8,
			    "the body is not valid UTF-8"));
		}
		return (refuse(e, OPSBUS_E_VALIDATION_ERROR,
		    "the body is not JSON: %s (line %d, column %d)", jerr.text,
		    jerr.line, jerr.column));
	}
	if (!json_is_object(j)) {
		json_decref(j);
		return (refuse(e, OPSBUS_E_VALIDATION_ERROR,
		    "the body must be a JSON object"));
	}
	*out = j;
	return (0);
}

static int
body_to_message(const struct gw_route_def *def, const char *body,
    size_t body_len, struct arena *a, ProtobufCMessage **out,
    struct gw_error *e)
{
	const ProtobufCFieldDescriptor   *f = NULL;
	const ProtobufCMessageDescriptor *target = def->input;
	ProtobufCMessage                 *msg, *sub = NULL;
	json_t                           *j = NULL;
	char                              why[200];
	int                               rv;

	if (strcmp(def->body, "*") != 0) {
		f = protobuf_c_message_descriptor_get_field_by_name(
		    def->input, def->body);
		if (f == NULL || f->type != PROTOBUF_C_TYPE_MESSAGE) {
			return (refuse(e, OPSBUS_E_INTERNAL,
			    "the route's body field is not a message"));
		}
		target = f->descriptor;
	}
	if (body == NULL || body_len == 0) {
		msg = new_message(def->input, a);
		if (msg == NULL) {
			return (refuse(e, OPSBUS_E_INTERNAL, "out of memory"));
		}
		*out = msg;
		return (0);
	}
	if (parse_body(body, body_len, &j, e) != 0) {
		return (-1);
	}
	rv = pbjson_to_message(target, j, a, &sub, why, sizeof(why));
	json_decref(j);
	if (rv != 0) {
		return (refuse(e,
		    strstr(why, "UTF-8") != NULL ? OPSBUS_E_INVALID_UTF8
		        : strstr(why, "deep") != NULL
		        ? OPSBUS_E_NESTING_TOO_DEEP
		        : OPSBUS_E_VALIDATION_ERROR,
		    "body: %s", why));
	}
	if (f == NULL) {
		*out = sub;
		return (0);
	}
	if ((msg = new_message(def->input, a)) == NULL) {
		return (refuse(e, OPSBUS_E_INTERNAL, "out of memory"));
	}
	*(ProtobufCMessage **) (void *) ((char *) msg + f->offset) = sub;
	*out = msg;
	return (0);
}

/* True if key names the captured field (in either spelling). */
static bool
is_captured(const struct gw_match *m, const char *key, struct arena *a)
{
	for (int i = 0; i < m->n_cap; i++) {
		const char *camel = gw_json_name(m->cap[i].field, a);
		if (strcmp(key, m->cap[i].field) == 0
		    || (camel != NULL && strcmp(key, camel) == 0)) {
			return (true);
		}
	}
	return (false);
}

int
gw_input_build(const struct gw_match *m, const struct gw_param *q, size_t n_q,
    const char *body, size_t body_len, struct arena *a, ProtobufCMessage **out,
    struct gw_error *e)
{
	const struct gw_route_def *def = m->route->def;
	ProtobufCMessage          *msg = NULL;
	char                       why[200];

	if (def->body[0] != '\0') {
		if (body_to_message(def, body, body_len, a, &msg, e) != 0) {
			return (-1);
		}
	} else if ((msg = new_message(def->input, a)) == NULL) {
		return (refuse(e, OPSBUS_E_INTERNAL, "out of memory"));
	}
	for (int i = 0; i < m->n_cap; i++) {
		if (!utf8_valid(m->cap[i].value, strlen(m->cap[i].value))) {
			return (refuse(e, OPSBUS_E_INVALID_UTF8,
			    "path parameter {%s} is not valid UTF-8",
			    m->cap[i].field));
		}
		if (pbjson_set_field_from_string(msg, m->cap[i].field,
		        m->cap[i].value, a, why, sizeof(why))
		    != 0) {
			return (refuse(e, OPSBUS_E_VALIDATION_ERROR,
			    "path parameter {%s}: %s", m->cap[i].field, why));
		}
	}
	if (n_q > 0 && strcmp(def->body, "*") == 0) {
		return (refuse(e, OPSBUS_E_VALIDATION_ERROR,
		    "%s takes its fields from the JSON body, not from query "
		    "parameters (got \"%.64s\")",
		    m->route->name, q[0].key));
	}
	for (size_t i = 0; i < n_q; i++) {
		if (is_captured(m, q[i].key, a)) {
			return (refuse(e, OPSBUS_E_VALIDATION_ERROR,
			    "query parameter \"%.64s\" is part of the path",
			    q[i].key));
		}
		if (!utf8_valid(q[i].key, strlen(q[i].key))
		    || !utf8_valid(q[i].value, strlen(q[i].value))) {
			return (refuse(e, OPSBUS_E_INVALID_UTF8,
			    "a query parameter is not valid UTF-8"));
		}
		if (pbjson_set_field_from_string(
		        msg, q[i].key, q[i].value, a, why, sizeof(why))
		    != 0) {
			return (refuse(e, OPSBUS_E_VALIDATION_ERROR,
			    "query parameter \"%.64s\": %s", q[i].key, why));
		}
	}
	*out = msg;
	return (0);
}

int
gw_request_pack(const char *method, const ProtobufCMessage *in,
    const struct gw_call_meta *md, struct arena *a, uint8_t **buf, size_t *len)
{
	Opsbus__V1__RpcRequest req = OPSBUS__V1__RPC_REQUEST__INIT;
	Opsbus__V1__RpcRequest__MetadataEntry  ent[4];
	Opsbus__V1__RpcRequest__MetadataEntry *ptr[4];
	const char *keys[4] = {"x-api-key", "authorization",
	    "x-operator-identity", "x-correlation-id"};
	const char *vals[4] = {md->api_key, md->authorization,
	    md->operator_identity, md->correlation_id};
	size_t      n;

	req.method = PB_STR(method);
	if (in != NULL) {
		n = protobuf_c_message_get_packed_size(in);
		req.body.data = arena_alloc(a, n > 0 ? n : 1);
		if (req.body.data == NULL) {
			return (-1);
		}
		req.body.len = protobuf_c_message_pack(in, req.body.data);
	}
	for (int i = 0; i < 4; i++) {
		if (vals[i] == NULL || vals[i][0] == '\0') {
			continue;
		}
		opsbus__v1__rpc_request__metadata_entry__init(
		    &ent[req.n_metadata]);
		ent[req.n_metadata].key = PB_STR(keys[i]);
		ent[req.n_metadata].value = PB_STR(vals[i]);
		ptr[req.n_metadata] = &ent[req.n_metadata];
		req.n_metadata++;
	}
	req.metadata = ptr;
	req.timeout_ms = md->timeout_ms;
	req.request_id = PB_STR(md->request_id != NULL ? md->request_id : "");
	n = opsbus__v1__rpc_request__get_packed_size(&req);
	if ((*buf = arena_alloc(a, n > 0 ? n : 1)) == NULL) {
		return (-1);
	}
	*len = opsbus__v1__rpc_request__pack(&req, *buf);
	return (0);
}

/* Serializes env (stolen) into ans. */
static int
answer_json(json_t *env, unsigned status, struct gw_answer *ans)
{
	if (env == NULL) {
		return (-1);
	}
	ans->body = json_dumps(env, JSON_COMPACT);
	json_decref(env);
	if (ans->body == NULL) {
		return (-1);
	}
	ans->len = strlen(ans->body);
	ans->status = status;
	return (0);
}

/* Text for a JSON string: invalid UTF-8 (a message that quotes client
 * input, cut short) has its non-ASCII bytes replaced by '?'. */
static const char *
json_text(const char *s, char *buf, size_t buf_len)
{
	size_t i;

	if (s == NULL) {
		return ("");
	}
	if (utf8_valid(s, strlen(s))) {
		return (s);
	}
	for (i = 0; s[i] != '\0' && i + 1 < buf_len; i++) {
		buf[i] = (unsigned char) s[i] < 0x80 ? s[i] : '?';
	}
	buf[i] = '\0';
	return (buf);
}

static int
error_envelope(unsigned status, const char *code, const char *message,
    const char *cid, struct gw_answer *ans)
{
	char    b1[512], b2[64], b3[160];
	json_t *env = json_pack("{s:b, s:{s:s, s:s}, s:s}", "ok", 0, "error",
	    "code", json_text(code, b2, sizeof(b2)), "message",
	    json_text(message, b1, sizeof(b1)), "correlationId",
	    json_text(cid, b3, sizeof(b3)));

	memset(ans, 0, sizeof(*ans));
	ans->correlation_id = cid;
	return (answer_json(env, status, ans));
}

int
gw_answer_error(opsbus_err err, const char *message,
    const char *correlation_id, struct gw_answer *ans)
{
	return (error_envelope((unsigned) opsbus_err_http(err),
	    opsbus_err_name(err),
	    message != NULL ? message : opsbus_err_text(err), correlation_id,
	    ans));
}

/* The data of the envelope: out, or its response_body field. */
static json_t *
data_json(const struct gw_route_def *def, const ProtobufCMessage *out,
    struct arena *a, struct gw_answer *ans)
{
	json_t     *all = pbjson_from_message(out, PBJSON_EMIT_DEFAULTS);
	json_t     *field;
	const char *name;
	const ProtobufCFieldDescriptor *tok;

	if (all == NULL || def->response_body[0] == '\0') {
		return (all);
	}
	tok = protobuf_c_message_descriptor_get_field_by_name(
	    out->descriptor, "next_page_token");
	if (tok != NULL && tok->type == PROTOBUF_C_TYPE_STRING
	    && tok->label != PROTOBUF_C_LABEL_REPEATED) {
		const char *t
		    = *(char *const *) (const void *) ((const char *) out
		        + tok->offset);
		if (t != NULL && t[0] != '\0') {
			ans->next_page_token = arena_strdup(a, t);
		}
	}
	name = gw_json_name(def->response_body, a);
	field = name != NULL ? json_object_get(all, name) : NULL;
	field = field != NULL ? json_incref(field) : json_null();
	json_decref(all);
	return (field);
}

int
gw_answer_from_reply(const struct gw_route_def *def, const uint8_t *reply,
    size_t len, struct arena *a, struct gw_answer *ans)
{
	Opsbus__V1__RpcResponse *resp;
	ProtobufCMessage        *out;
	json_t                  *data;
	opsbus_err               err;
	unsigned                 status;

	memset(ans, 0, sizeof(*ans));
	resp = opsbus__v1__rpc_response__unpack(&a->pb, len, reply);
	if (resp == NULL) {
		return (gw_answer_error(OPSBUS_E_INTERNAL,
		    "the RPC server's answer could not be decoded", NULL,
		    ans));
	}
	ans->correlation_id = resp->correlation_id;
	if (resp->code != 0) {
		if (opsbus_err_from_name(resp->error_code, &err) == 0) {
			status = (unsigned) opsbus_err_http(err);
		} else {
			status = (unsigned) opsbus_grpc_http(resp->code);
		}
		return (error_envelope(status,
		    resp->error_code[0] != '\0' ? resp->error_code
		                                : opsbus_grpc_name(resp->code),
		    resp->message, resp->correlation_id, ans));
	}
	out = protobuf_c_message_unpack(
	    def->output, &a->pb, resp->body.len, resp->body.data);
	if (out == NULL) {
		return (error_envelope(500, "INTERNAL",
		    "the RPC server's answer could not be decoded",
		    resp->correlation_id, ans));
	}
	if ((data = data_json(def, out, a, ans)) == NULL) {
		return (error_envelope(500, "INTERNAL",
		    "the answer could not be printed as JSON",
		    resp->correlation_id, ans));
	}
	return (answer_json(
	    json_pack("{s:b, s:o}", "ok", 1, "data", data), 200, ans));
}
