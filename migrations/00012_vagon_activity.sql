-- Vagon's activity log (issue 11): every entry GET /user-action-logs has
-- returned, copied by internal/fleet's ActivityImporter through internal/db.
-- The API serves only the last 30 days, at most 1000 entries a call, so the
-- importer reads overlapping windows; the key makes a re-read add nothing.

-- +goose Up

CREATE TABLE vagon_activity (
    -- "id:" + Vagon's id when the entry has one, else "h:" + a SHA-256 of
    -- its content (vagon.UserActionLog.Key): the deduplication key.
    id           text        PRIMARY KEY,
    at           timestamptz NOT NULL,
    actor_email  text        NOT NULL DEFAULT '',
    action_type  text        NOT NULL DEFAULT '',
    machine_id   text        NULL,
    machine_name text        NOT NULL DEFAULT '',
    -- The entry as it came (either item shape), for what has no column.
    details      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    imported_at  timestamptz NOT NULL
);

-- Newest first over a range (the importer's resume point, the activity page).
CREATE INDEX vagon_activity_at ON vagon_activity (at DESC, id);
-- One machine's or one person's activity.
CREATE INDEX vagon_activity_machine ON vagon_activity (machine_id, at DESC) WHERE machine_id IS NOT NULL;
CREATE INDEX vagon_activity_actor ON vagon_activity (actor_email, at DESC);

-- No Down section: migrations are forward-only.
