/*
 * The plans PostgreSQL runs for the calls producers and workers make,
 * checked on a database the size of a busy deployment: 200,000 finished
 * jobs with their attempts and events, 100,000 stored replies, and a
 * backlog of 90,000 queued jobs. opsbusd runs with every statement on a
 * generic plan (plan_cache_mode = force_generic_plan, the plan PostgreSQL
 * switches to after five runs of a prepared statement, and the one the
 * grouped calls always use) and with auto_explain logging each plan. Each
 * statement names itself in a comment ("opsbus:<name>", store/db.c), so the
 * log says which plan is whose.
 *
 * What is refused: a scan of a whole table that grows with history (jobs,
 * job_attempts, events, request_replies, idempotency_keys) in any
 * statement of these calls, and, for the statements that find one running
 * job by its id, the partial index of running jobs (jobs_lease) in place
 * of the key: both make every call slower as the tables grow. Heartbeat
 * and FailJob had the second (they filtered every running job by id).
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "opsbus/v1/job.pb-c.h"
#include "opsbus/v1/operator.pb-c.h"
#include "opsutil.h"

#define PB(s) ((char *) (uintptr_t) (s))

static struct harness_server srv;
static struct opsbus_client *cli;

/* Tables that grow with history: never scanned whole by a hot call. */
static const char *const growing[] = {
    "jobs", "job_attempts", "events", "request_replies", "idempotency_keys"};

/* Statements that find one running job by its id. */
static const char *const by_running_id[]
    = {"worker_heartbeat", "worker_fail", "worker_complete"};

/* Every statement the calls below run; each must show up in the log. */
static const char *const hot[] = {"job_create_many", "job_key_claim",
    "job_key_read", "job_get", "worker_claim", "worker_heartbeat",
    "worker_complete", "worker_fail_read", "worker_fail",
    "dispatch_replies_put", "dispatch_reply_get", "dispatch_reply_put"};

/* The seed, analyzed: the planner sees a large table when the calls
 * first plan their statements. */
static const char *const seed_sql[] = {
    /* 200,000 finished jobs over 20 queues. */
    "INSERT INTO jobs (id, tenant, queue, target, kind, subject, payload, "
    "status, max_attempts, attempts, priority, run_at, final_state_at, "
    "correlation_id, created_at, updated_at) SELECT gen_random_uuid(), "
    "'default', 'history-' || (g % 20), 't', 'k', 'subject-' || g, "
    "'{\"n\": 1}', 'succeeded', 5, 1, 0, now() - interval '2 days', "
    "now() - interval '2 days', 'c', now() - interval '2 days', "
    "now() - interval '2 days' FROM generate_series(1, 200000) g",
    /* A backlog of 90,000 over three queues (an outage downstream), the
     * test working one of them. */
    "INSERT INTO jobs (id, tenant, queue, payload, status, max_attempts, "
    "run_at, created_at) SELECT gen_random_uuid(), 'default', "
    "(ARRAY['plans', 'backlog-1', 'backlog-2'])[g % 3 + 1], '{}', "
    "'queued', 5, now() - interval '1 day' + g * interval '1 ms', "
    "now() - interval '1 day' FROM generate_series(1, 90000) g",
    "INSERT INTO job_attempts (job_id, attempt, worker_id, from_status, "
    "to_status, started_at, ended_at) SELECT id, 1, 'w', 'queued', "
    "'succeeded', created_at, created_at FROM jobs "
    "WHERE status = 'succeeded'",
    "INSERT INTO events (event_id, event_type, topic, job_id, queue, "
    "tenant, actor, payload) SELECT gen_random_uuid(), 'succeeded', "
    "'job.succeeded.' || queue, id, queue, tenant, 'w', '{}' FROM jobs "
    "WHERE status = 'succeeded'",
    "INSERT INTO request_replies (request_id, method, response) SELECT "
    "'seed:' || g, 'm', '\\x00' FROM generate_series(1, 100000) g",
    "INSERT INTO idempotency_keys (tenant, scope, key, request_hash) "
    "SELECT 'default', 'job:history', 'seed-' || g, '\\x00' FROM "
    "generate_series(1, 50000) g",
    "ANALYZE",
};

/* Lists operators read. */
static const char *const listed[] = {"job_list", "operator_dead_letters"};

static int
suite_init(void)
{
	/* Only opsbusd's connections carry these. */
	setenv("PGOPTIONS",
	    "-c session_preload_libraries=auto_explain "
	    "-c auto_explain.log_min_duration=0 "
	    "-c plan_cache_mode=force_generic_plan",
	    1);
	int rv = harness_suite_open(&srv, &cli);
	unsetenv("PGOPTIONS");
	if (rv != 0) {
		return (-1);
	}
	for (size_t i = 0; i < sizeof(seed_sql) / sizeof(seed_sql[0]); i++) {
		char *r = harness_sql(NULL, "%s", seed_sql[i]);

		if (r == NULL) {
			return (-1);
		}
		free(r);
	}
	return (0);
}

static int
suite_cleanup(void)
{
	return (harness_suite_close(&srv, cli));
}

/* The PostgreSQL log: where auto_explain wrote the plans (malloc'd). */
static char *
read_pg_log(void)
{
	char   path[600];
	FILE  *f;
	char  *buf = NULL;
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/pg/postgresql.log", harness_tmpdir());
	if ((f = fopen(path, "r")) == NULL) {
		return (NULL);
	}
	fseek(f, 0, SEEK_END);
	n = (size_t) ftell(f);
	fseek(f, 0, SEEK_SET);
	if ((buf = malloc(n + 1)) != NULL) {
		n = fread(buf, 1, n, f);
		buf[n] = '\0';
	}
	fclose(f);
	return (buf);
}

/*
 * The plan of the next log entry after p naming statement name, as a
 * malloc'd copy (the entry runs to the next line that starts a log
 * entry). NULL when there is none; *p moves past it.
 */
static char *
next_plan(const char **p, const char *name)
{
	char        tag[96];
	const char *at, *start, *end;
	char       *plan;

	snprintf(tag, sizeof(tag), "Query Text: /* opsbus:%s */", name);
	if ((at = strstr(*p, tag)) == NULL) {
		return (NULL);
	}
	start = at;
	/* Entries start "2026-...": a line that does not start with a tab
	 * or a space. */
	end = strchr(at, '\n');
	while (end != NULL && (end[1] == '\t' || end[1] == ' ')) {
		end = strchr(end + 1, '\n');
	}
	if (end == NULL) {
		end = at + strlen(at);
	}
	plan = strndup(start, (size_t) (end - start));
	*p = end;
	return (plan);
}

/* Fails the test with the plan when it contains what is refused. */
static void
check_plan(const char *name, const char *plan)
{
	char bad[96];

	for (size_t t = 0; t < sizeof(growing) / sizeof(growing[0]); t++) {
		snprintf(bad, sizeof(bad), "Seq Scan on %s ", growing[t]);
		if (strstr(plan, bad) != NULL) {
			fprintf(stderr, "%s scans all of %s:\n%s\n", name,
			    growing[t], plan);
			CU_FAIL("a hot statement scans a growing table");
		}
	}
	for (size_t s = 0;
	     s < sizeof(by_running_id) / sizeof(by_running_id[0]); s++) {
		if (strcmp(name, by_running_id[s]) == 0
		    && strstr(plan, "jobs_lease") != NULL) {
			fprintf(stderr,
			    "%s reads the running jobs instead of the "
			    "key:\n%s\n",
			    name, plan);
			CU_FAIL("a lookup by id goes through jobs_lease");
		}
	}
}

/* Every plan of each named statement in the log passes check_plan, and
 * there is at least one. */
static void
check_log(const char *const *names, size_t n)
{
	char *log = read_pg_log();

	CU_ASSERT_PTR_NOT_NULL_FATAL(log);
	for (size_t s = 0; s < n; s++) {
		const char *p = log;
		char       *plan;
		int         seen = 0;

		while ((plan = next_plan(&p, names[s])) != NULL) {
			check_plan(names[s], plan);
			free(plan);
			seen++;
		}
		if (seen == 0) {
			fprintf(
			    stderr, "no plan of %s in the log\n", names[s]);
		}
		CU_ASSERT(seen > 0);
	}
	free(log);
}

static void
test_hot_calls_use_keys(void)
{
	char         *ids[100], *tokens[100];
	struct ou_job plain = {.queue = "plans", .payload = "{\"note\": 1}"};
	struct ou_job keyed = plain;
	char         *made;
	struct opsbus_status st;
	bool                 cancel;
	int                  got;

	/* Each call six times: the generic plan is the one of interest,
	 * and a statement is planned anew on each connection. */
	for (int round = 0; round < 6; round++) {
		char key[64];

		snprintf(key, sizeof(key), "plans-key-%d", round);
		made = ou_create(cli, &plain);
		CU_ASSERT_PTR_NOT_NULL_FATAL(made);
		free(made);
		/* A keyed create, then its resend (the key is read). */
		keyed.idempotency_key = key;
		for (int again = 0; again < 2; again++) {
			made = ou_create(cli, &keyed);
			CU_ASSERT_PTR_NOT_NULL_FATAL(made);
			free(made);
		}

		got = ou_claim(cli, "plans", "plans-worker", 3, ids, tokens);
		ASSERT_INT_EQ(got, 3);
		CU_ASSERT_EQUAL(
		    ou_heartbeat(cli, ids[0], tokens[0], &cancel, &st), 0);
		CU_ASSERT_EQUAL(ou_complete(cli, ids[0], tokens[0], &st), 0);
		CU_ASSERT_EQUAL(ou_fail(cli, ids[1], tokens[1], "TIMEOUT",
		                    "transient", true, "timed out", "", &st),
		    0);
		CU_ASSERT_EQUAL(ou_fail(cli, ids[2], tokens[2], "BAD_INPUT",
		                    "input", false, "bad input", "", &st),
		    0);
		for (int i = 0; i < got; i++) {
			free(ids[i]);
			free(tokens[i]);
		}
		/* A batch, as busy workers take it. */
		got = ou_claim(cli, "plans", "plans-worker", 100, ids, tokens);
		ASSERT_INT_EQ(got, 100);
		for (int i = 0; i < got; i++) {
			free(ids[i]);
			free(tokens[i]);
		}
	}

	check_log(hot, sizeof(hot) / sizeof(hot[0]));
}

/*
 * The dead-letter list and a job list filtered by state, more than five
 * times each (after five, PostgreSQL may keep a prepared statement's
 * generic plan): each plan reads the jobs of those states through an
 * index, not every job. Their generic plans would not (the dead-letter
 * list's is a parallel scan of every job: its optional filters, "$2 = ''
 * OR ...", hide which index serves), so this opsbusd runs with
 * PostgreSQL's defaults, under which it has kept the custom plans.
 */
static void
test_operator_lists_use_indexes(void)
{
	struct harness_server auto_srv;
	struct opsbus_client *c;
	struct opsbus_status  st;

	/* PostgreSQL's own choice of plans this time (plan_cache_mode
	 * auto, as deployed), still logged. */
	setenv("PGOPTIONS",
	    "-c session_preload_libraries=auto_explain "
	    "-c auto_explain.log_min_duration=0",
	    1);
	int rv = harness_server_start(&auto_srv, NULL);
	unsetenv("PGOPTIONS");
	CU_ASSERT_EQUAL_FATAL(rv, 0);
	c = harness_client(&auto_srv, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);

	for (int round = 0; round < 7; round++) {
		Opsbus__V1__ListDeadLettersRequest dl
		    = OPSBUS__V1__LIST_DEAD_LETTERS_REQUEST__INIT;
		Opsbus__V1__ListJobsRequest jl
		    = OPSBUS__V1__LIST_JOBS_REQUEST__INIT;
		ProtobufCMessage *out = NULL;
		char             *states[] = {PB("dead_failed")};

		dl.status = PB(round % 2 == 0 ? "failed" : "dead_failed");
		CU_ASSERT_EQUAL(
		    ou_call(c, "opsbus.v1.OperatorService/ListDeadLetters",
		        &dl.base,
		        &opsbus__v1__list_dead_letters_response__descriptor,
		        &out, NULL, &st),
		    0);
		if (out != NULL) {
			protobuf_c_message_free_unpacked(out, NULL);
			out = NULL;
		}
		jl.states = states;
		jl.n_states = 1;
		CU_ASSERT_EQUAL(
		    ou_call(c, "opsbus.v1.JobService/ListJobs", &jl.base,
		        &opsbus__v1__list_jobs_response__descriptor, &out,
		        NULL, &st),
		    0);
		if (out != NULL) {
			protobuf_c_message_free_unpacked(out, NULL);
		}
	}
	opsbus_client_close(c);
	ASSERT_INT_EQ(harness_server_stop(&auto_srv, SIGTERM), 0);
	check_log(listed, sizeof(listed) / sizeof(listed[0]));
}

int
main(void)
{
	static const struct harness_case cases[]
	    = {{"the calls of producers and workers use keys, not scans",
	           test_hot_calls_use_keys},
	        {"operators' lists read through indexes",
	            test_operator_lists_use_indexes},
	        {NULL, NULL}};

	return (harness_run("plans", cases, suite_init, suite_cleanup));
}
