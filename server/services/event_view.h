/*
 * Reading outbox rows into Event messages, shared by EventService (the
 * catch-up reads) and the publisher (server/events/), so that an event
 * looks the same on the PUB socket and in a ListEvents answer.
 */
#ifndef OPSBUS_SERVICES_EVENT_VIEW_H
#define OPSBUS_SERVICES_EVENT_VIEW_H

#include <stdint.h>

#include "arena.h"
#include "opsbus/v1/event.pb-c.h"
#include "services/job_view.h"

struct db_rows;

/* An event row's columns as the stream shows them, position aside. */
#define EVENT_ROW_COLUMNS                                                 \
	"event_id::text, event_type, topic, coalesce(job_id::text, ''), " \
	"coalesce(queue, ''), coalesce(tenant, ''), actor, "              \
	"coalesce(correlation_id, ''), " SQL_TS(                          \
	    "created_at") ", payload::text"

/* What every query that reads events for the stream selects, in order. */
#define EVENT_STREAM_COLUMNS "position, " EVENT_ROW_COLUMNS

/* How many columns EVENT_STREAM_COLUMNS selects. */
#define EVENT_STREAM_COLUMN_COUNT 11

/*
 * The outbox's unpublished events of tenant $1 ('' for all), as rows of
 * (created_at, ordered): those the sequencer has not positioned yet (after
 * its cursor in (txid, seq) order) and the positioned ones after the
 * published mark. Both are range scans that start where the work stands,
 * so they cost what waits, not what the outbox holds (OFFSET 0 keeps the
 * lookup of each positioned event a lookup: the planner, not knowing the
 * mark, would otherwise read all of events to join a few rows).
 */
#define EVENT_UNPUBLISHED_SQL                                                 \
	"SELECT e.created_at, false AS ordered FROM events e WHERE (e.txid, " \
	"e.seq) > ((SELECT last_txid FROM event_positions), (SELECT "         \
	"last_seq FROM event_positions)) AND ($1 = '' OR e.tenant = $1) "     \
	"UNION ALL SELECT e.created_at, true FROM event_order o CROSS JOIN "  \
	"LATERAL (SELECT created_at FROM events e WHERE e.seq = o.seq AND "   \
	"($1 = '' OR e.tenant = $1) OFFSET 0) e WHERE o.position > (SELECT "  \
	"published_through FROM event_publications)"

/*
 * The event in row r of rows, its columns starting at col, as a message
 * allocated in a, with previous_position set to previous. The payload is
 * redacted again on the way out (the writers store it redacted; this
 * covers rows written by other means). Returns NULL when out of memory.
 */
Opsbus__V1__Event *event_view_from_row(struct arena *a,
    const struct db_rows *rows, int r, int col, int64_t previous);

#endif
