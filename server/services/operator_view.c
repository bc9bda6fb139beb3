/*
 * Row-to-view mapping for the operator API. Strings are copied into the
 * call's arena; payloads go through the redaction of redact.c, and the raw
 * error detail is reduced to something safe to show before it leaves.
 */
#include "services/operator_view.h"

#include <stddef.h>
#include <string.h>

#include "services/redact.h"
#include "services/validate.h"
#include "store/db.h"

#define COL(i) call_strdup(call, db_rows_get(rows, r, col + (i)))

Opsbus__V1__WritebackJob *
view_writeback(
    struct rpc_call *call, const struct db_rows *rows, int r, int col)
{
	Opsbus__V1__WritebackJob *v = (Opsbus__V1__WritebackJob *) call_new(
	    call, &opsbus__v1__writeback_job__descriptor);

	if (v == NULL) {
		return (NULL);
	}
	v->job_id = COL(0);
	v->note_id = COL(1);
	v->ehr = COL(2);
	v->status = COL(3);
	v->attempts = (int32_t) db_rows_int(rows, r, col + 4);
	v->operator_status = COL(5);
	v->last_error = COL(6);
	v->reason_code = COL(7);
	v->replay_of_job_id = COL(8);
	v->replayed_job_id = COL(9);
	v->created_at = COL(10);
	v->updated_at = COL(11);
	return (v);
}

Opsbus__V1__DeadLetterSummary *
view_dead_letter(
    struct rpc_call *call, const struct db_rows *rows, int r, int col)
{
	Opsbus__V1__DeadLetterSummary *v
	    = (Opsbus__V1__DeadLetterSummary *) call_new(
	        call, &opsbus__v1__dead_letter_summary__descriptor);

	if (v == NULL) {
		return (NULL);
	}
	v->job_id = COL(0);
	v->note_id = COL(1);
	v->status = COL(3);
	v->attempts = (int32_t) db_rows_int(rows, r, col + 4);
	v->operator_status = COL(5);
	v->reason_code = COL(7);
	v->replay_of_job_id = COL(8);
	v->replayed_job_id = COL(9);
	v->updated_at = COL(11);
	return (v);
}

#undef COL

char *
view_redact_payload(struct rpc_call *call, const char *payload)
{
	char *out;

	if (redact_json(payload, call->arena, &out)) {
		return (out);
	}
	return (call_strdup(call, "{}"));
}

/*
 * The raw error detail made safe: a JSON detail with its sensitive keys
 * redacted, any other text without control characters; both cut to
 * VIEW_DETAIL_MAX bytes.
 */
static char *
safe_detail(struct rpc_call *call, const char *raw)
{
	char *redacted;

	if (raw[0] == '\0') {
		return (call_strdup(call, ""));
	}
	if ((raw[0] == '{' || raw[0] == '[')
	    && redact_json(raw, call->arena, &redacted)) {
		raw = redacted;
	}
	return (redact_sanitize(call->arena, raw, VIEW_DETAIL_MAX));
}

Opsbus__V1__OperatorJob *
view_operator_job(
    struct rpc_call *call, const struct db_rows *rows, int r, int col)
{
	Opsbus__V1__Job         *j = job_from_row(call, rows, r, col);
	Opsbus__V1__OperatorJob *v = (Opsbus__V1__OperatorJob *) call_new(
	    call, &opsbus__v1__operator_job__descriptor);

	if (j == NULL || v == NULL) {
		return (NULL);
	}
	v->job_id = j->id;
	v->note_id = j->subject;
	v->ehr = j->target;
	v->status = j->status;
	v->attempts = j->attempts;
	v->operator_status = j->operator_status;
	v->last_error = j->last_error;
	v->reason_code = j->reason_code;
	ascii_upper(v->reason_code);
	v->replay_of_job_id = j->replay_of_job_id;
	v->replayed_job_id = j->replayed_job_id;
	v->created_at = j->created_at;
	v->updated_at = j->updated_at;
	v->tenant = j->tenant;
	v->queue = j->queue;
	v->kind = j->kind;
	v->max_attempts = j->max_attempts;
	v->failure_category = j->failure_category;
	v->replay_eligible = j->replay_eligible;
	v->replayed_at = j->replayed_at;
	v->cancel_requested = j->cancel_requested;
	v->forced = j->forced;
	v->completion_summary = j->completion_summary;
	v->final_state_at = j->final_state_at;
	v->last_error_detail
	    = safe_detail(call, db_rows_get(rows, r, col + JOB_COLUMN_COUNT));
	v->payload = view_redact_payload(call, j->payload);
	v->correlation_id = j->correlation_id;
	v->lease_owner = j->lease_owner;
	v->lease_expires_at = j->lease_expires_at;
	v->run_at = j->run_at;
	v->priority = j->priority;
	if (v->last_error_detail == NULL || v->payload == NULL) {
		return (NULL);
	}
	return (v);
}

opsbus_err
view_redact_timeline(
    struct rpc_call *call, Opsbus__V1__TimelineEvent **events, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *p = view_redact_payload(call, events[i]->payload);
		if (p == NULL) {
			return (OPSBUS_E_INTERNAL);
		}
		events[i]->payload = p;
	}
	return (OPSBUS_E_OK);
}

/* The layout protoc-c gives every map<string, int32> entry. */
struct count_entry {
	ProtobufCMessage base;
	char            *key;
	int32_t          value;
};

void *
view_count_entry(struct rpc_call *call, const ProtobufCMessageDescriptor *desc,
    const char *key, int64_t value)
{
	struct count_entry *e;

	if (desc->n_fields != 2
	    || desc->fields[0].type != PROTOBUF_C_TYPE_STRING
	    || desc->fields[1].type != PROTOBUF_C_TYPE_INT32
	    || desc->fields[0].offset != offsetof(struct count_entry, key)
	    || desc->fields[1].offset != offsetof(struct count_entry, value)
	    || desc->sizeof_message != sizeof(struct count_entry)) {
		return (NULL);
	}
	if ((e = (struct count_entry *) call_new(call, desc)) == NULL) {
		return (NULL);
	}
	e->key = call_strdup(call, key);
	e->value = value > INT32_MAX ? INT32_MAX : (int32_t) value;
	return (e->key != NULL ? e : NULL);
}
