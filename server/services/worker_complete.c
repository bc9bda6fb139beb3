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
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "opsbus/v1/job.pb-c.h"
#include "services/handlers.h"
#include "services/job_view.h"
#include "services/redact.h"
#include "store/db.h"

/* What an operator may see of a worker's summary. */
#define WORKER_SUMMARY_MAX 1000
/* Items of one CompleteJobs call. */
#define COMPLETE_MAX 1000

/* clang-format off */

/*
 * $1 job ids, $2 lease tokens, $3 summaries (sanitized), $4 the summaries
 * as JSON for the events (redacted), $5 each item's index in the request;
 * $6 the caller's tenant ('' for all), $7 the correlation id. The job ids
 * are distinct and sorted, so that two calls naming the same jobs lock
 * them in one order.
 *
 * Answers one row per item, by index: the job's columns (NULL when the
 * item did not take effect), the index of the completed item (NULL
 * likewise), the index of the item, and the job's status before (NULL when
 * the caller has no such job). The status is read from the statement's
 * snapshot: it explains a refusal, it decides nothing.
 *
 * A job whose cancel an operator requested ends cancelled, not succeeded,
 * and keeps the summary the cancel wrote (operator_controls.c).
 */
static const struct db_stmt stmt_complete = {"worker_complete",
    "WITH i AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], "
    "$4::jsonb[], $5::int[]) AS i(id, token, summary, summary_json, n)), "
    "u AS (UPDATE jobs SET status = CASE WHEN cancel_requested_at IS "
    "NULL THEN 'succeeded' ELSE 'cancelled' END, completion_summary = CASE "
    "WHEN cancel_requested_at IS NULL THEN nullif(i.summary, '') ELSE "
    "completion_summary END, lease_owner = NULL, "
    "lease_token = NULL, lease_expires_at = NULL, final_state_at = now(), "
    "updated_at = now() FROM i WHERE jobs.id = i.id AND "
    "jobs.status = 'in_progress' AND jobs.lease_token = i.token AND "
    "($6::text = '' OR jobs.tenant = $6::text) "
    "RETURNING jobs.*, i.n, i.summary_json), "
    "a AS (UPDATE job_attempts SET ended_at = now(), "
    "to_status = u.status FROM u WHERE job_attempts.job_id = u.id AND "
    "job_attempts.attempt = u.attempts RETURNING job_attempts.job_id, "
    "job_attempts.worker_id), "
    "e AS (INSERT INTO events (event_id, event_type, topic, job_id, queue, "
    "tenant, actor, correlation_id, payload) SELECT gen_random_uuid(), "
    "u.status, 'job.' || u.status || '.' || u.queue, u.id, u.queue, "
    "u.tenant, coalesce(a.worker_id, 'unknown'), $7::text, "
    "jsonb_build_object('attempt', u.attempts, 'summary', u.summary_json) "
    "FROM u LEFT JOIN a ON a.job_id = u.id) "
    "SELECT x.*, i.n, p.status FROM i "
    "LEFT JOIN (SELECT " JOB_COLUMNS ", n FROM u) x ON x.n = i.n "
    "LEFT JOIN jobs p ON x.n IS NULL AND p.id = i.id AND "
    "($6::text = '' OR p.tenant = $6::text) "
    "ORDER BY i.n"};

/* clang-format on */

/* The columns after JOB_COLUMNS in stmt_complete's rows. */
#define COL_DONE   (JOB_COLUMN_COUNT)
#define COL_INDEX  (JOB_COLUMN_COUNT + 1)
#define COL_STATUS (JOB_COLUMN_COUNT + 2)

/* The outcome of one item: the job, or the refusal and its message. */
struct outcome {
	Opsbus__V1__Job *job;
	opsbus_err       err;
	const char      *message;
};

/* An item on its way to the statement: its job id and its index. */
struct item {
	const char *id;
	size_t      n;
};

static int
item_cmp(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	int                c = strcasecmp(x->id, y->id);

	if (c != 0) {
		return (c);
	}
	return (x->n < y->n ? -1 : x->n > y->n);
}

/*
 * The array literal {"v0","v1",...} of n strings, each quoted with '"'
 * and '\' escaped, in the call's arena. NULL when out of memory.
 */
static char *
array_literal(struct rpc_call *call, char *const *v, size_t n)
{
	size_t len = 3;
	char  *s, *o;

	for (size_t i = 0; i < n; i++) {
		len += 3;
		for (const char *c = v[i]; *c != '\0'; c++) {
			len += (*c == '"' || *c == '\\') ? 2 : 1;
		}
	}
	if ((s = arena_alloc(call->arena, len)) == NULL) {
		return (NULL);
	}
	o = s;
	*o++ = '{';
	for (size_t i = 0; i < n; i++) {
		if (i > 0) {
			*o++ = ',';
		}
		*o++ = '"';
		for (const char *c = v[i]; *c != '\0'; c++) {
			if (*c == '"' || *c == '\\') {
				*o++ = '\\';
			}
			*o++ = *c;
		}
		*o++ = '"';
	}
	*o++ = '}';
	*o = '\0';
	return (s);
}

/*
 * Picks the items to run: those not refused yet, sorted by job id, each
 * job once (a job named again is refused in the later items). Writes them
 * to items and their count to *count.
 */
static void
complete_pick(struct rpc_call                   *call,
    const Opsbus__V1__CompleteJobRequest *const *in, size_t n,
    struct outcome *out, struct item *items, size_t *count)
{
	size_t m = 0, k = 0;

	for (size_t i = 0; i < n; i++) {
		if (out[i].err == OPSBUS_E_OK) {
			items[m].id = in[i]->job_id;
			items[m].n = i;
			m++;
		}
	}
	qsort(items, m, sizeof(*items), item_cmp);
	for (size_t j = 0; j < m; j++) {
		if (k > 0 && strcasecmp(items[j].id, items[k - 1].id) == 0) {
			out[items[j].n].err = OPSBUS_E_VALIDATION_ERROR;
			out[items[j].n].message = call_printf(call,
			    "job %s is named by item %zu of this call "
			    "already: "
			    "a job completes once",
			    items[j].id, items[k - 1].n);
			continue;
		}
		items[k++] = items[j];
	}
	*count = k;
}

/* Reads the statement's rows into the outcomes of the items sent. */
static opsbus_err
complete_read(struct rpc_call                   *call,
    const Opsbus__V1__CompleteJobRequest *const *in, size_t n,
    const struct db_rows *rows, struct outcome *out)
{
	for (int r = 0; r < db_rows_count(rows); r++) {
		int64_t         i = db_rows_int(rows, r, COL_INDEX);
		struct outcome *o;

		if (i < 0 || (size_t) i >= n) {
			return (OPSBUS_E_INTERNAL);
		}
		o = &out[i];
		if (!db_rows_null(rows, r, COL_DONE)) {
			if ((o->job = job_from_row(call, rows, r, 0))
			    == NULL) {
				return (OPSBUS_E_INTERNAL);
			}
		} else if (db_rows_null(rows, r, COL_STATUS)) {
			o->err = OPSBUS_E_JOB_NOT_FOUND;
			o->message
			    = call_printf(call, "no job %s", in[i]->job_id);
		} else {
			o->err = OPSBUS_E_LEASE_LOST;
			o->message = call_printf(call, WORKER_LEASE_LOST_FMT,
			    in[i]->job_id, db_rows_get(rows, r, COL_STATUS));
		}
	}
	return (OPSBUS_E_OK);
}

/*
 * Completes the items of in whose outcome is still OPSBUS_E_OK (the caller
 * refused the others) in one statement, and writes each one's outcome: the
 * job, or its refusal. Returns 0, or a database error (nothing took
 * effect).
 */
static opsbus_err
complete_run(struct rpc_call                    *call,
    const Opsbus__V1__CompleteJobRequest *const *in, size_t n,
    struct outcome *out)
{
	struct item    *items = call_array(call, n + 1, sizeof(*items));
	char          **cols[5];
	const char     *p[7];
	struct db_rows *rows;
	opsbus_err      err;
	size_t          k = 0;

	if (items == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	complete_pick(call, in, n, out, items, &k);
	if (k == 0) {
		return (OPSBUS_E_OK);
	}
	for (int c = 0; c < 5; c++) {
		if ((cols[c] = call_array(call, k, sizeof(char *))) == NULL) {
			return (OPSBUS_E_INTERNAL);
		}
	}
	for (size_t j = 0; j < k; j++) {
		const Opsbus__V1__CompleteJobRequest *it = in[items[j].n];

		cols[0][j] = PB_STR(it->job_id);
		cols[1][j] = PB_STR(it->lease_token);
		cols[2][j] = redact_sanitize(
		    call->arena, it->summary, WORKER_SUMMARY_MAX);
		if (cols[2][j] == NULL
		    || !redact_text_json(cols[2][j], call->arena, &cols[3][j])
		    || (cols[4][j] = call_printf(call, "%zu", items[j].n))
		        == NULL) {
			return (OPSBUS_E_INTERNAL);
		}
	}
	for (int c = 0; c < 5; c++) {
		if ((p[c] = array_literal(call, cols[c], k)) == NULL) {
			return (OPSBUS_E_INTERNAL);
		}
	}
	p[5] = call->who->tenant;
	p[6] = call->correlation_id;
	if ((err = db_exec(call->db, &stmt_complete, 7, p, &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	err = db_rows_count(rows) == (int) k
	    ? complete_read(call, in, n, rows, out)
	    : OPSBUS_E_INTERNAL;
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
	struct outcome o;
	opsbus_err     err;

	memset(&o, 0, sizeof(o));
	if ((err = worker_check_lease_args(call, in->job_id, in->lease_token))
	        != OPSBUS_E_OK
	    || (err = complete_run(call, &in, 1, &o)) != OPSBUS_E_OK) {
		return (err);
	}
	if (o.err != OPSBUS_E_OK) {
		return (call_fail(call, o.err, "%s",
		    o.message != NULL ? o.message : opsbus_err_text(o.err)));
	}
	out->job = o.job;
	return (OPSBUS_E_OK);
}

opsbus_err
worker_complete_jobs(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__CompleteJobsRequest *in
	    = (const Opsbus__V1__CompleteJobsRequest *) inm;
	Opsbus__V1__CompleteJobsResponse *out
	    = (Opsbus__V1__CompleteJobsResponse *) outm;
	const Opsbus__V1__CompleteJobRequest *const *items
	    = (const Opsbus__V1__CompleteJobRequest *const *) in->completions;
	size_t          n = in->n_completions;
	struct outcome *o;
	opsbus_err      err;

	if (n == 0 || n > COMPLETE_MAX) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "completions must hold 1 to %d items, got %zu",
		    COMPLETE_MAX, n));
	}
	o = call_array(call, n, sizeof(*o));
	out->results = call_array(call, n, sizeof(*out->results));
	if (o == NULL || out->results == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	for (size_t i = 0; i < n; i++) {
		const char *why = worker_lease_args_problem(
		    items[i]->job_id, items[i]->lease_token);

		if (why != NULL) {
			o[i].err = OPSBUS_E_VALIDATION_ERROR;
			o[i].message = why;
		}
	}
	if ((err = complete_run(call, items, n, o)) != OPSBUS_E_OK) {
		return (err);
	}
	for (size_t i = 0; i < n; i++) {
		Opsbus__V1__CompleteJobResult *r
		    = (Opsbus__V1__CompleteJobResult *) call_new(
		        call, &opsbus__v1__complete_job_result__descriptor);

		if (r == NULL) {
			return (OPSBUS_E_INTERNAL);
		}
		r->job_id = items[i]->job_id;
		if (o[i].err == OPSBUS_E_OK) {
			r->job = o[i].job;
			out->completed++;
		} else {
			r->error_code = PB_STR(opsbus_err_name(o[i].err));
			r->message = PB_STR(o[i].message != NULL
			        ? o[i].message
			        : opsbus_err_text(o[i].err));
		}
		out->results[out->n_results++] = r;
	}
	return (OPSBUS_E_OK);
}
