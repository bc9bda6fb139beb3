/*
 * Scalars of the proto3 JSON mapping from JSON values and from text:
 * integers (strict decimal or integral numbers, range-checked for the
 * field's type), floats and doubles (with "NaN" and the infinities), enums
 * by name or number, bools, strings and bytes. Text comes from JSON
 * strings, from map keys and from path and query parameters, and is read
 * the same way from all three.
 */
#include "pbjson_internal.h"

#include <float.h>
#include <math.h> /* macros only: no libm needed */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

/* How much of a bad value an error message quotes. */
#define PJ_QUOTE_MAX 64

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
	switch (pj_value_size(t)) {
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

int
pj_int_from_json(
    struct pj_parse *p, ProtobufCType t, const json_t *j, void *dst)
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
		    p, "expected a number, got %s", pj_json_type_text(j)));
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

int
pj_float_from_json(
    struct pj_parse *p, ProtobufCType t, const json_t *j, void *dst)
{
	char text[40];

	if (json_is_string(j)) {
		return (float_from_string(
		    p, t, json_string_value(j), json_string_length(j), dst));
	}
	if (!json_is_number(j)) {
		return (pj_fail(
		    p, "expected a number, got %s", pj_json_type_text(j)));
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

int
pj_enum_from_json(struct pj_parse *p, const ProtobufCFieldDescriptor *f,
    const json_t *j, void *dst)
{
	if (json_is_string(j)) {
		return (enum_from_string(
		    p, f, json_string_value(j), json_string_length(j), dst));
	}
	if (json_is_number(j)) {
		return (pj_int_from_json(p, PROTOBUF_C_TYPE_ENUM, j, dst));
	}
	return (pj_fail(p, "expected an enum name or number, got %s",
	    pj_json_type_text(j)));
}

int
pj_scalar_from_string(struct pj_parse *p, const ProtobufCFieldDescriptor *f,
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

		switch (pj_b64_decode(p->a, s, len, &b)) {
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
