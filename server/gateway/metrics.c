/*
 * Counters behind one mutex: an observation is a few additions, far below
 * the cost of the RPC round trip each request makes, so contention does not
 * show. Each route keeps a short list of the HTTP statuses it answered;
 * a route answering more distinct statuses than fit counts the extra ones
 * under status "other".
 */
#include "gateway/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GW_STATUSES_PER_ROUTE 12

static const double bucket_bounds[]
    = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define GW_BUCKETS (sizeof(bucket_bounds) / sizeof(bucket_bounds[0]))

struct gw_status_stats {
	unsigned           status; /* 0: unused; 1: "other" */
	unsigned long long count;
	double             sum;
	unsigned long long bucket[GW_BUCKETS];
};

struct gw_route_stats {
	const char            *route;
	const char            *method;
	struct gw_status_stats st[GW_STATUSES_PER_ROUTE];
};

struct gw_metrics {
	pthread_mutex_t        mtx;
	size_t                 n;
	struct gw_route_stats *routes;
	long                   connections;
	long                   in_flight;
};

int
gw_metrics_alloc(const struct gw_router *r, struct gw_metrics **out)
{
	static const char *const pseudo[GW_SLOT_COUNT_][2] = {
	    {"unmatched", ""},
	    {"GET /metrics", ""},
	    {"GET /openapi.json", ""},
	};
	struct gw_metrics *m = calloc(1, sizeof(*m));

	if (m == NULL) {
		return (-1);
	}
	m->n = GW_SLOT_COUNT_ + r->n;
	if ((m->routes = calloc(m->n, sizeof(*m->routes))) == NULL) {
		free(m);
		return (-1);
	}
	for (size_t i = 0; i < GW_SLOT_COUNT_; i++) {
		m->routes[i].route = pseudo[i][0];
		m->routes[i].method = pseudo[i][1];
	}
	for (size_t i = 0; i < r->n; i++) {
		m->routes[GW_SLOT_COUNT_ + i].route = r->routes[i].name;
		m->routes[GW_SLOT_COUNT_ + i].method = r->routes[i].def->rpc;
	}
	pthread_mutex_init(&m->mtx, NULL);
	*out = m;
	return (0);
}

void
gw_metrics_free(struct gw_metrics *m)
{
	if (m == NULL) {
		return;
	}
	pthread_mutex_destroy(&m->mtx);
	free(m->routes);
	free(m);
}

void
gw_metrics_observe(struct gw_metrics *m, const struct gw_route *route,
    enum gw_metrics_slot slot, unsigned status, double seconds)
{
	size_t i
	    = route != NULL ? GW_SLOT_COUNT_ + route->index : (size_t) slot;
	struct gw_status_stats *s = NULL;

	if (i >= m->n) {
		return;
	}
	pthread_mutex_lock(&m->mtx);
	for (int k = 0; k < GW_STATUSES_PER_ROUTE; k++) {
		struct gw_status_stats *c = &m->routes[i].st[k];
		if (c->status == status || c->status == 0) {
			c->status = status;
			s = c;
			break;
		}
	}
	if (s == NULL) {
		s = &m->routes[i].st[GW_STATUSES_PER_ROUTE - 1];
		s->status = 1;
	}
	s->count++;
	s->sum += seconds;
	for (size_t b = 0; b < GW_BUCKETS; b++) {
		if (seconds <= bucket_bounds[b]) {
			s->bucket[b]++;
		}
	}
	pthread_mutex_unlock(&m->mtx);
}

void
gw_metrics_connections(struct gw_metrics *m, int delta)
{
	pthread_mutex_lock(&m->mtx);
	m->connections += delta;
	pthread_mutex_unlock(&m->mtx);
}

void
gw_metrics_in_flight(struct gw_metrics *m, int delta)
{
	pthread_mutex_lock(&m->mtx);
	m->in_flight += delta;
	pthread_mutex_unlock(&m->mtx);
}

/* A growing text buffer; on failure it stays failed and empty. */
struct text {
	char  *s;
	size_t len, cap;
	bool   failed;
};

static void text_add(struct text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
text_add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int     n;

	if (t->failed) {
		return;
	}
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = true;
			return;
		}
		if (t->len + (size_t) n < t->cap) {
			t->len += (size_t) n;
			return;
		}
		char *p = realloc(t->s, t->cap * 2 + (size_t) n + 1);
		if (p == NULL) {
			t->failed = true;
			return;
		}
		t->s = p;
		t->cap = t->cap * 2 + (size_t) n + 1;
	}
}

/* A label value with \, " and newline escaped (into buf). */
static const char *
label(const char *v, char *buf, size_t len)
{
	size_t o = 0;

	for (; v != NULL && *v != '\0' && o + 3 < len; v++) {
		if (*v == '\\' || *v == '"') {
			buf[o++] = '\\';
			buf[o++] = *v;
		} else if (*v == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else {
			buf[o++] = *v;
		}
	}
	buf[o] = '\0';
	return (buf);
}

static void
render_http(struct gw_metrics *m, struct text *t)
{
	char r[256], meth[256], code[16];

	text_add(t,
	    "# HELP opsbus_http_requests_total HTTP requests answered by the "
	    "gateway, by route, RPC method and status.\n"
	    "# TYPE opsbus_http_requests_total counter\n");
	for (size_t i = 0; i < m->n; i++) {
		for (int k = 0; k < GW_STATUSES_PER_ROUTE; k++) {
			const struct gw_status_stats *s = &m->routes[i].st[k];
			if (s->status == 0) {
				break;
			}
			snprintf(code, sizeof(code),
			    s->status == 1 ? "other" : "%u", s->status);
			text_add(t,
			    "opsbus_http_requests_total{route=\"%s\","
			    "method=\"%s\",code=\"%s\"} %llu\n",
			    label(m->routes[i].route, r, sizeof(r)),
			    label(m->routes[i].method, meth, sizeof(meth)),
			    code, s->count);
		}
	}
	text_add(t,
	    "# HELP opsbus_http_request_duration_seconds Time from a "
	    "request's "
	    "arrival to its answer, by route, RPC method and status.\n"
	    "# TYPE opsbus_http_request_duration_seconds histogram\n");
	for (size_t i = 0; i < m->n; i++) {
		label(m->routes[i].route, r, sizeof(r));
		label(m->routes[i].method, meth, sizeof(meth));
		for (int k = 0; k < GW_STATUSES_PER_ROUTE; k++) {
			const struct gw_status_stats *s = &m->routes[i].st[k];
			if (s->status == 0) {
				break;
			}
			snprintf(code, sizeof(code),
			    s->status == 1 ? "other" : "%u", s->status);
			for (size_t b = 0; b < GW_BUCKETS; b++) {
				text_add(t,
				    "opsbus_http_request_duration_seconds_"
				    "bucket{"
				    "route=\"%s\",method=\"%s\",code=\"%s\","
				    "le=\"%g\"} %llu\n",
				    r, meth, code, bucket_bounds[b],
				    s->bucket[b]);
			}
			text_add(t,
			    "opsbus_http_request_duration_seconds_bucket{"
			    "route="
			    "\"%s\",method=\"%s\",code=\"%s\",le=\"+Inf\"} "
			    "%llu\n"
			    "opsbus_http_request_duration_seconds_sum{route="
			    "\"%s\","
			    "method=\"%s\",code=\"%s\"} %.6f\n"
			    "opsbus_http_request_duration_seconds_count{route="
			    "\"%s\",method=\"%s\",code=\"%s\"} %llu\n",
			    r, meth, code, s->count, r, meth, code, s->sum, r,
			    meth, code, s->count);
		}
	}
	text_add(t,
	    "# HELP opsbus_http_connections Open HTTP connections.\n"
	    "# TYPE opsbus_http_connections gauge\n"
	    "opsbus_http_connections %ld\n"
	    "# HELP opsbus_http_requests_in_flight Requests waiting for the "
	    "RPC "
	    "server.\n"
	    "# TYPE opsbus_http_requests_in_flight gauge\n"
	    "opsbus_http_requests_in_flight %ld\n",
	    m->connections, m->in_flight);
}

static void
render_db(const Opsbus__V1__GetMetricsResponse *db, struct text *t)
{
	char q[160], s[160], c[160];

	text_add(t,
	    "# HELP opsbus_database_metrics_up Whether the database figures "
	    "below could be read.\n"
	    "# TYPE opsbus_database_metrics_up gauge\n"
	    "opsbus_database_metrics_up %d\n",
	    db != NULL);
	if (db == NULL) {
		return;
	}
	text_add(t,
	    "# HELP opsbus_queue_jobs Jobs by queue and state.\n"
	    "# TYPE opsbus_queue_jobs gauge\n");
	for (size_t i = 0; i < db->n_queue_depth; i++) {
		text_add(t,
		    "opsbus_queue_jobs{queue=\"%s\",state=\"%s\"} %lld\n",
		    label(db->queue_depth[i]->queue, q, sizeof(q)),
		    label(db->queue_depth[i]->state, s, sizeof(s)),
		    (long long) db->queue_depth[i]->count);
	}
	text_add(t,
	    "# HELP opsbus_queue_ready_jobs Jobs ready to claim now, by "
	    "queue.\n"
	    "# TYPE opsbus_queue_ready_jobs gauge\n");
	for (size_t i = 0; i < db->n_ready; i++) {
		text_add(t, "opsbus_queue_ready_jobs{queue=\"%s\"} %lld\n",
		    label(db->ready[i]->queue, q, sizeof(q)),
		    (long long) db->ready[i]->ready);
	}
	text_add(t,
	    "# HELP opsbus_queue_oldest_ready_age_seconds Age of the oldest "
	    "job ready to claim, by queue.\n"
	    "# TYPE opsbus_queue_oldest_ready_age_seconds gauge\n");
	for (size_t i = 0; i < db->n_ready; i++) {
		text_add(t,
		    "opsbus_queue_oldest_ready_age_seconds{queue=\"%s\"} "
		    "%.3f\n",
		    label(db->ready[i]->queue, q, sizeof(q)),
		    db->ready[i]->oldest_ready_age_seconds);
	}
	text_add(t,
	    "# HELP opsbus_dead_letters Dead letters by queue, failure "
	    "category and operator status.\n"
	    "# TYPE opsbus_dead_letters gauge\n");
	for (size_t i = 0; i < db->n_dead_letters; i++) {
		const Opsbus__V1__DeadLetterCount *d = db->dead_letters[i];
		text_add(t,
		    "opsbus_dead_letters{queue=\"%s\",category=\"%s\","
		    "operator_status=\"%s\"} %lld\n",
		    label(d->queue, q, sizeof(q)),
		    label(d->category, c, sizeof(c)),
		    label(d->operator_status, s, sizeof(s)),
		    (long long) d->count);
	}
	text_add(t,
	    "# HELP opsbus_events_unpublished Outbox events not yet "
	    "published.\n"
	    "# TYPE opsbus_events_unpublished gauge\n"
	    "opsbus_events_unpublished %lld\n"
	    "# HELP opsbus_events_oldest_unpublished_age_seconds Age of the "
	    "oldest of them.\n"
	    "# TYPE opsbus_events_oldest_unpublished_age_seconds gauge\n"
	    "opsbus_events_oldest_unpublished_age_seconds %.3f\n",
	    (long long) db->unpublished_events,
	    db->oldest_unpublished_age_seconds);
}

char *
gw_metrics_render(struct gw_metrics      *m,
    const Opsbus__V1__GetMetricsResponse *db, size_t *len)
{
	struct text t = {NULL, 0, 0, false};

	t.cap = 16384;
	if ((t.s = malloc(t.cap)) == NULL) {
		return (NULL);
	}
	t.s[0] = '\0';
	pthread_mutex_lock(&m->mtx);
	render_http(m, &t);
	pthread_mutex_unlock(&m->mtx);
	render_db(db, &t);
	if (t.failed) {
		free(t.s);
		return (NULL);
	}
	*len = t.len;
	return (t.s);
}
