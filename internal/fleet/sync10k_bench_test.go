package fleet_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
)

// BenchmarkSync10k syncs 10,000 simulated machines with 30 sessions each
// (300,000 sessions), the simulator answering every request after 50 ms, 8
// machines at a time, into a fresh database: one first pass (every session
// new), then one steady-state pass (nothing changed).
//
// The simulator runs in a child process (this test binary again, see
// TestSimProcess), so that the memory measured is the sync's alone: the
// simulator's 300,000 sessions would otherwise dominate the heap.
//
// Metrics: s/pass is the first pass's wall time; x-ideal is it divided by
// the ideal 10,000 / 8 × 50 ms = 62.5 s (the sessions calls alone; the
// machine list's 100 pages are read ahead, alongside the sessions calls, so
// only its first page adds to the ideal, and it is not counted); MB-peak is
// the highest Go heap in use (runtime/metrics heap objects + unused spans,
// sampled every 10 ms) of this process during the first pass: the syncer,
// its HTTP client and pgx pool, and the test binary's own few MB. The peak
// RSS (VmHWM, reset before the pass where Linux allows) is logged beside it.
// Targets: x-ideal ≤ 1.2 (75 s), MB-peak ≤ 200.
func BenchmarkSync10k(b *testing.B) {
	const (
		machines    = 10000
		perMachine  = 30
		latency     = 50 * time.Millisecond
		concurrency = 8
	)
	ideal := time.Duration(float64(machines) / concurrency * float64(latency))
	ctx := context.Background()
	sim := startSimProcess(b, machines, perMachine, latency)

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = concurrency + 1 // the workers and the lister
	clk := vagonsim.NewManualClock(syncStart)
	api, err := vagon.New(sim.url+vagonsim.BasePath, simKey, simSecret, vagon.WithClock(clk.Now),
		vagon.WithHTTPClient(&http.Client{Transport: tr, Timeout: 30 * time.Second}))
	if err != nil {
		b.Fatal(err)
	}
	wantSessions := sim.get(b, "/_sessions")

	var first, steady time.Duration
	var peak uint64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		store, err := db.Open(ctx, dbtest.URL(b)) // a fresh database: every session is new
		if err != nil {
			b.Fatal(err)
		}
		var flushes int
		s := fleet.NewSyncer(api, store, fleet.SyncOptions{Concurrency: concurrency, PerPage: 100, Now: clk.Now,
			Log: slog.New(slog.DiscardHandler), OnFlush: func(fleet.SyncFlush) { flushes++ }})

		for pass := range 2 {
			sim.get(b, "/_reset")
			runtime.GC()
			resetPeakRSS()
			base := heapInUse()
			mon := startHeapMonitor(10 * time.Millisecond)
			if pass == 0 {
				b.StartTimer()
			}
			t0 := time.Now() // the syncer's clock is the simulator's, which stands still
			flushes = 0
			res, err := s.RunOnce(ctx)
			took := time.Since(t0)
			if pass == 0 {
				b.StopTimer()
			}
			heapPeak := mon.stop()
			if err != nil {
				store.Close()
				b.Fatal(err)
			}
			wantNew := wantSessions
			if pass == 1 {
				wantNew = 0
			}
			if res.Machines != machines || res.MachinesFailed != 0 || res.SessionsNew != wantNew ||
				res.SessionsUpdated != 0 || res.SessionsSeen != wantSessions {
				store.Close()
				b.Fatalf("pass %d = %+v, want %d machines, %d sessions seen, %d new", pass+1, res, machines, wantSessions, wantNew)
			}
			name := "first pass"
			if pass == 0 {
				first += took
				peak = max(peak, heapPeak)
			} else {
				name = "steady pass"
				steady += took
			}
			b.Logf("%s: %d machines, %d sessions (%d new) in %v = %.2f × ideal %v; %d list pages, %d sessions calls, %d batches; "+
				"heap in use %.1f MB before, peak %.1f MB; peak RSS %s",
				name, res.Machines, res.SessionsSeen, res.SessionsNew, took.Round(time.Millisecond),
				took.Seconds()/ideal.Seconds(), ideal, sim.get(b, "/_count?op=GET+/machines"),
				sim.get(b, "/_count?op=GET+/machines/{id}/sessions"), flushes,
				mb(base), mb(heapPeak), peakRSS())
		}
		store.Close()
	}
	perPass := first.Seconds() / float64(b.N)
	b.ReportMetric(perPass, "s/pass")
	b.ReportMetric(perPass/ideal.Seconds(), "x-ideal")
	b.ReportMetric(mb(peak), "MB-peak")
	b.ReportMetric(0, "ns/op")
	b.Logf("steady-state pass: %.1f s (%.2f × ideal)", steady.Seconds()/float64(b.N), steady.Seconds()/float64(b.N)/ideal.Seconds())
}

// simProcess is a simulator in a child process.
type simProcess struct {
	url string
}

// get asks the child for one of its counters (see TestSimProcess).
func (p *simProcess) get(b testing.TB, path string) int64 {
	b.Helper()
	resp, err := http.Get(p.url + path)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var n int64
	if err := json.NewDecoder(resp.Body).Decode(&n); err != nil {
		b.Fatalf("simulator %s: %v", path, err)
	}
	return n
}

// startSimProcess runs TestSimProcess in a child process and returns its
// address once it listens; the child ends with the benchmark.
func startSimProcess(b testing.TB, machines, perMachine int, latency time.Duration) *simProcess {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSimProcess$", "-test.count=1", "-test.v=false")
	cmd.Env = append(os.Environ(), "FLEET_SIM_PROCESS=1",
		"FLEET_SIM_MACHINES="+strconv.Itoa(machines),
		"FLEET_SIM_SESSIONS="+strconv.Itoa(perMachine),
		"FLEET_SIM_LATENCY="+latency.String())
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close() // the child exits when its stdin closes
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if addr, ok := strings.CutPrefix(sc.Text(), "SIM_ADDR="); ok {
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			return &simProcess{url: "http://" + addr}
		}
	}
	b.Fatalf("simulator process ended before it listened: %v", sc.Err())
	return nil
}

// TestSimProcess is the simulator of BenchmarkSync10k when run as its child
// process (FLEET_SIM_PROCESS=1); otherwise it does nothing. It serves until
// its stdin closes, with three counters beside the API: /_sessions (how
// many sessions it holds), /_count?op= (calls of one endpoint) and /_reset.
func TestSimProcess(t *testing.T) {
	if os.Getenv("FLEET_SIM_PROCESS") != "1" {
		t.Skip("only the child process of BenchmarkSync10k")
	}
	machines, err := strconv.Atoi(os.Getenv("FLEET_SIM_MACHINES"))
	if err != nil {
		t.Fatal(err)
	}
	perMachine, err := strconv.Atoi(os.Getenv("FLEET_SIM_SESSIONS"))
	if err != nil {
		t.Fatal(err)
	}
	latency, err := time.ParseDuration(os.Getenv("FLEET_SIM_LATENCY"))
	if err != nil {
		t.Fatal(err)
	}
	clk := vagonsim.NewManualClock(syncStart)
	sim := vagonsim.New(vagonsim.Options{Key: simKey, Secret: simSecret, Machines: machines,
		SessionsPerMachine: perMachine, Seed: 7, Clock: clk.Now, ActivityLogs: -1})
	var sessions int64
	for _, ss := range sim.AllSessions() {
		sessions += int64(len(ss))
	}
	sim.SetLatency(latency, latency)
	mux := http.NewServeMux()
	mux.Handle("/", sim)
	reply := func(w http.ResponseWriter, n int64) { fmt.Fprintln(w, n) }
	mux.HandleFunc("GET /_sessions", func(w http.ResponseWriter, r *http.Request) { reply(w, sessions) })
	mux.HandleFunc("GET /_count", func(w http.ResponseWriter, r *http.Request) {
		reply(w, int64(sim.Count(r.URL.Query().Get("op"))))
	})
	mux.HandleFunc("GET /_reset", func(w http.ResponseWriter, r *http.Request) { sim.ResetCounts(); reply(w, 0) })

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	fmt.Printf("SIM_ADDR=%s\n", ln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = srv.Close()
}

// heapInUse is the Go heap in use now: live and not yet swept objects, and
// the free space of the spans holding them.
func heapInUse() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64() + s[1].Value.Uint64()
}

// heapMonitor samples heapInUse until stopped and keeps the highest.
type heapMonitor struct {
	done chan struct{}
	wg   sync.WaitGroup
	peak uint64
}

func startHeapMonitor(every time.Duration) *heapMonitor {
	m := &heapMonitor{done: make(chan struct{}), peak: heapInUse()}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-m.done:
				return
			case <-t.C:
				m.peak = max(m.peak, heapInUse())
			}
		}
	}()
	return m
}

func (m *heapMonitor) stop() uint64 {
	close(m.done)
	m.wg.Wait()
	return max(m.peak, heapInUse())
}

// resetPeakRSS resets the kernel's peak RSS of this process (VmHWM), where
// Linux allows it.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS is this process's peak RSS (VmHWM), as /proc reports it.
func peakRSS() string {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func mb(n uint64) float64 { return float64(n) / (1 << 20) }
