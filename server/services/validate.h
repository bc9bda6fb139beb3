/*
 * Checks of client input shared by the services. Each returns true when the
 * value is acceptable; the handler words the error.
 */
#ifndef OPSBUS_SERVICES_VALIDATE_H
#define OPSBUS_SERVICES_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#include "arena.h"

/* Queue, tenant, target, kind, worker names: 1..64 of [A-Za-z0-9._:/-]. */
bool valid_name(const char *s);
/* Like valid_name, but the empty string is accepted too. */
bool valid_name_or_empty(const char *s);
/* A UUID in its canonical 36-character form (either case). */
bool valid_uuid(const char *s);
/* A reason code once upper-cased: 1..64 of [A-Z0-9_.-], no spaces. */
bool valid_reason_code(const char *s);
/* RFC 3339 date-time with a zone ("2026-11-22T08:25:21Z"). */
bool valid_timestamp(const char *s);
/* An idempotency key: 1..255 printable characters. */
bool valid_idempotency_key(const char *s);

/* The deepest JSON opsbus accepts in payloads. */
#define JSON_MAX_DEPTH 64

/*
 * Parses JSON text (at most max_len bytes, nested at most JSON_MAX_DEPTH).
 * On success returns true and, if canonical is not NULL, writes its
 * canonical form (keys sorted, no spaces) allocated in a. On failure writes
 * a short reason into why (NUL-terminated).
 */
bool json_check(const char *text, size_t max_len, struct arena *a,
    char **canonical, char *why, size_t why_len);

/* Upper-cases ASCII letters in place. Returns s. */
char *ascii_upper(char *s);

/*
 * A reason an operator gives for an action: not empty, not only spaces, not
 * a placeholder ("test", "fix it", "asdf", ...), at least 8 characters.
 * Returns true if acceptable.
 */
bool valid_operator_reason(const char *s);

#endif
