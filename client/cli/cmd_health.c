/*
 * opsbus health: is the server up, and can it reach its database.
 */
#include <stdio.h>

#include "cli.h"
#include "opsbus/v1/health.pb-c.h"

int
cmd_health(struct cli *cli)
{
	Opsbus__V1__CheckRequest   req;
	Opsbus__V1__CheckResponse *res;

	cli_done(&cli->args, 0);
	opsbus__v1__check_request__init(&req);
	res = (Opsbus__V1__CheckResponse *) cli_call(cli,
	    "opsbus.v1.HealthService/Check", &req.base,
	    &opsbus__v1__check_response__descriptor);
	if (res == NULL) {
		return (1);
	}
	if (cli->json) {
		cli_print_json(&res->base);
	} else {
		printf("status:          %s\n", res->status);
		printf("database:        %s\n",
		    res->database_ok ? "reachable" : "UNREACHABLE");
		printf("schema version:  %d\n", res->schema_version);
		printf("server version:  %s\n", res->server_version);
		printf("uptime:          %llds\n",
		    (long long) res->uptime_seconds);
	}
	int rv = res->database_ok ? 0 : 1;
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return (rv);
}
