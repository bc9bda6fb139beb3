/*
 * Reading jobs, attempts and timeline events out of rows into protobuf
 * messages. Every query that returns jobs selects JOB_COLUMNS (in this
 * order), so one function maps them all. The statement that reads one job
 * by its id is here too, for the services that share it.
 */
#ifndef OPSBUS_SERVICES_JOB_VIEW_H
#define OPSBUS_SERVICES_JOB_VIEW_H

#include "opsbus/v1/job.pb-c.h"
#include "services/call.h"

struct db_rows;
struct db_stmt;

/* A timestamptz column as RFC 3339 UTC with microseconds, "" for NULL. */
#define SQL_TS(col)                                     \
	"coalesce(to_char(" col " AT TIME ZONE 'UTC', " \
	"'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), '')"

#define JOB_COLUMNS                                                                                                                                                 \
	"id, tenant, queue, target, kind, subject, payload::text, status, "                                                                                         \
	"coalesce(operator_status, ''), attempts, max_attempts, "                                                                                                   \
	"priority, " SQL_TS("run_at") ", coalesce(lease_owner, ''), " SQL_TS(                                                                                       \
	    "lease_expires_at") ", coalesce(last_error, ''), "                                                                                                      \
	                        "coalesce(reason_code, ''), "                                                                                                       \
	                        "coalesce(failure_category, ''), "                                                                                                  \
	                        "replay_eligible, "                                                                                                                 \
	                        "coalesce(replay_of_job_id::text, ''), "                                                                                            \
	                        "coalesce(replayed_job_id::text, "                                                                                                  \
	                        "''), " SQL_TS("replayed_at") ", "                                                                                                  \
	                                                      "coalesce("                                                                                           \
	                                                      "correlation_"                                                                                        \
	                                                      "id, "                                                                                                \
	                                                      "''), " SQL_TS("created_at") ", " SQL_TS(                                                             \
	                                                          "updated_"                                                                                        \
	                                                          "at") ","                                                                                         \
	                                                                " " SQL_TS(                                                                                 \
	                                                                    "final_state_at") ", "                                                                  \
	                                                                                      "coalesce(completion_summary, ''), cancel_requested_at IS NOT NULL, " \
	                                                                                      "forced"

/* How many columns JOB_COLUMNS selects. */
#define JOB_COLUMN_COUNT 29

#define ATTEMPT_COLUMNS                                                   \
	"attempt, worker_id, " SQL_TS("started_at") ", " SQL_TS(          \
	    "ended_at") ", from_status, coalesce(to_status, ''), "        \
	                "coalesce(error, ''), "                           \
	                "coalesce(reason_code, ''), coalesce(retryable, " \
	                "false), "                                        \
	                "coalesce(stage, ''), coalesce(failure_category, '')"

#define EVENT_COLUMNS \
	"event_id, event_type, actor, payload::text, " SQL_TS("created_at")

/*
 * The job of id $1 (a UUID) as JOB_COLUMNS, when its tenant is $2 or $2 is
 * "" (every tenant): no row when there is none. One object for GetJob
 * (job_read.c) and CreateJob's idempotency answers (job.c): a connection
 * knows its prepared statements by address, so a copy under the same name
 * would be prepared a second time and refused.
 */
extern const struct db_stmt job_stmt_get;

/* Job from row r of rows, starting at column col. NULL if out of memory. */
Opsbus__V1__Job *job_from_row(
    struct rpc_call *call, const struct db_rows *rows, int r, int col);
Opsbus__V1__Attempt *attempt_from_row(
    struct rpc_call *call, const struct db_rows *rows, int r);
Opsbus__V1__TimelineEvent *event_from_row(
    struct rpc_call *call, const struct db_rows *rows, int r);

/*
 * Loads the attempts (ordered by number) and the timeline (in order) of a
 * job into the repeated fields given. Returns 0 or a database error.
 */
opsbus_err job_load_attempts(struct rpc_call *call, const char *job_id,
    Opsbus__V1__Attempt ***attempts, size_t *n);
opsbus_err job_load_timeline(struct rpc_call *call, const char *job_id,
    Opsbus__V1__TimelineEvent ***events, size_t *n);

#endif
