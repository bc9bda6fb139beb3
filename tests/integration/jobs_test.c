/*
 * JobService for producers and readers, through libopsbus and through the
 * CLI: create, get, list with filters and pages, idempotency keys (same
 * request, different request, eight at once).
 */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "opsbus/v1/job.pb-c.h"

#define STR(s) ((char *) (uintptr_t) (s))

static struct harness_server srv;
static struct opsbus_client *cli;

static int
suite_init(void)
{
	if (harness_server_start(&srv, NULL) != 0) {
		return (-1);
	}
	cli = harness_client(&srv, NULL);
	return (cli != NULL ? 0 : -1);
}

static int
suite_cleanup(void)
{
	opsbus_client_close(cli);
	return (harness_server_stop(&srv, SIGTERM) == 0 ? 0 : -1);
}

static Opsbus__V1__CreateJobResponse *
create(struct opsbus_client *c, Opsbus__V1__CreateJobRequest *req,
    struct opsbus_status *st)
{
	ProtobufCMessage *out = NULL;

	if (opsbus_call(c, "opsbus.v1.JobService/CreateJob", &req->base,
	        &opsbus__v1__create_job_response__descriptor, &out, NULL, st)
	    != 0) {
		return (NULL);
	}
	return ((Opsbus__V1__CreateJobResponse *) out);
}

static void
test_create_and_get(void)
{
	Opsbus__V1__CreateJobRequest   req;
	Opsbus__V1__CreateJobResponse *res;
	Opsbus__V1__GetJobRequest      get;
	Opsbus__V1__GetJobResponse    *got = NULL;
	struct opsbus_status           st;

	opsbus__v1__create_job_request__init(&req);
	req.queue = STR("writeback");
	req.target = STR("nextgen");
	req.kind = STR("note.writeback");
	req.subject = STR("note-17");
	req.payload = STR("{ \"noteId\": \"note-17\", \"ehr\": \"nextgen\" }");
	res = create(cli, &req, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(res);
	CU_ASSERT_TRUE(res->created);
	ASSERT_STR_EQ(res->job->status, "queued");
	ASSERT_STR_EQ(res->job->tenant, "default");
	ASSERT_INT_EQ(res->job->max_attempts, 5);
	ASSERT_INT_EQ(strlen(res->job->id), 36);
	CU_ASSERT_TRUE(strlen(res->job->created_at) > 20);

	opsbus__v1__get_job_request__init(&get);
	get.id = res->job->id;
	get.include_timeline = 1;
	CU_ASSERT_EQUAL_FATAL(
	    opsbus_call(cli, "opsbus.v1.JobService/GetJob", &get.base,
	        &opsbus__v1__get_job_response__descriptor,
	        (ProtobufCMessage **) &got, NULL, &st),
	    0);
	ASSERT_STR_EQ(got->job->id, res->job->id);
	ASSERT_STR_EQ(got->job->subject, "note-17");
	/* Stored as jsonb: normalized. */
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(got->job->payload, "\"noteId\": \"note-17\""));
	ASSERT_INT_EQ(got->n_timeline, 1);
	if (got->n_timeline == 1) {
		ASSERT_STR_EQ(got->timeline[0]->event_type, "created");
	}
	/* The event went to the outbox in the same transaction. */
	ASSERT_INT_EQ(
	    harness_sql_long("SELECT count(*) FROM events WHERE job_id = '%s' "
	                     "AND topic = 'job.created.writeback'",
	        res->job->id),
	    1);
	protobuf_c_message_free_unpacked(&got->base, NULL);
	protobuf_c_message_free_unpacked(&res->base, NULL);
}

static void
test_create_validation(void)
{
	struct {
		const char *queue, *payload, *run_at;
		int         max_attempts;
	} bad[] = {
	    {"", "{}", "", 0},
	    {"has space", "{}", "", 0},
	    {"q", "{not json", "", 0},
	    {"q", "{\"a\":1,\"a\":2}", "", 0},
	    {"q", "{}", "yesterday", 0},
	    {"q", "{}", "", -1},
	    {"q", "{}", "", 1001},
	};
	long before = harness_sql_long("SELECT count(*) FROM jobs");

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		Opsbus__V1__CreateJobRequest req;
		struct opsbus_status         st;

		opsbus__v1__create_job_request__init(&req);
		req.queue = STR(bad[i].queue);
		req.payload = STR(bad[i].payload);
		req.run_at = STR(bad[i].run_at);
		req.max_attempts = bad[i].max_attempts;
		CU_ASSERT_PTR_NULL(create(cli, &req, &st));
		ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
	}
	/* A payload nested 100 deep is refused; 10,000 deep too. */
	char *deep = malloc(20001 + 1);
	for (int depth = 100; depth <= 10000; depth *= 100) {
		Opsbus__V1__CreateJobRequest req;
		struct opsbus_status         st;
		memset(deep, '[', (size_t) depth);
		memset(deep + depth, ']', (size_t) depth);
		deep[2 * depth] = '\0';
		opsbus__v1__create_job_request__init(&req);
		req.queue = STR("q");
		req.payload = deep;
		CU_ASSERT_PTR_NULL(create(cli, &req, &st));
		ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
	}
	free(deep);
	ASSERT_INT_EQ(harness_sql_long("SELECT count(*) FROM jobs"), before);
}

static void
test_idempotency(void)
{
	Opsbus__V1__CreateJobRequest   req;
	Opsbus__V1__CreateJobResponse *a, *b;
	struct opsbus_status           st;

	opsbus__v1__create_job_request__init(&req);
	req.queue = STR("ingest");
	req.kind = STR("encounter");
	req.idempotency_key = STR("demo-1700000000");
	req.payload = STR(
	    "{\"patient\":{\"first_name\":\"Sam\"},\"payload\":{\"x\":1}}");
	a = create(cli, &req, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_TRUE(a->created);
	/* The same document written differently is the same request. */
	req.payload = STR("{ \"payload\": {\"x\": 1}, \"patient\": "
	                  "{\"first_name\": \"Sam\"} }");
	b = create(cli, &req, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_FALSE(b->created);
	ASSERT_STR_EQ(a->job->id, b->job->id);
	protobuf_c_message_free_unpacked(&b->base, NULL);
	ASSERT_INT_EQ(harness_sql_long("SELECT count(*) FROM jobs WHERE "
	                               "idempotency_key = '%s'",
	                  "demo-1700000000"),
	    1);

	/* A different request with the key: refused, key quarantined, one
	 * exception holding the first and the last request. */
	req.payload = STR(
	    "{\"patient\":{\"first_name\":\"Sam\",\"dob\":\"1990-01-02\"}}");
	CU_ASSERT_PTR_NULL(create(cli, &req, &st));
	ASSERT_INT_EQ(st.code, 6);
	ASSERT_STR_EQ(st.error_code, "IDEMPOTENCY_CONFLICT");
	CU_ASSERT_PTR_NULL(create(cli, &req, &st));
	ASSERT_STR_EQ(st.error_code, "IDEMPOTENCY_CONFLICT");
	char *state = harness_sql(NULL,
	    "SELECT state FROM idempotency_keys "
	    "WHERE key = 'demo-1700000000'");
	ASSERT_STR_EQ(state, "quarantined");
	free(state);
	ASSERT_INT_EQ(
	    harness_sql_long("SELECT count(*) FROM exceptions WHERE "
	                     "idem_key = '%s' AND status = 'open' AND "
	                     "first_raw LIKE '%%\"x\":1%%' AND last_raw LIKE "
	                     "'%%1990-01-02%%' AND exception_type = "
	                     "'IDEMPOTENCY_CONFLICT'",
	        "demo-1700000000"),
	    1);
	ASSERT_INT_EQ(harness_sql_long("SELECT count(*) FROM jobs WHERE "
	                               "idempotency_key = '%s'",
	                  "demo-1700000000"),
	    1);
	/* The original request still answers the original job. */
	req.payload = STR(
	    "{\"payload\":{\"x\":1},\"patient\":{\"first_name\":\"Sam\"}}");
	b = create(cli, &req, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	ASSERT_STR_EQ(a->job->id, b->job->id);
	protobuf_c_message_free_unpacked(&b->base, NULL);
	protobuf_c_message_free_unpacked(&a->base, NULL);
}

struct racer {
	pthread_barrier_t *barrier;
	char               id[64];
	int                created;
};

static void *
race_create(void *arg)
{
	struct racer                  *r = arg;
	struct opsbus_client          *c = harness_client(&srv, NULL);
	Opsbus__V1__CreateJobRequest   req;
	Opsbus__V1__CreateJobResponse *res;
	struct opsbus_status           st;

	opsbus__v1__create_job_request__init(&req);
	req.queue = STR("race");
	req.idempotency_key = STR("one-key-eight-callers");
	req.payload = STR("{\"n\":8}");
	pthread_barrier_wait(r->barrier);
	res = create(c, &req, &st);
	if (res != NULL) {
		snprintf(r->id, sizeof(r->id), "%s", res->job->id);
		r->created = res->created;
		protobuf_c_message_free_unpacked(&res->base, NULL);
	} else {
		fprintf(stderr, "racer: %s %s\n", st.error_code, st.message);
	}
	opsbus_client_close(c);
	return (NULL);
}

static void
test_concurrent_idempotent_creates(void)
{
	pthread_t         t[8];
	struct racer      r[8];
	pthread_barrier_t barrier;
	int               created = 0;

	pthread_barrier_init(&barrier, NULL, 8);
	for (int i = 0; i < 8; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].barrier = &barrier;
		pthread_create(&t[i], NULL, race_create, &r[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
	}
	pthread_barrier_destroy(&barrier);
	for (int i = 0; i < 8; i++) {
		CU_ASSERT_TRUE(r[i].id[0] != '\0');
		ASSERT_STR_EQ(r[i].id, r[0].id);
		created += r[i].created;
	}
	ASSERT_INT_EQ(created, 1);
	ASSERT_INT_EQ(
	    harness_sql_long(
	        "SELECT count(*) FROM jobs WHERE queue = '%s'", "race"),
	    1);
}

static void
test_list_filters_and_pages(void)
{
	Opsbus__V1__ListJobsRequest   req;
	Opsbus__V1__ListJobsResponse *res = NULL;
	struct opsbus_status          st;
	char                          seen[25][40];
	int                           n = 0;
	char                          token[512] = "";

	for (int i = 0; i < 25; i++) {
		Opsbus__V1__CreateJobRequest   c;
		Opsbus__V1__CreateJobResponse *cr;
		opsbus__v1__create_job_request__init(&c);
		c.queue = STR("pages");
		c.target = STR(i % 2 == 0 ? "even" : "odd");
		cr = create(cli, &c, &st);
		CU_ASSERT_PTR_NOT_NULL_FATAL(cr);
		protobuf_c_message_free_unpacked(&cr->base, NULL);
	}
	/* Pages of 10 over the 25: 10, 10, 5, each newest first, no repeats.
	 */
	for (int page = 0; page < 3; page++) {
		opsbus__v1__list_jobs_request__init(&req);
		req.queue = STR("pages");
		req.limit_value_case
		    = OPSBUS__V1__LIST_JOBS_REQUEST__LIMIT_VALUE_LIMIT;
		req.limit = 10;
		req.page_token = token;
		CU_ASSERT_EQUAL_FATAL(
		    opsbus_call(cli, "opsbus.v1.JobService/ListJobs",
		        &req.base, &opsbus__v1__list_jobs_response__descriptor,
		        (ProtobufCMessage **) &res, NULL, &st),
		    0);
		ASSERT_INT_EQ(res->n_jobs, page < 2 ? 10 : 5);
		for (size_t i = 0; i < res->n_jobs; i++) {
			for (int k = 0; k < n; k++) {
				CU_ASSERT_STRING_NOT_EQUAL(
				    seen[k], res->jobs[i]->id);
			}
			snprintf(seen[n++], sizeof(seen[0]), "%s",
			    res->jobs[i]->id);
			if (i > 0) {
				CU_ASSERT_TRUE(
				    strcmp(res->jobs[i - 1]->created_at,
				        res->jobs[i]->created_at)
				    >= 0);
			}
		}
		snprintf(token, sizeof(token), "%s", res->next_page_token);
		CU_ASSERT_EQUAL(token[0] == '\0', page == 2);
		protobuf_c_message_free_unpacked(&res->base, NULL);
	}
	ASSERT_INT_EQ(n, 25);
	/* Filters: target, and several states. */
	opsbus__v1__list_jobs_request__init(&req);
	req.queue = STR("pages");
	req.target = STR("even");
	CU_ASSERT_EQUAL_FATAL(
	    opsbus_call(cli, "opsbus.v1.JobService/ListJobs", &req.base,
	        &opsbus__v1__list_jobs_response__descriptor,
	        (ProtobufCMessage **) &res, NULL, &st),
	    0);
	ASSERT_INT_EQ(res->n_jobs, 13);
	protobuf_c_message_free_unpacked(&res->base, NULL);
	const char *states[] = {"dead_failed", "succeeded"};
	req.states = (char **) (uintptr_t) states;
	req.n_states = 2;
	CU_ASSERT_EQUAL_FATAL(
	    opsbus_call(cli, "opsbus.v1.JobService/ListJobs", &req.base,
	        &opsbus__v1__list_jobs_response__descriptor,
	        (ProtobufCMessage **) &res, NULL, &st),
	    0);
	ASSERT_INT_EQ(res->n_jobs, 0);
	protobuf_c_message_free_unpacked(&res->base, NULL);
	/* A forged page token and an unknown state are refused. */
	req.n_states = 0;
	req.page_token = STR("7b2227203b2044524f50");
	CU_ASSERT_NOT_EQUAL(
	    opsbus_call(cli, "opsbus.v1.JobService/ListJobs", &req.base,
	        &opsbus__v1__list_jobs_response__descriptor,
	        (ProtobufCMessage **) &res, NULL, &st),
	    0);
	ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
	req.page_token = STR("");
	const char *unknown[] = {"failed"};
	req.states = (char **) (uintptr_t) unknown;
	req.n_states = 1;
	CU_ASSERT_NOT_EQUAL(
	    opsbus_call(cli, "opsbus.v1.JobService/ListJobs", &req.base,
	        &opsbus__v1__list_jobs_response__descriptor,
	        (ProtobufCMessage **) &res, NULL, &st),
	    0);
	ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
}

static void
test_cli(void)
{
	char *out = NULL, *err = NULL;
	char  id[64];

	const char *health[] = {"health", NULL};
	ASSERT_INT_EQ(harness_cli(&srv, health, &out, &err), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "status:          SERVING"));
	free(out);
	free(err);

	const char *create_args[] = {"jobs", "create", "--queue", "cli-q",
	    "--target", "nextgen", "--payload", "{\"noteId\":\"n-1\"}",
	    "--idempotency-key", "cli-key-1", NULL};
	ASSERT_INT_EQ(harness_cli(&srv, create_args, &out, &err), 0);
	CU_ASSERT_EQUAL(sscanf(out, "created %36s", id), 1);
	free(out);
	free(err);
	/* Again: the same job, said as existing. */
	ASSERT_INT_EQ(harness_cli(&srv, create_args, &out, &err), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, id));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "existing"));
	free(out);
	free(err);

	const char *get_args[] = {"jobs", "get", id, "--timeline", NULL};
	ASSERT_INT_EQ(harness_cli(&srv, get_args, &out, &err), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "status:            queued"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "created"));
	free(out);
	free(err);

	const char *json_args[] = {"--json", "jobs", "get", id, NULL};
	ASSERT_INT_EQ(harness_cli(&srv, json_args, &out, &err), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"maxAttempts\": 5"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"status\": \"queued\""));
	free(out);
	free(err);

	const char *list_args[]
	    = {"jobs", "list", "--queue", "cli-q", "--state", "queued", NULL};
	ASSERT_INT_EQ(harness_cli(&srv, list_args, &out, &err), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "ID"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, id));
	free(out);
	free(err);

	/* Errors: exit 1, the code and message on stderr. */
	const char *missing[]
	    = {"jobs", "get", "00000000-0000-0000-0000-000000000000", NULL};
	ASSERT_INT_EQ(harness_cli(&srv, missing, &out, &err), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "JOB_NOT_FOUND"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "correlation id"));
	free(out);
	free(err);
	const char *limit0[] = {"jobs", "list", "--limit", "0", NULL};
	ASSERT_INT_EQ(harness_cli(&srv, limit0, &out, &err), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "VALIDATION_ERROR"));
	free(out);
	free(err);
	/* Usage errors: exit 2. */
	const char *unknown[] = {"jobs", "frobnicate", NULL};
	ASSERT_INT_EQ(harness_cli(&srv, unknown, &out, &err), 2);
	free(out);
	free(err);
	const char *badopt[] = {"jobs", "list", "--colour", "red", NULL};
	ASSERT_INT_EQ(harness_cli(&srv, badopt, &out, &err), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "--colour"));
	free(out);
	free(err);
	/* A wrong key. */
	const char *wrongkey[]
	    = {"--api-key", "not-the-key-at-all", "jobs", "list", NULL};
	ASSERT_INT_EQ(harness_cli(&srv, wrongkey, &out, &err), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "UNAUTHORIZED"));
	free(out);
	free(err);
}

int
main(void)
{
	static const struct harness_case cases[] = {
	    {"a job is created queued and read back with its timeline",
	        test_create_and_get},
	    {"bad create requests are refused and make no job",
	        test_create_validation},
	    {"an idempotency key answers the same job for the same request "
	     "and "
	     "refuses a different one",
	        test_idempotency},
	    {"eight concurrent creates with one key make one job",
	        test_concurrent_idempotent_creates},
	    {"lists filter and page newest first without repeats",
	        test_list_filters_and_pages},
	    {"the CLI creates, gets and lists, and reports errors with exit 1",
	        test_cli},
	    {NULL, NULL},
	};

	return (
	    harness_run("integration.jobs", cases, suite_init, suite_cleanup));
}
