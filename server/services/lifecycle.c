/*
 * The job state machine as one table of (state, event) -> outcome, and the
 * equal-jitter exponential backoff. See lifecycle.h for the rules; the
 * table below is the single place that says which transitions exist.
 */
#include "services/lifecycle.h"

#include <string.h>
#include <time.h>

static const char *const state_names[JOB_STATE_COUNT] = {
    [JOB_QUEUED] = "queued",
    [JOB_REROUTED] = "rerouted",
    [JOB_IN_PROGRESS] = "in_progress",
    [JOB_RETRYABLE_FAILED] = "retryable_failed",
    [JOB_SUCCEEDED] = "succeeded",
    [JOB_DEAD_FAILED] = "dead_failed",
    [JOB_CANCELLED] = "cancelled",
    [JOB_ABORTED] = "aborted",
};

static const char *const event_names[JOB_EVENT_COUNT] = {
    [JOB_EV_CLAIM] = "claim",
    [JOB_EV_HEARTBEAT] = "heartbeat",
    [JOB_EV_COMPLETE] = "complete",
    [JOB_EV_FAIL_RETRY] = "fail_retry",
    [JOB_EV_FAIL_FINAL] = "fail_final",
    [JOB_EV_LEASE_EXPIRED] = "lease_expired",
    [JOB_EV_LEASE_EXPIRED_FINAL] = "lease_expired_final",
    [JOB_EV_CANCEL] = "cancel",
    [JOB_EV_ABORT] = "abort",
    [JOB_EV_REROUTE] = "reroute",
    [JOB_EV_FORCE_COMPLETE] = "force_complete",
};

/* One cell of the table: legal with a target, or refused with an error. */
struct outcome {
	bool           legal;
	enum job_state to;
	opsbus_err     refusal;
};

/* clang-format off */
#define GO(s)  {true, (s), OPSBUS_E_OK}
#define LOST   {false, JOB_QUEUED, OPSBUS_E_LEASE_LOST}
#define FINAL  {false, JOB_QUEUED, OPSBUS_E_TERMINAL_STATE}

/* A ready job: claimable, and operators may act on it. No worker holds a
 * lease on it, so reports made with one are refused. */
#define READY_ROW {                                                         \
	[JOB_EV_CLAIM]               = GO(JOB_IN_PROGRESS),                  \
	[JOB_EV_HEARTBEAT]           = LOST,                                 \
	[JOB_EV_COMPLETE]            = LOST,                                 \
	[JOB_EV_FAIL_RETRY]          = LOST,                                 \
	[JOB_EV_FAIL_FINAL]          = LOST,                                 \
	[JOB_EV_LEASE_EXPIRED]       = LOST,                                 \
	[JOB_EV_LEASE_EXPIRED_FINAL] = LOST,                                 \
	[JOB_EV_CANCEL]              = GO(JOB_CANCELLED),                    \
	[JOB_EV_ABORT]               = GO(JOB_ABORTED),                      \
	[JOB_EV_REROUTE]             = GO(JOB_REROUTED),                     \
	[JOB_EV_FORCE_COMPLETE]      = GO(JOB_SUCCEEDED),                    \
}

/* A terminal job never changes: a worker or the rescuer acting on it lost
 * its lease long ago; a claim or an operator is told it is terminal. */
#define TERMINAL_ROW {                                                      \
	[JOB_EV_CLAIM]               = FINAL,                                \
	[JOB_EV_HEARTBEAT]           = LOST,                                 \
	[JOB_EV_COMPLETE]            = LOST,                                 \
	[JOB_EV_FAIL_RETRY]          = LOST,                                 \
	[JOB_EV_FAIL_FINAL]          = LOST,                                 \
	[JOB_EV_LEASE_EXPIRED]       = LOST,                                 \
	[JOB_EV_LEASE_EXPIRED_FINAL] = LOST,                                 \
	[JOB_EV_CANCEL]              = FINAL,                                \
	[JOB_EV_ABORT]               = FINAL,                                \
	[JOB_EV_REROUTE]             = FINAL,                                \
	[JOB_EV_FORCE_COMPLETE]      = FINAL,                                \
}

static const struct outcome table[JOB_STATE_COUNT][JOB_EVENT_COUNT] = {
	[JOB_QUEUED]           = READY_ROW,
	[JOB_REROUTED]         = READY_ROW,
	[JOB_IN_PROGRESS]      = {
		[JOB_EV_CLAIM]               = LOST,
		[JOB_EV_HEARTBEAT]           = GO(JOB_IN_PROGRESS),
		[JOB_EV_COMPLETE]            = GO(JOB_SUCCEEDED),
		[JOB_EV_FAIL_RETRY]          = GO(JOB_RETRYABLE_FAILED),
		[JOB_EV_FAIL_FINAL]          = GO(JOB_DEAD_FAILED),
		[JOB_EV_LEASE_EXPIRED]       = GO(JOB_RETRYABLE_FAILED),
		[JOB_EV_LEASE_EXPIRED_FINAL] = GO(JOB_DEAD_FAILED),
		/* Graceful: the job keeps running with its cancel requested;
		 * the worker sees it in its next heartbeat. */
		[JOB_EV_CANCEL]              = GO(JOB_IN_PROGRESS),
		[JOB_EV_ABORT]               = GO(JOB_ABORTED),
		[JOB_EV_REROUTE]             = GO(JOB_REROUTED),
		[JOB_EV_FORCE_COMPLETE]      = GO(JOB_SUCCEEDED),
	},
	[JOB_RETRYABLE_FAILED] = READY_ROW,
	[JOB_SUCCEEDED]        = TERMINAL_ROW,
	[JOB_DEAD_FAILED]      = TERMINAL_ROW,
	[JOB_CANCELLED]        = TERMINAL_ROW,
	[JOB_ABORTED]          = TERMINAL_ROW,
};
/* clang-format on */

#undef GO
#undef LOST
#undef FINAL
#undef READY_ROW
#undef TERMINAL_ROW

const char *
lifecycle_state_name(enum job_state s)
{
	if ((int) s < 0 || s >= JOB_STATE_COUNT) {
		return ("");
	}
	return (state_names[s]);
}

int
lifecycle_state_parse(const char *name, enum job_state *out)
{
	for (int i = 0; i < JOB_STATE_COUNT; i++) {
		if (strcmp(name, state_names[i]) == 0) {
			*out = (enum job_state) i;
			return (0);
		}
	}
	return (-1);
}

const char *
lifecycle_event_name(enum job_event ev)
{
	if ((int) ev < 0 || ev >= JOB_EVENT_COUNT) {
		return ("");
	}
	return (event_names[ev]);
}

bool
lifecycle_terminal(enum job_state s)
{
	return (s == JOB_SUCCEEDED || s == JOB_DEAD_FAILED
	    || s == JOB_CANCELLED || s == JOB_ABORTED);
}

bool
lifecycle_claimable(enum job_state s)
{
	return (
	    s == JOB_QUEUED || s == JOB_REROUTED || s == JOB_RETRYABLE_FAILED);
}

opsbus_err
lifecycle_next(enum job_state from, enum job_event ev, enum job_state *to)
{
	const struct outcome *o;

	if ((int) from < 0 || from >= JOB_STATE_COUNT || (int) ev < 0
	    || ev >= JOB_EVENT_COUNT) {
		return (OPSBUS_E_INTERNAL);
	}
	o = &table[from][ev];
	if (!o->legal) {
		return (o->refusal);
	}
	*to = o->to;
	return (OPSBUS_E_OK);
}

enum job_event
lifecycle_fail_event(bool retryable, int attempts, int max_attempts)
{
	return (retryable && attempts < max_attempts ? JOB_EV_FAIL_RETRY
	                                             : JOB_EV_FAIL_FINAL);
}

enum job_event
lifecycle_expire_event(int attempts, int max_attempts)
{
	return (attempts < max_attempts ? JOB_EV_LEASE_EXPIRED
	                                : JOB_EV_LEASE_EXPIRED_FINAL);
}

/* 2^53: every integer below is exact in a double. */
#define BACKOFF_MAX_MS 9007199254740992.0

int64_t
lifecycle_backoff_ms(const struct backoff_policy *p, int attempt, double u)
{
	double base = p->base_ms > 0 ? (double) p->base_ms : 0.0;
	double cap = p->cap_ms > 0 ? (double) p->cap_ms : 0.0;
	double factor = p->factor >= 1.0 ? p->factor : 1.0;
	double d, delay;

	/* NaN fails every comparison: treat it as the lowest value. */
	if (!(u >= 0.0)) {
		u = 0.0;
	} else if (u >= 1.0) {
		u = 0.99999999999999989; /* the largest double below 1 */
	}
	if (!(factor <= 1e6)) {
		factor = 1e6;
	}
	if (attempt < 1) {
		attempt = 1;
	}
	if (cap > BACKOFF_MAX_MS) {
		cap = BACKOFF_MAX_MS;
	}
	/* base * factor^(attempt - 1) by squaring, stopping as soon as it
	 * passes the cap: O(log attempt), no overflow, no libm. */
	d = base;
	if (d > 0.0 && factor > 1.0) {
		double   f = factor;
		unsigned n = (unsigned) attempt - 1;
		while (n > 0 && d < cap) {
			if ((n & 1u) != 0) {
				d *= f;
			}
			n >>= 1;
			if (n > 0) {
				f = f < cap ? f * f : f;
			}
		}
	}
	if (d > cap) {
		d = cap;
	}
	delay = d / 2.0 + u * (d / 2.0);
	if (delay > d) {
		delay = d;
	}
	return ((int64_t) delay);
}

double
lifecycle_jitter(void)
{
	static _Thread_local uint64_t state;

	if (state == 0) {
		struct timespec ts;
		uint64_t        here = (uint64_t) (uintptr_t) &ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		state = ((uint64_t) ts.tv_nsec << 20) ^ (uint64_t) ts.tv_sec
		    ^ (here * 0x9e3779b97f4a7c15u);
		if (state == 0) {
			state = 0x2545f4914f6cdd1du;
		}
	}
	state ^= state >> 12;
	state ^= state << 25;
	state ^= state >> 27;
	return ((double) ((state * 0x2545f4914f6cdd1du) >> 11)
	    / 9007199254740992.0);
}
