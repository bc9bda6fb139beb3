/*
 * SHA-256 as FIPS 180-4 specifies it, written for clarity rather than speed:
 * opsbus hashes API keys and idempotent request bodies, which are small, so
 * a plain portable implementation is enough. The bytes of the message are
 * read big-endian one at a time, so the code does not depend on the host's
 * byte order or on the alignment of the caller's data.
 */
#include "sha256.h"

#include <string.h>

/* The first 32 bits of the fractional parts of the cube roots of the first
 * 64 primes (FIPS 180-4, 4.2.2). */
static const uint32_t sha256_k[64] = {
    0x428a2f98,
    0x71374491,
    0xb5c0fbcf,
    0xe9b5dba5,
    0x3956c25b,
    0x59f111f1,
    0x923f82a4,
    0xab1c5ed5,
    0xd807aa98,
    0x12835b01,
    0x243185be,
    0x550c7dc3,
    0x72be5d74,
    0x80deb1fe,
    0x9bdc06a7,
    0xc19bf174,
    0xe49b69c1,
    0xefbe4786,
    0x0fc19dc6,
    0x240ca1cc,
    0x2de92c6f,
    0x4a7484aa,
    0x5cb0a9dc,
    0x76f988da,
    0x983e5152,
    0xa831c66d,
    0xb00327c8,
    0xbf597fc7,
    0xc6e00bf3,
    0xd5a79147,
    0x06ca6351,
    0x14292967,
    0x27b70a85,
    0x2e1b2138,
    0x4d2c6dfc,
    0x53380d13,
    0x650a7354,
    0x766a0abb,
    0x81c2c92e,
    0x92722c85,
    0xa2bfe8a1,
    0xa81a664b,
    0xc24b8b70,
    0xc76c51a3,
    0xd192e819,
    0xd6990624,
    0xf40e3585,
    0x106aa070,
    0x19a4c116,
    0x1e376c08,
    0x2748774c,
    0x34b0bcb5,
    0x391c0cb3,
    0x4ed8aa4a,
    0x5b9cca4f,
    0x682e6ff3,
    0x748f82ee,
    0x78a5636f,
    0x84c87814,
    0x8cc70208,
    0x90befffa,
    0xa4506ceb,
    0xbef9a3f7,
    0xc67178f2,
};

static uint32_t
sha256_rotr(uint32_t x, unsigned n)
{
	return ((x >> n) | (x << (32 - n)));
}

/* Processes one 64-byte block into the state (FIPS 180-4, 6.2.2). */
static void
sha256_block(uint32_t state[8], const uint8_t block[64])
{
	uint32_t w[64];
	uint32_t a, b, c, d, e, f, g, h;

	for (int t = 0; t < 16; t++) {
		w[t] = ((uint32_t) block[4 * t] << 24)
		    | ((uint32_t) block[4 * t + 1] << 16)
		    | ((uint32_t) block[4 * t + 2] << 8)
		    | (uint32_t) block[4 * t + 3];
	}
	for (int t = 16; t < 64; t++) {
		uint32_t s0 = sha256_rotr(w[t - 15], 7)
		    ^ sha256_rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
		uint32_t s1 = sha256_rotr(w[t - 2], 17)
		    ^ sha256_rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);

		w[t] = w[t - 16] + s0 + w[t - 7] + s1;
	}

	a = state[0];
	b = state[1];
	c = state[2];
	d = state[3];
	e = state[4];
	f = state[5];
	g = state[6];
	h = state[7];
	for (int t = 0; t < 64; t++) {
		uint32_t s1 = sha256_rotr(e, 6) ^ sha256_rotr(e, 11)
		    ^ sha256_rotr(e, 25);
		uint32_t ch = (e & f) ^ (~e & g);
		uint32_t t1 = h + s1 + ch + sha256_k[t] + w[t];
		uint32_t s0 = sha256_rotr(a, 2) ^ sha256_rotr(a, 13)
		    ^ sha256_rotr(a, 22);
		uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
		uint32_t t2 = s0 + maj;

		h = g;
		g = f;
		f = e;
		e = d + t1;
		d = c;
		c = b;
		b = a;
		a = t1 + t2;
	}
	state[0] += a;
	state[1] += b;
	state[2] += c;
	state[3] += d;
	state[4] += e;
	state[5] += f;
	state[6] += g;
	state[7] += h;
}

/*
 * Clears memory that held secret material. The writes go through a volatile
 * pointer so that the compiler cannot drop them as dead stores, which it may
 * do with memset on memory that is not read again.
 */
static void
sha256_wipe(void *p, size_t n)
{
	volatile uint8_t *v = p;

	while (n-- > 0) {
		*v++ = 0;
	}
}

void
sha256_init(sha256_ctx *ctx)
{
	/* The first 32 bits of the fractional parts of the square roots of
	 * the first 8 primes (FIPS 180-4, 5.3.3). */
	ctx->state[0] = 0x6a09e667;
	ctx->state[1] = 0xbb67ae85;
	ctx->state[2] = 0x3c6ef372;
	ctx->state[3] = 0xa54ff53a;
	ctx->state[4] = 0x510e527f;
	ctx->state[5] = 0x9b05688c;
	ctx->state[6] = 0x1f83d9ab;
	ctx->state[7] = 0x5be0cd19;
	ctx->length = 0;
	ctx->used = 0;
}

void
sha256_update(sha256_ctx *ctx, const void *data, size_t len)
{
	const uint8_t *p = data;

	/* An empty update may come with a NULL pointer, which memcpy must
	 * never see, even with a zero length. */
	if (len == 0) {
		return;
	}
	ctx->length += len;

	if (ctx->used > 0) {
		size_t take = sizeof(ctx->block) - ctx->used;

		if (take > len) {
			take = len;
		}
		memcpy(ctx->block + ctx->used, p, take);
		ctx->used += take;
		p += take;
		len -= take;
		if (ctx->used < sizeof(ctx->block)) {
			return;
		}
		sha256_block(ctx->state, ctx->block);
		ctx->used = 0;
	}
	/* Whole blocks are hashed from the caller's buffer without a copy. */
	while (len >= sizeof(ctx->block)) {
		sha256_block(ctx->state, p);
		p += sizeof(ctx->block);
		len -= sizeof(ctx->block);
	}
	if (len > 0) {
		memcpy(ctx->block, p, len);
		ctx->used = len;
	}
}

void
sha256_final(sha256_ctx *ctx, uint8_t out[SHA256_DIGEST_LEN])
{
	uint64_t bits = ctx->length * 8;

	/* Padding (FIPS 180-4, 5.1.1): a one bit, zeros up to 56 bytes into
	 * a block, then the message length in bits as 64 bits big-endian. */
	ctx->block[ctx->used++] = 0x80;
	if (ctx->used > 56) {
		memset(
		    ctx->block + ctx->used, 0, sizeof(ctx->block) - ctx->used);
		sha256_block(ctx->state, ctx->block);
		ctx->used = 0;
	}
	memset(ctx->block + ctx->used, 0, 56 - ctx->used);
	for (int i = 0; i < 8; i++) {
		ctx->block[56 + i] = (uint8_t) (bits >> (56 - 8 * i));
	}
	sha256_block(ctx->state, ctx->block);

	for (int i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t) (ctx->state[i] >> 24);
		out[4 * i + 1] = (uint8_t) (ctx->state[i] >> 16);
		out[4 * i + 2] = (uint8_t) (ctx->state[i] >> 8);
		out[4 * i + 3] = (uint8_t) ctx->state[i];
	}
	/* The context held the last block of the input, which may be part of
	 * an API key; it is useless now until sha256_init anyway. */
	sha256_wipe(ctx, sizeof(*ctx));
}

void
sha256(const void *data, size_t len, uint8_t out[SHA256_DIGEST_LEN])
{
	sha256_ctx ctx;

	sha256_init(&ctx);
	sha256_update(&ctx, data, len);
	sha256_final(&ctx, out);
}

void
sha256_hex(const uint8_t digest[SHA256_DIGEST_LEN], char out[65])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < SHA256_DIGEST_LEN; i++) {
		out[2 * i] = hex[digest[i] >> 4];
		out[2 * i + 1] = hex[digest[i] & 0x0f];
	}
	out[2 * SHA256_DIGEST_LEN] = '\0';
}

int
ct_equal(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a;
	const uint8_t *y = b;
	unsigned       diff = 0;

	/* Every byte is looked at whatever the earlier ones were, and the
	 * answer is derived from the accumulated difference without a branch
	 * on secret data: (diff - 1) >> 8 has its low bit set only when diff
	 * is 0, since diff never exceeds 0xff. */
	for (size_t i = 0; i < n; i++) {
		diff |= (unsigned) (x[i] ^ y[i]);
	}
	return ((int) (1 & ((diff - 1) >> 8)));
}
