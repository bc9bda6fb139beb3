/*
 * Checks a serialized protobuf message against its descriptor before
 * protobuf-c unpacks it. protobuf-c 1.4.1 recurses without a limit (a 34 KB
 * message of nested fields overflows the stack) and does not check UTF-8, so
 * every message from a client passes here first.
 *
 * The check walks the wire format once: every tag and length is well formed
 * and within the buffer, wire types are the ones protobuf defines (groups
 * are refused: opsbus never uses them), embedded messages of known message
 * fields (map entries included) are walked recursively up to max_depth, and
 * every known string field holds valid UTF-8 without NUL bytes. Unknown
 * fields are skipped by their length.
 */
#ifndef OPSBUS_WIRECHECK_H
#define OPSBUS_WIRECHECK_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"

/* The nesting opsbus accepts: far above any message of its API. */
#define WIRECHECK_MAX_DEPTH 32

/*
 * Checks buf[0..len) as a message of type desc, nested at most max_depth
 * levels (the top message is level 1). Returns OPSBUS_E_OK,
 * OPSBUS_E_MALFORMED_MESSAGE, OPSBUS_E_NESTING_TOO_DEEP or
 * OPSBUS_E_INVALID_UTF8; on error writes a short description of where
 * ("field metadata.value") into where (always NUL-terminated when
 * where_len > 0).
 */
opsbus_err wirecheck_message(const ProtobufCMessageDescriptor *desc,
    const uint8_t *buf, size_t len, int max_depth, char *where,
    size_t where_len);

#endif
