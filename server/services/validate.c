/*
 * Input checks, written once so that every service refuses the same bad
 * input with the same rule.
 */
#include "services/validate.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool
name_char(char c)
{
	return (isalnum((unsigned char) c) || c == '.' || c == '_' || c == '-'
	    || c == ':' || c == '/');
}

bool
valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64) {
		return (false);
	}
	for (size_t i = 0; i < n; i++) {
		if (!name_char(s[i])) {
			return (false);
		}
	}
	return (true);
}

bool
valid_name_or_empty(const char *s)
{
	return (s[0] == '\0' || valid_name(s));
}

bool
valid_uuid(const char *s)
{
	static const int dashes[] = {8, 13, 18, 23};

	if (strlen(s) != 36) {
		return (false);
	}
	for (int i = 0; i < 36; i++) {
		bool dash = (i == dashes[0] || i == dashes[1] || i == dashes[2]
		    || i == dashes[3]);
		if (dash ? s[i] != '-' : !isxdigit((unsigned char) s[i])) {
			return (false);
		}
	}
	return (true);
}

bool
valid_reason_code(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64) {
		return (false);
	}
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!(isupper((unsigned char) c) || isdigit((unsigned char) c)
		        || c == '_' || c == '.' || c == '-')) {
			return (false);
		}
	}
	return (true);
}

static bool
digits(const char *s, int n, int lo, int hi)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char) s[i])) {
			return (false);
		}
		v = v * 10 + (s[i] - '0');
	}
	return (v >= lo && v <= hi);
}

bool
valid_timestamp(const char *s)
{
	const char *p;

	/* YYYY-MM-DDTHH:MM:SS */
	if (strlen(s) < 20 || !digits(s, 4, 1, 9999) || s[4] != '-'
	    || !digits(s + 5, 2, 1, 12) || s[7] != '-'
	    || !digits(s + 8, 2, 1, 31)
	    || (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
	    || !digits(s + 11, 2, 0, 23) || s[13] != ':'
	    || !digits(s + 14, 2, 0, 59) || s[16] != ':'
	    || !digits(s + 17, 2, 0, 60)) {
		return (false);
	}
	p = s + 19;
	if (*p == '.') {
		int n = 0;
		p++;
		while (isdigit((unsigned char) *p) && n < 9) {
			p++;
			n++;
		}
		if (n == 0 || isdigit((unsigned char) *p)) {
			return (false);
		}
	}
	if (*p == 'Z' || *p == 'z') {
		return (p[1] == '\0');
	}
	if ((*p == '+' || *p == '-') && strlen(p) == 6
	    && digits(p + 1, 2, 0, 23) && p[3] == ':'
	    && digits(p + 4, 2, 0, 59)) {
		return (true);
	}
	return (false);
}

bool
valid_idempotency_key(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 255) {
		return (false);
	}
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) {
			return (false);
		}
	}
	return (true);
}

static int
json_depth(const json_t *v)
{
	int         deepest = 0;
	const char *key;
	json_t     *item;
	size_t      i;

	if (json_is_object(v)) {
		json_object_foreach((json_t *) (uintptr_t) v, key, item)
		{
			int d = json_depth(item);
			deepest = d > deepest ? d : deepest;
		}
		return (deepest + 1);
	}
	if (json_is_array(v)) {
		json_array_foreach(v, i, item)
		{
			int d = json_depth(item);
			deepest = d > deepest ? d : deepest;
		}
		return (deepest + 1);
	}
	return (0);
}

bool
json_check(const char *text, size_t max_len, struct arena *a, char **canonical,
    char *why, size_t why_len)
{
	json_error_t jerr;
	json_t      *v;
	size_t       n = strlen(text);

	if (n > max_len) {
		snprintf(why, why_len, "JSON text is longer than %zu bytes",
		    max_len);
		return (false);
	}
	v = json_loadb(
	    text, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (v == NULL) {
		snprintf(why, why_len, "invalid JSON at line %d column %d: %s",
		    jerr.line, jerr.column, jerr.text);
		return (false);
	}
	if (json_depth(v) > JSON_MAX_DEPTH) {
		json_decref(v);
		snprintf(why, why_len, "JSON nested deeper than %d levels",
		    JSON_MAX_DEPTH);
		return (false);
	}
	if (canonical != NULL) {
		char *s = json_dumps(
		    v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
		*canonical = s != NULL ? arena_strdup(a, s) : NULL;
		free(s);
		if (*canonical == NULL) {
			json_decref(v);
			snprintf(why, why_len, "out of memory");
			return (false);
		}
	}
	json_decref(v);
	return (true);
}

char *
ascii_upper(char *s)
{
	for (char *p = s; *p != '\0'; p++) {
		*p = (char) toupper((unsigned char) *p);
	}
	return (s);
}

bool
valid_operator_reason(const char *s)
{
	static const char *const placeholders[] = {"test", "testing", "fix",
	    "fix it", "fixit", "asdf", "todo", "tbd", "n/a", "na", "none",
	    "reason", "no reason", "xxx", "temp", "foo", "bar", "ok", "done",
	    "retry", "replay", "because", "-", "."};
	char                     norm[64];
	size_t                   n = 0;

	/* Trim and fold case and inner runs of spaces before comparing. */
	while (isspace((unsigned char) *s)) {
		s++;
	}
	for (const char *p = s; *p != '\0' && n < sizeof(norm) - 1; p++) {
		if (isspace((unsigned char) *p)) {
			if (n > 0 && norm[n - 1] != ' ') {
				norm[n++] = ' ';
			}
		} else {
			norm[n++] = (char) tolower((unsigned char) *p);
		}
	}
	while (n > 0 && norm[n - 1] == ' ') {
		n--;
	}
	norm[n] = '\0';
	if (n < 8) {
		return (false);
	}
	for (size_t i = 0; i < sizeof(placeholders) / sizeof(placeholders[0]);
	     i++) {
		if (strcasecmp(norm, placeholders[i]) == 0) {
			return (false);
		}
	}
	return (true);
}
