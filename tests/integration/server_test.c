/*
 * opsbusd as a process: a lost PostgreSQL is an outage (UNAVAILABLE, then
 * service again without a restart), SIGTERM drains and exits 0 without
 * losing an acknowledged job, the embedded PostgreSQL is started and
 * stopped with the server, and migrations are applied once and guarded by
 * their checksums.
 */
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "opsbus/v1/health.pb-c.h"
#include "opsbus/v1/job.pb-c.h"
#include "opsutil.h"
#include "store/db.h"
#include "store/embedded.h"
#include "store/migrations.h"

#define STR(s) ((char *) (uintptr_t) (s))

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double) ts.tv_sec + (double) ts.tv_nsec / 1e9);
}

static int
create_job(struct opsbus_client *c, const char *queue, char *id, size_t len,
    struct opsbus_status *st)
{
	Opsbus__V1__CreateJobRequest   req;
	Opsbus__V1__CreateJobResponse *res = NULL;

	opsbus__v1__create_job_request__init(&req);
	req.queue = STR(queue);
	if (opsbus_call(c, "opsbus.v1.JobService/CreateJob", &req.base,
	        &opsbus__v1__create_job_response__descriptor,
	        (ProtobufCMessage **) &res, NULL, st)
	    != 0) {
		return (-1);
	}
	if (id != NULL) {
		snprintf(id, len, "%s", res->job->id);
	}
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return (0);
}

static void
test_database_outage(void)
{
	struct harness_server      srv;
	struct opsbus_client      *c;
	struct opsbus_status       st;
	char                       before[64];
	char                       err[512];
	Opsbus__V1__CheckRequest   hreq;
	Opsbus__V1__CheckResponse *h = NULL;
	double                     t0;

	CU_ASSERT_EQUAL_FATAL(harness_server_start(&srv, NULL), 0);
	c = harness_client(&srv, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL_FATAL(
	    create_job(c, "outage", before, sizeof(before), &st), 0);

	CU_ASSERT_EQUAL_FATAL(pg_embedded_stop(harness_pg_handle()), 0);
	t0 = now_s();
	CU_ASSERT_NOT_EQUAL(create_job(c, "outage", NULL, 0, &st), 0);
	ASSERT_INT_EQ(st.code, 14);
	ASSERT_STR_EQ(st.error_code, "DATABASE_UNAVAILABLE");
	CU_ASSERT_TRUE(now_s() - t0 < 5.0);
	/* Several calls, all answered (never a hang, never a crash). */
	for (int i = 0; i < 5; i++) {
		CU_ASSERT_NOT_EQUAL(create_job(c, "outage", NULL, 0, &st), 0);
		ASSERT_INT_EQ(st.code, 14);
	}
	opsbus__v1__check_request__init(&hreq);
	CU_ASSERT_EQUAL_FATAL(
	    opsbus_call(c, "opsbus.v1.HealthService/Check", &hreq.base,
	        &opsbus__v1__check_response__descriptor,
	        (ProtobufCMessage **) &h, NULL, &st),
	    0);
	CU_ASSERT_FALSE(h->database_ok);
	ASSERT_STR_EQ(h->status, "NOT_SERVING");
	protobuf_c_message_free_unpacked(&h->base, NULL);

	CU_ASSERT_EQUAL_FATAL(
	    pg_embedded_restart(harness_pg_handle(), err, sizeof(err)), 0);
	/* The first call after the restart succeeds: the pool reconnects. */
	CU_ASSERT_EQUAL(create_job(c, "outage", NULL, 0, &st), 0);
	for (int i = 0; i < 10; i++) {
		CU_ASSERT_EQUAL(create_job(c, "outage", NULL, 0, &st), 0);
	}
	char *n = harness_sql(
	    NULL, "SELECT count(*) FROM jobs WHERE id = '%s'", before);
	ASSERT_STR_EQ(n, "1");
	free(n);
	opsbus_client_close(c);
	ASSERT_INT_EQ(harness_server_stop(&srv, SIGTERM), 0);
}

struct producer {
	struct harness_server *srv;
	atomic_int            *stop;
	char (*ids)[40];
	int n;
};

static void *
produce(void *arg)
{
	struct producer      *p = arg;
	struct opsbus_client *c = harness_client(p->srv, NULL);
	struct opsbus_status  st;

	while (c != NULL && p->n < 10000 && !atomic_load(p->stop)) {
		if (create_job(
		        c, "drain", p->ids[p->n], sizeof(p->ids[0]), &st)
		    != 0) {
			break;
		}
		p->n++;
	}
	opsbus_client_close(c);
	return (NULL);
}

static void
test_sigterm_drains(void)
{
	struct harness_server srv;
	pthread_t             t[4];
	struct producer       p[4];
	atomic_int            stop = 0;
	int                   acked = 0;
	struct timespec       ts = {0, 400 * 1000 * 1000};

	CU_ASSERT_EQUAL_FATAL(harness_server_start(&srv, NULL), 0);
	for (int i = 0; i < 4; i++) {
		p[i].srv = &srv;
		p[i].stop = &stop;
		p[i].n = 0;
		p[i].ids = calloc(10000, sizeof(p[i].ids[0]));
		pthread_create(&t[i], NULL, produce, &p[i]);
	}
	nanosleep(&ts, NULL);
	/* Stop the server under load: it answers what it took, then exits 0.
	 */
	ASSERT_INT_EQ(harness_server_stop(&srv, SIGTERM), 0);
	atomic_store(&stop, 1);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
	}
	for (int i = 0; i < 4; i++) {
		for (int k = 0; k < p[i].n; k++) {
			char *n = harness_sql(NULL,
			    "SELECT count(*) FROM jobs WHERE id = '%s'",
			    p[i].ids[k]);
			if (n == NULL || strcmp(n, "1") != 0) {
				fprintf(stderr,
				    "acknowledged job %s is missing\n",
				    p[i].ids[k]);
				CU_FAIL("an acknowledged job is missing");
			}
			free(n);
		}
		acked += p[i].n;
		free(p[i].ids);
	}
	CU_ASSERT_TRUE(acked > 0);
	fprintf(stderr, "(%d jobs acknowledged before SIGTERM) ", acked);
}

static void
test_embedded_postgres(void)
{
	const char *bin = getenv("OPSBUSD");
	char        dir[512], pidfile[600], out[600];
	struct stat sb;

	snprintf(dir, sizeof(dir), "%s/embedded", harness_tmpdir());
	snprintf(pidfile, sizeof(pidfile), "%s/postmaster.pid", dir);
	snprintf(out, sizeof(out), "%s/embedded.log", harness_tmpdir());
	/* Start with no --db: the server makes and runs its own cluster. */
	ASSERT_INT_EQ(harness_sh("OPSBUS_PG_NOSYNC=1 '%s' --data-dir '%s' "
	                         "--listen 'ipc://%s/emb.sock' > '%s' 2>&1 & "
	                         "echo $! > '%s/emb.pid'",
	                  bin, dir, harness_tmpdir(), out, harness_tmpdir()),
	    0);
	int up = 1;
	for (int i = 0; i < 200; i++) {
		up = harness_sh("grep -q 'opsbusd ready' '%s'", out);
		if (up == 0) {
			break;
		}
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	ASSERT_INT_EQ(up, 0);
	CU_ASSERT_EQUAL(stat(pidfile, &sb), 0);
	ASSERT_INT_EQ(harness_sh("grep -q 'db=embedded' '%s'", out), 0);
	ASSERT_INT_EQ(
	    harness_sh("grep -q 'NO API KEY IS CONFIGURED' '%s'", out), 0);
	ASSERT_INT_EQ(harness_sh("OPSBUS_URL='ipc://%s/emb.sock' '%s' health "
	                         ">/dev/null",
	                  harness_tmpdir(), getenv("OPSBUS_CLI")),
	    0);
	/* SIGTERM stops the server and its PostgreSQL. */
	ASSERT_INT_EQ(
	    harness_sh("kill -TERM $(cat '%s/emb.pid'); "
	               "for i in $(seq 100); do kill -0 $(cat '%s/emb.pid') "
	               "2>/dev/null || exit 0; sleep 0.1; done; exit 1",
	        harness_tmpdir(), harness_tmpdir()),
	    0);
	CU_ASSERT_NOT_EQUAL(stat(pidfile, &sb), 0);
	ASSERT_INT_EQ(harness_sh("grep -q 'opsbusd stopped' '%s'", out), 0);

	/* Stopping past its grace (here 1 ms, so that the guard fires while
	 * the server stops as usual): the embedded PostgreSQL is stopped all
	 * the same and opsbusd says why it exits 1. */
	ASSERT_INT_EQ(harness_sh("OPSBUS_PG_NOSYNC=1 OPSBUS_STOP_GRACE_MS=1 "
	                         "'%s' --data-dir '%s' --listen "
	                         "'ipc://%s/emb.sock' > '%s' 2>&1 & "
	                         "echo $! > '%s/emb.pid'",
	                  bin, dir, harness_tmpdir(), out, harness_tmpdir()),
	    0);
	up = 1;
	for (int i = 0; i < 200 && up != 0; i++) {
		struct timespec ts = {0, 100 * 1000 * 1000};

		if ((up = harness_sh("grep -q 'opsbusd ready' '%s'", out))
		    != 0) {
			nanosleep(&ts, NULL);
		}
	}
	ASSERT_INT_EQ(up, 0);
	CU_ASSERT_EQUAL(stat(pidfile, &sb), 0);
	ASSERT_INT_EQ(harness_sh("pid=$(cat '%s/emb.pid'); kill -TERM $pid; "
	                         "wait_gone() { for i in $(seq 100); do "
	                         "kill -0 $pid 2>/dev/null || return 0; "
	                         "sleep 0.1; done; return 1; }; wait_gone",
	                  harness_tmpdir()),
	    0);
	CU_ASSERT_NOT_EQUAL(stat(pidfile, &sb), 0);
	ASSERT_INT_EQ(
	    harness_sh("grep -q 'stopping takes too long' '%s'", out), 0);
	ASSERT_INT_EQ(harness_sh("grep -q 'opsbusd stopped' '%s'", out), 1);

	/* Without PostgreSQL's binaries: a clear message, exit non-zero. */
	ASSERT_INT_EQ(
	    harness_sh("OPSBUS_PG_BINDIR=/nonexistent '%s' --data-dir "
	               "'%s/none' --listen 'ipc://%s/none.sock' > '%s' "
	               "2>&1; test $? -ne 0 && grep -q 'install the "
	               "Debian package postgresql' '%s'",
	        bin, harness_tmpdir(), harness_tmpdir(), out, out),
	    0);
}

static void
test_migrations(void)
{
	char             conninfo[1024];
	struct db       *db;
	struct migration edited[64];
	char             err[512];
	int              version = 0;
	char            *r;

	r = harness_sql(NULL, "CREATE DATABASE migtest");
	free(r);
	snprintf(
	    conninfo, sizeof(conninfo), "%s dbname=migtest", harness_pg());
	CU_ASSERT_EQUAL_FATAL(db_open(conninfo, &db), OPSBUS_E_OK);
	CU_ASSERT_EQUAL(
	    migrations_apply(db, migrations_embedded,
	        migrations_embedded_count, &version, err, sizeof(err)),
	    OPSBUS_E_OK);
	ASSERT_INT_EQ(version,
	    migrations_embedded[migrations_embedded_count - 1].version);
	/* Applying again changes nothing. */
	CU_ASSERT_EQUAL(
	    migrations_apply(db, migrations_embedded,
	        migrations_embedded_count, &version, err, sizeof(err)),
	    OPSBUS_E_OK);
	r = harness_sql("migtest", "SELECT count(*) FROM schema_migrations");
	ASSERT_INT_EQ(atoi(r), migrations_embedded_count);
	free(r);
	/* An edited landed migration stops the start. */
	memcpy(edited, migrations_embedded,
	    sizeof(edited[0]) * (size_t) migrations_embedded_count);
	edited[0].sql = "-- edited\nSELECT 1;";
	CU_ASSERT_NOT_EQUAL(
	    migrations_apply(db, edited, migrations_embedded_count, &version,
	        err, sizeof(err)),
	    OPSBUS_E_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "was edited after it was applied"));
	db_free(db);
	/* And opsbusd refuses to start on such a database. */
	r = harness_sql("migtest",
	    "UPDATE schema_migrations SET checksum = "
	    "'0000' WHERE version = 1");
	free(r);
	ASSERT_INT_EQ(
	    harness_sh("'%s' --db '%s' --listen 'ipc://%s/mig.sock' > "
	               "'%s/mig.log' 2>&1; test $? -ne 0 && grep -q "
	               "'was edited' '%s/mig.log'",
	        getenv("OPSBUSD"), conninfo, harness_tmpdir(),
	        harness_tmpdir(), harness_tmpdir()),
	    0);
	/* The audit log is append-only. */
	r = harness_sql(NULL,
	    "INSERT INTO operator_audit_log (action_type, "
	    "operator_identity, reason, outcome) VALUES "
	    "('test_action', 'ops@example.com', 'checking "
	    "append-only', 'accepted')");
	ASSERT_STR_EQ(r, "1");
	free(r);
	setenv("HARNESS_SQL_QUIET", "1", 1);
	CU_ASSERT_PTR_NULL(harness_sql(NULL,
	    "UPDATE operator_audit_log SET "
	    "reason = 'rewritten'"));
	CU_ASSERT_PTR_NULL(
	    harness_sql(NULL, "DELETE FROM operator_audit_log"));
	CU_ASSERT_PTR_NULL(harness_sql(NULL, "TRUNCATE operator_audit_log"));
	unsetenv("HARNESS_SQL_QUIET");
}

/* Connects to the unix socket at an ipc:// URL and closes at once. */
static int
connect_and_leave(const char *url)
{
	struct sockaddr_un sun;
	int                fd = socket(AF_UNIX, SOCK_STREAM, 0);
	int                rv;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", url + 6);
	rv = connect(fd, (struct sockaddr *) &sun, sizeof(sun));
	close(fd);
	return (rv);
}

/* A fresh SUB socket on url receives a message within ms; 1 or 0. */
static int
subscriber_receives(const char *url, int ms)
{
	nng_socket sub;
	nng_msg   *msg = NULL;
	double     until = now_s() + ms / 1000.0;
	int        got = 0;

	if (nng_sub0_open(&sub) != 0) {
		return (0);
	}
	nng_socket_set(sub, NNG_OPT_SUB_SUBSCRIBE, "", 0);
	nng_socket_set_ms(sub, NNG_OPT_RECVTIMEO, 200);
	nng_dial(sub, url, NULL, NNG_FLAG_NONBLOCK);
	while (!got && now_s() < until) {
		free(harness_sql(NULL,
		    "INSERT INTO events (event_id, event_type, topic, actor) "
		    "VALUES (gen_random_uuid(), 'test', 'test.listener', "
		    "'tester')"));
		if (nng_recvmsg(sub, &msg, 0) == 0) {
			nng_msg_free(msg);
			got = 1;
		}
	}
	/* Quiet before closing: nng 1.5.2's close can wait forever on a
	 * message that is arriving (see client/subscriber.h). Nothing else
	 * writes events here, so once these are in, none comes. */
	while (nng_recvmsg(sub, &msg, 0) == 0) {
		nng_msg_free(msg);
	}
	nng_close(sub);
	return (got);
}

/*
 * Peers that connect and leave at once (a port scan) stop an nng 1.5.2
 * listener for good; the guard listens again and new clients and
 * subscribers are served.
 */
static void
test_listeners_survive_connect_and_leave(void)
{
	struct harness_server srv;
	struct opsbus_client *c;
	struct opsbus_status  st;
	char                  ev[300];
	const char           *extra[] = {"--events", ev, NULL};

	snprintf(ev, sizeof(ev), "ipc://%s/ev-scan.sock", harness_tmpdir());
	setenv("OPSBUS_LISTENER_CHECK_MS", "100", 1);
	CU_ASSERT_EQUAL_FATAL(harness_server_start(&srv, extra), 0);
	unsetenv("OPSBUS_LISTENER_CHECK_MS");
	/* The defect needs a peer to leave during the handshake, a race: on
	 * a loaded machine a round of 200 sometimes loses none. Up to five
	 * rounds, until both listeners were lost and listened again. */
	for (int round = 0; round < 5; round++) {
		for (int i = 0; i < 200; i++) {
			ASSERT_INT_EQ(connect_and_leave(srv.url), 0);
			ASSERT_INT_EQ(connect_and_leave(ev), 0);
		}
		ou_sleep_ms(500);
		if (harness_sh("grep -q 'listening again.*rpc=' '%s' && "
		               "grep -q 'listening again.*events=' '%s'",
		        srv.log, srv.log)
		    == 0) {
			break;
		}
	}
	/* A new client: served once the guard has listened again. */
	{
		struct opsbus_client_config cfg = {.url = srv.url,
		    .api_key = srv.api_key,
		    .timeout_ms = 10000,
		    .lazy = 1};
		Opsbus__V1__CheckRequest req = OPSBUS__V1__CHECK_REQUEST__INIT;
		ProtobufCMessage        *out = NULL;

		CU_ASSERT_EQUAL_FATAL(opsbus_client_open(&cfg, &c, &st), 0);
		req.skip_database = 1;
		CU_ASSERT_EQUAL(
		    opsbus_call(c, "opsbus.v1.HealthService/Check", &req.base,
		        &opsbus__v1__check_response__descriptor, &out, NULL,
		        &st),
		    0);
		if (out != NULL) {
			protobuf_c_message_free_unpacked(out, NULL);
		}
		opsbus_client_close(c);
	}
	CU_ASSERT_TRUE(subscriber_receives(ev, 10000));
	ASSERT_INT_EQ(
	    harness_sh("grep -q 'listening again.*rpc=' '%s'", srv.log), 0);
	ASSERT_INT_EQ(
	    harness_sh("grep -q 'listening again.*events=' '%s'", srv.log), 0);
	ASSERT_INT_EQ(harness_server_stop(&srv, SIGTERM), 0);
}

int
main(void)
{
	static const struct harness_case cases[] = {
	    {"a lost database answers UNAVAILABLE and service returns without "
	     "a restart",
	        test_database_outage},
	    {"SIGTERM under load exits 0 and loses no acknowledged job",
	        test_sigterm_drains},
	    {"without --db opsbusd runs and stops its own PostgreSQL",
	        test_embedded_postgres},
	    {"migrations apply once and an edited one stops the start",
	        test_migrations},
	    {"listeners survive peers that connect and leave at once",
	        test_listeners_survive_connect_and_leave},
	    {NULL, NULL},
	};

	return (harness_run("integration.server", cases, NULL, NULL));
}
