/*
 * The job lifecycle over the real wire, on a real PostgreSQL and opsbusd:
 * claims under leases, heartbeats, retries with backoff, dead letters, the
 * attempt ledger and the timeline, queues (policy, pause, depth), the
 * rescuer racing workers, the libopsbus worker loop and `opsbus work` run
 * as a process (killed, stopped, cancelled), and bad input.
 *
 * The server runs with OPSBUS_RESCUE_INTERVAL_MS=100 so that expired
 * leases (1000 ms at least) are rescued quickly.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "opsbus/v1/job.pb-c.h"
#include "opsbus/v1/queue.pb-c.h"
#include "worker.h"

#define PB(s) ((char *) (uintptr_t) (s))

static struct harness_server srv;
static struct opsbus_client *cli;

static int
suite_init(void)
{
	setenv("OPSBUS_RESCUE_INTERVAL_MS", "100", 1);
	return (harness_suite_open(&srv, &cli));
}

static int
suite_cleanup(void)
{
	return (harness_suite_close(&srv, cli));
}

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static void
nap(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* The first value of a query, as text (valid for the next 7 calls). */
static const char *sql(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static const char *
sql(const char *fmt, ...)
{
	static char *ring[8];
	static int   next;
	char         q[8192];
	va_list      ap;

	va_start(ap, fmt);
	vsnprintf(q, sizeof(q), fmt, ap);
	va_end(ap);
	next = (next + 1) % 8;
	free(ring[next]);
	ring[next] = harness_sql(NULL, "%s", q);
	return (ring[next] != NULL ? ring[next] : "<error>");
}

static long sql_long(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static long
sql_long(const char *fmt, ...)
{
	char    q[8192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q, sizeof(q), fmt, ap);
	va_end(ap);
	return (atol(sql("%s", q)));
}

/* Waits up to ms for a query's first value to equal want. */
static bool sql_wait(long ms, const char *want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool
sql_wait(long ms, const char *want, const char *fmt, ...)
{
	char    q[8192];
	va_list ap;
	long    end = now_ms() + ms;

	va_start(ap, fmt);
	vsnprintf(q, sizeof(q), fmt, ap);
	va_end(ap);
	do {
		if (strcmp(sql("%s", q), want) == 0) {
			return (true);
		}
		nap(20);
	} while (now_ms() < end);
	fprintf(stderr, "waited %ld ms for \"%s\" from %s; last \"%s\"\n", ms,
	    want, q, sql("%s", q));
	return (false);
}

static int
call(const char *method, const ProtobufCMessage *in,
    const ProtobufCMessageDescriptor *od, ProtobufCMessage **out,
    struct opsbus_status *st)
{
	return (opsbus_call(cli, method, in, od, out, NULL, st));
}

/* Expects a call to fail with code and error_code. */
#define EXPECT_ERR(rv, st, want_code, want_name)             \
	do {                                                 \
		ASSERT_INT_EQ((rv), -1);                     \
		ASSERT_INT_EQ((st).code, (want_code));       \
		ASSERT_STR_EQ((st).error_code, (want_name)); \
	} while (0)

static void
create_job(
    const char *queue, const char *payload, int max_attempts, char id[37])
{
	Opsbus__V1__CreateJobRequest req
	    = OPSBUS__V1__CREATE_JOB_REQUEST__INIT;
	ProtobufCMessage    *out = NULL;
	struct opsbus_status st;

	req.queue = PB(queue);
	req.kind = PB("note.writeback");
	req.target = PB("ehr-a");
	req.subject = PB("note-1");
	req.payload = PB(payload != NULL ? payload : "{}");
	req.max_attempts = max_attempts;
	if (call("opsbus.v1.JobService/CreateJob", &req.base,
	        &opsbus__v1__create_job_response__descriptor, &out, &st)
	    != 0) {
		fprintf(stderr, "create: %s %s\n", st.error_code, st.message);
		CU_FAIL_FATAL("CreateJob failed");
	}
	snprintf(
	    id, 37, "%s", ((Opsbus__V1__CreateJobResponse *) out)->job->id);
	protobuf_c_message_free_unpacked(out, NULL);
}

/* ClaimJobs; returns the response (free it) or NULL with st filled. */
static Opsbus__V1__ClaimJobsResponse *
claim_on(struct opsbus_client *c, const char *queue, const char *worker,
    int max, int lease_ms, int wait_ms, struct opsbus_status *st)
{
	Opsbus__V1__ClaimJobsRequest req
	    = OPSBUS__V1__CLAIM_JOBS_REQUEST__INIT;
	ProtobufCMessage *out = NULL;

	req.queue = PB(queue);
	req.worker_id = PB(worker);
	if (max != 0) {
		req.max_value_case
		    = OPSBUS__V1__CLAIM_JOBS_REQUEST__MAX_VALUE_MAX;
		req.max = max;
	}
	req.lease_ms = lease_ms;
	req.wait_ms = wait_ms;
	if (opsbus_call(c, "opsbus.v1.JobService/ClaimJobs", &req.base,
	        &opsbus__v1__claim_jobs_response__descriptor, &out, NULL, st)
	    != 0) {
		return (NULL);
	}
	return ((Opsbus__V1__ClaimJobsResponse *) out);
}

static Opsbus__V1__ClaimJobsResponse *
claim(const char *queue, const char *worker, int max, int lease_ms,
    struct opsbus_status *st)
{
	return (claim_on(cli, queue, worker, max, lease_ms, 0, st));
}

/* Claims exactly one job of queue; writes its id and token. */
static void
claim_one(const char *queue, const char *worker, int lease_ms, char id[37],
    char token[37])
{
	struct opsbus_status           st;
	Opsbus__V1__ClaimJobsResponse *r
	    = claim(queue, worker, 1, lease_ms, &st);

	if (r == NULL) {
		fprintf(stderr, "claim: %s %s\n", st.error_code, st.message);
	}
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	ASSERT_INT_EQ(r->n_jobs, 1);
	CU_ASSERT_FATAL(r->n_jobs == 1);
	snprintf(id, 37, "%s", r->jobs[0]->job->id);
	snprintf(token, 37, "%s", r->jobs[0]->lease_token);
	protobuf_c_message_free_unpacked(&r->base, NULL);
}

static int
complete_on(struct opsbus_client *c, const char *id, const char *token,
    const char *summary, struct opsbus_status *st)
{
	Opsbus__V1__CompleteJobRequest req
	    = OPSBUS__V1__COMPLETE_JOB_REQUEST__INIT;
	ProtobufCMessage *out = NULL;
	int               rv;

	req.job_id = PB(id);
	req.lease_token = PB(token);
	req.summary = PB(summary);
	rv = opsbus_call(c, "opsbus.v1.JobService/CompleteJob", &req.base,
	    &opsbus__v1__complete_job_response__descriptor, &out, NULL, st);
	if (rv == 0) {
		protobuf_c_message_free_unpacked(out, NULL);
	}
	return (rv);
}

static int
complete(const char *id, const char *token, struct opsbus_status *st)
{
	return (complete_on(cli, id, token, "done", st));
}

static int
fail_job(const char *id, const char *token, const char *reason, bool retryable,
    struct opsbus_status *st)
{
	Opsbus__V1__FailJobRequest req = OPSBUS__V1__FAIL_JOB_REQUEST__INIT;
	ProtobufCMessage          *out = NULL;
	int                        rv;

	req.job_id = PB(id);
	req.lease_token = PB(token);
	req.reason_code = PB(reason);
	req.error = PB("EHR answered 503\nretry later\t ");
	req.error_detail = PB("RAW-DETAIL stack trace patient=Sam Lee");
	req.retryable = retryable;
	req.stage = PB("writeback");
	rv = call("opsbus.v1.JobService/FailJob", &req.base,
	    &opsbus__v1__fail_job_response__descriptor, &out, st);
	if (rv == 0) {
		protobuf_c_message_free_unpacked(out, NULL);
	}
	return (rv);
}

static int
heartbeat(const char *id, const char *token, int extend_ms,
    Opsbus__V1__HeartbeatResponse **res, struct opsbus_status *st)
{
	Opsbus__V1__HeartbeatRequest req = OPSBUS__V1__HEARTBEAT_REQUEST__INIT;

	req.job_id = PB(id);
	req.lease_token = PB(token);
	req.extend_ms = extend_ms;
	return (call("opsbus.v1.JobService/Heartbeat", &req.base,
	    &opsbus__v1__heartbeat_response__descriptor,
	    (ProtobufCMessage **) res, st));
}

/* UpdateQueue with the fields >= 0 (factor > 0). */
static void
set_policy(const char *queue, int max_attempts, int base, double factor,
    int cap, int lease)
{
	Opsbus__V1__UpdateQueueRequest req
	    = OPSBUS__V1__UPDATE_QUEUE_REQUEST__INIT;
	ProtobufCMessage    *out = NULL;
	struct opsbus_status st;

	req.name = PB(queue);
	if (max_attempts >= 0) {
		req.max_attempts_value_case
		    = OPSBUS__V1__UPDATE_QUEUE_REQUEST__MAX_ATTEMPTS_VALUE_MAX_ATTEMPTS;
		req.max_attempts = max_attempts;
	}
	if (base >= 0) {
		req.backoff_base_ms_value_case
		    = OPSBUS__V1__UPDATE_QUEUE_REQUEST__BACKOFF_BASE_MS_VALUE_BACKOFF_BASE_MS;
		req.backoff_base_ms = base;
	}
	if (factor > 0) {
		req.backoff_factor_value_case
		    = OPSBUS__V1__UPDATE_QUEUE_REQUEST__BACKOFF_FACTOR_VALUE_BACKOFF_FACTOR;
		req.backoff_factor = factor;
	}
	if (cap >= 0) {
		req.backoff_cap_ms_value_case
		    = OPSBUS__V1__UPDATE_QUEUE_REQUEST__BACKOFF_CAP_MS_VALUE_BACKOFF_CAP_MS;
		req.backoff_cap_ms = cap;
	}
	if (lease >= 0) {
		req.lease_ms_value_case
		    = OPSBUS__V1__UPDATE_QUEUE_REQUEST__LEASE_MS_VALUE_LEASE_MS;
		req.lease_ms = lease;
	}
	if (call("opsbus.v1.QueueService/UpdateQueue", &req.base,
	        &opsbus__v1__update_queue_response__descriptor, &out, &st)
	    != 0) {
		fprintf(stderr, "update queue: %s %s\n", st.error_code,
		    st.message);
		CU_FAIL_FATAL("UpdateQueue failed");
	}
	protobuf_c_message_free_unpacked(out, NULL);
}

static Opsbus__V1__GetJobResponse *
get_job(const char *id, bool history)
{
	Opsbus__V1__GetJobRequest req = OPSBUS__V1__GET_JOB_REQUEST__INIT;
	ProtobufCMessage         *out = NULL;
	struct opsbus_status      st;

	req.id = PB(id);
	req.include_attempts = history;
	req.include_timeline = history;
	if (call("opsbus.v1.JobService/GetJob", &req.base,
	        &opsbus__v1__get_job_response__descriptor, &out, &st)
	    != 0) {
		fprintf(stderr, "get: %s %s\n", st.error_code, st.message);
		return (NULL);
	}
	return ((Opsbus__V1__GetJobResponse *) out);
}

static const char *
job_status(const char *id)
{
	return (sql("SELECT status FROM jobs WHERE id = '%s'", id));
}

/* ---------------------------------------------------------------- */

static void
test_a_claim_gives_a_fresh_lease_and_opens_an_attempt(void)
{
	struct opsbus_status           st;
	char                           id[37];
	Opsbus__V1__ClaimJobsResponse *r;

	create_job("lc-claim", "{\"n\":1}", 0, id);
	r = claim("lc-claim", "w-claim", 5, 0, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	ASSERT_INT_EQ(r->n_jobs, 1);
	CU_ASSERT_FATAL(r->n_jobs == 1);
	ASSERT_STR_EQ(r->jobs[0]->job->id, id);
	ASSERT_STR_EQ(r->jobs[0]->job->status, "in_progress");
	ASSERT_STR_EQ(r->jobs[0]->job->lease_owner, "w-claim");
	ASSERT_INT_EQ(r->jobs[0]->job->attempts, 1);
	/* An unconfigured queue: the default lease. */
	ASSERT_INT_EQ(r->jobs[0]->lease_ms, 30000);
	ASSERT_INT_EQ(strlen(r->jobs[0]->lease_token), 36);
	ASSERT_STR_EQ(
	    sql("SELECT lease_token::text FROM jobs WHERE id = '%s'", id),
	    r->jobs[0]->lease_token);
	ASSERT_STR_EQ(sql("SELECT worker_id || ' ' || from_status || ' ' || "
	                  "(ended_at IS NULL) FROM job_attempts WHERE "
	                  "job_id = '%s' AND attempt = 1",
	                  id),
	    "w-claim queued true");
	ASSERT_STR_EQ(sql("SELECT actor || ' ' || topic FROM events WHERE "
	                  "job_id = '%s' AND event_type = 'claimed'",
	                  id),
	    "w-claim job.claimed.lc-claim");
	char token[37];
	snprintf(token, sizeof(token), "%s", r->jobs[0]->lease_token);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	/* Nothing else is ready. */
	r = claim("lc-claim", "w-claim", 5, 0, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	ASSERT_INT_EQ(r->n_jobs, 0);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	ASSERT_INT_EQ(complete(id, token, &st), 0);
}

static void
test_a_job_retried_n_times_ends_dead_failed_with_n_attempts(void)
{
	struct opsbus_status        st;
	char                        id[37], cid[37], token[37];
	Opsbus__V1__GetJobResponse *g;

	set_policy("lc-retry", -1, 0, -1, -1, -1);
	create_job("lc-retry", "{\"patient\":{\"name\":\"Sam Lee\"}}", 3, id);
	for (int i = 1; i <= 3; i++) {
		claim_one("lc-retry", "w-retry", 0, cid, token);
		ASSERT_STR_EQ(cid, id);
		ASSERT_INT_EQ(
		    fail_job(id, token, "ehr_timeout", true, &st), 0);
		ASSERT_STR_EQ(job_status(id),
		    i < 3 ? "retryable_failed" : "dead_failed");
	}
	g = get_job(id, true);
	CU_ASSERT_PTR_NOT_NULL_FATAL(g);
	ASSERT_STR_EQ(g->job->status, "dead_failed");
	ASSERT_STR_EQ(g->job->operator_status, "open");
	ASSERT_INT_EQ(g->job->attempts, 3);
	ASSERT_STR_EQ(g->job->reason_code, "EHR_TIMEOUT");
	ASSERT_STR_EQ(g->job->last_error, "EHR answered 503 retry later");
	CU_ASSERT_TRUE(g->job->replay_eligible);
	CU_ASSERT_TRUE(g->job->final_state_at[0] != '\0');
	ASSERT_STR_EQ(g->job->lease_owner, "");
	ASSERT_INT_EQ(g->n_attempts, 3);
	for (size_t i = 0; i < g->n_attempts && i < 3; i++) {
		const Opsbus__V1__Attempt *a = g->attempts[i];
		ASSERT_INT_EQ(a->attempt, (int) i + 1);
		ASSERT_STR_EQ(a->worker_id, "w-retry");
		ASSERT_STR_EQ(
		    a->from_status, i == 0 ? "queued" : "retryable_failed");
		ASSERT_STR_EQ(
		    a->to_status, i < 2 ? "retryable_failed" : "dead_failed");
		ASSERT_STR_EQ(a->reason_code, "EHR_TIMEOUT");
		ASSERT_STR_EQ(a->stage, "writeback");
		CU_ASSERT_TRUE(a->retryable);
		CU_ASSERT_TRUE(a->ended_at[0] != '\0');
	}
	/* created, then claimed/retry_scheduled twice, claimed, dead_failed.
	 */
	static const char *const types[]
	    = {"created", "claimed", "retry_scheduled", "claimed",
	        "retry_scheduled", "claimed", "dead_failed"};
	ASSERT_INT_EQ(g->n_timeline, 7);
	for (size_t i = 0; i < g->n_timeline && i < 7; i++) {
		ASSERT_STR_EQ(g->timeline[i]->event_type, types[i]);
		/* The raw detail and the payload's personal data never show.
		 */
		CU_ASSERT_PTR_NULL(
		    strstr(g->timeline[i]->payload, "RAW-DETAIL"));
		CU_ASSERT_PTR_NULL(strstr(g->timeline[i]->payload, "Sam Lee"));
	}
	for (size_t i = 0; i < g->n_attempts; i++) {
		CU_ASSERT_PTR_NULL(
		    strstr(g->attempts[i]->error, "RAW-DETAIL"));
	}
	ASSERT_STR_EQ(g->timeline[6]->actor, "w-retry");
	protobuf_c_message_free_unpacked(&g->base, NULL);
	/* The dead-letter envelope of seed 002. */
	ASSERT_STR_EQ(
	    sql("SELECT concat_ws(' ', payload #>> "
	        "'{original_event,job_id}', payload #>> "
	        "'{original_event,queue}', payload #>> "
	        "'{original_event,kind}', payload #>> '{error,type}', "
	        "payload #>> '{error,stage}', payload ->> 'attempts', "
	        "payload ? 'failed_at', topic) FROM events WHERE "
	        "job_id = '%s' AND event_type = 'dead_failed'",
	        id),
	    sql("SELECT '%s lc-retry note.writeback EHR_TIMEOUT writeback 3 "
	        "t job.dead_failed.lc-retry'",
	        id));
	/* The raw detail is stored, for engineers. */
	ASSERT_INT_EQ(sql_long("SELECT count(*) FROM job_attempts WHERE "
	                       "job_id = '%s' AND error_detail LIKE "
	                       "'RAW-DETAIL%%'",
	                  id),
	    3);
	ASSERT_STR_EQ(sql("SELECT left(last_error_detail, 10) FROM jobs "
	                  "WHERE id = '%s'",
	                  id),
	    "RAW-DETAIL");
	/* A dead letter is terminal: nothing claims it again. */
	Opsbus__V1__ClaimJobsResponse *r = claim("lc-retry", "w", 5, 0, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	ASSERT_INT_EQ(r->n_jobs, 0);
	protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void
test_a_non_retryable_failure_dead_letters_at_once(void)
{
	Opsbus__V1__FailJobRequest req = OPSBUS__V1__FAIL_JOB_REQUEST__INIT;
	ProtobufCMessage          *out = NULL;
	struct opsbus_status       st;
	char                       id[37], cid[37], token[37];

	create_job("lc-final", NULL, 5, id);
	claim_one("lc-final", "w-final", 0, cid, token);
	/* The legacy field name of seed 001. */
	req.job_id = PB(id);
	req.lease_token = PB(token);
	req.code = PB("invalid_note");
	req.error = PB("the note has no body");
	req.retryable = false;
	req.failure_category = PB("validation");
	ASSERT_INT_EQ(
	    call("opsbus.v1.JobService/FailJob", &req.base,
	        &opsbus__v1__fail_job_response__descriptor, &out, &st),
	    0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	Opsbus__V1__Job *j = ((Opsbus__V1__FailJobResponse *) out)->job;
	ASSERT_STR_EQ(j->status, "dead_failed");
	ASSERT_INT_EQ(j->attempts, 1);
	ASSERT_STR_EQ(j->reason_code, "INVALID_NOTE");
	ASSERT_STR_EQ(j->failure_category, "validation");
	ASSERT_STR_EQ(j->operator_status, "open");
	CU_ASSERT_FALSE(j->replay_eligible);
	protobuf_c_message_free_unpacked(out, NULL);
}

static void
test_a_stale_lease_token_changes_nothing(void)
{
	struct opsbus_status           st;
	char                           id[37], cid[37], old[37], cur[37];
	char                           before[256], events[32];
	Opsbus__V1__HeartbeatResponse *hb = NULL;

	set_policy("lc-stale", -1, 0, -1, -1, -1);
	create_job("lc-stale", NULL, 5, id);
	claim_one("lc-stale", "w-old", 0, cid, old);
	ASSERT_INT_EQ(fail_job(id, old, "X", true, &st), 0);
	claim_one("lc-stale", "w-new", 0, cid, cur);
	ASSERT_STR_EQ(cid, id);
	snprintf(before, sizeof(before), "%s",
	    sql("SELECT concat_ws(' ', status, attempts, lease_token, "
	        "updated_at, lease_expires_at) FROM jobs WHERE id = '%s'",
	        id));
	snprintf(events, sizeof(events), "%s",
	    sql("SELECT count(*) FROM events WHERE job_id = '%s'", id));

	EXPECT_ERR(complete(id, old, &st), st, 9, "LEASE_LOST");
	EXPECT_ERR(fail_job(id, old, "X", true, &st), st, 9, "LEASE_LOST");
	EXPECT_ERR(heartbeat(id, old, 0, &hb, &st), st, 9, "LEASE_LOST");
	ASSERT_STR_EQ(sql("SELECT concat_ws(' ', status, attempts, "
	                  "lease_token, updated_at, lease_expires_at) FROM "
	                  "jobs WHERE id = '%s'",
	                  id),
	    before);
	ASSERT_STR_EQ(
	    sql("SELECT count(*) FROM events WHERE job_id = '%s'", id),
	    events);
	/* The current holder finishes; then its token is stale too. */
	ASSERT_INT_EQ(complete(id, cur, &st), 0);
	EXPECT_ERR(complete(id, cur, &st), st, 9, "LEASE_LOST");
	ASSERT_STR_EQ(job_status(id), "succeeded");
	ASSERT_STR_EQ(sql("SELECT string_agg(to_status, ',' ORDER BY attempt) "
	                  "FROM job_attempts WHERE job_id = '%s'",
	                  id),
	    "retryable_failed,succeeded");
}

static void
test_a_heartbeat_extends_the_lease_and_reports_a_cancel(void)
{
	struct opsbus_status           st;
	char                           id[37], cid[37], token[37];
	Opsbus__V1__HeartbeatResponse *hb = NULL;
	long                           before, after;

	create_job("lc-beat", NULL, 0, id);
	claim_one("lc-beat", "w-beat", 5000, cid, token);
	before
	    = sql_long("SELECT extract(epoch FROM lease_expires_at - now()) "
	               "* 1000 FROM jobs WHERE id = '%s'",
	        id);
	CU_ASSERT_TRUE(before > 3000 && before <= 5000);
	ASSERT_INT_EQ(heartbeat(id, token, 60000, &hb, &st), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(hb);
	CU_ASSERT_FALSE(hb->cancel_requested);
	CU_ASSERT_TRUE(hb->lease_expires_at[0] != '\0');
	protobuf_c_message_free_unpacked(&hb->base, NULL);
	after = sql_long("SELECT extract(epoch FROM lease_expires_at - now()) "
	                 "* 1000 FROM jobs WHERE id = '%s'",
	    id);
	CU_ASSERT_TRUE(after > 55000 && after <= 60000);
	/* A heartbeat writes no event: it changes no state. */
	ASSERT_INT_EQ(sql_long("SELECT count(*) FROM events WHERE job_id = "
	                       "'%s'",
	                  id),
	    2);
	sql("UPDATE jobs SET cancel_requested_at = now() WHERE id = '%s'", id);
	hb = NULL;
	ASSERT_INT_EQ(heartbeat(id, token, 0, &hb, &st), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(hb);
	CU_ASSERT_TRUE(hb->cancel_requested);
	protobuf_c_message_free_unpacked(&hb->base, NULL);
	ASSERT_INT_EQ(complete(id, token, &st), 0);
}

static void
test_backoff_puts_run_at_within_the_bounds(void)
{
	struct opsbus_status st;
	char                 id[37], cid[37], token[37];
	long                 d1, d2;

	/* d = min(3000, 2000 * 2^(n-1)): [1000, 2000] then [1500, 3000]. */
	set_policy("lc-backoff", 10, 2000, 2.0, 3000, -1);
	create_job("lc-backoff", NULL, 0, id);
	ASSERT_STR_EQ(
	    sql("SELECT max_attempts FROM jobs WHERE id = '%s'", id), "10");
	claim_one("lc-backoff", "w", 0, cid, token);
	ASSERT_INT_EQ(fail_job(id, token, "X", true, &st), 0);
	d1 = sql_long("SELECT round(extract(epoch FROM run_at - updated_at) * "
	              "1000) FROM jobs WHERE id = '%s'",
	    id);
	CU_ASSERT_TRUE(d1 >= 1000 && d1 <= 2000);
	/* Not ready before run_at. */
	Opsbus__V1__ClaimJobsResponse *r = claim("lc-backoff", "w", 1, 0, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	ASSERT_INT_EQ(r->n_jobs, 0);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	sql("UPDATE jobs SET run_at = now() WHERE id = '%s'", id);
	claim_one("lc-backoff", "w", 0, cid, token);
	ASSERT_INT_EQ(fail_job(id, token, "X", true, &st), 0);
	d2 = sql_long("SELECT round(extract(epoch FROM run_at - updated_at) * "
	              "1000) FROM jobs WHERE id = '%s'",
	    id);
	CU_ASSERT_TRUE(d2 >= 1500 && d2 <= 3000);
	if (!(d1 >= 1000 && d1 <= 2000 && d2 >= 1500 && d2 <= 3000)) {
		fprintf(stderr, "backoff delays %ld, %ld\n", d1, d2);
	}
}

static void
test_a_paused_queue_hands_out_nothing(void)
{
	Opsbus__V1__PauseQueueRequest preq
	    = OPSBUS__V1__PAUSE_QUEUE_REQUEST__INIT;
	Opsbus__V1__ResumeQueueRequest rreq
	    = OPSBUS__V1__RESUME_QUEUE_REQUEST__INIT;
	ProtobufCMessage              *out = NULL;
	struct opsbus_status           st;
	char                           id[37], cid[37], token[37];
	Opsbus__V1__ClaimJobsResponse *r;
	long                           t0;

	preq.name = PB("lc-paused");
	preq.reason = PB("test");
	EXPECT_ERR(
	    call("opsbus.v1.QueueService/PauseQueue", &preq.base,
	        &opsbus__v1__pause_queue_response__descriptor, &out, &st),
	    st, 3, "VALIDATION_ERROR");
	ASSERT_STR_EQ(sql("SELECT outcome || ' ' || error_code FROM "
	                  "operator_audit_log WHERE action_type = "
	                  "'pause_queue' AND target = 'lc-paused'"),
	    "refused VALIDATION_ERROR");
	ASSERT_STR_EQ(
	    sql("SELECT count(*) FROM queues WHERE name = 'lc-paused'"), "0");

	preq.reason = PB("EHR maintenance window until 09:00");
	ASSERT_INT_EQ(
	    call("opsbus.v1.QueueService/PauseQueue", &preq.base,
	        &opsbus__v1__pause_queue_response__descriptor, &out, &st),
	    0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_TRUE(((Opsbus__V1__PauseQueueResponse *) out)->changed);
	CU_ASSERT_TRUE(
	    ((Opsbus__V1__PauseQueueResponse *) out)->queue->paused);
	ASSERT_STR_EQ(
	    ((Opsbus__V1__PauseQueueResponse *) out)->queue->paused_by,
	    "admin");
	protobuf_c_message_free_unpacked(out, NULL);
	ASSERT_STR_EQ(sql("SELECT operator_identity || ' ' || reason FROM "
	                  "operator_audit_log WHERE action_type = "
	                  "'pause_queue' AND target = 'lc-paused' AND "
	                  "outcome = 'accepted'"),
	    "admin EHR maintenance window until 09:00");
	ASSERT_STR_EQ(
	    sql("SELECT actor || ' ' || topic FROM events WHERE "
	        "event_type = 'queue.paused' AND queue = 'lc-paused'"),
	    "admin queue.paused.lc-paused");

	create_job("lc-paused", NULL, 0, id);
	r = claim("lc-paused", "w", 10, 0, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	ASSERT_INT_EQ(r->n_jobs, 0);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	t0 = now_ms();
	r = claim_on(cli, "lc-paused", "w", 10, 0, 300, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	ASSERT_INT_EQ(r->n_jobs, 0);
	CU_ASSERT_TRUE(now_ms() - t0 >= 280);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	ASSERT_STR_EQ(job_status(id), "queued");

	/* Pausing again changes nothing but is audited. */
	ASSERT_INT_EQ(
	    call("opsbus.v1.QueueService/PauseQueue", &preq.base,
	        &opsbus__v1__pause_queue_response__descriptor, &out, &st),
	    0);
	CU_ASSERT_FALSE(((Opsbus__V1__PauseQueueResponse *) out)->changed);
	protobuf_c_message_free_unpacked(out, NULL);
	ASSERT_STR_EQ(sql("SELECT count(*) FROM events WHERE event_type = "
	                  "'queue.paused' AND queue = 'lc-paused'"),
	    "1");

	rreq.name = PB("lc-paused");
	rreq.reason = PB("EHR maintenance is over, verified by ops");
	ASSERT_INT_EQ(
	    call("opsbus.v1.QueueService/ResumeQueue", &rreq.base,
	        &opsbus__v1__resume_queue_response__descriptor, &out, &st),
	    0);
	CU_ASSERT_TRUE(((Opsbus__V1__ResumeQueueResponse *) out)->changed);
	protobuf_c_message_free_unpacked(out, NULL);
	claim_one("lc-paused", "w", 0, cid, token);
	ASSERT_STR_EQ(cid, id);
	ASSERT_INT_EQ(complete(id, token, &st), 0);
	ASSERT_STR_EQ(sql("SELECT count(*) FROM operator_audit_log WHERE "
	                  "target = 'lc-paused'"),
	    "4");
}

static void
test_queues_show_policy_depth_and_lag(void)
{
	Opsbus__V1__GetQueueRequest greq = OPSBUS__V1__GET_QUEUE_REQUEST__INIT;
	Opsbus__V1__ListQueuesRequest lreq
	    = OPSBUS__V1__LIST_QUEUES_REQUEST__INIT;
	ProtobufCMessage        *out = NULL;
	struct opsbus_status     st;
	char                     id[37], cid[37], token[37];
	const Opsbus__V1__Queue *q;

	for (int i = 0; i < 3; i++) {
		create_job("lc-depth", NULL, 0, id);
	}
	sql("UPDATE jobs SET run_at = now() - interval '5 seconds' WHERE "
	    "queue = 'lc-depth'");
	claim_one("lc-depth", "w", 0, cid, token);
	greq.name = PB("lc-depth");
	ASSERT_INT_EQ(
	    call("opsbus.v1.QueueService/GetQueue", &greq.base,
	        &opsbus__v1__get_queue_response__descriptor, &out, &st),
	    0);
	q = ((Opsbus__V1__GetQueueResponse *) out)->queue;
	CU_ASSERT_FALSE(q->configured);
	ASSERT_INT_EQ(q->max_attempts, 5);
	ASSERT_INT_EQ(q->backoff_base_ms, 1000);
	ASSERT_INT_EQ(q->backoff_cap_ms, 300000);
	ASSERT_INT_EQ(q->lease_ms, 30000);
	CU_ASSERT_FALSE(q->paused);
	ASSERT_INT_EQ(q->depth->queued, 2);
	ASSERT_INT_EQ(q->depth->in_progress, 1);
	ASSERT_INT_EQ(q->depth->ready, 2);
	CU_ASSERT_TRUE(q->lag_ms >= 5000 && q->lag_ms < 60000);
	protobuf_c_message_free_unpacked(out, NULL);
	ASSERT_INT_EQ(complete(cid, token, &st), 0);

	greq.name = PB("lc-nobody");
	EXPECT_ERR(call("opsbus.v1.QueueService/GetQueue", &greq.base,
	               &opsbus__v1__get_queue_response__descriptor, &out, &st),
	    st, 5, "QUEUE_NOT_FOUND");

	set_policy("lc-configured", 7, -1, -1, -1, 2000);
	ASSERT_INT_EQ(
	    call("opsbus.v1.QueueService/ListQueues", &lreq.base,
	        &opsbus__v1__list_queues_response__descriptor, &out, &st),
	    0);
	Opsbus__V1__ListQueuesResponse *l
	    = (Opsbus__V1__ListQueuesResponse *) out;
	bool seen_depth = false, seen_conf = false;
	for (size_t i = 0; i < l->n_queues; i++) {
		CU_ASSERT_TRUE(l->queues[i]->name[0] != '\0');
		if (strcmp(l->queues[i]->name, "lc-depth") == 0) {
			seen_depth = true;
			CU_ASSERT_FALSE(l->queues[i]->configured);
		}
		if (strcmp(l->queues[i]->name, "lc-configured") == 0) {
			seen_conf = true;
			CU_ASSERT_TRUE(l->queues[i]->configured);
			ASSERT_INT_EQ(l->queues[i]->max_attempts, 7);
			ASSERT_INT_EQ(l->queues[i]->lease_ms, 2000);
			ASSERT_INT_EQ(l->queues[i]->backoff_base_ms, 1000);
		}
	}
	CU_ASSERT_TRUE(seen_depth && seen_conf);
	protobuf_c_message_free_unpacked(out, NULL);
	/* New jobs take the queue's attempts. */
	create_job("lc-configured", NULL, 0, id);
	ASSERT_STR_EQ(
	    sql("SELECT max_attempts FROM jobs WHERE id = '%s'", id), "7");
	ASSERT_STR_EQ(sql("SELECT count(*) FROM operator_audit_log WHERE "
	                  "action_type = 'update_queue' AND target = "
	                  "'lc-configured'"),
	    "1");
}

/* ---------------------------------------------------------------- */
/* Concurrent claimers. */

/* Enough jobs that every claimer gets some even on a loaded machine. */
#define RACE_JOBS     600
#define RACE_JOBS_STR "600"
#define RACE_CLAIMERS 4

static pthread_barrier_t race_start;

struct claimer {
	pthread_t thread;
	int       n;
	char      ids[RACE_JOBS][37];
	char      tokens[RACE_JOBS][37];
	int       errors;
};

static void *
claimer_main(void *arg)
{
	struct claimer       *c = arg;
	struct opsbus_client *own = harness_client(&srv, NULL);
	int                   empty = 0;

	/* Connected, all start at once: they really run side by side. */
	pthread_barrier_wait(&race_start);
	while (own != NULL && empty < 2) {
		struct opsbus_status           st;
		Opsbus__V1__ClaimJobsResponse *r
		    = claim_on(own, "lc-race", "w-race", 7, 0, 0, &st);
		if (r == NULL) {
			c->errors++;
			break;
		}
		empty = r->n_jobs == 0 ? empty + 1 : 0;
		for (size_t i = 0; i < r->n_jobs && c->n < RACE_JOBS; i++) {
			snprintf(c->ids[c->n], 37, "%s", r->jobs[i]->job->id);
			snprintf(c->tokens[c->n], 37, "%s",
			    r->jobs[i]->lease_token);
			c->n++;
		}
		protobuf_c_message_free_unpacked(&r->base, NULL);
	}
	for (int i = 0; own != NULL && i < c->n; i++) {
		struct opsbus_status st;
		if (complete_on(own, c->ids[i], c->tokens[i], "ok", &st)
		    != 0) {
			c->errors++;
		}
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
test_concurrent_claimers_never_hold_one_job(void)
{
	static struct claimer c[RACE_CLAIMERS];
	static char           all[RACE_JOBS * 2][37];
	char                  id[37];
	int                   n = 0;

	sql("INSERT INTO jobs (id, tenant, queue, status, "
	    "max_attempts) SELECT gen_random_uuid(), 'default', "
	    "'lc-race', 'queued', 3 FROM generate_series(1, %d)",
	    RACE_JOBS);
	(void) id;
	memset(c, 0, sizeof(c));
	pthread_barrier_init(&race_start, NULL, RACE_CLAIMERS);
	for (int i = 0; i < RACE_CLAIMERS; i++) {
		pthread_create(&c[i].thread, NULL, claimer_main, &c[i]);
	}
	for (int i = 0; i < RACE_CLAIMERS; i++) {
		pthread_join(c[i].thread, NULL);
		ASSERT_INT_EQ(c[i].errors, 0);
		for (int k = 0; k < c[i].n && n < RACE_JOBS * 2; k++) {
			memcpy(all[n++], c[i].ids[k], 37);
		}
	}
	pthread_barrier_destroy(&race_start);
	ASSERT_INT_EQ(n, RACE_JOBS);
	qsort(all, (size_t) n, 37, cmp_id);
	for (int i = 1; i < n; i++) {
		CU_ASSERT_NOT_EQUAL(strcmp(all[i - 1], all[i]), 0);
	}
	ASSERT_STR_EQ(
	    sql("SELECT count(*) FILTER (WHERE status = 'succeeded' "
	        "AND attempts = 1) FROM jobs WHERE queue = 'lc-race'"),
	    RACE_JOBS_STR);
	ASSERT_STR_EQ(sql("SELECT count(*) FROM job_attempts a JOIN jobs j ON "
	                  "j.id = a.job_id WHERE j.queue = 'lc-race'"),
	    RACE_JOBS_STR);
	/* Every claimer got some: they really ran side by side. */
	for (int i = 0; i < RACE_CLAIMERS; i++) {
		CU_ASSERT_TRUE(c[i].n > 0);
	}
}

/* ---------------------------------------------------------------- */
/* The rescuer. */

static void
test_an_expired_lease_is_rescued_or_dead_lettered(void)
{
	struct opsbus_status st;
	char                 id1[37], id2[37], cid[37], t1[37], t2[37];

	set_policy("lc-expire", -1, 0, -1, -1, -1);
	create_job("lc-expire", NULL, 3, id1);
	create_job("lc-expire", NULL, 1, id2);
	claim_one("lc-expire", "w-gone", 1000, cid, t1);
	claim_one("lc-expire", "w-gone", 1000, cid, t2);
	CU_ASSERT_TRUE(sql_wait(5000, "retryable_failed",
	    "SELECT status FROM jobs WHERE id = '%s'", id1));
	CU_ASSERT_TRUE(sql_wait(5000, "dead_failed",
	    "SELECT status FROM jobs WHERE id = '%s'", id2));
	ASSERT_STR_EQ(
	    sql("SELECT concat_ws(' ', reason_code, replay_eligible, "
	        "lease_token IS NULL) FROM jobs WHERE id = '%s'",
	        id1),
	    "LEASE_EXPIRED f t");
	ASSERT_STR_EQ(
	    sql("SELECT concat_ws(' ', reason_code, replay_eligible, "
	        "operator_status) FROM jobs WHERE id = '%s'",
	        id2),
	    "LEASE_EXPIRED t open");
	ASSERT_STR_EQ(sql("SELECT concat_ws(' ', worker_id, to_status, "
	                  "reason_code, retryable) FROM job_attempts WHERE "
	                  "job_id = '%s'",
	                  id1),
	    "w-gone retryable_failed LEASE_EXPIRED t");
	ASSERT_STR_EQ(sql("SELECT concat_ws(' ', actor, topic, payload ->> "
	                  "'worker_id') FROM events WHERE job_id = '%s' AND "
	                  "event_type = 'lease_expired'",
	                  id1),
	    "system job.lease_expired.lc-expire w-gone");
	ASSERT_STR_EQ(
	    sql("SELECT concat_ws(' ', actor, payload #>> "
	        "'{error,type}', payload ->> 'attempts') FROM events "
	        "WHERE job_id = '%s' AND event_type = 'dead_failed'",
	        id2),
	    "system LEASE_EXPIRED 1");
	/* The rescued job is claimable again (backoff 0 here). */
	claim_one("lc-expire", "w-next", 0, cid, t1);
	ASSERT_STR_EQ(cid, id1);
	ASSERT_INT_EQ(complete(id1, t1, &st), 0);
}

static void
test_two_servers_rescue_an_expired_lease_once(void)
{
	struct harness_server second;
	char                  ids[5][37], cid[37], token[37];

	CU_ASSERT_EQUAL_FATAL(harness_server_start(&second, NULL), 0);
	set_policy("lc-two", -1, 60000, -1, -1, -1);
	for (int i = 0; i < 5; i++) {
		create_job("lc-two", NULL, 3, ids[i]);
		claim_one("lc-two", "w-two", 1000, cid, token);
	}
	CU_ASSERT_TRUE(sql_wait(5000, "5",
	    "SELECT count(*) FROM jobs WHERE queue = 'lc-two' AND "
	    "status = 'retryable_failed'"));
	/* Both rescuers ran; each job was rescued once. */
	nap(300);
	ASSERT_STR_EQ(sql("SELECT count(*) FROM events e JOIN jobs j ON "
	                  "j.id = e.job_id WHERE j.queue = 'lc-two' AND "
	                  "e.event_type = 'lease_expired'"),
	    "5");
	ASSERT_STR_EQ(sql("SELECT count(*) FROM job_attempts a JOIN jobs j ON "
	                  "j.id = a.job_id WHERE j.queue = 'lc-two' AND "
	                  "a.reason_code = 'LEASE_EXPIRED'"),
	    "5");
	ASSERT_INT_EQ(harness_server_stop(&second, SIGTERM), 0);
}

struct racer {
	pthread_t   thread;
	const char *id;
	const char *token;
	long        at;
	int         rv;
	char        error_code[64];
};

static void *
racer_main(void *arg)
{
	struct racer        *r = arg;
	struct opsbus_status st;
	long                 wait = r->at - now_ms();

	if (wait > 0) {
		nap(wait);
	}
	r->rv = complete_on(cli, r->id, r->token, "raced", &st);
	snprintf(r->error_code, sizeof(r->error_code), "%s", st.error_code);
	return (NULL);
}

#define RACES 50

static void
test_a_complete_racing_the_rescuer_ends_in_one_outcome(void)
{
	static char                    ids[RACES][37], tokens[RACES][37];
	static struct racer            racers[RACES];
	struct opsbus_status           st;
	Opsbus__V1__ClaimJobsResponse *r;
	long                           t0;
	int                            won = 0, lost = 0;

	set_policy("lc-racer", -1, 60000, -1, -1, -1);
	sql("INSERT INTO jobs (id, tenant, queue, status, "
	    "max_attempts) SELECT gen_random_uuid(), 'default', "
	    "'lc-racer', 'queued', 3 FROM generate_series(1, %d)",
	    RACES);
	t0 = now_ms();
	r = claim("lc-racer", "w-racer", RACES, 1000, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	ASSERT_INT_EQ(r->n_jobs, RACES);
	CU_ASSERT_FATAL(r->n_jobs == RACES);
	for (int i = 0; i < RACES; i++) {
		snprintf(ids[i], 37, "%s", r->jobs[i]->job->id);
		snprintf(tokens[i], 37, "%s", r->jobs[i]->lease_token);
		/* Spread the completions across the expiry: 850..1340 ms. */
		racers[i].id = ids[i];
		racers[i].token = tokens[i];
		racers[i].at = t0 + 850 + i * 10;
	}
	protobuf_c_message_free_unpacked(&r->base, NULL);
	for (int i = 0; i < RACES; i++) {
		pthread_create(
		    &racers[i].thread, NULL, racer_main, &racers[i]);
	}
	for (int i = 0; i < RACES; i++) {
		pthread_join(racers[i].thread, NULL);
	}
	/* Let the rescuer take whatever the workers lost. */
	CU_ASSERT_TRUE(sql_wait(5000, "0",
	    "SELECT count(*) FROM jobs WHERE queue = 'lc-racer' AND "
	    "status = 'in_progress'"));
	for (int i = 0; i < RACES; i++) {
		const char *want;

		if (racers[i].rv == 0) {
			won++;
			want = "succeeded succeeded 1 succeeded";
		} else {
			ASSERT_STR_EQ(racers[i].error_code, "LEASE_LOST");
			lost++;
			want = "retryable_failed retryable_failed 1 "
			       "lease_expired";
		}
		/* The job, its attempt and its events tell one story. */
		ASSERT_STR_EQ(
		    sql("SELECT concat_ws(' ', j.status, a.to_status, "
		        "(SELECT count(*) FROM events e WHERE "
		        "e.job_id = j.id AND e.event_type IN "
		        "('succeeded', 'lease_expired', 'dead_failed', "
		        "'retry_scheduled')), (SELECT e.event_type FROM "
		        "events e WHERE e.job_id = j.id ORDER BY seq "
		        "DESC LIMIT 1)) FROM jobs j JOIN job_attempts a "
		        "ON a.job_id = j.id WHERE j.id = '%s'",
		        ids[i]),
		    want);
	}
	fprintf(stderr, "\n  complete won %d, rescuer won %d  ", won, lost);
	ASSERT_INT_EQ(won + lost, RACES);
}

/* ---------------------------------------------------------------- */
/* The libopsbus worker loop and `opsbus work`. */

static void
count_job(struct opsbus_work *w, struct opsbus_work_result *res, void *arg)
{
	atomic_int *n = arg;

	atomic_fetch_add(n, 1);
	CU_ASSERT_TRUE(opsbus_work_lease_ms(w) == 2000);
	CU_ASSERT_FALSE(opsbus_work_cancel_requested(w));
	if (strstr(opsbus_work_job(w)->payload, "bad") != NULL) {
		res->failed = true;
		snprintf(
		    res->reason_code, sizeof(res->reason_code), "bad_input");
		snprintf(res->error, sizeof(res->error), "bad input");
		return;
	}
	/* Long enough for a few heartbeats (every 666 ms). */
	if (strstr(opsbus_work_job(w)->payload, "slow") != NULL) {
		nap(1500);
	}
	snprintf(res->summary, sizeof(res->summary), "{\"email\":\"x@y.z\"}");
}

static void
test_the_library_worker_loop_runs_jobs_with_heartbeats(void)
{
	struct opsbus_worker_config cfg;
	struct opsbus_worker       *w;
	struct opsbus_worker_stats  stats;
	struct opsbus_status        st;
	atomic_int                  n;
	char                        id[37], slow[37];

	atomic_init(&n, 0);
	for (int i = 0; i < 4; i++) {
		create_job("lc-lib", "{}", 0, id);
	}
	create_job("lc-lib", "{\"bad\":1}", 0, id);
	create_job("lc-lib", "{\"slow\":1}", 0, slow);
	memset(&cfg, 0, sizeof(cfg));
	cfg.queue = "lc-lib";
	cfg.worker_id = "lib-worker";
	cfg.lease_ms = 2000;
	cfg.until_empty = true;
	cfg.fn = count_job;
	cfg.arg = &n;
	CU_ASSERT_EQUAL_FATAL(opsbus_worker_alloc(&cfg, &w), 0);
	ASSERT_INT_EQ(opsbus_worker_run(w, cli, &st), 0);
	opsbus_worker_stats(w, &stats);
	opsbus_worker_free(w);
	ASSERT_INT_EQ(atomic_load(&n), 6);
	ASSERT_INT_EQ(stats.claimed, 6);
	ASSERT_INT_EQ(stats.completed, 5);
	ASSERT_INT_EQ(stats.failed, 1);
	ASSERT_INT_EQ(stats.lost, 0);
	ASSERT_STR_EQ(sql("SELECT string_agg(status || '/' || coalesce("
	                  "reason_code, ''), ',' ORDER BY status) FROM jobs "
	                  "WHERE queue = 'lc-lib' AND status <> 'succeeded'"),
	    "dead_failed/BAD_INPUT");
	/* After a completion the loop claims the next job in the same call
	 * (claim_next): the second to fifth jobs were claimed in the
	 * transaction that completed the one before; the first, and the one
	 * after the failure, by ClaimJobs. */
	ASSERT_STR_EQ(sql("SELECT count(*) FROM events c JOIN jobs j ON "
	                  "j.id = c.job_id WHERE j.queue = 'lc-lib' AND "
	                  "c.event_type = 'claimed' AND EXISTS (SELECT 1 FROM "
	                  "events s WHERE s.txid = c.txid AND s.event_type = "
	                  "'succeeded')"),
	    "4");
	/* The slow job's lease was extended past its 2000 ms while it ran. */
	ASSERT_STR_EQ(job_status(slow), "succeeded");
	/* A JSON summary is redacted in the event, kept in the job. */
	ASSERT_STR_EQ(sql("SELECT payload #>> '{summary,email}' FROM events "
	                  "WHERE job_id = '%s' AND event_type = 'succeeded'",
	                  slow),
	    "[REDACTED]");
	/* max_jobs bounds the run. */
	for (int i = 0; i < 3; i++) {
		create_job("lc-lib2", "{}", 0, id);
	}
	cfg.queue = "lc-lib2";
	cfg.max_jobs = 2;
	cfg.until_empty = false;
	CU_ASSERT_EQUAL_FATAL(opsbus_worker_alloc(&cfg, &w), 0);
	ASSERT_INT_EQ(opsbus_worker_run(w, cli, &st), 0);
	opsbus_worker_free(w);
	ASSERT_STR_EQ(sql("SELECT count(*) FROM jobs WHERE queue = 'lc-lib2' "
	                  "AND status = 'queued'"),
	    "1");
}

/* Starts `opsbus work ARGS...` in the background; returns its pid. */
static pid_t
start_work(const char *const *args, const char *out_name)
{
	const char *bin = getenv("OPSBUS_CLI");
	char        out[512];
	pid_t       pid;

	snprintf(out, sizeof(out), "%s/%s", harness_tmpdir(), out_name);
	pid = fork();
	if (pid == 0) {
		const char *argv[32];
		int         a = 0;
		int         fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		setenv("OPSBUS_URL", srv.url, 1);
		setenv("OPSBUS_API_KEY", srv.api_key, 1);
		argv[a++] = bin;
		argv[a++] = "work";
		for (int i = 0; args[i] != NULL && a < 31; i++) {
			argv[a++] = args[i];
		}
		argv[a] = NULL;
		execv(bin, (char *const *) (uintptr_t) argv);
		_exit(127);
	}
	return (pid);
}

/* Waits for pid up to ms; returns its exit status, or -1 (then kills). */
static int
wait_pid(pid_t pid, long ms)
{
	long end = now_ms() + ms;
	int  status;

	while (now_ms() < end) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			return (WIFEXITED(status) ? WEXITSTATUS(status)
			                          : 128 + WTERMSIG(status));
		}
		nap(20);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return (-1);
}

static void
test_a_worker_killed_mid_job_loses_its_lease_and_another_retries(void)
{
	const char *const args[] = {"--queue", "lc-kill", "--worker-id", "w1",
	    "--lease-ms", "1000", "--exec",
	    "if [ \"$OPSBUS_JOB_ATTEMPT\" = 1 ]; then sleep 30; fi; "
	    "echo done-$OPSBUS_JOB_ATTEMPT",
	    NULL};
	const char *const again[] = {"work", "--queue", "lc-kill",
	    "--worker-id", "w2", "--until-empty", "--exec",
	    "if [ \"$OPSBUS_JOB_ATTEMPT\" = 1 ]; then sleep 30; fi; "
	    "echo done-$OPSBUS_JOB_ATTEMPT",
	    NULL};
	char              id[37];
	char             *out = NULL, *err = NULL;
	pid_t             pid;

	set_policy("lc-kill", -1, 0, -1, -1, -1);
	create_job("lc-kill", NULL, 3, id);
	pid = start_work(args, "work-kill.out");
	CU_ASSERT_TRUE(sql_wait(10000, "in_progress",
	    "SELECT status FROM jobs WHERE id = '%s'", id));
	/* Let the command start, then kill the worker outright. */
	nap(200);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	CU_ASSERT_TRUE(sql_wait(5000, "retryable_failed LEASE_EXPIRED",
	    "SELECT status || ' ' || coalesce(reason_code, '') FROM jobs "
	    "WHERE id = '%s'",
	    id));
	ASSERT_INT_EQ(harness_cli(&srv, again, &out, &err), 0);
	ASSERT_STR_EQ(sql("SELECT concat_ws(' ', status, attempts, "
	                  "completion_summary) FROM jobs WHERE id = '%s'",
	                  id),
	    "succeeded 2 done-2");
	ASSERT_STR_EQ(sql("SELECT string_agg(worker_id || ':' || to_status || "
	                  "':' || coalesce(reason_code, ''), ',' ORDER BY "
	                  "attempt) FROM job_attempts WHERE job_id = '%s'",
	                  id),
	    "w1:retryable_failed:LEASE_EXPIRED,w2:succeeded:");
	if (out != NULL && strstr(out, "1 completed") == NULL) {
		fprintf(
		    stderr, "work said: %s%s\n", out, err != NULL ? err : "");
	}
	CU_ASSERT_PTR_NOT_NULL(
	    out != NULL ? strstr(out, "1 completed") : NULL);
	free(out);
	free(err);
}

static void
test_opsbus_work_runs_a_command_over_100_jobs(void)
{
	const char *const argv[] = {"work", "--queue", "lc-cli",
	    "--concurrency", "4", "--until-empty", "--exec",
	    "payload=$(cat); case \"$payload\" in "
	    "*'\"fail\"'*) echo 'transient trouble' >&2; exit 1;; "
	    "*'\"perm\"'*) echo 'REASON_CODE: bad_record' >&2; "
	    "echo 'record is malformed' >&2; exit 65;; esac; "
	    "echo \"ok $OPSBUS_JOB_ID $OPSBUS_JOB_QUEUE $OPSBUS_JOB_KIND\"",
	    NULL};
	char             *out = NULL, *err = NULL;
	char              id[37];
	long              t0;
	int               rv;

	set_policy("lc-cli", -1, 0, -1, -1, -1);
	for (int i = 0; i < 100; i++) {
		create_job("lc-cli",
		    i % 10 == 3       ? "{\"fail\": true}"
		        : i % 10 == 7 ? "{\"perm\": true}"
		                      : "{\"n\": 1}",
		    2, id);
	}
	t0 = now_ms();
	rv = harness_cli(&srv, argv, &out, &err);
	fprintf(
	    stderr, "\n  opsbus work over 100 jobs: %ld ms  ", now_ms() - t0);
	ASSERT_INT_EQ(rv, 0);
	CU_ASSERT_PTR_NOT_NULL(out != NULL ? strstr(out,
	                           "jobs: 110 claimed, 80 "
	                           "completed, 30 failed, 0 lost")
	                                   : NULL);
	if (out != NULL && strstr(out, "110 claimed") == NULL) {
		fprintf(stderr, "work said: %s / %s\n", out, err ? err : "");
	}
	free(out);
	free(err);
	ASSERT_STR_EQ(
	    sql("SELECT count(*) FROM jobs WHERE queue = 'lc-cli' AND "
	        "status = 'succeeded' AND attempts = 1 AND "
	        "completion_summary = 'ok ' || id || ' lc-cli "
	        "note.writeback'"),
	    "80");
	ASSERT_STR_EQ(
	    sql("SELECT count(*) FROM jobs WHERE queue = 'lc-cli' AND "
	        "status = 'dead_failed' AND attempts = 2 AND "
	        "reason_code = 'EXIT_1' AND last_error = 'transient "
	        "trouble' AND replay_eligible AND payload->>'fail' = "
	        "'true'"),
	    "10");
	ASSERT_STR_EQ(
	    sql("SELECT count(*) FROM jobs WHERE queue = 'lc-cli' AND "
	        "status = 'dead_failed' AND attempts = 1 AND "
	        "reason_code = 'BAD_RECORD' AND last_error = 'record "
	        "is malformed' AND NOT replay_eligible"),
	    "10");
	ASSERT_STR_EQ(
	    sql("SELECT count(*) FROM jobs WHERE queue = 'lc-cli'"), "100");
}

static void
test_opsbus_work_on_sigterm_finishes_or_fails_its_job(void)
{
	const char *const finish[] = {
	    "--queue", "lc-term1", "--exec", "sleep 1; echo finished", NULL};
	const char *const give_up[] = {"--queue", "lc-term2", "--grace-ms",
	    "300", "--exec", "sleep 30; echo never", NULL};
	char              a[37], b[37];
	pid_t             p1, p2;
	long              t0;

	create_job("lc-term1", NULL, 0, a);
	create_job("lc-term2", NULL, 0, b);
	p1 = start_work(finish, "work-term1.out");
	p2 = start_work(give_up, "work-term2.out");
	CU_ASSERT_TRUE(sql_wait(10000, "in_progress",
	    "SELECT status FROM jobs WHERE id = '%s'", a));
	CU_ASSERT_TRUE(sql_wait(10000, "in_progress",
	    "SELECT status FROM jobs WHERE id = '%s'", b));
	nap(100);
	t0 = now_ms();
	kill(p1, SIGTERM);
	kill(p2, SIGTERM);
	ASSERT_INT_EQ(wait_pid(p1, 10000), 0);
	ASSERT_INT_EQ(wait_pid(p2, 10000), 0);
	CU_ASSERT_TRUE(now_ms() - t0 < 5000);
	ASSERT_STR_EQ(
	    sql("SELECT status || ' ' || completion_summary FROM jobs "
	        "WHERE id = '%s'",
	        a),
	    "succeeded finished");
	ASSERT_STR_EQ(
	    sql("SELECT concat_ws(' ', status, reason_code, attempts) "
	        "FROM jobs WHERE id = '%s'",
	        b),
	    "retryable_failed WORKER_STOPPED 1");
}

static void
test_opsbus_work_stops_a_cancelled_job(void)
{
	const char *const args[] = {"--queue", "lc-cancel", "--lease-ms",
	    "1000", "--max-jobs", "1", "--exec", "sleep 30", NULL};
	char              id[37];
	pid_t             pid;

	create_job("lc-cancel", NULL, 0, id);
	pid = start_work(args, "work-cancel.out");
	CU_ASSERT_TRUE(sql_wait(10000, "in_progress",
	    "SELECT status FROM jobs WHERE id = '%s'", id));
	sql("UPDATE jobs SET cancel_requested_at = now() WHERE id = '%s'", id);
	ASSERT_INT_EQ(wait_pid(pid, 10000), 0);
	ASSERT_STR_EQ(sql("SELECT concat_ws(' ', status, reason_code, "
	                  "replay_eligible) FROM jobs WHERE id = '%s'",
	                  id),
	    "cancelled CANCELLED f");
}

/* ---------------------------------------------------------------- */
/* Bad input. */

/* What bad calls must not change: the test queue's rows, every queue. */
static long
row_counts(void)
{
	return (sql_long("SELECT (SELECT count(*) FROM jobs WHERE queue = "
	                 "'lc-bad') * 1000000 + (SELECT count(*) FROM events "
	                 "WHERE queue = 'lc-bad') * 10000 + (SELECT count(*) "
	                 "FROM job_attempts a JOIN jobs j ON j.id = a.job_id "
	                 "WHERE j.queue = 'lc-bad') * 100 + (SELECT count(*) "
	                 "FROM queues)"));
}

static void
test_bad_input_gets_the_right_error_and_changes_nothing(void)
{
	struct opsbus_status st;
	char                 id[37], cid[37], token[37];
	char                 zero[] = "00000000-0000-4000-8000-000000000000";
	Opsbus__V1__HeartbeatResponse *hb = NULL;
	ProtobufCMessage              *out = NULL;
	long                           before;

	create_job("lc-bad", NULL, 0, id);
	claim_one("lc-bad", "w", 0, cid, token);
	before = row_counts();

	EXPECT_ERR(heartbeat(zero, zero, 0, &hb, &st), st, 5, "JOB_NOT_FOUND");
	EXPECT_ERR(complete(zero, zero, &st), st, 5, "JOB_NOT_FOUND");
	EXPECT_ERR(
	    fail_job(zero, zero, "X", true, &st), st, 5, "JOB_NOT_FOUND");
	EXPECT_ERR(
	    complete("not-a-uuid", token, &st), st, 3, "VALIDATION_ERROR");
	EXPECT_ERR(
	    complete(id, "not-a-token", &st), st, 3, "VALIDATION_ERROR");
	EXPECT_ERR(
	    heartbeat("", token, 0, &hb, &st), st, 3, "VALIDATION_ERROR");
	EXPECT_ERR(complete(id, zero, &st), st, 9, "LEASE_LOST");
	EXPECT_ERR(heartbeat(id, zero, 0, &hb, &st), st, 9, "LEASE_LOST");
	EXPECT_ERR(
	    heartbeat(id, token, 999, &hb, &st), st, 3, "VALIDATION_ERROR");
	EXPECT_ERR(
	    heartbeat(id, token, -5, &hb, &st), st, 3, "VALIDATION_ERROR");
	EXPECT_ERR(fail_job(id, token, "has space", true, &st), st, 3,
	    "VALIDATION_ERROR");
	EXPECT_ERR(fail_job(id, token, "bad!code", true, &st), st, 3,
	    "VALIDATION_ERROR");

	struct {
		const char *queue;
		int         max, lease, wait;
	} claims[] = {
	    {"", 1, 0, 0},
	    {"has space", 1, 0, 0},
	    {"lc-bad", 0, 0, 0},
	    {"lc-bad", 101, 0, 0},
	    {"lc-bad", -1, 0, 0},
	    {"lc-bad", 1, -1, 0},
	    {"lc-bad", 1, 999, 0},
	    {"lc-bad", 1, 3600001, 0},
	    {"lc-bad", 1, 2147483647, 0},
	    {"lc-bad", 1, 0, -1},
	    {"lc-bad", 1, 0, 30001},
	};
	for (size_t i = 0; i < sizeof(claims) / sizeof(claims[0]); i++) {
		Opsbus__V1__ClaimJobsRequest req
		    = OPSBUS__V1__CLAIM_JOBS_REQUEST__INIT;
		req.queue = PB(claims[i].queue);
		req.max_value_case
		    = OPSBUS__V1__CLAIM_JOBS_REQUEST__MAX_VALUE_MAX;
		req.max = claims[i].max;
		req.lease_ms = claims[i].lease;
		req.wait_ms = claims[i].wait;
		EXPECT_ERR(call("opsbus.v1.JobService/ClaimJobs", &req.base,
		               &opsbus__v1__claim_jobs_response__descriptor,
		               &out, &st),
		    st, 3, "VALIDATION_ERROR");
	}

	/* Queue policy out of range. */
	struct {
		int    field;
		double v;
	} bad[] = {{0, 0}, {0, 1001}, {1, -1}, {1, 86400001}, {2, 0.5},
	    {2, 11}, {3, -1}, {4, 999}, {4, 3600001}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		Opsbus__V1__UpdateQueueRequest req
		    = OPSBUS__V1__UPDATE_QUEUE_REQUEST__INIT;
		req.name = PB("lc-bad");
		switch (bad[i].field) {
		case 0:
			req.max_attempts_value_case
			    = OPSBUS__V1__UPDATE_QUEUE_REQUEST__MAX_ATTEMPTS_VALUE_MAX_ATTEMPTS;
			req.max_attempts = (int32_t) bad[i].v;
			break;
		case 1:
			req.backoff_base_ms_value_case
			    = OPSBUS__V1__UPDATE_QUEUE_REQUEST__BACKOFF_BASE_MS_VALUE_BACKOFF_BASE_MS;
			req.backoff_base_ms = (int32_t) bad[i].v;
			break;
		case 2:
			req.backoff_factor_value_case
			    = OPSBUS__V1__UPDATE_QUEUE_REQUEST__BACKOFF_FACTOR_VALUE_BACKOFF_FACTOR;
			req.backoff_factor = bad[i].v;
			break;
		case 3:
			req.backoff_cap_ms_value_case
			    = OPSBUS__V1__UPDATE_QUEUE_REQUEST__BACKOFF_CAP_MS_VALUE_BACKOFF_CAP_MS;
			req.backoff_cap_ms = (int32_t) bad[i].v;
			break;
		default:
			req.lease_ms_value_case
			    = OPSBUS__V1__UPDATE_QUEUE_REQUEST__LEASE_MS_VALUE_LEASE_MS;
			req.lease_ms = (int32_t) bad[i].v;
			break;
		}
		EXPECT_ERR(
		    call("opsbus.v1.QueueService/UpdateQueue", &req.base,
		        &opsbus__v1__update_queue_response__descriptor, &out,
		        &st),
		    st, 3, "VALIDATION_ERROR");
	}
	Opsbus__V1__UpdateQueueRequest none
	    = OPSBUS__V1__UPDATE_QUEUE_REQUEST__INIT;
	none.name = PB("lc-bad");
	EXPECT_ERR(
	    call("opsbus.v1.QueueService/UpdateQueue", &none.base,
	        &opsbus__v1__update_queue_response__descriptor, &out, &st),
	    st, 3, "VALIDATION_ERROR");
	Opsbus__V1__ResumeQueueRequest rreq
	    = OPSBUS__V1__RESUME_QUEUE_REQUEST__INIT;
	rreq.name = PB("lc-no-such-queue");
	rreq.reason = PB("resuming after the incident review");
	EXPECT_ERR(
	    call("opsbus.v1.QueueService/ResumeQueue", &rreq.base,
	        &opsbus__v1__resume_queue_response__descriptor, &out, &st),
	    st, 5, "QUEUE_NOT_FOUND");

	ASSERT_INT_EQ(row_counts(), before);
	ASSERT_STR_EQ(
	    sql("SELECT count(*) FROM queues WHERE name = 'lc-bad'"), "0");
	ASSERT_STR_EQ(job_status(id), "in_progress");
	/* The worker's own lease still works. */
	ASSERT_INT_EQ(complete(id, token, &st), 0);
}

static void
test_a_worker_role_may_not_change_queues(void)
{
	/* Keys: a worker key may claim but not pause or update. */
	Opsbus__V1__PauseQueueRequest preq
	    = OPSBUS__V1__PAUSE_QUEUE_REQUEST__INIT;
	ProtobufCMessage    *out = NULL;
	struct opsbus_status st;
	const char *const mk[] = {"keys", "create", "--identity", "worker-1",
	    "--role", "worker", "--json", NULL};
	char             *o = NULL;
	char              secret[128] = "";

	ASSERT_INT_EQ(harness_cli(&srv, mk, &o, NULL), 0);
	const char *s = o != NULL ? strstr(o, "\"secret\"") : NULL;
	if (s != NULL && sscanf(s, "\"secret\": \"%127[^\"]\"", secret) != 1) {
		secret[0] = '\0';
	}
	free(o);
	CU_ASSERT_FATAL(secret[0] != '\0');
	struct opsbus_client *wc = harness_client(&srv, secret);
	CU_ASSERT_PTR_NOT_NULL_FATAL(wc);
	preq.name = PB("lc-perm");
	preq.reason = PB("a worker should not be able to pause");
	EXPECT_ERR(
	    opsbus_call(wc, "opsbus.v1.QueueService/PauseQueue", &preq.base,
	        &opsbus__v1__pause_queue_response__descriptor, &out, NULL,
	        &st),
	    st, 7, "PERMISSION_DENIED");
	Opsbus__V1__ClaimJobsResponse *r
	    = claim_on(wc, "lc-perm", "w", 1, 0, 0, &st);
	CU_ASSERT_PTR_NOT_NULL(r);
	if (r != NULL) {
		protobuf_c_message_free_unpacked(&r->base, NULL);
	}
	opsbus_client_close(wc);
}

static void *
create_later(void *arg)
{
	char id[37];

	(void) arg;
	nap(300);
	create_job("lc-poll", NULL, 0, id);
	return (NULL);
}

static void
test_a_claim_waits_for_work_when_asked(void)
{
	struct opsbus_status           st;
	Opsbus__V1__ClaimJobsResponse *r;
	pthread_t                      t;
	long                           t0 = now_ms(), took;

	pthread_create(&t, NULL, create_later, NULL);
	r = claim_on(cli, "lc-poll", "w", 1, 0, 5000, &st);
	took = now_ms() - t0;
	pthread_join(t, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	ASSERT_INT_EQ(r->n_jobs, 1);
	CU_ASSERT_TRUE(took >= 250 && took < 2000);
	if (!(took >= 250 && took < 2000)) {
		fprintf(stderr, "the waiting claim took %ld ms\n", took);
	}
	protobuf_c_message_free_unpacked(&r->base, NULL);
}

struct waiter {
	pthread_t             thread;
	struct opsbus_client *c;
	long                  took;
	int                   n;
};

static void *
waiter_main(void *arg)
{
	struct waiter                 *w = arg;
	struct opsbus_status           st;
	long                           t0 = now_ms();
	Opsbus__V1__ClaimJobsResponse *r
	    = claim_on(w->c, "lc-idle", "w", 1, 0, 1500, &st);

	w->took = now_ms() - t0;
	w->n = r != NULL ? (int) r->n_jobs : -1;
	if (r != NULL) {
		protobuf_c_message_free_unpacked(&r->base, NULL);
	}
	return (NULL);
}

static void
test_at_most_half_the_server_threads_wait_for_work(void)
{
	const char *const           extra[] = {"--workers", "2", NULL};
	struct harness_server       small;
	struct waiter               w[2];
	Opsbus__V1__GetQueueRequest req = OPSBUS__V1__GET_QUEUE_REQUEST__INIT;
	ProtobufCMessage           *out = NULL;
	struct opsbus_status        st;
	long                        t0, fast, slow;

	CU_ASSERT_EQUAL_FATAL(harness_server_start(&small, extra), 0);
	for (int i = 0; i < 2; i++) {
		w[i].c = harness_client(&small, NULL);
		CU_ASSERT_PTR_NOT_NULL_FATAL(w[i].c);
	}
	pthread_create(&w[0].thread, NULL, waiter_main, &w[0]);
	nap(200);
	/* One thread waits; the other still serves calls at once. */
	req.name = PB("lc-claim");
	t0 = now_ms();
	ASSERT_INT_EQ(
	    opsbus_call(w[1].c, "opsbus.v1.QueueService/GetQueue", &req.base,
	        &opsbus__v1__get_queue_response__descriptor, &out, NULL, &st),
	    0);
	protobuf_c_message_free_unpacked(out, NULL);
	CU_ASSERT_TRUE(now_ms() - t0 < 500);
	/* A second waiting claim is not let wait: it answers at once. */
	waiter_main(&w[1]);
	pthread_join(w[0].thread, NULL);
	fast = w[1].took;
	slow = w[0].took;
	ASSERT_INT_EQ(w[0].n, 0);
	ASSERT_INT_EQ(w[1].n, 0);
	CU_ASSERT_TRUE(slow >= 1400);
	CU_ASSERT_TRUE(fast < 500);
	if (!(slow >= 1400 && fast < 500)) {
		fprintf(stderr, "waiting claims took %ld and %ld ms\n", slow,
		    fast);
	}
	/* A server that stops answers a waiting claim at once. */
	pthread_create(&w[0].thread, NULL, waiter_main, &w[0]);
	nap(300);
	t0 = now_ms();
	ASSERT_INT_EQ(harness_server_stop(&small, SIGTERM), 0);
	pthread_join(w[0].thread, NULL);
	CU_ASSERT_TRUE(now_ms() - t0 < 1000);
	ASSERT_INT_EQ(w[0].n, 0);
	for (int i = 0; i < 2; i++) {
		opsbus_client_close(w[i].c);
	}
}

static void
test_old_stored_replies_are_forgotten(void)
{
	sql("INSERT INTO request_replies (request_id, method, response, "
	    "created_at) VALUES ('lc-old', 'm', '\\x00', now() - interval "
	    "'2 hours'), ('lc-new', 'm', '\\x00', now())");
	CU_ASSERT_TRUE(sql_wait(3000, "0",
	    "SELECT count(*) FROM request_replies WHERE request_id = "
	    "'lc-old'"));
	ASSERT_STR_EQ(sql("SELECT count(*) FROM request_replies WHERE "
	                  "request_id = 'lc-new'"),
	    "1");
}

/* Each case prints its wall time: the file should stay under a minute. */
#define TIMED(fn)                                             \
	static void fn##_timed(void)                          \
	{                                                     \
		long t0_ = now_ms();                          \
		fn();                                         \
		fprintf(stderr, "(%ld ms) ", now_ms() - t0_); \
	}
TIMED(test_a_claim_gives_a_fresh_lease_and_opens_an_attempt)
TIMED(test_a_job_retried_n_times_ends_dead_failed_with_n_attempts)
TIMED(test_a_non_retryable_failure_dead_letters_at_once)
TIMED(test_a_stale_lease_token_changes_nothing)
TIMED(test_a_heartbeat_extends_the_lease_and_reports_a_cancel)
TIMED(test_backoff_puts_run_at_within_the_bounds)
TIMED(test_a_paused_queue_hands_out_nothing)
TIMED(test_queues_show_policy_depth_and_lag)
TIMED(test_concurrent_claimers_never_hold_one_job)
TIMED(test_an_expired_lease_is_rescued_or_dead_lettered)
TIMED(test_two_servers_rescue_an_expired_lease_once)
TIMED(test_a_complete_racing_the_rescuer_ends_in_one_outcome)
TIMED(test_the_library_worker_loop_runs_jobs_with_heartbeats)
TIMED(test_a_worker_killed_mid_job_loses_its_lease_and_another_retries)
TIMED(test_opsbus_work_runs_a_command_over_100_jobs)
TIMED(test_opsbus_work_on_sigterm_finishes_or_fails_its_job)
TIMED(test_opsbus_work_stops_a_cancelled_job)
TIMED(test_bad_input_gets_the_right_error_and_changes_nothing)
TIMED(test_a_worker_role_may_not_change_queues)
TIMED(test_a_claim_waits_for_work_when_asked)
TIMED(test_at_most_half_the_server_threads_wait_for_work)
TIMED(test_old_stored_replies_are_forgotten)

static const struct harness_case cases[] = {
    {"a claim gives a fresh lease and opens an attempt",
        test_a_claim_gives_a_fresh_lease_and_opens_an_attempt_timed},
    {"a job retried N times ends dead_failed with N attempts",
        test_a_job_retried_n_times_ends_dead_failed_with_n_attempts_timed},
    {"a non-retryable failure dead-letters at once",
        test_a_non_retryable_failure_dead_letters_at_once_timed},
    {"a stale lease token changes nothing",
        test_a_stale_lease_token_changes_nothing_timed},
    {"a heartbeat extends the lease and reports a cancel",
        test_a_heartbeat_extends_the_lease_and_reports_a_cancel_timed},
    {"backoff puts run_at within the bounds",
        test_backoff_puts_run_at_within_the_bounds_timed},
    {"a paused queue hands out nothing",
        test_a_paused_queue_hands_out_nothing_timed},
    {"queues show policy, depth and lag",
        test_queues_show_policy_depth_and_lag_timed},
    {"concurrent claimers never hold one job",
        test_concurrent_claimers_never_hold_one_job_timed},
    {"an expired lease is rescued, or dead-lettered when exhausted",
        test_an_expired_lease_is_rescued_or_dead_lettered_timed},
    {"two servers rescue an expired lease once",
        test_two_servers_rescue_an_expired_lease_once_timed},
    {"a complete racing the rescuer ends in exactly one outcome",
        test_a_complete_racing_the_rescuer_ends_in_one_outcome_timed},
    {"the library worker loop runs jobs with heartbeats",
        test_the_library_worker_loop_runs_jobs_with_heartbeats_timed},
    {"a worker killed mid-job loses its lease and another retries it",
        test_a_worker_killed_mid_job_loses_its_lease_and_another_retries_timed},
    {"opsbus work runs a command over 100 jobs, some failing",
        test_opsbus_work_runs_a_command_over_100_jobs_timed},
    {"opsbus work on SIGTERM finishes or fails its job",
        test_opsbus_work_on_sigterm_finishes_or_fails_its_job_timed},
    {"opsbus work stops a cancelled job",
        test_opsbus_work_stops_a_cancelled_job_timed},
    {"bad input gets the right error and changes nothing",
        test_bad_input_gets_the_right_error_and_changes_nothing_timed},
    {"a worker role may not change queues",
        test_a_worker_role_may_not_change_queues_timed},
    {"a claim waits for work when asked",
        test_a_claim_waits_for_work_when_asked_timed},
    {"at most half the server threads wait for work",
        test_at_most_half_the_server_threads_wait_for_work_timed},
    {"old stored replies are forgotten",
        test_old_stored_replies_are_forgotten_timed},
    {NULL, NULL},
};

int
main(void)
{
	return (harness_run("lifecycle", cases, suite_init, suite_cleanup));
}
