/*
 * HealthService/Check: answers without credentials, and without touching
 * the database when asked to skip it (the cheap probe). A database that is
 * down makes the answer NOT_SERVING, not an error: the probe itself worked.
 */
#include <time.h>

#include "opsbus/v1/health.pb-c.h"
#include "services/handlers.h"
#include "store/db.h"
#include "store/migrations.h"

opsbus_err
health_check(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__CheckRequest *in
	    = (const Opsbus__V1__CheckRequest *) inm;
	Opsbus__V1__CheckResponse *out = (Opsbus__V1__CheckResponse *) outm;
	int                        version = call->cfg->schema_version;

	out->server_version = (char *) (uintptr_t) call->cfg->server_version;
	out->uptime_seconds = (int64_t) (time(NULL) - call->cfg->started_at);
	out->schema_version = version;
	if (in->skip_database) {
		out->status = PB_STR("SERVING");
		return (OPSBUS_E_OK);
	}
	out->database_ok = db_connect(call->db) == OPSBUS_E_OK
	    && migrations_current(call->db, &version) == OPSBUS_E_OK;
	out->schema_version = version;
	out->status = PB_STR(out->database_ok ? "SERVING" : "NOT_SERVING");
	return (OPSBUS_E_OK);
}
