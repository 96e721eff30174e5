package fleet_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
)

func TestProjectRunOut(t *testing.T) {
	now := time.Date(2026, 5, 20, 15, 0, 0, 0, time.UTC)
	today := time.Date(2026, 5, 20, 0, 0, 0, 0, time.UTC)
	// snap is the snapshot daysAgo days before today, taken at noon.
	snap := func(daysAgo int, minutes int64) db.OrgUsageSnapshot {
		d := today.AddDate(0, 0, -daysAgo)
		return db.OrgUsageSnapshot{Day: d, TakenAt: d.Add(12 * time.Hour), UsageMinutes: minutes}
	}
	steady := func(days int, start, perDay int64) []db.OrgUsageSnapshot {
		var out []db.OrgUsageSnapshot
		for i := days - 1; i >= 0; i-- {
			out = append(out, snap(i, start-perDay*int64(days-1-i)))
		}
		return out
	}
	noonToday := today.Add(12 * time.Hour)
	tests := []struct {
		name      string
		snaps     []db.OrgUsageSnapshot
		state     string
		burn      float64
		at        time.Time
		snapshots int
	}{
		{name: "none", state: fleet.RunOutNotEnoughData},
		{name: "one snapshot", snaps: []db.OrgUsageSnapshot{snap(0, 5000)}, state: fleet.RunOutNotEnoughData, snapshots: 1},
		{name: "steady burn", snaps: steady(14, 10000, 600), state: fleet.RunOutProjected, burn: 600,
			// 10000 - 13*600 = 2200 left at noon today: 2200/600 days later.
			at: noonToday.Add(time.Duration(2200.0 / 600 * float64(24*time.Hour))), snapshots: 14},
		{name: "no burn", snaps: steady(5, 3000, 0), state: fleet.RunOutNotDecreasing, snapshots: 5},
		{name: "increasing (top-up)", snaps: []db.OrgUsageSnapshot{snap(3, 1000), snap(0, 4000)}, state: fleet.RunOutNotDecreasing, burn: -1000, snapshots: 2},
		{name: "gap days spread the decrease",
			// 1440 minutes gone over 4 days (days 3..1 missing): 360 a day.
			snaps: []db.OrgUsageSnapshot{snap(4, 3600), snap(0, 2160)}, state: fleet.RunOutProjected, burn: 360,
			at: noonToday.Add(6 * 24 * time.Hour), snapshots: 2},
		{name: "older than the window is ignored",
			snaps: []db.OrgUsageSnapshot{snap(20, 90000), snap(13, 1300), snap(0, 0)}, state: fleet.RunOutProjected, burn: 100,
			at: noonToday, snapshots: 2},
		{name: "only old snapshots", snaps: []db.OrgUsageSnapshot{snap(30, 900), snap(20, 100)}, state: fleet.RunOutNotEnoughData},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := fleet.ProjectRunOut(tt.snaps, now)
			if r.State != tt.state || math.Abs(r.BurnPerDay-tt.burn) > 1e-9 || r.Snapshots != tt.snapshots {
				t.Fatalf("ProjectRunOut = %+v, want state %s burn %v snapshots %d", r, tt.state, tt.burn, tt.snapshots)
			}
			if d := r.At.Sub(tt.at); d > time.Second || d < -time.Second {
				t.Fatalf("At = %v, want %v", r.At, tt.at)
			}
		})
	}
}

// TestSyncer_snapshotsOrgUsage: a pass records today's usage; a failing
// GET /usage is logged and the pass still succeeds.
func TestSyncer_snapshotsOrgUsage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newSyncEnv(t, 3, nil)
	e.sim.SetUsageMinutes(4321)
	s := e.syncer(e.store, fleet.SyncOptions{})
	if _, err := s.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	day := syncStart.Truncate(24 * time.Hour)
	got, err := e.store.OrgUsageSnapshots(ctx, day, day)
	if err != nil {
		t.Fatal(err)
	}
	want := e.sim.UsageMinutes()
	if len(got) != 1 || got[0].UsageMinutes != want || got[0].MachineType != vagonsim.DefaultUsageMachineType {
		t.Fatalf("snapshots %+v, want one of %d minutes", got, want)
	}

	e.sim.SetUsageMinutes(1)
	e.sim.Enqueue("GET /usage", 5, vagonsim.APIError(4710, "Permission required"))
	res, err := s.RunOnce(ctx)
	if err != nil || res.Status != db.PassSucceeded {
		t.Fatalf("pass with GET /usage failing = %+v, %v; want it to succeed", res, err)
	}
	got, err = e.store.OrgUsageSnapshots(ctx, day, day)
	if err != nil || len(got) != 1 || got[0].UsageMinutes != want {
		t.Fatalf("after a failed read: %+v, %v; want the earlier snapshot kept", got, err)
	}
}
