/*
 * Unit tests of server/gateway/transcode.c: the input message is made from
 * body, path captures and query parameters with the checks of pbjson; the
 * RpcRequest carries the metadata; replies become seed 001's envelope with
 * the status of the error list.
 */
#include <jansson.h>
#include <string.h>

#include "gateway/transcode.h"
#include "harness.h"
#include "opsbus/v1/job.pb-c.h"
#include "opsbus/v1/rpc.pb-c.h"
#include "opsbus/v1/writeback.pb-c.h"

/* protoc-c types strings as char *. */
#define S(x) ((char *) (uintptr_t) (x))

static struct arena arena;

static const struct gw_route_def create_def
    = {"POST", "/v1/q/{queue}/jobs", "opsbus.v1.JobService/CreateJob",
        &opsbus__v1__create_job_request__descriptor,
        &opsbus__v1__create_job_response__descriptor, "*", "job"};
static const struct gw_route_def list_def
    = {"GET", "/v1/jobs", "opsbus.v1.JobService/ListJobs",
        &opsbus__v1__list_jobs_request__descriptor,
        &opsbus__v1__list_jobs_response__descriptor, "", "jobs"};
static struct gw_route create_route = {.def = &create_def};
static struct gw_route list_route = {.def = &list_def};

static int
build(const struct gw_route *rt, const char *cap, const struct gw_param *q,
    size_t n_q, const char *body, ProtobufCMessage **out, struct gw_error *e)
{
	struct gw_match m;

	memset(&m, 0, sizeof(m));
	m.route = rt;
	if (cap != NULL) {
		m.cap[0].field = "queue";
		m.cap[0].value = cap;
		m.n_cap = 1;
	}
	memset(e, 0, sizeof(*e));
	return (gw_input_build(&m, q, n_q, body,
	    body != NULL ? strlen(body) : 0, &arena, out, e));
}

static void
test_body_and_capture(void)
{
	ProtobufCMessage             *m;
	Opsbus__V1__CreateJobRequest *r;
	struct gw_error               e;

	CU_ASSERT_EQUAL_FATAL(build(&create_route, "from-path", NULL, 0,
	                          "{\"queue\":\"from-body\",\"maxAttempts\":3,"
	                          "\"idempotency_key\":\"k\"}",
	                          &m, &e),
	    0);
	r = (Opsbus__V1__CreateJobRequest *) m;
	CU_ASSERT_STRING_EQUAL(r->queue, "from-path");
	CU_ASSERT_EQUAL(r->max_attempts, 3);
	CU_ASSERT_STRING_EQUAL(r->idempotency_key, "k");
}

static void
test_empty_body(void)
{
	ProtobufCMessage *m;
	struct gw_error   e;

	CU_ASSERT_EQUAL(build(&create_route, NULL, NULL, 0, NULL, &m, &e), 0);
	CU_ASSERT_EQUAL(build(&create_route, NULL, NULL, 0, "", &m, &e), 0);
}

static void
test_bad_bodies(void)
{
	static const struct {
		const char *body;
		opsbus_err  err;
	} bad[] = {
	    {"{\"queue\":", OPSBUS_E_VALIDATION_ERROR},
	    {"[]", OPSBUS_E_VALIDATION_ERROR},
	    {"{\"nope\":1}", OPSBUS_E_VALIDATION_ERROR},
	    {"{\"queue\":1}", OPSBUS_E_VALIDATION_ERROR},
	    {"{\"queue\":\"a\",\"queue\":\"b\"}", OPSBUS_E_VALIDATION_ERROR},
	    {"{\"queue\":\"\xc3\x28\"}", OPSBUS_E_INVALID_UTF8},
	    {"{\"queue\":\"\\u0000\"}", OPSBUS_E_VALIDATION_ERROR},
	};
	ProtobufCMessage *m;
	struct gw_error   e;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(
		    build(&create_route, NULL, NULL, 0, bad[i].body, &m, &e),
		    -1);
		CU_ASSERT_EQUAL(e.err, bad[i].err);
		CU_ASSERT(e.message[0] != '\0');
	}
}

static void
test_deep_body(void)
{
	ProtobufCMessage *m;
	struct gw_error   e;
	size_t            n = 10000;
	char             *deep = malloc(2 * n + 16);

	CU_ASSERT_FATAL(deep != NULL);
	strcpy(deep, "{\"x\":");
	memset(deep + 5, '[', n);
	memset(deep + 5 + n, ']', n);
	strcpy(deep + 5 + 2 * n, "}");
	CU_ASSERT_EQUAL(build(&create_route, NULL, NULL, 0, deep, &m, &e), -1);
	CU_ASSERT_EQUAL(e.err, OPSBUS_E_NESTING_TOO_DEEP);
	free(deep);
}

static void
test_query(void)
{
	struct gw_param q[] = {{"states", "queued"}, {"states", "dead_failed"},
	    {"limit", "0"}, {"page_token", "abc"}};
	ProtobufCMessage            *m;
	Opsbus__V1__ListJobsRequest *r;
	struct gw_error              e;

	CU_ASSERT_EQUAL_FATAL(build(&list_route, NULL, q, 4, NULL, &m, &e), 0);
	r = (Opsbus__V1__ListJobsRequest *) m;
	CU_ASSERT_EQUAL(r->n_states, 2);
	CU_ASSERT_STRING_EQUAL(r->states[1], "dead_failed");
	/* An explicit 0 is set, so the server can refuse it. */
	CU_ASSERT_EQUAL(r->limit_value_case,
	    OPSBUS__V1__LIST_JOBS_REQUEST__LIMIT_VALUE_LIMIT);
	CU_ASSERT_EQUAL(r->limit, 0);
	CU_ASSERT_STRING_EQUAL(r->page_token, "abc");
}

static void
test_bad_query(void)
{
	struct gw_param   bad[][1] = {{{"limit", "ten"}}, {{"limit", "1e3"}},
	      {{"nope", "1"}}, {{"limit", "99999999999"}}, {{"queue", "\xff"}}};
	struct gw_param   body_q[] = {{"queue", "x"}};
	struct gw_param   path_q[] = {{"queue", "x"}};
	ProtobufCMessage *m;
	struct gw_error   e;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(
		    build(&list_route, NULL, bad[i], 1, NULL, &m, &e), -1);
	}
	/* Routes with body "*" take no query parameters. */
	CU_ASSERT_EQUAL(
	    build(&create_route, NULL, body_q, 1, "{}", &m, &e), -1);
	CU_ASSERT_EQUAL(e.err, OPSBUS_E_VALIDATION_ERROR);
	/* And a field the path binds cannot come from the query too. */
	{
		struct gw_match mm;
		memset(&mm, 0, sizeof(mm));
		mm.route = &list_route;
		mm.cap[0].field = "queue";
		mm.cap[0].value = "a";
		mm.n_cap = 1;
		CU_ASSERT_EQUAL(
		    gw_input_build(&mm, path_q, 1, NULL, 0, &arena, &m, &e),
		    -1);
		CU_ASSERT(strstr(e.message, "path") != NULL);
	}
}

static void
test_request_pack(void)
{
	Opsbus__V1__GetJobRequest in = OPSBUS__V1__GET_JOB_REQUEST__INIT;
	struct gw_call_meta       md = {.api_key = "key-1",
	          .authorization = NULL,
	          .operator_identity = "ops@example.com",
	          .correlation_id = "c-1",
	          .request_id = "r-1",
	          .timeout_ms = 1234};
	Opsbus__V1__RpcRequest   *req;
	uint8_t                  *buf;
	size_t                    len;

	in.id = S("abc");
	CU_ASSERT_EQUAL_FATAL(gw_request_pack("opsbus.v1.JobService/GetJob",
	                          &in.base, &md, &arena, &buf, &len),
	    0);
	req = opsbus__v1__rpc_request__unpack(&arena.pb, len, buf);
	CU_ASSERT_FATAL(req != NULL);
	CU_ASSERT_STRING_EQUAL(req->method, "opsbus.v1.JobService/GetJob");
	CU_ASSERT_EQUAL(req->n_metadata, 3);
	CU_ASSERT_STRING_EQUAL(req->metadata[0]->key, "x-api-key");
	CU_ASSERT_STRING_EQUAL(req->metadata[1]->key, "x-operator-identity");
	CU_ASSERT_STRING_EQUAL(req->metadata[2]->value, "c-1");
	CU_ASSERT_EQUAL(req->timeout_ms, 1234);
	CU_ASSERT_STRING_EQUAL(req->request_id, "r-1");
	CU_ASSERT(req->body.len > 0);
}

/* Packs an RpcResponse into the arena. */
static uint8_t *
reply(int code, const char *error_code, const ProtobufCMessage *body,
    size_t *len)
{
	Opsbus__V1__RpcResponse r = OPSBUS__V1__RPC_RESPONSE__INIT;
	uint8_t                *buf;

	r.code = code;
	r.error_code = (char *) (uintptr_t) error_code;
	r.message = S("why");
	r.correlation_id = S("corr-9");
	if (body != NULL) {
		r.body.len = protobuf_c_message_get_packed_size(body);
		r.body.data = arena_alloc(&arena, r.body.len + 1);
		protobuf_c_message_pack(body, r.body.data);
	}
	*len = opsbus__v1__rpc_response__get_packed_size(&r);
	buf = arena_alloc(&arena, *len + 1);
	opsbus__v1__rpc_response__pack(&r, buf);
	return (buf);
}

static void
test_answer_ok(void)
{
	Opsbus__V1__ListJobsResponse out
	    = OPSBUS__V1__LIST_JOBS_RESPONSE__INIT;
	Opsbus__V1__Job  job = OPSBUS__V1__JOB__INIT;
	Opsbus__V1__Job *jobs[1] = {&job};
	struct gw_answer ans;
	size_t           len;
	uint8_t         *buf;
	json_t          *j;

	job.id = S("j1");
	job.attempts = 2;
	out.jobs = jobs;
	out.n_jobs = 1;
	out.next_page_token = S("next");
	buf = reply(0, "", &out.base, &len);
	CU_ASSERT_EQUAL_FATAL(
	    gw_answer_from_reply(&list_def, buf, len, &arena, &ans), 0);
	CU_ASSERT_EQUAL(ans.status, 200);
	CU_ASSERT_STRING_EQUAL(ans.correlation_id, "corr-9");
	CU_ASSERT_STRING_EQUAL(ans.next_page_token, "next");
	j = json_loadb(ans.body, ans.len, 0, NULL);
	CU_ASSERT_FATAL(j != NULL);
	CU_ASSERT(json_is_true(json_object_get(j, "ok")));
	CU_ASSERT(json_is_array(json_object_get(j, "data")));
	CU_ASSERT_EQUAL(
	    json_integer_value(json_object_get(
	        json_array_get(json_object_get(j, "data"), 0), "attempts")),
	    2);
	/* Every field is printed, defaults included. */
	CU_ASSERT(
	    json_object_get(
	        json_array_get(json_object_get(j, "data"), 0), "lastError")
	    != NULL);
	json_decref(j);
	free(ans.body);
}

static void
test_answer_errors(void)
{
	static const struct {
		int         code;
		const char *error_code;
		unsigned    status;
	} cases[] = {
	    {3, "VALIDATION_ERROR", 400},
	    {16, "UNAUTHORIZED", 401},
	    {5, "DEAD_LETTER_NOT_FOUND", 404},
	    {9, "DEAD_LETTER_REPLAY_REQUIRES_DEAD_FAILED", 409},
	    {6, "WRITEBACK_REPLAY_ALREADY_EXISTS", 409},
	    {9, "A_CODE_THIS_GATEWAY_DOES_NOT_KNOW", 400},
	    {14, "", 503},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct gw_answer ans;
		size_t           len;
		uint8_t         *buf
		    = reply(cases[i].code, cases[i].error_code, NULL, &len);
		json_t *j;

		CU_ASSERT_EQUAL_FATAL(
		    gw_answer_from_reply(&list_def, buf, len, &arena, &ans),
		    0);
		CU_ASSERT_EQUAL(ans.status, cases[i].status);
		j = json_loadb(ans.body, ans.len, 0, NULL);
		CU_ASSERT_FATAL(j != NULL);
		CU_ASSERT(json_is_false(json_object_get(j, "ok")));
		CU_ASSERT_STRING_EQUAL(
		    json_string_value(json_object_get(j, "correlationId")),
		    "corr-9");
		CU_ASSERT_STRING_EQUAL(
		    json_string_value(json_object_get(
		        json_object_get(j, "error"), "message")),
		    "why");
		json_decref(j);
		free(ans.body);
	}
}

static void
test_error_text_not_utf8(void)
{
	struct gw_answer ans;

	CU_ASSERT_EQUAL_FATAL(
	    gw_answer_error(OPSBUS_E_VALIDATION_ERROR, "bad \xc3", "c", &ans),
	    0);
	CU_ASSERT_EQUAL(ans.status, 400);
	CU_ASSERT(strstr(ans.body, "bad ?") != NULL);
	free(ans.body);
}

static void
test_json_name(void)
{
	CU_ASSERT_STRING_EQUAL(gw_json_name("job_id", &arena), "jobId");
	CU_ASSERT_STRING_EQUAL(
	    gw_json_name("replay_of_job_id", &arena), "replayOfJobId");
	CU_ASSERT_STRING_EQUAL(gw_json_name("jobs", &arena), "jobs");
}

static int
init(void)
{
	arena_init(&arena);
	return (0);
}

static int
cleanup(void)
{
	arena_fini(&arena);
	return (0);
}

static const struct harness_case cases[] = {
    {"body fields in both spellings, and the path capture wins",
        test_body_and_capture},
    {"an empty body is an empty message", test_empty_body},
    {"bad JSON, unknown fields, wrong types, duplicate keys, bad UTF-8 "
     "and NUL are refused with their codes",
        test_bad_bodies},
    {"JSON nested 10,000 deep is NESTING_TOO_DEEP", test_deep_body},
    {"query parameters set scalars, append to repeated fields and set "
     "an explicit 0 in a oneof",
        test_query},
    {"bad query values, and query parameters where they do not belong, "
     "are refused",
        test_bad_query},
    {"the RpcRequest carries method, body, metadata, deadline and id",
        test_request_pack},
    {"a reply becomes {ok, data} with response_body and the page token",
        test_answer_ok},
    {"error replies get the status of their domain code, else of their "
     "gRPC code",
        test_answer_errors},
    {"an error text that is not UTF-8 is still printed",
        test_error_text_not_utf8},
    {"JSON names are protoc's lowerCamelCase", test_json_name},
    {NULL, NULL},
};

int
main(void)
{
	return (harness_run("gateway_transcode", cases, init, cleanup));
}
