/*
 * Helpers shared by every handler: failure messages, allocation in the
 * call's arena, roles, and the tenant rule.
 */
#include "services/call.h"

#include <stdarg.h>
#include <string.h>

#include "services/validate.h"

static const char *const role_names[]
    = {"none", "viewer", "worker", "operator", "admin"};

int
role_parse(const char *name, enum role *out)
{
	for (int i = ROLE_VIEWER; i <= ROLE_ADMIN; i++) {
		if (strcmp(name, role_names[i]) == 0) {
			*out = (enum role) i;
			return (0);
		}
	}
	return (-1);
}

const char *
role_name(enum role role)
{
	if ((int) role < 0 || role > ROLE_ADMIN) {
		return ("none");
	}
	return (role_names[role]);
}

bool
role_allows(enum role role, enum perm perm)
{
	switch (perm) {
	case PERM_PUBLIC:
		return (true);
	case PERM_READ:
		return (role >= ROLE_VIEWER);
	case PERM_WORK:
		return (role >= ROLE_WORKER);
	case PERM_OPERATE:
		return (role >= ROLE_OPERATOR);
	case PERM_ADMIN:
		return (role == ROLE_ADMIN);
	}
	return (false);
}

opsbus_err
call_fail(struct rpc_call *call, opsbus_err err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	call->message = arena_vprintf(call->arena, fmt, ap);
	va_end(ap);
	return (err);
}

ProtobufCMessage *
call_new(struct rpc_call *call, const ProtobufCMessageDescriptor *desc)
{
	ProtobufCMessage *m = arena_alloc(call->arena, desc->sizeof_message);

	if (m != NULL) {
		desc->message_init(m);
	}
	return (m);
}

void *
call_array(struct rpc_call *call, size_t n, size_t size)
{
	return (arena_alloc(call->arena, n * size));
}

char *
call_strdup(struct rpc_call *call, const char *s)
{
	return (arena_strdup(call->arena, s));
}

char *
call_printf(struct rpc_call *call, const char *fmt, ...)
{
	va_list ap;
	char   *p;

	va_start(ap, fmt);
	p = arena_vprintf(call->arena, fmt, ap);
	va_end(ap);
	return (p);
}

opsbus_err
call_read_tenant(
    struct rpc_call *call, const char *requested, const char **out)
{
	*out = call->who->tenant;
	if (requested[0] == '\0') {
		return (OPSBUS_E_OK);
	}
	return (call_tenant(call, requested, out));
}

opsbus_err
call_tenant(struct rpc_call *call, const char *requested, const char **out)
{
	const char *own = call->who->tenant;

	if (requested == NULL || requested[0] == '\0') {
		*out = own[0] != '\0' ? own : "default";
		return (OPSBUS_E_OK);
	}
	if (!valid_name(requested)) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "tenant must be 1..64 characters of letters, digits, "
		    "'.', '_', '-', ':' and '/'"));
	}
	if (own[0] != '\0' && strcmp(own, requested) != 0) {
		return (call_fail(call, OPSBUS_E_PERMISSION_DENIED,
		    "this API key is limited to tenant %s", own));
	}
	*out = requested;
	return (OPSBUS_E_OK);
}
