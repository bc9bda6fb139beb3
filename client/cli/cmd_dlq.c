/*
 * opsbus summary and opsbus dlq list|show|history|replay-status|replay|
 * ack|stats|eligible: the dead-letter triage of seeds 000, 001 and 004 on
 * the command line. Bulk replay is in cmd_bulk.c.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "opsbus/v1/operator.pb-c.h"

#define M(name) "opsbus.v1.OperatorService/" name

/* Prints the answer as JSON when asked; says whether it did. */
static bool
json_out(struct cli *cli, ProtobufCMessage *res)
{
	if (cli->json) {
		cli_print_json(res);
	}
	return (cli->json);
}

int
cmd_summary(struct cli *cli)
{
	Opsbus__V1__GetStatusSummaryRequest   req;
	Opsbus__V1__GetStatusSummaryResponse *res;
	const Opsbus__V1__RecentFailures     *rf;
	const char                           *v;

	opsbus__v1__get_status_summary_request__init(&req);
	if ((v = cli_take(&cli->args, "--hours")) != NULL) {
		req.recent_hours_value_case
		    = OPSBUS__V1__GET_STATUS_SUMMARY_REQUEST__RECENT_HOURS_VALUE_RECENT_HOURS;
		req.recent_hours = (int32_t) cli_int(
		    "--hours", v, -2147483647L, 2147483647L);
	}
	if ((v = cli_take(&cli->args, "--queue")) != NULL) {
		req.queue = CLI_PB_STR(v);
	}
	cli_done(&cli->args, 0);
	res = (Opsbus__V1__GetStatusSummaryResponse *) cli_call(cli,
	    M("GetStatusSummary"), &req.base,
	    &opsbus__v1__get_status_summary_response__descriptor);
	if (res == NULL) {
		return (1);
	}
	if (!json_out(cli, &res->base)) {
		rf = res->recent_failures;
		printf("jobs by status:\n");
		for (size_t i = 0; i < res->n_counts_by_status; i++) {
			printf("  %-18s %d\n", res->counts_by_status[i]->key,
			    res->counts_by_status[i]->value);
		}
		printf("dead letters:        %d open, %d acknowledged\n",
		    res->dead_letter_operator_counts->open,
		    res->dead_letter_operator_counts->acknowledged);
		printf("failed attempts in the last %d h (since %s): %d "
		       "(%d retryable, %d not, %d unknown)\n",
		    rf->window_hours, rf->since, rf->total, rf->retryable,
		    rf->non_retryable, rf->unknown);
		for (size_t i = 0; i < rf->n_by_reason_code; i++) {
			printf("  %-30s %d\n", rf->by_reason_code[i]->key,
			    rf->by_reason_code[i]->value);
		}
	}
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return (0);
}

static void
print_dead_letter(const Opsbus__V1__DeadLetterSummary *d)
{
	printf("job id:            %s\n", d->job_id);
	printf("note id:           %s\n", d->note_id);
	printf("status:            %s\n", d->status);
	if (d->operator_status[0] != '\0') {
		printf("operator status:   %s\n", d->operator_status);
	}
	printf("reason code:       %s\n", d->reason_code);
	printf("attempts:          %d\n", d->attempts);
	printf("updated:           %s\n", d->updated_at);
}

static void
print_linkage(const Opsbus__V1__ReplayLinkage *l)
{
	printf("original job:      %s\n", l->original_job_id);
	if (l->is_replay) {
		printf("replay of:         %s\n", l->replay_of_job_id);
	}
	if (l->has_replay) {
		printf("replayed as:       %s (%s)\n", l->replayed_job_id,
		    l->replay_job_status);
	} else {
		printf("replayed as:       (not replayed)\n");
	}
}

static int
dlq_list(struct cli *cli)
{
	Opsbus__V1__ListDeadLettersRequest   req;
	Opsbus__V1__ListDeadLettersResponse *res;
	const char                          *v;

	opsbus__v1__list_dead_letters_request__init(&req);
	if ((v = cli_take(&cli->args, "--status")) != NULL) {
		req.status = CLI_PB_STR(v);
	}
	if ((v = cli_take(&cli->args, "--reason")) != NULL) {
		req.reason = CLI_PB_STR(v);
	}
	if ((v = cli_take(&cli->args, "--queue")) != NULL) {
		req.queue = CLI_PB_STR(v);
	}
	if (cli_take_limit(&cli->args, &req.limit)) {
		req.limit_value_case
		    = OPSBUS__V1__LIST_DEAD_LETTERS_REQUEST__LIMIT_VALUE_LIMIT;
	}
	cli_done(&cli->args, 0);
	res = (Opsbus__V1__ListDeadLettersResponse *) cli_call(cli,
	    M("ListDeadLetters"), &req.base,
	    &opsbus__v1__list_dead_letters_response__descriptor);
	if (res == NULL) {
		return (1);
	}
	if (!json_out(cli, &res->base)) {
		static const char *const h[]
		    = {"JOB ID", "NOTE", "STATUS", "OPERATOR", "REASON",
		        "ATTEMPTS", "REPLAYED AS", "UPDATED"};
		struct cli_table *t = cli_table_new(8, h);
		for (size_t i = 0; i < res->n_dead_letters; i++) {
			Opsbus__V1__DeadLetterSummary *d
			    = res->dead_letters[i];
			char n[16];
			snprintf(n, sizeof(n), "%d", d->attempts);
			const char *row[] = {d->job_id, d->note_id, d->status,
			    d->operator_status, d->reason_code, n,
			    d->replayed_job_id, d->updated_at};
			cli_table_add(t, row);
		}
		cli_table_print(t, stdout);
	}
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return (0);
}

static int
dlq_show(struct cli *cli)
{
	Opsbus__V1__GetDeadLetterRequest   req;
	Opsbus__V1__GetDeadLetterResponse *res;

	opsbus__v1__get_dead_letter_request__init(&req);
	req.id = CLI_PB_STR(cli_one_id(cli, "dlq show"));
	res = (Opsbus__V1__GetDeadLetterResponse *) cli_call(cli,
	    M("GetDeadLetter"), &req.base,
	    &opsbus__v1__get_dead_letter_response__descriptor);
	if (res == NULL) {
		return (1);
	}
	if (!json_out(cli, &res->base)) {
		print_dead_letter(res->dead_letter);
		printf("last error:        %s\n", res->last_error);
		if (res->replay_linkage->replay_of_job_id[0] != '\0') {
			printf("replay of:         %s\n",
			    res->replay_linkage->replay_of_job_id);
		}
		if (res->replay_linkage->replayed_job_id[0] != '\0') {
			printf("replayed as:       %s\n",
			    res->replay_linkage->replayed_job_id);
		}
		if (res->n_attempts > 0) {
			static const char *const h[] = {
			    "ATTEMPT", "FROM", "TO", "REASON", "AT", "ERROR"};
			struct cli_table *t = cli_table_new(6, h);
			printf("\nattempts:\n");
			for (size_t i = 0; i < res->n_attempts; i++) {
				Opsbus__V1__DeadLetterAttempt *a
				    = res->attempts[i];
				char n[16];
				snprintf(n, sizeof(n), "%d", a->attempt);
				const char *row[] = {n, a->from_status,
				    a->to_status, a->reason_code,
				    a->occurred_at, a->error};
				cli_table_add(t, row);
			}
			cli_table_print(t, stdout);
		}
	}
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return (0);
}

static int
dlq_history(struct cli *cli)
{
	Opsbus__V1__GetDeadLetterHistoryRequest   req;
	Opsbus__V1__GetDeadLetterHistoryResponse *res;

	opsbus__v1__get_dead_letter_history_request__init(&req);
	req.id = CLI_PB_STR(cli_one_id(cli, "dlq history"));
	res = (Opsbus__V1__GetDeadLetterHistoryResponse *) cli_call(cli,
	    M("GetDeadLetterHistory"), &req.base,
	    &opsbus__v1__get_dead_letter_history_response__descriptor);
	if (res == NULL) {
		return (1);
	}
	if (!json_out(cli, &res->base)) {
		print_dead_letter(res->dead_letter);
		print_linkage(res->replay_linkage);
		cli_print_timeline(res->timeline, res->n_timeline);
	}
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return (0);
}

static int
dlq_replay_status(struct cli *cli)
{
	Opsbus__V1__GetReplayStatusRequest   req;
	Opsbus__V1__GetReplayStatusResponse *res;

	opsbus__v1__get_replay_status_request__init(&req);
	req.id = CLI_PB_STR(cli_one_id(cli, "dlq replay-status"));
	res = (Opsbus__V1__GetReplayStatusResponse *) cli_call(cli,
	    M("GetReplayStatus"), &req.base,
	    &opsbus__v1__get_replay_status_response__descriptor);
	if (res == NULL) {
		return (1);
	}
	if (!json_out(cli, &res->base)) {
		print_dead_letter(res->dead_letter);
		print_linkage(res->replay_linkage);
	}
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return (0);
}

const char *
cli_reason(struct cli *cli, const char *what)
{
	const char *reason = cli_take(&cli->args, "--reason");

	if (reason == NULL) {
		cli_usage_error("%s needs --reason: why, for the audit log "
		                "(\"EHR outage resolved, INC-1234\")",
		    what);
	}
	return (reason);
}

static int
dlq_replay(struct cli *cli)
{
	Opsbus__V1__ReplayDeadLetterRequest   req;
	Opsbus__V1__ReplayDeadLetterResponse *res;
	const char                           *v;

	opsbus__v1__replay_dead_letter_request__init(&req);
	req.reason = CLI_PB_STR(cli_reason(cli, "dlq replay"));
	if ((v = cli_take(&cli->args, "--actor")) != NULL) {
		req.actor = CLI_PB_STR(v);
	}
	req.id = CLI_PB_STR(cli_one_id(cli, "dlq replay"));
	res = (Opsbus__V1__ReplayDeadLetterResponse *) cli_call(cli,
	    M("ReplayDeadLetter"), &req.base,
	    &opsbus__v1__replay_dead_letter_response__descriptor);
	if (res == NULL) {
		return (1);
	}
	if (!json_out(cli, &res->base)) {
		printf("replayed %s as %s (%s)\n", res->original_job->job_id,
		    res->replay_job->job_id, res->replay_job->status);
	}
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return (0);
}

static int
dlq_ack(struct cli *cli)
{
	Opsbus__V1__AcknowledgeDeadLetterRequest   req;
	Opsbus__V1__AcknowledgeDeadLetterResponse *res;
	const char                                *v;

	opsbus__v1__acknowledge_dead_letter_request__init(&req);
	req.reason = CLI_PB_STR(cli_reason(cli, "dlq ack"));
	if ((v = cli_take(&cli->args, "--actor")) != NULL) {
		req.actor = CLI_PB_STR(v);
	}
	req.id = CLI_PB_STR(cli_one_id(cli, "dlq ack"));
	res = (Opsbus__V1__AcknowledgeDeadLetterResponse *) cli_call(cli,
	    M("AcknowledgeDeadLetter"), &req.base,
	    &opsbus__v1__acknowledge_dead_letter_response__descriptor);
	if (res == NULL) {
		return (1);
	}
	if (!json_out(cli, &res->base)) {
		printf("acknowledged %s\n", res->job->job_id);
	}
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return (0);
}

static int
dlq_stats(struct cli *cli)
{
	Opsbus__V1__GetDeadLetterStatsRequest   req;
	Opsbus__V1__GetDeadLetterStatsResponse *res;
	const char                             *v;

	opsbus__v1__get_dead_letter_stats_request__init(&req);
	if ((v = cli_take(&cli->args, "--queue")) != NULL) {
		req.queue = CLI_PB_STR(v);
	}
	cli_done(&cli->args, 0);
	res = (Opsbus__V1__GetDeadLetterStatsResponse *) cli_call(cli,
	    M("GetDeadLetterStats"), &req.base,
	    &opsbus__v1__get_dead_letter_stats_response__descriptor);
	if (res == NULL) {
		return (1);
	}
	if (!json_out(cli, &res->base)) {
		printf("total dead-lettered:  %d\n", res->total);
		printf("not replayed:         %d (replay-eligible %d)\n",
		    res->not_replayed, res->replay_eligible);
		printf("replayed:             %d\n", res->replayed);
		printf("operator status:      %d open, %d acknowledged\n",
		    res->open, res->acknowledged);
		printf("depth by category:\n");
		for (size_t i = 0; i < res->n_depth_by_category; i++) {
			printf("  %-30s %d\n", res->depth_by_category[i]->key,
			    res->depth_by_category[i]->value);
		}
	}
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return (0);
}

static int
dlq_eligible(struct cli *cli)
{
	Opsbus__V1__ListReplayEligibleRequest   req;
	Opsbus__V1__ListReplayEligibleResponse *res;
	const char                             *v;

	opsbus__v1__list_replay_eligible_request__init(&req);
	if ((v = cli_take(&cli->args, "--category")) != NULL) {
		req.failure_category = CLI_PB_STR(v);
	}
	if ((v = cli_take(&cli->args, "--queue")) != NULL) {
		req.queue = CLI_PB_STR(v);
	}
	if (cli_take_limit(&cli->args, &req.limit)) {
		req.limit_value_case
		    = OPSBUS__V1__LIST_REPLAY_ELIGIBLE_REQUEST__LIMIT_VALUE_LIMIT;
	}
	cli_done(&cli->args, 0);
	res = (Opsbus__V1__ListReplayEligibleResponse *) cli_call(cli,
	    M("ListReplayEligible"), &req.base,
	    &opsbus__v1__list_replay_eligible_response__descriptor);
	if (res == NULL) {
		return (1);
	}
	if (!json_out(cli, &res->base)) {
		static const char *const h[] = {"ID", "NOTE", "QUEUE",
		    "CATEGORY", "REASON", "DEAD SINCE", "FAILURE"};
		struct cli_table        *t = cli_table_new(7, h);
		for (size_t i = 0; i < res->n_entries; i++) {
			Opsbus__V1__ReplayEligibleEntry *e = res->entries[i];
			const char *row[] = {e->id, e->note_id, e->queue,
			    e->failure_category, e->reason_code,
			    e->dead_lettered_at, e->failure_reason};
			cli_table_add(t, row);
		}
		cli_table_print(t, stdout);
	}
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return (0);
}

int
cmd_dlq(struct cli *cli, const char *sub)
{
	static const struct {
		const char *name;
		int (*fn)(struct cli *);
	} subs[] = {
	    {"list", dlq_list},
	    {"show", dlq_show},
	    {"history", dlq_history},
	    {"replay-status", dlq_replay_status},
	    {"replay", dlq_replay},
	    {"ack", dlq_ack},
	    {"stats", dlq_stats},
	    {"eligible", dlq_eligible},
	    {"bulk-replay", cmd_bulk_replay},
	    {"bulk-status", cmd_bulk_status},
	    {"bulk-cancel", cmd_bulk_cancel},
	};

	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (strcmp(sub, subs[i].name) == 0) {
			return (subs[i].fn(cli));
		}
	}
	cli_usage_error("unknown command \"dlq %s\"", sub);
}
