package jobs_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/jobs"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
)

// Two replicas' job clients on one database, sharing a moved clock with the
// simulator: a due schedule runs once, each machine is started once (one
// machine.start row each, as the owner, with params.schedule_id), and the
// run ends succeeded. Run now is executed without waiting for a tick.
func TestScheduleJobs_twoReplicasRunOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := vagonsim.NewManualClock(time.Date(2024, 3, 29, 12, 0, 0, 0, time.UTC))
	sim := vagonsim.New(vagonsim.Options{Key: "k", Secret: "s", Machines: 6, Seed: 5, Clock: clock.Now})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	api, err := vagon.New(srv.URL+vagonsim.BasePath, "k", "s", vagon.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	store := dbtest.Store(t)
	if err := jobs.Migrate(ctx, store); err != nil {
		t.Fatal(err)
	}
	ids := sim.MachineIDs()[:3]
	for _, id := range ids {
		if err := sim.SetStatus(id, vagon.StatusOff); err != nil {
			t.Fatal(err)
		}
	}
	owner, err := store.CreateUser(ctx, "owner@example.com", "operator", "x")
	if err != nil {
		t.Fatal(err)
	}
	actor := fleet.Actor{Email: owner.Email, Role: owner.Role}

	var scheds []*fleet.Scheduler
	for i := range 2 {
		svc := fleet.NewService(api, store, fleet.ServiceOptions{ListTTL: -1, Now: clock.Now})
		s := fleet.NewScheduler(svc, fleet.SchedulerOptions{Now: clock.Now})
		q, err := jobs.New(store, jobs.Config{Scheduler: s, ScheduleTick: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		s.SetQueue(q)
		jctx, cancel := context.WithCancel(ctx)
		if err := q.Start(jctx); err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		t.Cleanup(func() { q.Stop(5 * time.Second); cancel() })
		scheds = append(scheds, s)
	}
	sc, errs, err := scheds[0].Create(ctx, actor, owner.ID, fleet.ScheduleInput{Name: "Morning", Action: "start",
		MachineIDs: ids, Days: fleet.DayNames, At: "12:30", TimeZone: "UTC", Enabled: true}, nil)
	if err != nil || len(errs) > 0 {
		t.Fatalf("create: %v %v", err, errs)
	}
	clock.Advance(31 * time.Minute) // 12:31: the 12:30 run is due

	waitRun := func(trigger string) db.ScheduleRun {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			runs, err := store.ScheduleRuns(ctx, sc.ID, 10)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range runs {
				if r.Trigger == trigger && (r.State == db.RunSucceeded || r.State == db.RunFailed) {
					return r
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("no finished %s run", trigger)
		return db.ScheduleRun{}
	}
	run := waitRun(db.TriggerScheduled)
	if run.State != db.RunSucceeded {
		t.Fatalf("run %+v", run)
	}
	runs, _ := store.ScheduleRuns(ctx, sc.ID, 10)
	if len(runs) != 1 {
		t.Fatalf("%d runs of one due time, want 1", len(runs))
	}
	starts := map[string]int{}
	evs, _, err := store.ListAudit(ctx, db.AuditFilter{Action: fleet.ActMachineStart, Outcome: db.OutcomeStarted, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		var p struct {
			ScheduleID int64 `json:"schedule_id"`
		}
		_ = json.Unmarshal(ev.Params, &p)
		if p.ScheduleID != sc.ID || ev.ActorEmail != owner.Email {
			t.Errorf("start row %+v", ev)
		}
		starts[ev.MachineID]++
	}
	for _, id := range ids {
		if starts[id] != 1 {
			t.Errorf("machine %s started %d times, want 1", id, starts[id])
		}
	}

	// Run now: executed by the job it enqueues (machines now running, so
	// each is skipped as already started).
	if _, err := scheds[1].RunNow(ctx, actor, sc.ID); err != nil {
		t.Fatal(err)
	}
	manual := waitRun(db.TriggerManual)
	items, err := store.ScheduleRunItems(ctx, manual.ID)
	if err != nil || len(items) != len(ids) {
		t.Fatalf("manual run items %v %+v", err, items)
	}
	for _, it := range items {
		if it.State != db.RunItemSkipped {
			t.Errorf("manual run item %+v, want skipped (already running)", it)
		}
	}
}
