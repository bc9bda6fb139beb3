/*
 * Row-to-message mapping for jobs and their history, and the statement
 * that reads one job by its id. Strings are copied into the call's arena:
 * the rows are freed before the reply is packed.
 */
#include "services/job_view.h"

#include <string.h>

#include "store/db.h"

const struct db_stmt job_stmt_get = {"job_get",
    "SELECT " JOB_COLUMNS " FROM jobs WHERE id = $1::uuid AND "
    "($2 = '' OR tenant = $2)"};

static const struct db_stmt stmt_attempts = {"job_view_attempts",
    "SELECT " ATTEMPT_COLUMNS " FROM job_attempts WHERE job_id = $1 "
    "ORDER BY attempt"};
static const struct db_stmt stmt_timeline = {"job_view_timeline",
    "SELECT " EVENT_COLUMNS " FROM events WHERE job_id = $1 ORDER BY seq"};

#define COL(i) call_strdup(call, db_rows_get(rows, r, col + (i)))

Opsbus__V1__Job *
job_from_row(struct rpc_call *call, const struct db_rows *rows, int r, int col)
{
	Opsbus__V1__Job *j
	    = (Opsbus__V1__Job *) call_new(call, &opsbus__v1__job__descriptor);

	if (j == NULL) {
		return (NULL);
	}
	j->id = COL(0);
	j->tenant = COL(1);
	j->queue = COL(2);
	j->target = COL(3);
	j->kind = COL(4);
	j->subject = COL(5);
	j->payload = COL(6);
	j->status = COL(7);
	j->operator_status = COL(8);
	j->attempts = (int32_t) db_rows_int(rows, r, col + 9);
	j->max_attempts = (int32_t) db_rows_int(rows, r, col + 10);
	j->priority = (int32_t) db_rows_int(rows, r, col + 11);
	j->run_at = COL(12);
	j->lease_owner = COL(13);
	j->lease_expires_at = COL(14);
	j->last_error = COL(15);
	j->reason_code = COL(16);
	j->failure_category = COL(17);
	j->replay_eligible = db_rows_bool(rows, r, col + 18);
	j->replay_of_job_id = COL(19);
	j->replayed_job_id = COL(20);
	j->replayed_at = COL(21);
	j->correlation_id = COL(22);
	j->created_at = COL(23);
	j->updated_at = COL(24);
	j->final_state_at = COL(25);
	j->completion_summary = COL(26);
	j->cancel_requested = db_rows_bool(rows, r, col + 27);
	j->forced = db_rows_bool(rows, r, col + 28);
	return (j);
}

#undef COL
#define COL(i) call_strdup(call, db_rows_get(rows, r, (i)))

Opsbus__V1__Attempt *
attempt_from_row(struct rpc_call *call, const struct db_rows *rows, int r)
{
	Opsbus__V1__Attempt *a = (Opsbus__V1__Attempt *) call_new(
	    call, &opsbus__v1__attempt__descriptor);

	if (a == NULL) {
		return (NULL);
	}
	a->attempt = (int32_t) db_rows_int(rows, r, 0);
	a->worker_id = COL(1);
	a->started_at = COL(2);
	a->ended_at = COL(3);
	a->from_status = COL(4);
	a->to_status = COL(5);
	a->error = COL(6);
	a->reason_code = COL(7);
	a->retryable = db_rows_bool(rows, r, 8);
	a->stage = COL(9);
	a->failure_category = COL(10);
	return (a);
}

Opsbus__V1__TimelineEvent *
event_from_row(struct rpc_call *call, const struct db_rows *rows, int r)
{
	Opsbus__V1__TimelineEvent *e = (Opsbus__V1__TimelineEvent *) call_new(
	    call, &opsbus__v1__timeline_event__descriptor);

	if (e == NULL) {
		return (NULL);
	}
	e->event_id = COL(0);
	e->event_type = COL(1);
	e->actor = COL(2);
	e->payload = COL(3);
	e->created_at = COL(4);
	return (e);
}

#undef COL

opsbus_err
job_load_attempts(struct rpc_call *call, const char *job_id,
    Opsbus__V1__Attempt ***attempts, size_t *n)
{
	struct db_rows *rows;
	const char     *p[1] = {job_id};
	opsbus_err      err;
	int             count;

	if ((err = db_exec(call->db, &stmt_attempts, 1, p, &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	count = db_rows_count(rows);
	*attempts = call_array(call, (size_t) count + 1, sizeof(**attempts));
	*n = 0;
	for (int r = 0; *attempts != NULL && r < count; r++) {
		if (((*attempts)[r] = attempt_from_row(call, rows, r))
		    == NULL) {
			break;
		}
		(*n)++;
	}
	db_rows_free(rows);
	return (*n == (size_t) count ? OPSBUS_E_OK : OPSBUS_E_INTERNAL);
}

opsbus_err
job_load_timeline(struct rpc_call *call, const char *job_id,
    Opsbus__V1__TimelineEvent ***events, size_t *n)
{
	struct db_rows *rows;
	const char     *p[1] = {job_id};
	opsbus_err      err;
	int             count;

	if ((err = db_exec(call->db, &stmt_timeline, 1, p, &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	count = db_rows_count(rows);
	*events = call_array(call, (size_t) count + 1, sizeof(**events));
	*n = 0;
	for (int r = 0; *events != NULL && r < count; r++) {
		if (((*events)[r] = event_from_row(call, rows, r)) == NULL) {
			break;
		}
		(*n)++;
	}
	db_rows_free(rows);
	return (*n == (size_t) count ? OPSBUS_E_OK : OPSBUS_E_INTERNAL);
}
