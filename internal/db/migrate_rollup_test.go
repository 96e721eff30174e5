package db_test

import (
	"context"
	"io/fs"
	"testing"
	"testing/fstest"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/migrations"
)

// TestMigrate_usageRollupsBackfill: a database holding sessions from before
// migration 00020 gets, on upgrade, each session's user and region at the
// time from the snapshots it already has, and rollups equal to a rebuild,
// so the reports of an upgraded dashboard show the same totals as before.
func TestMigrate_usageRollupsBackfill(t *testing.T) {
	ctx := context.Background()
	url := emptyDatabase(t)
	old := fstest.MapFS{}
	entries, err := fs.ReadDir(migrations.FS, ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() < "00020" {
			b, err := fs.ReadFile(migrations.FS, e.Name())
			if err != nil {
				t.Fatal(err)
			}
			old[e.Name()] = &fstest.MapFile{Data: b}
		}
	}
	if err := db.MigrateFS(ctx, url, old); err != nil {
		t.Fatal(err)
	}
	s, err := db.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	// Two passes: Ann had m1, then Bob. Sessions written as the old sync
	// wrote them (no user or region columns then).
	if _, err := s.Pool().Exec(ctx, `
		INSERT INTO sync_passes (started_at, status) VALUES ($1, 'succeeded'), ($2, 'succeeded')`, d0, d0.Add(72*time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO machine_snapshots (pass_id, machine_id, name, user_email, user_name, region, machine_type, status, usage_source, remaining_usage_minutes, taken_at)
		VALUES (1, 'm1', 'Studio', 'Ann@Example.com', 'Ann', 'dublin', 'Planet', 'off', 'machine', 100, $1),
		       (2, 'm1', 'Studio', 'bob@example.com', 'Bob', 'dublin', 'Planet', 'off', 'machine', 100, $2)`,
		`INSERT INTO machines_latest (machine_id, pass_id, name, user_email, user_name, region, machine_type, status, usage_source, remaining_usage_minutes, taken_at, first_seen_at)
		VALUES ('m1', 2, 'Studio', 'bob@example.com', 'Bob', 'dublin', 'Planet', 'off', 'machine', 100, $2, $1)`,
		`INSERT INTO machine_sessions (id, machine_id, start_at, end_at, duration_minutes, first_seen_at, updated_at)
		VALUES ('s1', 'm1', $1::timestamptz - interval '2 days', NULL, 60, $1, $1),
		       ('s2', 'm1', $1::timestamptz + interval '1 day', NULL, 30, $1, $1),
		       ('s3', 'm1', $2::timestamptz + interval '1 hour', NULL, 45, $2, $2)`,
	} {
		if _, err := s.Pool().Exec(ctx, q, d0, d0.Add(72*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}

	if err := db.Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	rows, err := s.UsageReport(ctx, db.UsageQuery{From: d0.AddDate(0, 0, -7), To: d0.AddDate(0, 0, 7), Group: db.GroupUser})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, r := range rows {
		got[r.GroupKey] = r.Minutes
	}
	if len(got) != 2 || got["ann@example.com"] != 90 || got["bob@example.com"] != 45 {
		t.Errorf("after the upgrade, minutes by user: %v, want Ann 90 (s1 before her first snapshot, s2), Bob 45", got)
	}
	var n int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM usage_machine_day`).Scan(&n); err != nil || n != 3 {
		t.Errorf("usage_machine_day after the upgrade: %d rows (%v), want 3", n, err)
	}
	var region string
	if err := s.Pool().QueryRow(ctx, `SELECT region FROM machine_sessions WHERE id = 's3'`).Scan(&region); err != nil || region != "dublin" {
		t.Errorf("s3's region: %q (%v)", region, err)
	}
}
