/*
 * Job and call helpers for the operator tests (opsutil.h).
 */
#include "opsutil.h"

#include <CUnit/CUnit.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uuid/uuid.h>

#include "harness.h"
#include "opsbus/v1/job.pb-c.h"
#include "opsbus/v1/operator.pb-c.h"

#define STR(s) ((char *) (uintptr_t) (s))

int
ou_call(struct opsbus_client *c, const char *method,
    const ProtobufCMessage *in, const ProtobufCMessageDescriptor *out_desc,
    void *out, const char *corr, struct opsbus_status *st)
{
	return (opsbus_call(
	    c, method, in, out_desc, (ProtobufCMessage **) out, corr, st));
}

int
ou_op(struct opsbus_client *c, const char *method, const ProtobufCMessage *in,
    const char *corr, struct opsbus_status *st)
{
	const ProtobufCServiceDescriptor *sd
	    = &opsbus__v1__operator_service__descriptor;
	ProtobufCMessage *out = NULL;
	char              full[128];
	const char       *name = strrchr(method, '/');

	name = name != NULL ? name + 1 : method;
	for (unsigned i = 0; i < sd->n_methods; i++) {
		if (strcmp(sd->methods[i].name, name) == 0) {
			snprintf(full, sizeof(full),
			    "opsbus.v1.OperatorService/%s", name);
			if (opsbus_call(c, full, in, sd->methods[i].output,
			        &out, corr, st)
			    != 0) {
				return (-1);
			}
			protobuf_c_message_free_unpacked(out, NULL);
			return (0);
		}
	}
	snprintf(st->error_code, sizeof(st->error_code), "NO_SUCH_METHOD");
	return (-1);
}

char *
ou_create(struct opsbus_client *c, const struct ou_job *j)
{
	Opsbus__V1__CreateJobRequest   req;
	Opsbus__V1__CreateJobResponse *res = NULL;
	struct opsbus_status           st;
	char                          *id;

	opsbus__v1__create_job_request__init(&req);
	req.queue = STR(j->queue);
	req.tenant = STR(j->tenant != NULL ? j->tenant : "");
	req.target = STR(j->target != NULL ? j->target : "");
	req.subject = STR(j->subject != NULL ? j->subject : "");
	req.payload = STR(j->payload != NULL ? j->payload : "");
	req.idempotency_key
	    = STR(j->idempotency_key != NULL ? j->idempotency_key : "");
	req.max_attempts = j->max_attempts;
	req.priority = j->priority;
	if (ou_call(c, "opsbus.v1.JobService/CreateJob", &req.base,
	        &opsbus__v1__create_job_response__descriptor, &res, NULL, &st)
	    != 0) {
		fprintf(
		    stderr, "ou_create: %s: %s\n", st.error_code, st.message);
		return (NULL);
	}
	id = strdup(res->job->id);
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return (id);
}

int
ou_claim(struct opsbus_client *c, const char *queue, const char *worker, int n,
    char **ids, char **tokens)
{
	Opsbus__V1__ClaimJobsRequest   req;
	Opsbus__V1__ClaimJobsResponse *res = NULL;
	struct opsbus_status           st;
	int                            got;

	opsbus__v1__claim_jobs_request__init(&req);
	req.queue = STR(queue);
	req.worker_id = STR(worker);
	req.max_value_case = OPSBUS__V1__CLAIM_JOBS_REQUEST__MAX_VALUE_MAX;
	req.max = n;
	if (ou_call(c, "opsbus.v1.JobService/ClaimJobs", &req.base,
	        &opsbus__v1__claim_jobs_response__descriptor, &res, NULL, &st)
	    != 0) {
		fprintf(
		    stderr, "ou_claim: %s: %s\n", st.error_code, st.message);
		return (0);
	}
	got = (int) res->n_jobs;
	for (int i = 0; i < got; i++) {
		ids[i] = strdup(res->jobs[i]->job->id);
		tokens[i] = strdup(res->jobs[i]->lease_token);
	}
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return (got);
}

int
ou_fail(struct opsbus_client *c, const char *id, const char *token,
    const char *reason_code, const char *category, bool retryable,
    const char *error, const char *detail, struct opsbus_status *st)
{
	Opsbus__V1__FailJobRequest req;
	ProtobufCMessage          *out = NULL;

	opsbus__v1__fail_job_request__init(&req);
	req.job_id = STR(id);
	req.lease_token = STR(token);
	req.reason_code = STR(reason_code != NULL ? reason_code : "");
	req.failure_category = STR(category != NULL ? category : "");
	req.retryable = retryable;
	req.error = STR(error != NULL ? error : "the downstream failed");
	req.error_detail = STR(detail != NULL ? detail : "");
	req.stage = STR("write");
	if (ou_call(c, "opsbus.v1.JobService/FailJob", &req.base,
	        &opsbus__v1__fail_job_response__descriptor, &out, NULL, st)
	    != 0) {
		return (-1);
	}
	protobuf_c_message_free_unpacked(out, NULL);
	return (0);
}

int
ou_complete(struct opsbus_client *c, const char *id, const char *token,
    struct opsbus_status *st)
{
	Opsbus__V1__CompleteJobRequest req;
	ProtobufCMessage              *out = NULL;

	opsbus__v1__complete_job_request__init(&req);
	req.job_id = STR(id);
	req.lease_token = STR(token);
	req.summary = STR("written to the EHR");
	if (ou_call(c, "opsbus.v1.JobService/CompleteJob", &req.base,
	        &opsbus__v1__complete_job_response__descriptor, &out, NULL, st)
	    != 0) {
		return (-1);
	}
	protobuf_c_message_free_unpacked(out, NULL);
	return (0);
}

int
ou_heartbeat(struct opsbus_client *c, const char *id, const char *token,
    bool *cancel_requested, struct opsbus_status *st)
{
	Opsbus__V1__HeartbeatRequest   req;
	Opsbus__V1__HeartbeatResponse *out = NULL;

	opsbus__v1__heartbeat_request__init(&req);
	req.job_id = STR(id);
	req.lease_token = STR(token);
	if (ou_call(c, "opsbus.v1.JobService/Heartbeat", &req.base,
	        &opsbus__v1__heartbeat_response__descriptor, &out, NULL, st)
	    != 0) {
		return (-1);
	}
	*cancel_requested = out->cancel_requested;
	protobuf_c_message_free_unpacked(&out->base, NULL);
	return (0);
}

char *
ou_dead(struct opsbus_client *c, const struct ou_job *j,
    const char *reason_code, const char *category, bool retryable)
{
	struct ou_job        one = *j;
	struct opsbus_status st;
	char                *id, *claimed = NULL, *token = NULL;

	one.max_attempts = 1;
	one.priority = 1000;
	if ((id = ou_create(c, &one)) == NULL) {
		return (NULL);
	}
	if (ou_claim(c, j->queue, "test-worker", 1, &claimed, &token) != 1
	    || strcmp(claimed, id) != 0
	    || ou_fail(c, id, token, reason_code, category, retryable, NULL,
	           NULL, &st)
	        != 0) {
		fprintf(stderr, "ou_dead: could not fail %s\n", id);
		free(id);
		id = NULL;
	}
	free(claimed);
	free(token);
	return (id);
}

char *
ou_status(const char *id)
{
	char *s
	    = harness_sql(NULL, "SELECT status FROM jobs WHERE id = '%s'", id);

	return (s != NULL ? s : strdup(""));
}

static long
ou_vcount(const char *db, const char *fmt, va_list ap)
{
	char  sql[4096];
	char *v;
	long  n;

	vsnprintf(sql, sizeof(sql), fmt, ap);
	v = harness_sql(db, "%s", sql);
	n = v != NULL ? atol(v) : -1;
	free(v);
	return (n);
}

long
ou_count(const char *fmt, ...)
{
	va_list ap;
	long    n;

	va_start(ap, fmt);
	n = ou_vcount(NULL, fmt, ap);
	va_end(ap);
	return (n);
}

long
ou_count_in(const char *db, const char *fmt, ...)
{
	va_list ap;
	long    n;

	va_start(ap, fmt);
	n = ou_vcount(db, fmt, ap);
	va_end(ap);
	return (n);
}

Opsbus__V1__ReplayDeadLetterResponse *
ou_replay(struct opsbus_client *c, const char *id, const char *reason,
    const char *corr, struct opsbus_status *st)
{
	Opsbus__V1__ReplayDeadLetterRequest   req;
	Opsbus__V1__ReplayDeadLetterResponse *res = NULL;

	opsbus__v1__replay_dead_letter_request__init(&req);
	req.id = STR(id);
	req.reason = STR(reason);
	if (ou_call(c, "opsbus.v1.OperatorService/ReplayDeadLetter", &req.base,
	        &opsbus__v1__replay_dead_letter_response__descriptor, &res,
	        corr, st)
	    != 0) {
		return (NULL);
	}
	return (res);
}

void
ou_uuid(char buf[37])
{
	uuid_t u;

	uuid_generate_random(u);
	uuid_unparse_lower(u, buf);
}

long long
ou_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

void
ou_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}
