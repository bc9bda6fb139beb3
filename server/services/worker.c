/*
 * JobService for workers: claim under a lease, heartbeat, complete, fail.
 * (Being written: the lifecycle issue.)
 */
#include "services/handlers.h"

opsbus_err
worker_claim(
    struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	(void) in;
	(void) out;
	return (call_fail(call, OPSBUS_E_NOT_IMPLEMENTED, "not yet"));
}

opsbus_err
worker_heartbeat(
    struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	(void) in;
	(void) out;
	return (call_fail(call, OPSBUS_E_NOT_IMPLEMENTED, "not yet"));
}

opsbus_err
worker_complete(
    struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	(void) in;
	(void) out;
	return (call_fail(call, OPSBUS_E_NOT_IMPLEMENTED, "not yet"));
}

opsbus_err
worker_fail(
    struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	(void) in;
	(void) out;
	return (call_fail(call, OPSBUS_E_NOT_IMPLEMENTED, "not yet"));
}
