-- Audit log hardening (issue 8):
--  * outcome 'unknown': a write was sent to Vagon and no definite answer
--    came back (a timeout), so whether it happened is not known;
--  * hash_alg: which scheme chains the row. 'sha256' is the original
--    hash = SHA-256(prev_hash || content), which whoever owns the table can
--    recompute after editing rows; 'hmac-sha256' is
--    hash = HMAC-SHA256(key, prev_hash || content) with a key derived from
--    AUDIT_KEY, which the database never holds. Rows written before this
--    migration keep 'sha256', so old chains still verify.

-- +goose Up

ALTER TABLE audit_events DROP CONSTRAINT audit_events_outcome_check;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_outcome_check
    CHECK (outcome IN ('started', 'succeeded', 'failed', 'denied', 'unknown'));

ALTER TABLE audit_events ADD COLUMN hash_alg text NOT NULL DEFAULT 'sha256'
    CHECK (hash_alg IN ('sha256', 'hmac-sha256'));

-- No Down section: migrations are forward-only.
