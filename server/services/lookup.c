/*
 * One implementation of "read the row with this id, if the caller may see
 * it", so that every service refuses a bad id and a missing row alike.
 */
#include "services/lookup.h"

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
