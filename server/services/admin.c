/*
 * AdminService: API keys. A key's secret is made here from the kernel's
 * random source, answered once, and stored only as its SHA-256.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "opsbus/v1/admin.pb-c.h"
#include "services/auth.h"
#include "services/handlers.h"
#include "services/job_view.h"
#include "services/validate.h"
#include "store/db.h"

#define KEY_COLUMNS                                          \
	"id, identity, role, coalesce(tenant, ''), " SQL_TS( \
	    "created_at") ", " SQL_TS("revoked_at") ", prefix"

static const struct db_stmt stmt_insert = {"admin_key_insert",
    "INSERT INTO api_keys (id, key_hash, prefix, identity, role, tenant) "
    "VALUES ($1::uuid, decode($2, 'hex'), $3, $4, $5, nullif($6, '')) "
    "RETURNING " KEY_COLUMNS};
static const struct db_stmt stmt_list = {"admin_key_list",
    "SELECT " KEY_COLUMNS " FROM api_keys ORDER BY created_at, id"};
static const struct db_stmt stmt_revoke = {"admin_key_revoke",
    "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) "
    "WHERE id = $1::uuid RETURNING " KEY_COLUMNS};

static Opsbus__V1__ApiKey *
key_from_row(struct rpc_call *call, const struct db_rows *rows, int r)
{
	Opsbus__V1__ApiKey *k = (Opsbus__V1__ApiKey *) call_new(
	    call, &opsbus__v1__api_key__descriptor);

	if (k == NULL) {
		return (NULL);
	}
	k->id = call_strdup(call, db_rows_get(rows, r, 0));
	k->identity = call_strdup(call, db_rows_get(rows, r, 1));
	k->role = call_strdup(call, db_rows_get(rows, r, 2));
	k->tenant = call_strdup(call, db_rows_get(rows, r, 3));
	k->created_at = call_strdup(call, db_rows_get(rows, r, 4));
	k->revoked_at = call_strdup(call, db_rows_get(rows, r, 5));
	k->prefix = call_strdup(call, db_rows_get(rows, r, 6));
	return (k);
}

static int
random_bytes(unsigned char *buf, size_t n)
{
	int     fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	ssize_t got;

	if (fd < 0) {
		return (-1);
	}
	got = read(fd, buf, n);
	close(fd);
	return (got == (ssize_t) n ? 0 : -1);
}

opsbus_err
admin_create_key(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__CreateApiKeyRequest *in
	    = (const Opsbus__V1__CreateApiKeyRequest *) inm;
	Opsbus__V1__CreateApiKeyResponse *out
	    = (Opsbus__V1__CreateApiKeyResponse *) outm;
	unsigned char   raw[24];
	char            secret[4 + 2 * sizeof(raw) + 1];
	char            hash[65];
	char            prefix[13];
	const char     *p[6];
	enum role       role;
	struct db_rows *rows;
	opsbus_err      err;

	if (in->identity[0] == '\0' || strlen(in->identity) > 128) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "identity is required (1..128 characters), e.g. "
		    "ops@example.com"));
	}
	if (role_parse(in->role, &role) != 0) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "role must be viewer, worker, operator or admin"));
	}
	if (!valid_name_or_empty(in->tenant)) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "tenant must be up to 64 characters of letters, digits, "
		    "'.', '_', '-', ':' and '/'"));
	}
	if (random_bytes(raw, sizeof(raw)) != 0) {
		return (
		    call_fail(call, OPSBUS_E_INTERNAL, "no random source"));
	}
	memcpy(secret, "obk_", 4);
	for (size_t i = 0; i < sizeof(raw); i++) {
		snprintf(secret + 4 + 2 * i, 3, "%02x", raw[i]);
	}
	auth_hash_hex(secret, hash);
	snprintf(prefix, sizeof(prefix), "%.12s", secret);
	p[0] = new_uuid_text(call);
	p[1] = hash;
	p[2] = prefix;
	p[3] = in->identity;
	p[4] = role_name(role);
	p[5] = in->tenant;
	if ((err = db_exec(call->db, &stmt_insert, 6, p, &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	out->key
	    = db_rows_count(rows) == 1 ? key_from_row(call, rows, 0) : NULL;
	db_rows_free(rows);
	out->secret = call_strdup(call, secret);
	return (out->key != NULL ? OPSBUS_E_OK : OPSBUS_E_INTERNAL);
}

opsbus_err
admin_list_keys(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	Opsbus__V1__ListApiKeysResponse *out
	    = (Opsbus__V1__ListApiKeysResponse *) outm;
	struct db_rows *rows;
	opsbus_err      err;
	int             n;

	(void) inm;
	if ((err = db_exec(call->db, &stmt_list, 0, NULL, &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	n = db_rows_count(rows);
	out->keys = call_array(call, (size_t) n + 1, sizeof(*out->keys));
	for (int r = 0; out->keys != NULL && r < n; r++) {
		out->keys[out->n_keys++] = key_from_row(call, rows, r);
	}
	db_rows_free(rows);
	return (OPSBUS_E_OK);
}

opsbus_err
admin_revoke_key(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__RevokeApiKeyRequest *in
	    = (const Opsbus__V1__RevokeApiKeyRequest *) inm;
	Opsbus__V1__RevokeApiKeyResponse *out
	    = (Opsbus__V1__RevokeApiKeyResponse *) outm;
	const char     *p[1] = {in->id};
	struct db_rows *rows;
	opsbus_err      err;

	if (!valid_uuid(in->id)) {
		return (call_fail(
		    call, OPSBUS_E_VALIDATION_ERROR, "id must be a UUID"));
	}
	if ((err = db_exec(call->db, &stmt_revoke, 1, p, &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	if (db_rows_count(rows) == 1) {
		out->key = key_from_row(call, rows, 0);
	}
	db_rows_free(rows);
	if (out->key == NULL) {
		return (call_fail(call, OPSBUS_E_API_KEY_NOT_FOUND,
		    "no API key %s", in->id));
	}
	return (OPSBUS_E_OK);
}
