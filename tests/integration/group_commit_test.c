/*
 * Group commit of CreateJob: creates that arrive together share one
 * transaction, and each still gets its own answer: its own idempotency
 * check, its own validation error, its own stored reply for a resend, and a
 * failure of one never fails its neighbours.
 */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "opsbus/v1/job.pb-c.h"
#include "rawcall.h"

#define STR(s) ((char *) (uintptr_t) (s))

/* Producers at once, and creates each. */
#define PRODUCERS 24
#define ROUNDS    12

static struct harness_server srv;

static int
suite_init(void)
{
	/* As many workers as producers, so that calls can meet. */
	static const char *const extra[] = {"--workers", "32", NULL};

	return (harness_server_start(&srv, extra));
}

static int
suite_cleanup(void)
{
	return (harness_server_stop(&srv, SIGTERM) == 0 ? 0 : -1);
}

/*
 * What one producer does in round i, by the producer's kind:
 *   0  no key
 *   1  a key of its own
 *   2  one key shared with every kind-2 producer, the same request
 *   3  one key shared with every kind-3 producer, a different payload each
 *   4  an invalid request (a payload that is not JSON)
 *   5  a kind its queue does not allow, with a key of its own
 */
enum kind {
	K_PLAIN,
	K_OWN_KEY,
	K_SAME,
	K_CONFLICT,
	K_INVALID,
	K_UNKNOWN_KIND,
	K_KINDS
};

struct outcome {
	char id[40];
	int  created;
	char error_code[64];
};

struct producer {
	pthread_barrier_t *barrier;
	int                index;
	enum kind          kind;
	const char        *queue;
	struct outcome     out[ROUNDS];
};

static void
fill_request(const struct producer *p, int round,
    Opsbus__V1__CreateJobRequest *req, char *key, size_t key_len,
    char *payload, size_t payload_len)
{
	opsbus__v1__create_job_request__init(req);
	req->queue = STR(p->queue);
	req->subject = STR("group commit");
	req->kind = STR("allowed");
	snprintf(payload, payload_len, "{\"round\":%d}", round);
	switch (p->kind) {
	case K_OWN_KEY:
		snprintf(key, key_len, "own-%d-%d", p->index, round);
		req->idempotency_key = key;
		break;
	case K_SAME:
		snprintf(key, key_len, "same-%d", round);
		req->idempotency_key = key;
		break;
	case K_CONFLICT:
		snprintf(key, key_len, "conflict-%d", round);
		req->idempotency_key = key;
		snprintf(payload, payload_len, "{\"round\":%d,\"who\":%d}",
		    round, p->index);
		break;
	case K_INVALID:
		snprintf(payload, payload_len, "{not json");
		break;
	case K_UNKNOWN_KIND:
		snprintf(key, key_len, "unknown-kind-%d-%d", p->index, round);
		req->idempotency_key = key;
		req->kind = STR("not.allowed");
		break;
	default:
		break;
	}
	req->payload = payload;
}

static void *
produce(void *arg)
{
	struct producer      *p = arg;
	struct opsbus_client *c = harness_client(&srv, NULL);

	pthread_barrier_wait(p->barrier);
	for (int i = 0; i < ROUNDS && c != NULL; i++) {
		Opsbus__V1__CreateJobRequest req;
		ProtobufCMessage            *out = NULL;
		struct opsbus_status         st;
		char                         key[64], payload[128];

		fill_request(
		    p, i, &req, key, sizeof(key), payload, sizeof(payload));
		if (opsbus_call(c, "opsbus.v1.JobService/CreateJob", &req.base,
		        &opsbus__v1__create_job_response__descriptor, &out,
		        NULL, &st)
		    == 0) {
			Opsbus__V1__CreateJobResponse *r
			    = (Opsbus__V1__CreateJobResponse *) out;

			snprintf(p->out[i].id, sizeof(p->out[i].id), "%s",
			    r->job->id);
			p->out[i].created = r->created;
			snprintf(p->out[i].error_code,
			    sizeof(p->out[i].error_code), "OK");
			protobuf_c_message_free_unpacked(out, NULL);
		} else {
			snprintf(p->out[i].error_code,
			    sizeof(p->out[i].error_code), "%s", st.error_code);
		}
	}
	opsbus_client_close(c);
	return (NULL);
}

static void
run_producers(struct producer *p, const char *queue)
{
	pthread_t         t[PRODUCERS];
	pthread_barrier_t barrier;

	pthread_barrier_init(&barrier, NULL, PRODUCERS);
	for (int i = 0; i < PRODUCERS; i++) {
		memset(&p[i], 0, sizeof(p[i]));
		p[i].barrier = &barrier;
		p[i].index = i;
		p[i].kind = (enum kind)(i % K_KINDS);
		p[i].queue = queue;
		pthread_create(&t[i], NULL, produce, &p[i]);
	}
	for (int i = 0; i < PRODUCERS; i++) {
		pthread_join(t[i], NULL);
	}
	pthread_barrier_destroy(&barrier);
}

/* Checks round i of every producer of kind k shares one job. */
static void
check_shared(const struct producer *p, enum kind k, int round)
{
	const char *first = NULL;
	int         created = 0, ok = 0;

	for (int j = 0; j < PRODUCERS; j++) {
		const struct outcome *o = &p[j].out[round];

		if (p[j].kind != k) {
			continue;
		}
		if (strcmp(o->error_code, "OK") != 0) {
			/* Only a conflicting request may be refused. */
			CU_ASSERT_TRUE(k == K_CONFLICT);
			ASSERT_STR_EQ(o->error_code, "IDEMPOTENCY_CONFLICT");
			continue;
		}
		ok++;
		created += o->created;
		if (first == NULL) {
			first = o->id;
		}
		ASSERT_STR_EQ(o->id, first);
	}
	/* Exactly one request made the job; the same requests got it too. */
	ASSERT_INT_EQ(created, 1);
	CU_ASSERT_TRUE(ok >= 1);
}

static void
test_grouped_creates_answer_each(void)
{
	static struct producer p[PRODUCERS];
	long                   jobs, txs;

	free(harness_sql(NULL,
	    "INSERT INTO queues (name, allowed_kinds) VALUES ('gc-mixed', "
	    "'{allowed}')"));
	run_producers(p, "gc-mixed");
	for (int j = 0; j < PRODUCERS; j++) {
		for (int i = 0; i < ROUNDS; i++) {
			const struct outcome *o = &p[j].out[i];

			if (p[j].kind == K_INVALID) {
				ASSERT_STR_EQ(
				    o->error_code, "VALIDATION_ERROR");
			} else if (p[j].kind == K_UNKNOWN_KIND) {
				ASSERT_STR_EQ(
				    o->error_code, "UNKNOWN_EVENT_TYPE");
			} else if (p[j].kind == K_PLAIN
			    || p[j].kind == K_OWN_KEY) {
				ASSERT_STR_EQ(o->error_code, "OK");
				ASSERT_INT_EQ(o->created, 1);
			}
		}
	}
	for (int i = 0; i < ROUNDS; i++) {
		check_shared(p, K_SAME, i);
		check_shared(p, K_CONFLICT, i);
	}
	/* Producers of kinds 0 and 1 make a job per round each; kinds 2 and
	 * 3 one per round between them. */
	int per_round = 0;
	for (int j = 0; j < PRODUCERS; j++) {
		per_round += p[j].kind == K_PLAIN || p[j].kind == K_OWN_KEY;
	}
	jobs = harness_sql_long(
	    "SELECT count(*) FROM jobs WHERE queue = 'gc-mixed'");
	ASSERT_INT_EQ(jobs, (long) (per_round + 2) * ROUNDS);
	/* One created event per job, and no job without one. */
	ASSERT_INT_EQ(
	    harness_sql_long("SELECT count(*) FROM events WHERE queue = "
	                     "'gc-mixed' AND event_type = 'created'"),
	    jobs);
	ASSERT_INT_EQ(
	    harness_sql_long("SELECT count(*) FROM jobs j WHERE queue = "
	                     "'gc-mixed' AND NOT EXISTS (SELECT 1 FROM "
	                     "events e WHERE e.job_id = j.id)"),
	    0);
	/* Every key points at its job. */
	ASSERT_INT_EQ(
	    harness_sql_long("SELECT count(*) FROM idempotency_keys k "
	                     "WHERE scope = 'job:gc-mixed' AND NOT EXISTS "
	                     "(SELECT 1 FROM jobs j WHERE j.id = "
	                     "k.result_id AND j.idempotency_key = k.key)"),
	    0);
	/* Each refused kind opened its exception (their requests all
	 * differ), and took no key and made no job. */
	int unknown = 0;
	for (int j = 0; j < PRODUCERS; j++) {
		unknown += p[j].kind == K_UNKNOWN_KIND;
	}
	ASSERT_INT_EQ(harness_sql_long("SELECT count(*) FROM exceptions WHERE "
	                               "queue = 'gc-mixed' AND exception_type "
	                               "= 'UNKNOWN_EVENT_TYPE' AND status = "
	                               "'open'"),
	    (long) unknown * ROUNDS);
	ASSERT_INT_EQ(
	    harness_sql_long("SELECT count(*) FROM idempotency_keys WHERE "
	                     "scope = 'job:gc-mixed' AND key LIKE "
	                     "'unknown-kind-%%'"),
	    0);
	ASSERT_INT_EQ(
	    harness_sql_long("SELECT count(*) FROM jobs WHERE queue = "
	                     "'gc-mixed' AND kind = 'not.allowed'"),
	    0);
	/* And jobs did share transactions: fewer commits than jobs. */
	txs = harness_sql_long(
	    "SELECT count(DISTINCT xmin::text) FROM jobs WHERE "
	    "queue = 'gc-mixed'");
	fprintf(
	    stderr, "group commit: %ld jobs in %ld transactions\n", jobs, txs);
	CU_ASSERT_TRUE(txs < jobs);
}

struct resender {
	pthread_barrier_t *barrier;
	const uint8_t     *env;
	size_t             env_len;
	char               id[40];
	int                created;
};

static void *
resend(void *arg)
{
	struct resender         *r = arg;
	struct opsbus_client    *c = harness_client(&srv, NULL);
	Opsbus__V1__RpcResponse *resp;

	pthread_barrier_wait(r->barrier);
	resp = c != NULL ? rawcall_send_bytes(c, r->env, r->env_len) : NULL;
	if (resp != NULL && resp->code == 0) {
		Opsbus__V1__CreateJobResponse *out
		    = opsbus__v1__create_job_response__unpack(
		        NULL, resp->body.len, resp->body.data);
		if (out != NULL) {
			snprintf(r->id, sizeof(r->id), "%s", out->job->id);
			r->created = out->created;
			opsbus__v1__create_job_response__free_unpacked(
			    out, NULL);
		}
	}
	if (resp != NULL) {
		opsbus__v1__rpc_response__free_unpacked(resp, NULL);
	}
	opsbus_client_close(c);
	return (NULL);
}

/* The same request id sent by 12 callers at once: one job, one answer. */
static void
test_resends_in_one_group(void)
{
	enum { N = 12 };
	Opsbus__V1__CreateJobRequest req
	    = OPSBUS__V1__CREATE_JOB_REQUEST__INIT;
	struct rawcall    rc = {0};
	struct resender   r[N];
	pthread_t         t[N];
	pthread_barrier_t barrier;
	uint8_t          *body, *env;

	req.queue = STR("gc-resend");
	req.payload = STR("{\"resent\":true}");
	rc.method = "opsbus.v1.JobService/CreateJob";
	rc.body_len = rawcall_pack_message(&req.base, &body);
	rc.body = body;
	rc.api_key = srv.api_key;
	rc.request_id = "gc-resend-0001";
	size_t env_len = rawcall_pack(&rc, &env);

	pthread_barrier_init(&barrier, NULL, N);
	for (int i = 0; i < N; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].barrier = &barrier;
		r[i].env = env;
		r[i].env_len = env_len;
		pthread_create(&t[i], NULL, resend, &r[i]);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
	}
	pthread_barrier_destroy(&barrier);
	for (int i = 0; i < N; i++) {
		CU_ASSERT_TRUE(r[i].id[0] != '\0');
		ASSERT_STR_EQ(r[i].id, r[0].id);
		/* The stored reply is the first run's: created, for all. */
		ASSERT_INT_EQ(r[i].created, 1);
	}
	ASSERT_INT_EQ(
	    harness_sql_long(
	        "SELECT count(*) FROM jobs WHERE queue = 'gc-resend'"),
	    1);
	free(body);
	free(env);
}

/*
 * A create the database refuses (a trigger stands in for any statement
 * failure) makes its group fall back to running each call alone: the
 * refused one gets its error, its neighbours their jobs.
 */
static void
test_failure_spares_neighbours(void)
{
	static struct producer p[PRODUCERS];
	char                  *v;
	int                    refused = 0, made = 0;

	v = harness_sql(NULL,
	    "CREATE FUNCTION gc_poison() RETURNS trigger LANGUAGE plpgsql AS "
	    "$$BEGIN IF NEW.payload->>'round' = '3' AND NEW.queue = "
	    "'gc-poison' AND NEW.idempotency_key LIKE 'own-%%' THEN RAISE "
	    "EXCEPTION 'poisoned'; END IF; RETURN NEW; END$$; "
	    "CREATE TRIGGER gc_poison BEFORE INSERT ON jobs FOR EACH ROW "
	    "EXECUTE FUNCTION gc_poison(); SELECT 1");
	free(v);
	run_producers(p, "gc-poison");
	v = harness_sql(NULL,
	    "DROP TRIGGER gc_poison ON jobs; DROP FUNCTION "
	    "gc_poison(); SELECT 1");
	free(v);
	for (int j = 0; j < PRODUCERS; j++) {
		for (int i = 0; i < ROUNDS; i++) {
			const struct outcome *o = &p[j].out[i];

			if (p[j].kind == K_OWN_KEY && i == 3) {
				CU_ASSERT_TRUE(
				    strcmp(o->error_code, "OK") != 0);
				refused++;
			} else if (p[j].kind == K_PLAIN
			    || p[j].kind == K_OWN_KEY) {
				ASSERT_STR_EQ(o->error_code, "OK");
				made++;
			}
		}
	}
	CU_ASSERT_TRUE(refused > 0);
	ASSERT_INT_EQ(
	    harness_sql_long("SELECT count(*) FROM jobs WHERE queue = "
	                     "'gc-poison' AND idempotency_key IS NULL OR "
	                     "queue = 'gc-poison' AND idempotency_key LIKE "
	                     "'own-%%'"),
	    made);
	/* The refused requests left no key behind to block a retry. */
	ASSERT_INT_EQ(harness_sql_long(
	                  "SELECT count(*) FROM idempotency_keys WHERE "
	                  "scope = 'job:gc-poison' AND key LIKE 'own-%%-3'"),
	    0);
}

int
main(void)
{
	static const struct harness_case cases[] = {
	    {"creates that arrive together share transactions and each gets "
	     "its own answer",
	        test_grouped_creates_answer_each},
	    {"one request id sent by twelve callers at once makes one job",
	        test_resends_in_one_group},
	    {"a create the database refuses does not fail its neighbours",
	        test_failure_spares_neighbours},
	    {NULL, NULL},
	};

	return (harness_run(
	    "integration.group_commit", cases, suite_init, suite_cleanup));
}
