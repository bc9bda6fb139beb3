/*
 * One field of a message from the text of a path or query parameter
 * (pbjson_set_field_from_string), through a dotted name of singular
 * message fields. Everything that can fail is done before the message
 * changes, so that a refused parameter leaves it as it was.
 */
#include "pbjson_internal.h"

#include <stdint.h>
#include <string.h>

int
pbjson_set_field_from_string(ProtobufCMessage *m, const char *name,
    const char *value, struct arena *a, char *err, size_t err_len)
{
	struct pj_parse p = {.a = a, .err = err, .err_len = err_len};
	/* The fields of a dotted name, and the messages they are in:
	 * chain[0] is m, chain[i] is the message field path[i - 1] holds,
	 * or NULL when it is to be made. */
	const ProtobufCFieldDescriptor   *path[PBJSON_MAX_DEPTH];
	ProtobufCMessage                 *chain[PBJSON_MAX_DEPTH + 1];
	const ProtobufCMessageDescriptor *desc = m->descriptor;
	size_t                            depth = 0;
	const char                       *seg = name;
	const ProtobufCFieldDescriptor   *f;
	ProtobufCMessage                 *target;
	union pj_value                    v;
	size_t                            size;
	char                             *grown = NULL;
	size_t                            n = 0;

	if (name == NULL || value == NULL) {
		return (pj_fail(&p, "no field name or no value"));
	}
	chain[0] = m;
	for (;;) {
		const char *dot = strchr(seg, '.');
		size_t len = dot != NULL ? (size_t) (dot - seg) : strlen(seg);

		pj_path_push_name(&p, seg, len);
		f = pj_field_find(desc, seg, len);
		if (f == NULL) {
			return (pj_fail_unknown(&p));
		}
		if (dot == NULL) {
			break;
		}
		if (f->label == PROTOBUF_C_LABEL_REPEATED
		    || f->type != PROTOBUF_C_TYPE_MESSAGE) {
			return (pj_fail(&p,
			    "not a message field: a dotted "
			    "name cannot go through it"));
		}
		if (depth + 2 > PBJSON_MAX_DEPTH) {
			return (pj_fail(&p, "nested deeper than %d messages",
			    PBJSON_MAX_DEPTH));
		}
		chain[depth + 1] = NULL;
		if (chain[depth] != NULL) {
			if (pj_oneof_check(&p, chain[depth], f) != 0) {
				return (-1);
			}
			/* A oneof member's storage is shared: it holds this
			 * member only when the case says so. */
			if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) == 0
			    || pj_oneof_case(chain[depth], f) == f->id) {
				memcpy(&chain[depth + 1],
				    pj_field_cptr(chain[depth], f->offset),
				    sizeof(chain[depth + 1]));
			}
		}
		path[depth++] = f;
		desc = f->descriptor;
		seg = dot + 1;
	}
	if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
		return (pj_fail(&p, "a %s cannot be set from a string",
		    pj_field_is_map(desc, f) ? "map" : "message"));
	}
	target = chain[depth];
	if (target != NULL && pj_oneof_check(&p, target, f) != 0) {
		return (-1);
	}
	memset(&v, 0, sizeof(v));
	if (pj_scalar_from_string(&p, f, value, strlen(value), &v) != 0) {
		return (-1);
	}

	/* Everything that can fail is done before m changes: the messages
	 * the name goes through that do not exist yet, and a grown array. */
	size = pj_value_size(f->type);
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		const char *old = NULL;

		if (target != NULL) {
			n = *(const size_t *) pj_field_cptr(
			    target, f->quantifier_offset);
			memcpy(&old, pj_field_cptr(target, f->offset),
			    sizeof(old));
		}
		if (n >= SIZE_MAX / size - 1
		    || (grown = arena_alloc(a, (n + 1) * size)) == NULL) {
			return (pj_fail_oom(&p));
		}
		if (n > 0) {
			memcpy(grown, old, n * size);
		}
		memcpy(grown + n * size, &v, size);
	}
	for (size_t i = 1; i <= depth; i++) {
		const ProtobufCMessageDescriptor *sd;

		if (chain[i] != NULL) {
			continue;
		}
		sd = path[i - 1]->descriptor;
		chain[i] = arena_alloc(a, sd->sizeof_message);
		if (chain[i] == NULL) {
			return (pj_fail_oom(&p));
		}
		sd->message_init(chain[i]);
	}

	/* Now link the new messages and store the value. */
	for (size_t i = 1; i <= depth; i++) {
		memcpy(pj_field_ptr(chain[i - 1], path[i - 1]->offset),
		    &chain[i], sizeof(chain[i]));
		pj_field_mark_set(chain[i - 1], path[i - 1]);
	}
	target = chain[depth];
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		n++;
		memcpy(
		    pj_field_ptr(target, f->quantifier_offset), &n, sizeof(n));
		memcpy(pj_field_ptr(target, f->offset), &grown, sizeof(grown));
	} else {
		memcpy(pj_field_ptr(target, f->offset), &v, size);
		pj_field_mark_set(target, f);
	}
	return (0);
}
