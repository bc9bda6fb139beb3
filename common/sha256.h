/*
 * SHA-256 (FIPS 180-4), for hashing API keys and idempotent requests, and a
 * constant-time comparison for secrets.
 */
#ifndef OPSBUS_SHA256_H
#define OPSBUS_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN 32

typedef struct {
	uint32_t state[8];
	uint64_t length; /* bytes hashed so far */
	uint8_t  block[64];
	size_t   used; /* bytes waiting in block */
} sha256_ctx;

void sha256_init(sha256_ctx *ctx);
void sha256_update(sha256_ctx *ctx, const void *data, size_t len);
void sha256_final(sha256_ctx *ctx, uint8_t out[SHA256_DIGEST_LEN]);
/* One-shot digest of data. */
void sha256(const void *data, size_t len, uint8_t out[SHA256_DIGEST_LEN]);
/* Lower-case hex of a digest into out (65 bytes with the NUL). */
void sha256_hex(const uint8_t digest[SHA256_DIGEST_LEN], char out[65]);
/*
 * Compares n bytes of a and b in time that depends on n only. Returns 1 if
 * they are equal, 0 otherwise.
 */
int ct_equal(const void *a, const void *b, size_t n);

#endif
