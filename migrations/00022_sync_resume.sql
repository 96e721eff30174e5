-- A sessions-sync pass that resumes across job slices: the periodic sync
-- job works on a pass for a slice of JOBS_RESCUE_AFTER/4, records where it
-- stopped and is snoozed; the next attempt (on any replica) continues the
-- same pass. Written by internal/fleet's Syncer through internal/db.
--
-- Who runs a pass, and who may close it: at most one River sync job is
-- queued or running (its uniqueness), and a pass it began carries its job
-- id, so every attempt of that job continues that pass. A job beginning a
-- pass closes every other running pass (its job ended without finishing
-- it, or a `dashboard sync` process died); `dashboard sync` closes only
-- running passes of its own kind (job_id NULL), never a job's.

-- +goose Up

ALTER TABLE sync_passes
    -- The River job (river_job.id) that runs the pass; NULL: a pass run
    -- whole by `dashboard sync` (fleet.Syncer.RunOnce).
    ADD COLUMN job_id    bigint  NULL,
    -- The machine-list page the next slice starts listing from (it re-reads
    -- it: pages shift, and machines it already holds are skipped).
    ADD COLUMN next_page integer NOT NULL DEFAULT 1 CHECK (next_page >= 1),
    -- Slices that have worked on the pass. Each slice takes the next number
    -- (db.ClaimSyncPass) and writes only while it is still the pass's
    -- number, so a slice taken over (a rescued attempt still alive) writes
    -- nothing more.
    ADD COLUMN slices    integer NOT NULL DEFAULT 0;

-- At most one running pass belongs to a job: the single-pass lock across
-- replicas, in Postgres, behind the job's uniqueness.
CREATE UNIQUE INDEX sync_passes_one_running_job ON sync_passes ((job_id IS NOT NULL))
    WHERE status = 'running' AND job_id IS NOT NULL;

-- No Down section: migrations are forward-only.
