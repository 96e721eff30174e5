package fleet_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
)

// BenchmarkActivityImport imports 30 days of 50,000 activity entries (a
// first run) from the simulator answering every request after 50 ms, into
// a fresh database each time. One op is one full import:
//
//	go test -run '^$' -bench ActivityImport -benchtime 1x ./internal/fleet
func BenchmarkActivityImport(b *testing.B) {
	const (
		entries = 50_000
		latency = 50 * time.Millisecond
	)
	ctx := context.Background()
	clk := vagonsim.NewManualClock(syncStart)
	sim := vagonsim.New(vagonsim.Options{Key: simKey, Secret: simSecret, Machines: 200, Seed: 11, Clock: clk.Now,
		ActivityLogs: entries, LogShape: vagonsim.LogShapeMixed})
	if n := sim.ActivityCount(); n != entries {
		b.Fatalf("%d seeded", n)
	}
	sim.SetLatency(latency, latency)
	srv := httptest.NewServer(sim)
	b.Cleanup(srv.Close)
	api, err := vagon.New(srv.URL+vagonsim.BasePath, simKey, simSecret, vagon.WithClock(clk.Now))
	if err != nil {
		b.Fatal(err)
	}
	var calls int
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		store := dbtest.Store(b)
		imp := fleet.NewActivityImporter(api, store, fleet.ActivityOptions{Now: clk.Now, Log: slog.New(slog.DiscardHandler)})
		b.StartTimer()
		r, err := imp.RunOnce(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if r.New != entries || r.Truncated != 0 {
			b.Fatalf("imported %+v, want all %d", r, entries)
		}
		calls = r.Calls
	}
	b.ReportMetric(float64(calls), "calls/op")
}
