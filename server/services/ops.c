/*
 * OpsService: read-only figures about the database for monitoring (the
 * gateway's GET /metrics renders them). Four small aggregate queries; the
 * ready and dead-letter ones use the partial indexes on job status. Scoped
 * to the caller key's tenant when it has one.
 */
#include <stdlib.h>
#include <string.h>

#include "opsbus/v1/ops.pb-c.h"
#include "services/event_view.h"
#include "services/handlers.h"
#include "store/db.h"

static const struct db_stmt stmt_depth = {"ops_depth",
    "SELECT queue, status, count(*) FROM jobs WHERE ($1 = '' OR tenant = "
    "$1) GROUP BY queue, status ORDER BY queue, status"};

static const struct db_stmt stmt_ready = {"ops_ready",
    "SELECT queue, count(*), extract(epoch FROM now() - min(run_at)) "
    "FROM jobs WHERE status IN ('queued', 'rerouted', 'retryable_failed') "
    "AND run_at <= now() AND ($1 = '' OR tenant = $1) GROUP BY queue "
    "ORDER BY queue"};

static const struct db_stmt stmt_dead = {"ops_dead",
    "SELECT queue, coalesce(failure_category, ''), coalesce(operator_status, "
    "'open'), count(*) FROM jobs WHERE status = 'dead_failed' AND "
    "($1 = '' OR tenant = $1) GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"};

static const struct db_stmt stmt_outbox = {"ops_outbox",
    "WITH u AS (" EVENT_UNPUBLISHED_SQL ") SELECT count(*), "
    "coalesce(extract(epoch FROM now() - min(created_at)), 0) FROM u"};

/* Runs stmt and makes one message of desc per row with fill. */
static opsbus_err
rows_to(struct rpc_call *call, const struct db_stmt *stmt,
    const ProtobufCMessageDescriptor *desc,
    void (*fill)(
        struct rpc_call *, ProtobufCMessage *, const struct db_rows *, int),
    void ***out, size_t *n)
{
	const char     *p[1] = {call->who->tenant};
	struct db_rows *rows;
	opsbus_err      err;
	int             count;

	if ((err = db_exec(call->db, stmt, 1, p, &rows)) != OPSBUS_E_OK) {
		return (err);
	}
	count = db_rows_count(rows);
	*out = call_array(call, (size_t) count + 1, sizeof(void *));
	for (int r = 0; *out != NULL && r < count; r++) {
		ProtobufCMessage *m = call_new(call, desc);
		if (m == NULL) {
			break;
		}
		fill(call, m, rows, r);
		(*out)[(*n)++] = m;
	}
	db_rows_free(rows);
	return (*out != NULL && *n == (size_t) count ? OPSBUS_E_OK
	                                             : OPSBUS_E_INTERNAL);
}

static void
fill_depth(struct rpc_call *call, ProtobufCMessage *m,
    const struct db_rows *rows, int r)
{
	Opsbus__V1__QueueStateCount *c = (Opsbus__V1__QueueStateCount *) m;

	c->queue = call_strdup(call, db_rows_get(rows, r, 0));
	c->state = call_strdup(call, db_rows_get(rows, r, 1));
	c->count = db_rows_int(rows, r, 2);
}

static void
fill_ready(struct rpc_call *call, ProtobufCMessage *m,
    const struct db_rows *rows, int r)
{
	Opsbus__V1__QueueReadyAge *c = (Opsbus__V1__QueueReadyAge *) m;

	c->queue = call_strdup(call, db_rows_get(rows, r, 0));
	c->ready = db_rows_int(rows, r, 1);
	c->oldest_ready_age_seconds = strtod(db_rows_get(rows, r, 2), NULL);
	if (c->oldest_ready_age_seconds < 0) {
		c->oldest_ready_age_seconds = 0;
	}
}

static void
fill_dead(struct rpc_call *call, ProtobufCMessage *m,
    const struct db_rows *rows, int r)
{
	Opsbus__V1__DeadLetterCount *c = (Opsbus__V1__DeadLetterCount *) m;

	c->queue = call_strdup(call, db_rows_get(rows, r, 0));
	c->category = call_strdup(call, db_rows_get(rows, r, 1));
	c->operator_status = call_strdup(call, db_rows_get(rows, r, 2));
	c->count = db_rows_int(rows, r, 3);
}

opsbus_err
ops_get_metrics(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	Opsbus__V1__GetMetricsResponse *out
	    = (Opsbus__V1__GetMetricsResponse *) outm;
	const char     *p[1] = {call->who->tenant};
	struct db_rows *rows;
	opsbus_err      err;

	(void) inm;
	if ((err = rows_to(call, &stmt_depth,
	         &opsbus__v1__queue_state_count__descriptor, fill_depth,
	         (void ***) &out->queue_depth, &out->n_queue_depth))
	        != OPSBUS_E_OK
	    || (err = rows_to(call, &stmt_ready,
	            &opsbus__v1__queue_ready_age__descriptor, fill_ready,
	            (void ***) &out->ready, &out->n_ready))
	        != OPSBUS_E_OK
	    || (err = rows_to(call, &stmt_dead,
	            &opsbus__v1__dead_letter_count__descriptor, fill_dead,
	            (void ***) &out->dead_letters, &out->n_dead_letters))
	        != OPSBUS_E_OK) {
		return (err);
	}
	if ((err = db_exec(call->db, &stmt_outbox, 1, p, &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	if (db_rows_count(rows) == 1) {
		out->unpublished_events = db_rows_int(rows, 0, 0);
		out->oldest_unpublished_age_seconds
		    = strtod(db_rows_get(rows, 0, 1), NULL);
	}
	db_rows_free(rows);
	return (OPSBUS_E_OK);
}
