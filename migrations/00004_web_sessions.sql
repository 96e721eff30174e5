-- Hardening of sign-in (issue 8): server-side sessions that logout, disable
-- and admins can revoke; sign-in attempts counted before the password is
-- checked; each user's last sign-in.

-- +goose Up

-- One row per signed-in browser session. The cookie carries a random token;
-- only its SHA-256 is stored, so reading this table gives no usable session.
-- Every request looks its session up together with the user (one query,
-- db.SessionUser); a revoked row signs the browser out.
CREATE TABLE web_sessions (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash     bytea       NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    user_id        bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL,
    -- Rewritten at most once a minute per session.
    last_seen_at   timestamptz NOT NULL,
    revoked_at     timestamptz NULL,
    -- logout, disabled, admin
    revoked_reason text        NOT NULL DEFAULT '',
    remote_addr    text        NOT NULL DEFAULT '',
    user_agent     text        NOT NULL DEFAULT ''
);

CREATE INDEX web_sessions_user_id ON web_sessions (user_id, created_at DESC);
CREATE INDEX web_sessions_created_at ON web_sessions (created_at);

ALTER TABLE users ADD COLUMN last_login_at timestamptz NULL;

-- Sign-in attempts per key ('email:<email>' or 'addr:<ip>') in a fixed
-- window. An attempt is counted (one INSERT ... ON CONFLICT ... RETURNING)
-- before its password is checked, so parallel requests cannot get more
-- checks than the limit. One row per key: bounded whatever the attack.
CREATE TABLE login_attempts (
    key          text        PRIMARY KEY,
    window_start timestamptz NOT NULL,
    attempts     integer     NOT NULL
);

CREATE INDEX login_attempts_window_start ON login_attempts (window_start);

-- Replaced by login_attempts: failures counted after the check let parallel
-- guesses through.
DROP TABLE login_failures;
