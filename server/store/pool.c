/*
 * A stack of free connections under one mutex (see pool.h): take pops the
 * top, give pushes, so the warmest connection is always next.
 */
#include "store/pool.h"

#include <pthread.h>
#include <stdlib.h>

struct db_pool {
	pthread_mutex_t mu;
	pthread_cond_t  freed;
	int             size;
	int             n_free;
	struct db     **all;
	struct db     **free;
};

struct db_pool *
db_pool_new(const char *conninfo, int size, const char *session_sql)
{
	struct db_pool *pool = calloc(1, sizeof(*pool));

	if (pool == NULL) {
		return (NULL);
	}
	size = size < 1 ? 1 : size;
	pool->all = calloc((size_t) size, sizeof(*pool->all));
	pool->free = calloc((size_t) size, sizeof(*pool->free));
	if (pool->all == NULL || pool->free == NULL) {
		free(pool->all);
		free(pool->free);
		free(pool);
		return (NULL);
	}
	pthread_mutex_init(&pool->mu, NULL);
	pthread_cond_init(&pool->freed, NULL);
	for (int i = 0; i < size; i++) {
		if (db_open(conninfo, &pool->all[i]) != OPSBUS_E_OK
		    || db_set_session_sql(pool->all[i], session_sql)
		        != OPSBUS_E_OK) {
			if (pool->all[i] != NULL) {
				db_free(pool->all[i]);
				pool->all[i] = NULL;
			}
			pool->size = i;
			db_pool_free(pool);
			return (NULL);
		}
		pool->size = i + 1;
	}
	/* The first connection ends on top: it is the one taken first. */
	for (int i = size - 1; i >= 0; i--) {
		pool->free[pool->n_free++] = pool->all[i];
	}
	return (pool);
}

void
db_pool_free(struct db_pool *pool)
{
	if (pool == NULL) {
		return;
	}
	for (int i = 0; i < pool->size; i++) {
		db_free(pool->all[i]);
	}
	pthread_cond_destroy(&pool->freed);
	pthread_mutex_destroy(&pool->mu);
	free(pool->all);
	free(pool->free);
	free(pool);
}

struct db *
db_pool_take(struct db_pool *pool)
{
	struct db *db;

	pthread_mutex_lock(&pool->mu);
	while (pool->n_free == 0) {
		pthread_cond_wait(&pool->freed, &pool->mu);
	}
	db = pool->free[--pool->n_free];
	pthread_mutex_unlock(&pool->mu);
	return (db);
}

void
db_pool_give(struct db_pool *pool, struct db *db)
{
	if (db == NULL) {
		return;
	}
	if (db_in_tx(db)) {
		db_rollback(db);
	}
	pthread_mutex_lock(&pool->mu);
	pool->free[pool->n_free++] = db;
	pthread_cond_signal(&pool->freed);
	pthread_mutex_unlock(&pool->mu);
}
