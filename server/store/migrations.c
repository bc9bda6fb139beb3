/*
 * Applies the built-in migrations at start. The advisory lock serializes
 * concurrent starts; the checksum table makes an edited landed migration a
 * start-up error instead of a silent drift between databases.
 */
#include "store/migrations.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "sha256.h"
#include "store/db.h"

/* Any constant both servers agree on: "opsbus" in ASCII. */
#define MIGRATION_LOCK_KEY "111546411725683"

static const struct db_stmt stmt_lock
    = {"migrations_lock", "SELECT pg_advisory_lock(" MIGRATION_LOCK_KEY ")"};
static const struct db_stmt stmt_unlock = {
    "migrations_unlock", "SELECT pg_advisory_unlock(" MIGRATION_LOCK_KEY ")"};
static const struct db_stmt stmt_applied = {"migrations_applied",
    "SELECT version, name, checksum FROM schema_migrations ORDER BY version"};
static const struct db_stmt stmt_record = {"migrations_record",
    "INSERT INTO schema_migrations (version, name, checksum) "
    "VALUES ($1::int, $2, $3)"};
static const struct db_stmt stmt_current = {"migrations_current",
    "SELECT coalesce(max(version), 0) FROM schema_migrations"};

static const char create_table_sql[]
    = "CREATE TABLE IF NOT EXISTS schema_migrations ("
      " version integer PRIMARY KEY,"
      " name text NOT NULL,"
      " checksum text NOT NULL,"
      " applied_at timestamptz NOT NULL DEFAULT now())";

void
migration_checksum(const struct migration *m, char out[65])
{
	uint8_t digest[SHA256_DIGEST_LEN];

	sha256(m->sql, strlen(m->sql), digest);
	sha256_hex(digest, out);
}

static const struct migration *
migration_find(const struct migration *list, int n, int version)
{
	for (int i = 0; i < n; i++) {
		if (list[i].version == version) {
			return (&list[i]);
		}
	}
	return (NULL);
}

/* Checks every applied migration against the built-in text. */
static opsbus_err
migrations_verify(struct db *db, const struct migration *list, int n,
    int *highest, char *err, size_t err_len)
{
	struct db_rows *rows;
	opsbus_err      rv;

	*highest = 0;
	if ((rv = db_exec(db, &stmt_applied, 0, NULL, &rows)) != OPSBUS_E_OK) {
		snprintf(err, err_len, "cannot read schema_migrations: %s",
		    db_errmsg(db));
		return (rv);
	}
	for (int r = 0; r < db_rows_count(rows); r++) {
		int                     v = (int) db_rows_int(rows, r, 0);
		const struct migration *m = migration_find(list, n, v);
		char                    sum[65];

		if (m == NULL) {
			snprintf(err, err_len,
			    "the database has migration %d (%s), which this "
			    "opsbusd does not know: it is older than the "
			    "schema",
			    v, db_rows_get(rows, r, 1));
			db_rows_free(rows);
			return (OPSBUS_E_INTERNAL);
		}
		migration_checksum(m, sum);
		if (strcmp(sum, db_rows_get(rows, r, 2)) != 0) {
			snprintf(err, err_len,
			    "migration %d (%s) was edited after it was "
			    "applied (checksum %.12s, applied %.12s): add a "
			    "new migration instead",
			    v, m->name, sum, db_rows_get(rows, r, 2));
			db_rows_free(rows);
			return (OPSBUS_E_INTERNAL);
		}
		if (v > *highest) {
			*highest = v;
		}
	}
	db_rows_free(rows);
	return (OPSBUS_E_OK);
}

static opsbus_err
migration_run(
    struct db *db, const struct migration *m, char *err, size_t err_len)
{
	char        sum[65];
	char        version[16];
	const char *params[3];
	opsbus_err  rv;

	migration_checksum(m, sum);
	snprintf(version, sizeof(version), "%d", m->version);
	params[0] = version;
	params[1] = m->name;
	params[2] = sum;
	if ((rv = db_begin(db, 0)) != OPSBUS_E_OK
	    || (rv = db_exec_simple(db, m->sql)) != OPSBUS_E_OK
	    || (rv = db_exec(db, &stmt_record, 3, params, NULL)) != OPSBUS_E_OK
	    || (rv = db_commit(db)) != OPSBUS_E_OK) {
		snprintf(err, err_len, "migration %d (%s) failed: %s",
		    m->version, m->name, db_errmsg(db));
		db_rollback(db);
		return (rv);
	}
	log_info(
	    "migration applied", "version=%d name=%s", m->version, m->name);
	return (OPSBUS_E_OK);
}

opsbus_err
migrations_apply(struct db *db, const struct migration *list, int n,
    int *version, char *err, size_t err_len)
{
	int        highest = 0;
	opsbus_err rv;

	if ((rv = db_connect(db)) != OPSBUS_E_OK) {
		snprintf(err, err_len, "cannot connect: %s", db_errmsg(db));
		return (rv);
	}
	if ((rv = db_exec(db, &stmt_lock, 0, NULL, NULL)) != OPSBUS_E_OK) {
		snprintf(err, err_len, "cannot take the migration lock: %s",
		    db_errmsg(db));
		return (rv);
	}
	rv = db_exec_simple(db, create_table_sql);
	if (rv != OPSBUS_E_OK) {
		snprintf(err, err_len, "cannot create schema_migrations: %s",
		    db_errmsg(db));
	}
	if (rv == OPSBUS_E_OK) {
		rv = migrations_verify(db, list, n, &highest, err, err_len);
	}
	for (int i = 0; rv == OPSBUS_E_OK && i < n; i++) {
		if (list[i].version <= highest) {
			continue;
		}
		rv = migration_run(db, &list[i], err, err_len);
		if (rv == OPSBUS_E_OK) {
			highest = list[i].version;
		}
	}
	(void) db_exec(db, &stmt_unlock, 0, NULL, NULL);
	if (rv == OPSBUS_E_OK) {
		*version = highest;
	}
	return (rv);
}

opsbus_err
migrations_current(struct db *db, int *version)
{
	struct db_rows *rows;
	opsbus_err      rv;

	if ((rv = db_exec(db, &stmt_current, 0, NULL, &rows)) != OPSBUS_E_OK) {
		return (rv);
	}
	*version = (int) db_rows_int(rows, 0, 0);
	db_rows_free(rows);
	return (OPSBUS_E_OK);
}
