/*
 * The handler table. One row per RPC: full method name, handler, the role
 * it needs, and its flags. rpc/methods.c checks it against the service
 * descriptors at start.
 */
#include "services/registry.h"

#include "opsbus/v1/admin.pb-c.h"
#include "opsbus/v1/event.pb-c.h"
#include "opsbus/v1/exception.pb-c.h"
#include "opsbus/v1/health.pb-c.h"
#include "opsbus/v1/job.pb-c.h"
#include "opsbus/v1/operator.pb-c.h"
#include "opsbus/v1/queue.pb-c.h"
#include "opsbus/v1/ops.pb-c.h"
#include "opsbus/v1/writeback.pb-c.h"
#include "services/handlers.h"

#define M(svc, method) "opsbus.v1." svc "/" method

const struct service_method service_methods[] = {
    {M("HealthService", "Check"), health_check, PERM_PUBLIC, METHOD_NO_TX},

    {M("JobService", "CreateJob"), job_create, PERM_WORK, METHOD_MUTATING},
    {M("JobService", "GetJob"), job_get, PERM_READ, 0},
    {M("JobService", "ListJobs"), job_list, PERM_READ, 0},
    {M("JobService", "ClaimJobs"), worker_claim, PERM_WORK, METHOD_MUTATING},
    {M("JobService", "Heartbeat"), worker_heartbeat, PERM_WORK, 0},
    {M("JobService", "CompleteJob"), worker_complete, PERM_WORK,
        METHOD_MUTATING},
    {M("JobService", "CompleteJobs"), worker_complete_jobs, PERM_WORK,
        METHOD_MUTATING},
    {M("JobService", "FailJob"), worker_fail, PERM_WORK, METHOD_MUTATING},

    {M("QueueService", "GetQueue"), queue_get, PERM_READ, 0},
    {M("QueueService", "ListQueues"), queue_list, PERM_READ, 0},
    {M("QueueService", "UpdateQueue"), queue_update, PERM_ADMIN,
        METHOD_MUTATING},
    {M("QueueService", "PauseQueue"), queue_pause, PERM_OPERATE,
        METHOD_MUTATING},
    {M("QueueService", "ResumeQueue"), queue_resume, PERM_OPERATE,
        METHOD_MUTATING},

    {M("EventService", "ListEvents"), event_list, PERM_READ, 0},
    {M("EventService", "GetBacklog"), event_backlog, PERM_READ, 0},

    {M("OperatorService", "GetStatusSummary"), operator_status_summary,
        PERM_READ, 0},
    {M("OperatorService", "ListDeadLetters"), operator_list_dead_letters,
        PERM_READ, 0},
    {M("OperatorService", "GetDeadLetter"), operator_get_dead_letter,
        PERM_READ, 0},
    {M("OperatorService", "GetDeadLetterHistory"),
        operator_get_dead_letter_history, PERM_READ, 0},
    {M("OperatorService", "GetReplayStatus"), operator_get_replay_status,
        PERM_READ, 0},
    {M("OperatorService", "ReplayDeadLetter"), operator_replay, PERM_OPERATE,
        METHOD_MUTATING},
    {M("OperatorService", "AcknowledgeDeadLetter"), operator_acknowledge,
        PERM_OPERATE, METHOD_MUTATING},
    {M("OperatorService", "GetJobDetail"), operator_get_job_detail, PERM_READ,
        0},
    {M("OperatorService", "ListAuditLog"), operator_list_audit_log,
        PERM_OPERATE, 0},
    {M("OperatorService", "StartBulkReplay"), operator_start_bulk_replay,
        PERM_OPERATE, METHOD_MUTATING},
    {M("OperatorService", "GetBulkOperation"), operator_get_bulk_operation,
        PERM_READ, 0},
    {M("OperatorService", "CancelBulkOperation"),
        operator_cancel_bulk_operation, PERM_OPERATE, METHOD_MUTATING},
    {M("OperatorService", "CancelJob"), operator_cancel_job, PERM_OPERATE,
        METHOD_MUTATING},
    {M("OperatorService", "AbortJob"), operator_abort_job, PERM_OPERATE,
        METHOD_MUTATING},
    {M("OperatorService", "RerouteJob"), operator_reroute_job, PERM_OPERATE,
        METHOD_MUTATING},
    {M("OperatorService", "ForceCompleteJob"), operator_force_complete_job,
        PERM_OPERATE, METHOD_MUTATING},
    {M("OperatorService", "GetDeadLetterStats"), operator_dead_letter_stats,
        PERM_READ, 0},
    {M("OperatorService", "ListReplayEligible"), operator_list_replay_eligible,
        PERM_READ, 0},
    {M("OperatorService", "GetOperatorMetrics"), operator_metrics, PERM_READ,
        0},

    {M("ExceptionService", "GetExceptionsHealth"), exception_health, PERM_READ,
        0},
    {M("ExceptionService", "ListExceptions"), exception_list, PERM_READ, 0},
    {M("ExceptionService", "GetException"), exception_get, PERM_READ, 0},
    {M("ExceptionService", "ResolveException"), exception_resolve,
        PERM_OPERATE, METHOD_MUTATING},

    {M("AdminService", "CreateApiKey"), admin_create_key, PERM_ADMIN,
        METHOD_MUTATING},
    {M("AdminService", "ListApiKeys"), admin_list_keys, PERM_ADMIN, 0},
    {M("AdminService", "RevokeApiKey"), admin_revoke_key, PERM_ADMIN,
        METHOD_MUTATING},

    {M("WritebackService", "CreateWritebackJob"), writeback_create, PERM_WORK,
        METHOD_MUTATING},
    {M("WritebackService", "ListWritebackJobs"), writeback_list, PERM_READ, 0},
    {M("WritebackService", "GetWritebackJob"), writeback_get, PERM_READ, 0},

    {M("OpsService", "GetMetrics"), ops_get_metrics, PERM_READ, 0},
};

const size_t service_methods_count
    = sizeof(service_methods) / sizeof(service_methods[0]);

const struct service_batch_row service_batches[] = {
    {M("JobService", "CreateJob"), &job_create_batch},
    {M("JobService", "ClaimJobs"), &worker_claim_batch},
    {M("JobService", "CompleteJob"), &worker_complete_batch},
};

const size_t service_batches_count
    = sizeof(service_batches) / sizeof(service_batches[0]);

const ProtobufCServiceDescriptor *const service_descriptors[] = {
    &opsbus__v1__health_service__descriptor,
    &opsbus__v1__job_service__descriptor,
    &opsbus__v1__admin_service__descriptor,
    &opsbus__v1__event_service__descriptor,
    &opsbus__v1__operator_service__descriptor,
    &opsbus__v1__queue_service__descriptor,
    &opsbus__v1__writeback_service__descriptor,
    &opsbus__v1__ops_service__descriptor,
    &opsbus__v1__exception_service__descriptor,
};

const size_t service_descriptors_count
    = sizeof(service_descriptors) / sizeof(service_descriptors[0]);
