package jobs_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/jobs"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
)

// runJobs lists the schedule_run jobs of run id.
func runJobs(t *testing.T, q *jobs.Jobs, runID int64) []*rivertype.JobRow {
	t.Helper()
	res, err := q.Client().JobList(context.Background(), river.NewJobListParams().Kinds(jobs.KindScheduleRun).
		Where("(args->>'run_id')::bigint = @id", river.NamedArgs{"id": runID}))
	if err != nil {
		t.Fatal(err)
	}
	return res.Jobs
}

// lastTickID is the id of the newest finished schedule tick job.
func lastTickID(t *testing.T, q *jobs.Jobs) int64 {
	t.Helper()
	res, err := q.Client().JobList(context.Background(), river.NewJobListParams().Kinds(jobs.KindScheduleTick).
		States(rivertype.JobStateCompleted).OrderBy(river.JobListOrderByID, river.SortOrderDesc).First(1))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Jobs) == 0 {
		return 0
	}
	return res.Jobs[0].ID
}

// Cancelling a running bulk operation's job from the jobs page cancels the
// operation: the worker skips what was pending, lets the call in flight
// finish, closes the operation and ends the job cancelled. Nothing stays
// running.
func TestAdmin_cancelRunningBulkOp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, sim, api := newEnv(t)
	ids := sim.MachineIDs()
	for _, id := range ids {
		_ = sim.SetStatus(id, vagon.StatusReady)
	}
	sim.SetLatency(300*time.Millisecond, 300*time.Millisecond)
	b := fleet.NewBulk(fleet.NewService(api, store, fleet.ServiceOptions{}), fleet.BulkOptions{Concurrency: 1})
	q, err := jobs.New(store, jobs.Config{Bulk: b, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	b.SetQueue(q)
	admin := jobs.NewAdmin(q.Client()).WithBulk(b)
	id, err := b.Submit(ctx, fleet.Actor{Email: "op@example.com", Role: "operator"}, fleet.BulkStop, ids, fleet.BulkParams{})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Stop(10 * time.Second) })
	dbtest.Eventually(t, "a machine done", func() bool { st, _ := b.Get(ctx, id); return st.Counts.Done >= 1 })
	res, err := q.Client().JobList(ctx, river.NewJobListParams().Kinds(jobs.KindBulk))
	if err != nil || len(res.Jobs) != 1 {
		t.Fatalf("bulk jobs %v %v", res, err)
	}
	jobID := res.Jobs[0].ID
	if _, err := admin.Cancel(ctx, adminActor, jobID); err != nil {
		t.Fatal(err)
	}
	var st *fleet.BulkStatus
	dbtest.Eventually(t, "the operation closed", func() bool { st, _ = b.Get(ctx, id); return st.Op.Finished() })
	if !st.Op.Cancelled() || *st.Op.CancelledBy != adminActor.Email || st.Counts.Running != 0 || st.Counts.Pending != 0 {
		t.Fatalf("after cancel: %+v cancelled by %v, counts %+v", st.Op.Status, st.Op.CancelledBy, st.Counts)
	}
	if st.Counts.Skipped == 0 || st.Counts.Done+st.Counts.Skipped+st.Counts.Failed != len(ids) {
		t.Fatalf("counts %+v, want the pending machines skipped", st.Counts)
	}
	for _, it := range st.Items {
		if it.State == db.ItemSkipped && !strings.Contains(it.Message, "Cancelled by "+adminActor.Email) {
			t.Errorf("skipped item %+v", it)
		}
	}
	if n := sim.AuthCount("POST /machines/{id}/stop"); n != st.Counts.Done+st.Counts.Failed {
		t.Errorf("%d stop calls, %d machines done or failed", n, st.Counts.Done+st.Counts.Failed)
	}
	dbtest.Eventually(t, "the job cancelled", func() bool {
		j, err := q.Client().JobGet(ctx, jobID)
		return err == nil && j.State == rivertype.JobStateCancelled
	})
}

// scheduleEnv is a job client with a scheduler over the simulator.
type scheduleEnv struct {
	store *db.Store
	sim   *vagonsim.Sim
	svc   *fleet.Service
	sched *fleet.Scheduler
	q     *jobs.Jobs
	owner db.User
	actor fleet.Actor
}

func newScheduleEnv(t *testing.T, machines int, rescue time.Duration, power func(fleet.PowerAction) fleet.PowerAction) *scheduleEnv {
	t.Helper()
	ctx := context.Background()
	e := &scheduleEnv{}
	e.sim = vagonsim.New(vagonsim.Options{Key: "k", Secret: "s", Machines: machines, Seed: 9})
	srv := httptest.NewServer(e.sim)
	t.Cleanup(srv.Close)
	api, err := vagon.New(srv.URL+vagonsim.BasePath, "k", "s")
	if err != nil {
		t.Fatal(err)
	}
	e.store = dbtest.Store(t)
	if err := jobs.Migrate(ctx, e.store); err != nil {
		t.Fatal(err)
	}
	for _, id := range e.sim.MachineIDs() {
		_ = e.sim.SetStatus(id, vagon.StatusOff)
	}
	e.owner, err = e.store.CreateUser(ctx, "owner@example.com", "operator", "x")
	if err != nil {
		t.Fatal(err)
	}
	e.actor = fleet.Actor{Email: e.owner.Email, Role: e.owner.Role}
	e.svc = fleet.NewService(api, e.store, fleet.ServiceOptions{ListTTL: -1})
	o := fleet.SchedulerOptions{}
	if power != nil {
		o.Power = power(fleet.ServicePower(e.svc))
	}
	e.sched = fleet.NewScheduler(e.svc, o)
	e.q, err = jobs.New(e.store, jobs.Config{Scheduler: e.sched, ScheduleTick: 300 * time.Millisecond,
		RescueAfter: rescue, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e.sched.SetQueue(e.q)
	return e
}

func (e *scheduleEnv) start(t *testing.T) {
	t.Helper()
	if err := e.q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.q.Stop(10 * time.Second) })
}

// schedule makes a schedule (not due today) starting every machine.
func (e *scheduleEnv) schedule(t *testing.T) fleet.Schedule {
	t.Helper()
	at := time.Now().UTC().Add(-2 * time.Hour).Format("15:04")
	sc, errs, err := e.sched.Create(context.Background(), e.actor, e.owner.ID, fleet.ScheduleInput{Name: "All", Action: "start",
		MachineIDs: e.sim.MachineIDs(), Days: fleet.DayNames, At: at, TimeZone: "UTC", Enabled: true}, nil)
	if err != nil || len(errs) > 0 {
		t.Fatalf("create: %v %v", err, errs)
	}
	return sc
}

func (e *scheduleEnv) run(t *testing.T, id int64) db.ScheduleRun {
	t.Helper()
	r, err := e.store.ScheduleRun(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Cancelling a running schedule run's job ends the run as cancelled: the
// machines not begun are skipped, the call in flight finishes, the job
// ends cancelled, and the next tick does not run it again.
func TestAdmin_cancelScheduleRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newScheduleEnv(t, 12, 0, nil)
	e.sim.SetLatency(300*time.Millisecond, 300*time.Millisecond)
	admin := jobs.NewAdmin(e.q.Client()).WithScheduler(e.sched)
	sc := e.schedule(t)
	e.start(t)
	runID, err := e.sched.RunNow(ctx, e.actor, sc.ID)
	if err != nil {
		t.Fatal(err)
	}
	dbtest.Eventually(t, "a machine begun", func() bool { items, _ := e.store.ScheduleRunItems(ctx, runID); return len(items) > 0 })
	js := runJobs(t, e.q, runID)
	if len(js) != 1 {
		t.Fatalf("%d jobs for the run", len(js))
	}
	if _, err := admin.Cancel(ctx, adminActor, js[0].ID); err != nil {
		t.Fatal(err)
	}
	r := e.run(t, runID)
	if r.State != db.RunFailed || !strings.HasPrefix(r.Message, "Cancelled by "+adminActor.Email) {
		t.Fatalf("run after cancel: %s %q", r.State, r.Message)
	}
	dbtest.Eventually(t, "the job cancelled", func() bool {
		j, err := e.q.Client().JobGet(ctx, js[0].ID)
		return err == nil && j.State == rivertype.JobStateCancelled
	})
	items, _ := e.store.ScheduleRunItems(ctx, runID)
	c := fleet.CountRunItems(items)
	if c.Total != 12 || c.Started != 0 || c.Skipped == 0 {
		t.Fatalf("items %+v", c)
	}
	if n := e.sim.AuthCount("POST /machines/{id}/start"); n != c.Done+c.Failed+c.Unknown {
		t.Errorf("%d start calls, %d machines called", n, c.Done+c.Failed+c.Unknown)
	}
	// Ticks after the cancel leave the run alone.
	after := lastTickID(t, e.q)
	dbtest.Eventually(t, "two more ticks", func() bool { return lastTickID(t, e.q) > after+1 })
	if js := runJobs(t, e.q, runID); len(js) != 1 {
		t.Fatalf("%d jobs for the cancelled run, want 1", len(js))
	}
	if again := e.run(t, runID); again.Message != r.Message || again.State != db.RunFailed {
		t.Fatalf("run changed after the cancel: %+v", again)
	}
	outcomes := 0
	evs, _, _ := e.store.ListAudit(ctx, db.AuditFilter{Action: fleet.ActScheduleRun, Limit: 50})
	for _, ev := range evs {
		if ev.Outcome != db.OutcomeStarted {
			outcomes++
			if ev.ActorEmail != adminActor.Email || ev.Outcome != db.OutcomeFailed {
				t.Errorf("outcome row %+v", ev)
			}
		}
	}
	if outcomes != 1 {
		t.Errorf("%d schedule.run outcome rows, want 1", outcomes)
	}
}

// A run with more machines than fit in a slice goes on across attempts
// (snoozed between slices) and ends with each machine called once.
func TestScheduleJobs_runContinuesAcrossSlices(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// RescueAfter 4 s: slices of 1 s, 4 machines at a time, each call 300 ms
	// or more: 24 machines need at least 1.8 s.
	e := newScheduleEnv(t, 24, 4*time.Second, nil)
	e.sim.SetLatency(300*time.Millisecond, 300*time.Millisecond)
	sc := e.schedule(t)
	e.start(t)
	runID, err := e.sched.RunNow(ctx, e.actor, sc.ID)
	if err != nil {
		t.Fatal(err)
	}
	dbtest.Eventually(t, "the run finished", func() bool { r := e.run(t, runID); return r.Finished() })
	r := e.run(t, runID)
	if r.State != db.RunSucceeded || r.Attempts < 2 {
		t.Fatalf("run %s %q after %d attempts, want succeeded over several slices", r.State, r.Message, r.Attempts)
	}
	items, _ := e.store.ScheduleRunItems(ctx, runID)
	if c := fleet.CountRunItems(items); c.Done != 24 {
		t.Fatalf("items %+v", c)
	}
	if n := e.sim.AuthCount("POST /machines/{id}/start"); n != 24 {
		t.Fatalf("%d start calls, want 24 (one per machine)", n)
	}
	dbtest.Eventually(t, "the run's one job completed", func() bool {
		js := runJobs(t, e.q, runID)
		return len(js) == 1 && js[0].State == rivertype.JobStateCompleted
	})
	if js := runJobs(t, e.q, runID); len(js) != 1 {
		t.Fatalf("%d jobs for the run, want 1", len(js))
	}
}

// A run whose job was discarded (its attempts spent) is finished as
// failed by the tick, with the last error, and not queued again.
func TestScheduleJobs_discardedRunGivesUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var calls atomic.Int32
	e := newScheduleEnv(t, 2, 0, func(p fleet.PowerAction) fleet.PowerAction {
		return func(ctx context.Context, a fleet.Actor, r fleet.PowerRequest) (*fleet.ActionResult, error) {
			calls.Add(1)
			panic("the worker broke")
		}
	})
	sc := e.schedule(t)
	// Claimed without a queue, with a job of one attempt.
	runID, err := fleet.NewScheduler(e.svc, fleet.SchedulerOptions{}).RunNow(ctx, e.actor, sc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.q.Client().Insert(ctx, jobs.ScheduleRunArgs{RunID: runID}, &river.InsertOpts{Queue: jobs.QueueSchedule, MaxAttempts: 1}); err != nil {
		t.Fatal(err)
	}
	e.start(t)
	dbtest.Eventually(t, "the run given up", func() bool { r := e.run(t, runID); return r.Finished() })
	r := e.run(t, runID)
	if r.State != db.RunFailed || !strings.HasPrefix(r.Message, "Gave up after 1 attempts") || !strings.Contains(r.Message, "the worker broke") {
		t.Fatalf("run %s %q", r.State, r.Message)
	}
	items, _ := e.store.ScheduleRunItems(ctx, runID)
	for _, it := range items {
		if it.State == db.RunItemStarted {
			t.Errorf("item left started: %+v", it)
		}
	}
	after := lastTickID(t, e.q)
	dbtest.Eventually(t, "two more ticks", func() bool { return lastTickID(t, e.q) > after+1 })
	if js := runJobs(t, e.q, runID); len(js) != 1 {
		t.Fatalf("%d jobs for the given-up run, want 1", len(js))
	}
	if n := calls.Load(); n == 0 || n > 2 {
		t.Errorf("%d calls", n)
	}
}
