/*
 * The rescuer thread and its pass. A pass, in one transaction:
 *   1. pg_try_advisory_xact_lock: another opsbusd rescuing? Then nothing.
 *   2. Lock (FOR UPDATE SKIP LOCKED) a batch of in_progress jobs whose
 *      lease expired, reading their lease token, attempts and policy. A
 *      job a worker is completing right now is locked by that worker's
 *      transaction and skipped; when it commits the job is no longer
 *      in_progress.
 *   3. Decide each job's fate with the state machine (lifecycle.h) and
 *      the queue's backoff.
 *   4. One statement writes the batch, each row guarded by the status and
 *      the token read in 2, closes the attempt rows and writes the events
 *      (actor 'system').
 *   5. Delete stored replies older than an hour.
 */
#include "services/rescuer.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uuid/uuid.h>

#include "log.h"
#include "services/lifecycle.h"
#include "store/db.h"

/* Jobs rescued per statement, and statements per pass at most. */
#define RESCUE_BATCH       200
#define RESCUE_MAX_BATCHES 10
/* "opsbus.rescuer", distinct from the migrations' lock. */
#define RESCUE_LOCK_KEY "111546411725684"

struct rescuer {
	pthread_t       thread;
	pthread_mutex_t mu;
	pthread_cond_t  cv;
	bool            stopping;
	int             interval_ms;
	struct db      *db;
};

static const struct db_stmt stmt_lock = {
    "rescuer_lock", "SELECT pg_try_advisory_xact_lock(" RESCUE_LOCK_KEY ")"};

static const struct db_stmt stmt_expired = {"rescuer_expired",
    "SELECT j.id, j.lease_token, j.attempts, j.max_attempts, "
    "q.backoff_base_ms, q.backoff_factor, q.backoff_cap_ms, "
    "j.cancel_requested_at IS NOT NULL FROM jobs j "
    "CROSS JOIN LATERAL (SELECT backoff_base_ms, backoff_factor, "
    "backoff_cap_ms FROM queues WHERE name IN (j.queue, '') "
    "ORDER BY name = '' LIMIT 1) q "
    "WHERE j.status = 'in_progress' AND j.lease_expires_at < now() "
    "ORDER BY j.lease_expires_at LIMIT $1::int "
    "FOR UPDATE OF j SKIP LOCKED"};

/*
 * The batch: $1 ids, $2 the tokens read, $3 target states, $4 backoffs in
 * ms, $5 the pass's correlation id. A retryable_failed job waits for its
 * backoff; a dead_failed one opens for operators, replay-eligible (a lost
 * worker is a transient failure), with the dead-letter envelope in its
 * event.
 */
static const struct db_stmt stmt_rescue = {"rescuer_rescue",
    "WITH x AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], "
    "$4::bigint[]) AS x(id, token, to_status, delay_ms)), "
    "u AS (UPDATE jobs SET status = x.to_status, "
    "run_at = CASE WHEN x.to_status = 'retryable_failed' THEN now() + "
    "x.delay_ms * interval '1 millisecond' ELSE jobs.run_at END, "
    "operator_status = CASE WHEN x.to_status = 'dead_failed' THEN 'open' "
    "ELSE jobs.operator_status END, "
    "last_error = 'the lease expired: the worker stopped heartbeating', "
    "reason_code = 'LEASE_EXPIRED', "
    "replay_eligible = (x.to_status = 'dead_failed'), "
    "lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, "
    "final_state_at = CASE WHEN x.to_status IN ('dead_failed', "
    "'cancelled') THEN now() "
    "END, updated_at = now() FROM x WHERE jobs.id = x.id AND "
    "jobs.status = 'in_progress' AND jobs.lease_token = x.token AND "
    "jobs.lease_expires_at < now() RETURNING jobs.*), "
    "a AS (UPDATE job_attempts SET ended_at = now(), to_status = u.status, "
    "error = u.last_error, reason_code = 'LEASE_EXPIRED', retryable = true "
    "FROM u WHERE job_attempts.job_id = u.id AND "
    "job_attempts.attempt = u.attempts RETURNING job_attempts.job_id, "
    "job_attempts.worker_id), "
    "e AS (INSERT INTO events (event_id, event_type, topic, job_id, queue, "
    "tenant, actor, correlation_id, payload) SELECT gen_random_uuid(), "
    "t.type, "
    "'job.' || t.type || '.' || u.queue, u.id, u.queue, u.tenant, 'system', "
    "$5::text, CASE WHEN u.status = 'dead_failed' THEN jsonb_build_object("
    "'original_event', jsonb_build_object('job_id', u.id, 'queue', "
    "u.queue, 'kind', u.kind, 'subject', u.subject, 'target', u.target), "
    "'error', jsonb_build_object('type', 'LEASE_EXPIRED', 'message', "
    "u.last_error, 'stage', NULL::text), 'attempts', u.attempts, 'failed_at', "
    "u.updated_at, 'retryable', true, 'replay_eligible', true, "
    "'worker_id', a.worker_id) "
    "ELSE jsonb_build_object('attempt', u.attempts, 'reason_code', "
    "'LEASE_EXPIRED', 'worker_id', a.worker_id, 'run_at', u.run_at) END "
    "FROM u LEFT JOIN a ON a.job_id = u.id, LATERAL (SELECT CASE WHEN "
    "u.status IN ('dead_failed', 'cancelled') THEN u.status ELSE "
    "'lease_expired' END "
    "AS type) t) "
    "SELECT count(*) FROM u"};

/* Stored replies of resent requests are needed for minutes, not hours. */
static const struct db_stmt stmt_replies = {"rescuer_replies",
    "DELETE FROM request_replies WHERE request_id IN (SELECT request_id "
    "FROM request_replies WHERE created_at < now() - interval '1 hour' "
    "LIMIT 5000)"};

/* Appends ",item" (or "item" first) to a growing array literal. */
static int
list_add(char **buf, size_t *len, size_t *cap, const char *item)
{
	size_t n = strlen(item) + 1;

	if (*len + n + 2 > *cap) {
		size_t ncap = (*cap + n + 2) * 2;
		char  *nb = realloc(*buf, ncap);
		if (nb == NULL) {
			return (-1);
		}
		*buf = nb;
		*cap = ncap;
	}
	if (*len == 0) {
		(*buf)[(*len)++] = '{';
	} else {
		(*buf)[(*len)++] = ',';
	}
	memcpy(*buf + *len, item, n - 1);
	*len += n - 1;
	(*buf)[*len] = '\0';
	return (0);
}

/* The four array literals of one batch. */
struct batch {
	char  *a[4];
	size_t len[4];
	size_t cap[4];
	int    n;
};

static void
batch_free(struct batch *b)
{
	for (int i = 0; i < 4; i++) {
		free(b->a[i]);
	}
}

/* Reads the expired rows and decides each; fills b. */
static opsbus_err
batch_build(const struct db_rows *rows, struct batch *b)
{
	int count = db_rows_count(rows);

	for (int r = 0; r < count; r++) {
		struct backoff_policy p;
		enum job_event        ev;
		enum job_state        to;
		int                   attempts = (int) db_rows_int(rows, r, 2);
		int64_t               delay = 0;
		char                  delay_s[24];

		p.base_ms = db_rows_int(rows, r, 4);
		p.factor = strtod(db_rows_get(rows, r, 5), NULL);
		p.cap_ms = db_rows_int(rows, r, 6);
		ev = lifecycle_expire_event(
		    attempts, (int) db_rows_int(rows, r, 3));
		if (lifecycle_next(JOB_IN_PROGRESS, ev, &to) != OPSBUS_E_OK) {
			return (OPSBUS_E_INTERNAL);
		}
		/* An operator asked to cancel it: it ends cancelled. */
		if (db_rows_bool(rows, r, 7)) {
			to = JOB_CANCELLED;
		} else if (ev == JOB_EV_LEASE_EXPIRED) {
			delay = lifecycle_backoff_ms(
			    &p, attempts, lifecycle_jitter());
		}
		snprintf(delay_s, sizeof(delay_s), "%lld", (long long) delay);
		if (list_add(&b->a[0], &b->len[0], &b->cap[0],
		        db_rows_get(rows, r, 0))
		        != 0
		    || list_add(&b->a[1], &b->len[1], &b->cap[1],
		           db_rows_get(rows, r, 1))
		        != 0
		    || list_add(&b->a[2], &b->len[2], &b->cap[2],
		           lifecycle_state_name(to))
		        != 0
		    || list_add(&b->a[3], &b->len[3], &b->cap[3], delay_s)
		        != 0) {
			return (OPSBUS_E_INTERNAL);
		}
		b->n++;
	}
	for (int i = 0; i < 4 && b->n > 0; i++) {
		if (list_add(&b->a[i], &b->len[i], &b->cap[i], "") != 0) {
			return (OPSBUS_E_INTERNAL);
		}
		/* list_add wrote ",": make it the closing brace. */
		b->a[i][b->len[i] - 1] = '}';
	}
	return (OPSBUS_E_OK);
}

/* Rescues one batch in the open transaction. */
static opsbus_err
rescue_batch(struct db *db, int limit, const char *correlation_id, int *found,
    int *rescued)
{
	struct db_rows *rows;
	struct batch    b;
	char            limit_s[16];
	const char     *p[5];
	opsbus_err      err;

	memset(&b, 0, sizeof(b));
	snprintf(limit_s, sizeof(limit_s), "%d", limit);
	p[0] = limit_s;
	if ((err = db_exec(db, &stmt_expired, 1, p, &rows)) != OPSBUS_E_OK) {
		return (err);
	}
	*found = db_rows_count(rows);
	err = batch_build(rows, &b);
	db_rows_free(rows);
	if (err != OPSBUS_E_OK || b.n == 0) {
		batch_free(&b);
		return (err);
	}
	p[0] = b.a[0];
	p[1] = b.a[1];
	p[2] = b.a[2];
	p[3] = b.a[3];
	p[4] = correlation_id;
	err = db_exec(db, &stmt_rescue, 5, p, &rows);
	batch_free(&b);
	if (err != OPSBUS_E_OK) {
		return (err);
	}
	*rescued += (int) db_rows_int(rows, 0, 0);
	db_rows_free(rows);
	return (OPSBUS_E_OK);
}

opsbus_err
rescuer_pass(struct db *db, int limit, int *rescued)
{
	struct db_rows *rows;
	opsbus_err      err;
	bool            locked;
	uuid_t          u;
	char            correlation_id[37];

	*rescued = 0;
	if (limit < 1) {
		limit = 1;
	}
	if ((err = db_begin(db, 10000)) != OPSBUS_E_OK) {
		return (err);
	}
	if ((err = db_exec(db, &stmt_lock, 0, NULL, &rows)) != OPSBUS_E_OK) {
		db_rollback(db);
		return (err);
	}
	locked = db_rows_bool(rows, 0, 0);
	db_rows_free(rows);
	if (!locked) {
		db_rollback(db);
		return (OPSBUS_E_OK);
	}
	uuid_generate_random(u);
	uuid_unparse_lower(u, correlation_id);
	for (int i = 0; i < RESCUE_MAX_BATCHES; i++) {
		int found = 0;
		if ((err = rescue_batch(
		         db, limit, correlation_id, &found, rescued))
		    != OPSBUS_E_OK) {
			db_rollback(db);
			*rescued = 0;
			return (err);
		}
		if (found < limit) {
			break;
		}
	}
	if ((err = db_exec(db, &stmt_replies, 0, NULL, NULL)) != OPSBUS_E_OK) {
		db_rollback(db);
		*rescued = 0;
		return (err);
	}
	if ((err = db_commit(db)) != OPSBUS_E_OK) {
		*rescued = 0;
	}
	return (err);
}

static void *
rescuer_main(void *arg)
{
	struct rescuer *r = arg;
	bool            was_down = false;

	pthread_mutex_lock(&r->mu);
	while (!r->stopping) {
		struct timespec deadline;
		int             rescued = 0;
		opsbus_err      err;

		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += r->interval_ms / 1000;
		deadline.tv_nsec += (long) (r->interval_ms % 1000) * 1000000;
		if (deadline.tv_nsec >= 1000000000) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000;
		}
		while (!r->stopping
		    && pthread_cond_timedwait(&r->cv, &r->mu, &deadline)
		        != ETIMEDOUT) { }
		if (r->stopping) {
			break;
		}
		pthread_mutex_unlock(&r->mu);
		err = rescuer_pass(r->db, RESCUE_BATCH, &rescued);
		if (err != OPSBUS_E_OK && !was_down) {
			log_warn("rescuer pass failed",
			    "error=%s detail=\"%s\"", opsbus_err_name(err),
			    db_errmsg(r->db));
		} else if (rescued > 0) {
			log_info("rescued expired leases", "jobs=%d", rescued);
		}
		was_down = err == OPSBUS_E_DATABASE_UNAVAILABLE;
		pthread_mutex_lock(&r->mu);
	}
	pthread_mutex_unlock(&r->mu);
	return (NULL);
}

int
rescuer_start(const char *conninfo, int interval_ms, struct rescuer **out)
{
	struct rescuer *r;
	const char     *env = getenv("OPSBUS_RESCUE_INTERVAL_MS");

	if (env != NULL && env[0] != '\0') {
		char *end;
		long  v = strtol(env, &end, 10);
		if (*end == '\0' && v >= 10 && v <= 3600000) {
			interval_ms = (int) v;
		}
	}
	if (interval_ms < 10) {
		interval_ms = 10;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		return (-1);
	}
	r->interval_ms = interval_ms;
	if (db_open(conninfo, &r->db) != OPSBUS_E_OK) {
		free(r);
		return (-1);
	}
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	if (pthread_create(&r->thread, NULL, rescuer_main, r) != 0) {
		pthread_cond_destroy(&r->cv);
		pthread_mutex_destroy(&r->mu);
		db_free(r->db);
		free(r);
		return (-1);
	}
	*out = r;
	return (0);
}

void
rescuer_stop(struct rescuer *r)
{
	if (r == NULL) {
		return;
	}
	pthread_mutex_lock(&r->mu);
	r->stopping = true;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->thread, NULL);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	db_free(r->db);
	free(r);
}
