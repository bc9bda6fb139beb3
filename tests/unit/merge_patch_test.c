/*
 * Unit tests of server/services/merge_patch.c against the examples of
 * RFC 7396, appendix A, and the properties the exception replay relies on:
 * the target and the patch are left unchanged.
 */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "services/merge_patch.h"

static void
check(const char *target, const char *patch, const char *want)
{
	json_error_t e;
	json_t      *t = json_loads(target, JSON_DECODE_ANY, &e);
	json_t      *p = json_loads(patch, JSON_DECODE_ANY, &e);
	json_t      *w = json_loads(want, JSON_DECODE_ANY, &e);
	char        *before_t, *before_p;
	json_t      *got;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	before_t = json_dumps(t, JSON_ENCODE_ANY | JSON_SORT_KEYS);
	before_p = json_dumps(p, JSON_ENCODE_ANY | JSON_SORT_KEYS);
	got = merge_patch(t, p);
	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	if (!json_equal(got, w)) {
		char *s = json_dumps(got, JSON_ENCODE_ANY | JSON_SORT_KEYS);

		fprintf(stderr, "\n%s + %s: got %s, want %s\n", target, patch,
		    s, want);
		free(s);
		CU_FAIL("merge_patch");
	}
	char *after_t = json_dumps(t, JSON_ENCODE_ANY | JSON_SORT_KEYS);
	char *after_p = json_dumps(p, JSON_ENCODE_ANY | JSON_SORT_KEYS);
	ASSERT_STR_EQ(after_t, before_t);
	ASSERT_STR_EQ(after_p, before_p);
	free(before_t);
	free(before_p);
	free(after_t);
	free(after_p);
	json_decref(got);
	json_decref(t);
	json_decref(p);
	json_decref(w);
}

static void
test_rfc7396_appendix_a(void)
{
	check("{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
	check("{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}");
	check("{\"a\":\"b\"}", "{\"a\":null}", "{}");
	check("{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}");
	check("{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
	check("{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}");
	check("{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}",
	    "{\"a\":{\"b\":\"d\"}}");
	check("{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}");
	check("[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]");
	check("{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]");
	check("{\"a\":\"foo\"}", "null", "null");
	check("{\"a\":\"foo\"}", "\"bar\"", "\"bar\"");
	check("{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}");
	check("[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}");
	check("{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}");
}

static void
test_a_request_override(void)
{
	check("{\"queue\":\"writeback\",\"kind\":\"note\",\"payload\":"
	      "{\"noteId\":\"n-1\",\"ehr\":\"epic\",\"extra\":1}}",
	    "{\"kind\":\"note.v2\",\"payload\":{\"ehr\":\"nextgen\","
	    "\"extra\":null}}",
	    "{\"queue\":\"writeback\",\"kind\":\"note.v2\",\"payload\":"
	    "{\"noteId\":\"n-1\",\"ehr\":\"nextgen\"}}");
}

static void
test_a_null_target_is_nothing(void)
{
	json_t *p = json_pack("{s:i}", "a", 1);
	json_t *got = merge_patch(NULL, p);

	CU_ASSERT_TRUE(json_equal(got, p));
	json_decref(got);
	json_decref(p);
}

static const struct harness_case cases[] = {
    {"RFC 7396 appendix A", test_rfc7396_appendix_a},
    {"a request override", test_a_request_override},
    {"a NULL target is nothing", test_a_null_target_is_nothing},
    {NULL, NULL},
};

int
main(void)
{
	return (harness_run("merge_patch", cases, NULL, NULL));
}
