/*
 * EventService: the catch-up path of the event stream. ListEvents reads
 * positioned events (server/events/sequencer.c gives positions) in
 * position order, so that a subscriber that missed messages on the PUB
 * socket fills the gap with exactly the events it missed. GetBacklog
 * counts what waits in the outbox.
 *
 * Callers whose key is bound to a tenant see that tenant's events only.
 */
#include <stdio.h>
#include <string.h>

#include "opsbus/v1/event.pb-c.h"
#include "services/event_view.h"
#include "services/handlers.h"
#include "services/lookup.h"
#include "store/db.h"

#define EVENTS_DEFAULT_LIMIT 100
#define EVENTS_MAX_LIMIT     1000
#define TOPIC_PREFIX_MAX     128

/*
 * One statement, so one snapshot: the last position given out and the
 * events after $1. Positions become visible in order (the sequencer holds
 * its lock until it commits), so when the answer is not cut by the limit
 * it holds every matching event up to last_position. A LEFT JOIN keeps the
 * one row that carries last_position when no event matches.
 *
 * The positions are walked in order and each event looked up by seq, the
 * filters applied to it (OFFSET 0 keeps the lookup a lookup): planned as a
 * join, a rare topic was estimated at one row and the events table read
 * once per position (minutes on 200,000 events).
 */
static const struct db_stmt stmt_list = {"event_list",
    "SELECT c.last_position, e.* FROM event_positions c LEFT JOIN LATERAL "
    "(SELECT o.position, x.* FROM event_order o CROSS JOIN LATERAL "
    "(SELECT " EVENT_ROW_COLUMNS
    " FROM events e WHERE e.seq = o.seq AND ($2 = '' OR "
    "starts_with(e.topic, $2)) AND ($3 = '' OR e.tenant = $3) OFFSET 0) x "
    "WHERE o.position > $1::bigint AND o.position <= c.last_position "
    "ORDER BY o.position LIMIT $4::int) e ON true ORDER BY e.position"};

static const struct db_stmt stmt_backlog = {"event_backlog",
    "WITH u AS (" EVENT_UNPUBLISHED_SQL ") SELECT count(*), " SQL_TS(
        "min(created_at)") ", coalesce((extract(epoch FROM "
                           "clock_timestamp() - min(created_at)) * "
                           "1000)::bigint, 0), count(*) FILTER (WHERE NOT "
                           "ordered), (SELECT last_position FROM "
                           "event_positions), coalesce((SELECT o.position "
                           "FROM event_order o WHERE EXISTS (SELECT 1 FROM "
                           "events e WHERE e.seq = o.seq AND ($1 = '' OR "
                           "e.tenant = $1) OFFSET 0) ORDER BY o.position "
                           "LIMIT 1), 0) FROM u"};

/* Topic prefixes: up to 128 of [A-Za-z0-9._:/-]; empty is "all". */
static bool
valid_topic_prefix(const char *s)
{
	size_t n = strlen(s);

	if (n > TOPIC_PREFIX_MAX) {
		return (false);
	}
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		        || (c >= '0' && c <= '9') || c == '.' || c == '_'
		        || c == '-' || c == ':' || c == '/')) {
			return (false);
		}
	}
	return (true);
}

opsbus_err
event_list(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	const Opsbus__V1__ListEventsRequest *in
	    = (const Opsbus__V1__ListEventsRequest *) inm;
	Opsbus__V1__ListEventsResponse *out
	    = (Opsbus__V1__ListEventsResponse *) outm;
	char            after[24], limit_text[16];
	const char     *p[4];
	struct db_rows *rows;
	opsbus_err      err;
	int             limit = EVENTS_DEFAULT_LIMIT;
	int             count;
	int64_t         previous;

	if ((err = call_limit(call,
	         in->limit_value_case
	             == OPSBUS__V1__LIST_EVENTS_REQUEST__LIMIT_VALUE_LIMIT,
	         in->limit, EVENTS_DEFAULT_LIMIT, EVENTS_MAX_LIMIT, &limit))
	    != OPSBUS_E_OK) {
		return (err);
	}
	if (in->after_position < 0) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "after_position must be 0 or more, got %lld",
		    (long long) in->after_position));
	}
	if (!valid_topic_prefix(in->topic_prefix)) {
		return (call_fail(call, OPSBUS_E_VALIDATION_ERROR,
		    "topic_prefix is up to %d characters of letters, digits, "
		    "'.', '_', '-', ':' and '/'",
		    TOPIC_PREFIX_MAX));
	}
	snprintf(after, sizeof(after), "%lld", (long long) in->after_position);
	/* One more than asked tells whether the answer was cut. */
	snprintf(limit_text, sizeof(limit_text), "%d", limit + 1);
	p[0] = after;
	p[1] = in->topic_prefix;
	p[2] = call->who->tenant;
	p[3] = limit_text;
	if ((err = db_exec(call->db, &stmt_list, 4, p, &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	count = db_rows_count(rows);
	out->last_position = count > 0 ? db_rows_int(rows, 0, 0) : 0;
	out->events
	    = call_array(call, (size_t) count + 1, sizeof(*out->events));
	previous = in->after_position;
	for (int r = 0; out->events != NULL && r < count; r++) {
		Opsbus__V1__Event *e;

		if (db_rows_null(rows, r, 1)) {
			continue;
		}
		if ((int) out->n_events == limit) {
			out->more = true;
			break;
		}
		if ((e = event_view_from_row(
		         call->arena, rows, r, 1, previous))
		    == NULL) {
			db_rows_free(rows);
			return (OPSBUS_E_INTERNAL);
		}
		previous = e->position;
		out->events[out->n_events++] = e;
	}
	db_rows_free(rows);
	return (out->events != NULL ? OPSBUS_E_OK : OPSBUS_E_INTERNAL);
}

opsbus_err
event_backlog(
    struct rpc_call *call, const ProtobufCMessage *inm, ProtobufCMessage *outm)
{
	Opsbus__V1__GetBacklogResponse *out
	    = (Opsbus__V1__GetBacklogResponse *) outm;
	const char     *p[1] = {call->who->tenant};
	struct db_rows *rows;
	opsbus_err      err;

	(void) inm;
	if ((err = db_exec(call->db, &stmt_backlog, 1, p, &rows))
	    != OPSBUS_E_OK) {
		return (err);
	}
	if (db_rows_count(rows) == 1) {
		out->unpublished = db_rows_int(rows, 0, 0);
		out->oldest_unpublished_at
		    = call_strdup(call, db_rows_get(rows, 0, 1));
		out->oldest_unpublished_age_ms = db_rows_int(rows, 0, 2);
		out->unordered = db_rows_int(rows, 0, 3);
		out->last_position = db_rows_int(rows, 0, 4);
		out->first_position = db_rows_int(rows, 0, 5);
	}
	db_rows_free(rows);
	return (out->oldest_unpublished_at != NULL ? OPSBUS_E_OK
	                                           : OPSBUS_E_INTERNAL);
}
