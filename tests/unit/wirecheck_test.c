/*
 * Unit tests of common/wirecheck.c against the real generated messages of
 * the opsbus API, and against one hand-described message (Node, below) for
 * what the API does not have: a message that nests itself, and repeated
 * scalars. Valid messages come from protobuf-c's packer; broken ones are
 * written byte by byte. Wherever the check accepts, protobuf-c must be able
 * to unpack the same bytes, since that is the promise the server relies on.
 *
 * Every check runs on a private heap copy of exactly the bytes under test,
 * so AddressSanitizer reports a read one byte past the end.
 */
#include <CUnit/Basic.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "opsbus/v1/job.pb-c.h"
#include "opsbus/v1/rpc.pb-c.h"
#include "wirecheck.h"

/* Wire types. */
enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/*
 * message Node {
 *   Node             child  = 1;
 *   string           name   = 2;
 *   repeated int32   values = 3;
 *   repeated fixed32 stamps = 4;
 *   repeated bool    flags  = 5;
 *   repeated double  ratios = 6;
 * }
 *
 * described as protoc-c would, so that protobuf-c can unpack it too.
 */
struct node {
	ProtobufCMessage    base;
	struct node        *child;
	char               *name;
	size_t              n_values;
	int32_t            *values;
	size_t              n_stamps;
	uint32_t           *stamps;
	size_t              n_flags;
	protobuf_c_boolean *flags;
	size_t              n_ratios;
	double             *ratios;
};

static const ProtobufCMessageDescriptor node_descriptor;

static const ProtobufCFieldDescriptor node_fields[6] = {
    {"child", 1, PROTOBUF_C_LABEL_NONE, PROTOBUF_C_TYPE_MESSAGE, 0,
        offsetof(struct node, child), &node_descriptor, NULL, 0, 0, NULL,
        NULL},
    {"name", 2, PROTOBUF_C_LABEL_NONE, PROTOBUF_C_TYPE_STRING, 0,
        offsetof(struct node, name), NULL, NULL, 0, 0, NULL, NULL},
    {"values", 3, PROTOBUF_C_LABEL_REPEATED, PROTOBUF_C_TYPE_INT32,
        offsetof(struct node, n_values), offsetof(struct node, values), NULL,
        NULL, PROTOBUF_C_FIELD_FLAG_PACKED, 0, NULL, NULL},
    {"stamps", 4, PROTOBUF_C_LABEL_REPEATED, PROTOBUF_C_TYPE_FIXED32,
        offsetof(struct node, n_stamps), offsetof(struct node, stamps), NULL,
        NULL, PROTOBUF_C_FIELD_FLAG_PACKED, 0, NULL, NULL},
    {"flags", 5, PROTOBUF_C_LABEL_REPEATED, PROTOBUF_C_TYPE_BOOL,
        offsetof(struct node, n_flags), offsetof(struct node, flags), NULL,
        NULL, PROTOBUF_C_FIELD_FLAG_PACKED, 0, NULL, NULL},
    {"ratios", 6, PROTOBUF_C_LABEL_REPEATED, PROTOBUF_C_TYPE_DOUBLE,
        offsetof(struct node, n_ratios), offsetof(struct node, ratios), NULL,
        NULL, PROTOBUF_C_FIELD_FLAG_PACKED, 0, NULL, NULL},
};

/* child, flags, name, ratios, stamps, values. */
static const unsigned node_fields_by_name[6] = {0, 4, 1, 5, 3, 2};

/* Field numbers 1..6 are one run starting at index 0 (protoc-c's form). */
static const ProtobufCIntRange node_ranges[2] = {{1, 0}, {0, 6}};

static const ProtobufCMessageDescriptor node_descriptor
    = {PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC, "test.Node", "Node", "Node",
        "test", sizeof(struct node), 6, node_fields, node_fields_by_name, 1,
        node_ranges, NULL, NULL, NULL, NULL};

/* A growing byte buffer for messages written by hand. */
struct wbuf {
	uint8_t *data;
	size_t   len;
	size_t   cap;
};

static void
wb_byte(struct wbuf *b, uint8_t byte)
{
	if (b->len == b->cap) {
		b->cap = b->cap == 0 ? 64 : b->cap * 2;
		b->data = realloc(b->data, b->cap);
		if (b->data == NULL) {
			abort(); /* a test without memory cannot go on */
		}
	}
	b->data[b->len++] = byte;
}

static void
wb_bytes(struct wbuf *b, const void *p, size_t n)
{
	const uint8_t *s = p;

	for (size_t i = 0; i < n; i++) {
		wb_byte(b, s[i]);
	}
}

static void
wb_varint(struct wbuf *b, uint64_t v)
{
	while (v >= 0x80) {
		wb_byte(b, (uint8_t) (v | 0x80));
		v >>= 7;
	}
	wb_byte(b, (uint8_t) v);
}

static void
wb_tag(struct wbuf *b, uint32_t number, unsigned wt)
{
	wb_varint(b, ((uint64_t) number << 3) | wt);
}

/* A length-delimited field holding the n bytes at p. */
static void
wb_field(struct wbuf *b, uint32_t number, const void *p, size_t n)
{
	wb_tag(b, number, WT_LEN);
	wb_varint(b, n);
	wb_bytes(b, p, n);
}

static void
wb_free(struct wbuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* Writes v as a varint into out (at least 10 bytes); returns its length. */
static size_t
put_varint(uint8_t *out, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		out[n++] = (uint8_t) (v | 0x80);
		v >>= 7;
	}
	out[n++] = (uint8_t) v;
	return (n);
}

/*
 * Wraps the n bytes at inner in `levels` length-delimited fields numbered
 * `number`, each inside the next. The buffer is filled from its end towards
 * its start, so building 10,000 levels copies each byte once.
 */
static void
nest(struct wbuf *out, uint32_t number, int levels, const uint8_t *inner,
    size_t n)
{
	size_t   cap = n + (size_t) levels * 20;
	size_t   pos = cap - n;
	uint8_t *buf = malloc(cap);

	if (buf == NULL) {
		abort();
	}
	if (n > 0) {
		memcpy(buf + pos, inner, n);
	}
	for (int i = 0; i < levels; i++) {
		uint8_t hdr[20];
		size_t  h = put_varint(hdr, ((uint64_t) number << 3) | WT_LEN);

		h += put_varint(hdr + h, cap - pos);
		pos -= h;
		memcpy(buf + pos, hdr, h);
	}
	wb_bytes(out, buf + pos, cap - pos);
	free(buf);
}

/* Packs m with protobuf-c into a new wbuf. */
static void
pack(struct wbuf *out, const ProtobufCMessage *m)
{
	size_t   n = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(n == 0 ? 1 : n);

	if (buf == NULL) {
		abort();
	}
	CU_ASSERT_EQUAL(protobuf_c_message_pack(m, buf), n);
	wb_bytes(out, buf, n);
	free(buf);
}

/*
 * Runs the check on an exact-size heap copy of the len bytes at buf, so
 * that a read past the end is a sanitizer error.
 */
static opsbus_err
run_check(const ProtobufCMessageDescriptor *desc, const uint8_t *buf,
    size_t len, int max_depth, char *where, size_t where_len)
{
	uint8_t   *copy = malloc(len == 0 ? 1 : len);
	opsbus_err rv;

	if (copy == NULL) {
		abort();
	}
	if (len > 0) {
		memcpy(copy, buf, len);
	}
	rv = wirecheck_message(desc, copy, len, max_depth, where, where_len);
	free(copy);
	return (rv);
}

/* Whether protobuf-c unpacks the len bytes at buf as a desc. */
static int
unpacks(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len)
{
	uint8_t          *copy = malloc(len == 0 ? 1 : len);
	ProtobufCMessage *m;

	if (copy == NULL) {
		abort();
	}
	if (len > 0) {
		memcpy(copy, buf, len);
	}
	m = protobuf_c_message_unpack(desc, NULL, len, copy);
	free(copy);
	if (m == NULL) {
		return (0);
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return (1);
}

/*
 * Asserts that checking b as a desc gives want and, if want_where is not
 * NULL, that it describes the place as want_where. Both values are shown
 * on failure.
 */
static void
check(const ProtobufCMessageDescriptor *desc, const struct wbuf *b,
    int max_depth, opsbus_err want, const char *want_where, unsigned line)
{
	char       where[512] = "";
	char       msg[768];
	opsbus_err got;

	got = run_check(
	    desc, b->data, b->len, max_depth, where, sizeof(where));
	snprintf(msg, sizeof(msg), "got %s \"%s\", want %s",
	    opsbus_err_name(got), where, opsbus_err_name(want));
	CU_assertImplementation(
	    got == want, line, msg, __FILE__, "", CU_FALSE);
	if (want_where != NULL && got == want) {
		snprintf(msg, sizeof(msg), "where \"%s\", want \"%s\"", where,
		    want_where);
		CU_assertImplementation(strcmp(where, want_where) == 0, line,
		    msg, __FILE__, "", CU_FALSE);
	}
	/* The promise the server relies on: accepted means unpackable. */
	if (got == OPSBUS_E_OK) {
		CU_assertImplementation(unpacks(desc, b->data, b->len), line,
		    "accepted but protobuf-c cannot unpack it", __FILE__, "",
		    CU_FALSE);
	}
}

#define CHECK(desc, b, want, where) \
	check(desc, b, WIRECHECK_MAX_DEPTH, want, where, __LINE__)
#define CHECK_DEPTH(desc, b, depth, want, where) \
	check(desc, b, depth, want, where, __LINE__)

static const ProtobufCMessageDescriptor *const rpc_request
    = &opsbus__v1__rpc_request__descriptor;
static const ProtobufCMessageDescriptor *const get_job_response
    = &opsbus__v1__get_job_response__descriptor;

static char get_job_method[] = "opsbus.v1.JobService/GetJob";

/* An RpcRequest as a client sends it, with metadata key and value given. */
static void
pack_request(struct wbuf *out, char *method, char *key, char *value)
{
	Opsbus__V1__RpcRequest                 req;
	Opsbus__V1__RpcRequest__MetadataEntry  e1;
	Opsbus__V1__RpcRequest__MetadataEntry  e2;
	Opsbus__V1__RpcRequest__MetadataEntry *md[2] = {&e1, &e2};
	static uint8_t body[] = {0x0a, 0x03, 'a', 'b', 'c'};
	static char    id[] = "5f0c6d1e-request";
	static char    k1[] = "x-api-key";
	static char    v1[] = "ok_live_0123456789";

	/* The init functions rather than the __INIT macros: the macros cast
	 * away const, which clang's -Wcast-qual reports in this file. */
	opsbus__v1__rpc_request__init(&req);
	opsbus__v1__rpc_request__metadata_entry__init(&e1);
	opsbus__v1__rpc_request__metadata_entry__init(&e2);
	req.method = method;
	req.body.data = body;
	req.body.len = sizeof(body);
	req.n_metadata = 2;
	req.metadata = md;
	req.timeout_ms = 2500;
	req.request_id = id;
	e1.key = k1;
	e1.value = v1;
	e2.key = key;
	e2.value = value;
	pack(out, &req.base);
}

/* A GetJobResponse with a job, two attempts and a timeline event. */
static void
pack_job_response(struct wbuf *out)
{
	Opsbus__V1__GetJobResponse resp;
	Opsbus__V1__Job            job;
	Opsbus__V1__Attempt        a1;
	Opsbus__V1__Attempt        a2;
	Opsbus__V1__TimelineEvent  ev;
	Opsbus__V1__Attempt       *attempts[2] = {&a1, &a2};
	Opsbus__V1__TimelineEvent *timeline[1] = {&ev};
	static char                id[] = "job-7f3a";
	static char tenant[] = "clinic-\xc3\xa9t\xc3\xa9"; /* "été" */
	static char payload[] = "{\"note\":\"\xe2\x82\xac 12\"}";
	static char status[] = "dead_failed";
	static char worker[] = "worker-1";
	static char error[] = "timeout \xf0\x9f\x95\x90";
	static char evtype[] = "job.failed";

	opsbus__v1__get_job_response__init(&resp);
	opsbus__v1__job__init(&job);
	opsbus__v1__attempt__init(&a1);
	opsbus__v1__attempt__init(&a2);
	opsbus__v1__timeline_event__init(&ev);
	job.id = id;
	job.tenant = tenant;
	job.payload = payload;
	job.status = status;
	job.attempts = 2;
	job.max_attempts = 5;
	job.priority = -3; /* a negative int32 is a 10-byte varint */
	job.replay_eligible = 1;
	a1.attempt = 1;
	a1.worker_id = worker;
	a1.error = error;
	a1.retryable = 1;
	a2.attempt = 2;
	a2.worker_id = worker;
	ev.event_type = evtype;
	ev.payload = payload;
	resp.job = &job;
	resp.n_attempts = 2;
	resp.attempts = attempts;
	resp.n_timeline = 1;
	resp.timeline = timeline;
	pack(out, &resp.base);
}

static void
test_packed_request_passes(void)
{
	struct wbuf b = {0};
	static char key[] = "x-correlation-id";
	static char value[] = "c-\xe6\x97\xa5\xe6\x9c\xac"; /* "日本" */
	static char method[] = "opsbus.v1.JobService/CreateJob";

	pack_request(&b, method, key, value);
	CHECK(rpc_request, &b, OPSBUS_E_OK, NULL);
	wb_free(&b);
}

static void
test_packed_job_response_passes(void)
{
	struct wbuf b = {0};

	pack_job_response(&b);
	CHECK(get_job_response, &b, OPSBUS_E_OK, NULL);
	/* Job and Attempt sit at depth 2, so a limit of 2 is enough. */
	CHECK_DEPTH(get_job_response, &b, 2, OPSBUS_E_OK, NULL);
	wb_free(&b);
}

static void
test_packed_list_request_passes(void)
{
	Opsbus__V1__ListJobsRequest req;
	static char                 s1[] = "queued";
	static char                 s2[] = "dead_failed";
	static char                 queue[] = "ehr-writeback";
	char                       *states[2] = {s1, s2};
	struct wbuf                 b = {0};

	opsbus__v1__list_jobs_request__init(&req);
	req.n_states = 2;
	req.states = states;
	req.queue = queue;
	req.limit_value_case
	    = OPSBUS__V1__LIST_JOBS_REQUEST__LIMIT_VALUE_LIMIT;
	req.limit = 50;
	pack(&b, &req.base);
	CHECK(
	    &opsbus__v1__list_jobs_request__descriptor, &b, OPSBUS_E_OK, NULL);
	wb_free(&b);
}

static void
test_empty_message_passes(void)
{
	char where[8] = "x";

	CU_ASSERT_EQUAL(wirecheck_message(rpc_request, NULL, 0,
	                    WIRECHECK_MAX_DEPTH, where, sizeof(where)),
	    OPSBUS_E_OK);
	/* where is written on error only. */
	CU_ASSERT_STRING_EQUAL(where, "x");
}

static void
test_invalid_utf8_in_method(void)
{
	struct wbuf b = {0};
	static char key[] = "x-correlation-id";
	static char value[] = "c-1";
	static char method[] = "opsbus.v1.JobService/\xc0\xaf"
	                       "CreateJob";

	pack_request(&b, method, key, value);
	CHECK(rpc_request, &b, OPSBUS_E_INVALID_UTF8, "field method");
	CU_ASSERT(unpacks(rpc_request, b.data, b.len)); /* protobuf-c would */
	wb_free(&b);
}

static void
test_invalid_utf8_in_map_value(void)
{
	struct wbuf b = {0};
	static char key[] = "x-operator-identity";
	static char value[] = "op-\xed\xa0\x80"; /* a surrogate */

	pack_request(&b, get_job_method, key, value);
	CHECK(rpc_request, &b, OPSBUS_E_INVALID_UTF8, "field metadata.value");
	wb_free(&b);
}

static void
test_invalid_utf8_in_map_key(void)
{
	struct wbuf b = {0};
	static char key[] = "x-\xf4\x90\x80\x80"; /* past U+10FFFF */
	static char value[] = "v";

	pack_request(&b, get_job_method, key, value);
	CHECK(rpc_request, &b, OPSBUS_E_INVALID_UTF8, "field metadata.key");
	wb_free(&b);
}

static void
test_invalid_utf8_in_nested_message(void)
{
	struct wbuf       b = {0};
	struct wbuf       inner = {0};
	static const char bad[] = "worker-\xe2\x82"; /* truncated */
	static const char ok[] = "worker-2";

	/* attempts[0] is fine, attempts[1].worker_id (2) is not. */
	wb_field(&inner, 2, ok, sizeof(ok) - 1);
	wb_field(&b, 2, inner.data, inner.len);
	inner.len = 0;
	wb_tag(&inner, 1, WT_VARINT);
	wb_varint(&inner, 2);
	wb_field(&inner, 2, bad, sizeof(bad) - 1);
	wb_field(&b, 2, inner.data, inner.len);
	CHECK(get_job_response, &b, OPSBUS_E_INVALID_UTF8,
	    "field attempts.worker_id");
	wb_free(&inner);
	wb_free(&b);
}

static void
test_nul_in_string(void)
{
	struct wbuf b = {0};

	/* protobuf-c would hand the handler "opsbus" and drop the rest. */
	wb_field(&b, 1, "opsbus\0.v1", 10);
	CHECK(rpc_request, &b, OPSBUS_E_INVALID_UTF8, "field method");
	wb_free(&b);
}

static void
test_invalid_utf8_in_bytes_passes(void)
{
	struct wbuf b = {0};

	wb_field(&b, 2, "\xff\x00\xc0\xaf", 4); /* body is bytes */
	CHECK(rpc_request, &b, OPSBUS_E_OK, NULL);
	wb_free(&b);
}

static void
test_depth_limit(void)
{
	struct wbuf b = {0};

	pack_job_response(&b);
	CHECK_DEPTH(get_job_response, &b, 1, OPSBUS_E_NESTING_TOO_DEEP,
	    "field job (nesting deeper than 1)");
	CHECK_DEPTH(get_job_response, &b, 0, OPSBUS_E_NESTING_TOO_DEEP,
	    "message (nesting deeper than 0)");
	wb_free(&b);
}

static void
test_nesting_at_the_limit(void)
{
	struct wbuf b = {0};

	/* The top Node is level 1, so 31 children reach level 32. */
	nest(&b, 1, WIRECHECK_MAX_DEPTH - 1, NULL, 0);
	CHECK(&node_descriptor, &b, OPSBUS_E_OK, NULL);
	b.len = 0;
	nest(&b, 1, WIRECHECK_MAX_DEPTH, NULL, 0);
	CHECK(&node_descriptor, &b, OPSBUS_E_NESTING_TOO_DEEP, NULL);
	wb_free(&b);
}

/* The path the walk reports for a Node nested past WIRECHECK_MAX_DEPTH. */
static void
deep_where(char *out, size_t n)
{
	size_t used = 0;

	used += (size_t) snprintf(out, n, "field child");
	for (int i = 1; i < WIRECHECK_MAX_DEPTH; i++) {
		used += (size_t) snprintf(out + used, n - used, ".child");
	}
	snprintf(out + used, n - used, " (nesting deeper than %d)",
	    WIRECHECK_MAX_DEPTH);
}

struct deep_run {
	const struct wbuf *b;
	opsbus_err         rv;
	char               where[512];
};

static void *
deep_thread(void *arg)
{
	struct deep_run *run = arg;

	run->rv = wirecheck_message(&node_descriptor, run->b->data,
	    run->b->len, WIRECHECK_MAX_DEPTH, run->where, sizeof(run->where));
	return (NULL);
}

static void
test_ten_thousand_levels_refused(void)
{
	/* The innermost child claims more bytes than there are: a walk that
	 * went all the way down would report a malformed message, not a
	 * nesting too deep. */
	static const uint8_t broken[] = {0x0a, 0x05};
	struct wbuf          b = {0};
	struct deep_run      run = {&b, OPSBUS_E_OK, ""};
	char                 want[512];
	pthread_attr_t       attr;
	pthread_t            tid;

	nest(&b, 1, 10000, broken, sizeof(broken));
	CU_ASSERT(b.len > 30000);
	deep_where(want, sizeof(want));
	CHECK(&node_descriptor, &b, OPSBUS_E_NESTING_TOO_DEEP, want);

	/* Again on a 256 KiB stack: a walk that recursed once per level
	 * (three frames of the checker each) would overrun it and crash. */
	CU_ASSERT_EQUAL_FATAL(pthread_attr_init(&attr), 0);
	CU_ASSERT_EQUAL_FATAL(pthread_attr_setstacksize(&attr, 256 * 1024), 0);
	CU_ASSERT_EQUAL_FATAL(
	    pthread_create(&tid, &attr, deep_thread, &run), 0);
	CU_ASSERT_EQUAL(pthread_join(tid, NULL), 0);
	pthread_attr_destroy(&attr);
	CU_ASSERT_EQUAL(run.rv, OPSBUS_E_NESTING_TOO_DEEP);
	CU_ASSERT_STRING_EQUAL(run.where, want);
	wb_free(&b);
}

static void
test_ten_thousand_levels_in_bytes_skipped(void)
{
	struct wbuf b = {0};

	/* Field 2 of RpcRequest is body (bytes): the 9,999 levels inside it
	 * are opaque, and so is protobuf-c's view of them. */
	nest(&b, 2, 10000, NULL, 0);
	CHECK(rpc_request, &b, OPSBUS_E_OK, NULL);
	wb_free(&b);

	/* The same through an unknown field, skipped by its length. */
	nest(&b, 15, 10000, NULL, 0);
	CHECK(rpc_request, &b, OPSBUS_E_OK, NULL);
	wb_free(&b);
}

static void
test_varint_of_eleven_bytes(void)
{
	static const uint8_t ten[]
	    = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
	static const uint8_t eleven[] = {
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x80, 0x01};
	struct wbuf b = {0};

	wb_tag(&b, 4, WT_VARINT); /* timeout_ms */
	wb_bytes(&b, ten, sizeof(ten));
	CHECK(rpc_request, &b, OPSBUS_E_OK, NULL);
	b.len = 0;
	wb_tag(&b, 4, WT_VARINT);
	wb_bytes(&b, eleven, sizeof(eleven));
	CHECK(rpc_request, &b, OPSBUS_E_MALFORMED_MESSAGE,
	    "field timeout_ms (bad varint)");
	b.len = 0;
	wb_tag(&b, 99, WT_VARINT); /* unknown fields too */
	wb_bytes(&b, eleven, sizeof(eleven));
	CHECK(rpc_request, &b, OPSBUS_E_MALFORMED_MESSAGE,
	    "field 99 (bad varint)");
	wb_free(&b);
}

static void
test_groups_refused(void)
{
	struct wbuf b = {0};

	/* An empty group, unknown field 7: start and end. */
	wb_tag(&b, 7, 3);
	wb_tag(&b, 7, 4);
	CHECK(rpc_request, &b, OPSBUS_E_MALFORMED_MESSAGE,
	    "field 7 (groups are not supported)");
	b.len = 0;
	wb_tag(&b, 7, 4);
	CHECK(rpc_request, &b, OPSBUS_E_MALFORMED_MESSAGE, NULL);
	b.len = 0;
	wb_tag(&b, 1, 3); /* method */
	wb_tag(&b, 1, 4);
	CHECK(rpc_request, &b, OPSBUS_E_MALFORMED_MESSAGE,
	    "field method (groups are not supported)");
	wb_free(&b);
}

static void
test_undefined_wire_types_refused(void)
{
	struct wbuf b = {0};

	wb_tag(&b, 9, 6);
	wb_varint(&b, 0);
	CHECK(rpc_request, &b, OPSBUS_E_MALFORMED_MESSAGE,
	    "field 9 (wire type 6 is not defined)");
	b.len = 0;
	wb_tag(&b, 9, 7);
	wb_varint(&b, 0);
	CHECK(rpc_request, &b, OPSBUS_E_MALFORMED_MESSAGE, NULL);
	wb_free(&b);
}

static void
test_string_as_varint_refused(void)
{
	struct wbuf b = {0};

	wb_tag(&b, 1, WT_VARINT); /* method */
	wb_varint(&b, 1);
	CHECK(rpc_request, &b, OPSBUS_E_MALFORMED_MESSAGE,
	    "field method (wire type 0 does not fit the field's type)");
	CU_ASSERT(!unpacks(rpc_request, b.data, b.len));
	wb_free(&b);
}

static void
test_other_wire_type_mismatches_refused(void)
{
	static const uint8_t four[4] = {1, 2, 3, 4};
	struct wbuf          b = {0};

	/* metadata (a map, so a message) as fixed32. */
	wb_tag(&b, 3, WT_I32);
	wb_bytes(&b, four, sizeof(four));
	CHECK(rpc_request, &b, OPSBUS_E_MALFORMED_MESSAGE,
	    "field metadata (wire type 5 does not fit the field's type)");
	b.len = 0;
	/* timeout_ms is a single uint32: a packed form is not allowed. */
	wb_field(&b, 4, "\x01", 1);
	CHECK(rpc_request, &b, OPSBUS_E_MALFORMED_MESSAGE,
	    "field timeout_ms (wire type 2 does not fit the field's type)");
	CU_ASSERT(!unpacks(rpc_request, b.data, b.len));
	b.len = 0;
	/* job (a message) as a varint, inside GetJobResponse. */
	wb_tag(&b, 1, WT_VARINT);
	wb_varint(&b, 0);
	CHECK(get_job_response, &b, OPSBUS_E_MALFORMED_MESSAGE, NULL);
	wb_free(&b);
}

static void
test_field_numbers(void)
{
	struct wbuf b = {0};

	wb_tag(&b, 0, WT_VARINT);
	wb_varint(&b, 1);
	CHECK(rpc_request, &b, OPSBUS_E_MALFORMED_MESSAGE,
	    "message (field number out of range)");
	b.len = 0;
	wb_tag(&b, 536870912, WT_VARINT); /* 2^29 */
	wb_varint(&b, 1);
	CHECK(rpc_request, &b, OPSBUS_E_MALFORMED_MESSAGE,
	    "message (field number out of range)");
	b.len = 0;
	wb_tag(&b, 536870911, WT_VARINT); /* 2^29 - 1, unknown */
	wb_varint(&b, 1);
	CHECK(rpc_request, &b, OPSBUS_E_OK, NULL);
	b.len = 0;
	/* Field 1, varint, padded to six bytes. */
	wb_bytes(&b, "\x88\x80\x80\x80\x80\x00", 6);
	CHECK(
	    rpc_request, &b, OPSBUS_E_MALFORMED_MESSAGE, "message (bad tag)");
	wb_free(&b);
}

static void
test_lengths(void)
{
	struct wbuf b = {0};

	wb_tag(&b, 2, WT_LEN); /* body */
	wb_varint(&b, 4);
	wb_bytes(&b, "abc", 3);
	CHECK(rpc_request, &b, OPSBUS_E_MALFORMED_MESSAGE,
	    "field body (length past the end of the message)");
	b.len = 0;
	/* A length of 4 GiB - 1, the most five bytes can say. */
	wb_tag(&b, 2, WT_LEN);
	wb_bytes(&b, "\xff\xff\xff\xff\x0f", 5);
	CHECK(rpc_request, &b, OPSBUS_E_MALFORMED_MESSAGE, NULL);
	b.len = 0;
	/* A length of 0 padded to six bytes. */
	wb_tag(&b, 2, WT_LEN);
	wb_bytes(&b, "\x80\x80\x80\x80\x80\x00", 6);
	CHECK(rpc_request, &b, OPSBUS_E_MALFORMED_MESSAGE,
	    "field body (bad length)");
	b.len = 0;
	/* An embedded message that ends inside its own field's length. */
	wb_field(&b, 1,
	    "\x0a\x09"
	    "job-1",
	    7);
	CHECK(get_job_response, &b, OPSBUS_E_MALFORMED_MESSAGE,
	    "field job.id (length past the end of the message)");
	b.len = 0;
	wb_tag(&b, 20, WT_I64);
	wb_bytes(&b, "1234567", 7);
	CHECK(rpc_request, &b, OPSBUS_E_MALFORMED_MESSAGE,
	    "field 20 (value past the end of the message)");
	b.len = 0;
	wb_tag(&b, 20, WT_I32);
	wb_bytes(&b, "123", 3);
	CHECK(rpc_request, &b, OPSBUS_E_MALFORMED_MESSAGE, NULL);
	wb_free(&b);
}

static void
test_unknown_fields_skipped(void)
{
	struct wbuf b = {0};

	wb_tag(&b, 100, WT_VARINT);
	wb_varint(&b, UINT64_MAX);
	wb_tag(&b, 101, WT_I64);
	wb_bytes(&b, "12345678", 8);
	wb_field(&b, 102, "\xff\xfe not UTF-8", 12);
	wb_tag(&b, 103, WT_I32);
	wb_bytes(&b, "1234", 4);
	wb_field(&b, 1, "opsbus.v1.HealthService/Check", 29);
	CHECK(rpc_request, &b, OPSBUS_E_OK, NULL);
	/* An error inside an unknown field of a nested message names the
	 * field by its number. */
	b.len = 0;
	wb_field(&b, 1, "\xb8\x06\xff", 3); /* job { 103: unterminated } */
	CHECK(get_job_response, &b, OPSBUS_E_MALFORMED_MESSAGE,
	    "field job.103 (bad varint)");
	wb_free(&b);
}

static void
test_packed_scalars(void)
{
	struct wbuf  b = {0};
	struct wbuf  packed = {0};
	struct node *n;

	/* values = [1, 300, -1] packed, then 7 unpacked: both forms mix. */
	wb_varint(&packed, 1);
	wb_varint(&packed, 300);
	wb_varint(&packed, UINT64_MAX); /* -1 as an int32 */
	wb_field(&b, 3, packed.data, packed.len);
	wb_tag(&b, 3, WT_VARINT);
	wb_varint(&b, 7);
	wb_field(&b, 4, "\x01\x00\x00\x00\x02\x00\x00\x00", 8); /* stamps */
	wb_tag(&b, 4, WT_I32);
	wb_bytes(&b, "\x03\x00\x00\x00", 4);
	/* flags: a packed bool is a varint like any other (0x80 0x01 is
	 * true), as protobuf-c 1.4.1 reads it. */
	wb_field(&b, 5, "\x01\x00\x02\x80\x01", 5);
	wb_field(&b, 6, "\0\0\0\0\0\0\xf0\x3f", 8); /* ratios = [1.0] */
	CHECK(&node_descriptor, &b, OPSBUS_E_OK, NULL);

	n = (struct node *) protobuf_c_message_unpack(
	    &node_descriptor, NULL, b.len, b.data);
	CU_ASSERT_FATAL(n != NULL);
	CU_ASSERT_EQUAL(n->n_values, 4);
	CU_ASSERT_EQUAL(n->values[2], -1);
	CU_ASSERT_EQUAL(n->values[3], 7);
	CU_ASSERT_EQUAL(n->n_stamps, 3);
	CU_ASSERT_EQUAL(n->n_flags, 4);
	CU_ASSERT_EQUAL(n->n_ratios, 1);
	protobuf_c_message_free_unpacked(&n->base, NULL);
	wb_free(&packed);
	wb_free(&b);
}

static void
test_bad_packed_scalars(void)
{
	static const struct {
		uint32_t    number;
		const char *bytes;
		size_t      len;
		const char *where;
	} cases[] = {
	    {3, "\x01\x80", 2, "field values (bad varint in packed field)"},
	    {3, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11,
	        "field values (bad varint in packed field)"},
	    {4, "\x01\x00\x00\x00\x02\x00\x00", 7,
	        "field stamps (packed length is not a multiple of 4)"},
	    {5, "\x01\xff", 2, "field flags (bad varint in packed field)"},
	    {6, "\0\0\0\0\0\0\xf0\x3f\0\0\0\0", 12,
	        "field ratios (packed length is not a multiple of 8)"},
	};
	struct wbuf b = {0};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		b.len = 0;
		wb_field(&b, cases[i].number, cases[i].bytes, cases[i].len);
		CHECK(&node_descriptor, &b, OPSBUS_E_MALFORMED_MESSAGE,
		    cases[i].where);
		/* Each of these is one protobuf-c refuses as well. */
		CU_ASSERT(!unpacks(&node_descriptor, b.data, b.len));
	}
	wb_free(&b);
}

static void
test_short_where_buffer(void)
{
	struct wbuf b = {0};
	char        where[8];

	memset(where, 'x', sizeof(where));
	wb_tag(&b, 1, WT_VARINT);
	wb_varint(&b, 1);
	CU_ASSERT_EQUAL(run_check(rpc_request, b.data, b.len,
	                    WIRECHECK_MAX_DEPTH, where, sizeof(where)),
	    OPSBUS_E_MALFORMED_MESSAGE);
	CU_ASSERT_STRING_EQUAL(where, "field m");
	/* No buffer at all is fine too. */
	CU_ASSERT_EQUAL(run_check(rpc_request, b.data, b.len,
	                    WIRECHECK_MAX_DEPTH, NULL, 0),
	    OPSBUS_E_MALFORMED_MESSAGE);
	wb_free(&b);
}

static void
test_long_path_cut_short(void)
{
	static const uint8_t broken[] = {0x0a, 0x05};
	static const char    tail[] = " (length past the end of the message)";
	struct wbuf          b = {0};
	char                 where[1024];
	opsbus_err           rv;

	/* 100 levels of "child." do not fit the walk's path; the report
	 * keeps its start and still names the problem. */
	nest(&b, 1, 100, broken, sizeof(broken));
	rv = run_check(
	    &node_descriptor, b.data, b.len, 200, where, sizeof(where));
	CU_ASSERT_EQUAL(rv, OPSBUS_E_MALFORMED_MESSAGE);
	CU_ASSERT(strncmp(where, "field child.child.", 18) == 0);
	CU_ASSERT(strlen(where) > strlen(tail)
	    && strcmp(where + strlen(where) - strlen(tail), tail) == 0);
	CU_ASSERT(strlen(where) < 6 + 256 + sizeof(tail));
	wb_free(&b);
}

/* Every result the check may give. */
static int
known_result(opsbus_err rv)
{
	return (rv == OPSBUS_E_OK || rv == OPSBUS_E_MALFORMED_MESSAGE
	    || rv == OPSBUS_E_NESTING_TOO_DEEP || rv == OPSBUS_E_INVALID_UTF8);
}

/*
 * Asserts what must hold for any input: a known result, a terminated
 * description on error, and an unpackable message when accepted. Returns
 * 0 when it does not hold, so that a fuzz loop can stop at the first.
 */
static int
check_any(const ProtobufCMessageDescriptor *desc, const uint8_t *buf,
    size_t len, int max_depth, unsigned long iteration)
{
	char       where[64];
	char       msg[160];
	opsbus_err rv;
	int        good;

	rv = run_check(desc, buf, len, max_depth, where, sizeof(where));
	good = known_result(rv)
	    && (rv == OPSBUS_E_OK
	        || memchr(where, '\0', sizeof(where)) != NULL)
	    && (rv != OPSBUS_E_OK || unpacks(desc, buf, len));
	if (!good) {
		snprintf(msg, sizeof(msg),
		    "%s: iteration %lu, %zu bytes: %s, yet protobuf-c %s",
		    desc->short_name, iteration, len, opsbus_err_name(rv),
		    unpacks(desc, buf, len) ? "unpacks" : "refuses");
		CU_assertImplementation(
		    CU_FALSE, __LINE__, msg, __FILE__, "", CU_FALSE);
	}
	return (good);
}

/* xorshift64: a fixed seed makes every run check the same inputs. */
static uint64_t
rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (*s);
}

static void
test_random_bytes(void)
{
	static const ProtobufCMessageDescriptor *const descs[] = {
	    &opsbus__v1__rpc_request__descriptor,
	    &opsbus__v1__get_job_response__descriptor,
	    &opsbus__v1__list_jobs_request__descriptor,
	    &node_descriptor,
	};
	uint64_t seed = 0x6f70736275730001u;
	uint8_t  buf[96];

	for (unsigned long i = 0; i < 10000; i++) {
		size_t len = (size_t) (rng_next(&seed) % (sizeof(buf) + 1));

		/* Half the bytes are small, which makes short lengths and
		 * the tags of the first fields common enough to nest. */
		for (size_t j = 0; j < len; j++) {
			uint64_t r = rng_next(&seed);

			buf[j]
			    = (uint8_t) ((r & 1) ? (r >> 8) & 0x3f : r >> 8);
		}
		if (!check_any(
		        descs[i % 4], buf, len, WIRECHECK_MAX_DEPTH, i)) {
			return;
		}
	}
	CU_PASS("10,000 random buffers handled");
}

static void
test_mutated_messages(void)
{
	struct wbuf resp = {0};
	struct wbuf req = {0};
	uint64_t    seed = 0x6f70736275730002u;
	uint8_t     buf[1024];
	static char key[] = "x-correlation-id";
	static char value[] = "c-\xc3\xa9";

	pack_job_response(&resp);
	pack_request(&req, get_job_method, key, value);
	CU_ASSERT_FATAL(resp.len <= sizeof(buf) && req.len <= sizeof(buf));

	for (unsigned long i = 0; i < 10000; i++) {
		const struct wbuf                *src = i % 2 ? &req : &resp;
		const ProtobufCMessageDescriptor *desc
		    = i % 2 ? rpc_request : get_job_response;
		int flips = 1 + (int) (i % 4);

		memcpy(buf, src->data, src->len);
		for (int f = 0; f < flips; f++) {
			uint64_t r = rng_next(&seed);

			buf[(r >> 16) % src->len] ^= (uint8_t) (1u << (r % 8));
		}
		if (!check_any(desc, buf, src->len, WIRECHECK_MAX_DEPTH, i)) {
			break;
		}
	}
	wb_free(&resp);
	wb_free(&req);
}

static void
test_every_truncation(void)
{
	struct wbuf resp = {0};
	struct wbuf req = {0};
	static char key[] = "x-correlation-id";
	static char value[] = "c-\xe2\x82\xac";

	pack_job_response(&resp);
	pack_request(&req, get_job_method, key, value);

	/* A prefix that ends between two top-level fields is a valid
	 * message; any other is malformed. protobuf-c agrees on each. */
	for (size_t len = 0; len <= resp.len; len++) {
		char       where[128] = "";
		opsbus_err rv = run_check(get_job_response, resp.data, len,
		    WIRECHECK_MAX_DEPTH, where, sizeof(where));
		int        u = unpacks(get_job_response, resp.data, len);

		if ((rv != OPSBUS_E_OK && rv != OPSBUS_E_MALFORMED_MESSAGE)
		    || (rv == OPSBUS_E_OK) != u) {
			char msg[256];

			snprintf(msg, sizeof(msg),
			    "GetJobResponse cut to %zu: %s \"%s\", protobuf-c "
			    "%s",
			    len, opsbus_err_name(rv), where,
			    u ? "unpacks" : "refuses");
			CU_assertImplementation(
			    CU_FALSE, __LINE__, msg, __FILE__, "", CU_FALSE);
			break;
		}
	}
	for (size_t len = 0; len <= req.len; len++) {
		opsbus_err rv = run_check(
		    rpc_request, req.data, len, WIRECHECK_MAX_DEPTH, NULL, 0);
		int u = unpacks(rpc_request, req.data, len);

		if ((rv != OPSBUS_E_OK && rv != OPSBUS_E_MALFORMED_MESSAGE)
		    || (rv == OPSBUS_E_OK) != u) {
			char msg[128];

			snprintf(msg, sizeof(msg),
			    "RpcRequest cut to %zu: %s, protobuf-c %s", len,
			    opsbus_err_name(rv), u ? "unpacks" : "refuses");
			CU_assertImplementation(
			    CU_FALSE, __LINE__, msg, __FILE__, "", CU_FALSE);
			break;
		}
	}
	wb_free(&resp);
	wb_free(&req);
}

static const struct harness_case cases[] = {
    {"a request packed by protobuf-c passes", test_packed_request_passes},
    {"a job response with a nested job and attempts passes",
        test_packed_job_response_passes},
    {"a list request with repeated strings and a oneof passes",
        test_packed_list_request_passes},
    {"an empty message passes and leaves where alone",
        test_empty_message_passes},
    {"invalid UTF-8 in method is refused", test_invalid_utf8_in_method},
    {"invalid UTF-8 in a metadata map value is refused",
        test_invalid_utf8_in_map_value},
    {"invalid UTF-8 in a metadata map key is refused",
        test_invalid_utf8_in_map_key},
    {"invalid UTF-8 in a string of a repeated nested message is refused",
        test_invalid_utf8_in_nested_message},
    {"a NUL byte in a string field is refused", test_nul_in_string},
    {"any bytes in a bytes field pass", test_invalid_utf8_in_bytes_passes},
    {"a nested job is refused when max_depth is 1", test_depth_limit},
    {"a nesting of exactly max_depth passes and one more level is refused",
        test_nesting_at_the_limit},
    {"a 10,000-level nesting is refused at max_depth on a small stack",
        test_ten_thousand_levels_refused},
    {"a 10,000-level nesting inside bytes or an unknown field is skipped",
        test_ten_thousand_levels_in_bytes_skipped},
    {"a varint of 11 bytes is refused and one of 10 passes",
        test_varint_of_eleven_bytes},
    {"group wire types are refused", test_groups_refused},
    {"wire types 6 and 7 are refused", test_undefined_wire_types_refused},
    {"a string field sent as a varint is refused",
        test_string_as_varint_refused},
    {"other wire types that do not fit a known field are refused",
        test_other_wire_type_mismatches_refused},
    {"field numbers outside 1..2^29-1 and overlong tags are refused",
        test_field_numbers},
    {"lengths past the end or longer than 5 bytes are refused", test_lengths},
    {"unknown fields of every wire type are skipped",
        test_unknown_fields_skipped},
    {"packed and unpacked repeated scalars both pass", test_packed_scalars},
    {"packed payloads that protobuf-c refuses are refused",
        test_bad_packed_scalars},
    {"a short where buffer is cut and NUL-terminated",
        test_short_where_buffer},
    {"a field path too long to report is cut short", test_long_path_cut_short},
    {"10,000 random buffers are refused or accepted without a crash",
        test_random_bytes},
    {"10,000 mutated messages are refused or accepted without a crash",
        test_mutated_messages},
    {"every truncation of a valid message is handled as protobuf-c does",
        test_every_truncation},
    {NULL, NULL},
};

int
main(void)
{
	return (harness_run("unit.wirecheck", cases, NULL, NULL));
}
