/*
 * The proto3 JSON mapping, walked over protobuf-c descriptors so that no
 * message type needs code of its own. Printing reads each field through its
 * offset and type; parsing allocates the message and everything under it in
 * the caller's arena, so a failed parse leaves nothing to free and a good
 * one is freed with the rest of the call.
 *
 * The parser is strict where leniency would hide a client's mistake: an
 * unknown field, a number that does not fit its field, two members of one
 * oneof and a JSON type that does not match the field are refused with the
 * path of the field, because the gateway passes these messages straight to
 * handlers and a silently dropped or wrapped value is worse than a 400. It
 * follows Google's runtimes where they are lenient on form (both name
 * spellings, numbers in strings, both base64 alphabets, null as unset).
 * Nesting is bounded as wirecheck bounds it, so that neither direction
 * recurses more than PBJSON_MAX_DEPTH times whatever the input.
 */
#include "pbjson.h"

#include <float.h>
#include <inttypes.h>
#include <math.h> /* macros only: no libm needed */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

/* Room for the path of a field in an error; a longer one is cut short. */
#define PJ_PATH_MAX 256

/* JSON names up to this long are made on the stack, longer ones on the
 * heap. */
#define PJ_NAME_MAX 128

/* How much of a bad value an error message quotes. */
#define PJ_QUOTE_MAX 64

/* Room for any one value protobuf-c stores in a field or array element. */
union pj_value {
	int32_t             i32;
	uint32_t            u32;
	int64_t             i64;
	uint64_t            u64;
	float               f;
	double              d;
	protobuf_c_boolean  b;
	char               *s;
	ProtobufCBinaryData bytes;
	ProtobufCMessage   *msg;
};

/* State of one parse: where allocations go and where errors are reported. */
struct pj_parse {
	struct arena *a;
	char         *err;
	size_t        err_len;
	char          path[PJ_PATH_MAX]; /* "inner.child.n", "" at the top */
	size_t        path_len;
};

static const char b64_std[]
    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/*
 * Descriptors.
 */

static void *
field_ptr(ProtobufCMessage *m, unsigned offset)
{
	return ((char *) m + offset);
}

static const void *
field_cptr(const ProtobufCMessage *m, unsigned offset)
{
	return ((const char *) m + offset);
}

/* The size of one value of type t as protobuf-c stores it, which is also
 * the size of one element of a repeated field of that type. */
static size_t
value_size(ProtobufCType t)
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

/* The type's name in a .proto file, for error messages. */
static const char *
type_name(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
		return ("int32");
	case PROTOBUF_C_TYPE_SINT32:
		return ("sint32");
	case PROTOBUF_C_TYPE_SFIXED32:
		return ("sfixed32");
	case PROTOBUF_C_TYPE_INT64:
		return ("int64");
	case PROTOBUF_C_TYPE_SINT64:
		return ("sint64");
	case PROTOBUF_C_TYPE_SFIXED64:
		return ("sfixed64");
	case PROTOBUF_C_TYPE_UINT32:
		return ("uint32");
	case PROTOBUF_C_TYPE_FIXED32:
		return ("fixed32");
	case PROTOBUF_C_TYPE_UINT64:
		return ("uint64");
	case PROTOBUF_C_TYPE_FIXED64:
		return ("fixed64");
	case PROTOBUF_C_TYPE_FLOAT:
		return ("float");
	case PROTOBUF_C_TYPE_DOUBLE:
		return ("double");
	case PROTOBUF_C_TYPE_BOOL:
		return ("bool");
	case PROTOBUF_C_TYPE_ENUM:
		return ("enum");
	case PROTOBUF_C_TYPE_STRING:
		return ("string");
	case PROTOBUF_C_TYPE_BYTES:
		return ("bytes");
	case PROTOBUF_C_TYPE_MESSAGE:
		return ("message");
	}
	return ("?");
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

/*
 * Writes protoc's JSON name for the proto field name into out, which has
 * room for strlen(name) + 1 bytes: each underscore is dropped and the
 * character after it upper-cased. Like protoc, it leaves a leading capital
 * alone and does not lower-case anything.
 */
static void
json_name_write(const char *name, char *out)
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

/*
 * Says whether f, a field of parent, is a map. protoc-c 1.4.1 drops the
 * map_entry option, so this recognizes the entry message protoc makes: a
 * message nested in parent, named after the field, with exactly key = 1
 * of a key type and value = 2. A hand-written message of that very shape
 * is indistinguishable, and is printed as a map too.
 */
static bool
field_is_map(const ProtobufCMessageDescriptor *parent,
    const ProtobufCFieldDescriptor            *f)
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

/* The field of desc named key[0..len) in either spelling, or NULL. The JSON
 * name is tried first, as Google's parsers do. */
static const ProtobufCFieldDescriptor *
field_find(const ProtobufCMessageDescriptor *desc, const char *key, size_t len)
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

/* The field number of the set member of the oneof f belongs to, or 0. */
static uint32_t
oneof_case(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	uint32_t c;

	/* protobuf-c keeps the case as an int-sized enum. */
	memcpy(&c, field_cptr(m, f->quantifier_offset), sizeof(c));
	return (c);
}

/* The name of the field numbered id in desc, for error messages. */
static const char *
field_name_by_id(const ProtobufCMessageDescriptor *desc, uint32_t id)
{
	const ProtobufCFieldDescriptor *f
	    = protobuf_c_message_descriptor_get_field(desc, (unsigned) id);

	return (f != NULL ? f->name : "?");
}

/*
 * Records that f of m now holds a value: the oneof case for a oneof member,
 * the has_ flag for a proto2 optional scalar. Proto3 fields need nothing.
 */
static void
field_mark_set(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0) {
		uint32_t c = f->id;

		memcpy(field_ptr(m, f->quantifier_offset), &c, sizeof(c));
	} else if (f->label == PROTOBUF_C_LABEL_OPTIONAL
	    && f->type != PROTOBUF_C_TYPE_STRING
	    && f->type != PROTOBUF_C_TYPE_MESSAGE) {
		protobuf_c_boolean has = 1;

		memcpy(field_ptr(m, f->quantifier_offset), &has, sizeof(has));
	}
}

/*
 * Base64 (RFC 4648).
 */

/* The value of a base64 digit of either alphabet, or -1. */
static int
b64_digit(unsigned char c)
{
	if (c >= 'A' && c <= 'Z') {
		return (c - 'A');
	}
	if (c >= 'a' && c <= 'z') {
		return (c - 'a' + 26);
	}
	if (c >= '0' && c <= '9') {
		return (c - '0' + 52);
	}
	if (c == '+' || c == '-') {
		return (62);
	}
	if (c == '/' || c == '_') {
		return (63);
	}
	return (-1);
}

/* Encodes len bytes as standard padded base64 in a new malloc'ed string, or
 * returns NULL when memory is exhausted. */
static char *
b64_encode(const uint8_t *data, size_t len)
{
	char  *out;
	char  *o;
	size_t i;

	if (len > (SIZE_MAX - 1) / 4 * 3 - 2) {
		return (NULL);
	}
	out = malloc((len + 2) / 3 * 4 + 1);
	if (out == NULL) {
		return (NULL);
	}
	o = out;
	for (i = 0; i + 3 <= len; i += 3) {
		uint32_t w = (uint32_t) data[i] << 16
		    | (uint32_t) data[i + 1] << 8 | data[i + 2];

		*o++ = b64_std[w >> 18 & 63];
		*o++ = b64_std[w >> 12 & 63];
		*o++ = b64_std[w >> 6 & 63];
		*o++ = b64_std[w & 63];
	}
	if (len - i == 1) {
		uint32_t w = (uint32_t) data[i] << 16;

		*o++ = b64_std[w >> 18 & 63];
		*o++ = b64_std[w >> 12 & 63];
		*o++ = '=';
		*o++ = '=';
	} else if (len - i == 2) {
		uint32_t w
		    = (uint32_t) data[i] << 16 | (uint32_t) data[i + 1] << 8;

		*o++ = b64_std[w >> 18 & 63];
		*o++ = b64_std[w >> 12 & 63];
		*o++ = b64_std[w >> 6 & 63];
		*o++ = '=';
	}
	*o = '\0';
	return (out);
}

/*
 * Decodes base64 of either alphabet, padded or not, into a. Padding, when
 * present, must make the length a multiple of four; nothing else (no
 * whitespace) is allowed. Returns 0, -1 for bad base64, -2 when memory is
 * exhausted.
 */
static int
b64_decode(
    struct arena *a, const char *s, size_t len, ProtobufCBinaryData *out)
{
	size_t   n = len;
	size_t   out_len;
	uint8_t *data;
	uint8_t *o;
	uint32_t w = 0;
	unsigned bits = 0;

	if (n > 0 && s[n - 1] == '=') {
		n--;
		if (n > 0 && s[n - 1] == '=') {
			n--;
		}
		if (len % 4 != 0) {
			return (-1);
		}
	}
	if (n % 4 == 1) {
		return (-1);
	}
	out_len = n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
	if (out_len == 0) {
		out->len = 0;
		out->data = NULL;
		return (0);
	}
	data = arena_alloc(a, out_len);
	if (data == NULL) {
		return (-2);
	}
	o = data;
	for (size_t i = 0; i < n; i++) {
		int d = b64_digit((unsigned char) s[i]);

		if (d < 0) {
			return (-1);
		}
		w = w << 6 | (uint32_t) d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			*o++ = (uint8_t) (w >> bits);
		}
	}
	out->len = out_len;
	out->data = data;
	return (0);
}

/*
 * Message to JSON.
 */

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
		char                      *s = b64_encode(b->data, b->len);
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
	size_t n = *(const size_t *) field_cptr(m, f->quantifier_offset);
	ProtobufCMessage *const *entries
	    = *(ProtobufCMessage *const *const *) field_cptr(m, f->offset);
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
		    field_cptr(e, ed->fields[0].offset), buf, sizeof(buf));
		v = value_to_json(&ed->fields[1],
		    field_cptr(e, ed->fields[1].offset), flags, depth + 1);
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
	size_t      n = *(const size_t *) field_cptr(m, f->quantifier_offset);
	const char *elts = *(char *const *) field_cptr(m, f->offset);
	size_t      size = value_size(f->type);
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
		if (value_size(t) == sizeof(uint64_t)) {
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
	const void                 *p = field_cptr(m, f->offset);
	bool defaults = (flags & PBJSON_EMIT_DEFAULTS) != 0;
	bool set;

	if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0) {
		return (oneof_case(m, f) == f->id ? p : NULL);
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
			set = *(const protobuf_c_boolean *) field_cptr(
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
	json_name_write(proto_name, name);
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
			size_t n = *(const size_t *) field_cptr(
			    m, f->quantifier_offset);

			if (n == 0 && (flags & PBJSON_EMIT_DEFAULTS) == 0) {
				continue;
			}
			v = field_is_map(desc, f)
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

/*
 * JSON to message: errors.
 */

static int pj_fail(struct pj_parse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Writes "field \"<path>\": <message>" (the bare message at the top) into
 * the caller's err and returns -1, so that a failure is one statement. */
static int
pj_fail(struct pj_parse *p, const char *fmt, ...)
{
	char    msg[256];
	va_list ap;

	if (p->err_len == 0) {
		return (-1);
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->path_len > 0) {
		snprintf(p->err, p->err_len, "field \"%s\": %s", p->path, msg);
	} else {
		snprintf(p->err, p->err_len, "%s", msg);
	}
	return (-1);
}

/* The field at the current path does not exist. */
static int
pj_fail_unknown(struct pj_parse *p)
{
	if (p->err_len > 0) {
		snprintf(p->err, p->err_len, "unknown field \"%s\"", p->path);
	}
	return (-1);
}

static int
pj_fail_oom(struct pj_parse *p)
{
	if (p->err_len > 0) {
		snprintf(p->err, p->err_len, "out of memory");
	}
	return (-1);
}

static int pj_path_append(struct pj_parse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends to the path, cutting it short when it does not fit; returns the
 * length before, for pj_path_pop. */
static int
pj_path_append(struct pj_parse *p, const char *fmt, ...)
{
	size_t  old = p->path_len;
	va_list ap;
	int     n;

	va_start(ap, fmt);
	n = vsnprintf(p->path + old, sizeof(p->path) - old, fmt, ap);
	va_end(ap);
	if (n < 0) {
		p->path[old] = '\0';
	} else if ((size_t) n >= sizeof(p->path) - old) {
		p->path_len = sizeof(p->path) - 1;
	} else {
		p->path_len = old + (size_t) n;
	}
	return ((int) old);
}

/* A key's length as a printf precision: no name is anywhere near INT_MAX,
 * and the path is cut short long before. */
static int
pj_prec(size_t len)
{
	return (len > PJ_PATH_MAX ? PJ_PATH_MAX : (int) len);
}

/* Appends ".name" ("name" at the top) to the path. */
static int
pj_path_push_name(struct pj_parse *p, const char *name, size_t len)
{
	return (pj_path_append(
	    p, "%s%.*s", p->path_len > 0 ? "." : "", pj_prec(len), name));
}

static void
pj_path_pop(struct pj_parse *p, int old)
{
	p->path_len = (size_t) old;
	p->path[p->path_len] = '\0';
}

/* What a JSON value is, for "expected ..., got ..." errors. */
static const char *
json_type_text(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		return ("an object");
	case JSON_ARRAY:
		return ("an array");
	case JSON_STRING:
		return ("a string");
	case JSON_INTEGER:
	case JSON_REAL:
		return ("a number");
	case JSON_TRUE:
	case JSON_FALSE:
		return ("a boolean");
	case JSON_NULL:
		return ("null");
	}
	return ("?");
}

/* s[0..len) for quoting in an error, cut short with "..." when long. */
static const char *
quote_text(const char *s, size_t len, char *buf, size_t buf_len)
{
	if (len > PJ_QUOTE_MAX) {
		snprintf(buf, buf_len, "%.*s...", PJ_QUOTE_MAX, s);
	} else {
		snprintf(buf, buf_len, "%.*s", (int) len, s);
	}
	return (buf);
}

/* The shortest text that reads back as d, for error messages: "1.1"
 * rather than "1.1000000000000001". */
static const char *
double_text(double d, char *buf, size_t len)
{
	for (int prec = 15; prec < 17; prec++) {
		snprintf(buf, len, "%.*g", prec, d);
		if (strtod(buf, NULL) == d) {
			return (buf);
		}
	}
	snprintf(buf, len, "%.17g", d);
	return (buf);
}

/*
 * JSON to message: scalars.
 */

/* An integer as a sign and a magnitude: holds every value of every
 * protobuf integer type, and the magnitudes just beyond them. */
struct pj_int {
	bool     neg;
	uint64_t mag;
};

/*
 * Parses strict decimal: an optional '-' and at least one digit, nothing
 * else (no '+', no spaces, no exponent). Returns 0, -1 when s is not such
 * an integer, 1 when its magnitude does not fit 64 bits.
 */
static int
int_parse(const char *s, size_t len, struct pj_int *out)
{
	size_t   i = 0;
	uint64_t mag = 0;
	bool     over = false;

	out->neg = len > 0 && s[0] == '-';
	if (out->neg) {
		i = 1;
	}
	if (i == len) {
		return (-1);
	}
	for (; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9') {
			return (-1);
		}
		/* Read on after an overflow: "99999999999999999999x" is not
		 * a number at all, which is the better error. */
		d = (unsigned) (s[i] - '0');
		if (mag > (UINT64_MAX - d) / 10) {
			over = true;
		} else {
			mag = mag * 10 + d;
		}
	}
	out->mag = mag;
	return (over ? 1 : 0);
}

/*
 * Stores v at dst as type t (an integer type, or an enum, which is an
 * int32), or refuses it when it is out of t's range. text is the value as
 * the client wrote it, for the error.
 */
static int
int_store(struct pj_parse *p, ProtobufCType t, struct pj_int v,
    const char *text, void *dst)
{
	uint64_t max_pos;
	uint64_t max_neg;
	int64_t  s;

	switch (t) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		max_pos = INT64_MAX;
		max_neg = (uint64_t) INT64_MAX + 1;
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		max_pos = UINT32_MAX;
		max_neg = 0;
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		max_pos = UINT64_MAX;
		max_neg = 0;
		break;
	default:
		max_pos = INT32_MAX;
		max_neg = (uint64_t) INT32_MAX + 1;
		break;
	}
	if (v.mag > (v.neg ? max_neg : max_pos)) {
		return (pj_fail(
		    p, "%s is out of range for %s", text, type_name(t)));
	}
	/* -(mag - 1) - 1 reaches INT64_MIN without overflowing. */
	s = v.neg && v.mag > 0 ? -(int64_t) (v.mag - 1) - 1 : (int64_t) v.mag;
	switch (value_size(t)) {
	case sizeof(int64_t):
		if (max_neg == 0) {
			uint64_t u = v.mag;

			memcpy(dst, &u, sizeof(u));
		} else {
			memcpy(dst, &s, sizeof(s));
		}
		break;
	default:
		if (max_neg == 0) {
			uint32_t u = (uint32_t) v.mag;

			memcpy(dst, &u, sizeof(u));
		} else {
			int32_t i = (int32_t) s;

			memcpy(dst, &i, sizeof(i));
		}
		break;
	}
	return (0);
}

/* An integer field from the text of a string. */
static int
int_from_string(
    struct pj_parse *p, ProtobufCType t, const char *s, size_t len, void *dst)
{
	char          text[PJ_QUOTE_MAX + 8];
	struct pj_int v;

	quote_text(s, len, text, sizeof(text));
	switch (int_parse(s, len, &v)) {
	case -1:
		return (pj_fail(p, "\"%s\" is not an integer", text));
	case 1:
		return (pj_fail(
		    p, "%s is out of range for %s", text, type_name(t)));
	default:
		return (int_store(p, t, v, text, dst));
	}
}

/*
 * An integer field (or an enum given by number) from a JSON number or
 * string. A number with a fraction or exponent is taken when its value is
 * integral (1e3, 2.0), as Google's parsers take it.
 */
static int
int_from_json(struct pj_parse *p, ProtobufCType t, const json_t *j, void *dst)
{
	char          text[40];
	struct pj_int v;

	if (json_is_integer(j)) {
		json_int_t x = json_integer_value(j);

		v.neg = x < 0;
		v.mag = x < 0 ? (uint64_t) - (x + 1) + 1 : (uint64_t) x;
		snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT, x);
	} else if (json_is_real(j)) {
		double d = json_real_value(j);
		double mag = d < 0 ? -d : d;

		/* jansson holds only finite reals. Every double from 2^53 up
		 * is integral, so the range is checked first and the cast is
		 * always defined. */
		double_text(d, text, sizeof(text));
		if (mag >= 18446744073709551616.0) {
			return (pj_fail(p, "%s is out of range for %s", text,
			    type_name(t)));
		}
		v.neg = d < 0;
		v.mag = (uint64_t) mag;
		if ((double) v.mag != mag) {
			return (pj_fail(p, "%s is not an integer", text));
		}
	} else if (json_is_string(j)) {
		return (int_from_string(
		    p, t, json_string_value(j), json_string_length(j), dst));
	} else {
		return (pj_fail(
		    p, "expected a number, got %s", json_type_text(j)));
	}
	return (int_store(p, t, v, text, dst));
}

/* Skips ASCII digits from *i; returns how many. */
static size_t
skip_digits(const char *s, size_t len, size_t *i)
{
	size_t start = *i;

	while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
		(*i)++;
	}
	return (*i - start);
}

/* Says whether s[0..len) is a number by JSON's grammar (RFC 8259). */
static bool
number_syntax_ok(const char *s, size_t len)
{
	size_t i = 0;

	if (i < len && s[i] == '-') {
		i++;
	}
	if (i < len && s[i] == '0') {
		i++;
	} else if (skip_digits(s, len, &i) == 0) {
		return (false);
	}
	if (i < len && s[i] == '.') {
		i++;
		if (skip_digits(s, len, &i) == 0) {
			return (false);
		}
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-')) {
			i++;
		}
		if (skip_digits(s, len, &i) == 0) {
			return (false);
		}
	}
	return (i == len);
}

/*
 * Stores d as a float or a double. A finite double beyond FLT_MAX is out of
 * range for a float, but for those that round to FLT_MAX: 3.4028235e38,
 * the shortest text of FLT_MAX, is one of them.
 */
static int
float_store(
    struct pj_parse *p, ProtobufCType t, double d, const char *text, void *dst)
{
	/* Halfway between FLT_MAX and 2^128: from here on, rounding to
	 * float gives infinity. */
	const double limit = 0x1.ffffffp+127;
	float        f;

	if (t == PROTOBUF_C_TYPE_DOUBLE) {
		memcpy(dst, &d, sizeof(d));
		return (0);
	}
	if (isfinite(d) && (d > FLT_MAX || d < -FLT_MAX)) {
		if (d >= limit || d <= -limit) {
			return (
			    pj_fail(p, "%s is out of range for float", text));
		}
		/* Converting a value beyond the type's range is undefined:
		 * round by hand. */
		f = d > 0 ? FLT_MAX : -FLT_MAX;
	} else {
		f = (float) d;
	}
	memcpy(dst, &f, sizeof(f));
	return (0);
}

/* A float or double from text: "NaN", "Infinity", "-Infinity" or a
 * number by JSON's grammar. */
static int
float_from_string(
    struct pj_parse *p, ProtobufCType t, const char *s, size_t len, void *dst)
{
	char    text[PJ_QUOTE_MAX + 8];
	json_t *j;
	double  d;

	quote_text(s, len, text, sizeof(text));
	if (len == 3 && memcmp(s, "NaN", 3) == 0) {
		d = NAN;
	} else if (len == 8 && memcmp(s, "Infinity", 8) == 0) {
		d = INFINITY;
	} else if (len == 9 && memcmp(s, "-Infinity", 9) == 0) {
		d = -INFINITY;
	} else if (!number_syntax_ok(s, len)) {
		return (pj_fail(p, "\"%s\" is not a number", text));
	} else {
		/* jansson's parser rather than strtod, which reads the
		 * decimal point of the locale the CLI may have set. The
		 * syntax is checked, so only an overflow fails here. */
		j = json_loadb(
		    s, len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, NULL);
		if (j == NULL) {
			return (pj_fail(p, "%s is out of range for %s", text,
			    type_name(t)));
		}
		d = json_number_value(j);
		json_decref(j);
	}
	return (float_store(p, t, d, text, dst));
}

static int
float_from_json(
    struct pj_parse *p, ProtobufCType t, const json_t *j, void *dst)
{
	char text[40];

	if (json_is_string(j)) {
		return (float_from_string(
		    p, t, json_string_value(j), json_string_length(j), dst));
	}
	if (!json_is_number(j)) {
		return (pj_fail(
		    p, "expected a number, got %s", json_type_text(j)));
	}
	double_text(json_number_value(j), text, sizeof(text));
	return (float_store(p, t, json_number_value(j), text, dst));
}

/* An enum by value name or, as Google's parsers allow, by number: proto3
 * enums are open, so any int32 is taken. */
static int
enum_from_string(struct pj_parse *p, const ProtobufCFieldDescriptor *f,
    const char *s, size_t len, void *dst)
{
	const ProtobufCEnumDescriptor *ed = f->descriptor;
	const ProtobufCEnumValue      *ev = NULL;
	char                           text[PJ_QUOTE_MAX + 8];
	struct pj_int                  v;

	/* A name with a NUL in it names nothing. */
	if (strlen(s) == len) {
		ev = protobuf_c_enum_descriptor_get_value_by_name(ed, s);
	}
	if (ev != NULL) {
		int32_t x = ev->value;

		memcpy(dst, &x, sizeof(x));
		return (0);
	}
	quote_text(s, len, text, sizeof(text));
	if (int_parse(s, len, &v) >= 0) {
		return (int_store(p, PROTOBUF_C_TYPE_ENUM, v, text, dst));
	}
	return (
	    pj_fail(p, "\"%s\" is not a value of enum %s", text, ed->name));
}

static int
enum_from_json(struct pj_parse *p, const ProtobufCFieldDescriptor *f,
    const json_t *j, void *dst)
{
	if (json_is_string(j)) {
		return (enum_from_string(
		    p, f, json_string_value(j), json_string_length(j), dst));
	}
	if (json_is_number(j)) {
		return (int_from_json(p, PROTOBUF_C_TYPE_ENUM, j, dst));
	}
	return (pj_fail(
	    p, "expected an enum name or number, got %s", json_type_text(j)));
}

/*
 * A value of field f, of any type but message, from text: the text of a
 * JSON string, of a map key, or of a path or query parameter. Bools take
 * exactly "true" and "false" (JSON fields take only JSON booleans, which
 * never reach here).
 */
static int
scalar_from_string(struct pj_parse *p, const ProtobufCFieldDescriptor *f,
    const char *s, size_t len, void *dst)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		return (float_from_string(p, f->type, s, len, dst));
	case PROTOBUF_C_TYPE_BOOL: {
		protobuf_c_boolean b;

		if (len == 4 && memcmp(s, "true", 4) == 0) {
			b = 1;
		} else if (len == 5 && memcmp(s, "false", 5) == 0) {
			b = 0;
		} else {
			char text[PJ_QUOTE_MAX + 8];

			return (pj_fail(p, "\"%s\" is not true or false",
			    quote_text(s, len, text, sizeof(text))));
		}
		memcpy(dst, &b, sizeof(b));
		return (0);
	}
	case PROTOBUF_C_TYPE_ENUM:
		return (enum_from_string(p, f, s, len, dst));
	case PROTOBUF_C_TYPE_STRING: {
		char *c;

		/* jansson checks the UTF-8 of what it parses, but not of
		 * what a caller builds with json_stringn_nocheck, nor NULs,
		 * which would cut a C string short. */
		if (!utf8_valid(s, len)) {
			return (pj_fail(p,
			    "the string is not valid UTF-8 or holds a NUL"));
		}
		c = arena_strndup(p->a, s, len);
		if (c == NULL) {
			return (pj_fail_oom(p));
		}
		memcpy(dst, &c, sizeof(c));
		return (0);
	}
	case PROTOBUF_C_TYPE_BYTES: {
		ProtobufCBinaryData b;

		switch (b64_decode(p->a, s, len, &b)) {
		case -1:
			return (pj_fail(p, "the bytes are not valid base64"));
		case -2:
			return (pj_fail_oom(p));
		default:
			memcpy(dst, &b, sizeof(b));
			return (0);
		}
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		return (pj_fail(p, "a message cannot be set from a string"));
	default:
		return (int_from_string(p, f->type, s, len, dst));
	}
}

/*
 * JSON to message: fields and messages.
 */

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
		return (float_from_json(p, f->type, j, dst));
	case PROTOBUF_C_TYPE_BOOL: {
		protobuf_c_boolean b;

		if (!json_is_boolean(j)) {
			return (pj_fail(p, "expected true or false, got %s",
			    json_type_text(j)));
		}
		b = json_is_true(j);
		memcpy(dst, &b, sizeof(b));
		return (0);
	}
	case PROTOBUF_C_TYPE_ENUM:
		return (enum_from_json(p, f, j, dst));
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_BYTES:
		if (!json_is_string(j)) {
			return (pj_fail(p, "expected a string, got %s",
			    json_type_text(j)));
		}
		return (scalar_from_string(
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
		return (int_from_json(p, f->type, j, dst));
	}
}

/* A repeated field that is not a map, from a JSON array. */
static int
array_from_json(struct pj_parse *p, ProtobufCMessage *m,
    const ProtobufCFieldDescriptor *f, const json_t *j, int depth)
{
	size_t n = json_array_size(j);
	size_t size = value_size(f->type);
	char  *elts = NULL;

	if (!json_is_array(j)) {
		return (pj_fail(
		    p, "expected an array, got %s", json_type_text(j)));
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
	memcpy(field_ptr(m, f->quantifier_offset), &n, sizeof(n));
	memcpy(field_ptr(m, f->offset), &elts, sizeof(elts));
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
		    p, "expected an object, got %s", json_type_text(j)));
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
		if (scalar_from_string(
		        p, kf, key, klen, field_ptr(e, kf->offset))
		    != 0) {
			return (-1);
		}
		field_mark_set(e, kf);
		if (json_is_null(v)) {
			return (
			    pj_fail(p, "null is not allowed as a map value"));
		}
		if (value_from_json(
		        p, vf, v, field_ptr(e, vf->offset), depth + 1)
		    != 0) {
			return (-1);
		}
		field_mark_set(e, vf);
		entries[i++] = e;
		pj_path_pop(p, old);
	}
	memcpy(field_ptr(m, f->quantifier_offset), &i, sizeof(i));
	memcpy(field_ptr(m, f->offset), &entries, sizeof(entries));
	return (0);
}

/* Refuses setting f when another member of its oneof is set in m. */
static int
oneof_check(struct pj_parse *p, const ProtobufCMessage *m,
    const ProtobufCFieldDescriptor *f)
{
	uint32_t c;

	if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) == 0) {
		return (0);
	}
	c = oneof_case(m, f);
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
	if (oneof_check(p, m, f) != 0) {
		return (-1);
	}
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		return (field_is_map(m->descriptor, f)
		        ? map_from_json(p, m, f, j, depth)
		        : array_from_json(p, m, f, j, depth));
	}
	if (value_from_json(p, f, j, field_ptr(m, f->offset), depth) != 0) {
		return (-1);
	}
	field_mark_set(m, f);
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
		    p, "expected an object, got %s", json_type_text(j)));
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
		f = field_find(desc, key, klen);
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

/*
 * Fields from strings.
 */

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
		f = field_find(desc, seg, len);
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
			if (oneof_check(&p, chain[depth], f) != 0) {
				return (-1);
			}
			/* A oneof member's storage is shared: it holds this
			 * member only when the case says so. */
			if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) == 0
			    || oneof_case(chain[depth], f) == f->id) {
				memcpy(&chain[depth + 1],
				    field_cptr(chain[depth], f->offset),
				    sizeof(chain[depth + 1]));
			}
		}
		path[depth++] = f;
		desc = f->descriptor;
		seg = dot + 1;
	}
	if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
		return (pj_fail(&p, "a %s cannot be set from a string",
		    field_is_map(desc, f) ? "map" : "message"));
	}
	target = chain[depth];
	if (target != NULL && oneof_check(&p, target, f) != 0) {
		return (-1);
	}
	memset(&v, 0, sizeof(v));
	if (scalar_from_string(&p, f, value, strlen(value), &v) != 0) {
		return (-1);
	}

	/* Everything that can fail is done before m changes: the messages
	 * the name goes through that do not exist yet, and a grown array. */
	size = value_size(f->type);
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		const char *old = NULL;

		if (target != NULL) {
			n = *(const size_t *) field_cptr(
			    target, f->quantifier_offset);
			memcpy(
			    &old, field_cptr(target, f->offset), sizeof(old));
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
		memcpy(field_ptr(chain[i - 1], path[i - 1]->offset), &chain[i],
		    sizeof(chain[i]));
		field_mark_set(chain[i - 1], path[i - 1]);
	}
	target = chain[depth];
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		n++;
		memcpy(field_ptr(target, f->quantifier_offset), &n, sizeof(n));
		memcpy(field_ptr(target, f->offset), &grown, sizeof(grown));
	} else {
		memcpy(field_ptr(target, f->offset), &v, size);
		field_mark_set(target, f);
	}
	return (0);
}
