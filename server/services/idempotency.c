/*
 * Length-prefixed hashing of request fields for idempotency keys.
 */
#include "services/idempotency.h"

#include <stdint.h>
#include <string.h>

#include "sha256.h"

void
idempotency_hash(const char *const *fields, size_t n, char out[65])
{
	sha256_ctx ctx;
	uint8_t    digest[SHA256_DIGEST_LEN];

	sha256_init(&ctx);
	for (size_t i = 0; i < n; i++) {
		const char *f = fields[i] != NULL ? fields[i] : "";
		uint64_t    len = strlen(f);
		uint8_t     be[8];

		for (int b = 0; b < 8; b++) {
			be[b] = (uint8_t) (len >> (56 - 8 * b));
		}
		sha256_update(&ctx, be, sizeof(be));
		sha256_update(&ctx, f, (size_t) len);
	}
	sha256_final(&ctx, digest);
	sha256_hex(digest, out);
}
