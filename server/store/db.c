/*
 * A libpq connection with lazily prepared statements and the translation of
 * libpq's failures into opsbus errors. Statements are prepared the first
 * time they run on a connection and remembered until it is reset; each call
 * after that is one round trip (PQexecPrepared).
 */
#include "store/db.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define DB_MAX_PREPARED 512

struct db {
	PGconn *conn;
	char   *conninfo;
	/* Run after every connect (SET ...), or NULL. */
	char *session_sql;
	bool  in_tx;
	/* db_begin was called; BEGIN goes out with the first statement. */
	bool     begin_pending;
	uint32_t begin_timeout;
	/* statement_timeout of the session in ms; -1: not known. */
	int64_t               session_timeout;
	int                   n_prepared;
	const struct db_stmt *prepared[DB_MAX_PREPARED];
	char                  sqlstate[6];
	char                  errmsg[512];
};

struct db_rows {
	PGresult *res;
};

static opsbus_err db_simple(struct db *db, const char *sql);

const struct db_stmt db_generic_plans = {"db_generic_plans",
    "SELECT set_config('plan_cache_mode', 'force_generic_plan', true)"};

opsbus_err
db_open(const char *conninfo, struct db **out)
{
	struct db *db = calloc(1, sizeof(*db));

	if (db == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	db->session_timeout = -1;
	db->conninfo = strdup(conninfo);
	if (db->conninfo == NULL) {
		free(db);
		return (OPSBUS_E_INTERNAL);
	}
	*out = db;
	return (OPSBUS_E_OK);
}

void
db_free(struct db *db)
{
	if (db == NULL) {
		return;
	}
	if (db->conn != NULL) {
		PQfinish(db->conn);
	}
	free(db->conninfo);
	free(db->session_sql);
	free(db);
}

static void
db_set_error(struct db *db, const char *state, const char *msg)
{
	snprintf(db->sqlstate, sizeof(db->sqlstate), "%s", state);
	snprintf(db->errmsg, sizeof(db->errmsg), "%s", msg);
	/* libpq messages end with a newline; logs want one line. */
	for (char *p = db->errmsg; *p != '\0'; p++) {
		if (*p == '\n') {
			*p = ' ';
		}
	}
}

static void
db_drop(struct db *db)
{
	if (db->conn != NULL) {
		PQfinish(db->conn);
		db->conn = NULL;
	}
	db->n_prepared = 0;
	db->in_tx = false;
	db->begin_pending = false;
	db->session_timeout = -1;
}

opsbus_err
db_connect(struct db *db)
{
	if (db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK) {
		return (OPSBUS_E_OK);
	}
	db_drop(db);
	db->conn = PQconnectdb(db->conninfo);
	if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK) {
		db_set_error(db, "08006",
		    db->conn != NULL ? PQerrorMessage(db->conn) : "no memory");
		db_drop(db);
		return (OPSBUS_E_DATABASE_UNAVAILABLE);
	}
	/*
	 * No JIT: opsbus runs short statements, and a generic plan's guessed
	 * row counts can cost one of them hundreds of milliseconds of
	 * compiling (measured: 275 ms of JIT for a 30 ms backlog count).
	 */
	char       sql[1024];
	opsbus_err err;

	snprintf(sql, sizeof(sql), "SET jit = off%s%s",
	    db->session_sql != NULL ? "; " : "",
	    db->session_sql != NULL ? db->session_sql : "");
	if ((err = db_simple(db, sql)) != OPSBUS_E_OK) {
		db_drop(db);
		return (err);
	}
	return (OPSBUS_E_OK);
}

opsbus_err
db_set_session_sql(struct db *db, const char *sql)
{
	char *copy = sql != NULL ? strdup(sql) : NULL;

	if ((sql != NULL && copy == NULL)
	    || (sql != NULL && strlen(sql) > 900)) {
		free(copy);
		return (OPSBUS_E_INTERNAL);
	}
	free(db->session_sql);
	db->session_sql = copy;
	/* Applied at the next connect. */
	db_drop(db);
	return (OPSBUS_E_OK);
}

/*
 * Translates a failed result (or a NULL one) into an opsbus error, and
 * forgets a connection that is gone so that the next call reconnects.
 */
static opsbus_err
db_fail(struct db *db, PGresult *res)
{
	const char *state = NULL;
	const char *msg = NULL;

	if (res != NULL) {
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		msg = PQresultErrorMessage(res);
	}
	if (msg == NULL || msg[0] == '\0') {
		msg = PQerrorMessage(db->conn);
	}
	if (PQstatus(db->conn) != CONNECTION_OK) {
		db_set_error(db, "08006", msg);
		db_drop(db);
		return (OPSBUS_E_DATABASE_UNAVAILABLE);
	}
	db_set_error(db, state != NULL ? state : "XX000", msg);
	if (strcmp(db->sqlstate, "57014") == 0) {
		return (OPSBUS_E_DEADLINE_EXCEEDED);
	}
	if (strcmp(db->sqlstate, "40001") == 0
	    || strcmp(db->sqlstate, "40P01") == 0) {
		return (OPSBUS_E_CONFLICT);
	}
	/* Class 08 (connection), 57P0x (shutdown): the server is going. */
	if (strncmp(db->sqlstate, "08", 2) == 0
	    || strncmp(db->sqlstate, "57P", 3) == 0) {
		db_drop(db);
		return (OPSBUS_E_DATABASE_UNAVAILABLE);
	}
	return (OPSBUS_E_INTERNAL);
}

static opsbus_err
db_simple(struct db *db, const char *sql)
{
	PGresult      *res = PQexec(db->conn, sql);
	ExecStatusType st
	    = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	opsbus_err err = OPSBUS_E_OK;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		err = db_fail(db, res);
	}
	PQclear(res);
	return (err);
}

opsbus_err
db_begin(struct db *db, uint32_t timeout_ms)
{
	opsbus_err err;

	db->sqlstate[0] = '\0';
	db->errmsg[0] = '\0';
	if (db->in_tx) {
		db_rollback(db);
	}
	if (db->conn == NULL && (err = db_connect(db)) != OPSBUS_E_OK) {
		return (err);
	}
	/* Nothing is sent yet: BEGIN goes out with the first statement. */
	db->in_tx = true;
	db->begin_pending = true;
	db->begin_timeout = timeout_ms;
	return (OPSBUS_E_OK);
}

/* Sends BEGIN (and the timeout) now, for callers that use db_simple. */
static opsbus_err
db_flush_begin(struct db *db)
{
	char       sql[96];
	opsbus_err err;

	if (!db->begin_pending) {
		return (OPSBUS_E_OK);
	}
	db->begin_pending = false;
	snprintf(sql, sizeof(sql), "BEGIN; SET LOCAL statement_timeout = %u",
	    (unsigned) db->begin_timeout);
	if ((err = db_simple(db, sql)) != OPSBUS_E_OK) {
		db->in_tx = false;
	}
	/* SET LOCAL hides the session's value until the end of this
	 * transaction; afterwards it is what it was. */
	return (err);
}

opsbus_err
db_commit(struct db *db)
{
	if (!db->in_tx) {
		return (OPSBUS_E_OK);
	}
	if (db->begin_pending) {
		/* No statement ran: there is nothing to commit. */
		db->in_tx = false;
		db->begin_pending = false;
		return (OPSBUS_E_OK);
	}
	db->in_tx = false;
	return (db_simple(db, "COMMIT"));
}

void
db_rollback(struct db *db)
{
	bool sent = db->in_tx && !db->begin_pending;

	db->in_tx = false;
	db->begin_pending = false;
	if (db->conn == NULL || !sent) {
		return;
	}
	/* A timeout set in the transaction is undone with it. */
	db->session_timeout = -1;
	(void) db_simple(db, "ROLLBACK");
}

static bool
db_is_prepared(const struct db *db, const struct db_stmt *stmt)
{
	for (int i = 0; i < db->n_prepared; i++) {
		if (db->prepared[i] == stmt) {
			return (true);
		}
	}
	return (false);
}

static void
db_remember_prepared(struct db *db, const struct db_stmt *stmt)
{
	if (!db_is_prepared(db, stmt) && db->n_prepared < DB_MAX_PREPARED) {
		db->prepared[db->n_prepared++] = stmt;
	}
}

/*
 * The text PostgreSQL is given for stmt: its SQL after a comment naming
 * it, so that pg_stat_activity, the server log and auto_explain say which
 * opsbus statement they show. NULL when out of memory; free() it.
 */
static char *
db_stmt_text(const struct db_stmt *stmt)
{
	size_t n = strlen(stmt->name) + strlen(stmt->sql) + 16;
	char  *text = malloc(n);

	if (text != NULL) {
		snprintf(text, n, "/* opsbus:%s */ %s", stmt->name, stmt->sql);
	}
	return (text);
}

static opsbus_err
db_prepare(struct db *db, const struct db_stmt *stmt)
{
	PGresult  *res;
	opsbus_err err = OPSBUS_E_OK;
	char      *text;

	if (db_is_prepared(db, stmt)) {
		return (OPSBUS_E_OK);
	}
	if ((text = db_stmt_text(stmt)) == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	res = PQprepare(db->conn, stmt->name, text, 0, NULL);
	free(text);
	if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
		err = db_fail(db, res);
		log_error("statement failed to prepare",
		    "name=%s error=\"%s\"", stmt->name, db->errmsg);
	} else {
		db_remember_prepared(db, stmt);
	}
	PQclear(res);
	return (err);
}

static opsbus_err
db_rows_wrap(PGresult *res, struct db_rows **out)
{
	*out = malloc(sizeof(**out));
	if (*out == NULL) {
		PQclear(res);
		return (OPSBUS_E_INTERNAL);
	}
	(*out)->res = res;
	return (OPSBUS_E_OK);
}

static void
db_log_failure(const struct db *db, const char *name, opsbus_err err)
{
	/* A unique violation is an answer callers act on, not a fault. */
	if (err == OPSBUS_E_INTERNAL && !db_unique_violation(db)) {
		log_error("statement failed",
		    "name=%s sqlstate=%s error=\"%s\"", name, db->sqlstate,
		    db->errmsg);
	}
}

/* One statement on its own, outside the pipeline: the common case. */
static opsbus_err
db_exec_one(struct db *db, const struct db_call *c)
{
	PGresult      *res;
	ExecStatusType st;
	opsbus_err     err;

	if ((err = db_prepare(db, c->stmt)) != OPSBUS_E_OK) {
		return (err);
	}
	res = PQexecPrepared(
	    db->conn, c->stmt->name, c->n, c->params, NULL, NULL, 0);
	st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		err = db_fail(db, res);
		db_log_failure(db, c->stmt->name, err);
		PQclear(res);
		return (err);
	}
	if (c->out == NULL) {
		PQclear(res);
		return (OPSBUS_E_OK);
	}
	return (db_rows_wrap(res, c->out));
}

/* What each result of a pipeline answers. */
enum db_step_kind {
	DB_STEP_BEGIN,
	DB_STEP_TIMEOUT,
	DB_STEP_PREPARE,
	DB_STEP_EXEC,
	DB_STEP_COMMIT,
};

struct db_step {
	enum db_step_kind     kind;
	const struct db_call *call;
};

#define DB_MAX_STEPS (3 + 2 * DB_MAX_PIPELINE)

/* Queues the steps; returns how many, or -1 when libpq refused one. */
static int
db_pipeline_send(struct db *db, const struct db_call *calls, int n,
    bool with_begin, bool commit, struct db_step *steps, char *timeout)
{
	PGconn     *conn = db->conn;
	int         k = 0;
	const char *tp[1] = {timeout};

	if (with_begin) {
		steps[k++].kind = DB_STEP_BEGIN;
		if (PQsendQueryParams(
		        conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0)
		    == 0) {
			return (-1);
		}
		if ((int64_t) db->begin_timeout != db->session_timeout) {
			steps[k++].kind = DB_STEP_TIMEOUT;
			if (PQsendQueryParams(conn,
			        "SELECT set_config('statement_timeout', $1, "
			        "false)",
			        1, NULL, tp, NULL, NULL, 0)
			    == 0) {
				return (-1);
			}
		}
	}
	for (int i = 0; i < n; i++) {
		const struct db_call *c = &calls[i];

		if (!db_is_prepared(db, c->stmt)) {
			char *text = db_stmt_text(c->stmt);
			int   sent = text != NULL
			    && PQsendPrepare(
			           conn, c->stmt->name, text, 0, NULL)
			        != 0;

			free(text);
			steps[k].kind = DB_STEP_PREPARE;
			steps[k++].call = c;
			if (!sent) {
				return (-1);
			}
		}
		steps[k].kind = DB_STEP_EXEC;
		steps[k++].call = c;
		if (PQsendQueryPrepared(
		        conn, c->stmt->name, c->n, c->params, NULL, NULL, 0)
		    == 0) {
			return (-1);
		}
	}
	if (commit) {
		steps[k++].kind = DB_STEP_COMMIT;
		if (PQsendQueryParams(
		        conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0)
		    == 0) {
			return (-1);
		}
	}
	return (PQpipelineSync(conn) == 1 ? k : -1);
}

/* Handles one result of a pipeline; the first failure is kept in *err. */
static void
db_pipeline_result(struct db *db, const struct db_step *step, PGresult *res,
    opsbus_err *err, bool *commit_ran)
{
	ExecStatusType st = PQresultStatus(res);

	if (st == PGRES_PIPELINE_ABORTED) {
		PQclear(res);
		return;
	}
	if (step->kind == DB_STEP_COMMIT) {
		*commit_ran = true;
	}
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		if (*err == OPSBUS_E_OK) {
			*err = db_fail(db, res);
			db_log_failure(db,
			    step->call != NULL ? step->call->stmt->name
			                       : "(transaction)",
			    *err);
		}
		PQclear(res);
		return;
	}
	if (step->kind == DB_STEP_TIMEOUT) {
		db->session_timeout = (int64_t) db->begin_timeout;
	} else if (step->kind == DB_STEP_PREPARE) {
		db_remember_prepared(db, step->call->stmt);
	} else if (step->kind == DB_STEP_EXEC && step->call->out != NULL) {
		if (db_rows_wrap(res, step->call->out) != OPSBUS_E_OK
		    && *err == OPSBUS_E_OK) {
			*err = OPSBUS_E_INTERNAL;
		}
		return;
	}
	PQclear(res);
}

/*
 * Sends the steps in one round trip and reads every result up to the sync.
 * *commit_ran says whether a COMMIT was executed (it ends the transaction,
 * committed or not).
 */
static opsbus_err
db_pipeline(struct db *db, const struct db_call *calls, int n, bool with_begin,
    bool commit, bool *commit_ran)
{
	struct db_step steps[DB_MAX_STEPS];
	char           timeout[16];
	opsbus_err     err = OPSBUS_E_OK;
	int            k, idx = 0, nulls = 0;

	memset(steps, 0, sizeof(steps));
	snprintf(timeout, sizeof(timeout), "%u", (unsigned) db->begin_timeout);
	if (PQenterPipelineMode(db->conn) != 1) {
		return (db_fail(db, NULL));
	}
	k = db_pipeline_send(db, calls, n, with_begin, commit, steps, timeout);
	for (int i = 0; i < n; i++) {
		if (calls[i].out != NULL) {
			*calls[i].out = NULL;
		}
	}
	if (k < 0) {
		err = db_fail(db, NULL);
		db_drop(db);
		return (err != OPSBUS_E_OK ? err : OPSBUS_E_INTERNAL);
	}
	for (;;) {
		PGresult *res = PQgetResult(db->conn);

		if (res == NULL) {
			/* NULL ends each command's results; two in a row
			 * mean the connection has nothing more to give. */
			if (PQstatus(db->conn) != CONNECTION_OK
			    || ++nulls > 1) {
				if (err == OPSBUS_E_OK) {
					err = db_fail(db, NULL);
				}
				db_drop(db);
				return (err != OPSBUS_E_OK
				        ? err
				        : OPSBUS_E_DATABASE_UNAVAILABLE);
			}
			continue;
		}
		nulls = 0;
		if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
			PQclear(res);
			break;
		}
		if (idx < k) {
			db_pipeline_result(
			    db, &steps[idx], res, &err, commit_ran);
		} else {
			PQclear(res);
		}
		idx++;
	}
	if (PQexitPipelineMode(db->conn) != 1) {
		db_drop(db);
		return (err != OPSBUS_E_OK ? err : OPSBUS_E_INTERNAL);
	}
	if (err != OPSBUS_E_OK) {
		for (int i = 0; i < n; i++) {
			if (calls[i].out != NULL) {
				db_rows_free(*calls[i].out);
				*calls[i].out = NULL;
			}
		}
	}
	return (err);
}

opsbus_err
db_exec_many(struct db *db, const struct db_call *calls, int n, bool commit)
{
	opsbus_err err = OPSBUS_E_OK;

	if (n < 0 || n > DB_MAX_PIPELINE || (n == 0 && !commit)) {
		return (OPSBUS_E_INTERNAL);
	}
	if (commit && !db->in_tx) {
		return (OPSBUS_E_INTERNAL);
	}
	db->sqlstate[0] = '\0';
	db->errmsg[0] = '\0';
	/*
	 * A connection that died while idle is noticed only when used. While
	 * BEGIN is still in the pipeline nothing of the transaction has
	 * happened, so on a lost connection reconnect and send it all again
	 * once (not when COMMIT is in it: it may have landed). The first call
	 * after a database restart then succeeds.
	 */
	for (int tries = 0; tries < 2; tries++) {
		bool with_begin = db->begin_pending;
		bool commit_ran = false;

		if (db->conn == NULL
		    && (err = db_connect(db)) != OPSBUS_E_OK) {
			return (err);
		}
		if (with_begin) {
			/* Connecting forgets the transaction; it has not
			 * begun on this connection yet. */
			db->in_tx = true;
			db->begin_pending = true;
		}
		if (n == 1 && !with_begin && !commit) {
			return (db_exec_one(db, &calls[0]));
		}
		if (commit && n == 0 && with_begin) {
			db->in_tx = false;
			db->begin_pending = false;
			return (OPSBUS_E_OK);
		}
		err = db_pipeline(
		    db, calls, n, with_begin, commit, &commit_ran);
		if (err == OPSBUS_E_OK) {
			db->begin_pending = false;
			if (commit) {
				db->in_tx = false;
			}
			return (OPSBUS_E_OK);
		}
		if (commit_ran) {
			db->in_tx = false;
			db->begin_pending = false;
		}
		if (err != OPSBUS_E_DATABASE_UNAVAILABLE || !with_begin
		    || commit || tries > 0) {
			break;
		}
		/* Lost while opening: the transaction never began here. */
		db->in_tx = true;
		db->begin_pending = true;
	}
	if (db->in_tx) {
		/* BEGIN went out even though a later step failed. */
		db->begin_pending = false;
	}
	return (err);
}

opsbus_err
db_exec(struct db *db, const struct db_stmt *stmt, int n,
    const char *const *params, struct db_rows **out)
{
	struct db_call c = {stmt, n, params, out};

	return (db_exec_many(db, &c, 1, false));
}

opsbus_err
db_exec_simple(struct db *db, const char *sql)
{
	opsbus_err err;

	if ((err = db_connect(db)) != OPSBUS_E_OK) {
		return (err);
	}
	if ((err = db_flush_begin(db)) != OPSBUS_E_OK) {
		return (err);
	}
	return (db_simple(db, sql));
}

const char *
db_sqlstate(const struct db *db)
{
	return (db->sqlstate);
}

const char *
db_errmsg(const struct db *db)
{
	return (db->errmsg);
}

int
db_backend_pid(const struct db *db)
{
	return (db->conn != NULL ? PQbackendPID(db->conn) : 0);
}

bool
db_unique_violation(const struct db *db)
{
	return (strcmp(db->sqlstate, "23505") == 0);
}

bool
db_in_tx(const struct db *db)
{
	return (db->in_tx);
}

int
db_rows_count(const struct db_rows *rows)
{
	return (PQntuples(rows->res));
}

const char *
db_rows_get(const struct db_rows *rows, int row, int col)
{
	return (PQgetvalue(rows->res, row, col));
}

bool
db_rows_null(const struct db_rows *rows, int row, int col)
{
	return (PQgetisnull(rows->res, row, col) != 0);
}

int64_t
db_rows_int(const struct db_rows *rows, int row, int col)
{
	return (strtoll(PQgetvalue(rows->res, row, col), NULL, 10));
}

bool
db_rows_bool(const struct db_rows *rows, int row, int col)
{
	return (PQgetvalue(rows->res, row, col)[0] == 't');
}

int
db_rows_affected(const struct db_rows *rows)
{
	return (atoi(PQcmdTuples(rows->res)));
}

void
db_rows_free(struct db_rows *rows)
{
	if (rows == NULL) {
		return;
	}
	PQclear(rows->res);
	free(rows);
}
