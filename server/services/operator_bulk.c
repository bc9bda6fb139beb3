/*
 * Bulk replay as a server-side task: StartBulkReplay fixes the matching
 * dead letters as the items of a new operation (or only counts them, for a
 * dry run), GetBulkOperation reports its progress and the items that
 * failed, CancelBulkOperation stops it. bulk_runner.c does the work.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opsbus/v1/operator.pb-c.h"
#include "pbjson.h"
#include "services/handlers.h"
#include "services/job_view.h"
#include "services/operator_audit.h"
#include "services/validate.h"
#include "store/db.h"

/* The most dead letters one operation takes. */
#define BULK_MAX_ITEMS 100000
/* The failures GetBulkOperation lists. */
#define BULK_MAX_FAILURES 100

#define BULK_COLUMNS                                                      \
	"id, kind, status, dry_run, filter::text, max_per_second, "       \
	"operator_identity, reason, matched, replayed, skipped, failed, " \
	"" SQL_TS("created_at") ", " SQL_TS("started_at") ", " SQL_TS(    \
	    "finished_at") ", " SQL_TS("updated_at")

/*
 * The matches are fixed here, in start order: dead_failed, not replayed,
 * eligible unless $3, and every criterion given. An operation that matches
 * nothing, or a dry run, is completed at once.
 */
static const struct db_stmt stmt_start = {"operator_bulk_start",
    "WITH m AS (SELECT j.id, row_number() OVER (ORDER BY j.created_at, "
    "j.id) AS seq FROM jobs j WHERE j.status = 'dead_failed' AND "
    "j.replayed_job_id IS NULL AND ($3::boolean OR j.replay_eligible) AND "
    "($2 = '' OR j.tenant = $2) AND ($4 = '' OR j.queue = $4) AND "
    "($5 = '' OR upper(j.reason_code) = $5) AND ($6 = '' OR "
    "coalesce(nullif(j.failure_category, ''), 'uncategorized') = $6) AND "
    "($7 = '' OR j.operator_status = $7) AND ($8::timestamptz IS NULL OR "
    "j.created_at < $8::timestamptz) AND ($9::timestamptz IS NULL OR "
    "j.created_at >= $9::timestamptz) AND ($10 = '' OR j.target = $10) "
    "ORDER BY j.created_at, j.id LIMIT 100001), "
    "c AS (SELECT count(*) AS n FROM m), "
    "op AS (INSERT INTO bulk_operations (id, tenant, status, dry_run, "
    "filter, max_per_second, operator_identity, reason, correlation_id, "
    "matched, finished_at) SELECT $1::uuid, $2, CASE WHEN $11::boolean OR "
    "c.n = 0 THEN 'completed' ELSE 'pending' END, $11::boolean, $12::jsonb, "
    "$13::int, $14, $15, $16, c.n, CASE WHEN $11::boolean OR c.n = 0 THEN "
    "now() END FROM c RETURNING *), "
    "i AS (INSERT INTO bulk_operation_items (operation_id, seq, job_id) "
    "SELECT op.id, m.seq, m.id FROM op, m WHERE NOT op.dry_run) "
    "SELECT matched FROM op"};

static const struct db_stmt stmt_get = {"operator_bulk_get",
    "SELECT " BULK_COLUMNS " FROM bulk_operations WHERE id = $1::uuid AND "
    "($2 = '' OR tenant = $2)"};

static const struct db_stmt stmt_failures = {"operator_bulk_failures",
    "SELECT job_id, status, coalesce(error_code, ''), coalesce(message, "
    "''), " SQL_TS("processed_at") " FROM bulk_operation_items WHERE "
                                   "operation_id = $1::uuid AND status IN "
                                   "('skipped', 'failed') ORDER BY "
                                   "processed_at, seq LIMIT 100"};

static const struct db_stmt stmt_cancel_read = {"operator_bulk_cancel_read",
    "SELECT status FROM bulk_operations WHERE id = $1::uuid AND "
    "($2 = '' OR tenant = $2) FOR UPDATE"};

static const struct db_stmt stmt_cancel = {"operator_bulk_cancel",
    "UPDATE bulk_operations SET status = 'cancelled', finished_at = now(), "
    "updated_at = now() WHERE id = $1::uuid AND status IN ('pending', "
    "'running')"};

#define COL(i) call_strdup(call, db_rows_get(rows, 0, (i)))

/* The filter stored as JSON (proto field names) back as a message. */
static Opsbus__V1__BulkReplayFilter *
filter_from_json(struct rpc_call *call, const char *text)
{
	ProtobufCMessage *m = NULL;
	json_t           *j = json_loads(text, 0, NULL);
	char              why[128];

	if (j != NULL
	    && pbjson_to_message(&opsbus__v1__bulk_replay_filter__descriptor,
	           j, call->arena, &m, why, sizeof(why))
	        != 0) {
		m = NULL;
	}
	json_decref(j);
	if (m == NULL) {
		m = call_new(
		    call, &opsbus__v1__bulk_replay_filter__descriptor);
	}
	return ((Opsbus__V1__BulkReplayFilter *) m);
}

static opsbus_err
load_failures(struct rpc_call *call, Opsbus__V1__BulkOperation *op)
{
	const char     *p[1] = {op->id};
	struct db_rows *rows;
	opsbus_err      err;
	int             n;

	if ((err = db_exec(call->db, &stmt_failures, 1, p, &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	n = db_rows_count(rows);
	op->failures = call_array(call, (size_t) n + 1, sizeof(*op->failures));
	for (int r = 0; op->failures != NULL && r < n; r++) {
		Opsbus__V1__BulkItemFailure *f
		    = (Opsbus__V1__BulkItemFailure *) call_new(
		        call, &opsbus__v1__bulk_item_failure__descriptor);
		if (f == NULL) {
			break;
		}
		f->job_id = call_strdup(call, db_rows_get(rows, r, 0));
		f->outcome = call_strdup(call, db_rows_get(rows, r, 1));
		f->error_code = call_strdup(call, db_rows_get(rows, r, 2));
		f->message = call_strdup(call, db_rows_get(rows, r, 3));
		f->processed_at = call_strdup(call, db_rows_get(rows, r, 4));
		op->failures[op->n_failures++] = f;
	}
	db_rows_free(rows);
	return (
	    op->n_failures == (size_t) n ? OPSBUS_E_OK : OPSBUS_E_INTERNAL);
}

/* The operation id with its counts and failures; BULK_OPERATION_NOT_FOUND
 * when there is none the caller may see. */
static opsbus_err
bulk_load(
    struct rpc_call *call, const char *id, Opsbus__V1__BulkOperation **out)
{
	const char                *p[2] = {id, call->who->tenant};
	struct db_rows            *rows;
	opsbus_err                 err;
	Opsbus__V1__BulkOperation *op;

	if ((err = db_exec(call->db, &stmt_get, 2, p, &rows)) != OPSBUS_E_OK) {
		return (err);
	}
	if (db_rows_count(rows) != 1) {
		db_rows_free(rows);
		return (call_fail(call, OPSBUS_E_BULK_OPERATION_NOT_FOUND,
		    "no bulk operation %s", id));
	}
	op = (Opsbus__V1__BulkOperation *) call_new(
	    call, &opsbus__v1__bulk_operation__descriptor);
	if (op == NULL) {
		db_rows_free(rows);
		return (OPSBUS_E_INTERNAL);
	}
	op->id = COL(0);
	op->kind = COL(1);
	op->status = COL(2);
	op->dry_run = db_rows_bool(rows, 0, 3);
	op->filter = filter_from_json(call, db_rows_get(rows, 0, 4));
	op->max_per_second = (int32_t) db_rows_int(rows, 0, 5);
	op->operator_identity = COL(6);
	op->reason = COL(7);
	op->matched = (int32_t) db_rows_int(rows, 0, 8);
	op->replayed = (int32_t) db_rows_int(rows, 0, 9);
	op->skipped = (int32_t) db_rows_int(rows, 0, 10);
	op->failed = (int32_t) db_rows_int(rows, 0, 11);
	op->created_at = COL(12);
	op->started_at = COL(13);
	op->finished_at = COL(14);
	op->updated_at = COL(15);
	db_rows_free(rows);
	op->pending = op->dry_run
	    ? 0
	    : op->matched - op->replayed - op->skipped - op->failed;
	*out = op;
	return (load_failures(call, op));
}

#undef COL

static opsbus_err
filter_validate(struct rpc_call *call, const Opsbus__V1__BulkReplayFilter *f,
    char **reason_code)
{
	if (f == NULL) {
		return (call_fail(
		    call, OPSBUS_E_VALIDATION_ERROR, "filter is required"));
	}
	if (!valid_name_or_empty(f->queue) || !valid_name_or_empty(f->target)
	    || !valid_name_or_empty(f->failure_category)) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "filter queue, target and failure_category are up to 64 "
		    "characters of letters, digits, '.', '_', '-', ':' and "
		    "'/'"));
	}
	*reason_code = ascii_upper(call_strdup(call, f->reason_code));
	if ((*reason_code)[0] != '\0' && !valid_reason_code(*reason_code)) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "filter reason_code is up to 64 letters, digits, '_', "
		    "'.' and '-'"));
	}
	if (f->operator_status[0] != '\0'
	    && strcmp(f->operator_status, "open") != 0
	    && strcmp(f->operator_status, "acknowledged") != 0) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "filter operator_status must be open or acknowledged"));
	}
	if ((f->created_before[0] != '\0'
	        && !valid_timestamp(f->created_before))
	    || (f->created_after[0] != '\0'
	        && !valid_timestamp(f->created_after))) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "filter created_before and created_after are RFC 3339 "
		    "times such as 2026-11-22T08:00:00Z"));
	}
	if (f->queue[0] == '\0' && f->target[0] == '\0'
	    && f->failure_category[0] == '\0' && (*reason_code)[0] == '\0'
	    && f->operator_status[0] == '\0' && f->created_before[0] == '\0'
	    && f->created_after[0] == '\0') {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "the filter needs at least one criterion (queue, "
		    "reason_code, failure_category, target, operator_status, "
		    "created_before, created_after): no blind bulk replays"));
	}
	return (OPSBUS_E_OK);
}

static opsbus_err
start_command(struct rpc_call *call, const ProtobufCMessage *inm,
    ProtobufCMessage *outm, struct audit *a)
{
	const Opsbus__V1__StartBulkReplayRequest *in
	    = (const Opsbus__V1__StartBulkReplayRequest *) inm;
	Opsbus__V1__StartBulkReplayResponse *out
	    = (Opsbus__V1__StartBulkReplayResponse *) outm;
	const Opsbus__V1__BulkReplayFilter *f = in->filter;
	int         rate = in->max_per_second != 0 ? in->max_per_second : 10;
	char        rate_s[16];
	char       *reason_code = NULL;
	const char *filter_json, *op_id, *p[16];
	struct db_rows *rows;
	opsbus_err      err;
	int64_t         matched;

	if ((err = filter_validate(call, f, &reason_code)) != OPSBUS_E_OK) {
		return (err);
	}
	if (rate < 1 || rate > 1000) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "max_per_second must be between 1 and 1000 (0: 10), got "
		    "%d",
		    in->max_per_second));
	}
	filter_json = audit_json(
	    call, pbjson_from_message(&f->base, PBJSON_ORIGINAL_NAMES));
	if (filter_json == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	snprintf(rate_s, sizeof(rate_s), "%d", rate);
	op_id = new_uuid_text(call);
	p[0] = op_id;
	p[1] = call->who->tenant;
	p[2] = f->include_ineligible ? "true" : "false";
	p[3] = f->queue;
	p[4] = reason_code;
	p[5] = f->failure_category;
	p[6] = f->operator_status;
	p[7] = f->created_before[0] != '\0' ? f->created_before : NULL;
	p[8] = f->created_after[0] != '\0' ? f->created_after : NULL;
	p[9] = f->target;
	p[10] = in->dry_run ? "true" : "false";
	p[11] = filter_json;
	p[12] = rate_s;
	p[13] = a->identity;
	p[14] = a->reason;
	p[15] = call->correlation_id;
	if ((err = db_exec(call->db, &stmt_start, 16, p, &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	matched = db_rows_count(rows) == 1 ? db_rows_int(rows, 0, 0) : -1;
	db_rows_free(rows);
	if (matched < 0) {
		return (OPSBUS_E_INTERNAL);
	}
	if (matched > BULK_MAX_ITEMS) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "the filter matches more than %d dead letters: narrow it "
		    "(a queue, a reason code, a time range)",
		    BULK_MAX_ITEMS));
	}
	a->operation_id = op_id;
	a->details = audit_json(call,
	    json_pack("{s:o, s:b, s:i, s:I}", "filter",
	        json_loads(filter_json, 0, NULL), "dry_run", in->dry_run,
	        "max_per_second", rate, "matched", (json_int_t) matched));
	return (bulk_load(call, a->operation_id, &out->operation));
}

opsbus_err
operator_start_bulk_replay(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__StartBulkReplayRequest *in
	    = (const Opsbus__V1__StartBulkReplayRequest *) inm;
	struct audit a = {.action = "bulk_replay", .reason = in->reason};

	return (audit_run(call, &a, in->actor, start_command, inm, outm));
}

opsbus_err
operator_get_bulk_operation(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__GetBulkOperationRequest *in
	    = (const Opsbus__V1__GetBulkOperationRequest *) inm;
	Opsbus__V1__GetBulkOperationResponse *out
	    = (Opsbus__V1__GetBulkOperationResponse *) outm;

	if (!valid_uuid(in->id)) {
		return (call_fail(
		    call, OPSBUS_E_VALIDATION_ERROR, "id must be a UUID"));
	}
	return (bulk_load(call, in->id, &out->operation));
}

static opsbus_err
cancel_command(struct rpc_call *call, const ProtobufCMessage *inm,
    ProtobufCMessage *outm, struct audit *a)
{
	const Opsbus__V1__CancelBulkOperationRequest *in
	    = (const Opsbus__V1__CancelBulkOperationRequest *) inm;
	Opsbus__V1__CancelBulkOperationResponse *out
	    = (Opsbus__V1__CancelBulkOperationResponse *) outm;
	const char     *p[2] = {in->id, call->who->tenant};
	struct db_rows *rows;
	opsbus_err      err;
	char           *status;

	if (!valid_uuid(in->id)) {
		return (call_fail(
		    call, OPSBUS_E_VALIDATION_ERROR, "id must be a UUID"));
	}
	/* Waits for a batch the runner is working on to commit. */
	if ((err = db_exec(call->db, &stmt_cancel_read, 2, p, &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	status = db_rows_count(rows) == 1
	    ? call_strdup(call, db_rows_get(rows, 0, 0))
	    : NULL;
	db_rows_free(rows);
	if (status == NULL) {
		return (call_fail(call, OPSBUS_E_BULK_OPERATION_NOT_FOUND,
		    "no bulk operation %s", in->id));
	}
	if (strcmp(status, "pending") != 0 && strcmp(status, "running") != 0) {
		return (call_fail(call, OPSBUS_E_TERMINAL_STATE,
		    "bulk operation %s has ended (%s)", in->id, status));
	}
	if ((err = db_exec(call->db, &stmt_cancel, 1, p, NULL))
	    != OPSBUS_E_OK) {
		return (err);
	}
	a->details
	    = audit_json(call, json_pack("{s:s}", "from_status", status));
	return (bulk_load(call, in->id, &out->operation));
}

opsbus_err
operator_cancel_bulk_operation(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__CancelBulkOperationRequest *in
	    = (const Opsbus__V1__CancelBulkOperationRequest *) inm;
	struct audit a
	    = {.action = "cancel_bulk_operation", .reason = in->reason};

	if (valid_uuid(in->id)) {
		a.operation_id = in->id;
	} else {
		audit_target_text(call, &a, in->id);
	}
	return (audit_run(call, &a, in->actor, cancel_command, inm, outm));
}
