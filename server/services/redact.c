/*
 * Redaction of sensitive JSON keys and sanitizing of worker-supplied text.
 * The key list is fixed here for now; making it configurable means
 * replacing sensitive_keys with a list read at start.
 */
#include "services/redact.h"

#include <ctype.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "services/validate.h"

/* Lower case, '_' for '-'. */
static const char *const sensitive_keys[]
    = {"name", "first_name", "last_name", "given_name", "family_name", "dob",
        "date_of_birth", "birth_date", "ssn", "address", "phone", "email",
        "token", "secret", "password", "authorization", "api_key"};

/* Keys added by OPSBUS_REDACT_KEYS, normalized like the list above; set
 * once (pthread_once) and kept for the life of the process. */
#define REDACT_EXTRA_MAX 64
static char          *extra_keys[REDACT_EXTRA_MAX];
static size_t         n_extra_keys;
static pthread_once_t extra_once = PTHREAD_ONCE_INIT;

static void
extra_load(void)
{
	const char *env = getenv("OPSBUS_REDACT_KEYS");
	char       *list, *save = NULL;

	if (env == NULL || (list = strdup(env)) == NULL) {
		return;
	}
	for (char *k = strtok_r(list, ", ", &save); k != NULL;
	     k = strtok_r(NULL, ", ", &save)) {
		if (n_extra_keys == REDACT_EXTRA_MAX) {
			break;
		}
		for (char *c = k; *c != '\0'; c++) {
			*c = *c == '-' ? '_'
			               : (char) tolower((unsigned char) *c);
		}
		if ((extra_keys[n_extra_keys] = strdup(k)) != NULL) {
			n_extra_keys++;
		}
	}
	free(list);
}

/* Compares key to a list entry: case-blind, '-' equal to '_'. */
static bool
key_equal(const char *key, const char *entry)
{
	for (;; key++, entry++) {
		char c = *key;

		if (c >= 'A' && c <= 'Z') {
			c = (char) (c - 'A' + 'a');
		} else if (c == '-') {
			c = '_';
		}
		if (c != *entry) {
			return (false);
		}
		if (c == '\0') {
			return (true);
		}
	}
}

bool
redact_key(const char *key)
{
	for (size_t i = 0;
	     i < sizeof(sensitive_keys) / sizeof(sensitive_keys[0]); i++) {
		if (key_equal(key, sensitive_keys[i])) {
			return (true);
		}
	}
	pthread_once(&extra_once, extra_load);
	for (size_t i = 0; i < n_extra_keys; i++) {
		if (key_equal(key, extra_keys[i])) {
			return (true);
		}
	}
	return (false);
}

/* Redacts v in place. Depth is bounded by the check done before. */
static bool
redact_value(json_t *v, int depth)
{
	const char *key;
	json_t     *item;
	size_t      i;

	if (depth > JSON_MAX_DEPTH) {
		return (false);
	}
	if (json_is_object(v)) {
		json_object_foreach(v, key, item)
		{
			if (redact_key(key)) {
				if (json_object_set_new(
				        v, key, json_string(REDACTED))
				    != 0) {
					return (false);
				}
			} else if (!redact_value(item, depth + 1)) {
				return (false);
			}
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, item)
		{
			if (!redact_value(item, depth + 1)) {
				return (false);
			}
		}
	}
	return (true);
}

bool
redact_json(const char *text, struct arena *a, char **out)
{
	json_error_t jerr;
	json_t      *v;
	char        *s;
	bool         ok;

	v = json_loads(text, JSON_DECODE_ANY, &jerr);
	if (v == NULL) {
		return (false);
	}
	ok = redact_value(v, 0);
	s = ok ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)
	       : NULL;
	json_decref(v);
	if (s == NULL) {
		return (false);
	}
	*out = arena_strdup(a, s);
	free(s);
	return (*out != NULL);
}

bool
redact_text_json(const char *text, struct arena *a, char **out)
{
	json_t *v;
	char   *s;

	if ((text[0] == '{' || text[0] == '[') && redact_json(text, a, out)) {
		return (true);
	}
	if ((v = json_string(text)) == NULL) {
		return (false);
	}
	s = json_dumps(v, JSON_ENCODE_ANY);
	json_decref(v);
	if (s == NULL) {
		return (false);
	}
	*out = arena_strdup(a, s);
	free(s);
	return (*out != NULL);
}

char *
redact_sanitize(struct arena *a, const char *s, size_t max)
{
	size_t n = strlen(s);
	size_t o = 0;
	bool   space = false;
	char  *out;

	if (max < 8) {
		max = 8;
	}
	if ((out = arena_alloc(a, (n < max ? n : max) + 4)) == NULL) {
		return (NULL);
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char) s[i];
		size_t        len;

		if (c < 0x20 || c == 0x7f || c == ' ') {
			space = o > 0;
			continue;
		}
		/* The length of this UTF-8 sequence (the input is valid). */
		len = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
		if (i + len > n) {
			break;
		}
		if (o + (space ? 1 : 0) + len > max) {
			/* Cut: make room for "..." on a boundary. */
			while (o > 0 && o + 3 > max) {
				do {
					o--;
				} while (o > 0
				    && ((unsigned char) out[o] & 0xc0)
				        == 0x80);
			}
			memcpy(out + o, "...", 3);
			o += 3;
			space = false;
			break;
		}
		if (space) {
			out[o++] = ' ';
			space = false;
		}
		memcpy(out + o, s + i, len);
		o += len;
		i += len - 1;
	}
	out[o] = '\0';
	return (out);
}
