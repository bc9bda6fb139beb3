/*
 * Unit tests of server/services/redact.c: sensitive keys are redacted at
 * any depth whatever their case, other data stays, bad JSON is refused;
 * sanitized text has no control characters, no runs of spaces, and is cut
 * on a character boundary.
 */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "services/redact.h"

static struct arena a;

static void
check_json(const char *in, const char *want)
{
	char *out = NULL;

	CU_ASSERT_TRUE_FATAL(redact_json(in, &a, &out));
	ASSERT_STR_EQ(out, want);
	arena_reset(&a);
}

static void
test_sensitive_keys_are_redacted_at_any_depth(void)
{
	check_json(
	    "{\"patient\":{\"first_name\":\"Sam\",\"DOB\":\"1990-01-01\","
	    "\"visits\":[{\"Email\":\"s@x.org\",\"n\":1}]},\"ok\":true}",
	    "{\"ok\":true,\"patient\":{\"DOB\":\"[REDACTED]\",\"first_name\":"
	    "\"[REDACTED]\",\"visits\":[{\"Email\":\"[REDACTED]\",\"n\":1}]}"
	    "}");
	check_json("[{\"api-key\":\"k\"},{\"Authorization\":\"Bearer x\"}]",
	    "[{\"api-key\":\"[REDACTED]\"},{\"Authorization\":\"[REDACTED]\"}"
	    "]");
}

static void
test_a_sensitive_object_is_redacted_whole(void)
{
	check_json("{\"address\":{\"street\":\"1 Main\",\"zip\":\"02139\"}}",
	    "{\"address\":\"[REDACTED]\"}");
}

static void
test_other_keys_and_scalars_are_kept(void)
{
	check_json("{\"record_id\":\"r1\",\"names\":3,\"token_count\":2}",
	    "{\"names\":3,\"record_id\":\"r1\",\"token_count\":2}");
	check_json("42", "42");
	check_json("\"name\"", "\"name\"");
}

static void
test_text_that_is_not_json_is_refused(void)
{
	char *out = NULL;

	CU_ASSERT_FALSE(redact_json("{\"a\":", &a, &out));
	CU_ASSERT_FALSE(redact_json("", &a, &out));
	CU_ASSERT_PTR_NULL(out);
}

static void
test_the_key_list_ignores_case_and_dashes(void)
{
	CU_ASSERT_TRUE(redact_key("SSN"));
	CU_ASSERT_TRUE(redact_key("Date-Of-Birth"));
	CU_ASSERT_TRUE(redact_key("password"));
	CU_ASSERT_FALSE(redact_key("passwords"));
	CU_ASSERT_FALSE(redact_key("nam"));
	CU_ASSERT_FALSE(redact_key(""));
}

static void
test_sanitized_text_has_no_control_characters(void)
{
	ASSERT_STR_EQ(
	    redact_sanitize(&a, "  timeout\ncalling\t\tEHR \x1b[31m ", 100),
	    "timeout calling EHR [31m");
	ASSERT_STR_EQ(redact_sanitize(&a, "\n\n", 100), "");
	ASSERT_STR_EQ(redact_sanitize(&a, "", 100), "");
	arena_reset(&a);
}

static void
test_sanitized_text_is_cut_on_a_character_boundary(void)
{
	/* "é" is two bytes: a cut may not split it. */
	const char *s = "abcdéééééééé";
	char       *o = redact_sanitize(&a, s, 10);

	CU_ASSERT_TRUE(strlen(o) <= 10);
	ASSERT_STR_EQ(o, "abcdé...");
	ASSERT_STR_EQ(redact_sanitize(&a, "0123456789", 10), "0123456789");
	ASSERT_STR_EQ(redact_sanitize(&a, "0123456789A", 10), "0123456...");
	arena_reset(&a);
}

static const struct harness_case cases[] = {
    {"sensitive keys are redacted at any depth",
        test_sensitive_keys_are_redacted_at_any_depth},
    {"a sensitive object is redacted whole",
        test_a_sensitive_object_is_redacted_whole},
    {"other keys and scalars are kept", test_other_keys_and_scalars_are_kept},
    {"text that is not JSON is refused",
        test_text_that_is_not_json_is_refused},
    {"the key list ignores case and dashes",
        test_the_key_list_ignores_case_and_dashes},
    {"sanitized text has no control characters",
        test_sanitized_text_has_no_control_characters},
    {"sanitized text is cut on a character boundary",
        test_sanitized_text_is_cut_on_a_character_boundary},
    {NULL, NULL},
};

int
main(void)
{
	int rv;

	arena_init(&a);
	rv = harness_run("redact", cases, NULL, NULL);
	arena_fini(&a);
	return (rv);
}
