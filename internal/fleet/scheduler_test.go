package fleet_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
)

// schedEnv is a simulator and a scheduler sharing one ManualClock, over
// real HTTP and a fresh database, with an operator who owns schedules.
type schedEnv struct {
	clock *vagonsim.ManualClock
	sim   *vagonsim.Sim
	api   *vagon.Client
	dbURL string
	store *db.Store
	svc   *fleet.Service
	owner db.User
	actor fleet.Actor
}

func newSchedEnv(t *testing.T) *schedEnv {
	t.Helper()
	e := &schedEnv{clock: vagonsim.NewManualClock(time.Date(2024, 3, 29, 12, 0, 0, 0, time.UTC))}
	e.sim = vagonsim.New(vagonsim.Options{Key: "k", Secret: "s", Machines: 6, Seed: 5, Clock: e.clock.Now})
	srv := httptest.NewServer(e.sim)
	t.Cleanup(srv.Close)
	api, err := vagon.New(srv.URL+vagonsim.BasePath, "k", "s", vagon.WithClock(e.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	e.api = api
	e.dbURL = dbtest.URL(t)
	e.store = e.open(t)
	e.svc = fleet.NewService(api, e.store, fleet.ServiceOptions{ListTTL: -1, Now: e.clock.Now})
	e.owner, err = e.store.CreateUser(context.Background(), "owner@example.com", "operator", "x")
	if err != nil {
		t.Fatal(err)
	}
	e.actor = fleet.Actor{Email: e.owner.Email, Role: e.owner.Role, RequestID: "req-s"}
	return e
}

func (e *schedEnv) open(t *testing.T) *db.Store {
	t.Helper()
	return dbtest.Open(t, e.dbURL)
}

// scheduler is one replica: its own store and service, the shared clock.
func (e *schedEnv) scheduler(t *testing.T, store *db.Store) *fleet.Scheduler {
	svc := fleet.NewService(e.api, store, fleet.ServiceOptions{ListTTL: -1, Now: e.clock.Now})
	return fleet.NewScheduler(svc, fleet.SchedulerOptions{Now: e.clock.Now})
}

func (e *schedEnv) machines(t *testing.T, from, n int, st vagon.Status) []string {
	t.Helper()
	ids := e.sim.MachineIDs()[from : from+n]
	for _, id := range ids {
		if err := e.sim.SetStatus(id, st); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

func (e *schedEnv) create(t *testing.T, s *fleet.Scheduler, in fleet.ScheduleInput) fleet.Schedule {
	t.Helper()
	sc, errs, err := s.Create(context.Background(), e.actor, e.owner.ID, in, nil)
	if err != nil || len(errs) > 0 {
		t.Fatalf("create: %v %v", err, errs)
	}
	return sc
}

func (e *schedEnv) audit(t *testing.T, action string) []db.AuditEvent {
	t.Helper()
	evs, _, err := e.store.ListAudit(context.Background(), db.AuditFilter{Action: action, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(evs) // oldest first
	return evs
}

func TestScheduler_claimOnceAcrossReplicas(t *testing.T) {
	e := newSchedEnv(t)
	ctx := context.Background()
	a, b := e.scheduler(t, e.open(t)), e.scheduler(t, e.open(t))
	ids := e.machines(t, 0, 1, vagon.StatusOff)
	// 07:30 Berlin every day; the clock is Friday 29 March 13:00 Berlin.
	sc := e.create(t, a, fleet.ScheduleInput{Name: "Mornings", Action: "start", MachineIDs: ids,
		Days: fleet.DayNames, At: "07:30", TimeZone: "Europe/Berlin", Enabled: true})

	if got, err := a.ClaimDue(ctx); err != nil || len(got) != 0 {
		t.Fatalf("before its time: claimed %v, %v", got, err)
	}
	// Sunday 31 March is the spring-forward day: 07:30 CEST is 05:30 UTC.
	e.clock.Set(time.Date(2024, 3, 30, 6, 30, 0, 0, time.UTC)) // Saturday 07:30 CET
	var wg sync.WaitGroup
	var mu sync.Mutex
	var all []int64
	for _, s := range []*fleet.Scheduler{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := s.ClaimDue(ctx)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			all = append(all, got...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(all) != 1 {
		t.Fatalf("claimed %v across replicas, want exactly one run", all)
	}
	runs, _ := e.store.ScheduleRuns(ctx, sc.ID, 10)
	if len(runs) != 1 || !runs[0].DueAt.Equal(time.Date(2024, 3, 30, 6, 30, 0, 0, time.UTC)) {
		t.Fatalf("runs %+v", runs)
	}
	// The next day, across the change, it is due at 07:30 summer time.
	e.clock.Set(time.Date(2024, 3, 31, 5, 29, 0, 0, time.UTC))
	if got, _ := b.ClaimDue(ctx); len(got) != 0 {
		t.Fatalf("claimed %v at 07:29 CEST", got)
	}
	e.clock.Set(time.Date(2024, 3, 31, 5, 31, 0, 0, time.UTC))
	got, _ := b.ClaimDue(ctx)
	r, _ := e.store.ScheduleRun(ctx, got[0])
	if len(got) != 1 || !r.DueAt.Equal(time.Date(2024, 3, 31, 5, 30, 0, 0, time.UTC)) {
		t.Fatalf("claimed %v due %s, want 05:30 UTC (07:30 CEST)", got, r.DueAt.UTC())
	}
}

func TestScheduler_missedRunsAreRecordedNotRun(t *testing.T) {
	e := newSchedEnv(t)
	ctx := context.Background()
	s := e.scheduler(t, e.store)
	ids := e.machines(t, 0, 1, vagon.StatusOff)
	sc := e.create(t, s, fleet.ScheduleInput{Name: "Noon", Action: "start", MachineIDs: ids,
		Days: fleet.DayNames, At: "12:30", TimeZone: "UTC", Enabled: true})
	e.clock.Set(time.Date(2024, 3, 31, 12, 35, 0, 0, time.UTC)) // down since Friday
	got, err := s.ClaimDue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	runs, _ := e.store.ScheduleRuns(ctx, sc.ID, 10)
	if len(got) != 1 || len(runs) != 3 {
		t.Fatalf("claimed %v, runs %d; want today's claimed and two missed", got, len(runs))
	}
	for _, r := range runs[1:] {
		if r.State != db.RunMissed || r.FinishedAt == nil {
			t.Errorf("run due %s: state %s, want missed", r.DueAt, r.State)
		}
	}
	if runs[0].ID != got[0] || runs[0].State != db.RunClaimed {
		t.Errorf("latest run %+v", runs[0])
	}
}

func TestScheduler_executeStartAudited(t *testing.T) {
	e := newSchedEnv(t)
	ctx := context.Background()
	s := e.scheduler(t, e.store)
	off := e.machines(t, 0, 2, vagon.StatusOff)
	ready := e.machines(t, 2, 1, vagon.StatusReady)
	sc := e.create(t, s, fleet.ScheduleInput{Name: "Start", Action: "start", MachineIDs: append(slices.Clone(off), ready...),
		Days: fleet.DayNames, At: "12:30", TimeZone: "UTC", Enabled: true})
	e.clock.Advance(31 * time.Minute)
	got, _ := s.ClaimDue(ctx)
	if len(got) != 1 {
		t.Fatalf("claimed %v", got)
	}
	if err := s.Execute(ctx, got[0]); err != nil {
		t.Fatal(err)
	}
	items, _ := e.store.ScheduleRunItems(ctx, got[0])
	states := map[string]string{}
	for _, it := range items {
		states[it.MachineID] = it.State
	}
	if states[off[0]] != db.RunItemDone || states[off[1]] != db.RunItemDone || states[ready[0]] != db.RunItemSkipped {
		t.Fatalf("items %+v", items)
	}
	for _, id := range off {
		if m, _ := e.sim.Machine(id); m.Attributes.FriendlyStatus != vagon.StatusTurningOn {
			t.Errorf("machine %s is %s, want turning_on", id, m.Attributes.FriendlyStatus)
		}
	}
	run, _ := e.store.ScheduleRun(ctx, got[0])
	if run.State != db.RunSucceeded || run.Message != "2 done, 1 skipped, 0 failed" {
		t.Fatalf("run %s %q", run.State, run.Message)
	}
	starts := e.audit(t, fleet.ActMachineStart)
	if len(starts) != 4 { // started + succeeded per machine
		t.Fatalf("%d machine.start rows, want 4", len(starts))
	}
	for _, ev := range starts {
		var p map[string]any
		_ = json.Unmarshal(ev.Params, &p)
		if ev.ActorEmail != e.owner.Email || ev.ActorRole != "operator" || p["schedule_id"] != float64(sc.ID) || p["schedule_run_id"] != float64(got[0]) {
			t.Errorf("machine.start row: actor %s/%s params %s", ev.ActorEmail, ev.ActorRole, ev.Params)
		}
	}
	runsAudit := e.audit(t, fleet.ActScheduleRun)
	if len(runsAudit) != 2 || runsAudit[0].Outcome != db.OutcomeStarted || runsAudit[1].Outcome != db.OutcomeSucceeded {
		t.Fatalf("schedule.run rows %+v", runsAudit)
	}
	var p map[string]any
	_ = json.Unmarshal(runsAudit[1].Params, &p)
	if p["done"] != float64(2) || p["skipped"] != float64(1) || p["trigger"] != "scheduled" {
		t.Errorf("schedule.run outcome params %s", runsAudit[1].Params)
	}
	// Executing again is a no-op: no second call.
	if err := s.Execute(ctx, got[0]); err != nil {
		t.Fatal(err)
	}
	if n := len(e.audit(t, fleet.ActMachineStart)); n != 4 {
		t.Fatalf("a second Execute wrote machine.start rows: %d", n)
	}
}

func TestScheduler_stopSkipsActiveSessions(t *testing.T) {
	for _, skip := range []bool{true, false} {
		t.Run(map[bool]string{true: "skip on", false: "skip off"}[skip], func(t *testing.T) {
			e := newSchedEnv(t)
			ctx := context.Background()
			s := e.scheduler(t, e.store)
			ready := e.machines(t, 0, 1, vagon.StatusReady) // the simulator opens a session
			off := e.machines(t, 1, 1, vagon.StatusOff)
			e.create(t, s, fleet.ScheduleInput{Name: "Evening", Action: "stop", Gracefully: true, SkipActiveSessions: skip,
				MachineIDs: append(slices.Clone(ready), off...), Days: fleet.DayNames, At: "12:30", TimeZone: "UTC", Enabled: true})
			e.clock.Advance(31 * time.Minute)
			got, _ := s.ClaimDue(ctx)
			if err := s.Execute(ctx, got[0]); err != nil {
				t.Fatal(err)
			}
			items, _ := e.store.ScheduleRunItems(ctx, got[0])
			byID := map[string]db.ScheduleRunItem{}
			for _, it := range items {
				byID[it.MachineID] = it
			}
			m, _ := e.sim.Machine(ready[0])
			if skip {
				if it := byID[ready[0]]; it.State != db.RunItemSkipped || it.Message == "" {
					t.Fatalf("running machine item %+v, want skipped with a reason", it)
				}
				if m.Attributes.FriendlyStatus != vagon.StatusReady {
					t.Fatalf("machine was stopped: %s", m.Attributes.FriendlyStatus)
				}
			} else {
				if it := byID[ready[0]]; it.State != db.RunItemDone {
					t.Fatalf("running machine item %+v, want done", it)
				}
				if m.Attributes.FriendlyStatus != vagon.StatusGracefulStopping {
					t.Fatalf("machine is %s, want graceful_stopping", m.Attributes.FriendlyStatus)
				}
				stops := e.audit(t, fleet.ActMachineStop)
				var p map[string]any
				_ = json.Unmarshal(stops[len(stops)-1].Params, &p)
				if p["gracefully"] != true || p["schedule_id"] == nil {
					t.Errorf("machine.stop params %s", stops[len(stops)-1].Params)
				}
			}
			if it := byID[off[0]]; it.State != db.RunItemSkipped {
				t.Fatalf("off machine item %+v, want skipped", it)
			}
		})
	}
}

func TestScheduler_retrySettlesStartedItemsByState(t *testing.T) {
	e := newSchedEnv(t)
	ctx := context.Background()
	var calls int
	var mu sync.Mutex
	power := fleet.ServicePower(e.svc)
	crash := errors.New("crash")
	// The first attempt "crashes" right after its first call reached Vagon.
	s := fleet.NewScheduler(e.svc, fleet.SchedulerOptions{Now: e.clock.Now, Lease: time.Minute, Concurrency: 1,
		Power: func(ctx context.Context, a fleet.Actor, r fleet.PowerRequest) (*fleet.ActionResult, error) {
			mu.Lock()
			calls++
			n := calls
			mu.Unlock()
			res, err := power(ctx, a, r)
			if err != nil {
				return res, err
			}
			if n == 1 {
				panic(crash)
			}
			return res, nil
		}})
	ids := e.machines(t, 0, 2, vagon.StatusOff)
	e.create(t, s, fleet.ScheduleInput{Name: "Start", Action: "start", MachineIDs: ids,
		Days: fleet.DayNames, At: "12:30", TimeZone: "UTC", Enabled: true})
	e.clock.Advance(31 * time.Minute)
	got, _ := s.ClaimDue(ctx)
	func() {
		defer func() {
			if r := recover(); r != crash {
				t.Fatalf("recovered %v", r)
			}
		}()
		_ = s.Execute(ctx, got[0])
	}()
	items, _ := e.store.ScheduleRunItems(ctx, got[0])
	if len(items) != 1 || items[0].State != db.RunItemStarted {
		t.Fatalf("after the crash: %+v", items)
	}
	// Another replica, before the lease expires, may not take it.
	other := e.scheduler(t, e.open(t))
	if err := other.Execute(ctx, got[0]); !errors.Is(err, fleet.ErrRunBusy) {
		t.Fatalf("execute under lease: %v", err)
	}
	e.clock.Advance(2 * time.Minute)
	if err := other.Execute(ctx, got[0]); err != nil {
		t.Fatal(err)
	}
	items, _ = e.store.ScheduleRunItems(ctx, got[0])
	for _, it := range items {
		if it.State != db.RunItemDone {
			t.Errorf("item %s: %s %q", it.MachineID, it.State, it.Message)
		}
	}
	if calls != 1 {
		t.Errorf("the crashing scheduler made %d calls", calls)
	}
	// The settled machine got one start call in all: two rows (started and
	// succeeded) from the first attempt; the other machine two from the retry.
	if n := len(e.audit(t, fleet.ActMachineStart)); n != 4 {
		t.Errorf("%d machine.start rows, want 4 (no second call for the settled machine)", n)
	}
}

func TestScheduler_retryLeavesUnsettledUnknown(t *testing.T) {
	e := newSchedEnv(t)
	ctx := context.Background()
	s := e.scheduler(t, e.store)
	ids := e.machines(t, 0, 1, vagon.StatusOff)
	sc := e.create(t, s, fleet.ScheduleInput{Name: "Start", Action: "start", MachineIDs: ids,
		Days: fleet.DayNames, At: "12:30", TimeZone: "UTC", Enabled: true})
	e.clock.Advance(31 * time.Minute)
	got, _ := s.ClaimDue(ctx)
	// A crash between writing the item and the call: the machine is still off.
	if _, err := e.store.InsertScheduleRunItem(ctx, db.ScheduleRunItem{RunID: got[0], MachineID: ids[0], State: db.RunItemStarted, UpdatedAt: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := s.Execute(ctx, got[0]); err != nil {
		t.Fatal(err)
	}
	items, _ := e.store.ScheduleRunItems(ctx, got[0])
	if items[0].State != db.RunItemUnknown {
		t.Fatalf("item %+v, want unknown", items[0])
	}
	if m, _ := e.sim.Machine(ids[0]); m.Attributes.FriendlyStatus != vagon.StatusOff {
		t.Fatalf("the machine was started blindly: %s", m.Attributes.FriendlyStatus)
	}
	run, _ := e.store.ScheduleRun(ctx, got[0])
	if run.State != db.RunFailed {
		t.Fatalf("run %s", run.State)
	}
	_ = sc
}

func TestScheduler_runNowOnceUnderDoubleClick(t *testing.T) {
	e := newSchedEnv(t)
	ctx := context.Background()
	s := e.scheduler(t, e.store)
	ids := e.machines(t, 0, 1, vagon.StatusOff)
	sc := e.create(t, s, fleet.ScheduleInput{Name: "Start", Action: "start", MachineIDs: ids,
		Days: []string{"mon"}, At: "07:00", TimeZone: "UTC", Enabled: false})
	first, err := s.RunNow(ctx, e.actor, sc.ID)
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.RunNow(ctx, e.actor, sc.ID)
	if !errors.Is(err, fleet.ErrRunInProgress) || second != first {
		t.Fatalf("second click: %d %v, want %d ErrRunInProgress", second, err, first)
	}
	if err := s.Execute(ctx, first); err != nil {
		t.Fatal(err)
	}
	r, _ := e.store.ScheduleRun(ctx, first)
	if r.Trigger != db.TriggerManual || r.State != db.RunSucceeded {
		t.Fatalf("run %+v", r)
	}
	e.clock.Advance(time.Second)
	if third, err := s.RunNow(ctx, e.actor, sc.ID); err != nil || third == first {
		t.Fatalf("after the run finished: %d %v", third, err)
	}
}

func TestScheduler_updateRefusesStaleVersion(t *testing.T) {
	e := newSchedEnv(t)
	ctx := context.Background()
	s := e.scheduler(t, e.store)
	in := fleet.ScheduleInput{Name: "A", Action: "start", MachineIDs: []string{"101"}, Days: []string{"mon"}, At: "07:00", TimeZone: "UTC", Enabled: true}
	sc := e.create(t, s, in)
	in.Version, in.Name = sc.Version, "B"
	if _, errs, err := s.Update(ctx, e.actor, sc.ID, in, nil); err != nil || len(errs) > 0 {
		t.Fatal(err, errs)
	}
	in.Name = "C" // same old version: a second tab
	if _, _, err := s.Update(ctx, e.actor, sc.ID, in, nil); !errors.Is(err, fleet.ErrScheduleStale) {
		t.Fatalf("stale update: %v", err)
	}
	cur, _ := e.store.Schedule(ctx, sc.ID)
	if cur.Name != "B" || cur.Version != 2 {
		t.Fatalf("schedule %q v%d", cur.Name, cur.Version)
	}
	if n := len(e.audit(t, fleet.ActScheduleUpdate)); n != 2 {
		t.Fatalf("%d schedule.update rows, want 2 (one update)", n)
	}
}

func TestScheduler_savedFilterEvaluatedAtRun(t *testing.T) {
	e := newSchedEnv(t)
	ctx := context.Background()
	s := e.scheduler(t, e.store)
	for _, id := range e.sim.MachineIDs() {
		_ = e.sim.SetStatus(id, vagon.StatusReady)
	}
	off := e.machines(t, 0, 2, vagon.StatusOff)
	v, err := e.store.CreateSavedView(ctx, e.owner.ID, "Off ones", "status=off")
	if err != nil {
		t.Fatal(err)
	}
	sc, errs, err := s.Create(ctx, e.actor, e.owner.ID, fleet.ScheduleInput{Name: "F", Action: "start", SavedViewID: "x",
		Days: fleet.DayNames, At: "12:30", TimeZone: "UTC", Enabled: true}, &v)
	if err != nil || len(errs) > 0 {
		t.Fatal(err, errs)
	}
	if sc.FilterQuery != "status=off" || len(sc.MachineIDs) != 0 {
		t.Fatalf("schedule %+v", sc)
	}
	e.clock.Advance(31 * time.Minute)
	got, _ := s.ClaimDue(ctx)
	if err := s.Execute(ctx, got[0]); err != nil {
		t.Fatal(err)
	}
	r, _ := e.store.ScheduleRun(ctx, got[0])
	slices.Sort(r.MachineIDs)
	want := slices.Clone(off)
	slices.Sort(want)
	if !slices.Equal(r.MachineIDs, want) || r.State != db.RunSucceeded {
		t.Fatalf("run targets %v state %s, want %v", r.MachineIDs, r.State, want)
	}
}
