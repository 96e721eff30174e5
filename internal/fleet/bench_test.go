package fleet_test

// Benchmarks of the sessions sync and the usage report at fleet scale. They
// run only with -bench (their setup takes tens of seconds):
//
//	go test -run '^$' -bench . -benchtime 1x ./internal/fleet

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
)

// BenchmarkSync syncs 1,000 simulated machines with 100 sessions each, the
// simulator answering every request after 50 ms, 8 machines at a time.
// Target: 1.2 × (1000/8 × 50 ms) = 7.5 s per pass.
func BenchmarkSync(b *testing.B) {
	const (
		machines    = 1000
		perMachine  = 100
		latency     = 50 * time.Millisecond
		concurrency = 8
	)
	target := time.Duration(1.2 * float64(machines/concurrency) * float64(latency))
	ctx := context.Background()
	clk := vagonsim.NewManualClock(syncStart)
	sim := vagonsim.New(vagonsim.Options{Key: simKey, Secret: simSecret, Machines: machines,
		SessionsPerMachine: perMachine, Seed: 7, Clock: clk.Now})
	srv := httptest.NewServer(sim)
	b.Cleanup(srv.Close)
	// The default transport keeps 2 idle connections per host: with 8 calls
	// at once, most calls would dial anew. Keep as many as the concurrency.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = concurrency
	api, err := vagon.New(srv.URL+vagonsim.BasePath, simKey, simSecret, vagon.WithClock(clk.Now),
		vagon.WithHTTPClient(&http.Client{Transport: tr, Timeout: 30 * time.Second}))
	if err != nil {
		b.Fatal(err)
	}
	var sessions int64
	for _, ss := range sim.AllSessions() {
		sessions += int64(len(ss))
	}
	sim.SetLatency(latency, latency)

	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		store, err := db.Open(ctx, dbtest.URL(b)) // a fresh database: every session is new
		if err != nil {
			b.Fatal(err)
		}
		s := fleet.NewSyncer(api, store, fleet.SyncOptions{Concurrency: concurrency, PerPage: 100, Now: clk.Now,
			Log: slog.New(slog.DiscardHandler)})
		sim.ResetCounts()
		b.StartTimer()
		t0 := time.Now() // the syncer's clock is the simulator's, which stands still
		res, err := s.RunOnce(ctx)
		took := time.Since(t0)
		b.StopTimer()
		store.Close()
		if err != nil {
			b.Fatal(err)
		}
		if res.Machines != machines || res.MachinesFailed != 0 || res.SessionsNew != sessions {
			b.Fatalf("pass = %+v, want %d machines, %d new sessions", res, machines, sessions)
		}
		total += took
		verdict := "within"
		if took > target {
			verdict = "OVER"
		}
		b.Logf("pass: %d machines, %d sessions, %d list pages, %d sessions calls in %v (%s target %v)",
			res.Machines, res.SessionsNew, sim.Count("GET /machines"), sim.Count("GET /machines/{id}/sessions"),
			took.Round(time.Millisecond), verdict, target)
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/pass")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkUsageReport runs the usage report over 1,000,000 sessions of
// 1,000 machines (about 200 users, 5 regions) spread over 100 days, for a
// 90-day range (dbtest.SeedUsage). Target (issue 13): 50 ms median for
// every grouping.
func BenchmarkUsageReport(b *testing.B) {
	const target = 50 * time.Millisecond
	ctx := context.Background()
	store, err := db.Open(ctx, dbtest.URL(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(store.Close)
	now := time.Date(2026, 4, 15, 0, 0, 0, 0, time.UTC)
	dbtest.SeedUsage(b, store, now)

	q := db.UsageQuery{From: now.AddDate(0, 0, -90), To: now, Group: db.GroupUser}
	plan, err := store.ExplainUsageReport(ctx, q)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("EXPLAIN (ANALYZE, BUFFERS) of the 90-day report grouped by user:\n%s", plan)

	for _, group := range []string{db.GroupUser, db.GroupMachine, db.GroupDay, db.GroupRegion} {
		b.Run(group, func(b *testing.B) {
			q := q
			q.Group = group
			var rows []db.UsageRow
			if rows, err = store.UsageReport(ctx, q); err != nil { // warm
				b.Fatal(err)
			}
			var times []time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				if rows, err = store.UsageReport(ctx, q); err != nil {
					b.Fatal(err)
				}
				times = append(times, time.Since(t0))
			}
			b.StopTimer()
			// A few more runs for a steadier figure than one -benchtime 1x run.
			for range 4 {
				t0 := time.Now()
				if _, err := store.UsageReport(ctx, q); err != nil {
					b.Fatal(err)
				}
				times = append(times, time.Since(t0))
			}
			slices.Sort(times)
			var sessions int64
			for _, r := range rows {
				sessions += r.Sessions
			}
			med := times[len(times)/2]
			verdict := "within"
			if med > target {
				verdict = "OVER"
			}
			b.ReportMetric(float64(med.Microseconds())/1000, "ms/report(median)")
			b.Logf("group %s: %d rows, %d sessions in range; runs %s; median %v (%s target %v)",
				group, len(rows), sessions, fmtDurations(times), med.Round(time.Millisecond), verdict, target)
		})
	}

	// The chart of the same page: the top 5 groups per day and the rest
	// (for days, one series of the whole fleet). Target: 50 ms median.
	for _, group := range []string{db.GroupUser, db.GroupMachine, db.GroupRegion, db.GroupDay} {
		b.Run("series-"+group, func(b *testing.B) {
			q := q
			q.Group = group
			top := 5
			if group == db.GroupDay {
				top = 0
			}
			if _, err := store.UsageSeries(ctx, q, top); err != nil { // warm
				b.Fatal(err)
			}
			var times []time.Duration
			var chart db.UsageChart
			for i := 0; i < b.N+4; i++ {
				t0 := time.Now()
				if chart, err = store.UsageSeries(ctx, q, top); err != nil {
					b.Fatal(err)
				}
				times = append(times, time.Since(t0))
			}
			slices.Sort(times)
			med := times[len(times)/2]
			verdict := "within"
			if med > target {
				verdict = "OVER"
			}
			b.ReportMetric(float64(med.Microseconds())/1000, "ms/series(median)")
			b.Logf("series by %s: %d series over %d days; runs %s; median %v (%s target %v)",
				group, len(chart.Series), len(chart.Days), fmtDurations(times), med.Round(time.Millisecond), verdict, target)
		})
	}

	b.Run("idle+low", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			if _, err := store.IdleMachines(ctx, now.Add(-30*24*time.Hour), now); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if _, err := store.LowRemaining(ctx, 600, now); err != nil {
				b.Fatal(err)
			}
			t2 := time.Now()
			if _, err := store.UsageSeries(ctx, db.UsageQuery{From: q.From, To: q.To, Group: db.GroupUser}, 5); err != nil {
				b.Fatal(err)
			}
			b.Logf("idle machines %v, low remaining %v, 90-day top-5 user series %v",
				t1.Sub(t0).Round(time.Millisecond), t2.Sub(t1).Round(time.Millisecond), time.Since(t2).Round(time.Millisecond))
		}
	})
}

func fmtDurations(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.Round(time.Millisecond).String()
	}
	return strings.Join(parts, " ")
}
