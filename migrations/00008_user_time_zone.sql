-- Issue 9 §12: each user may choose the time zone times are shown in. An
-- IANA name (validated by the application with time.LoadLocation); the
-- empty string means "the browser's own zone".

-- +goose Up
ALTER TABLE users ADD COLUMN time_zone text NOT NULL DEFAULT ''
    CHECK (length(time_zone) <= 64);
