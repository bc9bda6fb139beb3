/*
 * Array literals: '{' elements '}' separated by commas, each element in
 * double quotes with '"' and '\' escaped by a backslash, NULL unquoted.
 */
#include "store/pgarray.h"

#include <string.h>

void
pg_array_init(struct pg_array *arr, struct arena *a)
{
	memset(arr, 0, sizeof(*arr));
	arr->a = a;
}

/* Makes room for need more bytes and the closing "}\0". */
static bool
pg_array_reserve(struct pg_array *arr, size_t need)
{
	size_t cap = arr->cap > 0 ? arr->cap : 256;
	char  *buf;

	if (arr->failed) {
		return (false);
	}
	if (arr->len + need + 2 <= arr->cap) {
		return (true);
	}
	while (cap < arr->len + need + 2) {
		cap *= 2;
	}
	if ((buf = arena_alloc(arr->a, cap)) == NULL) {
		arr->failed = true;
		return (false);
	}
	if (arr->len > 0) {
		memcpy(buf, arr->buf, arr->len);
	}
	arr->buf = buf;
	arr->cap = cap;
	return (true);
}

void
pg_array_add(struct pg_array *arr, const char *v)
{
	size_t n = v != NULL ? strlen(v) : 0;
	char  *p;

	/* Worst case: every byte escaped, two quotes, a separator. */
	if (!pg_array_reserve(arr, 2 * n + 4)) {
		return;
	}
	p = arr->buf + arr->len;
	*p++ = arr->n == 0 ? '{' : ',';
	if (v == NULL) {
		memcpy(p, "NULL", 4);
		p += 4;
	} else {
		*p++ = '"';
		for (size_t i = 0; i < n; i++) {
			if (v[i] == '"' || v[i] == '\\') {
				*p++ = '\\';
			}
			*p++ = v[i];
		}
		*p++ = '"';
	}
	arr->len = (size_t) (p - arr->buf);
	arr->n++;
}

const char *
pg_array_text(struct pg_array *arr)
{
	if (!pg_array_reserve(arr, 1)) {
		return (NULL);
	}
	if (arr->n == 0) {
		arr->buf[arr->len++] = '{';
	}
	arr->buf[arr->len++] = '}';
	arr->buf[arr->len] = '\0';
	return (arr->buf);
}
