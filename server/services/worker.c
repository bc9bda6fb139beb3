/*
 * JobService for workers: Heartbeat and FailJob, and what the worker calls
 * share (worker_internal.h). ClaimJobs is in worker_claim.c, CompleteJob
 * and CompleteJobs in worker_complete.c.
 *
 * Every change is a compare-and-set on (status = 'in_progress', lease
 * token): a worker whose lease expired and was rescued, or was taken over,
 * matches no row and gets LEASE_LOST, and nothing changes. A lease that
 * has expired but has not been rescued yet still counts: the worker that
 * finished the work may report it (as in River), and the rescuer's own
 * compare-and-set then misses.
 *
 * Each transition writes the job, closes (or opens) its attempt row and
 * appends its timeline event in one statement (data-modifying CTEs), in the
 * transaction the dispatcher opened.
 *
 * The state test is written status IS NOT DISTINCT FROM 'in_progress'
 * (status is never NULL, so it means =): with "=" a generic plan may take
 * the partial index jobs_lease, whose predicate is that state, and filter
 * every running job by id instead of looking the one job up by its key
 * (integration.plans checks the plans).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opsbus/v1/job.pb-c.h"
#include "services/handlers.h"
#include "services/job_view.h"
#include "services/lifecycle.h"
#include "services/redact.h"
#include "services/validate.h"
#include "services/worker_internal.h"
#include "store/db.h"

/* What an operator may see of a worker's error. */
#define WORKER_ERROR_MAX 1000
/* The raw error detail is kept up to this many bytes. */
#define WORKER_DETAIL_MAX (64 * 1024)

/* clang-format off */

static const struct db_stmt stmt_heartbeat = {"worker_heartbeat",
    "UPDATE jobs SET lease_expires_at = now() + coalesce(nullif($3::int, "
    "0), " WORKER_POLICY("jobs.queue", "lease_ms") ") * "
    "interval '1 millisecond' "
    "WHERE id = $1::uuid AND status IS NOT DISTINCT FROM 'in_progress' "
    "AND lease_token = $2::uuid AND ($4::text = '' OR tenant = $4::text) "
    "RETURNING " SQL_TS("lease_expires_at") ", "
    "cancel_requested_at IS NOT NULL"};

/* After a compare-and-set matched nothing: is the job there at all? */
static const struct db_stmt stmt_probe = {"worker_probe",
    "SELECT status FROM jobs WHERE id = $1::uuid AND "
    "($2::text = '' OR tenant = $2::text)"};

/* The first half of FailJob: lock the job and read what the decision
 * needs (its state, whether the token matches, attempts, the policy). */
static const struct db_stmt stmt_fail_read = {"worker_fail_read",
    "SELECT j.status, coalesce(j.lease_token = $2::uuid, false), "
    "j.attempts, j.max_attempts, q.backoff_base_ms, q.backoff_factor, "
    "q.backoff_cap_ms, j.cancel_requested_at IS NOT NULL FROM jobs j "
    "CROSS JOIN LATERAL "
    WORKER_POLICY("j.queue",
        "backoff_base_ms, backoff_factor, backoff_cap_ms")
    " q WHERE j.id = $1::uuid AND ($3::text = '' OR j.tenant = $3::text) "
    "FOR UPDATE OF j"};

/*
 * The second half: the guarded write. $3 is the target state
 * (retryable_failed or dead_failed; cancelled when an operator asked to
 * cancel the job), $4 the backoff in ms. A dead letter
 * opens for operators (operator_status 'open') and its event carries the
 * dead-letter envelope: the job's identity (no payload, so no personal
 * data), the error, the attempts and when.
 *
 * replay_eligible: a dead letter whose last failure was retryable (it ran
 * out of attempts; a downstream outage, say) may be replayed once the
 * cause is gone, so it is eligible; one that failed for good (not
 * retryable: the input itself is wrong) would fail the same way again, so
 * it is not. The rescuer's dead letters (lost workers) are eligible.
 */
static const struct db_stmt stmt_fail = {"worker_fail",
    "WITH u AS (UPDATE jobs SET status = $3::text, "
    "run_at = CASE WHEN $3::text = 'retryable_failed' THEN now() + "
    "$4::bigint * interval '1 millisecond' ELSE run_at END, "
    "operator_status = CASE WHEN $3::text = 'dead_failed' THEN 'open' "
    "ELSE operator_status END, last_error = nullif($5::text, ''), "
    "last_error_detail = nullif($6::text, ''), reason_code = $7::text, "
    "failure_category = nullif($8::text, ''), "
    "replay_eligible = ($3::text = 'dead_failed' AND $9::boolean), "
    "lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, "
    "final_state_at = CASE WHEN $3::text IN ('dead_failed', 'cancelled') "
    "THEN now() END, "
    "updated_at = now() WHERE id = $1::uuid AND "
    "status IS NOT DISTINCT FROM 'in_progress' AND "
    "lease_token = $2::uuid RETURNING *), "
    "a AS (UPDATE job_attempts SET ended_at = now(), to_status = $3::text, "
    "error = $5::text, error_detail = nullif($6::text, ''), "
    "reason_code = $7::text, retryable = $9::boolean, "
    "stage = nullif($10::text, ''), failure_category = nullif($8::text, "
    "'') FROM u WHERE job_attempts.job_id = u.id AND "
    "job_attempts.attempt = u.attempts RETURNING job_attempts.worker_id), "
    "t AS (SELECT CASE WHEN $3::text IN ('dead_failed', 'cancelled') THEN "
    "$3::text ELSE 'retry_scheduled' END AS type), "
    "e AS (INSERT INTO events (event_id, event_type, topic, job_id, queue, "
    "tenant, actor, correlation_id, payload) SELECT gen_random_uuid(), "
    "t.type, 'job.' || t.type || '.' || u.queue, u.id, u.queue, u.tenant, "
    "coalesce((SELECT worker_id FROM a), 'unknown'), $11::text, "
    "CASE WHEN $3::text = 'dead_failed' THEN jsonb_build_object("
    "'original_event', jsonb_build_object('job_id', u.id, 'queue', "
    "u.queue, 'kind', u.kind, 'subject', u.subject, 'target', u.target), "
    "'error', jsonb_build_object('type', $7::text, 'message', $5::text, "
    "'stage', nullif($10::text, '')), 'attempts', u.attempts, "
    "'failed_at', u.updated_at, 'retryable', $9::boolean, "
    "'failure_category', nullif($8::text, ''), 'replay_eligible', "
    "u.replay_eligible) "
    "ELSE jsonb_build_object('attempt', u.attempts, 'reason_code', "
    "$7::text, 'error', $5::text, 'stage', nullif($10::text, ''), "
    "'failure_category', nullif($8::text, ''), 'run_at', u.run_at) END "
    "FROM u, t) "
    "SELECT " JOB_COLUMNS " FROM u"};

/* clang-format on */

const char *
worker_lease_args_problem(const char *job_id, const char *token)
{
	if (!valid_uuid(job_id)) {
		return ("job_id must be a UUID");
	}
	if (!valid_uuid(token)) {
		return ("lease_token must be the UUID ClaimJobs gave");
	}
	return (NULL);
}

opsbus_err
worker_check_lease_args(
    struct rpc_call *call, const char *job_id, const char *token)
{
	const char *why = worker_lease_args_problem(job_id, token);

	if (why != NULL) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR, "%s", why));
	}
	return (OPSBUS_E_OK);
}

/* Why a compare-and-set on a job's lease matched nothing. */
static opsbus_err
lease_refusal(struct rpc_call *call, const char *job_id)
{
	const char     *p[2] = {job_id, call->who->tenant};
	struct db_rows *rows;
	opsbus_err      err;
	char           *status = NULL;

	if ((err = db_exec(call->db, &stmt_probe, 2, p, &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	if (db_rows_count(rows) == 1) {
		status = call_strdup(call, db_rows_get(rows, 0, 0));
	}
	db_rows_free(rows);
	if (status == NULL) {
		return (call_fail(
		    call, OPSBUS_E_JOB_NOT_FOUND, "no job %s", job_id));
	}
	return (call_fail(
	    call, OPSBUS_E_LEASE_LOST, WORKER_LEASE_LOST_FMT, job_id, status));
}

opsbus_err
worker_check_lease_ms(struct rpc_call *call, const char *field, int32_t v)
{
	int max
	    = call->cfg->max_lease_ms > 0 ? call->cfg->max_lease_ms : 3600000;

	if (v != 0 && (v < 1000 || v > max)) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "%s must be 0 (the queue's lease) or between 1000 and %d, "
		    "got %d",
		    field, max, v));
	}
	return (OPSBUS_E_OK);
}

opsbus_err
worker_heartbeat(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__HeartbeatRequest *in
	    = (const Opsbus__V1__HeartbeatRequest *) inm;
	Opsbus__V1__HeartbeatResponse *out
	    = (Opsbus__V1__HeartbeatResponse *) outm;
	char            extend_s[16];
	const char     *p[4];
	struct db_rows *rows;
	opsbus_err      err;
	bool            held;

	if ((err = worker_check_lease_args(call, in->job_id, in->lease_token))
	        != OPSBUS_E_OK
	    || (err = worker_check_lease_ms(call, "extend_ms", in->extend_ms))
	        != OPSBUS_E_OK) {
		return (err);
	}
	snprintf(extend_s, sizeof(extend_s), "%d", in->extend_ms);
	p[0] = in->job_id;
	p[1] = in->lease_token;
	p[2] = extend_s;
	p[3] = call->who->tenant;
	if ((err = db_exec(call->db, &stmt_heartbeat, 4, p, &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	held = db_rows_count(rows) == 1;
	if (held) {
		out->lease_expires_at
		    = call_strdup(call, db_rows_get(rows, 0, 0));
		out->cancel_requested = db_rows_bool(rows, 0, 1);
	}
	db_rows_free(rows);
	return (held ? OPSBUS_E_OK : lease_refusal(call, in->job_id));
}

/* A copy of at most max bytes of s, cut on a UTF-8 character boundary. */
static char *
cut_utf8(struct rpc_call *call, const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max) {
		return (call_strdup(call, s));
	}
	while (max > 0 && ((unsigned char) s[max] & 0xc0) == 0x80) {
		max--;
	}
	return (arena_strndup(call->arena, s, max));
}

/* The failure as it will be stored: checked, upper-cased, sanitized. */
struct failure {
	char *reason_code;
	char *error;
	char *detail;
};

static opsbus_err
fail_validate(struct rpc_call *call, const Opsbus__V1__FailJobRequest *in,
    struct failure *f)
{
	const char *code
	    = in->reason_code[0] != '\0' ? in->reason_code : in->code;
	opsbus_err err;

	if ((err = worker_check_lease_args(call, in->job_id, in->lease_token))
	    != OPSBUS_E_OK) {
		return (err);
	}
	f->reason_code
	    = call_strdup(call, code[0] != '\0' ? code : "UNSPECIFIED");
	if (f->reason_code == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	if (!valid_reason_code(ascii_upper(f->reason_code))) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "reason_code must be 1..64 characters of letters, digits, "
		    "'_', '.' and '-' (no spaces); it is stored upper-cased"));
	}
	if (!valid_name_or_empty(in->failure_category)
	    || !valid_name_or_empty(in->stage)) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "failure_category and stage are up to 64 characters of "
		    "letters, digits, '.', '_', '-', ':' and '/'"));
	}
	f->error = redact_sanitize(call->arena, in->error, WORKER_ERROR_MAX);
	f->detail = cut_utf8(call, in->error_detail, WORKER_DETAIL_MAX);
	if (f->error == NULL || f->detail == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	return (OPSBUS_E_OK);
}

/*
 * Reads the job under a row lock and decides where the failure takes it:
 * *to and the backoff *delay_ms. Refuses with JOB_NOT_FOUND or LEASE_LOST.
 */
static opsbus_err
fail_decide(struct rpc_call *call, const Opsbus__V1__FailJobRequest *in,
    enum job_state *to, int64_t *delay_ms)
{
	const char *p[3] = {in->job_id, in->lease_token, call->who->tenant};
	struct db_rows       *rows;
	struct backoff_policy policy;
	enum job_state        from;
	enum job_event        ev;
	opsbus_err            err;
	bool                  token_ok, cancel;
	int                   attempts, max_attempts;

	if ((err = db_exec(call->db, &stmt_fail_read, 3, p, &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	if (db_rows_count(rows) != 1) {
		db_rows_free(rows);
		return (call_fail(
		    call, OPSBUS_E_JOB_NOT_FOUND, "no job %s", in->job_id));
	}
	if (lifecycle_state_parse(db_rows_get(rows, 0, 0), &from) != 0) {
		db_rows_free(rows);
		return (OPSBUS_E_INTERNAL);
	}
	token_ok = db_rows_bool(rows, 0, 1);
	attempts = (int) db_rows_int(rows, 0, 2);
	max_attempts = (int) db_rows_int(rows, 0, 3);
	policy.base_ms = db_rows_int(rows, 0, 4);
	policy.factor = strtod(db_rows_get(rows, 0, 5), NULL);
	policy.cap_ms = db_rows_int(rows, 0, 6);
	cancel = db_rows_bool(rows, 0, 7);
	db_rows_free(rows);

	ev = lifecycle_fail_event(in->retryable, attempts, max_attempts);
	if (!token_ok || lifecycle_next(from, ev, to) != OPSBUS_E_OK) {
		return (
		    call_fail(call, OPSBUS_E_LEASE_LOST, WORKER_LEASE_LOST_FMT,
		        in->job_id, lifecycle_state_name(from)));
	}
	/* An operator asked to cancel: however the worker stopped, the job
	 * ends cancelled (operator_controls.c). */
	if (cancel) {
		*to = JOB_CANCELLED;
		*delay_ms = 0;
		return (OPSBUS_E_OK);
	}
	*delay_ms = ev == JOB_EV_FAIL_RETRY
	    ? lifecycle_backoff_ms(&policy, attempts, lifecycle_jitter())
	    : 0;
	return (OPSBUS_E_OK);
}

opsbus_err
worker_fail(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__FailJobRequest *in
	    = (const Opsbus__V1__FailJobRequest *) inm;
	Opsbus__V1__FailJobResponse *out
	    = (Opsbus__V1__FailJobResponse *) outm;
	struct failure  f;
	enum job_state  to = JOB_QUEUED;
	int64_t         delay_ms = 0;
	char            delay_s[24];
	const char     *p[11];
	struct db_rows *rows;
	opsbus_err      err;

	memset(&f, 0, sizeof(f));
	if ((err = fail_validate(call, in, &f)) != OPSBUS_E_OK
	    || (err = fail_decide(call, in, &to, &delay_ms)) != OPSBUS_E_OK) {
		return (err);
	}
	snprintf(delay_s, sizeof(delay_s), "%lld", (long long) delay_ms);
	p[0] = in->job_id;
	p[1] = in->lease_token;
	p[2] = lifecycle_state_name(to);
	p[3] = delay_s;
	p[4] = f.error;
	p[5] = f.detail;
	p[6] = f.reason_code;
	p[7] = in->failure_category;
	p[8] = in->retryable ? "true" : "false";
	p[9] = in->stage;
	p[10] = call->correlation_id;
	if ((err = db_exec(call->db, &stmt_fail, 11, p, &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	if (db_rows_count(rows) == 1) {
		out->job = job_from_row(call, rows, 0, 0);
		db_rows_free(rows);
		return (out->job != NULL ? OPSBUS_E_OK : OPSBUS_E_INTERNAL);
	}
	db_rows_free(rows);
	/* The row is locked since fail_decide: only a bug gets here. */
	return (lease_refusal(call, in->job_id));
}
