/*
 * The audit runner of operator commands: identity and reason checks, a
 * savepoint around the command, and the one audit row, accepted or
 * refused. See operator_audit.h for the rules.
 */
#include "services/operator_audit.h"

#include <stdlib.h>
#include <string.h>

#include "services/validate.h"
#include "store/db.h"

static const struct db_stmt stmt_audit_insert = {"operator_audit_insert",
    "INSERT INTO operator_audit_log (action_type, operator_identity, "
    "reason, target_job_id, target, outcome, error_code, correlation_id, "
    "operation_id, details) VALUES ($1, $2, $3, $4::uuid, $5, $6, $7, $8, "
    "$9::uuid, coalesce($10::jsonb, '{}'::jsonb))"};

/* A copy of at most max bytes of s, cut on a UTF-8 character boundary. */
static char *
cut(struct rpc_call *call, const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max) {
		return (call_strdup(call, s));
	}
	while (max > 0 && ((unsigned char) s[max] & 0xc0) == 0x80) {
		max--;
	}
	return (arena_strndup(call->arena, s, max));
}

static bool
identity_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 128) {
		return (false);
	}
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) {
			return (false);
		}
	}
	return (true);
}

void
audit_target_text(struct rpc_call *call, struct audit *a, const char *text)
{
	a->target = text[0] != '\0' ? cut(call, text, 64) : NULL;
}

void
audit_target_job(struct rpc_call *call, struct audit *a, const char *id)
{
	if (valid_uuid(id)) {
		a->target_job_id = id;
	} else {
		audit_target_text(call, a, id);
	}
}

const char *
audit_json(struct rpc_call *call, json_t *obj)
{
	char *s, *copy;

	if (obj == NULL) {
		return (NULL);
	}
	s = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(obj);
	if (s == NULL) {
		return (NULL);
	}
	copy = call_strdup(call, s);
	free(s);
	return (copy);
}

opsbus_err
audit_write(struct db *db, const struct audit *a, const char *correlation_id,
    opsbus_err err)
{
	const char *p[10];

	p[0] = a->action;
	p[1] = a->identity != NULL ? a->identity : "unknown";
	p[2] = a->reason != NULL ? a->reason : "";
	p[3] = a->target_job_id;
	p[4] = a->target;
	p[5] = err == OPSBUS_E_OK ? "accepted" : "refused";
	p[6] = err == OPSBUS_E_OK ? NULL : opsbus_err_name(err);
	p[7] = correlation_id;
	p[8] = a->operation_id;
	p[9] = a->details;
	return (db_exec(db, &stmt_audit_insert, 10, p, NULL));
}

/* Checks who acts and why; fills a->identity. */
static opsbus_err
attribution(struct rpc_call *call, struct audit *a, const char *actor)
{
	const char *who = actor != NULL && actor[0] != '\0'
	    ? actor
	    : call->operator_identity;
	const char *field;

	if (who == NULL) {
		who = call->who->identity;
	}
	a->identity = cut(call, who, 128);
	if (!identity_ok(who)) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "the operator identity must be 1..128 printable "
		    "characters"));
	}
	if (call->who->anonymous && strcmp(who, call->who->identity) == 0) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "an operator identity is required: give actor, or send "
		    "x-operator-identity (opsbus --operator, "
		    "OPSBUS_OPERATOR)"));
	}
	field = a->reason_field != NULL ? a->reason_field : "reason";
	if (strlen(a->reason) > AUDIT_REASON_MAX) {
		a->reason = cut(call, a->reason, AUDIT_REASON_MAX);
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "%s is longer than %d bytes", field, AUDIT_REASON_MAX));
	}
	if (!valid_operator_reason(a->reason)) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "%s is required: say why, for the audit log "
		    "(\"Infrastructure recovered after the EHR outage, "
		    "INC-1234\"); empty, blank and placeholder reasons "
		    "(\"test\", \"fix it\", ...) and reasons under 8 "
		    "characters are refused",
		    a->reason_field != NULL ? field : "a reason"));
	}
	return (OPSBUS_E_OK);
}

opsbus_err
audit_run(struct rpc_call *call, struct audit *a, const char *actor,
    audit_command cmd, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	opsbus_err err, werr;

	if (a->reason == NULL) {
		a->reason = "";
	}
	if ((err = db_exec_simple(call->db, "SAVEPOINT operator_command"))
	    != OPSBUS_E_OK) {
		return (err);
	}
	err = attribution(call, a, actor);
	if (err == OPSBUS_E_OK) {
		err = cmd(call, in, out, a);
	}
	if (err == OPSBUS_E_OK) {
		return (audit_write(call->db, a, call->correlation_id, err));
	}
	/* A lost race runs again (the dispatcher retries it) and a lost
	 * database cannot take the row: neither is audited here. */
	if (err == OPSBUS_E_CONFLICT || err == OPSBUS_E_DATABASE_UNAVAILABLE) {
		return (err);
	}
	werr = db_exec_simple(
	    call->db, "ROLLBACK TO SAVEPOINT operator_command");
	if (werr == OPSBUS_E_OK) {
		werr = audit_write(call->db, a, call->correlation_id, err);
	}
	if (werr != OPSBUS_E_OK) {
		/* The refusal cannot be recorded: answer the database's
		 * error, with nothing kept. */
		call->message = NULL;
		return (werr);
	}
	call->commit_on_error = true;
	return (err);
}
