package jobs_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
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

func TestMigrate_fromZeroAndAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := dbtest.Store(t) // the app's migrations, from an empty database
	count := func() int {
		var n int
		if err := store.Pool().QueryRow(ctx, `SELECT count(*) FROM river_migration`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Two replicas at once take turns.
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- jobs.Migrate(ctx, store) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	n := count()
	if n == 0 {
		t.Fatal("no River migration recorded")
	}
	if err := jobs.Migrate(ctx, store); err != nil {
		t.Fatal(err)
	}
	if count() != n {
		t.Fatal("a second Migrate applied something")
	}
}

func newEnv(t *testing.T) (*db.Store, *vagonsim.Sim, *vagon.Client) {
	t.Helper()
	sim := vagonsim.New(vagonsim.Options{Key: "k", Secret: "s", Machines: 5, Seed: 3})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	api, err := vagon.New(srv.URL+vagonsim.BasePath, "k", "s")
	if err != nil {
		t.Fatal(err)
	}
	store := dbtest.Store(t)
	if err := jobs.Migrate(context.Background(), store); err != nil {
		t.Fatal(err)
	}
	return store, sim, api
}

// The sync job is unique: a second enqueue while one is queued is dropped,
// and a pass runs once the client starts.
func TestSyncNow_unique(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, _, api := newEnv(t)
	passes := make(chan fleet.SyncResult, 4)
	s := fleet.NewSyncer(api, store, fleet.SyncOptions{OnResult: func(r fleet.SyncResult, _ error) { passes <- r }})
	q, err := jobs.New(store, jobs.Config{Syncer: s, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := q.SyncNow(ctx); err != nil {
			t.Fatal(err)
		}
	}
	res, err := q.Client().JobList(ctx, river.NewJobListParams().Kinds(jobs.KindSync))
	if err != nil || len(res.Jobs) != 1 {
		t.Fatalf("sync jobs queued: %d, %v", len(res.Jobs), err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Stop(10 * time.Second) })
	select {
	case r := <-passes:
		if r.Status != db.PassSucceeded || r.Machines != 5 {
			t.Fatalf("pass = %+v", r)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no pass within 30 s")
	}
	// Once finished, the next enqueue is accepted.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		res, _ := q.Client().JobList(ctx, river.NewJobListParams().Kinds(jobs.KindSync).States(rivertype.JobStateCompleted))
		if len(res.Jobs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sync job did not complete")
		}
	}
	if err := q.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-passes:
	case <-time.After(30 * time.Second):
		t.Fatal("no second pass")
	}
}

// A soft stop lets a running bulk slice end; the operation goes on, from
// where it was, when a client starts again.
func TestBulk_stopAndResume(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, sim, api := newEnv(t)
	ids := sim.MachineIDs()
	for _, id := range ids {
		_ = sim.SetStatus(id, vagon.StatusReady)
	}
	sim.SetLatency(300*time.Millisecond, 300*time.Millisecond)
	newQ := func() (*fleet.Bulk, *jobs.Jobs) {
		b := fleet.NewBulk(fleet.NewService(api, store, fleet.ServiceOptions{}), fleet.BulkOptions{Concurrency: 1})
		q, err := jobs.New(store, jobs.Config{Bulk: b, RescueAfter: 4 * time.Second, Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		b.SetQueue(q)
		return b, q
	}
	b, q := newQ()
	id, err := b.Submit(ctx, fleet.Actor{Email: "op@example.com", Role: "operator"}, fleet.BulkStop, ids, fleet.BulkParams{})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		st, _ := b.Get(ctx, id)
		if st.Counts.Done >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no machine done")
		}
	}
	q.Stop(10 * time.Second)
	st, _ := b.Get(ctx, id)
	if st.Op.Finished() || st.Counts.Running != 0 {
		t.Fatalf("after a soft stop: %s %+v (want unfinished, nothing left in flight)", st.Op.Status, st.Counts)
	}
	sim.SetLatency(0, 0)
	b2, q2 := newQ()
	if err := q2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q2.Stop(10 * time.Second) })
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		st, _ = b2.Get(ctx, id)
		if st.Op.Finished() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not resumed: %+v", st.Counts)
		}
	}
	if st.Op.Status != db.BulkSucceeded || st.Counts.Done != len(ids) {
		t.Fatalf("resumed op: %s %+v", st.Op.Status, st.Counts)
	}
	if n := sim.AuthCount("POST /machines/{id}/stop"); n != len(ids) {
		t.Fatalf("stop calls = %d, want %d (one per machine)", n, len(ids))
	}
}
