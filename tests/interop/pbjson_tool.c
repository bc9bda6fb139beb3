/*
 * A filter over common/pbjson.h for tests/interop/pbjson_python.sh, which
 * checks the transcoder against Google's Python runtime. It reads one
 * opsbus.test message (tests/proto/pbjson_test.proto) on stdin and writes
 * it on stdout in another form:
 *
 *   pbjson_tool json2json [options]   JSON -> message -> JSON
 *   pbjson_tool bin2json  [options]   binary protobuf -> JSON
 *   pbjson_tool json2bin  [options]   JSON -> binary protobuf
 *
 * Options: --type AllTypes|Inner (default AllTypes), --no-defaults (JSON
 * output leaves out zero values; by default they are printed),
 * --original-names (JSON output uses proto field names). Exits 0 on
 * success, 1 when the input is refused (the reason on stderr), 2 on a
 * usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "pbjson.h"
#include "pbjson_test.pb-c.h"

/* Inputs are test messages: far below this. */
#define TOOL_MAX_INPUT (64u * 1024 * 1024)

static void
usage(void)
{
	fprintf(stderr,
	    "usage: pbjson_tool json2json|bin2json|json2bin "
	    "[--type AllTypes|Inner] [--no-defaults] [--original-names]\n");
}

/* Reads all of stdin into a new malloc'ed buffer; NULL on failure. */
static unsigned char *
read_all(size_t *len)
{
	size_t         cap = 4096;
	size_t         n = 0;
	unsigned char *buf = malloc(cap);

	if (buf == NULL) {
		return (NULL);
	}
	for (;;) {
		size_t got;

		if (n == cap) {
			unsigned char *bigger;

			if (cap >= TOOL_MAX_INPUT) {
				free(buf);
				return (NULL);
			}
			bigger = realloc(buf, cap * 2);
			if (bigger == NULL) {
				free(buf);
				return (NULL);
			}
			buf = bigger;
			cap *= 2;
		}
		got = fread(buf + n, 1, cap - n, stdin);
		n += got;
		if (got == 0) {
			break;
		}
	}
	if (ferror(stdin)) {
		free(buf);
		return (NULL);
	}
	*len = n;
	return (buf);
}

/* The message stdin holds, as JSON, made in a; NULL when refused. */
static ProtobufCMessage *
from_json(const ProtobufCMessageDescriptor *desc, const unsigned char *in,
    size_t len, struct arena *a)
{
	json_error_t      e;
	json_t           *j = json_loadb((const char *) in, len, 0, &e);
	ProtobufCMessage *m = NULL;
	char              err[512];

	if (j == NULL) {
		fprintf(stderr, "pbjson_tool: bad JSON: %s\n", e.text);
		return (NULL);
	}
	if (pbjson_to_message(desc, j, a, &m, err, sizeof(err)) != 0) {
		fprintf(stderr, "pbjson_tool: refused: %s\n", err);
		m = NULL;
	}
	json_decref(j);
	return (m);
}

static int
print_json(const ProtobufCMessage *m, int flags)
{
	json_t *j = pbjson_from_message(m, flags);
	int     rv;

	if (j == NULL) {
		fprintf(stderr, "pbjson_tool: cannot print the message\n");
		return (1);
	}
	rv = json_dumpf(j, stdout, JSON_COMPACT) == 0 ? 0 : 1;
	json_decref(j);
	return (rv);
}

static int
print_binary(const ProtobufCMessage *m, struct arena *a)
{
	size_t   len = protobuf_c_message_get_packed_size(m);
	uint8_t *out = arena_alloc(a, len);

	if (out == NULL) {
		return (1);
	}
	protobuf_c_message_pack(m, out);
	return (fwrite(out, 1, len, stdout) == len ? 0 : 1);
}

int
main(int argc, char **argv)
{
	const ProtobufCMessageDescriptor *desc
	    = &opsbus__test__all_types__descriptor;
	int               flags = PBJSON_EMIT_DEFAULTS;
	const char       *mode;
	unsigned char    *in;
	size_t            len;
	struct arena      a;
	ProtobufCMessage *m;
	int               rv;

	if (argc < 2) {
		usage();
		return (2);
	}
	mode = argv[1];
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--no-defaults") == 0) {
			flags &= ~PBJSON_EMIT_DEFAULTS;
		} else if (strcmp(argv[i], "--original-names") == 0) {
			flags |= PBJSON_ORIGINAL_NAMES;
		} else if (strcmp(argv[i], "--type") == 0 && i + 1 < argc
		    && strcmp(argv[i + 1], "AllTypes") == 0) {
			desc = &opsbus__test__all_types__descriptor;
			i++;
		} else if (strcmp(argv[i], "--type") == 0 && i + 1 < argc
		    && strcmp(argv[i + 1], "Inner") == 0) {
			desc = &opsbus__test__inner__descriptor;
			i++;
		} else {
			usage();
			return (2);
		}
	}
	if (strcmp(mode, "json2json") != 0 && strcmp(mode, "bin2json") != 0
	    && strcmp(mode, "json2bin") != 0) {
		usage();
		return (2);
	}
	in = read_all(&len);
	if (in == NULL) {
		fprintf(stderr, "pbjson_tool: cannot read stdin\n");
		return (1);
	}
	arena_init(&a);
	if (strcmp(mode, "bin2json") == 0) {
		m = protobuf_c_message_unpack(desc, &a.pb, len, in);
		if (m == NULL) {
			fprintf(stderr, "pbjson_tool: bad protobuf input\n");
		}
	} else {
		m = from_json(desc, in, len, &a);
	}
	if (m == NULL) {
		rv = 1;
	} else if (strcmp(mode, "json2bin") == 0) {
		rv = print_binary(m, &a);
	} else {
		rv = print_json(m, flags);
	}
	arena_fini(&a);
	free(in);
	if (fflush(stdout) != 0) {
		rv = 1;
	}
	return (rv);
}
