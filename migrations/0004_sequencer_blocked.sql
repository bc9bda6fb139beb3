-- The sequencer's check for committed events waiting behind an open
-- transaction looked at every unpositioned event when the planner chose a
-- sequential scan (it did once statistics showed many of them: a quarter of
-- the machine in claim_bench). It now reads the newest one from the end of
-- the events_unordered index. Everything else is as in 0001.
CREATE OR REPLACE FUNCTION events_sequence(batch integer, OUT positioned integer,
    OUT blocked boolean, OUT busy boolean)
LANGUAGE plpgsql AS $$
BEGIN
    positioned := 0;
    blocked := false;
    busy := NOT pg_try_advisory_xact_lock(1869640546, 101);
    IF busy THEN
        RETURN;
    END IF;
    WITH c AS (SELECT last_position FROM event_positions),
    r AS (SELECT e.seq, row_number() OVER (ORDER BY e.txid, e.seq) AS n
          FROM events e
          WHERE e.position IS NULL
            AND e.txid < (SELECT pg_snapshot_xmin(pg_current_snapshot()))
          ORDER BY e.txid, e.seq LIMIT batch),
    u AS (UPDATE events e SET position = c.last_position + r.n FROM r, c
          WHERE e.seq = r.seq RETURNING e.position),
    k AS (UPDATE event_positions
          SET last_position = last_position + (SELECT count(*) FROM r)
          WHERE EXISTS (SELECT 1 FROM r))
    SELECT count(*) INTO positioned FROM u;
    -- Committed events behind a transaction still open: the caller looks
    -- again soon, since that transaction's end may notify nobody.
    -- The newest transaction with an unpositioned committed event, from
    -- the end of the events_unordered index; an EXISTS over a range of
    -- txid was planned as a scan of the whole table.
    SELECT coalesce((SELECT e.txid FROM events e WHERE e.position IS NULL
        ORDER BY e.txid DESC LIMIT 1)
        >= (SELECT pg_snapshot_xmin(pg_current_snapshot())), false)
        INTO blocked;
    IF positioned > 0 THEN
        -- Publishers of every opsbusd: new positions to send.
        PERFORM pg_notify('opsbus_events', '');
    END IF;
END;
$$;
