package db

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Bounds on what a pass record keeps about failed machines.
const (
	MaxFailedMachines = 50  // entries kept in sync_passes.failed_machines
	MaxFailedError    = 200 // bytes kept of each error message
)

// upsertChunk bounds the sessions sent in one statement.
const upsertChunk = 5000

// Sync pass statuses.
const (
	PassRunning   = "running"
	PassSucceeded = "succeeded"
	PassFailed    = "failed"
)

// Session is one machine session as the API reported it. DurationMinutes is
// the API's duration (minutes); EndAt is nil while the session runs.
type Session struct {
	ID              string     `db:"id"`
	MachineID       string     `db:"machine_id"`
	StartAt         time.Time  `db:"start_at"`
	EndAt           *time.Time `db:"end_at"`
	DurationMinutes int64      `db:"duration_minutes"`
	FirstSeenAt     time.Time  `db:"first_seen_at"`
	UpdatedAt       time.Time  `db:"updated_at"`
}

// UpsertCounts says how many sessions an upsert added and how many it
// changed; sessions already stored as they are count in neither.
type UpsertCounts struct {
	New     int64
	Updated int64
}

// UpsertSessions stores sessions by their id: new ones are inserted, known
// ones are updated only when a field changed (a running session that ended,
// or grew). FirstSeenAt and UpdatedAt of the arguments are ignored; now is
// recorded instead. Duplicate ids in sessions keep the last one.
func (s *Store) UpsertSessions(ctx context.Context, sessions []Session, now time.Time) (UpsertCounts, error) {
	return upsertAllSessions(ctx, s.pool, sessions, now)
}

// querier is what the session upsert needs of the pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// upsertAllSessions is UpsertSessions on q (the pool, or a sync batch's
// transaction).
func upsertAllSessions(ctx context.Context, q querier, sessions []Session, now time.Time) (UpsertCounts, error) {
	var total UpsertCounts
	sessions = dedupeSessions(sessions)
	for len(sessions) > 0 {
		n := min(len(sessions), upsertChunk)
		c, err := upsertSessions(ctx, q, sessions[:n], now)
		if err != nil {
			return total, fmt.Errorf("db: upsert sessions: %w", err)
		}
		total.New += c.New
		total.Updated += c.Updated
		sessions = sessions[n:]
	}
	return total, nil
}

func dedupeSessions(in []Session) []Session {
	idx := make(map[string]int, len(in))
	out := make([]Session, 0, len(in))
	for _, s := range in {
		if i, ok := idx[s.ID]; ok {
			out[i] = s
			continue
		}
		idx[s.ID] = len(out)
		out = append(out, s)
	}
	return out
}

func upsertSessions(ctx context.Context, q querier, sessions []Session, now time.Time) (UpsertCounts, error) {
	ids := make([]string, len(sessions))
	machines := make([]string, len(sessions))
	starts := make([]time.Time, len(sessions))
	ends := make([]pgtype.Timestamptz, len(sessions))
	durations := make([]int64, len(sessions))
	for i, x := range sessions {
		ids[i], machines[i], starts[i], durations[i] = x.ID, x.MachineID, x.StartAt, x.DurationMinutes
		if x.EndAt != nil {
			ends[i] = pgtype.Timestamptz{Time: *x.EndAt, Valid: true}
		}
	}
	// One statement per chunk: the WHERE of DO UPDATE skips unchanged rows,
	// so they are neither written nor returned; xmax = 0 tells a freshly
	// inserted row from an updated one. A new session (or one that moved to
	// another machine or start) takes the user and region its machine had
	// when it started (usage_owner_at, migration 00020); a known one keeps
	// its own, and the lookup is skipped for it.
	rows, _ := q.Query(ctx, `
		WITH u AS (
			SELECT u.id, u.machine_id, u.start_at, u.end_at, u.duration_minutes,
				ex.user_email AS kept_user, ex.region AS kept_region,
				ex.id IS NOT NULL AND ex.machine_id = u.machine_id AND ex.start_at = u.start_at AS known
			FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::bigint[])
				AS u(id, machine_id, start_at, end_at, duration_minutes)
			LEFT JOIN machine_sessions ex ON ex.id = u.id
		)
		INSERT INTO machine_sessions AS ms
			(id, machine_id, start_at, end_at, duration_minutes, first_seen_at, updated_at, user_email, region)
		SELECT u.id, u.machine_id, u.start_at, u.end_at, u.duration_minutes, $6, $6,
			CASE WHEN u.known THEN u.kept_user ELSE o.user_email END,
			CASE WHEN u.known THEN u.kept_region ELSE coalesce(o.region, '') END
		FROM u LEFT JOIN LATERAL (
			SELECT * FROM usage_owner_at(u.machine_id, u.start_at) WHERE NOT u.known
		) o ON true
		ON CONFLICT (id) DO UPDATE SET
			machine_id       = excluded.machine_id,
			start_at         = excluded.start_at,
			end_at           = excluded.end_at,
			duration_minutes = excluded.duration_minutes,
			updated_at       = excluded.updated_at,
			user_email       = excluded.user_email,
			region           = excluded.region
		WHERE (ms.machine_id, ms.start_at, ms.end_at, ms.duration_minutes)
			IS DISTINCT FROM (excluded.machine_id, excluded.start_at, excluded.end_at, excluded.duration_minutes)
		RETURNING (xmax = 0) AS inserted`,
		ids, machines, starts, ends, durations, now)
	var c UpsertCounts
	var inserted bool
	_, err := pgx.ForEachRow(rows, []any{&inserted}, func() error {
		if inserted {
			c.New++
		} else {
			c.Updated++
		}
		return nil
	})
	return c, err
}

// MachineSessions returns the stored sessions of one machine, newest first,
// at most limit of them (limit <= 0: all).
func (s *Store) MachineSessions(ctx context.Context, machineID string, limit int) ([]Session, error) {
	q := `SELECT id, machine_id, start_at, end_at, duration_minutes, first_seen_at, updated_at
		FROM machine_sessions WHERE machine_id = $1 ORDER BY start_at DESC, id DESC`
	args := []any{machineID}
	if limit > 0 {
		q += ` LIMIT $2`
		args = append(args, limit)
	}
	rows, _ := s.pool.Query(ctx, q, args...)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Session])
	if err != nil {
		return nil, fmt.Errorf("db: machine sessions: %w", err)
	}
	return out, nil
}

// Snapshot is one machine as a sync pass saw it in the machine list.
// UserEmail and UserName are empty for an unassigned machine (stored NULL).
type Snapshot struct {
	MachineID             string
	Name                  string
	UserEmail             string
	UserName              string
	Region                string
	MachineType           string
	Status                string
	UsageSource           string
	RemainingUsageMinutes int64
	TakenAt               time.Time
}

// InsertSnapshots records the machines a pass saw, and makes each the latest
// known state of its machine (unless a newer one is already stored), in one
// transaction. A machine the pass already holds is left as it was (a pass
// resumed by a later slice may see a machine again), not an error. A pass
// may call it once per batch of machines: each call writes only its own
// machines.
func (s *Store) InsertSnapshots(ctx context.Context, passID int64, snaps []Snapshot) error {
	if len(snaps) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := insertSnapshots(ctx, tx, passID, snaps)
		return err
	})
	if err != nil {
		return fmt.Errorf("db: insert snapshots: %w", err)
	}
	return nil
}

// insertSnapshots stores snaps in pass passID within tx, skipping machines
// the pass already holds, upserts machines_latest for those it stored, and
// returns their ids.
func insertSnapshots(ctx context.Context, tx pgx.Tx, passID int64, snaps []Snapshot) (map[string]bool, error) {
	n := len(snaps)
	ids, names, regions, types, statuses, sources := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n)
	emails, users := make([]*string, n), make([]*string, n)
	remaining, taken := make([]int64, n), make([]time.Time, n)
	for i, x := range snaps {
		ids[i], names[i], regions[i], types[i], statuses[i], sources[i] = x.MachineID, x.Name, x.Region, x.MachineType, x.Status, x.UsageSource
		emails[i], users[i] = nullText(x.UserEmail), nullText(x.UserName)
		remaining[i], taken[i] = x.RemainingUsageMinutes, x.TakenAt
	}
	rows, _ := tx.Query(ctx, `
		INSERT INTO machine_snapshots (pass_id, machine_id, name, user_email, user_name, region,
			machine_type, status, usage_source, remaining_usage_minutes, taken_at)
		SELECT $1, u.* FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
			$7::text[], $8::text[], $9::text[], $10::bigint[], $11::timestamptz[]) AS u
		ON CONFLICT (pass_id, machine_id) DO NOTHING
		RETURNING machine_id`,
		passID, ids, names, emails, users, regions, types, statuses, sources, remaining, taken)
	stored, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	if len(stored) > 0 {
		_, err = tx.Exec(ctx, `
			INSERT INTO machines_latest AS ml
				(machine_id, pass_id, name, user_email, user_name, region, machine_type, status,
				 usage_source, remaining_usage_minutes, taken_at, first_seen_at, gone_at)
			SELECT machine_id, pass_id, name, user_email, user_name, region, machine_type, status,
				usage_source, remaining_usage_minutes, taken_at, taken_at, NULL
			FROM machine_snapshots WHERE pass_id = $1 AND machine_id = ANY($2)
			ON CONFLICT (machine_id) DO UPDATE SET
				pass_id = excluded.pass_id, name = excluded.name,
				user_email = excluded.user_email, user_name = excluded.user_name,
				region = excluded.region, machine_type = excluded.machine_type,
				status = excluded.status, usage_source = excluded.usage_source,
				remaining_usage_minutes = excluded.remaining_usage_minutes,
				taken_at = excluded.taken_at, gone_at = NULL
			WHERE ml.taken_at <= excluded.taken_at`, passID, stored)
		if err != nil {
			return nil, err
		}
	}
	out := make(map[string]bool, len(stored))
	for _, id := range stored {
		out[id] = true
	}
	return out, nil
}

// MarkMachinesGone records that a complete listing of pass passID no longer
// showed the machines last seen by earlier passes: they were deleted in
// Vagon. Call it only after a listing that walked every page.
func (s *Store) MarkMachinesGone(ctx context.Context, passID int64, now time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `
		UPDATE machines_latest SET gone_at = $2
		WHERE pass_id < $1 AND gone_at IS NULL`, passID, now)
	if err != nil {
		return 0, fmt.Errorf("db: mark machines gone: %w", err)
	}
	return tag.RowsAffected(), nil
}

// RemainingPoint is a machine's remaining usage at one pass.
type RemainingPoint struct {
	TakenAt               time.Time `db:"taken_at"`
	RemainingUsageMinutes int64     `db:"remaining_usage_minutes"`
}

// RemainingTrend returns a machine's remaining usage over [from, to), oldest
// first, one point per pass.
func (s *Store) RemainingTrend(ctx context.Context, machineID string, from, to time.Time) ([]RemainingPoint, error) {
	rows, _ := s.pool.Query(ctx, `
		SELECT taken_at, remaining_usage_minutes FROM machine_snapshots
		WHERE machine_id = $1 AND taken_at >= $2 AND taken_at < $3
		ORDER BY taken_at`, machineID, from, to)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[RemainingPoint])
	if err != nil {
		return nil, fmt.Errorf("db: remaining trend: %w", err)
	}
	return out, nil
}

// FailedMachine names a machine a pass could not sync, with a short error.
type FailedMachine struct {
	ID    string `json:"id"`
	Error string `json:"error"`
}

// SyncPass is the record of one sync pass.
type SyncPass struct {
	ID              int64           `db:"id"`
	StartedAt       time.Time       `db:"started_at"`
	FinishedAt      *time.Time      `db:"finished_at"`
	Status          string          `db:"status"` // PassRunning, PassSucceeded or PassFailed
	MachinesDone    int             `db:"machines_done"`
	MachinesFailed  int             `db:"machines_failed"`
	FailedMachines  []FailedMachine `db:"failed_machines"`
	SessionsNew     int64           `db:"sessions_new"`
	SessionsUpdated int64           `db:"sessions_updated"`
	Error           string          `db:"error"`
	// MachinesListed is how many machines the listing has produced so far;
	// ListedAll says it walked every page (MachinesListed is then the
	// fleet's size).
	MachinesListed int  `db:"machines_listed"`
	ListedAll      bool `db:"listed_all"`
	// MachinesExpected is, while the listing is under way, the size of the
	// last complete listing: nil before any. Set by BeginSyncPass.
	MachinesExpected *int `db:"machines_expected"`
	// SessionsSeen is how many sessions the pass read from the API, new,
	// changed or not.
	SessionsSeen int64 `db:"sessions_seen"`
	// ProgressAt is when the progress was last written; nil until then.
	ProgressAt *time.Time `db:"progress_at"`
	// JobID is the River job that runs the pass; nil for a pass run whole
	// (`dashboard sync`). Set by BeginJobSyncPass.
	JobID *int64 `db:"job_id"`
	// NextPage is the machine-list page the next slice lists from.
	NextPage int `db:"next_page"`
	// Slices is how many slices have worked on the pass; the number of the
	// one working now (ClaimSyncPass). Given to FinishSyncPass, a non-zero
	// Slices finishes the pass only while that slice still holds it.
	Slices int `db:"slices"`
}

const syncPassColumns = `id, started_at, finished_at, status, machines_done, machines_failed,
	failed_machines, sessions_new, sessions_updated, error,
	machines_listed, listed_all, machines_expected, sessions_seen, progress_at,
	job_id, next_page, slices`

// BeginSyncPass records a pass run whole by one process (`dashboard sync`)
// that starts at startedAt and returns its id. Other such passes still
// marked running were left by a process that died, and are closed as
// failed; a running pass of a job is left to its job (BeginJobSyncPass).
func (s *Store) BeginSyncPass(ctx context.Context, startedAt time.Time) (int64, error) {
	var id int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		id, err = beginSyncPass(ctx, tx, startedAt, nil)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("db: begin sync pass: %w", err)
	}
	return id, nil
}

// beginSyncPass closes the running passes nobody will continue and inserts
// the new one. For a job (jobID set) that is every running pass: at most one
// sync job is queued or running, so another job's pass is an orphan; for a
// pass run whole, only other passes run whole.
func beginSyncPass(ctx context.Context, tx pgx.Tx, startedAt time.Time, jobID *int64) (int64, error) {
	if _, err := tx.Exec(ctx, `
		UPDATE sync_passes SET status = 'failed', finished_at = $1,
			error = CASE WHEN job_id IS NULL THEN 'interrupted: the process running the pass stopped'
				ELSE 'interrupted: its job ended without finishing it' END
		WHERE status = 'running' AND ($2 OR job_id IS NULL)`, startedAt, jobID != nil); err != nil {
		return 0, err
	}
	// The last complete listing tells how many machines to expect until
	// this one ends.
	var id int64
	err := tx.QueryRow(ctx, `
		INSERT INTO sync_passes (started_at, machines_expected, job_id)
		VALUES ($1, (SELECT machines_listed FROM sync_passes WHERE listed_all ORDER BY id DESC LIMIT 1), $2)
		RETURNING id`,
		startedAt, jobID).Scan(&id)
	return id, err
}

// FinishSyncPass writes the outcome of pass p.ID: its status, finish time,
// counts and failures. FailedMachines is cut to MaxFailedMachines entries and
// each error to MaxFailedError bytes. It returns ErrNotFound for an unknown id.
// With p.Slices set (the slice's number, ClaimSyncPass), it finishes only a
// pass still running under that slice, and returns ErrSyncPassLost
// otherwise. MachinesExpected, ProgressAt, JobID and NextPage of p are
// ignored.
func (s *Store) FinishSyncPass(ctx context.Context, p SyncPass) error {
	switch p.Status {
	case PassSucceeded, PassFailed:
	default:
		return fmt.Errorf("db: finish sync pass: status %q: want %q or %q", p.Status, PassSucceeded, PassFailed)
	}
	js, err := failedJSON(p.FailedMachines)
	if err != nil {
		return fmt.Errorf("db: finish sync pass: %w", err)
	}
	finished := time.Now()
	if p.FinishedAt != nil {
		finished = *p.FinishedAt
	}
	tag, err := s.pool.Exec(ctx, `
		UPDATE sync_passes SET finished_at = $2, status = $3, machines_done = $4,
			machines_failed = $5, failed_machines = $6, sessions_new = $7,
			sessions_updated = $8, error = $9, machines_listed = $10, listed_all = $11,
			sessions_seen = $12, progress_at = $2
		WHERE id = $1 AND ($13 = 0 OR (slices = $13 AND status = 'running'))`,
		p.ID, finished, p.Status, p.MachinesDone, p.MachinesFailed, js,
		p.SessionsNew, p.SessionsUpdated, truncate(p.Error, 1000),
		p.MachinesListed, p.ListedAll, p.SessionsSeen, p.Slices)
	if err != nil {
		return fmt.Errorf("db: finish sync pass: %w", err)
	}
	if tag.RowsAffected() == 0 && p.Slices != 0 {
		return fmt.Errorf("db: finish sync pass %d: %w", p.ID, ErrSyncPassLost)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("db: finish sync pass %d: %w", p.ID, ErrNotFound)
	}
	return nil
}

// SyncProgress is how far a running pass has got.
type SyncProgress struct {
	PassID          int64
	MachinesListed  int
	ListedAll       bool
	MachinesDone    int
	MachinesFailed  int
	FailedMachines  []FailedMachine // cut as FinishSyncPass cuts them
	SessionsSeen    int64
	SessionsNew     int64
	SessionsUpdated int64
	At              time.Time
}

// UpdateSyncProgress records the progress of a running pass, for the sync
// panels of every replica. It returns ErrNotFound when the pass is unknown or
// no longer running (closed as interrupted by another process, say). The
// syncer records its progress with each batch instead (WriteSyncBatch);
// this sets it directly.
func (s *Store) UpdateSyncProgress(ctx context.Context, p SyncProgress) error {
	js, err := failedJSON(p.FailedMachines)
	if err != nil {
		return fmt.Errorf("db: update sync progress: %w", err)
	}
	tag, err := s.pool.Exec(ctx, `
		UPDATE sync_passes SET machines_listed = $2, listed_all = $3, machines_done = $4,
			machines_failed = $5, failed_machines = $6, sessions_seen = $7,
			sessions_new = $8, sessions_updated = $9, progress_at = $10
		WHERE id = $1 AND status = 'running'`,
		p.PassID, p.MachinesListed, p.ListedAll, p.MachinesDone, p.MachinesFailed, js,
		p.SessionsSeen, p.SessionsNew, p.SessionsUpdated, p.At)
	if err != nil {
		return fmt.Errorf("db: update sync progress: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("db: update sync progress of pass %d: %w", p.PassID, ErrNotFound)
	}
	return nil
}

// failedJSON is the failed_machines value of a pass record: the first
// MaxFailedMachines entries, each cut short.
func failedJSON(failed []FailedMachine) ([]byte, error) {
	if len(failed) > MaxFailedMachines {
		failed = failed[:MaxFailedMachines]
	}
	kept := make([]FailedMachine, len(failed))
	for i, f := range failed {
		kept[i] = FailedMachine{ID: truncate(f.ID, 64), Error: truncate(f.Error, MaxFailedError)}
	}
	return json.Marshal(kept)
}

// LastSyncPasses returns the n most recent passes, newest first.
func (s *Store) LastSyncPasses(ctx context.Context, n int) ([]SyncPass, error) {
	if n <= 0 {
		return nil, nil
	}
	rows, _ := s.pool.Query(ctx, `SELECT `+syncPassColumns+`
		FROM sync_passes ORDER BY id DESC LIMIT $1`, n)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[SyncPass])
	if err != nil {
		return nil, fmt.Errorf("db: last sync passes: %w", err)
	}
	return out, nil
}

// PruneSyncHistory deletes passes that started before cutoff, with their
// snapshots; sessions and the latest snapshot of each machine stay. It never
// deletes the most recent pass.
func (s *Store) PruneSyncHistory(ctx context.Context, cutoff time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM sync_passes
		WHERE started_at < $1 AND status <> 'running'
			AND id < (SELECT max(id) FROM sync_passes)`, cutoff)
	if err != nil {
		return 0, fmt.Errorf("db: prune sync history: %w", err)
	}
	return tag.RowsAffected(), nil
}

func nullText(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// truncate cuts s to at most n bytes without splitting a UTF-8 character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
