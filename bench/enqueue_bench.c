/*
 * Enqueue: JobService/CreateJob, durable (synchronous_commit on, fsync on),
 * from 1, 16 and 64 concurrent producers, against its floor: raw libpq, one
 * INSERT of a job row per transaction, at the same concurrency, on the same
 * PostgreSQL, in the same run. A second floor commits, per request, the
 * rows CreateJob writes (job, event, stored reply): see op_insert_rows.
 */
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "bench_util.h"
#include "harness.h"
#include "opsbus/v1/health.pb-c.h"
#include "opsbus/v1/job.pb-c.h"

#define MAX_PRODUCERS 64

struct producers {
	struct opsbus_client *c[MAX_PRODUCERS];
	PGconn               *pg[MAX_PRODUCERS];
};

static int
op_create(void *arg, int t)
{
	struct producers              *p = arg;
	Opsbus__V1__CreateJobRequest   req;
	Opsbus__V1__CreateJobResponse *res = NULL;
	struct opsbus_status           st;

	opsbus__v1__create_job_request__init(&req);
	req.queue = (char *) (uintptr_t) "bench";
	req.target = (char *) (uintptr_t) "nextgen";
	req.payload
	    = (char *) (uintptr_t) "{\"noteId\":\"n-1\",\"ehr\":\"nextgen\"}";
	if (opsbus_call(p->c[t], "opsbus.v1.JobService/CreateJob", &req.base,
	        &opsbus__v1__create_job_response__descriptor,
	        (ProtobufCMessage **) &res, NULL, &st)
	    != 0) {
		fprintf(stderr, "create: %s\n", st.message);
		return (-1);
	}
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return (0);
}

/*
 * The ceiling: a call that does no database work at all (HealthService/
 * Check with skip_database), from the same producers. No enqueue over nng
 * can go faster than this on the machine.
 */
static int
op_health(void *arg, int t)
{
	struct producers        *p = arg;
	Opsbus__V1__CheckRequest req;
	ProtobufCMessage        *res = NULL;
	struct opsbus_status     st;

	opsbus__v1__check_request__init(&req);
	req.skip_database = 1;
	if (opsbus_call(p->c[t], "opsbus.v1.HealthService/Check", &req.base,
	        &opsbus__v1__check_response__descriptor, &res, NULL, &st)
	    != 0) {
		fprintf(stderr, "health: %s\n", st.message);
		return (-1);
	}
	protobuf_c_message_free_unpacked(res, NULL);
	return (0);
}

/* Runs the prepared floor statement stmt for one new job id. */
static int
floor_exec(struct producers *p, int t, const char *stmt)
{
	uuid_t      u;
	char        id[37];
	const char *params[2];
	PGresult   *res;
	int         ok;

	uuid_generate_random(u);
	uuid_unparse_lower(u, id);
	params[0] = id;
	params[1] = "{\"noteId\":\"n-1\",\"ehr\":\"nextgen\"}";
	res = PQexecPrepared(p->pg[t], stmt, 2, params, NULL, NULL, 0);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok) {
		fprintf(stderr, "%s: %s", stmt, PQerrorMessage(p->pg[t]));
	}
	PQclear(res);
	return (ok ? 0 : -1);
}

/* The floor: one bare job row per transaction. */
static int
op_insert(void *arg, int t)
{
	return (floor_exec(arg, t, "floor_insert"));
}

/*
 * The second floor: what a design that commits each request alone must
 * write for it, as CreateJob writes it: the job row, its 'created' event
 * in the outbox and the stored reply of the request (about 250 bytes),
 * in one statement and one transaction. It shows what opsbus costs over
 * the rows it must write, where the first floor (one bare row) shows what
 * those rows cost.
 */
static int
op_insert_rows(void *arg, int t)
{
	return (floor_exec(arg, t, "floor_rows"));
}

/* opsbus and the floor take this many turns each, so that load from
 * elsewhere falls on both alike. */
#define TURNS 6

/* What one side (opsbus or the floor) did over its turns at one
 * concurrency. */
struct side {
	double               rate;
	double               jobs;
	struct bench_cpu     cpu;
	struct bench_samples lat;
};

/* One turn of secs seconds of op for side s; server is opsbusd's pid (0
 * for the floor). */
static void
side_turn(struct side *s, int conc, int (*op)(void *arg, int thread),
    struct producers *p, double secs, int server)
{
	struct bench_cpu cpu0;
	double           rate;

	bench_cpu_read(&cpu0, server);
	rate = bench_run_for(conc, op, p, &s->lat, secs);
	bench_cpu_add_since(&s->cpu, &cpu0, server);
	s->rate += rate / TURNS;
	s->jobs += rate * secs;
}

/* A latency row: the pct percentile of o's calls against f's, in ms. */
static void
latency_row(const char *name, struct side *o, struct side *f, double pct)
{
	bench_row(name, (double) bench_samples_pct(&o->lat, pct) / 1e6,
	    (double) bench_samples_pct(&f->lat, pct) / 1e6, "ms", true);
}

/*
 * Jobs/s of opsbus (o) and of the floor (f) at conc producers, and the
 * calls/s of the ceiling (*c, a shorter slice each turn).
 */
static void
run_turns(struct producers *p, int conc, int server, struct side *o,
    struct side *f, struct side *fr, double *c)
{
	double slice = bench_seconds() / TURNS;

	*c = 0;
	for (int k = 0; k < TURNS; k++) {
		*c += bench_run_for(conc, op_health, p, NULL, slice / 3)
		    / TURNS;
		if (bench_floors()) {
			side_turn(f, conc, op_insert, p, slice, 0);
			side_turn(fr, conc, op_insert_rows, p, slice, 0);
		}
		side_turn(o, conc, op_create, p, slice, server);
	}
}

int
main(int argc, char **argv)
{
	struct harness_server srv;
	struct producers      p;
	int                   conc[] = {1, 16, 64};

	int only = 0;

	bench_init(argc, argv, "enqueue (enqueue_bench)");
	/* --producers N: that concurrency alone (to profile one case). */
	for (int i = 1; i + 1 < argc; i++) {
		if (strcmp(argv[i], "--producers") == 0) {
			only = atoi(argv[i + 1]);
		}
	}
	setenv("HARNESS_LOG_LEVEL", "info", 0);
	/* The harness's PostgreSQL skips fsync for speed; a durable figure
	 * needs it on. */
	if (!bench_smoke()) {
		setenv("OPSBUS_PG_SYNC", "1", 1);
	}
	const char *extra[] = {"--workers", "64", NULL};
	if (harness_server_start(&srv, extra) != 0) {
		return (1);
	}
	for (int i = 0; i < MAX_PRODUCERS; i++) {
		struct opsbus_client_config cfg
		    = {.url = srv.url, .api_key = srv.api_key};
		struct opsbus_status st;
		PGresult            *r;

		if (opsbus_client_open(&cfg, &p.c[i], &st) != 0) {
			return (1);
		}
		p.pg[i] = PQconnectdb(harness_pg());
		r = PQprepare(p.pg[i], "floor_insert",
		    "INSERT INTO jobs (id, tenant, queue, target, payload, "
		    "status, "
		    "max_attempts) VALUES ($1::uuid, 'default', 'floor', "
		    "'nextgen', $2::jsonb, 'queued', 5)",
		    2, NULL);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			fprintf(
			    stderr, "prepare: %s", PQerrorMessage(p.pg[i]));
			return (1);
		}
		PQclear(r);
		/* The events trigger NOTIFYs unless told that the writer wakes
		 * the event sequencer itself, as opsbusd does; a NOTIFY takes
		 * a lock at commit that serializes every notifying commit,
		 * which is no cost of the rows themselves. */
		r = PQexec(p.pg[i], "SET opsbus.events_wake = 'local'");
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			fprintf(stderr, "set: %s", PQerrorMessage(p.pg[i]));
			return (1);
		}
		PQclear(r);
		r = PQprepare(p.pg[i], "floor_rows",
		    "WITH j AS (INSERT INTO jobs (id, tenant, queue, target, "
		    "payload, status, max_attempts) VALUES ($1::uuid, "
		    "'default', 'floor-rows', 'nextgen', $2::jsonb, 'queued', "
		    "5) RETURNING id, queue, tenant, payload), "
		    "e AS (INSERT INTO events (event_id, event_type, topic, "
		    "job_id, queue, tenant, actor, payload) SELECT "
		    "gen_random_uuid(), 'created', 'job.created.' || queue, "
		    "id, "
		    "queue, tenant, 'bench', jsonb_build_object('payload', "
		    "payload) FROM j) "
		    "INSERT INTO request_replies (request_id, method, "
		    "response) "
		    "SELECT 'bench:' || id, 'opsbus.v1.JobService/CreateJob', "
		    "convert_to(repeat('x', 250), 'UTF8') FROM j",
		    2, NULL);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			fprintf(
			    stderr, "prepare: %s", PQerrorMessage(p.pg[i]));
			return (1);
		}
		PQclear(r);
	}
	bench_warmup(MAX_PRODUCERS, op_create, &p, 2.0);
	bench_warmup(MAX_PRODUCERS, op_insert, &p, 1.0);
	bench_warmup(MAX_PRODUCERS, op_insert_rows, &p, 1.0);
	bench_header();
	for (size_t i = 0; i < sizeof(conc) / sizeof(conc[0]); i++) {
		struct side o = {0}, f = {0}, fr = {0};
		char        name[96];
		double      c;

		if (only != 0 && conc[i] != only) {
			continue;
		}
		run_turns(&p, conc[i], (int) srv.pid, &o, &f, &fr, &c);

		snprintf(name, sizeof(name),
		    "CreateJob, %d producer%s, jobs/s", conc[i],
		    conc[i] > 1 ? "s" : "");
		bench_row(name, o.rate, f.rate, "jobs/s", false);
		snprintf(name, sizeof(name),
		    "ceiling: Health, no db, %d client%s, calls/s", conc[i],
		    conc[i] > 1 ? "s" : "");
		bench_row(name, c, f.rate, "calls/s", false);
		snprintf(name, sizeof(name), "CreateJob, %d producer%s, p50",
		    conc[i], conc[i] > 1 ? "s" : "");
		latency_row(name, &o, &f, 50);
		snprintf(name, sizeof(name), "CreateJob, %d producer%s, p99",
		    conc[i], conc[i] > 1 ? "s" : "");
		latency_row(name, &o, &f, 99);
		snprintf(name, sizeof(name), "CreateJob, %d producer%s",
		    conc[i], conc[i] > 1 ? "s" : "");
		bench_cpu_rows(name, &o.cpu, o.jobs, &f.cpu, f.jobs);
		snprintf(name, sizeof(name),
		    "CreateJob vs same rows/commit, %d producer%s, jobs/s",
		    conc[i], conc[i] > 1 ? "s" : "");
		bench_row(name, o.rate, fr.rate, "jobs/s", false);
		snprintf(name, sizeof(name),
		    "CreateJob vs same rows/commit, %d producer%s, p99",
		    conc[i], conc[i] > 1 ? "s" : "");
		latency_row(name, &o, &fr, 99);
		snprintf(name, sizeof(name), "same rows/commit, %d producer%s",
		    conc[i], conc[i] > 1 ? "s" : "");
		bench_cpu_rows(name, &o.cpu, o.jobs, &fr.cpu, fr.jobs);
		bench_samples_free(&o.lat);
		bench_samples_free(&f.lat);
		bench_samples_free(&fr.lat);
	}
	for (int i = 0; i < MAX_PRODUCERS; i++) {
		opsbus_client_close(p.c[i]);
		PQfinish(p.pg[i]);
	}
	harness_server_stop(&srv, SIGTERM);
	return (0);
}
