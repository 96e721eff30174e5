package fleet_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/jobs"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
)

// recEmitter records what the engines emit.
type recEmitter struct {
	mu     sync.Mutex
	events []string
	data   []any
}

func (r *recEmitter) Emit(_ context.Context, event string, payload any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, event)
	r.data = append(r.data, payload)
}

func (r *recEmitter) got() ([]string, []any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...), append([]any(nil), r.data...)
}

// A bulk action that ends with a failure emits bulk.failed once; one that
// succeeds emits nothing.
func TestBulk_emitsFailed(t *testing.T) {
	t.Parallel()
	e := newBulkEnv(t, 3)
	ids := e.machines(t, 2, vagon.StatusReady)
	svc := fleet.NewService(e.api, e.store, fleet.ServiceOptions{})
	rec := &recEmitter{}
	svc.SetAlerts(rec)
	b := fleet.NewBulk(svc, fleet.BulkOptions{Concurrency: 2})
	q, err := jobs.New(e.store, jobs.Config{Bulk: b, RescueAfter: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	b.SetQueue(q)
	ctx := context.Background()
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Stop(10 * time.Second) })
	okID, err := b.Submit(ctx, e.actor, fleet.BulkStop, ids[:1], fleet.BulkParams{})
	if err != nil {
		t.Fatal(err)
	}
	waitBulk(t, b, okID, finished)
	// 999999999: a machine not in the fleet, which fails.
	badID, err := b.Submit(ctx, e.actor, fleet.BulkStop, []string{ids[1], "999999999"}, fleet.BulkParams{})
	if err != nil {
		t.Fatal(err)
	}
	st := waitBulk(t, b, badID, finished)
	if st.Op.Status != db.BulkFailed {
		t.Fatalf("op %s, want failed", st.Op.Status)
	}
	// The event follows the op's finished status (same call, just after):
	// wait for it rather than read before it is emitted.
	events, data := rec.got()
	for deadline := time.Now().Add(10 * time.Second); len(events) == 0 && time.Now().Before(deadline); events, data = rec.got() {
		time.Sleep(20 * time.Millisecond)
	}
	if len(events) != 1 || events[0] != fleet.AlertBulkFailed {
		t.Fatalf("emitted %v, want one bulk.failed", events)
	}
	d := data[0].(fleet.BulkFailedData)
	if d.BulkOpID != badID || d.Actor != e.actor.Email || d.Action != fleet.BulkStop || d.Message != "1 done, 0 skipped, 1 failed" {
		t.Fatalf("payload %+v", d)
	}
}

// A schedule run that ends failed emits schedule.failed, whether it ends by
// executing (a machine failed) or is given up on; a run that succeeds
// emits nothing.
func TestScheduler_emitsFailed(t *testing.T) {
	e := newSchedEnv(t)
	ctx := context.Background()
	ids := e.machines(t, 0, 2, vagon.StatusOff)
	rec := &recEmitter{}
	e.svc.SetAlerts(rec)
	fail := false
	power := fleet.ServicePower(e.svc)
	s := fleet.NewScheduler(e.svc, fleet.SchedulerOptions{Now: e.clock.Now, Concurrency: 1,
		Power: func(ctx context.Context, a fleet.Actor, r fleet.PowerRequest) (*fleet.ActionResult, error) {
			if fail {
				return &fleet.ActionResult{Status: fleet.ActionFailed, Message: "Vagon said no."}, errors.New("vagon said no")
			}
			return power(ctx, a, r)
		}})
	e.create(t, s, fleet.ScheduleInput{Name: "Start", Action: "start", MachineIDs: ids,
		Days: fleet.DayNames, At: "12:30", TimeZone: "UTC", Enabled: true})
	step := 31 * time.Minute // the clock starts at 12:00 UTC
	run := func() int64 {
		t.Helper()
		e.clock.Advance(step)
		step = 24 * time.Hour
		got, err := s.ClaimDue(ctx)
		if err != nil || len(got) != 1 {
			t.Fatalf("claim: %v %v", got, err)
		}
		return got[0]
	}
	ok := run()
	if err := s.Execute(ctx, ok); err != nil {
		t.Fatal(err)
	}
	if ev, _ := rec.got(); len(ev) != 0 {
		t.Fatalf("a succeeded run emitted %v", ev)
	}
	fail = true
	e.machines(t, 0, 2, vagon.StatusOff) // off again, so the start is tried
	bad := run()
	_ = s.Execute(ctx, bad)
	given := run()
	if err := s.GiveUpRun(ctx, given, "Gave up after 10 attempts."); err != nil {
		t.Fatal(err)
	}
	ev, data := rec.got()
	if len(ev) != 2 || ev[0] != fleet.AlertScheduleFailed || ev[1] != fleet.AlertScheduleFailed {
		t.Fatalf("emitted %v, want two schedule.failed", ev)
	}
	if d := data[0].(fleet.ScheduleFailedData); d.RunID != bad || d.ScheduleID == 0 || d.Message == "" {
		t.Fatalf("first payload %+v", d)
	}
	if d := data[1].(fleet.ScheduleFailedData); d.RunID != given || !strings.HasPrefix(d.Message, "Gave up after 10 attempts.") {
		t.Fatalf("second payload %+v", d)
	}
}
