package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
)

func TestOrgUsageSnapshots_onePerDayLatestWins(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)
	day1 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Time, h int) time.Time { return d.Add(time.Duration(h) * time.Hour) }
	day2, day3 := day1.AddDate(0, 0, 1), day1.AddDate(0, 0, 2)
	for _, r := range []struct {
		at  time.Time
		min int64
	}{
		{at(day1, 1), 1000},
		{at(day1, 23), 900}, // later the same day: replaces
		{at(day1, 5), 950},  // older than the stored reading: ignored
		{at(day2, 12), 800},
		// 23:30 at UTC-2 is 01:30 UTC of day 3: it counts for day 3.
		{time.Date(2026, 3, 2, 23, 30, 0, 0, time.FixedZone("x", -2*3600)), 700},
	} {
		if err := s.UpsertOrgUsageSnapshot(ctx, r.at, r.min, "Planet"); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.OrgUsageSnapshots(ctx, day1, day3)
	if err != nil {
		t.Fatal(err)
	}
	want := []db.OrgUsageSnapshot{
		{Day: day1, TakenAt: at(day1, 23), UsageMinutes: 900, MachineType: "Planet"},
		{Day: day2, TakenAt: at(day2, 12), UsageMinutes: 800, MachineType: "Planet"},
		{Day: day3, TakenAt: at(day3, 1).Add(30 * time.Minute), UsageMinutes: 700, MachineType: "Planet"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d snapshots %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		g := got[i]
		if !g.Day.Equal(want[i].Day) || !g.TakenAt.Equal(want[i].TakenAt) || g.UsageMinutes != want[i].UsageMinutes || g.MachineType != want[i].MachineType {
			t.Errorf("snapshot %d = %+v, want %+v", i, g, want[i])
		}
	}
	only, err := s.OrgUsageSnapshots(ctx, day2, day2)
	if err != nil || len(only) != 1 || only[0].UsageMinutes != 800 {
		t.Fatalf("range of one day: %+v, %v", only, err)
	}
}
