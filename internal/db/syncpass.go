package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// A sync pass worked in slices (migration 00022): the periodic job's pass
// (BeginJobSyncPass) is worked by one slice after another, on any replica.
// Each slice first takes the pass (ClaimSyncPass), which gives it the next
// slice number; every write of a slice names that number, so a slice that a
// newer one took over writes nothing more (ErrSyncPassLost). A slice writes
// each batch of machines in one transaction (WriteSyncBatch): their
// snapshots, their sessions and the pass's counts, so that a machine has a
// snapshot in the pass exactly when the pass counts it, whenever a process
// dies. The next slice skips the machines the pass holds (PassMachineIDs)
// and lists from where the last one stopped (SuspendSyncPass).

// ErrSyncPassLost is returned by a slice's writes once the pass is no longer
// its own: a newer slice took it over, or it was closed.
var ErrSyncPassLost = errors.New("db: the sync pass is no longer this slice's (taken over or closed)")

// BeginJobSyncPass returns the pass River job jobID works on: the running
// pass it began (resumed true), else a new one that starts at startedAt,
// after closing as failed every other running pass (at most one sync job is
// queued or running, so nobody will continue them). Two jobs never both
// hold a running pass (an index); the second to begin gets an error.
func (s *Store) BeginJobSyncPass(ctx context.Context, jobID int64, startedAt time.Time) (id int64, resumed bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			SELECT id FROM sync_passes WHERE job_id = $1 AND status = 'running'
			ORDER BY id DESC LIMIT 1`, jobID).Scan(&id)
		if err == nil {
			resumed = true
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		id, err = beginSyncPass(ctx, tx, startedAt, &jobID)
		return err
	})
	if err != nil {
		return 0, false, fmt.Errorf("db: begin sync pass of job %d: %w", jobID, err)
	}
	return id, resumed, nil
}

// ClaimSyncPass makes the calling slice the one working on running pass
// id: it takes the next slice number (the returned Slices), and resets the
// listed count to the machines the pass holds (what an earlier slice had
// listed but not stored is listed again). ErrNotFound when no such pass is
// running.
func (s *Store) ClaimSyncPass(ctx context.Context, id int64) (SyncPass, error) {
	rows, _ := s.pool.Query(ctx, `
		UPDATE sync_passes SET slices = slices + 1,
			machines_listed = machines_done + machines_failed, listed_all = false
		WHERE id = $1 AND status = 'running'
		RETURNING `+syncPassColumns, id)
	p, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[SyncPass])
	if errors.Is(err, pgx.ErrNoRows) {
		return SyncPass{}, fmt.Errorf("db: claim sync pass %d: not running: %w", id, ErrNotFound)
	}
	if err != nil {
		return SyncPass{}, fmt.Errorf("db: claim sync pass %d: %w", id, err)
	}
	return p, nil
}

// PassMachineIDs returns those of ids that pass passID already holds a
// snapshot of, as a set.
func (s *Store) PassMachineIDs(ctx context.Context, passID int64, ids []string) (map[string]bool, error) {
	rows, _ := s.pool.Query(ctx, `
		SELECT machine_id FROM machine_snapshots WHERE pass_id = $1 AND machine_id = ANY($2)`, passID, ids)
	held, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("db: machines of sync pass %d: %w", passID, err)
	}
	out := make(map[string]bool, len(held))
	for _, id := range held {
		out[id] = true
	}
	return out, nil
}

// SyncMachine is one machine of a batch: its snapshot and sessions, or why
// its sessions could not be fetched.
type SyncMachine struct {
	Snapshot Snapshot
	Sessions []Session
	// FetchErr, when set, is why the sessions could not be fetched: the
	// machine is stored (its snapshot) and counted as failed.
	FetchErr string
}

// SyncBatch is one write of a slice.
type SyncBatch struct {
	PassID int64
	// Slice is the slice's number (ClaimSyncPass).
	Slice    int
	Machines []SyncMachine
	// Listed is how many machines the pass has listed so far, and
	// ListedAll whether its listing has walked every page.
	Listed    int
	ListedAll bool
	// Now is recorded as the sessions' first_seen_at/updated_at and the
	// progress's time.
	Now time.Time
}

// SyncBatchResult is what a batch did, and the pass's progress after it.
type SyncBatchResult struct {
	Progress SyncProgress
	// Done and Failed are the batch's machines stored and counted;
	// Skipped those the pass already held (stored by an earlier slice:
	// not stored again, not counted).
	Done, Failed, Skipped int
	// Sessions is how many sessions it upserted.
	Sessions int
	Counts   UpsertCounts
}

// WriteSyncBatch stores batch b in one transaction: the machines'
// snapshots (skipping machines the pass already holds), then the sessions
// of those fetched, in one upsert (when it fails, machine by machine, so
// that only a machine whose sessions cannot be stored fails), and adds the
// batch to the pass's counts; the first MaxFailedMachines failures are
// kept. Nothing is written unless the pass is still running under slice
// b.Slice (ErrSyncPassLost).
func (s *Store) WriteSyncBatch(ctx context.Context, b SyncBatch) (SyncBatchResult, error) {
	var r SyncBatchResult
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		r = SyncBatchResult{}
		// The pass's row stays locked until the batch is written: a slice
		// taking the pass over waits for it, then reads its counts.
		var held bool
		err := tx.QueryRow(ctx, `
			SELECT true FROM sync_passes WHERE id = $1 AND slices = $2 AND status = 'running'
			FOR UPDATE`, b.PassID, b.Slice).Scan(&held)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrSyncPassLost
		}
		if err != nil {
			return err
		}
		snaps := make([]Snapshot, len(b.Machines))
		for i, m := range b.Machines {
			snaps[i] = m.Snapshot
		}
		stored := map[string]bool{}
		if len(snaps) > 0 {
			if stored, err = insertSnapshots(ctx, tx, b.PassID, snaps); err != nil {
				return fmt.Errorf("snapshots: %w", err)
			}
		}
		var rows []Session
		var todo []SyncMachine
		var failed []FailedMachine
		for _, m := range b.Machines {
			switch {
			case !stored[m.Snapshot.MachineID]:
				r.Skipped++
			case m.FetchErr != "":
				r.Failed++
				failed = append(failed, FailedMachine{ID: m.Snapshot.MachineID, Error: m.FetchErr})
			default:
				todo = append(todo, m)
				rows = append(rows, m.Sessions...)
			}
		}
		var seen int64
		c, err := upsertIn(ctx, tx, rows, b.Now)
		if err == nil {
			r.Counts, r.Sessions, r.Done, seen = c, len(rows), len(todo), int64(len(rows))
		} else {
			// The batch failed as one statement (its savepoint undone):
			// machine by machine.
			for _, m := range todo {
				mc, merr := upsertIn(ctx, tx, m.Sessions, b.Now)
				if merr != nil {
					r.Failed++
					failed = append(failed, FailedMachine{ID: m.Snapshot.MachineID, Error: merr.Error()})
					continue
				}
				r.Done++
				r.Sessions += len(m.Sessions)
				seen += int64(len(m.Sessions))
				r.Counts.New += mc.New
				r.Counts.Updated += mc.Updated
			}
		}
		js, err := failedJSON(failed)
		if err != nil {
			return err
		}
		rows2, _ := tx.Query(ctx, `
			UPDATE sync_passes SET
				machines_done = machines_done + $2, machines_failed = machines_failed + $3,
				failed_machines = (SELECT coalesce(jsonb_agg(e ORDER BY n), '[]'::jsonb)
					FROM jsonb_array_elements(failed_machines || $4::jsonb) WITH ORDINALITY AS t(e, n)
					WHERE n <= $5),
				sessions_seen = sessions_seen + $6, sessions_new = sessions_new + $7,
				sessions_updated = sessions_updated + $8,
				machines_listed = greatest($9, machines_done + $2 + machines_failed + $3),
				listed_all = $10, progress_at = $11
			WHERE id = $1
			RETURNING machines_listed, listed_all, machines_done, machines_failed, failed_machines,
				sessions_seen, sessions_new, sessions_updated, progress_at`,
			b.PassID, r.Done, r.Failed, js, MaxFailedMachines, seen, r.Counts.New, r.Counts.Updated,
			b.Listed, b.ListedAll, b.Now)
		p := SyncProgress{PassID: b.PassID}
		_, err = pgx.ForEachRow(rows2, []any{&p.MachinesListed, &p.ListedAll, &p.MachinesDone, &p.MachinesFailed,
			&p.FailedMachines, &p.SessionsSeen, &p.SessionsNew, &p.SessionsUpdated, &p.At}, func() error { return nil })
		r.Progress = p
		return err
	})
	if errors.Is(err, ErrSyncPassLost) {
		return SyncBatchResult{}, fmt.Errorf("db: write sync batch of pass %d: %w", b.PassID, ErrSyncPassLost)
	}
	if err != nil {
		return SyncBatchResult{}, fmt.Errorf("db: write sync batch of pass %d: %w", b.PassID, err)
	}
	return r, nil
}

// upsertIn upserts sessions within a savepoint of tx, so that a failed
// statement leaves the transaction usable.
func upsertIn(ctx context.Context, tx pgx.Tx, sessions []Session, now time.Time) (UpsertCounts, error) {
	if len(sessions) == 0 {
		return UpsertCounts{}, nil
	}
	var c UpsertCounts
	err := pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
		var err error
		c, err = upsertAllSessions(ctx, sp, sessions, now)
		return err
	})
	return c, err
}

// SuspendSyncPass records where slice slice of pass id stopped: the next
// slice lists from page nextPage. The listed count goes back to the
// machines the pass holds (those listed and not stored are listed again).
// ErrSyncPassLost when the pass is no longer running under that slice.
func (s *Store) SuspendSyncPass(ctx context.Context, id int64, slice, nextPage int, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `
		UPDATE sync_passes SET next_page = $3, machines_listed = machines_done + machines_failed,
			listed_all = false, progress_at = $4
		WHERE id = $1 AND slices = $2 AND status = 'running'`, id, slice, max(1, nextPage), at)
	if err != nil {
		return fmt.Errorf("db: suspend sync pass %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("db: suspend sync pass %d: %w", id, ErrSyncPassLost)
	}
	return nil
}

// AbandonSyncPass closes running pass id as failed with reason (its job was
// cancelled: nobody will continue it), keeping what it stored and counted.
// ErrNotFound when it is not running.
func (s *Store) AbandonSyncPass(ctx context.Context, id int64, reason string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `
		UPDATE sync_passes SET status = 'failed', finished_at = $3, error = $2,
			machines_listed = machines_done + machines_failed, listed_all = false, progress_at = $3
		WHERE id = $1 AND status = 'running'`, id, truncate(reason, 1000), at)
	if err != nil {
		return fmt.Errorf("db: abandon sync pass %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("db: abandon sync pass %d: %w", id, ErrNotFound)
	}
	return nil
}
