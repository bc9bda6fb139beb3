/*
 * Route matching: compiled templates and a linear scan. There are a few
 * dozen routes, and a scan over them costs less than one nng round trip;
 * a trie would save nothing measurable.
 */
#include "gateway/router.h"

#include <stdio.h>
#include <string.h>

static bool
literal_char_ok(char c)
{
	return ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
	    || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '~'
	    || c == '-');
}

static bool
field_ok(const char *s)
{
	if (*s == '\0' || *s == '.') {
		return (false);
	}
	for (; *s != '\0'; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')
		        || *s == '_' || *s == '.')) {
			return (false);
		}
	}
	return (true);
}

static int
compile(struct gw_router *r, struct gw_route *rt, char *err, size_t err_len)
{
	const char *p = rt->def->path;

	if (p[0] != '/') {
		snprintf(err, err_len, "%s: the path must start with '/'",
		    rt->def->rpc);
		return (-1);
	}
	p++;
	while (*p != '\0' || rt->n_seg == 0) {
		const char *end = strchr(p, '/');
		size_t      len = end != NULL ? (size_t) (end - p) : strlen(p);
		char       *text = arena_strndup(&r->arena, p, len);
		struct gw_segment *s;

		if (text == NULL || rt->n_seg == GW_MAX_SEGMENTS) {
			snprintf(err, err_len, "%s: too many segments in %s",
			    rt->def->rpc, rt->def->path);
			return (-1);
		}
		s = &rt->seg[rt->n_seg++];
		if (len >= 2 && text[0] == '{' && text[len - 1] == '}') {
			text[len - 1] = '\0';
			s->field = text + 1;
			if (!field_ok(s->field)) {
				snprintf(err, err_len, "%s: bad capture {%s}",
				    rt->def->rpc, s->field);
				return (-1);
			}
		} else {
			for (size_t i = 0; i < len; i++) {
				if (!literal_char_ok(text[i])) {
					snprintf(err, err_len,
					    "%s: bad segment \"%s\"",
					    rt->def->rpc, text);
					return (-1);
				}
			}
			if (len == 0) {
				snprintf(err, err_len,
				    "%s: empty segment in %s", rt->def->rpc,
				    rt->def->path);
				return (-1);
			}
			s->literal = text;
		}
		if (end == NULL) {
			break;
		}
		p = end + 1;
	}
	rt->name
	    = arena_printf(&r->arena, "%s %s", rt->def->verb, rt->def->path);
	return (rt->name != NULL ? 0 : -1);
}

static bool
same_shape(const struct gw_route *a, const struct gw_route *b)
{
	if (a->n_seg != b->n_seg || strcmp(a->def->verb, b->def->verb) != 0) {
		return (false);
	}
	for (int i = 0; i < a->n_seg; i++) {
		if ((a->seg[i].literal == NULL)
		    != (b->seg[i].literal == NULL)) {
			return (false);
		}
		if (a->seg[i].literal != NULL
		    && strcmp(a->seg[i].literal, b->seg[i].literal) != 0) {
			return (false);
		}
	}
	return (true);
}

int
gw_router_init(struct gw_router *r, const struct gw_route_def *defs, size_t n,
    char *err, size_t err_len)
{
	memset(r, 0, sizeof(*r));
	arena_init(&r->arena);
	r->routes
	    = arena_alloc(&r->arena, (n > 0 ? n : 1) * sizeof(*r->routes));
	if (r->routes == NULL) {
		snprintf(err, err_len, "out of memory");
		return (-1);
	}
	memset(r->routes, 0, (n > 0 ? n : 1) * sizeof(*r->routes));
	for (size_t i = 0; i < n; i++) {
		struct gw_route *rt = &r->routes[i];
		int              caps = 0;

		rt->def = &defs[i];
		rt->index = i;
		if (compile(r, rt, err, err_len) != 0) {
			gw_router_fini(r);
			return (-1);
		}
		for (int s = 0; s < rt->n_seg; s++) {
			caps += rt->seg[s].literal == NULL;
		}
		if (caps > GW_MAX_CAPTURES) {
			snprintf(err, err_len, "%s: too many captures",
			    defs[i].rpc);
			gw_router_fini(r);
			return (-1);
		}
		for (size_t j = 0; j < i; j++) {
			if (same_shape(&r->routes[j], rt)) {
				snprintf(err, err_len,
				    "%s and %s both route %s",
				    r->routes[j].def->rpc, defs[i].rpc,
				    rt->name);
				gw_router_fini(r);
				return (-1);
			}
		}
		r->n = i + 1;
	}
	return (0);
}

void
gw_router_fini(struct gw_router *r)
{
	arena_fini(&r->arena);
	r->routes = NULL;
	r->n = 0;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9') {
		return (c - '0');
	}
	if (c >= 'a' && c <= 'f') {
		return (c - 'a' + 10);
	}
	if (c >= 'A' && c <= 'F') {
		return (c - 'A' + 10);
	}
	return (-1);
}

char *
gw_pct_decode(const char *s, size_t len, struct arena *a)
{
	char  *out = arena_alloc(a, len + 1);
	size_t o = 0;

	if (out == NULL) {
		return (NULL);
	}
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%') {
			int hi, lo;
			if (i + 2 >= len) {
				return (NULL);
			}
			hi = hexval(s[i + 1]);
			lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				return (NULL);
			}
			out[o++] = (char) (hi << 4 | lo);
			i += 2;
		} else if (s[i] == '\0') {
			return (NULL);
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return (out);
}

/* Splits raw_path into segments (pointers into it and lengths). */
static int
split(const char *raw, const char **seg, size_t *len)
{
	int n = 0;

	if (raw[0] != '/') {
		return (-1);
	}
	raw++;
	for (;;) {
		const char *end = strchr(raw, '/');
		if (n == GW_MAX_SEGMENTS) {
			return (-1);
		}
		seg[n] = raw;
		len[n] = end != NULL ? (size_t) (end - raw) : strlen(raw);
		n++;
		if (end == NULL) {
			return (n);
		}
		raw = end + 1;
	}
}

/* True if route rt has the shape of the decoded segments. */
static bool
shape_matches(const struct gw_route *rt, char *const *dec, int n)
{
	if (rt->n_seg != n) {
		return (false);
	}
	for (int i = 0; i < n; i++) {
		if (rt->seg[i].literal != NULL) {
			if (strcmp(rt->seg[i].literal, dec[i]) != 0) {
				return (false);
			}
		} else if (dec[i][0] == '\0') {
			return (false);
		}
	}
	return (true);
}

/* Negative when a is more specific than b: a literal where b captures,
 * leftmost difference first. */
static int
specificity_cmp(const struct gw_route *a, const struct gw_route *b)
{
	for (int i = 0; i < a->n_seg && i < b->n_seg; i++) {
		bool la = a->seg[i].literal != NULL;
		bool lb = b->seg[i].literal != NULL;
		if (la != lb) {
			return (la ? -1 : 1);
		}
	}
	return (0);
}

static void
allow_add(struct gw_match *m, const char *verb)
{
	size_t n = strlen(m->allow);

	if (strstr(m->allow, verb) != NULL) {
		return;
	}
	snprintf(m->allow + n, sizeof(m->allow) - n, "%s%s", n > 0 ? ", " : "",
	    verb);
}

enum gw_match_result
gw_router_match(const struct gw_router *r, const char *verb,
    const char *raw_path, struct arena *a, struct gw_match *m)
{
	const char            *seg[GW_MAX_SEGMENTS];
	size_t                 len[GW_MAX_SEGMENTS];
	char                  *dec[GW_MAX_SEGMENTS];
	const struct gw_route *best = NULL;
	int                    n;

	memset(m, 0, sizeof(*m));
	if (strcmp(verb, "HEAD") == 0) {
		verb = "GET";
	}
	if ((n = split(raw_path, seg, len)) < 0) {
		return (GW_MATCH_NOT_FOUND);
	}
	for (int i = 0; i < n; i++) {
		if ((dec[i] = gw_pct_decode(seg[i], len[i], a)) == NULL) {
			return (GW_MATCH_BAD_PATH);
		}
	}
	for (size_t i = 0; i < r->n; i++) {
		const struct gw_route *rt = &r->routes[i];
		if (!shape_matches(rt, dec, n)) {
			continue;
		}
		if (strcmp(rt->def->verb, verb) != 0) {
			allow_add(m, rt->def->verb);
			continue;
		}
		if (best == NULL || specificity_cmp(rt, best) < 0) {
			best = rt;
		}
	}
	if (best == NULL) {
		if (m->allow[0] != '\0') {
			if (strstr(m->allow, "GET") != NULL) {
				allow_add(m, "HEAD");
			}
			return (GW_MATCH_BAD_METHOD);
		}
		return (GW_MATCH_NOT_FOUND);
	}
	m->route = best;
	for (int i = 0; i < n; i++) {
		if (best->seg[i].literal == NULL) {
			m->cap[m->n_cap].field = best->seg[i].field;
			m->cap[m->n_cap].value = dec[i];
			m->n_cap++;
		}
	}
	return (GW_MATCH_OK);
}
