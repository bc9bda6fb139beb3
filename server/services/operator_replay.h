/*
 * Replay of a dead letter, once, with lineage: shared by the
 * ReplayDeadLetter RPC and the bulk replay runner, so that both follow the
 * same rules and write the same rows.
 */
#ifndef OPSBUS_SERVICES_OPERATOR_REPLAY_H
#define OPSBUS_SERVICES_OPERATOR_REPLAY_H

#include "opsbus/v1/writeback.pb-c.h"
#include "services/call.h"

/* The two jobs a replay leaves: the original, linked, and the new one. */
struct replay_result {
	Opsbus__V1__WritebackJob *original;
	Opsbus__V1__WritebackJob *replay;
};

/*
 * Replays the job id (a UUID) in the transaction open on call->db, scoped
 * to call->who->tenant: locks the original, checks it may be replayed,
 * creates a new queued job (same tenant, queue, target, kind, subject,
 * payload, max_attempts and priority; a new idempotency key; its
 * replay_of_job_id the original), sets the original's replayed_job_id and
 * replayed_at, and writes both events (job.created.<queue> and
 * deadletter.replayed), all in one statement. actor names who did it in
 * the events; reason and operation_id (NULL when none) go into the
 * deadletter.replayed event.
 *
 * Returns 0 and fills *out, or (with call_fail) DEAD_LETTER_NOT_FOUND,
 * DEAD_LETTER_REPLAY_REQUIRES_DEAD_FAILED, WRITEBACK_REPLAY_ALREADY_EXISTS,
 * WRITEBACK_PRECONDITION_FAILED (another job for the same subject and
 * queue is not finished), ILLEGAL_NOTE_STATE_TRANSITION (a later job for
 * the same subject and queue succeeded), or a database error. Nothing is
 * written unless it returns 0 (a database error may leave the transaction
 * aborted: callers roll back, or back to a savepoint).
 */
opsbus_err replay_dead_letter(struct rpc_call *call, const char *id,
    const char *actor, const char *reason, const char *operation_id,
    struct replay_result *out);

#endif
