/*
 * Strict UTF-8 validation (RFC 3629): no overlong forms, no surrogates,
 * nothing above U+10FFFF. protobuf-c 1.4.1 does not check strings, and every
 * other protobuf runtime rejects a message with invalid UTF-8 in a string
 * field, so opsbus checks before anything reaches a handler or SQL.
 */
#ifndef OPSBUS_UTF8_H
#define OPSBUS_UTF8_H

#include <stddef.h>

/* Returns 1 if the len bytes at s are valid UTF-8 (NUL bytes included as
 * U+0000 are refused: PostgreSQL text cannot hold them), 0 otherwise. */
int utf8_valid(const char *s, size_t len);

#endif
