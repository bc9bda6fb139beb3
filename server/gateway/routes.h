/*
 * The HTTP routes of the RPCs, as scripts/gen_routes.py writes them into
 * gen/gateway/routes.c from the (opsbus.v1.http) options of the RPCs in
 * proto/opsbus/v1/, and the OpenAPI document made from the same options.
 * Adding a route is one annotation on an RPC and `make gen` (README: "HTTP
 * routes").
 */
#ifndef OPSBUS_GATEWAY_ROUTES_H
#define OPSBUS_GATEWAY_ROUTES_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

/* One binding of an RPC to an HTTP verb and path template. */
struct gw_route_def {
	/* "GET", "POST", "PUT", "DELETE" or "PATCH". */
	const char *verb;
	/* "/api/v1/jobs/{id}": literal segments and {field} captures. */
	const char *path;
	/* The RPC called: "opsbus.v1.JobService/GetJob". */
	const char                       *rpc;
	const ProtobufCMessageDescriptor *input;
	const ProtobufCMessageDescriptor *output;
	/* "" (no body), "*" (the whole input) or a message field's name. */
	const char *body;
	/* "" (the whole output is the envelope's data) or a field's name. */
	const char *response_body;
};

/* The generated table, in the order of the .proto files. */
extern const struct gw_route_def gw_route_defs[];
extern const size_t              gw_route_defs_count;

/* The OpenAPI 3 document of every route (JSON text, NUL-terminated). */
extern const char   gw_openapi_json[];
extern const size_t gw_openapi_json_len;

#endif
