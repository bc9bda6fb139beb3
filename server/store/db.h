/*
 * One PostgreSQL connection and what runs on it: transactions and prepared
 * statements with text parameters. libpq and PGresult stay inside store/;
 * callers see rows through db_rows and errors as opsbus_err.
 *
 * A struct db is used by one thread at a time. When the server goes away a
 * call answers OPSBUS_E_DATABASE_UNAVAILABLE and the next db_begin
 * reconnects, so a restarted PostgreSQL needs no restart of opsbusd.
 */
#ifndef OPSBUS_STORE_DB_H
#define OPSBUS_STORE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"

struct db;
struct db_rows;

/*
 * A statement, prepared on a connection the first time it runs there.
 * Declare them static const next to the code that uses them; name must be
 * unique in the program.
 */
struct db_stmt {
	const char *name;
	const char *sql;
};

/*
 * Opens a connection with conninfo (a libpq connection string or URL; the
 * string is copied). Never fails for an unreachable server: the connection
 * is attempted again at each db_begin. Returns 0 and writes *out, or
 * OPSBUS_E_INTERNAL when out of memory.
 */
opsbus_err db_open(const char *conninfo, struct db **out);
/*
 * SQL (SET ...) to run on every connection this db opens from now on, or
 * NULL for none; a live connection is closed so the next call applies it.
 * Returns 0 or OPSBUS_E_INTERNAL when out of memory.
 */
opsbus_err db_set_session_sql(struct db *db, const char *sql);
/* Closes and frees. NULL does nothing. */
void db_free(struct db *db);

/*
 * Makes sure the connection is up, reconnecting if needed. Returns 0 or
 * OPSBUS_E_DATABASE_UNAVAILABLE.
 */
opsbus_err db_connect(struct db *db);

/*
 * Starts a transaction; timeout_ms > 0 bounds each of its statements
 * (statement_timeout; 0: none). Nothing is sent yet: BEGIN, and the timeout
 * when it differs from the last one set, travel with the transaction's
 * first statement in one round trip. Returns 0 or
 * OPSBUS_E_DATABASE_UNAVAILABLE.
 */
opsbus_err db_begin(struct db *db, uint32_t timeout_ms);
/* Commits. Returns 0 or the translated error (the transaction is gone). */
opsbus_err db_commit(struct db *db);
/* Rolls back if a transaction is open; safe to call at any time. */
void db_rollback(struct db *db);

/*
 * Runs stmt with n text parameters (NULL = SQL NULL). On success returns 0
 * and, if out is not NULL, writes the rows (free with db_rows_free). Errors:
 * OPSBUS_E_DATABASE_UNAVAILABLE (connection lost), OPSBUS_E_DEADLINE_EXCEEDED
 * (statement timeout), OPSBUS_E_CONFLICT (serialization failure or
 * deadlock), OPSBUS_E_INTERNAL (anything else; see db_sqlstate).
 */
opsbus_err db_exec(struct db *db, const struct db_stmt *stmt, int n,
    const char *const *params, struct db_rows **out);

/* One statement of db_exec_many; out as for db_exec (NULL: no rows). */
struct db_call {
	const struct db_stmt *stmt;
	int                   n;
	const char *const    *params;
	struct db_rows      **out;
};

#define DB_MAX_PIPELINE 8

/*
 * Put first in a transaction's pipeline (db_exec_many): its later
 * statements run with generic plans. For set-based statements over arrays
 * (unnest($n), LIMIT $n): PostgreSQL's estimates for those differ between
 * generic and custom plans, so the generic one never looks cheaper and it
 * would plan afresh at every call, which costs about as much as running
 * them.
 */
extern const struct db_stmt db_generic_plans;

/*
 * Runs up to DB_MAX_PIPELINE statements in order in one round trip (a
 * libpq pipeline), then COMMIT when commit is true. The first failure
 * stops the rest and is returned as by db_exec; every *out is then NULL
 * and, unless COMMIT itself failed, the transaction is still open (roll it
 * back). A unique violation is not logged: callers answer it.
 */
opsbus_err db_exec_many(
    struct db *db, const struct db_call *calls, int n, bool commit);

/*
 * Runs SQL text that takes no parameters (schema work, migrations). Same
 * errors as db_exec.
 */
opsbus_err db_exec_simple(struct db *db, const char *sql);

/* SQLSTATE of the last failed statement ("23505"), or "" if none. */
const char *db_sqlstate(const struct db *db);
/* PostgreSQL's message for the last failure, or "". For logs only. */
const char *db_errmsg(const struct db *db);
/* True when the last failure was a unique violation. */
bool db_unique_violation(const struct db *db);
/* True while a transaction is open. */
bool db_in_tx(const struct db *db);
/* The process id of the connection's PostgreSQL backend, 0 when not
 * connected (to tell its own notifications apart, see store/listen.h). */
int db_backend_pid(const struct db *db);

/* Rows of a result. Column and row indexes are 0-based. */
int db_rows_count(const struct db_rows *rows);
/* The value as text; "" for NULL. Valid until db_rows_free. */
const char *db_rows_get(const struct db_rows *rows, int row, int col);
bool        db_rows_null(const struct db_rows *rows, int row, int col);
int64_t     db_rows_int(const struct db_rows *rows, int row, int col);
/* PostgreSQL's text for booleans: "t" is true. */
bool db_rows_bool(const struct db_rows *rows, int row, int col);
/* Number of rows an INSERT/UPDATE/DELETE touched. */
int  db_rows_affected(const struct db_rows *rows);
void db_rows_free(struct db_rows *rows);

#endif
