/*
 * What the request controls (operator_controls.c) lend other operator
 * commands: the cancel of one job, for a command that cancels as part of
 * its own work (an exception's replay cancelling the job it supersedes).
 */
#ifndef OPSBUS_SERVICES_OPERATOR_CONTROLS_H
#define OPSBUS_SERVICES_OPERATOR_CONTROLS_H

#include <stdbool.h>

#include "opsbus/v1/operator.pb-c.h"
#include "services/call.h"
#include "services/operator_audit.h"

/* What a cancel did. */
struct operator_cancel {
	/* The job after the cancel (in the call's arena). */
	Opsbus__V1__OperatorJob *job;
	/* Its status before. */
	const char *from_status;
	/* "cancelled" (it had not started), "cancel_requested" (it runs: its
	 * worker learns at its next heartbeat) or "none" (cancelled or asked
	 * already, or, with ended_ok, ended). */
	const char *effect;
};

/*
 * Cancels job id as CancelJob does, in the call's transaction: the job is
 * read under its row lock, the lifecycle table decides, and the change
 * and its timeline event are attributed to a's identity and reason. The
 * caller writes the audit row. A job in a terminal state other than
 * cancelled is refused with TERMINAL_STATE, or with ended_ok left as it is
 * (effect "none"). A job the caller's tenant cannot see is JOB_NOT_FOUND.
 */
opsbus_err operator_cancel(struct rpc_call *call, const char *id,
    const struct audit *a, bool ended_ok, struct operator_cancel *c);

#endif
