/*
 * Every RPC handler, by service. registry.c binds them to method names.
 * Each has the service_handler signature of registry.h.
 */
#ifndef OPSBUS_SERVICES_HANDLERS_H
#define OPSBUS_SERVICES_HANDLERS_H

#include <stdbool.h>

#include "opsbus/v1/job.pb-c.h"
#include "services/registry.h"

#define HANDLER(name)                                                      \
	opsbus_err name(struct rpc_call *call, const ProtobufCMessage *in, \
	    ProtobufCMessage *out)

/* health.c */
HANDLER(health_check);

/* job.c, job_read.c */
HANDLER(job_create);
/* CreateJob's group commit: the calls that arrive together, in one
 * transaction. */
extern const struct service_batch job_create_batch;
HANDLER(job_get);
HANDLER(job_list);

/* exception.c */
HANDLER(exception_health);
HANDLER(exception_list);
HANDLER(exception_get);
HANDLER(exception_resolve);

/* worker_claim.c, worker.c, worker_complete.c */
HANDLER(worker_claim);
HANDLER(worker_heartbeat);
HANDLER(worker_complete);
HANDLER(worker_complete_jobs);
HANDLER(worker_fail);

/* queue.c */
HANDLER(queue_get);
HANDLER(queue_list);
HANDLER(queue_update);
HANDLER(queue_pause);
HANDLER(queue_resume);

/* event.c */
HANDLER(event_list);
HANDLER(event_backlog);

/* admin.c */
HANDLER(admin_create_key);
HANDLER(admin_list_keys);
HANDLER(admin_revoke_key);

/* writeback.c */
HANDLER(writeback_create);
HANDLER(writeback_list);
HANDLER(writeback_get);

/* ops.c */
HANDLER(ops_get_metrics);

/* operator_summary.c, operator_read.c, operator_replay.c */
HANDLER(operator_status_summary);
HANDLER(operator_list_dead_letters);
HANDLER(operator_get_dead_letter);
HANDLER(operator_get_dead_letter_history);
HANDLER(operator_get_replay_status);
HANDLER(operator_get_job_detail);
HANDLER(operator_replay);
HANDLER(operator_acknowledge);

/* operator_auditlog.c, operator_bulk.c */
HANDLER(operator_list_audit_log);
HANDLER(operator_start_bulk_replay);
HANDLER(operator_get_bulk_operation);
HANDLER(operator_cancel_bulk_operation);

/* operator_controls.c, operator_stats.c */
HANDLER(operator_cancel_job);
HANDLER(operator_abort_job);
HANDLER(operator_reroute_job);
HANDLER(operator_force_complete_job);
HANDLER(operator_dead_letter_stats);
HANDLER(operator_list_replay_eligible);
HANDLER(operator_metrics);

#undef HANDLER

/*
 * Makes ClaimJobs calls waiting for work (wait_ms) answer at their next
 * poll step instead of waiting on. Call when the server stops, before
 * rpc_server_stop drains the calls in flight. Cannot be undone.
 */
void worker_drain(void);

/* ClaimJobs' and CompleteJob's group commit (worker_claim.c,
 * worker_complete.c). */
extern const struct service_batch worker_claim_batch;
extern const struct service_batch worker_complete_batch;

/* True for the eight job statuses of DESIGN.md. */
bool job_status_valid(const char *s);
/* A new random UUID as text, in the call's arena. */
char *new_uuid_text(struct rpc_call *call);
/* A new job's id: a time-ordered UUID (common/uuid4.h says why). */
char *new_job_id_text(struct rpc_call *call);

/*
 * An operator's replay of a request an exception kept (exception.c): in
 * is checked as CreateJob checks it and against its queue's allowed kinds
 * (UNKNOWN_EVENT_TYPE, with no new exception), then a job is created by
 * actor and its idempotency key (if any) made to answer it, state
 * processed. When the key already answers this very request and its job
 * exists, that job is the answer and nothing is created (*created false).
 */
opsbus_err job_replay_create(struct rpc_call *call,
    const Opsbus__V1__CreateJobRequest *in, const char *actor,
    Opsbus__V1__Job **out, bool *created);

#endif
