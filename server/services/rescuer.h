/*
 * The rescuer: a background thread of opsbusd that finds jobs whose lease
 * expired (their worker died or stopped heartbeating) and makes them
 * retryable_failed with reason LEASE_EXPIRED (run_at from the queue's
 * backoff), or dead_failed when they have no attempts left. It also
 * forgets stored replies of resent requests after an hour.
 *
 * Any number of opsbusd may run one: each pass takes a transaction-level
 * advisory lock and a pass that does not get it does nothing, so one
 * rescues at a time. Each update is guarded by the status and the lease
 * token the pass read (River's issue #1302), and the rows are locked from
 * the read on, so a worker's completion at the same moment wins or loses
 * cleanly: never both, never a completed job overwritten.
 */
#ifndef OPSBUS_SERVICES_RESCUER_H
#define OPSBUS_SERVICES_RESCUER_H

#include "errors.h"

struct db;
struct rescuer;

/*
 * Starts the rescuer thread with its own connection to conninfo (copied),
 * making a pass every interval_ms (>= 10; the environment variable
 * OPSBUS_RESCUE_INTERVAL_MS, when set to 10..3600000, overrides it, for
 * tests). A database that is down is retried at the next pass. Returns 0
 * and writes *out, or -1 (out of memory, no thread).
 */
int rescuer_start(const char *conninfo, int interval_ms, struct rescuer **out);

/* Stops the thread (a pass in progress finishes) and frees. NULL does
 * nothing. */
void rescuer_stop(struct rescuer *r);

/*
 * One pass on db (no transaction open): rescues up to `limit` expired
 * leases and deletes old stored replies, in one transaction, if this
 * process gets the rescuer's advisory lock. Writes how many jobs it
 * rescued to *rescued (0 when another process holds the lock). Returns 0
 * or a database error.
 */
opsbus_err rescuer_pass(struct db *db, int limit, int *rescued);

#endif
