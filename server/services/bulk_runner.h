/*
 * The bulk runner: a thread of opsbusd that works the bulk operations
 * (operator_bulk.c) on its own database connection.
 *
 * It takes an unfinished operation under a session advisory lock (so
 * several opsbusd sharing a database work different operations, and an
 * operation whose opsbusd died is taken over: PostgreSQL drops the lock
 * with the session), then replays its items in small transactions paced
 * at the operation's max_per_second. Each transaction locks the operation
 * row (a cancel waits for it, and the next one sees the cancel), takes the
 * next pending items, replays each under a savepoint (replay_dead_letter,
 * the rules of a single replay), marks each item with its outcome and
 * writes its audit row (controlled_replay with the operation's id), and
 * adds to the operation's counts. An item is marked in the transaction of
 * its replay, so a crash never replays an item twice, and a restart
 * resumes with the items still pending.
 */
#ifndef OPSBUS_SERVICES_BULK_RUNNER_H
#define OPSBUS_SERVICES_BULK_RUNNER_H

#include "errors.h"

struct bulk_runner;

/*
 * Starts the runner thread with its own connection to conninfo (copied).
 * Returns 0 and writes *out, or OPSBUS_E_INTERNAL (no memory, no thread).
 */
opsbus_err bulk_runner_start(const char *conninfo, struct bulk_runner **out);

/*
 * Stops the runner: the batch in progress commits, then the thread ends
 * and its connection closes (operations it held stay pending for the next
 * runner). NULL does nothing.
 */
void bulk_runner_stop(struct bulk_runner *r);

#endif
