/*
 * The opsbus CLI: shared pieces of its commands. Options are taken out of
 * the argument list by name (so global and command options may come in
 * any order); what is left must be the command's positional arguments.
 */
#ifndef OPSBUS_CLI_H
#define OPSBUS_CLI_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "opsbus.h"

#define CLI_PB_STR(s) ((char *) (uintptr_t) (s))

struct cli_args {
	int    argc;
	char **argv;
};

struct cli {
	struct opsbus_client *client;
	bool                  json;
	/* The args after the command words. */
	struct cli_args args;
};

/*
 * Removes "--name VALUE" or "--name=VALUE" from args and returns VALUE, or
 * NULL when absent. A --name without a value exits with status 2.
 */
const char *cli_take(struct cli_args *args, const char *name);
/* Removes every occurrence; returns how many values were written. */
int cli_take_all(
    struct cli_args *args, const char *name, const char **out, int max);
/* Removes a flag "--name"; returns whether it was there. */
bool cli_flag(struct cli_args *args, const char *name);
/* Parses an integer option value in [lo, hi] or exits with status 2. */
long cli_int(const char *name, const char *value, long lo, long hi);
/*
 * Removes "--limit N" of a list command into *limit and returns whether it
 * was there. Any 32-bit value passes: the server checks the range, so that
 * its message is the one people see.
 */
bool cli_take_limit(struct cli_args *args, int32_t *limit);
/*
 * Checks that only `positional` arguments remain (exits 2 naming an unknown
 * option otherwise) and returns the i-th of them, or NULL.
 */
const char *cli_positional(struct cli_args *args, int i);
void        cli_done(struct cli_args *args, int max_positional);

/*
 * The command's work is done and its exit status is status: from here the
 * process only closes its sockets. nng 1.5.2 (Debian's) can hang for good
 * in nng_close when a message is arriving at that moment (the transport
 * restarts a read on a receive aio that close has already stopped, so the
 * pipe never finishes closing). Should closing take longer than a few
 * seconds, the process exits with status anyway; output is flushed first.
 */
void cli_closing(int status);

/* Prints a usage error and exits with status 2. */
void cli_usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2))) __attribute__((noreturn));

/*
 * Calls method and returns the answer, or prints the error
 * ("opsbus: JOB_NOT_FOUND: no job ... (correlation id ...)") on stderr and
 * returns NULL.
 */
ProtobufCMessage *cli_call(struct cli *cli, const char *method,
    const ProtobufCMessage *in, const ProtobufCMessageDescriptor *out_desc);

/* Prints m as proto3 JSON (with defaults) followed by a newline. */
void cli_print_json(const ProtobufCMessage *m);

/* Reads a value given as text, @file or - (stdin). Caller frees. */
char *cli_read_value(const char *value);

/*
 * The one positional argument of "jobs get ID", "dlq show ID" and the like;
 * exits with status 2 naming `what` when it is missing or extra.
 */
const char *cli_one_id(struct cli *cli, const char *what);

/* Prints a job's attempts and its timeline as tables (nothing when empty). */
struct Opsbus__V1__Attempt;
struct Opsbus__V1__TimelineEvent;
void cli_print_attempts(struct Opsbus__V1__Attempt *const *a, size_t n);
void cli_print_timeline(struct Opsbus__V1__TimelineEvent *const *e, size_t n);
/* Prints the operator view of a job (job show; exceptions show). */
struct Opsbus__V1__OperatorJob;
void cli_print_operator_job(const struct Opsbus__V1__OperatorJob *j);

/* Table output: a header row, then rows, columns padded to fit. */
struct cli_table;
struct cli_table *cli_table_new(int ncols, const char *const *headers);
void              cli_table_add(struct cli_table *t, const char *const *cells);
void              cli_table_print(struct cli_table *t, FILE *f);

/* The commands; each returns the exit status. */
int cmd_health(struct cli *cli);
int cmd_jobs(struct cli *cli, const char *sub);
int cmd_keys(struct cli *cli, const char *sub);
/* The operator commands (cmd_dlq.c, cmd_bulk.c, cmd_control.c). */
int cmd_summary(struct cli *cli);
int cmd_dlq(struct cli *cli, const char *sub);
int cmd_bulk_replay(struct cli *cli);
int cmd_bulk_status(struct cli *cli);
int cmd_bulk_cancel(struct cli *cli);
int cmd_job(struct cli *cli, const char *sub);
int cmd_metrics(struct cli *cli);
int cmd_audit(struct cli *cli);
/* Takes --reason, required for every audited command (exits 2 without). */
const char *cli_reason(struct cli *cli, const char *what);

/* opsbus exceptions health|list|show|resolve (cmd_exceptions.c). */
int cmd_exceptions(struct cli *cli, const char *sub);
/* opsbus events follow|list|backlog (cmd_events.c). */
int cmd_events(struct cli *cli, const char *sub);
int cmd_queues(struct cli *cli, const char *sub);
/* opsbus work: runs until stopped (SIGTERM, SIGINT) or out of work. */
int cmd_work(struct cli *cli);

#endif
