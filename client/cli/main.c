/*
 * opsbus: the command line client. Global options (--url, --api-key,
 * --operator, --timeout, --json) may stand anywhere; the first words name
 * the command. Exit status: 0 success, 1 the server refused or could not be
 * reached (the error code and message on stderr), 2 a usage error.
 */
#define _DEFAULT_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* How long closing the sockets may take before the process leaves. */
#define CLI_CLOSE_GRACE_S 5

static volatile sig_atomic_t closing_status;

static void
close_took_too_long(int sig)
{
	(void) sig;
	_exit(closing_status);
}

void
cli_closing(int status)
{
	struct sigaction sa;

	fflush(stdout);
	fflush(stderr);
	closing_status = status;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = close_took_too_long;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	alarm(CLI_CLOSE_GRACE_S);
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: opsbus [global options] COMMAND [options]\n"
	    "\n"
	    "Global options (also from the environment):\n"
	    "  --url URL          opsbusd RPC address (OPSBUS_URL; default "
	    "tcp://127.0.0.1:7470)\n"
	    "  --api-key KEY      API key (OPSBUS_API_KEY)\n"
	    "  --operator ID      operator identity for audited actions "
	    "(OPSBUS_OPERATOR)\n"
	    "  --timeout MS       deadline of each call (default 30000)\n"
	    "  --json             print answers as JSON (proto3 mapping)\n"
	    "\n"
	    "Commands:\n"
	    "  health                          server and database status\n"
	    "  jobs create --queue Q [--tenant T] [--target X] [--kind K] "
	    "[--subject S]\n"
	    "              [--payload JSON|@FILE|-] [--idempotency-key K]\n"
	    "              [--max-attempts N] [--run-at RFC3339] "
	    "[--priority N]\n"
	    "  jobs get ID [--attempts] [--timeline]\n"
	    "  jobs list [--state S]... [--queue Q] [--target X] [--tenant "
	    "T]\n"
	    "            [--limit 1..100] [--page-token TOKEN]\n"
	    "  keys create --identity ID --role viewer|worker|operator|admin "
	    "[--tenant T]\n"
	    "  keys list\n"
	    "  keys revoke ID\n"
	    "  events follow [--topic PREFIX] [--from POSITION|--from-start] "
	    "[--tenant T]\n"
	    "                [--events-url URL] [--count N]\n"
	    "      Prints every event once, in order, as it comes (events URL "
	    "from\n"
	    "      OPSBUS_EVENTS_URL; default tcp://127.0.0.1:7471); "
	    "--json: one per line.\n"
	    "  events list [--after POSITION] [--topic PREFIX] [--limit "
	    "1..1000]\n"
	    "  events backlog                  unpublished events and the "
	    "oldest's age\n");
	/* Split: C99 compilers need only take 4095-character strings. */
	fprintf(f,
	    "  queues list\n"
	    "  queues get NAME\n"
	    "  queues pause NAME --reason TEXT     (operator; audited)\n"
	    "  queues resume NAME --reason TEXT    (operator; audited)\n"
	    "  queues update NAME [--max-attempts N] [--backoff-base-ms N]\n"
	    "              [--backoff-factor F] [--backoff-cap-ms N] "
	    "[--lease-ms N]\n"
	    "              [--allowed-kinds K1,K2,...] [--reason TEXT]  "
	    "(admin)\n"
	    "      --allowed-kinds '' lets any kind in again.\n"
	    "  work --queue Q --exec 'CMD' [--worker-id ID] "
	    "[--concurrency N]\n"
	    "       [--max-jobs N] [--lease-ms N] [--wait-ms N] "
	    "[--grace-ms N]\n"
	    "       [--until-empty]\n"
	    "      Claims jobs of Q and runs /bin/sh -c CMD for each, with "
	    "the "
	    "payload on\n"
	    "      stdin and OPSBUS_JOB_ID, OPSBUS_JOB_ATTEMPT, "
	    "OPSBUS_JOB_QUEUE,\n"
	    "      OPSBUS_JOB_KIND, OPSBUS_JOB_TARGET, OPSBUS_JOB_SUBJECT, "
	    "OPSBUS_JOB_TENANT\n"
	    "      in the environment. Exit status 0 completes the job "
	    "(stdout's last line\n"
	    "      is the summary); 65 (EX_DATAERR) or 100 fails it for good "
	    "(dead letter);\n"
	    "      any other status, 75 (EX_TEMPFAIL) included, or a signal "
	    "fails it\n"
	    "      retryably. The error is stderr's last line; the reason "
	    "code is\n"
	    "      EXIT_<status> (SIGNAL_<n>) unless stderr has a line "
	    "\"REASON_CODE: X\"\n"
	    "      (the last one counts). SIGTERM/SIGINT: claim no more, let "
	    "the running\n"
	    "      command finish for --grace-ms (default 10000), then stop "
	    "it and fail\n"
	    "      the job retryably (WORKER_STOPPED); a second signal stops "
	    "it at once.\n"
	    "      An operator's cancel stops the command and fails the job "
	    "(CANCELLED).\n"
	    "      --until-empty returns when no job is ready; --max-jobs "
	    "after N jobs.\n");
	fprintf(f,
	    "  summary [--hours 1..168] [--queue Q]   jobs by status, dead "
	    "letters, recent failures\n"
	    "  dlq list [--status retryable_failed|dead_failed|failed] "
	    "[--reason CODE]\n"
	    "           [--queue Q] [--limit 1..100]\n"
	    "  dlq show|history|replay-status ID\n"
	    "  dlq replay ID --reason TEXT      (operator; audited; once per "
	    "dead letter)\n"
	    "  dlq ack ID --reason TEXT         (operator; audited)\n"
	    "  dlq stats [--queue Q]            dead-letter depth by failure "
	    "category\n"
	    "  dlq eligible [--category C] [--queue Q] [--limit 1..500]\n"
	    "  dlq bulk-replay --reason TEXT [--filter k=v[,k=v]...] "
	    "[--queue Q]\n"
	    "           [--reason-code R] [--category C] [--target T]\n"
	    "           [--operator-status open|acknowledged] "
	    "[--created-before TS]\n"
	    "           [--created-after TS] [--include-ineligible] "
	    "[--dry-run]\n"
	    "           [--rate 1..1000] [--no-wait]\n"
	    "      Replays every matching dead letter as a server-side task "
	    "at --rate per\n"
	    "      second (default 10) and follows it (a progress bar on a "
	    "terminal).\n"
	    "  dlq bulk-status ID [--wait]\n"
	    "  dlq bulk-cancel ID --reason TEXT\n"
	    "  job show ID                      operator view: attempts, "
	    "timeline (redacted)\n"
	    "  job cancel|abort ID --reason TEXT\n"
	    "  job reroute ID --target T [--queue Q] --reason TEXT\n"
	    "  job force-complete ID --summary TEXT --reason TEXT\n"
	    "  metrics [--hours 1..720]         operator actions, replay "
	    "outcomes, alerts\n"
	    "  audit [--target ID] [--identity X] [--action A] [--since TS]\n"
	    "        [--outcome accepted|refused] [--operation ID] [--limit "
	    "1..500]\n"
	    "        [--page-token T]\n"
	    "  exceptions health [--tenant T]   open exceptions, keys by "
	    "state\n"
	    "  exceptions list [--status open|resolved] [--tenant T]\n"
	    "           [--type IDEMPOTENCY_CONFLICT|UNKNOWN_EVENT_TYPE] "
	    "[--limit 1..100]\n"
	    "           [--page-token T]\n"
	    "  exceptions show ID               FIRST and LAST request, the "
	    "job\n"
	    "  exceptions resolve ID --action "
	    "mark_resolved_no_replay|override_and_replay\n"
	    "           --actor NAME --notes TEXT [--canonical first|last]\n"
	    "           [--patch JSON|@FILE|-] [--cancel-superseded]   "
	    "(operator; audited)\n"
	    "      override_and_replay creates a job from the canonical "
	    "request (default\n"
	    "      last) with the JSON merge patch (RFC 7396) applied; "
	    "--cancel-superseded\n"
	    "      cancels the job the key answered before it.\n");
}

static const char *
env_or(const char *value, const char *env)
{
	const char *e;

	if (value != NULL) {
		return (value);
	}
	e = getenv(env);
	return (e != NULL && e[0] != '\0') ? e : NULL;
}

/* The commands: those with subcommands take the word after their name. */
struct command {
	const char *name;
	int (*run)(struct cli *cli);
	int (*run_sub)(struct cli *cli, const char *sub);
};

static const struct command commands[] = {
    {"health", cmd_health, NULL},
    {"jobs", NULL, cmd_jobs},
    {"keys", NULL, cmd_keys},
    {"queues", NULL, cmd_queues},
    {"work", cmd_work, NULL},
    {"events", NULL, cmd_events},
    {"summary", cmd_summary, NULL},
    {"dlq", NULL, cmd_dlq},
    {"job", NULL, cmd_job},
    {"metrics", cmd_metrics, NULL},
    {"audit", cmd_audit, NULL},
    {"exceptions", NULL, cmd_exceptions},
};

static const struct command *
command_find(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(commands[i].name, name) == 0) {
			return (&commands[i]);
		}
	}
	return (NULL);
}

int
main(int argc, char **argv)
{
	struct cli                  cli;
	struct opsbus_client_config cfg;
	struct opsbus_status        st;
	const char                 *timeout;
	const char                 *cmd, *sub;
	const struct command       *c;
	int                         rv;

	memset(&cli, 0, sizeof(cli));
	memset(&cfg, 0, sizeof(cfg));
	cli.args.argc = argc - 1;
	cli.args.argv = argv + 1;
	if (cli_flag(&cli.args, "--help") || cli_flag(&cli.args, "-h")
	    || argc < 2) {
		usage(argc < 2 ? stderr : stdout);
		return (argc < 2 ? 2 : 0);
	}
	cfg.url = env_or(cli_take(&cli.args, "--url"), "OPSBUS_URL");
	cfg.api_key
	    = env_or(cli_take(&cli.args, "--api-key"), "OPSBUS_API_KEY");
	cfg.operator_identity
	    = env_or(cli_take(&cli.args, "--operator"), "OPSBUS_OPERATOR");
	if ((timeout = cli_take(&cli.args, "--timeout")) != NULL) {
		cfg.timeout_ms
		    = (uint32_t) cli_int("--timeout", timeout, 1, 300000);
	}
	cli.json = cli_flag(&cli.args, "--json");
	if (cli.args.argc < 1 || cli.args.argv[0][0] == '-') {
		cli_usage_error("no command given");
	}
	cmd = cli.args.argv[0];
	cli.args.argc--;
	cli.args.argv++;
	if ((c = command_find(cmd)) == NULL) {
		cli_usage_error("unknown command \"%s\"", cmd);
	}
	sub = NULL;
	if (c->run_sub != NULL) {
		if (cli.args.argc < 1 || cli.args.argv[0][0] == '-') {
			cli_usage_error("%s needs a subcommand", cmd);
		}
		sub = cli.args.argv[0];
		cli.args.argc--;
		cli.args.argv++;
	}
	if (opsbus_client_open(&cfg, &cli.client, &st) != 0) {
		fprintf(stderr, "opsbus: %s: %s\n", st.error_code, st.message);
		return (1);
	}
	rv = c->run_sub != NULL ? c->run_sub(&cli, sub) : c->run(&cli);
	cli_closing(rv);
	opsbus_client_close(cli.client);
	return (rv);
}
