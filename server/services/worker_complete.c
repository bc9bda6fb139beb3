/*
 * JobService/CompleteJob and CompleteJobs: a worker reports that jobs it
 * holds are done. Both run the same statement (CompleteJob is a batch of
 * one), so a job completes the same way alone or in a batch: a
 * compare-and-set on (status = 'in_progress', lease token), its attempt row
 * closed and its timeline event written in the same statement, and a job
 * whose cancel an operator requested ending cancelled, not succeeded.
 *
 * A batch is one round trip whatever its size: the items go as parallel
 * arrays, and the rows that come back say for each item whether it took
 * effect and, if not, whether its job exists (LEASE_LOST) or not
 * (JOB_NOT_FOUND). One bad item never fails its neighbours; only a
 * database failure fails the call, and then no item takes effect.
 *
 * CompleteJob calls that arrive together share one transaction (group
 * commit, rpc/group.h): the group is one run of the same statement, each
 * call one item. A call the group could not complete (its lease is lost,
 * say) runs alone afterwards and gets its own answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "opsbus/v1/job.pb-c.h"
#include "services/handlers.h"
#include "services/job_view.h"
#include "services/redact.h"
#include "services/worker_internal.h"
#include "store/db.h"
#include "store/pgarray.h"

/* What an operator may see of a worker's summary. */
#define WORKER_SUMMARY_MAX 1000
/* Items of one CompleteJobs call. */
#define COMPLETE_MAX 1000
/* CompleteJob calls in one group. */
#define COMPLETE_GROUP_MAX 64

/* clang-format off */

/*
 * One item per element of the arrays: $1 job ids, $2 lease tokens, $3
 * summaries (sanitized), $4 the summaries as JSON for the events
 * (redacted), $5 the items' indexes, $6 their callers' tenants ('' for
 * all), $7 their correlation ids. The job ids are distinct and sorted, so
 * that two calls naming the same jobs lock them in one order.
 *
 * Answers one row per item, by index: the job's columns (NULL when the
 * item did not take effect), the index of the completed item (NULL
 * likewise), the index of the item, and the job's status before (NULL when
 * the caller has no such job). The status is read from the statement's
 * snapshot: it explains a refusal, it decides nothing.
 *
 * Each job is found by its id (the primary key). The state test is
 * written IS NOT DISTINCT FROM (status is never NULL, so it means =) so
 * that the planner cannot prefer the partial index jobs_lease: its
 * statistics often say that no job runs, and then a batch would scan every
 * running job instead of looking up its own.
 *
 * A job whose cancel an operator requested ends cancelled, not succeeded,
 * and keeps the summary the cancel wrote (operator_controls.c).
 *
 * It runs with a generic plan (db_generic_plans).
 */
static const struct db_stmt stmt_complete = {"worker_complete",
    "WITH i AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], "
    "$4::jsonb[], $5::int[], $6::text[], $7::text[]) AS i(id, token, "
    "summary, summary_json, n, tenant, corr)), "
    "u AS (UPDATE jobs SET status = CASE WHEN cancel_requested_at IS "
    "NULL THEN 'succeeded' ELSE 'cancelled' END, completion_summary = CASE "
    "WHEN cancel_requested_at IS NULL THEN nullif(i.summary, '') ELSE "
    "completion_summary END, lease_owner = NULL, "
    "lease_token = NULL, lease_expires_at = NULL, final_state_at = now(), "
    "updated_at = now() FROM i WHERE jobs.id = i.id AND "
    "jobs.status IS NOT DISTINCT FROM 'in_progress' AND "
    "jobs.lease_token = i.token AND "
    "(i.tenant = '' OR jobs.tenant = i.tenant) "
    "RETURNING jobs.*, i.n, i.summary_json, i.corr), "
    "a AS (UPDATE job_attempts SET ended_at = now(), "
    "to_status = u.status FROM u WHERE job_attempts.job_id = u.id AND "
    "job_attempts.attempt = u.attempts RETURNING job_attempts.job_id, "
    "job_attempts.worker_id), "
    "e AS (INSERT INTO events (event_id, event_type, topic, job_id, queue, "
    "tenant, actor, correlation_id, payload) SELECT gen_random_uuid(), "
    "u.status, 'job.' || u.status || '.' || u.queue, u.id, u.queue, "
    "u.tenant, coalesce(a.worker_id, 'unknown'), u.corr, "
    "jsonb_build_object('attempt', u.attempts, 'summary', u.summary_json) "
    "FROM u LEFT JOIN a ON a.job_id = u.id) "
    "SELECT x.*, i.n, CASE WHEN x.n IS NULL THEN (SELECT p.status FROM "
    "jobs p WHERE p.id = i.id AND (i.tenant = '' OR p.tenant = i.tenant)) "
    "END FROM i LEFT JOIN (SELECT " JOB_COLUMNS ", n FROM u) x "
    "ON x.n = i.n ORDER BY i.n"};

/* clang-format on */

/* The columns after JOB_COLUMNS in stmt_complete's rows. */
#define COL_DONE   (JOB_COLUMN_COUNT)
#define COL_INDEX  (JOB_COLUMN_COUNT + 1)
#define COL_STATUS (JOB_COLUMN_COUNT + 2)

/* One job to complete, ready for the statement, and its outcome. */
struct completion {
	const char *job_id;
	const char *lease_token;
	/* Sanitized, and as JSON for the event (redacted). */
	const char *summary;
	const char *summary_json;
	/* The caller's: whose jobs it may complete, what its event says,
	 * and whose arena the job is read into. */
	struct rpc_call *call;
	/* The outcome: the job, or the refusal and its message. A job named
	 * by an earlier item too is refused with dup_of set. */
	Opsbus__V1__Job         *job;
	opsbus_err               err;
	const char              *message;
	const struct completion *dup_of;
	/* The item's index in its call. */
	size_t index;
	/* CompleteJob's claim_next (NULL: none), checked. */
	const Opsbus__V1__ClaimJobsRequest *claim_next;
};

/*
 * Checks one item and makes its summary ready. A bad item gets its
 * refusal in c->err; returns OPSBUS_E_INTERNAL when out of memory.
 */
static opsbus_err
completion_init(struct rpc_call          *call,
    const Opsbus__V1__CompleteJobRequest *in, size_t index,
    struct completion *c)
{
	char *summary, *json;

	memset(c, 0, sizeof(*c));
	c->job_id = in->job_id;
	c->lease_token = in->lease_token;
	c->call = call;
	c->index = index;
	if ((c->message
	        = worker_lease_args_problem(in->job_id, in->lease_token))
	    != NULL) {
		c->err = OPSBUS_E_VALIDATION_ERROR;
		return (OPSBUS_E_OK);
	}
	summary
	    = redact_sanitize(call->arena, in->summary, WORKER_SUMMARY_MAX);
	if (summary == NULL
	    || !redact_text_json(summary, call->arena, &json)) {
		return (OPSBUS_E_INTERNAL);
	}
	c->summary = summary;
	c->summary_json = json;
	return (OPSBUS_E_OK);
}

/* Checks CompleteJob's claim_next into c (a refusal is the call's). */
static opsbus_err
completion_claim_next(struct rpc_call    *call,
    const Opsbus__V1__CompleteJobRequest *in, struct completion *c)
{
	opsbus_err err;

	if (in->claim_next == NULL) {
		return (OPSBUS_E_OK);
	}
	if ((err = worker_claim_next_check(call, in->claim_next))
	    != OPSBUS_E_OK) {
		return (err);
	}
	c->claim_next = in->claim_next;
	return (OPSBUS_E_OK);
}

/* Claims what the completed calls of c asked for in claim_next, in the
 * transaction open, and answers it into each call's response. */
static opsbus_err
complete_claim_next(struct db *db, struct arena *scratch,
    struct completion *const *c, Opsbus__V1__CompleteJobResponse *const *out,
    int n)
{
	struct rpc_call                    **calls;
	const Opsbus__V1__ClaimJobsRequest **in;
	Opsbus__V1__ClaimJobsResponse      **next;
	int                                  k = 0;
	opsbus_err                           err;

	calls = arena_alloc(scratch, (size_t) n * sizeof(*calls));
	in = arena_alloc(scratch, (size_t) n * sizeof(*in));
	next = arena_alloc(scratch, (size_t) n * sizeof(*next));
	if (calls == NULL || in == NULL || next == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	for (int i = 0; i < n; i++) {
		if (c[i]->err == OPSBUS_E_OK && c[i]->claim_next != NULL) {
			calls[k] = c[i]->call;
			in[k++] = c[i]->claim_next;
		}
	}
	if (k == 0) {
		return (OPSBUS_E_OK);
	}
	if ((err = worker_claim_next(db, scratch, calls, in, next, k))
	    != OPSBUS_E_OK) {
		return (err);
	}
	k = 0;
	for (int i = 0; i < n; i++) {
		if (c[i]->err == OPSBUS_E_OK && c[i]->claim_next != NULL) {
			out[i]->next = next[k++];
		}
	}
	return (OPSBUS_E_OK);
}

static int
completion_cmp(const void *a, const void *b)
{
	const struct completion *x = *(const struct completion *const *) a;
	const struct completion *y = *(const struct completion *const *) b;
	int                      c = strcasecmp(x->job_id, y->job_id);

	if (c != 0) {
		return (c);
	}
	return (x < y ? -1 : x > y);
}

/*
 * Picks the items to run: those not refused yet, sorted by job id, each
 * job once (a later item naming it again is refused, with dup_of). Writes
 * them to run and their count to *count.
 */
static void
complete_pick(struct completion *const *c, size_t n, struct completion **run,
    size_t *count)
{
	size_t m = 0, k = 0;

	for (size_t i = 0; i < n; i++) {
		if (c[i]->err == OPSBUS_E_OK) {
			run[m++] = c[i];
		}
	}
	qsort(run, m, sizeof(*run), completion_cmp);
	for (size_t j = 0; j < m; j++) {
		if (k > 0
		    && strcasecmp(run[j]->job_id, run[k - 1]->job_id) == 0) {
			run[j]->err = OPSBUS_E_VALIDATION_ERROR;
			run[j]->dup_of = run[k - 1];
			continue;
		}
		run[k++] = run[j];
	}
	*count = k;
}

/* Reads the statement's rows into the outcomes of the items run. */
static opsbus_err
complete_read(
    struct completion *const *run, size_t k, const struct db_rows *rows)
{
	if (db_rows_count(rows) != (int) k) {
		return (OPSBUS_E_INTERNAL);
	}
	for (int r = 0; r < (int) k; r++) {
		int64_t            i = db_rows_int(rows, r, COL_INDEX);
		struct completion *c;

		if (i < 0 || (size_t) i >= k) {
			return (OPSBUS_E_INTERNAL);
		}
		c = run[i];
		if (!db_rows_null(rows, r, COL_DONE)) {
			if ((c->job = job_from_row(c->call, rows, r, 0))
			    == NULL) {
				return (OPSBUS_E_INTERNAL);
			}
		} else if (db_rows_null(rows, r, COL_STATUS)) {
			c->err = OPSBUS_E_JOB_NOT_FOUND;
			c->message
			    = call_printf(c->call, "no job %s", c->job_id);
		} else {
			c->err = OPSBUS_E_LEASE_LOST;
			c->message
			    = call_printf(c->call, WORKER_LEASE_LOST_FMT,
			        c->job_id, db_rows_get(rows, r, COL_STATUS));
		}
	}
	return (OPSBUS_E_OK);
}

/*
 * Completes the items of c not refused yet, on db, in one statement, and
 * writes each one's outcome: its job, or its refusal. scratch holds the
 * statement's parameters. Returns 0, or a database error (nothing took
 * effect).
 */
static opsbus_err
complete_exec(struct db *db, struct arena *scratch,
    struct completion *const *c, size_t n)
{
	enum {
		C_ID,
		C_TOKEN,
		C_SUMMARY,
		C_JSON,
		C_INDEX,
		C_TENANT,
		C_CORR,
		C_N
	};
	struct completion **run = arena_alloc(scratch, (n + 1) * sizeof(*run));
	struct pg_array     col[C_N];
	const char         *p[C_N];
	struct db_rows     *rows = NULL;
	struct db_call      calls[2] = {
	         {&db_generic_plans, 0, NULL, NULL},
	         {&stmt_complete, C_N, p, &rows},
        };
	opsbus_err err;
	size_t     k = 0;

	if (run == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	complete_pick(c, n, run, &k);
	if (k == 0) {
		return (OPSBUS_E_OK);
	}
	for (int j = 0; j < C_N; j++) {
		pg_array_init(&col[j], scratch);
	}
	for (size_t i = 0; i < k; i++) {
		char index[24];

		snprintf(index, sizeof(index), "%zu", i);
		pg_array_add(&col[C_ID], run[i]->job_id);
		pg_array_add(&col[C_TOKEN], run[i]->lease_token);
		pg_array_add(&col[C_SUMMARY], run[i]->summary);
		pg_array_add(&col[C_JSON], run[i]->summary_json);
		pg_array_add(&col[C_INDEX], index);
		pg_array_add(&col[C_TENANT], run[i]->call->who->tenant);
		pg_array_add(&col[C_CORR], run[i]->call->correlation_id);
	}
	for (int j = 0; j < C_N; j++) {
		if ((p[j] = pg_array_text(&col[j])) == NULL) {
			return (OPSBUS_E_INTERNAL);
		}
	}
	if ((err = db_exec_many(db, calls, 2, false)) != OPSBUS_E_OK) {
		return (err);
	}
	err = complete_read(run, k, rows);
	db_rows_free(rows);
	return (err);
}

opsbus_err
worker_complete(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__CompleteJobRequest *in
	    = (const Opsbus__V1__CompleteJobRequest *) inm;
	Opsbus__V1__CompleteJobResponse *out
	    = (Opsbus__V1__CompleteJobResponse *) outm;
	struct completion  c;
	struct completion *cp = &c;
	opsbus_err         err;

	if ((err = completion_init(call, in, 0, &c)) != OPSBUS_E_OK
	    || (err = completion_claim_next(call, in, &c)) != OPSBUS_E_OK
	    || (err = complete_exec(call->db, call->arena, &cp, 1))
	        != OPSBUS_E_OK) {
		return (err);
	}
	if (c.err != OPSBUS_E_OK) {
		return (call_fail(call, c.err, "%s",
		    c.message != NULL ? c.message : opsbus_err_text(c.err)));
	}
	out->job = c.job;
	return (complete_claim_next(call->db, call->arena, &cp, &out, 1));
}

/* CompleteJob in a group: checked in the caller's thread. */
static opsbus_err
complete_group_prepare(
    struct rpc_call *call, const ProtobufCMessage *in, void **plan)
{
	struct completion *c = arena_alloc(call->arena, sizeof(*c));
	opsbus_err         err;

	if (c == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	if ((err = completion_init(
	         call, (const Opsbus__V1__CompleteJobRequest *) in, 0, c))
	    != OPSBUS_E_OK) {
		return (err);
	}
	if (c->err != OPSBUS_E_OK) {
		return (call_fail(call, c->err, "%s", c->message));
	}
	if ((err = completion_claim_next(
	         call, (const Opsbus__V1__CompleteJobRequest *) in, c))
	    != OPSBUS_E_OK) {
		return (err);
	}
	*plan = c;
	return (OPSBUS_E_OK);
}

/*
 * The group: every call one item of one statement, then the claims the
 * completed calls asked for (claim_next). A call whose job did not
 * complete (a lost lease, no such job, a job another call of the group
 * names too) is left undone and runs alone, for its own answer.
 */
static opsbus_err
complete_group_run(struct db *db, struct arena *scratch,
    struct batch_item *const *items, int n)
{
	struct completion **c = arena_alloc(scratch, (size_t) n * sizeof(*c));
	Opsbus__V1__CompleteJobResponse **out
	    = arena_alloc(scratch, (size_t) n * sizeof(*out));
	opsbus_err err;

	if (c == NULL || out == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	for (int i = 0; i < n; i++) {
		c[i] = items[i]->plan;
		c[i]->call = items[i]->call;
		out[i] = (Opsbus__V1__CompleteJobResponse *) items[i]->out;
	}
	if ((err = complete_exec(db, scratch, c, (size_t) n)) != OPSBUS_E_OK
	    || (err = complete_claim_next(db, scratch, c, out, n))
	        != OPSBUS_E_OK) {
		return (err);
	}
	for (int i = 0; i < n; i++) {
		if (c[i]->err == OPSBUS_E_OK) {
			out[i]->job = c[i]->job;
			items[i]->done = true;
		}
	}
	return (OPSBUS_E_OK);
}

/* Two groups at once, as claims (worker_claim.c). */
const struct service_batch worker_complete_batch
    = {complete_group_prepare, complete_group_run, COMPLETE_GROUP_MAX, 2};

opsbus_err
worker_complete_jobs(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__CompleteJobsRequest *in
	    = (const Opsbus__V1__CompleteJobsRequest *) inm;
	Opsbus__V1__CompleteJobsResponse *out
	    = (Opsbus__V1__CompleteJobsResponse *) outm;
	size_t              n = in->n_completions;
	struct completion  *c;
	struct completion **cp;
	opsbus_err          err;

	if (n == 0 || n > COMPLETE_MAX) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "completions must hold 1 to %d items, got %zu",
		    COMPLETE_MAX, n));
	}
	c = call_array(call, n, sizeof(*c));
	cp = call_array(call, n, sizeof(*cp));
	out->results = call_array(call, n, sizeof(*out->results));
	if (c == NULL || cp == NULL || out->results == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	for (size_t i = 0; i < n; i++) {
		cp[i] = &c[i];
		if (in->completions[i]->claim_next != NULL) {
			return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
			    "item %zu has a claim_next: it belongs on the "
			    "CompleteJobs request, once for all the items",
			    i));
		}
		if ((err = completion_init(call, in->completions[i], i, &c[i]))
		    != OPSBUS_E_OK) {
			return (err);
		}
	}
	if (in->claim_next != NULL
	    && (err = worker_claim_next_check(call, in->claim_next))
	        != OPSBUS_E_OK) {
		return (err);
	}
	if ((err = complete_exec(call->db, call->arena, cp, n))
	    != OPSBUS_E_OK) {
		return (err);
	}
	if (in->claim_next != NULL) {
		struct rpc_call                    *who = call;
		const Opsbus__V1__ClaimJobsRequest *next = in->claim_next;

		if ((err = worker_claim_next(
		         call->db, call->arena, &who, &next, &out->next, 1))
		    != OPSBUS_E_OK) {
			return (err);
		}
	}
	for (size_t i = 0; i < n; i++) {
		Opsbus__V1__CompleteJobResult *r
		    = (Opsbus__V1__CompleteJobResult *) call_new(
		        call, &opsbus__v1__complete_job_result__descriptor);

		if (r == NULL) {
			return (OPSBUS_E_INTERNAL);
		}
		r->job_id = PB_STR(c[i].job_id);
		if (c[i].err == OPSBUS_E_OK) {
			r->job = c[i].job;
			out->completed++;
		} else {
			const char *msg = c[i].message;

			if (c[i].dup_of != NULL) {
				msg = call_printf(call,
				    "job %s is named by item %zu of this call "
				    "already: a job completes once",
				    c[i].job_id, c[i].dup_of->index);
			}
			r->error_code = PB_STR(opsbus_err_name(c[i].err));
			r->message = PB_STR(
			    msg != NULL ? msg : opsbus_err_text(c[i].err));
		}
		out->results[out->n_results++] = r;
	}
	return (OPSBUS_E_OK);
}
