/*
 * OperatorService's request controls and monitoring (seed 004) against the
 * real opsbusd: its three scenarios end to end (circuit-open failures
 * replayed once each, misrouted requests rerouted and claimed by a worker
 * of the new target, an in-flight cancel learned on heartbeat), the
 * terminal-state table, abort and force-complete of running jobs, the
 * dead-letter stats, and the monitoring figures checked against a seeded
 * data set computed by hand.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "opsbus/v1/job.pb-c.h"
#include "opsbus/v1/operator.pb-c.h"
#include "opsutil.h"

#define STR(s) ((char *) (uintptr_t) (s))
#define OP(m)  "opsbus.v1.OperatorService/" m

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

/* A unique name: prefix and 8 hex digits, in the caller's buffer. */
static char *
name(char *buf, size_t len, const char *prefix)
{
	char u[37];

	ou_uuid(u);
	snprintf(buf, len, "%s-%.8s", prefix, u);
	return (buf);
}

/* The controls, each by its request type; all have id, reason, actor. */
enum control { CANCEL, ABORT, REROUTE, FORCE };

static const char *const control_names[]
    = {"CancelJob", "AbortJob", "RerouteJob", "ForceCompleteJob"};

/*
 * Runs a control on id and returns its answer's job (the caller frees the
 * answer through *res), or NULL with st filled.
 */
static Opsbus__V1__OperatorJob *
control(struct opsbus_client *c, enum control which, const char *id,
    const char *reason, ProtobufCMessage **res, struct opsbus_status *st)
{
	Opsbus__V1__CancelJobRequest        cr;
	Opsbus__V1__AbortJobRequest         ar;
	Opsbus__V1__RerouteJobRequest       rr;
	Opsbus__V1__ForceCompleteJobRequest fr;
	ProtobufCMessage                   *in = NULL;
	const ProtobufCMessageDescriptor   *od = NULL;
	char                                method[96];

	switch (which) {
	case CANCEL:
		opsbus__v1__cancel_job_request__init(&cr);
		cr.id = STR(id);
		cr.reason = STR(reason);
		in = &cr.base;
		od = &opsbus__v1__cancel_job_response__descriptor;
		break;
	case ABORT:
		opsbus__v1__abort_job_request__init(&ar);
		ar.id = STR(id);
		ar.reason = STR(reason);
		in = &ar.base;
		od = &opsbus__v1__abort_job_response__descriptor;
		break;
	case REROUTE:
		opsbus__v1__reroute_job_request__init(&rr);
		rr.id = STR(id);
		rr.reason = STR(reason);
		rr.new_target = STR("health");
		in = &rr.base;
		od = &opsbus__v1__reroute_job_response__descriptor;
		break;
	case FORCE:
		opsbus__v1__force_complete_job_request__init(&fr);
		fr.id = STR(id);
		fr.reason = STR(reason);
		fr.completion_summary
		    = STR("User query answered via direct email");
		in = &fr.base;
		od = &opsbus__v1__force_complete_job_response__descriptor;
		break;
	}
	snprintf(method, sizeof(method), OP("%s"), control_names[which]);
	*res = NULL;
	if (ou_call(c, method, in, od, res, NULL, st) != 0) {
		return (NULL);
	}
	/* Every control's answer has the job as field 1. */
	return (*(Opsbus__V1__OperatorJob **) (void *) ((char *) *res
	    + od->fields[0].offset));
}

/* Runs a control and checks that it is accepted; frees the answer. */
static void
control_ok(enum control which, const char *id)
{
	ProtobufCMessage    *res;
	struct opsbus_status st;

	if (control(cli, which, id, OU_REASON, &res, &st) == NULL) {
		fprintf(stderr, "%s %s: %s %s\n", control_names[which], id,
		    st.error_code, st.message);
		CU_FAIL("a control was refused");
		return;
	}
	protobuf_c_message_free_unpacked(res, NULL);
}

static void
assert_status(const char *id, const char *want)
{
	char *s = ou_status(id);

	ASSERT_STR_EQ(s, want);
	free(s);
}

/* The value of key in a map<string, int32> field. */
#define MAP_GET(msg, field, k, out)                                    \
	do {                                                           \
		(out) = 0;                                             \
		for (size_t i_ = 0; i_ < (msg)->n_##field; i_++) {     \
			if (strcmp((msg)->field[i_]->key, (k)) == 0) { \
				(out) = (msg)->field[i_]->value;       \
			}                                              \
		}                                                      \
	} while (0)

static Opsbus__V1__GetDeadLetterStatsResponse *
stats(struct opsbus_client *c, const char *queue)
{
	Opsbus__V1__GetDeadLetterStatsRequest   req;
	Opsbus__V1__GetDeadLetterStatsResponse *res = NULL;
	struct opsbus_status                    st;

	opsbus__v1__get_dead_letter_stats_request__init(&req);
	req.queue = STR(queue != NULL ? queue : "");
	CU_ASSERT_EQUAL(
	    ou_call(c, OP("GetDeadLetterStats"), &req.base,
	        &opsbus__v1__get_dead_letter_stats_response__descriptor, &res,
	        NULL, &st),
	    0);
	return (res);
}

static Opsbus__V1__ListReplayEligibleResponse *
eligible(const char *queue, const char *category)
{
	Opsbus__V1__ListReplayEligibleRequest   req;
	Opsbus__V1__ListReplayEligibleResponse *res = NULL;
	struct opsbus_status                    st;

	opsbus__v1__list_replay_eligible_request__init(&req);
	req.queue = STR(queue);
	req.failure_category = STR(category);
	CU_ASSERT_EQUAL(
	    ou_call(cli, OP("ListReplayEligible"), &req.base,
	        &opsbus__v1__list_replay_eligible_response__descriptor, &res,
	        NULL, &st),
	    0);
	return (res);
}

/*
 * Seed 004 scenario 1: a downstream circuit breaker opens and requests
 * pile up as dead letters; the operator lists the circuit_open ones,
 * waits for recovery, and replays the batch: each once.
 */
static void
test_scenario_circuit_open(void)
{
	char                                    queue[64], subject[64];
	char                                   *ids[7];
	struct opsbus_status                    st;
	Opsbus__V1__GetDeadLetterStatsResponse *s;
	Opsbus__V1__ListReplayEligibleResponse *e;
	int                                     v;

	name(queue, sizeof(queue), "switchboard");
	for (int i = 0; i < 7; i++) {
		struct ou_job j = {.queue = queue,
		    .target = "health",
		    .subject = name(subject, sizeof(subject), "req")};
		/* 4 circuit_open, 2 timeouts, and 1 circuit_open that is not
		 * retryable (not replay-eligible). */
		ids[i] = ou_dead(cli, &j,
		    i < 4 || i == 6 ? "BUTLER_UNAVAILABLE" : "TIMEOUT",
		    i < 4 || i == 6 ? "circuit_open" : "timeout", i != 6);
		CU_ASSERT_PTR_NOT_NULL_FATAL(ids[i]);
	}
	s = stats(cli, queue);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	ASSERT_INT_EQ(s->total, 7);
	ASSERT_INT_EQ(s->not_replayed, 7);
	ASSERT_INT_EQ(s->replayed, 0);
	ASSERT_INT_EQ(s->replay_eligible, 6);
	ASSERT_INT_EQ(s->open, 7);
	MAP_GET(s, depth_by_category, "circuit_open", v);
	ASSERT_INT_EQ(v, 5);
	MAP_GET(s, depth_by_category, "timeout", v);
	ASSERT_INT_EQ(v, 2);
	protobuf_c_message_free_unpacked(&s->base, NULL);

	e = eligible(queue, "circuit_open");
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	ASSERT_INT_EQ(e->n_entries, 4);
	for (size_t i = 0; i < e->n_entries; i++) {
		ASSERT_STR_EQ(e->entries[i]->failure_category, "circuit_open");
		ASSERT_STR_EQ(
		    e->entries[i]->reason_code, "BUTLER_UNAVAILABLE");
		CU_ASSERT_TRUE(strlen(e->entries[i]->failure_reason) > 0);
		CU_ASSERT_TRUE(strlen(e->entries[i]->dead_lettered_at) > 20);
	}
	/* "Health butler recovered, replaying backlog": each once. */
	for (size_t i = 0; i < e->n_entries; i++) {
		Opsbus__V1__ReplayDeadLetterResponse *r = ou_replay(cli,
		    e->entries[i]->id,
		    "Health butler recovered, replaying backlog", NULL, &st);
		CU_ASSERT_PTR_NOT_NULL(r);
		if (r != NULL) {
			protobuf_c_message_free_unpacked(&r->base, NULL);
		}
	}
	for (size_t i = 0; i < e->n_entries; i++) {
		CU_ASSERT_PTR_NULL(ou_replay(cli, e->entries[i]->id,
		    "Health butler recovered, replaying backlog", NULL, &st));
		ASSERT_STR_EQ(
		    st.error_code, "WRITEBACK_REPLAY_ALREADY_EXISTS");
	}
	protobuf_c_message_free_unpacked(&e->base, NULL);
	for (int i = 0; i < 4; i++) {
		ASSERT_INT_EQ(
		    ou_count(
		        "SELECT count(*) FROM jobs WHERE replay_of_job_id = "
		        "'%s' AND status = 'queued' AND target = 'health'",
		        ids[i]),
		    1);
	}
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM jobs WHERE "
	                       "replay_of_job_id IN ('%s', '%s', '%s')",
	                  ids[4], ids[5], ids[6]),
	    0);
	e = eligible(queue, "circuit_open");
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	ASSERT_INT_EQ(e->n_entries, 0);
	protobuf_c_message_free_unpacked(&e->base, NULL);
	s = stats(cli, queue);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	ASSERT_INT_EQ(s->total, 7);
	ASSERT_INT_EQ(s->replayed, 4);
	ASSERT_INT_EQ(s->not_replayed, 3);
	ASSERT_INT_EQ(s->replay_eligible, 2);
	MAP_GET(s, depth_by_category, "circuit_open", v);
	ASSERT_INT_EQ(v, 1);
	protobuf_c_message_free_unpacked(&s->base, NULL);
	ASSERT_INT_EQ(
	    ou_count("SELECT count(*) FROM operator_audit_log o JOIN jobs j "
	             "ON j.id = o.target_job_id WHERE j.queue = '%s' AND "
	             "o.action_type = 'controlled_replay' AND o.outcome = "
	             "'accepted'",
	        queue),
	    4);

	/* The same views through the CLI. */
	char       *out, *err;
	const char *sa[] = {"dlq", "stats", "--queue", queue, NULL};
	ASSERT_INT_EQ(harness_cli(&srv, sa, &out, &err), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "total dead-lettered:  7"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "timeout"));
	free(out);
	free(err);
	const char *ea[] = {"--json", "dlq", "eligible", "--category",
	    "timeout", "--queue", queue, NULL};
	ASSERT_INT_EQ(harness_cli(&srv, ea, &out, &err), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, ids[4]));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"failureReason\""));
	free(out);
	free(err);
	for (int i = 0; i < 7; i++) {
		free(ids[i]);
	}
}

/*
 * Seed 004 scenario 2: requests misrouted to the relationship butler are
 * found and rerouted to health, one of them while a relationship worker
 * runs it; a health worker claims them all.
 */
static void
test_scenario_misroute(void)
{
	char                 from_q[64], to_q[64], subject[64];
	char                *ids[3], *claimed[4], *tok[4];
	struct opsbus_status st;
	bool                 cancel;

	name(from_q, sizeof(from_q), "butler.relationship");
	name(to_q, sizeof(to_q), "butler.health");
	for (int i = 0; i < 3; i++) {
		struct ou_job j = {.queue = from_q,
		    .target = "relationship",
		    .subject
		    = name(subject, sizeof(subject), "medication-reminder"),
		    .payload
		    = "{\"normalized_text\": \"take the medication at 9\"}"};
		ids[i] = ou_create(cli, &j);
	}
	/* A relationship worker is running the first already. */
	CU_ASSERT_EQUAL_FATAL(
	    ou_claim(cli, from_q, "relationship-1", 1, claimed, tok), 1);
	ASSERT_STR_EQ(claimed[0], ids[0]);

	/* Find them (ListJobs by queue and target) and reroute each. */
	Opsbus__V1__ListJobsRequest   lr;
	Opsbus__V1__ListJobsResponse *lres = NULL;
	const char                   *states[] = {"queued", "in_progress"};
	opsbus__v1__list_jobs_request__init(&lr);
	lr.queue = from_q;
	lr.target = STR("relationship");
	lr.n_states = 2;
	lr.states = (char **) (uintptr_t) states;
	CU_ASSERT_EQUAL_FATAL(
	    ou_call(cli, "opsbus.v1.JobService/ListJobs", &lr.base,
	        &opsbus__v1__list_jobs_response__descriptor, &lres, NULL, &st),
	    0);
	ASSERT_INT_EQ(lres->n_jobs, 3);
	for (size_t i = 0; i < lres->n_jobs; i++) {
		Opsbus__V1__RerouteJobRequest   rr;
		Opsbus__V1__RerouteJobResponse *res = NULL;
		opsbus__v1__reroute_job_request__init(&rr);
		rr.id = lres->jobs[i]->id;
		rr.new_target = STR("health");
		rr.new_queue = to_q;
		rr.reason = STR("Decomposer bug: medication queries misrouted "
		                "(JIRA-4567)");
		CU_ASSERT_EQUAL_FATAL(
		    ou_call(cli, OP("RerouteJob"), &rr.base,
		        &opsbus__v1__reroute_job_response__descriptor, &res,
		        NULL, &st),
		    0);
		ASSERT_STR_EQ(res->job->status, "rerouted");
		ASSERT_STR_EQ(res->job->ehr, "health");
		ASSERT_STR_EQ(res->job->queue, to_q);
		ASSERT_STR_EQ(res->previous_target, "relationship");
		ASSERT_STR_EQ(res->previous_queue, from_q);
		CU_ASSERT_FALSE(res->job->cancel_requested);
		ASSERT_STR_EQ(res->job->lease_owner, "");
		protobuf_c_message_free_unpacked(&res->base, NULL);
	}
	protobuf_c_message_free_unpacked(&lres->base, NULL);
	/* May be repeated: the second reroute of a rerouted job is fine. */
	{
		Opsbus__V1__RerouteJobRequest rr;
		opsbus__v1__reroute_job_request__init(&rr);
		rr.id = ids[2];
		rr.new_target = STR("health");
		rr.new_queue = to_q;
		rr.reason = STR("Decomposer bug: medication queries misrouted "
		                "(JIRA-4567)");
		CU_ASSERT_EQUAL(
		    ou_op(cli, OP("RerouteJob"), &rr.base, NULL, &st), 0);
		rr.new_target = STR("has space");
		CU_ASSERT_EQUAL(
		    ou_op(cli, OP("RerouteJob"), &rr.base, NULL, &st), -1);
		ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
	}
	/* The relationship worker lost its lease. */
	CU_ASSERT_EQUAL(
	    ou_heartbeat(cli, claimed[0], tok[0], &cancel, &st), -1);
	ASSERT_STR_EQ(st.error_code, "LEASE_LOST");
	CU_ASSERT_EQUAL(ou_complete(cli, claimed[0], tok[0], &st), -1);
	ASSERT_STR_EQ(st.error_code, "LEASE_LOST");
	free(claimed[0]);
	free(tok[0]);
	/* Nothing is left for relationship workers; a health worker gets
	 * all three. */
	ASSERT_INT_EQ(
	    ou_claim(cli, from_q, "relationship-1", 10, claimed, tok), 0);
	ASSERT_INT_EQ(ou_claim(cli, to_q, "health-1", 10, claimed, tok), 3);
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(ou_complete(cli, claimed[i], tok[i], &st), 0);
		free(claimed[i]);
		free(tok[i]);
	}
	for (int i = 0; i < 3; i++) {
		assert_status(ids[i], "succeeded");
		ASSERT_INT_EQ(
		    ou_count(
		        "SELECT count(*) FROM events WHERE job_id = '%s' AND "
		        "event_type = 'rerouted' AND payload->>'from_target' "
		        "= 'relationship' AND payload->>'to_target' = "
		        "'health' AND payload->>'from_queue' = '%s'",
		        ids[i], from_q),
		    1);
		ASSERT_INT_EQ(
		    ou_count(
		        "SELECT count(*) FROM events WHERE job_id = '%s' AND "
		        "event_type = 'claimed' AND payload->>'from_status' = "
		        "'rerouted' AND actor = 'health-1'",
		        ids[i]),
		    1);
	}
	/* The original target stays in the audit rows. */
	ASSERT_INT_EQ(
	    ou_count("SELECT count(*) FROM operator_audit_log WHERE "
	             "target_job_id = '%s' AND action_type = 'manual_reroute' "
	             "AND outcome = 'accepted' AND details->>'from_target' = "
	             "'relationship' AND details->>'to_target' = 'health' AND "
	             "details->>'from_status' = 'in_progress'",
	        ids[0]),
	    1);
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM operator_audit_log WHERE "
	                       "target_job_id = '%s' AND action_type = "
	                       "'manual_reroute' AND outcome = 'accepted'",
	                  ids[2]),
	    2);
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM job_attempts WHERE "
	                       "job_id = '%s' AND attempt = 1 AND to_status = "
	                       "'rerouted' AND ended_at IS NOT NULL",
	                  ids[0]),
	    1);
	for (int i = 0; i < 3; i++) {
		free(ids[i]);
	}
}

/*
 * Seed 004 scenario 3: a user cancels a request its worker is running.
 * The worker learns it on its next heartbeat and stops; the job ends
 * cancelled, never succeeded — whether the worker then reports success,
 * failure, or nothing at all (the lease runs out).
 */
static void
test_scenario_inflight_cancel(void)
{
	char                     queue[64];
	struct opsbus_status     st;
	ProtobufCMessage        *res;
	Opsbus__V1__OperatorJob *job;
	bool                     cancel;

	name(queue, sizeof(queue), "inflight");
	for (int how = 0; how < 3; how++) {
		struct ou_job j = {.queue = queue, .subject = "user-request"};
		char *id = ou_create(cli, &j), *cid = NULL, *tok = NULL;
		Opsbus__V1__ClaimJobsRequest   cr;
		Opsbus__V1__ClaimJobsResponse *claim = NULL;

		opsbus__v1__claim_jobs_request__init(&cr);
		cr.queue = queue;
		cr.worker_id = STR("worker-1");
		/* The third keeps a short lease and never reports. */
		cr.lease_ms = how == 2 ? 1000 : 0;
		CU_ASSERT_EQUAL_FATAL(
		    ou_call(cli, "opsbus.v1.JobService/ClaimJobs", &cr.base,
		        &opsbus__v1__claim_jobs_response__descriptor, &claim,
		        NULL, &st),
		    0);
		CU_ASSERT_EQUAL_FATAL(claim->n_jobs, 1);
		cid = strdup(claim->jobs[0]->job->id);
		tok = strdup(claim->jobs[0]->lease_token);
		protobuf_c_message_free_unpacked(&claim->base, NULL);
		ASSERT_STR_EQ(cid, id);
		if (how < 2) {
			/* (A heartbeat would extend the short lease to the
			 * queue's.) */
			CU_ASSERT_EQUAL(
			    ou_heartbeat(cli, id, tok, &cancel, &st), 0);
			CU_ASSERT_FALSE(cancel);
		}

		job = control(cli, CANCEL, id,
		    "User cancellation via support ticket #12345", &res, &st);
		CU_ASSERT_PTR_NOT_NULL_FATAL(job);
		ASSERT_STR_EQ(job->status, "in_progress");
		CU_ASSERT_TRUE(job->cancel_requested);
		CU_ASSERT_TRUE(
		    ((Opsbus__V1__CancelJobResponse *) res)->changed);
		protobuf_c_message_free_unpacked(res, NULL);
		/* Asked twice: accepted, nothing changes. */
		job = control(cli, CANCEL, id,
		    "User cancellation via support ticket #12345", &res, &st);
		CU_ASSERT_PTR_NOT_NULL_FATAL(job);
		CU_ASSERT_FALSE(
		    ((Opsbus__V1__CancelJobResponse *) res)->changed);
		protobuf_c_message_free_unpacked(res, NULL);
		/* While it is cancelling it can be neither rerouted nor
		 * completed by hand. */
		CU_ASSERT_PTR_NULL(
		    control(cli, REROUTE, id, OU_REASON, &res, &st));
		ASSERT_STR_EQ(st.error_code, "CANCEL_PENDING");
		CU_ASSERT_PTR_NULL(
		    control(cli, FORCE, id, OU_REASON, &res, &st));
		ASSERT_STR_EQ(st.error_code, "CANCEL_PENDING");

		if (how < 2) {
			/* The worker learns it on its heartbeat... */
			CU_ASSERT_EQUAL(
			    ou_heartbeat(cli, id, tok, &cancel, &st), 0);
			CU_ASSERT_TRUE(cancel);
		}
		if (how == 0) {
			/* ...and reports success anyway: still cancelled. */
			ou_complete(cli, id, tok, &st);
		} else if (how == 1) {
			/* ...stops and reports why (as opsbus work does). */
			ou_fail(cli, id, tok, "CANCELLED", NULL, false,
			    "stopped: an operator asked to cancel the job",
			    NULL, &st);
		} else {
			/* ...or dies: the rescuer finds the lease expired. */
			for (int i = 0; i < 100; i++) {
				char *s = ou_status(id);
				bool  running = strcmp(s, "in_progress") == 0;
				free(s);
				if (!running) {
					break;
				}
				ou_sleep_ms(100);
			}
		}
		assert_status(id, "cancelled");
		ASSERT_INT_EQ(
		    ou_count("SELECT count(*) FROM jobs WHERE id = '%s' AND "
		             "final_state_at IS NOT NULL AND lease_token IS "
		             "NULL AND completion_summary LIKE '%%support "
		             "ticket #12345%%'",
		        id),
		    1);
		ASSERT_INT_EQ(
		    ou_count("SELECT count(*) FROM events WHERE job_id = '%s' "
		             "AND event_type = 'succeeded'",
		        id),
		    0);
		ASSERT_INT_EQ(
		    ou_count("SELECT count(*) FROM events WHERE job_id = '%s' "
		             "AND event_type = 'cancel_requested'",
		        id),
		    1);
		ASSERT_INT_EQ(ou_count("SELECT count(*) FROM job_attempts "
		                       "WHERE job_id = '%s' AND to_status = "
		                       "'cancelled' AND ended_at IS NOT NULL",
		                  id),
		    1);
		/* Cancelled now: asked again, accepted, nothing changes. */
		job = control(cli, CANCEL, id,
		    "User cancellation via support ticket #12345", &res, &st);
		CU_ASSERT_PTR_NOT_NULL_FATAL(job);
		ASSERT_STR_EQ(job->status, "cancelled");
		CU_ASSERT_FALSE(
		    ((Opsbus__V1__CancelJobResponse *) res)->changed);
		protobuf_c_message_free_unpacked(res, NULL);
		free(id);
		free(cid);
		free(tok);
	}
}

/* A job not running is cancelled at once, with the reason in its
 * summary; queued, rerouted and retryable_failed alike. */
static void
test_cancel_not_running(void)
{
	char                     queue[64], *claimed = NULL, *tok = NULL;
	struct opsbus_status     st;
	ProtobufCMessage        *res;
	Opsbus__V1__OperatorJob *job;

	name(queue, sizeof(queue), "cancel-now");
	struct ou_job j = {.queue = queue, .max_attempts = 3};
	char         *queued = ou_create(cli, &j);
	job = control(cli, CANCEL, queued,
	    "User cancellation via support ticket #777", &res, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(job);
	ASSERT_STR_EQ(job->status, "cancelled");
	CU_ASSERT_TRUE(strlen(job->final_state_at) > 20);
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(job->completion_summary, "support ticket #777"));
	CU_ASSERT_TRUE(((Opsbus__V1__CancelJobResponse *) res)->changed);
	protobuf_c_message_free_unpacked(res, NULL);
	ASSERT_INT_EQ(
	    ou_count("SELECT count(*) FROM events WHERE job_id = '%s' AND "
	             "event_type = 'cancelled' AND topic = 'job.cancelled.%s'",
	        queued, queue),
	    1);

	char *retry = ou_create(cli, &j);
	CU_ASSERT_EQUAL_FATAL(ou_claim(cli, queue, "w", 1, &claimed, &tok), 1);
	CU_ASSERT_EQUAL(
	    ou_fail(cli, retry, tok, "TIMEOUT", NULL, true, NULL, NULL, &st),
	    0);
	assert_status(retry, "retryable_failed");
	control_ok(CANCEL, retry);
	assert_status(retry, "cancelled");

	char *rerouted = ou_create(cli, &j);
	control_ok(REROUTE, rerouted);
	assert_status(rerouted, "rerouted");
	control_ok(CANCEL, rerouted);
	assert_status(rerouted, "cancelled");
	free(queued);
	free(retry);
	free(rerouted);
	free(claimed);
	free(tok);
}

/*
 * The terminal-state table: succeeded, dead_failed, cancelled and aborted
 * jobs refuse cancel, abort, reroute and force-complete with
 * TERMINAL_STATE (cancel of a cancelled job excepted: accepted, no
 * change), and stay as they were.
 */
static void
test_terminal_state_table(void)
{
	static const char *const states[]
	    = {"succeeded", "dead_failed", "cancelled", "aborted"};
	char                 queue[64], *ids[4], *claimed = NULL, *tok = NULL;
	struct opsbus_status st;

	name(queue, sizeof(queue), "terminal");
	struct ou_job j = {.queue = queue};
	ids[0] = ou_create(cli, &j);
	CU_ASSERT_EQUAL_FATAL(ou_claim(cli, queue, "w", 1, &claimed, &tok), 1);
	CU_ASSERT_EQUAL(ou_complete(cli, ids[0], tok, &st), 0);
	free(claimed);
	free(tok);
	ids[1] = ou_dead(cli, &j, "EHR_DOWN", "outage", true);
	ids[2] = ou_create(cli, &j);
	control_ok(CANCEL, ids[2]);
	ids[3] = ou_create(cli, &j);
	control_ok(ABORT, ids[3]);
	for (int s = 0; s < 4; s++) {
		assert_status(ids[s], states[s]);
	}
	for (int s = 0; s < 4; s++) {
		char *before = harness_sql(NULL,
		    "SELECT updated_at::text || status || "
		    "coalesce(completion_summary, '') || target FROM jobs "
		    "WHERE id = '%s'",
		    ids[s]);
		for (int c = CANCEL; c <= FORCE; c++) {
			ProtobufCMessage        *res;
			Opsbus__V1__OperatorJob *job = control(cli,
			    (enum control) c, ids[s], OU_REASON, &res, &st);
			if (s == 2 && c == CANCEL) {
				CU_ASSERT_PTR_NOT_NULL(job);
				if (job != NULL) {
					CU_ASSERT_FALSE(
					    ((Opsbus__V1__CancelJobResponse *)
					            res)
					        ->changed);
					protobuf_c_message_free_unpacked(
					    res, NULL);
				}
				continue;
			}
			if (job != NULL) {
				fprintf(stderr,
				    "%s of a %s job was accepted\n",
				    control_names[c], states[s]);
				protobuf_c_message_free_unpacked(res, NULL);
			}
			CU_ASSERT_PTR_NULL(job);
			ASSERT_STR_EQ(st.error_code, "TERMINAL_STATE");
			ASSERT_INT_EQ(st.code, 9);
		}
		char *after = harness_sql(NULL,
		    "SELECT updated_at::text || status || "
		    "coalesce(completion_summary, '') || target FROM jobs "
		    "WHERE id = '%s'",
		    ids[s]);
		ASSERT_STR_EQ(after, before);
		free(before);
		free(after);
	}
	/* Each refusal is in the audit log. */
	ASSERT_INT_EQ(
	    ou_count("SELECT count(*) FROM operator_audit_log WHERE "
	             "target_job_id IN ('%s', '%s', '%s', '%s') AND outcome = "
	             "'refused' AND error_code = 'TERMINAL_STATE'",
	        ids[0], ids[1], ids[2], ids[3]),
	    15);
	/* Only replay continues a dead letter. */
	Opsbus__V1__ReplayDeadLetterResponse *r
	    = ou_replay(cli, ids[1], OU_REASON, NULL, &st);
	CU_ASSERT_PTR_NOT_NULL(r);
	if (r != NULL) {
		protobuf_c_message_free_unpacked(&r->base, NULL);
	}
	/* And an unknown job is JOB_NOT_FOUND for every control. */
	char missing[37];
	ou_uuid(missing);
	for (int c = CANCEL; c <= FORCE; c++) {
		ProtobufCMessage *res;
		CU_ASSERT_PTR_NULL(control(
		    cli, (enum control) c, missing, OU_REASON, &res, &st));
		ASSERT_STR_EQ(st.error_code, "JOB_NOT_FOUND");
		CU_ASSERT_PTR_NULL(control(cli, (enum control) c, "not-a-uuid",
		    OU_REASON, &res, &st));
		ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
		CU_ASSERT_PTR_NULL(control(
		    cli, (enum control) c, ids[0], "fix it", &res, &st));
		ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
	}
	for (int s = 0; s < 4; s++) {
		free(ids[s]);
	}
}

/* Abort of a running job: aborted at once, the lease revoked, so the
 * worker's heartbeat, complete and fail get LEASE_LOST. */
static void
test_abort_running(void)
{
	char                 queue[64], *claimed = NULL, *tok = NULL;
	struct opsbus_status st;
	ProtobufCMessage    *res;
	bool                 cancel;

	name(queue, sizeof(queue), "abort");
	struct ou_job j = {.queue = queue};
	char         *id = ou_create(cli, &j);
	CU_ASSERT_EQUAL_FATAL(
	    ou_claim(cli, queue, "runaway-worker", 1, &claimed, &tok), 1);
	Opsbus__V1__OperatorJob *job = control(cli, ABORT, id,
	    "Runaway request causing downstream circuit breakers to trip",
	    &res, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(job);
	ASSERT_STR_EQ(job->status, "aborted");
	ASSERT_STR_EQ(job->lease_owner, "");
	CU_ASSERT_TRUE(strlen(job->final_state_at) > 20);
	protobuf_c_message_free_unpacked(res, NULL);
	CU_ASSERT_EQUAL(ou_heartbeat(cli, id, tok, &cancel, &st), -1);
	ASSERT_STR_EQ(st.error_code, "LEASE_LOST");
	CU_ASSERT_EQUAL(ou_complete(cli, id, tok, &st), -1);
	ASSERT_STR_EQ(st.error_code, "LEASE_LOST");
	CU_ASSERT_EQUAL(
	    ou_fail(cli, id, tok, "X", NULL, true, NULL, NULL, &st), -1);
	ASSERT_STR_EQ(st.error_code, "LEASE_LOST");
	assert_status(id, "aborted");
	ASSERT_INT_EQ(
	    ou_count("SELECT count(*) FROM job_attempts WHERE job_id = '%s' "
	             "AND to_status = 'aborted' AND ended_at IS NOT NULL",
	        id),
	    1);
	ASSERT_INT_EQ(
	    ou_count("SELECT count(*) FROM operator_audit_log WHERE "
	             "target_job_id = '%s' AND action_type = 'abort_request' "
	             "AND (details->>'lease_revoked')::boolean AND "
	             "details->>'lease_owner' = 'runaway-worker'",
	        id),
	    1);
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM events WHERE job_id = "
	                       "'%s' AND event_type = 'aborted' AND "
	                       "(payload->>'lease_revoked')::boolean",
	                  id),
	    1);
	free(id);
	free(claimed);
	free(tok);
}

/* Force-complete: succeeded, forced, with its summary and final time;
 * the summary is required; a running worker loses its lease. */
static void
test_force_complete(void)
{
	char                 queue[64], *claimed = NULL, *tok = NULL;
	struct opsbus_status st;
	ProtobufCMessage    *res;

	name(queue, sizeof(queue), "force");
	struct ou_job            j = {.queue = queue};
	char                    *queued = ou_create(cli, &j);
	Opsbus__V1__OperatorJob *job = control(cli, FORCE, queued,
	    "Resolved via external system (Jira ticket #5678)", &res, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(job);
	ASSERT_STR_EQ(job->status, "succeeded");
	CU_ASSERT_TRUE(job->forced);
	ASSERT_STR_EQ(
	    job->completion_summary, "User query answered via direct email");
	CU_ASSERT_TRUE(strlen(job->final_state_at) > 20);
	protobuf_c_message_free_unpacked(res, NULL);
	ASSERT_INT_EQ(
	    ou_count("SELECT count(*) FROM events WHERE job_id = '%s' AND "
	             "event_type = 'succeeded' AND "
	             "(payload->>'forced')::boolean AND actor = 'admin'",
	        queued),
	    1);

	/* The summary is required and must say something. */
	char                    *other = ou_create(cli, &j);
	static const char *const bad[] = {"", "   ", "done", "ok", "fixed"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		Opsbus__V1__ForceCompleteJobRequest fr;
		opsbus__v1__force_complete_job_request__init(&fr);
		fr.id = other;
		fr.reason = STR(OU_REASON);
		fr.completion_summary = STR(bad[i]);
		CU_ASSERT_EQUAL(
		    ou_op(cli, OP("ForceCompleteJob"), &fr.base, NULL, &st),
		    -1);
		ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
	}
	assert_status(other, "queued");
	/* A running job: its worker's report is refused. */
	CU_ASSERT_EQUAL_FATAL(ou_claim(cli, queue, "w", 1, &claimed, &tok), 1);
	ASSERT_STR_EQ(claimed, other);
	control_ok(FORCE, other);
	CU_ASSERT_EQUAL(ou_complete(cli, other, tok, &st), -1);
	ASSERT_STR_EQ(st.error_code, "LEASE_LOST");
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM jobs WHERE id = '%s' AND "
	                       "status = 'succeeded' AND forced",
	                  other),
	    1);
	free(queued);
	free(other);
	free(claimed);
	free(tok);
}

/* The controls through the CLI. */
static void
test_cli_controls(void)
{
	char queue[64], *out, *err;

	name(queue, sizeof(queue), "cli-ctl");
	struct ou_job j = {.queue = queue, .target = "relationship"};
	char         *a = ou_create(cli, &j), *b = ou_create(cli, &j),
	     *c = ou_create(cli, &j);
	const char *cancel[] = {"--operator", "support@example.com", "job",
	    "cancel", a, "--reason",
	    "User cancellation via support ticket #12345", NULL};
	ASSERT_INT_EQ(harness_cli(&srv, cancel, &out, &err), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "cancelled"));
	free(out);
	free(err);
	const char *noreason[] = {"job", "abort", b, NULL};
	ASSERT_INT_EQ(harness_cli(&srv, noreason, &out, &err), 2);
	free(out);
	free(err);
	const char *reroute[] = {"job", "reroute", b, "--target", "health",
	    "--queue", "cli-health", "--reason",
	    "Decomposer misclassified a medication reminder", NULL};
	ASSERT_INT_EQ(harness_cli(&srv, reroute, &out, &err), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "rerouted"));
	free(out);
	free(err);
	const char *abort_b[] = {"--json", "job", "abort", b, "--reason",
	    "Runaway request causing downstream circuit breakers", NULL};
	ASSERT_INT_EQ(harness_cli(&srv, abort_b, &out, &err), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"status\": \"aborted\""));
	free(out);
	free(err);
	const char *force[] = {"job", "force-complete", c, "--summary",
	    "User query answered via direct email", "--reason",
	    "Resolved via external system (Jira ticket #5678)", NULL};
	ASSERT_INT_EQ(harness_cli(&srv, force, &out, &err), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "succeeded"));
	free(out);
	free(err);
	ASSERT_INT_EQ(harness_cli(&srv, force, &out, &err), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "TERMINAL_STATE"));
	free(out);
	free(err);
	const char *audit[] = {"audit", "--target", a, NULL};
	ASSERT_INT_EQ(harness_cli(&srv, audit, &out, &err), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "cancel_request"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "support@example.com"));
	free(out);
	free(err);
	const char *metrics[] = {"metrics", "--hours", "24", NULL};
	ASSERT_INT_EQ(harness_cli(&srv, metrics, &out, &err), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "dead_letter_depth"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "operator_action_rate"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "replay_failure_rate"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "LAG MS"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, queue));
	free(out);
	free(err);
	const char *badm[] = {"metrics", "--hours", "721", NULL};
	ASSERT_INT_EQ(harness_cli(&srv, badm, &out, &err), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "VALIDATION_ERROR"));
	free(out);
	free(err);
	free(a);
	free(b);
	free(c);
}

static Opsbus__V1__GetOperatorMetricsResponse *
metrics(struct opsbus_client *c, int hours)
{
	Opsbus__V1__GetOperatorMetricsRequest   req;
	Opsbus__V1__GetOperatorMetricsResponse *res = NULL;
	struct opsbus_status                    st;

	opsbus__v1__get_operator_metrics_request__init(&req);
	req.window_hours_value_case
	    = OPSBUS__V1__GET_OPERATOR_METRICS_REQUEST__WINDOW_HOURS_VALUE_WINDOW_HOURS;
	req.window_hours = hours;
	if (ou_call(c, OP("GetOperatorMetrics"), &req.base,
	        &opsbus__v1__get_operator_metrics_response__descriptor, &res,
	        NULL, &st)
	    != 0) {
		fprintf(stderr, "metrics: %s %s\n", st.error_code, st.message);
		return (NULL);
	}
	return (res);
}

static const Opsbus__V1__AlertRule *
alert(const Opsbus__V1__GetOperatorMetricsResponse *m, const char *name)
{
	for (size_t i = 0; i < m->n_alerts; i++) {
		if (strcmp(m->alerts[i]->name, name) == 0) {
			return (m->alerts[i]);
		}
	}
	return (NULL);
}

/* Replays id through c and returns the replay job's id. */
static char *
replay_id(struct opsbus_client *c, const char *id)
{
	struct opsbus_status                  st;
	Opsbus__V1__ReplayDeadLetterResponse *r
	    = ou_replay(c, id, OU_REASON, NULL, &st);
	char *out;

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	out = strdup(r->replay_job->job_id);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return (out);
}

/*
 * The monitoring figures on a data set of their own (a fresh database),
 * against numbers worked out by hand:
 *
 *   queue m: dead letters c1 c2 c3 (circuit_open), t1 t2 (timeout), u1
 *   (no category); replays: c1 -> r1 succeeds; c2 -> r2 fails for good
 *   (timeout, not retryable: a new dead letter); t1 -> r3 is cancelled;
 *   u1 -> r4 stays queued. c3 is acknowledged twice (the second refused);
 *   one replay is refused for its reason ("test").
 *   queue m2: two circuit_open dead letters, replayed by a bulk replay.
 *
 *   actions by type: controlled_replay 4 + 1 refused + 2 bulk items = 7,
 *     acknowledge_dead_letter 2, cancel_request 1, bulk_replay 1;
 *   actions (a bulk replay counts once): 7 + 2 + 1 + 1 - 2 = 9;
 *     per hour: 9/24 = 0.375 (window 24 h), 9 (window 1 h);
 *   replays: success 1 (r1), failed 2 (r2, r3), pending 3 (r4 and the two
 *     bulk replays), total 6; success rate 1/3, failure rate 2/3;
 *   depth (dead_failed not replayed): c3, t2, r2 = 3: circuit_open 1,
 *     timeout 2;
 *   stats: total 9 dead_failed, 6 replayed, 3 not, 2 of them eligible
 *     (c3, t2; r2 was not retryable), 1 acknowledged, 8 open.
 *
 * With thresholds depth > 2 and actions > 5/h (OPSBUS_ALERT_*), the depth
 * and the replay failure rate fire; the action rate fires in the 1-hour
 * window only.
 */
static void
test_metrics_hand_computed(void)
{
	struct harness_server s;
	char                  dbarg[1024];
	const char           *extra[] = {"--db", dbarg, NULL};
	struct opsbus_status  st;
	char                 *claimed = NULL, *tok = NULL;
	int                   v;

	free(harness_sql(NULL, "CREATE DATABASE metrics"));
	snprintf(dbarg, sizeof(dbarg), "%s dbname=metrics", harness_pg());
	setenv("OPSBUS_ALERT_DLQ_DEPTH", "2", 1);
	setenv("OPSBUS_ALERT_ACTIONS_PER_HOUR", "5", 1);
	CU_ASSERT_EQUAL_FATAL(harness_server_start(&s, extra), 0);
	unsetenv("OPSBUS_ALERT_DLQ_DEPTH");
	unsetenv("OPSBUS_ALERT_ACTIONS_PER_HOUR");
	struct opsbus_client *c = harness_client(&s, NULL);

	/* Nothing yet: all zero, nothing fires. */
	Opsbus__V1__GetOperatorMetricsResponse *m = metrics(c, 24);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	ASSERT_INT_EQ(m->actions_total, 0);
	ASSERT_INT_EQ(m->dead_letter_depth, 0);
	ASSERT_INT_EQ(m->replay_outcomes->total, 0);
	ASSERT_INT_EQ(m->n_firing, 0);
	ASSERT_INT_EQ(m->n_alerts, 3);
	protobuf_c_message_free_unpacked(&m->base, NULL);

	struct ou_job j = {.queue = "m"};
	const char   *subjects[] = {"c1", "c2", "c3", "t1", "t2", "u1"};
	const char   *cats[] = {"circuit_open", "circuit_open", "circuit_open",
	      "timeout", "timeout", ""};
	char         *dl[6];
	for (int i = 0; i < 6; i++) {
		j.subject = subjects[i];
		dl[i] = ou_dead(c, &j, "DOWNSTREAM", cats[i], true);
		CU_ASSERT_PTR_NOT_NULL_FATAL(dl[i]);
	}
	/* c1 -> r1, which succeeds. */
	char *r1 = replay_id(c, dl[0]);
	CU_ASSERT_EQUAL_FATAL(ou_claim(c, "m", "w", 1, &claimed, &tok), 1);
	ASSERT_STR_EQ(claimed, r1);
	CU_ASSERT_EQUAL(ou_complete(c, r1, tok, &st), 0);
	free(claimed);
	free(tok);
	/* c2 -> r2, which fails for good. */
	char *r2 = replay_id(c, dl[1]);
	CU_ASSERT_EQUAL_FATAL(ou_claim(c, "m", "w", 1, &claimed, &tok), 1);
	ASSERT_STR_EQ(claimed, r2);
	CU_ASSERT_EQUAL(ou_fail(c, r2, tok, "DOWNSTREAM", "timeout", false,
	                    NULL, NULL, &st),
	    0);
	free(claimed);
	free(tok);
	/* t1 -> r3, cancelled; u1 -> r4, left queued. */
	char             *r3 = replay_id(c, dl[3]);
	ProtobufCMessage *res;
	CU_ASSERT_PTR_NOT_NULL(control(c, CANCEL, r3,
	    "User cancellation via support ticket #1", &res, &st));
	if (res != NULL) {
		protobuf_c_message_free_unpacked(res, NULL);
	}
	char *r4 = replay_id(c, dl[5]);
	/* c3 acknowledged twice; a replay refused for its reason. */
	Opsbus__V1__AcknowledgeDeadLetterRequest ak;
	opsbus__v1__acknowledge_dead_letter_request__init(&ak);
	ak.id = dl[2];
	ak.reason = STR(OU_REASON);
	CU_ASSERT_EQUAL(
	    ou_op(c, OP("AcknowledgeDeadLetter"), &ak.base, NULL, &st), 0);
	CU_ASSERT_EQUAL(
	    ou_op(c, OP("AcknowledgeDeadLetter"), &ak.base, NULL, &st), -1);
	CU_ASSERT_PTR_NULL(ou_replay(c, dl[4], "test", NULL, &st));
	/* m2: a bulk replay of two. */
	struct ou_job j2 = {.queue = "m2"};
	char         *b1, *b2;
	j2.subject = "b1";
	b1 = ou_dead(c, &j2, "DOWNSTREAM", "circuit_open", true);
	j2.subject = "b2";
	b2 = ou_dead(c, &j2, "DOWNSTREAM", "circuit_open", true);
	{
		Opsbus__V1__StartBulkReplayRequest   sb;
		Opsbus__V1__BulkReplayFilter         f;
		Opsbus__V1__StartBulkReplayResponse *bres = NULL;
		opsbus__v1__start_bulk_replay_request__init(&sb);
		opsbus__v1__bulk_replay_filter__init(&f);
		f.queue = STR("m2");
		sb.filter = &f;
		sb.max_per_second = 100;
		sb.reason = STR(OU_REASON);
		CU_ASSERT_EQUAL_FATAL(
		    ou_call(c, OP("StartBulkReplay"), &sb.base,
		        &opsbus__v1__start_bulk_replay_response__descriptor,
		        &bres, NULL, &st),
		    0);
		char *op = strdup(bres->operation->id);
		protobuf_c_message_free_unpacked(&bres->base, NULL);
		for (int i = 0; i < 200
		     && ou_count_in("metrics",
		            "SELECT count(*) FROM bulk_operations WHERE "
		            "id = '%s' AND status = 'completed'",
		            op)
		         != 1;
		     i++) {
			ou_sleep_ms(25);
		}
		ASSERT_INT_EQ(
		    ou_count_in("metrics",
		        "SELECT replayed FROM bulk_operations WHERE id = '%s'",
		        op),
		    2);
		free(op);
	}

	m = metrics(c, 24);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	ASSERT_INT_EQ(m->window_hours, 24);
	MAP_GET(m, actions_by_type, "controlled_replay", v);
	ASSERT_INT_EQ(v, 7);
	MAP_GET(m, actions_by_type, "acknowledge_dead_letter", v);
	ASSERT_INT_EQ(v, 2);
	MAP_GET(m, actions_by_type, "cancel_request", v);
	ASSERT_INT_EQ(v, 1);
	MAP_GET(m, actions_by_type, "bulk_replay", v);
	ASSERT_INT_EQ(v, 1);
	ASSERT_INT_EQ(m->n_actions_by_type, 4);
	ASSERT_INT_EQ(m->actions_total, 9);
	CU_ASSERT_DOUBLE_EQUAL(m->action_rate_per_hour, 0.375, 1e-9);
	ASSERT_INT_EQ(m->replay_outcomes->success, 1);
	ASSERT_INT_EQ(m->replay_outcomes->failed, 2);
	ASSERT_INT_EQ(m->replay_outcomes->pending, 3);
	ASSERT_INT_EQ(m->replay_outcomes->total, 6);
	CU_ASSERT_DOUBLE_EQUAL(
	    m->replay_outcomes->success_rate, 1.0 / 3.0, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(
	    m->replay_outcomes->failure_rate, 2.0 / 3.0, 1e-9);
	ASSERT_INT_EQ(m->dead_letter_depth, 3);
	MAP_GET(m, dead_letter_depth_by_category, "circuit_open", v);
	ASSERT_INT_EQ(v, 1);
	MAP_GET(m, dead_letter_depth_by_category, "timeout", v);
	ASSERT_INT_EQ(v, 2);
	const Opsbus__V1__AlertRule *a = alert(m, "dead_letter_depth");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_TRUE(a->firing);
	CU_ASSERT_DOUBLE_EQUAL(a->value, 3, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(a->threshold, 2, 1e-9);
	a = alert(m, "operator_action_rate");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_FALSE(a->firing);
	CU_ASSERT_DOUBLE_EQUAL(a->threshold, 5, 1e-9);
	a = alert(m, "replay_failure_rate");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_TRUE(a->firing);
	CU_ASSERT_DOUBLE_EQUAL(a->threshold, 0.2, 1e-9);
	ASSERT_INT_EQ(m->n_firing, 2);
	/* Queue health: depth by state and lag. */
	ASSERT_INT_EQ(m->n_queues, 2);
	for (size_t i = 0; i < m->n_queues; i++) {
		const Opsbus__V1__Queue *q = m->queues[i];
		bool                     is_m = strcmp(q->name, "m") == 0;
		CU_ASSERT_PTR_NOT_NULL_FATAL(q->depth);
		ASSERT_INT_EQ(q->depth->dead_failed, is_m ? 7 : 2);
		ASSERT_INT_EQ(q->depth->queued, is_m ? 1 : 2);
		ASSERT_INT_EQ(q->depth->succeeded, is_m ? 1 : 0);
		ASSERT_INT_EQ(q->depth->cancelled, is_m ? 1 : 0);
		ASSERT_INT_EQ(q->depth->ready, is_m ? 1 : 2);
		CU_ASSERT_TRUE(q->lag_ms >= 0);
	}
	protobuf_c_message_free_unpacked(&m->base, NULL);

	m = metrics(c, 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT_DOUBLE_EQUAL(m->action_rate_per_hour, 9, 1e-9);
	a = alert(m, "operator_action_rate");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_TRUE(a->firing);
	ASSERT_INT_EQ(m->n_firing, 3);
	protobuf_c_message_free_unpacked(&m->base, NULL);

	Opsbus__V1__GetDeadLetterStatsResponse *ds = stats(c, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ds);
	ASSERT_INT_EQ(ds->total, 9);
	ASSERT_INT_EQ(ds->replayed, 6);
	ASSERT_INT_EQ(ds->not_replayed, 3);
	ASSERT_INT_EQ(ds->replay_eligible, 2);
	ASSERT_INT_EQ(ds->acknowledged, 1);
	ASSERT_INT_EQ(ds->open, 8);
	protobuf_c_message_free_unpacked(&ds->base, NULL);

	/* Bad windows. */
	Opsbus__V1__GetOperatorMetricsRequest req;
	opsbus__v1__get_operator_metrics_request__init(&req);
	req.window_hours_value_case
	    = OPSBUS__V1__GET_OPERATOR_METRICS_REQUEST__WINDOW_HOURS_VALUE_WINDOW_HOURS;
	req.window_hours = 0;
	CU_ASSERT_EQUAL(
	    ou_op(c, OP("GetOperatorMetrics"), &req.base, NULL, &st), -1);
	ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
	req.window_hours = 721;
	CU_ASSERT_EQUAL(
	    ou_op(c, OP("GetOperatorMetrics"), &req.base, NULL, &st), -1);
	ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");

	opsbus_client_close(c);
	ASSERT_INT_EQ(harness_server_stop(&s, SIGTERM), 0);
	for (int i = 0; i < 6; i++) {
		free(dl[i]);
	}
	free(r1);
	free(r2);
	free(r3);
	free(r4);
	free(b1);
	free(b2);
}

int
main(void)
{
	static const struct harness_case cases[] = {
	    {"seed 004 scenario 1: circuit_open dead letters are listed by "
	     "category and replayed once each",
	        test_scenario_circuit_open},
	    {"seed 004 scenario 2: misrouted requests are rerouted and "
	     "claimed "
	     "by a worker of the new target",
	        test_scenario_misroute},
	    {"seed 004 scenario 3: an in-flight cancel is learned on "
	     "heartbeat "
	     "and the job ends cancelled, never succeeded",
	        test_scenario_inflight_cancel},
	    {"a job that is not running is cancelled at once, with the reason "
	     "in its summary",
	        test_cancel_not_running},
	    {"terminal jobs refuse cancel, abort, reroute and force-complete "
	     "(a second cancel is accepted)",
	        test_terminal_state_table},
	    {"abort of a running job revokes its lease: the worker gets "
	     "LEASE_LOST",
	        test_abort_running},
	    {"force-complete ends a job succeeded, forced, with its required "
	     "summary",
	        test_force_complete},
	    {"the controls, metrics and audit through the CLI",
	        test_cli_controls},
	    {"the monitoring figures and alert rules match a data set "
	     "computed by hand",
	        test_metrics_hand_computed},
	    {NULL, NULL},
	};

	return (harness_run(
	    "integration.controls", cases, suite_init, suite_cleanup));
}
