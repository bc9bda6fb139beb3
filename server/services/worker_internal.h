/*
 * What the worker calls share (worker.c: Heartbeat and FailJob;
 * worker_claim.c: ClaimJobs; worker_complete.c: CompleteJob and
 * CompleteJobs): the checks of their lease arguments, the claim that
 * follows a completion (claim_next), the LEASE_LOST
 * message, the SQL of a queue's policy, and the statement that makes
 * their transactions use generic plans. Not for other services.
 */
#ifndef OPSBUS_SERVICES_WORKER_INTERNAL_H
#define OPSBUS_SERVICES_WORKER_INTERNAL_H

#include <stdint.h>

#include "opsbus/v1/job.pb-c.h"
#include "services/call.h"

struct arena;
struct db;
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

/*
 * The claim_next of CompleteJob and CompleteJobs (worker_claim.c). Check
 * answers as ClaimJobs would for a bad request, and refuses waiting
 * (wait_ms must be 0). Next claims for n calls at once, on db in the
 * transaction open, without waiting: calls[i] with in[i], answered into
 * *out[i] (made in calls[i]'s arena), one statement per queue and tenant
 * among them; scratch holds the parameters. Returns 0 or a database error.
 */
opsbus_err worker_claim_next_check(
    struct rpc_call *call, const Opsbus__V1__ClaimJobsRequest *in);
opsbus_err worker_claim_next(struct db *db, struct arena *scratch,
    struct rpc_call *const                    *calls,
    const Opsbus__V1__ClaimJobsRequest *const *in,
    Opsbus__V1__ClaimJobsResponse **out, int n);

/* LEASE_LOST's message, from the job id and the job's status. */
#define WORKER_LEASE_LOST_FMT                                               \
	"the lease on job %s is not held with this token (the job is %s): " \
	"it expired and was rescued, or another claim took it over"

/* SQL: a queue's policy, its own row or else the defaults row (name ''). */
#define WORKER_POLICY(queue_expr, cols)                                    \
	"(SELECT " cols " FROM queues WHERE name IN (" queue_expr ", '') " \
	"ORDER BY name = '' LIMIT 1)"

#endif
