/*
 * opsbus events follow|backlog|list: the event stream from the command
 * line. follow runs libopsbus's subscriber (client/subscriber.h), so what
 * it prints is every event once, in order, even when the socket drops
 * messages; it stops on SIGINT or SIGTERM (exit 0) or after --count
 * events. --json prints one JSON object per line (proto3 mapping).
 */
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "errors.h"
#include "opsbus/v1/event.pb-c.h"
#include "pbjson.h"
#include "subscriber.h"

struct follow_state {
	bool json;
	long count;
	long printed;
};

static struct opsbus_subscriber *volatile follow_sub;

static void
follow_signal(int sig)
{
	(void) sig;
	if (follow_sub != NULL) {
		opsbus_subscriber_stop(follow_sub);
	}
}

static void
print_event(const Opsbus__V1__Event *e, bool json)
{
	if (json) {
		json_t *j
		    = pbjson_from_message(&e->base, PBJSON_EMIT_DEFAULTS);
		char *s = j != NULL
		    ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER)
		    : NULL;

		if (s != NULL) {
			printf("%s\n", s);
		}
		free(s);
		json_decref(j);
	} else {
		printf("%lld  %s  %s  job=%s actor=%s  %s\n",
		    (long long) e->position, e->occurred_at, e->topic,
		    e->job_id[0] != '\0' ? e->job_id : "-", e->actor,
		    e->payload);
	}
	/* Followers are often piped: each event as it comes. */
	fflush(stdout);
}

static int
follow_event(const Opsbus__V1__Event *e, void *arg)
{
	struct follow_state *fs = arg;

	print_event(e, fs->json);
	fs->printed++;
	return (fs->count > 0 && fs->printed >= fs->count);
}

static int
events_follow(struct cli *cli)
{
	struct opsbus_subscriber_config cfg;
	struct opsbus_subscriber       *sub;
	struct opsbus_status            st;
	struct follow_state             fs = {.json = cli->json};
	struct sigaction                sa;
	const char                     *from, *count, *url;
	bool                            from_start;
	int                             rv;

	memset(&cfg, 0, sizeof(cfg));
	cfg.client = cli->client;
	cfg.topic_prefix = cli_take(&cli->args, "--topic");
	cfg.tenant = cli_take(&cli->args, "--tenant");
	from = cli_take(&cli->args, "--from");
	from_start = cli_flag(&cli->args, "--from-start");
	url = cli_take(&cli->args, "--events-url");
	if ((count = cli_take(&cli->args, "--count")) != NULL) {
		fs.count = cli_int("--count", count, 1, 1000000000L);
	}
	cli_done(&cli->args, 0);
	if (from != NULL && from_start) {
		cli_usage_error("--from and --from-start exclude each other");
	}
	if (url == NULL) {
		url = getenv("OPSBUS_EVENTS_URL");
	}
	cfg.url = url;
	if (from != NULL) {
		cfg.start = OPSBUS_SUB_FROM_POSITION;
		cfg.from_position
		    = cli_int("--from", from, 0, 0x7fffffffffffffffL);
	} else if (from_start) {
		cfg.start = OPSBUS_SUB_FROM_START;
	}
	cfg.callback = follow_event;
	cfg.arg = &fs;
	if (opsbus_subscriber_open(&cfg, &sub, &st) != 0) {
		fprintf(stderr, "opsbus: %s: %s\n", st.error_code, st.message);
		return (st.code == OPSBUS_GRPC_INVALID_ARGUMENT ? 2 : 1);
	}
	follow_sub = sub;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = follow_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	rv = opsbus_subscriber_run(sub, &st);
	follow_sub = NULL;
	if (rv != 0) {
		fprintf(stderr, "opsbus: %s: %s\n", st.error_code, st.message);
	}
	cli_closing(rv == 0 ? 0 : 1);
	opsbus_subscriber_close(sub);
	return (rv == 0 ? 0 : 1);
}

static int
events_backlog(struct cli *cli)
{
	Opsbus__V1__GetBacklogRequest   req;
	Opsbus__V1__GetBacklogResponse *res;

	cli_done(&cli->args, 0);
	opsbus__v1__get_backlog_request__init(&req);
	res = (Opsbus__V1__GetBacklogResponse *) cli_call(cli,
	    "opsbus.v1.EventService/GetBacklog", &req.base,
	    &opsbus__v1__get_backlog_response__descriptor);
	if (res == NULL) {
		return (1);
	}
	if (cli->json) {
		cli_print_json(&res->base);
	} else {
		printf("unpublished:          %lld\n",
		    (long long) res->unpublished);
		if (res->unpublished > 0) {
			printf("oldest unpublished:   %s (%.1f s ago)\n",
			    res->oldest_unpublished_at,
			    (double) res->oldest_unpublished_age_ms / 1000.0);
		}
		printf("waiting for order:    %lld\n",
		    (long long) res->unordered);
		printf("last position:        %lld\n",
		    (long long) res->last_position);
		printf("first retained:       %lld\n",
		    (long long) res->first_position);
	}
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return (0);
}

static int
events_list(struct cli *cli)
{
	Opsbus__V1__ListEventsRequest   req;
	Opsbus__V1__ListEventsResponse *res;
	const char                     *v;

	opsbus__v1__list_events_request__init(&req);
	if ((v = cli_take(&cli->args, "--after")) != NULL) {
		req.after_position
		    = cli_int("--after", v, 0, 0x7fffffffffffffffL);
	}
	if ((v = cli_take(&cli->args, "--topic")) != NULL) {
		req.topic_prefix = CLI_PB_STR(v);
	}
	if ((v = cli_take(&cli->args, "--limit")) != NULL) {
		req.limit_value_case
		    = OPSBUS__V1__LIST_EVENTS_REQUEST__LIMIT_VALUE_LIMIT;
		req.limit = (int32_t) cli_int("--limit", v, -1000000, 1000000);
	}
	cli_done(&cli->args, 0);
	res = (Opsbus__V1__ListEventsResponse *) cli_call(cli,
	    "opsbus.v1.EventService/ListEvents", &req.base,
	    &opsbus__v1__list_events_response__descriptor);
	if (res == NULL) {
		return (1);
	}
	for (size_t i = 0; i < res->n_events; i++) {
		print_event(res->events[i], cli->json);
	}
	if (!cli->json && res->more && res->n_events > 0) {
		fprintf(stderr, "(more: --after %lld)\n",
		    (long long) res->events[res->n_events - 1]->position);
	}
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return (0);
}

int
cmd_events(struct cli *cli, const char *sub)
{
	if (strcmp(sub, "follow") == 0) {
		return (events_follow(cli));
	}
	if (strcmp(sub, "backlog") == 0) {
		return (events_backlog(cli));
	}
	if (strcmp(sub, "list") == 0) {
		return (events_list(cli));
	}
	cli_usage_error("unknown events subcommand \"%s\"", sub);
}
