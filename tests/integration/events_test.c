/*
 * The event stream end to end: real PostgreSQL, real opsbusd publishing
 * on ipc://, libopsbus's subscriber, the CLI and nngcat. The order is
 * checked against transactions committed out of order, losses on the
 * socket against a slow subscriber, crash safety against SIGKILL under a
 * stream of job creations, and the outbox against a time with no
 * publisher. Each case starts the servers it needs, so that no publisher
 * of another case touches its events.
 */
#define _DEFAULT_SOURCE
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "opsbus/v1/event.pb-c.h"
#include "opsbus/v1/job.pb-c.h"
#include "store/embedded.h"
#include "subscriber.h"

#define STR(s) ((char *) (uintptr_t) (s))

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* An events URL of its own for each server of the test program. */
static void
events_url(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "ipc://%s/ev-%s.sock", harness_tmpdir(), name);
}

/*
 * Every server a case starts, so that a case stopped by a failed fatal
 * assert leaves none running (suite_cleanup kills what is left).
 */
static pid_t started[64];
static int   n_started;

static int
start_with(struct harness_server *s, const char *const *extra)
{
	int rv = harness_server_start(s, extra);

	if (rv == 0 && n_started < 64) {
		started[n_started++] = s->pid;
	}
	return (rv);
}

static int
start_server(struct harness_server *s, const char *events)
{
	const char *extra[] = {"--events", events, NULL};

	return (start_with(s, extra));
}

static int
suite_cleanup(void)
{
	for (int i = 0; i < n_started; i++) {
		/* Only our own children: a pid reused by another process is
		 * not waitable. */
		if (waitpid(started[i], NULL, WNOHANG) == 0) {
			kill(started[i], SIGKILL);
			waitpid(started[i], NULL, 0);
		}
	}
	return (0);
}

/*
 * A libopsbus subscriber on its own thread that records what it is given:
 * positions and event ids, in delivery order.
 */
struct collector {
	struct opsbus_client     *client;
	struct opsbus_subscriber *sub;
	pthread_t                 thread;
	pthread_mutex_t           mtx;
	int64_t                  *pos;
	char (*ids)[37];
	size_t n, cap;
	int    sleep_us;
	int    rv;
};

static int
collect(const Opsbus__V1__Event *e, void *arg)
{
	struct collector *c = arg;

	pthread_mutex_lock(&c->mtx);
	if (c->n == c->cap) {
		c->cap = c->cap == 0 ? 1024 : c->cap * 2;
		c->pos = realloc(c->pos, c->cap * sizeof(*c->pos));
		c->ids = realloc(c->ids, c->cap * sizeof(*c->ids));
	}
	c->pos[c->n] = e->position;
	snprintf(c->ids[c->n], sizeof(c->ids[0]), "%s", e->event_id);
	c->n++;
	pthread_mutex_unlock(&c->mtx);
	if (c->sleep_us > 0) {
		struct timespec ts = {0, (long) c->sleep_us * 1000L};

		nanosleep(&ts, NULL);
	}
	return (0);
}

static void *
collector_main(void *arg)
{
	struct collector    *c = arg;
	struct opsbus_status st;

	c->rv = opsbus_subscriber_run(c->sub, &st);
	if (c->rv != 0) {
		fprintf(
		    stderr, "collector: %s: %s\n", st.error_code, st.message);
	}
	return (NULL);
}

static int
collector_start(struct collector *c, const struct harness_server *rpc,
    const char *ev, const char *prefix, enum opsbus_sub_start start,
    int recv_buf, int sleep_us)
{
	struct opsbus_subscriber_config cfg;
	struct opsbus_status            st;

	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->mtx, NULL);
	c->sleep_us = sleep_us;
	if ((c->client = harness_client(rpc, NULL)) == NULL) {
		return (-1);
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.url = ev;
	cfg.client = c->client;
	cfg.topic_prefix = prefix;
	cfg.start = start;
	cfg.callback = collect;
	cfg.arg = c;
	cfg.recv_buf = recv_buf;
	cfg.idle_ms = 500;
	if (opsbus_subscriber_open(&cfg, &c->sub, &st) != 0) {
		fprintf(
		    stderr, "subscriber: %s: %s\n", st.error_code, st.message);
		opsbus_client_close(c->client);
		return (-1);
	}
	return (
	    pthread_create(&c->thread, NULL, collector_main, c) == 0 ? 0 : -1);
}

static size_t
collector_count(struct collector *c)
{
	size_t n;

	pthread_mutex_lock(&c->mtx);
	n = c->n;
	pthread_mutex_unlock(&c->mtx);
	return (n);
}

/* Waits until the subscriber holds everything through position. */
static bool
collector_wait_position(struct collector *c, int64_t position, int ms)
{
	for (int waited = 0; waited < ms; waited += 20) {
		if (opsbus_subscriber_position(c->sub) >= position) {
			return (true);
		}
		sleep_ms(20);
	}
	return (opsbus_subscriber_position(c->sub) >= position);
}

static bool
collector_wait_count(struct collector *c, size_t n, int ms)
{
	for (int waited = 0; waited < ms; waited += 20) {
		if (collector_count(c) >= n) {
			return (true);
		}
		sleep_ms(20);
	}
	return (collector_count(c) >= n);
}

static void
collector_stop(struct collector *c)
{
	opsbus_subscriber_stop(c->sub);
	pthread_join(c->thread, NULL);
	opsbus_subscriber_close(c->sub);
	opsbus_client_close(c->client);
	free(c->pos);
	free(c->ids);
	pthread_mutex_destroy(&c->mtx);
}

/* Delivered positions strictly increase: each event once, in order. */
static bool
collector_ordered(struct collector *c)
{
	bool ok = true;

	pthread_mutex_lock(&c->mtx);
	for (size_t i = 1; ok && i < c->n; i++) {
		if (c->pos[i] <= c->pos[i - 1]) {
			fprintf(stderr,
			    "out of order or twice: %lld after %lld\n",
			    (long long) c->pos[i], (long long) c->pos[i - 1]);
			ok = false;
		}
	}
	pthread_mutex_unlock(&c->mtx);
	return (ok);
}

/* The delivered event ids, comma-separated (malloc'd). */
static char *
collector_ids(struct collector *c)
{
	char *s;

	pthread_mutex_lock(&c->mtx);
	s = calloc(1, c->n * 37 + 1);
	for (size_t i = 0; s != NULL && i < c->n; i++) {
		if (i > 0) {
			strcat(s, ",");
		}
		strcat(s, c->ids[i]);
	}
	pthread_mutex_unlock(&c->mtx);
	return (s);
}

static PGconn *
pg_open(void)
{
	PGconn *conn = PQconnectdb(harness_pg());

	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "pg: %s", PQerrorMessage(conn));
	}
	return (conn);
}

static bool
pg_ok(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	bool      ok = PQresultStatus(res) == PGRES_COMMAND_OK
	    || PQresultStatus(res) == PGRES_TUPLES_OK;

	if (!ok) {
		fprintf(stderr, "pg: %s: %s", sql, PQresultErrorMessage(res));
	}
	PQclear(res);
	return (ok);
}

/* Inserts one event on conn (in its transaction, if one is open). */
static bool
pg_insert_event(PGconn *conn, const char *topic)
{
	char sql[512];

	snprintf(sql, sizeof(sql),
	    "INSERT INTO events (event_id, event_type, topic, actor, "
	    "payload) VALUES (gen_random_uuid(), 'test', '%s', 'tester', "
	    "'{\"k\": 1}')",
	    topic);
	return (pg_ok(conn, sql));
}

static int64_t
last_position(void)
{
	return (harness_sql_long("SELECT last_position FROM event_positions"));
}

static bool
wait_sql_zero(const char *sql, int ms)
{
	for (int waited = 0; waited < ms; waited += 20) {
		if (harness_sql_long("%s", sql) == 0) {
			return (true);
		}
		sleep_ms(20);
	}
	return (harness_sql_long("%s", sql) == 0);
}

/*
 * Three transactions insert events and commit in the reverse of their seq
 * order, with the publisher running in between; one of them took its
 * transaction id before the others inserted. Nothing goes out while an
 * older transaction is open; then every event goes out once, in
 * (txid, seq) order. Then eight connections race 160 transactions that
 * commit at random: the stream is again complete and in that order.
 */
static void
test_out_of_order_commits(void)
{
	struct harness_server srv;
	struct collector      col;
	char                  ev[256];
	PGconn               *a, *b, *c;
	char                 *want, *got;

	events_url(ev, sizeof(ev), "ooo");
	CU_ASSERT_EQUAL_FATAL(start_server(&srv, ev), 0);
	CU_ASSERT_EQUAL_FATAL(collector_start(&col, &srv, ev, "test.ooo",
	                          OPSBUS_SUB_FROM_NOW, 0, 0),
	    0);
	a = pg_open();
	b = pg_open();
	c = pg_open();
	/* a takes the lowest transaction id but inserts last. */
	CU_ASSERT_TRUE(pg_ok(a, "BEGIN"));
	CU_ASSERT_TRUE(pg_ok(a, "SELECT pg_current_xact_id()"));
	CU_ASSERT_TRUE(pg_ok(b, "BEGIN"));
	CU_ASSERT_TRUE(pg_insert_event(b, "test.ooo.b"));
	CU_ASSERT_TRUE(pg_ok(c, "BEGIN"));
	CU_ASSERT_TRUE(pg_insert_event(c, "test.ooo.c"));
	CU_ASSERT_TRUE(pg_insert_event(a, "test.ooo.a"));
	/* Commit c (the highest seq), then b: a is still open. */
	CU_ASSERT_TRUE(pg_ok(c, "COMMIT"));
	sleep_ms(400);
	ASSERT_INT_EQ(collector_count(&col), 0);
	ASSERT_INT_EQ(
	    harness_sql_long("SELECT count(*) FROM events_with_position "
	                     "WHERE topic = 'test.ooo.c' AND position IS "
	                     "NULL"),
	    1);
	CU_ASSERT_TRUE(pg_ok(b, "COMMIT"));
	sleep_ms(400);
	ASSERT_INT_EQ(collector_count(&col), 0);
	CU_ASSERT_TRUE(pg_ok(a, "COMMIT"));
	CU_ASSERT_TRUE(collector_wait_count(&col, 3, 5000));
	ASSERT_INT_EQ(collector_count(&col), 3);
	CU_ASSERT_TRUE(collector_ordered(&col));
	want = harness_sql(NULL,
	    "SELECT string_agg(event_id::text, ',' ORDER BY txid, seq) FROM "
	    "events WHERE topic LIKE 'test.ooo.%%'");
	got = collector_ids(&col);
	CU_ASSERT_PTR_NOT_NULL_FATAL(want);
	ASSERT_STR_EQ(got, want);
	/* a's event first although its seq is the highest. */
	ASSERT_INT_EQ(
	    harness_sql_long(
	        "SELECT count(*) FROM events_with_position WHERE topic = "
	        "'test.ooo.a' AND position < (SELECT position FROM "
	        "events_with_position WHERE topic = 'test.ooo.b') AND "
	        "seq > (SELECT seq FROM "
	        "events WHERE topic = 'test.ooo.c')"),
	    1);
	free(want);
	free(got);
	PQfinish(a);
	PQfinish(b);
	PQfinish(c);

	/* Eight connections, 20 transactions each, 1..3 events each,
	 * committing after random pauses. */
	{
		PGconn *conns[8];
		bool    open[8] = {false};
		int     left[8];
		int     total = 0;

		srand(42);
		for (int i = 0; i < 8; i++) {
			conns[i] = pg_open();
			left[i] = 20;
		}
		for (int step = 0; step < 8 * 20 * 2; step++) {
			int i = rand() % 8;

			if (left[i] == 0) {
				continue;
			}
			if (!open[i]) {
				int k = 1 + rand() % 3;

				pg_ok(conns[i], "BEGIN");
				for (int j = 0; j < k; j++) {
					pg_insert_event(
					    conns[i], "test.ooo.race");
					total++;
				}
				open[i] = true;
			} else {
				pg_ok(conns[i], "COMMIT");
				open[i] = false;
				left[i]--;
				if (rand() % 4 == 0) {
					sleep_ms(rand() % 20);
				}
			}
		}
		for (int i = 0; i < 8; i++) {
			if (open[i]) {
				pg_ok(conns[i], "COMMIT");
			}
			PQfinish(conns[i]);
		}
		total += 3;
		CU_ASSERT_TRUE(
		    wait_sql_zero("SELECT count(*) FROM events_with_position "
		                  "WHERE position IS NULL",
		        5000));
		CU_ASSERT_TRUE(
		    collector_wait_position(&col, last_position(), 10000));
		ASSERT_INT_EQ(collector_count(&col), total);
		CU_ASSERT_TRUE(collector_ordered(&col));
		want = harness_sql(NULL,
		    "SELECT string_agg(event_id::text, ',' ORDER BY txid, "
		    "seq) "
		    "FROM events WHERE topic LIKE 'test.ooo.%%'");
		got = collector_ids(&col);
		ASSERT_STR_EQ(got, want);
		free(want);
		free(got);
	}
	collector_stop(&col);
	ASSERT_INT_EQ(harness_server_stop(&srv, SIGTERM), 0);
}

/*
 * A subscriber that sleeps 1 ms per event, with a SUB queue of 2
 * messages, while 2000 events of 2 KB are written in a burst: nng drops
 * messages on the way, and the subscriber still delivers every event
 * once, in order, fetching the gaps over RPC.
 */
static void
test_slow_subscriber(void)
{
	struct harness_server          srv;
	struct collector               col;
	struct opsbus_subscriber_stats stats;
	char                           ev[256];
	PGconn                        *conn;
	char                          *want, *got;

	events_url(ev, sizeof(ev), "slow");
	CU_ASSERT_EQUAL_FATAL(start_server(&srv, ev), 0);
	CU_ASSERT_EQUAL_FATAL(collector_start(&col, &srv, ev, "test.slow",
	                          OPSBUS_SUB_FROM_NOW, 2, 1000),
	    0);
	/* The SUB socket is connected once a probe (outside the prefix:
	 * received, not delivered) comes through it. */
	free(harness_sql(NULL,
	    "INSERT INTO events (event_id, event_type, topic, actor) VALUES "
	    "(gen_random_uuid(), 'test', 'probe.slow', 'tester')"));
	for (int i = 0; i < 500; i++) {
		opsbus_subscriber_stats(col.sub, &stats);
		if (stats.received > 0) {
			break;
		}
		sleep_ms(20);
	}
	CU_ASSERT_TRUE_FATAL(stats.received > 0);
	conn = pg_open();
	for (int t = 0; t < 20; t++) {
		CU_ASSERT_TRUE(pg_ok(conn,
		    "INSERT INTO events (event_id, event_type, topic, actor, "
		    "payload) SELECT gen_random_uuid(), 'test', "
		    "'test.slow.x', "
		    "'tester', jsonb_build_object('n', i, 'pad', repeat('x', "
		    "2048)) FROM generate_series(1, 100) i"));
	}
	PQfinish(conn);
	CU_ASSERT_TRUE(wait_sql_zero(
	    "SELECT count(*) FROM events_with_position WHERE position IS NULL",
	    5000));
	CU_ASSERT_TRUE(collector_wait_position(&col, last_position(), 30000));
	ASSERT_INT_EQ(collector_count(&col), 2000);
	CU_ASSERT_TRUE(collector_ordered(&col));
	want = harness_sql(NULL,
	    "SELECT string_agg(event_id::text, ',' ORDER BY position) FROM "
	    "events_with_position WHERE topic = 'test.slow.x'");
	got = collector_ids(&col);
	ASSERT_STR_EQ(got, want);
	free(want);
	free(got);
	opsbus_subscriber_stats(col.sub, &stats);
	fprintf(stderr,
	    "slow subscriber: received %llu, delivered %llu (%llu fetched), "
	    "gaps %llu, duplicates %llu, catch-ups %llu\n",
	    (unsigned long long) stats.received,
	    (unsigned long long) stats.delivered,
	    (unsigned long long) stats.fetched,
	    (unsigned long long) stats.gaps,
	    (unsigned long long) stats.duplicates,
	    (unsigned long long) stats.catchups);
	/* Messages were lost on the socket and made good over RPC. */
	CU_ASSERT_TRUE(stats.received < 2001);
	CU_ASSERT_TRUE(stats.gaps > 0);
	CU_ASSERT_TRUE(stats.fetched > 0);
	ASSERT_INT_EQ(stats.delivered, 2000);
	collector_stop(&col);
	ASSERT_INT_EQ(harness_server_stop(&srv, SIGTERM), 0);
}

struct creator {
	struct harness_server *srv;
	atomic_bool           *stop;
	const char            *queue;
	int                    created;
	int                    failed;
};

static void *
creator_main(void *arg)
{
	struct creator              *cr = arg;
	struct opsbus_client_config  cfg;
	struct opsbus_client        *c;
	struct opsbus_status         st;
	Opsbus__V1__CreateJobRequest req;

	memset(&cfg, 0, sizeof(cfg));
	cfg.url = cr->srv->url;
	cfg.api_key = cr->srv->api_key;
	cfg.timeout_ms = 2000;
	cfg.lazy = 1;
	if (opsbus_client_open(&cfg, &c, &st) != 0) {
		return (NULL);
	}
	opsbus__v1__create_job_request__init(&req);
	req.queue = STR(cr->queue);
	req.payload = STR("{\"step\": 1}");
	while (!atomic_load(cr->stop)) {
		ProtobufCMessage *out = NULL;

		if (opsbus_call(c, "opsbus.v1.JobService/CreateJob", &req.base,
		        &opsbus__v1__create_job_response__descriptor, &out,
		        NULL, &st)
		    == 0) {
			cr->created++;
			protobuf_c_message_free_unpacked(out, NULL);
		} else {
			cr->failed++;
			sleep_ms(20);
		}
		sleep_ms(2);
	}
	opsbus_client_close(c);
	return (NULL);
}

/*
 * The publishing opsbusd is killed with SIGKILL and restarted while jobs
 * are being created (through it and through a second opsbusd with no
 * publisher). The subscriber (RPC through the second server) ends with
 * every committed event, none twice, in order.
 */
static void
test_sigkill_restart(void)
{
	struct harness_server          pub, rpc;
	struct collector               col;
	struct opsbus_subscriber_stats stats;
	char                           ev[256];
	atomic_bool                    stop_a, stop_b;
	struct creator                 ca, cb;
	pthread_t                      ta, tb;
	char                          *want, *got;
	uint64_t                       received_before;

	events_url(ev, sizeof(ev), "kill");
	CU_ASSERT_EQUAL_FATAL(start_server(&pub, ev), 0);
	CU_ASSERT_EQUAL_FATAL(start_server(&rpc, "off"), 0);
	CU_ASSERT_EQUAL_FATAL(
	    collector_start(
	        &col, &rpc, ev, "job.created.kill", OPSBUS_SUB_FROM_NOW, 0, 0),
	    0);
	atomic_init(&stop_a, false);
	atomic_init(&stop_b, false);
	ca = (struct creator) {
	    .srv = &pub, .stop = &stop_a, .queue = "kill-a"};
	cb = (struct creator) {
	    .srv = &rpc, .stop = &stop_b, .queue = "kill-b"};
	pthread_create(&ta, NULL, creator_main, &ca);
	pthread_create(&tb, NULL, creator_main, &cb);
	sleep_ms(1000);
	ASSERT_INT_EQ(harness_server_stop(&pub, SIGKILL), 128 + SIGKILL);
	atomic_store(&stop_a, true);
	pthread_join(ta, NULL);
	sleep_ms(500);
	opsbus_subscriber_stats(col.sub, &stats);
	received_before = stats.received;
	CU_ASSERT_EQUAL_FATAL(start_server(&pub, ev), 0);
	atomic_store(&stop_a, false);
	pthread_create(&ta, NULL, creator_main, &ca);
	sleep_ms(1000);
	atomic_store(&stop_a, true);
	atomic_store(&stop_b, true);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	fprintf(stderr,
	    "created %d through the killed server, %d through "
	    "the other\n",
	    ca.created, cb.created);
	CU_ASSERT_TRUE(ca.created > 0 && cb.created > 0);
	CU_ASSERT_TRUE(wait_sql_zero(
	    "SELECT count(*) FROM events_with_position WHERE position IS NULL",
	    5000));
	CU_ASSERT_TRUE(collector_wait_position(&col, last_position(), 10000));
	CU_ASSERT_TRUE(collector_ordered(&col));
	want = harness_sql(NULL,
	    "SELECT string_agg(event_id::text, ',' ORDER BY position) FROM "
	    "events_with_position WHERE topic LIKE 'job.created.kill%%'");
	got = collector_ids(&col);
	CU_ASSERT_PTR_NOT_NULL_FATAL(want);
	ASSERT_STR_EQ(got, want);
	ASSERT_INT_EQ(collector_count(&col),
	    harness_sql_long(
	        "SELECT count(*) FROM jobs WHERE queue LIKE 'kill-%%'"));
	opsbus_subscriber_stats(col.sub, &stats);
	fprintf(stderr,
	    "after restart: received %llu, delivered %llu (%llu fetched), "
	    "gaps %llu, duplicates %llu\n",
	    (unsigned long long) stats.received,
	    (unsigned long long) stats.delivered,
	    (unsigned long long) stats.fetched,
	    (unsigned long long) stats.gaps,
	    (unsigned long long) stats.duplicates);
	/* The restarted publisher sent to the same subscriber. */
	CU_ASSERT_TRUE(stats.received > received_before);
	free(want);
	free(got);
	collector_stop(&col);
	ASSERT_INT_EQ(harness_server_stop(&pub, SIGTERM), 0);
	ASSERT_INT_EQ(harness_server_stop(&rpc, SIGTERM), 0);
}

/* Makes a dead letter the way workers do: create, claim, fail for good. */
static bool
make_dead_letter(struct opsbus_client *c, const char *queue)
{
	Opsbus__V1__CreateJobRequest   create;
	Opsbus__V1__CreateJobResponse *created = NULL;
	Opsbus__V1__ClaimJobsRequest   claim;
	Opsbus__V1__ClaimJobsResponse *claimed = NULL;
	Opsbus__V1__FailJobRequest     fail;
	ProtobufCMessage              *failed = NULL;
	struct opsbus_status           st;
	bool                           ok = false;

	opsbus__v1__create_job_request__init(&create);
	create.queue = STR(queue);
	create.kind = STR("encounter");
	create.max_attempts = 1;
	create.payload = STR("{\"patient\": {\"first_name\": \"Sam\", "
	                     "\"dob\": \"1990-01-01\"}}");
	opsbus__v1__claim_jobs_request__init(&claim);
	claim.queue = STR(queue);
	claim.worker_id = STR("normalizer-1");
	opsbus__v1__fail_job_request__init(&fail);
	fail.reason_code = STR("TOKENIZER_UNAVAILABLE");
	fail.error = STR("tokenizer down");
	fail.stage = STR("normalize");
	fail.retryable = false;
	if (opsbus_call(c, "opsbus.v1.JobService/CreateJob", &create.base,
	        &opsbus__v1__create_job_response__descriptor,
	        (ProtobufCMessage **) &created, NULL, &st)
	        != 0
	    || opsbus_call(c, "opsbus.v1.JobService/ClaimJobs", &claim.base,
	           &opsbus__v1__claim_jobs_response__descriptor,
	           (ProtobufCMessage **) &claimed, NULL, &st)
	        != 0
	    || claimed->n_jobs != 1) {
		fprintf(
		    stderr, "dead letter: %s %s\n", st.error_code, st.message);
		goto out;
	}
	fail.job_id = claimed->jobs[0]->job->id;
	fail.lease_token = claimed->jobs[0]->lease_token;
	if (opsbus_call(c, "opsbus.v1.JobService/FailJob", &fail.base,
	        &opsbus__v1__fail_job_response__descriptor, &failed, NULL, &st)
	    != 0) {
		fprintf(stderr, "fail: %s %s\n", st.error_code, st.message);
		goto out;
	}
	ok = true;
out:
	if (created != NULL) {
		protobuf_c_message_free_unpacked(&created->base, NULL);
	}
	if (claimed != NULL) {
		protobuf_c_message_free_unpacked(&claimed->base, NULL);
	}
	if (failed != NULL) {
		protobuf_c_message_free_unpacked(failed, NULL);
	}
	return (ok);
}

/*
 * nngcat, which nobody here wrote, subscribes to job.dead_failed and
 * receives the dead-letter event of a job a worker failed for good, with
 * the seed-002 envelope and no personal data; not the job's other events.
 */
static void
test_nngcat_dead_letters(void)
{
	struct harness_server srv;
	struct opsbus_client *c;
	char                  ev[256], out[512], pidfile[512];
	char                  cmd[2048];
	FILE                 *f;
	char                  buf[8192];
	size_t                n;

	events_url(ev, sizeof(ev), "nngcat");
	snprintf(out, sizeof(out), "%s/nngcat.out", harness_tmpdir());
	snprintf(pidfile, sizeof(pidfile), "%s/nngcat.pid", harness_tmpdir());
	CU_ASSERT_EQUAL_FATAL(start_server(&srv, ev), 0);
	c = harness_client(&srv, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	snprintf(cmd, sizeof(cmd),
	    "nngcat --sub --connect '%s' --subscribe job.dead_failed "
	    "--quoted --count 1 --recv-timeout 20 > '%s' 2>&1 & "
	    "echo $! > '%s'",
	    ev, out, pidfile);
	CU_ASSERT_EQUAL_FATAL(harness_sh("%s", cmd), 0);
	sleep_ms(500);
	/* created and claimed go out first; nngcat must not print them. */
	CU_ASSERT_TRUE(make_dead_letter(c, "ingest"));
	/* nngcat exits after its one message. */
	for (int i = 0; i < 100; i++) {
		if (harness_sh("kill -0 $(cat '%s') 2>/dev/null", pidfile)
		    != 0) {
			break;
		}
		sleep_ms(50);
	}
	harness_sh("kill $(cat '%s') 2>/dev/null", pidfile);
	f = fopen(out, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	fprintf(stderr, "nngcat printed: %.400s\n", buf);
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "job.dead_failed.ingest"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "original_event"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "TOKENIZER_UNAVAILABLE"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "normalize"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "failed_at"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "attempts"));
	CU_ASSERT_PTR_NULL(strstr(buf, "Sam"));
	CU_ASSERT_PTR_NULL(strstr(buf, "1990-01-01"));
	CU_ASSERT_PTR_NULL(strstr(buf, "job.created.ingest"));
	CU_ASSERT_PTR_NULL(strstr(buf, "job.claimed.ingest"));

	/* An envelope written by other means goes out redacted too. */
	snprintf(cmd, sizeof(cmd),
	    "nngcat --sub --connect '%s' --subscribe job.dead_failed.legacy "
	    "--quoted --count 1 --recv-timeout 20 > '%s' 2>&1 & "
	    "echo $! > '%s'",
	    ev, out, pidfile);
	CU_ASSERT_EQUAL_FATAL(harness_sh("%s", cmd), 0);
	sleep_ms(500);
	free(harness_sql(NULL,
	    "INSERT INTO events (event_id, event_type, topic, job_id, queue, "
	    "tenant, actor, payload) VALUES (gen_random_uuid(), "
	    "'dead_failed', 'job.dead_failed.legacy', gen_random_uuid(), "
	    "'legacy', 'default', 'worker-1', jsonb_build_object("
	    "'original_event', jsonb_build_object('record_type', "
	    "'encounter', 'first_name', 'Sam'), 'error', jsonb_build_object("
	    "'type', 'TokenizerUnavailable', 'message', 'tokenizer down', "
	    "'stage', 'normalize'), 'attempts', 5, 'failed_at', "
	    "'2026-11-22T08:25:21Z'))"));
	for (int i = 0; i < 100; i++) {
		if (harness_sh("kill -0 $(cat '%s') 2>/dev/null", pidfile)
		    != 0) {
			break;
		}
		sleep_ms(50);
	}
	harness_sh("kill $(cat '%s') 2>/dev/null", pidfile);
	f = fopen(out, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "TokenizerUnavailable"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "[REDACTED]"));
	CU_ASSERT_PTR_NULL(strstr(buf, "Sam"));
	opsbus_client_close(c);
	ASSERT_INT_EQ(harness_server_stop(&srv, SIGTERM), 0);
}

/*
 * Seed 002's "Kafka down" test with opsbus's parts: jobs are created
 * while no publisher runs (an opsbusd with --events off serves the
 * calls). Their events wait in the outbox, unpublished, and `opsbus
 * events backlog` shows them; when a publishing opsbusd starts, they go
 * out to the subscriber that was waiting and are marked published.
 */
static void
test_backlog_waits_for_publisher(void)
{
	struct harness_server        off, pub;
	struct collector             col;
	char                         ev[256];
	struct opsbus_client        *c;
	struct opsbus_status         st;
	Opsbus__V1__CreateJobRequest req;
	char                        *out = NULL;
	char                         line[128];
	const char                  *backlog[] = {"events", "backlog", NULL};
	const char *backlog_json[] = {"--json", "events", "backlog", NULL};

	events_url(ev, sizeof(ev), "outbox");
	CU_ASSERT_EQUAL_FATAL(start_server(&off, "off"), 0);
	CU_ASSERT_EQUAL_FATAL(
	    collector_start(&col, &off, ev, "job.created.outbox",
	        OPSBUS_SUB_FROM_NOW, 0, 0),
	    0);
	c = harness_client(&off, NULL);
	opsbus__v1__create_job_request__init(&req);
	req.queue = STR("outbox");
	req.kind = STR("encounter");
	for (int i = 0; i < 5; i++) {
		ProtobufCMessage *res = NULL;

		CU_ASSERT_EQUAL(
		    opsbus_call(c, "opsbus.v1.JobService/CreateJob", &req.base,
		        &opsbus__v1__create_job_response__descriptor, &res,
		        NULL, &st),
		    0);
		protobuf_c_message_free_unpacked(res, NULL);
	}
	sleep_ms(700);
	ASSERT_INT_EQ(
	    harness_sql_long(
	        "SELECT count(*) FROM events_with_position WHERE topic "
	        "= 'job.created.outbox' AND NOT published"),
	    5);
	ASSERT_INT_EQ(collector_count(&col), 0);
	ASSERT_INT_EQ(harness_cli(&off, backlog, &out, NULL), 0);
	snprintf(line, sizeof(line), "unpublished:          %ld\n",
	    harness_sql_long(
	        "SELECT count(*) FROM events_with_position WHERE NOT "
	        "published"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, line));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "oldest unpublished:"));
	snprintf(line, sizeof(line), "waiting for order:    %ld\n",
	    harness_sql_long("SELECT count(*) FROM events_with_position WHERE "
	                     "position IS NULL"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, line));
	CU_ASSERT_TRUE(
	    harness_sql_long("SELECT count(*) FROM events_with_position "
	                     "WHERE position IS NULL")
	    >= 5);
	free(out);

	/* The publisher comes back. */
	CU_ASSERT_EQUAL_FATAL(start_server(&pub, ev), 0);
	CU_ASSERT_TRUE(collector_wait_count(&col, 5, 10000));
	ASSERT_INT_EQ(collector_count(&col), 5);
	CU_ASSERT_TRUE(collector_ordered(&col));
	CU_ASSERT_TRUE(wait_sql_zero("SELECT count(*) FROM "
	                             "events_with_position WHERE topic = "
	                             "'job.created.outbox' AND NOT published",
	    5000));
	ASSERT_INT_EQ(harness_cli(&off, backlog_json, &out, NULL), 0);
	snprintf(line, sizeof(line), "\"unpublished\": \"%ld\"",
	    harness_sql_long(
	        "SELECT count(*) FROM events_with_position WHERE NOT "
	        "published"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, line));
	free(out);
	opsbus_client_close(c);
	collector_stop(&col);
	ASSERT_INT_EQ(harness_server_stop(&pub, SIGTERM), 0);
	ASSERT_INT_EQ(harness_server_stop(&off, SIGTERM), 0);
}

/*
 * Retention prunes published events older than it, in batches, and never
 * unpublished ones however old.
 */
static void
test_retention(void)
{
	struct harness_server srv;
	char                  ev[256];
	const char           *extra[]
	    = {"--events", ev, "--event-retention-hours", "1", NULL};

	events_url(ev, sizeof(ev), "retention");
	/* Positions follow time, and retention prunes the oldest positions
	 * first: start from an empty outbox so that these backdated rows
	 * come first. */
	free(harness_sql(NULL, "DELETE FROM event_order"));
	free(harness_sql(NULL, "DELETE FROM events"));
	free(harness_sql(NULL,
	    "INSERT INTO events (event_id, event_type, topic, actor, "
	    "created_at) SELECT gen_random_uuid(), 'test', "
	    "'test.retention.old', 'tester', now() - interval '2 days' "
	    "FROM generate_series(1, 2500)"));
	free(harness_sql(NULL,
	    "INSERT INTO events (event_id, event_type, topic, actor) SELECT "
	    "gen_random_uuid(), 'test', 'test.retention.new', 'tester' FROM "
	    "generate_series(1, 4)"));
	/* Positioned and published (as a publisher would have), then three
	 * more, backdated further, that nobody published. */
	free(harness_sql(NULL, "SELECT events_sequence(10000)"));
	free(harness_sql(NULL,
	    "UPDATE event_publications SET published_through = (SELECT "
	    "last_position FROM event_positions)"));
	free(harness_sql(NULL,
	    "INSERT INTO events (event_id, event_type, topic, actor, "
	    "created_at) SELECT gen_random_uuid(), 'test', "
	    "'test.retention.unpublished', 'tester', now() - interval "
	    "'30 days' FROM generate_series(1, 3)"));
	setenv("OPSBUS_EVENT_MAINTENANCE_MS", "200", 1);
	CU_ASSERT_EQUAL_FATAL(start_with(&srv, extra), 0);
	unsetenv("OPSBUS_EVENT_MAINTENANCE_MS");
	CU_ASSERT_TRUE(wait_sql_zero("SELECT count(*) FROM events WHERE "
	                             "topic = 'test.retention.old'",
	    10000));
	/* No subscriber is connected: they stay unpublished, and kept. */
	sleep_ms(500);
	ASSERT_INT_EQ(
	    harness_sql_long("SELECT count(*) FROM events WHERE topic = "
	                     "'test.retention.unpublished'"),
	    3);
	ASSERT_INT_EQ(
	    harness_sql_long("SELECT count(*) FROM events WHERE topic = "
	                     "'test.retention.new'"),
	    4);
	ASSERT_INT_EQ(harness_server_stop(&srv, SIGTERM), 0);
	/* Let no later case publish them. */
	free(harness_sql(NULL,
	    "DELETE FROM event_order WHERE seq IN (SELECT seq FROM events "
	    "WHERE topic LIKE 'test.retention.%%')"));
	free(harness_sql(
	    NULL, "DELETE FROM events WHERE topic LIKE 'test.retention.%%'"));
}

static Opsbus__V1__ListEventsResponse *
list_events(struct opsbus_client *c, int64_t after, const char *prefix,
    int limit, bool set_limit, struct opsbus_status *st)
{
	Opsbus__V1__ListEventsRequest req;
	ProtobufCMessage             *out = NULL;

	opsbus__v1__list_events_request__init(&req);
	req.after_position = after;
	req.topic_prefix = STR(prefix);
	if (set_limit) {
		req.limit_value_case
		    = OPSBUS__V1__LIST_EVENTS_REQUEST__LIMIT_VALUE_LIMIT;
		req.limit = limit;
	}
	if (opsbus_call(c, "opsbus.v1.EventService/ListEvents", &req.base,
	        &opsbus__v1__list_events_response__descriptor, &out, NULL, st)
	    != 0) {
		return (NULL);
	}
	return ((Opsbus__V1__ListEventsResponse *) out);
}

/*
 * ListEvents refuses bad input and answers in position order with the
 * topic filter and the limit; the CLI lists, follows from the start and
 * reports usage errors.
 */
static void
test_list_events_and_cli(void)
{
	struct harness_server           srv;
	struct opsbus_client           *c;
	struct opsbus_status            st;
	Opsbus__V1__ListEventsResponse *res;
	char                            ev[256], long_prefix[200];
	char                           *out = NULL, *err = NULL;
	int64_t                         base;
	const char                     *extra[]
	    = {"--events", ev, "--http", "http://127.0.0.1:0", NULL};

	events_url(ev, sizeof(ev), "list");
	CU_ASSERT_EQUAL_FATAL(start_with(&srv, extra), 0);
	c = harness_client(&srv, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);

	CU_ASSERT_PTR_NULL(list_events(c, 0, "", 0, true, &st));
	ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
	ASSERT_INT_EQ(st.code, 3);
	CU_ASSERT_PTR_NULL(list_events(c, 0, "", 1001, true, &st));
	ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
	CU_ASSERT_PTR_NULL(list_events(c, 0, "", -5, true, &st));
	ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
	CU_ASSERT_PTR_NULL(list_events(c, -1, "", 10, true, &st));
	ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
	CU_ASSERT_PTR_NULL(list_events(c, 0, "job created", 10, true, &st));
	ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
	CU_ASSERT_PTR_NULL(list_events(c, 0, "job.%", 10, true, &st));
	ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");
	memset(long_prefix, 'a', sizeof(long_prefix) - 1);
	long_prefix[sizeof(long_prefix) - 1] = '\0';
	CU_ASSERT_PTR_NULL(list_events(c, 0, long_prefix, 10, true, &st));
	ASSERT_STR_EQ(st.error_code, "VALIDATION_ERROR");

	/* Five events of two topics, positioned by the publisher. */
	base = last_position();
	free(harness_sql(NULL,
	    "INSERT INTO events (event_id, event_type, topic, actor, payload) "
	    "SELECT gen_random_uuid(), 'test', CASE WHEN i %% 2 = 0 THEN "
	    "'test.list.even' ELSE 'test.list.odd' END, 'tester', "
	    "jsonb_build_object('i', i, 'ssn', '123-45-6789') "
	    "FROM generate_series(1, 5) i"));
	CU_ASSERT_TRUE(wait_sql_zero(
	    "SELECT count(*) FROM events_with_position WHERE position IS NULL",
	    5000));
	res = list_events(c, base, "test.list.", 2, true, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(res);
	ASSERT_INT_EQ(res->n_events, 2);
	CU_ASSERT_TRUE(res->more);
	ASSERT_INT_EQ(res->events[0]->position, base + 1);
	ASSERT_INT_EQ(res->events[0]->previous_position, base);
	ASSERT_INT_EQ(res->events[1]->previous_position, base + 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(res->events[0]->payload, "[REDACTED]"));
	CU_ASSERT_PTR_NULL(strstr(res->events[0]->payload, "123-45"));
	protobuf_c_message_free_unpacked(&res->base, NULL);
	res = list_events(c, base, "test.list.even", 0, false, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(res);
	ASSERT_INT_EQ(res->n_events, 2);
	CU_ASSERT_FALSE(res->more);
	ASSERT_INT_EQ(res->last_position, base + 5);
	ASSERT_STR_EQ(res->events[0]->topic, "test.list.even");
	CU_ASSERT_TRUE(res->events[1]->position > res->events[0]->position);
	ASSERT_INT_EQ(
	    res->events[1]->previous_position, res->events[0]->position);
	protobuf_c_message_free_unpacked(&res->base, NULL);

	/* The CLI. */
	{
		char        after[32];
		char        from[32];
		const char *list[] = {"events", "list", "--after", after,
		    "--topic", "test.list.odd", NULL};
		const char *follow[] = {"--json", "events", "follow", "--from",
		    from, "--topic", "test.list.", "--count", "5",
		    "--events-url", ev, NULL};
		const char *bad_limit[]
		    = {"events", "list", "--limit", "0", NULL};
		const char *bad_from[] = {
		    "events", "follow", "--from", "3", "--from-start", NULL};
		const char *bad_sub[] = {"events", "replay", NULL};

		snprintf(after, sizeof(after), "%lld", (long long) base);
		snprintf(from, sizeof(from), "%lld", (long long) base);
		ASSERT_INT_EQ(harness_cli(&srv, list, &out, &err), 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "test.list.odd"));
		CU_ASSERT_PTR_NULL(strstr(out, "test.list.even"));
		free(out);
		free(err);
		ASSERT_INT_EQ(harness_cli(&srv, follow, &out, &err), 0);
		/* Five JSON lines, in order. */
		{
			int lines = 0;

			for (char *p = out; *p != '\0'; p++) {
				lines += *p == '\n';
			}
			ASSERT_INT_EQ(lines, 5);
		}
		CU_ASSERT_PTR_NOT_NULL(
		    strstr(out, "\"topic\":\"test.list.odd\""));
		free(out);
		free(err);
		ASSERT_INT_EQ(harness_cli(&srv, bad_limit, &out, &err), 1);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "VALIDATION_ERROR"));
		free(out);
		free(err);
		ASSERT_INT_EQ(harness_cli(&srv, bad_from, &out, &err), 2);
		free(out);
		free(err);
		ASSERT_INT_EQ(harness_cli(&srv, bad_sub, &out, &err), 2);
		free(out);
		free(err);
	}
	/* The same over HTTP/JSON, through the gateway. */
	{
		char  port[16] = "";
		char  cmd[1024];
		FILE *p;

		snprintf(cmd, sizeof(cmd),
		    "grep -o 'port=[0-9]*' '%s' | head -1 | cut -d= -f2",
		    srv.log);
		if ((p = popen(cmd, "r")) != NULL) {
			if (fgets(port, sizeof(port), p) == NULL) {
				port[0] = '\0';
			}
			pclose(p);
		}
		port[strcspn(port, "\n")] = '\0';
		CU_ASSERT_TRUE_FATAL(port[0] != '\0');
		ASSERT_INT_EQ(harness_sh("curl -sf -H 'X-API-Key: %s' "
		                         "'http://127.0.0.1:%s/api/v1/events?"
		                         "after_position=%lld&topic_prefix="
		                         "test.list.odd' | grep -q "
		                         "'\"topic\":\"test.list.odd\"'",
		                  srv.api_key, port, (long long) base),
		    0);
		ASSERT_INT_EQ(
		    harness_sh("curl -s -o /dev/null -w '%%{http_code}' "
		               "-H 'X-API-Key: %s' "
		               "'http://127.0.0.1:%s/api/v1/events?"
		               "limit=0' | grep -q 400",
		        srv.api_key, port),
		    0);
		ASSERT_INT_EQ(harness_sh("curl -sf -H 'X-API-Key: %s' "
		                         "'http://127.0.0.1:%s/api/v1/events/"
		                         "backlog' | grep -q lastPosition",
		                  srv.api_key, port),
		    0);
	}
	opsbus_client_close(c);
	ASSERT_INT_EQ(harness_server_stop(&srv, SIGTERM), 0);
}

/*
 * Several opsbusd on one database each publish every event to their own
 * subscribers, and ws:// works as a transport.
 */
static void
test_two_publishers_and_ws(void)
{
	struct harness_server a, b;
	struct collector      ca, cb;
	char                  eva[256], evb[256];
	int64_t               last;

	events_url(eva, sizeof(eva), "two-a");
	snprintf(evb, sizeof(evb), "ws://127.0.0.1:%d/events",
	    20000 + (int) (getpid() % 20000));
	CU_ASSERT_EQUAL_FATAL(start_server(&a, eva), 0);
	CU_ASSERT_EQUAL_FATAL(start_server(&b, evb), 0);
	CU_ASSERT_EQUAL_FATAL(collector_start(&ca, &a, eva, "test.two",
	                          OPSBUS_SUB_FROM_NOW, 0, 0),
	    0);
	CU_ASSERT_EQUAL_FATAL(collector_start(&cb, &a, evb, "test.two",
	                          OPSBUS_SUB_FROM_NOW, 0, 0),
	    0);
	sleep_ms(300);
	for (int i = 0; i < 10; i++) {
		free(harness_sql(NULL,
		    "INSERT INTO events (event_id, event_type, topic, actor) "
		    "VALUES (gen_random_uuid(), 'test', 'test.two', "
		    "'tester')"));
	}
	CU_ASSERT_TRUE(wait_sql_zero(
	    "SELECT count(*) FROM events_with_position WHERE position IS NULL",
	    5000));
	last = last_position();
	CU_ASSERT_TRUE(collector_wait_position(&ca, last, 5000));
	CU_ASSERT_TRUE(collector_wait_position(&cb, last, 5000));
	ASSERT_INT_EQ(collector_count(&ca), 10);
	ASSERT_INT_EQ(collector_count(&cb), 10);
	{
		struct opsbus_subscriber_stats sa, sb;

		opsbus_subscriber_stats(ca.sub, &sa);
		opsbus_subscriber_stats(cb.sub, &sb);
		/* Both heard the events from their own publisher. */
		CU_ASSERT_TRUE(sa.received > 0);
		CU_ASSERT_TRUE(sb.received > 0);
	}
	collector_stop(&ca);
	collector_stop(&cb);
	ASSERT_INT_EQ(harness_server_stop(&a, SIGTERM), 0);
	ASSERT_INT_EQ(harness_server_stop(&b, SIGTERM), 0);
}

/*
 * PostgreSQL stops and comes back under a running publisher and
 * subscriber: the publisher waits it out and carries on, and the
 * subscriber gets every event once.
 */
static void
test_database_outage(void)
{
	struct harness_server srv;
	struct collector      col;
	char                  ev[256], err[1024];

	events_url(ev, sizeof(ev), "outage");
	CU_ASSERT_EQUAL_FATAL(start_server(&srv, ev), 0);
	CU_ASSERT_EQUAL_FATAL(collector_start(&col, &srv, ev, "test.outage",
	                          OPSBUS_SUB_FROM_NOW, 0, 0),
	    0);
	sleep_ms(300);
	for (int i = 0; i < 3; i++) {
		free(harness_sql(NULL,
		    "INSERT INTO events (event_id, event_type, topic, actor) "
		    "VALUES (gen_random_uuid(), 'test', 'test.outage', "
		    "'tester')"));
	}
	CU_ASSERT_TRUE(collector_wait_count(&col, 3, 5000));
	CU_ASSERT_EQUAL_FATAL(pg_embedded_stop(harness_pg_handle()), 0);
	sleep_ms(1500);
	CU_ASSERT_EQUAL_FATAL(
	    pg_embedded_restart(harness_pg_handle(), err, sizeof(err)), 0);
	for (int i = 0; i < 3; i++) {
		free(harness_sql(NULL,
		    "INSERT INTO events (event_id, event_type, topic, actor) "
		    "VALUES (gen_random_uuid(), 'test', 'test.outage', "
		    "'tester')"));
	}
	CU_ASSERT_TRUE(wait_sql_zero(
	    "SELECT count(*) FROM events_with_position WHERE position IS NULL",
	    10000));
	CU_ASSERT_TRUE(collector_wait_position(&col, last_position(), 10000));
	ASSERT_INT_EQ(collector_count(&col), 6);
	CU_ASSERT_TRUE(collector_ordered(&col));
	ASSERT_INT_EQ(harness_sh("grep -q 'the database is unavailable' '%s' "
	                         "&& grep -q 'the database is back' '%s'",
	                  srv.log, srv.log),
	    0);
	collector_stop(&col);
	ASSERT_INT_EQ(harness_server_stop(&srv, SIGTERM), 0);
}

int
main(void)
{
	static const struct harness_case cases[] = {
	    {"events committed out of order reach the subscriber once, in "
	     "the final order",
	        test_out_of_order_commits},
	    {"a slow subscriber loses messages on the socket and still "
	     "delivers every event once, in order",
	        test_slow_subscriber},
	    {"a publisher killed with SIGKILL and restarted under load loses "
	     "and repeats nothing for the subscriber",
	        test_sigkill_restart},
	    {"nngcat subscribed to job.dead_failed receives the dead-letter "
	     "envelope",
	        test_nngcat_dead_letters},
	    {"events wait in the outbox while no publisher runs and go out "
	     "when one starts",
	        test_backlog_waits_for_publisher},
	    {"retention prunes old published events and never unpublished "
	     "ones",
	        test_retention},
	    {"ListEvents refuses bad input and pages in order; the CLI lists "
	     "and follows",
	        test_list_events_and_cli},
	    {"two publishers on one database each reach their subscribers, "
	     "over ipc and ws",
	        test_two_publishers_and_ws},
	    {"the publisher and the subscriber carry on across a PostgreSQL "
	     "outage",
	        test_database_outage},
	    {NULL, NULL},
	};

	return (harness_run("integration.events", cases, NULL, suite_cleanup));
}
