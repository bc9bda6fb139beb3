/*
 * The final order of the outbox.
 *
 * Rows of `events` get their seq from a sequence when they are inserted,
 * but transactions commit in any order: seq 7 can become visible after
 * seq 9, so a reader that publishes "everything above the last seq I
 * published" skips 7 for good. Positions fix this. A position is given to
 * an event only when no event can ever again appear before it:
 *
 *   Every row carries the id of the transaction that wrote it (txid, an
 *   xid8, which never wraps). pg_snapshot_xmin of a snapshot is the oldest
 *   transaction still running when the snapshot was taken; every
 *   transaction below it has ended, committed or rolled back. So the set
 *   of events with txid < xmin is complete and can never grow: those of
 *   committed transactions are all visible, those of rolled back ones never
 *   will be. The sequencer positions exactly that set, ordered by
 *   (txid, seq), continuing from the last position it gave. The next run's
 *   xmin is no lower (snapshot xmin never goes back), and everything below
 *   the old xmin is already positioned, so every event it positions has a
 *   txid at or above the old xmin: above all positions given before, in
 *   (txid, seq) order too. Positions are thus given in one order that no
 *   later commit can change.
 *
 * So the events that wait for a position are exactly those after the last
 * positioned one in (txid, seq) order: no event can appear before it any
 * more. event_positions keeps that cursor with the last position, and a
 * run is a range scan of the events (txid, seq) index from the cursor,
 * bounded by xmin. A position is a new narrow row of event_order
 * (position, seq); the event row itself is never written again (migration
 * 0005 says what that saves).
 *
 * One sequencer runs at a time across every opsbusd sharing the database
 * (pg_try_advisory_xact_lock; the others skip their turn). It holds the
 * lock until its commit, so position n + 1 is never visible before
 * position n: a publisher or ListEvents that sees a position sees all
 * below it. The last position lives in event_positions (a row, updated in
 * the same transaction), so positions are dense and never reused even
 * after retention prunes every event.
 *
 * The cost: an event waits for every transaction that started before it
 * to end. A long transaction holding a transaction id (a bulk load, a
 * session idle in transaction) delays the stream, never loses from it;
 * GetBacklog's "unordered" count shows it. Transactions that only read
 * take no transaction id and delay nothing.
 *
 * The work itself is the SQL function events_sequence (migrations/
 * 0005_events_insert_only.sql), so that a run is one round trip: lock,
 * assignment and the notification to the other publishers, in one
 * transaction.
 */
#include "events/sequencer.h"

#include <stdio.h>

#include "store/db.h"

/* Alone, outside any transaction: the call is its own transaction. */
static const struct db_stmt stmt_sequence = {"events_sequence",
    "SELECT positioned, blocked, busy FROM events_sequence($1::int)"};

opsbus_err
sequencer_run(struct db *db, int batch, struct sequencer_result *out)
{
	char            batch_text[16];
	const char     *p[1] = {batch_text};
	struct db_rows *rows;
	opsbus_err      err;

	out->positioned = 0;
	out->busy = false;
	out->blocked = false;
	snprintf(batch_text, sizeof(batch_text), "%d", batch);
	if ((err = db_exec(db, &stmt_sequence, 1, p, &rows)) != OPSBUS_E_OK) {
		return (err);
	}
	if (db_rows_count(rows) == 1) {
		out->positioned = (int) db_rows_int(rows, 0, 0);
		out->blocked = db_rows_bool(rows, 0, 1);
		out->busy = db_rows_bool(rows, 0, 2);
	}
	db_rows_free(rows);
	return (OPSBUS_E_OK);
}
