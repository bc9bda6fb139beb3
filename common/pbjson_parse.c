/*
 * JSON to message (pbjson_to_message): the walk over objects, arrays and
 * maps that builds a message and the messages under it in the caller's
 * arena, field by field; scalars are read in pbjson_parse_scalar.c.
 *
 * The parser is strict where leniency would hide a client's mistake: an
 * unknown field, a number that does not fit its field, two members of one
 * oneof and a JSON type that does not match the field are refused with the
 * path of the field, because the gateway passes these messages straight to
 * handlers and a silently dropped or wrapped value is worse than a 400. It
 * follows Google's runtimes where they are lenient on form (both name
 * spellings, numbers in strings, both base64 alphabets, null as unset).
 */
#include "pbjson_internal.h"

#include <stdint.h>
#include <string.h>

/* The name of the field numbered id in desc, for error messages. */
static const char *
field_name_by_id(const ProtobufCMessageDescriptor *desc, uint32_t id)
{
	const ProtobufCFieldDescriptor *f
	    = protobuf_c_message_descriptor_get_field(desc, (unsigned) id);

	return (f != NULL ? f->name : "?");
}

static int msg_from_json(struct pj_parse *p,
    const ProtobufCMessageDescriptor *desc, const json_t *j, int depth,
    ProtobufCMessage **out);

/* One value of field f (an element, for a repeated field) into dst. */
static int
value_from_json(struct pj_parse *p, const ProtobufCFieldDescriptor *f,
    const json_t *j, void *dst, int depth)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		return (pj_float_from_json(p, f->type, j, dst));
	case PROTOBUF_C_TYPE_BOOL: {
		protobuf_c_boolean b;

		if (!json_is_boolean(j)) {
			return (pj_fail(p, "expected true or false, got %s",
			    pj_json_type_text(j)));
		}
		b = json_is_true(j);
		memcpy(dst, &b, sizeof(b));
		return (0);
	}
	case PROTOBUF_C_TYPE_ENUM:
		return (pj_enum_from_json(p, f, j, dst));
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_BYTES:
		if (!json_is_string(j)) {
			return (pj_fail(p, "expected a string, got %s",
			    pj_json_type_text(j)));
		}
		return (pj_scalar_from_string(
		    p, f, json_string_value(j), json_string_length(j), dst));
	case PROTOBUF_C_TYPE_MESSAGE: {
		ProtobufCMessage *sub;

		if (msg_from_json(p, f->descriptor, j, depth + 1, &sub) != 0) {
			return (-1);
		}
		memcpy(dst, &sub, sizeof(sub));
		return (0);
	}
	default:
		return (pj_int_from_json(p, f->type, j, dst));
	}
}

/* A repeated field that is not a map, from a JSON array. */
static int
array_from_json(struct pj_parse *p, ProtobufCMessage *m,
    const ProtobufCFieldDescriptor *f, const json_t *j, int depth)
{
	size_t n = json_array_size(j);
	size_t size = pj_value_size(f->type);
	char  *elts = NULL;

	if (!json_is_array(j)) {
		return (pj_fail(
		    p, "expected an array, got %s", pj_json_type_text(j)));
	}
	if (n > 0) {
		if (n > SIZE_MAX / size
		    || (elts = arena_alloc(p->a, n * size)) == NULL) {
			return (pj_fail_oom(p));
		}
	}
	for (size_t i = 0; i < n; i++) {
		const json_t *e = json_array_get(j, i);
		int           old = pj_path_append(p, "[%zu]", i);

		if (json_is_null(e)) {
			return (pj_fail(p, "null is not allowed in an array"));
		}
		if (value_from_json(p, f, e, elts + i * size, depth) != 0) {
			return (-1);
		}
		pj_path_pop(p, old);
	}
	memcpy(pj_field_ptr(m, f->quantifier_offset), &n, sizeof(n));
	memcpy(pj_field_ptr(m, f->offset), &elts, sizeof(elts));
	return (0);
}

/*
 * jansson's iterators take a non-const object but do not change it; the
 * cast through uintptr_t says so without a cast-qual warning.
 */
static json_t *
json_unconst(const json_t *j)
{
	return ((json_t *) (uintptr_t) j);
}

/*
 * A map field from a JSON object: one entry message per key, in the order
 * of the object. Keys are text of the key type ("7", "true").
 */
static int
map_from_json(struct pj_parse *p, ProtobufCMessage *m,
    const ProtobufCFieldDescriptor *f, const json_t *j, int depth)
{
	const ProtobufCMessageDescriptor *ed = f->descriptor;
	const ProtobufCFieldDescriptor   *kf = &ed->fields[0];
	const ProtobufCFieldDescriptor   *vf = &ed->fields[1];
	size_t                            n = json_object_size(j);
	ProtobufCMessage                **entries = NULL;
	size_t                            i = 0;
	const char                       *key;
	size_t                            klen;
	json_t                           *v;

	if (!json_is_object(j)) {
		return (pj_fail(
		    p, "expected an object, got %s", pj_json_type_text(j)));
	}
	/* Each entry is a message of its own on the wire. */
	if (depth + 1 > PBJSON_MAX_DEPTH) {
		return (pj_fail(
		    p, "nested deeper than %d messages", PBJSON_MAX_DEPTH));
	}
	if (n > 0) {
		if (n > SIZE_MAX / sizeof(*entries)
		    || (entries = arena_alloc(p->a, n * sizeof(*entries)))
		        == NULL) {
			return (pj_fail_oom(p));
		}
	}
	json_object_keylen_foreach(json_unconst(j), key, klen, v)
	{
		int old = pj_path_append(p, "[%.*s]", pj_prec(klen), key);
		ProtobufCMessage *e = arena_alloc(p->a, ed->sizeof_message);

		if (e == NULL) {
			return (pj_fail_oom(p));
		}
		ed->message_init(e);
		if (pj_scalar_from_string(
		        p, kf, key, klen, pj_field_ptr(e, kf->offset))
		    != 0) {
			return (-1);
		}
		pj_field_mark_set(e, kf);
		if (json_is_null(v)) {
			return (
			    pj_fail(p, "null is not allowed as a map value"));
		}
		if (value_from_json(
		        p, vf, v, pj_field_ptr(e, vf->offset), depth + 1)
		    != 0) {
			return (-1);
		}
		pj_field_mark_set(e, vf);
		entries[i++] = e;
		pj_path_pop(p, old);
	}
	memcpy(pj_field_ptr(m, f->quantifier_offset), &i, sizeof(i));
	memcpy(pj_field_ptr(m, f->offset), &entries, sizeof(entries));
	return (0);
}

int
pj_oneof_check(struct pj_parse *p, const ProtobufCMessage *m,
    const ProtobufCFieldDescriptor *f)
{
	uint32_t c;

	if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) == 0) {
		return (0);
	}
	c = pj_oneof_case(m, f);
	if (c != 0 && c != f->id) {
		return (pj_fail(p,
		    "another member of its oneof (\"%s\") is already set",
		    field_name_by_id(m->descriptor, c)));
	}
	return (0);
}

/* Field f of m from its JSON value j. */
static int
field_from_json(struct pj_parse *p, ProtobufCMessage *m,
    const ProtobufCFieldDescriptor *f, const json_t *j, int depth)
{
	/* null leaves the field as message_init made it, and a null oneof
	 * member claims nothing, as in Google's parsers. */
	if (json_is_null(j)) {
		return (0);
	}
	if (pj_oneof_check(p, m, f) != 0) {
		return (-1);
	}
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		return (pj_field_is_map(m->descriptor, f)
		        ? map_from_json(p, m, f, j, depth)
		        : array_from_json(p, m, f, j, depth));
	}
	if (value_from_json(p, f, j, pj_field_ptr(m, f->offset), depth) != 0) {
		return (-1);
	}
	pj_field_mark_set(m, f);
	return (0);
}

static int
msg_from_json(struct pj_parse *p, const ProtobufCMessageDescriptor *desc,
    const json_t *j, int depth, ProtobufCMessage **out)
{
	ProtobufCMessage *m;
	unsigned char    *seen;
	const char       *key;
	size_t            klen;
	json_t           *v;

	if (!json_is_object(j)) {
		return (pj_fail(
		    p, "expected an object, got %s", pj_json_type_text(j)));
	}
	if (depth > PBJSON_MAX_DEPTH) {
		return (pj_fail(
		    p, "nested deeper than %d messages", PBJSON_MAX_DEPTH));
	}
	m = arena_alloc(p->a, desc->sizeof_message);
	seen = arena_alloc(p->a, desc->n_fields + 1);
	if (m == NULL || seen == NULL) {
		return (pj_fail_oom(p));
	}
	desc->message_init(m);
	json_object_keylen_foreach(json_unconst(j), key, klen, v)
	{
		int                             old;
		const ProtobufCFieldDescriptor *f;

		old = pj_path_push_name(p, key, klen);
		f = pj_field_find(desc, key, klen);
		if (f == NULL) {
			return (pj_fail_unknown(p));
		}
		/* Once as "maxAttempts" and once as "max_attempts": which
		 * one was meant is a guess, so neither is taken. */
		if (seen[f - desc->fields]) {
			return (pj_fail(p, "the field is given twice"));
		}
		seen[f - desc->fields] = 1;
		if (field_from_json(p, m, f, v, depth) != 0) {
			return (-1);
		}
		pj_path_pop(p, old);
	}
	*out = m;
	return (0);
}

int
pbjson_to_message(const ProtobufCMessageDescriptor *desc, const json_t *json,
    struct arena *a, ProtobufCMessage **out, char *err, size_t err_len)
{
	struct pj_parse   p = {.a = a, .err = err, .err_len = err_len};
	ProtobufCMessage *m;

	if (json == NULL) {
		return (pj_fail(&p, "no JSON value"));
	}
	if (msg_from_json(&p, desc, json, 1, &m) != 0) {
		return (-1);
	}
	*out = m;
	return (0);
}
