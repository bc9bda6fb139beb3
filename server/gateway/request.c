/*
 * One HTTP request, as a small state machine driven by MHD's access
 * handler (nng's demo/rest shape, with MHD's suspend/resume):
 *
 *   READING   headers seen: route matched, limits checked; body chunks
 *             appended as they come
 *   WAITING   body complete: transcoded, sent on its own nng context;
 *             the connection is suspended until the answer (or timeout)
 *             arrives in rpc_done on an nng thread, which resumes it
 *   DONE      MHD calls the handler again: the answer is queued
 *   ANSWERED  a response is queued; nothing more to do
 *
 * Errors found before the RPC (404, 405, 413, 415, bad JSON) are answered
 * at once in the same envelope the RPC server's errors get.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/internal.h"
#include "gateway/transcode.h"
#include "log.h"
#include "opsbus/v1/rpc.pb-c.h"
#include "uuid4.h"

/* Most query parameters one request may carry. */
#define GW_MAX_PARAMS 64

enum req_state { RS_READING, RS_WAITING, RS_DONE, RS_ANSWERED };
enum req_kind { RK_ROUTE, RK_METRICS, RK_OPENAPI };

struct gw_req {
	struct gateway        *gw;
	struct MHD_Connection *conn;
	struct arena           a;
	_Atomic int            state;
	enum req_kind          kind;
	struct gw_match        match;
	int64_t                t0_us;
	const char            *correlation_id;
	/* The body so far (at most max_body bytes). */
	char  *body;
	size_t len, cap;
	/* Bytes past max_body, read and dropped. */
	size_t dropped;
	/* The RPC: context, aio, its phase, its result. */
	nng_ctx  ctx;
	bool     ctx_open;
	nng_aio *aio;
	bool     receiving;
	int      rv;
	nng_msg *reply;
	/* Parameters gathered by the MHD iterator. */
	struct gw_param params[GW_MAX_PARAMS];
	size_t          n_params;
	bool            params_bad;
};

static const char *
header(struct gw_req *r, const char *name)
{
	return (MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name));
}

/* A correlation id a client gives is kept if short and plain (the RPC
 * server's rule), else the gateway makes one. */
static const char *
correlation_id(struct gw_req *r)
{
	const char *v = header(r, "X-Correlation-Id");
	char       *s;
	size_t      n = v != NULL ? strlen(v) : 0;
	bool        ok = n > 0 && n <= 128;

	for (size_t i = 0; ok && i < n; i++) {
		ok = isalnum((unsigned char) v[i])
		    || strchr("._:-", v[i]) != NULL;
	}
	if (ok) {
		return (v);
	}
	if ((s = arena_alloc(&r->a, UUID4_TEXT_LEN)) == NULL) {
		return ("");
	}
	uuid4_text(s);
	return (s);
}

/* Queues resp with the headers every answer carries. */
static enum MHD_Result
queue(struct gw_req *r, unsigned status, struct MHD_Response *resp,
    const char *type, const char *cid)
{
	enum MHD_Result ok;

	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(
	    resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (cid != NULL && cid[0] != '\0') {
		MHD_add_response_header(resp, "X-Correlation-Id", cid);
	}
	ok = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	gw_metrics_observe(r->gw->metrics,
	    r->kind == RK_ROUTE ? r->match.route : NULL,
	    r->kind == RK_METRICS       ? GW_SLOT_METRICS
	        : r->kind == RK_OPENAPI ? GW_SLOT_OPENAPI
	                                : GW_SLOT_UNMATCHED,
	    status, (double) (clock_now_us() - r->t0_us) / 1e6);
	atomic_store(&r->state, RS_ANSWERED);
	return (ok);
}

/* Queues ans (its body is taken); allow is the Allow header or NULL. */
static enum MHD_Result
answer(struct gw_req *r, struct gw_answer *ans, const char *allow)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
	    ans->len, ans->body, MHD_RESPMEM_MUST_FREE);

	if (resp == NULL) {
		free(ans->body);
		return (MHD_NO);
	}
	if (allow != NULL) {
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	}
	if (ans->next_page_token != NULL) {
		MHD_add_response_header(
		    resp, "X-Next-Page-Token", ans->next_page_token);
	}
	return (queue(r, ans->status, resp, "application/json",
	    ans->correlation_id != NULL && ans->correlation_id[0] != '\0'
	        ? ans->correlation_id
	        : r->correlation_id));
}

static enum MHD_Result
answer_error(
    struct gw_req *r, opsbus_err err, const char *message, const char *allow)
{
	struct gw_answer ans;

	if (gw_answer_error(err, message, r->correlation_id, &ans) != 0) {
		return (MHD_NO);
	}
	return (answer(r, &ans, allow));
}

static enum MHD_Result
answer_static(struct gw_req *r, const char *text, size_t len, const char *type)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
	    len, (void *) (uintptr_t) text, MHD_RESPMEM_PERSISTENT);

	if (resp == NULL) {
		return (MHD_NO);
	}
	return (queue(r, MHD_HTTP_OK, resp, type, r->correlation_id));
}

/* True if the request carries a body (a length above 0, or chunks). */
static bool
has_body(struct gw_req *r, unsigned long long *length)
{
	const char *cl = header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *te = header(r, MHD_HTTP_HEADER_TRANSFER_ENCODING);

	*length = cl != NULL ? strtoull(cl, NULL, 10) : 0;
	return (*length > 0 || te != NULL);
}

static bool
is_json(const char *type)
{
	size_t n;

	if (type == NULL) {
		return (false);
	}
	while (*type == ' ') {
		type++;
	}
	n = strcspn(type, "; ");
	return (n == 16 && strncasecmp(type, "application/json", 16) == 0);
}

/* Headers are in: choose what serves the request and check the limits. */
static enum MHD_Result
begin(struct gw_req *r, const char *url, const char *verb)
{
	const struct gw_route_def *def;
	unsigned long long         length = 0;
	bool                       body = has_body(r, &length);
	bool get = strcmp(verb, "GET") == 0 || strcmp(verb, "HEAD") == 0;

	r->correlation_id = correlation_id(r);
	if (strcmp(url, "/metrics") == 0
	    || strcmp(url, "/openapi.json") == 0) {
		r->kind
		    = strcmp(url, "/metrics") == 0 ? RK_METRICS : RK_OPENAPI;
		if (!get) {
			return (answer_error(r, OPSBUS_E_METHOD_NOT_ALLOWED,
			    "this path takes GET", "GET, HEAD"));
		}
		if (r->kind == RK_OPENAPI) {
			return (answer_static(r, gw_openapi_json,
			    gw_openapi_json_len, "application/json"));
		}
	} else {
		switch (gw_router_match(
		    &r->gw->router, verb, url, &r->a, &r->match)) {
		case GW_MATCH_OK:
			break;
		case GW_MATCH_BAD_METHOD:
			return (answer_error(r, OPSBUS_E_METHOD_NOT_ALLOWED,
			    arena_printf(&r->a,
			        "%.16s is not allowed here (%s)", verb,
			        r->match.allow),
			    r->match.allow));
		case GW_MATCH_BAD_PATH:
			return (answer_error(r, OPSBUS_E_VALIDATION_ERROR,
			    "the path has a bad percent-escape", NULL));
		default:
			return (answer_error(r, OPSBUS_E_NOT_FOUND,
			    arena_printf(
			        &r->a, "no route %.16s %.200s", verb, url),
			    NULL));
		}
	}
	if (length > r->gw->cfg.max_body) {
		return (answer_error(r, OPSBUS_E_MESSAGE_TOO_LARGE,
		    arena_printf(&r->a,
		        "the body is %llu bytes; the limit is %zu", length,
		        r->gw->cfg.max_body),
		    NULL));
	}
	def = r->kind == RK_ROUTE ? r->match.route->def : NULL;
	if (body && def != NULL && def->body[0] != '\0'
	    && !is_json(header(r, MHD_HTTP_HEADER_CONTENT_TYPE))) {
		return (answer_error(r, OPSBUS_E_UNSUPPORTED_MEDIA_TYPE,
		    "the body must be application/json", NULL));
	}
	return (MHD_YES);
}

/* Bytes past max_body read and dropped, as a multiple of max_body, before
 * the connection is closed instead of answered. A chunked body has no
 * length to refuse up front, and MHD can answer only once the body is
 * read: dropping a 10 MB body costs little and gets the client its 413;
 * the read deadline bounds how long this takes. */
#define GW_DROP_FACTOR 32

/* Appends a chunk of body; past max_body it is dropped, and a client that
 * keeps sending far past it is disconnected. */
static enum MHD_Result
append(struct gw_req *r, const char *data, size_t n)
{
	size_t max = r->gw->cfg.max_body;

	if (r->dropped > 0 || r->len + n > max) {
		r->dropped += n;
		return (r->dropped > GW_DROP_FACTOR * max ? MHD_NO : MHD_YES);
	}
	if (r->len + n > r->cap) {
		size_t cap = r->cap > 0 ? r->cap : 4096;
		char  *p;
		while (cap < r->len + n) {
			cap *= 2;
		}
		if (cap > max) {
			cap = max;
		}
		if ((p = realloc(r->body, cap)) == NULL) {
			return (MHD_NO);
		}
		r->body = p;
		r->cap = cap;
	}
	memcpy(r->body + r->len, data, n);
	r->len += n;
	return (MHD_YES);
}

static enum MHD_Result
collect_param(
    void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct gw_req   *r = cls;
	struct gw_param *p;

	(void) kind;
	if (r->n_params == GW_MAX_PARAMS) {
		r->params_bad = true;
		return (MHD_NO);
	}
	p = &r->params[r->n_params];
	p->key = gw_pct_decode(key, strlen(key), &r->a);
	p->value = gw_pct_decode(value != NULL ? value : "",
	    value != NULL ? strlen(value) : 0, &r->a);
	if (p->key == NULL || p->value == NULL) {
		r->params_bad = true;
		return (MHD_NO);
	}
	r->n_params++;
	return (MHD_YES);
}

/* Runs on an nng thread when a step of the call ends. */
static void
rpc_done(void *arg)
{
	struct gw_req *r = arg;
	int            rv = nng_aio_result(r->aio);

	if (!r->receiving) {
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(r->aio));
		} else {
			r->receiving = true;
			nng_ctx_recv(r->ctx, r->aio);
			return;
		}
	} else if (rv == 0) {
		r->reply = nng_aio_get_msg(r->aio);
	}
	r->rv = rv;
	/* Unless the connection is being torn down (gw_on_completed moved
	 * the state on and waits for this callback to return). */
	int waiting = RS_WAITING;
	if (atomic_compare_exchange_strong(&r->state, &waiting, RS_DONE)) {
		MHD_resume_connection(r->conn);
	}
}

static int
new_request_id(struct arena *a, const char **out)
{
	char *s = arena_alloc(a, UUID4_TEXT_LEN);

	if (s == NULL) {
		return (-1);
	}
	uuid4_text(s);
	*out = s;
	return (0);
}

/* Sends the call; the connection stays suspended until rpc_done. */
static enum MHD_Result
call(struct gw_req *r, const char *method, const ProtobufCMessage *in)
{
	struct gw_call_meta md;
	uint8_t            *buf;
	size_t              len;
	nng_msg            *msg;
	int                 rv;

	memset(&md, 0, sizeof(md));
	md.api_key = header(r, "X-API-Key");
	md.authorization = header(r, MHD_HTTP_HEADER_AUTHORIZATION);
	md.operator_identity = header(r, "X-Operator-Identity");
	md.correlation_id = r->correlation_id;
	md.timeout_ms = r->gw->cfg.rpc_timeout_ms;
	if (new_request_id(&r->a, &md.request_id) != 0
	    || gw_request_pack(method, in, &md, &r->a, &buf, &len) != 0
	    || nng_msg_alloc(&msg, len) != 0) {
		return (
		    answer_error(r, OPSBUS_E_INTERNAL, "out of memory", NULL));
	}
	memcpy(nng_msg_body(msg), buf, len);
	if ((rv = nng_aio_alloc(&r->aio, rpc_done, r)) != 0
	    || (rv = nng_ctx_open(&r->ctx, r->gw->sock)) != 0) {
		nng_msg_free(msg);
		return (answer_error(
		    r, OPSBUS_E_UNAVAILABLE, nng_strerror(rv), NULL));
	}
	r->ctx_open = true;
	nng_aio_set_timeout(
	    r->aio, (nng_duration) r->gw->cfg.rpc_timeout_ms + 2000);
	gw_conn_deadline(r->gw, r->conn, false);
	atomic_fetch_add(&r->gw->in_flight, 1);
	gw_metrics_in_flight(r->gw->metrics, 1);
	atomic_store(&r->state, RS_WAITING);
	MHD_suspend_connection(r->conn);
	nng_aio_set_msg(r->aio, msg);
	nng_ctx_send(r->ctx, r->aio);
	return (MHD_YES);
}

/* The body is complete: transcode and call. */
static enum MHD_Result
dispatch(struct gw_req *r)
{
	ProtobufCMessage *in = NULL;
	struct gw_error   e;

	if (r->dropped > 0) {
		return (answer_error(r, OPSBUS_E_MESSAGE_TOO_LARGE,
		    arena_printf(&r->a,
		        "the body is over the limit of %zu bytes",
		        r->gw->cfg.max_body),
		    NULL));
	}
	if (r->kind == RK_METRICS) {
		return (call(r, "opsbus.v1.OpsService/GetMetrics", NULL));
	}
	MHD_get_connection_values(
	    r->conn, MHD_GET_ARGUMENT_KIND, collect_param, r);
	if (r->params_bad) {
		return (answer_error(r, OPSBUS_E_VALIDATION_ERROR,
		    "the query string has a bad percent-escape or more than "
		    "64 "
		    "parameters",
		    NULL));
	}
	memset(&e, 0, sizeof(e));
	if (gw_input_build(&r->match, r->params, r->n_params, r->body, r->len,
	        &r->a, &in, &e)
	    != 0) {
		return (answer_error(r, e.err, e.message, NULL));
	}
	return (call(r, r->match.route->def->rpc, in));
}

static enum MHD_Result
answer_metrics(struct gw_req *r, const uint8_t *data, size_t len)
{
	Opsbus__V1__RpcResponse        *resp;
	Opsbus__V1__GetMetricsResponse *db = NULL;
	struct MHD_Response            *mr;
	char                           *text;
	size_t                          n;

	resp = opsbus__v1__rpc_response__unpack(&r->a.pb, len, data);
	if (resp != NULL
	    && (resp->code == OPSBUS_GRPC_UNAUTHENTICATED
	        || resp->code == OPSBUS_GRPC_PERMISSION_DENIED)) {
		struct gw_answer ans;
		if (gw_answer_from_reply(&(struct gw_route_def) {.body = "",
		                             .response_body = ""},
		        data, len, &r->a, &ans)
		    != 0) {
			return (MHD_NO);
		}
		return (answer(r, &ans, NULL));
	}
	if (resp != NULL && resp->code == 0) {
		db = opsbus__v1__get_metrics_response__unpack(
		    &r->a.pb, resp->body.len, resp->body.data);
	}
	if ((text = gw_metrics_render(r->gw->metrics, db, &n)) == NULL) {
		return (MHD_NO);
	}
	mr = MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
	if (mr == NULL) {
		free(text);
		return (MHD_NO);
	}
	return (queue(r, MHD_HTTP_OK, mr, "text/plain; version=0.0.4",
	    r->correlation_id));
}

/* The call ended (resumed): answer. */
static enum MHD_Result
finish(struct gw_req *r)
{
	struct gw_answer ans;
	enum MHD_Result  ok;
	const uint8_t   *data;
	size_t           len;

	atomic_fetch_sub(&r->gw->in_flight, 1);
	gw_metrics_in_flight(r->gw->metrics, -1);
	if (r->rv == NNG_ETIMEDOUT) {
		return (answer_error(r, OPSBUS_E_DEADLINE_EXCEEDED,
		    arena_printf(&r->a,
		        "no answer from the RPC server within %u ms",
		        (unsigned) r->gw->cfg.rpc_timeout_ms),
		    NULL));
	}
	if (r->rv != 0 || r->reply == NULL) {
		return (answer_error(r, OPSBUS_E_UNAVAILABLE,
		    arena_printf(&r->a, "the RPC server did not answer: %s",
		        nng_strerror(r->rv)),
		    NULL));
	}
	data = nng_msg_body(r->reply);
	len = nng_msg_len(r->reply);
	if (r->kind == RK_METRICS) {
		ok = answer_metrics(r, data, len);
	} else if (gw_answer_from_reply(
	               r->match.route->def, data, len, &r->a, &ans)
	    != 0) {
		ok = MHD_NO;
	} else {
		ok = answer(r, &ans, NULL);
	}
	nng_msg_free(r->reply);
	r->reply = NULL;
	return (ok);
}

enum MHD_Result
gw_on_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **con_cls)
{
	struct gw_req *r = *con_cls;

	(void) version;
	if (r == NULL) {
		if ((r = calloc(1, sizeof(*r))) == NULL) {
			return (MHD_NO);
		}
		r->gw = cls;
		r->conn = conn;
		r->t0_us = clock_now_us();
		arena_init(&r->a);
		atomic_init(&r->state, RS_READING);
		*con_cls = r;
		return (begin(r, url, method));
	}
	switch (atomic_load(&r->state)) {
	case RS_READING:
		if (*upload_size > 0) {
			enum MHD_Result ok = append(r, upload, *upload_size);
			*upload_size = 0;
			return (ok);
		}
		return (dispatch(r));
	case RS_DONE:
		return (finish(r));
	default:
		/* Answered early: the rest of the body is dropped. */
		*upload_size = 0;
		return (MHD_YES);
	}
}

void
gw_on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct gateway *gw = cls;
	struct gw_req  *r = *con_cls;

	if (r == NULL) {
		return;
	}
	if (r->aio != NULL) {
		/* Only at shutdown can a connection close while its call is
		 * out: cancel it (nng_aio_stop waits for rpc_done to return,
		 * which then leaves the connection alone). */
		int waiting = RS_WAITING;
		if (atomic_compare_exchange_strong(
		        &r->state, &waiting, RS_ANSWERED)) {
			atomic_fetch_sub(&gw->in_flight, 1);
			gw_metrics_in_flight(gw->metrics, -1);
		}
		nng_aio_stop(r->aio);
		nng_aio_free(r->aio);
	}
	if (r->reply != NULL) {
		nng_msg_free(r->reply);
	}
	if (r->ctx_open) {
		nng_ctx_close(r->ctx);
	}
	if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK) {
		gw_conn_deadline(gw, conn, true);
	}
	free(r->body);
	arena_fini(&r->a);
	free(r);
	*con_cls = NULL;
}
