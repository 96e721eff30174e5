package fleet_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
)

// An Execute that returns mid-run with an error releases its lease: a
// retry goes on at once (no ErrRunBusy wait), on the same clock, and each
// machine is called once.
func TestScheduler_errorMidRunRetriedAtOnce(t *testing.T) {
	e := newSchedEnv(t)
	ctx := context.Background()
	ids := e.machines(t, 0, 3, vagon.StatusOff)
	power := fleet.ServicePower(e.svc)
	runCtx, cancel := context.WithCancel(ctx)
	s := fleet.NewScheduler(e.svc, fleet.SchedulerOptions{Now: e.clock.Now, Concurrency: 1,
		Power: func(ctx context.Context, a fleet.Actor, r fleet.PowerRequest) (*fleet.ActionResult, error) {
			res, err := power(ctx, a, r)
			cancel() // the job's context ends after the first call (a timeout)
			return res, err
		}})
	e.create(t, s, fleet.ScheduleInput{Name: "Start", Action: "start", MachineIDs: ids,
		Days: fleet.DayNames, At: "12:30", TimeZone: "UTC", Enabled: true})
	e.clock.Advance(31 * time.Minute)
	got, _ := s.ClaimDue(ctx)
	if len(got) != 1 {
		t.Fatalf("claimed %v", got)
	}
	if err := s.Execute(runCtx, got[0]); !errors.Is(err, context.Canceled) {
		t.Fatalf("first attempt: %v, want context.Canceled", err)
	}
	if r, _ := e.store.ScheduleRun(ctx, got[0]); r.Finished() || r.LeaseUntil != nil {
		t.Fatalf("after the first attempt: finished %v lease %v, want unfinished and released", r.FinishedAt, r.LeaseUntil)
	}
	other := e.scheduler(t, e.open(t))
	if err := other.Execute(ctx, got[0]); err != nil {
		t.Fatalf("retry at once: %v", err)
	}
	r, _ := e.store.ScheduleRun(ctx, got[0])
	if r.State != db.RunSucceeded {
		t.Fatalf("run %s %q", r.State, r.Message)
	}
	if n := e.sim.AuthCount("POST /machines/{id}/start"); n != len(ids) {
		t.Fatalf("%d start calls, want %d", n, len(ids))
	}
}

// Cancelling a run while a call is in flight: that call finishes, the
// machines not begun are skipped and never called, Execute returns
// ErrRunCancelled, and only the cancel's outcome row is written.
func TestScheduler_cancelRunInFlight(t *testing.T) {
	e := newSchedEnv(t)
	ctx := context.Background()
	ids := e.machines(t, 0, 4, vagon.StatusOff)
	power := fleet.ServicePower(e.svc)
	var s *fleet.Scheduler
	admin := fleet.Actor{Email: "admin@example.com", Role: "admin"}
	var runID int64
	s = fleet.NewScheduler(e.svc, fleet.SchedulerOptions{Now: e.clock.Now, Concurrency: 1,
		Power: func(ctx context.Context, a fleet.Actor, r fleet.PowerRequest) (*fleet.ActionResult, error) {
			if err := s.CancelRun(ctx, admin, runID); err != nil {
				t.Errorf("cancel in flight: %v", err)
			}
			return power(ctx, a, r)
		}})
	e.create(t, s, fleet.ScheduleInput{Name: "Start", Action: "start", MachineIDs: ids,
		Days: fleet.DayNames, At: "12:30", TimeZone: "UTC", Enabled: true})
	e.clock.Advance(31 * time.Minute)
	got, _ := s.ClaimDue(ctx)
	runID = got[0]
	if err := s.Execute(ctx, runID); !errors.Is(err, fleet.ErrRunCancelled) {
		t.Fatalf("execute: %v, want ErrRunCancelled", err)
	}
	items, _ := e.store.ScheduleRunItems(ctx, runID)
	c := fleet.CountRunItems(items)
	if c.Total != 4 || c.Done != 1 || c.Skipped != 3 {
		t.Fatalf("items %+v", items)
	}
	for _, it := range items {
		if it.State == db.RunItemSkipped && !strings.Contains(it.Message, "cancelled by admin@example.com") {
			t.Errorf("skipped item %+v", it)
		}
	}
	if n := e.sim.AuthCount("POST /machines/{id}/start"); n != 1 {
		t.Fatalf("%d start calls, want 1", n)
	}
	r, _ := e.store.ScheduleRun(ctx, runID)
	if r.State != db.RunFailed || !strings.HasPrefix(r.Message, "Cancelled by admin@example.com.") {
		t.Fatalf("run %s %q", r.State, r.Message)
	}
	var outcomes []db.AuditEvent
	for _, ev := range e.audit(t, fleet.ActScheduleRun) {
		if ev.Outcome != db.OutcomeStarted {
			outcomes = append(outcomes, ev)
		}
	}
	if len(outcomes) != 1 || outcomes[0].ActorEmail != admin.Email || outcomes[0].Outcome != db.OutcomeFailed {
		t.Fatalf("outcome rows %+v", outcomes)
	}
	if err := s.CancelRun(ctx, admin, runID); !errors.Is(err, fleet.ErrRunFinished) {
		t.Fatalf("second cancel: %v", err)
	}
	if err := s.Execute(ctx, runID); err != nil {
		t.Fatalf("execute after: %v", err)
	}
}

// Saving a schedule in the minute of an occurrence the tick has not yet
// claimed records that occurrence as not run, with why; it is not
// dropped silently, and not run with the new settings.
func TestScheduler_editAtItsTimeRecordsNotRun(t *testing.T) {
	e := newSchedEnv(t)
	ctx := context.Background()
	s := e.scheduler(t, e.store)
	ids := e.machines(t, 0, 1, vagon.StatusOff)
	sc := e.create(t, s, fleet.ScheduleInput{Name: "Noon", Action: "start", MachineIDs: ids,
		Days: fleet.DayNames, At: "12:30", TimeZone: "UTC", Enabled: true})
	e.clock.Set(time.Date(2024, 3, 29, 12, 30, 5, 0, time.UTC))
	in := fleet.ScheduleInput{Name: "Noon", Action: "stop", MachineIDs: ids, Days: fleet.DayNames, At: "12:30",
		TimeZone: "UTC", Enabled: true, Version: sc.Version}
	if _, errs, err := s.Update(ctx, e.actor, sc.ID, in, nil); err != nil || len(errs) > 0 {
		t.Fatalf("update: %v %v", err, errs)
	}
	if got, err := s.ClaimDue(ctx); err != nil || len(got) != 0 {
		t.Fatalf("claimed %v %v after the edit", got, err)
	}
	runs, _ := e.store.ScheduleRuns(ctx, sc.ID, 10)
	if len(runs) != 1 || runs[0].State != db.RunMissed || !runs[0].DueAt.Equal(time.Date(2024, 3, 29, 12, 30, 0, 0, time.UTC)) ||
		!strings.Contains(runs[0].Message, "edited at 12:30:05") {
		t.Fatalf("runs %+v", runs)
	}
	// The next day's occurrence runs by the edited settings.
	e.clock.Set(time.Date(2024, 3, 30, 12, 31, 0, 0, time.UTC))
	if got, _ := s.ClaimDue(ctx); len(got) != 1 {
		t.Fatalf("next day: claimed %v", got)
	}
	if e.sim.AuthCount("POST /machines/{id}/start") != 0 {
		t.Fatal("the old version was run")
	}
}

// ClaimDue on a clock moved in 5-minute steps over three days around each
// of Berlin's changes claims exactly one run per day per schedule, at the
// instant the DST rule gives: a 02:30 in the spring gap runs at 03:00
// CEST, a 02:30 in the autumn overlap at its first occurrence (CEST).
func TestScheduler_claimDueAcrossDST(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		from  time.Time // local midnight of the first day
		early []time.Time
		late  []time.Time
	}{
		{"spring forward", time.Date(2024, 3, 30, 0, 0, 0, 0, berlin),
			[]time.Time{utc(2024, 3, 30, 1, 30), utc(2024, 3, 31, 1, 0), utc(2024, 4, 1, 0, 30)},
			[]time.Time{utc(2024, 3, 30, 6, 30), utc(2024, 3, 31, 5, 30), utc(2024, 4, 1, 5, 30)}},
		{"fall back", time.Date(2024, 10, 26, 0, 0, 0, 0, berlin),
			[]time.Time{utc(2024, 10, 26, 0, 30), utc(2024, 10, 27, 0, 30), utc(2024, 10, 28, 1, 30)},
			[]time.Time{utc(2024, 10, 26, 5, 30), utc(2024, 10, 27, 6, 30), utc(2024, 10, 28, 6, 30)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newSchedEnv(t)
			ctx := context.Background()
			e.clock.Set(tc.from.Add(-time.Hour))
			s := e.scheduler(t, e.store)
			ids := e.machines(t, 0, 1, vagon.StatusOff)
			early := e.create(t, s, fleet.ScheduleInput{Name: "Night", Action: "start", MachineIDs: ids,
				Days: fleet.DayNames, At: "02:30", TimeZone: "Europe/Berlin", Enabled: true})
			late := e.create(t, s, fleet.ScheduleInput{Name: "Morning", Action: "start", MachineIDs: ids,
				Days: fleet.DayNames, At: "07:30", TimeZone: "Europe/Berlin", Enabled: true})
			claimedAt := map[int64]time.Time{}
			for now := tc.from; now.Before(tc.from.Add(72 * time.Hour)); now = now.Add(5 * time.Minute) {
				e.clock.Set(now)
				got, err := s.ClaimDue(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, id := range got {
					claimedAt[id] = now
				}
			}
			for _, c := range []struct {
				sc   fleet.Schedule
				want []time.Time
			}{{early, tc.early}, {late, tc.late}} {
				runs, _ := e.store.ScheduleRuns(ctx, c.sc.ID, 10)
				if len(runs) != len(c.want) {
					t.Fatalf("%s: %d runs, want %d", c.sc.Name, len(runs), len(c.want))
				}
				for i, r := range runs {
					want := c.want[len(c.want)-1-i] // newest first
					if !r.DueAt.Equal(want) || r.State != db.RunClaimed {
						t.Errorf("%s run %d: due %s %s, want %s claimed", c.sc.Name, i, r.DueAt.UTC(), r.State, want)
					}
					if at, ok := claimedAt[r.ID]; !ok || at.Before(want) || at.Sub(want) >= 5*time.Minute {
						t.Errorf("%s run due %s claimed at %s", c.sc.Name, want, at.UTC())
					}
				}
			}
		})
	}
}

func utc(y int, m time.Month, d, hh, mm int) time.Time {
	return time.Date(y, m, d, hh, mm, 0, 0, time.UTC)
}
