/*
 * The event publisher of one opsbusd: a thread that runs the sequencer
 * (sequencer.h), sends every positioned event on the server's PUB socket
 * as `topic '\0' Event`, marks published_at, and prunes old published
 * events. It sleeps on LISTEN opsbus_events with a slow poll as a fallback
 * and keeps going across a PostgreSQL outage.
 */
#ifndef OPSBUS_EVENTS_PUBLISHER_H
#define OPSBUS_EVENTS_PUBLISHER_H

#include <stddef.h>

struct events_publisher_config {
	/* Comma-separated nng URLs to listen on: tcp://, ipc://, ws://. */
	const char *urls;
	/* libpq connection string. */
	const char *conninfo;
	/* Published events older than this are pruned; 0: never. */
	int retention_hours;
	/* The slow poll when no notification comes; 0: the environment's
	 * OPSBUS_EVENT_POLL_MS, else 500 ms. */
	int poll_ms;
	/* How often retention runs; 0: OPSBUS_EVENT_MAINTENANCE_MS, else
	 * 60000 ms. */
	int maintenance_ms;
	/* Events read or positioned per transaction; 0: 1000. */
	int batch;
};

struct events_publisher;

/*
 * Opens the PUB socket, listens on every URL and starts the thread. One
 * publisher per process. Returns 0 and writes *out, or -1 with the reason
 * in err (a bad URL, an address in use, a publisher already running, no
 * memory).
 */
int events_publisher_start(const struct events_publisher_config *cfg,
    struct events_publisher **out, char *err, size_t err_len);

/*
 * Stops the thread (it finishes the batch it is sending), closes the
 * socket and frees. NULL does nothing.
 */
void events_publisher_stop(struct events_publisher *p);

/*
 * Starts a round soon: events were just committed on a connection that
 * does not notify (opsbus.events_wake = 'local'; see migration 0003).
 * Safe from any thread, cheap (a byte on a pipe; wake-ups fold together).
 * The argument is a struct events_publisher *, so it fits a callback.
 */
void events_publisher_wake(void *p);

#endif
