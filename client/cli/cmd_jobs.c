/*
 * opsbus jobs create|get|list.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "opsbus/v1/job.pb-c.h"

static void
print_job(const Opsbus__V1__Job *j)
{
	printf("id:                %s\n", j->id);
	printf("status:            %s%s\n", j->status,
	    j->cancel_requested ? " (cancel requested)" : "");
	if (j->operator_status[0] != '\0') {
		printf("operator status:   %s\n", j->operator_status);
	}
	printf("tenant:            %s\n", j->tenant);
	printf("queue:             %s\n", j->queue);
	printf("target:            %s\n", j->target);
	printf("kind:              %s\n", j->kind);
	if (j->subject[0] != '\0') {
		printf("subject:           %s\n", j->subject);
	}
	printf("attempts:          %d of %d\n", j->attempts, j->max_attempts);
	printf("run at:            %s\n", j->run_at);
	if (j->lease_owner[0] != '\0') {
		printf("leased by:         %s until %s\n", j->lease_owner,
		    j->lease_expires_at);
	}
	if (j->reason_code[0] != '\0') {
		printf("reason code:       %s\n", j->reason_code);
	}
	if (j->last_error[0] != '\0') {
		printf("last error:        %s\n", j->last_error);
	}
	if (j->failure_category[0] != '\0') {
		printf("failure category:  %s\n", j->failure_category);
	}
	if (j->replay_of_job_id[0] != '\0') {
		printf("replay of:         %s\n", j->replay_of_job_id);
	}
	if (j->replayed_job_id[0] != '\0') {
		printf("replayed as:       %s at %s\n", j->replayed_job_id,
		    j->replayed_at);
	}
	if (j->completion_summary[0] != '\0') {
		printf("summary:           %s%s\n", j->completion_summary,
		    j->forced ? " (forced)" : "");
	}
	printf("created:           %s\n", j->created_at);
	printf("updated:           %s\n", j->updated_at);
	if (j->final_state_at[0] != '\0') {
		printf("final state at:    %s\n", j->final_state_at);
	}
	printf("correlation id:    %s\n", j->correlation_id);
	printf("payload:           %s\n", j->payload);
}

static int
jobs_create(struct cli *cli)
{
	Opsbus__V1__CreateJobRequest   req;
	Opsbus__V1__CreateJobResponse *res;
	const char                    *v;
	char                          *payload = NULL;

	opsbus__v1__create_job_request__init(&req);
	if ((v = cli_take(&cli->args, "--queue")) != NULL) {
		req.queue = CLI_PB_STR(v);
	}
	if ((v = cli_take(&cli->args, "--tenant")) != NULL) {
		req.tenant = CLI_PB_STR(v);
	}
	if ((v = cli_take(&cli->args, "--target")) != NULL) {
		req.target = CLI_PB_STR(v);
	}
	if ((v = cli_take(&cli->args, "--kind")) != NULL) {
		req.kind = CLI_PB_STR(v);
	}
	if ((v = cli_take(&cli->args, "--subject")) != NULL) {
		req.subject = CLI_PB_STR(v);
	}
	if ((v = cli_take(&cli->args, "--idempotency-key")) != NULL) {
		req.idempotency_key = CLI_PB_STR(v);
	}
	if ((v = cli_take(&cli->args, "--run-at")) != NULL) {
		req.run_at = CLI_PB_STR(v);
	}
	if ((v = cli_take(&cli->args, "--max-attempts")) != NULL) {
		req.max_attempts
		    = (int32_t) cli_int("--max-attempts", v, 1, 1000);
	}
	if ((v = cli_take(&cli->args, "--priority")) != NULL) {
		req.priority = (int32_t) cli_int("--priority", v, -1000, 1000);
	}
	if ((v = cli_take(&cli->args, "--payload")) != NULL) {
		payload = cli_read_value(v);
		req.payload = payload;
	}
	cli_done(&cli->args, 0);
	if (req.queue[0] == '\0') {
		cli_usage_error("jobs create needs --queue");
	}
	res = (Opsbus__V1__CreateJobResponse *) cli_call(cli,
	    "opsbus.v1.JobService/CreateJob", &req.base,
	    &opsbus__v1__create_job_response__descriptor);
	free(payload);
	if (res == NULL) {
		return (1);
	}
	if (cli->json) {
		cli_print_json(&res->base);
	} else {
		printf("%s %s (%s)\n", res->created ? "created" : "existing",
		    res->job->id, res->job->status);
	}
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return (0);
}

static int
jobs_get(struct cli *cli)
{
	Opsbus__V1__GetJobRequest   req;
	Opsbus__V1__GetJobResponse *res;

	opsbus__v1__get_job_request__init(&req);
	req.include_attempts = cli_flag(&cli->args, "--attempts");
	req.include_timeline = cli_flag(&cli->args, "--timeline");
	req.id = CLI_PB_STR(cli_one_id(cli, "jobs get"));
	res = (Opsbus__V1__GetJobResponse *) cli_call(cli,
	    "opsbus.v1.JobService/GetJob", &req.base,
	    &opsbus__v1__get_job_response__descriptor);
	if (res == NULL) {
		return (1);
	}
	if (cli->json) {
		cli_print_json(&res->base);
		protobuf_c_message_free_unpacked(&res->base, NULL);
		return (0);
	}
	print_job(res->job);
	cli_print_attempts(res->attempts, res->n_attempts);
	cli_print_timeline(res->timeline, res->n_timeline);
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return (0);
}

static int
jobs_list(struct cli *cli)
{
	Opsbus__V1__ListJobsRequest   req;
	Opsbus__V1__ListJobsResponse *res;
	const char                   *states[8];
	const char                   *v;

	opsbus__v1__list_jobs_request__init(&req);
	req.n_states = (size_t) cli_take_all(&cli->args, "--state", states, 8);
	req.states = (char **) (uintptr_t) states;
	if ((v = cli_take(&cli->args, "--queue")) != NULL) {
		req.queue = CLI_PB_STR(v);
	}
	if ((v = cli_take(&cli->args, "--target")) != NULL) {
		req.target = CLI_PB_STR(v);
	}
	if ((v = cli_take(&cli->args, "--tenant")) != NULL) {
		req.tenant = CLI_PB_STR(v);
	}
	if ((v = cli_take(&cli->args, "--page-token")) != NULL) {
		req.page_token = CLI_PB_STR(v);
	}
	if (cli_take_limit(&cli->args, &req.limit)) {
		req.limit_value_case
		    = OPSBUS__V1__LIST_JOBS_REQUEST__LIMIT_VALUE_LIMIT;
	}
	cli_done(&cli->args, 0);
	res = (Opsbus__V1__ListJobsResponse *) cli_call(cli,
	    "opsbus.v1.JobService/ListJobs", &req.base,
	    &opsbus__v1__list_jobs_response__descriptor);
	if (res == NULL) {
		return (1);
	}
	if (cli->json) {
		cli_print_json(&res->base);
	} else {
		static const char *const h[] = {"ID", "STATUS", "QUEUE",
		    "TARGET", "ATTEMPTS", "REASON", "UPDATED"};
		struct cli_table        *t = cli_table_new(7, h);
		for (size_t i = 0; i < res->n_jobs; i++) {
			Opsbus__V1__Job *j = res->jobs[i];
			char             att[32];
			snprintf(att, sizeof(att), "%d/%d", j->attempts,
			    j->max_attempts);
			const char *row[] = {j->id, j->status, j->queue,
			    j->target, att, j->reason_code, j->updated_at};
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

int
cmd_jobs(struct cli *cli, const char *sub)
{
	if (strcmp(sub, "create") == 0) {
		return (jobs_create(cli));
	}
	if (strcmp(sub, "get") == 0) {
		return (jobs_get(cli));
	}
	if (strcmp(sub, "list") == 0) {
		return (jobs_list(cli));
	}
	cli_usage_error("unknown command \"jobs %s\"", sub);
}
