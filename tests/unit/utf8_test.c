/*
 * Unit tests of common/utf8.c: each class of well-formed sequence is
 * accepted and each way of breaking one (overlong forms, surrogates, code
 * points past U+10FFFF, truncation, stray continuation bytes, NUL) is
 * refused; an exhaustive pass over every code point checks the boundaries
 * the hand-picked cases might miss.
 */
#include <CUnit/Basic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "utf8.h"

/* A byte string with its own length, since some hold NUL. */
struct sample {
	const char *bytes;
	size_t      len;
};

#define SAMPLE(s)                  \
	{                          \
		(s), sizeof(s) - 1 \
	}

/*
 * Asserts that utf8_valid gives want for every sample, naming the sample
 * (in hex) that fails.
 */
static void
check_samples(const struct sample *s, size_t n, int want, unsigned line)
{
	for (size_t i = 0; i < n; i++) {
		char msg[128];
		int  got = utf8_valid(s[i].bytes, s[i].len);
		int  used;

		used = snprintf(
		    msg, sizeof(msg), "got %d, want %d for", got, want);
		for (size_t j = 0; j < s[i].len && used > 0
		     && (size_t) used < sizeof(msg) - 4;
		     j++) {
			used += snprintf(msg + used,
			    sizeof(msg) - (size_t) used, " %02x",
			    (unsigned) (uint8_t) s[i].bytes[j]);
		}
		CU_assertImplementation(
		    got == want, line, msg, __FILE__, "", CU_FALSE);
	}
}

#define CHECK_ALL(samples, want) \
	check_samples(           \
	    samples, sizeof(samples) / sizeof(samples[0]), want, __LINE__)

/* Encodes code point cp (not checked) into out; returns the length. */
static size_t
encode(uint32_t cp, char out[4])
{
	if (cp < 0x80) {
		out[0] = (char) cp;
		return (1);
	}
	if (cp < 0x800) {
		out[0] = (char) (0xc0 | (cp >> 6));
		out[1] = (char) (0x80 | (cp & 0x3f));
		return (2);
	}
	if (cp < 0x10000) {
		out[0] = (char) (0xe0 | (cp >> 12));
		out[1] = (char) (0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char) (0x80 | (cp & 0x3f));
		return (3);
	}
	out[0] = (char) (0xf0 | (cp >> 18));
	out[1] = (char) (0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char) (0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char) (0x80 | (cp & 0x3f));
	return (4);
}

static void
test_ascii(void)
{
	static const struct sample ok[] = {
	    SAMPLE(""),
	    SAMPLE("a"),
	    SAMPLE("opsbus.v1.JobService/CreateJob"),
	    SAMPLE("\x01\x7f"),
	};

	CHECK_ALL(ok, 1);
}

static void
test_two_bytes(void)
{
	static const struct sample ok[] = {
	    SAMPLE("\xc2\x80"),    /* U+0080, the first */
	    SAMPLE("caf\xc3\xa9"), /* "café" */
	    SAMPLE("\xdf\xbf"),    /* U+07FF, the last */
	};

	CHECK_ALL(ok, 1);
}

static void
test_three_bytes(void)
{
	static const struct sample ok[] = {
	    SAMPLE("\xe0\xa0\x80"), /* U+0800, the first */
	    SAMPLE("\xe2\x82\xac"), /* the euro sign */
	    SAMPLE("\xed\x9f\xbf"), /* U+D7FF, just below the surrogates */
	    SAMPLE("\xee\x80\x80"), /* U+E000, just above them */
	    SAMPLE("\xef\xbf\xbf"), /* U+FFFF, the last */
	};

	CHECK_ALL(ok, 1);
}

static void
test_four_bytes(void)
{
	static const struct sample ok[] = {
	    SAMPLE("\xf0\x90\x80\x80"), /* U+10000, the first */
	    SAMPLE("\xf0\x9f\x98\x80"), /* an emoji */
	    SAMPLE("\xf4\x8f\xbf\xbf"), /* U+10FFFF, the last */
	};

	CHECK_ALL(ok, 1);
}

static void
test_overlong(void)
{
	static const struct sample bad[] = {
	    SAMPLE("\xc0\x80"),         /* U+0000 in two bytes */
	    SAMPLE("\xc0\xaf"),         /* '/' in two bytes */
	    SAMPLE("\xc1\xbf"),         /* U+007F in two bytes */
	    SAMPLE("\xe0\x80\x80"),     /* U+0000 in three bytes */
	    SAMPLE("\xe0\x9f\xbf"),     /* U+07FF in three bytes */
	    SAMPLE("\xf0\x80\x80\x80"), /* U+0000 in four bytes */
	    SAMPLE("\xf0\x8f\xbf\xbf"), /* U+FFFF in four bytes */
	};

	CHECK_ALL(bad, 0);
}

static void
test_surrogates(void)
{
	static const struct sample bad[] = {
	    SAMPLE("\xed\xa0\x80"), /* U+D800 */
	    SAMPLE("\xed\xaf\xbf"), /* U+DBFF */
	    SAMPLE("\xed\xb0\x80"), /* U+DC00 */
	    SAMPLE("\xed\xbf\xbf"), /* U+DFFF */
	    /* U+1F600 as a CESU-8 surrogate pair. */
	    SAMPLE("\xed\xa0\xbd\xed\xb8\x80"),
	};

	CHECK_ALL(bad, 0);
}

static void
test_above_max(void)
{
	static const struct sample bad[] = {
	    SAMPLE("\xf4\x90\x80\x80"), /* U+110000 */
	    SAMPLE("\xf4\xbf\xbf\xbf"),
	    SAMPLE("\xf5\x80\x80\x80"),
	    SAMPLE("\xf7\xbf\xbf\xbf"),
	    SAMPLE("\xf8\x88\x80\x80\x80"), /* the old 5-byte form */
	    SAMPLE("\xfc\x84\x80\x80\x80\x80"),
	    SAMPLE("\xfe"),
	    SAMPLE("\xff"),
	};

	CHECK_ALL(bad, 0);
}

static void
test_truncated(void)
{
	static const struct sample bad[] = {
	    SAMPLE("\xc3"),
	    SAMPLE("\xe2\x82"),
	    SAMPLE("\xe2"),
	    SAMPLE("\xf0\x9f\x98"),
	    SAMPLE("\xf0\x9f"),
	    SAMPLE("abc\xf0"),
	    /* Cut short by an ASCII byte rather than by the end. */
	    SAMPLE("\xe2\x82"
	           "A"),
	    SAMPLE("\xf0\x9f\x98"
	           "A"),
	};

	CHECK_ALL(bad, 0);
}

static void
test_stray_continuation(void)
{
	static const struct sample bad[] = {
	    SAMPLE("\x80"), SAMPLE("\xbf"),
	    SAMPLE("a\x80"
	           "b"),
	    SAMPLE("\xc3\xa9\xa9"), /* one continuation too many */
	};

	CHECK_ALL(bad, 0);
}

static void
test_nul(void)
{
	static const struct sample bad[] = {
	    SAMPLE("\0"),
	    SAMPLE("a\0b"),
	    SAMPLE("abc\0"),
	};

	CHECK_ALL(bad, 0);
}

static void
test_length_bounds_the_read(void)
{
	/* The bytes past len would be refused; they must not be read. */
	static const char s[] = "ok\xff\0";

	CU_ASSERT_EQUAL(utf8_valid(s, 2), 1);
	CU_ASSERT_EQUAL(utf8_valid(s, 3), 0);
	/* A sequence that len cuts in two is truncated. */
	CU_ASSERT_EQUAL(utf8_valid("\xe2\x82\xac", 2), 0);
}

static void
test_every_code_point(void)
{
	char   buf[4];
	size_t len;

	for (uint32_t cp = 1; cp <= 0x10ffff; cp++) {
		int want = cp < 0xd800 || cp > 0xdfff;

		len = encode(cp, buf);
		if (utf8_valid(buf, len) != want) {
			char msg[64];

			snprintf(msg, sizeof(msg), "U+%04X: want %d",
			    (unsigned) cp, want);
			CU_assertImplementation(
			    CU_FALSE, __LINE__, msg, __FILE__, "", CU_FALSE);
			return;
		}
	}
	CU_PASS("every scalar value accepted, every surrogate refused");
}

static void
test_every_short_overlong(void)
{
	char   buf[4];
	size_t len;

	/* Each code point encoded in one byte more than it needs, up to
	 * four bytes, is refused. */
	for (uint32_t cp = 0; cp < 0x10000; cp++) {
		uint32_t need = cp < 0x80 ? 1 : cp < 0x800 ? 2 : 3;

		if (need == 1) {
			buf[0] = (char) (0xc0 | (cp >> 6));
			buf[1] = (char) (0x80 | (cp & 0x3f));
			len = 2;
		} else if (need == 2) {
			buf[0] = (char) 0xe0;
			buf[1] = (char) (0x80 | (cp >> 6));
			buf[2] = (char) (0x80 | (cp & 0x3f));
			len = 3;
		} else {
			buf[0] = (char) 0xf0;
			buf[1] = (char) (0x80 | (cp >> 12));
			buf[2] = (char) (0x80 | ((cp >> 6) & 0x3f));
			buf[3] = (char) (0x80 | (cp & 0x3f));
			len = 4;
		}
		if (utf8_valid(buf, len) != 0) {
			char msg[64];

			snprintf(msg, sizeof(msg), "overlong U+%04X accepted",
			    (unsigned) cp);
			CU_assertImplementation(
			    CU_FALSE, __LINE__, msg, __FILE__, "", CU_FALSE);
			return;
		}
	}
	CU_PASS("every overlong form refused");
}

static const struct harness_case cases[] = {
    {"ASCII text without NUL is valid", test_ascii},
    {"two-byte sequences from U+0080 to U+07FF are valid", test_two_bytes},
    {"three-byte sequences outside the surrogates are valid",
        test_three_bytes},
    {"four-byte sequences up to U+10FFFF are valid", test_four_bytes},
    {"a string with an overlong encoding is refused", test_overlong},
    {"a string with a surrogate D800-DFFF is refused", test_surrogates},
    {"a string with a code point above U+10FFFF is refused", test_above_max},
    {"a string that ends inside a sequence is refused", test_truncated},
    {"a string with a stray continuation byte is refused",
        test_stray_continuation},
    {"a string with a NUL byte is refused", test_nul},
    {"bytes past len are not read and a sequence cut by len is refused",
        test_length_bounds_the_read},
    {"every scalar value is valid and every surrogate is refused",
        test_every_code_point},
    {"every code point encoded one byte too long is refused",
        test_every_short_overlong},
    {NULL, NULL},
};

int
main(void)
{
	return (harness_run("unit.utf8", cases, NULL, NULL));
}
