-- Single-use confirmations (issue 8): a confirmation step (create machines,
-- and any other "are you sure?" form) hands the browser a random token; the
-- confirmed submit claims it here before it acts. The primary key makes the
-- claim atomic, so a double click, a reload or two replicas racing on the
-- same token let exactly one submit through. Written only through
-- internal/db (ClaimConfirmToken, FinishConfirmToken).

-- +goose Up

CREATE TABLE confirm_tokens (
    -- SHA-256 of purpose, a NUL byte and the token: the token itself (a
    -- bearer of one action) is never stored.
    token_hash  bytea       PRIMARY KEY CHECK (length(token_hash) = 32),
    -- What the confirmation was for, e.g. 'machine.create'.
    purpose     text        NOT NULL,
    actor_email text        NOT NULL,
    claimed_at  timestamptz NOT NULL DEFAULT now(),
    -- NULL while the confirmed action runs.
    finished_at timestamptz NULL,
    -- What the action made (machine ids, a bulk operation id), for the page
    -- a repeated submit shows.
    refs        text[]      NOT NULL DEFAULT '{}'
);

-- Old claims are pruned by age on every claim.
CREATE INDEX confirm_tokens_claimed_at ON confirm_tokens (claimed_at);

