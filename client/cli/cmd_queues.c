/*
 * opsbus queues list|get|pause|resume|update.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "opsbus/v1/queue.pb-c.h"

/* The queue's allowed kinds, "a,b" or "(any)" (malloc'd; NULL when out of
 * memory). */
static char *
kinds_text(const Opsbus__V1__Queue *q)
{
	size_t len = 6;
	char  *s;

	for (size_t i = 0; i < q->n_allowed_kinds; i++) {
		len += strlen(q->allowed_kinds[i]) + 1;
	}
	if ((s = malloc(len)) == NULL) {
		return (NULL);
	}
	strcpy(s, q->n_allowed_kinds == 0 ? "(any)" : "");
	for (size_t i = 0; i < q->n_allowed_kinds; i++) {
		strcat(s, i > 0 ? "," : "");
		strcat(s, q->allowed_kinds[i]);
	}
	return (s);
}

static void
print_queue(const Opsbus__V1__Queue *q)
{
	const Opsbus__V1__QueueDepth *d = q->depth;
	char                         *kinds = kinds_text(q);

	printf("name:              %s%s\n", q->name,
	    q->configured ? "" : " (defaults)");
	printf("paused:            %s\n", q->paused ? "yes" : "no");
	if (q->paused) {
		printf("paused by:         %s at %s\n", q->paused_by,
		    q->paused_at);
		printf("paused because:    %s\n", q->paused_reason);
	}
	printf("max attempts:      %d\n", q->max_attempts);
	printf("backoff:           %d ms x%g, capped at %d ms (equal "
	       "jitter)\n",
	    q->backoff_base_ms, q->backoff_factor, q->backoff_cap_ms);
	printf("lease:             %d ms\n", q->lease_ms);
	printf("allowed kinds:     %s\n", kinds != NULL ? kinds : "");
	free(kinds);
	if (d != NULL) {
		printf("ready:             %lld (lag %lld ms)\n",
		    (long long) d->ready, (long long) q->lag_ms);
		printf("queued:            %lld\n", (long long) d->queued);
		printf("rerouted:          %lld\n", (long long) d->rerouted);
		printf(
		    "in progress:       %lld\n", (long long) d->in_progress);
		printf("retryable failed:  %lld\n",
		    (long long) d->retryable_failed);
		printf("succeeded:         %lld\n", (long long) d->succeeded);
		printf(
		    "dead failed:       %lld\n", (long long) d->dead_failed);
		printf("cancelled:         %lld\n", (long long) d->cancelled);
		printf("aborted:           %lld\n", (long long) d->aborted);
	}
	if (q->updated_at[0] != '\0') {
		printf("updated:           %s\n", q->updated_at);
	}
}

static int
queues_list(struct cli *cli)
{
	Opsbus__V1__ListQueuesRequest   req;
	Opsbus__V1__ListQueuesResponse *res;

	opsbus__v1__list_queues_request__init(&req);
	cli_done(&cli->args, 0);
	res = (Opsbus__V1__ListQueuesResponse *) cli_call(cli,
	    "opsbus.v1.QueueService/ListQueues", &req.base,
	    &opsbus__v1__list_queues_response__descriptor);
	if (res == NULL) {
		return (1);
	}
	if (cli->json) {
		cli_print_json(&res->base);
	} else {
		static const char *const h[] = {"QUEUE", "PAUSED", "READY",
		    "LAG_MS", "RUNNING", "RETRYING", "DEAD", "SUCCEEDED",
		    "ATTEMPTS", "LEASE_MS", "KINDS"};
		struct cli_table        *t = cli_table_new(11, h);
		for (size_t i = 0; i < res->n_queues; i++) {
			const Opsbus__V1__Queue      *q = res->queues[i];
			const Opsbus__V1__QueueDepth *d = q->depth;
			char                          c[7][24];
			snprintf(c[0], sizeof(c[0]), "%lld",
			    (long long) (d ? d->ready : 0));
			snprintf(
			    c[1], sizeof(c[1]), "%lld", (long long) q->lag_ms);
			snprintf(c[2], sizeof(c[2]), "%lld",
			    (long long) (d ? d->in_progress : 0));
			snprintf(c[3], sizeof(c[3]), "%lld",
			    (long long) (d ? d->retryable_failed : 0));
			snprintf(c[4], sizeof(c[4]), "%lld",
			    (long long) (d ? d->dead_failed : 0));
			snprintf(c[5], sizeof(c[5]), "%lld",
			    (long long) (d ? d->succeeded : 0));
			snprintf(c[6], sizeof(c[6]), "%d", q->max_attempts);
			char lease[16];
			snprintf(lease, sizeof(lease), "%d", q->lease_ms);
			char       *kinds = kinds_text(q);
			const char *row[] = {q->name, q->paused ? "yes" : "no",
			    c[0], c[1], c[2], c[3], c[4], c[5], c[6], lease,
			    kinds != NULL ? kinds : ""};
			cli_table_add(t, row);
			free(kinds);
		}
		cli_table_print(t, stdout);
	}
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return (0);
}

static const char *
name_arg(struct cli *cli, const char *what)
{
	const char *name;

	cli_done(&cli->args, 1);
	if ((name = cli_positional(&cli->args, 0)) == NULL) {
		cli_usage_error("queues %s needs a queue name", what);
	}
	return (name);
}

static int
queues_get(struct cli *cli)
{
	Opsbus__V1__GetQueueRequest   req;
	Opsbus__V1__GetQueueResponse *res;

	opsbus__v1__get_queue_request__init(&req);
	req.name = CLI_PB_STR(name_arg(cli, "get"));
	res = (Opsbus__V1__GetQueueResponse *) cli_call(cli,
	    "opsbus.v1.QueueService/GetQueue", &req.base,
	    &opsbus__v1__get_queue_response__descriptor);
	if (res == NULL) {
		return (1);
	}
	if (cli->json) {
		cli_print_json(&res->base);
	} else {
		print_queue(res->queue);
	}
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return (0);
}

/* Pause and resume have the same shape: name, reason, queue + changed. */
static int
queues_switch(struct cli *cli, bool pause)
{
	Opsbus__V1__PauseQueueRequest  preq;
	Opsbus__V1__ResumeQueueRequest rreq;
	ProtobufCMessage              *res;
	const Opsbus__V1__Queue       *q;
	const char *reason = cli_take(&cli->args, "--reason");
	const char *name;
	bool        changed;

	name = name_arg(cli, pause ? "pause" : "resume");
	if (reason == NULL) {
		cli_usage_error("queues %s needs --reason: say why",
		    pause ? "pause" : "resume");
	}
	if (pause) {
		opsbus__v1__pause_queue_request__init(&preq);
		preq.name = CLI_PB_STR(name);
		preq.reason = CLI_PB_STR(reason);
		res = cli_call(cli, "opsbus.v1.QueueService/PauseQueue",
		    &preq.base, &opsbus__v1__pause_queue_response__descriptor);
	} else {
		opsbus__v1__resume_queue_request__init(&rreq);
		rreq.name = CLI_PB_STR(name);
		rreq.reason = CLI_PB_STR(reason);
		res = cli_call(cli, "opsbus.v1.QueueService/ResumeQueue",
		    &rreq.base,
		    &opsbus__v1__resume_queue_response__descriptor);
	}
	if (res == NULL) {
		return (1);
	}
	if (cli->json) {
		cli_print_json(res);
	} else {
		if (pause) {
			q = ((Opsbus__V1__PauseQueueResponse *) res)->queue;
			changed = ((Opsbus__V1__PauseQueueResponse *) res)
			              ->changed;
		} else {
			q = ((Opsbus__V1__ResumeQueueResponse *) res)->queue;
			changed = ((Opsbus__V1__ResumeQueueResponse *) res)
			              ->changed;
		}
		printf("%s %s%s\n", pause ? "paused" : "resumed", q->name,
		    changed     ? ""
		        : pause ? " (it was paused already)"
		                : " (it was not paused)");
	}
	protobuf_c_message_free_unpacked(res, NULL);
	return (0);
}

static int
queues_update(struct cli *cli)
{
	Opsbus__V1__UpdateQueueRequest   req;
	Opsbus__V1__UpdateQueueResponse *res;
	Opsbus__V1__KindList             kinds;
	const char                      *v, *kinds_arg;
	char                            *kinds_buf = NULL;

	opsbus__v1__update_queue_request__init(&req);
	opsbus__v1__kind_list__init(&kinds);
	/* The server checks ranges; the CLI passes what it got so that the
	 * server's message is the one people see. */
	if ((v = cli_take(&cli->args, "--max-attempts")) != NULL) {
		req.max_attempts_value_case
		    = OPSBUS__V1__UPDATE_QUEUE_REQUEST__MAX_ATTEMPTS_VALUE_MAX_ATTEMPTS;
		req.max_attempts = (int32_t) cli_int(
		    "--max-attempts", v, -2147483647L, 2147483647L);
	}
	if ((v = cli_take(&cli->args, "--backoff-base-ms")) != NULL) {
		req.backoff_base_ms_value_case
		    = OPSBUS__V1__UPDATE_QUEUE_REQUEST__BACKOFF_BASE_MS_VALUE_BACKOFF_BASE_MS;
		req.backoff_base_ms = (int32_t) cli_int(
		    "--backoff-base-ms", v, -2147483647L, 2147483647L);
	}
	if ((v = cli_take(&cli->args, "--backoff-cap-ms")) != NULL) {
		req.backoff_cap_ms_value_case
		    = OPSBUS__V1__UPDATE_QUEUE_REQUEST__BACKOFF_CAP_MS_VALUE_BACKOFF_CAP_MS;
		req.backoff_cap_ms = (int32_t) cli_int(
		    "--backoff-cap-ms", v, -2147483647L, 2147483647L);
	}
	if ((v = cli_take(&cli->args, "--lease-ms")) != NULL) {
		req.lease_ms_value_case
		    = OPSBUS__V1__UPDATE_QUEUE_REQUEST__LEASE_MS_VALUE_LEASE_MS;
		req.lease_ms = (int32_t) cli_int(
		    "--lease-ms", v, -2147483647L, 2147483647L);
	}
	if ((v = cli_take(&cli->args, "--backoff-factor")) != NULL) {
		char *end;
		errno = 0;
		req.backoff_factor = strtod(v, &end);
		if (errno != 0 || end == v || *end != '\0') {
			cli_usage_error(
			    "--backoff-factor takes a number, got %s", v);
		}
		req.backoff_factor_value_case
		    = OPSBUS__V1__UPDATE_QUEUE_REQUEST__BACKOFF_FACTOR_VALUE_BACKOFF_FACTOR;
	}
	if ((v = cli_take(&cli->args, "--reason")) != NULL) {
		req.reason = CLI_PB_STR(v);
	}
	kinds_arg = cli_take(&cli->args, "--allowed-kinds");
	req.name = CLI_PB_STR(name_arg(cli, "update"));
	/* "a,b,c"; "" sets an empty list: any kind. Empty items are sent
	 * as they are, for the server to refuse. */
	if (kinds_arg != NULL) {
		kinds_buf = strdup(kinds_arg);
		kinds.kinds
		    = calloc(strlen(kinds_arg) + 1, sizeof(*kinds.kinds));
		if (kinds_buf == NULL || kinds.kinds == NULL) {
			cli_usage_error("out of memory");
		}
		for (char *k = kinds_buf; kinds_buf[0] != '\0';) {
			char *comma = strchr(k, ',');
			kinds.kinds[kinds.n_kinds++] = k;
			if (comma == NULL) {
				break;
			}
			*comma = '\0';
			k = comma + 1;
		}
		req.allowed_kinds_value_case
		    = OPSBUS__V1__UPDATE_QUEUE_REQUEST__ALLOWED_KINDS_VALUE_ALLOWED_KINDS;
		req.allowed_kinds = &kinds;
	}
	res = (Opsbus__V1__UpdateQueueResponse *) cli_call(cli,
	    "opsbus.v1.QueueService/UpdateQueue", &req.base,
	    &opsbus__v1__update_queue_response__descriptor);
	free(kinds.kinds);
	free(kinds_buf);
	if (res == NULL) {
		return (1);
	}
	if (cli->json) {
		cli_print_json(&res->base);
	} else {
		print_queue(res->queue);
	}
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return (0);
}

int
cmd_queues(struct cli *cli, const char *sub)
{
	if (strcmp(sub, "list") == 0) {
		return (queues_list(cli));
	}
	if (strcmp(sub, "get") == 0) {
		return (queues_get(cli));
	}
	if (strcmp(sub, "pause") == 0) {
		return (queues_switch(cli, true));
	}
	if (strcmp(sub, "resume") == 0) {
		return (queues_switch(cli, false));
	}
	if (strcmp(sub, "update") == 0) {
		return (queues_update(cli));
	}
	cli_usage_error("unknown command \"queues %s\"", sub);
}
