/*
 * The connections the calls share. A call (or a group of calls) takes one
 * for as long as it uses the database and gives it back; the most recently
 * returned is handed out first, so a light load keeps reusing the same
 * warm connections (statements prepared, catalog cached) and the others are
 * never opened. At most size connections exist; a taker waits when all are
 * in use.
 */
#ifndef OPSBUS_STORE_POOL_H
#define OPSBUS_STORE_POOL_H

#include "store/db.h"

struct db_pool;

/*
 * size >= 1 connections to conninfo, none opened yet; each runs
 * session_sql (or nothing when NULL) when it connects. NULL: no memory.
 */
struct db_pool *db_pool_new(
    const char *conninfo, int size, const char *session_sql);
/* Closes every connection; none may be taken. NULL does nothing. */
void db_pool_free(struct db_pool *pool);

/* A connection, waiting until one is free. */
struct db *db_pool_take(struct db_pool *pool);
/* Gives db back. A transaction left open is rolled back first. */
void db_pool_give(struct db_pool *pool, struct db *db);

#endif
