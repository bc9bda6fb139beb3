/*
 * QueueService: a queue's policy (attempts, backoff, lease), pausing and
 * resuming it, and its depth by state.
 *
 * A queue exists once a job names it or someone configures it. A queue
 * without a row of its own follows the defaults row (name '', holding the
 * column defaults of the queues table; see migrations/0001_init.sql), so
 * the defaults are written in one place. Pause and resume are operator
 * commands: attributed to the operator identity, with a real reason, and
 * written to operator_audit_log whether accepted or refused; an accepted
 * change also writes a 'queue.paused' / 'queue.resumed' event. UpdateQueue
 * is an admin command, audited and evented the same way.
 */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "opsbus/v1/queue.pb-c.h"
#include "services/handlers.h"
#include "services/job_view.h"
#include "services/validate.h"
#include "store/db.h"
#include "store/pgarray.h"

/* The longest reason an operator may give. */
#define QUEUE_REASON_MAX 1000

/* clang-format off */

#define READY_STATES "('queued', 'rerouted', 'retryable_failed')"
#define DEPTH(state) "count(*) FILTER (WHERE status = '" state "') AS " state

/*
 * Queues with their policy and depth: every configured queue and every
 * queue with jobs ($1 = '': all; else that one), with the jobs of tenant
 * $2 ('' = all) counted. The columns are read by queue_from_row.
 */
static const struct db_stmt stmt_queues = {"queue_list",
    "WITH d AS (SELECT queue, " DEPTH("queued") ", " DEPTH("rerouted") ", "
    DEPTH("in_progress") ", " DEPTH("retryable_failed") ", "
    DEPTH("succeeded") ", " DEPTH("dead_failed") ", " DEPTH("cancelled")
    ", " DEPTH("aborted") ", count(*) FILTER (WHERE status IN "
    READY_STATES " AND run_at <= now()) AS ready, min(run_at) FILTER "
    "(WHERE status IN " READY_STATES " AND run_at <= now()) AS oldest "
    "FROM jobs WHERE ($1::text = '' OR queue = $1::text) AND "
    "($2::text = '' OR tenant = $2::text) GROUP BY queue), "
    "n AS (SELECT name FROM queues WHERE name <> '' AND "
    "($1::text = '' OR name = $1::text) UNION SELECT queue FROM d), "
    "def AS (SELECT * FROM queues WHERE name = '') "
    "SELECT n.name, coalesce(q.max_attempts, def.max_attempts), "
    "coalesce(q.backoff_base_ms, def.backoff_base_ms), "
    "coalesce(q.backoff_factor, def.backoff_factor), "
    "coalesce(q.backoff_cap_ms, def.backoff_cap_ms), "
    "coalesce(q.lease_ms, def.lease_ms), coalesce(q.paused, false), "
    "coalesce(q.paused_by, ''), coalesce(q.paused_reason, ''), "
    SQL_TS("q.paused_at") ", " SQL_TS("q.updated_at") ", "
    "q.name IS NOT NULL, coalesce(d.queued, 0), coalesce(d.rerouted, 0), "
    "coalesce(d.in_progress, 0), coalesce(d.retryable_failed, 0), "
    "coalesce(d.succeeded, 0), coalesce(d.dead_failed, 0), "
    "coalesce(d.cancelled, 0), coalesce(d.aborted, 0), "
    "coalesce(d.ready, 0), coalesce(floor(extract(epoch FROM now() - "
    "d.oldest) * 1000)::bigint, 0), "
    "coalesce(array_to_string(q.allowed_kinds, ','), '') "
    "FROM n CROSS JOIN def LEFT JOIN queues q ON q.name = n.name "
    "LEFT JOIN d ON d.queue = n.name ORDER BY n.name"};

/*
 * Sets the fields given (NULL: keep), creating the queue's row from the
 * defaults row when it has none; audits and writes 'queue.updated'.
 */
static const struct db_stmt stmt_update = {"queue_update",
    "WITH def AS (SELECT * FROM queues WHERE name = ''), "
    "u AS (INSERT INTO queues (name, max_attempts, backoff_base_ms, "
    "backoff_factor, backoff_cap_ms, lease_ms, allowed_kinds) "
    "SELECT $1::text, "
    "coalesce($2::int, def.max_attempts), "
    "coalesce($3::int, def.backoff_base_ms), "
    "coalesce($4::float8, def.backoff_factor), "
    "coalesce($5::int, def.backoff_cap_ms), "
    "coalesce($6::int, def.lease_ms), "
    "nullif($10::text[], '{}') FROM def "
    "ON CONFLICT (name) DO UPDATE SET "
    "max_attempts = coalesce($2::int, queues.max_attempts), "
    "backoff_base_ms = coalesce($3::int, queues.backoff_base_ms), "
    "backoff_factor = coalesce($4::float8, queues.backoff_factor), "
    "backoff_cap_ms = coalesce($5::int, queues.backoff_cap_ms), "
    "lease_ms = coalesce($6::int, queues.lease_ms), "
    "allowed_kinds = CASE WHEN $10::text[] IS NULL THEN "
    "queues.allowed_kinds ELSE nullif($10::text[], '{}') END, "
    "updated_at = now() "
    "RETURNING *), "
    "au AS (INSERT INTO operator_audit_log (action_type, "
    "operator_identity, reason, target, outcome, correlation_id, details) "
    "SELECT 'update_queue', $7::text, $8::text, u.name, 'accepted', "
    "$9::text, jsonb_strip_nulls(jsonb_build_object('max_attempts', "
    "$2::int, 'backoff_base_ms', $3::int, 'backoff_factor', $4::float8, "
    "'backoff_cap_ms', $5::int, 'lease_ms', $6::int, 'allowed_kinds', "
    "to_jsonb($10::text[]))) "
    "FROM u), "
    "e AS (INSERT INTO events (event_id, event_type, topic, queue, actor, "
    "correlation_id, payload) SELECT gen_random_uuid(), 'queue.updated', "
    "'queue.updated.' || u.name, u.name, $7::text, $9::text, "
    "jsonb_build_object('max_attempts', u.max_attempts, "
    "'backoff_base_ms', u.backoff_base_ms, 'backoff_factor', "
    "u.backoff_factor, 'backoff_cap_ms', u.backoff_cap_ms, 'lease_ms', "
    "u.lease_ms, 'allowed_kinds', u.allowed_kinds, 'reason', $8::text) "
    "FROM u) "
    "SELECT name FROM u"};

/*
 * Pauses the queue (making its row if needed) unless it is paused
 * already; audits always; writes 'queue.paused' when it changed. Answers
 * whether it changed.
 */
static const struct db_stmt stmt_pause = {"queue_pause",
    "WITH u AS (INSERT INTO queues (name, paused, paused_by, "
    "paused_reason, paused_at) VALUES ($1::text, true, $2::text, $3::text, "
    "now()) ON CONFLICT (name) DO UPDATE SET paused = true, "
    "paused_by = $2::text, paused_reason = $3::text, paused_at = now(), "
    "updated_at = now() WHERE NOT queues.paused RETURNING name), "
    "au AS (INSERT INTO operator_audit_log (action_type, "
    "operator_identity, reason, target, outcome, correlation_id, details) "
    "VALUES ('pause_queue', $2::text, $3::text, $1::text, 'accepted', "
    "$4::text, jsonb_build_object('changed', EXISTS (SELECT 1 FROM u)))), "
    "e AS (INSERT INTO events (event_id, event_type, topic, queue, actor, "
    "correlation_id, payload) SELECT gen_random_uuid(), 'queue.paused', "
    "'queue.paused.' || u.name, u.name, $2::text, $4::text, "
    "jsonb_build_object('reason', $3::text) FROM u) "
    "SELECT EXISTS (SELECT 1 FROM u)"};

static const struct db_stmt stmt_resume = {"queue_resume",
    "WITH u AS (UPDATE queues SET paused = false, paused_by = NULL, "
    "paused_reason = NULL, paused_at = NULL, updated_at = now() "
    "WHERE name = $1::text AND paused RETURNING name), "
    "au AS (INSERT INTO operator_audit_log (action_type, "
    "operator_identity, reason, target, outcome, correlation_id, details) "
    "VALUES ('resume_queue', $2::text, $3::text, $1::text, 'accepted', "
    "$4::text, jsonb_build_object('changed', EXISTS (SELECT 1 FROM u)))), "
    "e AS (INSERT INTO events (event_id, event_type, topic, queue, actor, "
    "correlation_id, payload) SELECT gen_random_uuid(), 'queue.resumed', "
    "'queue.resumed.' || u.name, u.name, $2::text, $4::text, "
    "jsonb_build_object('reason', $3::text) FROM u) "
    "SELECT EXISTS (SELECT 1 FROM u)"};

/* A refused operator command, kept although the call fails. */
static const struct db_stmt stmt_refused = {"queue_refused",
    "INSERT INTO operator_audit_log (action_type, operator_identity, "
    "reason, target, outcome, error_code, correlation_id) VALUES "
    "($1::text, $2::text, $3::text, $4::text, 'refused', $5::text, "
    "$6::text)"};

/* clang-format on */

/* The allowed kinds from their comma-joined text ("" = any). */
static bool
kinds_from_text(struct rpc_call *call, const char *text, Opsbus__V1__Queue *q)
{
	char  *copy = call_strdup(call, text);
	size_t n = text[0] != '\0' ? 1 : 0;

	if (copy == NULL) {
		return (false);
	}
	for (const char *c = text; *c != '\0'; c++) {
		n += *c == ',';
	}
	q->allowed_kinds = call_array(call, n + 1, sizeof(char *));
	if (q->allowed_kinds == NULL) {
		return (false);
	}
	for (char *tok = copy; n > 0 && tok != NULL;) {
		char *comma = strchr(tok, ',');

		if (comma != NULL) {
			*comma = '\0';
		}
		q->allowed_kinds[q->n_allowed_kinds++] = tok;
		tok = comma != NULL ? comma + 1 : NULL;
	}
	return (true);
}

static Opsbus__V1__Queue *
queue_from_row(struct rpc_call *call, const struct db_rows *rows, int r)
{
	Opsbus__V1__Queue *q = (Opsbus__V1__Queue *) call_new(
	    call, &opsbus__v1__queue__descriptor);
	Opsbus__V1__QueueDepth *d = (Opsbus__V1__QueueDepth *) call_new(
	    call, &opsbus__v1__queue_depth__descriptor);

	if (q == NULL || d == NULL) {
		return (NULL);
	}
	q->name = call_strdup(call, db_rows_get(rows, r, 0));
	q->max_attempts = (int32_t) db_rows_int(rows, r, 1);
	q->backoff_base_ms = (int32_t) db_rows_int(rows, r, 2);
	q->backoff_factor = strtod(db_rows_get(rows, r, 3), NULL);
	q->backoff_cap_ms = (int32_t) db_rows_int(rows, r, 4);
	q->lease_ms = (int32_t) db_rows_int(rows, r, 5);
	q->paused = db_rows_bool(rows, r, 6);
	q->paused_by = call_strdup(call, db_rows_get(rows, r, 7));
	q->paused_reason = call_strdup(call, db_rows_get(rows, r, 8));
	q->paused_at = call_strdup(call, db_rows_get(rows, r, 9));
	q->updated_at = call_strdup(call, db_rows_get(rows, r, 10));
	q->configured = db_rows_bool(rows, r, 11);
	d->queued = db_rows_int(rows, r, 12);
	d->rerouted = db_rows_int(rows, r, 13);
	d->in_progress = db_rows_int(rows, r, 14);
	d->retryable_failed = db_rows_int(rows, r, 15);
	d->succeeded = db_rows_int(rows, r, 16);
	d->dead_failed = db_rows_int(rows, r, 17);
	d->cancelled = db_rows_int(rows, r, 18);
	d->aborted = db_rows_int(rows, r, 19);
	d->ready = db_rows_int(rows, r, 20);
	q->lag_ms = db_rows_int(rows, r, 21);
	q->depth = d;
	if (!kinds_from_text(call, db_rows_get(rows, r, 22), q)) {
		return (NULL);
	}
	return (q);
}

/* Reads one queue into *out; QUEUE_NOT_FOUND when it has neither a row
 * nor jobs. */
static opsbus_err
queue_load(struct rpc_call *call, const char *name, Opsbus__V1__Queue **out)
{
	const char     *p[2] = {name, call->who->tenant};
	struct db_rows *rows;
	opsbus_err      err;

	if ((err = db_exec(call->db, &stmt_queues, 2, p, &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	*out = NULL;
	if (db_rows_count(rows) == 1) {
		*out = queue_from_row(call, rows, 0);
		db_rows_free(rows);
		return (*out != NULL ? OPSBUS_E_OK : OPSBUS_E_INTERNAL);
	}
	db_rows_free(rows);
	return (call_fail(call, OPSBUS_E_QUEUE_NOT_FOUND,
	    "no queue %s: no job names it and nobody configured it", name));
}

static bool
queue_name_ok(struct rpc_call *call, const char *name, opsbus_err *err)
{
	if (valid_name(name)) {
		return (true);
	}
	*err = call_fail(call, OPSBUS_E_VALIDATION_ERROR,
	    "name is required: 1..64 characters of letters, digits, '.', "
	    "'_', '-', ':' and '/'");
	return (false);
}

/*
 * Records a refused operator command in the audit log and keeps it
 * although the call fails. Returns err (the refusal) unless the write
 * failed.
 */
static opsbus_err
audit_refused(struct rpc_call *call, const char *action, const char *reason,
    const char *target, opsbus_err err)
{
	const char *p[6];
	opsbus_err  werr;
	const char *message = call->message;

	p[0] = action;
	p[1] = call->operator_identity;
	p[2] = arena_strndup(
	    call->arena, reason, strnlen(reason, QUEUE_REASON_MAX));
	p[3] = arena_strndup(call->arena, target, strnlen(target, 64));
	p[4] = opsbus_err_name(err);
	p[5] = call->correlation_id;
	if (p[2] == NULL || p[3] == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	if ((werr = db_exec(call->db, &stmt_refused, 6, p, NULL))
	    != OPSBUS_E_OK) {
		return (werr);
	}
	call->commit_on_error = true;
	call->message = message;
	return (err);
}

/* The checks every operator command on a queue makes of name and reason. */
static opsbus_err
operator_check(struct rpc_call *call, const char *action, const char *name,
    const char *reason)
{
	opsbus_err err;

	if (!queue_name_ok(call, name, &err)) {
		return (audit_refused(call, action, reason, name, err));
	}
	if (strlen(reason) > QUEUE_REASON_MAX
	    || !valid_operator_reason(reason)) {
		err = call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "a reason is required: say why in a sentence (at least 8 "
		    "characters, at most %d, not a placeholder such as "
		    "\"test\")",
		    QUEUE_REASON_MAX);
		return (audit_refused(call, action, reason, name, err));
	}
	return (OPSBUS_E_OK);
}

opsbus_err
queue_get(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__GetQueueRequest *in
	    = (const Opsbus__V1__GetQueueRequest *) inm;
	Opsbus__V1__GetQueueResponse *out
	    = (Opsbus__V1__GetQueueResponse *) outm;
	opsbus_err err;

	if (!queue_name_ok(call, in->name, &err)) {
		return (err);
	}
	return (queue_load(call, in->name, &out->queue));
}

opsbus_err
queue_list(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	Opsbus__V1__ListQueuesResponse *out
	    = (Opsbus__V1__ListQueuesResponse *) outm;
	const char     *p[2] = {"", call->who->tenant};
	struct db_rows *rows;
	opsbus_err      err;
	int             count;

	(void) inm;
	if ((err = db_exec(call->db, &stmt_queues, 2, p, &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	count = db_rows_count(rows);
	out->queues
	    = call_array(call, (size_t) count + 1, sizeof(*out->queues));
	for (int r = 0; out->queues != NULL && r < count; r++) {
		if ((out->queues[r] = queue_from_row(call, rows, r)) == NULL) {
			break;
		}
		out->n_queues++;
	}
	db_rows_free(rows);
	return (
	    out->n_queues == (size_t) count ? OPSBUS_E_OK : OPSBUS_E_INTERNAL);
}

/* One optional integer field of UpdateQueue: NULL when absent. */
static opsbus_err
update_int(struct rpc_call *call, bool set, int32_t v, const char *field,
    int32_t lo, int32_t hi, const char **out)
{
	*out = NULL;
	if (!set) {
		return (OPSBUS_E_OK);
	}
	if (v < lo || v > hi) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "%s must be between %d and %d, got %d", field, lo, hi, v));
	}
	*out = call_printf(call, "%d", v);
	return (*out != NULL ? OPSBUS_E_OK : OPSBUS_E_INTERNAL);
}

/* The most kinds a queue may list. */
#define QUEUE_KINDS_MAX 64

/*
 * allowed_kinds of UpdateQueue: *kinds a text[] literal when given (an
 * empty list: any kind), else NULL (leave it).
 */
static opsbus_err
update_kinds(struct rpc_call *call, const Opsbus__V1__UpdateQueueRequest *in,
    const char **kinds)
{
	const Opsbus__V1__KindList *list = in->allowed_kinds;
	struct pg_array             arr;

	*kinds = NULL;
	if (in->allowed_kinds_value_case
	    != OPSBUS__V1__UPDATE_QUEUE_REQUEST__ALLOWED_KINDS_VALUE_ALLOWED_KINDS) {
		return (OPSBUS_E_OK);
	}
	pg_array_init(&arr, call->arena);
	if (list != NULL && list->n_kinds > QUEUE_KINDS_MAX) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "allowed_kinds lists at most %d kinds, got %zu",
		    QUEUE_KINDS_MAX, list->n_kinds));
	}
	for (size_t i = 0; list != NULL && i < list->n_kinds; i++) {
		if (!valid_name(list->kinds[i])) {
			return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
			    "allowed_kinds: each kind is 1..64 characters of "
			    "letters, digits, '.', '_', '-', ':' and '/'"));
		}
		pg_array_add(&arr, list->kinds[i]);
	}
	*kinds = pg_array_text(&arr);
	return (*kinds != NULL ? OPSBUS_E_OK : OPSBUS_E_INTERNAL);
}

static opsbus_err
update_validate(struct rpc_call          *call,
    const Opsbus__V1__UpdateQueueRequest *in, const char **p)
{
	opsbus_err err;

	if (!queue_name_ok(call, in->name, &err)) {
		return (err);
	}
	if ((err = update_int(call,
	         in->max_attempts_value_case
	             == OPSBUS__V1__UPDATE_QUEUE_REQUEST__MAX_ATTEMPTS_VALUE_MAX_ATTEMPTS,
	         in->max_attempts, "max_attempts", 1, 1000, &p[1]))
	        != OPSBUS_E_OK
	    || (err = update_int(call,
	            in->backoff_base_ms_value_case
	                == OPSBUS__V1__UPDATE_QUEUE_REQUEST__BACKOFF_BASE_MS_VALUE_BACKOFF_BASE_MS,
	            in->backoff_base_ms, "backoff_base_ms", 0, 86400000,
	            &p[2]))
	        != OPSBUS_E_OK
	    || (err = update_int(call,
	            in->backoff_cap_ms_value_case
	                == OPSBUS__V1__UPDATE_QUEUE_REQUEST__BACKOFF_CAP_MS_VALUE_BACKOFF_CAP_MS,
	            in->backoff_cap_ms, "backoff_cap_ms", 0, 86400000, &p[4]))
	        != OPSBUS_E_OK
	    || (err = update_int(call,
	            in->lease_ms_value_case
	                == OPSBUS__V1__UPDATE_QUEUE_REQUEST__LEASE_MS_VALUE_LEASE_MS,
	            in->lease_ms, "lease_ms", 1000, 3600000, &p[5]))
	        != OPSBUS_E_OK) {
		return (err);
	}
	p[3] = NULL;
	if (in->backoff_factor_value_case
	    == OPSBUS__V1__UPDATE_QUEUE_REQUEST__BACKOFF_FACTOR_VALUE_BACKOFF_FACTOR) {
		/* NaN fails both comparisons. */
		if (!(in->backoff_factor >= 1.0
		        && in->backoff_factor <= 10.0)) {
			return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
			    "backoff_factor must be between 1.0 and 10.0"));
		}
		p[3] = call_printf(call, "%.17g", in->backoff_factor);
	}
	if ((err = update_kinds(call, in, &p[9])) != OPSBUS_E_OK) {
		return (err);
	}
	if (p[1] == NULL && p[2] == NULL && p[3] == NULL && p[4] == NULL
	    && p[5] == NULL && p[9] == NULL) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "nothing to change: give at least one of max_attempts, "
		    "backoff_base_ms, backoff_factor, backoff_cap_ms, "
		    "lease_ms, allowed_kinds"));
	}
	if (in->reason[0] != '\0'
	    && (strlen(in->reason) > QUEUE_REASON_MAX
	        || !valid_operator_reason(in->reason))) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "reason is optional, but when given it must say why in a "
		    "sentence (at least 8 characters, not a placeholder)"));
	}
	return (OPSBUS_E_OK);
}

opsbus_err
queue_update(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__UpdateQueueRequest *in
	    = (const Opsbus__V1__UpdateQueueRequest *) inm;
	Opsbus__V1__UpdateQueueResponse *out
	    = (Opsbus__V1__UpdateQueueResponse *) outm;
	const char *p[10];
	opsbus_err  err;

	if ((err = update_validate(call, in, p)) != OPSBUS_E_OK) {
		return (audit_refused(
		    call, "update_queue", in->reason, in->name, err));
	}
	p[0] = in->name;
	p[6] = call->operator_identity;
	p[7] = in->reason;
	p[8] = call->correlation_id;
	if ((err = db_exec(call->db, &stmt_update, 10, p, NULL))
	    != OPSBUS_E_OK) {
		return (err);
	}
	return (queue_load(call, in->name, &out->queue));
}

/* Runs a pause or resume statement; *changed says whether it changed. */
static opsbus_err
queue_switch(struct rpc_call *call, const struct db_stmt *stmt,
    const char *name, const char *reason, bool *changed)
{
	const char *p[4]
	    = {name, call->operator_identity, reason, call->correlation_id};
	struct db_rows *rows;
	opsbus_err      err;

	if ((err = db_exec(call->db, stmt, 4, p, &rows)) != OPSBUS_E_OK) {
		return (err);
	}
	*changed = db_rows_count(rows) == 1 && db_rows_bool(rows, 0, 0);
	db_rows_free(rows);
	return (OPSBUS_E_OK);
}

opsbus_err
queue_pause(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__PauseQueueRequest *in
	    = (const Opsbus__V1__PauseQueueRequest *) inm;
	Opsbus__V1__PauseQueueResponse *out
	    = (Opsbus__V1__PauseQueueResponse *) outm;
	bool       changed;
	opsbus_err err;

	if ((err = operator_check(call, "pause_queue", in->name, in->reason))
	        != OPSBUS_E_OK
	    || (err = queue_switch(
	            call, &stmt_pause, in->name, in->reason, &changed))
	        != OPSBUS_E_OK) {
		return (err);
	}
	out->changed = changed;
	return (queue_load(call, in->name, &out->queue));
}

opsbus_err
queue_resume(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__ResumeQueueRequest *in
	    = (const Opsbus__V1__ResumeQueueRequest *) inm;
	Opsbus__V1__ResumeQueueResponse *out
	    = (Opsbus__V1__ResumeQueueResponse *) outm;
	Opsbus__V1__Queue *q;
	bool               changed;
	opsbus_err         err;

	if ((err = operator_check(call, "resume_queue", in->name, in->reason))
	    != OPSBUS_E_OK) {
		return (err);
	}
	/* Resuming a queue nobody knows is a mistake worth telling. */
	if ((err = queue_load(call, in->name, &q)) != OPSBUS_E_OK) {
		return (err == OPSBUS_E_QUEUE_NOT_FOUND ? audit_refused(
		            call, "resume_queue", in->reason, in->name, err)
		                                        : err);
	}
	if ((err = queue_switch(
	         call, &stmt_resume, in->name, in->reason, &changed))
	    != OPSBUS_E_OK) {
		return (err);
	}
	out->changed = changed;
	return (queue_load(call, in->name, &out->queue));
}
