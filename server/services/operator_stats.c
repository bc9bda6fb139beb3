/*
 * Seed 004's dead-letter views and monitoring figures: GetDeadLetterStats,
 * ListReplayEligible and GetOperatorMetrics (operator actions, replay
 * outcomes, dead-letter depth, and the three alert rules evaluated against
 * the thresholds of operator_config.h).
 *
 * The dead-letter depth is the number of dead_failed jobs not replayed
 * yet (seed 004: "WHERE replayed_at IS NULL"), acknowledged or not. A
 * failure category left empty by the worker counts as "uncategorized".
 */
#include <stdio.h>
#include <string.h>

#include "opsbus/v1/operator.pb-c.h"
#include "opsbus/v1/queue.pb-c.h"
#include "services/handlers.h"
#include "services/lookup.h"
#include "services/operator_config.h"
#include "services/operator_view.h"
#include "services/validate.h"
#include "store/db.h"

#define CATEGORY "coalesce(nullif(failure_category, ''), 'uncategorized')"

/* Row 'a': the totals; rows 'c': the depth by category. */
static const struct db_stmt stmt_stats = {"operator_dead_letter_stats",
    "SELECT 'a', '', count(*), count(*) FILTER (WHERE replayed_job_id IS "
    "NULL), count(*) FILTER (WHERE replayed_job_id IS NOT NULL), "
    "count(*) FILTER (WHERE replayed_job_id IS NULL AND replay_eligible), "
    "count(*) FILTER (WHERE operator_status = 'open'), count(*) FILTER "
    "(WHERE operator_status = 'acknowledged') FROM jobs WHERE status = "
    "'dead_failed' AND ($1 = '' OR tenant = $1) AND ($2 = '' OR queue = $2) "
    "UNION ALL SELECT 'c', " CATEGORY ", count(*), 0, 0, 0, 0, 0 FROM jobs "
    "WHERE status = 'dead_failed' AND replayed_job_id IS NULL AND "
    "($1 = '' OR tenant = $1) AND ($2 = '' OR queue = $2) GROUP BY 2"};

static const struct db_stmt stmt_eligible = {"operator_replay_eligible",
    "SELECT id, subject, queue, target, coalesce(failure_category, ''), "
    "coalesce(last_error, ''), upper(coalesce(reason_code, '')), attempts, "
    "" SQL_TS("final_state_at") ", coalesce(operator_status, '') FROM jobs "
                                "WHERE status = 'dead_failed' AND "
                                "replayed_job_id IS NULL AND "
                                "replay_eligible AND ($1 = '' OR " CATEGORY
                                " = $1) AND ($2 = '' OR "
                                "queue = $2) AND ($3 = '' OR tenant = $3) "
                                "ORDER BY final_state_at, id "
                                "LIMIT $4::int"};

/*
 * Rows of (section, key, count): 'a' audit rows of the window by action
 * type, 'n' operator commands of the window (the items of bulk replays
 * left out), 'r' replays of the window by outcome, 'd' the dead-letter
 * depth by category now, 't' the window's start. The audit log has no
 * tenant: its figures cover every tenant.
 */
static const struct db_stmt stmt_metrics = {"operator_metrics",
    "WITH w AS (SELECT now() - $1::int * interval '1 hour' AS since) "
    "SELECT 'a', action_type, count(*) FROM operator_audit_log, w WHERE "
    "performed_at >= w.since GROUP BY action_type "
    "UNION ALL SELECT 'n', '', count(*) FROM operator_audit_log, w WHERE "
    "performed_at >= w.since AND NOT (action_type = 'controlled_replay' "
    "AND operation_id IS NOT NULL) "
    "UNION ALL SELECT 'r', CASE WHEN r.status = 'succeeded' THEN 'success' "
    "WHEN r.status IN ('dead_failed', 'cancelled', 'aborted') THEN "
    "'failed' ELSE 'pending' END, count(*) FROM jobs o JOIN jobs r ON "
    "r.id = o.replayed_job_id, w WHERE o.replayed_at >= w.since AND "
    "($2 = '' OR o.tenant = $2) GROUP BY 2 "
    "UNION ALL SELECT 'd', " CATEGORY ", count(*) FROM jobs WHERE status = "
    "'dead_failed' AND replayed_job_id IS NULL AND ($2 = '' OR tenant = "
    "$2) GROUP BY 2 "
    "UNION ALL SELECT 't', " SQL_TS("w.since") ", 0 FROM w"};

static opsbus_err
check_name(struct rpc_call *call, const char *field, const char *v)
{
	if (!valid_name_or_empty(v)) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "%s is up to 64 characters of letters, digits, '.', '_', "
		    "'-', ':' and '/'",
		    field));
	}
	return (OPSBUS_E_OK);
}

opsbus_err
operator_dead_letter_stats(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__GetDeadLetterStatsRequest *in
	    = (const Opsbus__V1__GetDeadLetterStatsRequest *) inm;
	Opsbus__V1__GetDeadLetterStatsResponse *out
	    = (Opsbus__V1__GetDeadLetterStatsResponse *) outm;
	const char     *p[2] = {call->who->tenant, in->queue};
	struct db_rows *rows;
	opsbus_err      err;
	int             n;

	if ((err = check_name(call, "queue", in->queue)) != OPSBUS_E_OK
	    || (err = db_exec(call->db, &stmt_stats, 2, p, &rows))
	        != OPSBUS_E_OK) {
		return (err);
	}
	n = db_rows_count(rows);
	out->depth_by_category = call_array(
	    call, (size_t) n + 1, sizeof(*out->depth_by_category));
	for (int r = 0; out->depth_by_category != NULL && r < n; r++) {
		if (db_rows_get(rows, r, 0)[0] == 'a') {
			out->total = (int32_t) db_rows_int(rows, r, 2);
			out->not_replayed = (int32_t) db_rows_int(rows, r, 3);
			out->replayed = (int32_t) db_rows_int(rows, r, 4);
			out->replay_eligible
			    = (int32_t) db_rows_int(rows, r, 5);
			out->open = (int32_t) db_rows_int(rows, r, 6);
			out->acknowledged = (int32_t) db_rows_int(rows, r, 7);
			continue;
		}
		out->depth_by_category[out->n_depth_by_category]
		    = view_count_entry(call,
		        &opsbus__v1__get_dead_letter_stats_response__depth_by_category_entry__descriptor,
		        db_rows_get(rows, r, 1), db_rows_int(rows, r, 2));
		if (out->depth_by_category[out->n_depth_by_category++]
		    == NULL) {
			err = OPSBUS_E_INTERNAL;
			break;
		}
	}
	db_rows_free(rows);
	return (out->depth_by_category != NULL ? err : OPSBUS_E_INTERNAL);
}

opsbus_err
operator_list_replay_eligible(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__ListReplayEligibleRequest *in
	    = (const Opsbus__V1__ListReplayEligibleRequest *) inm;
	Opsbus__V1__ListReplayEligibleResponse *out
	    = (Opsbus__V1__ListReplayEligibleResponse *) outm;
	int             limit = 50;
	char            limit_s[16];
	const char     *p[4];
	struct db_rows *rows;
	opsbus_err      err;
	int             n;

	if ((err = check_name(call, "failure_category", in->failure_category))
	        != OPSBUS_E_OK
	    || (err = check_name(call, "queue", in->queue)) != OPSBUS_E_OK) {
		return (err);
	}
	if ((err = call_limit(call,
	         in->limit_value_case
	             == OPSBUS__V1__LIST_REPLAY_ELIGIBLE_REQUEST__LIMIT_VALUE_LIMIT,
	         in->limit, 50, 500, &limit))
	    != OPSBUS_E_OK) {
		return (err);
	}
	snprintf(limit_s, sizeof(limit_s), "%d", limit);
	p[0] = in->failure_category;
	p[1] = in->queue;
	p[2] = call->who->tenant;
	p[3] = limit_s;
	if ((err = db_exec(call->db, &stmt_eligible, 4, p, &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	n = db_rows_count(rows);
	out->entries = call_array(call, (size_t) n + 1, sizeof(*out->entries));
	for (int r = 0; out->entries != NULL && r < n; r++) {
		Opsbus__V1__ReplayEligibleEntry *e
		    = (Opsbus__V1__ReplayEligibleEntry *) call_new(
		        call, &opsbus__v1__replay_eligible_entry__descriptor);
		if (e == NULL) {
			break;
		}
		e->id = call_strdup(call, db_rows_get(rows, r, 0));
		e->note_id = call_strdup(call, db_rows_get(rows, r, 1));
		e->queue = call_strdup(call, db_rows_get(rows, r, 2));
		e->target = call_strdup(call, db_rows_get(rows, r, 3));
		e->failure_category
		    = call_strdup(call, db_rows_get(rows, r, 4));
		e->failure_reason = call_strdup(call, db_rows_get(rows, r, 5));
		e->reason_code = call_strdup(call, db_rows_get(rows, r, 6));
		e->attempts = (int32_t) db_rows_int(rows, r, 7);
		e->dead_lettered_at
		    = call_strdup(call, db_rows_get(rows, r, 8));
		e->operator_status
		    = call_strdup(call, db_rows_get(rows, r, 9));
		out->entries[out->n_entries++] = e;
	}
	db_rows_free(rows);
	return (
	    out->n_entries == (size_t) n ? OPSBUS_E_OK : OPSBUS_E_INTERNAL);
}

static Opsbus__V1__AlertRule *
alert(struct rpc_call *call, const char *name, const char *condition,
    double value, double threshold, bool can_fire)
{
	Opsbus__V1__AlertRule *a = (Opsbus__V1__AlertRule *) call_new(
	    call, &opsbus__v1__alert_rule__descriptor);

	if (a != NULL) {
		a->name = call_strdup(call, name);
		a->condition = call_strdup(call, condition);
		a->value = value;
		a->threshold = threshold;
		a->firing = can_fire && value > threshold;
	}
	return (a);
}

/* Fills the figures from the rows of stmt_metrics. */
static opsbus_err
metrics_fill(struct rpc_call *call, const struct db_rows *rows,
    Opsbus__V1__GetOperatorMetricsResponse *out)
{
	Opsbus__V1__ReplayOutcomes *ro = out->replay_outcomes;
	int                         n = db_rows_count(rows);

	out->actions_by_type
	    = call_array(call, (size_t) n + 1, sizeof(*out->actions_by_type));
	out->dead_letter_depth_by_category = call_array(
	    call, (size_t) n + 1, sizeof(*out->dead_letter_depth_by_category));
	if (out->actions_by_type == NULL
	    || out->dead_letter_depth_by_category == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	for (int r = 0; r < n; r++) {
		char        sec = db_rows_get(rows, r, 0)[0];
		const char *key = db_rows_get(rows, r, 1);
		int64_t     v = db_rows_int(rows, r, 2);
		void      **slot = NULL;

		if (sec == 'a') {
			slot = (void **) &out
			           ->actions_by_type[out->n_actions_by_type++];
			*slot = view_count_entry(call,
			    &opsbus__v1__get_operator_metrics_response__actions_by_type_entry__descriptor,
			    key, v);
		} else if (sec == 'd') {
			out->dead_letter_depth += (int32_t) v;
			slot = (void **) &out->dead_letter_depth_by_category
			           [out->n_dead_letter_depth_by_category++];
			*slot = view_count_entry(call,
			    &opsbus__v1__get_operator_metrics_response__dead_letter_depth_by_category_entry__descriptor,
			    key, v);
		} else if (sec == 'n') {
			out->actions_total = (int32_t) v;
		} else if (sec == 'r') {
			if (strcmp(key, "success") == 0) {
				ro->success = (int32_t) v;
			} else if (strcmp(key, "failed") == 0) {
				ro->failed = (int32_t) v;
			} else {
				ro->pending = (int32_t) v;
			}
		} else if (sec == 't') {
			out->since = call_strdup(call, key);
		}
		if (slot != NULL && *slot == NULL) {
			return (OPSBUS_E_INTERNAL);
		}
	}
	ro->total = ro->success + ro->failed + ro->pending;
	if (ro->success + ro->failed > 0) {
		ro->success_rate = (double) ro->success
		    / (double) (ro->success + ro->failed);
		ro->failure_rate = (double) ro->failed
		    / (double) (ro->success + ro->failed);
	}
	out->action_rate_per_hour
	    = (double) out->actions_total / (double) out->window_hours;
	return (OPSBUS_E_OK);
}

/* Queue health, as QueueService/ListQueues answers it (queue.c). */
static opsbus_err
metrics_queues(
    struct rpc_call *call, Opsbus__V1__GetOperatorMetricsResponse *out)
{
	Opsbus__V1__ListQueuesResponse *q
	    = (Opsbus__V1__ListQueuesResponse *) call_new(
	        call, &opsbus__v1__list_queues_response__descriptor);
	opsbus_err err;

	if (q == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	if ((err = queue_list(call, NULL, &q->base)) != OPSBUS_E_OK) {
		return (err);
	}
	out->queues = q->queues;
	out->n_queues = q->n_queues;
	return (OPSBUS_E_OK);
}

opsbus_err
operator_metrics(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__GetOperatorMetricsRequest *in
	    = (const Opsbus__V1__GetOperatorMetricsRequest *) inm;
	Opsbus__V1__GetOperatorMetricsResponse *out
	    = (Opsbus__V1__GetOperatorMetricsResponse *) outm;
	const struct operator_config *cfg = operator_config();
	char                          hours_s[16];
	const char                   *p[2];
	struct db_rows               *rows;
	opsbus_err                    err;
	Opsbus__V1__ReplayOutcomes   *ro;

	out->window_hours = 24;
	if (in->window_hours_value_case
	    == OPSBUS__V1__GET_OPERATOR_METRICS_REQUEST__WINDOW_HOURS_VALUE_WINDOW_HOURS) {
		if (in->window_hours < 1 || in->window_hours > 720) {
			return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
			    "windowHours must be between 1 and 720, got %d",
			    in->window_hours));
		}
		out->window_hours = in->window_hours;
	}
	ro = out->replay_outcomes = (Opsbus__V1__ReplayOutcomes *) call_new(
	    call, &opsbus__v1__replay_outcomes__descriptor);
	out->alerts = call_array(call, 3, sizeof(*out->alerts));
	out->firing = call_array(call, 3, sizeof(*out->firing));
	if (ro == NULL || out->alerts == NULL || out->firing == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	snprintf(hours_s, sizeof(hours_s), "%d", out->window_hours);
	p[0] = hours_s;
	p[1] = call->who->tenant;
	if ((err = db_exec(call->db, &stmt_metrics, 2, p, &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	err = metrics_fill(call, rows, out);
	db_rows_free(rows);
	if (err != OPSBUS_E_OK) {
		return (err);
	}
	out->alerts[0] = alert(call, "dead_letter_depth",
	    call_printf(
	        call, "dead-letter depth > %d", cfg->alert_dead_letter_depth),
	    out->dead_letter_depth, cfg->alert_dead_letter_depth, true);
	out->alerts[1] = alert(call, "operator_action_rate",
	    call_printf(call, "operator actions > %g per hour",
	        cfg->alert_actions_per_hour),
	    out->action_rate_per_hour, cfg->alert_actions_per_hour, true);
	out->alerts[2] = alert(call, "replay_failure_rate",
	    call_printf(call, "replay failure rate > %g%%",
	        cfg->alert_replay_failure_rate * 100.0),
	    ro->failure_rate, cfg->alert_replay_failure_rate,
	    ro->success + ro->failed > 0);
	for (size_t i = 0; i < 3; i++) {
		if (out->alerts[i] == NULL) {
			return (OPSBUS_E_INTERNAL);
		}
		out->n_alerts++;
		if (out->alerts[i]->firing) {
			out->firing[out->n_firing++] = out->alerts[i]->name;
		}
	}
	return (metrics_queues(call, out));
}
