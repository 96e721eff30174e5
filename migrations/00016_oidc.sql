-- Issue 12: sign-in with the organization's OpenID provider.
--
-- users gains the provider identity (issuer + subject: the only stable key a
-- provider promises; an email can be reassigned), how the user last signed
-- in, and whether an admin pinned the role against the provider's groups.
-- An account created by single sign-on has the empty password hash, which
-- no password matches.

-- +goose Up

ALTER TABLE users
    ADD COLUMN oidc_issuer       text    NULL CHECK (oidc_issuer <> ''),
    ADD COLUMN oidc_subject      text    NULL CHECK (oidc_subject <> '' AND length(oidc_subject) <= 255),
    ADD COLUMN last_login_method text    NULL CHECK (last_login_method IN ('password', 'oidc')),
    ADD COLUMN role_pinned       boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT users_oidc_identity_pair CHECK ((oidc_issuer IS NULL) = (oidc_subject IS NULL));

CREATE UNIQUE INDEX users_oidc_identity_key ON users (oidc_issuer, oidc_subject)
    WHERE oidc_subject IS NOT NULL;

-- How a session was started, and the ID token the provider gave (kept only
-- while the session is open, for RP-initiated logout's id_token_hint; it is
-- cleared when the session is revoked and never leaves the server). The
-- column holds it sealed (AES-GCM, key derived from SESSION_KEY in the web
-- layer), never in plain text.
ALTER TABLE web_sessions
    ADD COLUMN method   text NOT NULL DEFAULT 'password' CHECK (method IN ('password', 'oidc')),
    ADD COLUMN id_token text NULL;

-- One row per sign-in started at the provider (GET /login/oidc): the
-- SHA-256 of the `state` parameter, the SHA-256 of a random value in the
-- browser's session cookie (so a callback from another browser fails: no
-- login CSRF), the nonce and the PKCE verifier. The callback deletes the row
-- as it reads it, so a state is used once across every replica.
CREATE TABLE oidc_logins (
    state_hash   bytea       PRIMARY KEY CHECK (octet_length(state_hash) = 32),
    browser_hash bytea       NOT NULL CHECK (octet_length(browser_hash) = 32),
    nonce        text        NOT NULL CHECK (nonce <> ''),
    verifier     text        NOT NULL CHECK (verifier <> ''),
    next         text        NOT NULL DEFAULT '',
    -- The address that started it: an address may have only so many open
    -- at once (db.MaxOpenOIDCLoginsPerAddr), so an unauthenticated flood of
    -- GET /login/oidc cannot grow the table without bound.
    remote_addr  text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);

CREATE INDEX oidc_logins_expires_at ON oidc_logins (expires_at);
CREATE INDEX oidc_logins_remote_addr ON oidc_logins (remote_addr, expires_at);

-- No Down section: migrations are forward-only.
