/*
 * claim_next over the real wire, on a real PostgreSQL and opsbusd:
 * CompleteJob and CompleteJobs that also claim the worker's next jobs in
 * the same transaction. The completion and the claim land together or not
 * at all: a lost lease or a bad claim_next changes nothing; a claim on an
 * empty queue answers no jobs; a resend answers the stored reply (the same
 * next jobs) and claims nothing more; workers chaining CompleteJob with
 * claim_next at once (in groups on the server) each get jobs of their own
 * and drain the queue exactly once.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "opsbus/v1/job.pb-c.h"
#include "opsutil.h"
#include "rawcall.h"

#define PB(s) ((char *) (uintptr_t) (s))

HARNESS_SUITE;

/* n new jobs on queue. */
static void
make_jobs(const char *queue, int n)
{
	struct ou_job j = {.queue = queue, .target = "ehr-a"};

	for (int i = 0; i < n; i++) {
		char *id = ou_create(cli, &j);
		CU_ASSERT_PTR_NOT_NULL_FATAL(id);
		free(id);
	}
}

/* A claim_next of max jobs of queue for worker. */
static void
next_init(Opsbus__V1__ClaimJobsRequest *next, const char *queue,
    const char *worker, int max)
{
	opsbus__v1__claim_jobs_request__init(next);
	next->queue = PB(queue);
	next->worker_id = PB(worker);
	next->max_value_case = OPSBUS__V1__CLAIM_JOBS_REQUEST__MAX_VALUE_MAX;
	next->max = max;
}

/* CompleteJob of id with token and claim_next (may be NULL) through c. */
static Opsbus__V1__CompleteJobResponse *
complete_next(struct opsbus_client *c, const char *id, const char *token,
    Opsbus__V1__ClaimJobsRequest *next, struct opsbus_status *st)
{
	Opsbus__V1__CompleteJobRequest   req;
	Opsbus__V1__CompleteJobResponse *res = NULL;

	opsbus__v1__complete_job_request__init(&req);
	req.job_id = PB(id);
	req.lease_token = PB(token);
	req.summary = PB("done");
	req.claim_next = next;
	if (ou_call(c, "opsbus.v1.JobService/CompleteJob", &req.base,
	        &opsbus__v1__complete_job_response__descriptor, &res, NULL, st)
	    != 0) {
		return (NULL);
	}
	return (res);
}

static long
count_status(const char *queue, const char *status)
{
	return (ou_count("SELECT count(*) FROM jobs WHERE queue = '%s' AND "
	                 "status = '%s'",
	    queue, status));
}

/* ---------------------------------------------------------------- */

static void
test_complete_job_claims_the_next_jobs_in_its_transaction(void)
{
	char                            *id[1], *token[1];
	Opsbus__V1__ClaimJobsRequest     next;
	Opsbus__V1__CompleteJobResponse *res;
	struct opsbus_status             st;

	make_jobs("cn-basic", 4);
	ASSERT_INT_EQ(ou_claim(cli, "cn-basic", "cn-worker", 1, id, token), 1);
	next_init(&next, "cn-basic", "cn-worker", 2);
	res = complete_next(cli, id[0], token[0], &next, &st);
	if (res == NULL) {
		fprintf(stderr, "%s: %s\n", st.error_code, st.message);
	}
	CU_ASSERT_PTR_NOT_NULL_FATAL(res);
	ASSERT_STR_EQ(res->job->id, id[0]);
	ASSERT_STR_EQ(res->job->status, "succeeded");
	CU_ASSERT_PTR_NOT_NULL_FATAL(res->next);
	ASSERT_INT_EQ(res->next->n_jobs, 2);
	CU_ASSERT_FATAL(res->next->n_jobs == 2);
	for (size_t i = 0; i < res->next->n_jobs; i++) {
		const Opsbus__V1__ClaimedJob *cj = res->next->jobs[i];

		CU_ASSERT_STRING_NOT_EQUAL(cj->job->id, id[0]);
		ASSERT_STR_EQ(cj->job->status, "in_progress");
		ASSERT_STR_EQ(cj->job->lease_owner, "cn-worker");
		CU_ASSERT_TRUE(cj->lease_ms > 0);
		/* As a claim does: an attempt opened, a 'claimed' event. */
		ASSERT_INT_EQ(ou_count("SELECT count(*) FROM job_attempts "
		                       "WHERE job_id = '%s' AND attempt = 1 "
		                       "AND ended_at IS NULL AND worker_id = "
		                       "'cn-worker'",
		                  cj->job->id),
		    1);
		ASSERT_INT_EQ(ou_count("SELECT count(*) FROM events WHERE "
		                       "job_id = '%s' AND event_type = "
		                       "'claimed'",
		                  cj->job->id),
		    1);
		/* The lease works: the job completes with its token. */
		CU_ASSERT_EQUAL(
		    ou_complete(cli, cj->job->id, cj->lease_token, &st), 0);
	}
	/* One transaction: the completion and the claims share its txid. */
	ASSERT_INT_EQ(ou_count("SELECT count(DISTINCT txid) FROM events WHERE "
	                       "(job_id = '%s' AND event_type = 'succeeded') "
	                       "OR (job_id IN ('%s', '%s') AND event_type = "
	                       "'claimed')",
	                  id[0], res->next->jobs[0]->job->id,
	                  res->next->jobs[1]->job->id),
	    1);
	ASSERT_INT_EQ(count_status("cn-basic", "succeeded"), 3);
	ASSERT_INT_EQ(count_status("cn-basic", "queued"), 1);
	protobuf_c_message_free_unpacked(&res->base, NULL);
	free(id[0]);
	free(token[0]);

	/* Without claim_next the answer has no next. */
	ASSERT_INT_EQ(ou_claim(cli, "cn-basic", "cn-worker", 1, id, token), 1);
	res = complete_next(cli, id[0], token[0], NULL, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(res);
	CU_ASSERT_PTR_NULL(res->next);
	protobuf_c_message_free_unpacked(&res->base, NULL);
	free(id[0]);
	free(token[0]);
}

static void
test_an_empty_queue_answers_no_next_jobs(void)
{
	char                            *id[1], *token[1];
	Opsbus__V1__ClaimJobsRequest     next;
	Opsbus__V1__CompleteJobResponse *res;
	struct opsbus_status             st;

	make_jobs("cn-empty", 1);
	ASSERT_INT_EQ(ou_claim(cli, "cn-empty", "cn-worker", 1, id, token), 1);
	/* Another queue, empty. */
	next_init(&next, "cn-empty-other", "cn-worker", 5);
	res = complete_next(cli, id[0], token[0], &next, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(res);
	ASSERT_STR_EQ(res->job->status, "succeeded");
	CU_ASSERT_PTR_NOT_NULL_FATAL(res->next);
	ASSERT_INT_EQ(res->next->n_jobs, 0);
	protobuf_c_message_free_unpacked(&res->base, NULL);
	free(id[0]);
	free(token[0]);
}

static void
test_a_lost_lease_or_a_bad_claim_next_changes_nothing(void)
{
	char                            *id[1], *token[1];
	char                             stranger[37];
	Opsbus__V1__ClaimJobsRequest     next;
	Opsbus__V1__CompleteJobResponse *res;
	struct opsbus_status             st;

	make_jobs("cn-refused", 3);
	ASSERT_INT_EQ(
	    ou_claim(cli, "cn-refused", "cn-worker", 1, id, token), 1);
	ou_uuid(stranger);

	/* A stranger's token: LEASE_LOST, and nothing claimed. */
	next_init(&next, "cn-refused", "cn-worker", 2);
	res = complete_next(cli, id[0], stranger, &next, &st);
	CU_ASSERT_PTR_NULL(res);
	ASSERT_STR_EQ(st.error_code, "LEASE_LOST");
	ASSERT_INT_EQ(count_status("cn-refused", "queued"), 2);

	/* claim_next that waits, or names no queue, or asks too much: the
	 * job is not completed either. */
	next.wait_ms = 1000;
	res = complete_next(cli, id[0], token[0], &next, &st);
	CU_ASSERT_PTR_NULL(res);
	ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
	CU_ASSERT_PTR_NOT_NULL(strstr(st.message, "wait_ms"));
	next_init(&next, "", "cn-worker", 2);
	res = complete_next(cli, id[0], token[0], &next, &st);
	CU_ASSERT_PTR_NULL(res);
	ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
	next_init(&next, "cn-refused", "cn-worker", 101);
	res = complete_next(cli, id[0], token[0], &next, &st);
	CU_ASSERT_PTR_NULL(res);
	ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
	ASSERT_INT_EQ(count_status("cn-refused", "in_progress"), 1);
	ASSERT_INT_EQ(count_status("cn-refused", "queued"), 2);
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM events e JOIN jobs j ON "
	                       "j.id = e.job_id WHERE j.queue = 'cn-refused' "
	                       "AND e.event_type = 'succeeded'"),
	    0);

	/* The good call still works afterwards. */
	next_init(&next, "cn-refused", "cn-worker", 2);
	res = complete_next(cli, id[0], token[0], &next, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(res);
	ASSERT_INT_EQ(res->next->n_jobs, 2);
	protobuf_c_message_free_unpacked(&res->base, NULL);
	free(id[0]);
	free(token[0]);
}

static void
test_a_resend_answers_the_same_next_jobs(void)
{
	char                            *id[1], *token[1];
	Opsbus__V1__ClaimJobsRequest     next;
	Opsbus__V1__CompleteJobRequest   req;
	Opsbus__V1__CompleteJobResponse *res;

	make_jobs("cn-resend", 3);
	ASSERT_INT_EQ(
	    ou_claim(cli, "cn-resend", "cn-worker", 1, id, token), 1);
	next_init(&next, "cn-resend", "cn-worker", 1);
	opsbus__v1__complete_job_request__init(&req);
	req.job_id = id[0];
	req.lease_token = token[0];
	req.claim_next = &next;
	res = (Opsbus__V1__CompleteJobResponse *) rawcall_resend(cli,
	    srv.api_key, "opsbus.v1.JobService/CompleteJob", &req.base,
	    "cn-resend-0001", &opsbus__v1__complete_job_response__descriptor);
	CU_ASSERT_PTR_NOT_NULL_FATAL(res);
	CU_ASSERT_PTR_NOT_NULL_FATAL(res->next);
	ASSERT_INT_EQ(res->next->n_jobs, 1);
	protobuf_c_message_free_unpacked(&res->base, NULL);
	/* One job claimed, not two. */
	ASSERT_INT_EQ(count_status("cn-resend", "in_progress"), 1);
	ASSERT_INT_EQ(count_status("cn-resend", "queued"), 1);
	free(id[0]);
	free(token[0]);
}

static void
test_complete_jobs_claims_next_once_for_the_call(void)
{
	char                             *ids[3], *tokens[3];
	char                              stranger[37];
	Opsbus__V1__CompleteJobRequest    items[3], *ptrs[3];
	Opsbus__V1__CompleteJobsRequest   req;
	Opsbus__V1__CompleteJobsResponse *res = NULL;
	Opsbus__V1__ClaimJobsRequest      next;
	struct opsbus_status              st;

	make_jobs("cn-batch", 8);
	ASSERT_INT_EQ(
	    ou_claim(cli, "cn-batch", "cn-worker", 3, ids, tokens), 3);
	ou_uuid(stranger);
	opsbus__v1__complete_jobs_request__init(&req);
	for (int i = 0; i < 3; i++) {
		opsbus__v1__complete_job_request__init(&items[i]);
		items[i].job_id = ids[i];
		/* The last item's lease is not this worker's. */
		items[i].lease_token = i == 2 ? stranger : tokens[i];
		ptrs[i] = &items[i];
	}
	req.completions = ptrs;
	req.n_completions = 3;
	next_init(&next, "cn-batch", "cn-worker", 4);
	req.claim_next = &next;
	CU_ASSERT_EQUAL_FATAL(
	    ou_call(cli, "opsbus.v1.JobService/CompleteJobs", &req.base,
	        &opsbus__v1__complete_jobs_response__descriptor, &res, NULL,
	        &st),
	    0);
	ASSERT_INT_EQ(res->completed, 2);
	ASSERT_STR_EQ(res->results[2]->error_code, "LEASE_LOST");
	CU_ASSERT_PTR_NOT_NULL_FATAL(res->next);
	ASSERT_INT_EQ(res->next->n_jobs, 4);
	protobuf_c_message_free_unpacked(&res->base, NULL);
	ASSERT_INT_EQ(count_status("cn-batch", "in_progress"), 5);
	ASSERT_INT_EQ(count_status("cn-batch", "queued"), 1);

	/* claim_next on an item is refused, and nothing happens. */
	req.claim_next = NULL;
	items[2].lease_token = tokens[2];
	items[2].claim_next = &next;
	res = NULL;
	CU_ASSERT_NOT_EQUAL(
	    ou_call(cli, "opsbus.v1.JobService/CompleteJobs", &req.base,
	        &opsbus__v1__complete_jobs_response__descriptor, &res, NULL,
	        &st),
	    0);
	ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
	CU_ASSERT_PTR_NOT_NULL(strstr(st.message, "item 2"));
	ASSERT_INT_EQ(count_status("cn-batch", "in_progress"), 5);
	for (int i = 0; i < 3; i++) {
		free(ids[i]);
		free(tokens[i]);
	}
}

#define CHAINS     8
#define CHAIN_JOBS 200

struct chain {
	struct opsbus_client *c;
	char                  worker[32];
	int                   done;
	int                   errors;
};

/* Claims one job, then completes each with claim_next until none. */
static void *
chain_main(void *arg)
{
	struct chain                *ch = arg;
	char                        *id[1], *token[1];
	Opsbus__V1__ClaimJobsRequest next;
	struct opsbus_status         st;
	char                         cur_id[64], cur_token[64];

	if (ou_claim(ch->c, "cn-chain", ch->worker, 1, id, token) != 1) {
		return (NULL);
	}
	snprintf(cur_id, sizeof(cur_id), "%s", id[0]);
	snprintf(cur_token, sizeof(cur_token), "%s", token[0]);
	free(id[0]);
	free(token[0]);
	next_init(&next, "cn-chain", ch->worker, 1);
	for (;;) {
		Opsbus__V1__CompleteJobResponse *res
		    = complete_next(ch->c, cur_id, cur_token, &next, &st);

		if (res == NULL) {
			fprintf(stderr, "chain: %s %s\n", st.error_code,
			    st.message);
			ch->errors++;
			return (NULL);
		}
		ch->done++;
		if (res->next == NULL || res->next->n_jobs == 0) {
			protobuf_c_message_free_unpacked(&res->base, NULL);
			return (NULL);
		}
		snprintf(
		    cur_id, sizeof(cur_id), "%s", res->next->jobs[0]->job->id);
		snprintf(cur_token, sizeof(cur_token), "%s",
		    res->next->jobs[0]->lease_token);
		protobuf_c_message_free_unpacked(&res->base, NULL);
	}
}

static void
test_chained_workers_drain_the_queue_once(void)
{
	static struct chain ch[CHAINS];
	pthread_t           th[CHAINS];
	int                 done = 0;

	make_jobs("cn-chain", CHAIN_JOBS);
	for (int t = 0; t < CHAINS; t++) {
		ch[t].c = harness_client(&srv, NULL);
		CU_ASSERT_PTR_NOT_NULL_FATAL(ch[t].c);
		snprintf(ch[t].worker, sizeof(ch[t].worker), "chain-%d", t);
	}
	for (int t = 0; t < CHAINS; t++) {
		pthread_create(&th[t], NULL, chain_main, &ch[t]);
	}
	for (int t = 0; t < CHAINS; t++) {
		pthread_join(th[t], NULL);
		ASSERT_INT_EQ(ch[t].errors, 0);
		done += ch[t].done;
		opsbus_client_close(ch[t].c);
	}
	ASSERT_INT_EQ(done, CHAIN_JOBS);
	ASSERT_INT_EQ(count_status("cn-chain", "succeeded"), CHAIN_JOBS);
	/* Each job claimed once and completed once. */
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM job_attempts a JOIN jobs "
	                       "j ON j.id = a.job_id WHERE j.queue = "
	                       "'cn-chain'"),
	    CHAIN_JOBS);
	ASSERT_INT_EQ(
	    ou_count("SELECT count(*) FROM events e JOIN jobs j ON "
	             "j.id = e.job_id WHERE j.queue = 'cn-chain' AND "
	             "e.event_type = 'succeeded'"),
	    CHAIN_JOBS);
}

int
main(void)
{
	static const struct harness_case cases[]
	    = {{"CompleteJob claims the next jobs in its transaction",
	           test_complete_job_claims_the_next_jobs_in_its_transaction},
	        {"an empty queue answers no next jobs",
	            test_an_empty_queue_answers_no_next_jobs},
	        {"a lost lease or a bad claim_next changes nothing",
	            test_a_lost_lease_or_a_bad_claim_next_changes_nothing},
	        {"a resend answers the same next jobs",
	            test_a_resend_answers_the_same_next_jobs},
	        {"CompleteJobs claims next once for the call",
	            test_complete_jobs_claims_next_once_for_the_call},
	        {"chained workers drain the queue once",
	            test_chained_workers_drain_the_queue_once},
	        {NULL, NULL}};

	return (harness_run("claim_next", cases, suite_init, suite_cleanup));
}
