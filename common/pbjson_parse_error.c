/*
 * How a parse reports failure: one message in the caller's buffer, naming
 * the path of the field it is about ("field \"inner.n\": ..."). The path
 * grows and shrinks as the parse walks into fields, array elements and map
 * entries, so that an error anywhere says where without any caller having
 * to add it.
 */
#include "pbjson_internal.h"

#include <stdarg.h>
#include <stdio.h>

int
pj_fail(struct pj_parse *p, const char *fmt, ...)
{
	char    msg[256];
	va_list ap;

	if (p->err_len == 0) {
		return (-1);
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->path_len > 0) {
		snprintf(p->err, p->err_len, "field \"%s\": %s", p->path, msg);
	} else {
		snprintf(p->err, p->err_len, "%s", msg);
	}
	return (-1);
}

int
pj_fail_unknown(struct pj_parse *p)
{
	if (p->err_len > 0) {
		snprintf(p->err, p->err_len, "unknown field \"%s\"", p->path);
	}
	return (-1);
}

int
pj_fail_oom(struct pj_parse *p)
{
	if (p->err_len > 0) {
		snprintf(p->err, p->err_len, "out of memory");
	}
	return (-1);
}

int
pj_path_append(struct pj_parse *p, const char *fmt, ...)
{
	size_t  old = p->path_len;
	va_list ap;
	int     n;

	va_start(ap, fmt);
	n = vsnprintf(p->path + old, sizeof(p->path) - old, fmt, ap);
	va_end(ap);
	if (n < 0) {
		p->path[old] = '\0';
	} else if ((size_t) n >= sizeof(p->path) - old) {
		p->path_len = sizeof(p->path) - 1;
	} else {
		p->path_len = old + (size_t) n;
	}
	return ((int) old);
}

int
pj_prec(size_t len)
{
	return (len > PJ_PATH_MAX ? PJ_PATH_MAX : (int) len);
}

int
pj_path_push_name(struct pj_parse *p, const char *name, size_t len)
{
	return (pj_path_append(
	    p, "%s%.*s", p->path_len > 0 ? "." : "", pj_prec(len), name));
}

void
pj_path_pop(struct pj_parse *p, int old)
{
	p->path_len = (size_t) old;
	p->path[p->path_len] = '\0';
}

const char *
pj_json_type_text(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		return ("an object");
	case JSON_ARRAY:
		return ("an array");
	case JSON_STRING:
		return ("a string");
	case JSON_INTEGER:
	case JSON_REAL:
		return ("a number");
	case JSON_TRUE:
	case JSON_FALSE:
		return ("a boolean");
	case JSON_NULL:
		return ("null");
	}
	return ("?");
}
