-- Organization usage (issue 11, part 4). One row per UTC day: the
-- organization's available usage (GET /usage) as the sessions sync pass last
-- read it that day. A later reading of the same day replaces the earlier
-- one, so the trend and the run-out projection see one value a day however
-- often the sync runs. machine_type is the performance type the API counts
-- the minutes in ("Planet"); the API gives one, not a breakdown.

-- +goose Up

CREATE TABLE org_usage_snapshots (
    day           date        PRIMARY KEY,
    taken_at      timestamptz NOT NULL,
    usage_minutes bigint      NOT NULL,
    machine_type  text        NOT NULL DEFAULT ''
);

-- No Down section: migrations are forward-only.
