/*
 * What the worker calls share (worker.c: Heartbeat and FailJob;
 * worker_claim.c: ClaimJobs; worker_complete.c: CompleteJob and
 * CompleteJobs): the checks of their lease arguments, the LEASE_LOST
 * message, the SQL of a queue's policy, and the statement that makes
 * their transactions use generic plans. Not for other services.
 */
#ifndef OPSBUS_SERVICES_WORKER_INTERNAL_H
#define OPSBUS_SERVICES_WORKER_INTERNAL_H

#include <stdint.h>

#include "services/call.h"

struct db_stmt;

/*
 * The lease arguments of a worker call: NULL when job_id and lease_token
 * are UUIDs, else why not (a static string). worker_check_lease_args
 * answers the same as the call's VALIDATION_ERROR (call_fail).
 */
const char *worker_lease_args_problem(const char *job_id, const char *token);
opsbus_err  worker_check_lease_args(
     struct rpc_call *call, const char *job_id, const char *token);
/*
 * Checks a lease duration named field: 0 (the queue's) or 1000 to the
 * server's max_lease_ms. Returns 0 or VALIDATION_ERROR (call_fail).
 */
opsbus_err worker_check_lease_ms(
    struct rpc_call *call, const char *field, int32_t v);

/* LEASE_LOST's message, from the job id and the job's status. */
#define WORKER_LEASE_LOST_FMT                                               \
	"the lease on job %s is not held with this token (the job is %s): " \
	"it expired and was rescued, or another claim took it over"

/* SQL: a queue's policy, its own row or else the defaults row (name ''). */
#define WORKER_POLICY(queue_expr, cols)                                    \
	"(SELECT " cols " FROM queues WHERE name IN (" queue_expr ", '') " \
	"ORDER BY name = '' LIMIT 1)"

#endif
