-- Events become insert-only.
--
-- Until now every event row was written three times: inserted by the
-- change, updated by the sequencer (its position) and updated again by the
-- publisher (published_at). Both updates changed indexed columns, so each
-- wrote the whole row again (payload included) with a new entry in every
-- index of events, and left dead rows and dead index entries behind that
-- the sequencer's own scans then stepped over. At 64 concurrent creates
-- that was a third of the machine.
--
-- Now:
--   * events is written once. Its indexes: seq, the job's timeline, and
--     (txid, seq), the order the sequencer gives positions in.
--   * event_order holds the positions: one narrow row per event (position,
--     seq), inserted by the sequencer and never updated.
--   * event_positions also keeps the sequencer's cursor: the (txid, seq) of
--     the last event positioned. Every event after it in (txid, seq) order
--     is unpositioned (server/events/sequencer.c says why), so finding them
--     is a range scan of the (txid, seq) index from the cursor.
--   * event_publications holds how far the stream has been published (by
--     any opsbusd): one row, moved forward once per publisher batch,
--     instead of a published_at on every event. Positions are dense and
--     published in order, so "unpublished" is everything after it.
--   * The event_id uniqueness index goes: ids are random version-4 UUIDs
--     that opsbusd generates, nothing looks an event up by id, and the
--     index cost an entry per event.
--
-- Reading an event with its position is a join of event_order and events
-- on seq; the view events_with_position does that join for people reading
-- the outbox by hand (position is NULL while an event waits for one, and
-- published says whether it went out).

CREATE TABLE event_order (
    position  bigint PRIMARY KEY,
    seq       bigint NOT NULL
);
INSERT INTO event_order (position, seq)
    SELECT position, seq FROM events WHERE position IS NOT NULL;

-- The cursor: (0, 0) sorts before every event. Positioned events all come
-- before every unpositioned one in (txid, seq) order, so the last
-- positioned one is where the sequencer goes on from.
ALTER TABLE event_positions
    ADD COLUMN last_txid xid8 NOT NULL DEFAULT '0',
    ADD COLUMN last_seq bigint NOT NULL DEFAULT 0;
UPDATE event_positions c SET last_txid = e.txid, last_seq = e.seq
    FROM (SELECT txid, seq FROM events WHERE position IS NOT NULL
          ORDER BY position DESC LIMIT 1) e;

CREATE TABLE event_publications (
    singleton          boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    published_through  bigint NOT NULL
);
-- Published through the position before the oldest positioned event nobody
-- published, or through the last position given out.
INSERT INTO event_publications (published_through)
    SELECT coalesce((SELECT min(position) - 1 FROM events
                     WHERE position IS NOT NULL AND published_at IS NULL),
                    (SELECT last_position FROM event_positions));

-- Drops their indexes too: the position key, events_unordered,
-- events_unpublished and events_published_age.
ALTER TABLE events DROP COLUMN position, DROP COLUMN published_at;
ALTER TABLE events DROP CONSTRAINT events_event_id_key;
CREATE INDEX events_order ON events (txid, seq);

CREATE VIEW events_with_position AS
    SELECT o.position, coalesce(o.position <= p.published_through, false)
               AS published, e.*
    FROM events e LEFT JOIN event_order o USING (seq)
        CROSS JOIN event_publications p;

-- The sequencer (server/events/sequencer.c): positions up to `batch`
-- events after the cursor whose transaction is below the snapshot's xmin,
-- in (txid, seq) order, and moves the cursor. Called alone, in its own
-- transaction; each statement of a volatile function takes a new snapshot,
-- and the cursor's is taken after the lock, so it sees the previous
-- sequencer's commit.
CREATE OR REPLACE FUNCTION events_sequence(batch integer, OUT positioned integer,
    OUT blocked boolean, OUT busy boolean)
LANGUAGE plpgsql AS $$
DECLARE
    cur_position  bigint;
    cur_txid      xid8;
    cur_seq       bigint;
    new_txid      xid8;
    new_seq       bigint;
BEGIN
    positioned := 0;
    blocked := false;
    busy := NOT pg_try_advisory_xact_lock(1869640546, 101);
    IF busy THEN
        RETURN;
    END IF;
    SELECT last_position, last_txid, last_seq
        INTO cur_position, cur_txid, cur_seq FROM event_positions;
    WITH r AS (SELECT e.txid, e.seq,
                      row_number() OVER (ORDER BY e.txid, e.seq) AS n
               FROM events e
               WHERE (e.txid, e.seq) > (cur_txid, cur_seq)
                 AND e.txid < (SELECT pg_snapshot_xmin(pg_current_snapshot()))
               ORDER BY e.txid, e.seq LIMIT batch),
    i AS (INSERT INTO event_order (position, seq)
          SELECT cur_position + r.n, r.seq FROM r)
    SELECT r.n, r.txid, r.seq INTO positioned, new_txid, new_seq
        FROM r ORDER BY r.n DESC LIMIT 1;
    IF positioned IS NULL THEN
        positioned := 0;
    ELSE
        UPDATE event_positions SET last_position = cur_position + positioned,
            last_txid = new_txid, last_seq = new_seq;
        cur_txid := new_txid;
        cur_seq := new_seq;
    END IF;
    -- Events still after the cursor: committed behind a transaction still
    -- open, or committed since this run's snapshot. The caller looks again
    -- soon, since a transaction's end may notify nobody.
    -- (The first one in index order: an EXISTS was planned as a scan of
    -- the whole table from its oldest rows.)
    blocked := EXISTS (SELECT 1 FROM (SELECT e.seq FROM events e
                       WHERE (e.txid, e.seq) > (cur_txid, cur_seq)
                       ORDER BY e.txid, e.seq LIMIT 1) f);
    IF positioned > 0 THEN
        -- Publishers of every opsbusd: new positions to send.
        PERFORM pg_notify('opsbus_events', '');
    END IF;
END;
$$;
