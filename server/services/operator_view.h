/*
 * The operator-safe views of jobs (seeds 000 and 001): the writeback job
 * view, the dead-letter summary, the replay linkage and the full operator
 * job view, mapped from rows, with payloads and timelines redacted and
 * raw error details made safe. Nothing here ever copies an idempotency key
 * or a raw error detail into a message.
 */
#ifndef OPSBUS_SERVICES_OPERATOR_VIEW_H
#define OPSBUS_SERVICES_OPERATOR_VIEW_H

#include "opsbus/v1/operator.pb-c.h"
#include "opsbus/v1/writeback.pb-c.h"
#include "services/call.h"
#include "services/job_view.h"

struct db_rows;

/*
 * The twelve columns of the writeback view of the jobs row aliased t
 * (written with its dot: WB_COLUMNS("j.")), in the order of
 * WritebackJob's fields. Reason codes come upper-cased.
 */
#define WB_COLUMNS(t)                                                      \
	t "id, " t "subject, " t "target, " t "status, " t "attempts, "    \
	  "coalesce(" t "operator_status, ''), coalesce(" t "last_error, " \
	  "''), upper(coalesce(" t "reason_code, '')), coalesce(" t        \
	  "replay_of_job_id::text, ''), coalesce(" t                       \
	  "replayed_job_id::text, "                                        \
	  "''), " SQL_TS(t "created_at") ", " SQL_TS(t "updated_at")

#define WB_COLUMN_COUNT 12

/*
 * The columns of the full operator view: JOB_COLUMNS, then the raw error
 * detail (made safe in view_operator_job, never copied as it is).
 */
#define OPERATOR_JOB_COLUMNS JOB_COLUMNS ", coalesce(last_error_detail, '')"

#define OPERATOR_JOB_COLUMN_COUNT (JOB_COLUMN_COUNT + 1)

/* The longest error detail an operator view shows. */
#define VIEW_DETAIL_MAX 2000

/*
 * Views from row r of rows, starting at column col. NULL when out of
 * memory.
 */
Opsbus__V1__WritebackJob *view_writeback(
    struct rpc_call *call, const struct db_rows *rows, int r, int col);
/* From the same twelve columns. */
Opsbus__V1__DeadLetterSummary *view_dead_letter(
    struct rpc_call *call, const struct db_rows *rows, int r, int col);
/* From OPERATOR_JOB_COLUMNS. */
Opsbus__V1__OperatorJob *view_operator_job(
    struct rpc_call *call, const struct db_rows *rows, int r, int col);

/*
 * Redacts the payloads of n timeline events in place. Returns 0, or
 * OPSBUS_E_INTERNAL when out of memory. A payload that is not JSON (it
 * never is not) is replaced by "{}".
 */
opsbus_err view_redact_timeline(
    struct rpc_call *call, Opsbus__V1__TimelineEvent **events, size_t n);

/*
 * The job's payload redacted: a JSON text with every sensitive key's
 * value replaced. "{}" when it cannot be parsed. NULL when out of memory.
 */
char *view_redact_payload(struct rpc_call *call, const char *payload);

/*
 * A new entry of a map<string, int32> field (desc is the entry's
 * descriptor) holding key and value, in the call's arena. NULL when out of
 * memory, or when desc is not such an entry (a bug).
 */
void *view_count_entry(struct rpc_call *call,
    const ProtobufCMessageDescriptor *desc, const char *key, int64_t value);

#endif
