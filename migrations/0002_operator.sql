-- The operators' tables: bulk operations (bulk replay as a server-side
-- task) and their items, and the indexes the operator queries need.

-- One bulk operation: what it matches, how fast it goes, who started it
-- and why, and how far it got. The counts are kept in step with the items
-- in the transaction that processes them.
CREATE TABLE bulk_operations (
    id                 uuid PRIMARY KEY,
    kind               text NOT NULL DEFAULT 'replay'
                       CHECK (kind IN ('replay')),
    -- The tenant the operation is limited to; '' = every tenant.
    tenant             text NOT NULL DEFAULT '',
    status             text NOT NULL CHECK (status IN ('pending', 'running',
                       'completed', 'cancelled', 'failed')),
    dry_run            boolean NOT NULL DEFAULT false,
    filter             jsonb NOT NULL DEFAULT '{}',
    max_per_second     integer NOT NULL CHECK (max_per_second
                       BETWEEN 1 AND 1000),
    operator_identity  text NOT NULL,
    reason             text NOT NULL,
    correlation_id     text,
    matched            integer NOT NULL DEFAULT 0,
    replayed           integer NOT NULL DEFAULT 0,
    skipped            integer NOT NULL DEFAULT 0,
    failed             integer NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now(),
    started_at         timestamptz,
    finished_at        timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now()
);
-- The runners look for work among the unfinished operations.
CREATE INDEX bulk_operations_active ON bulk_operations (created_at)
    WHERE status IN ('pending', 'running');

-- The jobs an operation matched when it started, and what became of each.
-- An item is marked in the transaction that replays it, so a restart never
-- replays it twice.
CREATE TABLE bulk_operation_items (
    operation_id   uuid NOT NULL REFERENCES bulk_operations (id),
    seq            integer NOT NULL,
    job_id         uuid NOT NULL REFERENCES jobs (id),
    status         text NOT NULL DEFAULT 'pending' CHECK (status IN
                   ('pending', 'replayed', 'skipped', 'failed')),
    replay_job_id  uuid,
    error_code     text,
    message        text,
    processed_at   timestamptz,
    PRIMARY KEY (operation_id, seq),
    UNIQUE (operation_id, job_id)
);
CREATE INDEX bulk_operation_items_pending ON bulk_operation_items
    (operation_id, seq) WHERE status = 'pending';
CREATE INDEX bulk_operation_items_failures ON bulk_operation_items
    (operation_id, processed_at) WHERE status IN ('skipped', 'failed');

-- The replay rate limit counts an identity's recent replays; audit queries
-- filter by identity and by operation.
CREATE INDEX operator_audit_identity ON operator_audit_log
    (operator_identity, action_type, performed_at DESC);
CREATE INDEX operator_audit_operation ON operator_audit_log (operation_id)
    WHERE operation_id IS NOT NULL;
-- Dead letters by failure category and eligibility (stats, eligible list,
-- bulk replay matching).
CREATE INDEX jobs_dead_letters ON jobs (failure_category, final_state_at)
    WHERE status = 'dead_failed' AND replayed_job_id IS NULL;
