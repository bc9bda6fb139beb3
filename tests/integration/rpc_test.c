/*
 * The dispatcher over the real wire: every kind of bad input gets a clear
 * error, changes nothing, and the server keeps serving; credentials and
 * roles; resends answered once; the method table.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "opsbus/v1/admin.pb-c.h"
#include "opsbus/v1/health.pb-c.h"
#include "opsbus/v1/job.pb-c.h"
#include "rawcall.h"

static struct harness_server srv;
static struct opsbus_client *cli;

static int
suite_init(void)
{
	if (harness_server_start(&srv, NULL) != 0) {
		return (-1);
	}
	cli = harness_client(&srv, NULL);
	return (cli != NULL ? 0 : -1);
}

static int
suite_cleanup(void)
{
	opsbus_client_close(cli);
	return (harness_server_stop(&srv, SIGTERM) == 0 ? 0 : -1);
}

/* The server still answers a plain health check. */
static void
assert_still_serving(void)
{
	Opsbus__V1__CheckRequest req;
	ProtobufCMessage        *out = NULL;
	struct opsbus_status     st;

	opsbus__v1__check_request__init(&req);
	CU_ASSERT_EQUAL_FATAL(
	    opsbus_call(cli, "opsbus.v1.HealthService/Check", &req.base,
	        &opsbus__v1__check_response__descriptor, &out, NULL, &st),
	    0);
	CU_ASSERT_TRUE(((Opsbus__V1__CheckResponse *) out)->database_ok);
	protobuf_c_message_free_unpacked(out, NULL);
}

static long
job_count(void)
{
	char *v = harness_sql(NULL, "SELECT count(*) FROM jobs");
	long  n = v != NULL ? atol(v) : -1;

	free(v);
	return (n);
}

static void
expect_error(Opsbus__V1__RpcResponse *r, int code, const char *error_code)
{
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	if (r->code != code || strcmp(r->error_code, error_code) != 0) {
		fprintf(stderr, "got %d %s: %s\n", r->code, r->error_code,
		    r->message);
	}
	ASSERT_INT_EQ(r->code, code);
	ASSERT_STR_EQ(r->error_code, error_code);
	CU_ASSERT_TRUE(strlen(r->message) > 0);
	CU_ASSERT_TRUE(strlen(r->correlation_id) > 0);
	opsbus__v1__rpc_response__free_unpacked(r, NULL);
}

static Opsbus__V1__RpcResponse *
create_raw(const char *queue, const char *key, const char *request_id)
{
	Opsbus__V1__CreateJobRequest req;
	struct rawcall               rc = {0};
	uint8_t                     *body;
	Opsbus__V1__RpcResponse     *r;

	opsbus__v1__create_job_request__init(&req);
	req.queue = (char *) (uintptr_t) queue;
	rc.method = "opsbus.v1.JobService/CreateJob";
	rc.body_len = rawcall_pack_message(&req.base, &body);
	rc.body = body;
	rc.api_key = key;
	rc.request_id = request_id;
	r = rawcall_send(cli, &rc);
	free(body);
	return (r);
}

static void
test_random_bytes(void)
{
	uint8_t buf[512];
	long    before = job_count();

	srand(7);
	for (int round = 0; round < 50; round++) {
		for (size_t i = 0; i < sizeof(buf); i++) {
			buf[i] = (uint8_t) rand();
		}
		Opsbus__V1__RpcResponse *r = rawcall_send_bytes(
		    cli, buf, 1 + (size_t) (rand() % 512));
		CU_ASSERT_PTR_NOT_NULL_FATAL(r);
		CU_ASSERT_NOT_EQUAL(r->code, 0);
		opsbus__v1__rpc_response__free_unpacked(r, NULL);
	}
	ASSERT_INT_EQ(job_count(), before);
	assert_still_serving();
}

static void
test_truncated_envelope(void)
{
	struct rawcall rc = {.method = "opsbus.v1.HealthService/Check",
	    .body = (const uint8_t *) "",
	    .body_len = 0,
	    .request_id = "0123456789"};
	uint8_t       *buf;
	size_t         n = rawcall_pack(&rc, &buf);

	for (size_t cut = 1; cut < n; cut++) {
		Opsbus__V1__RpcResponse *r = rawcall_send_bytes(cli, buf, cut);
		CU_ASSERT_PTR_NOT_NULL_FATAL(r);
		/* A cut at a field boundary is a valid shorter envelope. */
		if (r->code != 0) {
			CU_ASSERT_TRUE(r->code == 3 || r->code == 12);
		}
		opsbus__v1__rpc_response__free_unpacked(r, NULL);
	}
	free(buf);
	assert_still_serving();
}

static void
test_unknown_method(void)
{
	struct rawcall rc = {.method = "opsbus.v1.JobService/DropAllTables",
	    .api_key = srv.api_key};

	expect_error(rawcall_send(cli, &rc), 12, "UNKNOWN_METHOD");
	rc.method = "";
	expect_error(rawcall_send(cli, &rc), 12, "UNKNOWN_METHOD");
	assert_still_serving();
}

static void
test_wrong_body_type(void)
{
	/* A CheckResponse where CreateJob wants a CreateJobRequest: field 1
	 * is a string there and a string here, field 2 a bool where a string
	 * is expected: the wire types differ. */
	Opsbus__V1__CheckResponse m;
	struct rawcall rc = {.method = "opsbus.v1.JobService/CreateJob",
	    .api_key = srv.api_key};
	uint8_t       *body;
	long           before = job_count();

	opsbus__v1__check_response__init(&m);
	m.status = (char *) (uintptr_t) "SERVING";
	m.database_ok = 1;
	m.uptime_seconds = 5;
	rc.body_len = rawcall_pack_message(&m.base, &body);
	rc.body = body;
	expect_error(rawcall_send(cli, &rc), 3, "MALFORMED_MESSAGE");
	free(body);
	ASSERT_INT_EQ(job_count(), before);
	assert_still_serving();
}

static void
test_oversize_message(void)
{
	/* 5 MiB: over the 4 MiB request limit, under the transport's. */
	size_t         n = 5 * 1024 * 1024;
	uint8_t       *big = calloc(1, n);
	struct rawcall rc = {.method = "opsbus.v1.HealthService/Check",
	    .body = big,
	    .body_len = n};

	expect_error(rawcall_send(cli, &rc), 8, "MESSAGE_TOO_LARGE");
	free(big);
	assert_still_serving();
}

/*
 * Speaks the SP protocol over the ipc:// socket by hand (as a client in
 * another language would): handshake, then a frame header that announces
 * `announced` bytes. The server must drop the connection without reading
 * or reserving that much.
 */
static int
raw_sp_announce(uint64_t announced)
{
	struct sockaddr_un sa;
	unsigned char      hello[8] = {0, 'S', 'P', 0, 0, 0x30, 0, 0};
	unsigned char      theirs[8];
	unsigned char      hdr[9 + 16];
	int                fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct timeval     tv = {3, 0};
	ssize_t            n;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s",
	    srv.url + strlen("ipc://"));
	if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0) {
		return (-1);
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (write(fd, hello, 8) != 8 || read(fd, theirs, 8) != 8) {
		close(fd);
		return (-1);
	}
	/* ipc framing: type byte 1, 64-bit big-endian length, data. */
	hdr[0] = 1;
	for (int i = 0; i < 8; i++) {
		hdr[1 + i] = (unsigned char) (announced >> (56 - 8 * i));
	}
	memset(hdr + 9, 0xab, 16);
	(void) !write(fd, hdr, sizeof(hdr));
	/* The server closes the connection: read sees EOF (or a reset). */
	n = read(fd, theirs, 1);
	close(fd);
	return (n <= 0 ? 0 : -1);
}

static void
test_message_over_transport_limit(void)
{
	/* 20 MiB and 16 EiB announced: above what the socket accepts at all.
	 * nng refuses the frame before allocating and drops the connection;
	 * the server keeps serving others. */
	ASSERT_INT_EQ(raw_sp_announce(20u * 1024 * 1024), 0);
	ASSERT_INT_EQ(raw_sp_announce(UINT64_MAX), 0);
	assert_still_serving();
}

static void
test_deep_nesting(void)
{
	/* 10,000 levels of field 1 (a message in GetJobResponse, then a
	 * string in Job...): the body is refused before protobuf-c sees it. */
	enum { LEVELS = 10000 };
	uint8_t       *buf = malloc(LEVELS * 6 + 16);
	size_t         len = 0;
	struct rawcall rc = {.method = "opsbus.v1.AdminService/ListApiKeys",
	    .api_key = srv.api_key};

	/* Build from the inside out: each level is tag 0x0a + varint len. */
	uint8_t *tmp = malloc(LEVELS * 6 + 16);
	for (int i = 0; i < LEVELS; i++) {
		uint8_t hdr[6];
		size_t  h = 0;
		size_t  v = len;
		hdr[h++] = 0x0a;
		do {
			hdr[h++]
			    = (uint8_t) ((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
			v >>= 7;
		} while (v > 0);
		memcpy(tmp, hdr, h);
		memcpy(tmp + h, buf, len);
		memcpy(buf, tmp, h + len);
		len += h;
	}
	free(tmp);
	/* GetJobResponse.job (field 1) is a message: as a GetJob *request*
	 * field 1 is a string, so test both a message-typed and a string-typed
	 * reading: the first through an envelope with the RpcRequest itself
	 * (metadata entries are messages). */
	rc.method = "opsbus.v1.JobService/GetJob";
	rc.body = buf;
	rc.body_len = len;
	Opsbus__V1__RpcResponse *r = rawcall_send(cli, &rc);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(r->code, 3);
	opsbus__v1__rpc_response__free_unpacked(r, NULL);

	/* The same bytes as the envelope's metadata (field 3, a message):
	 * the entry's own fields 1 and 2 are strings, so the levels below are
	 * either refused as bad strings or skipped as unknown fields by their
	 * length; either way no recursion follows them. (The walk's depth
	 * limit itself is unit-tested with a self-nesting message in
	 * tests/unit/wirecheck_test.c.) */
	for (size_t i = 0; i < len; i++) {
		if (buf[i] == 0x0a) {
			buf[i] = 0x1a;
		}
	}
	r = rawcall_send_bytes(cli, buf, len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_NOT_EQUAL(r->code, 0);
	opsbus__v1__rpc_response__free_unpacked(r, NULL);
	free(buf);
	assert_still_serving();
}

static void
test_invalid_utf8(void)
{
	long before = job_count();

	expect_error(create_raw("bad\xff\xfequeue", srv.api_key, NULL), 3,
	    "INVALID_UTF8");
	/* In the envelope itself. */
	struct rawcall rc
	    = {.method = "opsbus.v1.Health\xc0\xafService/Check"};
	expect_error(rawcall_send(cli, &rc), 3, "INVALID_UTF8");
	ASSERT_INT_EQ(job_count(), before);
	assert_still_serving();
}

static void
test_invalid_uuid(void)
{
	Opsbus__V1__GetJobRequest req;
	ProtobufCMessage         *out = NULL;
	struct opsbus_status      st;
	const char               *bad[] = {"", "not-a-uuid",
	                  "12345678-1234-1234-1234-12345678901",
	                  "12345678-1234-1234-1234-1234567890123", "'; DROP TABLE jobs; --",
	                  "g2345678-1234-1234-1234-123456789012"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		opsbus__v1__get_job_request__init(&req);
		req.id = (char *) (uintptr_t) bad[i];
		CU_ASSERT_NOT_EQUAL(
		    opsbus_call(cli, "opsbus.v1.JobService/GetJob", &req.base,
		        &opsbus__v1__get_job_response__descriptor, &out, NULL,
		        &st),
		    0);
		ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
		ASSERT_INT_EQ(st.code, 3);
	}
	/* A well-formed id of no job is NOT_FOUND, not a validation error. */
	req.id = (char *) (uintptr_t) "12345678-1234-1234-1234-123456789012";
	CU_ASSERT_NOT_EQUAL(
	    opsbus_call(cli, "opsbus.v1.JobService/GetJob", &req.base,
	        &opsbus__v1__get_job_response__descriptor, &out, NULL, &st),
	    0);
	ASSERT_STR_EQ(st.error_code, "JOB_NOT_FOUND");
	ASSERT_INT_EQ(st.code, 5);
}

static void
test_limit_out_of_range(void)
{
	Opsbus__V1__ListJobsRequest req;
	ProtobufCMessage           *out = NULL;
	struct opsbus_status        st;
	int32_t                     bad[] = {0, 101, -1, 2147483647};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		opsbus__v1__list_jobs_request__init(&req);
		req.limit_value_case
		    = OPSBUS__V1__LIST_JOBS_REQUEST__LIMIT_VALUE_LIMIT;
		req.limit = bad[i];
		CU_ASSERT_NOT_EQUAL(
		    opsbus_call(cli, "opsbus.v1.JobService/ListJobs",
		        &req.base, &opsbus__v1__list_jobs_response__descriptor,
		        &out, NULL, &st),
		    0);
		ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
		CU_ASSERT_PTR_NOT_NULL(
		    strstr(st.message, "between 1 and 100"));
	}
	/* 1 and 100 are fine; unset means 50. */
	int32_t good[] = {1, 100};
	for (size_t i = 0; i < 2; i++) {
		req.limit = good[i];
		CU_ASSERT_EQUAL(
		    opsbus_call(cli, "opsbus.v1.JobService/ListJobs",
		        &req.base, &opsbus__v1__list_jobs_response__descriptor,
		        &out, NULL, &st),
		    0);
		protobuf_c_message_free_unpacked(out, NULL);
	}
}

static void
test_wrong_api_key(void)
{
	long before = job_count();

	expect_error(
	    create_raw("q", "wrong-key-wrong-key", NULL), 16, "UNAUTHORIZED");
	expect_error(create_raw("q", NULL, NULL), 16, "UNAUTHORIZED");
	ASSERT_INT_EQ(job_count(), before);
	/* Health needs no key. */
	struct rawcall rc = {.method = "opsbus.v1.HealthService/Check"};
	Opsbus__V1__RpcResponse *r = rawcall_send(cli, &rc);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	ASSERT_INT_EQ(r->code, 0);
	opsbus__v1__rpc_response__free_unpacked(r, NULL);
}

static void
test_bearer_authorization(void)
{
	/* The same bootstrap key as "authorization: Bearer". */
	Opsbus__V1__RpcRequest                req;
	Opsbus__V1__RpcRequest__MetadataEntry md, *mdp = &md;
	Opsbus__V1__ListApiKeysRequest        in;
	char                                  bearer[128];
	uint8_t                              *body, *env;
	size_t                                n;

	opsbus__v1__list_api_keys_request__init(&in);
	opsbus__v1__rpc_request__init(&req);
	opsbus__v1__rpc_request__metadata_entry__init(&md);
	snprintf(bearer, sizeof(bearer), "Bearer %s", srv.api_key);
	md.key = (char *) (uintptr_t) "authorization";
	md.value = bearer;
	req.metadata = &mdp;
	req.n_metadata = 1;
	req.method = (char *) (uintptr_t) "opsbus.v1.AdminService/ListApiKeys";
	req.body.len = rawcall_pack_message(&in.base, &body);
	req.body.data = body;
	n = rawcall_pack_message(&req.base, &env);
	Opsbus__V1__RpcResponse *r = rawcall_send_bytes(cli, env, n);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	ASSERT_INT_EQ(r->code, 0);
	opsbus__v1__rpc_response__free_unpacked(r, NULL);
	free(body);
	free(env);
}

static char *
make_key(const char *identity, const char *role, const char *tenant)
{
	Opsbus__V1__CreateApiKeyRequest   req;
	Opsbus__V1__CreateApiKeyResponse *res = NULL;
	struct opsbus_status              st;
	char                             *secret;

	opsbus__v1__create_api_key_request__init(&req);
	req.identity = (char *) (uintptr_t) identity;
	req.role = (char *) (uintptr_t) role;
	req.tenant = (char *) (uintptr_t) tenant;
	if (opsbus_call(cli, "opsbus.v1.AdminService/CreateApiKey", &req.base,
	        &opsbus__v1__create_api_key_response__descriptor,
	        (ProtobufCMessage **) &res, NULL, &st)
	    != 0) {
		fprintf(stderr, "make_key: %s\n", st.message);
		return (NULL);
	}
	secret = strdup(res->secret);
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return (secret);
}

static void
test_roles_and_revocation(void)
{
	char *viewer = make_key("viewer@example.com", "viewer", "");
	char *worker = make_key("worker@example.com", "worker", "acme");
	long  before = job_count();

	CU_ASSERT_PTR_NOT_NULL_FATAL(viewer);
	CU_ASSERT_PTR_NOT_NULL_FATAL(worker);
	/* A viewer may read but not create. */
	expect_error(create_raw("q", viewer, NULL), 7, "PERMISSION_DENIED");
	ASSERT_INT_EQ(job_count(), before);
	/* A worker may create; the key's tenant is the job's. */
	Opsbus__V1__RpcResponse *r = create_raw("roles-q", worker, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	ASSERT_INT_EQ(r->code, 0);
	opsbus__v1__rpc_response__free_unpacked(r, NULL);
	char *t = harness_sql(
	    NULL, "SELECT tenant FROM jobs WHERE queue = 'roles-q'");
	ASSERT_STR_EQ(t, "acme");
	free(t);
	/* A worker may not administer keys. */
	struct rawcall rc = {
	    .method = "opsbus.v1.AdminService/ListApiKeys", .api_key = worker};
	expect_error(rawcall_send(cli, &rc), 7, "PERMISSION_DENIED");
	/* The stored form is a hash: the secret is nowhere in the table. */
	char *found = harness_sql(NULL,
	    "SELECT count(*) FROM api_keys WHERE encode(key_hash, 'escape') "
	    "LIKE '%%%s%%' OR prefix = '%s'",
	    worker, worker);
	ASSERT_STR_EQ(found, "0");
	free(found);
	free(viewer);
	free(worker);
}

static void
test_resend_answered_once(void)
{
	/* The same request id twice: one job, the same answer. */
	long                     before = job_count();
	Opsbus__V1__RpcResponse *a
	    = create_raw("resend-q", srv.api_key, "rid-42");
	Opsbus__V1__RpcResponse *b
	    = create_raw("resend-q", srv.api_key, "rid-42");

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	ASSERT_INT_EQ(a->code, 0);
	ASSERT_INT_EQ(b->code, 0);
	CU_ASSERT_EQUAL(a->body.len, b->body.len);
	CU_ASSERT_EQUAL(memcmp(a->body.data, b->body.data, a->body.len), 0);
	ASSERT_INT_EQ(job_count(), before + 1);
	opsbus__v1__rpc_response__free_unpacked(a, NULL);
	opsbus__v1__rpc_response__free_unpacked(b, NULL);
}

static void
test_correlation_id_echoed(void)
{
	struct rawcall rc = {.method = "opsbus.v1.HealthService/Check",
	    .correlation_id = "incident-4711"};
	Opsbus__V1__RpcResponse *r = rawcall_send(cli, &rc);

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	ASSERT_STR_EQ(r->correlation_id, "incident-4711");
	opsbus__v1__rpc_response__free_unpacked(r, NULL);
	/* An unusable one is replaced by a UUID. */
	rc.correlation_id = "has spaces and \"quotes\"";
	r = rawcall_send(cli, &rc);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	ASSERT_INT_EQ(strlen(r->correlation_id), 36);
	opsbus__v1__rpc_response__free_unpacked(r, NULL);
}

static void
stub_closure(const Opsbus__V1__CheckResponse *res, void *data)
{
	CU_ASSERT_PTR_NOT_NULL_FATAL(res);
	ASSERT_STR_EQ(res->status, "SERVING");
	CU_ASSERT_TRUE(res->schema_version >= 1);
	*(int *) data = 1;
}

static void
test_generated_stub(void)
{
	ProtobufCService *svc
	    = opsbus_service(cli, &opsbus__v1__health_service__descriptor);
	Opsbus__V1__CheckRequest req;
	int                      seen = 0;

	opsbus__v1__check_request__init(&req);
	CU_ASSERT_PTR_NOT_NULL_FATAL(svc);
	opsbus__v1__health_service__check(svc, &req, stub_closure, &seen);
	ASSERT_INT_EQ(seen, 1);
	svc->destroy(svc);
}

int
main(void)
{
	static const struct harness_case cases[] = {
	    {"random bytes are refused and change nothing", test_random_bytes},
	    {"a truncated envelope is refused or read as a shorter one",
	        test_truncated_envelope},
	    {"an unknown method is UNKNOWN_METHOD", test_unknown_method},
	    {"a body of the wrong message type is refused",
	        test_wrong_body_type},
	    {"a message over the size limit is MESSAGE_TOO_LARGE",
	        test_oversize_message},
	    {"a message over the transport limit is dropped and the server "
	     "keeps serving",
	        test_message_over_transport_limit},
	    {"a 10,000-level nested message is refused", test_deep_nesting},
	    {"invalid UTF-8 is refused", test_invalid_utf8},
	    {"an invalid UUID is VALIDATION_ERROR", test_invalid_uuid},
	    {"limit 0 and 101 are refused", test_limit_out_of_range},
	    {"a wrong or missing API key is UNAUTHORIZED", test_wrong_api_key},
	    {"authorization: Bearer works like x-api-key",
	        test_bearer_authorization},
	    {"roles limit what a key may call, and secrets are stored hashed",
	        test_roles_and_revocation},
	    {"a resent request id is answered once",
	        test_resend_answered_once},
	    {"the correlation id is echoed or made",
	        test_correlation_id_echoed},
	    {"the protoc-c generated stub calls through libopsbus",
	        test_generated_stub},
	    {NULL, NULL},
	};

	return (
	    harness_run("integration.rpc", cases, suite_init, suite_cleanup));
}
