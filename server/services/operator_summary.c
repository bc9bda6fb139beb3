/*
 * OperatorService reads of the dead-letter triage (seed 000 step A and B,
 * seed 001): GetStatusSummary and ListDeadLetters.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opsbus/v1/operator.pb-c.h"
#include "services/handlers.h"
#include "services/lookup.h"
#include "services/lifecycle.h"
#include "services/operator_view.h"
#include "services/validate.h"
#include "store/db.h"

/*
 * One round trip: rows of (section, key, count). Section 's' counts jobs
 * by status, 'o' dead letters by operator status, 'r' the failed attempts
 * of the window by retryability, 'c' the same by reason code; 't' carries
 * the window's start. $1 tenant, $2 queue ('' = all), $3 hours.
 */
static const struct db_stmt stmt_summary = {"operator_summary",
    "WITH w AS (SELECT now() - $3::int * interval '1 hour' AS since), "
    "a AS (SELECT a.retryable, upper(coalesce(nullif(a.reason_code, ''), "
    "'UNKNOWN')) AS code FROM job_attempts a JOIN jobs j ON j.id = "
    "a.job_id, w WHERE a.ended_at >= w.since AND a.to_status IN "
    "('retryable_failed', 'dead_failed') AND ($1 = '' OR j.tenant = $1) "
    "AND ($2 = '' OR j.queue = $2)) "
    "SELECT 's', status, count(*) FROM jobs WHERE ($1 = '' OR tenant = $1) "
    "AND ($2 = '' OR queue = $2) GROUP BY status "
    "UNION ALL SELECT 'o', operator_status, count(*) FROM jobs WHERE "
    "status = 'dead_failed' AND operator_status IS NOT NULL AND "
    "($1 = '' OR tenant = $1) AND ($2 = '' OR queue = $2) "
    "GROUP BY operator_status "
    "UNION ALL SELECT 'r', CASE WHEN retryable THEN 'retryable' WHEN NOT "
    "retryable THEN 'non_retryable' ELSE 'unknown' END, count(*) FROM a "
    "GROUP BY 2 "
    "UNION ALL SELECT 'c', code, count(*) FROM a GROUP BY code "
    "UNION ALL SELECT 't', " SQL_TS("w.since") ", 0 FROM w"};

static const struct db_stmt stmt_list = {"operator_dead_letters",
    "SELECT " WB_COLUMNS(
        "") " FROM jobs WHERE status = ANY($1::text[]) "
            "AND ($2 = '' OR upper(reason_code) = $2) AND ($3 = '' OR tenant "
            "= $3) "
            "AND ($4 = '' OR queue = $4) ORDER BY updated_at DESC, id DESC "
            "LIMIT $5::int"};

static opsbus_err
summary_fill(struct rpc_call *call, const struct db_rows *rows,
    Opsbus__V1__GetStatusSummaryResponse *out)
{
	Opsbus__V1__RecentFailures *rf = out->recent_failures;
	int                         n = db_rows_count(rows);

	out->counts_by_status = call_array(
	    call, JOB_STATE_COUNT, sizeof(*out->counts_by_status));
	rf->by_reason_code
	    = call_array(call, (size_t) n + 1, sizeof(*rf->by_reason_code));
	if (out->counts_by_status == NULL || rf->by_reason_code == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	/* Every status, zeros included, in the order of DESIGN.md. */
	for (int s = 0; s < JOB_STATE_COUNT; s++) {
		out->counts_by_status[s] = view_count_entry(call,
		    &opsbus__v1__get_status_summary_response__counts_by_status_entry__descriptor,
		    lifecycle_state_name((enum job_state) s), 0);
		if (out->counts_by_status[s] == NULL) {
			return (OPSBUS_E_INTERNAL);
		}
	}
	out->n_counts_by_status = JOB_STATE_COUNT;
	for (int r = 0; r < n; r++) {
		const char    *sec = db_rows_get(rows, r, 0);
		const char    *key = db_rows_get(rows, r, 1);
		int32_t        v = (int32_t) db_rows_int(rows, r, 2);
		enum job_state st;

		if (sec[0] == 's' && lifecycle_state_parse(key, &st) == 0) {
			out->counts_by_status[st]->value = v;
		} else if (sec[0] == 'o') {
			if (strcmp(key, "open") == 0) {
				out->dead_letter_operator_counts->open = v;
			} else if (strcmp(key, "acknowledged") == 0) {
				out->dead_letter_operator_counts->acknowledged
				    = v;
			}
		} else if (sec[0] == 'r') {
			rf->total += v;
			if (strcmp(key, "retryable") == 0) {
				rf->retryable = v;
			} else if (strcmp(key, "non_retryable") == 0) {
				rf->non_retryable = v;
			} else {
				rf->unknown = v;
			}
		} else if (sec[0] == 'c') {
			rf->by_reason_code[rf->n_by_reason_code]
			    = view_count_entry(call,
			        &opsbus__v1__recent_failures__by_reason_code_entry__descriptor,
			        key, v);
			if (rf->by_reason_code[rf->n_by_reason_code++]
			    == NULL) {
				return (OPSBUS_E_INTERNAL);
			}
		} else if (sec[0] == 't') {
			rf->since = call_strdup(call, key);
		}
	}
	return (OPSBUS_E_OK);
}

opsbus_err
operator_status_summary(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__GetStatusSummaryRequest *in
	    = (const Opsbus__V1__GetStatusSummaryRequest *) inm;
	Opsbus__V1__GetStatusSummaryResponse *out
	    = (Opsbus__V1__GetStatusSummaryResponse *) outm;
	int             hours = 24;
	char            hours_s[16];
	const char     *p[3];
	struct db_rows *rows;
	opsbus_err      err;

	if (in->recent_hours_value_case
	    == OPSBUS__V1__GET_STATUS_SUMMARY_REQUEST__RECENT_HOURS_VALUE_RECENT_HOURS) {
		if (in->recent_hours < 1 || in->recent_hours > 168) {
			return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
			    "recentHours must be between 1 and 168, got %d",
			    in->recent_hours));
		}
		hours = in->recent_hours;
	}
	if (!valid_name_or_empty(in->queue)) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "queue is up to 64 characters of letters, digits, '.', "
		    "'_', '-', ':' and '/'"));
	}
	out->dead_letter_operator_counts
	    = (Opsbus__V1__DeadLetterOperatorCounts *) call_new(
	        call, &opsbus__v1__dead_letter_operator_counts__descriptor);
	out->recent_failures = (Opsbus__V1__RecentFailures *) call_new(
	    call, &opsbus__v1__recent_failures__descriptor);
	if (out->dead_letter_operator_counts == NULL
	    || out->recent_failures == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	out->recent_failures->window_hours = hours;
	snprintf(hours_s, sizeof(hours_s), "%d", hours);
	p[0] = call->who->tenant;
	p[1] = in->queue;
	p[2] = hours_s;
	if ((err = db_exec(call->db, &stmt_summary, 3, p, &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	err = summary_fill(call, rows, out);
	db_rows_free(rows);
	return (err);
}

/* The statuses a ListDeadLetters status filter stands for. */
static const char *
list_statuses(const char *status)
{
	if (status[0] == '\0' || strcmp(status, "failed") == 0) {
		return ("{retryable_failed,dead_failed}");
	}
	if (strcmp(status, "retryable_failed") == 0) {
		return ("{retryable_failed}");
	}
	if (strcmp(status, "dead_failed") == 0) {
		return ("{dead_failed}");
	}
	return (NULL);
}

opsbus_err
operator_list_dead_letters(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__ListDeadLettersRequest *in
	    = (const Opsbus__V1__ListDeadLettersRequest *) inm;
	Opsbus__V1__ListDeadLettersResponse *out
	    = (Opsbus__V1__ListDeadLettersResponse *) outm;
	int             limit = 50;
	char            limit_s[16];
	char           *reason;
	const char     *p[5];
	struct db_rows *rows;
	opsbus_err      err;
	int             count;

	if ((p[0] = list_statuses(in->status)) == NULL) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "status must be retryable_failed, dead_failed or failed, "
		    "not \"%.32s\"",
		    in->status));
	}
	reason = ascii_upper(call_strdup(call, in->reason));
	if (reason[0] != '\0' && !valid_reason_code(reason)) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "reason is a reason code: up to 64 letters, digits, "
		    "'_', '.' and '-'"));
	}
	if ((err = call_limit(call,
	         in->limit_value_case
	             == OPSBUS__V1__LIST_DEAD_LETTERS_REQUEST__LIMIT_VALUE_LIMIT,
	         in->limit, 50, 100, &limit))
	    != OPSBUS_E_OK) {
		return (err);
	}
	if (!valid_name_or_empty(in->queue)) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "queue is up to 64 characters of letters, digits, '.', "
		    "'_', '-', ':' and '/'"));
	}
	snprintf(limit_s, sizeof(limit_s), "%d", limit);
	p[1] = reason;
	p[2] = call->who->tenant;
	p[3] = in->queue;
	p[4] = limit_s;
	if ((err = db_exec(call->db, &stmt_list, 5, p, &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	count = db_rows_count(rows);
	out->dead_letters
	    = call_array(call, (size_t) count + 1, sizeof(*out->dead_letters));
	for (int r = 0; out->dead_letters != NULL && r < count; r++) {
		if ((out->dead_letters[r] = view_dead_letter(call, rows, r, 0))
		    == NULL) {
			break;
		}
		out->n_dead_letters++;
	}
	db_rows_free(rows);
	return (out->n_dead_letters == (size_t) count ? OPSBUS_E_OK
	                                              : OPSBUS_E_INTERNAL);
}
