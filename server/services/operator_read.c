/*
 * OperatorService reads of one job: the dead-letter detail, history and
 * replay status of seed 001, and the operator job detail of seed 000 step
 * C. All of them operator-safe (operator_view.h).
 */
#include <string.h>

#include "opsbus/v1/operator.pb-c.h"
#include "services/handlers.h"
#include "services/lookup.h"
#include "services/operator_view.h"
#include "services/validate.h"
#include "store/db.h"

/*
 * A job's writeback columns, the first job of its replay chain (following
 * replay_of_job_id up, at most 1000 links), and its replay's status.
 */
static const struct db_stmt stmt_dead_letter = {"operator_dead_letter",
    "WITH RECURSIVE chain (id, parent, depth) AS (SELECT id, "
    "replay_of_job_id, 0 FROM jobs WHERE id = $1::uuid UNION ALL "
    "SELECT j.id, j.replay_of_job_id, c.depth + 1 FROM chain c JOIN jobs j "
    "ON j.id = c.parent WHERE c.depth < 1000) "
    "SELECT " WB_COLUMNS(
        "j.") ", (SELECT id::text FROM chain ORDER BY "
              "depth DESC LIMIT 1), coalesce(r.status, '') FROM jobs j LEFT "
              "JOIN "
              "jobs r ON r.id = j.replayed_job_id WHERE j.id = $1::uuid AND "
              "($2 = '' OR j.tenant = $2)"};

static const struct db_stmt stmt_attempts = {"operator_dead_letter_attempts",
    "SELECT attempt, from_status, coalesce(to_status, ''), "
    "coalesce(error, ''), upper(coalesce(reason_code, '')), "
    "" SQL_TS("coalesce(ended_at, started_at)") " FROM job_attempts "
                                                "WHERE job_id = $1::uuid "
                                                "ORDER BY attempt"};

static const struct db_stmt stmt_job = {"operator_job_detail",
    "SELECT " OPERATOR_JOB_COLUMNS " FROM jobs WHERE id = $1::uuid AND "
    "($2 = '' OR tenant = $2)"};

/* What the dead-letter reads share. */
struct dead_letter {
	Opsbus__V1__DeadLetterSummary *summary;
	Opsbus__V1__ReplayLinkage     *linkage;
	char                          *last_error;
};

static opsbus_err
dead_letter_load(struct rpc_call *call, const char *id, struct dead_letter *d)
{
	struct db_rows *rows;
	opsbus_err      err;

	if ((err = call_load_by_id(call, &stmt_dead_letter, id,
	         OPSBUS_E_DEAD_LETTER_NOT_FOUND, "dead letter", &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	d->summary = view_dead_letter(call, rows, 0, 0);
	d->last_error = call_strdup(call, db_rows_get(rows, 0, 6));
	d->linkage = (Opsbus__V1__ReplayLinkage *) call_new(
	    call, &opsbus__v1__replay_linkage__descriptor);
	if (d->summary == NULL || d->linkage == NULL) {
		db_rows_free(rows);
		return (OPSBUS_E_INTERNAL);
	}
	d->linkage->original_job_id
	    = call_strdup(call, db_rows_get(rows, 0, WB_COLUMN_COUNT));
	d->linkage->replay_job_status
	    = call_strdup(call, db_rows_get(rows, 0, WB_COLUMN_COUNT + 1));
	d->linkage->replay_of_job_id = d->summary->replay_of_job_id;
	d->linkage->replayed_job_id = d->summary->replayed_job_id;
	d->linkage->is_replay = d->summary->replay_of_job_id[0] != '\0';
	d->linkage->has_replay = d->summary->replayed_job_id[0] != '\0';
	db_rows_free(rows);
	return (OPSBUS_E_OK);
}

static opsbus_err
load_attempts(struct rpc_call *call, const char *id,
    Opsbus__V1__DeadLetterAttempt ***out, size_t *n)
{
	const char     *p[1] = {id};
	struct db_rows *rows;
	opsbus_err      err;
	int             count;

	if ((err = db_exec(call->db, &stmt_attempts, 1, p, &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	count = db_rows_count(rows);
	*out = call_array(call, (size_t) count + 1, sizeof(**out));
	*n = 0;
	for (int r = 0; *out != NULL && r < count; r++) {
		Opsbus__V1__DeadLetterAttempt *a
		    = (Opsbus__V1__DeadLetterAttempt *) call_new(
		        call, &opsbus__v1__dead_letter_attempt__descriptor);
		if (a == NULL) {
			break;
		}
		a->attempt = (int32_t) db_rows_int(rows, r, 0);
		a->from_status = call_strdup(call, db_rows_get(rows, r, 1));
		a->to_status = call_strdup(call, db_rows_get(rows, r, 2));
		a->error = call_strdup(call, db_rows_get(rows, r, 3));
		a->reason_code = call_strdup(call, db_rows_get(rows, r, 4));
		a->occurred_at = call_strdup(call, db_rows_get(rows, r, 5));
		(*out)[(*n)++] = a;
	}
	db_rows_free(rows);
	return (*n == (size_t) count ? OPSBUS_E_OK : OPSBUS_E_INTERNAL);
}

opsbus_err
operator_get_dead_letter(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__GetDeadLetterRequest *in
	    = (const Opsbus__V1__GetDeadLetterRequest *) inm;
	Opsbus__V1__GetDeadLetterResponse *out
	    = (Opsbus__V1__GetDeadLetterResponse *) outm;
	struct dead_letter d;
	opsbus_err         err;

	if ((err = dead_letter_load(call, in->id, &d)) != OPSBUS_E_OK) {
		return (err);
	}
	out->dead_letter = d.summary;
	out->last_error = d.last_error;
	out->replay_linkage = (Opsbus__V1__ReplayLinkageIds *) call_new(
	    call, &opsbus__v1__replay_linkage_ids__descriptor);
	if (out->replay_linkage == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	out->replay_linkage->replay_of_job_id = d.linkage->replay_of_job_id;
	out->replay_linkage->replayed_job_id = d.linkage->replayed_job_id;
	return (load_attempts(
	    call, d.summary->job_id, &out->attempts, &out->n_attempts));
}

opsbus_err
operator_get_dead_letter_history(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__GetDeadLetterHistoryRequest *in
	    = (const Opsbus__V1__GetDeadLetterHistoryRequest *) inm;
	Opsbus__V1__GetDeadLetterHistoryResponse *out
	    = (Opsbus__V1__GetDeadLetterHistoryResponse *) outm;
	struct dead_letter d;
	opsbus_err         err;

	if ((err = dead_letter_load(call, in->id, &d)) != OPSBUS_E_OK) {
		return (err);
	}
	out->dead_letter = d.summary;
	out->replay_linkage = d.linkage;
	if ((err = job_load_timeline(
	         call, d.summary->job_id, &out->timeline, &out->n_timeline))
	    != OPSBUS_E_OK) {
		return (err);
	}
	return (view_redact_timeline(call, out->timeline, out->n_timeline));
}

opsbus_err
operator_get_replay_status(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__GetReplayStatusRequest *in
	    = (const Opsbus__V1__GetReplayStatusRequest *) inm;
	Opsbus__V1__GetReplayStatusResponse *out
	    = (Opsbus__V1__GetReplayStatusResponse *) outm;
	struct dead_letter d;
	opsbus_err         err;

	if ((err = dead_letter_load(call, in->id, &d)) != OPSBUS_E_OK) {
		return (err);
	}
	out->dead_letter = d.summary;
	out->replay_linkage = d.linkage;
	return (OPSBUS_E_OK);
}

opsbus_err
operator_get_job_detail(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__GetJobDetailRequest *in
	    = (const Opsbus__V1__GetJobDetailRequest *) inm;
	Opsbus__V1__GetJobDetailResponse *out
	    = (Opsbus__V1__GetJobDetailResponse *) outm;
	struct db_rows *rows;
	opsbus_err      err;

	if ((err = call_load_by_id(call, &stmt_job, in->id,
	         OPSBUS_E_JOB_NOT_FOUND, "job", &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	out->job = view_operator_job(call, rows, 0, 0);
	db_rows_free(rows);
	if (out->job == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	out->last_error = out->job->last_error;
	if ((err = job_load_attempts(
	         call, out->job->job_id, &out->attempts, &out->n_attempts))
	        != OPSBUS_E_OK
	    || (err = job_load_timeline(
	            call, out->job->job_id, &out->timeline, &out->n_timeline))
	        != OPSBUS_E_OK) {
		return (err);
	}
	return (view_redact_timeline(call, out->timeline, out->n_timeline));
}
