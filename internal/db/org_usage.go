package db

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// OrgUsageSnapshot is the organization's available usage as read on one
// UTC day (the latest reading of that day).
type OrgUsageSnapshot struct {
	Day          time.Time `db:"day"` // midnight UTC of the day
	TakenAt      time.Time `db:"taken_at"`
	UsageMinutes int64     `db:"usage_minutes"`
	MachineType  string    `db:"machine_type"`
}

// UpsertOrgUsageSnapshot records a reading taken at takenAt for its UTC day.
// The latest reading of a day wins: an older one (a slow pass finishing
// after a newer one) leaves the row as it is.
func (s *Store) UpsertOrgUsageSnapshot(ctx context.Context, takenAt time.Time, minutes int64, machineType string) error {
	takenAt = takenAt.UTC()
	day := time.Date(takenAt.Year(), takenAt.Month(), takenAt.Day(), 0, 0, 0, 0, time.UTC)
	if _, err := s.pool.Exec(ctx, `
		INSERT INTO org_usage_snapshots (day, taken_at, usage_minutes, machine_type)
		VALUES ($1::date, $2, $3, $4)
		ON CONFLICT (day) DO UPDATE
		SET taken_at = EXCLUDED.taken_at, usage_minutes = EXCLUDED.usage_minutes, machine_type = EXCLUDED.machine_type
		WHERE org_usage_snapshots.taken_at <= EXCLUDED.taken_at`,
		day.Format(time.DateOnly), takenAt, minutes, machineType); err != nil {
		return fmt.Errorf("db: upsert org usage snapshot: %w", err)
	}
	return nil
}

// OrgUsageSnapshots returns the snapshots of the UTC days in [from, to],
// oldest first.
func (s *Store) OrgUsageSnapshots(ctx context.Context, from, to time.Time) ([]OrgUsageSnapshot, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT day::timestamp AT TIME ZONE 'UTC' AS day, taken_at, usage_minutes, machine_type
		FROM org_usage_snapshots
		WHERE day BETWEEN $1::date AND $2::date
		ORDER BY day`, from.UTC().Format(time.DateOnly), to.UTC().Format(time.DateOnly))
	if err != nil {
		return nil, fmt.Errorf("db: org usage snapshots: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[OrgUsageSnapshot])
	if err != nil {
		return nil, fmt.Errorf("db: org usage snapshots: %w", err)
	}
	return out, nil
}
