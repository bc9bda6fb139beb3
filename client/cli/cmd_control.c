/*
 * opsbus job show|cancel|abort|reroute|force-complete (the operator view
 * of a job and seed 004's request controls), opsbus metrics (seed 004's
 * monitoring figures and alert rules) and opsbus audit (the audit log).
 * Every control needs --reason; the identity is --operator or
 * OPSBUS_OPERATOR (else the API key's).
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "opsbus/v1/operator.pb-c.h"

#define M(name) "opsbus.v1.OperatorService/" name

void
cli_print_operator_job(const Opsbus__V1__OperatorJob *j)
{
	printf("id:                %s\n", j->job_id);
	printf("status:            %s%s%s\n", j->status,
	    j->cancel_requested ? " (cancel requested)" : "",
	    j->forced ? " (forced)" : "");
	if (j->operator_status[0] != '\0') {
		printf("operator status:   %s\n", j->operator_status);
	}
	printf("queue:             %s\n", j->queue);
	printf("target:            %s\n", j->ehr);
	printf("kind:              %s\n", j->kind);
	printf("note id:           %s\n", j->note_id);
	printf("attempts:          %d of %d\n", j->attempts, j->max_attempts);
	if (j->reason_code[0] != '\0') {
		printf("reason code:       %s\n", j->reason_code);
	}
	if (j->failure_category[0] != '\0') {
		printf("failure category:  %s%s\n", j->failure_category,
		    j->replay_eligible ? " (replay-eligible)" : "");
	}
	if (j->last_error[0] != '\0') {
		printf("last error:        %s\n", j->last_error);
	}
	if (j->last_error_detail[0] != '\0') {
		printf("error detail:      %s\n", j->last_error_detail);
	}
	if (j->replay_of_job_id[0] != '\0') {
		printf("replay of:         %s\n", j->replay_of_job_id);
	}
	if (j->replayed_job_id[0] != '\0') {
		printf("replayed as:       %s at %s\n", j->replayed_job_id,
		    j->replayed_at);
	}
	if (j->lease_owner[0] != '\0') {
		printf("leased by:         %s until %s\n", j->lease_owner,
		    j->lease_expires_at);
	}
	if (j->completion_summary[0] != '\0') {
		printf("summary:           %s\n", j->completion_summary);
	}
	printf("created:           %s\n", j->created_at);
	printf("updated:           %s\n", j->updated_at);
	if (j->final_state_at[0] != '\0') {
		printf("final state at:    %s\n", j->final_state_at);
	}
	printf("payload:           %s\n", j->payload);
}

static int
job_show(struct cli *cli)
{
	Opsbus__V1__GetJobDetailRequest   req;
	Opsbus__V1__GetJobDetailResponse *res;

	opsbus__v1__get_job_detail_request__init(&req);
	req.id = CLI_PB_STR(cli_one_id(cli, "job show"));
	res = (Opsbus__V1__GetJobDetailResponse *) cli_call(cli,
	    M("GetJobDetail"), &req.base,
	    &opsbus__v1__get_job_detail_response__descriptor);
	if (res == NULL) {
		return (1);
	}
	if (cli->json) {
		cli_print_json(&res->base);
		protobuf_c_message_free_unpacked(&res->base, NULL);
		return (0);
	}
	cli_print_operator_job(res->job);
	cli_print_attempts(res->attempts, res->n_attempts);
	cli_print_timeline(res->timeline, res->n_timeline);
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return (0);
}

/* Runs one control and prints the job it left. */
static int
control(struct cli *cli, const char *method, ProtobufCMessage *req,
    const ProtobufCMessageDescriptor *out_desc, const char *done)
{
	ProtobufCMessage              *res;
	const Opsbus__V1__OperatorJob *job;

	if ((res = cli_call(cli, method, req, out_desc)) == NULL) {
		return (1);
	}
	/* Every control's answer has the job as its field 1. */
	job = *(Opsbus__V1__OperatorJob *const *) (const void
	        *) ((const char *) res + out_desc->fields[0].offset);
	if (cli->json) {
		cli_print_json(res);
	} else {
		printf("%s %s: %s%s\n", done, job->job_id, job->status,
		    job->cancel_requested ? " (cancel requested: the worker "
		                            "stops at its next heartbeat)"
		                          : "");
	}
	protobuf_c_message_free_unpacked(res, NULL);
	return (0);
}

static int
job_cancel(struct cli *cli)
{
	Opsbus__V1__CancelJobRequest req;
	const char                  *v;

	opsbus__v1__cancel_job_request__init(&req);
	req.reason = CLI_PB_STR(cli_reason(cli, "job cancel"));
	if ((v = cli_take(&cli->args, "--actor")) != NULL) {
		req.actor = CLI_PB_STR(v);
	}
	req.id = CLI_PB_STR(cli_one_id(cli, "job cancel"));
	return (control(cli, M("CancelJob"), &req.base,
	    &opsbus__v1__cancel_job_response__descriptor, "cancel"));
}

static int
job_abort(struct cli *cli)
{
	Opsbus__V1__AbortJobRequest req;
	const char                 *v;

	opsbus__v1__abort_job_request__init(&req);
	req.reason = CLI_PB_STR(cli_reason(cli, "job abort"));
	if ((v = cli_take(&cli->args, "--actor")) != NULL) {
		req.actor = CLI_PB_STR(v);
	}
	req.id = CLI_PB_STR(cli_one_id(cli, "job abort"));
	return (control(cli, M("AbortJob"), &req.base,
	    &opsbus__v1__abort_job_response__descriptor, "abort"));
}

static int
job_reroute(struct cli *cli)
{
	Opsbus__V1__RerouteJobRequest req;
	const char                   *v;

	opsbus__v1__reroute_job_request__init(&req);
	req.reason = CLI_PB_STR(cli_reason(cli, "job reroute"));
	if ((v = cli_take(&cli->args, "--target")) == NULL) {
		cli_usage_error("job reroute needs --target");
	}
	req.new_target = CLI_PB_STR(v);
	if ((v = cli_take(&cli->args, "--queue")) != NULL) {
		req.new_queue = CLI_PB_STR(v);
	}
	if ((v = cli_take(&cli->args, "--actor")) != NULL) {
		req.actor = CLI_PB_STR(v);
	}
	req.id = CLI_PB_STR(cli_one_id(cli, "job reroute"));
	return (control(cli, M("RerouteJob"), &req.base,
	    &opsbus__v1__reroute_job_response__descriptor, "reroute"));
}

static int
job_force_complete(struct cli *cli)
{
	Opsbus__V1__ForceCompleteJobRequest req;
	const char                         *v;

	opsbus__v1__force_complete_job_request__init(&req);
	req.reason = CLI_PB_STR(cli_reason(cli, "job force-complete"));
	if ((v = cli_take(&cli->args, "--summary")) == NULL) {
		cli_usage_error("job force-complete needs --summary: how the "
		                "work was resolved");
	}
	req.completion_summary = CLI_PB_STR(v);
	if ((v = cli_take(&cli->args, "--actor")) != NULL) {
		req.actor = CLI_PB_STR(v);
	}
	req.id = CLI_PB_STR(cli_one_id(cli, "job force-complete"));
	return (control(cli, M("ForceCompleteJob"), &req.base,
	    &opsbus__v1__force_complete_job_response__descriptor,
	    "force-complete"));
}

int
cmd_job(struct cli *cli, const char *sub)
{
	if (strcmp(sub, "show") == 0) {
		return (job_show(cli));
	}
	if (strcmp(sub, "cancel") == 0) {
		return (job_cancel(cli));
	}
	if (strcmp(sub, "abort") == 0) {
		return (job_abort(cli));
	}
	if (strcmp(sub, "reroute") == 0) {
		return (job_reroute(cli));
	}
	if (strcmp(sub, "force-complete") == 0) {
		return (job_force_complete(cli));
	}
	cli_usage_error("unknown command \"job %s\"", sub);
}

int
cmd_metrics(struct cli *cli)
{
	Opsbus__V1__GetOperatorMetricsRequest   req;
	Opsbus__V1__GetOperatorMetricsResponse *res;
	const Opsbus__V1__ReplayOutcomes       *ro;
	const char                             *v;

	opsbus__v1__get_operator_metrics_request__init(&req);
	if ((v = cli_take(&cli->args, "--hours")) != NULL) {
		req.window_hours_value_case
		    = OPSBUS__V1__GET_OPERATOR_METRICS_REQUEST__WINDOW_HOURS_VALUE_WINDOW_HOURS;
		req.window_hours = (int32_t) cli_int(
		    "--hours", v, -2147483647L, 2147483647L);
	}
	cli_done(&cli->args, 0);
	res = (Opsbus__V1__GetOperatorMetricsResponse *) cli_call(cli,
	    M("GetOperatorMetrics"), &req.base,
	    &opsbus__v1__get_operator_metrics_response__descriptor);
	if (res == NULL) {
		return (1);
	}
	if (cli->json) {
		cli_print_json(&res->base);
		protobuf_c_message_free_unpacked(&res->base, NULL);
		return (0);
	}
	ro = res->replay_outcomes;
	printf("window:              %d h (since %s)\n", res->window_hours,
	    res->since);
	printf("dead-letter depth:   %d\n", res->dead_letter_depth);
	for (size_t i = 0; i < res->n_dead_letter_depth_by_category; i++) {
		printf("  %-30s %d\n",
		    res->dead_letter_depth_by_category[i]->key,
		    res->dead_letter_depth_by_category[i]->value);
	}
	printf("operator actions:    %d (%.2f per hour)\n", res->actions_total,
	    res->action_rate_per_hour);
	for (size_t i = 0; i < res->n_actions_by_type; i++) {
		printf("  %-30s %d\n", res->actions_by_type[i]->key,
		    res->actions_by_type[i]->value);
	}
	printf("replays:             %d (%d succeeded, %d failed, %d "
	       "pending; success rate %.1f%%)\n",
	    ro->total, ro->success, ro->failed, ro->pending,
	    ro->success_rate * 100.0);
	printf("alerts:\n");
	for (size_t i = 0; i < res->n_alerts; i++) {
		const Opsbus__V1__AlertRule *a = res->alerts[i];
		printf("  %-8s %-22s %s (now %g)\n",
		    a->firing ? "FIRING" : "ok", a->name, a->condition,
		    a->value);
	}
	if (res->n_queues > 0) {
		static const char *const h[] = {"QUEUE", "READY", "LAG MS",
		    "RUNNING", "RETRYING", "DEAD", "PAUSED"};
		struct cli_table        *t = cli_table_new(7, h);
		printf("queues:\n");
		for (size_t i = 0; i < res->n_queues; i++) {
			const Opsbus__V1__Queue      *q = res->queues[i];
			const Opsbus__V1__QueueDepth *d = q->depth;
			char                          n[5][24];
			snprintf(n[0], sizeof(n[0]), "%lld",
			    d != NULL ? (long long) d->ready : 0LL);
			snprintf(
			    n[1], sizeof(n[1]), "%lld", (long long) q->lag_ms);
			snprintf(n[2], sizeof(n[2]), "%lld",
			    d != NULL ? (long long) d->in_progress : 0LL);
			snprintf(n[3], sizeof(n[3]), "%lld",
			    d != NULL ? (long long) d->retryable_failed : 0LL);
			snprintf(n[4], sizeof(n[4]), "%lld",
			    d != NULL ? (long long) d->dead_failed : 0LL);
			const char *row[] = {q->name, n[0], n[1], n[2], n[3],
			    n[4], q->paused ? "yes" : "no"};
			cli_table_add(t, row);
		}
		cli_table_print(t, stdout);
	}
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return (0);
}

int
cmd_audit(struct cli *cli)
{
	Opsbus__V1__ListAuditLogRequest   req;
	Opsbus__V1__ListAuditLogResponse *res;
	const char                       *v;

	opsbus__v1__list_audit_log_request__init(&req);
	if ((v = cli_take(&cli->args, "--target")) != NULL) {
		req.target = CLI_PB_STR(v);
	}
	if ((v = cli_take(&cli->args, "--identity")) != NULL) {
		req.identity = CLI_PB_STR(v);
	}
	if ((v = cli_take(&cli->args, "--action")) != NULL) {
		req.action_type = CLI_PB_STR(v);
	}
	if ((v = cli_take(&cli->args, "--since")) != NULL) {
		req.since = CLI_PB_STR(v);
	}
	if ((v = cli_take(&cli->args, "--outcome")) != NULL) {
		req.outcome = CLI_PB_STR(v);
	}
	if ((v = cli_take(&cli->args, "--operation")) != NULL) {
		req.operation_id = CLI_PB_STR(v);
	}
	if ((v = cli_take(&cli->args, "--page-token")) != NULL) {
		req.page_token = CLI_PB_STR(v);
	}
	if (cli_take_limit(&cli->args, &req.limit)) {
		req.limit_value_case
		    = OPSBUS__V1__LIST_AUDIT_LOG_REQUEST__LIMIT_VALUE_LIMIT;
	}
	cli_done(&cli->args, 0);
	res = (Opsbus__V1__ListAuditLogResponse *) cli_call(cli,
	    M("ListAuditLog"), &req.base,
	    &opsbus__v1__list_audit_log_response__descriptor);
	if (res == NULL) {
		return (1);
	}
	if (cli->json) {
		cli_print_json(&res->base);
	} else {
		static const char *const h[] = {"PERFORMED", "ACTION",
		    "IDENTITY", "OUTCOME", "TARGET", "REASON"};
		struct cli_table        *t = cli_table_new(6, h);
		for (size_t i = 0; i < res->n_entries; i++) {
			Opsbus__V1__AuditEntry *e = res->entries[i];
			char                    outcome[96];
			snprintf(outcome, sizeof(outcome), "%s%s%s",
			    e->outcome, e->error_code[0] != '\0' ? " " : "",
			    e->error_code);
			const char *row[] = {e->performed_at, e->action_type,
			    e->operator_identity, outcome,
			    e->target_job_id[0] != '\0' ? e->target_job_id
			                                : e->target,
			    e->reason};
			cli_table_add(t, row);
		}
		cli_table_print(t, stdout);
		if (res->next_page_token[0] != '\0') {
			printf("next page: --page-token %s\n",
			    res->next_page_token);
		}
	}
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return (0);
}
