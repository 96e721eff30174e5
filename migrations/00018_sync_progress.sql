-- Progress of a running sessions-sync pass (issue 13): the sync streams its
-- writes in batches and records after each batch how far it has got, so the
-- sync panel of every replica can show a pass under way ("3,200 of 10,000
-- machines"). Written by internal/fleet's Syncer through internal/db.

-- +goose Up

ALTER TABLE sync_passes
    -- Machines the listing has produced so far (all of them once
    -- listed_all); done + failed <= listed.
    ADD COLUMN machines_listed   integer     NOT NULL DEFAULT 0,
    -- The listing walked every page: machines_listed is the fleet's size.
    ADD COLUMN listed_all        boolean     NOT NULL DEFAULT false,
    -- How many machines the pass expects while its listing is under way:
    -- the size of the last complete listing (NULL before any).
    ADD COLUMN machines_expected integer     NULL,
    -- Sessions read from the API so far, new, changed or not.
    ADD COLUMN sessions_seen     bigint      NOT NULL DEFAULT 0,
    -- When the progress was last written (NULL: not yet).
    ADD COLUMN progress_at       timestamptz NULL;

-- Passes recorded before: a succeeded pass had walked the whole list.
UPDATE sync_passes SET machines_listed = machines_done + machines_failed,
    listed_all = (status = 'succeeded');

-- No Down section: migrations are forward-only.
