/*
 * What the files of the proto3 JSON mapping (common/pbjson_*.c) share; not
 * for use outside them, which see only pbjson.h.
 *
 * The mapping is walked over protobuf-c descriptors so that no message type
 * needs code of its own. Printing (pbjson_print.c) reads each field through
 * its offset and type; parsing (pbjson_parse.c, with its scalars in
 * pbjson_parse_scalar.c, its errors in pbjson_parse_error.c, and the setting
 * of one field from a string in pbjson_set_field.c) allocates the message
 * and everything under it in the caller's arena, so a failed parse leaves
 * nothing to free and a good one is freed with the rest of the call. What
 * both directions know of descriptors is in pbjson_fields.c, and the base64
 * of bytes fields in pbjson_base64.c. Nesting is bounded as wirecheck
 * bounds it, so that neither direction recurses more than PBJSON_MAX_DEPTH
 * times whatever the input.
 */
#ifndef OPSBUS_PBJSON_INTERNAL_H
#define OPSBUS_PBJSON_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pbjson.h"

/* Room for the path of a field in an error; a longer one is cut short. */
#define PJ_PATH_MAX 256

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

/*
 * Descriptors (pbjson_fields.c).
 */

/* Where the member at offset of m is: a field, or the count, has_ flag or
 * oneof case a field's quantifier_offset names. */
void       *pj_field_ptr(ProtobufCMessage *m, unsigned offset);
const void *pj_field_cptr(const ProtobufCMessage *m, unsigned offset);

/* The size of one value of type t as protobuf-c stores it, which is also
 * the size of one element of a repeated field of that type. */
size_t pj_value_size(ProtobufCType t);

/*
 * Writes protoc's JSON name for the proto field name into out, which has
 * room for strlen(name) + 1 bytes: each underscore is dropped and the
 * character after it upper-cased. Like protoc, it leaves a leading capital
 * alone and does not lower-case anything.
 */
void pj_json_name_write(const char *name, char *out);

/*
 * Says whether f, a field of parent, is a map. protoc-c 1.4.1 drops the
 * map_entry option, so this recognizes the entry message protoc makes: a
 * message nested in parent, named after the field, with exactly key = 1
 * of a key type and value = 2. A hand-written message of that very shape
 * is indistinguishable, and is printed as a map too.
 */
bool pj_field_is_map(const ProtobufCMessageDescriptor *parent,
    const ProtobufCFieldDescriptor                    *f);

/* The field of desc named key[0..len) in either spelling, or NULL. The JSON
 * name is tried first, as Google's parsers do. */
const ProtobufCFieldDescriptor *pj_field_find(
    const ProtobufCMessageDescriptor *desc, const char *key, size_t len);

/* The field number of the set member of the oneof f belongs to, or 0. */
uint32_t pj_oneof_case(
    const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f);

/*
 * Records that f of m now holds a value: the oneof case for a oneof member,
 * the has_ flag for a proto2 optional scalar. Proto3 fields need nothing.
 */
void pj_field_mark_set(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f);

/*
 * Base64, RFC 4648 (pbjson_base64.c).
 */

/* Encodes len bytes as standard padded base64 in a new malloc'ed string, or
 * returns NULL when memory is exhausted. */
char *pj_b64_encode(const uint8_t *data, size_t len);

/*
 * Decodes base64 of either alphabet, padded or not, into a. Padding, when
 * present, must make the length a multiple of four; nothing else (no
 * whitespace) is allowed. Returns 0, -1 for bad base64, -2 when memory is
 * exhausted.
 */
int pj_b64_decode(
    struct arena *a, const char *s, size_t len, ProtobufCBinaryData *out);

/*
 * Errors of a parse and the field path they name (pbjson_parse_error.c).
 */

/* Writes "field \"<path>\": <message>" (the bare message at the top) into
 * the caller's err and returns -1, so that a failure is one statement. */
int pj_fail(struct pj_parse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The field at the current path does not exist: writes "unknown field" and
 * the path into the caller's err and returns -1. */
int pj_fail_unknown(struct pj_parse *p);

/* Writes "out of memory" into the caller's err and returns -1. */
int pj_fail_oom(struct pj_parse *p);

/* Appends to the path, cutting it short when it does not fit; returns the
 * length before, for pj_path_pop. */
int pj_path_append(struct pj_parse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A key's length as a printf precision: no name is anywhere near INT_MAX,
 * and the path is cut short long before. */
int pj_prec(size_t len);

/* Appends ".name" ("name" at the top) to the path. */
int pj_path_push_name(struct pj_parse *p, const char *name, size_t len);

/* Cuts the path back to old, the length pj_path_append returned. */
void pj_path_pop(struct pj_parse *p, int old);

/* What a JSON value is, for "expected ..., got ..." errors. */
const char *pj_json_type_text(const json_t *j);

/*
 * Scalars from JSON and from text (pbjson_parse_scalar.c). Each stores the
 * value at dst, as protobuf-c stores a value of the field's type, and
 * returns 0, or -1 after pj_fail.
 */

/*
 * An integer field (or an enum given by number) from a JSON number or
 * string. A number with a fraction or exponent is taken when its value is
 * integral (1e3, 2.0), as Google's parsers take it.
 */
int pj_int_from_json(
    struct pj_parse *p, ProtobufCType t, const json_t *j, void *dst);

/* A float or double from a JSON number, or from a string as
 * pj_scalar_from_string takes it. */
int pj_float_from_json(
    struct pj_parse *p, ProtobufCType t, const json_t *j, void *dst);

/* An enum from a JSON string (a value name, or a number as text) or a JSON
 * number. */
int pj_enum_from_json(struct pj_parse *p, const ProtobufCFieldDescriptor *f,
    const json_t *j, void *dst);

/*
 * A value of field f, of any type but message, from text: the text of a
 * JSON string, of a map key, or of a path or query parameter. Bools take
 * exactly "true" and "false" (JSON fields take only JSON booleans, which
 * never reach here).
 */
int pj_scalar_from_string(struct pj_parse *p,
    const ProtobufCFieldDescriptor *f, const char *s, size_t len, void *dst);

/*
 * Messages from JSON (pbjson_parse.c).
 */

/* Refuses setting f when another member of its oneof is set in m. */
int pj_oneof_check(struct pj_parse *p, const ProtobufCMessage *m,
    const ProtobufCFieldDescriptor *f);

#endif
