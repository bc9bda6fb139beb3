/*
 * What both directions of the proto3 JSON mapping know of protobuf-c
 * descriptors: where a field is stored and how big its values are, the
 * JSON spelling of its name, which repeated fields are maps, and how a
 * oneof or proto2 optional field records that it is set.
 *
 * protobuf-c 1.4.1 descriptors carry neither a field's json_name nor the
 * map_entry option, so both are rebuilt here the way protoc builds them.
 */
#include "pbjson_internal.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

void *
pj_field_ptr(ProtobufCMessage *m, unsigned offset)
{
	return ((char *) m + offset);
}

const void *
pj_field_cptr(const ProtobufCMessage *m, unsigned offset)
{
	return ((const char *) m + offset);
}

size_t
pj_value_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_ENUM:
		return (sizeof(int32_t));
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return (sizeof(int64_t));
	case PROTOBUF_C_TYPE_FLOAT:
		return (sizeof(float));
	case PROTOBUF_C_TYPE_DOUBLE:
		return (sizeof(double));
	case PROTOBUF_C_TYPE_BOOL:
		return (sizeof(protobuf_c_boolean));
	case PROTOBUF_C_TYPE_STRING:
		return (sizeof(char *));
	case PROTOBUF_C_TYPE_BYTES:
		return (sizeof(ProtobufCBinaryData));
	case PROTOBUF_C_TYPE_MESSAGE:
		return (sizeof(ProtobufCMessage *));
	}
	return (0);
}

static bool
type_is_integer(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return (true);
	default:
		return (false);
	}
}

/* ASCII only: protoc's name rules ignore the locale, and so must we. */
static char
ascii_upper(char c)
{
	return (c >= 'a' && c <= 'z' ? (char) (c - 'a' + 'A') : c);
}

void
pj_json_name_write(const char *name, char *out)
{
	bool up = false;

	for (; *name != '\0'; name++) {
		if (*name == '_') {
			up = true;
			continue;
		}
		*out++ = up ? ascii_upper(*name) : *name;
		up = false;
	}
	*out = '\0';
}

/* Says whether key[0..len) is the JSON name of the proto field name. */
static bool
json_name_equals(const char *name, const char *key, size_t len)
{
	size_t i = 0;
	bool   up = false;

	for (; *name != '\0'; name++) {
		if (*name == '_') {
			up = true;
			continue;
		}
		if (i == len || key[i] != (up ? ascii_upper(*name) : *name)) {
			return (false);
		}
		i++;
		up = false;
	}
	return (i == len);
}

/*
 * Says whether entry is the name protoc gives the entry message of a map
 * field named field: the field name in UpperCamelCase, then "Entry"
 * ("by_id" -> "ByIdEntry").
 */
static bool
map_entry_name_equals(const char *field, const char *entry)
{
	bool up = true;

	for (; *field != '\0'; field++) {
		if (*field == '_') {
			up = true;
			continue;
		}
		if (*entry != (up ? ascii_upper(*field) : *field)) {
			return (false);
		}
		entry++;
		up = false;
	}
	return (strcmp(entry, "Entry") == 0);
}

bool
pj_field_is_map(const ProtobufCMessageDescriptor *parent,
    const ProtobufCFieldDescriptor               *f)
{
	const ProtobufCMessageDescriptor *e;
	const ProtobufCFieldDescriptor   *k;
	const ProtobufCFieldDescriptor   *v;
	size_t                            plen;

	if (f->label != PROTOBUF_C_LABEL_REPEATED
	    || f->type != PROTOBUF_C_TYPE_MESSAGE) {
		return (false);
	}
	e = f->descriptor;
	if (e->n_fields != 2) {
		return (false);
	}
	/* Fields are sorted by number. */
	k = &e->fields[0];
	v = &e->fields[1];
	if (k->id != 1 || strcmp(k->name, "key") != 0
	    || k->label == PROTOBUF_C_LABEL_REPEATED
	    || !(type_is_integer(k->type) || k->type == PROTOBUF_C_TYPE_BOOL
	        || k->type == PROTOBUF_C_TYPE_STRING)) {
		return (false);
	}
	if (v->id != 2 || strcmp(v->name, "value") != 0
	    || v->label == PROTOBUF_C_LABEL_REPEATED) {
		return (false);
	}
	plen = strlen(parent->name);
	if (strncmp(e->name, parent->name, plen) != 0
	    || e->name[plen] != '.') {
		return (false);
	}
	return (map_entry_name_equals(f->name, e->name + plen + 1));
}

const ProtobufCFieldDescriptor *
pj_field_find(
    const ProtobufCMessageDescriptor *desc, const char *key, size_t len)
{
	for (unsigned i = 0; i < desc->n_fields; i++) {
		if (json_name_equals(desc->fields[i].name, key, len)) {
			return (&desc->fields[i]);
		}
	}
	for (unsigned i = 0; i < desc->n_fields; i++) {
		const char *name = desc->fields[i].name;

		if (strlen(name) == len && memcmp(name, key, len) == 0) {
			return (&desc->fields[i]);
		}
	}
	return (NULL);
}

uint32_t
pj_oneof_case(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	uint32_t c;

	/* protobuf-c keeps the case as an int-sized enum. */
	memcpy(&c, pj_field_cptr(m, f->quantifier_offset), sizeof(c));
	return (c);
}

void
pj_field_mark_set(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0) {
		uint32_t c = f->id;

		memcpy(pj_field_ptr(m, f->quantifier_offset), &c, sizeof(c));
	} else if (f->label == PROTOBUF_C_LABEL_OPTIONAL
	    && f->type != PROTOBUF_C_TYPE_STRING
	    && f->type != PROTOBUF_C_TYPE_MESSAGE) {
		protobuf_c_boolean has = 1;

		memcpy(
		    pj_field_ptr(m, f->quantifier_offset), &has, sizeof(has));
	}
}
