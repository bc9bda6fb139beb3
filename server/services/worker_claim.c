/*
 * JobService/ClaimJobs: a worker takes ready jobs of a queue under a lease.
 * One statement claims for one call or for several at once: ClaimJobs
 * calls that arrive together share one transaction (group commit,
 * rpc/group.h), and the jobs the statement takes are dealt out to them in
 * order. A call the group does not serve (another queue or tenant than the
 * group's first, a resend whose reply is stored, or a long poll that found
 * nothing) runs alone afterwards.
 *
 * Long poll (ClaimJobs.wait_ms): the handler re-runs the claim statement
 * with a short sleep between tries, inside the dispatcher's transaction.
 * That transaction is READ COMMITTED and takes no transaction id, no row
 * lock and no snapshot between statements until a claim finds rows, so an
 * idle poll holds back neither vacuum nor other claimers; keeping it means
 * a resent ClaimJobs is still answered from its stored reply. The cost is
 * one RPC worker thread and its connection per waiting claimer, for at
 * most wait_ms (bounded by the call's deadline), and a latency of at most
 * WAIT_STEP_MAX_MS after a job becomes ready; at most half the RPC worker
 * threads wait at once. LISTEN/NOTIFY would need a
 * notification API in store/ and a connection outside the pool; the poll
 * keeps store/ unchanged.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "opsbus/v1/job.pb-c.h"
#include "services/handlers.h"
#include "services/job_view.h"
#include "services/validate.h"
#include "services/worker_internal.h"
#include "store/db.h"
#include "store/pgarray.h"

/* The longest long poll, and the sleeps between its tries. */
#define WAIT_MAX_MS      30000
#define WAIT_STEP_MIN_MS 10
#define WAIT_STEP_MAX_MS 100
/* ClaimJobs calls in one group. */
#define CLAIM_GROUP_MAX 64

/* Set when the server stops: long polls answer at their next step. */
static atomic_bool draining;
/*
 * Claims waiting for work now. Each holds an RPC worker thread while it
 * waits, so at most half of them may wait: the others stay free for the
 * heartbeats and reports of running jobs. A claim over the limit answers
 * at once (the worker loop pauses before it asks again).
 */
static atomic_int waiting;

/* clang-format off */

/*
 * One round trip claims ready jobs of queue $1 (of tenant $2, '' for all)
 * for one or more claims at once: $3 their worker ids, $4 how many each
 * wants, $5 their lease in ms (0: the queue's), $6 their correlation ids,
 * $7 the keys of their stored replies (NULL: none), $8 their indexes. A
 * claim whose request already has a stored reply (a resend, in a group)
 * takes nothing and has no row. The jobs are taken oldest first by
 * priority then run_at, skipping rows other claimers hold, and dealt out
 * in that order by index; each gets a new lease token, its attempt
 * counted, its ledger row opened and its 'claimed' event written. A
 * paused queue (or one without policy) hands out nothing.
 *
 * Answers, by index and then in claim order, the job's columns, its lease
 * token and lease, the index of the claim that got it, its rank, and the
 * claim's index; a claim that got nothing has one row with NULL jobs.
 *
 * Times are statement_timestamp(), not now(): a long poll re-runs this
 * statement in one transaction, and now() would stay at the transaction's
 * start (jobs made since would never look ready, and leases would come out
 * short). It runs with a generic plan (db_generic_plans).
 *
 * The update finds each locked row by the ctid it was locked at (a TID
 * scan), not by joining on id: the generic plan cannot know how many rows
 * the LIMIT lets through, and with a large backlog it planned a hash join
 * over a sequential scan of the whole jobs table (measured: 86 of 95 ms
 * of a claim of 100 on 104,000 jobs). The id test stays, so a row that
 * moved since is never taken for another.
 */
static const struct db_stmt stmt_claim = {"worker_claim",
    "WITH i AS (SELECT * FROM unnest($3::text[], $4::int[], $5::int[], "
    "$6::text[], $7::text[], $8::int[]) AS i(worker, max, lease_ms, corr, "
    "reply_key, n) WHERE i.reply_key IS NULL OR NOT EXISTS (SELECT 1 FROM "
    "request_replies r WHERE r.request_id = i.reply_key)), "
    "p AS " WORKER_POLICY("$1::text", "paused, lease_ms") ", "
    "l AS (SELECT statement_timestamp() AS now), "
    "c AS (SELECT j.id, j.tid, j.status, row_number() OVER (ORDER BY "
    "j.priority DESC, j.run_at, j.id) AS k FROM (SELECT j.id, j.ctid AS "
    "tid, j.status, j.priority, j.run_at FROM jobs j WHERE "
    "j.queue = $1::text AND "
    "j.status IN ('queued', 'rerouted', 'retryable_failed') AND "
    "j.run_at <= statement_timestamp() AND "
    "($2::text = '' OR j.tenant = $2::text) AND "
    "NOT (SELECT paused FROM p) "
    "ORDER BY j.priority DESC, j.run_at, j.id "
    "LIMIT coalesce((SELECT sum(max) FROM i), 0) "
    "FOR UPDATE OF j SKIP LOCKED) j), "
    "a AS (SELECT i.*, sum(i.max) OVER (ORDER BY i.n) - i.max AS lo, "
    "coalesce(nullif(i.lease_ms, 0), (SELECT lease_ms FROM p)) AS ms "
    "FROM i), "
    "x AS (SELECT c.id, c.tid, c.status AS from_status, c.k, a.worker, "
    "a.corr, a.n, a.ms FROM c JOIN a ON c.k > a.lo AND "
    "c.k <= a.lo + a.max), "
    "u AS (UPDATE jobs SET status = 'in_progress', "
    "attempts = jobs.attempts + 1, lease_owner = x.worker, "
    "lease_token = gen_random_uuid(), "
    "lease_expires_at = l.now + x.ms * interval '1 millisecond', "
    "updated_at = l.now FROM x, l WHERE jobs.ctid = x.tid AND "
    "jobs.id = x.id "
    "RETURNING jobs.*, x.from_status, x.ms AS lease_ms, x.n, x.k, x.corr, "
    "l.now AS claimed_at), "
    "t AS (INSERT INTO job_attempts (job_id, attempt, worker_id, "
    "from_status, started_at) SELECT id, attempts, lease_owner, "
    "from_status, claimed_at FROM u), "
    "e AS (INSERT INTO events (event_id, event_type, topic, job_id, queue, "
    "tenant, actor, correlation_id, payload, created_at) SELECT "
    "gen_random_uuid(), 'claimed', 'job.claimed.' || queue, id, queue, "
    "tenant, lease_owner, corr, jsonb_build_object('attempt', attempts, "
    "'from_status', from_status, 'worker_id', lease_owner, "
    "'lease_expires_at', lease_expires_at), claimed_at FROM u) "
    "SELECT x.*, i.n FROM i LEFT JOIN (SELECT " JOB_COLUMNS ", "
    "lease_token, lease_ms, n, k FROM u) x ON x.n = i.n "
    "ORDER BY i.n, x.k"};

/* clang-format on */

/* The columns after JOB_COLUMNS in stmt_claim's rows. */
#define COL_TOKEN (JOB_COLUMN_COUNT)
#define COL_LEASE (JOB_COLUMN_COUNT + 1)
#define COL_GOT   (JOB_COLUMN_COUNT + 2)
#define COL_INDEX (JOB_COLUMN_COUNT + 4)

/* One ClaimJobs call, checked, and what it got. */
struct claim {
	struct rpc_call                    *call;
	const Opsbus__V1__ClaimJobsRequest *in;
	const char                         *worker_id;
	int                                 max;
	/* The key of its stored reply, in a group (NULL: none). */
	const char                    *reply_key;
	Opsbus__V1__ClaimJobsResponse *out;
	/* The statement answered for it (no stored reply held it back). */
	bool seen;
};

void
worker_drain(void)
{
	atomic_store(&draining, true);
}

static opsbus_err
claim_validate(
    struct rpc_call *call, const Opsbus__V1__ClaimJobsRequest *in, int *max)
{
	opsbus_err err;

	if (!valid_name(in->queue)) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "queue is required: 1..64 characters of letters, digits, "
		    "'.', '_', '-', ':' and '/'"));
	}
	if (!valid_name_or_empty(in->worker_id)) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "worker_id is up to 64 characters of letters, digits, "
		    "'.', '_', '-', ':' and '/'"));
	}
	*max = 1;
	if (in->max_value_case
	    == OPSBUS__V1__CLAIM_JOBS_REQUEST__MAX_VALUE_MAX) {
		if (in->max < 1 || in->max > 100) {
			return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
			    "max must be between 1 and 100, got %d", in->max));
		}
		*max = in->max;
	}
	if ((err = worker_check_lease_ms(call, "lease_ms", in->lease_ms))
	    != OPSBUS_E_OK) {
		return (err);
	}
	if (in->wait_ms < 0 || in->wait_ms > WAIT_MAX_MS) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "wait_ms must be between 0 and %d, got %d", WAIT_MAX_MS,
		    in->wait_ms));
	}
	return (OPSBUS_E_OK);
}

/* Reads the rows of the claims run into their answers. */
static opsbus_err
claim_read(struct claim *const *c, int n, const struct db_rows *rows)
{
	int count = db_rows_count(rows);

	for (int r = 0; r < count; r++) {
		int64_t i = db_rows_int(rows, r, COL_INDEX);

		if (i < 0 || i >= n) {
			return (OPSBUS_E_INTERNAL);
		}
		c[i]->seen = true;
		if (!db_rows_null(rows, r, COL_GOT)) {
			c[i]->out->n_jobs++;
		}
	}
	for (int i = 0; i < n; i++) {
		size_t k = c[i]->out->n_jobs;

		c[i]->out->jobs
		    = call_array(c[i]->call, k + 1, sizeof(*c[i]->out->jobs));
		if (c[i]->out->jobs == NULL) {
			return (OPSBUS_E_INTERNAL);
		}
		c[i]->out->n_jobs = 0;
	}
	for (int r = 0; r < count; r++) {
		struct claim    *ci = c[db_rows_int(rows, r, COL_INDEX)];
		struct rpc_call *call = ci->call;
		Opsbus__V1__ClaimedJob *cj;

		if (db_rows_null(rows, r, COL_GOT)) {
			continue;
		}
		cj = (Opsbus__V1__ClaimedJob *) call_new(
		    call, &opsbus__v1__claimed_job__descriptor);
		if (cj == NULL
		    || (cj->job = job_from_row(call, rows, r, 0)) == NULL
		    || (cj->lease_token = call_strdup(
		            call, db_rows_get(rows, r, COL_TOKEN)))
		        == NULL) {
			return (OPSBUS_E_INTERNAL);
		}
		cj->lease_ms = (int32_t) db_rows_int(rows, r, COL_LEASE);
		ci->out->jobs[ci->out->n_jobs++] = cj;
	}
	return (OPSBUS_E_OK);
}

/*
 * Runs the claim statement once on db for n claims of one queue and
 * tenant (those of the first), filling their answers. scratch holds the
 * parameters.
 */
static opsbus_err
claim_run(struct db *db, struct arena *scratch, struct claim *const *c, int n)
{
	enum { C_WORKER, C_MAX, C_LEASE, C_CORR, C_REPLY, C_INDEX, C_N };
	struct pg_array col[C_N];
	const char     *p[2 + C_N];
	struct db_rows *rows = NULL;
	struct db_call  calls[2] = {
	     {&db_generic_plans, 0, NULL, NULL},
	     {&stmt_claim, 2 + C_N, p, &rows},
        };
	opsbus_err err;

	for (int j = 0; j < C_N; j++) {
		pg_array_init(&col[j], scratch);
	}
	for (int i = 0; i < n; i++) {
		char max[16], lease[16], index[16];

		snprintf(max, sizeof(max), "%d", c[i]->max);
		snprintf(lease, sizeof(lease), "%d", c[i]->in->lease_ms);
		snprintf(index, sizeof(index), "%d", i);
		pg_array_add(&col[C_WORKER], c[i]->worker_id);
		pg_array_add(&col[C_MAX], max);
		pg_array_add(&col[C_LEASE], lease);
		pg_array_add(&col[C_CORR], c[i]->call->correlation_id);
		pg_array_add(&col[C_REPLY], c[i]->reply_key);
		pg_array_add(&col[C_INDEX], index);
	}
	p[0] = c[0]->in->queue;
	p[1] = c[0]->call->who->tenant;
	for (int j = 0; j < C_N; j++) {
		if ((p[2 + j] = pg_array_text(&col[j])) == NULL) {
			return (OPSBUS_E_INTERNAL);
		}
	}
	if ((err = db_exec_many(db, calls, 2, false)) != OPSBUS_E_OK) {
		return (err);
	}
	err = claim_read(c, n, rows);
	db_rows_free(rows);
	return (err);
}

/* Checks a call and makes its claim. */
static opsbus_err
claim_init(struct rpc_call *call, const Opsbus__V1__ClaimJobsRequest *in,
    Opsbus__V1__ClaimJobsResponse *out, struct claim *c)
{
	opsbus_err err;

	memset(c, 0, sizeof(*c));
	if ((err = claim_validate(call, in, &c->max)) != OPSBUS_E_OK) {
		return (err);
	}
	c->call = call;
	c->in = in;
	c->out = out;
	c->worker_id
	    = in->worker_id[0] != '\0' ? in->worker_id : call->who->identity;
	return (OPSBUS_E_OK);
}

opsbus_err
worker_claim_next_check(
    struct rpc_call *call, const Opsbus__V1__ClaimJobsRequest *in)
{
	int        max;
	opsbus_err err;

	if ((err = claim_validate(call, in, &max)) != OPSBUS_E_OK) {
		return (err);
	}
	if (in->wait_ms != 0) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "claim_next does not wait (wait_ms must be 0, got %d): to "
		    "wait for work, call ClaimJobs",
		    in->wait_ms));
	}
	return (OPSBUS_E_OK);
}

opsbus_err
worker_claim_next(struct db *db, struct arena *scratch,
    struct rpc_call *const                    *calls,
    const Opsbus__V1__ClaimJobsRequest *const *in,
    Opsbus__V1__ClaimJobsResponse **out, int n)
{
	struct claim  *c = arena_alloc(scratch, (size_t) n * sizeof(*c));
	struct claim **run = arena_alloc(scratch, (size_t) n * sizeof(*run));
	bool          *done = arena_alloc(scratch, (size_t) n * sizeof(*done));
	opsbus_err     err;

	if (n > 0 && (c == NULL || run == NULL || done == NULL)) {
		return (OPSBUS_E_INTERNAL);
	}
	for (int i = 0; i < n; i++) {
		out[i] = (Opsbus__V1__ClaimJobsResponse *) call_new(
		    calls[i], &opsbus__v1__claim_jobs_response__descriptor);
		if (out[i] == NULL
		    || claim_init(calls[i], in[i], out[i], &c[i])
		        != OPSBUS_E_OK) {
			/* Checked before (worker_claim_next_check). */
			return (OPSBUS_E_INTERNAL);
		}
		done[i] = false;
	}
	/* One statement per queue and tenant, in the order of the calls. */
	for (int i = 0; i < n; i++) {
		int k = 0;

		if (done[i]) {
			continue;
		}
		for (int j = i; j < n; j++) {
			if (!done[j]
			    && strcmp(c[j].in->queue, c[i].in->queue) == 0
			    && strcmp(c[j].call->who->tenant,
			           c[i].call->who->tenant)
			        == 0) {
				run[k++] = &c[j];
				done[j] = true;
			}
		}
		if ((err = claim_run(db, scratch, run, k)) != OPSBUS_E_OK) {
			return (err);
		}
	}
	return (OPSBUS_E_OK);
}

/* Takes a place among the waiting claims; false when they are full. */
static bool
wait_begin(const struct rpc_call *call)
{
	int workers = call->cfg->rpc_workers > 0 ? call->cfg->rpc_workers : 8;
	int max = workers / 2 > 0 ? workers / 2 : 1;

	if (atomic_fetch_add(&waiting, 1) >= max) {
		atomic_fetch_sub(&waiting, 1);
		return (false);
	}
	return (true);
}

opsbus_err
worker_claim(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__ClaimJobsRequest *in
	    = (const Opsbus__V1__ClaimJobsRequest *) inm;
	Opsbus__V1__ClaimJobsResponse *out
	    = (Opsbus__V1__ClaimJobsResponse *) outm;
	struct claim  c;
	struct claim *cp = &c;
	int64_t       deadline, wait = 0, step = WAIT_STEP_MIN_MS;
	opsbus_err    err;

	if ((err = claim_init(call, in, out, &c)) != OPSBUS_E_OK) {
		return (err);
	}
	/* Answer well before the caller's deadline: keep a tenth of it (at
	 * least 200 ms) for the answer's trip. */
	if (in->wait_ms > 0 && call->timeout_ms > 0) {
		int64_t margin = call->timeout_ms / 10;
		wait = (int64_t) call->timeout_ms
		    - (margin < 200 ? 200 : margin);
		if (wait > in->wait_ms) {
			wait = in->wait_ms;
		}
	} else if (in->wait_ms > 0) {
		wait = in->wait_ms;
	}
	if (wait > 0 && !wait_begin(call)) {
		wait = 0;
	}
	deadline = clock_now_us() / 1000 + wait;
	for (;;) {
		int64_t left;

		if ((err = claim_run(call->db, call->arena, &cp, 1))
		        != OPSBUS_E_OK
		    || out->n_jobs > 0) {
			break;
		}
		left = deadline - clock_now_us() / 1000;
		if (left <= 0 || atomic_load(&draining)) {
			break;
		}
		clock_sleep_ms(step < left ? step : left);
		step = step * 2 < WAIT_STEP_MAX_MS ? step * 2
		                                   : WAIT_STEP_MAX_MS;
	}
	if (wait > 0) {
		atomic_fetch_sub(&waiting, 1);
	}
	return (err);
}

/* ClaimJobs in a group: checked in the caller's thread. */
static opsbus_err
claim_group_prepare(
    struct rpc_call *call, const ProtobufCMessage *in, void **plan)
{
	struct claim *c = arena_alloc(call->arena, sizeof(*c));
	opsbus_err    err;

	if (c == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	if ((err = claim_init(
	         call, (const Opsbus__V1__ClaimJobsRequest *) in, NULL, c))
	    != OPSBUS_E_OK) {
		return (err);
	}
	*plan = c;
	return (OPSBUS_E_OK);
}

/*
 * The group: the calls for the first call's queue and tenant claim in one
 * statement, each its share in turn. A call is served when it got jobs or
 * asked not to wait; the others (another queue or tenant, a resend whose
 * reply is stored, a resend of a request already in the group, a long
 * poll that found nothing) run alone.
 */
static opsbus_err
claim_group_run(struct db *db, struct arena *scratch,
    struct batch_item *const *items, int n)
{
	struct claim **c = arena_alloc(scratch, (size_t) n * sizeof(*c));
	int            k = 0;
	opsbus_err     err;

	if (c == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	for (int i = 0; i < n; i++) {
		struct claim *ci = items[i]->plan;
		bool          same = true;

		ci->call = items[i]->call;
		ci->out = (Opsbus__V1__ClaimJobsResponse *) items[i]->out;
		ci->reply_key = items[i]->reply_key;
		if (k > 0) {
			same = strcmp(ci->in->queue, c[0]->in->queue) == 0
			    && strcmp(ci->call->who->tenant,
			           c[0]->call->who->tenant)
			        == 0;
		}
		for (int j = 0; same && ci->reply_key != NULL && j < k; j++) {
			same = c[j]->reply_key == NULL
			    || strcmp(c[j]->reply_key, ci->reply_key) != 0;
		}
		if (same) {
			c[k++] = ci;
		}
	}
	if ((err = claim_run(db, scratch, c, k)) != OPSBUS_E_OK) {
		return (err);
	}
	for (int i = 0; i < n; i++) {
		struct claim *ci = items[i]->plan;

		items[i]->done = ci->seen
		    && (ci->out->n_jobs > 0 || ci->in->wait_ms == 0);
	}
	return (OPSBUS_E_OK);
}

/*
 * Two groups at once: claims of many jobs each are long statements, and two
 * of them overlap on two cores (claim_bench, batched 100 per call: 8,700-
 * 9,050 jobs/s with two, 7,230-7,290 with one).
 */
const struct service_batch worker_claim_batch
    = {claim_group_prepare, claim_group_run, CLAIM_GROUP_MAX, 2};
