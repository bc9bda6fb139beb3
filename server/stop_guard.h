/*
 * A deadline on stopping opsbusd. After SIGTERM the server drains its
 * calls and closes its sockets; nng 1.5.2 (Debian bookworm's) can hang for
 * good in nng_close when a message is arriving at that instant (the IPC
 * and TCP transports restart a read on a receive that the close already
 * stopped). Everything acknowledged is committed in PostgreSQL by then, so
 * the guard need only make sure the process still ends: past the grace it
 * logs why, stops the embedded PostgreSQL (else the next start finds it
 * still running) and exits with status 1.
 */
#ifndef OPSBUS_STOP_GUARD_H
#define OPSBUS_STOP_GUARD_H

#include "store/embedded.h"

/*
 * Starts the deadline: grace_ms from now. pg (may be NULL) is the embedded
 * PostgreSQL to stop should it pass. Returns 0, or -1 when no thread could
 * be started (stopping then goes on unguarded).
 */
int stop_guard_arm(long grace_ms, struct pg_embedded *pg);

/*
 * Stopping reached the embedded PostgreSQL in time: takes it back from
 * the guard, which will no longer touch it, and returns it (NULL when none
 * was given). Should the deadline be passing at this moment, does not
 * return: the guard stops PostgreSQL and exits.
 */
struct pg_embedded *stop_guard_release(void);

#endif
