/*
 * Message to JSON (pbjson_from_message): each field is read through its
 * offset and type and printed as proto3's JSON mapping says, leaving out
 * what is not set or, unless defaults are asked for, holds its zero value.
 * The result is built with jansson, which refuses invalid UTF-8, so a bad
 * string field fails the print rather than making bad JSON.
 */
#include "pbjson_internal.h"

#include <inttypes.h>
#include <math.h> /* macros only: no libm needed */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* JSON names up to this long are made on the stack, longer ones on the
 * heap. */
#define PJ_NAME_MAX 128

static json_t *msg_to_json(const ProtobufCMessage *m, int flags, int depth);

/*
 * float and double as JSON: numbers, or the strings proto3 uses for values
 * JSON has no number for.
 */
static json_t *
double_to_json(double d)
{
	if (isnan(d)) {
		return (json_string("NaN"));
	}
	if (isinf(d)) {
		return (json_string(d > 0 ? "Infinity" : "-Infinity"));
	}
	return (json_real(d));
}

/*
 * A float widened to the double nearest its shortest decimal form, so that
 * 0.1f prints as 0.1 (as Google's runtimes print it) rather than as the
 * exact 0.100000001490116. Nine significant digits always round-trip.
 */
static double
float_widen(float f)
{
	char buf[32];

	if (!isfinite(f)) {
		return ((double) f);
	}
	for (int prec = 6; prec <= 9; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, (double) f);
		if (strtof(buf, NULL) == f) {
			return (strtod(buf, NULL));
		}
	}
	return ((double) f);
}

/* One value of field f, stored at p, as JSON; NULL on failure. */
static json_t *
value_to_json(
    const ProtobufCFieldDescriptor *f, const void *p, int flags, int depth)
{
	char buf[32];

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return (json_integer(*(const int32_t *) p));
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return (json_integer(*(const uint32_t *) p));
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		/* As strings: a double, which many JSON readers use for every
		 * number, holds 53 bits. */
		snprintf(buf, sizeof(buf), "%" PRId64, *(const int64_t *) p);
		return (json_string(buf));
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		snprintf(buf, sizeof(buf), "%" PRIu64, *(const uint64_t *) p);
		return (json_string(buf));
	case PROTOBUF_C_TYPE_FLOAT:
		return (double_to_json(float_widen(*(const float *) p)));
	case PROTOBUF_C_TYPE_DOUBLE:
		return (double_to_json(*(const double *) p));
	case PROTOBUF_C_TYPE_BOOL:
		return (json_boolean(*(const protobuf_c_boolean *) p));
	case PROTOBUF_C_TYPE_ENUM: {
		int32_t                   v = *(const int32_t *) p;
		const ProtobufCEnumValue *ev
		    = protobuf_c_enum_descriptor_get_value(f->descriptor, v);

		/* proto3 enums are open: a value from a newer peer has no
		 * name here and is printed as its number. */
		return (ev != NULL ? json_string(ev->name) : json_integer(v));
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *s;

		/* Copied, not read through a cast: a proto2 default arrives
		 * as a pointer to a const void *. */
		memcpy(&s, p, sizeof(s));
		/* json_string refuses invalid UTF-8 with NULL. */
		return (json_string(s != NULL ? s : ""));
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = p;
		char                      *s = pj_b64_encode(b->data, b->len);
		json_t                    *j;

		if (s == NULL) {
			return (NULL);
		}
		j = json_string(s);
		free(s);
		return (j);
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *) p;

		/* Only map values and oneof members get here unset: both
		 * print as an empty message, as Google's runtimes do. */
		if (sub == NULL) {
			return (json_object());
		}
		return (msg_to_json(sub, flags, depth + 1));
	}
	}
	return (NULL);
}

/* The key of a map entry as the text of a JSON object key. */
static const char *
map_key_text(
    const ProtobufCFieldDescriptor *k, const void *p, char *buf, size_t len)
{
	switch (k->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *) p;

		return (s != NULL ? s : "");
	}
	case PROTOBUF_C_TYPE_BOOL:
		return (*(const protobuf_c_boolean *) p ? "true" : "false");
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		snprintf(buf, len, "%" PRId32, *(const int32_t *) p);
		return (buf);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		snprintf(buf, len, "%" PRIu32, *(const uint32_t *) p);
		return (buf);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		snprintf(buf, len, "%" PRId64, *(const int64_t *) p);
		return (buf);
	default:
		snprintf(buf, len, "%" PRIu64, *(const uint64_t *) p);
		return (buf);
	}
}

/* A map field as a JSON object; NULL on failure. */
static json_t *
map_to_json(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
    int flags, int depth)
{
	const ProtobufCMessageDescriptor *ed = f->descriptor;
	size_t n = *(const size_t *) pj_field_cptr(m, f->quantifier_offset);
	ProtobufCMessage *const *entries
	    = *(ProtobufCMessage *const *const *) pj_field_cptr(m, f->offset);
	json_t *obj;

	/* An entry is a message of its own on the wire, so a level. */
	if (depth + 1 > PBJSON_MAX_DEPTH) {
		return (NULL);
	}
	obj = json_object();
	if (obj == NULL) {
		return (NULL);
	}
	for (size_t i = 0; i < n; i++) {
		const ProtobufCMessage *e = entries[i];
		char                    buf[32];
		const char             *key;
		json_t                 *v;

		if (e == NULL) {
			continue;
		}
		key = map_key_text(&ed->fields[0],
		    pj_field_cptr(e, ed->fields[0].offset), buf, sizeof(buf));
		v = value_to_json(&ed->fields[1],
		    pj_field_cptr(e, ed->fields[1].offset), flags, depth + 1);
		/* A later entry with the same key wins, as when parsing the
		 * binary form. */
		if (v == NULL || json_object_set_new(obj, key, v) != 0) {
			json_decref(obj);
			return (NULL);
		}
	}
	return (obj);
}

/* A repeated field that is not a map as a JSON array; NULL on failure. */
static json_t *
array_to_json(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
    int flags, int depth)
{
	size_t n = *(const size_t *) pj_field_cptr(m, f->quantifier_offset);
	const char *elts = *(char *const *) pj_field_cptr(m, f->offset);
	size_t      size = pj_value_size(f->type);
	json_t     *arr = json_array();

	if (arr == NULL) {
		return (NULL);
	}
	for (size_t i = 0; i < n; i++) {
		json_t *v = value_to_json(f, elts + i * size, flags, depth);

		if (v == NULL || json_array_append_new(arr, v) != 0) {
			json_decref(arr);
			return (NULL);
		}
	}
	return (arr);
}

/* Says whether the value at p is the zero value of type t. */
static bool
value_is_zero(ProtobufCType t, const void *p)
{
	switch (t) {
	case PROTOBUF_C_TYPE_FLOAT: {
		/* By bits, so that -0.0 counts as set (as in Google's
		 * runtimes). */
		uint32_t bits;

		memcpy(&bits, p, sizeof(bits));
		return (bits == 0);
	}
	case PROTOBUF_C_TYPE_DOUBLE: {
		uint64_t bits;

		memcpy(&bits, p, sizeof(bits));
		return (bits == 0);
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *) p;

		return (s == NULL || s[0] == '\0');
	}
	case PROTOBUF_C_TYPE_BYTES:
		return (((const ProtobufCBinaryData *) p)->len == 0);
	case PROTOBUF_C_TYPE_MESSAGE:
		return (*(ProtobufCMessage *const *) p == NULL);
	case PROTOBUF_C_TYPE_BOOL:
		return (*(const protobuf_c_boolean *) p == 0);
	default:
		if (pj_value_size(t) == sizeof(uint64_t)) {
			return (*(const uint64_t *) p == 0);
		}
		return (*(const uint32_t *) p == 0);
	}
}

/*
 * Where the value of singular field f of m is, or NULL when it is not to
 * be printed. A proto2 optional field that is not set prints its default
 * (from default_value, else zero) when defaults are asked for.
 */
static const void *
singular_value(
    const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, int flags)
{
	static const union pj_value zero;
	const void                 *p = pj_field_cptr(m, f->offset);
	bool defaults = (flags & PBJSON_EMIT_DEFAULTS) != 0;
	bool set;

	if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0) {
		return (pj_oneof_case(m, f) == f->id ? p : NULL);
	}
	if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
		return (*(ProtobufCMessage *const *) p != NULL ? p : NULL);
	}
	switch (f->label) {
	case PROTOBUF_C_LABEL_REQUIRED:
		return (p);
	case PROTOBUF_C_LABEL_OPTIONAL:
		if (f->type == PROTOBUF_C_TYPE_STRING) {
			const char *s = *(char *const *) p;

			set = s != NULL && s != f->default_value;
		} else {
			set = *(const protobuf_c_boolean *) pj_field_cptr(
			    m, f->quantifier_offset);
		}
		if (set || !defaults) {
			return (set ? p : NULL);
		}
		if (f->default_value == NULL) {
			return (&zero);
		}
		/* A string's default_value is the text itself, not a
		 * pointer to a char *. */
		return (f->type == PROTOBUF_C_TYPE_STRING
		        ? (const void *) &f->default_value
		        : f->default_value);
	default:
		return (defaults || !value_is_zero(f->type, p) ? p : NULL);
	}
}

/* Sets obj[JSON name of proto_name] = v, taking v even on failure (as
 * json_object_set_new does). Returns 0 or -1. */
static int
set_by_json_name(json_t *obj, const char *proto_name, json_t *v)
{
	char   small[PJ_NAME_MAX];
	size_t len = strlen(proto_name);
	char  *name = len < sizeof(small) ? small : malloc(len + 1);
	int    rv;

	if (name == NULL) {
		json_decref(v);
		return (-1);
	}
	pj_json_name_write(proto_name, name);
	rv = json_object_set_new(obj, name, v);
	if (name != small) {
		free(name);
	}
	return (rv);
}

static json_t *
msg_to_json(const ProtobufCMessage *m, int flags, int depth)
{
	const ProtobufCMessageDescriptor *desc = m->descriptor;
	json_t                           *obj;

	if (depth > PBJSON_MAX_DEPTH) {
		return (NULL);
	}
	obj = json_object();
	if (obj == NULL) {
		return (NULL);
	}
	for (unsigned i = 0; i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &desc->fields[i];
		json_t                         *v;
		int                             rv;

		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *) pj_field_cptr(
			    m, f->quantifier_offset);

			if (n == 0 && (flags & PBJSON_EMIT_DEFAULTS) == 0) {
				continue;
			}
			v = pj_field_is_map(desc, f)
			    ? map_to_json(m, f, flags, depth)
			    : array_to_json(m, f, flags, depth);
		} else {
			const void *p = singular_value(m, f, flags);

			if (p == NULL) {
				continue;
			}
			v = value_to_json(f, p, flags, depth);
		}
		if (v == NULL) {
			json_decref(obj);
			return (NULL);
		}
		rv = (flags & PBJSON_ORIGINAL_NAMES) != 0
		    ? json_object_set_new(obj, f->name, v)
		    : set_by_json_name(obj, f->name, v);
		if (rv != 0) {
			json_decref(obj);
			return (NULL);
		}
	}
	return (obj);
}

json_t *
pbjson_from_message(const ProtobufCMessage *m, int flags)
{
	return (msg_to_json(m, flags, 1));
}
