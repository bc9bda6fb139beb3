/*
 * libopsbus's event subscriber: it follows opsbusd's event stream (nng
 * SUB, messages `topic '\0' Event`) and hands the application each event
 * once, in position order, although nng PUB drops messages for slow
 * subscribers by design.
 *
 * How: every Event carries previous_position, where the publisher's stream
 * stood before it. The subscriber keeps the position through which it
 * holds everything ("through"). A message whose previous_position is above
 * it reveals a gap, which the subscriber fills with
 * EventService/ListEvents(after = through) before delivering anything
 * newer; a message at or below it is a duplicate and dropped. After a
 * silence (idle_ms) it asks ListEvents too, so that a loss just before a
 * quiet spell is found without waiting for the next event. While the RPC
 * path is down it delivers nothing out of order: it drops newer messages
 * and retries the catch-up.
 *
 * The SUB socket subscribes to every topic and the topic prefix is applied
 * here: gap detection needs the whole stream (nng filters on the
 * subscriber's side in any case, so this costs no network traffic).
 *
 * Threads: opsbus_subscriber_run blocks the calling thread and calls the
 * callback from it; opsbus_subscriber_stop may be called from any thread
 * or a signal handler.
 */
#ifndef OPSBUS_SUBSCRIBER_H
#define OPSBUS_SUBSCRIBER_H

#include <stdint.h>

#include "opsbus.h"
#include "opsbus/v1/event.pb-c.h"

struct opsbus_subscriber;

enum opsbus_sub_start {
	/* Events positioned after the subscriber opened. */
	OPSBUS_SUB_FROM_NOW = 0,
	/* Events after from_position. */
	OPSBUS_SUB_FROM_POSITION,
	/* Every event still retained, then the live stream. */
	OPSBUS_SUB_FROM_START,
};

/*
 * Called once per event, in position order. e (and its strings) is valid
 * only during the call. Return 0 to go on, anything else to make
 * opsbus_subscriber_run return.
 */
typedef int (*opsbus_event_fn)(const Opsbus__V1__Event *e, void *arg);

struct opsbus_subscriber_config {
	/* opsbusd's event address; NULL: tcp://127.0.0.1:7471. */
	const char *url;
	/* For ListEvents and GetBacklog; not owned, must outlive the
	 * subscriber, and must reach a server on the same database. */
	struct opsbus_client *client;
	/* Only events whose topic starts with this; NULL or "": all. */
	const char *topic_prefix;
	/* Only events of this tenant; NULL or "": all. */
	const char           *tenant;
	enum opsbus_sub_start start;
	/* With OPSBUS_SUB_FROM_POSITION. */
	int64_t         from_position;
	opsbus_event_fn callback;
	void           *arg;
	/* Messages nng queues for the SUB socket (1..8192); 0: 1024. */
	int recv_buf;
	/* Silence after which the subscriber asks ListEvents; 0: 2000 ms. */
	int idle_ms;
};

struct opsbus_subscriber_stats {
	/* Messages read from the socket. */
	uint64_t received;
	/* Events handed to the callback. */
	uint64_t delivered;
	/* Of those, how many came through ListEvents. */
	uint64_t fetched;
	/* Gaps seen (a previous_position above the held position). */
	uint64_t gaps;
	/* Messages dropped as already held. */
	uint64_t duplicates;
	/* ListEvents calls made. */
	uint64_t catchups;
	/* Messages that were not `topic '\0' Event`. */
	uint64_t malformed;
};

/*
 * Opens the SUB socket (it connects in the background: opsbusd may start
 * later) and, for OPSBUS_SUB_FROM_NOW, asks GetBacklog where "now" is.
 * Returns 0 and writes *out, or -1 with st filled (bad configuration, a
 * bad URL, the server unreachable for FROM_NOW). The callback is not
 * called before opsbus_subscriber_run.
 */
int opsbus_subscriber_open(const struct opsbus_subscriber_config *cfg,
    struct opsbus_subscriber **out, struct opsbus_status *st);

/*
 * Catches up from the start position, then follows the stream until
 * opsbus_subscriber_stop or a callback returning non-zero. Returns 0 then.
 * Returns -1 with st filled when the server refuses ListEvents for a
 * reason retrying cannot fix (a key without the viewer role); outages
 * are waited out.
 */
int opsbus_subscriber_run(
    struct opsbus_subscriber *s, struct opsbus_status *st);

/* Makes run return within about 100 ms. Async-signal-safe. */
void opsbus_subscriber_stop(struct opsbus_subscriber *s);

/*
 * The position through which every matching event has been delivered.
 * Thread-safe.
 */
int64_t opsbus_subscriber_position(struct opsbus_subscriber *s);

/* A copy of the counters. Thread-safe. */
void opsbus_subscriber_stats(
    struct opsbus_subscriber *s, struct opsbus_subscriber_stats *out);

/*
 * Closes the socket and frees; not while run is running. NULL: nothing.
 * With nng 1.5.2 (Debian bookworm's) the close can, rarely, wait forever
 * when an event is arriving at that instant: the IPC and TCP transports
 * restart a read on a receive that the close already stopped, and the
 * pipe never finishes closing. So close first drops what arrives until
 * the socket has been quiet for 100 ms (1 s at most), which makes the race
 * unlikely; a program that must not hang on its way out still bounds the
 * close, as the CLI does (cli_closing in client/cli/main.c).
 */
void opsbus_subscriber_close(struct opsbus_subscriber *s);

#endif
