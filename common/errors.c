/*
 * Lookups over the error list of errors.h. Nothing here knows an error by
 * hand: every table is generated from OPSBUS_ERRORS.
 */
#include "errors.h"

#include <string.h>

struct err_info {
	const char *name;
	int         grpc;
	int         http;
	const char *text;
};

static const struct err_info err_table[] = {
#define OPSBUS_ERR_ROW(name, grpc, http, text) {#name, grpc, http, text},
    OPSBUS_ERRORS(OPSBUS_ERR_ROW)
#undef OPSBUS_ERR_ROW
};

static const struct err_info *
err_lookup(opsbus_err err)
{
	if ((int) err < 0 || err >= OPSBUS_E_COUNT_) {
		return (&err_table[OPSBUS_E_INTERNAL]);
	}
	return (&err_table[err]);
}

const char *
opsbus_err_name(opsbus_err err)
{
	return (err_lookup(err)->name);
}

int
opsbus_err_grpc(opsbus_err err)
{
	return (err_lookup(err)->grpc);
}

int
opsbus_err_http(opsbus_err err)
{
	return (err_lookup(err)->http);
}

const char *
opsbus_err_text(opsbus_err err)
{
	return (err_lookup(err)->text);
}

int
opsbus_err_from_name(const char *name, opsbus_err *out)
{
	for (int i = 0; i < (int) OPSBUS_E_COUNT_; i++) {
		if (strcmp(err_table[i].name, name) == 0) {
			*out = (opsbus_err) i;
			return (0);
		}
	}
	return (-1);
}

static const char *const grpc_names[] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char *
opsbus_grpc_name(int code)
{
	if (code < 0
	    || code >= (int) (sizeof(grpc_names) / sizeof(grpc_names[0]))) {
		return ("UNKNOWN");
	}
	return (grpc_names[code]);
}

int
opsbus_grpc_http(int code)
{
	switch (code) {
	case OPSBUS_GRPC_OK:
		return (200);
	case OPSBUS_GRPC_CANCELLED:
		return (499);
	case OPSBUS_GRPC_INVALID_ARGUMENT:
	case OPSBUS_GRPC_OUT_OF_RANGE:
		return (400);
	case OPSBUS_GRPC_DEADLINE_EXCEEDED:
		return (504);
	case OPSBUS_GRPC_NOT_FOUND:
		return (404);
	case OPSBUS_GRPC_ALREADY_EXISTS:
	case OPSBUS_GRPC_ABORTED:
		return (409);
	case OPSBUS_GRPC_PERMISSION_DENIED:
		return (403);
	case OPSBUS_GRPC_RESOURCE_EXHAUSTED:
		return (429);
	case OPSBUS_GRPC_FAILED_PRECONDITION:
		return (400);
	case OPSBUS_GRPC_UNIMPLEMENTED:
		return (501);
	case OPSBUS_GRPC_UNAVAILABLE:
		return (503);
	case OPSBUS_GRPC_UNAUTHENTICATED:
		return (401);
	default:
		return (500);
	}
}
