/*
 * opsbus keys create|list|revoke: API key administration (admin role).
 */
#include <string.h>

#include "cli.h"
#include "opsbus/v1/admin.pb-c.h"

static int
keys_create(struct cli *cli)
{
	Opsbus__V1__CreateApiKeyRequest   req;
	Opsbus__V1__CreateApiKeyResponse *res;
	const char                       *v;

	opsbus__v1__create_api_key_request__init(&req);
	if ((v = cli_take(&cli->args, "--identity")) != NULL) {
		req.identity = CLI_PB_STR(v);
	}
	if ((v = cli_take(&cli->args, "--role")) != NULL) {
		req.role = CLI_PB_STR(v);
	}
	if ((v = cli_take(&cli->args, "--tenant")) != NULL) {
		req.tenant = CLI_PB_STR(v);
	}
	cli_done(&cli->args, 0);
	res = (Opsbus__V1__CreateApiKeyResponse *) cli_call(cli,
	    "opsbus.v1.AdminService/CreateApiKey", &req.base,
	    &opsbus__v1__create_api_key_response__descriptor);
	if (res == NULL) {
		return (1);
	}
	if (cli->json) {
		cli_print_json(&res->base);
	} else {
		printf("key %s for %s (%s%s%s)\n", res->key->id,
		    res->key->identity, res->key->role,
		    res->key->tenant[0] != '\0' ? ", tenant " : "",
		    res->key->tenant);
		printf("secret (shown once): %s\n", res->secret);
	}
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return (0);
}

static int
keys_list(struct cli *cli)
{
	Opsbus__V1__ListApiKeysRequest   req;
	Opsbus__V1__ListApiKeysResponse *res;

	cli_done(&cli->args, 0);
	opsbus__v1__list_api_keys_request__init(&req);
	res = (Opsbus__V1__ListApiKeysResponse *) cli_call(cli,
	    "opsbus.v1.AdminService/ListApiKeys", &req.base,
	    &opsbus__v1__list_api_keys_response__descriptor);
	if (res == NULL) {
		return (1);
	}
	if (cli->json) {
		cli_print_json(&res->base);
	} else {
		static const char *const h[] = {"ID", "PREFIX", "IDENTITY",
		    "ROLE", "TENANT", "CREATED", "REVOKED"};
		struct cli_table        *t = cli_table_new(7, h);
		for (size_t i = 0; i < res->n_keys; i++) {
			Opsbus__V1__ApiKey *k = res->keys[i];
			const char *row[] = {k->id, k->prefix, k->identity,
			    k->role, k->tenant, k->created_at, k->revoked_at};
			cli_table_add(t, row);
		}
		cli_table_print(t, stdout);
	}
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return (0);
}

static int
keys_revoke(struct cli *cli)
{
	Opsbus__V1__RevokeApiKeyRequest   req;
	Opsbus__V1__RevokeApiKeyResponse *res;
	const char                       *id;

	cli_done(&cli->args, 1);
	if ((id = cli_positional(&cli->args, 0)) == NULL) {
		cli_usage_error("keys revoke needs a key id");
	}
	opsbus__v1__revoke_api_key_request__init(&req);
	req.id = CLI_PB_STR(id);
	res = (Opsbus__V1__RevokeApiKeyResponse *) cli_call(cli,
	    "opsbus.v1.AdminService/RevokeApiKey", &req.base,
	    &opsbus__v1__revoke_api_key_response__descriptor);
	if (res == NULL) {
		return (1);
	}
	if (cli->json) {
		cli_print_json(&res->base);
	} else {
		printf("revoked %s (%s) at %s\n", res->key->id,
		    res->key->identity, res->key->revoked_at);
	}
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return (0);
}

int
cmd_keys(struct cli *cli, const char *sub)
{
	if (strcmp(sub, "create") == 0) {
		return (keys_create(cli));
	}
	if (strcmp(sub, "list") == 0) {
		return (keys_list(cli));
	}
	if (strcmp(sub, "revoke") == 0) {
		return (keys_revoke(cli));
	}
	cli_usage_error("unknown command \"keys %s\"", sub);
}
