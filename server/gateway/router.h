/*
 * Matching an HTTP request to a route. Templates are compiled once at start
 * (gw_router_init checks them). A request path is split on '/' first and
 * each segment percent-decoded after, so "%2F" inside a capture stays part
 * of that capture and never splits the path (the nng 1.5.2 HTTP server
 * decodes before routing; DESIGN.md).
 */
#ifndef OPSBUS_GATEWAY_ROUTER_H
#define OPSBUS_GATEWAY_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "gateway/routes.h"

#define GW_MAX_SEGMENTS 16
#define GW_MAX_CAPTURES 8

struct gw_segment {
	/* The literal text, or NULL for a capture. */
	const char *literal;
	/* The captured field (a proto name, maybe dotted), for a capture. */
	const char *field;
};

struct gw_route {
	const struct gw_route_def *def;
	/* Its position in the router, for metrics. */
	size_t            index;
	struct gw_segment seg[GW_MAX_SEGMENTS];
	int               n_seg;
	/* "GET /api/v1/jobs/{id}", for logs and metrics. */
	const char *name;
};

struct gw_router {
	struct gw_route *routes;
	size_t           n;
	/* Every string the routes point into. */
	struct arena arena;
};

struct gw_capture {
	const char *field;
	/* Percent-decoded, NUL-terminated, in the caller's arena. */
	const char *value;
};

struct gw_match {
	const struct gw_route *route;
	struct gw_capture      cap[GW_MAX_CAPTURES];
	int                    n_cap;
	/* For 405: the verbs the path accepts ("GET, POST"). */
	char allow[64];
};

enum gw_match_result {
	GW_MATCH_OK = 0,
	/* No template has this path. */
	GW_MATCH_NOT_FOUND,
	/* Templates have the path, none with this verb (m->allow says). */
	GW_MATCH_BAD_METHOD,
	/* A segment has a bad percent-escape or decodes to a NUL. */
	GW_MATCH_BAD_PATH,
};

/*
 * Compiles the n route definitions. Returns 0, or -1 with the reason in err
 * (a template that is not "/" + segments of literals and {field}, too
 * many segments or captures, two routes with the same verb and shape).
 */
int gw_router_init(struct gw_router *r, const struct gw_route_def *defs,
    size_t n, char *err, size_t err_len);
/* Frees what gw_router_init made. */
void gw_router_fini(struct gw_router *r);

/*
 * Finds the route for verb (HEAD matches GET routes) and raw_path (the path
 * as sent, without the query string, not decoded). On GW_MATCH_OK fills m,
 * with captures decoded into a. Among several matching templates the one
 * with a literal where the others capture, leftmost first, wins
 * ("/jobs/stats" over "/jobs/{id}").
 */
enum gw_match_result gw_router_match(const struct gw_router *r,
    const char *verb, const char *raw_path, struct arena *a,
    struct gw_match *m);

/*
 * Percent-decodes s[0..len) into a new string in a ("+" stays "+": only
 * query strings use it for spaces). Returns it, or NULL for a bad escape,
 * a decoded NUL, or no memory.
 */
char *gw_pct_decode(const char *s, size_t len, struct arena *a);

#endif
