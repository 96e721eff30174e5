-- Bulk operations (issue 4): one row per operation a user submitted and one
-- row per target machine. Written only by internal/fleet's Bulk through
-- internal/db. Since issue 10 each operation is worked on by its River job
-- (internal/jobs), in slices; 00011 adds the runner token that fences an
-- older slice off. An operation left 'queued' or 'running' by a process
-- that died goes on when River runs its job again (a rescue or a retry).

-- +goose Up

CREATE TABLE bulk_operations (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- start, stop, permissions or auto_stop.
    action      text        NOT NULL CHECK (action IN ('start', 'stop', 'permissions', 'auto_stop')),
    -- The action's fields: {"gracefully": true}, {"permissions": {...}}
    -- (only the chosen keys), {"auto_stop_threshold": 900}.
    params      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    -- Who asked, copied into every audit row the operation writes.
    actor_email text        NOT NULL,
    actor_role  text        NOT NULL,
    remote_addr text        NOT NULL DEFAULT '',
    user_agent  text        NOT NULL DEFAULT '',
    request_id  text        NOT NULL DEFAULT '',
    concurrency integer     NOT NULL DEFAULT 4 CHECK (concurrency BETWEEN 1 AND 32),
    -- queued: submitted, no slice has begun; running: a slice works on it
    -- (or died working on it); succeeded: every machine done or skipped;
    -- failed: finished with at least one machine failed or interrupted.
    status      text        NOT NULL DEFAULT 'queued'
                            CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    started_at  timestamptz NULL,
    finished_at timestamptz NULL,
    CHECK ((finished_at IS NULL) = (status IN ('queued', 'running')))
);

-- Served the first runner's poll for unfinished operations; dropped in
-- 00009 (River's queue replaced the poll).
CREATE INDEX bulk_operations_unfinished ON bulk_operations (id)
    WHERE status IN ('queued', 'running');

CREATE TABLE bulk_items (
    op_id        bigint      NOT NULL REFERENCES bulk_operations (id) ON DELETE CASCADE,
    -- Position in the operation, for a stable display order.
    seq          integer     NOT NULL,
    machine_id   text        NOT NULL CHECK (machine_id <> ''),
    -- Filled from the API when a slice first sees the machine.
    machine_name text        NOT NULL DEFAULT '',
    -- pending: not tried yet; running: the call is (or was, when the process
    -- died) in flight; done, skipped (already in the target state), failed;
    -- interrupted: a restart hit it twice, so it was not tried a third time.
    state        text        NOT NULL DEFAULT 'pending'
                             CHECK (state IN ('pending', 'running', 'done', 'skipped', 'failed', 'interrupted')),
    message      text        NOT NULL DEFAULT '',
    client_code  integer     NULL,
    -- How many times a slice began the call (at most 2: one retry after a
    -- restart, see fleet.ReachedBy).
    attempts     integer     NOT NULL DEFAULT 0,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (op_id, machine_id),
    UNIQUE (op_id, seq)
);

-- No Down section: migrations are forward-only.
