-- The activity timeline (issue 11): a Vagon entry is "outside the dashboard"
-- unless an audit row of the same machine and matching action lies within
-- two minutes of it. This index makes that check a range scan per entry.

-- +goose Up

CREATE INDEX audit_events_machine_action_at ON audit_events (machine_id, action, at)
    WHERE machine_id IS NOT NULL;

-- No Down section: migrations are forward-only.
