-- Fencing of bulk operations (issue 10 review, finding 3). Each job attempt
-- that works on an operation (fleet.Bulk.RunSlice) first takes a new runner
-- token: bulk_operations.runner is bumped and returned. An item's call is
-- begun only by a conditional claim that names that token, the item's state
-- and the attempts it saw (db.BeginBulkItem), so an attempt that another
-- attempt has taken over (a rescued job that was in fact still alive) can
-- begin no machine and record no result: its claims change 0 rows.
-- bulk_items.runner is the token of the attempt that last began the item's
-- call, so a later attempt knows the call it finds in flight is not its own.

-- +goose Up

ALTER TABLE bulk_operations
    ADD COLUMN runner bigint NOT NULL DEFAULT 0;

ALTER TABLE bulk_items
    ADD COLUMN runner bigint NOT NULL DEFAULT 0;

-- No Down section: migrations are forward-only.
