/*
 * The job state machine and the retry backoff, as pure functions: no
 * database, no clock, no randomness of their own. The handlers (worker.c),
 * the rescuer and the operator commands ask lifecycle_next whether an event
 * may happen to a job in a given state and where it leads, then write the
 * change with a compare-and-set on the state they read.
 *
 * Every (state, event) pair is in one table (lifecycle.c): legal with its
 * target state, or refused with the error the caller answers.
 */
#ifndef OPSBUS_SERVICES_LIFECYCLE_H
#define OPSBUS_SERVICES_LIFECYCLE_H

#include <stdbool.h>
#include <stdint.h>

#include "errors.h"

/* The eight statuses of DESIGN.md, in its order. */
enum job_state {
	JOB_QUEUED = 0,
	JOB_REROUTED,
	JOB_IN_PROGRESS,
	JOB_RETRYABLE_FAILED,
	JOB_SUCCEEDED,
	JOB_DEAD_FAILED,
	JOB_CANCELLED,
	JOB_ABORTED,
	JOB_STATE_COUNT
};

enum job_event {
	/* A worker claims a ready job (queued, rerouted, retryable_failed). */
	JOB_EV_CLAIM = 0,
	/* The lease holder extends its lease. */
	JOB_EV_HEARTBEAT,
	/* The lease holder reports success. */
	JOB_EV_COMPLETE,
	/* The lease holder reports a retryable failure with attempts left. */
	JOB_EV_FAIL_RETRY,
	/* The lease holder reports a failure that is not retryable, or a
	 * retryable one with no attempts left: the job becomes a dead letter.
	 */
	JOB_EV_FAIL_FINAL,
	/* The rescuer finds the lease expired; attempts are left. */
	JOB_EV_LEASE_EXPIRED,
	/* The rescuer finds the lease expired; no attempts are left. */
	JOB_EV_LEASE_EXPIRED_FINAL,
	/* Operator commands (the operator issue uses these rows). Cancel is
	 * graceful: a job not running ends cancelled at once, a running job
	 * stays in_progress with its cancel requested until its worker
	 * stops. Abort is forceful: it ends the job and revokes any lease. */
	JOB_EV_CANCEL,
	JOB_EV_ABORT,
	/* Sends a job to another target; revokes the lease of a running job,
	 * so its worker's later reports are refused with LEASE_LOST. */
	JOB_EV_REROUTE,
	/* Completes a job by hand (forced = true); revokes any lease. */
	JOB_EV_FORCE_COMPLETE,
	JOB_EVENT_COUNT
};

/* The lower-case status name ("retryable_failed"); "" when out of range. */
const char *lifecycle_state_name(enum job_state s);
/* Parses a status name. Returns 0 and writes *out, or -1. */
int lifecycle_state_parse(const char *name, enum job_state *out);
/* The event's name ("fail_retry"), for logs and tests. */
const char *lifecycle_event_name(enum job_event ev);
/* succeeded, dead_failed, cancelled and aborted never change again. */
bool lifecycle_terminal(enum job_state s);
/* queued, rerouted and retryable_failed may be claimed (when run_at has
 * come). */
bool lifecycle_claimable(enum job_state s);

/*
 * Where event ev takes a job in state from. Returns OPSBUS_E_OK and writes
 * *to, or the refusal, writing nothing:
 *   - LEASE_LOST for a worker's event (heartbeat, complete, fail) or the
 *     rescuer's (lease expired) on a job that is not in_progress: the
 *     lease it acted on is gone; also for a claim of a job someone holds;
 *   - TERMINAL_STATE for an operator command or a claim on a terminal job.
 */
opsbus_err lifecycle_next(
    enum job_state from, enum job_event ev, enum job_state *to);

/*
 * The event a worker's failure report is: FAIL_RETRY when retryable and
 * attempts < max_attempts, else FAIL_FINAL. attempts counts the attempt
 * that failed (it was counted when the job was claimed).
 */
enum job_event lifecycle_fail_event(
    bool retryable, int attempts, int max_attempts);
/* LEASE_EXPIRED when attempts < max_attempts, else LEASE_EXPIRED_FINAL. */
enum job_event lifecycle_expire_event(int attempts, int max_attempts);

/* A queue's retry policy (the columns of the queues table). */
struct backoff_policy {
	int64_t base_ms;
	double  factor;
	int64_t cap_ms;
};

/*
 * The delay before the retry that follows failed attempt number `attempt`
 * (1 for the first attempt), with equal jitter:
 *
 *   d     = min(cap, base * factor^(attempt - 1))
 *   delay = d/2 + u * d/2           with u in [0, 1)
 *
 * so the delay lies in [d/2, d]. Equal jitter rather than full jitter
 * (delay = u * d): full jitter spreads a herd of retries slightly better,
 * but can retry at once after a failure, which hammers a downstream that is
 * down; equal jitter keeps half the exponential wait as a floor and still
 * spreads the herd over the other half. u comes from the caller (pure
 * function, testable bounds); values outside [0, 1) are clamped. A policy
 * out of range is clamped too: base and cap to >= 0, factor to >= 1.
 * The result never exceeds cap_ms (nor 2^53 ms).
 */
int64_t lifecycle_backoff_ms(
    const struct backoff_policy *p, int attempt, double u);

/*
 * A uniform double in [0, 1) for lifecycle_backoff_ms: xorshift64* per
 * thread, seeded from the clock and the thread's stack. The one impure
 * function here; jitter needs spread, not secrecy. Thread-safe.
 */
double lifecycle_jitter(void);

#endif
