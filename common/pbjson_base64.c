/*
 * Base64 (RFC 4648) for bytes fields: printed in the standard alphabet with
 * padding, as Google's runtimes print them; parsed in either alphabet,
 * padded or not, as they parse them.
 */
#include "pbjson_internal.h"

#include <stdint.h>
#include <stdlib.h>

static const char b64_std[]
    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The value of a base64 digit of either alphabet, or -1. */
static int
b64_digit(unsigned char c)
{
	if (c >= 'A' && c <= 'Z') {
		return (c - 'A');
	}
	if (c >= 'a' && c <= 'z') {
		return (c - 'a' + 26);
	}
	if (c >= '0' && c <= '9') {
		return (c - '0' + 52);
	}
	if (c == '+' || c == '-') {
		return (62);
	}
	if (c == '/' || c == '_') {
		return (63);
	}
	return (-1);
}

char *
pj_b64_encode(const uint8_t *data, size_t len)
{
	char  *out;
	char  *o;
	size_t i;

	if (len > (SIZE_MAX - 1) / 4 * 3 - 2) {
		return (NULL);
	}
	out = malloc((len + 2) / 3 * 4 + 1);
	if (out == NULL) {
		return (NULL);
	}
	o = out;
	for (i = 0; i + 3 <= len; i += 3) {
		uint32_t w = (uint32_t) data[i] << 16
		    | (uint32_t) data[i + 1] << 8 | data[i + 2];

		*o++ = b64_std[w >> 18 & 63];
		*o++ = b64_std[w >> 12 & 63];
		*o++ = b64_std[w >> 6 & 63];
		*o++ = b64_std[w & 63];
	}
	if (len - i == 1) {
		uint32_t w = (uint32_t) data[i] << 16;

		*o++ = b64_std[w >> 18 & 63];
		*o++ = b64_std[w >> 12 & 63];
		*o++ = '=';
		*o++ = '=';
	} else if (len - i == 2) {
		uint32_t w
		    = (uint32_t) data[i] << 16 | (uint32_t) data[i + 1] << 8;

		*o++ = b64_std[w >> 18 & 63];
		*o++ = b64_std[w >> 12 & 63];
		*o++ = b64_std[w >> 6 & 63];
		*o++ = '=';
	}
	*o = '\0';
	return (out);
}

int
pj_b64_decode(
    struct arena *a, const char *s, size_t len, ProtobufCBinaryData *out)
{
	size_t   n = len;
	size_t   out_len;
	uint8_t *data;
	uint8_t *o;
	uint32_t w = 0;
	unsigned bits = 0;

	if (n > 0 && s[n - 1] == '=') {
		n--;
		if (n > 0 && s[n - 1] == '=') {
			n--;
		}
		if (len % 4 != 0) {
			return (-1);
		}
	}
	if (n % 4 == 1) {
		return (-1);
	}
	out_len = n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
	if (out_len == 0) {
		out->len = 0;
		out->data = NULL;
		return (0);
	}
	data = arena_alloc(a, out_len);
	if (data == NULL) {
		return (-2);
	}
	o = data;
	for (size_t i = 0; i < n; i++) {
		int d = b64_digit((unsigned char) s[i]);

		if (d < 0) {
			return (-1);
		}
		w = w << 6 | (uint32_t) d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			*o++ = (uint8_t) (w >> bits);
		}
	}
	out->len = out_len;
	out->data = data;
	return (0);
}
