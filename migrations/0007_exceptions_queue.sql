-- The operators' exceptions queue (seed 003, exception.proto): what its
-- reads and resolutions need beyond 0001's table.

-- The kinds (event types) a queue accepts; NULL accepts any kind. CreateJob
-- with another kind is refused and opens an UNKNOWN_EVENT_TYPE exception;
-- a replay from an exception is checked against it too.
ALTER TABLE queues ADD COLUMN allowed_kinds text[];

-- The refused request's queue (idem_scope only says it when the request
-- had a key), and its digest, so that a producer resending the same
-- refused request updates the open exception instead of opening another.
ALTER TABLE exceptions ADD COLUMN queue text;
ALTER TABLE exceptions ADD COLUMN request_hash text;
UPDATE exceptions SET queue = substr(idem_scope, 5)
    WHERE idem_scope LIKE 'job:%';

-- Listing all exceptions newest first (exceptions_open serves a status).
CREATE INDEX exceptions_created ON exceptions (created_at DESC, id DESC);

-- The health page counts keys by state: the few that need attention
-- through this index, and all of them for "processed".
CREATE INDEX idempotency_keys_attention ON idempotency_keys (state)
    WHERE state <> 'processed';
