/*
 * OperatorService/ListAuditLog: the audit trail of seed 004 ("SELECT
 * action_type, operator_identity, reason, outcome, performed_at FROM
 * operator_audit_log WHERE target_request_id = $1 ORDER BY performed_at
 * DESC"), filtered and paged newest first by the row id. A key limited
 * to a tenant sees the rows about that tenant's jobs and bulk operations.
 */
#include <stdio.h>
#include <string.h>

#include "opsbus/v1/operator.pb-c.h"
#include "services/handlers.h"
#include "services/lookup.h"
#include "services/job_view.h"
#include "services/validate.h"
#include "store/db.h"

static const struct db_stmt stmt_list = {"operator_audit_list",
    "SELECT id, action_type, operator_identity, reason, "
    "coalesce(target_job_id::text, ''), coalesce(target, ''), outcome, "
    "coalesce(error_code, ''), coalesce(correlation_id, ''), "
    "coalesce(operation_id::text, ''), details::text, "
    "" SQL_TS(
        "performed_at") " FROM operator_audit_log WHERE "
                        "($1::uuid IS NULL OR target_job_id = $1::uuid) AND "
                        "($2::text IS NULL OR target = $2::text) AND "
                        "($3 = '' OR operator_identity = $3) AND "
                        "($4 = '' OR action_type = $4) AND "
                        "($5::timestamptz IS NULL OR performed_at >= "
                        "$5::timestamptz) AND "
                        "($6 = '' OR outcome = $6) AND "
                        "($7::uuid IS NULL OR operation_id = $7::uuid) AND "
                        "($8::bigint IS NULL OR id < $8::bigint) AND "
                        "($10 = '' OR EXISTS (SELECT 1 FROM jobs j WHERE j.id "
                        "= target_job_id "
                        "AND j.tenant = $10) OR EXISTS (SELECT 1 FROM "
                        "bulk_operations b WHERE "
                        "b.id = operation_id AND b.tenant = $10)) "
                        "ORDER BY id DESC LIMIT $9::int"};

#define COL(i) call_strdup(call, db_rows_get(rows, r, (i)))

static Opsbus__V1__AuditEntry *
entry_from_row(struct rpc_call *call, const struct db_rows *rows, int r)
{
	Opsbus__V1__AuditEntry *e = (Opsbus__V1__AuditEntry *) call_new(
	    call, &opsbus__v1__audit_entry__descriptor);

	if (e == NULL) {
		return (NULL);
	}
	e->id = db_rows_int(rows, r, 0);
	e->action_type = COL(1);
	e->operator_identity = COL(2);
	e->reason = COL(3);
	e->target_job_id = COL(4);
	e->target = COL(5);
	e->outcome = COL(6);
	e->error_code = COL(7);
	e->correlation_id = COL(8);
	e->operation_id = COL(9);
	e->details = COL(10);
	e->performed_at = COL(11);
	return (e);
}

#undef COL

static bool
digits_only(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 18) {
		return (false);
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9') {
			return (false);
		}
	}
	return (true);
}

static opsbus_err
audit_validate(struct rpc_call            *call,
    const Opsbus__V1__ListAuditLogRequest *in, int *limit)
{
	if (strlen(in->target) > 128 || strlen(in->identity) > 128) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "target and identity are at most 128 bytes"));
	}
	if (!valid_name_or_empty(in->action_type)) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "action_type is a name such as controlled_replay"));
	}
	if (in->since[0] != '\0' && !valid_timestamp(in->since)) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "since must be an RFC 3339 time such as "
		    "2026-11-22T08:00:00Z"));
	}
	if (in->outcome[0] != '\0' && strcmp(in->outcome, "accepted") != 0
	    && strcmp(in->outcome, "refused") != 0) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "outcome must be accepted or refused"));
	}
	if (in->operation_id[0] != '\0' && !valid_uuid(in->operation_id)) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "operation_id must be a UUID"));
	}
	if (in->page_token[0] != '\0' && !digits_only(in->page_token)) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "page_token is not one this server gave"));
	}
	return (call_limit(call,
	    in->limit_value_case
	        == OPSBUS__V1__LIST_AUDIT_LOG_REQUEST__LIMIT_VALUE_LIMIT,
	    in->limit, 50, 500, limit));
}

opsbus_err
operator_list_audit_log(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__ListAuditLogRequest *in
	    = (const Opsbus__V1__ListAuditLogRequest *) inm;
	Opsbus__V1__ListAuditLogResponse *out
	    = (Opsbus__V1__ListAuditLogResponse *) outm;
	char            fetch[16];
	const char     *p[10];
	struct db_rows *rows;
	opsbus_err      err;
	int             limit, count;

	if ((err = audit_validate(call, in, &limit)) != OPSBUS_E_OK) {
		return (err);
	}
	snprintf(fetch, sizeof(fetch), "%d", limit + 1);
	/* A target that is a job id matches target_job_id; any other text
	 * matches target. */
	p[0] = valid_uuid(in->target) ? in->target : NULL;
	p[1] = in->target[0] != '\0' && p[0] == NULL ? in->target : NULL;
	p[2] = in->identity;
	p[3] = in->action_type;
	p[4] = in->since[0] != '\0' ? in->since : NULL;
	p[5] = in->outcome;
	p[6] = in->operation_id[0] != '\0' ? in->operation_id : NULL;
	p[7] = in->page_token[0] != '\0' ? in->page_token : NULL;
	p[8] = fetch;
	p[9] = call->who->tenant;
	if ((err = db_exec(call->db, &stmt_list, 10, p, &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	count = db_rows_count(rows);
	out->entries
	    = call_array(call, (size_t) count + 1, sizeof(*out->entries));
	for (int r = 0; out->entries != NULL && r < count && r < limit; r++) {
		if ((out->entries[r] = entry_from_row(call, rows, r))
		    == NULL) {
			db_rows_free(rows);
			return (OPSBUS_E_INTERNAL);
		}
		out->n_entries++;
	}
	db_rows_free(rows);
	if (count > limit && out->n_entries > 0) {
		out->next_page_token = call_printf(call, "%lld",
		    (long long) out->entries[out->n_entries - 1]->id);
	}
	return (out->entries != NULL ? OPSBUS_E_OK : OPSBUS_E_INTERNAL);
}
