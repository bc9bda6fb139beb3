/*
 * JobService/CompleteJobs over the real wire, on a real PostgreSQL and
 * opsbusd: each item of a batch has its own outcome (completed, or refused
 * with the code CompleteJob would give it alone) and one bad item never
 * fails its neighbours; completed jobs get their attempt closed and one
 * timeline event each, as with CompleteJob; a job whose cancel an operator
 * requested ends cancelled; the batch is bounded; a resent request is
 * answered from its stored reply; another tenant's jobs are not found.
 * Concurrent CompleteJob calls, which the server runs in groups sharing a
 * transaction, each get their own answer.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "harness.h"
#include "opsbus/v1/admin.pb-c.h"
#include "opsbus/v1/job.pb-c.h"
#include "opsbus/v1/operator.pb-c.h"
#include "opsutil.h"
#include "rawcall.h"

#define PB(s) ((char *) (uintptr_t) (s))

HARNESS_SUITE;

/* The items of one CompleteJobs request, built up by add(). */
struct batch {
	Opsbus__V1__CompleteJobRequest  items[1100];
	Opsbus__V1__CompleteJobRequest *ptrs[1100];
	size_t                          n;
};

static void
add(struct batch *b, const char *id, const char *token, const char *summary)
{
	Opsbus__V1__CompleteJobRequest *it = &b->items[b->n];

	opsbus__v1__complete_job_request__init(it);
	it->job_id = PB(id);
	it->lease_token = PB(token);
	it->summary = PB(summary != NULL ? summary : "");
	b->ptrs[b->n] = it;
	b->n++;
}

/* CompleteJobs with the batch through c; the answer or NULL with st. */
static Opsbus__V1__CompleteJobsResponse *
complete_jobs(
    struct opsbus_client *c, struct batch *b, struct opsbus_status *st)
{
	Opsbus__V1__CompleteJobsRequest req
	    = OPSBUS__V1__COMPLETE_JOBS_REQUEST__INIT;
	Opsbus__V1__CompleteJobsResponse *res = NULL;

	req.completions = b->ptrs;
	req.n_completions = b->n;
	if (ou_call(c, "opsbus.v1.JobService/CompleteJobs", &req.base,
	        &opsbus__v1__complete_jobs_response__descriptor, &res, NULL,
	        st)
	    != 0) {
		return (NULL);
	}
	return (res);
}

/* Makes n jobs of queue and claims them; ids and tokens are malloc'd. */
static void
make_claimed(const char *queue, int n, char **ids, char **tokens)
{
	struct ou_job j = {.queue = queue, .target = "ehr-a"};
	int           got = 0;

	for (int i = 0; i < n; i++) {
		char *id = ou_create(cli, &j);
		CU_ASSERT_PTR_NOT_NULL_FATAL(id);
		free(id);
	}
	while (got < n) {
		int k = ou_claim(cli, queue, "batch-worker",
		    n - got > 100 ? 100 : n - got, ids + got, tokens + got);
		CU_ASSERT_FATAL(k > 0);
		got += k;
	}
}

static void
free_all(char **v, int n)
{
	for (int i = 0; i < n; i++) {
		free(v[i]);
	}
}

/* Asserts job id's status (read with SQL). */
#define ASSERT_STATUS(id, want)                      \
	do {                                         \
		char *st_ = ou_status(id);           \
		ASSERT_STR_EQ(st_ ? st_ : "", want); \
		free(st_);                           \
	} while (0)

static void
random_uuid(char out[37])
{
	uuid_t u;

	uuid_generate_random(u);
	uuid_unparse_lower(u, out);
}

/* An item's result: completed with status, or refused with code. */
static void
expect_done(
    const Opsbus__V1__CompleteJobResult *r, const char *id, const char *status)
{
	if (r->error_code[0] != '\0') {
		fprintf(stderr, "item %s: %s: %s\n", r->job_id, r->error_code,
		    r->message);
	}
	ASSERT_STR_EQ(r->job_id, id);
	ASSERT_STR_EQ(r->error_code, "");
	CU_ASSERT_PTR_NOT_NULL_FATAL(r->job);
	ASSERT_STR_EQ(r->job->id, id);
	ASSERT_STR_EQ(r->job->status, status);
	ASSERT_STR_EQ(r->job->lease_owner, "");
	CU_ASSERT_TRUE(r->job->final_state_at[0] != '\0');
}

static void
expect_refused(
    const Opsbus__V1__CompleteJobResult *r, const char *id, const char *code)
{
	ASSERT_STR_EQ(r->job_id, id);
	ASSERT_STR_EQ(r->error_code, code);
	CU_ASSERT_PTR_NULL(r->job);
	CU_ASSERT_TRUE(strlen(r->message) > 0);
}

/* ---------------------------------------------------------------- */

static void
test_each_item_of_a_batch_has_its_own_outcome(void)
{
	char                             *ids[7], *tokens[7];
	char                              unknown[37], stranger[37];
	struct batch                     *b = calloc(1, sizeof(*b));
	struct opsbus_status              st;
	Opsbus__V1__CancelJobRequest      cr;
	Opsbus__V1__CompleteJobsResponse *res;

	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	make_claimed("cj-mixed", 7, ids, tokens);
	/* ids[5] was completed alone before the batch. */
	CU_ASSERT_EQUAL_FATAL(ou_complete(cli, ids[5], tokens[5], &st), 0);
	/* An operator asked to cancel ids[6] while it runs. */
	opsbus__v1__cancel_job_request__init(&cr);
	cr.id = ids[6];
	cr.reason = PB(OU_REASON);
	CU_ASSERT_EQUAL_FATAL(ou_op(cli, "opsbus.v1.OperatorService/CancelJob",
	                          &cr.base, NULL, &st),
	    0);
	ASSERT_STATUS(ids[6], "in_progress");
	random_uuid(unknown);
	random_uuid(stranger);

	add(b, ids[0], tokens[0], "wrote note 1");   /* 0: completes */
	add(b, ids[1], stranger, "not mine");        /* 1: LEASE_LOST */
	add(b, unknown, tokens[2], "");              /* 2: JOB_NOT_FOUND */
	add(b, "not-a-uuid", tokens[2], "");         /* 3: VALIDATION */
	add(b, ids[2], "not-a-token", "");           /* 4: VALIDATION */
	add(b, ids[3], tokens[3], "wrote note 3");   /* 5: completes */
	add(b, ids[0], tokens[0], "again");          /* 6: duplicate */
	add(b, ids[5], tokens[5], "");               /* 7: LEASE_LOST */
	add(b, ids[6], tokens[6], "worker summary"); /* 8: cancelled */
	add(b, ids[4], tokens[4], NULL);             /* 9: completes */
	res = complete_jobs(cli, b, &st);
	if (res == NULL) {
		fprintf(stderr, "CompleteJobs: %s %s\n", st.error_code,
		    st.message);
	}
	CU_ASSERT_PTR_NOT_NULL_FATAL(res);
	ASSERT_INT_EQ(res->n_results, 10);
	CU_ASSERT_FATAL(res->n_results == 10);
	ASSERT_INT_EQ(res->completed, 4);
	expect_done(res->results[0], ids[0], "succeeded");
	ASSERT_STR_EQ(
	    res->results[0]->job->completion_summary, "wrote note 1");
	expect_refused(res->results[1], ids[1], "LEASE_LOST");
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(res->results[1]->message, "in_progress"));
	expect_refused(res->results[2], unknown, "JOB_NOT_FOUND");
	expect_refused(res->results[3], "not-a-uuid", "VALIDATION_ERROR");
	expect_refused(res->results[4], ids[2], "VALIDATION_ERROR");
	expect_done(res->results[5], ids[3], "succeeded");
	expect_refused(res->results[6], ids[0], "VALIDATION_ERROR");
	CU_ASSERT_PTR_NOT_NULL(strstr(res->results[6]->message, "item 0"));
	expect_refused(res->results[7], ids[5], "LEASE_LOST");
	CU_ASSERT_PTR_NOT_NULL(strstr(res->results[7]->message, "succeeded"));
	expect_done(res->results[8], ids[6], "cancelled");
	/* A cancelled job keeps the summary its cancel wrote. */
	CU_ASSERT_STRING_NOT_EQUAL(
	    res->results[8]->job->completion_summary, "worker summary");
	expect_done(res->results[9], ids[4], "succeeded");
	protobuf_c_message_free_unpacked(&res->base, NULL);

	/* The refused items changed nothing: ids[1] and ids[2] still run
	 * under their leases, and complete with them. */
	ASSERT_STATUS(ids[1], "in_progress");
	ASSERT_STATUS(ids[2], "in_progress");
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM jobs WHERE id = '%s' AND "
	                       "lease_token = '%s'",
	                  ids[1], tokens[1]),
	    1);
	/* Each completed job: its attempt closed with its final state, and
	 * one event of that state, attributed to the worker. */
	for (int i = 0; i < 7; i++) {
		const char *want = i == 6 ? "cancelled" : "succeeded";

		if (i == 1 || i == 2) {
			continue;
		}
		ASSERT_STATUS(ids[i], want);
		ASSERT_INT_EQ(ou_count("SELECT count(*) FROM job_attempts "
		                       "WHERE job_id = '%s' AND attempt = 1 "
		                       "AND ended_at IS NOT NULL AND "
		                       "to_status = '%s'",
		                  ids[i], want),
		    1);
		ASSERT_INT_EQ(ou_count("SELECT count(*) FROM events WHERE "
		                       "job_id = '%s' AND event_type = '%s' "
		                       "AND actor = 'batch-worker' AND "
		                       "topic = 'job.%s.cj-mixed'",
		                  ids[i], want, want),
		    1);
	}
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM events WHERE job_id IN "
	                       "('%s', '%s') AND event_type IN ('succeeded', "
	                       "'cancelled')",
	                  ids[1], ids[2]),
	    0);
	/* They still complete, in another batch. */
	b->n = 0;
	add(b, ids[1], tokens[1], "");
	add(b, ids[2], tokens[2], "");
	res = complete_jobs(cli, b, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(res);
	ASSERT_INT_EQ(res->completed, 2);
	protobuf_c_message_free_unpacked(&res->base, NULL);
	free_all(ids, 7);
	free_all(tokens, 7);
	free(b);
}

static void
test_summaries_reach_the_jobs_and_events_intact(void)
{
	/* Quotes, backslashes, braces and commas would break an array
	 * literal quoted by hand; a JSON summary is redacted in the event. */
	const char   *summaries[3] = {"said \"done\", path C:\\notes\\{1}",
	      "{\"token\":\"s3cr3t\",\"written\":2}", "tab\there"};
	char         *ids[3], *tokens[3];
	struct batch *b = calloc(1, sizeof(*b));
	struct opsbus_status              st;
	Opsbus__V1__CompleteJobsResponse *res;

	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	make_claimed("cj-summary", 3, ids, tokens);
	for (int i = 0; i < 3; i++) {
		add(b, ids[i], tokens[i], summaries[i]);
	}
	res = complete_jobs(cli, b, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(res);
	ASSERT_INT_EQ(res->completed, 3);
	ASSERT_STR_EQ(res->results[0]->job->completion_summary, summaries[0]);
	/* Control characters become spaces (as CompleteJob does). */
	ASSERT_STR_EQ(res->results[2]->job->completion_summary, "tab here");
	protobuf_c_message_free_unpacked(&res->base, NULL);
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM events WHERE job_id = "
	                       "'%s' AND payload->>'summary' = "
	                       "'said \"done\", path C:\\notes\\{1}'",
	                  ids[0]),
	    1);
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM events WHERE job_id = "
	                       "'%s' AND event_type = 'succeeded' AND "
	                       "payload->'summary'->>'written' = '2' AND "
	                       "payload::text NOT LIKE '%%s3cr3t%%'",
	                  ids[1]),
	    1);
	free_all(ids, 3);
	free_all(tokens, 3);
	free(b);
}

static void
test_a_batch_of_none_or_over_1000_is_refused_whole(void)
{
	char                             *ids[2], *tokens[2];
	struct batch                     *b = calloc(1, sizeof(*b));
	struct opsbus_status              st;
	Opsbus__V1__CompleteJobsResponse *res;

	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	make_claimed("cj-limit", 2, ids, tokens);
	res = complete_jobs(cli, b, &st);
	CU_ASSERT_PTR_NULL(res);
	ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
	/* 1001 items, the first two good: nothing completes. */
	add(b, ids[0], tokens[0], "");
	add(b, ids[1], tokens[1], "");
	while (b->n < 1001) {
		add(b, ids[0], tokens[0], "");
	}
	res = complete_jobs(cli, b, &st);
	CU_ASSERT_PTR_NULL(res);
	ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
	CU_ASSERT_PTR_NOT_NULL(strstr(st.message, "1001"));
	ASSERT_STATUS(ids[0], "in_progress");
	ASSERT_STATUS(ids[1], "in_progress");
	/* 1000 is the limit: the two complete, the rest are refused. */
	b->n = 1000;
	res = complete_jobs(cli, b, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(res);
	ASSERT_INT_EQ(res->n_results, 1000);
	ASSERT_INT_EQ(res->completed, 2);
	ASSERT_STR_EQ(res->results[999]->error_code, "VALIDATION_ERROR");
	protobuf_c_message_free_unpacked(&res->base, NULL);
	free_all(ids, 2);
	free_all(tokens, 2);
	free(b);
}

static void
test_a_resend_with_the_same_request_id_completes_nothing_twice(void)
{
	char                           *ids[3], *tokens[3];
	struct batch                   *b = calloc(1, sizeof(*b));
	Opsbus__V1__CompleteJobsRequest req
	    = OPSBUS__V1__COMPLETE_JOBS_REQUEST__INIT;
	struct rawcall                    rc = {0};
	uint8_t                          *body;
	Opsbus__V1__RpcResponse          *r1, *r2;
	Opsbus__V1__CompleteJobsResponse *res;

	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	make_claimed("cj-resend", 3, ids, tokens);
	for (int i = 0; i < 3; i++) {
		add(b, ids[i], tokens[i], "once");
	}
	req.completions = b->ptrs;
	req.n_completions = b->n;
	rc.method = "opsbus.v1.JobService/CompleteJobs";
	rc.body_len = rawcall_pack_message(&req.base, &body);
	rc.body = body;
	rc.api_key = srv.api_key;
	rc.request_id = "cj-resend-0001";
	r1 = rawcall_send(cli, &rc);
	r2 = rawcall_send(cli, &rc);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r2);
	ASSERT_INT_EQ(r1->code, 0);
	ASSERT_INT_EQ(r2->code, 0);
	/* The resend gets the first answer (all completed), not LEASE_LOST. */
	CU_ASSERT_EQUAL_FATAL(r1->body.len, r2->body.len);
	CU_ASSERT_EQUAL(memcmp(r1->body.data, r2->body.data, r1->body.len), 0);
	res = opsbus__v1__complete_jobs_response__unpack(
	    NULL, r2->body.len, r2->body.data);
	CU_ASSERT_PTR_NOT_NULL_FATAL(res);
	ASSERT_INT_EQ(res->completed, 3);
	opsbus__v1__complete_jobs_response__free_unpacked(res, NULL);
	for (int i = 0; i < 3; i++) {
		ASSERT_INT_EQ(ou_count("SELECT count(*) FROM events WHERE "
		                       "job_id = '%s' AND event_type = "
		                       "'succeeded'",
		                  ids[i]),
		    1);
	}
	/* A new request id is a new call: now every item is LEASE_LOST. */
	rc.request_id = "cj-resend-0002";
	opsbus__v1__rpc_response__free_unpacked(r2, NULL);
	r2 = rawcall_send(cli, &rc);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r2);
	res = opsbus__v1__complete_jobs_response__unpack(
	    NULL, r2->body.len, r2->body.data);
	CU_ASSERT_PTR_NOT_NULL_FATAL(res);
	ASSERT_INT_EQ(res->completed, 0);
	ASSERT_STR_EQ(res->results[2]->error_code, "LEASE_LOST");
	opsbus__v1__complete_jobs_response__free_unpacked(res, NULL);
	opsbus__v1__rpc_response__free_unpacked(r1, NULL);
	opsbus__v1__rpc_response__free_unpacked(r2, NULL);
	free(body);
	free_all(ids, 3);
	free_all(tokens, 3);
	free(b);
}

static void
test_another_tenants_jobs_are_not_found(void)
{
	char                             *ids[1], *tokens[1];
	struct batch                     *b = calloc(1, sizeof(*b));
	struct opsbus_status              st;
	Opsbus__V1__CreateApiKeyRequest   kr;
	Opsbus__V1__CreateApiKeyResponse *k = NULL;
	Opsbus__V1__CompleteJobsResponse *res;
	struct opsbus_client             *other;

	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	make_claimed("cj-tenant", 1, ids, tokens);
	opsbus__v1__create_api_key_request__init(&kr);
	kr.identity = PB("worker@other.example");
	kr.role = PB("worker");
	kr.tenant = PB("other");
	CU_ASSERT_EQUAL_FATAL(
	    ou_call(cli, "opsbus.v1.AdminService/CreateApiKey", &kr.base,
	        &opsbus__v1__create_api_key_response__descriptor, &k, NULL,
	        &st),
	    0);
	other = harness_client(&srv, k->secret);
	CU_ASSERT_PTR_NOT_NULL_FATAL(other);
	add(b, ids[0], tokens[0], "");
	res = complete_jobs(other, b, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(res);
	expect_refused(res->results[0], ids[0], "JOB_NOT_FOUND");
	protobuf_c_message_free_unpacked(&res->base, NULL);
	ASSERT_STATUS(ids[0], "in_progress");
	/* A viewer may not complete at all. */
	kr.identity = PB("viewer@example");
	kr.role = PB("viewer");
	kr.tenant = PB("");
	protobuf_c_message_free_unpacked(&k->base, NULL);
	CU_ASSERT_EQUAL_FATAL(
	    ou_call(cli, "opsbus.v1.AdminService/CreateApiKey", &kr.base,
	        &opsbus__v1__create_api_key_response__descriptor, &k, NULL,
	        &st),
	    0);
	opsbus_client_close(other);
	other = harness_client(&srv, k->secret);
	CU_ASSERT_PTR_NULL(complete_jobs(other, b, &st));
	ASSERT_STR_EQ(st.error_code, "PERMISSION_DENIED");
	ASSERT_STATUS(ids[0], "in_progress");
	protobuf_c_message_free_unpacked(&k->base, NULL);
	opsbus_client_close(other);
	free_all(ids, 1);
	free_all(tokens, 1);
	free(b);
}

static void
test_complete_job_alone_answers_as_before(void)
{
	char                *ids[1], *tokens[1];
	char                 unknown[37];
	struct opsbus_status st;

	make_claimed("cj-single", 1, ids, tokens);
	random_uuid(unknown);
	CU_ASSERT_EQUAL(ou_complete(cli, unknown, tokens[0], &st), -1);
	ASSERT_STR_EQ(st.error_code, "JOB_NOT_FOUND");
	CU_ASSERT_EQUAL(ou_complete(cli, "nope", tokens[0], &st), -1);
	ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
	CU_ASSERT_EQUAL(ou_complete(cli, ids[0], unknown, &st), -1);
	ASSERT_STR_EQ(st.error_code, "LEASE_LOST");
	CU_ASSERT_EQUAL(ou_complete(cli, ids[0], tokens[0], &st), 0);
	CU_ASSERT_EQUAL(ou_complete(cli, ids[0], tokens[0], &st), -1);
	ASSERT_STR_EQ(st.error_code, "LEASE_LOST");
	CU_ASSERT_PTR_NOT_NULL(strstr(st.message, "the job is succeeded"));
	free_all(ids, 1);
	free_all(tokens, 1);
}

#define RACERS         8
#define JOBS_PER_RACER 25

struct racer {
	struct opsbus_client *c;
	char                 *ids[JOBS_PER_RACER];
	char                 *tokens[JOBS_PER_RACER];
	atomic_int           *completed, *lost, *other;
};

/* Completes each job twice (the second is refused) and every third job
 * first with a stranger's token (refused too). */
static void *
racer_main(void *arg)
{
	struct racer        *r = arg;
	struct opsbus_status st;
	char                 stranger[37];

	random_uuid(stranger);
	for (int i = 0; i < JOBS_PER_RACER; i++) {
		for (int k = i % 3 == 0 ? 0 : 1; k < 3; k++) {
			const char *token = k == 0 ? stranger : r->tokens[i];

			if (ou_complete(r->c, r->ids[i], token, &st) == 0) {
				atomic_fetch_add(r->completed, 1);
			} else if (strcmp(st.error_code, "LEASE_LOST") == 0) {
				atomic_fetch_add(r->lost, 1);
			} else {
				fprintf(stderr, "racer: %s %s\n",
				    st.error_code, st.message);
				atomic_fetch_add(r->other, 1);
			}
		}
	}
	return (NULL);
}

static void
test_concurrent_complete_job_calls_each_get_their_own_answer(void)
{
	static struct racer r[RACERS];
	pthread_t           th[RACERS];
	atomic_int          completed = 0, lost = 0, other = 0;
	int                 stale = (JOBS_PER_RACER + 2) / 3;

	for (int t = 0; t < RACERS; t++) {
		make_claimed("cj-race", JOBS_PER_RACER, r[t].ids, r[t].tokens);
		r[t].c = harness_client(&srv, NULL);
		CU_ASSERT_PTR_NOT_NULL_FATAL(r[t].c);
		r[t].completed = &completed;
		r[t].lost = &lost;
		r[t].other = &other;
	}
	for (int t = 0; t < RACERS; t++) {
		pthread_create(&th[t], NULL, racer_main, &r[t]);
	}
	for (int t = 0; t < RACERS; t++) {
		pthread_join(th[t], NULL);
	}
	ASSERT_INT_EQ(atomic_load(&completed), RACERS * JOBS_PER_RACER);
	ASSERT_INT_EQ(atomic_load(&lost), RACERS * (JOBS_PER_RACER + stale));
	ASSERT_INT_EQ(atomic_load(&other), 0);
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM jobs WHERE queue = "
	                       "'cj-race' AND status = 'succeeded'"),
	    RACERS * JOBS_PER_RACER);
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM events e JOIN jobs j ON "
	                       "j.id = e.job_id WHERE j.queue = 'cj-race' AND "
	                       "e.event_type = 'succeeded'"),
	    RACERS * JOBS_PER_RACER);
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM job_attempts a JOIN jobs "
	                       "j ON j.id = a.job_id WHERE j.queue = "
	                       "'cj-race' AND a.to_status = 'succeeded'"),
	    RACERS * JOBS_PER_RACER);
	for (int t = 0; t < RACERS; t++) {
		opsbus_client_close(r[t].c);
		free_all(r[t].ids, JOBS_PER_RACER);
		free_all(r[t].tokens, JOBS_PER_RACER);
	}
}

static const struct harness_case cases[] = {
    {"each item of a batch has its own outcome",
        test_each_item_of_a_batch_has_its_own_outcome},
    {"summaries reach the jobs and events intact",
        test_summaries_reach_the_jobs_and_events_intact},
    {"a batch of none or of over 1000 items is refused whole",
        test_a_batch_of_none_or_over_1000_is_refused_whole},
    {"a resend with the same request id completes nothing twice",
        test_a_resend_with_the_same_request_id_completes_nothing_twice},
    {"another tenant's jobs are not found, and viewers may not complete",
        test_another_tenants_jobs_are_not_found},
    {"CompleteJob alone answers as before",
        test_complete_job_alone_answers_as_before},
    {"concurrent CompleteJob calls each get their own answer",
        test_concurrent_complete_job_calls_each_get_their_own_answer},
    {NULL, NULL},
};

int
main(void)
{
	return (
	    harness_run("complete_jobs", cases, suite_init, suite_cleanup));
}
