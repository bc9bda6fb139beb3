/*
 * The proto3 JSON mapping, generic over ProtobufCMessageDescriptor: the CLI
 * prints replies with it (--json) and the HTTP gateway turns request bodies
 * and path and query parameters into messages and replies into JSON with
 * it. Nothing here is written per message type.
 *
 * protobuf-c 1.4.1 descriptors carry neither a field's json_name nor the
 * map_entry option, so both are rebuilt the way protoc builds them: the JSON
 * name is protoc's lowerCamelCase of the proto name (a json_name option in
 * a .proto is not honoured), and a repeated message field is a map when its
 * type is the nested message protoc makes for a map (named <FieldCamel>Entry
 * inside the field's message, exactly the fields key = 1 and value = 2).
 * The well-known types (Timestamp, Duration, wrappers, Struct, Any) get no
 * special mapping: opsbus does not use them.
 */
#ifndef OPSBUS_PBJSON_H
#define OPSBUS_PBJSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "arena.h"

/*
 * The deepest nesting of messages accepted or printed, counted as
 * wirecheck counts it (the top message is level 1, a map entry is a level):
 * the same as WIRECHECK_MAX_DEPTH, so that a message made from JSON packs
 * into bytes that wirecheck accepts.
 */
#define PBJSON_MAX_DEPTH 32

/* Flags of pbjson_from_message. */
/* Print every field, zero values included (proto3's "including default
 * values"); members of a oneof that are not set and message fields that
 * are not set are still left out, as Google's runtimes do. */
#define PBJSON_EMIT_DEFAULTS 0x1
/* Use the proto field names ("max_attempts") instead of lowerCamelCase
 * ("maxAttempts"). */
#define PBJSON_ORIGINAL_NAMES 0x2

/*
 * Returns m as a new JSON object (a new reference the caller decrefs), or
 * NULL when memory is exhausted, a string field holds invalid UTF-8, or m
 * nests deeper than PBJSON_MAX_DEPTH. Mapping: int64, uint64, sint64,
 * fixed64 and sfixed64 as decimal strings; other integers as numbers;
 * float and double as numbers, NaN and infinities as "NaN", "Infinity",
 * "-Infinity"; enums by value name (a value the enum does not name as a
 * number); bytes as standard base64 with padding; repeated fields as arrays;
 * maps as objects keyed by the key's text (last entry wins on duplicate
 * keys); messages as objects. Without PBJSON_EMIT_DEFAULTS, fields holding
 * their zero value are left out; a set oneof member is always printed.
 * Unknown fields kept by protobuf-c are not printed. m is not changed.
 */
json_t *pbjson_from_message(const ProtobufCMessage *m, int flags);

/*
 * Makes a message of type desc from json, a JSON object. Field names are
 * accepted in both spellings (lowerCamelCase and proto name); 64-bit and
 * other integers as numbers (integral values only) or decimal strings,
 * range-checked for the field's type; floats as numbers or strings, with
 * "NaN", "Infinity" and "-Infinity"; enums by name or number; bytes as
 * base64, standard or URL-safe, padded or not; null as "leave the field
 * unset". Refused, with -1 and a message naming the field path in err
 * ("field \"inner.n\": expected a number, got string"): an unknown field,
 * a field given twice (once in each spelling), a value of the wrong JSON
 * type, a number out of range, an unknown enum name, bad base64, two
 * members of one oneof, null inside an array or as a map value, a string
 * that is not UTF-8 or holds a NUL, and nesting deeper than
 * PBJSON_MAX_DEPTH.
 *
 * Everything is allocated in a: the caller frees nothing piece by piece,
 * and the message lives until the arena is reset. *out is written only on
 * success; on failure what was allocated stays in the arena until reset.
 * err (always NUL-terminated when err_len > 0) is written only on failure;
 * running out of memory is a failure too ("out of memory"). Returns 0 or
 * -1. Proto2 required fields are not checked.
 */
int pbjson_to_message(const ProtobufCMessageDescriptor *desc,
    const json_t *json, struct arena *a, ProtobufCMessage **out, char *err,
    size_t err_len);

/*
 * Sets one field of m from the text of a path or query parameter. name is
 * the field's name in either spelling, or a dotted path of them
 * ("job.max_attempts") through singular message fields, which are made in a
 * when they are not set. Scalars take the text as pbjson_to_message takes a
 * JSON string (integers as strict decimal, range-checked; floats with "NaN"
 * and the infinities; enums by name or number; bytes as base64), bools
 * take exactly "true" or "false", and a repeated scalar field gets value
 * appended. Maps and message fields cannot be set this way. Setting a
 * member of a oneof whose other member is set is refused.
 *
 * Strings, bytes, new messages and grown arrays are allocated in a; the
 * pointers they replace are not freed, so m should itself live in a (made
 * by pbjson_to_message, or unpacked with &a->pb). Returns 0, or -1 with
 * err saying why; on failure m is not changed.
 */
int pbjson_set_field_from_string(ProtobufCMessage *m, const char *name,
    const char *value, struct arena *a, char *err, size_t err_len);

#endif
