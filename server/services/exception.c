/*
 * ExceptionService (exception.proto, seed 003): the health figures, the
 * list and detail of the exceptions queue, and its two resolutions.
 * CreateJob opens the exceptions (job.c); ResolveException closes them,
 * attributed and audited like every operator command (operator_audit.h),
 * replaying through job_replay_create.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opsbus/v1/exception.pb-c.h"
#include "services/handlers.h"
#include "services/job_view.h"
#include "services/lookup.h"
#include "services/merge_patch.h"
#include "services/operator_audit.h"
#include "services/operator_controls.h"
#include "services/operator_view.h"
#include "services/validate.h"
#include "store/db.h"

/* The largest override patch accepted. */
#define PATCH_MAX (64 * 1024)

/* clang-format off */

/* The exception x with its key k's state; RAW is the two raw requests'
 * columns (or two empty strings for lists); MORE more columns. */
#define EXC_COLUMNS(raw, more)                                              \
	"x.id, x.tenant, x.exception_type, coalesce(x.reason_code, ''), "   \
	"x.status, coalesce(x.queue, ''), coalesce(k.state, ''), "           \
	"coalesce(x.job_id::text, ''), CASE x.exception_type WHEN "         \
	"'IDEMPOTENCY_CONFLICT' THEN coalesce((x.details->>'conflicts')"     \
	"::int, 1) + 1 ELSE coalesce((x.details->>'arrivals')::int, 1) END, " \
	"x.details::text, " raw ", coalesce(x.resolution, ''), "            \
	"coalesce(x.resolved_by, ''), coalesce(x.resolution_notes, ''), "    \
	"x.replay_attempts, " SQL_TS("x.created_at") ", "                    \
	SQL_TS("x.updated_at") ", " SQL_TS("x.resolved_at") more " "         \
	"FROM exceptions x LEFT JOIN idempotency_keys k ON "                  \
	"k.tenant = x.tenant AND k.scope = x.idem_scope AND k.key = x.idem_key"

#define EXC_RAW "coalesce(x.first_raw, ''), coalesce(x.last_raw, '')"

static const struct db_stmt stmt_get = {"exception_get",
    "SELECT " EXC_COLUMNS(EXC_RAW, "") " WHERE x.id = $1::uuid AND "
    "($2 = '' OR x.tenant = $2)"};

static const struct db_stmt stmt_get_locked = {"exception_get_locked",
    "SELECT " EXC_COLUMNS(EXC_RAW, ", coalesce(x.idem_key, '')") " "
    "WHERE x.id = $1::uuid AND ($2 = '' OR x.tenant = $2) FOR UPDATE OF x"};

static const struct db_stmt stmt_list = {"exception_list",
    "SELECT " EXC_COLUMNS("'', ''", "") " WHERE ($1 = '' OR x.status = $1) "
    "AND ($2 = '' OR x.tenant = $2) AND ($3 = '' OR x.exception_type = $3) "
    "AND ($4::timestamptz IS NULL OR (x.created_at, x.id) < "
    "($4::timestamptz, $5::uuid)) ORDER BY x.created_at DESC, x.id DESC "
    "LIMIT $6::int"};

/* The idempotency keys by state. */
static const struct db_stmt stmt_key_states = {"exception_key_states",
    "SELECT (SELECT count(*) FROM idempotency_keys WHERE state = "
    "'processed' AND "
    "($1 = '' OR tenant = $1)), "
    "(SELECT count(*) FROM idempotency_keys WHERE state = 'quarantined' "
    "AND ($1 = '' OR tenant = $1)), "
    "(SELECT count(*) FROM idempotency_keys WHERE state = 'ignored' AND "
    "($1 = '' OR tenant = $1))"};

/* Open exceptions by type, each type's oldest first in time order. */
static const struct db_stmt stmt_open_by_type = {"exception_open_by_type",
    "SELECT exception_type, count(*), " SQL_TS("min(created_at)") " "
    "FROM exceptions WHERE status = 'open' AND ($1 = '' OR tenant = $1) "
    "GROUP BY exception_type ORDER BY 1"};

static const struct db_stmt stmt_job = {"exception_job",
    "SELECT " OPERATOR_JOB_COLUMNS " FROM jobs WHERE id = $1::uuid"};

/*
 * Closes the exception: $2 resolution, $3 actor, $4 notes, $5 the job it
 * now points at (NULL: keeps its own), $6 replays made (0 or 1), $7 what
 * to add to its details, $8 correlation id. Without replay the key
 * becomes 'ignored'.
 */
static const struct db_stmt stmt_resolve = {"exception_resolve",
    "WITH x AS (UPDATE exceptions SET status = 'resolved', resolution = $2, "
    "resolved_by = $3, resolution_notes = $4, resolved_at = now(), "
    "updated_at = now(), job_id = coalesce($5::uuid, job_id), "
    "replay_attempts = replay_attempts + $6::int, details = details || "
    "$7::jsonb WHERE id = $1::uuid AND status = 'open' RETURNING *), "
    "k AS (UPDATE idempotency_keys k SET state = 'ignored', updated_at = "
    "now() FROM x WHERE $2 = 'mark_resolved_no_replay' AND "
    "k.tenant = x.tenant AND k.scope = x.idem_scope AND k.key = x.idem_key), "
    "e AS (INSERT INTO events (event_id, event_type, topic, job_id, queue, "
    "tenant, actor, correlation_id, payload) SELECT gen_random_uuid(), "
    "'resolved', 'exception.resolved', $5::uuid, x.queue, x.tenant, $3, "
    "$8, jsonb_build_object('exception_id', x.id, 'exception_type', "
    "x.exception_type, 'resolution', $2::text, 'job_id', $5::text, "
    "'replay_attempts', x.replay_attempts) FROM x) "
    "SELECT x.id FROM x"};

/* clang-format on */

/* The columns of EXC_COLUMNS, in order. */
enum exc_col {
	XC_ID,
	XC_TENANT,
	XC_TYPE,
	XC_REASON,
	XC_STATUS,
	XC_QUEUE,
	XC_KEY_STATE,
	XC_JOB_ID,
	XC_ARRIVALS,
	XC_DETAILS,
	XC_FIRST_RAW,
	XC_LAST_RAW,
	XC_RESOLUTION,
	XC_RESOLVED_BY,
	XC_NOTES,
	XC_REPLAYS,
	XC_CREATED_AT,
	XC_UPDATED_AT,
	XC_RESOLVED_AT,
	XC_COUNT
};

static char *
col(struct rpc_call *call, const struct db_rows *rows, int r, int c)
{
	return (call_strdup(call, db_rows_get(rows, r, c)));
}

/* A raw request as operators see it: sensitive keys redacted. */
static char *
raw_view(struct rpc_call *call, const char *raw)
{
	return (raw[0] != '\0' ? view_redact_payload(call, raw)
	                       : call_strdup(call, ""));
}

static Opsbus__V1__Exception *
exception_from_row(struct rpc_call *call, const struct db_rows *rows, int r)
{
	Opsbus__V1__Exception *x = (Opsbus__V1__Exception *) call_new(
	    call, &opsbus__v1__exception__descriptor);

	if (x == NULL) {
		return (NULL);
	}
	x->id = col(call, rows, r, XC_ID);
	x->tenant = col(call, rows, r, XC_TENANT);
	x->exception_type = col(call, rows, r, XC_TYPE);
	x->reason_code = col(call, rows, r, XC_REASON);
	x->status = col(call, rows, r, XC_STATUS);
	x->queue = col(call, rows, r, XC_QUEUE);
	x->idempotency_state = col(call, rows, r, XC_KEY_STATE);
	x->job_id = col(call, rows, r, XC_JOB_ID);
	x->arrivals = (int32_t) db_rows_int(rows, r, XC_ARRIVALS);
	x->details = col(call, rows, r, XC_DETAILS);
	x->first_raw = raw_view(call, db_rows_get(rows, r, XC_FIRST_RAW));
	x->last_raw = raw_view(call, db_rows_get(rows, r, XC_LAST_RAW));
	x->resolution = col(call, rows, r, XC_RESOLUTION);
	x->resolved_by = col(call, rows, r, XC_RESOLVED_BY);
	x->resolution_notes = col(call, rows, r, XC_NOTES);
	x->replay_attempts = (int32_t) db_rows_int(rows, r, XC_REPLAYS);
	x->created_at = col(call, rows, r, XC_CREATED_AT);
	x->updated_at = col(call, rows, r, XC_UPDATED_AT);
	x->resolved_at = col(call, rows, r, XC_RESOLVED_AT);
	if (x->id == NULL || x->tenant == NULL || x->exception_type == NULL
	    || x->reason_code == NULL || x->status == NULL || x->queue == NULL
	    || x->idempotency_state == NULL || x->job_id == NULL
	    || x->details == NULL || x->first_raw == NULL
	    || x->last_raw == NULL || x->resolution == NULL
	    || x->resolved_by == NULL || x->resolution_notes == NULL
	    || x->created_at == NULL || x->updated_at == NULL
	    || x->resolved_at == NULL) {
		return (NULL);
	}
	return (x);
}

opsbus_err
exception_health(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__GetExceptionsHealthRequest *in
	    = (const Opsbus__V1__GetExceptionsHealthRequest *) inm;
	Opsbus__V1__GetExceptionsHealthResponse *out
	    = (Opsbus__V1__GetExceptionsHealthResponse *) outm;
	Opsbus__V1__IdempotencyBreakdown *k;
	const char                       *p[1];
	struct db_rows                   *rows;
	opsbus_err                        err;
	int                               n, oldest = -1;

	if ((err = call_read_tenant(call, in->tenant, &p[0])) != OPSBUS_E_OK) {
		return (err);
	}
	if ((err = db_exec(call->db, &stmt_key_states, 1, p, &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	k = (Opsbus__V1__IdempotencyBreakdown *) call_new(
	    call, &opsbus__v1__idempotency_breakdown__descriptor);
	if (k == NULL || db_rows_count(rows) != 1) {
		db_rows_free(rows);
		return (OPSBUS_E_INTERNAL);
	}
	k->processed = (int32_t) db_rows_int(rows, 0, 0);
	k->quarantined = (int32_t) db_rows_int(rows, 0, 1);
	k->ignored = (int32_t) db_rows_int(rows, 0, 2);
	out->idempotency = k;
	db_rows_free(rows);
	if ((err = db_exec(call->db, &stmt_open_by_type, 1, p, &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	n = db_rows_count(rows);
	out->open_by_type
	    = call_array(call, (size_t) n + 1, sizeof(*out->open_by_type));
	for (int r = 0; out->open_by_type != NULL && r < n; r++) {
		Opsbus__V1__ExceptionTypeCount *c
		    = (Opsbus__V1__ExceptionTypeCount *) call_new(
		        call, &opsbus__v1__exception_type_count__descriptor);

		if (c == NULL) {
			break;
		}
		c->exception_type = col(call, rows, r, 0);
		c->open = (int32_t) db_rows_int(rows, r, 1);
		out->open_by_type[out->n_open_by_type++] = c;
		/* The totals are the types' sum and earliest (the timestamps
		 * are fixed-width UTC text: they compare as times). */
		out->exceptions_open += c->open;
		if (oldest < 0
		    || strcmp(db_rows_get(rows, r, 2),
		           db_rows_get(rows, oldest, 2))
		        < 0) {
			oldest = r;
		}
	}
	if (oldest >= 0) {
		out->oldest_open_at = col(call, rows, oldest, 2);
	}
	db_rows_free(rows);
	return (out->open_by_type != NULL && out->oldest_open_at != NULL
	        ? OPSBUS_E_OK
	        : OPSBUS_E_INTERNAL);
}

static opsbus_err
list_validate(struct rpc_call               *call,
    const Opsbus__V1__ListExceptionsRequest *in, int *limit)
{
	if (in->status[0] != '\0' && strcmp(in->status, "open") != 0
	    && strcmp(in->status, "resolved") != 0) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "status must be open or resolved (or empty for both)"));
	}
	if (in->exception_type[0] != '\0'
	    && strcmp(in->exception_type, "IDEMPOTENCY_CONFLICT") != 0
	    && strcmp(in->exception_type, "UNKNOWN_EVENT_TYPE") != 0) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "exception_type must be IDEMPOTENCY_CONFLICT or "
		    "UNKNOWN_EVENT_TYPE (or empty for both)"));
	}
	return (call_limit(call,
	    in->limit_value_case
	        == OPSBUS__V1__LIST_EXCEPTIONS_REQUEST__LIMIT_VALUE_LIMIT,
	    in->limit, 50, 100, limit));
}

opsbus_err
exception_list(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__ListExceptionsRequest *in
	    = (const Opsbus__V1__ListExceptionsRequest *) inm;
	Opsbus__V1__ListExceptionsResponse *out
	    = (Opsbus__V1__ListExceptionsResponse *) outm;
	const char     *p[6];
	char           *after_ts = NULL, *after_id = NULL;
	char            fetch[16];
	struct db_rows *rows;
	opsbus_err      err;
	int             limit, count;

	if ((err = list_validate(call, in, &limit)) != OPSBUS_E_OK
	    || (err = call_read_tenant(call, in->tenant, &p[1]))
	        != OPSBUS_E_OK) {
		return (err);
	}
	if (in->page_token[0] != '\0'
	    && !page_token_read(call, in->page_token, &after_ts, &after_id)) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "page_token is not one this server gave"));
	}
	snprintf(fetch, sizeof(fetch), "%d", limit + 1);
	p[0] = in->status;
	p[2] = in->exception_type;
	p[3] = after_ts;
	p[4] = after_id;
	p[5] = fetch;
	if ((err = db_exec(call->db, &stmt_list, 6, p, &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	count = db_rows_count(rows);
	out->exceptions
	    = call_array(call, (size_t) count + 1, sizeof(*out->exceptions));
	for (int r = 0; out->exceptions != NULL && r < count && r < limit;
	     r++) {
		if ((out->exceptions[r] = exception_from_row(call, rows, r))
		    == NULL) {
			db_rows_free(rows);
			return (OPSBUS_E_INTERNAL);
		}
		out->n_exceptions++;
	}
	db_rows_free(rows);
	if (out->exceptions == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	if (count > limit && out->n_exceptions > 0) {
		const Opsbus__V1__Exception *last
		    = out->exceptions[out->n_exceptions - 1];

		out->next_page_token
		    = page_token_make(call, last->created_at, last->id);
	}
	return (OPSBUS_E_OK);
}

/* The operator view of job id into *out; NULL when the job is gone. */
static opsbus_err
load_job(struct rpc_call *call, const char *id, Opsbus__V1__OperatorJob **out)
{
	struct db_rows *rows;
	opsbus_err      err;

	*out = NULL;
	if (id[0] == '\0') {
		return (OPSBUS_E_OK);
	}
	if ((err = db_exec(call->db, &stmt_job, 1, &id, &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	if (db_rows_count(rows) == 1
	    && (*out = view_operator_job(call, rows, 0, 0)) == NULL) {
		err = OPSBUS_E_INTERNAL;
	}
	db_rows_free(rows);
	return (err);
}

opsbus_err
exception_get(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__GetExceptionRequest *in
	    = (const Opsbus__V1__GetExceptionRequest *) inm;
	Opsbus__V1__GetExceptionResponse *out
	    = (Opsbus__V1__GetExceptionResponse *) outm;
	struct db_rows *rows;
	opsbus_err      err;

	if ((err = call_load_by_id(call, &stmt_get, in->id,
	         OPSBUS_E_EXCEPTION_NOT_FOUND, "exception", &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	out->exception = exception_from_row(call, rows, 0);
	db_rows_free(rows);
	if (out->exception == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	return (load_job(call, out->exception->job_id, &out->job));
}

/* ResolveException's checks of the request alone. */
static opsbus_err
resolve_validate(struct rpc_call              *call,
    const Opsbus__V1__ResolveExceptionRequest *in, bool *replay)
{
	*replay = strcmp(in->action, "override_and_replay") == 0;
	if (!*replay && strcmp(in->action, "mark_resolved_no_replay") != 0) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "action must be mark_resolved_no_replay or "
		    "override_and_replay"));
	}
	if (in->actor[0] == '\0') {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "actor is required: who made the decision"));
	}
	if (!*replay
	    && (in->canonical[0] != '\0' || in->override_patch[0] != '\0'
	        || in->cancel_superseded)) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "canonical, override_patch and cancel_superseded go with "
		    "override_and_replay only"));
	}
	if (in->canonical[0] != '\0' && strcmp(in->canonical, "first") != 0
	    && strcmp(in->canonical, "last") != 0) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "canonical must be first or last (default: last, the "
		    "request that raised the exception)"));
	}
	return (OPSBUS_E_OK);
}

/* Reads a string member of the replayed request into *out. */
static bool
doc_string(json_t *v, struct rpc_call *call, char **out)
{
	if (!json_is_string(v)) {
		return (false);
	}
	*out = call_strdup(call, json_string_value(v));
	return (*out != NULL);
}

static bool
doc_int(json_t *v, int32_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < INT32_MIN
	    || json_integer_value(v) > INT32_MAX) {
		return (false);
	}
	*out = (int32_t) json_integer_value(v);
	return (true);
}

/*
 * The CreateJob request a replay makes from the patched document: its
 * members are CreateJobRequest's (but tenant and key, which come from the
 * exception), the queue stays the exception's.
 */
static opsbus_err
request_from_doc(struct rpc_call *call, json_t *doc,
    const Opsbus__V1__Exception *x, const char *key,
    Opsbus__V1__CreateJobRequest *req)
{
	const char *name;
	json_t     *v;
	bool        ok;

	opsbus__v1__create_job_request__init(req);
	if (!json_is_object(doc)) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "the patched request must be a JSON object"));
	}
	req->queue = PB_STR(x->queue);
	json_object_foreach(doc, name, v)
	{
		if (strcmp(name, "queue") == 0) {
			ok = json_is_string(v)
			    && strcmp(json_string_value(v), x->queue) == 0;
			if (!ok) {
				return (call_fail(call,
				    OPSBUS_E_VALIDATION_ERROR,
				    "override_patch may not change the queue "
				    "(\"%s\"): the request and its key "
				    "belong to it",
				    x->queue));
			}
			continue;
		}
		if (strcmp(name, "target") == 0) {
			ok = doc_string(v, call, &req->target);
		} else if (strcmp(name, "kind") == 0) {
			ok = doc_string(v, call, &req->kind);
		} else if (strcmp(name, "subject") == 0) {
			ok = doc_string(v, call, &req->subject);
		} else if (strcmp(name, "run_at") == 0) {
			ok = doc_string(v, call, &req->run_at);
		} else if (strcmp(name, "max_attempts") == 0) {
			ok = doc_int(v, &req->max_attempts);
		} else if (strcmp(name, "priority") == 0) {
			ok = doc_int(v, &req->priority);
		} else if (strcmp(name, "payload") == 0) {
			char *s
			    = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

			req->payload = s != NULL ? call_strdup(call, s) : NULL;
			free(s);
			ok = req->payload != NULL;
		} else {
			return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
			    "the replayed request has no field \"%.64s\": "
			    "override_patch may change target, kind, "
			    "subject, payload, max_attempts, priority and "
			    "run_at",
			    name));
		}
		if (!ok) {
			return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
			    "%s has the wrong type in the patched request "
			    "(%s)",
			    name,
			    strcmp(name, "max_attempts") == 0
			            || strcmp(name, "priority") == 0
			        ? "a 32-bit integer"
			        : "a string"));
		}
	}
	req->tenant = PB_STR(x->tenant);
	req->idempotency_key = PB_STR(key);
	return (OPSBUS_E_OK);
}

/*
 * The canonical raw request with the patch applied, as a CreateJob
 * request. The raw requests are the server's own (not redacted).
 */
static opsbus_err
replay_request(struct rpc_call                *call,
    const Opsbus__V1__ResolveExceptionRequest *in, const struct db_rows *rows,
    const Opsbus__V1__Exception *x, const char *key,
    Opsbus__V1__CreateJobRequest *req)
{
	bool        first = strcmp(in->canonical, "first") == 0;
	const char *raw
	    = db_rows_get(rows, 0, first ? XC_FIRST_RAW : XC_LAST_RAW);
	char       why[160];
	char      *patch_text;
	json_t    *doc, *patch = NULL, *merged;
	opsbus_err err;

	if (raw[0] == '\0') {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "exception %s holds no %s request to replay", x->id,
		    first ? "first" : "last"));
	}
	if (in->override_patch[0] != '\0') {
		if (!json_check(in->override_patch, PATCH_MAX, call->arena,
		        &patch_text, why, sizeof(why))) {
			return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
			    "override_patch: %s", why));
		}
		patch = json_loads(patch_text, 0, NULL);
		if (!json_is_object(patch)) {
			json_decref(patch);
			return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
			    "override_patch must be a JSON object (a merge "
			    "patch, RFC 7396)"));
		}
	}
	if ((doc = json_loads(raw, 0, NULL)) == NULL) {
		json_decref(patch);
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "the %s request of exception %s is not JSON: it cannot "
		    "be replayed",
		    first ? "first" : "last", x->id));
	}
	merged = patch != NULL ? merge_patch(doc, patch) : json_incref(doc);
	err = merged != NULL ? request_from_doc(call, merged, x, key, req)
	                     : OPSBUS_E_INTERNAL;
	json_decref(merged);
	json_decref(doc);
	json_decref(patch);
	return (err);
}

/*
 * cancel_superseded: cancels the job the key answered before the replay
 * made job (x->job_id, the first request's), attributed to the resolver,
 * and says so in out. Nothing is superseded when the replay made no job.
 */
static opsbus_err
cancel_superseded(struct rpc_call             *call,
    const Opsbus__V1__ResolveExceptionRequest *in,
    const Opsbus__V1__Exception *x, const Opsbus__V1__Job *job,
    const struct audit *a, Opsbus__V1__ResolveExceptionResponse *out)
{
	struct operator_cancel c;
	struct audit           ca = *a;
	opsbus_err             err;

	out->superseded_effect = PB_STR("none");
	/* A created job is a new one: never the one the key answered. */
	if (!in->cancel_superseded || !out->created || x->job_id[0] == '\0') {
		return (OPSBUS_E_OK);
	}
	/* The cancelled job's summary and event say why, and by whom. */
	ca.reason
	    = call_printf(call, "superseded by job %s (exception %s): %s",
	        job->id, x->id, in->resolution_notes);
	if (ca.reason == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	if ((err = operator_cancel(call, x->job_id, &ca, true, &c))
	    != OPSBUS_E_OK) {
		return (err);
	}
	out->superseded_job = c.job;
	out->superseded_effect = PB_STR(c.effect);
	return (OPSBUS_E_OK);
}

static opsbus_err
resolve_command(struct rpc_call *call, const ProtobufCMessage *inm,
    ProtobufCMessage *outm, struct audit *a)
{
	const Opsbus__V1__ResolveExceptionRequest *in
	    = (const Opsbus__V1__ResolveExceptionRequest *) inm;
	Opsbus__V1__ResolveExceptionResponse *out
	    = (Opsbus__V1__ResolveExceptionResponse *) outm;
	Opsbus__V1__Exception *x;
	Opsbus__V1__Job       *job = NULL;
	struct db_rows        *rows;
	const char            *p[8];
	const char            *key;
	const char            *outcome;
	bool                   replay;
	opsbus_err             err;

	if ((err = resolve_validate(call, in, &replay)) != OPSBUS_E_OK) {
		return (err);
	}
	if ((err = call_load_by_id(call, &stmt_get_locked, in->id,
	         OPSBUS_E_EXCEPTION_NOT_FOUND, "exception", &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	x = exception_from_row(call, rows, 0);
	key = call_strdup(call, db_rows_get(rows, 0, XC_COUNT));
	if (x == NULL || key == NULL) {
		db_rows_free(rows);
		return (OPSBUS_E_INTERNAL);
	}
	if (strcmp(x->status, "open") != 0) {
		db_rows_free(rows);
		return (call_fail(call, OPSBUS_E_EXCEPTION_ALREADY_RESOLVED,
		    "exception %s was resolved (%s) by %s at %s", x->id,
		    x->resolution, x->resolved_by, x->resolved_at));
	}
	if (replay) {
		Opsbus__V1__CreateJobRequest req;
		bool                         created = false;

		err = replay_request(call, in, rows, x, key, &req);
		db_rows_free(rows);
		if (err == OPSBUS_E_OK) {
			err = job_replay_create(
			    call, &req, a->identity, &job, &created);
		}
		out->created = created;
		if (err == OPSBUS_E_OK) {
			err = cancel_superseded(call, in, x, job, a, out);
		}
		if (err != OPSBUS_E_OK) {
			return (err);
		}
		a->target_job_id = job->id;
	} else {
		db_rows_free(rows);
	}
	if (replay) {
		outcome = audit_json(call,
		    json_pack("{s:{s:s, s:b, s:s, s:b, s:s, s:s}}", "replay",
		        "canonical",
		        in->canonical[0] != '\0' ? in->canonical : "last",
		        "patched", in->override_patch[0] != '\0', "job_id",
		        job->id, "created", out->created, "previous_job_id",
		        x->job_id, "superseded", out->superseded_effect));
		a->details = audit_json(call,
		    json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:s, s:s}",
		        "exception_id", x->id, "exception_type",
		        x->exception_type, "resolution", in->action,
		        "canonical",
		        in->canonical[0] != '\0' ? in->canonical : "last",
		        "patched", in->override_patch[0] != '\0', "created",
		        out->created, "superseded_job_id",
		        out->superseded_job != NULL ? x->job_id : "",
		        "superseded", out->superseded_effect));
	} else {
		outcome = "{}";
		a->details = audit_json(call,
		    json_pack("{s:s, s:s, s:s}", "exception_id", x->id,
		        "exception_type", x->exception_type, "resolution",
		        in->action));
	}
	if (outcome == NULL || a->details == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	p[0] = x->id;
	p[1] = in->action;
	p[2] = a->identity;
	p[3] = in->resolution_notes;
	p[4] = job != NULL ? job->id : NULL;
	p[5] = replay ? "1" : "0";
	p[6] = outcome;
	p[7] = call->correlation_id;
	if ((err = db_exec(call->db, &stmt_resolve, 8, p, NULL))
	    != OPSBUS_E_OK) {
		return (err);
	}
	p[1] = "";
	if ((err = db_exec(call->db, &stmt_get, 2, p, &rows)) != OPSBUS_E_OK) {
		return (err);
	}
	out->exception = db_rows_count(rows) == 1
	    ? exception_from_row(call, rows, 0)
	    : NULL;
	db_rows_free(rows);
	if (out->exception == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	return (replay ? load_job(call, job->id, &out->job) : OPSBUS_E_OK);
}

opsbus_err
exception_resolve(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__ResolveExceptionRequest *in
	    = (const Opsbus__V1__ResolveExceptionRequest *) inm;
	struct audit a = {.action = "exception_resolve",
	    .reason = in->resolution_notes,
	    .reason_field = "resolution_notes"};

	/* "exception:<id>": an audit target that is not a UUID is matched
	 * as text (ListAuditLog's target), and says what it names. */
	const char *target = call_printf(call, "exception:%s", in->id);

	audit_target_text(call, &a, target != NULL ? target : in->id);
	return (audit_run(call, &a, in->actor, resolve_command, inm, outm));
}
