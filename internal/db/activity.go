package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// ActivityEntry is one stored entry of Vagon's activity log (vagon_activity).
type ActivityEntry struct {
	ID          string          `db:"id"` // the deduplication key
	At          time.Time       `db:"at"`
	ActorEmail  string          `db:"actor_email"`
	ActionType  string          `db:"action_type"`
	MachineID   *string         `db:"machine_id"`
	MachineName string          `db:"machine_name"`
	Details     json.RawMessage `db:"details"`
	ImportedAt  time.Time       `db:"imported_at"`
}

// activityChunk bounds one upsert statement's rows.
const activityChunk = 1000

// InsertActivity stores entries not stored yet (by ID) and returns how many
// were new; entries already there are left as they are, so re-importing an
// overlapping range adds nothing. Details that are not a JSON object are
// stored as {}. ImportedAt is set to now.
func (s *Store) InsertActivity(ctx context.Context, entries []ActivityEntry, now time.Time) (int64, error) {
	var total int64
	for lo := 0; lo < len(entries); lo += activityChunk {
		part := entries[lo:min(lo+activityChunk, len(entries))]
		n := len(part)
		ids, emails, actions, names, details := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		ats := make([]time.Time, n)
		machines := make([]pgtype.Text, n)
		for i, e := range part {
			if e.ID == "" {
				return total, errors.New("db: insert activity: an entry has no id")
			}
			ids[i], ats[i], emails[i], actions[i], names[i] = e.ID, e.At, e.ActorEmail, e.ActionType, e.MachineName
			if e.MachineID != nil {
				machines[i] = pgtype.Text{String: *e.MachineID, Valid: true}
			}
			details[i] = jsonObject(e.Details)
		}
		tag, err := s.pool.Exec(ctx, `
			INSERT INTO vagon_activity (id, at, actor_email, action_type, machine_id, machine_name, details, imported_at)
			SELECT u.id, u.at, u.actor_email, u.action_type, u.machine_id, u.machine_name, u.details::jsonb, $8
			FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
				AS u(id, at, actor_email, action_type, machine_id, machine_name, details)
			ON CONFLICT (id) DO NOTHING`,
			ids, ats, emails, actions, machines, names, details, now)
		if err != nil {
			return total, fmt.Errorf("db: insert activity: %w", err)
		}
		total += tag.RowsAffected()
	}
	return total, nil
}

// jsonObject returns raw when it is a JSON object Postgres can store, else {}.
func jsonObject(raw json.RawMessage) string {
	var m map[string]json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil || m == nil {
		return "{}"
	}
	// jsonb refuses the NUL character; an entry carrying one keeps the rest.
	return strings.ReplaceAll(string(raw), `\u0000`, `\ufffd`)
}

// LatestActivityAt is the time of the newest stored entry, and false when
// none is stored.
func (s *Store) LatestActivityAt(ctx context.Context) (time.Time, bool, error) {
	var at pgtype.Timestamptz
	if err := s.pool.QueryRow(ctx, `SELECT max(at) FROM vagon_activity`).Scan(&at); err != nil {
		return time.Time{}, false, fmt.Errorf("db: latest activity: %w", err)
	}
	return at.Time, at.Valid, nil
}

// ActivityFilter selects stored entries; zero fields do not filter.
type ActivityFilter struct {
	From, To   time.Time // at >= From, at < To
	ActionType string
	MachineID  string
	ActorEmail string
	Limit      int // <= 0: all
}

// ListActivity returns the stored entries matching f, newest first.
func (s *Store) ListActivity(ctx context.Context, f ActivityFilter) ([]ActivityEntry, error) {
	q := `SELECT id, at, actor_email, action_type, machine_id, machine_name, details, imported_at FROM vagon_activity WHERE true`
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		q += fmt.Sprintf(" AND "+cond, len(args))
	}
	if !f.From.IsZero() {
		add("at >= $%d", f.From)
	}
	if !f.To.IsZero() {
		add("at < $%d", f.To)
	}
	if f.ActionType != "" {
		add("action_type = $%d", f.ActionType)
	}
	if f.MachineID != "" {
		add("machine_id = $%d", f.MachineID)
	}
	if f.ActorEmail != "" {
		add("actor_email = $%d", f.ActorEmail)
	}
	q += " ORDER BY at DESC, id"
	if f.Limit > 0 {
		args = append(args, f.Limit)
		q += fmt.Sprintf(" LIMIT $%d", len(args))
	}
	rows, _ := s.pool.Query(ctx, q, args...)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[ActivityEntry])
	if err != nil {
		return nil, fmt.Errorf("db: list activity: %w", err)
	}
	return out, nil
}

// CountActivity is the number of stored entries.
func (s *Store) CountActivity(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM vagon_activity`).Scan(&n); err != nil {
		return 0, fmt.Errorf("db: count activity: %w", err)
	}
	return n, nil
}
