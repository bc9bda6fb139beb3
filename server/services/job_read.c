/*
 * JobService's readers: GetJob (one job, with its attempts and timeline
 * when asked) and ListJobs (a page of jobs, filtered by status, queue,
 * target and tenant, newest first). CreateJob is in job.c.
 */
#include <stdio.h>
#include <string.h>

#include "opsbus/v1/job.pb-c.h"
#include "services/handlers.h"
#include "services/job_view.h"
#include "services/lookup.h"
#include "services/validate.h"
#include "store/db.h"

static const struct db_stmt stmt_list = {"job_list",
    "SELECT " JOB_COLUMNS " FROM jobs WHERE "
    "($1::text[] IS NULL OR status = ANY($1::text[])) AND "
    "($2 = '' OR queue = $2) AND ($3 = '' OR target = $3) AND "
    "($4 = '' OR tenant = $4) AND "
    "($5::timestamptz IS NULL OR (created_at, id) < ($5::timestamptz, "
    "$6::uuid)) ORDER BY created_at DESC, id DESC LIMIT $7::int"};

static const char *const job_statuses[] = {"queued", "rerouted", "in_progress",
    "retryable_failed", "succeeded", "dead_failed", "cancelled", "aborted"};

bool
job_status_valid(const char *s)
{
	for (size_t i = 0; i < sizeof(job_statuses) / sizeof(job_statuses[0]);
	     i++) {
		if (strcmp(s, job_statuses[i]) == 0) {
			return (true);
		}
	}
	return (false);
}

opsbus_err
job_get(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__GetJobRequest *in
	    = (const Opsbus__V1__GetJobRequest *) inm;
	Opsbus__V1__GetJobResponse *out = (Opsbus__V1__GetJobResponse *) outm;
	struct db_rows             *rows;
	opsbus_err                  err;

	if ((err = call_load_by_id(call, &job_stmt_get, in->id,
	         OPSBUS_E_JOB_NOT_FOUND, "job", &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	out->job = job_from_row(call, rows, 0, 0);
	db_rows_free(rows);
	if (out->job == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	if (in->include_attempts
	    && (err = job_load_attempts(
	            call, out->job->id, &out->attempts, &out->n_attempts))
	        != OPSBUS_E_OK) {
		return (err);
	}
	if (in->include_timeline
	    && (err = job_load_timeline(
	            call, out->job->id, &out->timeline, &out->n_timeline))
	        != OPSBUS_E_OK) {
		return (err);
	}
	return (OPSBUS_E_OK);
}

opsbus_err
job_list(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__ListJobsRequest *in
	    = (const Opsbus__V1__ListJobsRequest *) inm;
	Opsbus__V1__ListJobsResponse *out
	    = (Opsbus__V1__ListJobsResponse *) outm;
	const char     *p[7];
	char           *states = NULL;
	char           *after_ts = NULL, *after_id = NULL;
	char            fetch[16];
	const char     *tenant;
	int             limit;
	struct db_rows *rows;
	opsbus_err      err;
	int             count;

	if ((err = call_limit(call,
	         in->limit_value_case
	             == OPSBUS__V1__LIST_JOBS_REQUEST__LIMIT_VALUE_LIMIT,
	         in->limit, 50, 100, &limit))
	    != OPSBUS_E_OK) {
		return (err);
	}
	if (in->n_states > 8) {
		return (call_fail(
		    call, OPSBUS_E_VALIDATION_ERROR, "at most 8 states"));
	}
	for (size_t i = 0; i < in->n_states; i++) {
		if (!job_status_valid(in->states[i])) {
			return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
			    "unknown state \"%.32s\" (one of queued, "
			    "rerouted, "
			    "in_progress, retryable_failed, succeeded, "
			    "dead_failed, cancelled, aborted)",
			    in->states[i]));
		}
		states = call_printf(call, "%s%s%s",
		    states == NULL ? "{" : states, states == NULL ? "" : ",",
		    in->states[i]);
		if (states == NULL) {
			/* Out of memory: never answer unfiltered. */
			return (OPSBUS_E_INTERNAL);
		}
	}
	if (states != NULL
	    && (states = call_printf(call, "%s}", states)) == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	if (!valid_name_or_empty(in->queue)
	    || !valid_name_or_empty(in->target)) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "queue and target are up to 64 characters of letters, "
		    "digits, '.', '_', '-', ':' and '/'"));
	}
	if ((err = call_read_tenant(call, in->tenant, &tenant))
	    != OPSBUS_E_OK) {
		return (err);
	}
	if (in->page_token[0] != '\0'
	    && !page_token_read(call, in->page_token, &after_ts, &after_id)) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "page_token is not one this server gave"));
	}
	snprintf(fetch, sizeof(fetch), "%d", limit + 1);
	p[0] = states;
	p[1] = in->queue;
	p[2] = in->target;
	p[3] = tenant;
	p[4] = after_ts;
	p[5] = after_id;
	p[6] = fetch;
	if ((err = db_exec(call->db, &stmt_list, 7, p, &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	count = db_rows_count(rows);
	out->jobs = call_array(call, (size_t) count + 1, sizeof(*out->jobs));
	if (out->jobs == NULL) {
		db_rows_free(rows);
		return (OPSBUS_E_INTERNAL);
	}
	for (int r = 0; r < count && r < limit; r++) {
		if ((out->jobs[r] = job_from_row(call, rows, r, 0)) == NULL) {
			db_rows_free(rows);
			return (OPSBUS_E_INTERNAL);
		}
		out->n_jobs++;
	}
	db_rows_free(rows);
	if (count > limit && out->n_jobs > 0) {
		out->next_page_token = page_token_make(call,
		    out->jobs[out->n_jobs - 1]->created_at,
		    out->jobs[out->n_jobs - 1]->id);
	}
	return (OPSBUS_E_OK);
}
