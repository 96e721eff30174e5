-- Saved views of the fleet list (issue 9): a named filter and sort that a
-- user keeps. The query is the list's canonical query string (built by the
-- dashboard from validated parameters, never raw input), so a view is also
-- a shareable link: /machines?<query>.

-- +goose Up
CREATE TABLE saved_views (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 80),
    query      text        NOT NULL CHECK (char_length(query) <= 2000),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- A name is unique per user, whatever its letter case.
CREATE UNIQUE INDEX saved_views_user_name_key ON saved_views (user_id, lower(name));
