-- Scheduled power actions (issue 10): a schedule starts or stops machines
-- (picked ids, or a saved fleet filter evaluated when it runs) on days of
-- the week at a local time in an IANA zone. Each due occurrence is claimed
-- once, across replicas, by inserting its run: the unique (schedule_id,
-- due_at) makes the second insert a no-op. Each machine a run touches gets
-- an item, written as started before the call, so a retry after a crash
-- settles it by reading the machine instead of calling again. Written only
-- through internal/db.

-- +goose Up
CREATE TABLE schedules (
    id                   bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                 text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 80),
    action               text        NOT NULL CHECK (action IN ('start', 'stop')),
    gracefully           boolean     NOT NULL DEFAULT true,
    -- Picked machines; empty when the target is a saved filter.
    machine_ids          text[]      NOT NULL DEFAULT '{}',
    -- The saved fleet filter (its query and name copied when chosen, so the
    -- schedule keeps working when its author deletes the view).
    saved_view_id        bigint      NULL REFERENCES saved_views (id) ON DELETE SET NULL,
    filter_name          text        NOT NULL DEFAULT '',
    filter_query         text        NOT NULL DEFAULT '' CHECK (char_length(filter_query) <= 2000),
    -- 'mon' .. 'sun'.
    days                 text[]      NOT NULL,
    -- Local time of day, minutes after midnight.
    at_minute            integer     NOT NULL CHECK (at_minute BETWEEN 0 AND 1439),
    time_zone            text        NOT NULL,
    -- Local dates (YYYY-MM-DD) on which it does not run.
    skip_dates           text[]      NOT NULL DEFAULT '{}',
    skip_active_sessions boolean     NOT NULL DEFAULT false,
    enabled              boolean     NOT NULL DEFAULT true,
    owner_id             bigint      NULL REFERENCES users (id) ON DELETE SET NULL,
    owner_email          text        NOT NULL,
    -- Bumped by every change: an edit form carries the version it showed.
    version              integer     NOT NULL DEFAULT 1,
    -- Occurrences at or before this instant are never run (set on create
    -- and every change, so enabling an old schedule fires nothing stale).
    runs_from            timestamptz NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CHECK (cardinality(machine_ids) > 0 OR filter_query <> '' OR saved_view_id IS NOT NULL)
);

CREATE TABLE schedule_runs (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    schedule_id  bigint      NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    due_at       timestamptz NOT NULL,
    -- 'scheduled' (its time came) or 'manual' (run now).
    trigger      text        NOT NULL CHECK (trigger IN ('scheduled', 'manual')),
    -- claimed → running → succeeded | failed; missed: its time passed
    -- while no replica ran (older than the grace window), never run.
    state        text        NOT NULL CHECK (state IN ('claimed', 'running', 'succeeded', 'failed', 'missed')),
    -- Who triggered it (the owner for scheduled runs).
    actor_email  text        NOT NULL,
    actor_role   text        NOT NULL,
    -- The machines resolved at the first attempt; NULL until then.
    machine_ids  text[]      NULL,
    message      text        NOT NULL DEFAULT '',
    attempts     integer     NOT NULL DEFAULT 0,
    lease_until  timestamptz NULL,
    claimed_at   timestamptz NOT NULL,
    started_at   timestamptz NULL,
    finished_at  timestamptz NULL,
    UNIQUE (schedule_id, due_at)
);

-- One unfinished manual run per schedule: a double click on "run now"
-- finds the first one instead of making a second.
CREATE UNIQUE INDEX schedule_runs_one_manual ON schedule_runs (schedule_id)
    WHERE trigger = 'manual' AND finished_at IS NULL;
CREATE INDEX schedule_runs_schedule_due ON schedule_runs (schedule_id, due_at DESC);
CREATE INDEX schedule_runs_unfinished ON schedule_runs (id) WHERE finished_at IS NULL;

CREATE TABLE schedule_run_items (
    run_id       bigint      NOT NULL REFERENCES schedule_runs (id) ON DELETE CASCADE,
    machine_id   text        NOT NULL,
    machine_name text        NOT NULL DEFAULT '',
    -- started (written before the call) → done | skipped | failed | unknown.
    state        text        NOT NULL CHECK (state IN ('started', 'done', 'skipped', 'failed', 'unknown')),
    message      text        NOT NULL DEFAULT '',
    error_code   integer     NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (run_id, machine_id)
);
