-- opsbus schema, first version. Migrations are append-only: once this file
-- has landed it is never edited; changes come as new files.

-- Queue policies. A queue nobody configured uses the defaults of this table.
CREATE TABLE queues (
    name             text PRIMARY KEY,
    max_attempts     integer NOT NULL DEFAULT 5
                     CHECK (max_attempts BETWEEN 1 AND 1000),
    backoff_base_ms  integer NOT NULL DEFAULT 1000
                     CHECK (backoff_base_ms BETWEEN 0 AND 86400000),
    backoff_factor   double precision NOT NULL DEFAULT 2.0
                     CHECK (backoff_factor BETWEEN 1.0 AND 10.0),
    backoff_cap_ms   integer NOT NULL DEFAULT 300000
                     CHECK (backoff_cap_ms BETWEEN 0 AND 86400000),
    lease_ms         integer NOT NULL DEFAULT 30000
                     CHECK (lease_ms BETWEEN 1000 AND 3600000),
    paused           boolean NOT NULL DEFAULT false,
    paused_by        text,
    paused_reason    text,
    paused_at        timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
-- The defaults row: the policy of every queue that has no row of its own.
-- Its values are the column defaults above, so those stay the one place
-- the defaults are written. No queue can be named '' (names are 1..64
-- characters), and the API never shows or changes this row.
INSERT INTO queues (name) VALUES ('');

CREATE TABLE jobs (
    id                  uuid PRIMARY KEY,
    tenant              text NOT NULL,
    queue               text NOT NULL,
    target              text NOT NULL DEFAULT '',
    kind                text NOT NULL DEFAULT '',
    subject             text NOT NULL DEFAULT '',
    payload             jsonb NOT NULL DEFAULT '{}',
    idempotency_key     text,
    status              text NOT NULL CHECK (status IN ('queued', 'rerouted',
                        'in_progress', 'retryable_failed', 'succeeded',
                        'dead_failed', 'cancelled', 'aborted')),
    operator_status     text CHECK (operator_status IN ('open',
                        'acknowledged')),
    attempts            integer NOT NULL DEFAULT 0,
    max_attempts        integer NOT NULL CHECK (max_attempts >= 1),
    priority            integer NOT NULL DEFAULT 0,
    run_at              timestamptz NOT NULL DEFAULT now(),
    lease_owner         text,
    lease_token         uuid,
    lease_expires_at    timestamptz,
    last_error          text,
    last_error_detail   text,
    reason_code         text,
    failure_category    text,
    replay_eligible     boolean NOT NULL DEFAULT false,
    replay_of_job_id    uuid REFERENCES jobs (id),
    replayed_job_id     uuid REFERENCES jobs (id),
    replayed_at         timestamptz,
    cancel_requested_at timestamptz,
    forced              boolean NOT NULL DEFAULT false,
    correlation_id      text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    final_state_at      timestamptz,
    completion_summary  text
);

-- Claims: the ready jobs of a queue in the order they are handed out.
CREATE INDEX jobs_ready ON jobs (queue, priority DESC, run_at, id)
    WHERE status IN ('queued', 'rerouted', 'retryable_failed');
-- Lists: newest first, with keyset pages.
CREATE INDEX jobs_created ON jobs (created_at DESC, id DESC);
CREATE INDEX jobs_status ON jobs (status, updated_at DESC);
-- The rescuer: running jobs by lease expiry.
CREATE INDEX jobs_lease ON jobs (lease_expires_at) WHERE status = 'in_progress';
-- A dead letter is replayed at most once.
CREATE UNIQUE INDEX jobs_replay_once ON jobs (replay_of_job_id)
    WHERE replay_of_job_id IS NOT NULL;
CREATE INDEX jobs_subject ON jobs (subject) WHERE subject <> '';
-- Queue depth by state (ListQueues, GetQueue).
CREATE INDEX jobs_queue_status ON jobs (queue, status);

-- One row per claim of a job: the attempt ledger.
CREATE TABLE job_attempts (
    job_id            uuid NOT NULL REFERENCES jobs (id),
    attempt           integer NOT NULL,
    worker_id         text NOT NULL,
    started_at        timestamptz NOT NULL DEFAULT now(),
    ended_at          timestamptz,
    from_status       text NOT NULL,
    to_status         text,
    error             text,
    error_detail      text,
    reason_code       text,
    retryable         boolean,
    stage             text,
    failure_category  text,
    PRIMARY KEY (job_id, attempt)
);
CREATE INDEX job_attempts_ended ON job_attempts (ended_at)
    WHERE ended_at IS NOT NULL;

-- Every change, written in the transaction of the change: the job's
-- timeline, the audit of automatic changes, and the outbox that the event
-- publisher reads. txid orders the rows finally (see server/events/).
CREATE TABLE events (
    seq             bigserial PRIMARY KEY,
    event_id        uuid NOT NULL UNIQUE,
    txid            xid8 NOT NULL DEFAULT pg_current_xact_id(),
    position        bigint UNIQUE,
    event_type      text NOT NULL,
    topic           text NOT NULL,
    job_id          uuid,
    queue           text,
    tenant          text,
    actor           text NOT NULL,
    correlation_id  text,
    payload         jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    published_at    timestamptz
);
CREATE INDEX events_job ON events (job_id, seq);
CREATE INDEX events_unordered ON events (txid, seq) WHERE position IS NULL;
CREATE INDEX events_unpublished ON events (seq) WHERE published_at IS NULL;
-- Retention prunes published events by age (server/events/publisher.c).
CREATE INDEX events_published_age ON events (created_at)
    WHERE published_at IS NOT NULL;

-- The last position the event sequencer gave out (server/events/
-- sequencer.c). A row rather than max(position), so that pruning old events
-- never lets a position be given twice; a row rather than a sequence, so
-- that positions are dense (a rolled back sequencer gives its numbers back).
CREATE TABLE event_positions (
    singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_position  bigint NOT NULL
);
INSERT INTO event_positions (last_position) VALUES (0);

-- The event sequencer (server/events/sequencer.c says why the order it
-- gives is final): positions up to `batch` committed events whose
-- transaction is below the snapshot's xmin, in (txid, seq) order. A
-- function so that lock, assignment and notification take one round trip;
-- called alone, in its own transaction. Each statement of a volatile
-- function takes a new snapshot: the assignment's is taken after the lock,
-- so it sees the previous sequencer's commit.
CREATE FUNCTION events_sequence(batch integer, OUT positioned integer,
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
    SELECT EXISTS (SELECT 1 FROM events e WHERE e.position IS NULL
        AND e.txid >= (SELECT pg_snapshot_xmin(pg_current_snapshot())))
        INTO blocked;
    IF positioned > 0 THEN
        -- Publishers of every opsbusd: new positions to send.
        PERFORM pg_notify('opsbus_events', '');
    END IF;
END;
$$;

-- Wakes the publishers (LISTEN opsbus_events) when events are written. One
-- notification per writing statement, sent at its commit; PostgreSQL folds
-- repeats within a transaction.
CREATE FUNCTION events_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('opsbus_events', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER events_notify AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_notify();

-- Idempotency: (tenant, scope, key) -> the request's hash and its result.
CREATE TABLE idempotency_keys (
    tenant        text NOT NULL,
    scope         text NOT NULL,
    key           text NOT NULL,
    request_hash  bytea NOT NULL,
    result_id     uuid,
    state         text NOT NULL DEFAULT 'processed'
                  CHECK (state IN ('processed', 'quarantined', 'ignored')),
    first_request text,
    last_request  text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, scope, key)
);

-- The operators' exceptions queue.
CREATE TABLE exceptions (
    id                uuid PRIMARY KEY,
    tenant            text NOT NULL,
    exception_type    text NOT NULL,
    reason_code       text,
    details           jsonb NOT NULL DEFAULT '{}',
    status            text NOT NULL DEFAULT 'open'
                      CHECK (status IN ('open', 'resolved')),
    idem_scope        text,
    idem_key          text,
    job_id            uuid REFERENCES jobs (id),
    first_raw         text,
    last_raw          text,
    resolution        text,
    resolved_by       text,
    resolution_notes  text,
    replay_attempts   integer NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    resolved_at       timestamptz
);
CREATE INDEX exceptions_open ON exceptions (status, created_at DESC);

-- Every operator command, accepted or refused. Append-only: the database
-- refuses UPDATE, DELETE and TRUNCATE.
CREATE TABLE operator_audit_log (
    id                 bigserial PRIMARY KEY,
    action_type        text NOT NULL,
    operator_identity  text NOT NULL,
    reason             text NOT NULL,
    target_job_id      uuid,
    target             text,
    outcome            text NOT NULL CHECK (outcome IN ('accepted',
                       'refused')),
    error_code         text,
    correlation_id     text,
    operation_id       uuid,
    details            jsonb NOT NULL DEFAULT '{}',
    performed_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX operator_audit_target ON operator_audit_log (target_job_id,
    performed_at DESC);
CREATE INDEX operator_audit_time ON operator_audit_log (performed_at DESC);

CREATE FUNCTION operator_audit_log_refuse() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'operator_audit_log is append-only'
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER operator_audit_log_no_update BEFORE UPDATE OR DELETE
    ON operator_audit_log FOR EACH ROW
    EXECUTE FUNCTION operator_audit_log_refuse();
CREATE TRIGGER operator_audit_log_no_truncate BEFORE TRUNCATE
    ON operator_audit_log FOR EACH STATEMENT
    EXECUTE FUNCTION operator_audit_log_refuse();

-- API keys, stored as SHA-256 of the secret.
CREATE TABLE api_keys (
    id          uuid PRIMARY KEY,
    key_hash    bytea NOT NULL UNIQUE,
    prefix      text NOT NULL,
    identity    text NOT NULL,
    role        text NOT NULL CHECK (role IN ('viewer', 'worker',
                'operator', 'admin')),
    tenant      text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

-- Answers to mutating calls by request id, so that a resent request (nng
-- REQ resends after a timeout or reconnect) is answered once, not run twice.
CREATE TABLE request_replies (
    request_id  text PRIMARY KEY,
    method      text NOT NULL,
    response    bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX request_replies_age ON request_replies (created_at);
