package jobs_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/jobs"
)

// The activity import job is unique like the sync's, runs on start with the
// periodic interval, and stores the simulator's activity.
func TestActivityJob_uniqueAndPeriodic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, sim, api := newEnv(t)
	runs := make(chan fleet.ActivityResult, 4)
	imp := fleet.NewActivityImporter(api, store, fleet.ActivityOptions{Log: slog.New(slog.DiscardHandler),
		OnResult: func(r fleet.ActivityResult, _ error) { runs <- r }})
	q, err := jobs.New(store, jobs.Config{Activity: imp, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := q.ActivityNow(ctx); err != nil {
			t.Fatal(err)
		}
	}
	res, err := q.Client().JobList(ctx, river.NewJobListParams().Kinds(jobs.KindActivity))
	if err != nil || len(res.Jobs) != 1 || res.Jobs[0].Queue != jobs.QueueActivity {
		t.Fatalf("activity jobs queued: %d, %v", len(res.Jobs), err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Stop(10 * time.Second) })
	select {
	case r := <-runs:
		if n, _ := store.CountActivity(ctx); r.New == 0 || n != int64(sim.ActivityCount()) {
			t.Fatalf("run %+v stored %d of %d", r, n, sim.ActivityCount())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no import within 30 s")
	}

	// With an interval, the periodic job runs on start.
	imp2 := fleet.NewActivityImporter(api, store, fleet.ActivityOptions{Log: slog.New(slog.DiscardHandler),
		OnResult: func(r fleet.ActivityResult, _ error) { runs <- r }})
	q2, err := jobs.New(store, jobs.Config{Activity: imp2, SyncInterval: time.Hour, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	q.Stop(10 * time.Second)
	if err := q2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q2.Stop(10 * time.Second) })
	select {
	case r := <-runs:
		if r.New != 0 {
			t.Fatalf("periodic run re-added %d", r.New)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the periodic activity job did not run on start")
	}
}
