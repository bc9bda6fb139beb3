/*
 * Unit tests of common/pbjson.h, the proto3 JSON transcoder, over the
 * test-only messages of tests/proto/pbjson_test.proto (generated into
 * tests/gen/): the printed form of every kind of field, round trips, and
 * each input the parser must refuse, with the message it refuses it with.
 * tests/interop/pbjson_python.sh checks the same mapping against Google's
 * Python runtime.
 */
#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "arena.h"
#include "pbjson.h"
#include "pbjson_proto2_test.pb-c.h"
#include "pbjson_test.pb-c.h"

typedef Opsbus__Test__AllTypes AllTypes;
typedef Opsbus__Test__Inner    Inner;

#define ALL_TYPES_DESC (&opsbus__test__all_types__descriptor)

/*
 * Asserts with a message that shows what was wanted and what came, which
 * bare CU_ASSERTs do not.
 */
static void check(int ok, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
check(int ok, unsigned line, const char *fmt, ...)
{
	char    msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	CU_assertImplementation(ok, line, msg, __FILE__, "", CU_FALSE);
}

#define CHECK(ok, ...) check((ok), __LINE__, __VA_ARGS__)

/* The compact text of j, in a static buffer, for messages. */
static const char *
dump(const json_t *j)
{
	static char buf[4096];
	char       *s;

	if (j == NULL) {
		return ("(null)");
	}
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	snprintf(buf, sizeof(buf), "%s", s != NULL ? s : "(dump failed)");
	free(s);
	return (buf);
}

/* Asserts that got (taken) equals the JSON text want. */
static void
check_json(json_t *got, const char *want, unsigned line)
{
	json_error_t e;
	json_t      *w = json_loads(want, JSON_DECODE_ANY, &e);

	if (w == NULL) {
		check(0, line, "bad JSON in the test: %s: %s", want, e.text);
	} else {
		check(json_equal(got, w), line, "got %s, want %s", dump(got),
		    want);
	}
	json_decref(w);
	json_decref(got);
}

#define CHECK_JSON(got, want) check_json((got), (want), __LINE__)

/* The compact JSON text of m, in dump's static buffer. */
static const char *
dump_msg(const ProtobufCMessage *m)
{
	json_t     *j = pbjson_from_message(m, 0);
	const char *s = dump(j);

	json_decref(j);
	return (s);
}

/* Parses text as an AllTypes in a; NULL (with err) when refused. */
static AllTypes *
parse_in(struct arena *a, const char *text, char *err, size_t err_len)
{
	json_error_t      e;
	json_t           *j = json_loads(text, JSON_DECODE_ANY, &e);
	ProtobufCMessage *m = NULL;

	if (j == NULL) {
		snprintf(err, err_len, "bad JSON in the test: %s", e.text);
		return (NULL);
	}
	if (pbjson_to_message(ALL_TYPES_DESC, j, a, &m, err, err_len) != 0) {
		m = NULL;
	}
	json_decref(j);
	return ((AllTypes *) m);
}

/* Asserts that text parses; returns the message or NULL. */
static AllTypes *
parse_ok(struct arena *a, const char *text, unsigned line)
{
	char      err[512] = "";
	AllTypes *m = parse_in(a, text, err, sizeof(err));

	check(m != NULL, line, "%s refused: %s", text, err);
	return (m);
}

#define PARSE_OK(a, text) parse_ok((a), (text), __LINE__)

/* Asserts that text is refused with exactly the error want. */
static void
refused(const char *text, const char *want, unsigned line)
{
	struct arena a;
	char         err[512] = "";

	arena_init(&a);
	if (parse_in(&a, text, err, sizeof(err)) != NULL) {
		check(
		    0, line, "%s accepted, want refused with: %s", text, want);
	} else {
		check(strcmp(err, want) == 0, line,
		    "%s: got error '%s', want '%s'", text, err, want);
	}
	arena_fini(&a);
}

#define REFUSED(text, want) refused((text), (want), __LINE__)

/* The packed bytes of m in a (protobuf-c packs in field order, so two
 * messages with equal content and map order pack equal). */
static ProtobufCBinaryData
packed(struct arena *a, const ProtobufCMessage *m)
{
	ProtobufCBinaryData b;

	b.len = protobuf_c_message_get_packed_size(m);
	b.data = arena_alloc(a, b.len);
	protobuf_c_message_pack(m, b.data);
	return (b);
}

static void
check_same_message(struct arena *a, const ProtobufCMessage *got,
    const ProtobufCMessage *want, unsigned line)
{
	ProtobufCBinaryData g = packed(a, got);
	ProtobufCBinaryData w = packed(a, want);

	char got_text[4096];

	if (g.len == w.len && memcmp(g.data, w.data, g.len) == 0) {
		check(1, line, "same message");
		return;
	}
	snprintf(got_text, sizeof(got_text), "%s", dump_msg(got));
	check(0, line,
	    "messages differ: %zu packed bytes, want %zu (%s vs %s)", g.len,
	    w.len, got_text, dump_msg(want));
}

#define CHECK_SAME_MESSAGE(a, got, want)                          \
	check_same_message((a), (const ProtobufCMessage *) (got), \
	    (const ProtobufCMessage *) (want), __LINE__)

/* Storage of the message fill_all makes. */
struct full {
	AllTypes                                 m;
	Inner                                    inner;
	Inner                                    inner_child;
	Inner                                    r_inner[2];
	Inner                                   *r_inner_p[2];
	Inner                                    choice_inner;
	int32_t                                  r_int32[3];
	int64_t                                  r_int64[2];
	uint64_t                                 r_uint64[2];
	float                                    r_float[2];
	double                                   r_double[3];
	protobuf_c_boolean                       r_bool[2];
	char                                    *r_string[3];
	ProtobufCBinaryData                      r_bytes[2];
	Opsbus__Test__Color                      r_color[3];
	int32_t                                  r_sint32[2];
	uint64_t                                 r_fixed64[1];
	uint8_t                                  all_bytes[256];
	Opsbus__Test__AllTypes__LabelsEntry      labels[2];
	Opsbus__Test__AllTypes__LabelsEntry     *labels_p[2];
	Opsbus__Test__AllTypes__ByIdEntry        by_id[2];
	Opsbus__Test__AllTypes__ByIdEntry       *by_id_p[2];
	Inner                                    by_id_value;
	Inner                                    by_id_empty;
	Opsbus__Test__AllTypes__ColorByIdEntry   color_by_id[1];
	Opsbus__Test__AllTypes__ColorByIdEntry  *color_by_id_p[1];
	Opsbus__Test__AllTypes__BlobByFlagEntry  blob_by_flag[2];
	Opsbus__Test__AllTypes__BlobByFlagEntry *blob_by_flag_p[2];
	Opsbus__Test__AllTypes__WeightByIdEntry  weight_by_id[1];
	Opsbus__Test__AllTypes__WeightByIdEntry *weight_by_id_p[1];
};

/* Sets every field of f->m to a value that is not its default, edge
 * values where a type has them. */
static void
fill_all(struct full *f)
{
	/* Arrays, not literals: protobuf-c's strings are char *. */
	static char text[] = "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9d\x84\x9e "
	                     "\"q\"\n\\";
	static char outer[] = "outer";
	static char inner[] = "inner";
	static char empty[] = "";
	static char a[] = "a";
	static char nihon[] = "\xe6\x97\xa5\xe6\x9c\xac";
	static char team[] = "team";
	static char ops[] = "ops";
	static char ete[] = "\xc3\xa9t\xc3\xa9";
	static char seven[] = "seven";
	static char x[] = "x";
	AllTypes   *m = &f->m;

	opsbus__test__all_types__init(m);
	m->f_int32 = INT32_MIN;
	m->f_int64 = INT64_MIN;
	m->f_uint32 = UINT32_MAX;
	m->f_uint64 = UINT64_MAX;
	m->f_sint32 = -7;
	m->f_sint64 = INT64_MAX;
	m->f_fixed32 = 4000000000u;
	m->f_fixed64 = 0x8000000000000000u;
	m->f_sfixed32 = INT32_MAX;
	m->f_sfixed64 = -1;
	m->f_float = 1.5f;
	m->f_double = -0.1;
	m->f_bool = 1;
	m->f_string = text;
	for (int i = 0; i < 256; i++) {
		f->all_bytes[i] = (uint8_t) i;
	}
	m->f_bytes.data = f->all_bytes;
	m->f_bytes.len = sizeof(f->all_bytes);
	m->color = OPSBUS__TEST__COLOR__COLOR_INFRARED;

	opsbus__test__inner__init(&f->inner);
	opsbus__test__inner__init(&f->inner_child);
	f->inner.n = 1;
	f->inner.label = outer;
	f->inner.child = &f->inner_child;
	f->inner_child.n = -2;
	f->inner_child.label = inner;
	m->inner = &f->inner;

	f->r_int32[0] = 0;
	f->r_int32[1] = -1;
	f->r_int32[2] = INT32_MAX;
	m->n_r_int32 = 3;
	m->r_int32 = f->r_int32;
	f->r_int64[0] = INT64_MAX;
	f->r_int64[1] = INT64_MIN;
	m->n_r_int64 = 2;
	m->r_int64 = f->r_int64;
	f->r_uint64[0] = 0;
	f->r_uint64[1] = UINT64_MAX;
	m->n_r_uint64 = 2;
	m->r_uint64 = f->r_uint64;
	f->r_float[0] = 0.1f;
	f->r_float[1] = -3.25e10f;
	m->n_r_float = 2;
	m->r_float = f->r_float;
	f->r_double[0] = 1e300;
	f->r_double[1] = 5e-324;
	f->r_double[2] = -0.0;
	m->n_r_double = 3;
	m->r_double = f->r_double;
	f->r_bool[0] = 1;
	f->r_bool[1] = 0;
	m->n_r_bool = 2;
	m->r_bool = f->r_bool;
	f->r_string[0] = empty;
	f->r_string[1] = a;
	f->r_string[2] = nihon;
	m->n_r_string = 3;
	m->r_string = f->r_string;
	f->r_bytes[0].data = NULL;
	f->r_bytes[0].len = 0;
	f->r_bytes[1].data = f->all_bytes + 250;
	f->r_bytes[1].len = 6;
	m->n_r_bytes = 2;
	m->r_bytes = f->r_bytes;
	f->r_color[0] = OPSBUS__TEST__COLOR__COLOR_RED;
	f->r_color[1] = OPSBUS__TEST__COLOR__COLOR_UNSPECIFIED;
	f->r_color[2] = OPSBUS__TEST__COLOR__COLOR_GREEN;
	m->n_r_color = 3;
	m->r_color = f->r_color;
	for (int i = 0; i < 2; i++) {
		opsbus__test__inner__init(&f->r_inner[i]);
		f->r_inner[i].n = i;
		f->r_inner_p[i] = &f->r_inner[i];
	}
	m->n_r_inner = 2;
	m->r_inner = f->r_inner_p;
	f->r_sint32[0] = INT32_MIN;
	f->r_sint32[1] = 5;
	m->n_r_sint32 = 2;
	m->r_sint32 = f->r_sint32;
	f->r_fixed64[0] = UINT64_MAX - 1;
	m->n_r_fixed64 = 1;
	m->r_fixed64 = f->r_fixed64;

	for (int i = 0; i < 2; i++) {
		opsbus__test__all_types__labels_entry__init(&f->labels[i]);
		f->labels_p[i] = &f->labels[i];
		opsbus__test__all_types__by_id_entry__init(&f->by_id[i]);
		f->by_id_p[i] = &f->by_id[i];
		opsbus__test__all_types__blob_by_flag_entry__init(
		    &f->blob_by_flag[i]);
		f->blob_by_flag_p[i] = &f->blob_by_flag[i];
	}
	f->labels[0].key = team;
	f->labels[0].value = ops;
	f->labels[1].key = ete;
	f->labels[1].value = empty;
	m->n_labels = 2;
	m->labels = f->labels_p;
	opsbus__test__inner__init(&f->by_id_value);
	f->by_id_value.label = seven;
	f->by_id[0].key = -7;
	f->by_id[0].value = &f->by_id_value;
	/* An unset map value packs differently from an empty one, which is
	 * what every parser makes; the printed form is the same. */
	opsbus__test__inner__init(&f->by_id_empty);
	f->by_id[1].key = 0;
	f->by_id[1].value = &f->by_id_empty;
	m->n_by_id = 2;
	m->by_id = f->by_id_p;
	opsbus__test__all_types__color_by_id_entry__init(&f->color_by_id[0]);
	f->color_by_id[0].key = INT64_MIN;
	f->color_by_id[0].value = OPSBUS__TEST__COLOR__COLOR_GREEN;
	f->color_by_id_p[0] = &f->color_by_id[0];
	m->n_color_by_id = 1;
	m->color_by_id = f->color_by_id_p;
	f->blob_by_flag[0].key = 1;
	f->blob_by_flag[0].value.data = f->all_bytes;
	f->blob_by_flag[0].value.len = 3;
	f->blob_by_flag[1].key = 0;
	m->n_blob_by_flag = 2;
	m->blob_by_flag = f->blob_by_flag_p;
	opsbus__test__all_types__weight_by_id_entry__init(&f->weight_by_id[0]);
	f->weight_by_id[0].key = UINT32_MAX;
	f->weight_by_id[0].value = 0.5;
	f->weight_by_id_p[0] = &f->weight_by_id[0];
	m->n_weight_by_id = 1;
	m->weight_by_id = f->weight_by_id_p;

	opsbus__test__inner__init(&f->choice_inner);
	f->choice_inner.n = 3;
	m->choice_case = OPSBUS__TEST__ALL_TYPES__CHOICE_CHOICE_INNER;
	m->choice_inner = &f->choice_inner;
	m->http_2_status = 200;
	m->already_camelcase = x;
}

/* Prints m with flags and parses the text back (through jansson's text,
 * as the gateway and CLI would). */
static AllTypes *
round_trip(struct arena *a, const AllTypes *m, int flags, unsigned line)
{
	json_t   *j = pbjson_from_message((const ProtobufCMessage *) m, flags);
	char     *text;
	AllTypes *back;

	check(j != NULL, line, "pbjson_from_message failed");
	if (j == NULL) {
		return (NULL);
	}
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	back = parse_ok(a, text, line);
	free(text);
	return (back);
}

static void
test_full_round_trip(void)
{
	struct arena a;
	struct full  f;
	AllTypes    *back;

	arena_init(&a);
	fill_all(&f);
	back = round_trip(&a, &f.m, 0, __LINE__);
	if (back != NULL) {
		CHECK_SAME_MESSAGE(&a, back, &f.m);
	}
	back = round_trip(&a, &f.m, PBJSON_ORIGINAL_NAMES, __LINE__);
	if (back != NULL) {
		CHECK_SAME_MESSAGE(&a, back, &f.m);
	}
	back = round_trip(&a, &f.m, PBJSON_EMIT_DEFAULTS, __LINE__);
	if (back != NULL) {
		CHECK_SAME_MESSAGE(&a, back, &f.m);
		/* Printing the parsed message gives the same text again. */
		CHECK_JSON(
		    pbjson_from_message(&back->base, 0), dump_msg(&f.m.base));
	}
	arena_fini(&a);
}

static void
test_printed_form(void)
{
	struct full f;
	json_t     *j;

	fill_all(&f);
	j = pbjson_from_message(&f.m.base, 0);
	CHECK_JSON(json_incref(json_object_get(j, "inner")),
	    "{\"n\":1,\"label\":\"outer\","
	    "\"child\":{\"n\":-2,\"label\":\"inner\"}}");
	CHECK_JSON(
	    json_incref(json_object_get(j, "color")), "\"COLOR_INFRARED\"");
	CHECK_JSON(json_incref(json_object_get(j, "rColor")),
	    "[\"COLOR_RED\",\"COLOR_UNSPECIFIED\",\"COLOR_GREEN\"]");
	CHECK_JSON(json_incref(json_object_get(j, "rBool")), "[true,false]");
	CHECK_JSON(
	    json_incref(json_object_get(j, "rFloat")), "[0.1,-32500000000.0]");
	CHECK_JSON(json_incref(json_object_get(j, "rString")),
	    "[\"\",\"a\",\"\xe6\x97\xa5\xe6\x9c\xac\"]");
	CHECK_JSON(json_incref(json_object_get(j, "labels")),
	    "{\"team\":\"ops\",\"\xc3\xa9t\xc3\xa9\":\"\"}");
	CHECK_JSON(json_incref(json_object_get(j, "byId")),
	    "{\"-7\":{\"label\":\"seven\"},\"0\":{}}");
	CHECK_JSON(json_incref(json_object_get(j, "colorById")),
	    "{\"-9223372036854775808\":\"COLOR_GREEN\"}");
	CHECK_JSON(json_incref(json_object_get(j, "blobByFlag")),
	    "{\"true\":\"AAEC\",\"false\":\"\"}");
	CHECK_JSON(json_incref(json_object_get(j, "weightById")),
	    "{\"4294967295\":0.5}");
	CHECK_JSON(
	    json_incref(json_object_get(j, "choiceInner")), "{\"n\":3}");
	CHECK_JSON(
	    json_incref(json_object_get(j, "rBytes")), "[\"\",\"+vv8/f7/\"]");
	CHECK(json_object_get(j, "choiceText") == NULL,
	    "an unset oneof member is printed");
	json_decref(j);

	/* A map entry without its message value prints an empty one. */
	f.by_id[1].value = NULL;
	j = pbjson_from_message(&f.m.base, 0);
	CHECK_JSON(json_incref(json_object_get(j, "byId")),
	    "{\"-7\":{\"label\":\"seven\"},\"0\":{}}");
	json_decref(j);
}

static void
test_int64_as_strings(void)
{
	struct arena a;
	struct full  f;
	AllTypes    *m;
	json_t      *j;

	arena_init(&a);
	fill_all(&f);
	j = pbjson_from_message(&f.m.base, 0);
	CHECK_JSON(json_incref(json_object_get(j, "fInt64")),
	    "\"-9223372036854775808\"");
	CHECK_JSON(json_incref(json_object_get(j, "fUint64")),
	    "\"18446744073709551615\"");
	CHECK_JSON(json_incref(json_object_get(j, "fSint64")),
	    "\"9223372036854775807\"");
	CHECK_JSON(json_incref(json_object_get(j, "fFixed64")),
	    "\"9223372036854775808\"");
	CHECK_JSON(json_incref(json_object_get(j, "fSfixed64")), "\"-1\"");
	CHECK_JSON(json_incref(json_object_get(j, "rInt64")),
	    "[\"9223372036854775807\",\"-9223372036854775808\"]");
	CHECK_JSON(json_incref(json_object_get(j, "rFixed64")),
	    "[\"18446744073709551614\"]");
	/* 32-bit integers are numbers. */
	CHECK_JSON(json_incref(json_object_get(j, "fInt32")), "-2147483648");
	CHECK_JSON(json_incref(json_object_get(j, "fUint32")), "4294967295");
	CHECK_JSON(json_incref(json_object_get(j, "fFixed32")), "4000000000");
	json_decref(j);

	/* Both forms are read: strings and numbers. */
	m = PARSE_OK(&a,
	    "{\"fInt64\":\"-9223372036854775808\","
	    "\"fUint64\":\"18446744073709551615\","
	    "\"fSint64\":9223372036854775807,\"fFixed64\":\"0\","
	    "\"fSfixed64\":-5,\"fInt32\":\"-2147483648\",\"fUint32\":1e3}");
	if (m != NULL) {
		CHECK(m->f_int64 == INT64_MIN, "fInt64 %" PRId64, m->f_int64);
		CHECK(m->f_uint64 == UINT64_MAX, "fUint64 %" PRIu64,
		    m->f_uint64);
		CHECK(
		    m->f_sint64 == INT64_MAX, "fSint64 %" PRId64, m->f_sint64);
		CHECK(
		    m->f_sfixed64 == -5, "fSfixed64 %" PRId64, m->f_sfixed64);
		CHECK(m->f_int32 == INT32_MIN, "fInt32 %" PRId32, m->f_int32);
		CHECK(m->f_uint32 == 1000, "fUint32 %" PRIu32, m->f_uint32);
	}
	arena_fini(&a);
}

static void
test_int32_out_of_range(void)
{
	struct arena a;

	REFUSED("{\"fInt32\":2147483648}",
	    "field \"fInt32\": 2147483648 is out of range for int32");
	REFUSED("{\"fInt32\":-2147483649}",
	    "field \"fInt32\": -2147483649 is out of range for int32");
	REFUSED("{\"fInt32\":\"4294967296\"}",
	    "field \"fInt32\": 4294967296 is out of range for int32");
	REFUSED("{\"fSint32\":4294967296.0}",
	    "field \"fSint32\": 4294967296 is out of range for sint32");
	REFUSED("{\"fUint32\":-1}",
	    "field \"fUint32\": -1 is out of range for uint32");
	REFUSED("{\"fUint32\":4294967296}",
	    "field \"fUint32\": 4294967296 is out of range for uint32");
	REFUSED("{\"fInt64\":\"9223372036854775808\"}",
	    "field \"fInt64\": 9223372036854775808 is out of range for int64");
	REFUSED("{\"fUint64\":\"18446744073709551616\"}",
	    "field \"fUint64\": 18446744073709551616 is out of range for "
	    "uint64");
	REFUSED("{\"fUint64\":\"-1\"}",
	    "field \"fUint64\": -1 is out of range for uint64");
	REFUSED("{\"rInt32\":[1,2,3e10]}",
	    "field \"rInt32[2]\": 30000000000 is out of range for int32");
	REFUSED("{\"fInt32\":1.5}", "field \"fInt32\": 1.5 is not an integer");
	REFUSED("{\"fInt32\":\"1.0\"}",
	    "field \"fInt32\": \"1.0\" is not an integer");
	REFUSED("{\"fInt32\":\" 1\"}",
	    "field \"fInt32\": \" 1\" is not an integer");
	REFUSED("{\"fInt32\":\"+1\"}",
	    "field \"fInt32\": \"+1\" is not an integer");
	REFUSED(
	    "{\"fInt32\":\"\"}", "field \"fInt32\": \"\" is not an integer");

	/* The limits themselves are taken. */
	arena_init(&a);
	{
		AllTypes *m = PARSE_OK(&a,
		    "{\"fInt32\":2147483647,\"fSfixed32\":-2147483648,"
		    "\"fUint32\":\"4294967295\",\"fInt64\":-0}");

		if (m != NULL) {
			CHECK(m->f_int32 == INT32_MAX, "%" PRId32, m->f_int32);
			CHECK(m->f_sfixed32 == INT32_MIN, "%" PRId32,
			    m->f_sfixed32);
			CHECK(m->f_uint32 == UINT32_MAX, "%" PRIu32,
			    m->f_uint32);
		}
	}
	arena_fini(&a);
}

static void
test_unknown_field(void)
{
	REFUSED("{\"nope\":1}", "unknown field \"nope\"");
	REFUSED("{\"fInt32\":1,\"inner\":{\"n\":1,\"x\":{}}}",
	    "unknown field \"inner.x\"");
	REFUSED("{\"rInner\":[{},{\"childx\":null}]}",
	    "unknown field \"rInner[1].childx\"");
	/* Names match exactly: no case folding. */
	REFUSED("{\"FInt32\":1}", "unknown field \"FInt32\"");
	REFUSED("{\"fint32\":1}", "unknown field \"fint32\"");
}

static void
test_both_spellings(void)
{
	struct arena a;
	AllTypes    *m;
	json_t      *j;

	arena_init(&a);
	m = PARSE_OK(&a,
	    "{\"f_int32\":1,\"fInt64\":\"2\",\"http_2_status\":3,"
	    "\"alreadyCamelCase\":\"x\",\"r_int32\":[4],\"color_by_id\":"
	    "{\"5\":\"COLOR_RED\"},\"choice_text\":\"t\"}");
	if (m != NULL) {
		CHECK(m->f_int32 == 1, "%" PRId32, m->f_int32);
		CHECK(m->f_int64 == 2, "%" PRId64, m->f_int64);
		CHECK(m->http_2_status == 3, "%" PRId32, m->http_2_status);
		CHECK(strcmp(m->already_camelcase, "x") == 0, "%s",
		    m->already_camelcase);
		CHECK(m->n_r_int32 == 1 && m->r_int32[0] == 4, "rInt32");
		CHECK(m->n_color_by_id == 1, "colorById");
		CHECK(m->choice_case
		        == OPSBUS__TEST__ALL_TYPES__CHOICE_CHOICE_TEXT,
		    "choice case %d", (int) m->choice_case);

		/* Printed names follow protoc's json_name. */
		j = pbjson_from_message(&m->base, 0);
		CHECK(json_object_get(j, "http2Status") != NULL
		        && json_object_get(j, "alreadyCamelCase") != NULL
		        && json_object_get(j, "colorById") != NULL,
		    "JSON names: %s", dump(j));
		json_decref(j);
		j = pbjson_from_message(&m->base, PBJSON_ORIGINAL_NAMES);
		CHECK(json_object_get(j, "http_2_status") != NULL
		        && json_object_get(j, "already_camelCase") != NULL
		        && json_object_get(j, "color_by_id") != NULL
		        && json_object_get(j, "f_int32") != NULL,
		    "original names: %s", dump(j));
		json_decref(j);
	}
	m = PARSE_OK(&a, "{\"http2Status\":7,\"already_camelCase\":\"y\"}");
	if (m != NULL) {
		CHECK(m->http_2_status == 7, "%" PRId32, m->http_2_status);
		CHECK(strcmp(m->already_camelcase, "y") == 0, "%s",
		    m->already_camelcase);
	}
	arena_fini(&a);

	REFUSED("{\"fInt32\":1,\"f_int32\":2}",
	    "field \"f_int32\": the field is given twice");
	REFUSED("{\"f_int32\":null,\"fInt32\":2}",
	    "field \"fInt32\": the field is given twice");
}

static void
test_wrong_type(void)
{
	REFUSED("{\"inner\":{\"n\":\"x\"}}",
	    "field \"inner.n\": \"x\" is not an integer");
	REFUSED("{\"inner\":{\"label\":5}}",
	    "field \"inner.label\": expected a string, got a number");
	REFUSED("{\"rInner\":[{},{\"n\":true}]}",
	    "field \"rInner[1].n\": expected a number, got a boolean");
	REFUSED("{\"inner\":{\"child\":{\"child\":[]}}}",
	    "field \"inner.child.child\": expected an object, got an array");
	REFUSED("{\"fBool\":\"true\"}",
	    "field \"fBool\": expected true or false, got a string");
	REFUSED("{\"fBool\":1}",
	    "field \"fBool\": expected true or false, got a number");
	REFUSED("{\"fString\":{}}",
	    "field \"fString\": expected a string, got an object");
	REFUSED("{\"fDouble\":[1]}",
	    "field \"fDouble\": expected a number, got an array");
	REFUSED("{\"color\":true}",
	    "field \"color\": expected an enum name or number, got a boolean");
	REFUSED("{\"rInt32\":5}",
	    "field \"rInt32\": expected an array, got a number");
	REFUSED("{\"labels\":[]}",
	    "field \"labels\": expected an object, got an array");
	REFUSED("{\"labels\":{\"a\":1}}",
	    "field \"labels[a]\": expected a string, got a number");
	REFUSED("{\"byId\":{\"7\":{\"n\":\"q\"}}}",
	    "field \"byId[7].n\": \"q\" is not an integer");
	REFUSED("{\"byId\":{\"seven\":{}}}",
	    "field \"byId[seven]\": \"seven\" is not an integer");
	REFUSED("{\"byId\":{\"2147483648\":{}}}",
	    "field \"byId[2147483648]\": 2147483648 is out of range for "
	    "int32");
	REFUSED("{\"blobByFlag\":{\"yes\":\"\"}}",
	    "field \"blobByFlag[yes]\": \"yes\" is not true or false");
	REFUSED("[]", "expected an object, got an array");
	REFUSED("null", "expected an object, got null");
}

static void
test_enums(void)
{
	struct arena a;
	AllTypes    *m;

	arena_init(&a);
	m = PARSE_OK(&a,
	    "{\"color\":\"COLOR_GREEN\",\"rColor\":[\"COLOR_RED\",2,\"-3\","
	    "99,\"COLOR_INFRARED\"],\"colorById\":{\"1\":1}}");
	if (m != NULL) {
		CHECK(m->color == OPSBUS__TEST__COLOR__COLOR_GREEN, "%d",
		    (int) m->color);
		CHECK(m->n_r_color == 5
		        && m->r_color[0] == OPSBUS__TEST__COLOR__COLOR_RED
		        && m->r_color[1] == OPSBUS__TEST__COLOR__COLOR_GREEN
		        && m->r_color[2] == OPSBUS__TEST__COLOR__COLOR_INFRARED
		        && (int) m->r_color[3] == 99
		        && m->r_color[4]
		            == OPSBUS__TEST__COLOR__COLOR_INFRARED,
		    "rColor");
		CHECK(m->n_color_by_id == 1
		        && m->color_by_id[0]->value
		            == OPSBUS__TEST__COLOR__COLOR_RED,
		    "colorById");
		/* Printed by name, and an unnamed value by number. */
		CHECK_JSON(pbjson_from_message(&m->base, 0),
		    "{\"color\":\"COLOR_GREEN\",\"rColor\":[\"COLOR_RED\","
		    "\"COLOR_GREEN\",\"COLOR_INFRARED\",99,\"COLOR_INFRARED\"]"
		    ","
		    "\"colorById\":{\"1\":\"COLOR_RED\"}}");
	}
	arena_fini(&a);

	REFUSED("{\"color\":\"PURPLE\"}",
	    "field \"color\": \"PURPLE\" is not a value of enum "
	    "opsbus.test.Color");
	REFUSED("{\"color\":\"color_red\"}",
	    "field \"color\": \"color_red\" is not a value of enum "
	    "opsbus.test.Color");
	REFUSED("{\"color\":2147483648}",
	    "field \"color\": 2147483648 is out of range for enum");
	REFUSED("{\"color\":1.5}", "field \"color\": 1.5 is not an integer");
}

static void
test_bytes_base64(void)
{
	struct arena  a;
	const uint8_t want[] = {0xfb, 0xff, 0xbf};
	const char   *forms[] = {"+/+/", "-_-_", "+_-/"};
	AllTypes     *m;
	char          text[128];

	arena_init(&a);
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		snprintf(text, sizeof(text), "{\"fBytes\":\"%s\"}", forms[i]);
		m = PARSE_OK(&a, text);
		if (m != NULL) {
			CHECK(m->f_bytes.len == 3
			        && memcmp(m->f_bytes.data, want, 3) == 0,
			    "%s", forms[i]);
		}
	}
	/* Two bytes: padded, unpadded, both alphabets; printed standard and
	 * padded. */
	m = PARSE_OK(&a,
	    "{\"rBytes\":[\"+/8=\",\"+/8\",\"-_8=\",\"-_8\",\"\","
	    "\"QQ==\",\"QQ\"]}");
	if (m != NULL) {
		CHECK(m->n_r_bytes == 7, "%zu", m->n_r_bytes);
		for (size_t i = 0; i < 4 && i < m->n_r_bytes; i++) {
			CHECK(m->r_bytes[i].len == 2
			        && m->r_bytes[i].data[0] == 0xfb
			        && m->r_bytes[i].data[1] == 0xff,
			    "element %zu", i);
		}
		CHECK_JSON(pbjson_from_message(&m->base, 0),
		    "{\"rBytes\":[\"+/8=\",\"+/8=\",\"+/8=\",\"+/8=\",\"\","
		    "\"QQ==\",\"QQ==\"]}");
	}
	arena_fini(&a);

	REFUSED("{\"fBytes\":\"QUJD=\"}",
	    "field \"fBytes\": the bytes are not valid base64");
	REFUSED("{\"fBytes\":\"Q\"}",
	    "field \"fBytes\": the bytes are not valid base64");
	REFUSED("{\"fBytes\":\"QU J\"}",
	    "field \"fBytes\": the bytes are not valid base64");
	REFUSED("{\"fBytes\":\"Q===\"}",
	    "field \"fBytes\": the bytes are not valid base64");
	REFUSED("{\"fBytes\":\"QQ=A\"}",
	    "field \"fBytes\": the bytes are not valid base64");
}

static void
test_null_is_unset(void)
{
	struct arena a;
	AllTypes    *m;
	AllTypes     empty = OPSBUS__TEST__ALL_TYPES__INIT;

	arena_init(&a);
	m = PARSE_OK(&a,
	    "{\"fInt32\":null,\"fString\":null,\"fBytes\":null,"
	    "\"inner\":null,\"rInt32\":null,\"labels\":null,\"color\":null,"
	    "\"choiceText\":null,\"choiceInner\":null,\"fDouble\":null}");
	if (m != NULL) {
		CHECK_SAME_MESSAGE(&a, m, &empty);
		CHECK(m->inner == NULL, "inner is set");
		CHECK(
		    m->choice_case == OPSBUS__TEST__ALL_TYPES__CHOICE__NOT_SET,
		    "choice case %d", (int) m->choice_case);
	}
	/* A null member does not claim its oneof. */
	m = PARSE_OK(&a, "{\"choiceText\":null,\"choiceNumber\":\"4\"}");
	if (m != NULL) {
		CHECK(m->choice_case
		            == OPSBUS__TEST__ALL_TYPES__CHOICE_CHOICE_NUMBER
		        && m->choice_number == 4,
		    "choice case %d", (int) m->choice_case);
	}
	arena_fini(&a);

	REFUSED("{\"rInt32\":[1,null]}",
	    "field \"rInt32[1]\": null is not allowed in an array");
	REFUSED("{\"rInner\":[null]}",
	    "field \"rInner[0]\": null is not allowed in an array");
	REFUSED("{\"labels\":{\"a\":null}}",
	    "field \"labels[a]\": null is not allowed as a map value");
}

static void
test_oneof_conflict(void)
{
	struct arena a;
	AllTypes    *m;

	REFUSED("{\"choiceText\":\"a\",\"choiceNumber\":\"1\"}",
	    "field \"choiceNumber\": another member of its oneof "
	    "(\"choice_text\") is already set");
	REFUSED("{\"choiceInner\":{},\"choice_flag\":false}",
	    "field \"choice_flag\": another member of its oneof "
	    "(\"choice_inner\") is already set");

	/* A member set to its zero value is set, and printed. */
	arena_init(&a);
	m = PARSE_OK(&a, "{\"choiceNumber\":0}");
	if (m != NULL) {
		CHECK(m->choice_case
		        == OPSBUS__TEST__ALL_TYPES__CHOICE_CHOICE_NUMBER,
		    "choice case %d", (int) m->choice_case);
		CHECK_JSON(pbjson_from_message(&m->base, 0),
		    "{\"choiceNumber\":\"0\"}");
	}
	m = PARSE_OK(&a, "{\"choiceInner\":{}}");
	if (m != NULL) {
		CHECK_JSON(
		    pbjson_from_message(&m->base, 0), "{\"choiceInner\":{}}");
	}
	arena_fini(&a);
}

/*
 * head, then an Inner of children + 1 levels ({"child":{"child":{}}} for
 * two children), then tail, in a new malloc'ed string.
 */
static char *
nested_text(const char *head, int children, const char *tail)
{
	size_t len = strlen(head) + strlen(tail) + (size_t) children * 10 + 3;
	char  *s = malloc(len);
	size_t o = 0;

	o += (size_t) snprintf(s + o, len - o, "%s", head);
	for (int i = 0; i < children; i++) {
		o += (size_t) snprintf(s + o, len - o, "{\"child\":");
	}
	o += (size_t) snprintf(s + o, len - o, "{}");
	for (int i = 0; i < children; i++) {
		s[o++] = '}';
	}
	snprintf(s + o, len - o, "%s", tail);
	return (s);
}

/* Parses head, an Inner with children children, and tail; says whether
 * it was refused for its depth. */
static int
too_deep(const char *head, int children, const char *tail, unsigned line)
{
	struct arena a;
	char         err[512] = "";
	char        *text = nested_text(head, children, tail);
	AllTypes    *m;
	int          deep;

	arena_init(&a);
	m = parse_in(&a, text, err, sizeof(err));
	deep = m == NULL
	    && strstr(err, "nested deeper than 32 messages") != NULL;
	check(m != NULL || deep, line, "refused for another reason: %s", err);
	if (m != NULL) {
		/* What was accepted prints again. */
		json_t *j = pbjson_from_message(&m->base, 0);

		check(j != NULL, line, "an accepted message does not print");
		json_decref(j);
	}
	free(text);
	arena_fini(&a);
	return (deep);
}

static void
test_deep_nesting(void)
{
	Inner    chain[PBJSON_MAX_DEPTH];
	AllTypes top = OPSBUS__TEST__ALL_TYPES__INIT;
	json_t  *j;

	/* The top message is level 1, inner level 2, its children after. */
	CHECK(!too_deep("{\"inner\":", PBJSON_MAX_DEPTH - 2, "}", __LINE__),
	    "%d levels refused", PBJSON_MAX_DEPTH);
	CHECK(too_deep("{\"inner\":", PBJSON_MAX_DEPTH - 1, "}", __LINE__),
	    "%d levels accepted", PBJSON_MAX_DEPTH + 1);
	/* A map entry is a level, as on the wire. */
	CHECK(!too_deep(
	          "{\"byId\":{\"1\":", PBJSON_MAX_DEPTH - 3, "}}", __LINE__),
	    "%d levels through a map refused", PBJSON_MAX_DEPTH);
	CHECK(too_deep(
	          "{\"byId\":{\"1\":", PBJSON_MAX_DEPTH - 2, "}}", __LINE__),
	    "%d levels through a map accepted", PBJSON_MAX_DEPTH + 1);
	/* So is a repeated message's element. */
	CHECK(too_deep("{\"rInner\":[", PBJSON_MAX_DEPTH - 1, "]}", __LINE__),
	    "%d levels through an array accepted", PBJSON_MAX_DEPTH + 1);

	/* Printing stops at the limit too, whatever the message holds. */
	for (int i = 0; i < PBJSON_MAX_DEPTH; i++) {
		opsbus__test__inner__init(&chain[i]);
		chain[i].child
		    = i + 1 < PBJSON_MAX_DEPTH ? &chain[i + 1] : NULL;
	}
	top.inner = &chain[0];
	j = pbjson_from_message(&top.base, 0);
	CHECK(j == NULL, "a message of %d levels was printed",
	    PBJSON_MAX_DEPTH + 1);
	json_decref(j);
	chain[PBJSON_MAX_DEPTH - 2].child = NULL;
	j = pbjson_from_message(&top.base, 0);
	CHECK(j != NULL, "a message of %d levels was not printed",
	    PBJSON_MAX_DEPTH);
	json_decref(j);
}

static void
test_defaults(void)
{
	AllTypes m = OPSBUS__TEST__ALL_TYPES__INIT;

	CHECK_JSON(pbjson_from_message(&m.base, 0), "{}");
	CHECK_JSON(pbjson_from_message(&m.base, PBJSON_EMIT_DEFAULTS),
	    "{\"fInt32\":0,\"fInt64\":\"0\",\"fUint32\":0,\"fUint64\":\"0\","
	    "\"fSint32\":0,\"fSint64\":\"0\",\"fFixed32\":0,"
	    "\"fFixed64\":\"0\",\"fSfixed32\":0,\"fSfixed64\":\"0\","
	    "\"fFloat\":0.0,\"fDouble\":0.0,\"fBool\":false,\"fString\":\"\","
	    "\"fBytes\":\"\",\"color\":\"COLOR_UNSPECIFIED\",\"rInt32\":[],"
	    "\"rInt64\":[],\"rUint64\":[],\"rFloat\":[],\"rDouble\":[],"
	    "\"rBool\":[],\"rString\":[],\"rBytes\":[],\"rColor\":[],"
	    "\"rInner\":[],\"rSint32\":[],\"rFixed64\":[],\"labels\":{},"
	    "\"byId\":{},\"colorById\":{},\"blobByFlag\":{},"
	    "\"weightById\":{},\"http2Status\":0,\"alreadyCamelCase\":\"\"}");
	m.f_double = -0.0;
	CHECK_JSON(pbjson_from_message(&m.base, 0), "{\"fDouble\":-0.0}");
}

static void
test_float_specials(void)
{
	struct arena a;
	AllTypes     m = OPSBUS__TEST__ALL_TYPES__INIT;
	AllTypes    *back;
	double       r[3] = {NAN, INFINITY, -INFINITY};

	m.f_float = NAN;
	m.f_double = -INFINITY;
	m.n_r_double = 3;
	m.r_double = r;
	CHECK_JSON(pbjson_from_message(&m.base, 0),
	    "{\"fFloat\":\"NaN\",\"fDouble\":\"-Infinity\","
	    "\"rDouble\":[\"NaN\",\"Infinity\",\"-Infinity\"]}");

	arena_init(&a);
	back = PARSE_OK(&a,
	    "{\"fFloat\":\"Infinity\",\"fDouble\":\"NaN\","
	    "\"rDouble\":[\"-Infinity\",\"1.5\",\"-2e-3\",7],"
	    "\"rFloat\":[3.4028235e38,\"-3.4028235e38\",1e-50]}");
	if (back != NULL) {
		CHECK(isinf(back->f_float) && back->f_float > 0, "%g",
		    (double) back->f_float);
		CHECK(isnan(back->f_double), "%g", back->f_double);
		CHECK(back->n_r_double == 4 && isinf(back->r_double[0])
		        && back->r_double[1] == 1.5
		        && back->r_double[2] == -2e-3
		        && back->r_double[3] == 7,
		    "rDouble");
		/* The shortest text of FLT_MAX lies just above it. */
		CHECK(back->n_r_float == 3 && back->r_float[0] == FLT_MAX
		        && back->r_float[1] == -FLT_MAX
		        && back->r_float[2] == 0,
		    "rFloat");
	}
	arena_fini(&a);

	REFUSED("{\"fFloat\":3.5e38}",
	    "field \"fFloat\": 3.5e+38 is out of range for float");
	REFUSED("{\"fInt32\":1.1}", "field \"fInt32\": 1.1 is not an integer");
	REFUSED("{\"fDouble\":\"1e400\"}",
	    "field \"fDouble\": 1e400 is out of range for double");
	REFUSED("{\"fDouble\":\"nan\"}",
	    "field \"fDouble\": \"nan\" is not a number");
	REFUSED("{\"fDouble\":\"0x10\"}",
	    "field \"fDouble\": \"0x10\" is not a number");
	REFUSED("{\"fDouble\":\" 1\"}",
	    "field \"fDouble\": \" 1\" is not a number");
}

static void
test_bad_strings(void)
{
	struct arena      a;
	ProtobufCMessage *m = NULL;
	char              err[256] = "";
	json_t           *j;
	AllTypes          bad = OPSBUS__TEST__ALL_TYPES__INIT;
	static char       invalid[] = "\xff";

	arena_init(&a);
	j = json_pack("{s:s%}", "fString", "a\0b", (size_t) 3);
	CHECK(pbjson_to_message(ALL_TYPES_DESC, j, &a, &m, err, sizeof(err))
	            == -1
	        && strcmp(err,
	               "field \"fString\": the string is not valid "
	               "UTF-8 or holds a NUL")
	            == 0,
	    "NUL: %s", err);
	json_decref(j);
	j = json_object();
	json_object_set_new(j, "rString",
	    json_pack("[o]", json_stringn_nocheck("\xc0\xaf", 2)));
	CHECK(pbjson_to_message(ALL_TYPES_DESC, j, &a, &m, err, sizeof(err))
	            == -1
	        && strcmp(err,
	               "field \"rString[0]\": the string is not valid "
	               "UTF-8 or holds a NUL")
	            == 0,
	    "overlong: %s", err);
	json_decref(j);
	CHECK(m == NULL, "out was written on failure");
	arena_fini(&a);

	/* Printing refuses it too, rather than print something else. */
	bad.f_string = invalid;
	CHECK(pbjson_from_message(&bad.base, 0) == NULL,
	    "invalid UTF-8 printed");
}

/* Sets name=value in m, asserting success. */
static void
set_ok(struct arena *a, AllTypes *m, const char *name, const char *value,
    unsigned line)
{
	char err[256] = "";

	check(pbjson_set_field_from_string(
	          &m->base, name, value, a, err, sizeof(err))
	        == 0,
	    line, "%s=%s refused: %s", name, value, err);
}

#define SET_OK(a, m, name, value) set_ok((a), (m), (name), (value), __LINE__)

static void
test_set_field(void)
{
	struct arena a;
	AllTypes    *m;

	arena_init(&a);
	m = PARSE_OK(&a, "{\"rInt32\":[1]}");
	if (m == NULL) {
		arena_fini(&a);
		return;
	}
	SET_OK(&a, m, "f_int32", "-42");
	SET_OK(&a, m, "fInt64", "-9223372036854775808");
	SET_OK(&a, m, "f_uint64", "18446744073709551615");
	SET_OK(&a, m, "fBool", "true");
	SET_OK(&a, m, "f_double", "Infinity");
	SET_OK(&a, m, "fFloat", "0.25");
	SET_OK(&a, m, "color", "COLOR_RED");
	SET_OK(&a, m, "rColor", "2");
	SET_OK(&a, m, "rColor", "COLOR_INFRARED");
	SET_OK(&a, m, "r_int32", "2");
	SET_OK(&a, m, "rInt32", "3");
	SET_OK(&a, m, "fString", "h\xc3\xa9");
	SET_OK(&a, m, "f_string", "again");
	SET_OK(&a, m, "f_bytes", "-_8");
	SET_OK(&a, m, "inner.n", "5");
	SET_OK(&a, m, "inner.child.label", "deep");
	SET_OK(&a, m, "choiceInner.n", "9");
	SET_OK(&a, m, "choice_inner.label", "c");
	CHECK_JSON(pbjson_from_message(&m->base, 0),
	    "{\"fInt32\":-42,\"fInt64\":\"-9223372036854775808\","
	    "\"fUint64\":\"18446744073709551615\",\"fBool\":true,"
	    "\"fDouble\":\"Infinity\",\"fFloat\":0.25,\"color\":\"COLOR_RED\","
	    "\"rColor\":[\"COLOR_GREEN\",\"COLOR_INFRARED\"],"
	    "\"rInt32\":[1,2,3],\"fString\":\"again\",\"fBytes\":\"+/8=\","
	    "\"inner\":{\"n\":5,\"child\":{\"label\":\"deep\"}},"
	    "\"choiceInner\":{\"n\":9,\"label\":\"c\"}}");
	arena_fini(&a);
}

/* Asserts that name=value is refused with want and m is unchanged. */
static void
set_refused(struct arena *a, AllTypes *m, const char *name, const char *value,
    const char *want, unsigned line)
{
	char                err[256] = "";
	ProtobufCBinaryData before = packed(a, &m->base);
	ProtobufCBinaryData after;

	if (pbjson_set_field_from_string(
	        &m->base, name, value, a, err, sizeof(err))
	    == 0) {
		check(0, line, "%s=%s accepted, want: %s", name, value, want);
		return;
	}
	check(strcmp(err, want) == 0, line, "%s=%s: got '%s', want '%s'", name,
	    value, err, want);
	after = packed(a, &m->base);
	check(before.len == after.len
	        && memcmp(before.data, after.data, before.len) == 0,
	    line, "%s=%s changed the message", name, value);
}

#define SET_REFUSED(a, m, name, value, want) \
	set_refused((a), (m), (name), (value), (want), __LINE__)

static void
test_set_field_refused(void)
{
	struct arena a;
	AllTypes    *m;

	arena_init(&a);
	m = PARSE_OK(&a, "{\"fInt32\":1,\"choiceText\":\"t\",\"rInt32\":[1]}");
	if (m == NULL) {
		arena_fini(&a);
		return;
	}
	SET_REFUSED(&a, m, "f_int32", "4294967296",
	    "field \"f_int32\": 4294967296 is out of range for int32");
	SET_REFUSED(&a, m, "limit", "1", "unknown field \"limit\"");
	SET_REFUSED(&a, m, "f_int32", "12a",
	    "field \"f_int32\": \"12a\" is not an integer");
	SET_REFUSED(&a, m, "fInt32", "+1",
	    "field \"fInt32\": \"+1\" is not an integer");
	SET_REFUSED(&a, m, "fInt32", "0x10",
	    "field \"fInt32\": \"0x10\" is not an integer");
	SET_REFUSED(
	    &a, m, "fInt32", "", "field \"fInt32\": \"\" is not an integer");
	SET_REFUSED(&a, m, "rInt32", "2147483648",
	    "field \"rInt32\": 2147483648 is out of range for int32");
	SET_REFUSED(&a, m, "fBool", "1",
	    "field \"fBool\": \"1\" is not true or false");
	SET_REFUSED(&a, m, "fBool", "TRUE",
	    "field \"fBool\": \"TRUE\" is not true or false");
	SET_REFUSED(&a, m, "color", "PURPLE",
	    "field \"color\": \"PURPLE\" is not a value of enum "
	    "opsbus.test.Color");
	SET_REFUSED(&a, m, "fBytes", "Q",
	    "field \"fBytes\": the bytes are not valid base64");
	SET_REFUSED(&a, m, "fString", "\xc3",
	    "field \"fString\": the string is not valid UTF-8 or holds a NUL");
	SET_REFUSED(&a, m, "inner", "x",
	    "field \"inner\": a message cannot be set from a string");
	SET_REFUSED(&a, m, "labels", "x",
	    "field \"labels\": a map cannot be set from a string");
	SET_REFUSED(&a, m, "choiceNumber", "1",
	    "field \"choiceNumber\": another member of its oneof "
	    "(\"choice_text\") is already set");
	SET_REFUSED(&a, m, "choice_inner.n", "1",
	    "field \"choice_inner\": another member of its oneof "
	    "(\"choice_text\") is already set");
	SET_REFUSED(&a, m, "fInt32.n", "1",
	    "field \"fInt32\": not a message field: a dotted name cannot go "
	    "through it");
	SET_REFUSED(&a, m, "inner.nope", "1", "unknown field \"inner.nope\"");
	/* A failure past a message that does not exist yet makes none. */
	SET_REFUSED(&a, m, "inner.child.n", "x",
	    "field \"inner.child.n\": \"x\" is not an integer");
	CHECK(m->inner == NULL, "inner was made by a failed set");
	arena_fini(&a);
}

static void
test_proto2_presence(void)
{
	struct arena          a;
	Opsbus__Test__Legacy  m = OPSBUS__TEST__LEGACY__INIT;
	Opsbus__Test__Legacy *back;
	ProtobufCMessage     *out = NULL;
	static char           empty[] = "";
	char                  err[256] = "";
	json_t               *j;

	/* A required field is always printed; unset optional ones only with
	 * defaults, and then with their declared defaults. */
	CHECK_JSON(pbjson_from_message(&m.base, 0), "{\"id\":0}");
	CHECK_JSON(pbjson_from_message(&m.base, PBJSON_EMIT_DEFAULTS),
	    "{\"id\":0,\"count\":7,\"name\":\"dflt\",\"blob\":\"\","
	    "\"ratio\":-1.5,\"tags\":[]}");
	/* A set optional field is printed even when it holds zero. */
	m.has_count = 1;
	m.count = 0;
	m.name = empty;
	m.has_blob = 1;
	CHECK_JSON(pbjson_from_message(&m.base, 0),
	    "{\"id\":0,\"count\":0,\"name\":\"\",\"blob\":\"\"}");

	arena_init(&a);
	j = json_loads(
	    "{\"id\":3,\"count\":0,\"ratio\":2,\"next\":{\"id\":4}}", 0, NULL);
	CHECK(pbjson_to_message(&opsbus__test__legacy__descriptor, j, &a, &out,
	          err, sizeof(err))
	        == 0,
	    "refused: %s", err);
	json_decref(j);
	back = (Opsbus__Test__Legacy *) out;
	if (back != NULL) {
		CHECK(back->id == 3 && back->has_count && back->count == 0
		        && back->has_ratio && back->ratio == 2
		        && !back->has_blob && back->next != NULL
		        && back->next->id == 4,
		    "parsed: %s", dump_msg(out));
		/* An absent string keeps its default, and is not set. */
		CHECK(strcmp(back->name, "dflt") == 0, "name %s", back->name);
		CHECK_JSON(pbjson_from_message(out, 0),
		    "{\"id\":3,\"count\":0,\"ratio\":2.0,"
		    "\"next\":{\"id\":4}}");
		CHECK(pbjson_set_field_from_string(
		          out, "blob", "AA==", &a, err, sizeof(err))
		            == 0
		        && back->has_blob && back->blob.len == 1,
		    "set blob: %s", err);
		CHECK(pbjson_set_field_from_string(
		          out, "next.count", "9", &a, err, sizeof(err))
		            == 0
		        && back->next->has_count && back->next->count == 9,
		    "set next.count: %s", err);
	}
	arena_fini(&a);
}

static const struct harness_case cases[] = {
    {"a message with every kind of field survives JSON and back unchanged",
        test_full_round_trip},
    {"nested messages, enums, repeated fields and maps print in the proto3 "
     "form",
        test_printed_form},
    {"64-bit integers print as strings and are read from strings or "
     "numbers",
        test_int64_as_strings},
    {"an integer out of its field's range is refused",
        test_int32_out_of_range},
    {"an unknown field is refused with its path", test_unknown_field},
    {"both the lowerCamelCase and the proto field name are accepted",
        test_both_spellings},
    {"a value of the wrong JSON type is refused with the field path",
        test_wrong_type},
    {"enums are read by name or number and printed by name", test_enums},
    {"bytes are read in both base64 alphabets, padded or not",
        test_bytes_base64},
    {"null leaves a field unset", test_null_is_unset},
    {"setting two members of one oneof is refused", test_oneof_conflict},
    {"nesting deeper than the limit is refused both ways", test_deep_nesting},
    {"zero values are printed only when defaults are asked for",
        test_defaults},
    {"NaN and the infinities print as strings and parse back",
        test_float_specials},
    {"a string that is not UTF-8 or holds a NUL is refused", test_bad_strings},
    {"fields are set from parameter text, appending to repeated fields",
        test_set_field},
    {"bad parameter text is refused and leaves the message unchanged",
        test_set_field_refused},
    {"proto2 fields print and parse with explicit presence and defaults",
        test_proto2_presence},
    {NULL, NULL},
};

int
main(void)
{
	return (harness_run("unit.pbjson", cases, NULL, NULL));
}
