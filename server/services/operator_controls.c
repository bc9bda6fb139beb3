/*
 * The request controls of seed 004: CancelJob (graceful), AbortJob
 * (forceful), RerouteJob and ForceCompleteJob, each attributed and audited
 * (operator_audit.h).
 *
 * Each reads the job under a row lock, asks the lifecycle table
 * (lifecycle.c, the one place that says which transitions exist) whether
 * the operator event may happen in the state it read, and writes the
 * change as a compare-and-set on that state, with the open attempt closed
 * and the timeline event, in one statement. Terminal jobs are refused with
 * TERMINAL_STATE by the table; the one exception, cancelling a cancelled
 * job, is accepted and changes nothing.
 *
 * Cancel of a running job only marks it (cancel_requested_at): the worker
 * learns it from its next Heartbeat, and the lifecycle code (worker.c,
 * rescuer.c) ends the job cancelled when the worker reports or its lease
 * runs out. Abort, reroute and force-complete revoke the lease of a
 * running job (lease_token NULL), so that its worker's next heartbeat,
 * complete or fail gets LEASE_LOST.
 */
#include <string.h>

#include "opsbus/v1/operator.pb-c.h"
#include "services/handlers.h"
#include "services/lookup.h"
#include "services/lifecycle.h"
#include "services/operator_audit.h"
#include "services/operator_controls.h"
#include "services/operator_view.h"
#include "services/validate.h"
#include "store/db.h"

static const struct db_stmt stmt_read = {"operator_control_read",
    "SELECT " OPERATOR_JOB_COLUMNS " FROM jobs WHERE id = $1::uuid AND "
    "($2 = '' OR tenant = $2) FOR UPDATE"};

/* The common tail of every control: $1 id, $2 the state read, $3 actor,
 * $4 correlation id, $5 reason. The open attempt (if the job ran) ends
 * with the job's new status. */
#define CONTROL_EVENT(type, topic, payload)                                   \
	"a AS (UPDATE job_attempts SET ended_at = now(), to_status = "        \
	"u.status "                                                           \
	"FROM u WHERE job_attempts.job_id = u.id AND job_attempts.attempt = " \
	"u.attempts AND job_attempts.ended_at IS NULL), "                     \
	"e AS (INSERT INTO events (event_id, event_type, topic, job_id, "     \
	"queue, tenant, actor, correlation_id, payload) SELECT "              \
	"gen_random_uuid(), '" type "', " topic ", u.id, u.queue, u.tenant, " \
	"$3, $4, jsonb_build_object('from_status', $2::text, 'reason', "      \
	"$5::text" payload ") FROM u) SELECT " OPERATOR_JOB_COLUMNS " FROM u"

#define REVOKE \
	"lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL"

static const struct db_stmt stmt_cancel = {"operator_cancel",
    "WITH u AS (UPDATE jobs SET status = 'cancelled', final_state_at = "
    "now(), completion_summary = 'cancelled: ' || $5::text, " REVOKE ", "
    "updated_at = now() WHERE id = $1::uuid AND status = $2::text "
    "RETURNING *), " CONTROL_EVENT(
        "cancelled", "'job.cancelled.' || u.queue", "")};

static const struct db_stmt stmt_cancel_request = {"operator_cancel_request",
    "WITH u AS (UPDATE jobs SET cancel_requested_at = now(), "
    "completion_summary = 'cancelled: ' || $5::text, updated_at = now() "
    "WHERE id = $1::uuid AND status = $2::text AND "
    "cancel_requested_at IS NULL RETURNING *), "
    "e AS (INSERT INTO events (event_id, event_type, topic, job_id, queue, "
    "tenant, actor, correlation_id, payload) SELECT gen_random_uuid(), "
    "'cancel_requested', 'job.cancel_requested.' || u.queue, u.id, "
    "u.queue, u.tenant, $3, $4, jsonb_build_object('from_status', "
    "$2::text, 'reason', $5::text, 'lease_owner', u.lease_owner) FROM u) "
    "SELECT " OPERATOR_JOB_COLUMNS " FROM u"};

static const struct db_stmt stmt_abort = {"operator_abort",
    "WITH u AS (UPDATE jobs SET status = 'aborted', final_state_at = "
    "now(), completion_summary = 'aborted: ' || $5::text, " REVOKE ", "
    "updated_at = now() WHERE id = $1::uuid AND status = $2::text "
    "RETURNING *), " CONTROL_EVENT("aborted", "'job.aborted.' || u.queue",
        ", 'lease_revoked', $2::text = 'in_progress'")};

/* $6 the new target, $7 the new queue ('' keeps it). */
static const struct db_stmt stmt_reroute = {"operator_reroute",
    "WITH o AS (SELECT target, queue FROM jobs WHERE id = $1::uuid), "
    "u AS (UPDATE jobs SET status = 'rerouted', target = $6::text, "
    "queue = coalesce(nullif($7::text, ''), jobs.queue), run_at = now(), "
    "" REVOKE ", updated_at = now() WHERE id = $1::uuid AND "
    "status = $2::text RETURNING *), " CONTROL_EVENT("rerouted",
        "'job.rerouted.' || u.queue",
        ", 'from_target', (SELECT target FROM o), 'to_target', u.target, "
        "'from_queue', (SELECT queue FROM o), 'to_queue', u.queue")};

/* $6 the completion summary. */
static const struct db_stmt stmt_force = {"operator_force_complete",
    "WITH u AS (UPDATE jobs SET status = 'succeeded', forced = true, "
    "completion_summary = $6::text, final_state_at = now(), " REVOKE ", "
    "updated_at = now() WHERE id = $1::uuid AND status = $2::text "
    "RETURNING *), " CONTROL_EVENT("succeeded", "'job.succeeded.' || u.queue",
        ", 'forced', true, 'summary', $6::text")};

/* A job read under its row lock, and the state it is in. */
struct locked_job {
	Opsbus__V1__OperatorJob *job;
	enum job_state           state;
};

static opsbus_err
control_read(struct rpc_call *call, const char *id, struct locked_job *lj)
{
	struct db_rows *rows;
	opsbus_err      err;

	if ((err = call_load_by_id(
	         call, &stmt_read, id, OPSBUS_E_JOB_NOT_FOUND, "job", &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	lj->job = view_operator_job(call, rows, 0, 0);
	db_rows_free(rows);
	if (lj->job == NULL
	    || lifecycle_state_parse(lj->job->status, &lj->state) != 0) {
		return (OPSBUS_E_INTERNAL);
	}
	return (OPSBUS_E_OK);
}

/* Asks the lifecycle table; words its refusal. */
static opsbus_err
control_allowed(struct rpc_call *call, const struct locked_job *lj,
    enum job_event ev, enum job_state *to)
{
	opsbus_err err = lifecycle_next(lj->state, ev, to);

	if (err == OPSBUS_E_TERMINAL_STATE) {
		return (call_fail(call, err,
		    "job %s is %s, a terminal state: it cannot be %s (only a "
		    "replay continues a dead letter)",
		    lj->job->job_id, lj->job->status,
		    ev == JOB_EV_CANCEL        ? "cancelled"
		        : ev == JOB_EV_ABORT   ? "aborted"
		        : ev == JOB_EV_REROUTE ? "rerouted"
		                               : "force-completed"));
	}
	if (err != OPSBUS_E_OK) {
		return (call_fail(call, err, "job %s is %s", lj->job->job_id,
		    lj->job->status));
	}
	return (OPSBUS_E_OK);
}

/* Runs one control statement; its first seven parameters are shared. */
static opsbus_err
control_write(struct rpc_call *call, const struct db_stmt *stmt,
    const struct locked_job *lj, const struct audit *a, const char *extra1,
    const char *extra2, Opsbus__V1__OperatorJob **out)
{
	const char     *p[7];
	struct db_rows *rows;
	opsbus_err      err;
	int             n = 5;

	p[0] = lj->job->job_id;
	p[1] = lj->job->status;
	p[2] = a->identity;
	p[3] = call->correlation_id;
	p[4] = a->reason;
	if (extra1 != NULL) {
		p[n++] = extra1;
	}
	if (extra2 != NULL) {
		p[n++] = extra2;
	}
	if ((err = db_exec(call->db, stmt, n, p, &rows)) != OPSBUS_E_OK) {
		return (err);
	}
	if (db_rows_count(rows) != 1) {
		/* The row is locked since control_read: only a bug. */
		db_rows_free(rows);
		return (OPSBUS_E_INTERNAL);
	}
	*out = view_operator_job(call, rows, 0, 0);
	db_rows_free(rows);
	return (*out != NULL ? OPSBUS_E_OK : OPSBUS_E_INTERNAL);
}

opsbus_err
operator_cancel(struct rpc_call *call, const char *id, const struct audit *a,
    bool ended_ok, struct operator_cancel *c)
{
	struct locked_job lj;
	enum job_state    to;
	opsbus_err        err;

	if ((err = control_read(call, id, &lj)) != OPSBUS_E_OK) {
		return (err);
	}
	c->from_status = lj.job->status;
	c->job = lj.job;
	c->effect = "none";
	if (lj.state == JOB_CANCELLED) {
		/* Idempotent: accepted, nothing changes. */
		return (OPSBUS_E_OK);
	}
	if (ended_ok
	    && lifecycle_next(lj.state, JOB_EV_CANCEL, &to)
	        == OPSBUS_E_TERMINAL_STATE) {
		return (OPSBUS_E_OK);
	}
	if ((err = control_allowed(call, &lj, JOB_EV_CANCEL, &to))
	    != OPSBUS_E_OK) {
		return (err);
	}
	if (to == JOB_CANCELLED) {
		c->effect = "cancelled";
		return (control_write(
		    call, &stmt_cancel, &lj, a, NULL, NULL, &c->job));
	}
	if (lj.job->cancel_requested) {
		return (OPSBUS_E_OK);
	}
	c->effect = "cancel_requested";
	return (control_write(
	    call, &stmt_cancel_request, &lj, a, NULL, NULL, &c->job));
}

static opsbus_err
cancel_command(struct rpc_call *call, const ProtobufCMessage *inm,
    ProtobufCMessage *outm, struct audit *a)
{
	const Opsbus__V1__CancelJobRequest *in
	    = (const Opsbus__V1__CancelJobRequest *) inm;
	Opsbus__V1__CancelJobResponse *out
	    = (Opsbus__V1__CancelJobResponse *) outm;
	struct operator_cancel c;
	opsbus_err             err;

	if ((err = operator_cancel(call, in->id, a, false, &c))
	    != OPSBUS_E_OK) {
		return (err);
	}
	out->job = c.job;
	out->changed = strcmp(c.effect, "none") != 0;
	a->details = audit_json(call,
	    json_pack("{s:s, s:s}", "from_status", c.from_status, "effect",
	        c.effect));
	return (OPSBUS_E_OK);
}

opsbus_err
operator_cancel_job(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__CancelJobRequest *in
	    = (const Opsbus__V1__CancelJobRequest *) inm;
	struct audit a = {.action = "cancel_request", .reason = in->reason};

	audit_target_job(call, &a, in->id);
	return (audit_run(call, &a, in->actor, cancel_command, inm, outm));
}

static opsbus_err
abort_command(struct rpc_call *call, const ProtobufCMessage *inm,
    ProtobufCMessage *outm, struct audit *a)
{
	const Opsbus__V1__AbortJobRequest *in
	    = (const Opsbus__V1__AbortJobRequest *) inm;
	Opsbus__V1__AbortJobResponse *out
	    = (Opsbus__V1__AbortJobResponse *) outm;
	struct locked_job lj;
	enum job_state    to;
	opsbus_err        err;

	if ((err = control_read(call, in->id, &lj)) != OPSBUS_E_OK
	    || (err = control_allowed(call, &lj, JOB_EV_ABORT, &to))
	        != OPSBUS_E_OK
	    || (err = control_write(
	            call, &stmt_abort, &lj, a, NULL, NULL, &out->job))
	        != OPSBUS_E_OK) {
		return (err);
	}
	a->details = audit_json(call,
	    json_pack("{s:s, s:b, s:s}", "from_status", lj.job->status,
	        "lease_revoked", lj.state == JOB_IN_PROGRESS, "lease_owner",
	        lj.job->lease_owner));
	return (OPSBUS_E_OK);
}

opsbus_err
operator_abort_job(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__AbortJobRequest *in
	    = (const Opsbus__V1__AbortJobRequest *) inm;
	struct audit a = {.action = "abort_request", .reason = in->reason};

	audit_target_job(call, &a, in->id);
	return (audit_run(call, &a, in->actor, abort_command, inm, outm));
}

static opsbus_err
reroute_command(struct rpc_call *call, const ProtobufCMessage *inm,
    ProtobufCMessage *outm, struct audit *a)
{
	const Opsbus__V1__RerouteJobRequest *in
	    = (const Opsbus__V1__RerouteJobRequest *) inm;
	Opsbus__V1__RerouteJobResponse *out
	    = (Opsbus__V1__RerouteJobResponse *) outm;
	struct locked_job lj;
	enum job_state    to;
	opsbus_err        err;

	if (!valid_name(in->new_target)
	    || !valid_name_or_empty(in->new_queue)) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "new_target is required and new_queue optional: 1..64 "
		    "characters of letters, digits, '.', '_', '-', ':' and "
		    "'/'"));
	}
	if ((err = control_read(call, in->id, &lj)) != OPSBUS_E_OK
	    || (err = control_allowed(call, &lj, JOB_EV_REROUTE, &to))
	        != OPSBUS_E_OK) {
		return (err);
	}
	if (lj.job->cancel_requested) {
		return (call_fail(call, OPSBUS_E_CANCEL_PENDING,
		    "job %s is being cancelled (its worker was told): it "
		    "cannot be rerouted",
		    lj.job->job_id));
	}
	if ((err = control_write(call, &stmt_reroute, &lj, a, in->new_target,
	         in->new_queue, &out->job))
	    != OPSBUS_E_OK) {
		return (err);
	}
	out->previous_target = lj.job->ehr;
	out->previous_queue = lj.job->queue;
	a->details = audit_json(call,
	    json_pack("{s:s, s:s, s:s, s:s, s:s}", "from_status",
	        lj.job->status, "from_target", lj.job->ehr, "to_target",
	        out->job->ehr, "from_queue", lj.job->queue, "to_queue",
	        out->job->queue));
	return (OPSBUS_E_OK);
}

opsbus_err
operator_reroute_job(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__RerouteJobRequest *in
	    = (const Opsbus__V1__RerouteJobRequest *) inm;
	struct audit a = {.action = "manual_reroute", .reason = in->reason};

	audit_target_job(call, &a, in->id);
	return (audit_run(call, &a, in->actor, reroute_command, inm, outm));
}

static opsbus_err
force_command(struct rpc_call *call, const ProtobufCMessage *inm,
    ProtobufCMessage *outm, struct audit *a)
{
	const Opsbus__V1__ForceCompleteJobRequest *in
	    = (const Opsbus__V1__ForceCompleteJobRequest *) inm;
	Opsbus__V1__ForceCompleteJobResponse *out
	    = (Opsbus__V1__ForceCompleteJobResponse *) outm;
	struct locked_job lj;
	enum job_state    to;
	opsbus_err        err;

	if (strlen(in->completion_summary) > AUDIT_REASON_MAX
	    || !valid_operator_reason(in->completion_summary)) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "completion_summary is required: how the work was "
		    "resolved, 8..%d characters (\"User query answered via "
		    "direct email\"), not a placeholder",
		    AUDIT_REASON_MAX));
	}
	if ((err = control_read(call, in->id, &lj)) != OPSBUS_E_OK
	    || (err = control_allowed(call, &lj, JOB_EV_FORCE_COMPLETE, &to))
	        != OPSBUS_E_OK) {
		return (err);
	}
	if (lj.job->cancel_requested) {
		return (call_fail(call, OPSBUS_E_CANCEL_PENDING,
		    "job %s is being cancelled (its worker was told): it "
		    "cannot be completed",
		    lj.job->job_id));
	}
	if ((err = control_write(call, &stmt_force, &lj, a,
	         in->completion_summary, NULL, &out->job))
	    != OPSBUS_E_OK) {
		return (err);
	}
	a->details = audit_json(call,
	    json_pack("{s:s, s:s, s:b}", "from_status", lj.job->status,
	        "completion_summary", in->completion_summary, "lease_revoked",
	        lj.state == JOB_IN_PROGRESS));
	return (OPSBUS_E_OK);
}

opsbus_err
operator_force_complete_job(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__ForceCompleteJobRequest *in
	    = (const Opsbus__V1__ForceCompleteJobRequest *) inm;
	struct audit a = {.action = "force_complete", .reason = in->reason};

	audit_target_job(call, &a, in->id);
	return (audit_run(call, &a, in->actor, force_command, inm, outm));
}
