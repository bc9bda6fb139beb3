/*
 * OperatorService's dead-letter API (seeds 000 and 001) against the real
 * opsbusd: the triage flow and replay procedure of seed 000 through the C
 * client and the CLI, every error code of seed 001, replay chains, the
 * audit log (append-only, one row per command, its queries), attribution
 * and reasons, the replay rate limit, operator-safe responses, and bulk
 * replay (dry run, cancel, per-item failures, 1,000 dead letters at 200/s,
 * and a SIGKILL of opsbusd halfway).
 */
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "opsbus/v1/admin.pb-c.h"
#include "opsbus/v1/job.pb-c.h"
#include "opsbus/v1/operator.pb-c.h"
#include "opsutil.h"
#include "pbjson.h"

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

/* A client of s with key (NULL: the admin key) and an operator identity
 * (NULL: none, the key's identity counts). */
static struct opsbus_client *
client_as(const struct harness_server *s, const char *key, const char *who)
{
	struct opsbus_client_config cfg = {.url = s->url,
	    .api_key = key != NULL ? key : s->api_key,
	    .operator_identity = who,
	    .timeout_ms = 15000};
	struct opsbus_client       *c = NULL;
	struct opsbus_status        st;

	if (opsbus_client_open(&cfg, &c, &st) != 0) {
		fprintf(stderr, "client_as: %s\n", st.message);
		return (NULL);
	}
	return (c);
}

/* A unique name with a prefix, for queues and subjects; valid for the
 * next 255 calls. */
static const char *
uniq(const char *prefix)
{
	static char buf[256][96];
	static int  next;
	char        u[37];
	char       *b = buf[next++ % 256];

	ou_uuid(u);
	snprintf(b, sizeof(buf[0]), "%s-%.8s", prefix, u);
	return (b);
}

static int
ack(struct opsbus_client *c, const char *id, const char *reason,
    const char *corr, struct opsbus_status *st)
{
	Opsbus__V1__AcknowledgeDeadLetterRequest req;

	opsbus__v1__acknowledge_dead_letter_request__init(&req);
	req.id = STR(id);
	req.reason = STR(reason);
	return (ou_op(c, OP("AcknowledgeDeadLetter"), &req.base, corr, st));
}

/* Claims the one ready job of queue, waiting for its backoff. */
static int
claim_one(const char *queue, char **id, char **token)
{
	for (int i = 0; i < 60; i++) {
		if (ou_claim(cli, queue, "writer-1", 1, id, token) == 1) {
			return (0);
		}
		ou_sleep_ms(100);
	}
	return (-1);
}

static Opsbus__V1__GetStatusSummaryResponse *
summary(int hours, const char *queue)
{
	Opsbus__V1__GetStatusSummaryRequest   req;
	Opsbus__V1__GetStatusSummaryResponse *res = NULL;
	struct opsbus_status                  st;

	opsbus__v1__get_status_summary_request__init(&req);
	req.recent_hours_value_case
	    = OPSBUS__V1__GET_STATUS_SUMMARY_REQUEST__RECENT_HOURS_VALUE_RECENT_HOURS;
	req.recent_hours = hours;
	req.queue = STR(queue);
	CU_ASSERT_EQUAL(
	    ou_call(cli, OP("GetStatusSummary"), &req.base,
	        &opsbus__v1__get_status_summary_response__descriptor, &res,
	        NULL, &st),
	    0);
	return (res);
}

static int
count_of(Opsbus__V1__GetStatusSummaryResponse *s, const char *status)
{
	for (size_t i = 0; i < s->n_counts_by_status; i++) {
		if (strcmp(s->counts_by_status[i]->key, status) == 0) {
			return (s->counts_by_status[i]->value);
		}
	}
	return (-1);
}

static int
reason_count(Opsbus__V1__RecentFailures *rf, const char *code)
{
	for (size_t i = 0; i < rf->n_by_reason_code; i++) {
		if (strcmp(rf->by_reason_code[i]->key, code) == 0) {
			return (rf->by_reason_code[i]->value);
		}
	}
	return (0);
}

/*
 * Seed 000, through the C client: a writeback job fails twice (the second
 * time with the legacy lower-case `code`) and is dead; summary, list,
 * detail, history; replay with a new idempotency key; the replay job is
 * linked and queued; summary after.
 */
static void
test_triage_flow(void)
{
	const char          *queue = uniq("writeback");
	const char          *note = uniq("note");
	char                 payload[256], *id, *claimed, *token;
	struct opsbus_status st;

	snprintf(payload, sizeof(payload),
	    "{\"noteId\": \"%s\", \"ehr\": \"nextgen\"}", note);
	struct ou_job j = {.queue = queue,
	    .target = "nextgen",
	    .subject = note,
	    .payload = payload,
	    .idempotency_key = uniq("wb-key"),
	    .max_attempts = 2};
	id = ou_create(cli, &j);
	CU_ASSERT_PTR_NOT_NULL_FATAL(id);
	CU_ASSERT_EQUAL_FATAL(claim_one(queue, &claimed, &token), 0);
	CU_ASSERT_EQUAL(ou_fail(cli, id, token, "EHR_TIMEOUT", "timeout", true,
	                    "EHR did not answer in 30 s", NULL, &st),
	    0);
	free(claimed);
	free(token);
	CU_ASSERT_EQUAL_FATAL(claim_one(queue, &claimed, &token), 0);
	{
		/* The legacy spelling: code, lower case. */
		Opsbus__V1__FailJobRequest req;
		ProtobufCMessage          *out = NULL;
		opsbus__v1__fail_job_request__init(&req);
		req.job_id = id;
		req.lease_token = token;
		req.code = STR("ehr_timeout");
		req.retryable = 1;
		req.error = STR("EHR did not answer in 30 s");
		CU_ASSERT_EQUAL(
		    ou_call(cli, "opsbus.v1.JobService/FailJob", &req.base,
		        &opsbus__v1__fail_job_response__descriptor, &out, NULL,
		        &st),
		    0);
		protobuf_c_message_free_unpacked(out, NULL);
	}
	free(claimed);
	free(token);

	/* Step A: the summary. */
	Opsbus__V1__GetStatusSummaryResponse *s = summary(24, queue);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	ASSERT_INT_EQ(s->n_counts_by_status, 8);
	ASSERT_INT_EQ(count_of(s, "dead_failed"), 1);
	ASSERT_INT_EQ(count_of(s, "queued"), 0);
	ASSERT_INT_EQ(s->dead_letter_operator_counts->open, 1);
	ASSERT_INT_EQ(s->dead_letter_operator_counts->acknowledged, 0);
	ASSERT_INT_EQ(s->recent_failures->total, 2);
	ASSERT_INT_EQ(s->recent_failures->retryable, 2);
	ASSERT_INT_EQ(s->recent_failures->non_retryable, 0);
	ASSERT_INT_EQ(reason_count(s->recent_failures, "EHR_TIMEOUT"), 2);
	ASSERT_INT_EQ(s->recent_failures->window_hours, 24);
	CU_ASSERT_TRUE(strlen(s->recent_failures->since) > 20);
	protobuf_c_message_free_unpacked(&s->base, NULL);

	/* Step B: the list of dead letters. */
	{
		Opsbus__V1__ListDeadLettersRequest   req;
		Opsbus__V1__ListDeadLettersResponse *res = NULL;
		opsbus__v1__list_dead_letters_request__init(&req);
		req.status = STR("dead_failed");
		req.queue = STR(queue);
		req.limit_value_case
		    = OPSBUS__V1__LIST_DEAD_LETTERS_REQUEST__LIMIT_VALUE_LIMIT;
		req.limit = 50;
		CU_ASSERT_EQUAL_FATAL(
		    ou_call(cli, OP("ListDeadLetters"), &req.base,
		        &opsbus__v1__list_dead_letters_response__descriptor,
		        &res, NULL, &st),
		    0);
		ASSERT_INT_EQ(res->n_dead_letters, 1);
		if (res->n_dead_letters == 1) {
			Opsbus__V1__DeadLetterSummary *d
			    = res->dead_letters[0];
			ASSERT_STR_EQ(d->job_id, id);
			ASSERT_STR_EQ(d->note_id, note);
			ASSERT_STR_EQ(d->status, "dead_failed");
			ASSERT_STR_EQ(d->operator_status, "open");
			ASSERT_STR_EQ(d->reason_code, "EHR_TIMEOUT");
			ASSERT_INT_EQ(d->attempts, 2);
			ASSERT_STR_EQ(d->replayed_job_id, "");
		}
		protobuf_c_message_free_unpacked(&res->base, NULL);
		/* The reason filter ignores case; "failed" is both states. */
		req.status = STR("failed");
		req.reason = STR("ehr_timeout");
		CU_ASSERT_EQUAL_FATAL(
		    ou_call(cli, OP("ListDeadLetters"), &req.base,
		        &opsbus__v1__list_dead_letters_response__descriptor,
		        &res, NULL, &st),
		    0);
		ASSERT_INT_EQ(res->n_dead_letters, 1);
		protobuf_c_message_free_unpacked(&res->base, NULL);
		req.reason = STR("AUTH_FAILED");
		CU_ASSERT_EQUAL_FATAL(
		    ou_call(cli, OP("ListDeadLetters"), &req.base,
		        &opsbus__v1__list_dead_letters_response__descriptor,
		        &res, NULL, &st),
		    0);
		ASSERT_INT_EQ(res->n_dead_letters, 0);
		protobuf_c_message_free_unpacked(&res->base, NULL);
	}

	/* Step C: the operator detail, attempts and timeline. */
	{
		Opsbus__V1__GetJobDetailRequest   req;
		Opsbus__V1__GetJobDetailResponse *res = NULL;
		opsbus__v1__get_job_detail_request__init(&req);
		req.id = id;
		CU_ASSERT_EQUAL_FATAL(
		    ou_call(cli, OP("GetJobDetail"), &req.base,
		        &opsbus__v1__get_job_detail_response__descriptor, &res,
		        NULL, &st),
		    0);
		ASSERT_STR_EQ(res->job->status, "dead_failed");
		ASSERT_STR_EQ(
		    res->job->last_error, "EHR did not answer in 30 s");
		ASSERT_STR_EQ(res->last_error, "EHR did not answer in 30 s");
		ASSERT_STR_EQ(res->job->ehr, "nextgen");
		ASSERT_INT_EQ(res->n_attempts, 2);
		for (size_t i = 0; i < res->n_attempts; i++) {
			ASSERT_STR_EQ(
			    res->attempts[i]->reason_code, "EHR_TIMEOUT");
		}
		ASSERT_INT_EQ(res->n_timeline, 5);
		if (res->n_timeline == 5) {
			ASSERT_STR_EQ(res->timeline[0]->event_type, "created");
			ASSERT_STR_EQ(
			    res->timeline[4]->event_type, "dead_failed");
		}
		protobuf_c_message_free_unpacked(&res->base, NULL);
	}
	{
		Opsbus__V1__GetDeadLetterRequest   req;
		Opsbus__V1__GetDeadLetterResponse *res = NULL;
		opsbus__v1__get_dead_letter_request__init(&req);
		req.id = id;
		CU_ASSERT_EQUAL_FATAL(
		    ou_call(cli, OP("GetDeadLetter"), &req.base,
		        &opsbus__v1__get_dead_letter_response__descriptor,
		        &res, NULL, &st),
		    0);
		ASSERT_STR_EQ(res->dead_letter->job_id, id);
		ASSERT_STR_EQ(res->last_error, "EHR did not answer in 30 s");
		ASSERT_INT_EQ(res->n_attempts, 2);
		if (res->n_attempts == 2) {
			ASSERT_INT_EQ(res->attempts[0]->attempt, 1);
			ASSERT_STR_EQ(res->attempts[0]->from_status, "queued");
			ASSERT_STR_EQ(
			    res->attempts[0]->to_status, "retryable_failed");
			ASSERT_STR_EQ(
			    res->attempts[1]->from_status, "retryable_failed");
			ASSERT_STR_EQ(
			    res->attempts[1]->to_status, "dead_failed");
			CU_ASSERT_TRUE(
			    strlen(res->attempts[1]->occurred_at) > 20);
		}
		ASSERT_STR_EQ(res->replay_linkage->replayed_job_id, "");
		protobuf_c_message_free_unpacked(&res->base, NULL);
	}

	/* Replay: a new job with a new key, linked both ways. */
	Opsbus__V1__ReplayDeadLetterResponse *r
	    = ou_replay(cli, id, OU_REASON, NULL, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	ASSERT_STR_EQ(r->original_job->job_id, id);
	ASSERT_STR_EQ(r->original_job->replayed_job_id, r->replay_job->job_id);
	ASSERT_STR_EQ(r->replay_job->status, "queued");
	ASSERT_STR_EQ(r->replay_job->replay_of_job_id, id);
	ASSERT_STR_EQ(r->replay_job->note_id, note);
	ASSERT_STR_EQ(r->replay_job->ehr, "nextgen");
	ASSERT_INT_EQ(r->replay_job->attempts, 0);
	char *new_id = strdup(r->replay_job->job_id);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM jobs a, jobs b WHERE "
	                       "a.id = '%s' AND b.id = '%s' AND "
	                       "a.idempotency_key <> b.idempotency_key AND "
	                       "b.idempotency_key IS NOT NULL AND "
	                       "b.payload = a.payload AND b.queue = a.queue",
	                  id, new_id),
	    1);
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM events WHERE job_id = "
	                       "'%s' AND topic = 'deadletter.replayed'",
	                  id),
	    1);

	/* Step B of the replay procedure: verify the replay job. */
	{
		Opsbus__V1__GetDeadLetterHistoryRequest   req;
		Opsbus__V1__GetDeadLetterHistoryResponse *res = NULL;
		opsbus__v1__get_dead_letter_history_request__init(&req);
		req.id = id;
		CU_ASSERT_EQUAL_FATAL(
		    ou_call(cli, OP("GetDeadLetterHistory"), &req.base,
		        &opsbus__v1__get_dead_letter_history_response__descriptor,
		        &res, NULL, &st),
		    0);
		ASSERT_STR_EQ(res->replay_linkage->original_job_id, id);
		CU_ASSERT_FALSE(res->replay_linkage->is_replay);
		CU_ASSERT_TRUE(res->replay_linkage->has_replay);
		ASSERT_STR_EQ(res->replay_linkage->replayed_job_id, new_id);
		ASSERT_STR_EQ(
		    res->replay_linkage->replay_job_status, "queued");
		CU_ASSERT_TRUE(res->n_timeline >= 6);
		if (res->n_timeline >= 6) {
			ASSERT_STR_EQ(
			    res->timeline[res->n_timeline - 1]->event_type,
			    "replayed");
		}
		protobuf_c_message_free_unpacked(&res->base, NULL);
	}
	{
		Opsbus__V1__GetReplayStatusRequest   req;
		Opsbus__V1__GetReplayStatusResponse *res = NULL;
		opsbus__v1__get_replay_status_request__init(&req);
		req.id = new_id;
		CU_ASSERT_EQUAL_FATAL(
		    ou_call(cli, OP("GetReplayStatus"), &req.base,
		        &opsbus__v1__get_replay_status_response__descriptor,
		        &res, NULL, &st),
		    0);
		ASSERT_STR_EQ(res->dead_letter->status, "queued");
		ASSERT_STR_EQ(res->replay_linkage->original_job_id, id);
		CU_ASSERT_TRUE(res->replay_linkage->is_replay);
		CU_ASSERT_FALSE(res->replay_linkage->has_replay);
		ASSERT_STR_EQ(res->replay_linkage->replay_of_job_id, id);
		protobuf_c_message_free_unpacked(&res->base, NULL);
	}
	/* Step C: the summary after the replay. */
	s = summary(1, queue);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	ASSERT_INT_EQ(count_of(s, "queued"), 1);
	ASSERT_INT_EQ(count_of(s, "dead_failed"), 1);
	protobuf_c_message_free_unpacked(&s->base, NULL);
	free(new_id);
	free(id);
}

/* The same flow through the CLI, with its JSON and its exit statuses. */
static void
test_triage_flow_cli(void)
{
	const char   *queue = uniq("cli-wb");
	struct ou_job j
	    = {.queue = queue, .target = "nextgen", .subject = uniq("note")};
	char *id = ou_dead(cli, &j, "EHR_AUTH_FAILED", "auth", false);
	char *out, *err;

	CU_ASSERT_PTR_NOT_NULL_FATAL(id);
	const char *sum[]
	    = {"summary", "--hours", "24", "--queue", queue, NULL};
	ASSERT_INT_EQ(harness_cli(&srv, sum, &out, &err), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "dead_failed        1"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "EHR_AUTH_FAILED"));
	free(out);
	free(err);
	const char *sumj[] = {"--json", "summary", "--queue", queue, NULL};
	ASSERT_INT_EQ(harness_cli(&srv, sumj, &out, &err), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"countsByStatus\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"dead_failed\": 1"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"deadLetterOperatorCounts\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"nonRetryable\": 1"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"byReasonCode\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"windowHours\": 24"));
	free(out);
	free(err);
	const char *list[] = {"--json", "dlq", "list", "--status",
	    "dead_failed", "--queue", queue, "--limit", "50", NULL};
	ASSERT_INT_EQ(harness_cli(&srv, list, &out, &err), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, id));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"noteId\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"operatorStatus\": \"open\""));
	free(out);
	free(err);
	const char *show[] = {"job", "show", id, NULL};
	ASSERT_INT_EQ(harness_cli(&srv, show, &out, &err), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "status:            dead_failed"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "EHR_AUTH_FAILED"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "timeline:"));
	free(out);
	free(err);
	const char *dshow[] = {"dlq", "show", id, NULL};
	ASSERT_INT_EQ(harness_cli(&srv, dshow, &out, &err), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "attempts:"));
	free(out);
	free(err);
	const char *noreason[] = {"dlq", "replay", id, NULL};
	ASSERT_INT_EQ(harness_cli(&srv, noreason, &out, &err), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "--reason"));
	free(out);
	free(err);
	const char *badreason[]
	    = {"dlq", "replay", id, "--reason", "test", NULL};
	ASSERT_INT_EQ(harness_cli(&srv, badreason, &out, &err), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "VALIDATION_ERROR"));
	free(out);
	free(err);
	const char *rep[] = {"--operator", "ops@cli.example", "dlq", "replay",
	    id, "--reason", OU_REASON, NULL};
	ASSERT_INT_EQ(harness_cli(&srv, rep, &out, &err), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "replayed"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "(queued)"));
	free(out);
	free(err);
	ASSERT_INT_EQ(harness_cli(&srv, rep, &out, &err), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "WRITEBACK_REPLAY_ALREADY_EXISTS"));
	free(out);
	free(err);
	const char *rs[] = {"dlq", "replay-status", id, NULL};
	ASSERT_INT_EQ(harness_cli(&srv, rs, &out, &err), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "(queued)"));
	free(out);
	free(err);
	const char *hist[] = {"dlq", "history", id, NULL};
	ASSERT_INT_EQ(harness_cli(&srv, hist, &out, &err), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "replayed"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "ops@cli.example"));
	free(out);
	free(err);
	const char *ackc[] = {"--operator", "ops@cli.example", "dlq", "ack",
	    id, "--reason", "Known EHR credential rotation, CHG-77", NULL};
	ASSERT_INT_EQ(harness_cli(&srv, ackc, &out, &err), 0);
	free(out);
	free(err);
	ASSERT_INT_EQ(harness_cli(&srv, ackc, &out, &err), 1);
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(err, "DEAD_LETTER_ALREADY_ACKNOWLEDGED"));
	free(out);
	free(err);
	const char *aud[] = {"audit", "--target", id, NULL};
	ASSERT_INT_EQ(harness_cli(&srv, aud, &out, &err), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "ops@cli.example"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "refused VALIDATION_ERROR"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "acknowledge_dead_letter"));
	free(out);
	free(err);
	const char *audj[]
	    = {"--json", "audit", "--identity", "ops@cli.example", "--action",
	        "controlled_replay", "--outcome", "accepted", NULL};
	ASSERT_INT_EQ(harness_cli(&srv, audj, &out, &err), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, id));
	CU_ASSERT_PTR_NULL(strstr(out, "refused"));
	free(out);
	free(err);

	/* A small bulk replay through the CLI (no terminal: no bar). */
	const char *bq = uniq("cli-bulk");
	for (int i = 0; i < 3; i++) {
		struct ou_job b = {.queue = bq, .subject = uniq("n")};
		free(ou_dead(cli, &b, "CIRCUIT_OPEN", "circuit_open", true));
	}
	char filter[128];
	snprintf(filter, sizeof(filter), "queue=%s,category=circuit_open", bq);
	const char *dry[] = {"dlq", "bulk-replay", "--filter", filter,
	    "--dry-run", "--reason", OU_REASON, NULL};
	ASSERT_INT_EQ(harness_cli(&srv, dry, &out, &err), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "(dry run)"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "matched:           3"));
	free(out);
	free(err);
	const char *bulk[] = {"dlq", "bulk-replay", "--filter", filter,
	    "--rate", "50", "--reason", OU_REASON, NULL};
	ASSERT_INT_EQ(harness_cli(&srv, bulk, &out, &err), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "status:            completed"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "replayed:          3"));
	CU_ASSERT_PTR_NULL(strstr(out, "\r"));
	free(out);
	free(err);
	const char *blind[]
	    = {"dlq", "bulk-replay", "--reason", OU_REASON, NULL};
	ASSERT_INT_EQ(harness_cli(&srv, blind, &out, &err), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "VALIDATION_ERROR"));
	free(out);
	free(err);

	/* On a terminal (script(1) gives it one), a progress bar. */
	const char *tq = uniq("cli-tty");
	for (int i = 0; i < 4; i++) {
		struct ou_job b = {.queue = tq, .subject = uniq("n")};
		free(ou_dead(cli, &b, "CIRCUIT_OPEN", "circuit_open", true));
	}
	char bar[512];
	snprintf(bar, sizeof(bar), "%s/bar.out", harness_tmpdir());
	ASSERT_INT_EQ(
	    harness_sh("OPSBUS_URL='%s' OPSBUS_API_KEY='%s' script -qec "
	               "\"$OPSBUS_CLI dlq bulk-replay --queue %s "
	               "--rate 4 --reason 'Health butler recovered "
	               "INC-9'\" /dev/null > '%s' 2>&1",
	        srv.url, srv.api_key, tq, bar),
	    0);
	char *tty = calloc(1, 65536);
	FILE *f = fopen(bar, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	tty[fread(tty, 1, 65535, f)] = '\0';
	fclose(f);
	CU_ASSERT_PTR_NOT_NULL(strstr(tty, "\r["));
	CU_ASSERT_PTR_NOT_NULL(strstr(tty, "] 4/4  replayed 4"));
	CU_ASSERT_PTR_NOT_NULL(strstr(tty, "status:            completed"));
	free(tty);
	free(id);
}

/* Every error code of seed 001, with its gRPC status. */
static void
test_seed001_errors(void)
{
	struct opsbus_status st;
	char                 missing[37];
	const char          *queue = uniq("errors");

	ou_uuid(missing);

	/* 401 UNAUTHORIZED: a wrong key and no key. */
	{
		struct opsbus_client *bad
		    = client_as(&srv, "wrong-key-0123456789", NULL);
		Opsbus__V1__GetStatusSummaryRequest req;
		opsbus__v1__get_status_summary_request__init(&req);
		CU_ASSERT_EQUAL(
		    ou_op(bad, OP("GetStatusSummary"), &req.base, NULL, &st),
		    -1);
		ASSERT_STR_EQ(st.error_code, "UNAUTHORIZED");
		ASSERT_INT_EQ(st.code, 16);
		opsbus_client_close(bad);
		struct opsbus_client_config cfg
		    = {.url = srv.url, .timeout_ms = 5000};
		CU_ASSERT_EQUAL_FATAL(opsbus_client_open(&cfg, &bad, &st), 0);
		CU_ASSERT_EQUAL(
		    ou_op(bad, OP("ListDeadLetters"), &req.base, NULL, &st),
		    -1);
		ASSERT_STR_EQ(st.error_code, "UNAUTHORIZED");
		opsbus_client_close(bad);
	}
	/* 400 VALIDATION_ERROR: ranges, enums, UUIDs. */
	{
		Opsbus__V1__GetStatusSummaryRequest req;
		int                                 hours[] = {0, 169, -1};
		for (size_t i = 0; i < 3; i++) {
			opsbus__v1__get_status_summary_request__init(&req);
			req.recent_hours_value_case
			    = OPSBUS__V1__GET_STATUS_SUMMARY_REQUEST__RECENT_HOURS_VALUE_RECENT_HOURS;
			req.recent_hours = hours[i];
			CU_ASSERT_EQUAL(ou_op(cli, OP("GetStatusSummary"),
			                    &req.base, NULL, &st),
			    -1);
			ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
			ASSERT_INT_EQ(st.code, 3);
		}
		req.recent_hours = 168;
		CU_ASSERT_EQUAL(
		    ou_op(cli, OP("GetStatusSummary"), &req.base, NULL, &st),
		    0);
	}
	{
		Opsbus__V1__ListDeadLettersRequest req;
		opsbus__v1__list_dead_letters_request__init(&req);
		req.limit_value_case
		    = OPSBUS__V1__LIST_DEAD_LETTERS_REQUEST__LIMIT_VALUE_LIMIT;
		req.limit = 0;
		CU_ASSERT_EQUAL(
		    ou_op(cli, OP("ListDeadLetters"), &req.base, NULL, &st),
		    -1);
		ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
		req.limit = 101;
		CU_ASSERT_EQUAL(
		    ou_op(cli, OP("ListDeadLetters"), &req.base, NULL, &st),
		    -1);
		ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
		req.limit = 100;
		req.status = STR("succeeded");
		CU_ASSERT_EQUAL(
		    ou_op(cli, OP("ListDeadLetters"), &req.base, NULL, &st),
		    -1);
		ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
		req.status = STR("retryable_failed");
		req.reason = STR("has space");
		CU_ASSERT_EQUAL(
		    ou_op(cli, OP("ListDeadLetters"), &req.base, NULL, &st),
		    -1);
		ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
	}
	/* Every by-id read: a bad UUID is 400, an unknown one 404. */
	{
		static const char *const methods[] = {"GetDeadLetter",
		    "GetDeadLetterHistory", "GetReplayStatus"};
		Opsbus__V1__GetDeadLetterRequest
		    req; /* all are {string id = 1} */
		for (size_t i = 0; i < 3; i++) {
			opsbus__v1__get_dead_letter_request__init(&req);
			req.id = STR("not-a-uuid");
			CU_ASSERT_EQUAL(
			    ou_op(cli, methods[i], &req.base, NULL, &st), -1);
			ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
			req.id = missing;
			CU_ASSERT_EQUAL(
			    ou_op(cli, methods[i], &req.base, NULL, &st), -1);
			ASSERT_STR_EQ(st.error_code, "DEAD_LETTER_NOT_FOUND");
			ASSERT_INT_EQ(st.code, 5);
		}
	}
	CU_ASSERT_PTR_NULL(ou_replay(cli, "nope", OU_REASON, NULL, &st));
	ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
	CU_ASSERT_PTR_NULL(ou_replay(cli, missing, OU_REASON, NULL, &st));
	ASSERT_STR_EQ(st.error_code, "DEAD_LETTER_NOT_FOUND");
	CU_ASSERT_EQUAL(ack(cli, "nope", OU_REASON, NULL, &st), -1);
	ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
	CU_ASSERT_EQUAL(ack(cli, missing, OU_REASON, NULL, &st), -1);
	ASSERT_STR_EQ(st.error_code, "DEAD_LETTER_NOT_FOUND");

	/* 409 DEAD_LETTER_REPLAY_REQUIRES_DEAD_FAILED: a queued job. */
	struct ou_job q = {.queue = queue, .subject = uniq("note")};
	char         *queued = ou_create(cli, &q);
	CU_ASSERT_PTR_NULL(ou_replay(cli, queued, OU_REASON, NULL, &st));
	ASSERT_STR_EQ(
	    st.error_code, "DEAD_LETTER_REPLAY_REQUIRES_DEAD_FAILED");
	ASSERT_INT_EQ(st.code, 9);
	/* A job that is no dead letter cannot be acknowledged. */
	CU_ASSERT_EQUAL(ack(cli, queued, OU_REASON, NULL, &st), -1);
	ASSERT_STR_EQ(st.error_code, "DEAD_LETTER_NOT_FOUND");

	/* 409 WRITEBACK_REPLAY_ALREADY_EXISTS: the second replay. */
	struct ou_job d1
	    = {.queue = uniq("errors-a"), .subject = uniq("note")};
	char *dead = ou_dead(cli, &d1, "EHR_DOWN", "outage", true);
	Opsbus__V1__ReplayDeadLetterResponse *r
	    = ou_replay(cli, dead, OU_REASON, NULL, &st);
	CU_ASSERT_PTR_NOT_NULL(r);
	if (r != NULL) {
		protobuf_c_message_free_unpacked(&r->base, NULL);
	}
	CU_ASSERT_PTR_NULL(ou_replay(cli, dead, OU_REASON, NULL, &st));
	ASSERT_STR_EQ(st.error_code, "WRITEBACK_REPLAY_ALREADY_EXISTS");
	ASSERT_INT_EQ(st.code, 6);
	ASSERT_INT_EQ(
	    ou_count("SELECT count(*) FROM jobs WHERE replay_of_job_id = '%s'",
	        dead),
	    1);

	/* 409 WRITEBACK_PRECONDITION_FAILED: another job of the note is
	 * still queued. */
	struct ou_job d2
	    = {.queue = uniq("errors-b"), .subject = uniq("note")};
	char *dead2 = ou_dead(cli, &d2, "EHR_DOWN", "outage", true);
	char *active = ou_create(cli, &d2);
	CU_ASSERT_PTR_NULL(ou_replay(cli, dead2, OU_REASON, NULL, &st));
	ASSERT_STR_EQ(st.error_code, "WRITEBACK_PRECONDITION_FAILED");

	/* 409 ILLEGAL_NOTE_STATE_TRANSITION: a later job of the note has
	 * succeeded. */
	struct ou_job d3
	    = {.queue = uniq("errors-c"), .subject = uniq("note")};
	char *dead3 = ou_dead(cli, &d3, "EHR_DOWN", "outage", true);
	char *later = ou_create(cli, &d3), *cid = NULL, *tok = NULL;
	CU_ASSERT_EQUAL_FATAL(ou_claim(cli, d3.queue, "w", 1, &cid, &tok), 1);
	CU_ASSERT_EQUAL(ou_complete(cli, later, tok, &st), 0);
	CU_ASSERT_PTR_NULL(ou_replay(cli, dead3, OU_REASON, NULL, &st));
	ASSERT_STR_EQ(st.error_code, "ILLEGAL_NOTE_STATE_TRANSITION");

	/* 409 DEAD_LETTER_ALREADY_ACKNOWLEDGED. */
	CU_ASSERT_EQUAL(ack(cli, dead3, OU_REASON, NULL, &st), 0);
	CU_ASSERT_EQUAL(ack(cli, dead3, OU_REASON, NULL, &st), -1);
	ASSERT_STR_EQ(st.error_code, "DEAD_LETTER_ALREADY_ACKNOWLEDGED");
	ASSERT_INT_EQ(st.code, 9);
	/* None of the refusals changed a job. */
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM jobs WHERE "
	                       "replay_of_job_id IN ('%s', '%s')",
	                  dead2, dead3),
	    0);
	free(queued);
	free(dead);
	free(dead2);
	free(active);
	free(dead3);
	free(later);
	free(cid);
	free(tok);
}

/* A replay that fails is dead-lettered again and replayed again; the
 * chain stays linked to its first job. */
static void
test_replay_chain(void)
{
	struct opsbus_status st;
	struct ou_job j = {.queue = uniq("chain"), .subject = uniq("note")};
	char *first = ou_dead(cli, &j, "EHR_DOWN", "outage", true), *id, *tok;

	Opsbus__V1__ReplayDeadLetterResponse *r
	    = ou_replay(cli, first, OU_REASON, NULL, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	char *second = strdup(r->replay_job->job_id);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	CU_ASSERT_EQUAL_FATAL(ou_claim(cli, j.queue, "w", 1, &id, &tok), 1);
	ASSERT_STR_EQ(id, second);
	CU_ASSERT_EQUAL(ou_fail(cli, id, tok, "EHR_DOWN", "outage", false,
	                    NULL, NULL, &st),
	    0);
	{
		char *s = ou_status(second);
		ASSERT_STR_EQ(s, "dead_failed");
		free(s);
	}
	r = ou_replay(cli, second, OU_REASON, NULL, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	char *third = strdup(r->replay_job->job_id);
	ASSERT_STR_EQ(r->replay_job->replay_of_job_id, second);
	protobuf_c_message_free_unpacked(&r->base, NULL);

	Opsbus__V1__GetReplayStatusRequest   req;
	Opsbus__V1__GetReplayStatusResponse *res = NULL;
	opsbus__v1__get_replay_status_request__init(&req);
	req.id = third;
	CU_ASSERT_EQUAL_FATAL(
	    ou_call(cli, OP("GetReplayStatus"), &req.base,
	        &opsbus__v1__get_replay_status_response__descriptor, &res,
	        NULL, &st),
	    0);
	ASSERT_STR_EQ(res->replay_linkage->original_job_id, first);
	ASSERT_STR_EQ(res->replay_linkage->replay_of_job_id, second);
	CU_ASSERT_TRUE(res->replay_linkage->is_replay);
	protobuf_c_message_free_unpacked(&res->base, NULL);
	req.id = second;
	CU_ASSERT_EQUAL_FATAL(
	    ou_call(cli, OP("GetReplayStatus"), &req.base,
	        &opsbus__v1__get_replay_status_response__descriptor, &res,
	        NULL, &st),
	    0);
	ASSERT_STR_EQ(res->replay_linkage->original_job_id, first);
	CU_ASSERT_TRUE(res->replay_linkage->is_replay);
	CU_ASSERT_TRUE(res->replay_linkage->has_replay);
	ASSERT_STR_EQ(res->replay_linkage->replayed_job_id, third);
	ASSERT_STR_EQ(res->replay_linkage->replay_job_status, "queued");
	ASSERT_STR_EQ(res->dead_letter->status, "dead_failed");
	protobuf_c_message_free_unpacked(&res->base, NULL);
	free(first);
	free(second);
	free(third);
	free(id);
	free(tok);
}

/* PostgreSQL refuses to change or remove audit rows. */
static void
test_audit_append_only(void)
{
	long  before = ou_count("SELECT count(*) FROM operator_audit_log");
	char *v;

	CU_ASSERT_TRUE(before > 0);
	setenv("HARNESS_SQL_QUIET", "1", 1);
	v = harness_sql(NULL, "UPDATE operator_audit_log SET reason = 'x'");
	CU_ASSERT_PTR_NULL(v);
	free(v);
	v = harness_sql(NULL, "DELETE FROM operator_audit_log");
	CU_ASSERT_PTR_NULL(v);
	free(v);
	v = harness_sql(NULL, "TRUNCATE operator_audit_log");
	CU_ASSERT_PTR_NULL(v);
	free(v);
	unsetenv("HARNESS_SQL_QUIET");
	ASSERT_INT_EQ(
	    ou_count("SELECT count(*) FROM operator_audit_log"), before);
	ASSERT_INT_EQ(
	    ou_count(
	        "SELECT count(*) FROM operator_audit_log WHERE reason = 'x'"),
	    0);
}

/* One command of the table below: a request and what it should answer. */
struct audited {
	const char       *method;
	ProtobufCMessage *req;
	const char       *error; /* NULL: accepted */
	const char       *action;
};

/* Every operator command, accepted or refused, leaves exactly one row
 * (with its outcome and error code) in the transaction of its change;
 * reads leave none. */
static void
test_one_audit_row_per_command(void)
{
	struct ou_job j = {.queue = uniq("audit"), .subject = uniq("note")};
	char         *dead = ou_dead(cli, &j, "EHR_DOWN", "outage", true);
	struct ou_job k = {.queue = uniq("audit-q"), .subject = uniq("note")};
	char         *queued = ou_create(cli, &k);
	char          missing[37];
	ou_uuid(missing);

	Opsbus__V1__ReplayDeadLetterRequest rep_ok, rep_missing, rep_bad,
	    rep_reason;
	Opsbus__V1__AcknowledgeDeadLetterRequest ack_ok, ack_again;
	Opsbus__V1__StartBulkReplayRequest       bulk_blind, bulk_dry;
	Opsbus__V1__BulkReplayFilter             none, byq;
	Opsbus__V1__CancelBulkOperationRequest   bc;
	Opsbus__V1__CancelJobRequest             cancel;
	Opsbus__V1__AbortJobRequest              abort_done;
	Opsbus__V1__RerouteJobRequest            reroute_bad;
	Opsbus__V1__ForceCompleteJobRequest      force_bad;
	Opsbus__V1__GetStatusSummaryRequest      read;

	opsbus__v1__replay_dead_letter_request__init(&rep_ok);
	rep_ok.id = dead;
	rep_ok.reason = STR(OU_REASON);
	rep_missing = rep_ok;
	rep_missing.id = missing;
	rep_bad = rep_ok;
	rep_bad.id = STR("123");
	rep_reason = rep_ok;
	rep_reason.reason = STR("  ");
	opsbus__v1__acknowledge_dead_letter_request__init(&ack_ok);
	ack_ok.id = dead;
	ack_ok.reason = STR(OU_REASON);
	ack_again = ack_ok;
	opsbus__v1__bulk_replay_filter__init(&none);
	opsbus__v1__bulk_replay_filter__init(&byq);
	byq.queue = STR(j.queue);
	opsbus__v1__start_bulk_replay_request__init(&bulk_blind);
	bulk_blind.filter = &none;
	bulk_blind.reason = STR(OU_REASON);
	bulk_dry = bulk_blind;
	bulk_dry.filter = &byq;
	bulk_dry.dry_run = 1;
	opsbus__v1__cancel_bulk_operation_request__init(&bc);
	bc.id = missing;
	bc.reason = STR(OU_REASON);
	opsbus__v1__cancel_job_request__init(&cancel);
	cancel.id = queued;
	cancel.reason = STR(OU_REASON);
	opsbus__v1__abort_job_request__init(&abort_done);
	abort_done.id = queued;
	abort_done.reason = STR(OU_REASON);
	opsbus__v1__reroute_job_request__init(&reroute_bad);
	reroute_bad.id = queued;
	reroute_bad.reason = STR(OU_REASON);
	opsbus__v1__force_complete_job_request__init(&force_bad);
	force_bad.id = dead;
	force_bad.reason = STR(OU_REASON);
	force_bad.completion_summary
	    = STR("Resolved by hand with the EHR team");
	opsbus__v1__get_status_summary_request__init(&read);

	struct audited table[] = {
	    {OP("ReplayDeadLetter"), &rep_ok.base, NULL, "controlled_replay"},
	    {OP("ReplayDeadLetter"), &rep_ok.base,
	        "WRITEBACK_REPLAY_ALREADY_EXISTS", "controlled_replay"},
	    {OP("ReplayDeadLetter"), &rep_missing.base,
	        "DEAD_LETTER_NOT_FOUND", "controlled_replay"},
	    {OP("ReplayDeadLetter"), &rep_bad.base, "VALIDATION_ERROR",
	        "controlled_replay"},
	    {OP("ReplayDeadLetter"), &rep_reason.base, "VALIDATION_ERROR",
	        "controlled_replay"},
	    {OP("AcknowledgeDeadLetter"), &ack_ok.base, NULL,
	        "acknowledge_dead_letter"},
	    {OP("AcknowledgeDeadLetter"), &ack_again.base,
	        "DEAD_LETTER_ALREADY_ACKNOWLEDGED", "acknowledge_dead_letter"},
	    {OP("StartBulkReplay"), &bulk_blind.base, "VALIDATION_ERROR",
	        "bulk_replay"},
	    {OP("StartBulkReplay"), &bulk_dry.base, NULL, "bulk_replay"},
	    {OP("CancelBulkOperation"), &bc.base, "BULK_OPERATION_NOT_FOUND",
	        "cancel_bulk_operation"},
	    {OP("CancelJob"), &cancel.base, NULL, "cancel_request"},
	    {OP("CancelJob"), &cancel.base, NULL, "cancel_request"},
	    {OP("AbortJob"), &abort_done.base, "TERMINAL_STATE",
	        "abort_request"},
	    {OP("RerouteJob"), &reroute_bad.base, "VALIDATION_ERROR",
	        "manual_reroute"},
	    {OP("ForceCompleteJob"), &force_bad.base, "TERMINAL_STATE",
	        "force_complete"},
	};
	long before = ou_count("SELECT count(*) FROM operator_audit_log");

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		struct opsbus_status st;
		char                 corr[64];
		int                  rv;

		snprintf(corr, sizeof(corr), "audit-%.8s-%zu", missing, i);
		rv = ou_op(cli, table[i].method, table[i].req, corr, &st);
		if (table[i].error == NULL) {
			if (rv != 0) {
				fprintf(stderr, "case %zu: %s %s\n", i,
				    st.error_code, st.message);
			}
			ASSERT_INT_EQ(rv, 0);
		} else {
			ASSERT_INT_EQ(rv, -1);
			ASSERT_STR_EQ(st.error_code, table[i].error);
		}
		ASSERT_INT_EQ(
		    ou_count("SELECT count(*) FROM operator_audit_log "
		             "WHERE correlation_id = '%s'",
		        corr),
		    1);
		ASSERT_INT_EQ(
		    ou_count("SELECT count(*) FROM operator_audit_log "
		             "WHERE correlation_id = '%s' AND action_type = "
		             "'%s' AND "
		             "outcome = '%s' AND coalesce(error_code, '') = "
		             "'%s' AND "
		             "operator_identity = 'admin'",
		        corr, table[i].action,
		        table[i].error == NULL ? "accepted" : "refused",
		        table[i].error == NULL ? "" : table[i].error),
		    1);
	}
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM operator_audit_log"),
	    before + (long) (sizeof(table) / sizeof(table[0])));
	/* A read is not a command. */
	struct opsbus_status st;
	CU_ASSERT_EQUAL(ou_op(cli, OP("GetStatusSummary"), &read.base,
	                    "audit-read-1", &st),
	    0);
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM operator_audit_log WHERE "
	                       "correlation_id = 'audit-read-1'"),
	    0);
	/* The refused replays changed nothing; the accepted one wrote its
	 * row with the job and the change's details. */
	ASSERT_INT_EQ(
	    ou_count("SELECT count(*) FROM jobs WHERE replay_of_job_id = '%s'",
	        dead),
	    1);
	ASSERT_INT_EQ(
	    ou_count(
	        "SELECT count(*) FROM operator_audit_log WHERE target_job_id "
	        "= '%s' AND action_type = 'controlled_replay' AND outcome = "
	        "'accepted' AND details ? 'replay_job_id'",
	        dead),
	    1);
	/* A malformed id is kept as the target text of its refusal. */
	ASSERT_INT_EQ(
	    ou_count("SELECT count(*) FROM operator_audit_log WHERE target = "
	             "'123' AND error_code = 'VALIDATION_ERROR' AND "
	             "correlation_id LIKE 'audit-%.8s-%%'",
	        missing),
	    1);
	free(dead);
	free(queued);
}

/* Empty, blank and placeholder reasons are refused (and audited), and
 * nothing changes. */
static void
test_bad_reasons(void)
{
	static const char *const bad[] = {"", " ", "\t \n", "test", "Testing",
	    "fix it", "  FIX   IT ", "fix", "asdf", "todo", "n/a", "short"};
	struct ou_job j = {.queue = uniq("reasons"), .subject = uniq("note")};
	char         *dead = ou_dead(cli, &j, "EHR_DOWN", "outage", true);
	long          before = ou_count(
	             "SELECT count(*) FROM operator_audit_log WHERE target_job_id = "
	                      "'%s' AND outcome = 'refused' AND error_code = 'VALIDATION_ERROR'",
	             dead);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct opsbus_status st;
		CU_ASSERT_PTR_NULL(ou_replay(cli, dead, bad[i], NULL, &st));
		ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
		CU_ASSERT_EQUAL(ack(cli, dead, bad[i], NULL, &st), -1);
		ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
	}
	/* A reason too long is refused too. */
	{
		char                 long_reason[1100];
		struct opsbus_status st;
		memset(long_reason, 'a', sizeof(long_reason) - 1);
		long_reason[sizeof(long_reason) - 1] = '\0';
		CU_ASSERT_PTR_NULL(
		    ou_replay(cli, dead, long_reason, NULL, &st));
		ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
	}
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM operator_audit_log WHERE "
	                       "target_job_id = '%s' AND outcome = 'refused' "
	                       "AND error_code = 'VALIDATION_ERROR'",
	                  dead),
	    before + 2 * 12 + 1);
	ASSERT_INT_EQ(
	    ou_count("SELECT count(*) FROM jobs WHERE id = '%s' AND "
	             "replayed_job_id IS NULL AND operator_status = 'open'",
	        dead),
	    1);
	free(dead);
}

/* Who acted: actor, else x-operator-identity, else the key's identity;
 * a viewer may read but not act. */
static void
test_attribution(void)
{
	struct opsbus_status st;
	struct ou_job j = {.queue = uniq("attrib"), .subject = uniq("note")};
	char         *a = ou_dead(cli, &j, "EHR_DOWN", "outage", true);
	j.subject = uniq("note");
	char *b = ou_dead(cli, &j, "EHR_DOWN", "outage", true);
	j.subject = uniq("note");
	char *c = ou_dead(cli, &j, "EHR_DOWN", "outage", true);

	/* x-operator-identity. */
	struct opsbus_client *ops = client_as(&srv, NULL, "ops@example.com");
	Opsbus__V1__ReplayDeadLetterResponse *r
	    = ou_replay(ops, a, OU_REASON, NULL, &st);
	CU_ASSERT_PTR_NOT_NULL(r);
	if (r != NULL) {
		protobuf_c_message_free_unpacked(&r->base, NULL);
	}
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM operator_audit_log WHERE "
	                       "target_job_id = '%s' AND operator_identity = "
	                       "'ops@example.com' AND outcome = 'accepted'",
	                  a),
	    1);
	ASSERT_INT_EQ(
	    ou_count("SELECT count(*) FROM events WHERE job_id = '%s' AND "
	             "event_type = 'replayed' AND actor = 'ops@example.com'",
	        a),
	    1);
	/* The request's actor wins. */
	Opsbus__V1__AcknowledgeDeadLetterRequest ar;
	opsbus__v1__acknowledge_dead_letter_request__init(&ar);
	ar.id = b;
	ar.reason = STR(OU_REASON);
	ar.actor = STR("support@example.com");
	CU_ASSERT_EQUAL(
	    ou_op(ops, OP("AcknowledgeDeadLetter"), &ar.base, NULL, &st), 0);
	ASSERT_INT_EQ(
	    ou_count(
	        "SELECT count(*) FROM operator_audit_log WHERE target_job_id "
	        "= '%s' AND operator_identity = 'support@example.com'",
	        b),
	    1);
	opsbus_client_close(ops);

	/* A key's own identity; a viewer key. */
	Opsbus__V1__CreateApiKeyRequest   kr;
	Opsbus__V1__CreateApiKeyResponse *k1 = NULL, *k2 = NULL;
	opsbus__v1__create_api_key_request__init(&kr);
	kr.identity = STR("alice@example.com");
	kr.role = STR("operator");
	CU_ASSERT_EQUAL_FATAL(
	    ou_call(cli, "opsbus.v1.AdminService/CreateApiKey", &kr.base,
	        &opsbus__v1__create_api_key_response__descriptor, &k1, NULL,
	        &st),
	    0);
	kr.identity = STR("victor@example.com");
	kr.role = STR("viewer");
	CU_ASSERT_EQUAL_FATAL(
	    ou_call(cli, "opsbus.v1.AdminService/CreateApiKey", &kr.base,
	        &opsbus__v1__create_api_key_response__descriptor, &k2, NULL,
	        &st),
	    0);
	struct opsbus_client *alice = client_as(&srv, k1->secret, NULL);
	CU_ASSERT_EQUAL(ack(alice, c, OU_REASON, NULL, &st), 0);
	ASSERT_INT_EQ(
	    ou_count(
	        "SELECT count(*) FROM operator_audit_log WHERE target_job_id "
	        "= '%s' AND operator_identity = 'alice@example.com'",
	        c),
	    1);
	opsbus_client_close(alice);
	struct opsbus_client *victor = client_as(&srv, k2->secret, NULL);
	CU_ASSERT_PTR_NULL(ou_replay(victor, c, OU_REASON, NULL, &st));
	ASSERT_STR_EQ(st.error_code, "PERMISSION_DENIED");
	Opsbus__V1__ListDeadLettersRequest lr;
	opsbus__v1__list_dead_letters_request__init(&lr);
	CU_ASSERT_EQUAL(
	    ou_op(victor, OP("ListDeadLetters"), &lr.base, NULL, &st), 0);
	Opsbus__V1__ListAuditLogRequest alr;
	opsbus__v1__list_audit_log_request__init(&alr);
	CU_ASSERT_EQUAL(
	    ou_op(victor, OP("ListAuditLog"), &alr.base, NULL, &st), -1);
	ASSERT_STR_EQ(st.error_code, "PERMISSION_DENIED");
	opsbus_client_close(victor);
	protobuf_c_message_free_unpacked(&k1->base, NULL);
	protobuf_c_message_free_unpacked(&k2->base, NULL);
	free(a);
	free(b);
	free(c);
}

/* A key limited to a tenant sees and acts on that tenant's dead letters
 * and audit rows only. */
static void
test_tenant_scoping(void)
{
	struct opsbus_status st;
	const char          *queue = uniq("tenants");
	struct ou_job        ja
	    = {.tenant = "t-a", .queue = queue, .subject = uniq("note")};
	struct ou_job jb
	    = {.tenant = "t-b", .queue = queue, .subject = uniq("note")};
	char *a = ou_dead(cli, &ja, "EHR_DOWN", "outage", true);
	char *b = ou_dead(cli, &jb, "EHR_DOWN", "outage", true);
	Opsbus__V1__CreateApiKeyRequest   kr;
	Opsbus__V1__CreateApiKeyResponse *k = NULL;

	opsbus__v1__create_api_key_request__init(&kr);
	kr.identity = STR("tenant-a-ops@example.com");
	kr.role = STR("operator");
	kr.tenant = STR("t-a");
	CU_ASSERT_EQUAL_FATAL(
	    ou_call(cli, "opsbus.v1.AdminService/CreateApiKey", &kr.base,
	        &opsbus__v1__create_api_key_response__descriptor, &k, NULL,
	        &st),
	    0);
	struct opsbus_client *ka = client_as(&srv, k->secret, NULL);

	Opsbus__V1__ListDeadLettersRequest   lr;
	Opsbus__V1__ListDeadLettersResponse *lres = NULL;
	opsbus__v1__list_dead_letters_request__init(&lr);
	lr.queue = STR(queue);
	CU_ASSERT_EQUAL_FATAL(
	    ou_call(ka, OP("ListDeadLetters"), &lr.base,
	        &opsbus__v1__list_dead_letters_response__descriptor, &lres,
	        NULL, &st),
	    0);
	ASSERT_INT_EQ(lres->n_dead_letters, 1);
	if (lres->n_dead_letters == 1) {
		ASSERT_STR_EQ(lres->dead_letters[0]->job_id, a);
	}
	protobuf_c_message_free_unpacked(&lres->base, NULL);
	Opsbus__V1__GetDeadLetterRequest gr;
	opsbus__v1__get_dead_letter_request__init(&gr);
	gr.id = b;
	CU_ASSERT_EQUAL(
	    ou_op(ka, OP("GetDeadLetter"), &gr.base, NULL, &st), -1);
	ASSERT_STR_EQ(st.error_code, "DEAD_LETTER_NOT_FOUND");
	CU_ASSERT_PTR_NULL(ou_replay(ka, b, OU_REASON, NULL, &st));
	ASSERT_STR_EQ(st.error_code, "DEAD_LETTER_NOT_FOUND");
	Opsbus__V1__ReplayDeadLetterResponse *r
	    = ou_replay(ka, a, OU_REASON, NULL, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM jobs WHERE id = '%s' AND "
	                       "tenant = 't-a'",
	                  r->replay_job->job_id),
	    1);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	/* Its audit rows: the accepted replay of a, not the refusal about
	 * b (another tenant's job). */
	Opsbus__V1__ListAuditLogRequest   ar;
	Opsbus__V1__ListAuditLogResponse *ares = NULL;
	opsbus__v1__list_audit_log_request__init(&ar);
	ar.identity = STR("tenant-a-ops@example.com");
	CU_ASSERT_EQUAL_FATAL(
	    ou_call(ka, OP("ListAuditLog"), &ar.base,
	        &opsbus__v1__list_audit_log_response__descriptor, &ares, NULL,
	        &st),
	    0);
	ASSERT_INT_EQ(ares->n_entries, 1);
	if (ares->n_entries == 1) {
		ASSERT_STR_EQ(ares->entries[0]->target_job_id, a);
	}
	protobuf_c_message_free_unpacked(&ares->base, NULL);
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM operator_audit_log WHERE "
	                       "operator_identity = "
	                       "'tenant-a-ops@example.com'"),
	    2);
	opsbus_client_close(ka);
	protobuf_c_message_free_unpacked(&k->base, NULL);
	free(a);
	free(b);
}

/* OPSBUS_REPLAY_RATE_PER_MINUTE: the fourth replay of a minute by one
 * identity is refused, counted from the audit log (so across servers);
 * another identity is not held back. */
static void
test_replay_rate_limit(void)
{
	struct harness_server limited;
	struct opsbus_status  st;
	struct ou_job         j = {.queue = uniq("rate")};
	char                 *ids[5];

	for (int i = 0; i < 5; i++) {
		j.subject = uniq("note");
		ids[i] = ou_dead(cli, &j, "EHR_DOWN", "outage", true);
	}
	setenv("OPSBUS_REPLAY_RATE_PER_MINUTE", "3", 1);
	CU_ASSERT_EQUAL_FATAL(harness_server_start(&limited, NULL), 0);
	unsetenv("OPSBUS_REPLAY_RATE_PER_MINUTE");
	struct opsbus_client *rate
	    = client_as(&limited, NULL, "rate@example.com");
	struct opsbus_client *other
	    = client_as(&limited, NULL, "other@example.com");
	for (int i = 0; i < 3; i++) {
		Opsbus__V1__ReplayDeadLetterResponse *r
		    = ou_replay(rate, ids[i], OU_REASON, NULL, &st);
		CU_ASSERT_PTR_NOT_NULL(r);
		if (r != NULL) {
			protobuf_c_message_free_unpacked(&r->base, NULL);
		}
	}
	CU_ASSERT_PTR_NULL(ou_replay(rate, ids[3], OU_REASON, NULL, &st));
	ASSERT_STR_EQ(st.error_code, "REPLAY_RATE_LIMITED");
	ASSERT_INT_EQ(st.code, 8);
	ASSERT_INT_EQ(
	    ou_count(
	        "SELECT count(*) FROM operator_audit_log WHERE target_job_id "
	        "= '%s' AND error_code = 'REPLAY_RATE_LIMITED' AND "
	        "operator_identity = 'rate@example.com'",
	        ids[3]),
	    1);
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM jobs WHERE id = '%s' AND "
	                       "replayed_job_id IS NULL",
	                  ids[3]),
	    1);
	Opsbus__V1__ReplayDeadLetterResponse *r
	    = ou_replay(other, ids[4], OU_REASON, NULL, &st);
	CU_ASSERT_PTR_NOT_NULL(r);
	if (r != NULL) {
		protobuf_c_message_free_unpacked(&r->base, NULL);
	}
	opsbus_client_close(rate);
	opsbus_client_close(other);
	ASSERT_INT_EQ(harness_server_stop(&limited, SIGTERM), 0);
	for (int i = 0; i < 5; i++) {
		free(ids[i]);
	}
}

static Opsbus__V1__ListAuditLogResponse *
audit_list(Opsbus__V1__ListAuditLogRequest *req, struct opsbus_status *st)
{
	Opsbus__V1__ListAuditLogResponse *res = NULL;

	if (ou_call(cli, OP("ListAuditLog"), &req->base,
	        &opsbus__v1__list_audit_log_response__descriptor, &res, NULL,
	        st)
	    != 0) {
		return (NULL);
	}
	return (res);
}

/* ListAuditLog: seed 004's audit query (by target, newest first), the
 * other filters, pages, and bad filters. */
static void
test_audit_log_queries(void)
{
	struct opsbus_status st;
	struct ou_job j = {.queue = uniq("auditq"), .subject = uniq("note")};
	char         *dead = ou_dead(cli, &j, "EHR_DOWN", "outage", true);
	Opsbus__V1__ListAuditLogRequest   req;
	Opsbus__V1__ListAuditLogResponse *res;

	CU_ASSERT_PTR_NULL(ou_replay(cli, dead, "fix it", NULL, &st));
	Opsbus__V1__ReplayDeadLetterResponse *r
	    = ou_replay(cli, dead, OU_REASON, NULL, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	CU_ASSERT_EQUAL(ack(cli, dead, OU_REASON, NULL, &st), 0);

	opsbus__v1__list_audit_log_request__init(&req);
	req.target = dead;
	res = audit_list(&req, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(res);
	ASSERT_INT_EQ(res->n_entries, 3);
	if (res->n_entries == 3) {
		ASSERT_STR_EQ(
		    res->entries[0]->action_type, "acknowledge_dead_letter");
		ASSERT_STR_EQ(
		    res->entries[1]->action_type, "controlled_replay");
		ASSERT_STR_EQ(res->entries[1]->outcome, "accepted");
		ASSERT_STR_EQ(res->entries[1]->reason, OU_REASON);
		ASSERT_STR_EQ(res->entries[2]->outcome, "refused");
		ASSERT_STR_EQ(res->entries[2]->error_code, "VALIDATION_ERROR");
		ASSERT_STR_EQ(res->entries[2]->operator_identity, "admin");
		CU_ASSERT_TRUE(strlen(res->entries[0]->performed_at) > 20);
		CU_ASSERT_TRUE(strlen(res->entries[0]->correlation_id) > 0);
	}
	protobuf_c_message_free_unpacked(&res->base, NULL);
	req.outcome = STR("refused");
	res = audit_list(&req, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(res);
	ASSERT_INT_EQ(res->n_entries, 1);
	protobuf_c_message_free_unpacked(&res->base, NULL);
	req.outcome = STR("");
	req.action_type = STR("controlled_replay");
	req.identity = STR("admin");
	res = audit_list(&req, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(res);
	ASSERT_INT_EQ(res->n_entries, 2);
	protobuf_c_message_free_unpacked(&res->base, NULL);
	/* Pages of one. */
	req.action_type = STR("");
	req.limit_value_case
	    = OPSBUS__V1__LIST_AUDIT_LOG_REQUEST__LIMIT_VALUE_LIMIT;
	req.limit = 1;
	int  seen = 0;
	char token[32] = "";
	do {
		req.page_token = token;
		res = audit_list(&req, &st);
		CU_ASSERT_PTR_NOT_NULL_FATAL(res);
		seen += (int) res->n_entries;
		snprintf(token, sizeof(token), "%s", res->next_page_token);
		protobuf_c_message_free_unpacked(&res->base, NULL);
	} while (token[0] != '\0' && seen < 10);
	ASSERT_INT_EQ(seen, 3);
	/* Since a time to come: nothing. */
	opsbus__v1__list_audit_log_request__init(&req);
	req.since = STR("2999-01-01T00:00:00Z");
	res = audit_list(&req, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(res);
	ASSERT_INT_EQ(res->n_entries, 0);
	protobuf_c_message_free_unpacked(&res->base, NULL);
	/* Bad filters. */
	req.since = STR("yesterday");
	CU_ASSERT_PTR_NULL(audit_list(&req, &st));
	ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
	req.since = STR("");
	req.outcome = STR("maybe");
	CU_ASSERT_PTR_NULL(audit_list(&req, &st));
	ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
	req.outcome = STR("");
	req.limit_value_case
	    = OPSBUS__V1__LIST_AUDIT_LOG_REQUEST__LIMIT_VALUE_LIMIT;
	req.limit = 501;
	CU_ASSERT_PTR_NULL(audit_list(&req, &st));
	ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
	req.limit = 10;
	req.page_token = STR("abc");
	CU_ASSERT_PTR_NULL(audit_list(&req, &st));
	ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
	free(dead);
}

/* Values that must never reach an operator. */
static const char *const secrets[]
    = {"idem-SECRET", "Zebulon", "Quixote", "1961-07-04", "987-65-4321",
        "zq@example.org", "tok-SECRET-XYZ", "SECRET-BEARER", "idempotency",
        "Idempotency", "attempt_history", "attemptHistory"};

/* Serializes m to JSON both ways and looks for every secret. */
static void
scan(const char *what, const ProtobufCMessage *m)
{
	for (int flags = 0; flags < 2; flags++) {
		json_t *j = pbjson_from_message(m,
		    PBJSON_EMIT_DEFAULTS
		        | (flags ? PBJSON_ORIGINAL_NAMES : 0));
		char   *s = j != NULL ? json_dumps(j, 0) : NULL;
		CU_ASSERT_PTR_NOT_NULL_FATAL(s);
		for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]);
		     i++) {
			if (strstr(s, secrets[i]) != NULL) {
				fprintf(stderr, "%s leaks \"%s\": %s\n", what,
				    secrets[i], s);
				CU_FAIL("an operator response leaks a secret");
			}
		}
		free(s);
		json_decref(j);
	}
}

/* Calls method with in and scans its answer. Returns the answer (the
 * caller frees) or NULL. */
static ProtobufCMessage *
scan_call(const char *method, const ProtobufCMessage *in)
{
	const ProtobufCServiceDescriptor *sd
	    = &opsbus__v1__operator_service__descriptor;
	const char          *name = strrchr(method, '/') + 1;
	ProtobufCMessage    *out = NULL;
	struct opsbus_status st;

	for (unsigned i = 0; i < sd->n_methods; i++) {
		if (strcmp(sd->methods[i].name, name) == 0) {
			if (ou_call(cli, method, in, sd->methods[i].output,
			        &out, NULL, &st)
			    != 0) {
				fprintf(stderr, "%s: %s %s\n", method,
				    st.error_code, st.message);
				CU_FAIL("an operator call failed");
				return (NULL);
			}
			scan(method, out);
			return (out);
		}
	}
	return (NULL);
}

/* No operator response holds an idempotency key, a raw error detail or a
 * sensitive payload value, whatever the method. */
static void
test_responses_are_operator_safe(void)
{
	static const char payload[]
	    = "{\"noteId\": \"note-safe\", "
	      "\"patient\": {\"first_name\": \"Zebulon\", \"Last-Name\": "
	      "\"Quixote\", \"DOB\": \"1961-07-04\", \"ssn\": "
	      "\"987-65-4321\"}, "
	      "\"items\": [{\"email\": \"zq@example.org\", \"token\": "
	      "\"tok-SECRET-XYZ\"}], \"authorization\": \"Bearer "
	      "SECRET-BEARER\"}";
	static const char detail[]
	    = "{\"response\": {\"ssn\": \"987-65-4321\", "
	      "\"status\": 502}}";
	const char          *queue = uniq("safe");
	struct opsbus_status st;
	char                 key[64], *ids[3], *tok[3], *claimed[3];

	for (int i = 0; i < 3; i++) {
		snprintf(key, sizeof(key), "idem-SECRET-%d-%s", i, uniq("k"));
		struct ou_job j = {.queue = queue,
		    .target = "nextgen",
		    .subject = uniq("note"),
		    .payload = payload,
		    .idempotency_key = key,
		    .max_attempts = 1};
		ids[i] = ou_create(cli, &j);
	}
	CU_ASSERT_EQUAL_FATAL(ou_claim(cli, queue, "w", 3, claimed, tok), 3);
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(
		    ou_fail(cli, claimed[i], tok[i], "EHR_REJECTED", "payload",
		        true, "EHR answered 502", detail, &st),
		    0);
	}
	Opsbus__V1__GetJobDetailRequest gj;
	opsbus__v1__get_job_detail_request__init(&gj);
	gj.id = ids[0];
	Opsbus__V1__GetJobDetailResponse *d
	    = (Opsbus__V1__GetJobDetailResponse *) scan_call(
	        OP("GetJobDetail"), &gj.base);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	CU_ASSERT_PTR_NOT_NULL(strstr(d->job->payload, "[REDACTED]"));
	CU_ASSERT_PTR_NOT_NULL(strstr(d->job->payload, "note-safe"));
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(d->job->last_error_detail, "[REDACTED]"));
	CU_ASSERT_PTR_NOT_NULL(strstr(d->job->last_error_detail, "502"));
	protobuf_c_message_free_unpacked(&d->base, NULL);

	Opsbus__V1__GetStatusSummaryRequest s;
	opsbus__v1__get_status_summary_request__init(&s);
	Opsbus__V1__ListDeadLettersRequest l;
	opsbus__v1__list_dead_letters_request__init(&l);
	l.queue = STR(queue);
	Opsbus__V1__GetDeadLetterRequest g;
	opsbus__v1__get_dead_letter_request__init(&g);
	g.id = ids[0];
	Opsbus__V1__ReplayDeadLetterRequest rp;
	opsbus__v1__replay_dead_letter_request__init(&rp);
	rp.id = ids[0];
	rp.reason = STR(OU_REASON);
	Opsbus__V1__AcknowledgeDeadLetterRequest ak;
	opsbus__v1__acknowledge_dead_letter_request__init(&ak);
	ak.id = ids[1];
	ak.reason = STR(OU_REASON);
	Opsbus__V1__ListAuditLogRequest au;
	opsbus__v1__list_audit_log_request__init(&au);
	Opsbus__V1__BulkReplayFilter f;
	opsbus__v1__bulk_replay_filter__init(&f);
	f.queue = STR(queue);
	Opsbus__V1__StartBulkReplayRequest sb;
	opsbus__v1__start_bulk_replay_request__init(&sb);
	sb.filter = &f;
	sb.reason = STR(OU_REASON);
	sb.max_per_second = 100;
	Opsbus__V1__GetDeadLetterStatsRequest ds;
	opsbus__v1__get_dead_letter_stats_request__init(&ds);
	Opsbus__V1__ListReplayEligibleRequest le;
	opsbus__v1__list_replay_eligible_request__init(&le);
	le.queue = STR(queue);
	Opsbus__V1__GetOperatorMetricsRequest om;
	opsbus__v1__get_operator_metrics_request__init(&om);

	struct {
		const char       *m;
		ProtobufCMessage *in;
	} calls[] = {
	    {OP("GetStatusSummary"), &s.base},
	    {OP("ListDeadLetters"), &l.base},
	    {OP("GetDeadLetter"), &g.base},
	    {OP("GetDeadLetterHistory"), &g.base},
	    {OP("GetReplayStatus"), &g.base},
	    {OP("GetDeadLetterStats"), &ds.base},
	    {OP("ListReplayEligible"), &le.base},
	    {OP("ReplayDeadLetter"), &rp.base},
	    {OP("AcknowledgeDeadLetter"), &ak.base},
	    {OP("GetDeadLetterHistory"), &g.base},
	    {OP("ListAuditLog"), &au.base},
	    {OP("GetOperatorMetrics"), &om.base},
	};
	char *replay_id = NULL;
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		ProtobufCMessage *out = scan_call(calls[i].m, calls[i].in);
		if (out != NULL
		    && strcmp(calls[i].m, OP("ReplayDeadLetter")) == 0) {
			replay_id = strdup(
			    ((Opsbus__V1__ReplayDeadLetterResponse *) out)
			        ->replay_job->job_id);
		}
		if (out != NULL) {
			protobuf_c_message_free_unpacked(out, NULL);
		}
	}
	/* The replay job and a bulk operation over the rest. */
	CU_ASSERT_PTR_NOT_NULL_FATAL(replay_id);
	gj.id = replay_id;
	d = (Opsbus__V1__GetJobDetailResponse *) scan_call(
	    OP("GetJobDetail"), &gj.base);
	if (d != NULL) {
		protobuf_c_message_free_unpacked(&d->base, NULL);
	}
	Opsbus__V1__StartBulkReplayResponse *b
	    = (Opsbus__V1__StartBulkReplayResponse *) scan_call(
	        OP("StartBulkReplay"), &sb.base);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	Opsbus__V1__GetBulkOperationRequest gb;
	opsbus__v1__get_bulk_operation_request__init(&gb);
	gb.id = b->operation->id;
	for (int i = 0; i < 100; i++) {
		Opsbus__V1__GetBulkOperationResponse *o
		    = (Opsbus__V1__GetBulkOperationResponse *) scan_call(
		        OP("GetBulkOperation"), &gb.base);
		bool done = o == NULL
		    || strcmp(o->operation->status, "completed") == 0;
		if (o != NULL) {
			protobuf_c_message_free_unpacked(&o->base, NULL);
		}
		if (done) {
			break;
		}
		ou_sleep_ms(50);
	}
	protobuf_c_message_free_unpacked(&b->base, NULL);
	/* The replay jobs carry the payload (workers need it): only the
	 * operator views redact it. */
	ASSERT_INT_EQ(
	    ou_count("SELECT count(*) FROM jobs WHERE replay_of_job_id = '%s' "
	             "AND payload->'patient'->>'ssn' = '987-65-4321'",
	        ids[0]),
	    1);
	for (int i = 0; i < 3; i++) {
		free(ids[i]);
		free(tok[i]);
		free(claimed[i]);
	}
	free(replay_id);
}

/* A deployment adds keys of its own with OPSBUS_REDACT_KEYS. */
static void
test_redact_keys_configurable(void)
{
	static const char     payload[] = "{\"noteId\": \"note-cfg\", "
	                                  "\"mrn\": \"MRN-SECRET-77\", "
	                                  "\"visit\": {\"Insurance-Id\": "
	                                  "\"INS-SECRET-9\"}}";
	struct harness_server s;
	struct opsbus_status  st;
	const char           *queue = uniq("redact-cfg");
	struct ou_job         j = {.queue = queue, .payload = payload};

	setenv("OPSBUS_REDACT_KEYS", "mrn, insurance_id", 1);
	CU_ASSERT_EQUAL_FATAL(harness_server_start(&s, NULL), 0);
	unsetenv("OPSBUS_REDACT_KEYS");
	struct opsbus_client *c = harness_client(&s, NULL);
	char                 *id = ou_create(c, &j);
	for (int k = 0; k < 2; k++) {
		Opsbus__V1__GetJobDetailRequest   req;
		Opsbus__V1__GetJobDetailResponse *res = NULL;
		opsbus__v1__get_job_detail_request__init(&req);
		req.id = id;
		CU_ASSERT_EQUAL_FATAL(
		    ou_call(k == 0 ? c : cli, OP("GetJobDetail"), &req.base,
		        &opsbus__v1__get_job_detail_response__descriptor, &res,
		        NULL, &st),
		    0);
		CU_ASSERT_PTR_NOT_NULL(strstr(res->job->payload, "note-cfg"));
		if (k == 0) {
			CU_ASSERT_PTR_NULL(
			    strstr(res->job->payload, "MRN-SECRET"));
			CU_ASSERT_PTR_NULL(
			    strstr(res->job->payload, "INS-SECRET"));
		} else {
			/* The server without the setting shows them. */
			CU_ASSERT_PTR_NOT_NULL(
			    strstr(res->job->payload, "MRN-SECRET"));
		}
		protobuf_c_message_free_unpacked(&res->base, NULL);
	}
	opsbus_client_close(c);
	ASSERT_INT_EQ(harness_server_stop(&s, SIGTERM), 0);
	free(id);
}

static Opsbus__V1__BulkOperation *
bulk_get(struct opsbus_client *c, const char *id,
    Opsbus__V1__GetBulkOperationResponse **res)
{
	Opsbus__V1__GetBulkOperationRequest req;
	struct opsbus_status                st;

	opsbus__v1__get_bulk_operation_request__init(&req);
	req.id = STR(id);
	*res = NULL;
	if (ou_call(c, OP("GetBulkOperation"), &req.base,
	        &opsbus__v1__get_bulk_operation_response__descriptor, res,
	        NULL, &st)
	    != 0) {
		return (NULL);
	}
	return ((*res)->operation);
}

static char *
bulk_start(struct opsbus_client *c, const char *queue, int rate, bool dry,
    int *matched)
{
	Opsbus__V1__StartBulkReplayRequest   req;
	Opsbus__V1__BulkReplayFilter         f;
	Opsbus__V1__StartBulkReplayResponse *res = NULL;
	struct opsbus_status                 st;
	char                                *id;

	opsbus__v1__start_bulk_replay_request__init(&req);
	opsbus__v1__bulk_replay_filter__init(&f);
	f.queue = STR(queue);
	req.filter = &f;
	req.dry_run = dry;
	req.max_per_second = rate;
	req.reason = STR("Health butler recovered, replaying backlog (INC-9)");
	if (ou_call(c, OP("StartBulkReplay"), &req.base,
	        &opsbus__v1__start_bulk_replay_response__descriptor, &res,
	        NULL, &st)
	    != 0) {
		fprintf(
		    stderr, "bulk_start: %s %s\n", st.error_code, st.message);
		return (NULL);
	}
	id = strdup(res->operation->id);
	*matched = res->operation->matched;
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return (id);
}

/* Dry run, criteria, skipped and failed items, cancel. */
static void
test_bulk_dry_run_failures_cancel(void)
{
	const char                           *queue = uniq("bulk-small");
	char                                 *ids[12], *subject4 = NULL;
	struct opsbus_status                  st;
	Opsbus__V1__GetBulkOperationResponse *res;
	Opsbus__V1__BulkOperation            *op;
	int                                   matched;

	for (int i = 0; i < 12; i++) {
		struct ou_job j = {.queue = queue, .subject = uniq("n")};
		ids[i]
		    = ou_dead(cli, &j, "CIRCUIT_OPEN", "circuit_open", true);
		if (i == 4) {
			subject4 = strdup(j.subject);
		}
	}
	/* One more, not eligible (a failure that is not retryable): bulk
	 * replays leave it alone by default. */
	struct ou_job ne = {.queue = queue, .subject = uniq("n")};
	char *ineligible = ou_dead(cli, &ne, "BAD_PAYLOAD", "payload", false);

	char *dry = bulk_start(cli, queue, 10, true, &matched);
	CU_ASSERT_PTR_NOT_NULL_FATAL(dry);
	ASSERT_INT_EQ(matched, 12);
	op = bulk_get(cli, dry, &res);
	CU_ASSERT_PTR_NOT_NULL_FATAL(op);
	ASSERT_STR_EQ(op->status, "completed");
	CU_ASSERT_TRUE(op->dry_run);
	ASSERT_INT_EQ(op->replayed, 0);
	ASSERT_STR_EQ(op->filter->queue, queue);
	protobuf_c_message_free_unpacked(&res->base, NULL);
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM jobs WHERE queue = '%s' "
	                       "AND replay_of_job_id IS NOT NULL",
	                  queue),
	    0);

	/* Bad requests. */
	{
		Opsbus__V1__StartBulkReplayRequest req;
		Opsbus__V1__BulkReplayFilter       f;
		opsbus__v1__start_bulk_replay_request__init(&req);
		opsbus__v1__bulk_replay_filter__init(&f);
		req.reason = STR(OU_REASON);
		CU_ASSERT_EQUAL(
		    ou_op(cli, OP("StartBulkReplay"), &req.base, NULL, &st),
		    -1);
		ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
		req.filter = &f;
		CU_ASSERT_EQUAL(
		    ou_op(cli, OP("StartBulkReplay"), &req.base, NULL, &st),
		    -1);
		ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
		f.queue = STR(queue);
		req.max_per_second = 1001;
		CU_ASSERT_EQUAL(
		    ou_op(cli, OP("StartBulkReplay"), &req.base, NULL, &st),
		    -1);
		ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
		req.max_per_second = 10;
		f.created_before = STR("last tuesday");
		CU_ASSERT_EQUAL(
		    ou_op(cli, OP("StartBulkReplay"), &req.base, NULL, &st),
		    -1);
		ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
		f.created_before = STR("");
		f.operator_status = STR("closed");
		CU_ASSERT_EQUAL(
		    ou_op(cli, OP("StartBulkReplay"), &req.base, NULL, &st),
		    -1);
		ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
	}

	/* At 2/s: item 1 at once, then one every 500 ms. Item 4 is replayed
	 * by hand first (skipped), item 5 gets a competing job (failed). */
	char *bulk = bulk_start(cli, queue, 2, false, &matched);
	CU_ASSERT_PTR_NOT_NULL_FATAL(bulk);
	ASSERT_INT_EQ(matched, 12);
	Opsbus__V1__ReplayDeadLetterResponse *r
	    = ou_replay(cli, ids[3], OU_REASON, NULL, &st);
	CU_ASSERT_PTR_NOT_NULL(r);
	if (r != NULL) {
		protobuf_c_message_free_unpacked(&r->base, NULL);
	}
	struct ou_job rival = {.queue = queue, .subject = subject4};
	char         *rival_id = ou_create(cli, &rival);
	int           processed = 0;
	for (int i = 0; i < 100 && processed < 6; i++) {
		ou_sleep_ms(100);
		op = bulk_get(cli, bulk, &res);
		CU_ASSERT_PTR_NOT_NULL_FATAL(op);
		processed = op->replayed + op->skipped + op->failed;
		protobuf_c_message_free_unpacked(&res->base, NULL);
	}
	Opsbus__V1__CancelBulkOperationRequest   cr;
	Opsbus__V1__CancelBulkOperationResponse *cres = NULL;
	opsbus__v1__cancel_bulk_operation_request__init(&cr);
	cr.id = bulk;
	cr.reason = STR("Downstream degraded again, stopping the batch");
	CU_ASSERT_EQUAL_FATAL(
	    ou_call(cli, OP("CancelBulkOperation"), &cr.base,
	        &opsbus__v1__cancel_bulk_operation_response__descriptor, &cres,
	        NULL, &st),
	    0);
	ASSERT_STR_EQ(cres->operation->status, "cancelled");
	int replayed_at_cancel = cres->operation->replayed;
	CU_ASSERT_TRUE(cres->operation->pending > 0);
	ASSERT_INT_EQ(cres->operation->skipped, 1);
	ASSERT_INT_EQ(cres->operation->failed, 1);
	ASSERT_INT_EQ(cres->operation->n_failures, 2);
	for (size_t i = 0; i < cres->operation->n_failures; i++) {
		Opsbus__V1__BulkItemFailure *f = cres->operation->failures[i];
		if (strcmp(f->job_id, ids[3]) == 0) {
			ASSERT_STR_EQ(f->outcome, "skipped");
			ASSERT_STR_EQ(
			    f->error_code, "WRITEBACK_REPLAY_ALREADY_EXISTS");
		} else {
			ASSERT_STR_EQ(f->job_id, ids[4]);
			ASSERT_STR_EQ(f->outcome, "failed");
			ASSERT_STR_EQ(
			    f->error_code, "WRITEBACK_PRECONDITION_FAILED");
		}
	}
	protobuf_c_message_free_unpacked(&cres->base, NULL);
	/* Nothing is replayed after the cancel. */
	ou_sleep_ms(1200);
	op = bulk_get(cli, bulk, &res);
	CU_ASSERT_PTR_NOT_NULL_FATAL(op);
	ASSERT_INT_EQ(op->replayed, replayed_at_cancel);
	ASSERT_STR_EQ(op->status, "cancelled");
	protobuf_c_message_free_unpacked(&res->base, NULL);
	ASSERT_INT_EQ(
	    ou_count("SELECT count(*) FROM jobs j JOIN bulk_operation_items i "
	             "ON i.replay_job_id = j.id WHERE i.operation_id = '%s'",
	        bulk),
	    replayed_at_cancel);
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM jobs WHERE id = '%s' AND "
	                       "replayed_job_id IS NULL",
	                  ineligible),
	    1);
	/* One row for the operation, one per item it processed, one for the
	 * cancel, all with its id. */
	ASSERT_INT_EQ(
	    ou_count("SELECT count(*) FROM operator_audit_log WHERE "
	             "operation_id = '%s' AND action_type = 'bulk_replay'",
	        bulk),
	    1);
	ASSERT_INT_EQ(
	    ou_count(
	        "SELECT count(*) FROM operator_audit_log WHERE operation_id = "
	        "'%s' AND action_type = 'controlled_replay'",
	        bulk),
	    replayed_at_cancel + 2);
	ASSERT_INT_EQ(
	    ou_count(
	        "SELECT count(*) FROM operator_audit_log WHERE operation_id = "
	        "'%s' AND action_type = 'cancel_bulk_operation'",
	        bulk),
	    1);
	CU_ASSERT_EQUAL(
	    ou_op(cli, OP("CancelBulkOperation"), &cr.base, NULL, &st), -1);
	ASSERT_STR_EQ(st.error_code, "TERMINAL_STATE");
	char missing[37];
	ou_uuid(missing);
	CU_ASSERT_PTR_NULL(bulk_get(cli, missing, &res));
	cr.id = missing;
	CU_ASSERT_EQUAL(
	    ou_op(cli, OP("CancelBulkOperation"), &cr.base, NULL, &st), -1);
	ASSERT_STR_EQ(st.error_code, "BULK_OPERATION_NOT_FOUND");
	CU_ASSERT_PTR_NULL(bulk_get(cli, "nope", &res));
	for (int i = 0; i < 12; i++) {
		free(ids[i]);
	}
	free(subject4);
	free(ineligible);
	free(rival_id);
	free(dry);
	free(bulk);
}

/* Makes n replay-eligible dead letters in queue through c: n creates, a
 * claim per 100, n failures. */
static void
make_dead_letters(struct opsbus_client *c, const char *queue, int n)
{
	char                *ids[100], *tok[100];
	struct opsbus_status st;

	for (int i = 0; i < n; i++) {
		char subject[96];
		snprintf(subject, sizeof(subject), "%s-note-%d", queue, i);
		struct ou_job j
		    = {.queue = queue, .subject = subject, .max_attempts = 1};
		free(ou_create(c, &j));
	}
	for (int done = 0; done < n;) {
		int got = ou_claim(c, queue, "bulk-maker", 100, ids, tok);
		CU_ASSERT_TRUE_FATAL(got > 0);
		for (int i = 0; i < got; i++) {
			CU_ASSERT_EQUAL(
			    ou_fail(c, ids[i], tok[i], "CIRCUIT_OPEN",
			        "circuit_open", true, NULL, NULL, &st),
			    0);
			free(ids[i]);
			free(tok[i]);
		}
		done += got;
	}
}

/* Waits for a bulk operation to end; returns its final status copy. */
static char *
bulk_wait(struct opsbus_client *c, const char *id, int timeout_ms)
{
	long long end = ou_now_ms() + timeout_ms;

	while (ou_now_ms() < end) {
		Opsbus__V1__GetBulkOperationResponse *res;
		Opsbus__V1__BulkOperation *op = bulk_get(c, id, &res);
		char                      *status;
		if (op == NULL) {
			return (NULL);
		}
		status = strdup(op->status);
		protobuf_c_message_free_unpacked(&res->base, NULL);
		if (strcmp(status, "pending") != 0
		    && strcmp(status, "running") != 0) {
			return (status);
		}
		free(status);
		ou_sleep_ms(25);
	}
	return (NULL);
}

/* 1,000 dead letters at 200 per second: about 5 s, each replayed once. */
static void
test_bulk_1000_at_200(void)
{
	const char                           *queue = uniq("bulk-1000");
	Opsbus__V1__GetBulkOperationResponse *res;
	int                                   matched;

	make_dead_letters(cli, queue, 1000);
	long long t0 = ou_now_ms();
	char     *id = bulk_start(cli, queue, 200, false, &matched);
	CU_ASSERT_PTR_NOT_NULL_FATAL(id);
	ASSERT_INT_EQ(matched, 1000);
	char     *status = bulk_wait(cli, id, 30000);
	long long ms = ou_now_ms() - t0;
	fprintf(stderr, "bulk replay of 1000 at 200/s took %lld ms\n", ms);
	CU_ASSERT_PTR_NOT_NULL_FATAL(status);
	ASSERT_STR_EQ(status, "completed");
	/* 200/s is a ceiling: never faster (4.5 s at the least, the first
	 * item going at once). Slower is allowed, within reason: a sanitizer
	 * build sharing two cores with the other suites has taken 8 s. */
	CU_ASSERT_TRUE(ms >= 4500 && ms <= 15000);
	Opsbus__V1__BulkOperation *op = bulk_get(cli, id, &res);
	CU_ASSERT_PTR_NOT_NULL_FATAL(op);
	ASSERT_INT_EQ(op->replayed, 1000);
	ASSERT_INT_EQ(op->skipped, 0);
	ASSERT_INT_EQ(op->failed, 0);
	ASSERT_INT_EQ(op->pending, 0);
	protobuf_c_message_free_unpacked(&res->base, NULL);
	ASSERT_INT_EQ(
	    ou_count(
	        "SELECT count(*) FROM jobs o WHERE o.queue = '%s' AND "
	        "o.status = 'dead_failed' AND o.replayed_job_id IS NOT NULL",
	        queue),
	    1000);
	ASSERT_INT_EQ(
	    ou_count("SELECT count(*) FROM jobs r JOIN jobs o ON o.id = "
	             "r.replay_of_job_id WHERE o.queue = '%s'",
	        queue),
	    1000);
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM jobs WHERE queue = '%s' "
	                       "AND status = 'queued'",
	                  queue),
	    1000);
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM operator_audit_log WHERE "
	                       "operation_id = '%s' AND action_type = "
	                       "'controlled_replay' AND outcome = 'accepted'",
	                  id),
	    1000);
	/* At most one second's worth ran in any second. */
	ASSERT_INT_EQ(
	    ou_count("SELECT count(*) FROM (SELECT date_trunc('second', "
	             "replayed_at) s, count(*) n FROM jobs WHERE queue = '%s' "
	             "AND replayed_at IS NOT NULL GROUP BY 1) x WHERE n > 240",
	        queue),
	    0);
	free(status);
	free(id);
}

/* opsbusd is SIGKILLed halfway through a bulk replay and started again
 * (on a database of its own, so that only it can resume the work): every
 * item is replayed exactly once. */
static void
test_bulk_survives_sigkill(void)
{
	struct harness_server s;
	char                  dbarg[1024];
	const char           *extra[] = {"--db", dbarg, NULL};
	const char           *queue = "bulk-kill";
	int                   matched;

	free(harness_sql(NULL, "CREATE DATABASE bulkkill"));
	snprintf(dbarg, sizeof(dbarg), "%s dbname=bulkkill", harness_pg());
	CU_ASSERT_EQUAL_FATAL(harness_server_start(&s, extra), 0);
	struct opsbus_client *c = harness_client(&s, NULL);
	make_dead_letters(c, queue, 600);
	char *id = bulk_start(c, queue, 200, false, &matched);
	CU_ASSERT_PTR_NOT_NULL_FATAL(id);
	ASSERT_INT_EQ(matched, 600);
	long done = 0;
	for (int i = 0; i < 200 && done < 200; i++) {
		ou_sleep_ms(20);
		done = ou_count_in("bulkkill",
		    "SELECT count(*) FROM bulk_operation_items WHERE "
		    "operation_id = '%s' AND status <> 'pending'",
		    id);
	}
	opsbus_client_close(c);
	CU_ASSERT_TRUE(harness_server_stop(&s, SIGKILL) == 128 + SIGKILL);
	long at_kill = ou_count_in("bulkkill",
	    "SELECT count(*) FROM bulk_operation_items WHERE operation_id = "
	    "'%s' AND status = 'replayed'",
	    id);
	fprintf(stderr, "killed opsbusd with %ld of 600 items replayed\n",
	    at_kill);
	CU_ASSERT_TRUE(at_kill >= 150 && at_kill < 600);
	/* What was committed is consistent: each replayed item has exactly
	 * one replay job, and no job was replayed outside an item. */
	ASSERT_INT_EQ(ou_count_in("bulkkill",
	                  "SELECT count(*) FROM jobs WHERE replay_of_job_id "
	                  "IS NOT NULL"),
	    at_kill);

	CU_ASSERT_EQUAL_FATAL(harness_server_start(&s, extra), 0);
	c = harness_client(&s, NULL);
	char *status = bulk_wait(c, id, 30000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(status);
	ASSERT_STR_EQ(status, "completed");
	Opsbus__V1__GetBulkOperationResponse *res;
	Opsbus__V1__BulkOperation            *op = bulk_get(c, id, &res);
	CU_ASSERT_PTR_NOT_NULL_FATAL(op);
	ASSERT_INT_EQ(op->replayed, 600);
	ASSERT_INT_EQ(op->skipped + op->failed, 0);
	protobuf_c_message_free_unpacked(&res->base, NULL);
	ASSERT_INT_EQ(ou_count_in("bulkkill",
	                  "SELECT count(*) FROM jobs WHERE replay_of_job_id "
	                  "IS NOT NULL"),
	    600);
	ASSERT_INT_EQ(ou_count_in("bulkkill",
	                  "SELECT count(DISTINCT replay_of_job_id) FROM jobs "
	                  "WHERE replay_of_job_id IS NOT NULL"),
	    600);
	ASSERT_INT_EQ(
	    ou_count_in("bulkkill",
	        "SELECT count(*) FROM operator_audit_log WHERE operation_id = "
	        "'%s' AND action_type = 'controlled_replay'",
	        id),
	    600);
	opsbus_client_close(c);
	ASSERT_INT_EQ(harness_server_stop(&s, SIGTERM), 0);
	free(status);
	free(id);
}

int
main(void)
{
	static const struct harness_case cases[] = {
	    {"seed 000: a job fails until dead, is triaged and replayed once "
	     "with lineage (C client)",
	        test_triage_flow},
	    {"seed 000 through the CLI: summary, dlq, job show, replay, ack, "
	     "audit, bulk replay",
	        test_triage_flow_cli},
	    {"every error code of seed 001 is answered where it should be",
	        test_seed001_errors},
	    {"a replay that fails is dead-lettered and replayed again, linked "
	     "to its first job",
	        test_replay_chain},
	    {"every operator command, accepted or refused, writes exactly one "
	     "audit row",
	        test_one_audit_row_per_command},
	    {"the audit log refuses UPDATE, DELETE and TRUNCATE",
	        test_audit_append_only},
	    {"empty, blank and placeholder reasons are refused and change "
	     "nothing",
	        test_bad_reasons},
	    {"actions are attributed to the actor, x-operator-identity or the "
	     "key; viewers cannot act",
	        test_attribution},
	    {"a key limited to a tenant sees and acts on that tenant only",
	        test_tenant_scoping},
	    {"replays past the per-identity rate limit are refused",
	        test_replay_rate_limit},
	    {"the audit log is queried by target, identity, action, outcome, "
	     "time and pages",
	        test_audit_log_queries},
	    {"no operator response carries an idempotency key or a sensitive "
	     "value",
	        test_responses_are_operator_safe},
	    {"keys added with OPSBUS_REDACT_KEYS are redacted too",
	        test_redact_keys_configurable},
	    {"bulk replay: dry run, bad filters, skipped and failed items, "
	     "cancel",
	        test_bulk_dry_run_failures_cancel},
	    {"bulk replay of 1,000 dead letters at 200/s takes about 5 s and "
	     "replays each once",
	        test_bulk_1000_at_200},
	    {"bulk replay survives a SIGKILL of opsbusd and replays each item "
	     "once",
	        test_bulk_survives_sigkill},
	    {NULL, NULL},
	};

	return (harness_run(
	    "integration.operator", cases, suite_init, suite_cleanup));
}
