/*
 * The publisher thread. Each round:
 *
 *   1. sequence: give positions to the events that are ready (sequencer.c;
 *      skipped when another opsbusd is doing it);
 *   2. publish: read the events after this publisher's cursor in position
 *      order, send each on the PUB socket as `topic '\0' Event`, move the
 *      cursor, and move the published mark (event_publications, shared by
 *      every opsbusd) up to it;
 *   3. now and then, prune published events older than the retention;
 *   4. sleep until a NOTIFY on opsbus_events (sent when events are written
 *      and when positions are given), a new subscriber, the stop request or
 *      the poll timeout. When committed events wait behind an open
 *      transaction, the sleep is short and grows, since that transaction's
 *      end sends no notification when it wrote no events.
 *
 * Every event carries previous_position, where this publisher's stream
 * stood before it. Positions are dense and given in a final order
 * (sequencer.c), and this publisher sends every position after its
 * cursor, so a subscriber holding everything up to previous_position holds
 * everything before the event; one holding less missed some and asks
 * ListEvents.
 *
 * The cursor starts at the published mark: just before the oldest
 * positioned event nobody has published (a publisher killed between
 * positioning and sending), or at the last position given out. While no
 * subscriber is connected nothing is sent: events nobody received stay
 * unpublished in the outbox (the backlog), and the cursor only skips past
 * events another opsbusd has published. So events wait in PostgreSQL while no
 * publisher runs or nobody listens, and go out when one does. At-least-once: a
 * publisher killed between sending and marking sends those events again after
 * its restart; subscribers drop positions they hold.
 *
 * A lost database is an outage: the thread logs it once, retries with a
 * growing pause, and carries on from its cursor when PostgreSQL is back.
 */
#define _DEFAULT_SOURCE
#include "events/publisher.h"

#include <errno.h>
#include <fcntl.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "events/sequencer.h"
#include "listen/listeners.h"
#include "log.h"
#include "services/event_view.h"
#include "store/db.h"
#include "store/listen.h"

#define PUB_DEFAULT_POLL_MS        500
#define PUB_DEFAULT_MAINTENANCE_MS 60000
#define PUB_DEFAULT_BATCH          1000
/* Per-subscriber queue in nng PUB (default 16, at most 8192): room for
 * bursts. Messages are shared between the queues, not copied. */
#define PUB_SENDBUF 8192
/* Rows a retention transaction deletes, and transactions per round. */
#define PRUNE_BATCH  1000
#define PRUNE_ROUNDS 10
#define MAX_PIPES    4096

/* The most event addresses one publisher listens on. */
#define PUBLISHER_MAX_URLS 16

struct events_publisher {
	char             *urls;
	char             *conninfo;
	int               retention_hours;
	int               poll_ms;
	int               maintenance_ms;
	int               batch;
	nng_socket        sock;
	struct listeners *listeners;
	pthread_t         thread;
	bool              thread_started;
	/* Written to wake the thread: stop, a new subscriber. */
	int         wake[2];
	atomic_bool stopping;

	/* The thread's own. */
	struct db          *db;
	struct db_listener *listener;
	struct arena        arena;
	bool                have_cursor;
	int64_t             cursor;
	bool                db_down;
	int                 backoff_ms;
	struct timespec     next_maintenance;
};

/*
 * The connected subscribers' pipes, by id, kept by nng's pipe callbacks.
 * nng may run a callback on its own thread while the socket is closing,
 * so what the callbacks touch is static, never freed: one publisher per
 * process. wake_fd is -1 when no publisher runs; the callbacks write to
 * it only under the lock, so it is never written after it is closed.
 */
static struct {
	pthread_mutex_t mtx;
	uint32_t        ids[MAX_PIPES];
	int             n;
	int             wake_fd;
} pipes = {PTHREAD_MUTEX_INITIALIZER, {0}, 0, -1};

/* Published through: every position up to it went out (by some opsbusd). */
static const struct db_stmt stmt_cursor = {"events_publisher_cursor",
    "SELECT greatest($1::bigint, published_through) FROM "
    "event_publications"};

static const struct db_stmt stmt_read = {"events_publisher_read",
    "SELECT " EVENT_STREAM_COLUMNS " FROM event_order o JOIN events e "
    "USING (seq) WHERE o.position > $1::bigint ORDER BY o.position "
    "LIMIT $2::int"};

static const struct db_stmt stmt_mark = {"events_publisher_mark",
    "UPDATE event_publications SET published_through = $1::bigint WHERE "
    "published_through < $1::bigint"};

/* pg_try_advisory_xact_lock(OPSB, 102): one pruner at a time. */
static const struct db_stmt stmt_prune_lock = {
    "events_prune_lock", "SELECT pg_try_advisory_xact_lock(1869640546, 102)"};

/*
 * Only published events, never unpublished ones: those are the backlog.
 * The oldest positions first, a small batch per transaction, up to the
 * first one younger than the retention (positions follow time closely
 * enough; stopping there keeps the scan short when nothing is old).
 * Unpositioned events are never pruned.
 */
static const struct db_stmt stmt_prune = {"events_prune",
    "WITH c AS (SELECT o.position, o.seq, e.created_at < now() - "
    "make_interval(hours => $1::int) AS old FROM event_order o JOIN events "
    "e USING (seq) WHERE o.position <= (SELECT published_through FROM "
    "event_publications) ORDER BY o.position LIMIT $2::int), "
    "d AS (SELECT position, seq FROM c WHERE position < coalesce((SELECT "
    "min(position) FROM c WHERE NOT old), 9223372036854775807)), "
    "x AS (DELETE FROM event_order o USING d WHERE o.position = d.position) "
    "DELETE FROM events e USING d WHERE e.seq = d.seq"};

static void
publisher_wake(struct events_publisher *p)
{
	char c = 1;

	/* A full pipe already holds a wake-up. */
	(void) !write(p->wake[1], &c, 1);
}

void
events_publisher_wake(void *p)
{
	publisher_wake(p);
}

static void
publisher_drain_wake(struct events_publisher *p)
{
	char buf[64];

	while (read(p->wake[0], buf, sizeof(buf)) > 0) { }
}

static void
pipe_event(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
	uint32_t id = nng_pipe_id(pipe);
	char     c = 1;

	(void) arg;
	pthread_mutex_lock(&pipes.mtx);
	if (ev == NNG_PIPE_EV_ADD_POST && pipes.n < MAX_PIPES) {
		pipes.ids[pipes.n++] = id;
		/* A new subscriber: send it what waits. */
		if (pipes.wake_fd >= 0) {
			(void) !write(pipes.wake_fd, &c, 1);
		}
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		for (int i = 0; i < pipes.n; i++) {
			if (pipes.ids[i] == id) {
				pipes.ids[i] = pipes.ids[--pipes.n];
				break;
			}
		}
	}
	pthread_mutex_unlock(&pipes.mtx);
}

static int
subscriber_count(void)
{
	int n;

	pthread_mutex_lock(&pipes.mtx);
	n = pipes.n;
	pthread_mutex_unlock(&pipes.mtx);
	return (n);
}

static void
timespec_add_ms(struct timespec *ts, int ms)
{
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long) (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static bool
timespec_passed(const struct timespec *ts)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec > ts->tv_sec
	    || (now.tv_sec == ts->tv_sec && now.tv_nsec >= ts->tv_nsec));
}

/* Records the state of the database connection; logs changes once. */
static void
publisher_db_state(struct events_publisher *p, opsbus_err err)
{
	if (err == OPSBUS_E_DATABASE_UNAVAILABLE) {
		if (!p->db_down) {
			char quoted[300];

			log_warn("event publisher: the database is "
			         "unavailable; events wait in the outbox",
			    "error=%s",
			    log_quote(
			        db_errmsg(p->db), quoted, sizeof(quoted)));
		}
		p->db_down = true;
	} else if (err == OPSBUS_E_OK && p->db_down) {
		p->db_down = false;
		p->backoff_ms = 0;
		log_info("event publisher: the database is back",
		    "cursor=%lld", (long long) p->cursor);
	}
}

/*
 * Where the cursor may stand: after `after` or the published mark,
 * whichever is further (the mark never passes the last position given).
 */
static opsbus_err
publisher_resync(struct events_publisher *p, int64_t after, int64_t *out)
{
	char            text[24];
	const char     *params[1] = {text};
	struct db_rows *rows;
	opsbus_err      err;

	snprintf(text, sizeof(text), "%lld", (long long) after);
	if ((err = db_exec(p->db, &stmt_cursor, 1, params, &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	if (db_rows_count(rows) != 1 || db_rows_null(rows, 0, 0)) {
		db_rows_free(rows);
		return (OPSBUS_E_INTERNAL);
	}
	*out = db_rows_int(rows, 0, 0);
	db_rows_free(rows);
	return (OPSBUS_E_OK);
}

/* Packs `topic '\0' Event` into a message and sends it. */
static int
publisher_send(struct events_publisher *p, const Opsbus__V1__Event *e)
{
	size_t   tlen = strlen(e->topic);
	size_t   elen = opsbus__v1__event__get_packed_size(e);
	nng_msg *msg;
	int      rv;

	if ((rv = nng_msg_alloc(&msg, tlen + 1 + elen)) != 0) {
		return (rv);
	}
	memcpy(nng_msg_body(msg), e->topic, tlen + 1);
	opsbus__v1__event__pack(e, (uint8_t *) nng_msg_body(msg) + tlen + 1);
	if ((rv = nng_sendmsg(p->sock, msg, 0)) != 0) {
		nng_msg_free(msg);
	}
	return (rv);
}

/*
 * Sends one batch after the cursor. Writes *full when the batch was full
 * (more may follow at once).
 */
static opsbus_err
publisher_publish(struct events_publisher *p, bool *full)
{
	char            after[24], upto[24], limit[16];
	const char     *params[2];
	struct db_rows *rows;
	opsbus_err      err;
	int             count;
	int64_t         first = p->cursor;

	*full = false;
	snprintf(after, sizeof(after), "%lld", (long long) p->cursor);
	snprintf(limit, sizeof(limit), "%d", p->batch);
	params[0] = after;
	params[1] = limit;
	if ((err = db_exec(p->db, &stmt_read, 2, params, &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	count = db_rows_count(rows);
	for (int r = 0; r < count; r++) {
		Opsbus__V1__Event *e
		    = event_view_from_row(&p->arena, rows, r, 0, p->cursor);
		int rv;

		if (e == NULL) {
			log_error("event publisher: out of memory",
			    "position=%s", db_rows_get(rows, r, 0));
			break;
		}
		if ((rv = publisher_send(p, e)) != 0) {
			log_error("event publisher: send failed",
			    "position=%lld error=\"%s\"",
			    (long long) e->position, nng_strerror(rv));
			break;
		}
		p->cursor = e->position;
	}
	db_rows_free(rows);
	arena_reset(&p->arena);
	if (p->cursor == first) {
		return (OPSBUS_E_OK);
	}
	*full = count == p->batch;
	snprintf(upto, sizeof(upto), "%lld", (long long) p->cursor);
	params[0] = upto;
	/* Not marked (the database went away): sent again after a restart,
	 * which subscribers tolerate. */
	return (db_exec(p->db, &stmt_mark, 1, params, NULL));
}

/* Prunes old published events. Writes *more when a round was not enough. */
static opsbus_err
publisher_prune(struct events_publisher *p, bool *more)
{
	char            hours[16], limit[16];
	const char     *params[2] = {hours, limit};
	struct db_rows *rows;
	opsbus_err      err;
	long            total = 0;

	*more = false;
	snprintf(hours, sizeof(hours), "%d", p->retention_hours);
	snprintf(limit, sizeof(limit), "%d", PRUNE_BATCH);
	for (int round = 0; round < PRUNE_ROUNDS; round++) {
		int  deleted;
		bool got;

		if ((err = db_begin(p->db, 30000)) != OPSBUS_E_OK) {
			return (err);
		}
		if ((err = db_exec(p->db, &stmt_prune_lock, 0, NULL, &rows))
		    != OPSBUS_E_OK) {
			db_rollback(p->db);
			return (err);
		}
		got = db_rows_count(rows) == 1 && db_rows_bool(rows, 0, 0);
		db_rows_free(rows);
		if (!got) {
			db_rollback(p->db);
			break;
		}
		if ((err = db_exec(p->db, &stmt_prune, 2, params, &rows))
		    != OPSBUS_E_OK) {
			db_rollback(p->db);
			return (err);
		}
		deleted = db_rows_affected(rows);
		db_rows_free(rows);
		if ((err = db_commit(p->db)) != OPSBUS_E_OK) {
			return (err);
		}
		total += deleted;
		if (deleted < PRUNE_BATCH) {
			break;
		}
		*more = round == PRUNE_ROUNDS - 1;
	}
	if (total > 0) {
		log_info("event retention: pruned published events",
		    "count=%ld retention_hours=%d", total, p->retention_hours);
	}
	return (OPSBUS_E_OK);
}

/*
 * One round of work. Writes *next_wait_ms: how long to sleep before the
 * next round when nothing wakes the thread.
 */
static opsbus_err
publisher_round(struct events_publisher *p, int *next_wait_ms)
{
	struct sequencer_result seq;
	opsbus_err              err;
	bool                    blocked = false;
	bool                    full;

	*next_wait_ms = p->poll_ms;
	if (!p->have_cursor) {
		if ((err = publisher_resync(p, 0, &p->cursor))
		    != OPSBUS_E_OK) {
			return (err);
		}
		p->have_cursor = true;
		log_info("event publisher: starting", "after_position=%lld",
		    (long long) p->cursor);
	}
	/* Sequence everything ready, a batch per transaction. */
	do {
		if ((err = sequencer_run(p->db, p->batch, &seq))
		    != OPSBUS_E_OK) {
			return (err);
		}
		blocked = seq.blocked;
	} while (seq.positioned == p->batch && !atomic_load(&p->stopping));
	if (subscriber_count() > 0) {
		do {
			if ((err = publisher_publish(p, &full))
			    != OPSBUS_E_OK) {
				return (err);
			}
		} while (full && !atomic_load(&p->stopping));
	} else {
		int64_t to;

		/* Nobody listens: keep unpublished events for later, skip
		 * those another opsbusd sent. */
		if ((err = publisher_resync(p, p->cursor, &to))
		    != OPSBUS_E_OK) {
			return (err);
		}
		if (to > p->cursor) {
			p->cursor = to;
		}
	}
	if (p->retention_hours > 0 && timespec_passed(&p->next_maintenance)) {
		bool more;

		if ((err = publisher_prune(p, &more)) != OPSBUS_E_OK) {
			return (err);
		}
		clock_gettime(CLOCK_MONOTONIC, &p->next_maintenance);
		timespec_add_ms(
		    &p->next_maintenance, more ? 100 : p->maintenance_ms);
	}
	if (blocked || seq.busy) {
		*next_wait_ms = 5;
	}
	return (OPSBUS_E_OK);
}

static void *
publisher_main(void *arg)
{
	struct events_publisher *p = arg;
	int                      wait_ms = 0;
	int                      short_wait = 5;

	clock_gettime(CLOCK_MONOTONIC, &p->next_maintenance);
	while (!atomic_load(&p->stopping)) {
		bool       notified = false;
		opsbus_err err;
		int        next;

		publisher_drain_wake(p);
		err = publisher_round(p, &next);
		publisher_db_state(p, err);
		if (err == OPSBUS_E_DATABASE_UNAVAILABLE) {
			/* Growing pauses while PostgreSQL is away. */
			p->backoff_ms = p->backoff_ms == 0
			    ? 100
			    : (p->backoff_ms * 2 > 2000 ? 2000
			                                : p->backoff_ms * 2);
			wait_ms = p->backoff_ms;
		} else if (err != OPSBUS_E_OK) {
			char quoted[300];

			log_error("event publisher: round failed",
			    "error=%s sqlstate=%s message=%s",
			    opsbus_err_name(err), db_sqlstate(p->db),
			    log_quote(
			        db_errmsg(p->db), quoted, sizeof(quoted)));
			wait_ms = 1000;
		} else if (next < p->poll_ms) {
			/* Something waits on another transaction: look again
			 * soon, then less and less often. */
			wait_ms = short_wait;
			short_wait = short_wait * 2 > p->poll_ms
			    ? p->poll_ms
			    : short_wait * 2;
		} else {
			wait_ms = next;
			short_wait = 5;
		}
		if (atomic_load(&p->stopping)) {
			break;
		}
		/* The sequencer's own notification (for the publishers of
		 * other opsbusd) is no news here: this round sent it. */
		err = db_listener_wait(p->listener, wait_ms, p->wake[0],
		    db_backend_pid(p->db), &notified);
		if (err != OPSBUS_E_OK) {
			/* No notifications: poll instead, waking on the pipe.
			 */
			struct timespec ts = {0, 0};

			timespec_add_ms(&ts, wait_ms < 200 ? wait_ms : 200);
			nanosleep(&ts, NULL);
		}
		if (notified) {
			short_wait = 5;
		}
	}
	return (NULL);
}

/* Listens on each of the comma-separated p->urls (PUB answers SUB). */
static int
publisher_listen(struct events_publisher *p, char *err, size_t err_len)
{
	char       *save = NULL;
	char       *list = strdup(p->urls);
	const char *urls[PUBLISHER_MAX_URLS];
	size_t      n = 0;
	int         rv;

	if (list == NULL) {
		snprintf(err, err_len, "out of memory");
		return (-1);
	}
	for (char *u = strtok_r(list, ",", &save); u != NULL;
	     u = strtok_r(NULL, ",", &save)) {
		if (u[0] != '\0' && n < PUBLISHER_MAX_URLS) {
			urls[n++] = u;
		}
	}
	if (n == 0) {
		snprintf(err, err_len, "events: no URL to listen on");
		free(list);
		return (-1);
	}
	rv = listeners_open(
	    p->sock, urls, n, "events", &p->listeners, err, err_len);
	for (size_t i = 0; rv == 0 && i < n; i++) {
		log_info("listening", "events=%s", urls[i]);
	}
	free(list);
	return (rv);
}

/* A tuning knob from the environment, 10..3600000 ms, else def. */
static int
env_ms(const char *name, int def)
{
	const char *v = getenv(name);
	char       *end;
	long        n;

	if (v == NULL || v[0] == '\0') {
		return (def);
	}
	n = strtol(v, &end, 10);
	return (*end == '\0' && n >= 10 && n <= 3600000 ? (int) n : def);
}

int
events_publisher_start(const struct events_publisher_config *cfg,
    struct events_publisher **out, char *err, size_t err_len)
{
	struct events_publisher *p = calloc(1, sizeof(*p));
	int                      rv;

	if (p == NULL) {
		snprintf(err, err_len, "out of memory");
		return (-1);
	}
	p->wake[0] = p->wake[1] = -1;
	arena_init(&p->arena);
	atomic_init(&p->stopping, false);
	p->retention_hours = cfg->retention_hours;
	p->poll_ms = cfg->poll_ms > 0
	    ? cfg->poll_ms
	    : env_ms("OPSBUS_EVENT_POLL_MS", PUB_DEFAULT_POLL_MS);
	p->maintenance_ms = cfg->maintenance_ms > 0
	    ? cfg->maintenance_ms
	    : env_ms(
	        "OPSBUS_EVENT_MAINTENANCE_MS", PUB_DEFAULT_MAINTENANCE_MS);
	p->batch = cfg->batch > 0 ? cfg->batch : PUB_DEFAULT_BATCH;
	p->urls = strdup(cfg->urls);
	p->conninfo = strdup(cfg->conninfo);
	if (p->urls == NULL || p->conninfo == NULL
	    || db_open(p->conninfo, &p->db) != OPSBUS_E_OK
	    || db_listener_open(p->conninfo, "opsbus_events", &p->listener)
	        != OPSBUS_E_OK
	    || pipe(p->wake) != 0) {
		snprintf(err, err_len, "events: out of memory or descriptors");
		events_publisher_stop(p);
		return (-1);
	}
	fcntl(p->wake[0], F_SETFL, O_NONBLOCK);
	fcntl(p->wake[1], F_SETFL, O_NONBLOCK);
	pthread_mutex_lock(&pipes.mtx);
	if (pipes.wake_fd >= 0) {
		pthread_mutex_unlock(&pipes.mtx);
		snprintf(err, err_len, "events: one publisher per process");
		close(p->wake[0]);
		close(p->wake[1]);
		p->wake[0] = p->wake[1] = -1;
		events_publisher_stop(p);
		return (-1);
	}
	pipes.n = 0;
	pipes.wake_fd = p->wake[1];
	pthread_mutex_unlock(&pipes.mtx);
	if ((rv = nng_pub0_open(&p->sock)) != 0) {
		snprintf(err, err_len, "events: cannot open a PUB socket: %s",
		    nng_strerror(rv));
		events_publisher_stop(p);
		return (-1);
	}
	nng_socket_set_int(p->sock, NNG_OPT_SENDBUF, PUB_SENDBUF);
	/* PUB receives nothing; refuse anything large a peer might send. */
	nng_socket_set_size(p->sock, NNG_OPT_RECVMAXSZ, 1024);
	nng_pipe_notify(p->sock, NNG_PIPE_EV_ADD_POST, pipe_event, NULL);
	nng_pipe_notify(p->sock, NNG_PIPE_EV_REM_POST, pipe_event, NULL);
	if (publisher_listen(p, err, err_len) != 0) {
		events_publisher_stop(p);
		return (-1);
	}
	if (pthread_create(&p->thread, NULL, publisher_main, p) != 0) {
		snprintf(err, err_len, "events: cannot start a thread");
		events_publisher_stop(p);
		return (-1);
	}
	p->thread_started = true;
	*out = p;
	return (0);
}

void
events_publisher_stop(struct events_publisher *p)
{
	if (p == NULL) {
		return;
	}
	atomic_store(&p->stopping, true);
	if (p->thread_started) {
		publisher_wake(p);
		pthread_join(p->thread, NULL);
	}
	listeners_close(p->listeners);
	if (nng_socket_id(p->sock) > 0) {
		nng_close(p->sock);
	}
	if (p->wake[0] >= 0) {
		/* A late pipe callback must not write to a closed (or
		 * reused) descriptor. */
		pthread_mutex_lock(&pipes.mtx);
		pipes.wake_fd = -1;
		pipes.n = 0;
		pthread_mutex_unlock(&pipes.mtx);
		close(p->wake[0]);
		close(p->wake[1]);
	}
	db_listener_free(p->listener);
	db_free(p->db);
	arena_fini(&p->arena);
	free(p->urls);
	free(p->conninfo);
	free(p);
}
