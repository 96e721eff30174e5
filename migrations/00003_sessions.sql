-- The sessions sync (issue 5): every machine session the API reports, one
-- snapshot of every machine per sync pass, the latest snapshot per machine,
-- and a record of each pass. Written only by internal/fleet's Syncer through
-- internal/db; read by the usage reports.

-- +goose Up

-- One row per sync pass. At most one pass runs at a time across replicas
-- (a Postgres advisory lock, see db.TryLockSync); a pass left 'running' by a
-- process that died is closed as 'failed' by the next one.
CREATE TABLE sync_passes (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at       timestamptz NOT NULL,
    finished_at      timestamptz NULL,
    status           text        NOT NULL DEFAULT 'running'
                                 CHECK (status IN ('running', 'succeeded', 'failed')),
    machines_done    integer     NOT NULL DEFAULT 0,
    machines_failed  integer     NOT NULL DEFAULT 0,
    -- [{"id": "...", "error": "..."}], bounded by the application (first 50,
    -- each error cut short) so one bad pass cannot bloat the row.
    failed_machines  jsonb       NOT NULL DEFAULT '[]'::jsonb,
    sessions_new     bigint      NOT NULL DEFAULT 0,
    sessions_updated bigint      NOT NULL DEFAULT 0,
    error            text        NOT NULL DEFAULT ''
);

-- Every session the API has reported, keyed by the API's own id. A running
-- session (end_at NULL) is updated by later passes until it ends.
CREATE TABLE machine_sessions (
    id               text        PRIMARY KEY,
    machine_id       text        NOT NULL,
    start_at         timestamptz NOT NULL,
    end_at           timestamptz NULL,
    duration_minutes bigint      NOT NULL CHECK (duration_minutes >= 0),
    first_seen_at    timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);

-- The usage reports select sessions by start time over a range and
-- aggregate minutes per machine: an index-only scan over this index reads
-- nothing else.
CREATE INDEX machine_sessions_start_at ON machine_sessions (start_at)
    INCLUDE (machine_id, duration_minutes);

-- Per machine, newest first: the last session of a machine (idle machines)
-- and the recent burn rate of one machine (low remaining usage).
CREATE INDEX machine_sessions_machine_id_start_at ON machine_sessions (machine_id, start_at DESC)
    INCLUDE (end_at, duration_minutes);

-- One row per machine per pass, taken from the machine list: who had the
-- machine, where, and how much usage it had left (remaining-usage trends).
-- Deleting an old pass deletes its snapshots (retention).
CREATE TABLE machine_snapshots (
    pass_id                 bigint      NOT NULL REFERENCES sync_passes (id) ON DELETE CASCADE,
    machine_id              text        NOT NULL,
    name                    text        NOT NULL,
    user_email              text        NULL, -- NULL: unassigned
    user_name               text        NULL,
    region                  text        NOT NULL,
    machine_type            text        NOT NULL,
    status                  text        NOT NULL,
    usage_source            text        NOT NULL,
    remaining_usage_minutes bigint      NOT NULL,
    taken_at                timestamptz NOT NULL,
    PRIMARY KEY (pass_id, machine_id)
);

CREATE INDEX machine_snapshots_machine_id_taken_at ON machine_snapshots (machine_id, taken_at DESC);

-- The latest snapshot of every machine ever seen, upserted by each pass.
-- Reports join sessions to this small table (one row per machine) instead of
-- picking each machine's newest snapshot at query time. gone_at is set when
-- a complete listing no longer contains the machine (deleted in Vagon): its
-- sessions still count in usage, but it is not idle or low on usage.
CREATE TABLE machines_latest (
    machine_id              text        PRIMARY KEY,
    pass_id                 bigint      NOT NULL,
    name                    text        NOT NULL,
    user_email              text        NULL,
    user_name               text        NULL,
    region                  text        NOT NULL,
    machine_type            text        NOT NULL,
    status                  text        NOT NULL,
    usage_source            text        NOT NULL,
    remaining_usage_minutes bigint      NOT NULL,
    taken_at                timestamptz NOT NULL,
    first_seen_at           timestamptz NOT NULL,
    gone_at                 timestamptz NULL
);

CREATE INDEX machines_latest_remaining ON machines_latest (remaining_usage_minutes)
    WHERE gone_at IS NULL;

-- No Down section: migrations are forward-only.
