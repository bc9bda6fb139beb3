/*
 * The dispatcher: the generic checks every call passes before its handler
 * (Redis's command table shape), the transaction around the handler, and
 * the single place where errors turn into RpcResponse values.
 */
#include "rpc/dispatch.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "opsbus/v1/rpc.pb-c.h"
#include "store/db.h"
#include "uuid4.h"
#include "store/pgarray.h"
#include "store/pool.h"
#include "wirecheck.h"

/* How often a call that lost a serialization race is run again. */
#define DISPATCH_CONFLICT_RETRIES 3

static const struct db_stmt stmt_reply_get = {"dispatch_reply_get",
    "SELECT response FROM request_replies WHERE request_id = $1"};
static const struct db_stmt stmt_replies_put = {"dispatch_replies_put",
    "INSERT INTO request_replies (request_id, method, response) "
    "SELECT k, $2, decode(h, 'hex') FROM unnest($1::text[], $3::text[]) "
    "AS u(k, h)"};
static const struct db_stmt stmt_reply_put = {"dispatch_reply_put",
    "INSERT INTO request_replies (request_id, method, response) "
    "VALUES ($1, $2, decode($3, 'hex'))"};

/* The state of one dispatch, so the steps below stay small. */
struct dispatch {
	const struct rpc_dispatcher *d;
	struct db                   *db;
	struct arena                *a;
	Opsbus__V1__RpcRequest      *req;
	const struct rpc_method     *method;
	struct principal             who;
	const char                  *correlation_id;
	const char                  *api_key;
	const char                  *operator_identity;
	const char                  *reply_key;
	/* x->db was taken from d->pool and goes back at the end. */
	bool        took_db;
	uint32_t    timeout_ms;
	opsbus_err  err;
	const char *message;
	uint8_t    *body;
	size_t      body_len;
};

static opsbus_err fail(struct dispatch *x, opsbus_err err, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

static opsbus_err
fail(struct dispatch *x, opsbus_err err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	x->message = arena_vprintf(x->a, fmt, ap);
	va_end(ap);
	x->err = err;
	return (err);
}

/* The call's connection, taken from the pool when first needed. */
static struct db *
dispatch_db(struct dispatch *x)
{
	if (x->db == NULL) {
		x->db = db_pool_take(x->d->pool);
		x->took_db = true;
	}
	return (x->db);
}

/* Tells whoever follows the events that a write has committed. */
static void
dispatch_committed(const struct dispatch *x)
{
	if (x->d->committed != NULL) {
		x->d->committed(x->d->committed_arg);
	}
}

/* Gives the connection back, so that a waiting call holds none. */
static void
dispatch_db_give(struct dispatch *x)
{
	if (x->took_db) {
		db_pool_give(x->d->pool, x->db);
		x->db = NULL;
		x->took_db = false;
	}
}

static const char *
metadata_get(const Opsbus__V1__RpcRequest *req, const char *key)
{
	for (size_t i = 0; i < req->n_metadata; i++) {
		if (strcasecmp(req->metadata[i]->key, key) == 0) {
			return (req->metadata[i]->value);
		}
	}
	return (NULL);
}

/* A correlation id a client gives is kept if it is short and plain. */
static bool
correlation_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 128) {
		return (false);
	}
	for (size_t i = 0; i < n; i++) {
		if (!isalnum((unsigned char) s[i])
		    && strchr("._:-", s[i]) == NULL) {
			return (false);
		}
	}
	return (true);
}

static const char *
new_uuid(struct arena *a)
{
	char *s = arena_alloc(a, UUID4_TEXT_LEN);

	if (s != NULL) {
		uuid4_text(s);
	}
	return (s);
}

/* Reads the envelope: size, wire check, decode, method, metadata. */
static opsbus_err
read_envelope(struct dispatch *x, const uint8_t *buf, size_t len)
{
	char        where[128];
	const char *v;
	opsbus_err  err;

	if (len > x->d->max_request) {
		return (fail(x, OPSBUS_E_MESSAGE_TOO_LARGE,
		    "the request is %zu bytes; the limit is %zu", len,
		    x->d->max_request));
	}
	err = wirecheck_message(&opsbus__v1__rpc_request__descriptor, buf, len,
	    WIRECHECK_MAX_DEPTH, where, sizeof(where));
	if (err != OPSBUS_E_OK) {
		return (fail(
		    x, err, "the RpcRequest envelope is invalid (%s)", where));
	}
	x->req = opsbus__v1__rpc_request__unpack(&x->a->pb, len, buf);
	if (x->req == NULL) {
		return (fail(x, OPSBUS_E_MALFORMED_MESSAGE,
		    "the request is not an RpcRequest"));
	}
	v = metadata_get(x->req, "x-correlation-id");
	x->correlation_id
	    = (v != NULL && correlation_ok(v)) ? v : new_uuid(x->a);
	if ((v = metadata_get(x->req, "x-api-key")) != NULL && v[0] != '\0') {
		x->api_key = v;
	} else if ((v = metadata_get(x->req, "authorization")) != NULL) {
		if (strncasecmp(v, "Bearer ", 7) != 0) {
			return (fail(x, OPSBUS_E_UNAUTHORIZED,
			    "authorization must be \"Bearer <key>\""));
		}
		x->api_key = v + 7;
	}
	x->operator_identity = metadata_get(x->req, "x-operator-identity");
	x->timeout_ms = x->req->timeout_ms != 0 ? x->req->timeout_ms
	                                        : x->d->default_timeout_ms;
	if (x->timeout_ms > x->d->max_timeout_ms) {
		x->timeout_ms = x->d->max_timeout_ms;
	}
	x->method = rpc_methods_find(x->d->methods, x->req->method);
	if (x->method == NULL) {
		return (fail(x, OPSBUS_E_UNKNOWN_METHOD,
		    "no method \"%.200s\" (names look like "
		    "\"opsbus.v1.JobService/CreateJob\")",
		    x->req->method));
	}
	return (OPSBUS_E_OK);
}

static opsbus_err
authenticate(struct dispatch *x)
{
	const struct service_method *impl = x->method->impl;
	opsbus_err                   err;

	if (impl->perm == PERM_PUBLIC && x->api_key == NULL) {
		snprintf(
		    x->who.identity, sizeof(x->who.identity), "anonymous");
		x->who.anonymous = true;
		return (OPSBUS_E_OK);
	}
	err = auth_resolve(x->d->auth, dispatch_db(x), x->api_key, &x->who);
	dispatch_db_give(x);
	if (err == OPSBUS_E_UNAUTHORIZED) {
		return (fail(x, err,
		    x->api_key == NULL ? "an API key is required (x-api-key "
		                         "or authorization: "
		                         "Bearer)"
		                       : "the API key is not valid"));
	}
	if (err != OPSBUS_E_OK) {
		return (fail(x, err, "cannot check the API key: %s",
		    opsbus_err_text(err)));
	}
	if (!role_allows(x->who.role, impl->perm)) {
		return (fail(x, OPSBUS_E_PERMISSION_DENIED,
		    "role %s may not call %s", role_name(x->who.role),
		    x->method->name));
	}
	if (x->operator_identity == NULL || x->operator_identity[0] == '\0'
	    || strlen(x->operator_identity) > 128) {
		x->operator_identity = x->who.identity;
	}
	return (OPSBUS_E_OK);
}

static opsbus_err
read_input(struct dispatch *x, ProtobufCMessage **in)
{
	const ProtobufCMessageDescriptor *desc = x->method->desc->input;
	char                              where[128];
	opsbus_err                        err;

	err = wirecheck_message(desc, x->req->body.data, x->req->body.len,
	    WIRECHECK_MAX_DEPTH, where, sizeof(where));
	if (err != OPSBUS_E_OK) {
		return (fail(x, err, "the %s body is invalid (%s)",
		    desc->short_name, where));
	}
	*in = protobuf_c_message_unpack(
	    desc, &x->a->pb, x->req->body.len, x->req->body.data);
	if (*in == NULL) {
		return (fail(x, OPSBUS_E_MALFORMED_MESSAGE,
		    "the body is not a valid %s", desc->short_name));
	}
	return (OPSBUS_E_OK);
}

static char *
to_hex(struct arena *a, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char             *s = arena_alloc(a, n * 2 + 1);

	if (s == NULL) {
		return (NULL);
	}
	for (size_t i = 0; i < n; i++) {
		s[2 * i] = digits[p[i] >> 4];
		s[2 * i + 1] = digits[p[i] & 15];
	}
	s[n * 2] = '\0';
	return (s);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9') {
		return (c - '0');
	}
	return (tolower((unsigned char) c) - 'a' + 10);
}

/*
 * Looks for the stored reply of an earlier run of this request id. Returns
 * true and sets x->body (the whole packed RpcResponse) when found.
 */
static bool
stored_reply(struct dispatch *x)
{
	struct db_rows *rows;
	const char     *p[1] = {x->reply_key};
	const char     *hex;
	size_t          n;

	if (db_exec(x->db, &stmt_reply_get, 1, p, &rows) != OPSBUS_E_OK) {
		return (false);
	}
	if (db_rows_count(rows) != 1) {
		db_rows_free(rows);
		return (false);
	}
	/* bytea in text form: "\x" then hex digits. */
	hex = db_rows_get(rows, 0, 0) + 2;
	n = strlen(hex) / 2;
	x->body = arena_alloc(x->a, n > 0 ? n : 1);
	for (size_t i = 0; x->body != NULL && i < n; i++) {
		x->body[i] = (uint8_t) (hexval(hex[2 * i]) << 4
		    | hexval(hex[2 * i + 1]));
	}
	x->body_len = n;
	db_rows_free(rows);
	return (x->body != NULL);
}

static uint8_t *
pack_response(
    struct arena *a, const Opsbus__V1__RpcResponse *resp, size_t *len)
{
	uint8_t *buf;

	*len = opsbus__v1__rpc_response__get_packed_size(resp);
	buf = arena_alloc(a, *len > 0 ? *len : 1);
	if (buf != NULL) {
		opsbus__v1__rpc_response__pack(resp, buf);
	}
	return (buf);
}

/* Packs a successful RpcResponse around out into x->body. */
static opsbus_err
pack_ok(struct dispatch *x, const ProtobufCMessage *out)
{
	Opsbus__V1__RpcResponse resp = OPSBUS__V1__RPC_RESPONSE__INIT;
	size_t                  n = protobuf_c_message_get_packed_size(out);

	resp.body.data = arena_alloc(x->a, n > 0 ? n : 1);
	if (resp.body.data == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	resp.body.len = protobuf_c_message_pack(out, resp.body.data);
	resp.correlation_id = (char *) (uintptr_t) x->correlation_id;
	x->body = pack_response(x->a, &resp, &x->body_len);
	return (x->body != NULL ? OPSBUS_E_OK : OPSBUS_E_INTERNAL);
}

/* The hex of x->body, for the bytea of a stored reply. */
static const char *
body_hex(struct dispatch *x)
{
	return (to_hex(x->a, x->body, x->body_len));
}

/*
 * Stores x->body as the reply to x->reply_key and commits, in one round
 * trip. Sets *raced when another run of the same request stored first (the
 * insert then fails and the transaction is rolled back).
 */
static opsbus_err
put_reply_commit(struct dispatch *x, bool *raced)
{
	const char    *p[3];
	struct db_call c = {&stmt_reply_put, 3, p, NULL};
	opsbus_err     err;

	p[0] = x->reply_key;
	p[1] = x->method->name;
	if ((p[2] = body_hex(x)) == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	err = db_exec_many(x->db, &c, 1, true);
	if (err != OPSBUS_E_OK) {
		*raced = db_unique_violation(x->db);
		db_rollback(x->db);
	}
	return (err);
}

/* The call as its handler sees it. */
static void
call_setup(struct dispatch *x, struct rpc_call *call)
{
	memset(call, 0, sizeof(*call));
	call->db = x->db;
	call->arena = x->a;
	call->who = &x->who;
	call->cfg = x->d->cfg;
	call->method = x->method->name;
	call->correlation_id = x->correlation_id;
	call->timeout_ms = x->timeout_ms;
	call->operator_identity = x->operator_identity;
}

/*
 * Runs the handler in one transaction, again when it lost a serialization
 * race. On success x->body holds the packed RpcResponse.
 */
static opsbus_err
run_handler(struct dispatch *x, const ProtobufCMessage *in)
{
	const struct service_method *impl = x->method->impl;
	const bool                   tx = (impl->flags & METHOD_NO_TX) == 0;
	opsbus_err                   err = OPSBUS_E_OK;
	struct rpc_call              call;

	memset(&call, 0, sizeof(call));
	(void) dispatch_db(x);
	for (int attempt = 0; attempt < DISPATCH_CONFLICT_RETRIES; attempt++) {
		const ProtobufCMessageDescriptor *od = x->method->desc->output;
		ProtobufCMessage *out = arena_alloc(x->a, od->sizeof_message);
		bool              raced = false;

		if (out == NULL) {
			return (fail(x, OPSBUS_E_INTERNAL, "out of memory"));
		}
		od->message_init(out);
		call_setup(x, &call);

		if (tx
		    && (err = db_begin(x->db, x->timeout_ms)) != OPSBUS_E_OK) {
			return (fail(x, err, "%s", opsbus_err_text(err)));
		}
		if (tx && x->reply_key != NULL && stored_reply(x)) {
			db_rollback(x->db);
			return (OPSBUS_E_OK);
		}
		err = impl->handler(&call, in, out);
		if (err == OPSBUS_E_OK) {
			err = pack_ok(x, out);
		}
		if (!tx) {
			/* The handler used the connection on its own. */
		} else if (err == OPSBUS_E_OK && x->reply_key != NULL) {
			err = put_reply_commit(x, &raced);
			if (err == OPSBUS_E_OK) {
				dispatch_committed(x);
			}
			if (raced) {
				/* A resend ran beside us and answered first:
				 * ours is undone; answer what it answered. */
				if (stored_reply(x)) {
					return (OPSBUS_E_OK);
				}
				err = OPSBUS_E_CONFLICT;
			} else if (err != OPSBUS_E_OK) {
				call.message = NULL;
			}
		} else if (err == OPSBUS_E_OK || call.commit_on_error) {
			opsbus_err cerr = db_commit(x->db);
			if (err == OPSBUS_E_OK && cerr != OPSBUS_E_OK) {
				err = cerr;
				call.message = NULL;
			}
			if (cerr == OPSBUS_E_OK
			    && ((impl->flags & METHOD_MUTATING) != 0
			        || call.commit_on_error)) {
				dispatch_committed(x);
			}
		} else {
			db_rollback(x->db);
		}
		if (err != OPSBUS_E_CONFLICT || call.commit_on_error) {
			break;
		}
		x->body = NULL;
	}
	if (err != OPSBUS_E_OK) {
		x->body = NULL;
		return (fail(x, err, "%s",
		    call.message != NULL ? call.message
		                         : opsbus_err_text(err)));
	}
	return (OPSBUS_E_OK);
}

/* A call in a group (group commit), and what the group made of it. */
struct group_member {
	struct group_node node; /* first: nodes are members */
	struct dispatch  *x;
	struct rpc_call   call;
	struct batch_item item;
	/* The group answered the call: x->body or x->err holds it. */
	bool answered;
};

/*
 * Stores the replies of the served members that carry a request id, and
 * commits, in one round trip. Returns the error and whether it came from
 * COMMIT itself (when the outcome is unknown) rather than before it.
 */
static opsbus_err
group_commit(
    struct dispatch *lx, struct group_member *const *m, int n, bool *at_commit)
{
	struct pg_array keys, bodies;
	const char     *p[3];
	struct db_call  c = {&stmt_replies_put, 3, p, NULL};
	opsbus_err      err;

	pg_array_init(&keys, lx->a);
	pg_array_init(&bodies, lx->a);
	for (int i = 0; i < n; i++) {
		if (m[i]->item.done && m[i]->x->reply_key != NULL) {
			pg_array_add(&keys, m[i]->x->reply_key);
			pg_array_add(&bodies, body_hex(m[i]->x));
		}
	}
	*at_commit = false;
	if (keys.n == 0) {
		err = db_commit(lx->db);
		*at_commit = err != OPSBUS_E_OK;
		return (err);
	}
	p[0] = pg_array_text(&keys);
	p[1] = lx->method->name;
	p[2] = pg_array_text(&bodies);
	if (p[0] == NULL || p[2] == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	err = db_exec_many(lx->db, &c, 1, true);
	/* Still in the transaction: the insert failed and COMMIT did not
	 * run (a resend stored first, say). */
	*at_commit = err != OPSBUS_E_OK && !db_in_tx(lx->db);
	return (err);
}

void
rpc_dispatch_group_run(void *leader, struct group_node **nodes, int n)
{
	struct dispatch            *lx = leader;
	const struct service_batch *b = lx->method->batch;
	struct group_member        *m[GROUP_BATCH_LIMIT];
	struct batch_item          *items[GROUP_BATCH_LIMIT];
	uint32_t                    timeout = lx->timeout_ms;
	opsbus_err                  err;
	bool                        at_commit = false;

	(void) dispatch_db(lx);
	for (int i = 0; i < n && i < GROUP_BATCH_LIMIT; i++) {
		m[i] = (struct group_member *) (void *) nodes[i];
		items[i] = &m[i]->item;
		if (m[i]->x->timeout_ms < timeout) {
			timeout = m[i]->x->timeout_ms;
		}
	}
	int64_t t0 = clock_now_us();
	if ((err = db_begin(lx->db, timeout)) == OPSBUS_E_OK) {
		err = b->run(lx->db, lx->a, items, n);
	}
	for (int i = 0; err == OPSBUS_E_OK && i < n; i++) {
		if (m[i]->item.done) {
			err = pack_ok(m[i]->x, m[i]->item.out);
		}
	}
	if (err == OPSBUS_E_OK
	    && (err = group_commit(lx, m, n, &at_commit)) == OPSBUS_E_OK) {
		dispatch_committed(lx);
	}
	log_debug("group", "method=%s calls=%d error_code=%s us=%lld",
	    lx->method->name, n, opsbus_err_name(err),
	    (long long) (clock_now_us() - t0));
	for (int i = 0; i < n; i++) {
		struct dispatch *x = m[i]->x;

		if (err == OPSBUS_E_OK) {
			m[i]->answered = m[i]->item.done;
		} else if (at_commit && m[i]->item.done) {
			/* It may have landed: answer as a lone call whose
			 * COMMIT failed does, never run it again. */
			x->body = NULL;
			(void) fail(x, err, "%s", opsbus_err_text(err));
			m[i]->answered = true;
		} else {
			/* Rolled back: the call runs alone. */
			x->body = NULL;
			m[i]->item.done = false;
		}
	}
	if (err != OPSBUS_E_OK) {
		db_rollback(lx->db);
	}
	dispatch_db_give(lx);
}

/*
 * Serves a call of a method with a service_batch: prepared here, run in a
 * group with the calls that arrive together, or alone when the group could
 * not serve it.
 */
static opsbus_err
run_grouped(struct dispatch *x, const ProtobufCMessage *in)
{
	const struct service_batch       *b = x->method->batch;
	const ProtobufCMessageDescriptor *od = x->method->desc->output;
	struct group_member               m;
	opsbus_err                        err;

	memset(&m, 0, sizeof(m));
	call_setup(x, &m.call);
	if ((err = b->prepare(&m.call, in, &m.item.plan)) != OPSBUS_E_OK) {
		return (fail(x, err, "%s",
		    m.call.message != NULL ? m.call.message
		                           : opsbus_err_text(err)));
	}
	if ((m.item.out = arena_alloc(x->a, od->sizeof_message)) == NULL) {
		return (fail(x, OPSBUS_E_INTERNAL, "out of memory"));
	}
	od->message_init(m.item.out);
	m.item.call = &m.call;
	m.item.in = in;
	m.item.reply_key = x->reply_key;
	m.x = x;
	m.node.weight = x->req->body.len;
	group_join(x->method->group, &m.node, x);
	if (m.answered) {
		return (x->err);
	}
	return (run_handler(x, in));
}

static void
finish(struct dispatch *x, struct rpc_reply *reply)
{
	Opsbus__V1__RpcResponse resp = OPSBUS__V1__RPC_RESPONSE__INIT;

	reply->method = x->method != NULL
	    ? x->method->name
	    : (x->req != NULL ? x->req->method : "");
	reply->correlation_id
	    = x->correlation_id != NULL ? x->correlation_id : "";
	if (x->err == OPSBUS_E_OK && x->body != NULL) {
		reply->data = x->body;
		reply->len = x->body_len;
		reply->code = 0;
		reply->error_code = "OK";
		return;
	}
	if (x->err == OPSBUS_E_OK) {
		x->err = OPSBUS_E_INTERNAL;
		x->message = NULL;
	}
	resp.code = opsbus_err_grpc(x->err);
	resp.error_code = (char *) (uintptr_t) opsbus_err_name(x->err);
	resp.message = (char *) (uintptr_t) (x->message != NULL
	        ? x->message
	        : opsbus_err_text(x->err));
	resp.correlation_id = (char *) (uintptr_t) reply->correlation_id;
	reply->data = pack_response(x->a, &resp, &reply->len);
	reply->code = resp.code;
	reply->error_code = resp.error_code;
	if (reply->data == NULL) {
		/* Out of memory: an empty reply decodes as code 0 with no
		 * body, which clients treat as a malformed answer. */
		reply->len = 0;
	}
}

void
rpc_dispatch(const struct rpc_dispatcher *d, struct arena *a,
    const uint8_t *buf, size_t len, struct rpc_reply *reply)
{
	struct dispatch   x;
	ProtobufCMessage *in = NULL;

	memset(&x, 0, sizeof(x));
	memset(reply, 0, sizeof(*reply));
	x.d = d;
	x.a = a;
	if (read_envelope(&x, buf, len) == OPSBUS_E_OK
	    && authenticate(&x) == OPSBUS_E_OK
	    && read_input(&x, &in) == OPSBUS_E_OK) {
		if ((x.method->impl->flags & METHOD_MUTATING) != 0
		    && x.req->request_id[0] != '\0') {
			x.reply_key = arena_printf(
			    a, "%s:%.128s", x.who.identity, x.req->request_id);
		}
		if (x.method->group != NULL) {
			(void) run_grouped(&x, in);
		} else {
			(void) run_handler(&x, in);
		}
	}
	dispatch_db_give(&x);
	if (x.correlation_id == NULL) {
		x.correlation_id = new_uuid(a);
	}
	finish(&x, reply);
}
