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
	PGconn               *conn;
	char                 *conninfo;
	bool                  in_tx;
	int                   n_prepared;
	const struct db_stmt *prepared[DB_MAX_PREPARED];
	char                  sqlstate[6];
	char                  errmsg[512];
};

struct db_rows {
	PGresult *res;
};

opsbus_err
db_open(const char *conninfo, struct db **out)
{
	struct db *db = calloc(1, sizeof(*db));

	if (db == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
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
	char       sql[96];
	opsbus_err err;

	db->sqlstate[0] = '\0';
	db->errmsg[0] = '\0';
	/*
	 * A connection that died while idle is noticed only when used. BEGIN
	 * is safe to send twice, so on a lost connection reconnect and retry
	 * once: the first call after a database restart then succeeds.
	 */
	for (int tries = 0; tries < 2; tries++) {
		if ((err = db_connect(db)) != OPSBUS_E_OK) {
			return (err);
		}
		if (timeout_ms > 0) {
			snprintf(sql, sizeof(sql),
			    "BEGIN; SET LOCAL statement_timeout = %u",
			    (unsigned) timeout_ms);
		} else {
			snprintf(sql, sizeof(sql), "BEGIN");
		}
		err = db_simple(db, sql);
		if (err == OPSBUS_E_OK) {
			db->in_tx = true;
			return (OPSBUS_E_OK);
		}
		if (err != OPSBUS_E_DATABASE_UNAVAILABLE) {
			db_rollback(db);
			return (err);
		}
	}
	return (err);
}

opsbus_err
db_commit(struct db *db)
{
	opsbus_err err;

	if (!db->in_tx) {
		return (OPSBUS_E_OK);
	}
	db->in_tx = false;
	err = db_simple(db, "COMMIT");
	return (err);
}

void
db_rollback(struct db *db)
{
	if (db->conn == NULL || !db->in_tx) {
		db->in_tx = false;
		return;
	}
	db->in_tx = false;
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

static opsbus_err
db_prepare(struct db *db, const struct db_stmt *stmt)
{
	PGresult  *res;
	opsbus_err err = OPSBUS_E_OK;

	if (db_is_prepared(db, stmt)) {
		return (OPSBUS_E_OK);
	}
	res = PQprepare(db->conn, stmt->name, stmt->sql, 0, NULL);
	if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
		err = db_fail(db, res);
		log_error("statement failed to prepare",
		    "name=%s error=\"%s\"", stmt->name, db->errmsg);
	} else if (db->n_prepared < DB_MAX_PREPARED) {
		db->prepared[db->n_prepared++] = stmt;
	}
	PQclear(res);
	return (err);
}

opsbus_err
db_exec(struct db *db, const struct db_stmt *stmt, int n,
    const char *const *params, struct db_rows **out)
{
	PGresult      *res;
	ExecStatusType st;
	opsbus_err     err;

	if (db->conn == NULL) {
		if ((err = db_connect(db)) != OPSBUS_E_OK) {
			return (err);
		}
	}
	if ((err = db_prepare(db, stmt)) != OPSBUS_E_OK) {
		return (err);
	}
	res = PQexecPrepared(db->conn, stmt->name, n, params, NULL, NULL, 0);
	st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		err = db_fail(db, res);
		if (err == OPSBUS_E_INTERNAL) {
			log_error("statement failed",
			    "name=%s sqlstate=%s error=\"%s\"", stmt->name,
			    db->sqlstate, db->errmsg);
		}
		PQclear(res);
		return (err);
	}
	if (out == NULL) {
		PQclear(res);
		return (OPSBUS_E_OK);
	}
	*out = malloc(sizeof(**out));
	if (*out == NULL) {
		PQclear(res);
		return (OPSBUS_E_INTERNAL);
	}
	(*out)->res = res;
	return (OPSBUS_E_OK);
}

opsbus_err
db_exec_simple(struct db *db, const char *sql)
{
	opsbus_err err;

	if ((err = db_connect(db)) != OPSBUS_E_OK) {
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
