/*
 * opsbus exceptions health|list|show|resolve: the operators' exceptions
 * queue of seed 003 (exception.proto) on the command line. resolve is
 * attributed and audited; its actor and notes are required, and the
 * server checks them, so that its message is the one people see.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "opsbus/v1/exception.pb-c.h"
#include "opsbus/v1/operator.pb-c.h"

#define M(name) "opsbus.v1.ExceptionService/" name

static int
exceptions_health(struct cli *cli)
{
	Opsbus__V1__GetExceptionsHealthRequest   req;
	Opsbus__V1__GetExceptionsHealthResponse *res;
	const Opsbus__V1__IdempotencyBreakdown  *k;
	const char                              *v;

	opsbus__v1__get_exceptions_health_request__init(&req);
	if ((v = cli_take(&cli->args, "--tenant")) != NULL) {
		req.tenant = CLI_PB_STR(v);
	}
	cli_done(&cli->args, 0);
	res = (Opsbus__V1__GetExceptionsHealthResponse *) cli_call(cli,
	    M("GetExceptionsHealth"), &req.base,
	    &opsbus__v1__get_exceptions_health_response__descriptor);
	if (res == NULL) {
		return (1);
	}
	if (cli->json) {
		cli_print_json(&res->base);
	} else {
		k = res->idempotency;
		printf("open exceptions:     %d", res->exceptions_open);
		if (res->oldest_open_at[0] != '\0') {
			printf(" (oldest %s)", res->oldest_open_at);
		}
		printf("\n");
		for (size_t i = 0; i < res->n_open_by_type; i++) {
			printf("  %-30s %d\n",
			    res->open_by_type[i]->exception_type,
			    res->open_by_type[i]->open);
		}
		printf("idempotency keys:    %d processed, %d quarantined, %d "
		       "ignored\n",
		    k != NULL ? k->processed : 0,
		    k != NULL ? k->quarantined : 0,
		    k != NULL ? k->ignored : 0);
	}
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return (0);
}

static int
exceptions_list(struct cli *cli)
{
	Opsbus__V1__ListExceptionsRequest   req;
	Opsbus__V1__ListExceptionsResponse *res;
	const char                         *v;

	opsbus__v1__list_exceptions_request__init(&req);
	if ((v = cli_take(&cli->args, "--status")) != NULL) {
		req.status = CLI_PB_STR(v);
	}
	if ((v = cli_take(&cli->args, "--tenant")) != NULL) {
		req.tenant = CLI_PB_STR(v);
	}
	if ((v = cli_take(&cli->args, "--type")) != NULL) {
		req.exception_type = CLI_PB_STR(v);
	}
	if ((v = cli_take(&cli->args, "--page-token")) != NULL) {
		req.page_token = CLI_PB_STR(v);
	}
	if (cli_take_limit(&cli->args, &req.limit)) {
		req.limit_value_case
		    = OPSBUS__V1__LIST_EXCEPTIONS_REQUEST__LIMIT_VALUE_LIMIT;
	}
	cli_done(&cli->args, 0);
	res = (Opsbus__V1__ListExceptionsResponse *) cli_call(cli,
	    M("ListExceptions"), &req.base,
	    &opsbus__v1__list_exceptions_response__descriptor);
	if (res == NULL) {
		return (1);
	}
	if (cli->json) {
		cli_print_json(&res->base);
	} else {
		static const char *const h[]
		    = {"ID", "TYPE", "STATUS", "QUEUE", "ARRIVALS", "KEY",
		        "JOB", "CREATED", "RESOLUTION"};
		struct cli_table *t = cli_table_new(9, h);
		for (size_t i = 0; i < res->n_exceptions; i++) {
			Opsbus__V1__Exception *x = res->exceptions[i];
			char                   n[16];
			snprintf(n, sizeof(n), "%d", x->arrivals);
			const char *row[] = {x->id, x->exception_type,
			    x->status, x->queue, n, x->idempotency_state,
			    x->job_id, x->created_at, x->resolution};
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

static void
print_exception(const Opsbus__V1__Exception *x)
{
	printf("id:                %s\n", x->id);
	printf("type:              %s\n", x->exception_type);
	if (x->reason_code[0] != '\0'
	    && strcmp(x->reason_code, x->exception_type) != 0) {
		printf("reason code:       %s\n", x->reason_code);
	}
	printf("status:            %s\n", x->status);
	printf("tenant:            %s\n", x->tenant);
	printf("queue:             %s\n", x->queue);
	printf("key state:         %s\n",
	    x->idempotency_state[0] != '\0' ? x->idempotency_state
	                                    : "(no key)");
	printf("arrivals:          %d\n", x->arrivals);
	if (x->job_id[0] != '\0') {
		printf("job:               %s\n", x->job_id);
	}
	if (x->resolution[0] != '\0') {
		printf("resolution:        %s by %s at %s\n", x->resolution,
		    x->resolved_by, x->resolved_at);
		printf("notes:             %s\n", x->resolution_notes);
	}
	if (x->replay_attempts > 0) {
		printf("replay attempts:   %d\n", x->replay_attempts);
	}
	printf("created:           %s\n", x->created_at);
	printf("updated:           %s\n", x->updated_at);
	printf("details:           %s\n", x->details);
}

/* A raw request under its label, indented JSON when it parses. */
static void
print_raw(const char *label, const char *raw)
{
	json_t *j = json_loads(raw, 0, NULL);
	char   *s = j != NULL
	      ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER)
	      : NULL;

	printf("\n%s\n%s\n", label, s != NULL ? s : raw);
	free(s);
	json_decref(j);
}

static int
exceptions_show(struct cli *cli)
{
	Opsbus__V1__GetExceptionRequest   req;
	Opsbus__V1__GetExceptionResponse *res;

	opsbus__v1__get_exception_request__init(&req);
	req.id = CLI_PB_STR(cli_one_id(cli, "exceptions show"));
	res = (Opsbus__V1__GetExceptionResponse *) cli_call(cli,
	    M("GetException"), &req.base,
	    &opsbus__v1__get_exception_response__descriptor);
	if (res == NULL) {
		return (1);
	}
	if (cli->json) {
		cli_print_json(&res->base);
	} else {
		bool conflict = strcmp(res->exception->exception_type,
		                    "IDEMPOTENCY_CONFLICT")
		    == 0;
		print_exception(res->exception);
		print_raw(conflict ? "FIRST request (the one the key answers):"
		                   : "FIRST request (refused):",
		    res->exception->first_raw);
		print_raw(conflict ? "LAST request (the last one refused):"
		                   : "LAST request (refused):",
		    res->exception->last_raw);
		if (res->job != NULL) {
			printf("\nlinked job:\n");
			cli_print_operator_job(res->job);
		}
	}
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return (0);
}

static int
exceptions_resolve(struct cli *cli)
{
	Opsbus__V1__ResolveExceptionRequest   req;
	Opsbus__V1__ResolveExceptionResponse *res;
	const Opsbus__V1__Exception          *x;
	char                                 *patch = NULL;
	const char                           *v;

	opsbus__v1__resolve_exception_request__init(&req);
	if ((v = cli_take(&cli->args, "--action")) != NULL) {
		req.action = CLI_PB_STR(v);
	}
	if ((v = cli_take(&cli->args, "--actor")) != NULL) {
		req.actor = CLI_PB_STR(v);
	}
	if ((v = cli_take(&cli->args, "--notes")) != NULL) {
		req.resolution_notes = CLI_PB_STR(v);
	}
	if ((v = cli_take(&cli->args, "--canonical")) != NULL) {
		req.canonical = CLI_PB_STR(v);
	}
	req.cancel_superseded = cli_flag(&cli->args, "--cancel-superseded");
	v = cli_take(&cli->args, "--patch");
	req.id = CLI_PB_STR(cli_one_id(cli, "exceptions resolve"));
	if (v != NULL) {
		patch = cli_read_value(v);
		req.override_patch = patch;
	}
	res = (Opsbus__V1__ResolveExceptionResponse *) cli_call(cli,
	    M("ResolveException"), &req.base,
	    &opsbus__v1__resolve_exception_response__descriptor);
	free(patch);
	if (res == NULL) {
		return (1);
	}
	x = res->exception;
	if (cli->json) {
		cli_print_json(&res->base);
	} else if (res->job != NULL) {
		printf("resolved %s (%s): job %s (%s)%s\n", x->id,
		    x->resolution, res->job->job_id, res->job->status,
		    res->created ? " created"
		                 : ", which the key answered already");
		if (res->superseded_job != NULL) {
			printf("superseded job %s: %s (now %s)\n",
			    res->superseded_job->job_id,
			    strcmp(res->superseded_effect, "none") == 0
			        ? "left as it is"
			        : res->superseded_effect,
			    res->superseded_job->status);
		}
	} else {
		printf("resolved %s (%s): nothing replayed\n", x->id,
		    x->resolution);
	}
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return (0);
}

int
cmd_exceptions(struct cli *cli, const char *sub)
{
	static const struct {
		const char *name;
		int (*fn)(struct cli *);
	} subs[] = {
	    {"health", exceptions_health},
	    {"list", exceptions_list},
	    {"show", exceptions_show},
	    {"resolve", exceptions_resolve},
	};

	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (strcmp(sub, subs[i].name) == 0) {
			return (subs[i].fn(cli));
		}
	}
	cli_usage_error("unknown command \"exceptions %s\"", sub);
}
