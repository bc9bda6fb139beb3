/*
 * opsbus dlq bulk-replay|bulk-status|bulk-cancel: bulk replay as a
 * server-side task. bulk-replay starts it and follows its progress (a bar
 * when stdout is a terminal) until it ends; --no-wait returns at once.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "opsbus/v1/operator.pb-c.h"

#define M(name) "opsbus.v1.OperatorService/" name

/* Filter keys as --filter takes them, and where each goes. */
static bool
filter_set(Opsbus__V1__BulkReplayFilter *f, const char *key, char *value)
{
	static const struct {
		const char *names[3];
		size_t      offset;
	} keys[] = {
	    {{"queue", NULL, NULL},
	        offsetof(Opsbus__V1__BulkReplayFilter, queue)},
	    {{"reason", "reason-code", "reason_code"},
	        offsetof(Opsbus__V1__BulkReplayFilter, reason_code)},
	    {{"category", "failure-category", "failure_category"},
	        offsetof(Opsbus__V1__BulkReplayFilter, failure_category)},
	    {{"target", NULL, NULL},
	        offsetof(Opsbus__V1__BulkReplayFilter, target)},
	    {{"status", "operator-status", "operator_status"},
	        offsetof(Opsbus__V1__BulkReplayFilter, operator_status)},
	    {{"created-before", "created_before", "before"},
	        offsetof(Opsbus__V1__BulkReplayFilter, created_before)},
	    {{"created-after", "created_after", "after"},
	        offsetof(Opsbus__V1__BulkReplayFilter, created_after)},
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		for (int n = 0; n < 3 && keys[i].names[n] != NULL; n++) {
			if (strcmp(key, keys[i].names[n]) == 0) {
				*(char **) (void *) ((char *) f
				    + keys[i].offset)
				    = value;
				return (true);
			}
		}
	}
	return (false);
}

/* Parses "k=v,k=v" into f; the strings stay in buf (the caller frees). */
static void
filter_parse(Opsbus__V1__BulkReplayFilter *f, char *buf)
{
	char *save = NULL;

	for (char *kv = strtok_r(buf, ",", &save); kv != NULL;
	     kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		if (eq == NULL) {
			cli_usage_error("--filter takes key=value pairs, not "
			                "\"%s\"",
			    kv);
		}
		*eq = '\0';
		if (!filter_set(f, kv, eq + 1)) {
			cli_usage_error("unknown --filter key \"%s\" (queue, "
			                "reason, category, target, status, "
			                "created-before, created-after)",
			    kv);
		}
	}
}

static void
print_operation(const Opsbus__V1__BulkOperation *op)
{
	printf("operation:         %s\n", op->id);
	printf("status:            %s%s\n", op->status,
	    op->dry_run ? " (dry run)" : "");
	printf(
	    "started by:        %s: %s\n", op->operator_identity, op->reason);
	printf("rate:              %d/s\n", op->max_per_second);
	printf("matched:           %d\n", op->matched);
	if (!op->dry_run) {
		printf("replayed:          %d\n", op->replayed);
		printf("skipped:           %d\n", op->skipped);
		printf("failed:            %d\n", op->failed);
		printf("pending:           %d\n", op->pending);
	}
	printf("created:           %s\n", op->created_at);
	if (op->finished_at[0] != '\0') {
		printf("finished:          %s\n", op->finished_at);
	}
	for (size_t i = 0; i < op->n_failures; i++) {
		const Opsbus__V1__BulkItemFailure *f = op->failures[i];
		printf("  %s %s %s: %s\n", f->job_id, f->outcome,
		    f->error_code, f->message);
	}
}

static bool
finished(const Opsbus__V1__BulkOperation *op)
{
	return (strcmp(op->status, "pending") != 0
	    && strcmp(op->status, "running") != 0);
}

static void
progress_bar(const Opsbus__V1__BulkOperation *op)
{
	int  done = op->replayed + op->skipped + op->failed;
	int  width = 30;
	int  fill = op->matched > 0 ? done * width / op->matched : width;
	char bar[64];

	for (int i = 0; i < width; i++) {
		bar[i] = i < fill ? '#' : '.';
	}
	bar[width] = '\0';
	printf("\r[%s] %d/%d  replayed %d  skipped %d  failed %d  ", bar, done,
	    op->matched, op->replayed, op->skipped, op->failed);
	fflush(stdout);
}

static Opsbus__V1__BulkOperation *
get_operation(struct cli *cli, const char *id,
    Opsbus__V1__GetBulkOperationResponse **res)
{
	Opsbus__V1__GetBulkOperationRequest req;

	opsbus__v1__get_bulk_operation_request__init(&req);
	req.id = CLI_PB_STR(id);
	*res = (Opsbus__V1__GetBulkOperationResponse *) cli_call(cli,
	    M("GetBulkOperation"), &req.base,
	    &opsbus__v1__get_bulk_operation_response__descriptor);
	return (*res != NULL ? (*res)->operation : NULL);
}

/* Follows op until it ends; returns the exit status. */
static int
follow(struct cli *cli, const char *id)
{
	bool                                  tty = isatty(STDOUT_FILENO);
	struct timespec                       pause = {0, 200 * 1000 * 1000};
	Opsbus__V1__GetBulkOperationResponse *res;
	Opsbus__V1__BulkOperation            *op;
	int                                   rv;

	for (;;) {
		if ((op = get_operation(cli, id, &res)) == NULL) {
			return (1);
		}
		if (finished(op)) {
			break;
		}
		if (tty && !cli->json) {
			progress_bar(op);
		}
		protobuf_c_message_free_unpacked(&res->base, NULL);
		nanosleep(&pause, NULL);
	}
	if (cli->json) {
		cli_print_json(&op->base);
	} else {
		if (tty) {
			progress_bar(op);
			printf("\n");
		}
		print_operation(op);
	}
	rv = strcmp(op->status, "completed") == 0 ? 0 : 1;
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return (rv);
}

int
cmd_bulk_replay(struct cli *cli)
{
	Opsbus__V1__StartBulkReplayRequest   req;
	Opsbus__V1__BulkReplayFilter         filter;
	Opsbus__V1__StartBulkReplayResponse *res;
	const char                          *v;
	char                                *bufs[16];
	int                                  nbufs = 0, rv;
	bool                                 wait;
	char                                *id;

	opsbus__v1__start_bulk_replay_request__init(&req);
	opsbus__v1__bulk_replay_filter__init(&filter);
	req.filter = &filter;
	req.reason = CLI_PB_STR(cli_reason(cli, "dlq bulk-replay"));
	while ((v = cli_take(&cli->args, "--filter")) != NULL) {
		if (nbufs == 16) {
			cli_usage_error("--filter given more than 16 times");
		}
		bufs[nbufs] = strdup(v);
		filter_parse(&filter, bufs[nbufs++]);
	}
	if ((v = cli_take(&cli->args, "--queue")) != NULL) {
		filter.queue = CLI_PB_STR(v);
	}
	if ((v = cli_take(&cli->args, "--reason-code")) != NULL) {
		filter.reason_code = CLI_PB_STR(v);
	}
	if ((v = cli_take(&cli->args, "--category")) != NULL) {
		filter.failure_category = CLI_PB_STR(v);
	}
	if ((v = cli_take(&cli->args, "--target")) != NULL) {
		filter.target = CLI_PB_STR(v);
	}
	if ((v = cli_take(&cli->args, "--operator-status")) != NULL) {
		filter.operator_status = CLI_PB_STR(v);
	}
	if ((v = cli_take(&cli->args, "--created-before")) != NULL) {
		filter.created_before = CLI_PB_STR(v);
	}
	if ((v = cli_take(&cli->args, "--created-after")) != NULL) {
		filter.created_after = CLI_PB_STR(v);
	}
	filter.include_ineligible
	    = cli_flag(&cli->args, "--include-ineligible");
	req.dry_run = cli_flag(&cli->args, "--dry-run");
	if ((v = cli_take(&cli->args, "--rate")) != NULL) {
		req.max_per_second = (int32_t) cli_int("--rate", v, 1, 1000);
	}
	if ((v = cli_take(&cli->args, "--actor")) != NULL) {
		req.actor = CLI_PB_STR(v);
	}
	wait = !cli_flag(&cli->args, "--no-wait");
	cli_done(&cli->args, 0);
	res = (Opsbus__V1__StartBulkReplayResponse *) cli_call(cli,
	    M("StartBulkReplay"), &req.base,
	    &opsbus__v1__start_bulk_replay_response__descriptor);
	for (int i = 0; i < nbufs; i++) {
		free(bufs[i]);
	}
	if (res == NULL) {
		return (1);
	}
	if (!wait || finished(res->operation)) {
		if (cli->json) {
			cli_print_json(&res->operation->base);
		} else {
			print_operation(res->operation);
		}
		protobuf_c_message_free_unpacked(&res->base, NULL);
		return (0);
	}
	if (!cli->json) {
		printf("started bulk replay %s: %d dead letters at %d/s\n",
		    res->operation->id, res->operation->matched,
		    res->operation->max_per_second);
		fflush(stdout);
	}
	id = strdup(res->operation->id);
	protobuf_c_message_free_unpacked(&res->base, NULL);
	rv = id != NULL ? follow(cli, id) : 1;
	free(id);
	return (rv);
}

int
cmd_bulk_status(struct cli *cli)
{
	Opsbus__V1__GetBulkOperationResponse *res;
	Opsbus__V1__BulkOperation            *op;
	const char                           *id;
	bool                                  wait;

	wait = cli_flag(&cli->args, "--wait");
	cli_done(&cli->args, 1);
	if ((id = cli_positional(&cli->args, 0)) == NULL) {
		cli_usage_error("dlq bulk-status needs an operation id");
	}
	if (wait) {
		return (follow(cli, id));
	}
	if ((op = get_operation(cli, id, &res)) == NULL) {
		return (1);
	}
	if (cli->json) {
		cli_print_json(&op->base);
	} else {
		print_operation(op);
	}
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return (0);
}

int
cmd_bulk_cancel(struct cli *cli)
{
	Opsbus__V1__CancelBulkOperationRequest   req;
	Opsbus__V1__CancelBulkOperationResponse *res;
	const char                              *v, *id;

	opsbus__v1__cancel_bulk_operation_request__init(&req);
	req.reason = CLI_PB_STR(cli_reason(cli, "dlq bulk-cancel"));
	if ((v = cli_take(&cli->args, "--actor")) != NULL) {
		req.actor = CLI_PB_STR(v);
	}
	cli_done(&cli->args, 1);
	if ((id = cli_positional(&cli->args, 0)) == NULL) {
		cli_usage_error("dlq bulk-cancel needs an operation id");
	}
	req.id = CLI_PB_STR(id);
	res = (Opsbus__V1__CancelBulkOperationResponse *) cli_call(cli,
	    M("CancelBulkOperation"), &req.base,
	    &opsbus__v1__cancel_bulk_operation_response__descriptor);
	if (res == NULL) {
		return (1);
	}
	if (cli->json) {
		cli_print_json(&res->operation->base);
	} else {
		print_operation(res->operation);
	}
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return (0);
}
