/*
 * The stop deadline (see stop_guard.h): one detached thread that sleeps
 * through the grace, and a mutex that decides who stops PostgreSQL, the
 * thread or main's ordinary path, never both.
 */
#define _DEFAULT_SOURCE
#include "stop_guard.h"

#include <pthread.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

static pthread_mutex_t     guard_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pg_embedded *guarded_pg;
static long                guard_grace_ms;

static void *
stop_guard_main(void *arg)
{
	(void) arg;
	clock_sleep_ms(guard_grace_ms);
	pthread_mutex_lock(&guard_lock);
	log_error("stopping takes too long: a socket does not close (nng "
	          "1.5.2's close race); every acknowledged call is committed; "
	          "exiting anyway",
	    "grace_ms=%ld embedded_postgres=%s", guard_grace_ms,
	    guarded_pg != NULL ? "stopping" : "none");
	if (guarded_pg != NULL) {
		pg_embedded_free(guarded_pg);
	}
	_exit(1);
}

int
stop_guard_arm(long grace_ms, struct pg_embedded *pg)
{
	pthread_t t;

	pthread_mutex_lock(&guard_lock);
	guarded_pg = pg;
	guard_grace_ms = grace_ms > 0 ? grace_ms : 1;
	pthread_mutex_unlock(&guard_lock);
	if (pthread_create(&t, NULL, stop_guard_main, NULL) != 0) {
		return (-1);
	}
	pthread_detach(t);
	return (0);
}

struct pg_embedded *
stop_guard_release(void)
{
	struct pg_embedded *pg;

	pthread_mutex_lock(&guard_lock);
	pg = guarded_pg;
	guarded_pg = NULL;
	pthread_mutex_unlock(&guard_lock);
	return (pg);
}
