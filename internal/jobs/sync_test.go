package jobs_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
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

// The sessions sync through River: a pass longer than a slice goes on over
// several job attempts, on either replica, as one pass.

const syncMachines = 60

// syncRig is a simulator whose every call takes 50 ms and a database that
// replicas share.
type syncRig struct {
	sim *vagonsim.Sim
	api *vagon.Client
	url string
}

func newSyncRig(t *testing.T) *syncRig {
	t.Helper()
	sim := vagonsim.New(vagonsim.Options{Key: "k", Secret: "s", Machines: syncMachines, Seed: 11})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	api, err := vagon.New(srv.URL+vagonsim.BasePath, "k", "s")
	if err != nil {
		t.Fatal(err)
	}
	r := &syncRig{sim: sim, api: api, url: dbtest.URL(t)}
	if err := jobs.Migrate(context.Background(), r.store(t)); err != nil {
		t.Fatal(err)
	}
	// 60 sessions calls 2 at a time take at least 1.5 s: more than the
	// 1 s slice of a 4 s RescueAfter, whatever the machine's speed.
	sim.SetLatency(50*time.Millisecond, 50*time.Millisecond)
	return r
}

func (r *syncRig) store(t *testing.T) *db.Store {
	t.Helper()
	return dbtest.Open(t, r.url)
}

func (r *syncRig) sessions() int64 {
	var n int64
	for _, ss := range r.sim.AllSessions() {
		n += int64(len(ss))
	}
	return n
}

// replica is one process: its store, syncer and job client.
type replica struct {
	store *db.Store
	q     *jobs.Jobs
}

func (r *syncRig) replica(t *testing.T, o fleet.SyncOptions) *replica {
	t.Helper()
	store := r.store(t)
	o.Concurrency, o.PerPage, o.BatchMachines, o.FlushInterval = 2, 10, 4, -1
	o.Log = slog.New(slog.DiscardHandler)
	q, err := jobs.New(store, jobs.Config{Syncer: fleet.NewSyncer(r.api, store, o), RescueAfter: 4 * time.Second,
		Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return &replica{store: store, q: q}
}

func syncJobs(t *testing.T, q *jobs.Jobs) []*rivertype.JobRow {
	t.Helper()
	res, err := q.Client().JobList(context.Background(), river.NewJobListParams().Kinds(jobs.KindSync))
	if err != nil {
		t.Fatal(err)
	}
	return res.Jobs
}

// checkPass fails unless pass id finished as one whole pass would: every
// machine stored once, every session read and stored, status succeeded,
// wantNew sessions new.
func checkPass(t *testing.T, s *db.Store, r *syncRig, id, wantNew int64) db.SyncPass {
	t.Helper()
	passes, err := s.LastSyncPasses(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	var p db.SyncPass
	for _, x := range passes {
		if x.ID == id {
			p = x
		}
	}
	var snaps, sessions int64
	if err := s.Pool().QueryRow(context.Background(), `SELECT (SELECT count(*) FROM machine_snapshots WHERE pass_id = $1),
		(SELECT count(*) FROM machine_sessions)`, id).Scan(&snaps, &sessions); err != nil {
		t.Fatal(err)
	}
	if p.Status != db.PassSucceeded || p.MachinesDone != syncMachines || p.MachinesFailed != 0 || !p.ListedAll ||
		p.MachinesListed != syncMachines || p.SessionsNew != wantNew || p.SessionsSeen != r.sessions() ||
		snaps != syncMachines || sessions != r.sessions() {
		t.Fatalf("pass %+v with %d snapshots, %d sessions; want %d machines and %d sessions, %d new",
			p, snaps, sessions, syncMachines, r.sessions(), wantNew)
	}
	return p
}

// One job works on the pass over several attempts (each a slice snoozed
// for the next) and completes once the pass is finished.
func TestSyncJob_slices(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newSyncRig(t)
	results := make(chan fleet.SyncResult, 4)
	a := r.replica(t, fleet.SyncOptions{OnResult: func(res fleet.SyncResult, _ error) { results <- res }})
	if err := a.q.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.q.Stop(10 * time.Second) })
	var res fleet.SyncResult
	select {
	case res = <-results:
	case <-time.After(60 * time.Second):
		t.Fatal("no pass finished within 60 s")
	}
	p := checkPass(t, a.store, r, res.PassID, r.sessions())
	if res.Status != db.PassSucceeded || res.Slices < 2 || p.Slices != res.Slices || p.JobID == nil {
		t.Fatalf("result %+v, pass %+v: want one pass over 2 slices or more, of a job", res, p)
	}
	dbtest.Eventually(t, "the sync job completed", func() bool {
		js := syncJobs(t, a.q)
		return len(js) == 1 && js[0].State == rivertype.JobStateCompleted
	})
	if js := syncJobs(t, a.q); js[0].ID != *p.JobID || js[0].Attempt != 1 {
		t.Fatalf("job %d at attempt %d, the pass's job %d: snoozed slices must not spend attempts", js[0].ID, js[0].Attempt, *p.JobID)
	}
	select {
	case extra := <-results:
		t.Fatalf("a second pass: %+v", extra)
	default:
	}
}

// Two replicas: the pass begun on one goes on on the other once the first
// is killed mid-pass (its attempt's context cancelled, StopAndCancel); it
// stays one pass, no second job or pass is made meanwhile however often
// either replica asks, and no two passes ever run at once.
func TestSyncJob_twoReplicasKilled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newSyncRig(t)
	var mu sync.Mutex
	flushes := map[string]int{}
	passIDs := map[int64]bool{}
	var violations []string
	results := make(chan fleet.SyncResult, 4)
	var watch *db.Store
	hook := func(name string) fleet.SyncOptions {
		return fleet.SyncOptions{
			OnResult: func(res fleet.SyncResult, _ error) { results <- res },
			OnFlush: func(f fleet.SyncFlush) {
				var running int
				_ = watch.Pool().QueryRow(context.Background(), `SELECT count(*) FROM sync_passes WHERE status = 'running'`).Scan(&running)
				mu.Lock()
				defer mu.Unlock()
				flushes[name]++
				passIDs[f.Progress.PassID] = true
				if running > 1 {
					violations = append(violations, fmt.Sprintf("%s: %d passes running", name, running))
				}
			},
		}
	}
	watch = r.store(t)
	a := r.replica(t, hook("a"))
	b := r.replica(t, hook("b"))
	if err := a.q.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	dbtest.Eventually(t, "replica a's first batch", func() bool { mu.Lock(); defer mu.Unlock(); return flushes["a"] > 0 })
	// Replica a dies mid-pass: its attempt is cut off, not let finish.
	if err := a.q.Client().StopAndCancel(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.q.Stop(10 * time.Second) })
	// Asking again on either replica while the pass goes on adds nothing.
	for range 3 {
		if err := a.q.SyncNow(ctx); err != nil {
			t.Fatal(err)
		}
		if err := b.q.SyncNow(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if js := syncJobs(t, b.q); len(js) != 1 {
		t.Fatalf("%d sync jobs while a pass goes on, want 1", len(js))
	}
	var res fleet.SyncResult
	select {
	case res = <-results:
	case <-time.After(60 * time.Second):
		t.Fatal("no pass finished within 60 s")
	}
	p := checkPass(t, watch, r, res.PassID, r.sessions())
	mu.Lock()
	defer mu.Unlock()
	if len(violations) > 0 || len(passIDs) != 1 || !passIDs[p.ID] || flushes["b"] == 0 || p.Slices < 2 {
		t.Fatalf("passes written %v, flushes %v, slices %d, violations %v: want one pass, written by both replicas",
			passIDs, flushes, p.Slices, violations)
	}
	var n int
	if err := watch.Pool().QueryRow(ctx, `SELECT count(*) FROM sync_passes`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d passes recorded, %v; want 1", n, err)
	}
}

// A sync job cancelled from the jobs page ends its pass as failed (nobody
// will continue it), and the next job makes a new pass.
func TestSyncJob_cancelled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newSyncRig(t)
	flushed := make(chan int64, 100)
	results := make(chan fleet.SyncResult, 4)
	a := r.replica(t, fleet.SyncOptions{
		OnFlush:  func(f fleet.SyncFlush) { flushed <- f.Progress.PassID },
		OnResult: func(res fleet.SyncResult, _ error) { results <- res },
	})
	if err := a.q.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.q.Stop(10 * time.Second) })
	var first int64
	select {
	case first = <-flushed:
	case <-time.After(60 * time.Second):
		t.Fatal("no batch within 60 s")
	}
	job := syncJobs(t, a.q)[0]
	if _, err := jobs.NewAdmin(a.q.Client()).Cancel(ctx, adminActor, job.ID); err != nil {
		t.Fatal(err)
	}
	dbtest.Eventually(t, "the sync job cancelled", func() bool {
		j, err := a.q.Client().JobGet(ctx, job.ID)
		return err == nil && j.State == rivertype.JobStateCancelled
	})
	// Cancelled while it ran, its worker closed the pass; cancelled while
	// it waited between slices, the next job does.
	if err := a.q.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	var res fleet.SyncResult
	select {
	case res = <-results:
	case <-time.After(60 * time.Second):
		t.Fatal("no pass finished within 60 s")
	}
	if res.PassID == first {
		t.Fatalf("the cancelled job's pass %d was finished as %+v", first, res)
	}
	passes, err := a.store.LastSyncPasses(ctx, 5)
	if err != nil || len(passes) != 2 {
		t.Fatalf("passes %+v, %v", passes, err)
	}
	checkPass(t, a.store, r, res.PassID, r.sessions()-passes[1].SessionsNew)
	if old := passes[1]; old.ID != first || old.Status != db.PassFailed || old.FinishedAt == nil ||
		!(strings.Contains(old.Error, "its job was cancelled") || strings.Contains(old.Error, "its job ended without finishing it")) {
		t.Fatalf("the cancelled job's pass = %+v", old)
	}
	t.Logf("the cancelled job's pass: %s", passes[1].Error)
}
