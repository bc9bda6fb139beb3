/*
 * ReplayDeadLetter and AcknowledgeDeadLetter (seed 001), and the replay
 * itself (operator_replay.h), which the bulk runner shares.
 *
 * A replay reads and locks the original, then takes a transaction-scoped
 * advisory lock on its (tenant, queue, subject) and only then looks for
 * other jobs of the same subject: two replays of two dead letters of one
 * note serialize there, and the second sees the first's new job. The
 * per-identity rate limit counts the identity's accepted replays of the
 * last minute in the audit log, under an advisory lock of the identity, so
 * it holds across every opsbusd sharing the database.
 */
#include "services/operator_replay.h"
#include "services/lookup.h"

#include <stdio.h>
#include <string.h>

#include "opsbus/v1/operator.pb-c.h"
#include "services/handlers.h"
#include "services/operator_audit.h"
#include "services/operator_config.h"
#include "services/operator_view.h"
#include "services/validate.h"
#include "store/db.h"

static const struct db_stmt stmt_read = {"operator_replay_read",
    "SELECT j.status, coalesce(j.replayed_job_id::text, ''), "
    "j.subject <> '', CASE WHEN j.subject <> '' THEN "
    "pg_advisory_xact_lock(hashtextextended('opsbus.subject:' || j.tenant "
    "|| '/' || j.queue || '/' || j.subject, 0))::text END "
    "FROM jobs j WHERE j.id = $1::uuid AND ($2 = '' OR j.tenant = $2) "
    "FOR UPDATE OF j"};

/* Run after the subject lock, so its snapshot sees every earlier replay. */
static const struct db_stmt stmt_siblings = {"operator_replay_siblings",
    "SELECT EXISTS (SELECT 1 FROM jobs s WHERE s.subject = j.subject AND "
    "s.queue = j.queue AND s.tenant = j.tenant AND s.id <> j.id AND "
    "s.status IN ('queued', 'rerouted', 'in_progress', "
    "'retryable_failed')), EXISTS (SELECT 1 FROM jobs s WHERE s.subject = "
    "j.subject AND s.queue = j.queue AND s.tenant = j.tenant AND s.id <> "
    "j.id AND s.status = 'succeeded' AND s.created_at > j.created_at) "
    "FROM jobs j WHERE j.id = $1::uuid"};

static const struct db_stmt stmt_write = {"operator_replay_write",
    "WITH o AS (SELECT * FROM jobs WHERE id = $1::uuid), "
    "n AS (INSERT INTO jobs (id, tenant, queue, target, kind, subject, "
    "payload, idempotency_key, status, max_attempts, priority, run_at, "
    "replay_of_job_id, correlation_id) SELECT $2::uuid, o.tenant, o.queue, "
    "o.target, o.kind, o.subject, o.payload, 'replay-' || o.id::text, "
    "'queued', o.max_attempts, o.priority, now(), o.id, $3 FROM o "
    "RETURNING *), "
    "u AS (UPDATE jobs SET replayed_job_id = n.id, replayed_at = now(), "
    "updated_at = now() FROM n WHERE jobs.id = n.replay_of_job_id "
    "RETURNING jobs.*), "
    "e AS (INSERT INTO events (event_id, event_type, topic, job_id, queue, "
    "tenant, actor, correlation_id, payload) "
    "SELECT gen_random_uuid(), 'created', 'job.created.' || n.queue, n.id, "
    "n.queue, n.tenant, $4, $3, jsonb_build_object('status', 'queued', "
    "'target', n.target, 'kind', n.kind, 'subject', n.subject, "
    "'max_attempts', n.max_attempts, 'priority', n.priority, 'run_at', "
    "n.run_at, 'replay_of_job_id', n.replay_of_job_id) FROM n "
    "UNION ALL SELECT gen_random_uuid(), 'replayed', 'deadletter.replayed', "
    "u.id, u.queue, u.tenant, $4, $3, jsonb_build_object('replayed_job_id', "
    "u.replayed_job_id, 'reason', $5::text, 'operation_id', $6::uuid) "
    "FROM u) "
    "SELECT " WB_COLUMNS("u.") ", " WB_COLUMNS("n.") " FROM u, n"};

static const struct db_stmt stmt_rate = {"operator_replay_rate",
    "SELECT pg_advisory_xact_lock(hashtextextended('opsbus.replay-rate:' "
    "|| $1, 0))::text, (SELECT count(*) FROM operator_audit_log WHERE "
    "operator_identity = $1 AND action_type = 'controlled_replay' AND "
    "outcome = 'accepted' AND operation_id IS NULL AND performed_at > "
    "now() - interval '1 minute')"};

static const struct db_stmt stmt_ack_read = {"operator_ack_read",
    "SELECT status, coalesce(operator_status, '') FROM jobs WHERE "
    "id = $1::uuid AND ($2 = '' OR tenant = $2) FOR UPDATE"};

static const struct db_stmt stmt_ack = {"operator_ack",
    "WITH u AS (UPDATE jobs SET operator_status = 'acknowledged', "
    "updated_at = now() WHERE id = $1::uuid AND operator_status = 'open' "
    "RETURNING *), "
    "e AS (INSERT INTO events (event_id, event_type, topic, job_id, queue, "
    "tenant, actor, correlation_id, payload) SELECT gen_random_uuid(), "
    "'acknowledged', 'deadletter.acknowledged', u.id, u.queue, u.tenant, "
    "$2, $3, jsonb_build_object('reason', $4::text) FROM u) "
    "SELECT " WB_COLUMNS("u.") " FROM u"};

/* Reads and locks the original; refuses what may not be replayed. */
static opsbus_err
replay_check(struct rpc_call *call, const char *id)
{
	const char     *p[2] = {id, call->who->tenant};
	struct db_rows *rows;
	opsbus_err      err;
	char           *status, *replayed;
	bool            has_subject, active, later;

	if ((err = db_exec(call->db, &stmt_read, 2, p, &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	if (db_rows_count(rows) != 1) {
		db_rows_free(rows);
		return (call_fail(call, OPSBUS_E_DEAD_LETTER_NOT_FOUND,
		    "no dead letter %s", id));
	}
	status = call_strdup(call, db_rows_get(rows, 0, 0));
	replayed = call_strdup(call, db_rows_get(rows, 0, 1));
	has_subject = db_rows_bool(rows, 0, 2);
	db_rows_free(rows);
	if (strcmp(status, "dead_failed") != 0) {
		return (call_fail(call,
		    OPSBUS_E_DEAD_LETTER_REPLAY_REQUIRES_DEAD_FAILED,
		    "job %s is %s: only a dead_failed job can be replayed", id,
		    status));
	}
	if (replayed[0] != '\0') {
		return (
		    call_fail(call, OPSBUS_E_WRITEBACK_REPLAY_ALREADY_EXISTS,
		        "dead letter %s was replayed already as job %s", id,
		        replayed));
	}
	if (!has_subject) {
		return (OPSBUS_E_OK);
	}
	if ((err = db_exec(call->db, &stmt_siblings, 1, p, &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	active = db_rows_count(rows) == 1 && db_rows_bool(rows, 0, 0);
	later = db_rows_count(rows) == 1 && db_rows_bool(rows, 0, 1);
	db_rows_free(rows);
	if (active) {
		return (call_fail(call, OPSBUS_E_WRITEBACK_PRECONDITION_FAILED,
		    "another job for the same subject and queue as %s is "
		    "still queued or running: a replay would run it twice",
		    id));
	}
	if (later) {
		return (call_fail(call, OPSBUS_E_ILLEGAL_NOTE_STATE_TRANSITION,
		    "a later job for the same subject and queue as %s has "
		    "succeeded: the work is done, a replay would repeat it",
		    id));
	}
	return (OPSBUS_E_OK);
}

opsbus_err
replay_dead_letter(struct rpc_call *call, const char *id, const char *actor,
    const char *reason, const char *operation_id, struct replay_result *out)
{
	const char     *p[6];
	struct db_rows *rows;
	opsbus_err      err;

	if ((err = replay_check(call, id)) != OPSBUS_E_OK) {
		return (err);
	}
	p[0] = id;
	p[1] = new_job_id_text(call);
	p[2] = call->correlation_id;
	p[3] = actor;
	p[4] = reason;
	p[5] = operation_id;
	err = db_exec(call->db, &stmt_write, 6, p, &rows);
	if (err != OPSBUS_E_OK) {
		if (db_unique_violation(call->db)) {
			/* The original is locked: only a bug gets here. */
			return (call_fail(call,
			    OPSBUS_E_WRITEBACK_REPLAY_ALREADY_EXISTS,
			    "dead letter %s was replayed already", id));
		}
		return (err);
	}
	if (db_rows_count(rows) != 1) {
		db_rows_free(rows);
		return (OPSBUS_E_INTERNAL);
	}
	out->original = view_writeback(call, rows, 0, 0);
	out->replay = view_writeback(call, rows, 0, WB_COLUMN_COUNT);
	db_rows_free(rows);
	return (out->original != NULL && out->replay != NULL
	        ? OPSBUS_E_OK
	        : OPSBUS_E_INTERNAL);
}

/* The identity's single replays of the last minute against the limit. */
static opsbus_err
rate_check(struct rpc_call *call, const char *identity)
{
	int             limit = operator_config()->replay_rate_per_minute;
	const char     *p[1] = {identity};
	struct db_rows *rows;
	opsbus_err      err;
	int64_t         recent;

	if (limit <= 0) {
		return (OPSBUS_E_OK);
	}
	if ((err = db_exec(call->db, &stmt_rate, 1, p, &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	recent = db_rows_count(rows) == 1 ? db_rows_int(rows, 0, 1) : 0;
	db_rows_free(rows);
	if (recent >= limit) {
		return (call_fail(call, OPSBUS_E_REPLAY_RATE_LIMITED,
		    "%s replayed %lld dead letters in the last minute; the "
		    "limit is %d a minute (a bulk replay has its own rate)",
		    identity, (long long) recent, limit));
	}
	return (OPSBUS_E_OK);
}

static opsbus_err
replay_command(struct rpc_call *call, const ProtobufCMessage *inm,
    ProtobufCMessage *outm, struct audit *a)
{
	const Opsbus__V1__ReplayDeadLetterRequest *in
	    = (const Opsbus__V1__ReplayDeadLetterRequest *) inm;
	Opsbus__V1__ReplayDeadLetterResponse *out
	    = (Opsbus__V1__ReplayDeadLetterResponse *) outm;
	struct replay_result r;
	opsbus_err           err;

	if (!valid_uuid(in->id)) {
		return (call_fail(
		    call, OPSBUS_E_VALIDATION_ERROR, "id must be a UUID"));
	}
	if ((err = rate_check(call, a->identity)) != OPSBUS_E_OK
	    || (err = replay_dead_letter(
	            call, in->id, a->identity, a->reason, NULL, &r))
	        != OPSBUS_E_OK) {
		return (err);
	}
	out->original_job = r.original;
	out->replay_job = r.replay;
	a->details = call_printf(
	    call, "{\"replay_job_id\": \"%s\"}", r.replay->job_id);
	return (OPSBUS_E_OK);
}

opsbus_err
operator_replay(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__ReplayDeadLetterRequest *in
	    = (const Opsbus__V1__ReplayDeadLetterRequest *) inm;
	struct audit a = {.action = "controlled_replay", .reason = in->reason};

	audit_target_job(call, &a, in->id);
	return (audit_run(call, &a, in->actor, replay_command, inm, outm));
}

static opsbus_err
ack_command(struct rpc_call *call, const ProtobufCMessage *inm,
    ProtobufCMessage *outm, struct audit *a)
{
	const Opsbus__V1__AcknowledgeDeadLetterRequest *in
	    = (const Opsbus__V1__AcknowledgeDeadLetterRequest *) inm;
	Opsbus__V1__AcknowledgeDeadLetterResponse *out
	    = (Opsbus__V1__AcknowledgeDeadLetterResponse *) outm;
	const char     *p[4] = {in->id, call->who->tenant};
	struct db_rows *rows;
	opsbus_err      err;
	char           *status, *op_status;

	if ((err = call_load_by_id(call, &stmt_ack_read, in->id,
	         OPSBUS_E_DEAD_LETTER_NOT_FOUND, "dead letter", &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	status = call_strdup(call, db_rows_get(rows, 0, 0));
	op_status = call_strdup(call, db_rows_get(rows, 0, 1));
	db_rows_free(rows);
	if (strcmp(op_status, "acknowledged") == 0) {
		return (
		    call_fail(call, OPSBUS_E_DEAD_LETTER_ALREADY_ACKNOWLEDGED,
		        "dead letter %s is acknowledged already", in->id));
	}
	if (strcmp(op_status, "open") != 0) {
		return (call_fail(call, OPSBUS_E_DEAD_LETTER_NOT_FOUND,
		    "job %s is %s, not a dead letter: there is nothing to "
		    "acknowledge",
		    in->id, status));
	}
	p[1] = a->identity;
	p[2] = call->correlation_id;
	p[3] = a->reason;
	if ((err = db_exec(call->db, &stmt_ack, 4, p, &rows)) != OPSBUS_E_OK) {
		return (err);
	}
	if (db_rows_count(rows) == 1) {
		out->job = view_writeback(call, rows, 0, 0);
	}
	db_rows_free(rows);
	return (out->job != NULL ? OPSBUS_E_OK : OPSBUS_E_INTERNAL);
}

opsbus_err
operator_acknowledge(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__AcknowledgeDeadLetterRequest *in
	    = (const Opsbus__V1__AcknowledgeDeadLetterRequest *) inm;
	struct audit a
	    = {.action = "acknowledge_dead_letter", .reason = in->reason};

	audit_target_job(call, &a, in->id);
	return (audit_run(call, &a, in->actor, ack_command, inm, outm));
}
