/*
 * Reads the operator settings from the environment once (pthread_once), so
 * that handlers on every RPC worker thread see the same values without
 * locking.
 */
#include "services/operator_config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "log.h"

static struct operator_config config = {
    .replay_rate_per_minute = 60,
    .alert_dead_letter_depth = 100,
    .alert_actions_per_hour = 10.0,
    .alert_replay_failure_rate = 0.20,
};
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* Reads env as a number in [lo, hi] into *out; warns and keeps *out when
 * it is set but unusable. */
static void
read_number(const char *env, double lo, double hi, double *out)
{
	const char *v = getenv(env);
	char       *end;
	double      d;

	if (v == NULL || v[0] == '\0') {
		return;
	}
	errno = 0;
	d = strtod(v, &end);
	if (errno != 0 || *end != '\0' || !(d >= lo && d <= hi)) {
		log_warn("ignoring an operator setting out of range",
		    "env=%s value=%.32s min=%g max=%g", env, v, lo, hi);
		return;
	}
	*out = d;
}

static void
load(void)
{
	double rate = config.replay_rate_per_minute;
	double depth = config.alert_dead_letter_depth;

	read_number("OPSBUS_REPLAY_RATE_PER_MINUTE", 0, 1000000, &rate);
	read_number("OPSBUS_ALERT_DLQ_DEPTH", 0, 1000000000, &depth);
	read_number("OPSBUS_ALERT_ACTIONS_PER_HOUR", 0, 1000000000,
	    &config.alert_actions_per_hour);
	read_number("OPSBUS_ALERT_REPLAY_FAILURE_RATE", 0, 1,
	    &config.alert_replay_failure_rate);
	config.replay_rate_per_minute = (int) rate;
	config.alert_dead_letter_depth = (int) depth;
}

const struct operator_config *
operator_config(void)
{
	pthread_once(&once, load);
	return (&config);
}
