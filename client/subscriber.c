/*
 * The libopsbus subscriber: SUB socket + gap detection + catch-up over
 * RPC. See subscriber.h for the contract; the state is one number,
 * `through`, the position through which everything matching has been
 * delivered, and every path (socket, catch-up) only ever raises it.
 */
#define _DEFAULT_SOURCE
#include "subscriber.h"

#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errors.h"

#define SUB_DEFAULT_URL     "tcp://127.0.0.1:7471"
#define SUB_DEFAULT_RECVBUF 1024
#define SUB_DEFAULT_IDLE_MS 2000
#define SUB_TICK_MS         100
#define SUB_PAGE            1000
#define SUB_MAX_MESSAGE     (16 * 1024 * 1024)
#define SUB_RETRY_MS        500
#define SUB_QUIET_MS        100
#define SUB_DRAIN_MS        1000

struct opsbus_subscriber {
	nng_socket            sock;
	struct opsbus_client *client;
	char                 *prefix;
	char                 *tenant;
	opsbus_event_fn       callback;
	void                 *arg;
	int                   idle_ms;
	atomic_bool           stop;
	atomic_llong          through;
	/* Set when a catch-up is owed but the RPC failed. */
	bool            owed;
	struct timespec next_retry;
	/* When a message last came (or a catch-up last ran). */
	struct timespec last_activity;

	atomic_ullong received, delivered, fetched, gaps, duplicates, catchups,
	    malformed;
};

static void sub_status(struct opsbus_status *st, int code,
    const char *error_code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
sub_status(struct opsbus_status *st, int code, const char *error_code,
    const char *fmt, ...)
{
	va_list ap;

	if (st == NULL) {
		return;
	}
	memset(st, 0, sizeof(*st));
	st->code = code;
	snprintf(st->error_code, sizeof(st->error_code), "%s", error_code);
	va_start(ap, fmt);
	vsnprintf(st->message, sizeof(st->message), fmt, ap);
	va_end(ap);
}

static long
ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return ((long) (now.tv_sec - t->tv_sec) * 1000
	    + (now.tv_nsec - t->tv_nsec) / 1000000);
}

static char *
dup_or_empty(const char *s)
{
	return (strdup(s != NULL ? s : ""));
}

static bool
sub_matches(const struct opsbus_subscriber *s, const Opsbus__V1__Event *e)
{
	return (strncmp(e->topic, s->prefix, strlen(s->prefix)) == 0
	    && (s->tenant[0] == '\0' || strcmp(e->tenant, s->tenant) == 0));
}

/* Hands e to the application if it matches; 1 when it asks to stop. */
static int
sub_deliver(
    struct opsbus_subscriber *s, const Opsbus__V1__Event *e, bool fetched)
{
	int rv = 0;

	if (sub_matches(s, e)) {
		atomic_fetch_add(&s->delivered, 1);
		if (fetched) {
			atomic_fetch_add(&s->fetched, 1);
		}
		rv = s->callback(e, s->arg);
	}
	atomic_store(&s->through, e->position);
	if (rv != 0) {
		atomic_store(&s->stop, true);
	}
	return (rv != 0);
}

static int
sub_backlog_position(
    struct opsbus_subscriber *s, int64_t *out, struct opsbus_status *st)
{
	Opsbus__V1__GetBacklogRequest req
	    = OPSBUS__V1__GET_BACKLOG_REQUEST__INIT;
	Opsbus__V1__GetBacklogResponse *res = NULL;

	if (opsbus_call(s->client, "opsbus.v1.EventService/GetBacklog",
	        &req.base, &opsbus__v1__get_backlog_response__descriptor,
	        (ProtobufCMessage **) &res, NULL, st)
	    != 0) {
		return (-1);
	}
	*out = res->last_position;
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return (0);
}

/*
 * Fetches and delivers everything after `through` with ListEvents, page
 * by page, until the answer is complete; then `through` also covers the
 * last position the server had given out. Returns 0 (done, or the
 * callback asked to stop), or -1 with st filled when a call failed.
 */
static int
sub_catch_up(struct opsbus_subscriber *s, struct opsbus_status *st)
{
	clock_gettime(CLOCK_MONOTONIC, &s->last_activity);
	while (!atomic_load(&s->stop)) {
		Opsbus__V1__ListEventsRequest req
		    = OPSBUS__V1__LIST_EVENTS_REQUEST__INIT;
		Opsbus__V1__ListEventsResponse *res = NULL;
		bool                            more;

		req.after_position = atomic_load(&s->through);
		req.topic_prefix = s->prefix;
		req.limit_value_case
		    = OPSBUS__V1__LIST_EVENTS_REQUEST__LIMIT_VALUE_LIMIT;
		req.limit = SUB_PAGE;
		atomic_fetch_add(&s->catchups, 1);
		if (opsbus_call(s->client, "opsbus.v1.EventService/ListEvents",
		        &req.base,
		        &opsbus__v1__list_events_response__descriptor,
		        (ProtobufCMessage **) &res, NULL, st)
		    != 0) {
			return (-1);
		}
		for (size_t i = 0; i < res->n_events; i++) {
			const Opsbus__V1__Event *e = res->events[i];

			if (e->position <= atomic_load(&s->through)) {
				continue;
			}
			if (sub_deliver(s, e, true) != 0) {
				break;
			}
		}
		more = res->more;
		if (!more && !atomic_load(&s->stop)
		    && res->last_position > atomic_load(&s->through)) {
			atomic_store(&s->through, res->last_position);
		}
		protobuf_c_message_free_unpacked(&res->base, NULL);
		if (!more) {
			break;
		}
	}
	s->owed = false;
	return (0);
}

/*
 * Tries the catch-up owed; on a failure that retrying may fix, schedules
 * a retry. Returns -1 only for failures retrying cannot fix.
 */
static int
sub_try_catch_up(struct opsbus_subscriber *s, struct opsbus_status *st)
{
	struct opsbus_status cst;

	if (sub_catch_up(s, &cst) == 0) {
		return (0);
	}
	if (cst.code == OPSBUS_GRPC_UNAUTHENTICATED
	    || cst.code == OPSBUS_GRPC_PERMISSION_DENIED
	    || cst.code == OPSBUS_GRPC_INVALID_ARGUMENT
	    || cst.code == OPSBUS_GRPC_UNIMPLEMENTED) {
		if (st != NULL) {
			*st = cst;
		}
		return (-1);
	}
	s->owed = true;
	clock_gettime(CLOCK_MONOTONIC, &s->next_retry);
	s->next_retry.tv_nsec += (long) SUB_RETRY_MS * 1000000L;
	while (s->next_retry.tv_nsec >= 1000000000L) {
		s->next_retry.tv_sec++;
		s->next_retry.tv_nsec -= 1000000000L;
	}
	return (0);
}

static bool
sub_retry_due(const struct opsbus_subscriber *s)
{
	return (ms_since(&s->next_retry) >= 0);
}

/* One message from the socket. Returns -1 on a fatal catch-up failure. */
static int
sub_handle(struct opsbus_subscriber *s, nng_msg *msg, struct opsbus_status *st)
{
	const uint8_t     *body = nng_msg_body(msg);
	size_t             len = nng_msg_len(msg);
	const uint8_t     *nul = memchr(body, '\0', len);
	Opsbus__V1__Event *e;
	int                rv = 0;

	atomic_fetch_add(&s->received, 1);
	clock_gettime(CLOCK_MONOTONIC, &s->last_activity);
	if (nul == NULL
	    || (e = opsbus__v1__event__unpack(
	            NULL, len - (size_t) (nul + 1 - body), nul + 1))
	        == NULL) {
		atomic_fetch_add(&s->malformed, 1);
		return (0);
	}
	if (e->position <= atomic_load(&s->through)) {
		atomic_fetch_add(&s->duplicates, 1);
	} else if (s->owed
	    || e->previous_position > atomic_load(&s->through)) {
		/* Something between through and this event went missing:
		 * fetch it (this event comes with it) before going on. */
		if (!s->owed) {
			atomic_fetch_add(&s->gaps, 1);
		}
		if (!s->owed || sub_retry_due(s)) {
			rv = sub_try_catch_up(s, st);
		}
		/* Still owed: drop it; the catch-up will bring it. */
		if (rv == 0 && !s->owed && !atomic_load(&s->stop)
		    && e->position > atomic_load(&s->through)
		    && e->previous_position <= atomic_load(&s->through)) {
			(void) sub_deliver(s, e, false);
		}
	} else {
		(void) sub_deliver(s, e, false);
	}
	opsbus__v1__event__free_unpacked(e, NULL);
	return (rv);
}

int
opsbus_subscriber_open(const struct opsbus_subscriber_config *cfg,
    struct opsbus_subscriber **out, struct opsbus_status *st)
{
	struct opsbus_subscriber *s;
	const char               *url = cfg->url != NULL && cfg->url[0] != '\0'
	                  ? cfg->url
	                  : SUB_DEFAULT_URL;
	int                       rv;

	if (cfg->client == NULL || cfg->callback == NULL
	    || (cfg->start == OPSBUS_SUB_FROM_POSITION
	        && cfg->from_position < 0)
	    || cfg->recv_buf < 0 || cfg->recv_buf > 8192 || cfg->idle_ms < 0) {
		sub_status(st, OPSBUS_GRPC_INVALID_ARGUMENT,
		    "VALIDATION_ERROR",
		    "a subscriber needs a client, a callback, a position "
		    ">= 0, recv_buf 0..8192 and idle_ms >= 0");
		return (-1);
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		sub_status(
		    st, OPSBUS_GRPC_INTERNAL, "INTERNAL", "out of memory");
		return (-1);
	}
	s->client = cfg->client;
	s->callback = cfg->callback;
	s->arg = cfg->arg;
	s->idle_ms = cfg->idle_ms > 0 ? cfg->idle_ms : SUB_DEFAULT_IDLE_MS;
	s->prefix = dup_or_empty(cfg->topic_prefix);
	s->tenant = dup_or_empty(cfg->tenant);
	atomic_init(&s->stop, false);
	atomic_init(&s->through, 0);
	if (s->prefix == NULL || s->tenant == NULL) {
		sub_status(
		    st, OPSBUS_GRPC_INTERNAL, "INTERNAL", "out of memory");
		opsbus_subscriber_close(s);
		return (-1);
	}
	if ((rv = nng_sub0_open(&s->sock)) != 0) {
		sub_status(st, OPSBUS_GRPC_INTERNAL, "INTERNAL",
		    "cannot open a SUB socket: %s", nng_strerror(rv));
		opsbus_subscriber_close(s);
		return (-1);
	}
	/* Every topic: gap detection needs the whole stream. */
	nng_socket_set(s->sock, NNG_OPT_SUB_SUBSCRIBE, "", 0);
	nng_socket_set_int(s->sock, NNG_OPT_RECVBUF,
	    cfg->recv_buf > 0 ? cfg->recv_buf : SUB_DEFAULT_RECVBUF);
	nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, SUB_MAX_MESSAGE);
	nng_socket_set_ms(s->sock, NNG_OPT_RECVTIMEO, SUB_TICK_MS);
	nng_socket_set_ms(s->sock, NNG_OPT_RECONNMINT, 50);
	nng_socket_set_ms(s->sock, NNG_OPT_RECONNMAXT, 1000);
	if ((rv = nng_dial(s->sock, url, NULL, NNG_FLAG_NONBLOCK)) != 0) {
		sub_status(st, OPSBUS_GRPC_INVALID_ARGUMENT,
		    "VALIDATION_ERROR", "cannot subscribe to %s: %s", url,
		    nng_strerror(rv));
		opsbus_subscriber_close(s);
		return (-1);
	}
	switch (cfg->start) {
	case OPSBUS_SUB_FROM_NOW: {
		int64_t now;

		if (sub_backlog_position(s, &now, st) != 0) {
			opsbus_subscriber_close(s);
			return (-1);
		}
		atomic_store(&s->through, now);
		break;
	}
	case OPSBUS_SUB_FROM_POSITION:
		atomic_store(&s->through, cfg->from_position);
		break;
	case OPSBUS_SUB_FROM_START:
	default:
		atomic_store(&s->through, 0);
		break;
	}
	s->owed = true;
	clock_gettime(CLOCK_MONOTONIC, &s->next_retry);
	clock_gettime(CLOCK_MONOTONIC, &s->last_activity);
	*out = s;
	return (0);
}

int
opsbus_subscriber_run(struct opsbus_subscriber *s, struct opsbus_status *st)
{
	while (!atomic_load(&s->stop)) {
		nng_msg *msg;
		int      rv;

		/* The start, a failed catch-up, or a long silence. */
		if ((s->owed && sub_retry_due(s))
		    || (!s->owed
		        && ms_since(&s->last_activity) >= s->idle_ms)) {
			if (sub_try_catch_up(s, st) != 0) {
				return (-1);
			}
			continue;
		}
		rv = nng_recvmsg(s->sock, &msg, 0);
		if (rv == NNG_ETIMEDOUT) {
			continue;
		}
		if (rv != 0) {
			sub_status(st, OPSBUS_GRPC_UNAVAILABLE, "UNAVAILABLE",
			    "event socket: %s", nng_strerror(rv));
			return (-1);
		}
		rv = sub_handle(s, msg, st);
		nng_msg_free(msg);
		if (rv != 0) {
			return (-1);
		}
	}
	return (0);
}

void
opsbus_subscriber_stop(struct opsbus_subscriber *s)
{
	atomic_store(&s->stop, true);
}

int64_t
opsbus_subscriber_position(struct opsbus_subscriber *s)
{
	return (atomic_load(&s->through));
}

void
opsbus_subscriber_stats(
    struct opsbus_subscriber *s, struct opsbus_subscriber_stats *out)
{
	out->received = atomic_load(&s->received);
	out->delivered = atomic_load(&s->delivered);
	out->fetched = atomic_load(&s->fetched);
	out->gaps = atomic_load(&s->gaps);
	out->duplicates = atomic_load(&s->duplicates);
	out->catchups = atomic_load(&s->catchups);
	out->malformed = atomic_load(&s->malformed);
}

/*
 * Reads and drops what arrives until the socket has been quiet for
 * SUB_QUIET_MS (at most SUB_DRAIN_MS in all). nng 1.5.2's close can wait
 * forever on a message arriving at that instant (see subscriber.h);
 * closing after a quiet moment makes that unlikely, though a stream that
 * never pauses still closes at the end of the drain.
 */
static void
sub_drain(nng_socket sock)
{
	struct timespec start;
	nng_msg        *msg;

	clock_gettime(CLOCK_MONOTONIC, &start);
	nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO, SUB_QUIET_MS);
	while (ms_since(&start) < SUB_DRAIN_MS
	    && nng_recvmsg(sock, &msg, 0) == 0) {
		nng_msg_free(msg);
	}
}

void
opsbus_subscriber_close(struct opsbus_subscriber *s)
{
	if (s == NULL) {
		return;
	}
	if (nng_socket_id(s->sock) > 0) {
		sub_drain(s->sock);
		nng_close(s->sock);
	}
	free(s->prefix);
	free(s->tenant);
	free(s);
}
