/*
 * The event stream: events per second from commit to 1 and 16 libopsbus
 * subscribers, and commit-to-subscriber latency p50/p99, against their
 * floor in the same run: a bare nng PUB -> SUB of messages of the same
 * size (an in-process PUB socket over ipc://, its subscribers on threads).
 *
 * Throughput: a producer commits events in transactions of 100 rows while
 * the subscribers follow; the figure is events / (time from the first
 * commit until every subscriber holds the last one). The floor sends as
 * many messages of the same size, with queues large enough to drop none,
 * and is timed until every subscriber received the last.
 *
 * Latency: one event per autocommitted INSERT, one every 2 ms; from the
 * moment PostgreSQL acknowledged the commit to the subscriber's callback.
 * The floor: from nng_send to nng_recv of a message of the same size.
 */
#include <libpq-fe.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "harness.h"
#include "subscriber.h"

#define MAX_SUBS    16
#define LAT_MAX     4096
#define RAW_BUF     8192
#define EVENT_BATCH 100

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static PGconn *
pg_open(void)
{
	PGconn *conn = PQconnectdb(harness_pg());

	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "pg: %s", PQerrorMessage(conn));
		exit(1);
	}
	return (conn);
}

static void
pg_do(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);

	if (PQresultStatus(res) != PGRES_COMMAND_OK
	    && PQresultStatus(res) != PGRES_TUPLES_OK) {
		fprintf(stderr, "pg: %s", PQresultErrorMessage(res));
		exit(1);
	}
	PQclear(res);
}

static int64_t
pg_long(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	int64_t   v = -1;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
		v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	}
	PQclear(res);
	return (v);
}

/* One libopsbus subscriber on its own thread. */
struct sub {
	struct opsbus_client     *client;
	struct opsbus_subscriber *s;
	pthread_t                 thread;
	/* Latency run: receive times by the index in the topic. */
	int64_t *recv_ns;
	/* Size of the last message's Event, for the floor. */
	size_t event_size;
};

static int
sub_event(const Opsbus__V1__Event *e, void *arg)
{
	struct sub *s = arg;
	const char *dot;

	s->event_size
	    = strlen(e->topic) + 1 + opsbus__v1__event__get_packed_size(e);
	if (s->recv_ns != NULL && (dot = strrchr(e->topic, '.')) != NULL) {
		long i = strtol(dot + 1, NULL, 10);

		if (i >= 0 && i < LAT_MAX) {
			s->recv_ns[i] = bench_now_ns();
		}
	}
	return (0);
}

static void *
sub_main(void *arg)
{
	struct sub          *s = arg;
	struct opsbus_status st;

	if (opsbus_subscriber_run(s->s, &st) != 0) {
		fprintf(stderr, "subscriber: %s\n", st.message);
	}
	return (NULL);
}

static void
subs_start(struct sub *subs, int n, const struct harness_server *srv,
    const char *ev, const char *prefix)
{
	for (int i = 0; i < n; i++) {
		struct opsbus_subscriber_config cfg;
		struct opsbus_status            st;

		subs[i].client = harness_client(srv, NULL);
		memset(&cfg, 0, sizeof(cfg));
		cfg.url = ev;
		cfg.client = subs[i].client;
		cfg.topic_prefix = prefix;
		cfg.callback = sub_event;
		cfg.arg = &subs[i];
		cfg.recv_buf = RAW_BUF;
		if (opsbus_subscriber_open(&cfg, &subs[i].s, &st) != 0) {
			fprintf(stderr, "subscriber: %s\n", st.message);
			exit(1);
		}
		pthread_create(&subs[i].thread, NULL, sub_main, &subs[i]);
	}
	/* Let every SUB socket connect. */
	sleep_ms(300);
}

static void
subs_stop(struct sub *subs, int n)
{
	for (int i = 0; i < n; i++) {
		opsbus_subscriber_stop(subs[i].s);
	}
	for (int i = 0; i < n; i++) {
		struct opsbus_subscriber_stats st;

		pthread_join(subs[i].thread, NULL);
		opsbus_subscriber_stats(subs[i].s, &st);
		fprintf(stderr,
		    "subscriber %d: received %llu, delivered %llu (%llu "
		    "fetched), gaps %llu, duplicates %llu\n",
		    i, (unsigned long long) st.received,
		    (unsigned long long) st.delivered,
		    (unsigned long long) st.fetched,
		    (unsigned long long) st.gaps,
		    (unsigned long long) st.duplicates);
		opsbus_subscriber_close(subs[i].s);
		opsbus_client_close(subs[i].client);
	}
}

/* Events per second from commit to n subscribers. */
static double
opsbus_throughput(const struct harness_server *srv, const char *ev, int n,
    int events, size_t *event_size)
{
	struct sub subs[MAX_SUBS];
	PGconn    *conn = pg_open();
	char       sql[512];
	int64_t    t0, last;

	memset(subs, 0, sizeof(subs));
	subs_start(subs, n, srv, ev, "bench.tput");
	snprintf(sql, sizeof(sql),
	    "INSERT INTO events (event_id, event_type, topic, actor, payload) "
	    "SELECT gen_random_uuid(), 'created', 'bench.tput.q', "
	    "'bench', jsonb_build_object('status', 'queued', 'target', "
	    "'nextgen', 'kind', 'note.writeback', 'n', i) FROM "
	    "generate_series(1, %d) i",
	    EVENT_BATCH);
	t0 = bench_now_ns();
	for (int done = 0; done < events; done += EVENT_BATCH) {
		pg_do(conn, sql);
	}
	/* Wait until every event has a position and every subscriber holds
	 * the last one. */
	do {
		last = pg_long(conn,
		    "SELECT CASE WHEN EXISTS (SELECT 1 FROM events e, "
		    "event_positions c WHERE (e.txid, e.seq) > "
		    "(c.last_txid, c.last_seq)) THEN -1 ELSE (SELECT "
		    "last_position FROM event_positions) END");
	} while (last < 0);
	for (int i = 0; i < n; i++) {
		while (opsbus_subscriber_position(subs[i].s) < last) {
			struct timespec ts = {0, 100000};
			nanosleep(&ts, NULL);
		}
	}
	{
		double secs = (double) (bench_now_ns() - t0) / 1e9;

		subs_stop(subs, n);
		*event_size = subs[0].event_size;
		PQfinish(conn);
		return ((double) events / secs);
	}
}

/* Commit-to-subscriber latency samples. */
static void
opsbus_latency(const struct harness_server *srv, const char *ev, int count,
    struct bench_samples *lat)
{
	struct sub subs[1];
	PGconn    *conn = pg_open();
	int64_t   *commit_ns = calloc((size_t) count, sizeof(int64_t));

	memset(subs, 0, sizeof(subs));
	subs[0].recv_ns = calloc(LAT_MAX, sizeof(int64_t));
	subs_start(subs, 1, srv, ev, "bench.lat");
	for (int i = 0; i < count; i++) {
		char sql[512];

		snprintf(sql, sizeof(sql),
		    "INSERT INTO events (event_id, event_type, topic, actor, "
		    "payload) VALUES (gen_random_uuid(), 'created', "
		    "'bench.lat.%d', 'bench', '{\"status\": \"queued\", "
		    "\"target\": \"nextgen\", \"kind\": \"note.writeback\"}')",
		    i);
		pg_do(conn, sql);
		commit_ns[i] = bench_now_ns();
		sleep_ms(2);
	}
	sleep_ms(500);
	for (int i = 0; i < count; i++) {
		if (subs[0].recv_ns[i] != 0) {
			int64_t d = subs[0].recv_ns[i] - commit_ns[i];
			bench_samples_add(lat, d > 0 ? d : 0);
		}
	}
	subs_stop(subs, 1);
	free(subs[0].recv_ns);
	free(commit_ns);
	PQfinish(conn);
}

/* The floor: a bare PUB and n SUB threads. */
struct raw_sub {
	nng_socket sock;
	pthread_t  thread;
	int        expect;
	atomic_int got;
	int64_t    last_ns;
	int64_t   *recv_ns;
};

static void *
raw_sub_main(void *arg)
{
	struct raw_sub *r = arg;

	while (atomic_load(&r->got) < r->expect) {
		nng_msg *msg;

		if (nng_recvmsg(r->sock, &msg, 0) != 0) {
			break;
		}
		if (r->recv_ns != NULL && nng_msg_len(msg) >= 4) {
			uint32_t i;

			memcpy(&i, nng_msg_body(msg), 4);
			if (i < LAT_MAX) {
				r->recv_ns[i] = bench_now_ns();
			}
		}
		nng_msg_free(msg);
		atomic_fetch_add(&r->got, 1);
		r->last_ns = bench_now_ns();
	}
	return (NULL);
}

static void
raw_open(
    nng_socket *pub, struct raw_sub *subs, int n, const char *url, int expect)
{
	nng_pub0_open(pub);
	nng_socket_set_int(*pub, NNG_OPT_SENDBUF, RAW_BUF);
	if (nng_listen(*pub, url, NULL, 0) != 0) {
		fprintf(stderr, "raw: cannot listen on %s\n", url);
		exit(1);
	}
	for (int i = 0; i < n; i++) {
		nng_sub0_open(&subs[i].sock);
		nng_socket_set(subs[i].sock, NNG_OPT_SUB_SUBSCRIBE, "", 0);
		nng_socket_set_int(subs[i].sock, NNG_OPT_RECVBUF, RAW_BUF);
		nng_socket_set_ms(subs[i].sock, NNG_OPT_RECVTIMEO, 5000);
		nng_dial(subs[i].sock, url, NULL, 0);
		subs[i].expect = expect;
		atomic_init(&subs[i].got, 0);
		pthread_create(&subs[i].thread, NULL, raw_sub_main, &subs[i]);
	}
	sleep_ms(300);
}

static void
raw_close(nng_socket pub, struct raw_sub *subs, int n)
{
	for (int i = 0; i < n; i++) {
		pthread_join(subs[i].thread, NULL);
		nng_close(subs[i].sock);
	}
	nng_close(pub);
}

static double
raw_throughput(const char *url, int n, int messages, size_t size)
{
	struct raw_sub subs[MAX_SUBS];
	nng_socket     pub;
	int64_t        t0, t1 = 0;
	int            lost = 0;

	memset(subs, 0, sizeof(subs));
	raw_open(&pub, subs, n, url, messages);
	t0 = bench_now_ns();
	for (int i = 0; i < messages; i++) {
		nng_msg *msg;

		nng_msg_alloc(&msg, size);
		memset(nng_msg_body(msg), 'x', size);
		nng_sendmsg(pub, msg, 0);
	}
	raw_close(pub, subs, n);
	for (int i = 0; i < n; i++) {
		t1 = subs[i].last_ns > t1 ? subs[i].last_ns : t1;
		lost += messages - atomic_load(&subs[i].got);
	}
	if (lost > 0) {
		fprintf(stderr, "raw: %d messages dropped\n", lost);
	}
	return ((double) messages / ((double) (t1 - t0) / 1e9));
}

static void
raw_latency(const char *url, int count, size_t size, struct bench_samples *lat)
{
	struct raw_sub subs[1];
	nng_socket     pub;
	int64_t       *send_ns = calloc((size_t) count, sizeof(int64_t));

	memset(subs, 0, sizeof(subs));
	subs[0].recv_ns = calloc(LAT_MAX, sizeof(int64_t));
	raw_open(&pub, subs, 1, url, count);
	for (int i = 0; i < count; i++) {
		nng_msg *msg;
		uint32_t k = (uint32_t) i;

		nng_msg_alloc(&msg, size < 4 ? 4 : size);
		memset(nng_msg_body(msg), 'x', nng_msg_len(msg));
		memcpy(nng_msg_body(msg), &k, 4);
		send_ns[i] = bench_now_ns();
		nng_sendmsg(pub, msg, 0);
		sleep_ms(2);
	}
	raw_close(pub, subs, 1);
	for (int i = 0; i < count; i++) {
		if (subs[0].recv_ns[i] != 0) {
			bench_samples_add(
			    lat, subs[0].recv_ns[i] - send_ns[i]);
		}
	}
	free(subs[0].recv_ns);
	free(send_ns);
}

int
main(int argc, char **argv)
{
	struct harness_server srv;
	char                  ev[512], raw[512], raw2[512];
	const char           *extra[] = {"--events", ev, NULL};
	int                   fan[] = {1, 16};
	int                   events, lat_count;
	size_t                size = 0;

	bench_init(argc, argv, "event stream (events_bench)");
	events = bench_smoke() ? 500 : 8000;
	lat_count = bench_smoke() ? 20 : 500;
	snprintf(ev, sizeof(ev), "ipc://%s/events.sock", harness_tmpdir());
	snprintf(raw, sizeof(raw), "ipc://%s/raw.sock", harness_tmpdir());
	snprintf(raw2, sizeof(raw2), "ipc://%s/raw2.sock", harness_tmpdir());
	if (harness_server_start(&srv, extra) != 0) {
		return (1);
	}
	bench_header();
	for (size_t i = 0; i < sizeof(fan) / sizeof(fan[0]); i++) {
		char   name[96];
		double o = opsbus_throughput(&srv, ev, fan[i], events, &size);
		double f = raw_throughput(raw, fan[i], events, size);

		snprintf(name, sizeof(name),
		    "events to %d subscriber%s, events/s (%zu B)", fan[i],
		    fan[i] > 1 ? "s" : "", size);
		bench_row(name, o, f, "events/s", false);
	}
	{
		struct bench_samples lo = {0}, lf = {0};

		opsbus_latency(&srv, ev, lat_count, &lo);
		raw_latency(raw2, lat_count, size, &lf);
		bench_row("commit to subscriber, p50",
		    (double) bench_samples_pct(&lo, 50) / 1000.0,
		    (double) bench_samples_pct(&lf, 50) / 1000.0, "us", true);
		bench_row("commit to subscriber, p99",
		    (double) bench_samples_pct(&lo, 99) / 1000.0,
		    (double) bench_samples_pct(&lf, 99) / 1000.0, "us", true);
		bench_samples_free(&lo);
		bench_samples_free(&lf);
	}
	harness_server_stop(&srv, SIGTERM);
	return (0);
}
