package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Schedule run states (schedule_runs.state).
const (
	RunClaimed   = "claimed"
	RunRunning   = "running"
	RunSucceeded = "succeeded"
	RunFailed    = "failed"
	RunMissed    = "missed"
)

// Schedule run triggers (schedule_runs.trigger).
const (
	TriggerScheduled = "scheduled"
	TriggerManual    = "manual"
)

// Schedule run item states (schedule_run_items.state).
const (
	RunItemStarted = "started"
	RunItemDone    = "done"
	RunItemSkipped = "skipped"
	RunItemFailed  = "failed"
	RunItemUnknown = "unknown"
)

// ErrStale is returned when a change was made from a stale copy: the row's
// version is no longer the one the caller read.
var ErrStale = errors.New("db: changed by someone else since it was read")

// Schedule is a scheduled power action.
type Schedule struct {
	ID                 int64     `db:"id"`
	Name               string    `db:"name"`
	Action             string    `db:"action"` // start or stop
	Gracefully         bool      `db:"gracefully"`
	MachineIDs         []string  `db:"machine_ids"`
	SavedViewID        *int64    `db:"saved_view_id"`
	FilterName         string    `db:"filter_name"`
	FilterQuery        string    `db:"filter_query"`
	Days               []string  `db:"days"`      // mon .. sun
	AtMinute           int       `db:"at_minute"` // local minutes after midnight
	TimeZone           string    `db:"time_zone"` // IANA
	SkipDates          []string  `db:"skip_dates"`
	SkipActiveSessions bool      `db:"skip_active_sessions"`
	Enabled            bool      `db:"enabled"`
	OwnerID            *int64    `db:"owner_id"`
	OwnerEmail         string    `db:"owner_email"`
	Version            int       `db:"version"`
	RunsFrom           time.Time `db:"runs_from"`
	CreatedAt          time.Time `db:"created_at"`
	UpdatedAt          time.Time `db:"updated_at"`
}

// ScheduleRun is one run of a schedule, due or manual.
type ScheduleRun struct {
	ID         int64      `db:"id"`
	ScheduleID int64      `db:"schedule_id"`
	DueAt      time.Time  `db:"due_at"`
	Trigger    string     `db:"trigger"`
	State      string     `db:"state"`
	ActorEmail string     `db:"actor_email"`
	ActorRole  string     `db:"actor_role"`
	MachineIDs []string   `db:"machine_ids"` // nil until resolved
	Message    string     `db:"message"`
	Attempts   int        `db:"attempts"`
	LeaseUntil *time.Time `db:"lease_until"`
	ClaimedAt  time.Time  `db:"claimed_at"`
	StartedAt  *time.Time `db:"started_at"`
	FinishedAt *time.Time `db:"finished_at"`
}

// Finished reports whether the run has ended (or was missed).
func (r *ScheduleRun) Finished() bool { return r.FinishedAt != nil }

// ScheduleRunItem is one machine's outcome in a run.
type ScheduleRunItem struct {
	RunID       int64     `db:"run_id"`
	MachineID   string    `db:"machine_id"`
	MachineName string    `db:"machine_name"`
	State       string    `db:"state"`
	Message     string    `db:"message"`
	ErrorCode   *int      `db:"error_code"`
	UpdatedAt   time.Time `db:"updated_at"`
}

const scheduleColumns = `id, name, action, gracefully, machine_ids, saved_view_id, filter_name, filter_query,
days, at_minute, time_zone, skip_dates, skip_active_sessions, enabled, owner_id, owner_email, version,
runs_from, created_at, updated_at`

const runColumns = `id, schedule_id, due_at, trigger, state, actor_email, actor_role, machine_ids, message,
attempts, lease_until, claimed_at, started_at, finished_at`

const runItemColumns = `run_id, machine_id, machine_name, state, message, error_code, updated_at`

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// CreateSchedule stores a new schedule (version 1, created and updated at
// sc.UpdatedAt, runs from sc.RunsFrom) and returns it as stored.
func (s *Store) CreateSchedule(ctx context.Context, sc Schedule) (Schedule, error) {
	rows, _ := s.pool.Query(ctx, `
		INSERT INTO schedules (name, action, gracefully, machine_ids, saved_view_id, filter_name, filter_query,
			days, at_minute, time_zone, skip_dates, skip_active_sessions, enabled, owner_id, owner_email,
			runs_from, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17)
		RETURNING `+scheduleColumns,
		sc.Name, sc.Action, sc.Gracefully, nonNil(sc.MachineIDs), sc.SavedViewID, sc.FilterName, sc.FilterQuery,
		nonNil(sc.Days), sc.AtMinute, sc.TimeZone, nonNil(sc.SkipDates), sc.SkipActiveSessions, sc.Enabled,
		sc.OwnerID, sc.OwnerEmail, sc.RunsFrom, sc.UpdatedAt)
	out, err := pgx.CollectOneRow(rows, pgx.RowToStructByName[Schedule])
	if err != nil {
		return Schedule{}, fmt.Errorf("db: create schedule: %w", err)
	}
	return out, nil
}

// UpdateSchedule replaces a schedule's settings when its version is still
// sc.Version, bumping the version; it returns ErrStale when someone changed
// it since, ErrNotFound when it is gone. Owner and creation stay.
func (s *Store) UpdateSchedule(ctx context.Context, sc Schedule) (Schedule, error) {
	rows, _ := s.pool.Query(ctx, `
		UPDATE schedules SET name = $3, action = $4, gracefully = $5, machine_ids = $6, saved_view_id = $7,
			filter_name = $8, filter_query = $9, days = $10, at_minute = $11, time_zone = $12,
			skip_dates = $13, skip_active_sessions = $14, enabled = $15, runs_from = $16, updated_at = $17,
			version = version + 1
		WHERE id = $1 AND version = $2
		RETURNING `+scheduleColumns,
		sc.ID, sc.Version, sc.Name, sc.Action, sc.Gracefully, nonNil(sc.MachineIDs), sc.SavedViewID, sc.FilterName,
		sc.FilterQuery, nonNil(sc.Days), sc.AtMinute, sc.TimeZone, nonNil(sc.SkipDates), sc.SkipActiveSessions,
		sc.Enabled, sc.RunsFrom, sc.UpdatedAt)
	out, err := pgx.CollectOneRow(rows, pgx.RowToStructByName[Schedule])
	if errors.Is(err, pgx.ErrNoRows) {
		if _, gerr := s.Schedule(ctx, sc.ID); gerr != nil {
			return Schedule{}, fmt.Errorf("db: update schedule: %w", gerr)
		}
		return Schedule{}, fmt.Errorf("db: update schedule: %w", ErrStale)
	}
	if err != nil {
		return Schedule{}, fmt.Errorf("db: update schedule: %w", err)
	}
	return out, nil
}

// DeleteSchedule removes a schedule and its runs, returning what it was.
func (s *Store) DeleteSchedule(ctx context.Context, id int64) (Schedule, error) {
	rows, _ := s.pool.Query(ctx, `DELETE FROM schedules WHERE id = $1 RETURNING `+scheduleColumns, id)
	out, err := pgx.CollectOneRow(rows, pgx.RowToStructByName[Schedule])
	if err != nil {
		return Schedule{}, fmt.Errorf("db: delete schedule: %w", notFound(err))
	}
	return out, nil
}

// Schedule returns one schedule.
func (s *Store) Schedule(ctx context.Context, id int64) (Schedule, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+scheduleColumns+` FROM schedules WHERE id = $1`, id)
	out, err := pgx.CollectOneRow(rows, pgx.RowToStructByName[Schedule])
	if err != nil {
		return Schedule{}, fmt.Errorf("db: schedule %d: %w", id, notFound(err))
	}
	return out, nil
}

// ListSchedules returns every schedule by name.
func (s *Store) ListSchedules(ctx context.Context) ([]Schedule, error) {
	return s.schedules(ctx, `SELECT `+scheduleColumns+` FROM schedules ORDER BY lower(name), id`)
}

// EnabledSchedules returns the schedules that run.
func (s *Store) EnabledSchedules(ctx context.Context) ([]Schedule, error) {
	return s.schedules(ctx, `SELECT `+scheduleColumns+` FROM schedules WHERE enabled ORDER BY id`)
}

// SchedulesForMachine returns the schedules that pick the machine, and
// every schedule that targets a saved filter (which may match it).
func (s *Store) SchedulesForMachine(ctx context.Context, machineID string) ([]Schedule, error) {
	return s.schedules(ctx, `SELECT `+scheduleColumns+` FROM schedules
		WHERE $1 = ANY (machine_ids) OR cardinality(machine_ids) = 0 ORDER BY lower(name), id`, machineID)
}

func (s *Store) schedules(ctx context.Context, sql string, args ...any) ([]Schedule, error) {
	rows, _ := s.pool.Query(ctx, sql, args...)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Schedule])
	if err != nil {
		return nil, fmt.Errorf("db: list schedules: %w", err)
	}
	return out, nil
}

// LastScheduledDue returns the latest due time of a schedule's scheduled
// (not manual) runs, nil when it has none.
func (s *Store) LastScheduledDue(ctx context.Context, scheduleID int64) (*time.Time, error) {
	var t *time.Time
	err := s.pool.QueryRow(ctx, `SELECT max(due_at) FROM schedule_runs WHERE schedule_id = $1 AND trigger = 'scheduled'`,
		scheduleID).Scan(&t)
	if err != nil {
		return nil, fmt.Errorf("db: last run of schedule %d: %w", scheduleID, err)
	}
	return t, nil
}

// InsertScheduleRun claims a run: it inserts r unless a run of the same
// schedule with the same due time exists (or, for a manual run, an
// unfinished manual run exists). inserted is false then, and id is 0.
func (s *Store) InsertScheduleRun(ctx context.Context, r ScheduleRun) (id int64, inserted bool, err error) {
	err = s.pool.QueryRow(ctx, `
		INSERT INTO schedule_runs (schedule_id, due_at, trigger, state, actor_email, actor_role, message,
			claimed_at, finished_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT DO NOTHING RETURNING id`,
		r.ScheduleID, r.DueAt, r.Trigger, r.State, r.ActorEmail, r.ActorRole, r.Message, r.ClaimedAt, r.FinishedAt).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("db: claim schedule run: %w", err)
	}
	return id, true, nil
}

// ActiveManualRun returns the id of a schedule's unfinished manual run.
func (s *Store) ActiveManualRun(ctx context.Context, scheduleID int64) (int64, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `SELECT id FROM schedule_runs
		WHERE schedule_id = $1 AND trigger = 'manual' AND finished_at IS NULL`, scheduleID).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("db: active manual run: %w", notFound(err))
	}
	return id, nil
}

// UnfinishedScheduleRuns returns the ids of runs claimed or running.
func (s *Store) UnfinishedScheduleRuns(ctx context.Context) ([]int64, error) {
	rows, _ := s.pool.Query(ctx, `SELECT id FROM schedule_runs WHERE finished_at IS NULL ORDER BY id`)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("db: unfinished schedule runs: %w", err)
	}
	return ids, nil
}

// ScheduleRun returns one run.
func (s *Store) ScheduleRun(ctx context.Context, id int64) (ScheduleRun, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+runColumns+` FROM schedule_runs WHERE id = $1`, id)
	out, err := pgx.CollectOneRow(rows, pgx.RowToStructByName[ScheduleRun])
	if err != nil {
		return ScheduleRun{}, fmt.Errorf("db: schedule run %d: %w", id, notFound(err))
	}
	return out, nil
}

// ScheduleRuns returns a schedule's latest runs, newest first.
func (s *Store) ScheduleRuns(ctx context.Context, scheduleID int64, limit int) ([]ScheduleRun, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+runColumns+` FROM schedule_runs WHERE schedule_id = $1
		ORDER BY due_at DESC, id DESC LIMIT $2`, scheduleID, limit)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[ScheduleRun])
	if err != nil {
		return nil, fmt.Errorf("db: schedule runs: %w", err)
	}
	return out, nil
}

// CountScheduleRuns is how many runs a schedule's history holds.
func (s *Store) CountScheduleRuns(ctx context.Context, scheduleID int64) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM schedule_runs WHERE schedule_id = $1`, scheduleID).Scan(&n); err != nil {
		return 0, fmt.Errorf("db: count schedule runs: %w", err)
	}
	return n, nil
}

// LeaseScheduleRun takes an unfinished run for one executor until until:
// it becomes running, its attempts grow by one. ok is false when the run
// is finished or another executor's lease has not yet expired at now.
func (s *Store) LeaseScheduleRun(ctx context.Context, id int64, now, until time.Time) (ScheduleRun, bool, error) {
	rows, _ := s.pool.Query(ctx, `
		UPDATE schedule_runs SET state = 'running', attempts = attempts + 1,
			started_at = coalesce(started_at, $2), lease_until = $3
		WHERE id = $1 AND finished_at IS NULL AND (lease_until IS NULL OR lease_until <= $2)
		RETURNING `+runColumns, id, now, until)
	out, err := pgx.CollectOneRow(rows, pgx.RowToStructByName[ScheduleRun])
	if errors.Is(err, pgx.ErrNoRows) {
		return ScheduleRun{}, false, nil
	}
	if err != nil {
		return ScheduleRun{}, false, fmt.Errorf("db: lease schedule run: %w", err)
	}
	return out, true, nil
}

// ReleaseScheduleRun gives up an executor's lease on an unfinished run
// (until is the lease it took), so a retry may take the run at once.
// Someone else's later lease is left alone.
func (s *Store) ReleaseScheduleRun(ctx context.Context, id int64, until time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE schedule_runs SET lease_until = NULL
		WHERE id = $1 AND finished_at IS NULL AND lease_until = $2`, id, until)
	if err != nil {
		return fmt.Errorf("db: release schedule run: %w", err)
	}
	return nil
}

// CloseRun says how CloseScheduleRun ends a run.
type CloseRun struct {
	At time.Time
	// SkipUnstarted, when not "", is recorded as a skipped item for every
	// target the run has no item for (they will not be called).
	SkipUnstarted string
	// StartedAs, when not "", turns items left started into unknown with
	// this message (no executor is left to finish them).
	StartedAs string
	// Decide returns the run's final state and message from the run and
	// its items, inside the transaction; an error undoes everything. The
	// audit row is written here, so a closed run is always audited.
	Decide func(ctx context.Context, run ScheduleRun, items []ScheduleRunItem) (state, message string, err error)
}

// CloseScheduleRun ends run id, once: it locks the unfinished run, records
// the items c asks for, asks c.Decide for the outcome and finishes the run,
// in one transaction. closed is false (and nothing done) when the run had
// already ended; ErrNotFound when there is no such run.
func (s *Store) CloseScheduleRun(ctx context.Context, id int64, c CloseRun) (closed bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `SELECT `+runColumns+` FROM schedule_runs WHERE id = $1 FOR UPDATE`, id)
		run, err := pgx.CollectOneRow(rows, pgx.RowToStructByName[ScheduleRun])
		if err != nil {
			return notFound(err)
		}
		if run.Finished() {
			return nil
		}
		if c.SkipUnstarted != "" && len(run.MachineIDs) > 0 {
			if _, err := tx.Exec(ctx, `
				INSERT INTO schedule_run_items (run_id, machine_id, machine_name, state, message, updated_at)
				SELECT $1, m, '', 'skipped', $2, $3 FROM unnest($4::text[]) AS m
				ON CONFLICT DO NOTHING`, id, c.SkipUnstarted, c.At, run.MachineIDs); err != nil {
				return err
			}
		}
		if c.StartedAs != "" {
			if _, err := tx.Exec(ctx, `UPDATE schedule_run_items SET state = 'unknown', message = $2, updated_at = $3
				WHERE run_id = $1 AND state = 'started'`, id, c.StartedAs, c.At); err != nil {
				return err
			}
		}
		rows, _ = tx.Query(ctx, `SELECT `+runItemColumns+` FROM schedule_run_items WHERE run_id = $1 ORDER BY machine_id`, id)
		items, err := pgx.CollectRows(rows, pgx.RowToStructByName[ScheduleRunItem])
		if err != nil {
			return err
		}
		state, msg, err := c.Decide(ctx, run, items)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE schedule_runs SET state = $2, message = $3, finished_at = $4, lease_until = NULL
			WHERE id = $1`, id, state, msg, c.At); err != nil {
			return err
		}
		closed = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("db: close schedule run %d: %w", id, err)
	}
	return closed, nil
}

// SetScheduleRunTargets records the machines a run resolved to.
func (s *Store) SetScheduleRunTargets(ctx context.Context, id int64, machineIDs []string) error {
	_, err := s.pool.Exec(ctx, `UPDATE schedule_runs SET machine_ids = $2 WHERE id = $1 AND finished_at IS NULL`, id, nonNil(machineIDs))
	if err != nil {
		return fmt.Errorf("db: schedule run targets: %w", err)
	}
	return nil
}

// FinishScheduleRun ends a run with its state and a summary.
func (s *Store) FinishScheduleRun(ctx context.Context, id int64, state, message string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE schedule_runs SET state = $2, message = $3, finished_at = $4, lease_until = NULL
		WHERE id = $1 AND finished_at IS NULL`, id, state, message, at)
	if err != nil {
		return fmt.Errorf("db: finish schedule run: %w", err)
	}
	return nil
}

// ScheduleRunItems returns the items of the given runs, by run and machine.
func (s *Store) ScheduleRunItems(ctx context.Context, runIDs ...int64) ([]ScheduleRunItem, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+runItemColumns+` FROM schedule_run_items
		WHERE run_id = ANY ($1) ORDER BY run_id, machine_id`, runIDs)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[ScheduleRunItem])
	if err != nil {
		return nil, fmt.Errorf("db: schedule run items: %w", err)
	}
	return out, nil
}

// InsertScheduleRunItem writes an item unless the run already has one for
// the machine; inserted says whether it was written. Written as started,
// it claims the machine's call for this run: before the call, never after.
//
// Nothing is written once the run has ended (cancelled meanwhile): the
// insert takes a share lock on the unfinished run, so CloseScheduleRun
// either sees the item (a call in flight) or the executor sees the run
// closed (no call).
func (s *Store) InsertScheduleRunItem(ctx context.Context, it ScheduleRunItem) (inserted bool, err error) {
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO schedule_run_items (run_id, machine_id, machine_name, state, message, error_code, updated_at)
		SELECT id, $2, $3, $4, $5, $6, $7 FROM schedule_runs WHERE id = $1 AND finished_at IS NULL
		FOR SHARE
		ON CONFLICT DO NOTHING`,
		it.RunID, it.MachineID, it.MachineName, it.State, it.Message, it.ErrorCode, it.UpdatedAt)
	if err != nil {
		return false, fmt.Errorf("db: schedule run item: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// SetScheduleRunItem records a machine's outcome in a run.
func (s *Store) SetScheduleRunItem(ctx context.Context, it ScheduleRunItem) error {
	_, err := s.pool.Exec(ctx, `UPDATE schedule_run_items SET state = $3, message = $4, error_code = $5, updated_at = $6
		WHERE run_id = $1 AND machine_id = $2`,
		it.RunID, it.MachineID, it.State, it.Message, it.ErrorCode, it.UpdatedAt)
	if err != nil {
		return fmt.Errorf("db: schedule run item: %w", err)
	}
	return nil
}
