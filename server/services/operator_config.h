/*
 * The operator settings opsbusd reads from its environment once, at the
 * first operator call: the replay rate limit and the thresholds of seed
 * 004's three alert rules. Several opsbusd sharing a database should be
 * given the same values.
 *
 *   OPSBUS_REPLAY_RATE_PER_MINUTE      single replays per identity per
 *                                      minute (default 60; 0 = no limit)
 *   OPSBUS_ALERT_DLQ_DEPTH             dead-letter depth alert (> 100)
 *   OPSBUS_ALERT_ACTIONS_PER_HOUR      operator action rate alert (> 10)
 *   OPSBUS_ALERT_REPLAY_FAILURE_RATE   replay failure rate alert (> 0.2)
 *
 * A value that does not parse, or is out of range, is ignored with a
 * warning in the log and the default applies.
 */
#ifndef OPSBUS_SERVICES_OPERATOR_CONFIG_H
#define OPSBUS_SERVICES_OPERATOR_CONFIG_H

struct operator_config {
	/* 0: no limit. */
	int    replay_rate_per_minute;
	int    alert_dead_letter_depth;
	double alert_actions_per_hour;
	/* A fraction in [0, 1]. */
	double alert_replay_failure_rate;
};

/* The settings, read on the first call; never NULL, never changes. */
const struct operator_config *operator_config(void);

#endif
