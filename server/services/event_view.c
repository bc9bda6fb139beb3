/*
 * Outbox rows to Event messages. Every string is copied into the arena
 * because rows are freed before the message is packed.
 */
#include "services/event_view.h"

#include "services/redact.h"
#include "store/db.h"

Opsbus__V1__Event *
event_view_from_row(struct arena *a, const struct db_rows *rows, int r,
    int col, int64_t previous)
{
	Opsbus__V1__Event *e = arena_alloc(a, sizeof(*e));
	const char        *payload;
	char              *redacted;

	if (e == NULL) {
		return (NULL);
	}
	opsbus__v1__event__init(e);
	e->position = db_rows_int(rows, r, col);
	e->previous_position = previous;
	e->event_id = arena_strdup(a, db_rows_get(rows, r, col + 1));
	e->type = arena_strdup(a, db_rows_get(rows, r, col + 2));
	e->topic = arena_strdup(a, db_rows_get(rows, r, col + 3));
	e->job_id = arena_strdup(a, db_rows_get(rows, r, col + 4));
	e->queue = arena_strdup(a, db_rows_get(rows, r, col + 5));
	e->tenant = arena_strdup(a, db_rows_get(rows, r, col + 6));
	e->actor = arena_strdup(a, db_rows_get(rows, r, col + 7));
	e->correlation_id = arena_strdup(a, db_rows_get(rows, r, col + 8));
	e->occurred_at = arena_strdup(a, db_rows_get(rows, r, col + 9));
	payload = db_rows_get(rows, r, col + 10);
	/* jsonb text always parses; should it not, nothing of it goes out. */
	e->payload = redact_json(payload, a, &redacted)
	    ? redacted
	    : arena_strdup(a, "{}");
	if (e->event_id == NULL || e->type == NULL || e->topic == NULL
	    || e->job_id == NULL || e->queue == NULL || e->tenant == NULL
	    || e->actor == NULL || e->correlation_id == NULL
	    || e->occurred_at == NULL || e->payload == NULL) {
		return (NULL);
	}
	return (e);
}
