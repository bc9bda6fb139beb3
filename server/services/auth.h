/*
 * API keys. A key is presented as metadata "x-api-key" or "authorization:
 * Bearer <key>" and resolved to a principal (identity, role, tenant). Keys
 * are stored as SHA-256 of the secret (api_keys) and compared as digests in
 * constant time. The bootstrap admin key (OPSBUS_API_KEY) lives in memory
 * only. Resolved keys are cached for a few seconds, so a revoked key stops
 * working within AUTH_CACHE_SECONDS.
 *
 * With no bootstrap key the server is open: a call without credentials acts
 * as an anonymous admin. Credentials that are given are always checked.
 */
#ifndef OPSBUS_SERVICES_AUTH_H
#define OPSBUS_SERVICES_AUTH_H

#include <stdbool.h>

#include "services/call.h"

#define AUTH_CACHE_SECONDS 5

struct auth;
struct db;

/*
 * Creates the key store. bootstrap_key may be NULL (open server); it must
 * be at least 16 characters. Returns 0, OPSBUS_E_VALIDATION_ERROR (key too
 * short) or OPSBUS_E_INTERNAL.
 */
opsbus_err auth_alloc(const char *bootstrap_key, struct auth **out);
void       auth_free(struct auth *auth);
bool       auth_is_open(const struct auth *auth);

/*
 * Resolves the presented key (NULL or "" when none) to *out. Returns 0,
 * OPSBUS_E_UNAUTHORIZED (missing on a closed server, or unknown or revoked),
 * or OPSBUS_E_DATABASE_UNAVAILABLE. db is used only on a cache miss.
 */
opsbus_err auth_resolve(
    struct auth *auth, struct db *db, const char *key, struct principal *out);

/* Forgets every cached key (after a revocation on this server). */
void auth_flush(struct auth *auth);

/* Hex SHA-256 of a secret, as stored in api_keys.key_hash. */
void auth_hash_hex(const char *secret, char out[65]);

#endif
