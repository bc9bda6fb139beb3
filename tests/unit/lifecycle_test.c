/*
 * Unit tests of server/services/lifecycle.c: every (state, event) pair of
 * the job state machine against a table written out again here by hand,
 * the helpers that pick the failure and expiry events, and the bounds of
 * the equal-jitter backoff.
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "services/lifecycle.h"

/*
 * The expected outcome of each pair: a state name when legal, "!LOST" for
 * LEASE_LOST, "!FINAL" for TERMINAL_STATE. Rows follow enum job_state,
 * columns enum job_event: claim, heartbeat, complete, fail_retry,
 * fail_final, lease_expired, lease_expired_final, cancel, abort, reroute,
 * force_complete.
 */
static const char *const expected[JOB_STATE_COUNT][JOB_EVENT_COUNT] = {
    /* queued */
    {"in_progress", "!LOST", "!LOST", "!LOST", "!LOST", "!LOST", "!LOST",
        "cancelled", "aborted", "rerouted", "succeeded"},
    /* rerouted */
    {"in_progress", "!LOST", "!LOST", "!LOST", "!LOST", "!LOST", "!LOST",
        "cancelled", "aborted", "rerouted", "succeeded"},
    /* in_progress */
    {"!LOST", "in_progress", "succeeded", "retryable_failed", "dead_failed",
        "retryable_failed", "dead_failed", "in_progress", "aborted",
        "rerouted", "succeeded"},
    /* retryable_failed */
    {"in_progress", "!LOST", "!LOST", "!LOST", "!LOST", "!LOST", "!LOST",
        "cancelled", "aborted", "rerouted", "succeeded"},
    /* succeeded */
    {"!FINAL", "!LOST", "!LOST", "!LOST", "!LOST", "!LOST", "!LOST", "!FINAL",
        "!FINAL", "!FINAL", "!FINAL"},
    /* dead_failed */
    {"!FINAL", "!LOST", "!LOST", "!LOST", "!LOST", "!LOST", "!LOST", "!FINAL",
        "!FINAL", "!FINAL", "!FINAL"},
    /* cancelled */
    {"!FINAL", "!LOST", "!LOST", "!LOST", "!LOST", "!LOST", "!LOST", "!FINAL",
        "!FINAL", "!FINAL", "!FINAL"},
    /* aborted */
    {"!FINAL", "!LOST", "!LOST", "!LOST", "!LOST", "!LOST", "!LOST", "!FINAL",
        "!FINAL", "!FINAL", "!FINAL"},
};

static void
test_every_pair_is_legal_or_refused_as_the_table_says(void)
{
	int checked = 0;

	for (int s = 0; s < JOB_STATE_COUNT; s++) {
		for (int e = 0; e < JOB_EVENT_COUNT; e++) {
			enum job_state to = JOB_STATE_COUNT;
			opsbus_err     err = lifecycle_next(
			        (enum job_state) s, (enum job_event) e, &to);
			const char *want = expected[s][e];
			char        got[64];

			if (err == OPSBUS_E_OK) {
				snprintf(got, sizeof(got), "%s",
				    lifecycle_state_name(to));
			} else if (err == OPSBUS_E_LEASE_LOST) {
				snprintf(got, sizeof(got), "!LOST");
			} else if (err == OPSBUS_E_TERMINAL_STATE) {
				snprintf(got, sizeof(got), "!FINAL");
			} else {
				snprintf(got, sizeof(got), "!%s",
				    opsbus_err_name(err));
			}
			if (strcmp(got, want) != 0) {
				fprintf(stderr, "(%s, %s): got %s, want %s\n",
				    lifecycle_state_name((enum job_state) s),
				    lifecycle_event_name((enum job_event) e),
				    got, want);
			}
			CU_ASSERT_STRING_EQUAL(got, want);
			checked++;
		}
	}
	ASSERT_INT_EQ(checked, 8 * 11);
}

static void
test_a_refused_event_writes_nothing(void)
{
	enum job_state to = JOB_ABORTED;

	ASSERT_INT_EQ(lifecycle_next(JOB_SUCCEEDED, JOB_EV_COMPLETE, &to),
	    OPSBUS_E_LEASE_LOST);
	ASSERT_INT_EQ(to, JOB_ABORTED);
	ASSERT_INT_EQ(lifecycle_next(JOB_DEAD_FAILED, JOB_EV_REROUTE, &to),
	    OPSBUS_E_TERMINAL_STATE);
	ASSERT_INT_EQ(to, JOB_ABORTED);
}

static void
test_out_of_range_values_are_refused(void)
{
	enum job_state to;

	ASSERT_INT_EQ(lifecycle_next(JOB_STATE_COUNT, JOB_EV_CLAIM, &to),
	    OPSBUS_E_INTERNAL);
	ASSERT_INT_EQ(lifecycle_next(JOB_QUEUED, JOB_EVENT_COUNT, &to),
	    OPSBUS_E_INTERNAL);
	ASSERT_STR_EQ(lifecycle_state_name(JOB_STATE_COUNT), "");
	ASSERT_STR_EQ(lifecycle_event_name(JOB_EVENT_COUNT), "");
}

static void
test_terminal_states_are_exactly_the_four_final_ones(void)
{
	for (int s = 0; s < JOB_STATE_COUNT; s++) {
		bool term = s == JOB_SUCCEEDED || s == JOB_DEAD_FAILED
		    || s == JOB_CANCELLED || s == JOB_ABORTED;
		bool claim = s == JOB_QUEUED || s == JOB_REROUTED
		    || s == JOB_RETRYABLE_FAILED;
		ASSERT_INT_EQ(lifecycle_terminal((enum job_state) s), term);
		ASSERT_INT_EQ(lifecycle_claimable((enum job_state) s), claim);
	}
}

static void
test_state_names_parse_back(void)
{
	for (int s = 0; s < JOB_STATE_COUNT; s++) {
		enum job_state back;
		CU_ASSERT_EQUAL(
		    lifecycle_state_parse(
		        lifecycle_state_name((enum job_state) s), &back),
		    0);
		ASSERT_INT_EQ(back, s);
	}
	enum job_state x;
	ASSERT_INT_EQ(lifecycle_state_parse("failed", &x), -1);
	ASSERT_INT_EQ(lifecycle_state_parse("", &x), -1);
}

static void
test_a_failure_retries_only_when_retryable_with_attempts_left(void)
{
	ASSERT_INT_EQ(lifecycle_fail_event(true, 1, 3), JOB_EV_FAIL_RETRY);
	ASSERT_INT_EQ(lifecycle_fail_event(true, 2, 3), JOB_EV_FAIL_RETRY);
	ASSERT_INT_EQ(lifecycle_fail_event(true, 3, 3), JOB_EV_FAIL_FINAL);
	ASSERT_INT_EQ(lifecycle_fail_event(true, 4, 3), JOB_EV_FAIL_FINAL);
	ASSERT_INT_EQ(lifecycle_fail_event(false, 1, 3), JOB_EV_FAIL_FINAL);
	ASSERT_INT_EQ(lifecycle_fail_event(true, 1, 1), JOB_EV_FAIL_FINAL);
	ASSERT_INT_EQ(lifecycle_expire_event(1, 2), JOB_EV_LEASE_EXPIRED);
	ASSERT_INT_EQ(
	    lifecycle_expire_event(2, 2), JOB_EV_LEASE_EXPIRED_FINAL);
}

static void
test_backoff_lies_between_half_and_all_of_the_exponential_delay(void)
{
	struct backoff_policy p = {1000, 2.0, 300000};

	for (int attempt = 1; attempt <= 20; attempt++) {
		double d = 1000.0;
		for (int i = 1; i < attempt; i++) {
			d *= 2.0;
		}
		if (d > 300000.0) {
			d = 300000.0;
		}
		for (int k = 0; k <= 100; k++) {
			double  u = k / 100.0;
			int64_t delay = lifecycle_backoff_ms(&p, attempt, u);
			if (delay < (int64_t) (d / 2) || delay > (int64_t) d) {
				fprintf(stderr,
				    "attempt %d u %.2f: %lld not in "
				    "[%.0f, %.0f]\n",
				    attempt, u, (long long) delay, d / 2, d);
			}
			CU_ASSERT_TRUE(delay >= (int64_t) (d / 2));
			CU_ASSERT_TRUE(delay <= (int64_t) d);
		}
	}
	/* The ends of the jitter range. */
	ASSERT_INT_EQ(lifecycle_backoff_ms(&p, 1, 0.0), 500);
	ASSERT_INT_EQ(lifecycle_backoff_ms(&p, 3, 0.0), 2000);
	CU_ASSERT_TRUE(lifecycle_backoff_ms(&p, 3, 0.999999) >= 3999);
	CU_ASSERT_TRUE(lifecycle_backoff_ms(&p, 3, 0.999999) <= 4000);
}

static void
test_backoff_never_passes_the_cap(void)
{
	struct backoff_policy p = {1000, 10.0, 60000};

	for (int attempt = 1; attempt <= 1000; attempt += 7) {
		CU_ASSERT_TRUE(
		    lifecycle_backoff_ms(&p, attempt, 0.999) <= 60000);
	}
	ASSERT_INT_EQ(lifecycle_backoff_ms(&p, 2147483647, 0.0), 30000);
	CU_ASSERT_TRUE(lifecycle_backoff_ms(&p, 2147483647, 1.0) <= 60000);
	/* A cap below the base wins. */
	p.base_ms = 5000;
	p.cap_ms = 1000;
	ASSERT_INT_EQ(lifecycle_backoff_ms(&p, 1, 0.0), 500);
}

static void
test_backoff_spreads_with_the_jitter(void)
{
	struct backoff_policy p = {1000, 2.0, 300000};
	int64_t               low = lifecycle_backoff_ms(&p, 4, 0.1);
	int64_t               high = lifecycle_backoff_ms(&p, 4, 0.9);

	/* 8000 ms: [4000, 8000]; u 0.1 -> 4400, u 0.9 -> 7600. */
	ASSERT_INT_EQ(low, 4400);
	ASSERT_INT_EQ(high, 7600);
}

static void
test_backoff_with_out_of_range_inputs_stays_in_bounds(void)
{
	struct backoff_policy zero = {0, 2.0, 300000};
	struct backoff_policy flat = {1000, 1.0, 300000};
	struct backoff_policy bad = {-5, 0.5, -1};
	struct backoff_policy huge = {86400000, 10.0, 86400000};
	double                nan_u = NAN;

	ASSERT_INT_EQ(lifecycle_backoff_ms(&zero, 50, 0.5), 0);
	ASSERT_INT_EQ(lifecycle_backoff_ms(&flat, 1000, 0.0), 500);
	ASSERT_INT_EQ(lifecycle_backoff_ms(&bad, 3, 0.5), 0);
	ASSERT_INT_EQ(lifecycle_backoff_ms(&flat, 0, 0.0), 500);
	ASSERT_INT_EQ(lifecycle_backoff_ms(&flat, -7, 0.0), 500);
	ASSERT_INT_EQ(lifecycle_backoff_ms(&flat, 1, nan_u), 500);
	ASSERT_INT_EQ(lifecycle_backoff_ms(&flat, 1, -3.0), 500);
	CU_ASSERT_TRUE(lifecycle_backoff_ms(&flat, 1, 7.0) <= 1000);
	CU_ASSERT_TRUE(lifecycle_backoff_ms(&flat, 1, 7.0) >= 999);
	ASSERT_INT_EQ(lifecycle_backoff_ms(&huge, 100, 0.0), 43200000);
}

static const struct harness_case cases[] = {
    {"every (state, event) pair is legal or refused as the table says",
        test_every_pair_is_legal_or_refused_as_the_table_says},
    {"a refused event writes nothing", test_a_refused_event_writes_nothing},
    {"out-of-range states and events are refused",
        test_out_of_range_values_are_refused},
    {"terminal and claimable states are the right ones",
        test_terminal_states_are_exactly_the_four_final_ones},
    {"state names parse back", test_state_names_parse_back},
    {"a failure retries only when retryable with attempts left",
        test_a_failure_retries_only_when_retryable_with_attempts_left},
    {"backoff lies between half and all of the exponential delay",
        test_backoff_lies_between_half_and_all_of_the_exponential_delay},
    {"backoff never passes the cap", test_backoff_never_passes_the_cap},
    {"backoff spreads with the jitter", test_backoff_spreads_with_the_jitter},
    {"backoff with out-of-range inputs stays in bounds",
        test_backoff_with_out_of_range_inputs_stays_in_bounds},
    {NULL, NULL},
};

int
main(void)
{
	return (harness_run("lifecycle", cases, NULL, NULL));
}
