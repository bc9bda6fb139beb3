/*
 * Lost answers, on a real PostgreSQL and opsbusd: the worker loop in
 * libopsbus reaches opsbusd through a proxy (nng REP in front, REQ to the
 * server) that forwards every call but throws away the first answer to a
 * chosen method. The server did the work; the worker never heard. It must
 * send the report again with the same request id, get the stored answer,
 * and count the job as done: not lost, not run twice.
 */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "opsbus/v1/rpc.pb-c.h"
#include "opsutil.h"
#include "worker.h"

HARNESS_SUITE;

/* The methods whose first answer the proxy loses. */
enum lost { LOST_COMPLETE, LOST_FAIL, LOST_COUNT };

static const char *const lost_methods[LOST_COUNT] = {
    "opsbus.v1.JobService/CompleteJob",
    "opsbus.v1.JobService/FailJob",
};

struct proxy {
	char        url[512];
	nng_socket  front;
	nng_socket  back;
	pthread_t   thread;
	atomic_bool stop;
	/* Answers forwarded and answers lost, by method of lost_methods. */
	atomic_int forwarded[LOST_COUNT];
	atomic_int lost[LOST_COUNT];
};

/* Which of lost_methods the request in m calls, or -1. */
static int
request_method(nng_msg *m)
{
	Opsbus__V1__RpcRequest *req = opsbus__v1__rpc_request__unpack(
	    NULL, nng_msg_len(m), nng_msg_body(m));
	int which = -1;

	for (int i = 0; req != NULL && i < LOST_COUNT; i++) {
		if (strcmp(req->method, lost_methods[i]) == 0) {
			which = i;
		}
	}
	if (req != NULL) {
		opsbus__v1__rpc_request__free_unpacked(req, NULL);
	}
	return (which);
}

/*
 * One request at a time: in from the front, out to the server, the answer
 * back, or not. A REP socket that receives again without answering drops
 * the request it held, so a lost answer leaves the caller to time out.
 */
static void *
proxy_main(void *arg)
{
	struct proxy *p = arg;

	while (!atomic_load(&p->stop)) {
		nng_msg *m, *a;
		int      which, rv;

		if ((rv = nng_recvmsg(p->front, &m, 0)) != 0) {
			if (rv != NNG_ETIMEDOUT) {
				fprintf(
				    stderr, "proxy: %s\n", nng_strerror(rv));
			}
			continue;
		}
		which = request_method(m);
		if (nng_sendmsg(p->back, m, 0) != 0) {
			nng_msg_free(m);
			continue;
		}
		if (nng_recvmsg(p->back, &a, 0) != 0) {
			continue;
		}
		if (which >= 0 && atomic_load(&p->lost[which]) == 0) {
			atomic_store(&p->lost[which], 1);
			nng_msg_free(a);
			continue;
		}
		if (which >= 0) {
			atomic_fetch_add(&p->forwarded[which], 1);
		}
		if (nng_sendmsg(p->front, a, 0) != 0) {
			nng_msg_free(a);
		}
	}
	return (NULL);
}

static void
proxy_start(struct proxy *p)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->url, sizeof(p->url), "ipc://%s/lost-answer-proxy.sock",
	    harness_tmpdir());
	CU_ASSERT_EQUAL_FATAL(nng_rep0_open(&p->front), 0);
	CU_ASSERT_EQUAL_FATAL(nng_listen(p->front, p->url, NULL, 0), 0);
	CU_ASSERT_EQUAL_FATAL(
	    nng_socket_set_ms(p->front, NNG_OPT_RECVTIMEO, 100), 0);
	CU_ASSERT_EQUAL_FATAL(nng_req0_open(&p->back), 0);
	CU_ASSERT_EQUAL_FATAL(nng_dial(p->back, srv.url, NULL, 0), 0);
	CU_ASSERT_EQUAL_FATAL(
	    nng_socket_set_ms(p->back, NNG_OPT_RECVTIMEO, 30000), 0);
	atomic_init(&p->stop, false);
	CU_ASSERT_EQUAL_FATAL(
	    pthread_create(&p->thread, NULL, proxy_main, p), 0);
}

static void
proxy_stop(struct proxy *p)
{
	atomic_store(&p->stop, true);
	pthread_join(p->thread, NULL);
	nng_close(p->front);
	nng_close(p->back);
}

/* Completes a job, or fails it (not retryably) when its payload says so. */
static void
run_job(struct opsbus_work *w, struct opsbus_work_result *res, void *arg)
{
	atomic_int *runs = arg;

	atomic_fetch_add(runs, 1);
	if (strstr(opsbus_work_job(w)->payload, "bad") != NULL) {
		res->failed = true;
		snprintf(
		    res->reason_code, sizeof(res->reason_code), "BAD_INPUT");
		snprintf(res->error, sizeof(res->error), "bad input");
		return;
	}
	snprintf(res->summary, sizeof(res->summary), "done");
}

static void
test_a_report_whose_answer_was_lost_is_sent_again_with_its_request_id(void)
{
	struct opsbus_client_config ccfg;
	struct opsbus_worker_config wcfg;
	struct opsbus_client       *via;
	struct opsbus_worker       *w;
	struct opsbus_worker_stats  stats;
	struct opsbus_status        st;
	struct proxy                p;
	atomic_int                  runs;
	struct ou_job               good = {.queue = "lost", .payload = "{}"};
	struct ou_job bad = {.queue = "lost", .payload = "{\"bad\":1}"};

	for (int i = 0; i < 4; i++) {
		free(ou_create(cli, i == 1 ? &bad : &good));
	}
	proxy_start(&p);
	memset(&ccfg, 0, sizeof(ccfg));
	ccfg.url = p.url;
	ccfg.api_key = srv.api_key;
	/* A lost answer times out after this; the worker then retries. */
	ccfg.timeout_ms = 2500;
	CU_ASSERT_EQUAL_FATAL(opsbus_client_open(&ccfg, &via, &st), 0);

	atomic_init(&runs, 0);
	memset(&wcfg, 0, sizeof(wcfg));
	wcfg.queue = "lost";
	wcfg.worker_id = "lost-worker";
	wcfg.lease_ms = 30000;
	wcfg.until_empty = true;
	wcfg.fn = run_job;
	wcfg.arg = &runs;
	CU_ASSERT_EQUAL_FATAL(opsbus_worker_alloc(&wcfg, &w), 0);
	ASSERT_INT_EQ(opsbus_worker_run(w, via, &st), 0);
	opsbus_worker_stats(w, &stats);
	opsbus_worker_free(w);
	opsbus_client_close(via);
	proxy_stop(&p);

	/* One answer of each kind was lost, and the report went again (a
	 * call slower than the timeout on a loaded machine may go again too,
	 * hence at least). */
	ASSERT_INT_EQ(atomic_load(&p.lost[LOST_COMPLETE]), 1);
	ASSERT_INT_EQ(atomic_load(&p.lost[LOST_FAIL]), 1);
	CU_ASSERT_TRUE(atomic_load(&p.forwarded[LOST_COMPLETE]) >= 3);
	CU_ASSERT_TRUE(atomic_load(&p.forwarded[LOST_FAIL]) >= 1);
	/* Every job ran once and counts as reported, none as lost. */
	ASSERT_INT_EQ(atomic_load(&runs), 4);
	ASSERT_INT_EQ(stats.claimed, 4);
	ASSERT_INT_EQ(stats.completed, 3);
	ASSERT_INT_EQ(stats.failed, 1);
	ASSERT_INT_EQ(stats.lost, 0);
	/* The server did each thing once: one attempt per job, one final
	 * event each, and the failed job dead-lettered. */
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM jobs WHERE queue = "
	                       "'lost' AND status = 'succeeded'"),
	    3);
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM jobs WHERE queue = "
	                       "'lost' AND status = 'dead_failed' AND "
	                       "reason_code = 'BAD_INPUT'"),
	    1);
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM job_attempts a JOIN jobs "
	                       "j ON j.id = a.job_id WHERE j.queue = 'lost'"),
	    4);
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM events e JOIN jobs j ON "
	                       "j.id = e.job_id WHERE j.queue = 'lost' AND "
	                       "e.event_type IN ('succeeded', 'dead_failed')"),
	    4);
}

int
main(void)
{
	static const struct harness_case cases[] = {
	    {"a report whose answer was lost is sent again with its "
	     "request id",
	        test_a_report_whose_answer_was_lost_is_sent_again_with_its_request_id},
	    {NULL, NULL}};

	return (harness_run("lost_answer", cases, suite_init, suite_cleanup));
}
