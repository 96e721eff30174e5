package fleet

import (
	"context"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
)

// BurnWindowDays is how many days of snapshots the run-out projection
// averages the burn over; TrendDays is how many the trend shows.
const (
	BurnWindowDays = 14
	TrendDays      = 30
)

// snapshotOrgUsage reads GET /usage and records today's snapshot. It runs at
// the end of every sync pass; a failure is logged and never fails the pass:
// the sessions are the pass's job, the balance trend is a bonus.
func (s *Syncer) snapshotOrgUsage(ctx context.Context) {
	u, err := s.api.GetUsage(ctx)
	if err != nil {
		s.o.Log.Warn("sessions sync: organization usage", "err", err)
		return
	}
	if err := s.store.UpsertOrgUsageSnapshot(ctx, s.o.Now(), u.Minutes, u.MachineType); err != nil {
		s.o.Log.Warn("sessions sync: organization usage snapshot", "err", err)
	}
}

// Run-out projection states.
const (
	RunOutNotEnoughData = "not_enough_data" // fewer than 2 snapshots in the window
	RunOutNotDecreasing = "not_decreasing"  // the burn is zero or negative
	RunOutProjected     = "projected"       // At is the projected run-out time
)

// RunOut is the projected date the organization usage runs out.
type RunOut struct {
	State string
	// BurnPerDay is the average decrease in minutes a day over the window
	// (set when the window has 2 snapshots or more).
	BurnPerDay float64
	// At is when the usage reaches zero at that burn, from the newest
	// snapshot (RunOutProjected only; the newest snapshot's time when the
	// usage is already zero).
	At time.Time
	// Snapshots is how many snapshots the window held.
	Snapshots int
}

// ProjectRunOut projects the run-out from snaps (oldest first, one a day):
// the snapshots of the BurnWindowDays days up to now's UTC day are
// averaged as (oldest - newest) / days between them, so a missing day
// (no sync that day) spreads the decrease over the gap instead of doubling
// it.
func ProjectRunOut(snaps []db.OrgUsageSnapshot, now time.Time) RunOut {
	now = now.UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	from := today.AddDate(0, 0, -(BurnWindowDays - 1))
	var win []db.OrgUsageSnapshot
	for _, sn := range snaps {
		if d := sn.Day.UTC(); !d.Before(from) && !d.After(today) {
			win = append(win, sn)
		}
	}
	r := RunOut{State: RunOutNotEnoughData, Snapshots: len(win)}
	if len(win) < 2 {
		return r
	}
	first, last := win[0], win[len(win)-1]
	days := last.Day.Sub(first.Day).Hours() / 24
	if days <= 0 {
		return r
	}
	r.BurnPerDay = float64(first.UsageMinutes-last.UsageMinutes) / days
	if r.BurnPerDay <= 0 {
		r.State = RunOutNotDecreasing
		return r
	}
	r.State = RunOutProjected
	left := max(0, last.UsageMinutes)
	r.At = last.TakenAt.Add(time.Duration(float64(left) / r.BurnPerDay * float64(24*time.Hour)))
	return r
}
