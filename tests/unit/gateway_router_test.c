/*
 * Unit tests of server/gateway/router.c: templates are checked at start,
 * paths are split before they are decoded, literals win over captures,
 * and a path known under other verbs is a 405 with the verbs it takes.
 */
#include <string.h>

#include "gateway/router.h"
#include "harness.h"
#include "opsbus/v1/job.pb-c.h"

#define IN  &opsbus__v1__get_job_request__descriptor
#define OUT &opsbus__v1__get_job_response__descriptor

static const struct gw_route_def defs[] = {
    {"GET", "/v1/jobs/{id}", "t.S/Get", IN, OUT, "", ""},
    {"GET", "/v1/jobs/stats", "t.S/Stats", IN, OUT, "", ""},
    {"DELETE", "/v1/jobs/{id}", "t.S/Delete", IN, OUT, "", ""},
    {"POST", "/v1/jobs", "t.S/Create", IN, OUT, "*", ""},
    {"GET", "/v1/jobs/{id}/attempts/{attempt}", "t.S/Attempt", IN, OUT, "",
        ""},
};

static struct gw_router router;
static struct arena     arena;

static enum gw_match_result
match(const char *verb, const char *path, struct gw_match *m)
{
	return (gw_router_match(&router, verb, path, &arena, m));
}

static void
test_capture(void)
{
	struct gw_match m;

	CU_ASSERT_EQUAL(match("GET", "/v1/jobs/abc", &m), GW_MATCH_OK);
	CU_ASSERT_STRING_EQUAL(m.route->def->rpc, "t.S/Get");
	CU_ASSERT_EQUAL(m.n_cap, 1);
	CU_ASSERT_STRING_EQUAL(m.cap[0].field, "id");
	CU_ASSERT_STRING_EQUAL(m.cap[0].value, "abc");
}

static void
test_escapes(void)
{
	struct gw_match m;

	CU_ASSERT_EQUAL(match("GET", "/v1/jobs/%41B", &m), GW_MATCH_OK);
	CU_ASSERT_STRING_EQUAL(m.cap[0].value, "AB");
	CU_ASSERT_EQUAL(match("GET", "/v1/jobs/a%2Fb", &m), GW_MATCH_OK);
	CU_ASSERT_STRING_EQUAL(m.cap[0].value, "a/b");
	CU_ASSERT_EQUAL(match("GET", "/v1/jobs/a+b%20c", &m), GW_MATCH_OK);
	CU_ASSERT_STRING_EQUAL(m.cap[0].value, "a+b c");
	CU_ASSERT_EQUAL(match("GET", "/v1/%6Aobs/x", &m), GW_MATCH_OK);
	CU_ASSERT_STRING_EQUAL(m.cap[0].value, "x");
}

static void
test_bad_escapes(void)
{
	struct gw_match m;

	CU_ASSERT_EQUAL(match("GET", "/v1/jobs/%4", &m), GW_MATCH_BAD_PATH);
	CU_ASSERT_EQUAL(match("GET", "/v1/jobs/%zz", &m), GW_MATCH_BAD_PATH);
	CU_ASSERT_EQUAL(match("GET", "/v1/jobs/a%00", &m), GW_MATCH_BAD_PATH);
	CU_ASSERT_EQUAL(match("GET", "/v1/jobs/%", &m), GW_MATCH_BAD_PATH);
}

static void
test_literal_wins(void)
{
	struct gw_match m;

	CU_ASSERT_EQUAL(match("GET", "/v1/jobs/stats", &m), GW_MATCH_OK);
	CU_ASSERT_STRING_EQUAL(m.route->def->rpc, "t.S/Stats");
	CU_ASSERT_EQUAL(m.n_cap, 0);
}

static void
test_two_captures(void)
{
	struct gw_match m;

	CU_ASSERT_EQUAL(
	    match("GET", "/v1/jobs/j1/attempts/3", &m), GW_MATCH_OK);
	CU_ASSERT_EQUAL(m.n_cap, 2);
	CU_ASSERT_STRING_EQUAL(m.cap[1].field, "attempt");
	CU_ASSERT_STRING_EQUAL(m.cap[1].value, "3");
}

static void
test_not_found(void)
{
	struct gw_match m;

	CU_ASSERT_EQUAL(match("GET", "/v1/nope", &m), GW_MATCH_NOT_FOUND);
	CU_ASSERT_EQUAL(match("GET", "/v1/jobs/", &m), GW_MATCH_NOT_FOUND);
	CU_ASSERT_EQUAL(match("GET", "/v1/jobs/a/b", &m), GW_MATCH_NOT_FOUND);
	CU_ASSERT_EQUAL(match("GET", "v1/jobs", &m), GW_MATCH_NOT_FOUND);
	CU_ASSERT_EQUAL(match("GET", "/v1//jobs", &m), GW_MATCH_NOT_FOUND);
	CU_ASSERT_EQUAL(
	    match("GET", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r", &m),
	    GW_MATCH_NOT_FOUND);
}

static void
test_bad_method(void)
{
	struct gw_match m;

	CU_ASSERT_EQUAL(match("PUT", "/v1/jobs/x", &m), GW_MATCH_BAD_METHOD);
	CU_ASSERT_STRING_EQUAL(m.allow, "GET, DELETE, HEAD");
	CU_ASSERT_EQUAL(match("GET", "/v1/jobs", &m), GW_MATCH_BAD_METHOD);
	CU_ASSERT_STRING_EQUAL(m.allow, "POST");
}

static void
test_head(void)
{
	struct gw_match m;

	CU_ASSERT_EQUAL(match("HEAD", "/v1/jobs/x", &m), GW_MATCH_OK);
	CU_ASSERT_STRING_EQUAL(m.route->def->rpc, "t.S/Get");
}

static void
test_bad_templates(void)
{
	static const struct {
		const char *path;
	} bad[] = {{"v1/x"}, {"/v1/{}"}, {"/v1/{Id}"}, {"/v1/a b"}, {"/v1//x"},
	    {"/v1/{id"}, {"/v1/x?y"}};
	struct gw_router r;
	char             err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct gw_route_def d
		    = {"GET", bad[i].path, "t.S/Bad", IN, OUT, "", ""};
		CU_ASSERT_EQUAL(
		    gw_router_init(&r, &d, 1, err, sizeof(err)), -1);
		CU_ASSERT(strstr(err, "t.S/Bad") != NULL);
	}
}

static void
test_duplicate_shape(void)
{
	struct gw_route_def d[2] = {
	    {"GET", "/v1/{a}", "t.S/A", IN, OUT, "", ""},
	    {"GET", "/v1/{b}", "t.S/B", IN, OUT, "", ""},
	};
	struct gw_router r;
	char             err[256];

	CU_ASSERT_EQUAL(gw_router_init(&r, d, 2, err, sizeof(err)), -1);
	CU_ASSERT(strstr(err, "both route") != NULL);
}

static void
test_generated_table(void)
{
	struct gw_router r;
	struct gw_match  m;
	char             err[256] = "";

	CU_ASSERT_EQUAL_FATAL(gw_router_init(&r, gw_route_defs,
	                          gw_route_defs_count, err, sizeof(err)),
	    0);
	CU_ASSERT_EQUAL(
	    gw_router_match(&r, "GET", "/api/v1/writeback/jobs", &arena, &m),
	    GW_MATCH_OK);
	CU_ASSERT_STRING_EQUAL(
	    m.route->def->rpc, "opsbus.v1.WritebackService/ListWritebackJobs");
	CU_ASSERT_EQUAL(
	    gw_router_match(&r, "POST", "/api/v1/writeback/jobs", &arena, &m),
	    GW_MATCH_OK);
	CU_ASSERT_STRING_EQUAL(m.route->def->response_body, "job");
	CU_ASSERT(gw_openapi_json_len > 1000);
	CU_ASSERT_EQUAL(gw_openapi_json[0], '{');
	gw_router_fini(&r);
}

static int
init(void)
{
	char err[256];

	arena_init(&arena);
	return (gw_router_init(
	    &router, defs, sizeof(defs) / sizeof(defs[0]), err, sizeof(err)));
}

static int
cleanup(void)
{
	gw_router_fini(&router);
	arena_fini(&arena);
	return (0);
}

static const struct harness_case cases[] = {
    {"a capture binds one decoded segment", test_capture},
    {"segments are split before they are decoded", test_escapes},
    {"a bad or NUL percent-escape is a bad path", test_bad_escapes},
    {"a literal segment wins over a capture", test_literal_wins},
    {"several captures bind in order", test_two_captures},
    {"unknown, empty-segment and too-long paths are not found",
        test_not_found},
    {"a path known under other verbs is a 405 listing them", test_bad_method},
    {"HEAD matches GET routes", test_head},
    {"bad templates are refused at start, naming the RPC", test_bad_templates},
    {"two routes with the same verb and shape are refused",
        test_duplicate_shape},
    {"the generated route table compiles and routes the seed paths",
        test_generated_table},
    {NULL, NULL},
};

int
main(void)
{
	return (harness_run("gateway_router", cases, init, cleanup));
}
