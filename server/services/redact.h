/*
 * What operators may see: redaction of sensitive keys in JSON (names,
 * dates of birth, SSNs, tokens, secrets, ...) and sanitizing of free text
 * that workers send (error messages, summaries). Used for every payload
 * the services copy into events and for texts stored for operator views.
 */
#ifndef OPSBUS_SERVICES_REDACT_H
#define OPSBUS_SERVICES_REDACT_H

#include <stdbool.h>
#include <stddef.h>

#include "arena.h"

/* What a redacted value becomes. */
#define REDACTED "[REDACTED]"

/*
 * True when a JSON object key names sensitive data. Compared without
 * regard to case, and with '-' and '_' alike ("First-Name" matches
 * "first_name"); the list is in redact.c, and the environment variable
 * OPSBUS_REDACT_KEYS (comma-separated, read once, at the first call) adds
 * keys of a deployment's own ("mrn,insurance_id").
 */
bool redact_key(const char *key);

/*
 * Parses the JSON text and replaces the value of every sensitive key, at
 * any depth (inside arrays too), with "[REDACTED]". Returns true and writes
 * the compact result (allocated in a) to *out; returns false when text is
 * not JSON or is nested deeper than JSON_MAX_DEPTH (validate.h).
 */
bool redact_json(const char *text, struct arena *a, char **out);

/*
 * JSON for a text a worker wrote (a summary) that may itself be JSON: the
 * redacted JSON when text is a JSON object or array, else the text as a
 * JSON string. Returns true and writes *out (in a); false when out of
 * memory.
 */
bool redact_text_json(const char *text, struct arena *a, char **out);

/*
 * A copy of s (allocated in a) fit for operators: control characters
 * (newlines, tabs, escapes) become spaces, runs of spaces become one, the
 * ends are trimmed, and the result is cut to at most max bytes on a UTF-8
 * character boundary (with "..." when cut; max >= 8). s must be valid
 * UTF-8 (every string the dispatcher hands on is). NULL when out of
 * memory.
 */
char *redact_sanitize(struct arena *a, const char *s, size_t max);

#endif
