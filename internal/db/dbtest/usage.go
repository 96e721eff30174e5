package dbtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
)

// Usage is the fleet SeedUsage stores.
const (
	UsageMachines = 1000
	UsageSessions = 1_000_000
	UsageDays     = 100
)

// SeedUsage stores the report benchmarks' fleet in s: 1,000 machines
// (about 200 users, a tenth unassigned, 5 regions) seen by one pass at now,
// and 1,000,000 sessions 8.64 s apart over the 100 days before now, 5 to
// 480 minutes long, each with its machine's user and region as the sync
// records them; then vacuums, as autovacuum would after a sync (statistics,
// and a visibility map that allows index-only scans). The rollups are kept
// by the triggers as the sessions arrive, in batches as a sync writes them.
func SeedUsage(tb testing.TB, s *db.Store, now time.Time) {
	tb.Helper()
	ctx := context.Background()
	setup := time.Now()
	pass, err := s.BeginSyncPass(ctx, now)
	if err != nil {
		tb.Fatal(err)
	}
	regions := []string{"dublin", "frankfurt", "virginia", "oregon", "tokyo"}
	snaps := make([]db.Snapshot, 0, UsageMachines)
	for i := range UsageMachines {
		email := ""
		if i%10 != 0 { // a tenth unassigned
			email = fmt.Sprintf("user%03d@example.com", i%200)
		}
		snaps = append(snaps, db.Snapshot{MachineID: fmt.Sprint(100 + i), Name: fmt.Sprintf("Computer #%d", 100+i),
			UserEmail: email, UserName: fmt.Sprintf("User %03d", i%200), Region: regions[i%len(regions)],
			MachineType: "Planet", Status: "off", UsageSource: "machine", RemainingUsageMinutes: int64(i * 7 % 5000), TakenAt: now})
	}
	if err := s.InsertSnapshots(ctx, pass, snaps); err != nil {
		tb.Fatal(err)
	}
	const batch = 100_000
	for lo := 1; lo <= UsageSessions; lo += batch {
		if _, err := s.Pool().Exec(ctx, `
			INSERT INTO machine_sessions (id, machine_id, start_at, end_at, duration_minutes, first_seen_at, updated_at, user_email, region)
			SELECT g::text, m.machine_id, x.st, x.st + x.d * interval '1 minute', x.d, $1, $1, lower(m.user_email), m.region
			FROM generate_series($2::bigint, $3::bigint) AS g
			CROSS JOIN LATERAL (SELECT $1::timestamptz - g * interval '8.64 seconds' AS st, 5 + (g * 31) % 476 AS d) x
			JOIN machines_latest m ON m.machine_id = (100 + (g * 7919) % 1000)::text`,
			now, lo, min(lo+batch-1, UsageSessions)); err != nil {
			tb.Fatal(err)
		}
	}
	for _, t := range []string{"machine_sessions", "machines_latest", "usage_machine_day", "usage_machine_week", "usage_region_quarter", "usage_user_quarter"} {
		if _, err := s.Pool().Exec(ctx, `VACUUM (ANALYZE) `+t); err != nil {
			tb.Fatal(err)
		}
	}
	tb.Logf("setup: %d sessions of %d machines in %v", UsageSessions, UsageMachines, time.Since(setup).Round(time.Millisecond))
}
