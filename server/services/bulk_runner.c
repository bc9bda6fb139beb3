/*
 * The bulk runner's thread: find an unfinished operation, take its
 * advisory lock, work it in paced batches until it is done, cancelled or
 * the server stops, release it, repeat. See bulk_runner.h for the
 * guarantees.
 *
 * Pacing: batches of max_per_second / 10 items (1..50), the k-th batch
 * starting no earlier than k * batch / max_per_second seconds after the
 * runner took the operation, so an operation of n items takes about
 * n / max_per_second seconds whatever each batch costs (as long as it
 * costs less than its share).
 */
#include "services/bulk_runner.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "log.h"
#include "services/call.h"
#include "services/operator_audit.h"
#include "services/operator_replay.h"
#include "store/db.h"

/* How often an idle runner looks for work, and waits after an error. */
#define BULK_IDLE_MS   250
#define BULK_ERROR_MS  1000
#define BULK_BATCH_MAX 50
/* A batch's statements may not wait longer than this (a lock held by a
 * cancel, say). */
#define BULK_TX_TIMEOUT_MS 30000

struct bulk_runner {
	pthread_t       thread;
	pthread_mutex_t mu;
	pthread_cond_t  cv;
	bool            stopping;
	struct db      *db;
	struct arena    arena;
};

/* The operation a runner holds. */
struct bulk_op {
	char id[40];
	char tenant[64];
	char identity[130];
	char reason[AUDIT_REASON_MAX + 1];
	char correlation_id[130];
	int  rate;
};

static const struct db_stmt stmt_candidates = {"bulk_candidates",
    "SELECT id::text FROM bulk_operations WHERE status IN ('pending', "
    "'running') ORDER BY created_at LIMIT 16"};

static const struct db_stmt stmt_try_lock = {"bulk_try_lock",
    "SELECT pg_try_advisory_lock(hashtextextended('opsbus.bulk:' || $1, "
    "0))"};

static const struct db_stmt stmt_unlock = {"bulk_unlock",
    "SELECT pg_advisory_unlock(hashtextextended('opsbus.bulk:' || $1, 0))"};

static const struct db_stmt stmt_take = {"bulk_take",
    "UPDATE bulk_operations SET status = 'running', started_at = "
    "coalesce(started_at, now()), updated_at = now() WHERE id = $1::uuid "
    "AND status IN ('pending', 'running') RETURNING tenant, "
    "operator_identity, reason, coalesce(correlation_id, ''), "
    "max_per_second, replayed + skipped + failed"};

static const struct db_stmt stmt_op_lock = {"bulk_op_lock",
    "SELECT status FROM bulk_operations WHERE id = $1::uuid FOR UPDATE"};

static const struct db_stmt stmt_items = {"bulk_items",
    "SELECT seq, job_id::text FROM bulk_operation_items WHERE "
    "operation_id = $1::uuid AND status = 'pending' ORDER BY seq "
    "LIMIT $2::int FOR UPDATE SKIP LOCKED"};

static const struct db_stmt stmt_item_done = {"bulk_item_done",
    "UPDATE bulk_operation_items SET status = $3, replay_job_id = "
    "$4::uuid, error_code = $5, message = $6, processed_at = now() "
    "WHERE operation_id = $1::uuid AND seq = $2::int"};

static const struct db_stmt stmt_counts = {"bulk_counts",
    "UPDATE bulk_operations SET replayed = replayed + $2::int, skipped = "
    "skipped + $3::int, failed = failed + $4::int, updated_at = now() "
    "WHERE id = $1::uuid"};

static const struct db_stmt stmt_complete = {"bulk_complete",
    "UPDATE bulk_operations SET status = 'completed', finished_at = now(), "
    "updated_at = now() WHERE id = $1::uuid AND status = 'running' AND "
    "NOT EXISTS (SELECT 1 FROM bulk_operation_items WHERE operation_id = "
    "$1::uuid AND status = 'pending') RETURNING matched, replayed, "
    "skipped, failed"};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Waits until the monotonic time `until` (ms) or a stop. Returns true when
 * the runner is stopping. */
static bool
wait_until(struct bulk_runner *r, int64_t until)
{
	bool stopping;

	pthread_mutex_lock(&r->mu);
	while (!r->stopping) {
		int64_t         left = until - now_ms();
		struct timespec ts;

		if (left <= 0) {
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t) (left / 1000);
		ts.tv_nsec += (long) (left % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		(void) pthread_cond_timedwait(&r->cv, &r->mu, &ts);
	}
	stopping = r->stopping;
	pthread_mutex_unlock(&r->mu);
	return (stopping);
}

/* The errors that say an item cannot be replayed any more: it is skipped,
 * not failed. */
static bool
item_skipped(opsbus_err err)
{
	return (err == OPSBUS_E_WRITEBACK_REPLAY_ALREADY_EXISTS
	    || err == OPSBUS_E_DEAD_LETTER_REPLAY_REQUIRES_DEAD_FAILED
	    || err == OPSBUS_E_DEAD_LETTER_NOT_FOUND);
}

/* Errors of the database itself: the batch is given up and tried again. */
static bool
batch_error(opsbus_err err)
{
	return (err == OPSBUS_E_DATABASE_UNAVAILABLE
	    || err == OPSBUS_E_CONFLICT || err == OPSBUS_E_DEADLINE_EXCEEDED);
}

/* Counts of one batch. */
struct batch {
	int replayed, skipped, failed;
};

/*
 * Replays one item under a savepoint and records its outcome and audit
 * row. Returns 0, or a database error that ends the batch.
 */
static opsbus_err
run_item(struct bulk_runner *r, const struct bulk_op *op, const char *seq,
    const char *job_id, struct batch *b)
{
	struct principal     who;
	struct rpc_call      call;
	struct replay_result res;
	struct audit         a;
	const char          *p[6];
	opsbus_err           err, werr;

	memset(&who, 0, sizeof(who));
	snprintf(who.identity, sizeof(who.identity), "%.127s", op->identity);
	snprintf(who.tenant, sizeof(who.tenant), "%s", op->tenant);
	who.role = ROLE_OPERATOR;
	memset(&call, 0, sizeof(call));
	call.db = r->db;
	call.arena = &r->arena;
	call.who = &who;
	call.method = "bulk_replay";
	call.correlation_id
	    = op->correlation_id[0] != '\0' ? op->correlation_id : NULL;
	call.operator_identity = op->identity;
	memset(&a, 0, sizeof(a));
	a.action = "controlled_replay";
	a.identity = op->identity;
	a.reason = op->reason;
	a.target_job_id = job_id;
	a.operation_id = op->id;

	if ((err = db_exec_simple(r->db, "SAVEPOINT bulk_item"))
	    != OPSBUS_E_OK) {
		return (err);
	}
	err = replay_dead_letter(
	    &call, job_id, op->identity, op->reason, op->id, &res);
	if (batch_error(err)) {
		return (err);
	}
	p[0] = op->id;
	p[1] = seq;
	p[3] = NULL;
	p[4] = NULL;
	p[5] = NULL;
	if (err == OPSBUS_E_OK) {
		p[2] = "replayed";
		p[3] = res.replay->job_id;
		a.details = arena_printf(&r->arena,
		    "{\"replay_job_id\": \"%s\"}", res.replay->job_id);
		b->replayed++;
	} else {
		if ((werr = db_exec_simple(
		         r->db, "ROLLBACK TO SAVEPOINT bulk_item"))
		    != OPSBUS_E_OK) {
			return (werr);
		}
		p[2] = item_skipped(err) ? "skipped" : "failed";
		p[4] = opsbus_err_name(err);
		p[5] = call.message != NULL ? call.message
		                            : opsbus_err_text(err);
		if (item_skipped(err)) {
			b->skipped++;
		} else {
			b->failed++;
		}
	}
	if ((werr = db_exec(r->db, &stmt_item_done, 6, p, NULL))
	    != OPSBUS_E_OK) {
		return (werr);
	}
	return (audit_write(r->db, &a, call.correlation_id, err));
}

enum batch_outcome { BATCH_MORE, BATCH_DONE, BATCH_ERROR };

/* One transaction: up to `size` items. *n is how many it processed. */
static enum batch_outcome
run_batch(struct bulk_runner *r, const struct bulk_op *op, int size, int *n)
{
	const char     *p[4] = {op->id};
	char            size_s[16], counts[3][16];
	struct db_rows *rows;
	struct batch    b = {0, 0, 0};
	opsbus_err      err;
	int             count;

	*n = 0;
	arena_reset(&r->arena);
	if (db_begin(r->db, BULK_TX_TIMEOUT_MS) != OPSBUS_E_OK) {
		return (BATCH_ERROR);
	}
	if (db_exec(r->db, &stmt_op_lock, 1, p, &rows) != OPSBUS_E_OK) {
		goto fail;
	}
	if (db_rows_count(rows) != 1
	    || strcmp(db_rows_get(rows, 0, 0), "running") != 0) {
		/* Cancelled (or gone): nothing more to do. */
		db_rows_free(rows);
		db_rollback(r->db);
		return (BATCH_DONE);
	}
	db_rows_free(rows);
	snprintf(size_s, sizeof(size_s), "%d", size);
	p[1] = size_s;
	if (db_exec(r->db, &stmt_items, 2, p, &rows) != OPSBUS_E_OK) {
		goto fail;
	}
	count = db_rows_count(rows);
	for (int i = 0; i < count; i++) {
		err = run_item(r, op, db_rows_get(rows, i, 0),
		    db_rows_get(rows, i, 1), &b);
		if (err != OPSBUS_E_OK) {
			log_warn("bulk operation batch failed",
			    "operation=%s error=%s db=\"%s\"", op->id,
			    opsbus_err_name(err), db_errmsg(r->db));
			db_rows_free(rows);
			goto fail;
		}
	}
	db_rows_free(rows);
	if (count == 0) {
		if (db_exec(r->db, &stmt_complete, 1, p, &rows)
		    != OPSBUS_E_OK) {
			goto fail;
		}
		if (db_rows_count(rows) == 1) {
			log_info("bulk operation completed",
			    "operation=%s matched=%s replayed=%s skipped=%s "
			    "failed=%s",
			    op->id, db_rows_get(rows, 0, 0),
			    db_rows_get(rows, 0, 1), db_rows_get(rows, 0, 2),
			    db_rows_get(rows, 0, 3));
		}
		db_rows_free(rows);
		return (db_commit(r->db) == OPSBUS_E_OK ? BATCH_DONE
		                                        : BATCH_ERROR);
	}
	snprintf(counts[0], sizeof(counts[0]), "%d", b.replayed);
	snprintf(counts[1], sizeof(counts[1]), "%d", b.skipped);
	snprintf(counts[2], sizeof(counts[2]), "%d", b.failed);
	p[1] = counts[0];
	p[2] = counts[1];
	p[3] = counts[2];
	if (db_exec(r->db, &stmt_counts, 4, p, NULL) != OPSBUS_E_OK
	    || db_commit(r->db) != OPSBUS_E_OK) {
		goto fail;
	}
	*n = count;
	return (BATCH_MORE);
fail:
	db_rollback(r->db);
	return (BATCH_ERROR);
}

/* Marks the operation running and reads what working it needs. */
static bool
take(struct bulk_runner *r, const char *id, struct bulk_op *op)
{
	const char     *p[1] = {id};
	struct db_rows *rows;
	bool            ok;

	if (db_exec(r->db, &stmt_take, 1, p, &rows) != OPSBUS_E_OK) {
		return (false);
	}
	ok = db_rows_count(rows) == 1;
	if (ok) {
		snprintf(op->id, sizeof(op->id), "%s", id);
		snprintf(op->tenant, sizeof(op->tenant), "%s",
		    db_rows_get(rows, 0, 0));
		snprintf(op->identity, sizeof(op->identity), "%s",
		    db_rows_get(rows, 0, 1));
		snprintf(op->reason, sizeof(op->reason), "%s",
		    db_rows_get(rows, 0, 2));
		snprintf(op->correlation_id, sizeof(op->correlation_id), "%s",
		    db_rows_get(rows, 0, 3));
		op->rate = (int) db_rows_int(rows, 0, 4);
		if (op->rate < 1) {
			op->rate = 1;
		}
		log_info(db_rows_int(rows, 0, 5) > 0
		        ? "bulk operation resumed"
		        : "bulk operation started",
		    "operation=%s max_per_second=%d processed=%s", op->id,
		    op->rate, db_rows_get(rows, 0, 5));
	}
	db_rows_free(rows);
	return (ok);
}

/* Works the operation until it is done, the server stops, or the
 * database fails too often (another runner then picks it up). */
static void
work(struct bulk_runner *r, const char *id)
{
	struct bulk_op op;
	int            size, errors = 0;
	int64_t        start, done = 0;

	if (!take(r, id, &op)) {
		return;
	}
	size = op.rate / 10;
	size = size < 1 ? 1 : (size > BULK_BATCH_MAX ? BULK_BATCH_MAX : size);
	start = now_ms();
	for (;;) {
		int n;

		if (wait_until(r, start + done * 1000 / op.rate)) {
			return;
		}
		switch (run_batch(r, &op, size, &n)) {
		case BATCH_DONE:
			return;
		case BATCH_MORE:
			done += n;
			errors = 0;
			break;
		case BATCH_ERROR:
			if (++errors >= 5
			    || wait_until(r, now_ms() + BULK_ERROR_MS)) {
				return;
			}
			/* Keep the pace from here, not from before. */
			start = now_ms() - done * 1000 / op.rate;
			break;
		}
	}
}

/* Takes the advisory lock of the first unfinished operation it can.
 * Returns true and writes id when it holds one. */
static bool
claim(struct bulk_runner *r, char *id, size_t len)
{
	struct db_rows *rows, *lock;
	bool            held = false;

	if (db_exec(r->db, &stmt_candidates, 0, NULL, &rows) != OPSBUS_E_OK) {
		return (false);
	}
	for (int i = 0; !held && i < db_rows_count(rows); i++) {
		const char *p[1] = {db_rows_get(rows, i, 0)};
		if (db_exec(r->db, &stmt_try_lock, 1, p, &lock)
		    != OPSBUS_E_OK) {
			break;
		}
		if (db_rows_count(lock) == 1 && db_rows_bool(lock, 0, 0)) {
			snprintf(id, len, "%s", p[0]);
			held = true;
		}
		db_rows_free(lock);
	}
	db_rows_free(rows);
	return (held);
}

static void *
runner_main(void *arg)
{
	struct bulk_runner *r = arg;
	char                id[40];

	while (!wait_until(r, 0)) {
		if (db_connect(r->db) != OPSBUS_E_OK) {
			(void) wait_until(r, now_ms() + BULK_ERROR_MS);
			continue;
		}
		if (!claim(r, id, sizeof(id))) {
			(void) wait_until(r, now_ms() + BULK_IDLE_MS);
			continue;
		}
		work(r, id);
		{
			const char *p[1] = {id};
			(void) db_exec(r->db, &stmt_unlock, 1, p, NULL);
		}
	}
	return (NULL);
}

opsbus_err
bulk_runner_start(const char *conninfo, struct bulk_runner **out)
{
	struct bulk_runner *r = calloc(1, sizeof(*r));
	pthread_condattr_t  ca;

	if (r == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	if (db_open(conninfo, &r->db) != OPSBUS_E_OK) {
		free(r);
		return (OPSBUS_E_INTERNAL);
	}
	arena_init(&r->arena);
	pthread_mutex_init(&r->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&r->thread, NULL, runner_main, r) != 0) {
		pthread_cond_destroy(&r->cv);
		pthread_mutex_destroy(&r->mu);
		arena_fini(&r->arena);
		db_free(r->db);
		free(r);
		return (OPSBUS_E_INTERNAL);
	}
	*out = r;
	return (OPSBUS_E_OK);
}

void
bulk_runner_stop(struct bulk_runner *r)
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
	arena_fini(&r->arena);
	db_free(r->db);
	free(r);
}
