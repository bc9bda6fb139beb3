/*
 * The lookup every "by id" call starts with: check the id, read the one row
 * a statement returns for (id, caller's tenant), or say that there is none.
 */
#ifndef OPSBUS_SERVICES_LOOKUP_H
#define OPSBUS_SERVICES_LOOKUP_H

#include "services/call.h"

struct db_rows;
struct db_stmt;

/*
 * Runs stmt with $1 = id and $2 = the caller's tenant ("" for every
 * tenant). Returns 0 and writes *rows, holding exactly one row (free it
 * with db_rows_free); VALIDATION_ERROR when id is not a UUID; not_found
 * with the message "no <noun> <id>" when no row is visible to the caller;
 * or the database's error.
 */
opsbus_err call_load_by_id(struct rpc_call *call, const struct db_stmt *stmt,
    const char *id, opsbus_err not_found, const char *noun,
    struct db_rows **rows);

/*
 * A page token: the hex of "<created_at>|<id>" of a page's last row, for
 * lists ordered by (created_at, id) descending. Opaque to clients and
 * checked strictly when it comes back: page_token_read is false for any
 * token this server could not have made; *ts and *id are then unset.
 */
char *page_token_make(struct rpc_call *call, const char *ts, const char *id);
bool  page_token_read(
     struct rpc_call *call, const char *token, char **ts, char **id);

/*
 * A list's page size: def when the request leaves it unset (set false),
 * else value, refused with VALIDATION_ERROR outside 1..max.
 */
opsbus_err call_limit(struct rpc_call *call, bool set, int32_t value, int def,
    int max, int *limit);

#endif
