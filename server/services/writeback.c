/*
 * WritebackService: writeback jobs as the runbooks see them (seeds 000 and
 * 001). A writeback job is a job of queue "writeback" whose subject is the
 * note id and whose target is the EHR; the handlers here shape requests
 * into JobService calls (so idempotency, validation and tenancy are those
 * of CreateJob, ListJobs and GetJob) and answers into the operator-safe
 * view, which leaves out the idempotency key, the payload and the raw
 * error detail.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "opsbus/v1/job.pb-c.h"
#include "opsbus/v1/writeback.pb-c.h"
#include "services/handlers.h"
#include "services/validate.h"

#define WRITEBACK_QUEUE "writeback"
#define WRITEBACK_KIND  "writeback"
#define NOTE_ID_MAX     256

static Opsbus__V1__WritebackJob *
view(struct rpc_call *call, const Opsbus__V1__Job *j)
{
	Opsbus__V1__WritebackJob *v = (Opsbus__V1__WritebackJob *) call_new(
	    call, &opsbus__v1__writeback_job__descriptor);

	if (v == NULL) {
		return (NULL);
	}
	v->job_id = j->id;
	v->note_id = j->subject;
	v->ehr = j->target;
	v->status = j->status;
	v->attempts = j->attempts;
	v->operator_status = j->operator_status;
	v->last_error = j->last_error;
	v->reason_code = j->reason_code;
	v->replay_of_job_id = j->replay_of_job_id;
	v->replayed_job_id = j->replayed_job_id;
	v->created_at = j->created_at;
	v->updated_at = j->updated_at;
	return (v);
}

static bool
note_id_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > NOTE_ID_MAX) {
		return (false);
	}
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) {
			return (false);
		}
	}
	return (true);
}

opsbus_err
writeback_create(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__CreateWritebackJobRequest *in
	    = (const Opsbus__V1__CreateWritebackJobRequest *) inm;
	Opsbus__V1__CreateWritebackJobResponse *out
	    = (Opsbus__V1__CreateWritebackJobResponse *) outm;
	Opsbus__V1__CreateJobRequest jreq
	    = OPSBUS__V1__CREATE_JOB_REQUEST__INIT;
	Opsbus__V1__CreateJobResponse jresp
	    = OPSBUS__V1__CREATE_JOB_RESPONSE__INIT;
	json_t    *payload;
	char      *text;
	opsbus_err err;

	if (!note_id_ok(in->note_id)) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "noteId is required: 1..%d characters, no control "
		    "characters",
		    NOTE_ID_MAX));
	}
	if (!valid_name(in->ehr)) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "ehr is required: 1..64 characters of letters, digits, "
		    "'.', '_', '-', ':' and '/'"));
	}
	if (!valid_idempotency_key(in->idempotency_key)) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "idempotencyKey is required: 1..255 printable characters "
		    "(a new one for every replay)"));
	}
	payload
	    = json_pack("{s:s, s:s}", "noteId", in->note_id, "ehr", in->ehr);
	text = payload != NULL
	    ? json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS)
	    : NULL;
	json_decref(payload);
	if (text == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	jreq.payload = call_strdup(call, text);
	free(text);
	jreq.queue = PB_STR(WRITEBACK_QUEUE);
	jreq.kind = PB_STR(WRITEBACK_KIND);
	jreq.target = in->ehr;
	jreq.subject = in->note_id;
	jreq.idempotency_key = in->idempotency_key;
	if ((err = job_create(call, &jreq.base, &jresp.base)) != OPSBUS_E_OK) {
		return (err);
	}
	if ((out->job = view(call, jresp.job)) == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	out->created = jresp.created;
	return (OPSBUS_E_OK);
}

/* Splits every state value on '|' and ',' into req->states. */
static opsbus_err
split_states(struct rpc_call                   *call,
    const Opsbus__V1__ListWritebackJobsRequest *in,
    Opsbus__V1__ListJobsRequest                *req)
{
	size_t cap = 0;

	for (size_t i = 0; i < in->n_state; i++) {
		cap += strlen(in->state[i]) + 1;
	}
	req->states = call_array(call, cap + 1, sizeof(*req->states));
	if (req->states == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	for (size_t i = 0; i < in->n_state; i++) {
		char *copy = call_strdup(call, in->state[i]);
		char *save = NULL;
		bool  any = false;

		if (copy == NULL) {
			return (OPSBUS_E_INTERNAL);
		}
		for (char *s = strtok_r(copy, "|,", &save); s != NULL;
		     s = strtok_r(NULL, "|,", &save)) {
			while (*s == ' ') {
				s++;
			}
			s[strcspn(s, " ")] = '\0';
			if (*s != '\0') {
				req->states[req->n_states++] = s;
				any = true;
			}
		}
		if (!any) {
			return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
			    "state is empty: give one status or several "
			    "separated by '|'"));
		}
	}
	return (OPSBUS_E_OK);
}

opsbus_err
writeback_list(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__ListWritebackJobsRequest *in
	    = (const Opsbus__V1__ListWritebackJobsRequest *) inm;
	Opsbus__V1__ListWritebackJobsResponse *out
	    = (Opsbus__V1__ListWritebackJobsResponse *) outm;
	Opsbus__V1__ListJobsRequest jreq = OPSBUS__V1__LIST_JOBS_REQUEST__INIT;
	Opsbus__V1__ListJobsResponse jresp
	    = OPSBUS__V1__LIST_JOBS_RESPONSE__INIT;
	opsbus_err err;

	if ((err = split_states(call, in, &jreq)) != OPSBUS_E_OK) {
		return (err);
	}
	jreq.queue = PB_STR(WRITEBACK_QUEUE);
	jreq.target = in->ehr;
	jreq.page_token = in->page_token;
	if (in->limit_value_case
	    == OPSBUS__V1__LIST_WRITEBACK_JOBS_REQUEST__LIMIT_VALUE_LIMIT) {
		jreq.limit_value_case
		    = OPSBUS__V1__LIST_JOBS_REQUEST__LIMIT_VALUE_LIMIT;
		jreq.limit = in->limit;
	}
	if ((err = job_list(call, &jreq.base, &jresp.base)) != OPSBUS_E_OK) {
		return (err);
	}
	out->jobs = call_array(call, jresp.n_jobs + 1, sizeof(*out->jobs));
	if (out->jobs == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	for (size_t i = 0; i < jresp.n_jobs; i++) {
		if ((out->jobs[i] = view(call, jresp.jobs[i])) == NULL) {
			return (OPSBUS_E_INTERNAL);
		}
		out->n_jobs++;
	}
	out->next_page_token = jresp.next_page_token;
	return (OPSBUS_E_OK);
}

opsbus_err
writeback_get(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__GetWritebackJobRequest *in
	    = (const Opsbus__V1__GetWritebackJobRequest *) inm;
	Opsbus__V1__GetWritebackJobResponse *out
	    = (Opsbus__V1__GetWritebackJobResponse *) outm;
	Opsbus__V1__GetJobRequest  jreq = OPSBUS__V1__GET_JOB_REQUEST__INIT;
	Opsbus__V1__GetJobResponse jresp = OPSBUS__V1__GET_JOB_RESPONSE__INIT;
	opsbus_err                 err;

	jreq.id = in->job_id;
	if (!valid_uuid(in->job_id)) {
		return (call_fail(
		    call, OPSBUS_E_VALIDATION_ERROR, "jobId must be a UUID"));
	}
	if ((err = job_get(call, &jreq.base, &jresp.base)) != OPSBUS_E_OK) {
		return (err);
	}
	if (strcmp(jresp.job->queue, WRITEBACK_QUEUE) != 0) {
		return (call_fail(call, OPSBUS_E_JOB_NOT_FOUND,
		    "no writeback job %s", in->job_id));
	}
	if ((out->job = view(call, jresp.job)) == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	return (OPSBUS_E_OK);
}
