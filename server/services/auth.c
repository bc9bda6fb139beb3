/*
 * Key resolution with a small time-bounded cache. The cache holds digests,
 * never secrets, and only keys that resolved: unknown keys always go to the
 * database, so a flood of wrong keys cannot fill it.
 */
#include "services/auth.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sha256.h"
#include "store/db.h"

#define AUTH_CACHE_SLOTS 64

struct auth_entry {
	uint8_t          digest[SHA256_DIGEST_LEN];
	time_t           expires;
	struct principal who;
};

struct auth {
	bool              open;
	uint8_t           bootstrap[SHA256_DIGEST_LEN];
	pthread_mutex_t   mu;
	struct auth_entry cache[AUTH_CACHE_SLOTS];
	unsigned          next_slot;
};

static const struct db_stmt stmt_key_lookup = {"auth_key_lookup",
    "SELECT identity, role, coalesce(tenant, '') FROM api_keys "
    "WHERE key_hash = decode($1, 'hex') AND revoked_at IS NULL"};

opsbus_err
auth_alloc(const char *bootstrap_key, struct auth **out)
{
	struct auth *auth;

	if (bootstrap_key != NULL && bootstrap_key[0] != '\0'
	    && strlen(bootstrap_key) < 16) {
		return (OPSBUS_E_VALIDATION_ERROR);
	}
	if ((auth = calloc(1, sizeof(*auth))) == NULL) {
		return (OPSBUS_E_INTERNAL);
	}
	pthread_mutex_init(&auth->mu, NULL);
	auth->open = (bootstrap_key == NULL || bootstrap_key[0] == '\0');
	if (!auth->open) {
		sha256(bootstrap_key, strlen(bootstrap_key), auth->bootstrap);
	}
	*out = auth;
	return (OPSBUS_E_OK);
}

void
auth_free(struct auth *auth)
{
	if (auth == NULL) {
		return;
	}
	pthread_mutex_destroy(&auth->mu);
	free(auth);
}

bool
auth_is_open(const struct auth *auth)
{
	return (auth->open);
}

void
auth_flush(struct auth *auth)
{
	pthread_mutex_lock(&auth->mu);
	memset(auth->cache, 0, sizeof(auth->cache));
	pthread_mutex_unlock(&auth->mu);
}

void
auth_hash_hex(const char *secret, char out[65])
{
	uint8_t d[SHA256_DIGEST_LEN];

	sha256(secret, strlen(secret), d);
	sha256_hex(d, out);
}

static bool
auth_cache_get(struct auth *auth, const uint8_t *digest, struct principal *out)
{
	time_t now = time(NULL);
	bool   found = false;

	pthread_mutex_lock(&auth->mu);
	for (int i = 0; i < AUTH_CACHE_SLOTS; i++) {
		struct auth_entry *e = &auth->cache[i];
		if (e->expires > now
		    && ct_equal(e->digest, digest, SHA256_DIGEST_LEN)) {
			*out = e->who;
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&auth->mu);
	return (found);
}

static void
auth_cache_put(
    struct auth *auth, const uint8_t *digest, const struct principal *who)
{
	pthread_mutex_lock(&auth->mu);
	struct auth_entry *e
	    = &auth->cache[auth->next_slot++ % AUTH_CACHE_SLOTS];
	memcpy(e->digest, digest, SHA256_DIGEST_LEN);
	e->who = *who;
	e->expires = time(NULL) + AUTH_CACHE_SECONDS;
	pthread_mutex_unlock(&auth->mu);
}

opsbus_err
auth_resolve(
    struct auth *auth, struct db *db, const char *key, struct principal *out)
{
	uint8_t         digest[SHA256_DIGEST_LEN];
	char            hex[65];
	const char     *params[1];
	struct db_rows *rows;
	opsbus_err      err;

	memset(out, 0, sizeof(*out));
	if (key == NULL || key[0] == '\0') {
		if (!auth->open) {
			return (OPSBUS_E_UNAUTHORIZED);
		}
		snprintf(out->identity, sizeof(out->identity), "anonymous");
		out->role = ROLE_ADMIN;
		out->anonymous = true;
		return (OPSBUS_E_OK);
	}
	sha256(key, strlen(key), digest);
	if (!auth->open
	    && ct_equal(digest, auth->bootstrap, SHA256_DIGEST_LEN)) {
		snprintf(out->identity, sizeof(out->identity), "admin");
		out->role = ROLE_ADMIN;
		return (OPSBUS_E_OK);
	}
	if (auth_cache_get(auth, digest, out)) {
		return (OPSBUS_E_OK);
	}
	sha256_hex(digest, hex);
	params[0] = hex;
	if ((err = db_exec(db, &stmt_key_lookup, 1, params, &rows))
	    != OPSBUS_E_OK) {
		return (err == OPSBUS_E_DATABASE_UNAVAILABLE
		        ? err
		        : OPSBUS_E_INTERNAL);
	}
	if (db_rows_count(rows) != 1
	    || role_parse(db_rows_get(rows, 0, 1), &out->role) != 0) {
		db_rows_free(rows);
		return (OPSBUS_E_UNAUTHORIZED);
	}
	snprintf(out->identity, sizeof(out->identity), "%s",
	    db_rows_get(rows, 0, 0));
	snprintf(
	    out->tenant, sizeof(out->tenant), "%s", db_rows_get(rows, 0, 2));
	db_rows_free(rows);
	auth_cache_put(auth, digest, out);
	return (OPSBUS_E_OK);
}
