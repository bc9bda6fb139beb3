/*
 * Strict UTF-8 validation for strings that arrive from clients. The checker
 * follows the table of well-formed byte sequences in Unicode 15, section 3.9
 * (table 3-7), which is RFC 3629 restated byte by byte: by fixing the allowed
 * range of the second byte of each sequence it refuses overlong forms,
 * surrogates and code points above U+10FFFF without decoding anything. NUL
 * is refused as well, because PostgreSQL text cannot store it and a C string
 * would silently end at it.
 */
#include "utf8.h"

#include <stdint.h>

/*
 * Returns the length of the well-formed sequence that starts at s[0], or 0
 * if there is none (a bad lead byte, a bad continuation byte, or a sequence
 * cut short by the end of the buffer).
 */
static size_t
utf8_sequence(const uint8_t *s, size_t left)
{
	uint8_t lo = 0x80; /* the range of the second byte */
	uint8_t hi = 0xbf;
	size_t  n;

	if (s[0] >= 0x01 && s[0] <= 0x7f) {
		return (1);
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		if (s[0] == 0xe0) {
			lo = 0xa0; /* below is an overlong form */
		} else if (s[0] == 0xed) {
			hi = 0x9f; /* above are the surrogates D800-DFFF */
		}
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		if (s[0] == 0xf0) {
			lo = 0x90; /* below is an overlong form */
		} else if (s[0] == 0xf4) {
			hi = 0x8f; /* above is past U+10FFFF */
		}
	} else {
		/* NUL, a stray continuation byte, C0/C1 (always overlong), or
		 * F5-FF (always past U+10FFFF). */
		return (0);
	}
	if (left < n) {
		return (0);
	}
	if (s[1] < lo || s[1] > hi) {
		return (0);
	}
	for (size_t i = 2; i < n; i++) {
		if (s[i] < 0x80 || s[i] > 0xbf) {
			return (0);
		}
	}
	return (n);
}

int
utf8_valid(const char *s, size_t len)
{
	const uint8_t *p = (const uint8_t *) s;
	size_t         i = 0;

	while (i < len) {
		size_t n = utf8_sequence(p + i, len - i);

		if (n == 0) {
			return (0);
		}
		i += n;
	}
	return (1);
}
