/*
 * The worker loop of libopsbus. Per job: a heartbeat thread that extends
 * the lease every third of it and notes a cancel request or a lost lease,
 * the application's callback on the calling thread, then the report
 * (CompleteJob or FailJob), tried again on transport failures with the
 * same request id (a retry after a lost answer gets the first answer). A
 * completion also claims the next job (claim_next) while the worker has
 * budget left and is not stopping: one call per job while the queue has
 * work; ClaimJobs (which waits) only when it had none.
 */
#include "worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "uuid4.h"

#define PB_STR(s) ((char *) (uintptr_t) (s))

#define WORKER_DEFAULT_WAIT_MS 2000
/* Pauses after a failed claim grow from the first to the last. */
#define WORKER_RETRY_MIN_MS 100
#define WORKER_RETRY_MAX_MS 2000
/* A report is tried this many times when the server cannot be reached. */
#define WORKER_REPORT_TRIES 5

struct opsbus_worker {
	char          *queue;
	char          *worker_id;
	int32_t        lease_ms;
	int32_t        wait_ms;
	long           max_jobs;
	bool           until_empty;
	opsbus_work_fn fn;
	void          *arg;
	atomic_int     stop;
	/* Jobs claimed or being claimed, against max_jobs. */
	atomic_long reserved;
	atomic_long claimed, completed, failed, lost;
};

struct opsbus_work {
	struct opsbus_worker         *worker;
	struct opsbus_client         *client;
	const Opsbus__V1__ClaimedJob *claimed;
	atomic_bool                   cancel;
	atomic_bool                   lost;
	/* The heartbeat thread waits on cv until done. */
	pthread_mutex_t mu;
	pthread_cond_t  cv;
	bool            done;
};

static long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {(time_t) (ms / 1000), (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) { }
}

int
opsbus_worker_alloc(
    const struct opsbus_worker_config *cfg, struct opsbus_worker **out)
{
	struct opsbus_worker *w;
	char                  id[128];

	if (cfg->queue == NULL || cfg->queue[0] == '\0' || cfg->fn == NULL) {
		return (-1);
	}
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		return (-1);
	}
	if (cfg->worker_id != NULL && cfg->worker_id[0] != '\0') {
		snprintf(id, sizeof(id), "%s", cfg->worker_id);
	} else {
		char host[64] = "worker";
		(void) gethostname(host, sizeof(host) - 1);
		host[sizeof(host) - 1] = '\0';
		/* Keep the id a valid name: 64 characters at most. */
		snprintf(id, sizeof(id), "%.48s:%ld", host, (long) getpid());
	}
	w->queue = strdup(cfg->queue);
	w->worker_id = strdup(id);
	w->lease_ms = cfg->lease_ms;
	w->wait_ms = cfg->wait_ms > 0 ? cfg->wait_ms : WORKER_DEFAULT_WAIT_MS;
	w->max_jobs = cfg->max_jobs;
	w->until_empty = cfg->until_empty;
	w->fn = cfg->fn;
	w->arg = cfg->arg;
	if (w->until_empty) {
		w->wait_ms = 0;
	}
	atomic_init(&w->stop, 0);
	atomic_init(&w->reserved, 0);
	atomic_init(&w->claimed, 0);
	atomic_init(&w->completed, 0);
	atomic_init(&w->failed, 0);
	atomic_init(&w->lost, 0);
	if (w->queue == NULL || w->worker_id == NULL) {
		opsbus_worker_free(w);
		return (-1);
	}
	*out = w;
	return (0);
}

void
opsbus_worker_free(struct opsbus_worker *w)
{
	if (w == NULL) {
		return;
	}
	free(w->queue);
	free(w->worker_id);
	free(w);
}

void
opsbus_worker_stop(struct opsbus_worker *w)
{
	atomic_store(&w->stop, 1);
}

bool
opsbus_worker_stopped(const struct opsbus_worker *w)
{
	return (
	    atomic_load(&((struct opsbus_worker *) (uintptr_t) w)->stop) != 0);
}

void
opsbus_worker_stats(
    const struct opsbus_worker *cw, struct opsbus_worker_stats *out)
{
	struct opsbus_worker *w = (struct opsbus_worker *) (uintptr_t) cw;

	out->claimed = atomic_load(&w->claimed);
	out->completed = atomic_load(&w->completed);
	out->failed = atomic_load(&w->failed);
	out->lost = atomic_load(&w->lost);
}

const Opsbus__V1__Job *
opsbus_work_job(const struct opsbus_work *w)
{
	return (w->claimed->job);
}

const char *
opsbus_work_lease_token(const struct opsbus_work *w)
{
	return (w->claimed->lease_token);
}

int32_t
opsbus_work_lease_ms(const struct opsbus_work *w)
{
	return (w->claimed->lease_ms);
}

bool
opsbus_work_cancel_requested(const struct opsbus_work *w)
{
	return (atomic_load(&((struct opsbus_work *) (uintptr_t) w)->cancel));
}

bool
opsbus_work_lease_lost(const struct opsbus_work *w)
{
	return (atomic_load(&((struct opsbus_work *) (uintptr_t) w)->lost));
}

bool
opsbus_work_stopping(const struct opsbus_work *w)
{
	return (opsbus_worker_stopped(w->worker));
}

/* The heartbeat period: a third of the lease, at least 100 ms. */
static long
heartbeat_period_ms(const struct opsbus_work *w)
{
	long lease = w->claimed->lease_ms > 0 ? w->claimed->lease_ms : 30000;

	return (lease / 3 > 100 ? lease / 3 : 100);
}

static void
heartbeat_once(struct opsbus_work *w)
{
	Opsbus__V1__HeartbeatRequest req = OPSBUS__V1__HEARTBEAT_REQUEST__INIT;
	ProtobufCMessage            *out = NULL;
	struct opsbus_status         st;

	req.job_id = w->claimed->job->id;
	req.lease_token = w->claimed->lease_token;
	req.extend_ms = w->worker->lease_ms;
	if (opsbus_call(w->client, "opsbus.v1.JobService/Heartbeat", &req.base,
	        &opsbus__v1__heartbeat_response__descriptor, &out, NULL, &st)
	    == 0) {
		if (((Opsbus__V1__HeartbeatResponse *) out)
		        ->cancel_requested) {
			atomic_store(&w->cancel, true);
		}
		protobuf_c_message_free_unpacked(out, NULL);
		return;
	}
	/* A lost lease or a job gone is final; a transport failure is
	 * tried again at the next beat (two more fit in the lease). */
	if (strcmp(st.error_code, "LEASE_LOST") == 0
	    || strcmp(st.error_code, "JOB_NOT_FOUND") == 0) {
		atomic_store(&w->lost, true);
	}
}

static void *
heartbeat_main(void *arg)
{
	struct opsbus_work *w = arg;
	long                period = heartbeat_period_ms(w);

	pthread_mutex_lock(&w->mu);
	while (!w->done) {
		struct timespec deadline;

		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += period / 1000;
		deadline.tv_nsec += (period % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
		while (!w->done
		    && pthread_cond_timedwait(&w->cv, &w->mu, &deadline)
		        != ETIMEDOUT) { }
		if (w->done) {
			break;
		}
		pthread_mutex_unlock(&w->mu);
		heartbeat_once(w);
		pthread_mutex_lock(&w->mu);
		if (atomic_load(&w->lost)) {
			break;
		}
	}
	pthread_mutex_unlock(&w->mu);
	return (NULL);
}

/* True for failures worth trying again: the server or the network. */
static bool
transient(const struct opsbus_status *st)
{
	return (st->code == 14 || st->code == 4 || st->code == 10);
}

/*
 * Reports the result. With next, a completion also claims the next job
 * (a job of the budget is reserved for it) and *next gets the answer
 * holding it (NULL when it holds no job). Returns true when the server
 * took the report.
 */
static bool
report(struct opsbus_work *w, const struct opsbus_work_result *res,
    Opsbus__V1__CompleteJobResponse **next)
{
	Opsbus__V1__ClaimJobsRequest claim
	    = OPSBUS__V1__CLAIM_JOBS_REQUEST__INIT;
	char                           request_id[UUID4_TEXT_LEN];
	Opsbus__V1__CompleteJobRequest creq
	    = OPSBUS__V1__COMPLETE_JOB_REQUEST__INIT;
	Opsbus__V1__FailJobRequest freq = OPSBUS__V1__FAIL_JOB_REQUEST__INIT;
	const ProtobufCMessage    *in;
	const char                *method;
	const ProtobufCMessageDescriptor *od;
	struct opsbus_status              st;

	if (res->failed) {
		freq.job_id = w->claimed->job->id;
		freq.lease_token = w->claimed->lease_token;
		freq.reason_code = PB_STR(res->reason_code);
		freq.error = PB_STR(res->error);
		freq.error_detail = PB_STR(
		    res->error_detail != NULL ? res->error_detail : "");
		freq.retryable = res->retryable;
		freq.failure_category = PB_STR(res->failure_category);
		freq.stage = PB_STR(res->stage);
		in = &freq.base;
		method = "opsbus.v1.JobService/FailJob";
		od = &opsbus__v1__fail_job_response__descriptor;
	} else {
		creq.job_id = w->claimed->job->id;
		creq.lease_token = w->claimed->lease_token;
		creq.summary = PB_STR(res->summary);
		if (next != NULL) {
			claim.queue = w->worker->queue;
			claim.worker_id = w->worker->worker_id;
			claim.max_value_case
			    = OPSBUS__V1__CLAIM_JOBS_REQUEST__MAX_VALUE_MAX;
			claim.max = 1;
			claim.lease_ms = w->worker->lease_ms;
			creq.claim_next = &claim;
		}
		in = &creq.base;
		method = "opsbus.v1.JobService/CompleteJob";
		od = &opsbus__v1__complete_job_response__descriptor;
	}
	uuid4_text(request_id);
	for (int i = 0; i < WORKER_REPORT_TRIES; i++) {
		ProtobufCMessage *out = NULL;

		if (opsbus_call_once(
		        w->client, method, in, od, &out, NULL, request_id, &st)
		    == 0) {
			Opsbus__V1__CompleteJobResponse *cr
			    = (Opsbus__V1__CompleteJobResponse *) out;

			if (!res->failed && next != NULL && cr->next != NULL
			    && cr->next->n_jobs > 0) {
				*next = cr;
			} else {
				protobuf_c_message_free_unpacked(out, NULL);
			}
			return (true);
		}
		if (!transient(&st)) {
			break;
		}
		sleep_ms(WORKER_RETRY_MIN_MS << i);
	}
	fprintf(stderr, "opsbus worker: job %s: %s: %s\n", w->claimed->job->id,
	    st.error_code, st.message);
	return (false);
}

static bool reserve(struct opsbus_worker *w);
static void unreserve(struct opsbus_worker *w);

/*
 * Runs one claimed job from callback to report. *next gets the answer
 * holding the next job when the completion claimed one (its job of the
 * budget reserved), else NULL.
 */
static void
run_job(struct opsbus_worker *wk, struct opsbus_client *c,
    const Opsbus__V1__ClaimedJob *cj, Opsbus__V1__CompleteJobResponse **next)
{
	struct opsbus_work        w;
	struct opsbus_work_result res;
	pthread_condattr_t        ca;
	pthread_t                 hb;
	bool                      hb_started;
	bool                      want_next;

	memset(&w, 0, sizeof(w));
	memset(&res, 0, sizeof(res));
	w.worker = wk;
	w.client = c;
	w.claimed = cj;
	atomic_init(&w.cancel, false);
	atomic_init(&w.lost, false);
	pthread_mutex_init(&w.mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w.cv, &ca);
	pthread_condattr_destroy(&ca);
	hb_started = pthread_create(&hb, NULL, heartbeat_main, &w) == 0;

	wk->fn(&w, &res, wk->arg);

	pthread_mutex_lock(&w.mu);
	w.done = true;
	pthread_cond_signal(&w.cv);
	pthread_mutex_unlock(&w.mu);
	if (hb_started) {
		pthread_join(hb, NULL);
	}
	*next = NULL;
	want_next = !res.failed && !atomic_load(&w.lost)
	    && !opsbus_worker_stopped(wk) && reserve(wk);
	if (atomic_load(&w.lost)) {
		atomic_fetch_add(&wk->lost, 1);
	} else if (!report(&w, &res, want_next ? next : NULL)) {
		atomic_fetch_add(&wk->lost, 1);
	} else if (res.failed) {
		atomic_fetch_add(&wk->failed, 1);
	} else {
		atomic_fetch_add(&wk->completed, 1);
	}
	if (want_next && *next == NULL) {
		unreserve(wk);
	}
	free(res.error_detail);
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
}

/* Takes one job of the budget; false when it is spent. */
static bool
reserve(struct opsbus_worker *w)
{
	if (w->max_jobs <= 0) {
		return (true);
	}
	if (atomic_fetch_add(&w->reserved, 1) >= w->max_jobs) {
		atomic_fetch_sub(&w->reserved, 1);
		return (false);
	}
	return (true);
}

static void
unreserve(struct opsbus_worker *w)
{
	if (w->max_jobs > 0) {
		atomic_fetch_sub(&w->reserved, 1);
	}
}

int
opsbus_worker_run(
    struct opsbus_worker *w, struct opsbus_client *c, struct opsbus_status *st)
{
	Opsbus__V1__ClaimJobsRequest req
	    = OPSBUS__V1__CLAIM_JOBS_REQUEST__INIT;
	struct opsbus_status lst;
	long                 pause = WORKER_RETRY_MIN_MS;
	/* The answer of the last completion when it claimed the next job:
	 * that job runs next, even when the worker is stopping (it was
	 * claimed in the worker's name before the stop). */
	Opsbus__V1__CompleteJobResponse *held = NULL;

	req.queue = w->queue;
	req.worker_id = w->worker_id;
	req.max_value_case = OPSBUS__V1__CLAIM_JOBS_REQUEST__MAX_VALUE_MAX;
	req.max = 1;
	req.lease_ms = w->lease_ms;
	req.wait_ms = w->wait_ms;
	while (held != NULL || !opsbus_worker_stopped(w)) {
		Opsbus__V1__ClaimJobsResponse   *res = NULL;
		Opsbus__V1__CompleteJobResponse *next = NULL;

		long asked;

		if (held != NULL) {
			atomic_fetch_add(&w->claimed, 1);
			run_job(w, c, held->next->jobs[0], &next);
			protobuf_c_message_free_unpacked(&held->base, NULL);
			held = next;
			continue;
		}
		if (!reserve(w)) {
			return (0);
		}
		asked = mono_ms();
		if (opsbus_call(c, "opsbus.v1.JobService/ClaimJobs", &req.base,
		        &opsbus__v1__claim_jobs_response__descriptor,
		        (ProtobufCMessage **) &res, NULL, &lst)
		    != 0) {
			unreserve(w);
			if (!transient(&lst)) {
				if (st != NULL) {
					*st = lst;
				}
				return (-1);
			}
			sleep_ms(pause);
			pause = pause * 2 < WORKER_RETRY_MAX_MS
			    ? pause * 2
			    : WORKER_RETRY_MAX_MS;
			continue;
		}
		pause = WORKER_RETRY_MIN_MS;
		if (res->n_jobs == 0) {
			unreserve(w);
			protobuf_c_message_free_unpacked(&res->base, NULL);
			if (w->until_empty) {
				return (0);
			}
			/* The server answered before the wait asked for (its
			 * waiting claims are full): pause rather than spin. */
			if (mono_ms() - asked < w->wait_ms / 2) {
				sleep_ms(w->wait_ms < 250 ? w->wait_ms : 250);
			}
			continue;
		}
		atomic_fetch_add(&w->claimed, 1);
		run_job(w, c, res->jobs[0], &held);
		protobuf_c_message_free_unpacked(&res->base, NULL);
	}
	return (0);
}
