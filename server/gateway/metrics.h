/*
 * The gateway's view of its traffic for GET /metrics (Prometheus text
 * format 0.0.4): requests and latency by route, RPC method and HTTP status,
 * connections open and requests in flight, plus the database figures of
 * OpsService/GetMetrics rendered beside them.
 */
#ifndef OPSBUS_GATEWAY_METRICS_H
#define OPSBUS_GATEWAY_METRICS_H

#include <stddef.h>

#include "gateway/router.h"
#include "opsbus/v1/ops.pb-c.h"

/* Pseudo-routes for what no generated route serves. */
enum gw_metrics_slot {
	GW_SLOT_UNMATCHED = 0, /* 404, 405, bad path */
	GW_SLOT_METRICS,       /* GET /metrics */
	GW_SLOT_OPENAPI,       /* GET /openapi.json */
	GW_SLOT_COUNT_
};

struct gw_metrics;

/* Counters for the routes of r. Returns 0 and writes *out, or -1 (memory). */
int gw_metrics_alloc(const struct gw_router *r, struct gw_metrics **out);
/* NULL does nothing. */
void gw_metrics_free(struct gw_metrics *m);

/*
 * Counts one answered request: route (NULL for a pseudo-route, then slot
 * says which), HTTP status and seconds from the request's arrival to its
 * answer being queued. Thread-safe.
 */
void gw_metrics_observe(struct gw_metrics *m, const struct gw_route *route,
    enum gw_metrics_slot slot, unsigned status, double seconds);

/* Open connections and requests waiting for the RPC server (gauges). */
void gw_metrics_connections(struct gw_metrics *m, int delta);
void gw_metrics_in_flight(struct gw_metrics *m, int delta);

/*
 * The Prometheus text of everything counted so far, and of db when not
 * NULL (else opsbus_database_metrics_up 0). Returns a malloc'd string
 * (*len bytes, NUL-terminated) or NULL when out of memory.
 */
char *gw_metrics_render(struct gw_metrics *m,
    const Opsbus__V1__GetMetricsResponse *db, size_t *len);

#endif
