/*
 * One implementation of "read the row with this id, if the caller may see
 * it", so that every service refuses a bad id and a missing row alike.
 */
#include "services/lookup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/validate.h"
#include "store/db.h"

opsbus_err
call_load_by_id(struct rpc_call *call, const struct db_stmt *stmt,
    const char *id, opsbus_err not_found, const char *noun,
    struct db_rows **rows)
{
	const char *p[2] = {id, call->who->tenant};
	opsbus_err  err;

	if (!valid_uuid(id)) {
		return (call_fail(
		    call, OPSBUS_E_VALIDATION_ERROR, "id must be a UUID"));
	}
	if ((err = db_exec(call->db, stmt, 2, p, rows)) != OPSBUS_E_OK) {
		return (err);
	}
	if (db_rows_count(*rows) != 1) {
		db_rows_free(*rows);
		*rows = NULL;
		return (call_fail(call, not_found, "no %s %s", noun, id));
	}
	return (OPSBUS_E_OK);
}

char *
page_token_make(struct rpc_call *call, const char *ts, const char *id)
{
	char  *plain = call_printf(call, "%s|%s", ts, id);
	size_t n = plain != NULL ? strlen(plain) : 0;
	char *hex = plain != NULL ? arena_alloc(call->arena, 2 * n + 1) : NULL;

	for (size_t i = 0; hex != NULL && i < n; i++) {
		snprintf(hex + 2 * i, 3, "%02x", (unsigned char) plain[i]);
	}
	return (hex);
}

bool
page_token_read(struct rpc_call *call, const char *token, char **ts, char **id)
{
	size_t n = strlen(token);
	char  *plain;
	char  *bar;

	if (n == 0 || n % 2 != 0 || n > 256) {
		return (false);
	}
	if ((plain = arena_alloc(call->arena, n / 2 + 1)) == NULL) {
		return (false);
	}
	for (size_t i = 0; i < n / 2; i++) {
		char          byte[3] = {token[2 * i], token[2 * i + 1], 0};
		char         *end;
		unsigned long v = strtoul(byte, &end, 16);
		if (*end != '\0' || v == 0) {
			return (false);
		}
		plain[i] = (char) v;
	}
	plain[n / 2] = '\0';
	if ((bar = strchr(plain, '|')) == NULL) {
		return (false);
	}
	*bar = '\0';
	*ts = plain;
	*id = bar + 1;
	return (valid_timestamp(*ts) && valid_uuid(*id));
}

opsbus_err
call_limit(struct rpc_call *call, bool set, int32_t value, int def, int max,
    int *limit)
{
	*limit = def;
	if (!set) {
		return (OPSBUS_E_OK);
	}
	if (value < 1 || value > max) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "limit must be between 1 and %d, got %d", max, value));
	}
	*limit = value;
	return (OPSBUS_E_OK);
}
