/*
 * Unit tests of common/sha256.c: the digests of the FIPS 180-2 appendix B
 * examples, messages whose lengths sit around the padding boundary (their
 * digests come from coreutils' sha256sum), incremental hashing split at
 * every offset, and the constant-time comparison.
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "sha256.h"

/*
 * Asserts that the hex digest got equals want, and shows both on failure,
 * which a bare CU_ASSERT_STRING_EQUAL does not.
 */
static void
check_hex(const char *got, const char *want, const char *what, unsigned line)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "%s: got %s, want %s", what, got, want);
	CU_assertImplementation(
	    strcmp(got, want) == 0, line, msg, __FILE__, "", CU_FALSE);
}

#define CHECK_HEX(got, want, what) check_hex(got, want, what, __LINE__)

/* The hex digest of the len bytes at data, hashed in one call. */
static void
hex_of(const void *data, size_t len, char hex[65])
{
	uint8_t digest[SHA256_DIGEST_LEN];

	sha256(data, len, digest);
	sha256_hex(digest, hex);
}

static void
test_empty(void)
{
	char hex[65];

	hex_of("", 0, hex);
	CHECK_HEX(hex,
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	    "\"\"");

	/* An empty update may pass NULL: nothing is read. */
	hex_of(NULL, 0, hex);
	CHECK_HEX(hex,
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	    "NULL, 0");
}

static void
test_abc(void)
{
	char hex[65];

	hex_of("abc", 3, hex);
	CHECK_HEX(hex,
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	    "\"abc\"");
}

static void
test_448_bits(void)
{
	static const char msg[]
	    = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	char hex[65];

	CU_ASSERT_EQUAL(strlen(msg) * 8, 448);
	hex_of(msg, strlen(msg), hex);
	CHECK_HEX(hex,
	    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
	    "448-bit message");
}

static void
test_896_bits(void)
{
	static const char msg[]
	    = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
	      "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
	char hex[65];

	CU_ASSERT_EQUAL(strlen(msg) * 8, 896);
	hex_of(msg, strlen(msg), hex);
	CHECK_HEX(hex,
	    "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
	    "896-bit message");
}

static void
test_million_a(void)
{
	uint8_t    chunk[1000];
	uint8_t    digest[SHA256_DIGEST_LEN];
	char       hex[65];
	sha256_ctx ctx;

	/* 1000 updates of 1000 bytes: none of them is block aligned after
	 * the first, so the carry-over path runs on every call. */
	memset(chunk, 'a', sizeof(chunk));
	sha256_init(&ctx);
	for (int i = 0; i < 1000; i++) {
		sha256_update(&ctx, chunk, sizeof(chunk));
	}
	sha256_final(&ctx, digest);
	sha256_hex(digest, hex);
	CHECK_HEX(hex,
	    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
	    "one million 'a'");
}

static void
test_padding_boundary(void)
{
	/* 55 bytes leave room for the length in the last block, 56 do not;
	 * 64 is exactly one block. */
	static const struct {
		size_t      len;
		const char *hex;
	} cases[] = {
	    {55,
	        "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734"
	        "318"},
	    {56,
	        "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec67"
	        "38a"},
	    {63,
	        "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2"
	        "f34"},
	    {64,
	        "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df15466"
	        "8eb"},
	    {65,
	        "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0"
	        "ae0"},
	    {119,
	        "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584d"
	        "cfb"},
	};
	uint8_t msg[128];
	char    hex[65];
	char    what[32];

	memset(msg, 'a', sizeof(msg));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(what, sizeof(what), "%zu x 'a'", cases[i].len);
		hex_of(msg, cases[i].len, hex);
		CHECK_HEX(hex, cases[i].hex, what);
	}
}

static void
test_split_updates(void)
{
	uint8_t msg[200];
	uint8_t want[SHA256_DIGEST_LEN];
	char    want_hex[65];

	for (size_t i = 0; i < sizeof(msg); i++) {
		msg[i] = (uint8_t) (i * 131 + 7);
	}
	sha256(msg, sizeof(msg), want);
	sha256_hex(want, want_hex);

	/* Every split point, then every pair of split points, covers a
	 * carry-over that fills a block, stops short of one or is empty. */
	for (size_t i = 0; i <= sizeof(msg); i++) {
		for (size_t j = i; j <= sizeof(msg); j++) {
			uint8_t    got[SHA256_DIGEST_LEN];
			char       got_hex[65];
			char       what[48];
			sha256_ctx ctx;

			sha256_init(&ctx);
			sha256_update(&ctx, msg, i);
			sha256_update(&ctx, msg + i, j - i);
			sha256_update(&ctx, msg + j, sizeof(msg) - j);
			sha256_final(&ctx, got);
			if (memcmp(got, want, sizeof(got)) != 0) {
				sha256_hex(got, got_hex);
				snprintf(what, sizeof(what),
				    "split at %zu and %zu", i, j);
				CHECK_HEX(got_hex, want_hex, what);
				return;
			}
		}
	}
	CU_PASS("every split gives the one-shot digest");
}

static void
test_byte_at_a_time(void)
{
	uint8_t    msg[200];
	uint8_t    want[SHA256_DIGEST_LEN];
	uint8_t    got[SHA256_DIGEST_LEN];
	sha256_ctx ctx;

	for (size_t i = 0; i < sizeof(msg); i++) {
		msg[i] = (uint8_t) (255 - i);
	}
	sha256(msg, sizeof(msg), want);
	sha256_init(&ctx);
	for (size_t i = 0; i < sizeof(msg); i++) {
		sha256_update(&ctx, msg + i, 1);
	}
	sha256_final(&ctx, got);
	CU_ASSERT(memcmp(got, want, sizeof(got)) == 0);
}

static void
test_hex_is_lower_case(void)
{
	uint8_t digest[SHA256_DIGEST_LEN];
	char    hex[65];

	for (int i = 0; i < SHA256_DIGEST_LEN; i++) {
		digest[i] = (uint8_t) (i * 8 + 0x0a);
	}
	memset(hex, 'x', sizeof(hex));
	sha256_hex(digest, hex);
	CU_ASSERT_EQUAL(hex[64], '\0');
	CHECK_HEX(hex,
	    "0a121a222a323a424a525a626a727a828a929aa2aab2bac2cad2dae2eaf2fa02",
	    "hex of 0a 12 1a ...");
}

static void
test_ct_equal(void)
{
	uint8_t a[64];
	uint8_t b[64];

	for (size_t i = 0; i < sizeof(a); i++) {
		a[i] = b[i] = (uint8_t) (i * 37);
	}
	CU_ASSERT_EQUAL(ct_equal(a, b, sizeof(a)), 1);
	CU_ASSERT_EQUAL(ct_equal(a, b, 0), 1);

	/* A difference anywhere, by any bit, is seen. */
	for (size_t i = 0; i < sizeof(a); i++) {
		for (int bit = 0; bit < 8; bit++) {
			b[i] ^= (uint8_t) (1u << bit);
			if (ct_equal(a, b, sizeof(a)) != 0) {
				CU_FAIL("a one-bit difference was missed");
				return;
			}
			b[i] ^= (uint8_t) (1u << bit);
		}
	}

	/* Only the first n bytes count. */
	b[63] ^= 0xff;
	CU_ASSERT_EQUAL(ct_equal(a, b, 63), 1);
	CU_ASSERT_EQUAL(ct_equal(a, b, 64), 0);
}

static const struct harness_case cases[] = {
    {"the digest of the empty message is the NIST value", test_empty},
    {"the digest of \"abc\" is the NIST value", test_abc},
    {"the digest of the 448-bit message is the NIST value", test_448_bits},
    {"the digest of the 896-bit message is the NIST value", test_896_bits},
    {"one million 'a' hashed in 1000-byte updates give the NIST digest",
        test_million_a},
    {"messages around the padding boundary give the known digests",
        test_padding_boundary},
    {"updates split at any two offsets give the one-shot digest",
        test_split_updates},
    {"updates of one byte at a time give the one-shot digest",
        test_byte_at_a_time},
    {"the hex of a digest is lower case and NUL-terminated",
        test_hex_is_lower_case},
    {"ct_equal sees any one-bit difference and only the first n bytes",
        test_ct_equal},
    {NULL, NULL},
};

int
main(void)
{
	return (harness_run("unit.sha256", cases, NULL, NULL));
}
