-- Bulk operations run as River jobs (issue 10) and can be cancelled.
-- cancelled_by names who cancelled an operation: its pending machines are
-- skipped at once ("Cancelled by ..."), machines whose call is in flight
-- finish, and the job that works on the operation closes it. The index of
-- unfinished operations served the hand-made runner's poll, which River's
-- queue replaces.

-- +goose Up

ALTER TABLE bulk_operations
    ADD COLUMN cancelled_by text NULL,
    ADD COLUMN cancelled_at timestamptz NULL,
    ADD CHECK ((cancelled_by IS NULL) = (cancelled_at IS NULL));

DROP INDEX bulk_operations_unfinished;

-- No Down section: migrations are forward-only.
