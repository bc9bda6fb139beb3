/*
 * ClaimJobs under concurrency, on a real PostgreSQL and opsbusd: calls that
 * arrive together are served by one statement in one transaction (group
 * commit), and each still gets its own jobs, at most its max, under its
 * own worker id, with one attempt row and one 'claimed' event per job;
 * claims of two queues in one burst never mix; a resent claim is answered
 * from its stored reply and takes nothing more.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "opsbus/v1/job.pb-c.h"
#include "opsutil.h"
#include "rawcall.h"

#define PB(s) ((char *) (uintptr_t) (s))

#define CLAIMERS 12
#define JOBS_A   300
#define JOBS_B   100
#define MAX_HELD (JOBS_A + JOBS_B)

HARNESS_SUITE;

struct claimer {
	pthread_t   thread;
	const char *queue;
	int         max;
	char        worker[32];
	int         n;
	char        ids[MAX_HELD][37];
	int         errors;
	int         over;
};

static void *
claimer_main(void *arg)
{
	struct claimer       *c = arg;
	struct opsbus_client *own = harness_client(&srv, NULL);
	int                   empty = 0;

	while (own != NULL && empty < 3) {
		Opsbus__V1__ClaimJobsRequest   req;
		Opsbus__V1__ClaimJobsResponse *res = NULL;
		struct opsbus_status           st;

		opsbus__v1__claim_jobs_request__init(&req);
		req.queue = PB(c->queue);
		req.worker_id = c->worker;
		req.max_value_case
		    = OPSBUS__V1__CLAIM_JOBS_REQUEST__MAX_VALUE_MAX;
		req.max = c->max;
		if (ou_call(own, "opsbus.v1.JobService/ClaimJobs", &req.base,
		        &opsbus__v1__claim_jobs_response__descriptor, &res,
		        NULL, &st)
		    != 0) {
			fprintf(stderr, "claim: %s %s\n", st.error_code,
			    st.message);
			c->errors++;
			break;
		}
		empty = res->n_jobs == 0 ? empty + 1 : 0;
		c->over += res->n_jobs > (size_t) c->max;
		for (size_t i = 0; i < res->n_jobs && c->n < MAX_HELD; i++) {
			const Opsbus__V1__ClaimedJob *j = res->jobs[i];

			if (strcmp(j->job->queue, c->queue) != 0
			    || strcmp(j->job->lease_owner, c->worker) != 0
			    || strcmp(j->job->status, "in_progress") != 0
			    || strlen(j->lease_token) != 36) {
				c->errors++;
			}
			snprintf(c->ids[c->n++], 37, "%s", j->job->id);
		}
		protobuf_c_message_free_unpacked(&res->base, NULL);
	}
	opsbus_client_close(own);
	return (NULL);
}

static int
cmp_id(const void *a, const void *b)
{
	return (strcmp(a, b));
}

static void
seed(const char *queue, int n)
{
	char *v = harness_sql(NULL,
	    "INSERT INTO jobs (id, tenant, queue, status, max_attempts) "
	    "SELECT gen_random_uuid(), 'default', '%s', 'queued', 3 FROM "
	    "generate_series(1, %d)",
	    queue, n);

	CU_ASSERT_PTR_NOT_NULL(v);
	free(v);
}

static void
test_concurrent_claims_share_out_the_jobs_each_its_own(void)
{
	static struct claimer c[CLAIMERS];
	static char           all[MAX_HELD * 2][37];
	const int             maxes[] = {1, 3, 7, 100};
	int                   n = 0, got_a = 0, got_b = 0;

	seed("cg-a", JOBS_A);
	seed("cg-b", JOBS_B);
	memset(c, 0, sizeof(c));
	for (int i = 0; i < CLAIMERS; i++) {
		c[i].queue = i % 3 == 2 ? "cg-b" : "cg-a";
		c[i].max = maxes[i % 4];
		snprintf(c[i].worker, sizeof(c[i].worker), "cg-w%d", i);
		pthread_create(&c[i].thread, NULL, claimer_main, &c[i]);
	}
	for (int i = 0; i < CLAIMERS; i++) {
		pthread_join(c[i].thread, NULL);
		ASSERT_INT_EQ(c[i].errors, 0);
		ASSERT_INT_EQ(c[i].over, 0);
		for (int k = 0; k < c[i].n && n < MAX_HELD * 2; k++) {
			memcpy(all[n++], c[i].ids[k], 37);
		}
		if (strcmp(c[i].queue, "cg-a") == 0) {
			got_a += c[i].n;
		} else {
			got_b += c[i].n;
		}
	}
	ASSERT_INT_EQ(got_a, JOBS_A);
	ASSERT_INT_EQ(got_b, JOBS_B);
	qsort(all, (size_t) n, 37, cmp_id);
	for (int i = 1; i < n; i++) {
		CU_ASSERT_NOT_EQUAL(strcmp(all[i - 1], all[i]), 0);
	}
	/* Each job claimed once: one attempt, its ledger row and its event
	 * naming the worker that holds it. */
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM jobs WHERE queue IN "
	                       "('cg-a', 'cg-b') AND status = 'in_progress' "
	                       "AND attempts = 1 AND lease_token IS NOT NULL "
	                       "AND lease_expires_at > now()"),
	    JOBS_A + JOBS_B);
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM jobs j JOIN job_attempts "
	                       "a ON a.job_id = j.id AND a.attempt = 1 AND "
	                       "a.worker_id = j.lease_owner WHERE j.queue IN "
	                       "('cg-a', 'cg-b')"),
	    JOBS_A + JOBS_B);
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM jobs j JOIN events e ON "
	                       "e.job_id = j.id AND e.event_type = 'claimed' "
	                       "AND e.actor = j.lease_owner AND e.topic = "
	                       "'job.claimed.' || j.queue WHERE j.queue IN "
	                       "('cg-a', 'cg-b')"),
	    JOBS_A + JOBS_B);
}

static void
test_a_resent_claim_gets_its_stored_answer_and_takes_nothing_more(void)
{
	Opsbus__V1__ClaimJobsRequest req
	    = OPSBUS__V1__CLAIM_JOBS_REQUEST__INIT;
	Opsbus__V1__ClaimJobsResponse *res;

	seed("cg-resend", 10);
	req.queue = PB("cg-resend");
	req.worker_id = PB("cg-resender");
	req.max_value_case = OPSBUS__V1__CLAIM_JOBS_REQUEST__MAX_VALUE_MAX;
	req.max = 4;
	res = (Opsbus__V1__ClaimJobsResponse *) rawcall_resend(cli,
	    srv.api_key, "opsbus.v1.JobService/ClaimJobs", &req.base,
	    "cg-resend-0001", &opsbus__v1__claim_jobs_response__descriptor);
	CU_ASSERT_PTR_NOT_NULL_FATAL(res);
	ASSERT_INT_EQ(res->n_jobs, 4);
	opsbus__v1__claim_jobs_response__free_unpacked(res, NULL);
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM jobs WHERE queue = "
	                       "'cg-resend' AND status = 'in_progress'"),
	    4);
}

static const struct harness_case cases[] = {
    {"concurrent claims share out the jobs, each its own",
        test_concurrent_claims_share_out_the_jobs_each_its_own},
    {"a resent claim gets its stored answer and takes nothing more",
        test_a_resent_claim_gets_its_stored_answer_and_takes_nothing_more},
    {NULL, NULL},
};

int
main(void)
{
	return (harness_run("claim_groups", cases, suite_init, suite_cleanup));
}
