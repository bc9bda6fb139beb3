/*
 * libopsbus's worker loop: claim a job of a queue, run the application's
 * callback on it while a background thread heartbeats the lease (every
 * third of it), then complete or fail the job as the callback says.
 *
 * A worker never strands a job: when asked to stop it claims nothing new
 * and lets the callback finish the job it holds (the callback sees
 * opsbus_work_stopping and may give up, failing the job retryably, for
 * example with reason WORKER_STOPPED). When the server says the job's
 * operator asked to cancel, or the lease is lost, the callback sees it too
 * and should stop at once; a lost job is not reported (the server would
 * refuse with LEASE_LOST).
 *
 * One struct opsbus_worker may be run by several threads at once (each
 * holds one job at a time); they share the stop flag and the job budget.
 */
#ifndef OPSBUS_WORKER_H
#define OPSBUS_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "opsbus.h"
#include "opsbus/v1/job.pb-c.h"

struct opsbus_worker;
/* The job a callback is running and its lease (owned by libopsbus). */
struct opsbus_work;

/* What the callback decided; it fills this (zeroed before the call). */
struct opsbus_work_result {
	/* false: complete the job with summary; true: fail it. */
	bool failed;
	/* For a failure: retry (when attempts are left) or dead-letter. */
	bool retryable;
	char summary[1024];
	/* Upper case, no spaces; "" sends "UNSPECIFIED". */
	char reason_code[65];
	/* Shown to operators (sanitized by the server). */
	char error[1024];
	char failure_category[65];
	char stage[65];
	/* Raw detail, never shown to operators: malloc'd by the callback or
	 * NULL; libopsbus frees it. */
	char *error_detail;
};

/*
 * Runs one job. The job and its lease are readable through w until the
 * callback returns. Called on the thread that called opsbus_worker_run.
 */
typedef void (*opsbus_work_fn)(
    struct opsbus_work *w, struct opsbus_work_result *res, void *arg);

struct opsbus_worker_config {
	/* Required. */
	const char *queue;
	/* NULL or "": "<hostname>:<pid>". Up to 64 of [A-Za-z0-9._:/-]. */
	const char *worker_id;
	/* Lease asked for each claim: 0 for the queue's, else 1000..3600000.
	 */
	int32_t lease_ms;
	/* How long a claim waits on the server for a job (0..30000); 0 means
	 * 2000. Also bounds how long a stop waits for a claim to return. */
	int32_t wait_ms;
	/* Jobs to run in all, over all threads; 0: no limit. */
	long max_jobs;
	/* Return once a claim finds no ready job (it then does not wait). */
	bool           until_empty;
	opsbus_work_fn fn;
	void          *arg;
};

struct opsbus_worker_stats {
	long claimed;
	long completed;
	long failed;
	/* Jobs whose lease was lost before they were reported. */
	long lost;
};

/*
 * Makes a worker (the strings of cfg are copied). Returns 0 and writes
 * *out, or -1 when cfg is incomplete (no queue, no fn) or out of memory.
 */
int opsbus_worker_alloc(
    const struct opsbus_worker_config *cfg, struct opsbus_worker **out);
/* Frees; no thread may be running it. NULL does nothing. */
void opsbus_worker_free(struct opsbus_worker *w);

/*
 * Claims and runs jobs through c until stopped, until max_jobs have run,
 * or (until_empty) until the queue has nothing ready. An unreachable
 * server is tried again (with a growing pause, up to 2 s) until it
 * answers or the worker is stopped. Returns 0, or -1 with st filled when
 * the server refuses the claims themselves (a bad queue name, a key
 * without the worker role).
 */
int opsbus_worker_run(struct opsbus_worker *w, struct opsbus_client *c,
    struct opsbus_status *st);

/*
 * Asks every thread running w to stop: claim nothing more and finish the
 * job in hand. Async-signal-safe (one atomic store).
 */
void opsbus_worker_stop(struct opsbus_worker *w);
bool opsbus_worker_stopped(const struct opsbus_worker *w);

/* Totals so far (over all threads). */
void opsbus_worker_stats(
    const struct opsbus_worker *w, struct opsbus_worker_stats *out);

/* The claimed job: its fields, and its lease token. */
const Opsbus__V1__Job *opsbus_work_job(const struct opsbus_work *w);
const char            *opsbus_work_lease_token(const struct opsbus_work *w);
/* The lease granted in ms. */
int32_t opsbus_work_lease_ms(const struct opsbus_work *w);
/* An operator asked to cancel the job (seen in a heartbeat). */
bool opsbus_work_cancel_requested(const struct opsbus_work *w);
/* The lease is gone (expired and rescued, or taken over): stop now. */
bool opsbus_work_lease_lost(const struct opsbus_work *w);
/* The worker was asked to stop. */
bool opsbus_work_stopping(const struct opsbus_work *w);

#endif
